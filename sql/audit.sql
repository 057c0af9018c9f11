-- The audit trail: permission changes in their own transaction, denials and
-- token authentications after their transaction rolled back (written by the
-- audit writer in the background), audited reads, who may read it, the hash
-- chain and purging.  Other tests write to the same log at the same time:
-- everything here is filtered to this test's own roles.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- the audit writer works in the background: wait (up to 30 s) until it wrote
-- n events of a principal
CREATE FUNCTION au_wait(who text, n bigint) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    got bigint;
BEGIN
    FOR i IN 1..300 LOOP
        SELECT count(*) INTO got FROM crmperm.audit_log a
         WHERE a.kind <> 'change' AND (a.principal = who OR a.login = who);
        IF got >= n THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END
$$;

CREATE TABLE au_leads (id int PRIMARY KEY, name text, owner_id text);
INSERT INTO au_leads VALUES (1, 'Acme', 'u1'), (2, 'Globex', 'u2'), (3, 'Hooli', 'u1');
CREATE ROLE au_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON au_leads TO au_users;
CREATE ROLE au_rep NOLOGIN IN ROLE au_users;
CREATE ROLE au_reader NOLOGIN IN ROLE au_users;
CREATE ROLE au_auditor NOLOGIN IN ROLE au_users;
CREATE ROLE au_hook NOLOGIN IN ROLE au_users;
CREATE ROLE au_app LOGIN;
CREATE ROLE au_other_super SUPERUSER NOLOGIN;
SELECT crmperm.manage_table('au_leads', resource => 'au_leads', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Au read');
SELECT crmperm.grant('Au read', 'au_leads', ARRAY['read']);
SELECT crmperm.create_permission_set('Au audit');
SELECT crmperm.grant_system('Au audit', 'view_audit');
SELECT crmperm.assign_permission_set('au_reader', 'Au read');
SELECT crmperm.assign_permission_set('au_hook', 'Au read');
SELECT crmperm.assign_permission_set('au_auditor', 'Au audit');

-- ---------------------------------------------------------------------------
-- Permission changes: recorded in the transaction that makes them
-- ---------------------------------------------------------------------------
BEGIN;
SELECT crmperm.grant('Au read', 'au_leads', ARRAY['create'], scope => 'owned');
SELECT kind, principal, resource, action, command, before, after
  FROM crmperm.audit_log
 WHERE resource = 'object_grants' AND after->>'permission_set' = 'Au read'
   AND after->>'action' = 'create';
ROLLBACK;
-- gone with the change it recorded
SELECT count(*) FROM crmperm.audit_log
 WHERE resource = 'object_grants' AND after->>'permission_set' = 'Au read'
   AND after->>'action' = 'create';
-- a change made by a holder of manage_permissions names that role
CREATE ROLE au_admin NOLOGIN;
SELECT crmperm.create_permission_set('Au admin');
SELECT crmperm.grant_system('Au admin', 'manage_permissions');
SELECT crmperm.assign_permission_set('au_admin', 'Au admin');
SET ROLE au_admin;
SELECT crmperm.revoke('Au read', 'au_leads', ARRAY['read']);
SELECT crmperm.grant('Au read', 'au_leads', ARRAY['read'], scope => 'owned');
RESET ROLE;
SELECT kind, login, principal, resource, action, before->>'scope' AS before_scope,
       after->>'scope' AS after_scope
  FROM crmperm.audit_log WHERE principal = 'au_admin' ORDER BY seq;
-- a token's hash and key id are never recorded
SELECT crmperm.create_token('au hook', 'au_hook', ARRAY['au_leads.read']) AS au_token \gset
SELECT after ? 'hash' AS has_hash, after ? 'key_id' AS has_key_id, after->>'name' AS name
  FROM crmperm.audit_log WHERE resource = 'api_tokens' AND after->>'name' = 'au hook';

-- ---------------------------------------------------------------------------
-- Denials survive the rollback of their transaction
-- ---------------------------------------------------------------------------
SET ROLE au_rep;
BEGIN;
SELECT * FROM au_leads;
ROLLBACK;
BEGIN;
UPDATE au_leads SET name = 'x';
ROLLBACK;
RESET ROLE;
SELECT au_wait('au_rep', 2);
SELECT kind, login, principal, token, resource, action, command, rows
  FROM crmperm.audit_log WHERE principal = 'au_rep' ORDER BY seq;

-- Token authentications, failed and not, and a denial under a token
SET SESSION AUTHORIZATION au_app;
SELECT crmperm.authenticate('crm_000000000000_0000000000000000000000000000000000000000000');
BEGIN;
SELECT crmperm.authenticate(:'au_token');
SELECT count(*) FROM au_leads;
UPDATE au_leads SET name = 'x';
ROLLBACK;
RESET SESSION AUTHORIZATION;
SELECT crmperm.revoke_token('au hook');
SET SESSION AUTHORIZATION au_app;
SELECT crmperm.authenticate(:'au_token');
RESET SESSION AUTHORIZATION;
SELECT au_wait('au_app', 4);
SELECT kind, login, principal, token, resource, action, command
  FROM crmperm.audit_log WHERE login = 'au_app' AND kind <> 'change' ORDER BY seq;

-- ---------------------------------------------------------------------------
-- Audited reads: one record per statement, with the rows it returned
-- ---------------------------------------------------------------------------
SELECT crmperm.set_principal('au_reader', user_id => 'u1');
SELECT crmperm.audit_reads('au_leads');
SELECT crmperm.audit_reads('nope');
\echo :LAST_ERROR_SQLSTATE
SET ROLE au_reader;
SELECT count(*) FROM au_leads;
SELECT name FROM au_leads ORDER BY id;
RESET ROLE;
SELECT au_wait('au_reader', 2);
SELECT kind, principal, resource, action, command, rows
  FROM crmperm.audit_log WHERE principal = 'au_reader' AND kind = 'read' ORDER BY seq;
SELECT crmperm.audit_reads('au_leads', false);

-- ---------------------------------------------------------------------------
-- Who reads the trail; nobody but the extension owner changes it
-- ---------------------------------------------------------------------------
SET ROLE au_rep;
SELECT count(*) AS rep_sees FROM crmperm.audit_log;
SELECT count(*) AS rep_sees_denials FROM crmperm.denials;
SELECT crmperm.verify_audit();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rep_sees_queues FROM crmperm.audit_queue;
SELECT count(*) AS rep_calls_queues FROM crmperm._audit_queue();
RESET ROLE;
SET ROLE au_auditor;
-- a holder of view_audit (not a superuser) reads the queue's counts
SELECT database, overflowed FROM crmperm.audit_queue WHERE database = current_database();
SELECT count(*) > 0 AS auditor_sees FROM crmperm.audit_log WHERE principal = 'au_rep';
SELECT resource, action, command FROM crmperm.denials
 WHERE principal = 'au_rep' AND resource IS NOT NULL ORDER BY seq;
SELECT ok FROM crmperm.verify_audit();
UPDATE crmperm.audit_log SET action = 'nothing' WHERE principal = 'au_rep';
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.purge_audit(now());
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE au_other_super;
UPDATE crmperm.audit_log SET action = 'nothing' WHERE principal = 'au_rep';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM crmperm.audit_log;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE crmperm.audit_log;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT database, overflowed FROM crmperm.audit_queue WHERE database = current_database();

-- ---------------------------------------------------------------------------
-- The hash chain: a changed or removed record is found; purging keeps the
-- chain verifiable
-- ---------------------------------------------------------------------------
SELECT ok, detail FROM crmperm.verify_audit();
SELECT min(seq) AS tampered FROM crmperm.audit_log WHERE principal = 'au_rep' \gset
-- the extension owner can still edit it; the chain shows where
UPDATE crmperm.audit_log SET action = 'nothing' WHERE seq = :tampered;
SELECT ok, first_broken = :tampered AS at_tampered, detail FROM crmperm.verify_audit();
UPDATE crmperm.audit_log SET action = 'read' WHERE seq = :tampered;
SELECT ok, detail FROM crmperm.verify_audit();
DELETE FROM crmperm.audit_log WHERE seq = :tampered;
SELECT ok, first_broken = :tampered + 1 AS after_removed,
       detail = format('records %s to %s are missing', :tampered, :tampered) AS says_which
  FROM crmperm.verify_audit();
-- purge what is older than now: the chain starts again at the purge record
SELECT crmperm.purge_audit(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.purge_audit(clock_timestamp()) > 0 AS purged;
SELECT ok, detail FROM crmperm.verify_audit();
SELECT kind, action, (after->>'records')::bigint > 0 AS counted
  FROM crmperm.audit_log WHERE kind = 'purge';
SELECT count(*) AS au_rep_left FROM crmperm.audit_log WHERE principal = 'au_rep';

-- cleanup
DELETE FROM crmperm.api_tokens WHERE name = 'au hook';
SELECT crmperm.unmanage_table('au_leads');
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['Au read', 'Au audit', 'Au admin']) n;
DROP TABLE au_leads;
DROP FUNCTION au_wait(text, bigint);
DROP ROLE au_rep, au_reader, au_auditor, au_hook, au_app, au_other_super, au_admin, au_users;

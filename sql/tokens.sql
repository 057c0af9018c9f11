-- API tokens: creation, authenticate() and what a token can never do.
-- Every error is followed by its SQLSTATE.  Token plaintexts are random: they
-- are kept in psql variables and never printed.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE tk_leads (id serial PRIMARY KEY, name text, owner_id text);
CREATE TABLE tk_clients (id int PRIMARY KEY, name text, secret text);
CREATE TABLE tk_ledger (id int PRIMARY KEY, amount int);       -- sensitive
CREATE TABLE tk_notes (id int PRIMARY KEY, body text);         -- never managed
INSERT INTO tk_leads (name, owner_id) VALUES ('Acme', 'u1'), ('Globex', 'u2');
INSERT INTO tk_clients VALUES (1, 'Initech', 's1');
INSERT INTO tk_ledger VALUES (1, 100);
INSERT INTO tk_notes VALUES (1, 'unmanaged');

-- principals hold rights; the login role holds nothing and is a member of
-- no principal
CREATE ROLE tk_principals NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON tk_leads, tk_clients, tk_ledger, tk_notes
    TO tk_principals;
GRANT USAGE ON SEQUENCE tk_leads_id_seq TO tk_principals;
CREATE ROLE tk_webhook NOLOGIN IN ROLE tk_principals;
CREATE ROLE tk_portal NOLOGIN IN ROLE tk_principals;
CREATE ROLE tk_wide NOLOGIN IN ROLE tk_principals;
CREATE ROLE tk_app LOGIN;
CREATE ROLE tk_guess LOGIN;
CREATE ROLE tk_guess2 LOGIN;
CREATE ROLE tk_keeper LOGIN;
CREATE ROLE tk_super SUPERUSER NOLOGIN;
CREATE ROLE tk_bypass BYPASSRLS NOLOGIN;
CREATE ROLE tk_admin NOLOGIN;
CREATE ROLE tk_owner NOLOGIN;
CREATE TABLE tk_owned (id int);
ALTER TABLE tk_owned OWNER TO tk_owner;

SELECT crmperm.manage_table('tk_leads', resource => 'leads', owner_column => 'owner_id');
SELECT crmperm.manage_table('tk_clients', resource => 'clients');
SELECT crmperm.manage_table('tk_ledger', resource => 'ledger', sensitive => true);
SELECT crmperm.manage_table('tk_owned', resource => 'owned');
SELECT crmperm.protect_field('clients', 'secret', 'redact');
SELECT crmperm.create_permission_set('tk leads');
SELECT crmperm.grant('tk leads', 'leads', ARRAY['read', 'create', 'update', 'delete']);
SELECT crmperm.create_permission_set('tk clients');
SELECT crmperm.grant('tk clients', 'clients', ARRAY['read', 'update']);
SELECT crmperm.create_permission_set('tk export');
SELECT crmperm.grant_system('tk export', 'export');
SELECT crmperm.create_permission_set('tk tokens');
SELECT crmperm.grant_system('tk tokens', 'manage_tokens');
SELECT crmperm.assign_permission_set('tk_webhook', 'tk leads');
SELECT crmperm.assign_permission_set('tk_portal', 'tk clients');
SELECT crmperm.assign_permission_set('tk_portal', 'tk export');
SELECT crmperm.assign_permission_set('tk_wide', 'tk leads');
SELECT crmperm.assign_permission_set('tk_wide', 'tk clients');
SELECT crmperm.assign_permission_set('tk_admin', 'tk tokens');
SELECT crmperm.set_super_admin('tk_admin', false);
CREATE ROLE tk_superadmin NOLOGIN;
SELECT crmperm.set_super_admin('tk_superadmin', true);

-- ---------------------------------------------------------------------------
-- create_token() validates everything and changes nothing on error
-- ---------------------------------------------------------------------------
SELECT crmperm.create_token(NULL, 'tk_webhook', ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('x''; DROP TABLE tk_leads; --', 'tk_webhook', ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', NULL, ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_super', ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_bypass', ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_superadmin', ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_owner', ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_webhook', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_webhook', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_webhook', ARRAY['leads.create', NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_webhook', ARRAY['leads']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_webhook', ARRAY['deals.read']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_webhook', ARRAY['leads.fly']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_webhook', ARRAY['ledger.update']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('hook', 'tk_webhook', ARRAY['leads.create'], now() - interval '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS tokens_after_errors FROM crmperm.api_tokens;

-- the plaintext: a recognisable prefix, a key id, 256 bits of secret
SELECT crmperm.create_token('hook', 'tk_webhook', ARRAY['leads.create']) AS hook_token \gset
SELECT :'hook_token' ~ '^crm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$' AS well_formed;
-- only its SHA-256 is stored
SELECT hash = sha256(convert_to(:'hook_token', 'UTF8')) AS hash_stored,
       position(convert_to(:'hook_token', 'UTF8') IN hash) = 0 AS plaintext_not_stored
  FROM crmperm.api_tokens WHERE name = 'hook';
SELECT crmperm.create_token('hook', 'tk_webhook', ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('portal', 'tk_portal',
    ARRAY['clients.read', 'clients.update', 'clients.read', 'ledger.read', 'leads.read']) AS portal_token \gset
SELECT crmperm.create_token('wide', 'tk_wide', ARRAY['leads.read']) AS wide_token \gset
SELECT crmperm.create_token('brief', 'tk_webhook', ARRAY['leads.read'], now() + interval '2 seconds') AS brief_token \gset
SELECT name, principal, scopes, created_by, expires IS NOT NULL AS expires, revoked, last_used
  FROM crmperm.tokens ORDER BY name;

-- who may create tokens and see them
SET ROLE tk_app;
SELECT crmperm.create_token('mine', 'tk_webhook', ARRAY['leads.create']);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS visible_tokens FROM crmperm.tokens;
SELECT * FROM crmperm.api_tokens;
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.revoke_token('hook');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE tk_admin;
SELECT count(*) AS visible_tokens FROM crmperm.tokens;
SELECT crmperm.create_token('by admin', 'tk_webhook', ARRAY['leads.create']) IS NOT NULL AS created;
RESET ROLE;
SELECT name, created_by FROM crmperm.tokens WHERE name = 'by admin';

-- ---------------------------------------------------------------------------
-- authenticate(): the rest of the transaction acts as the principal
-- ---------------------------------------------------------------------------
SET SESSION AUTHORIZATION tk_app;
SELECT current_user, session_user;
SELECT * FROM tk_leads;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SELECT current_user, session_user;
SELECT token, principal FROM crmperm.whoami();
INSERT INTO tk_leads (name, owner_id) VALUES ('Hooli', 'u3');
SELECT crmperm.check('leads.create') AS may_create, crmperm.check('leads.read') AS may_read;
-- the principal may read, the token may not
SELECT * FROM tk_leads;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT current_user;

BEGIN;
SELECT crmperm.authenticate(:'hook_token');
INSERT INTO tk_leads (name, owner_id) VALUES ('Hooli', 'u3') RETURNING id;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
UPDATE tk_leads SET name = 'x' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
DELETE FROM tk_leads;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SELECT * FROM tk_clients;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- every other path to the same actions is narrowed the same way
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
INSERT INTO tk_leads (id, name, owner_id) VALUES (1, 'Acme', 'u1')
    ON CONFLICT (id) DO UPDATE SET name = excluded.name;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
MERGE INTO tk_leads l USING (VALUES (9, 'Hooli')) v(id, name) ON l.id = v.id
    WHEN NOT MATCHED THEN INSERT (name, owner_id) VALUES (v.name, 'u3');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET SESSION AUTHORIZATION;
CREATE FUNCTION tk_plpgsql_read() RETURNS bigint LANGUAGE plpgsql AS
    'BEGIN RETURN (SELECT count(*) FROM tk_leads); END';
SET SESSION AUTHORIZATION tk_app;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SELECT tk_plpgsql_read();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET SESSION AUTHORIZATION;
DROP FUNCTION tk_plpgsql_read();
SET SESSION AUTHORIZATION tk_app;

-- a table crmperm does not manage: not reachable with a token
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SELECT * FROM tk_notes;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- the token has the scope, the principal lacks the grant
BEGIN;
SELECT crmperm.authenticate(:'portal_token');
SELECT * FROM tk_leads;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- the portal: clients read (masked field stays masked) and update
BEGIN;
SELECT crmperm.authenticate(:'portal_token');
SELECT * FROM tk_clients;
UPDATE tk_clients SET name = 'Initech Ltd' WHERE id = 1 RETURNING id, name;
INSERT INTO tk_clients VALUES (2, 'Umbrella', NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- tokens carry no system permissions: the principal's export does not count
BEGIN;
SELECT crmperm.authenticate(:'portal_token');
COPY tk_clients TO STDOUT;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'portal_token');
SELECT crmperm.check('export') AS may_export;
SELECT crmperm.grant('tk clients', 'leads', ARRAY['read']);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- ---------------------------------------------------------------------------
-- Nothing widens a token
-- ---------------------------------------------------------------------------
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SET ROLE tk_wide;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
RESET ROLE;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SET SESSION AUTHORIZATION tk_app;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SELECT set_config('role', 'tk_wide', false);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a second token is refused, whichever it is (and is not even checked)
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SELECT crmperm.authenticate(:'wide_token');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SELECT crmperm.authenticate('not a token');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- utility statements other than queries, cursors and the like
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
CREATE TEMP TABLE tk_tmp (a int);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
TRUNCATE tk_leads;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
DECLARE c CURSOR WITH HOLD FOR SELECT 1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'wide_token');
DECLARE c CURSOR FOR SELECT name FROM tk_leads ORDER BY id;
FETCH 1 FROM c;
CLOSE c;
ROLLBACK;
RESET SESSION AUTHORIZATION;

-- SECURITY DEFINER functions and views run as their owner: refused under a
-- token, whatever the owner may do
CREATE FUNCTION tk_definer_read() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = public AS 'SELECT count(*) FROM tk_leads';
ALTER FUNCTION tk_definer_read() OWNER TO tk_webhook;
CREATE FUNCTION tk_definer_auth(t text) RETURNS regrole LANGUAGE sql SECURITY DEFINER
    SET search_path = public AS 'SELECT crmperm.authenticate(t)';
CREATE VIEW tk_owner_view AS SELECT id, name FROM tk_leads;
ALTER VIEW tk_owner_view OWNER TO tk_webhook;
CREATE VIEW tk_invoker_view WITH (security_invoker) AS SELECT id, name FROM tk_leads;
GRANT SELECT ON tk_owner_view, tk_invoker_view TO tk_principals;
SET SESSION AUTHORIZATION tk_app;
BEGIN;
SELECT crmperm.authenticate(:'wide_token');
SELECT tk_definer_read();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'wide_token');
SELECT * FROM tk_owner_view ORDER BY id;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'wide_token');
SELECT * FROM tk_invoker_view ORDER BY id;
ROLLBACK;
SELECT tk_definer_auth(:'hook_token');
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------------------
-- The token ends: commit, rollback, savepoint rollback, logout()
-- ---------------------------------------------------------------------------
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
COMMIT;
SELECT current_user, (SELECT token FROM crmperm.whoami());
BEGIN;
SAVEPOINT s;
SELECT crmperm.authenticate(:'hook_token');
ROLLBACK TO SAVEPOINT s;
SELECT current_user, (SELECT token FROM crmperm.whoami());
-- in a released savepoint it holds until the end of the transaction
SAVEPOINT s2;
SELECT crmperm.authenticate(:'hook_token');
RELEASE SAVEPOINT s2;
SELECT current_user;
COMMIT;
SELECT current_user;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SELECT crmperm.logout();
SELECT current_user;
-- the login role holds nothing
SELECT * FROM tk_leads;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- logout must be called where authenticate was
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
SAVEPOINT s;
SELECT crmperm.logout();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a statement prepared under one token runs with the rights of whoever
-- executes it later
BEGIN;
SELECT crmperm.authenticate(:'wide_token');
PREPARE tk_read AS SELECT count(*) FROM tk_leads;
EXECUTE tk_read;
COMMIT;
EXECUTE tk_read;
\echo :LAST_ERROR_SQLSTATE
DEALLOCATE tk_read;

-- session => true: until logout(); SET ROLE is refused, set_config('role')
-- ends the token
SELECT crmperm.authenticate(:'wide_token', session => true);
SELECT current_user;
SELECT count(*) FROM tk_leads;
SET ROLE tk_app;
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.logout();
SELECT current_user;
SELECT crmperm.authenticate(:'wide_token', session => true);
SELECT set_config('role', 'tk_app', false) IS NOT NULL AS changed;
SELECT count(*) FROM tk_leads;
\echo :LAST_ERROR_SQLSTATE
SELECT current_user, (SELECT token FROM crmperm.whoami());
-- logout() is not undone by a rollback
SELECT crmperm.authenticate(:'wide_token', session => true);
BEGIN;
SELECT crmperm.logout();
SELECT 1 / 0;
ROLLBACK;
SELECT current_user, (SELECT token FROM crmperm.whoami());
-- a session token authenticated in a transaction that rolls back never starts
BEGIN;
SELECT crmperm.authenticate(:'wide_token', session => true);
ROLLBACK;
SELECT current_user;
RESET SESSION AUTHORIZATION;
SET ROLE tk_app;
SELECT crmperm.authenticate(:'wide_token', session => true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Revocation and expiry bite at once, also in a session that authenticated
-- ---------------------------------------------------------------------------
-- (test/isolation/specs/token_revoke.spec: revoked by another session)
SELECT crmperm.revoke_token('wide');
SELECT crmperm.revoke_token('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.revoke_token(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT name, revoked IS NOT NULL AS revoked FROM crmperm.tokens WHERE name = 'wide';

SET SESSION AUTHORIZATION tk_keeper;
BEGIN;
SELECT crmperm.authenticate(:'brief_token');
SELECT count(*) FROM tk_leads;
SELECT pg_sleep(2.5);
SELECT count(*) FROM tk_leads;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT current_user;

-- ---------------------------------------------------------------------------
-- Failures: one message whatever the reason, then the login role is locked
-- out (crmperm.token_max_failures = 5 by default)
-- ---------------------------------------------------------------------------
SET SESSION AUTHORIZATION tk_guess;
SELECT crmperm.authenticate(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.authenticate('hunter2');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.authenticate(overlay(:'hook_token' placing 'AAAA' from 20));
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.authenticate(:'wide_token');     -- revoked
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.authenticate(:'brief_token');    -- expired
\echo :LAST_ERROR_SQLSTATE
-- the fifth failure locked tk_guess out: even a valid token is refused now
SELECT crmperm.authenticate(:'hook_token');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
-- another login role is not locked out
SET SESSION AUTHORIZATION tk_guess2;
BEGIN;
SELECT crmperm.authenticate(:'hook_token');
ROLLBACK;
RESET SESSION AUTHORIZATION;

-- a principal that became a super admin cannot be narrowed any more: its
-- tokens stop working
SELECT crmperm.set_super_admin('tk_webhook', true);
SET SESSION AUTHORIZATION tk_guess2;
SELECT crmperm.authenticate(:'hook_token');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SELECT crmperm.set_super_admin('tk_webhook', false);

-- cleanup
DROP VIEW tk_owner_view, tk_invoker_view;
DROP FUNCTION tk_definer_read(), tk_definer_auth(text);
DELETE FROM crmperm.api_tokens;
SELECT crmperm.unmanage_table('tk_leads');
SELECT crmperm.unmanage_table('tk_clients');
SELECT crmperm.unmanage_table('tk_ledger');
SELECT crmperm.unmanage_table('tk_owned');
SELECT crmperm.drop_permission_set(n)
  FROM unnest(ARRAY['tk leads', 'tk clients', 'tk export', 'tk tokens']) n;
DELETE FROM crmperm.principals WHERE principal::text LIKE 'tk\_%';
DROP TABLE tk_leads, tk_clients, tk_ledger, tk_notes, tk_owned;
DROP ROLE tk_webhook, tk_portal, tk_wide, tk_app, tk_guess, tk_guess2, tk_keeper, tk_super,
    tk_bypass, tk_admin, tk_owner, tk_superadmin, tk_principals;

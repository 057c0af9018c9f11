-- Paths an outside reviewer found after the hardening of 1.2, closed: one
-- section per finding.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE rv_leads (id int PRIMARY KEY, owner_id text, email text);
INSERT INTO rv_leads VALUES (1, 'u1', 'a@acme.com'), (2, 'bob', 'ceo@globex.com'),
                            (3, 'rv_alice', 'al@acme.com');
CREATE ROLE rv_alice LOGIN;
CREATE ROLE rv_admin LOGIN;
GRANT SELECT ON rv_leads TO rv_alice, rv_admin;
SELECT crmperm.manage_table('rv_leads', owner_column => 'owner_id');
SELECT crmperm.protect_field('rv_leads', 'email');

-- ---------------------------------------------------------------------------
-- 1. A custom scope may not use a function or read a table that another role
--    owns (its owner could change which rows the scope admits and run code
--    as every reader): refused when defined, and when the scope is built
--    after an owner changed.
-- ---------------------------------------------------------------------------
CREATE SCHEMA rv;
GRANT USAGE, CREATE ON SCHEMA rv TO rv_alice;
SET ROLE rv_alice;
CREATE FUNCTION rv.mine(o text) RETURNS boolean LANGUAGE sql STABLE
    SET search_path = pg_catalog AS $$ SELECT o = current_user::text $$;
CREATE TABLE rv.acl (lead_id int, user_id text);
RESET ROLE;
SELECT crmperm.define_scope('rv_leads', 'mine', 'rv.mine(owner_id)');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.define_scope('rv_leads', 'acl',
    'id IN (SELECT lead_id FROM rv.acl WHERE user_id = crmperm.user_id())');
\echo :LAST_ERROR_SQLSTATE
-- owned by the table's owner (here a superuser): accepted, and used
ALTER FUNCTION rv.mine(text) OWNER TO CURRENT_USER;
SELECT crmperm.define_scope('rv_leads', 'mine', 'rv.mine(owner_id)');
SELECT crmperm.create_permission_set('Rv mine');
SELECT crmperm.grant('Rv mine', 'rv_leads', ARRAY['read'], scope => 'mine');
SELECT crmperm.assign_permission_set('rv_alice', 'Rv mine');
SET ROLE rv_alice;
SELECT id FROM rv_leads;
RESET ROLE;
-- given away later: the scope is refused when it is next built (fail closed)
ALTER FUNCTION rv.mine(text) OWNER TO rv_alice;
SET ROLE rv_alice;
SELECT id FROM rv_leads;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
ALTER FUNCTION rv.mine(text) OWNER TO CURRENT_USER;
SELECT crmperm.drop_permission_set('Rv mine');
SELECT crmperm.drop_scope('rv_leads', 'mine');

-- ---------------------------------------------------------------------------
-- 2. A tenant administrator neither administers itself nor gives its
--    principals the ids of principals outside its tenant (owned, team and
--    department scopes would admit their rows of tables shared by every
--    tenant).
-- ---------------------------------------------------------------------------
CREATE ROLE rv_bob LOGIN;
CREATE ROLE rv_tuser LOGIN;
GRANT SELECT ON rv_leads TO rv_tuser;
SELECT crmperm.create_permission_set('Rv own');
SELECT crmperm.grant('Rv own', 'rv_leads', ARRAY['read'], scope => 'owned');
SELECT crmperm.create_permission_set('Rv tenant admin');
SELECT crmperm.grant_system('Rv tenant admin', 'manage_permissions');
SELECT crmperm.set_principal('rv_bob', user_id => 'bob');
SELECT crmperm.set_principal('rv_admin', tenant_id => 't1');
SELECT crmperm.set_principal('rv_tuser', user_id => 'u1', tenant_id => 't1');
SELECT crmperm.assign_permission_set('rv_admin', 'Rv tenant admin');
SELECT crmperm.assign_permission_set('rv_tuser', 'Rv own');
SET ROLE rv_admin;
SELECT crmperm.set_principal('rv_tuser', user_id => 'bob', tenant_id => 't1');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set('rv_admin', 'Rv own');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal('rv_admin', user_id => 'u9', tenant_id => 't1');
\echo :LAST_ERROR_SQLSTATE
-- an id of its own tenant: accepted
SELECT crmperm.set_principal('rv_tuser', user_id => 'u2', tenant_id => 't1');
RESET ROLE;
SET ROLE rv_tuser;
SELECT id FROM rv_leads;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 3. A foreign key whose actions write rows (CASCADE, SET NULL, SET DEFAULT)
--    may not point a sensitive table's rows, or a read-only field, at
--    another table: any role that may change the referenced row would
--    write them.
-- ---------------------------------------------------------------------------
CREATE TABLE rv_parent (id int PRIMARY KEY);
CREATE TABLE rv_ledger (id int PRIMARY KEY, pid int);
CREATE TABLE rv_notes (id int PRIMARY KEY, pid int);
SELECT crmperm.manage_table('rv_ledger', sensitive => true);
SELECT crmperm.manage_table('rv_notes');
SELECT crmperm.protect_field('rv_notes', 'pid', readonly => true);
ALTER TABLE rv_ledger ADD FOREIGN KEY (pid) REFERENCES rv_parent ON DELETE CASCADE;
ALTER TABLE rv_notes ADD FOREIGN KEY (pid) REFERENCES rv_parent ON UPDATE CASCADE;
CREATE ROLE rv_owner LOGIN;
ALTER TABLE rv_ledger OWNER TO rv_owner;
GRANT REFERENCES ON rv_parent TO rv_owner;
SET ROLE rv_owner;
ALTER TABLE rv_ledger ADD FOREIGN KEY (pid) REFERENCES rv_parent ON DELETE CASCADE;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE rv_ledger ADD FOREIGN KEY (pid) REFERENCES rv_parent ON UPDATE SET NULL;
\echo :LAST_ERROR_SQLSTATE
-- NO ACTION / RESTRICT write nothing: accepted
ALTER TABLE rv_ledger ADD FOREIGN KEY (pid) REFERENCES rv_parent ON DELETE RESTRICT;
RESET ROLE;
ALTER TABLE rv_notes OWNER TO rv_owner;
SET ROLE rv_owner;
ALTER TABLE rv_notes ADD FOREIGN KEY (pid) REFERENCES rv_parent ON UPDATE CASCADE;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE rv_notes ADD FOREIGN KEY (pid) REFERENCES rv_parent ON DELETE CASCADE;
RESET ROLE;
SELECT conrelid::regclass, confupdtype, confdeltype FROM pg_constraint
 WHERE contype = 'f' AND conrelid IN ('rv_ledger'::regclass, 'rv_notes'::regclass)
 ORDER BY 1, 2, 3;

-- ---------------------------------------------------------------------------
-- 4. A token that expires while a statement runs ends at that statement's
--    next query, not at the next top-level statement.
-- ---------------------------------------------------------------------------
CREATE ROLE rv_hook;
CREATE ROLE rv_login LOGIN;
GRANT SELECT ON rv_leads TO rv_hook;
SELECT crmperm.create_permission_set('Rv hook');
SELECT crmperm.grant('Rv hook', 'rv_leads', ARRAY['read']);
SELECT crmperm.assign_permission_set('rv_hook', 'Rv hook');
SELECT crmperm.create_token('rv short', 'rv_hook', ARRAY['rv_leads.read'],
                            expires_at => now() + interval '2 seconds') AS tok \gset
SET SESSION AUTHORIZATION rv_login;
BEGIN;
SELECT crmperm.authenticate(:'tok');
DO $$
DECLARE
    n int;
BEGIN
    SELECT count(*) INTO n FROM rv_leads;
    RAISE NOTICE 'before expiry: % rows', n;
    PERFORM pg_sleep(2.5);
    SELECT count(*) INTO n FROM rv_leads;
    RAISE NOTICE 'after expiry: % rows', n;
END
$$;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET SESSION AUTHORIZATION;

-- ---------------------------------------------------------------------------
-- 5. strict_fields protects the columns a typed table gets from
--    ALTER TYPE ... ADD ATTRIBUTE ... CASCADE.
-- ---------------------------------------------------------------------------
CREATE TYPE rv_row AS (id int, owner_id text, a text);
CREATE TABLE rv_typed OF rv_row;
INSERT INTO rv_typed VALUES (1, 'u2', 'x');
GRANT SELECT ON rv_typed TO rv_tuser;
SELECT crmperm.manage_table('rv_typed', strict_fields => true);
SELECT crmperm.grant('Rv own', 'rv_typed', ARRAY['read']);
ALTER TYPE rv_row ADD ATTRIBUTE b text CASCADE;
UPDATE rv_typed SET b = 'secret-b';
SELECT field, mask FROM crmperm.fields WHERE resource = 'rv_typed' ORDER BY field;
SET ROLE rv_tuser;
SELECT * FROM rv_typed;
RESET ROLE;

-- cleanup
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['rv_leads', 'rv_ledger', 'rv_notes', 'rv_typed']::regclass[]) t;
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['Rv own', 'Rv tenant admin', 'Rv hook']) n;
DELETE FROM crmperm.principals WHERE principal::text LIKE 'rv\_%';
DELETE FROM crmperm.api_tokens WHERE name = 'rv short';
DROP TABLE rv_leads, rv_ledger, rv_notes, rv_parent, rv_typed;
DROP TYPE rv_row;
DROP SCHEMA rv CASCADE;
DROP OWNED BY rv_alice, rv_admin, rv_bob, rv_tuser, rv_owner, rv_hook, rv_login;
DROP ROLE rv_alice, rv_admin, rv_bob, rv_tuser, rv_owner, rv_hook, rv_login;

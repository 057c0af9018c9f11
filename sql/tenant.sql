-- The tenant boundary: a restrictive policy on every command for governed
-- principals of a table with a tenant column.  No grant widens it.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE tn_leads (id int PRIMARY KEY, tenant text, owner_id text, name text);
CREATE INDEX ON tn_leads (tenant);
INSERT INTO tn_leads VALUES (1, 'acme', 'u1', 'a1'), (2, 'acme', 'u2', 'a2'),
                            (3, 'globex', 'u1', 'g1'), (4, NULL, 'u1', 'none');
CREATE ROLE tn_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON tn_leads TO tn_users;
CREATE ROLE tn_acme LOGIN IN ROLE tn_users;      -- scope all, tenant acme
CREATE ROLE tn_globex LOGIN IN ROLE tn_users;    -- scope owned, tenant globex
CREATE ROLE tn_nobody LOGIN IN ROLE tn_users;    -- scope all, no tenant
CREATE ROLE tn_admin LOGIN IN ROLE tn_users;     -- super admin: no boundary

SELECT crmperm.manage_table('tn_leads', owner_column => 'owner_id', tenant_column => 'tenant');
SELECT crmperm.manage_table('tn_leads', resource => 'x', tenant_column => 'nosuch');
SELECT crmperm.create_permission_set('Everything');
SELECT crmperm.grant('Everything', 'tn_leads', ARRAY['read', 'create', 'update', 'delete']);
SELECT crmperm.create_permission_set('Own');
SELECT crmperm.grant('Own', 'tn_leads', ARRAY['read', 'create', 'update', 'delete'], 'owned');
SELECT crmperm.assign_permission_set('tn_acme', 'Everything');
SELECT crmperm.assign_permission_set('tn_globex', 'Own');
SELECT crmperm.assign_permission_set('tn_nobody', 'Everything');
SELECT crmperm.set_principal('tn_acme', user_id => 'u2', tenant_id => 'acme');
SELECT crmperm.set_principal('tn_globex', user_id => 'u1', tenant_id => 'globex');
SELECT crmperm.set_principal('tn_nobody', user_id => 'u1');
SELECT crmperm.set_super_admin('tn_admin', true);

-- Reading: only the principal's tenant, whatever the scope.
SET ROLE tn_acme;
SELECT id, tenant FROM tn_leads ORDER BY id;
SELECT crmperm.tenant_id();
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM tn_leads;
RESET enable_seqscan;
SET ROLE tn_globex;
SELECT id, tenant FROM tn_leads ORDER BY id;     -- owned AND tenant: not 1 or 4
SET ROLE tn_nobody;
SELECT id, tenant FROM tn_leads ORDER BY id;     -- no tenant: no row
SET ROLE tn_admin;
SELECT id, tenant FROM tn_leads ORDER BY id;

-- Writing: never into another tenant.
SET ROLE tn_acme;
INSERT INTO tn_leads VALUES (10, 'acme', 'u2', 'ok');
INSERT INTO tn_leads VALUES (11, 'globex', 'u2', 'across');
INSERT INTO tn_leads VALUES (12, NULL, 'u2', 'no tenant');
UPDATE tn_leads SET tenant = 'globex' WHERE id = 10;
UPDATE tn_leads SET name = name || '!' RETURNING id;           -- acme rows only
DELETE FROM tn_leads WHERE id IN (3, 4) RETURNING id;          -- other tenants: nothing
INSERT INTO tn_leads VALUES (3, 'acme', 'u2', 'x')
    ON CONFLICT (id) DO UPDATE SET name = 'stolen';            -- another tenant's row
INSERT INTO tn_leads VALUES (3, 'acme', 'u2', 'x') ON CONFLICT (id) DO NOTHING;
SET ROLE tn_globex;
INSERT INTO tn_leads VALUES (13, 'acme', 'u1', 'across');      -- in scope, wrong tenant
INSERT INTO tn_leads VALUES (14, 'globex', 'u1', 'ok');
SET ROLE tn_nobody;
INSERT INTO tn_leads VALUES (15, NULL, 'u1', 'x');
DELETE FROM tn_leads RETURNING id;
RESET ROLE;
SELECT id, tenant, name FROM tn_leads ORDER BY id;

-- A tenant change reaches a cached plan at once.
SET plan_cache_mode = force_generic_plan;
SET ROLE tn_acme;
PREPARE tn_q AS SELECT id FROM tn_leads ORDER BY id;
EXECUTE tn_q;
RESET ROLE;
SELECT crmperm.set_principal('tn_acme', user_id => 'u2', tenant_id => 'globex');
SET ROLE tn_acme;
EXECUTE tn_q;
RESET ROLE;
DEALLOCATE tn_q;
RESET plan_cache_mode;

-- cleanup
SELECT crmperm.unmanage_table('tn_leads');
DROP TABLE tn_leads;
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['Everything', 'Own']) n;
DELETE FROM crmperm.set_assignments;
DELETE FROM crmperm.principals;
DROP ROLE tn_acme, tn_globex, tn_nobody, tn_admin, tn_users;

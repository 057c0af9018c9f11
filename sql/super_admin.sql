-- Super admins bypass crmperm entirely (CRUD, scopes, tenant boundary); only
-- a superuser sets the flag, and no principal can give it to itself.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE sa_boss LOGIN;          -- super admin, no grants, no attributes
CREATE ROLE sa_delegate LOGIN;      -- holds manage_permissions
CREATE ROLE sa_rep LOGIN;           -- an ordinary principal
CREATE TABLE sa_deals (id int PRIMARY KEY, owner_id text, tenant text);
INSERT INTO sa_deals VALUES (1, 'u1', 'acme'), (2, 'u2', 'globex'), (3, NULL, NULL);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON sa_deals TO sa_boss, sa_delegate, sa_rep;
SELECT crmperm.manage_table('sa_deals', owner_column => 'owner_id', tenant_column => 'tenant');
SELECT crmperm.create_permission_set('Delegates');
SELECT crmperm.grant_system('Delegates', 'manage_permissions');
SELECT crmperm.assign_permission_set('sa_delegate', 'Delegates');

-- Before: sa_boss is an ordinary principal with nothing granted.
SET ROLE sa_boss;
SELECT id FROM sa_deals;
RESET ROLE;
SELECT crmperm.set_super_admin('sa_boss', true);
SET ROLE sa_boss;
SELECT id FROM sa_deals ORDER BY id;                        -- every tenant, every row
INSERT INTO sa_deals VALUES (4, 'u9', 'initech') RETURNING id;
UPDATE sa_deals SET tenant = 'acme' WHERE id = 4 RETURNING id, tenant;
DELETE FROM sa_deals WHERE id = 4 RETURNING id;
COPY (SELECT count(*) FROM sa_deals) TO STDOUT;             -- no export needed
EXPLAIN (COSTS OFF) SELECT id FROM sa_deals;                -- no qual
SELECT principal, super_admin FROM crmperm.whoami();
SELECT crmperm.check('sa_deals.delete');
RESET ROLE;

-- Only a superuser sets the flag, whatever path a principal tries.
SET ROLE sa_delegate;
SELECT crmperm.set_super_admin('sa_delegate', true);
SELECT crmperm._set_super_admin('sa_delegate', true);
UPDATE crmperm.principals SET super_admin = true;
INSERT INTO crmperm.principals (principal, super_admin) VALUES ('sa_delegate', true);
SELECT crmperm.set_principal('sa_delegate', user_id => 'u1');     -- not even its own attributes
CREATE FUNCTION pg_temp.elevate() RETURNS void SECURITY DEFINER LANGUAGE sql
    AS $$SELECT crmperm.set_super_admin('sa_delegate', true)$$;
SELECT pg_temp.elevate();
SELECT crmperm.set_super_admin('sa_rep', true);
SELECT super_admin FROM crmperm.whoami();
RESET ROLE;
DROP FUNCTION pg_temp.elevate();
SELECT principal, user_id, super_admin FROM crmperm.principals ORDER BY 1::text;
-- set_principal keeps the flag as it is
SELECT crmperm.set_principal('sa_boss', user_id => 'u1');
SELECT principal, user_id, super_admin FROM crmperm.principals WHERE principal = 'sa_boss'::regrole;

-- Taking the flag away applies at once, to cached plans too.
SET plan_cache_mode = force_generic_plan;
SET ROLE sa_boss;
PREPARE sa_all AS SELECT id FROM sa_deals ORDER BY id;
EXECUTE sa_all;
RESET ROLE;
SELECT crmperm.set_super_admin('sa_boss', false);
SET ROLE sa_boss;
EXECUTE sa_all;
RESET ROLE;
DEALLOCATE sa_all;
RESET plan_cache_mode;

-- cleanup
SELECT crmperm.unmanage_table('sa_deals');
DROP TABLE sa_deals;
SELECT crmperm.drop_permission_set('Delegates');
DELETE FROM crmperm.set_assignments;
DELETE FROM crmperm.principals;
DROP ROLE sa_boss, sa_delegate, sa_rep;

-- The admin API: who may call it, and bad input that changes nothing.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE deals (id int PRIMARY KEY, owner_id text, team_id text, amount int);
CREATE TABLE plain (id int);
CREATE ROLE api_admin LOGIN;
CREATE ROLE api_user LOGIN;
GRANT SELECT ON deals TO api_user;

-- a snapshot of the whole catalog, to show that failed calls change nothing
CREATE FUNCTION catalog_digest() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
    SELECT 'r' || r::text FROM crmperm.resources r UNION ALL
    SELECT 'p' || p::text FROM crmperm.permission_sets p UNION ALL
    SELECT 'g' || g::text FROM crmperm.object_grants g UNION ALL
    SELECT 's' || s::text FROM crmperm.system_grants s UNION ALL
    SELECT 'o' || o::text FROM crmperm.roles o UNION ALL
    SELECT 'm' || m::text FROM crmperm.role_permission_sets m UNION ALL
    SELECT 'a' || a::text FROM crmperm.role_assignments a UNION ALL
    SELECT 'b' || b::text FROM crmperm.set_assignments b UNION ALL
    SELECT 'x' || x::text FROM crmperm.principals x) c(t) $$;

-- manage_table
SELECT crmperm.manage_table(NULL);
SELECT crmperm.manage_table('nosuchtable');
SELECT crmperm.manage_table('deals', owner_column => 'nope');
SELECT crmperm.manage_table('deals', resource => 'Deals; DROP TABLE deals');
SELECT crmperm.manage_table('deals', resource => 'deal"s');
SELECT crmperm.manage_table('pg_catalog.pg_class');
SELECT crmperm.manage_table('crmperm.resources');
SELECT crmperm.manage_table('deals', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.manage_table('deals');
SELECT crmperm.manage_table('plain', resource => 'deals');
SELECT resource, tbl, owner_column, team_column, department_column, sensitive FROM crmperm.resources;
SELECT crmperm.unmanage_table('plain');
SELECT crmperm.unmanage_table(NULL);

SELECT catalog_digest() AS before \gset

-- permission sets
SELECT crmperm.create_permission_set(NULL);
SELECT crmperm.create_permission_set('');
SELECT crmperm.create_permission_set('Reps''; DROP TABLE deals; --');
SELECT crmperm.create_permission_set('Reps');
SELECT crmperm.create_permission_set('Reps');
SELECT crmperm.drop_permission_set('Nope');
SELECT crmperm.drop_permission_set(NULL);

-- grant / revoke
SELECT crmperm.grant('Nope', 'deals', ARRAY['read']);
SELECT crmperm.grant('Reps', 'nope', ARRAY['read']);
SELECT crmperm.grant('Reps', 'deals', NULL);
SELECT crmperm.grant('Reps', 'deals', ARRAY[]::text[]);
SELECT crmperm.grant('Reps', 'deals', ARRAY['read', 'fly']);    -- a partly bad array changes nothing
SELECT crmperm.grant('Reps', 'deals', ARRAY['read', NULL]);
SELECT crmperm.grant('Reps', 'deals', ARRAY['read'], NULL);
SELECT crmperm.grant('Reps', 'deals', ARRAY['read'], 'department');   -- no department column
SELECT crmperm.grant('Reps', 'deals', ARRAY['read'], 'vip');          -- no such custom scope
SELECT count(*) FROM crmperm.object_grants;
SELECT crmperm.grant('Reps', 'deals', ARRAY['read', 'update'], 'owned');
SELECT crmperm.grant('Reps', 'deals', ARRAY['read'], 'team');         -- replaces the scope
SELECT permission_set, resource, action, scope FROM crmperm.object_grants ORDER BY action;
SELECT crmperm.revoke('Reps', 'deals', ARRAY['update', 'jump']);
SELECT crmperm.revoke('Reps', 'deals', ARRAY['update']);
SELECT permission_set, resource, action, scope FROM crmperm.object_grants ORDER BY action;

-- system permissions
SELECT crmperm.grant_system('Reps', 'root');
SELECT crmperm.grant_system('Reps', NULL);
SELECT crmperm.grant_system('Nope', 'export');
SELECT crmperm.grant_system('Reps', 'export');
SELECT crmperm.revoke_system('Reps', 'export');
SELECT crmperm.revoke_system('Reps', 'sudo');

-- roles
SELECT crmperm.create_role(NULL);
SELECT crmperm.create_role('Rep', parent => 'Nope');
SELECT crmperm.create_role('Rep', parent => 'Rep');
SELECT crmperm.create_role('Rep');
SELECT crmperm.create_role('Rep');
SELECT crmperm.create_role('Manager', parent => 'Rep');
SELECT crmperm.create_role('Director', parent => 'Manager');
SELECT crmperm.drop_role('Rep');
SELECT crmperm.drop_role('Nope');
SELECT crmperm.add_to_role('Nope', 'Reps');
SELECT crmperm.add_to_role('Rep', 'Nope');
SELECT crmperm.add_to_role('Rep', 'Reps');
SELECT crmperm.remove_from_role('Rep', NULL);
-- a cycle cannot be written even directly
UPDATE crmperm.roles SET parent = 'Director' WHERE name = 'Rep';
SELECT * FROM crmperm.explain_access('api_user', 'deals');
RESET client_min_messages;

-- assignments and principals
SELECT crmperm.assign_role(NULL, 'Rep');
SELECT crmperm.assign_role('nosuchrole', 'Rep');
SELECT crmperm.assign_role('api_user', 'Nope');
SELECT crmperm.assign_role('api_user', 'Rep', valid_until => now() - interval '1 day');
SELECT crmperm.assign_role('api_user', 'Rep');
SELECT crmperm.unassign_role('api_user', 'Nope');
SELECT crmperm.assign_permission_set('api_user', 'Nope');
SELECT crmperm.assign_permission_set('api_user', 'Reps', now() + interval '1 day');
SELECT crmperm.unassign_permission_set('api_user', 'Reps');
SELECT crmperm.set_principal(NULL, 'u1');
SELECT crmperm.set_principal('api_user', 'u1', team_ids => ARRAY['t1', NULL]);
SELECT crmperm.set_principal('api_user', 'u1', team_ids => ARRAY['t1']);
SELECT principal, user_id, team_ids, department_ids, tenant_id, super_admin FROM crmperm.principals;

-- who may call the API: superusers and holders of manage_permissions
SELECT catalog_digest() AS before \gset
SET ROLE api_admin;
SELECT crmperm.create_permission_set('Sneaky');
SELECT crmperm.grant('Reps', 'deals', ARRAY['delete']);
SELECT crmperm.assign_role('api_admin', 'Rep');
SELECT * FROM crmperm.explain_access('api_user', 'deals');
SELECT * FROM crmperm.explain_access('api_admin', 'deals');   -- about oneself: allowed
-- the catalog is not readable or writable directly
SELECT * FROM crmperm.object_grants;
INSERT INTO crmperm.set_assignments VALUES ('api_admin', 'Reps');
SELECT crmperm._grant('Reps', 'deals', ARRAY['delete'], 'all');
-- and a super admin cannot be self-made
SELECT crmperm.set_super_admin('api_admin', true);
RESET ROLE;
SELECT catalog_digest() = :'before' AS unchanged;

SELECT crmperm.create_permission_set('Admins');
SELECT crmperm.grant_system('Admins', 'manage_permissions');
SELECT crmperm.assign_permission_set('api_admin', 'Admins');
SET ROLE api_admin;
SELECT crmperm.create_permission_set('Delegated');
SELECT crmperm.grant('Delegated', 'deals', ARRAY['read']);
SELECT * FROM crmperm.explain_access('api_user', 'deals');
SELECT crmperm.set_super_admin('api_admin', true);   -- still superuser only
RESET ROLE;
SELECT crmperm.set_super_admin('api_user', NULL);
SELECT crmperm.set_super_admin('api_user', true);
SELECT * FROM crmperm.explain_access('api_user', 'deals');
SELECT crmperm.set_super_admin('api_user', false);

-- a hostile search_path changes nothing
CREATE SCHEMA evil;
CREATE FUNCTION evil.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SET search_path = evil, public, pg_catalog;
SELECT * FROM crmperm.explain_access('api_admin', 'deals');
RESET search_path;
DROP SCHEMA evil CASCADE;

-- dropping a managed table unmanages it
SELECT crmperm.manage_table('plain');
DROP TABLE plain;
SELECT resource FROM crmperm.resources ORDER BY 1;

-- cleanup
SELECT crmperm.unmanage_table('deals');
DROP TABLE deals;
SELECT crmperm.drop_role('Director');
SELECT crmperm.drop_role('Manager');
SELECT crmperm.drop_role('Rep');
SELECT crmperm.drop_permission_set(name) FROM crmperm.permission_sets;
DELETE FROM crmperm.principals;
DROP FUNCTION catalog_digest();
DROP ROLE api_admin, api_user;

-- Tenant administrators (issue 13, item 4): the tenant boundary binds those
-- who administer crmperm too.  at_admin1 holds manage_permissions and has
-- tenant t1; it calls every admin function against tenant t2's principals,
-- permission sets, roles and tokens (each refused or filtered, with its
-- SQLSTATE), against global objects (used, never changed) and against the
-- table-wide configuration (global administrators only), then shows what it
-- still does in t1.  Every error is followed by its SQLSTATE.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE at_principals NOLOGIN;
CREATE ROLE at_admin1 NOLOGIN IN ROLE at_principals;   -- tenant administrator of t1
CREATE ROLE at_admin2 NOLOGIN IN ROLE at_principals;   -- tenant administrator of t2
CREATE ROLE at_gadmin NOLOGIN IN ROLE at_principals;   -- global administrator (no tenant)
CREATE ROLE at_user1 NOLOGIN IN ROLE at_principals;    -- t1
CREATE ROLE at_user2 NOLOGIN IN ROLE at_principals;    -- t2
CREATE ROLE at_stray NOLOGIN IN ROLE at_principals;    -- no principal row
CREATE ROLE at_app LOGIN;                              -- authenticates tokens
CREATE TABLE at_leads (id int PRIMARY KEY, tenant text, owner_id text, note text);
CREATE TABLE at_products (id int PRIMARY KEY, name text);   -- no tenant column
CREATE TABLE at_plain (id int);
INSERT INTO at_leads VALUES (1, 't1', 'u1', 'one'), (2, 't1', 'u9', 'two'),
                            (3, 't2', 'u2', 'three'), (4, 't2', 'u9', 'four');
INSERT INTO at_products VALUES (1, 'widget');
GRANT SELECT, INSERT, UPDATE, DELETE ON at_leads, at_products, at_plain TO at_principals;
\o /dev/null
SELECT crmperm.manage_table('at_leads', owner_column => 'owner_id', tenant_column => 'tenant');
SELECT crmperm.manage_table('at_products');
SELECT crmperm.define_permission('at_console.access');
SELECT crmperm.protect_field('at_leads', 'note');
SELECT crmperm.define_scope('at_leads', 'at_low', 'id < 3');

-- Global objects (a superuser makes them): the administrators' set, a data
-- set and a role using it, and a set carrying export.
SELECT crmperm.create_permission_set('At tenant admin');
SELECT crmperm.grant_system('At tenant admin', 'manage_permissions');
SELECT crmperm.grant_system('At tenant admin', 'view_audit');
SELECT crmperm.create_permission_set('At token admin');
SELECT crmperm.grant_system('At token admin', 'manage_tokens');
SELECT crmperm.create_permission_set('At global read');
SELECT crmperm.grant('At global read', 'at_leads', ARRAY['read']);
SELECT crmperm.create_role('At global role');
SELECT crmperm.add_to_role('At global role', 'At global read');
SELECT crmperm.create_permission_set('At exporter');
SELECT crmperm.grant_system('At exporter', 'export');
SELECT crmperm.create_role('At export role');
SELECT crmperm.add_to_role('At export role', 'At exporter');
SELECT crmperm.set_principal('at_admin1', tenant_id => 't1');
SELECT crmperm.set_principal('at_admin2', tenant_id => 't2');
SELECT crmperm.set_principal('at_user1', user_id => 'u1', tenant_id => 't1');
SELECT crmperm.set_principal('at_user2', user_id => 'u2', tenant_id => 't2');
SELECT crmperm.assign_permission_set(p, 'At tenant admin')
  FROM unnest(ARRAY['at_admin1', 'at_admin2', 'at_gadmin']::regrole[]) p;
SELECT crmperm.assign_permission_set('at_gadmin', 'At token admin');
SELECT crmperm.assign_permission_set('at_admin2', 'At token admin');
\o

-- ---------------------------------------------------------------------------
-- Tenant t2's administrator sets up t2: what it creates is t2's.
-- ---------------------------------------------------------------------------
SET ROLE at_admin2;
\o /dev/null
SELECT crmperm.create_permission_set('At T2 sales');
SELECT crmperm.grant('At T2 sales', 'at_leads', ARRAY['read', 'update']);
SELECT crmperm.grant_field('At T2 sales', 'at_leads', 'note', ARRAY['read']);
SELECT crmperm.create_role('At T2 reps', parent => 'At global role');
SELECT crmperm.add_to_role('At T2 reps', 'At T2 sales');
SELECT crmperm.assign_role('at_user2', 'At T2 reps');
\o
SELECT crmperm.create_token('at t2 token', 'at_user2', ARRAY['at_leads.read']) IS NOT NULL AS minted;
RESET ROLE;
SELECT name, tenant_id FROM crmperm.permission_sets WHERE name LIKE 'At %' ORDER BY name;
SELECT name, parent, tenant_id FROM crmperm.roles WHERE name LIKE 'At %' ORDER BY name;

-- ---------------------------------------------------------------------------
-- The reported chain: a t1 manage_permissions holder grants itself
-- manage_tokens, mints a token acting as a t2 principal and reads t2's rows.
-- ---------------------------------------------------------------------------
SET ROLE at_admin1;
SELECT crmperm.create_permission_set('At T1 admins');
SELECT crmperm.grant_system('At T1 admins', 'manage_tokens');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set('at_admin1', 'At token admin');  -- itself: refused first
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set('at_user1', 'At token admin');   -- a carrier it lacks
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('at stolen', 'at_user2', ARRAY['at_leads.read']);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- even with manage_tokens (given by a superuser), not for t2's principals
SELECT crmperm.assign_permission_set('at_admin1', 'At token admin');
SET ROLE at_admin1;
SELECT crmperm.create_token('at stolen', 'at_user2', ARRAY['at_leads.read']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('at stolen', 'at_stray', ARRAY['at_leads.read']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('at stolen', 'at_gadmin', ARRAY['at_leads.read']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.revoke_token('at t2 token');
\echo :LAST_ERROR_SQLSTATE
-- the tokens view shows it no t2 token
SELECT name, principal FROM crmperm.tokens WHERE name LIKE 'at %' ORDER BY name;

-- ---------------------------------------------------------------------------
-- Every admin function, as at_admin1, against t2's objects.
-- ---------------------------------------------------------------------------
-- permission sets of t2
SELECT crmperm.drop_permission_set('At T2 sales');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.grant('At T2 sales', 'at_leads', ARRAY['delete']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.revoke('At T2 sales', 'at_leads', ARRAY['read']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.grant_field('At T2 sales', 'at_leads', 'note', ARRAY['read', 'update']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.revoke_field('At T2 sales', 'at_leads', 'note');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.grant_system('At T2 sales', 'manage_permissions');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.revoke_system('At T2 sales', 'manage_permissions');
\echo :LAST_ERROR_SQLSTATE
-- roles of t2
SELECT crmperm.create_role('At T1 under T2', parent => 'At T2 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.drop_role('At T2 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.add_to_role('At T2 reps', 'At T1 admins');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.remove_from_role('At T2 reps', 'At T2 sales');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_role('At T1 reps');
SELECT crmperm.add_to_role('At T1 reps', 'At T2 sales');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.remove_from_role('At T1 reps', 'At T2 sales');
\echo :LAST_ERROR_SQLSTATE
-- principals of t2 (and a role with no principal row)
SELECT crmperm.assign_role('at_user2', 'At T1 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_role('at_user1', 'At T2 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.unassign_role('at_user2', 'At T2 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.unassign_role('at_user1', 'At T2 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set('at_user2', 'At T1 admins');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set('at_user1', 'At T2 sales');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.unassign_permission_set('at_user2', 'At T2 sales');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.unassign_permission_set('at_user1', 'At T2 sales');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set('at_stray', 'At global read');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal('at_user2', user_id => 'u2', tenant_id => 't1');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal('at_stray', tenant_id => 't1');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal('at_gadmin', tenant_id => 't1');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal('at_user1', user_id => 'u1', tenant_id => 't2');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal('at_user1', user_id => 'u1');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_super_admin('at_user2', true);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM crmperm.explain_access('at_user2', 'at_leads');
\echo :LAST_ERROR_SQLSTATE
-- global objects: used, never changed
SELECT crmperm.drop_permission_set('At global read');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.grant('At global read', 'at_leads', ARRAY['delete']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.grant_system('At tenant admin', 'manage_tokens');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.drop_role('At global role');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.add_to_role('At global role', 'At T1 admins');
\echo :LAST_ERROR_SQLSTATE
-- no escalation: global objects carrying a system permission it lacks
SELECT crmperm.assign_permission_set('at_user1', 'At exporter');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.add_to_role('At T1 reps', 'At exporter');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_role('At T1 exporters', parent => 'At export role');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_role('at_user1', 'At export role');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.grant_system('At T1 admins', 'export');
\echo :LAST_ERROR_SQLSTATE
-- a resource without a tenant column belongs to every tenant
SELECT crmperm.grant('At T1 admins', 'at_products', ARRAY['read']);
\echo :LAST_ERROR_SQLSTATE
-- so do application permissions, and defining actions is table-wide
SELECT crmperm.grant('At T1 admins', 'at_console', ARRAY['access']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.define_action('at_leads', 'convert');
\echo :LAST_ERROR_SQLSTATE
-- table-wide configuration: global administrators only
SELECT crmperm.manage_table('at_plain');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.unmanage_table('at_leads');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.mark_sensitive('at_leads', true);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.define_scope('at_leads', 'at_mine', 'true');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.drop_scope('at_leads', 'at_low');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.protect_field('at_leads', 'owner_id');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.unprotect_field('at_leads', 'note');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.audit_reads('at_leads', true);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM crmperm.lint();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM crmperm.verify_audit();
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.purge_audit(now());
\echo :LAST_ERROR_SQLSTATE
-- the audit trail: only the records of t1's principals; no queue counts
SELECT count(*) > 0 AS sees_some,
       bool_and(principal IN ('at_admin1', 'at_user1')) AS only_t1
  FROM crmperm.audit_log;
SELECT count(*) FROM crmperm.denials WHERE principal NOT IN ('at_admin1', 'at_user1');
RESET ROLE;
-- nothing of t2 changed
SELECT g.* FROM crmperm.object_grants g WHERE g.permission_set = 'At T2 sales' ORDER BY action;
SELECT * FROM crmperm.role_permission_sets WHERE role LIKE 'At T2%' ORDER BY 1, 2;
SELECT principal, role FROM crmperm.role_assignments WHERE principal::text LIKE 'at\_%' ORDER BY 1, 2;
SELECT principal, permission_set FROM crmperm.set_assignments
 WHERE principal::text LIKE 'at\_%' ORDER BY 1, 2;
SELECT principal, user_id, tenant_id FROM crmperm.principals
 WHERE principal::text LIKE 'at\_%' ORDER BY 1;
SELECT name, principal, revoked IS NOT NULL AS revoked FROM crmperm.tokens
 WHERE name LIKE 'at %' ORDER BY name;
-- a global administrator sees every tenant's records and tokens
SET ROLE at_gadmin;
SELECT count(*) FILTER (WHERE principal = 'at_admin2') > 0 AS sees_t2,
       count(*) FILTER (WHERE principal = 'at_admin1') > 0 AS sees_t1
  FROM crmperm.audit_log;
SELECT name, principal FROM crmperm.tokens WHERE name LIKE 'at %' ORDER BY name;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- What at_admin1 still does in t1.
-- ---------------------------------------------------------------------------
SET ROLE at_admin1;
SELECT crmperm.grant('At T1 admins', 'at_leads', ARRAY['read', 'update'], scope => 'owned');
SELECT crmperm.grant_field('At T1 admins', 'at_leads', 'note', ARRAY['read']);
SELECT crmperm.revoke_field('At T1 admins', 'at_leads', 'note');
SELECT crmperm.revoke('At T1 admins', 'at_leads', ARRAY['update']);
SELECT crmperm.grant_system('At T1 admins', 'manage_permissions');   -- it holds that
SELECT crmperm.revoke_system('At T1 admins', 'manage_permissions');
SELECT crmperm.create_permission_set('At T1 sales');
SELECT crmperm.grant('At T1 sales', 'at_leads', ARRAY['read', 'update']);
SELECT crmperm.grant_field('At T1 sales', 'at_leads', 'note', ARRAY['read']);
SELECT crmperm.create_role('At T1 managers', parent => 'At global role');   -- a global parent
SELECT crmperm.add_to_role('At T1 managers', 'At T1 sales');
SELECT crmperm.add_to_role('At T1 reps', 'At global read');                 -- a global set
SELECT crmperm.remove_from_role('At T1 reps', 'At global read');
SELECT crmperm.assign_role('at_user1', 'At T1 managers');
SELECT crmperm.assign_role('at_user1', 'At global role');
SELECT crmperm.unassign_role('at_user1', 'At global role');
SELECT crmperm.assign_permission_set('at_user1', 'At global read');
SELECT crmperm.unassign_permission_set('at_user1', 'At global read');
SELECT crmperm.set_principal('at_user1', user_id => 'u1', team_ids => ARRAY['east'], tenant_id => 't1');
SELECT action, allowed, scope, permission_sets, roles FROM crmperm.explain_access('at_user1', 'at_leads');
SELECT crmperm.create_token('at t1 token', 'at_user1', ARRAY['at_leads.read']) AS t1_token \gset
SELECT name, principal FROM crmperm.tokens WHERE name LIKE 'at %' ORDER BY name;
SELECT principal, roles, permission_sets, system_permissions FROM crmperm.whoami();
RESET ROLE;
SELECT name, tenant_id FROM crmperm.permission_sets WHERE name LIKE 'At T1%' ORDER BY name;
SELECT name, parent, tenant_id FROM crmperm.roles WHERE name LIKE 'At T1%' ORDER BY name;
-- the t1 token reads t1's rows only
SET SESSION AUTHORIZATION at_app;
BEGIN;
SELECT crmperm.authenticate(:'t1_token');
SELECT id, tenant, note FROM at_leads ORDER BY id;
ROLLBACK;
RESET SESSION AUTHORIZATION;
SET ROLE at_admin1;
SELECT crmperm.revoke_token('at t1 token');
SELECT crmperm.drop_role('At T1 managers');
SELECT crmperm.drop_permission_set('At T1 sales');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Whoever administers: a tenant's sets and roles stay with that tenant.
-- ---------------------------------------------------------------------------
SELECT crmperm.assign_permission_set('at_user2', 'At T1 admins');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_role('at_stray', 'At T1 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.add_to_role('At global role', 'At T1 admins');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.add_to_role('At T1 reps', 'At T2 sales');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_role('At global child', parent => 'At T1 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_role('at_user1', 'At T1 reps');
SELECT crmperm.set_principal('at_user1', user_id => 'u1', tenant_id => 't2');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal('at_user1', user_id => 'u1');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.unassign_role('at_user1', 'At T1 reps');
-- a global administrator (not a superuser) is bound by the same
SET ROLE at_gadmin;
SELECT crmperm.assign_permission_set('at_user2', 'At T1 admins');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Bad input gets the implementation's error, for both kinds of administrator.
-- ---------------------------------------------------------------------------
SELECT crmperm.create_role(NULL, parent => 'At T1 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set(NULL, 'At T1 admins');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal(NULL, tenant_id => 't2');
\echo :LAST_ERROR_SQLSTATE
SET ROLE at_admin1;
SELECT crmperm.create_role(NULL, parent => 'At T1 reps');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal(NULL, tenant_id => 't2');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_role('at_user1', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.add_to_role('At T1 reps', 'At no such set');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.grant(NULL, 'at_leads', ARRAY['read']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.grant('At T1 admins', 'at_nothing', ARRAY['read']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.create_token('at null', NULL, ARRAY['at_leads.read']);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.revoke_token('at no such token');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set('999999'::regrole, 'At T1 admins');  -- no such role
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Fail closed: what the catalog holds across tenants anyway (written
-- directly, or reached through a PostgreSQL membership) does not count.
-- ---------------------------------------------------------------------------
SELECT crmperm.grant('At T1 admins', 'at_leads', ARRAY['read', 'delete']);
INSERT INTO crmperm.set_assignments VALUES ('at_user2', 'At T1 admins');
INSERT INTO crmperm.role_permission_sets VALUES ('At global role', 'At T1 admins');
SELECT crmperm.assign_permission_set('at_user1', 'At T1 admins');
GRANT at_user1 TO at_user2;                          -- at_user2 has at_user1's privileges
SET ROLE at_user2;
SELECT principal, roles, permission_sets FROM crmperm.whoami();
SELECT id, tenant FROM at_leads ORDER BY id;
DELETE FROM at_leads WHERE id = 3;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- lint() names each
SELECT severity, finding, object, detail, fix FROM crmperm.lint()
 WHERE finding IN ('tenant_object_across_tenants', 'principal_can_set_role_across_tenants')
 ORDER BY finding, object;
REVOKE at_user1 FROM at_user2;
SELECT crmperm.unassign_permission_set('at_user2', 'At T1 admins');
SELECT crmperm.remove_from_role('At global role', 'At T1 admins');
SELECT count(*) FROM crmperm.lint()
 WHERE finding IN ('tenant_object_across_tenants', 'principal_can_set_role_across_tenants');

-- cleanup
DELETE FROM crmperm.api_tokens WHERE name LIKE 'at %';
SELECT crmperm.unmanage_table('at_leads');
SELECT crmperm.unmanage_table('at_products');
SELECT crmperm.drop_permission('at_console.access');
SELECT crmperm.drop_role(n) FROM unnest(ARRAY['At T2 reps', 'At T1 reps', 'At global role', 'At export role']) n;
SELECT crmperm.drop_permission_set(n)
  FROM unnest(ARRAY['At tenant admin', 'At token admin', 'At global read', 'At exporter',
                    'At T2 sales', 'At T1 admins']) n;
DELETE FROM crmperm.principals WHERE principal::text LIKE 'at\_%';
DROP TABLE at_leads, at_products, at_plain;
DROP ROLE at_admin1, at_admin2, at_gadmin, at_user1, at_user2, at_stray, at_app, at_principals;

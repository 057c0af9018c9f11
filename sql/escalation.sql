-- Paths around the row model found in review, each closed: a managed table
-- read through a parent, a manage_permissions holder managing tables it does
-- not own, un-marking sensitive tables, moving itself to another tenant, and
-- custom scopes calling functions whose search_path a session controls.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE es_owner LOGIN;
CREATE ROLE es_admin LOGIN;         -- holds manage_permissions, owns nothing
GRANT CREATE ON SCHEMA public TO es_owner;
SELECT crmperm.create_permission_set('Es admins');
SELECT crmperm.grant_system('Es admins', 'manage_permissions');
SELECT crmperm.assign_permission_set('es_admin', 'Es admins');

SET ROLE es_owner;
CREATE TABLE es_base (id int, tenant text);
CREATE TABLE es_child () INHERITS (es_base);
CREATE TABLE es_tickets (id int, tenant text);
CREATE TABLE es_other (id int, tenant text);
CREATE TABLE es_all (id int, tenant text) PARTITION BY LIST (tenant);
GRANT SELECT ON es_base, es_child, es_tickets, es_other, es_all TO es_admin;
RESET ROLE;

-- An inheritance child cannot be managed on its own: its parent would read
-- its rows without its scopes.
SELECT crmperm.manage_table('es_child');
-- Nor can a managed table go below another table later.
SELECT crmperm.manage_table('es_tickets', tenant_column => 'tenant');
SET ROLE es_owner;
ALTER TABLE es_all ATTACH PARTITION es_tickets DEFAULT;
ALTER TABLE es_tickets INHERIT es_base;
RESET ROLE;
ALTER TABLE es_all ATTACH PARTITION es_tickets DEFAULT;      -- superusers too
SELECT count(*) FROM pg_inherits WHERE inhrelid = 'es_tickets'::regclass;
-- Nothing inherits from two managed tables.
SELECT crmperm.manage_table('es_other');
CREATE TABLE es_both () INHERITS (es_tickets, es_other);
-- A table that joins a managed table through INHERIT is secured.
CREATE TABLE es_late (id int, tenant text);
ALTER TABLE es_late INHERIT es_other;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'es_late'::regclass;
DROP TABLE es_late;

-- Only a table's owner (or a superuser) manages or unmanages it.
SET ROLE es_admin;
SELECT crmperm.manage_table('es_base');
SELECT crmperm.unmanage_table('es_tickets');
SELECT crmperm.manage_table('pg_class');
RESET ROLE;
SELECT tbl FROM crmperm.resources WHERE tbl::text LIKE 'es_%' ORDER BY 1;

-- Only a superuser makes a table not sensitive.
SELECT crmperm.mark_sensitive('es_tickets', true);
SET ROLE es_admin;
SELECT crmperm.mark_sensitive('es_tickets', false);
SELECT crmperm.mark_sensitive('es_tickets', true);           -- marking is fine
RESET ROLE;
SELECT crmperm.mark_sensitive('es_tickets', false);

-- Nobody moves itself (or a role it belongs to) to another tenant.
CREATE ROLE es_alias NOLOGIN;
GRANT es_alias TO es_admin;
SET ROLE es_admin;
SELECT crmperm.set_principal('es_admin', tenant_id => 'globex');
SELECT crmperm.set_principal('es_alias', tenant_id => 'globex');
SELECT crmperm.set_principal('es_owner', tenant_id => 'acme');   -- someone else: fine
RESET ROLE;
SELECT principal, tenant_id FROM crmperm.principals WHERE principal::text LIKE 'es_%' ORDER BY 1::text;

-- A custom scope may call only functions that pin their search_path (an SQL
-- function is inlined with the session's search path, pg_temp first).
CREATE FUNCTION public.es_tenants() RETURNS text[] LANGUAGE sql STABLE
    AS $$SELECT ARRAY['acme']$$;
SELECT crmperm.define_scope('es_tickets', 'mine', $$tenant = ANY (public.es_tenants())$$);
ALTER FUNCTION public.es_tenants() SET search_path = pg_catalog;
SELECT crmperm.define_scope('es_tickets', 'mine', $$tenant = ANY (public.es_tenants())$$);
SELECT crmperm.define_scope('es_tickets', 'upper', $$upper(tenant) = 'ACME'$$);  -- pg_catalog: fine

-- cleanup
SELECT crmperm.unmanage_table('es_tickets');
SELECT crmperm.unmanage_table('es_other');
DROP TABLE es_base, es_child, es_tickets, es_other, es_all;
DROP FUNCTION public.es_tenants();
SELECT crmperm.drop_permission_set('Es admins');
DELETE FROM crmperm.principals;
REVOKE CREATE ON SCHEMA public FROM es_owner;
DROP ROLE es_owner, es_admin, es_alias;

-- Escalation (PostgreSQL 16 and later): a membership in a table owner's role
-- with INHERIT FALSE and SET FALSE (what a CREATEROLE user holds in every
-- role it creates) gives none of the owner's privileges and no SET ROLE to
-- it, so it does not let its holder manage or unmanage the owner's table,
-- even with manage_permissions.  A membership that can act as the owner
-- (INHERIT or SET) can, as the owner itself could.  (Found by the outside
-- attack on 17 and 18; on 15 every member can SET ROLE to the owner.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE em_owner NOLOGIN;
CREATE ROLE em_admin LOGIN;
CREATE ROLE em_setter LOGIN;
CREATE TABLE em_vault (id int PRIMARY KEY, owner_id text, secret text);
INSERT INTO em_vault VALUES (1, 'u1', 'TOP SECRET');
ALTER TABLE em_vault OWNER TO em_owner;
GRANT em_owner TO em_admin WITH INHERIT FALSE, SET FALSE;
GRANT em_owner TO em_setter WITH INHERIT FALSE, SET TRUE;
SELECT crmperm.create_permission_set('EM admins');
SELECT crmperm.grant_system('EM admins', 'manage_permissions');
SELECT crmperm.assign_permission_set('em_admin', 'EM admins');
SELECT crmperm.assign_permission_set('em_setter', 'EM admins');
SELECT crmperm.assign_permission_set('em_owner', 'EM admins');
SET ROLE em_owner;
SELECT crmperm.manage_table('em_vault', owner_column => 'owner_id');
SELECT crmperm.protect_field('em_vault', 'secret', 'redact');
RESET ROLE;

-- a member that can neither use the owner's privileges nor become it
SET ROLE em_admin;
SELECT crmperm.unmanage_table('em_vault');
SELECT crmperm.manage_table('em_vault');
RESET ROLE;
SELECT resource FROM crmperm.resources WHERE resource = 'em_vault';
SELECT crmperm.explain_access('em_admin', 'em_vault') IS NOT NULL AS still_governed;
-- a member that can SET ROLE to the owner: it could do this as the owner
SET ROLE em_setter;
SELECT crmperm.unmanage_table('em_vault');
RESET ROLE;
SELECT count(*) AS managed FROM crmperm.resources WHERE resource = 'em_vault';

-- Sensitive tables: create, update and delete for super admins only --
-- refused when granting and again when executing, whatever the catalog says,
-- table owners included.  Read follows the normal grants.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE sn_owner LOGIN;          -- owns the table, not a superuser
CREATE ROLE sn_reader LOGIN;
CREATE ROLE sn_admin LOGIN;          -- super admin
CREATE TABLE sn_salaries (id int PRIMARY KEY, owner_id text, amount int);
ALTER TABLE sn_salaries OWNER TO sn_owner;
INSERT INTO sn_salaries VALUES (1, 'u1', 100), (2, 'u2', 200);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON sn_salaries TO sn_reader, sn_admin;
SELECT crmperm.manage_table('sn_salaries', owner_column => 'owner_id', sensitive => true);
SELECT crmperm.set_super_admin('sn_admin', true);

-- Granting: read is fine, writes are refused, the whole call changes nothing.
SELECT crmperm.create_permission_set('Payroll');
SELECT crmperm.grant('Payroll', 'sn_salaries', ARRAY['read']);
SELECT crmperm.grant('Payroll', 'sn_salaries', ARRAY['read', 'update'], 'owned');
SELECT crmperm.grant('Payroll', 'sn_salaries', ARRAY['delete']);
SELECT resource, action, scope FROM crmperm.object_grants WHERE permission_set = 'Payroll';
SELECT crmperm.assign_permission_set('sn_reader', 'Payroll');

-- Executing: even a write grant written straight into the catalog does not
-- open the table.
INSERT INTO crmperm.object_grants VALUES ('Payroll', 'sn_salaries', 'update', 'all');
SET ROLE sn_reader;
SELECT id, amount FROM sn_salaries ORDER BY id;
UPDATE sn_salaries SET amount = 0;
INSERT INTO sn_salaries VALUES (3, 'u3', 300);
DELETE FROM sn_salaries;
SELECT crmperm.check('sn_salaries.read'), crmperm.check('sn_salaries.update');
-- the table owner reads, but does not write
SET ROLE sn_owner;
SELECT id, amount FROM sn_salaries ORDER BY id;
UPDATE sn_salaries SET amount = 0 WHERE id = 1;
DELETE FROM sn_salaries WHERE id = 1;
INSERT INTO sn_salaries VALUES (3, 'u3', 300);
TRUNCATE sn_salaries;
-- a super admin writes
SET ROLE sn_admin;
UPDATE sn_salaries SET amount = amount + 1 WHERE id = 1 RETURNING id, amount;
INSERT INTO sn_salaries VALUES (3, 'u3', 300) RETURNING id;
DELETE FROM sn_salaries WHERE id = 3 RETURNING id;
RESET ROLE;
SELECT action, allowed, reason FROM crmperm.explain_access('sn_reader', 'sn_salaries');
SELECT action, allowed, reason FROM crmperm.explain_access('sn_owner', 'sn_salaries');
SELECT action, allowed, reason FROM crmperm.explain_access('sn_admin', 'sn_salaries');

-- Marking a table sensitive is refused while write grants exist; once they
-- are revoked it applies at once, to cached plans too.
DELETE FROM crmperm.object_grants WHERE permission_set = 'Payroll' AND action = 'update';
SELECT crmperm.mark_sensitive('sn_salaries', false);
SELECT crmperm.grant('Payroll', 'sn_salaries', ARRAY['update']);
SET ROLE sn_reader;
PREPARE sn_raise AS UPDATE sn_salaries SET amount = amount + 1 WHERE id = 2;
EXECUTE sn_raise;
RESET ROLE;
SELECT crmperm.mark_sensitive('sn_salaries', true);
SELECT crmperm.revoke('Payroll', 'sn_salaries', ARRAY['update']);
SELECT crmperm.mark_sensitive('sn_salaries', true);
SELECT crmperm.mark_sensitive('sn_salaries', NULL);
SELECT crmperm.mark_sensitive('nosuch', true);
SET ROLE sn_reader;
EXECUTE sn_raise;
RESET ROLE;
DEALLOCATE sn_raise;
SELECT id, amount FROM sn_salaries ORDER BY id;

-- cleanup
SELECT crmperm.unmanage_table('sn_salaries');
DROP TABLE sn_salaries;
SELECT crmperm.drop_permission_set('Payroll');
DELETE FROM crmperm.set_assignments;
DELETE FROM crmperm.principals;
DROP ROLE sn_owner, sn_reader, sn_admin;

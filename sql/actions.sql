-- Actions beyond CRUD: custom actions of a table, per-resource export,
-- application permissions, what a resource has, check() and require().
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE orders (id int PRIMARY KEY, customer text, status text, owner_id text);
CREATE TABLE contacts (id int PRIMARY KEY, name text);
INSERT INTO orders VALUES (1, 'Acme', 'paid', 'ann'), (2, 'Globex', 'paid', 'bob');
INSERT INTO contacts VALUES (1, 'Ann');
CREATE ROLE act_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON orders, contacts TO act_users;
CREATE ROLE act_support LOGIN IN ROLE act_users;
CREATE ROLE act_manager LOGIN IN ROLE act_users;
CREATE ROLE act_guest LOGIN IN ROLE act_users;
SELECT crmperm.manage_table('orders', owner_column => 'owner_id');
SELECT crmperm.manage_table('contacts');
SELECT crmperm.set_principal('act_support', user_id => 'ann');

-- A managed table has read, create, update, delete and export.
SELECT crmperm.define_action('orders', 'refund', 'Give money back');
SELECT crmperm.define_action('orders', 'cancel');
SELECT resource, action, description FROM crmperm.actions ORDER BY 1, 2;

-- Names follow the resource rules; a custom action never shadows a built-in.
SELECT crmperm.define_action('orders', 'Refund');
SELECT crmperm.define_action('orders', 'read');
SELECT crmperm.define_action('orders', 'refund');
SELECT crmperm.define_action('nowhere', 'refund');
SELECT crmperm.define_action('orders', NULL);

-- Application permissions: no table.
SELECT crmperm.define_permission('console.access');
SELECT crmperm.define_permission('reports.run', 'Run reports');
SELECT crmperm.define_permission('orders.archive');       -- orders is a table
SELECT crmperm.define_permission('console');
SELECT crmperm.define_permission('Console.access');
SELECT crmperm.define_action('console', 'other');          -- not a table

-- A resource declares its actions: contacts is read only.
SELECT crmperm.drop_action('contacts', 'create');
SELECT crmperm.drop_action('contacts', 'update');
SELECT crmperm.drop_action('contacts', 'delete');
SELECT crmperm.drop_action('contacts', 'export');
SELECT crmperm.drop_action('contacts', 'import');
SELECT crmperm.drop_action('contacts', 'read');           -- the last one
SELECT crmperm.drop_action('contacts', 'nothing');
SELECT crmperm.drop_action('console', 'access');           -- an application permission

-- Granting: scoped, stacked, like CRUD; nothing a resource does not have.
SELECT crmperm.create_permission_set('Support');
SELECT crmperm.grant('Support', 'orders', ARRAY['read', 'refund'], 'owned');
SELECT crmperm.grant('Support', 'console', ARRAY['access']);
SELECT crmperm.grant('Support', 'contacts', ARRAY['read']);
SELECT crmperm.grant('Support', 'contacts', ARRAY['update']);
SELECT crmperm.grant('Support', 'orders', ARRAY['refnd']);
SELECT crmperm.grant('Support', 'console', ARRAY['access'], 'owned');
SELECT crmperm.grant('Support', 'orders', ARRAY['export'], 'owned');
SELECT crmperm.grant('Support', 'nowhere', ARRAY['read']);
SELECT crmperm.create_permission_set('Managers');
SELECT crmperm.grant('Managers', 'orders', ARRAY['read', 'update', 'refund', 'cancel', 'export']);
SELECT crmperm.grant('Managers', 'reports', ARRAY['run']);
SELECT crmperm.create_role('Support User');
SELECT crmperm.add_to_role('Support User', 'Support');
SELECT crmperm.assign_role('act_support', 'Support User');
SELECT crmperm.assign_permission_set('act_manager', 'Managers');
SELECT permission_set, resource, action, scope FROM crmperm.action_grants ORDER BY 1, 2, 3;

-- A granted action cannot be dropped.
SELECT crmperm.drop_action('orders', 'refund');
SELECT crmperm.drop_permission('console.access');

-- check() and require() answer for the current role.
SET ROLE act_support;
SELECT crmperm.check('orders.refund') AS refund, crmperm.check('orders.cancel') AS cancel,
       crmperm.check('console.access') AS console, crmperm.check('reports.run') AS reports,
       crmperm.check('orders.export') AS export, crmperm.check('contacts.read') AS contacts;
SELECT crmperm.require('orders.refund');
SELECT crmperm.require('orders.cancel');
SELECT crmperm.require('reports.run');
SELECT crmperm.require('contacts.update');
SELECT crmperm.check('orders.refnd');
SELECT crmperm.check('nowhere.read');
SELECT crmperm.require('orders');
SELECT crmperm.require(NULL);
SELECT (crmperm.whoami()).actions;
-- contacts has no update: refused at run time whatever the catalog says
UPDATE contacts SET name = 'x';
RESET ROLE;

SET ROLE act_guest;
SELECT crmperm.check('orders.refund'), crmperm.check('console.access');
SELECT crmperm.require('console.access');
SELECT (crmperm.whoami()).actions;
RESET ROLE;

-- Row-dependent: refund with scope owned covers the rows act_support owns.
SET ROLE act_support;
SELECT crmperm.check('orders.refund', 1) AS own_row, crmperm.check('orders.refund', 2) AS other_row,
       crmperm.check('orders.refund', 99) AS no_row, crmperm.check('orders.read', 2) AS read_other;
SELECT crmperm.require('orders.refund', 1);
SELECT crmperm.require('orders.refund', 2);
SELECT crmperm.require('orders.refund', 99);
SELECT crmperm.require('orders.cancel', 1);
SELECT crmperm.require('console.access', 1);
SELECT crmperm.require('orders.refund', NULL::int);
SELECT crmperm.require('orders.refund', 'x'::text);
SELECT crmperm.check('contacts.read', 1);
RESET ROLE;
SET ROLE act_manager;
SELECT crmperm.check('orders.refund', 2) AS all_rows, crmperm.check('orders.refund', 99) AS no_row;
RESET ROLE;

-- A creator without read gets back the rows it inserted, protected fields
-- masked.
CREATE TABLE act_leads (id serial PRIMARY KEY, name text, secret text DEFAULT 'hidden');
GRANT SELECT, INSERT ON act_leads TO act_users;
GRANT USAGE ON SEQUENCE act_leads_id_seq TO act_users;
SELECT crmperm.manage_table('act_leads');
SELECT crmperm.protect_field('act_leads', 'secret');
SELECT crmperm.create_permission_set('Capture');
SELECT crmperm.grant('Capture', 'act_leads', ARRAY['create']);
SELECT crmperm.grant_field('Capture', 'act_leads', 'secret', ARRAY['read', 'create']);
SELECT crmperm.revoke_field('Capture', 'act_leads', 'secret');
SELECT crmperm.assign_permission_set('act_guest', 'Capture');
SET ROLE act_guest;
INSERT INTO act_leads (name) VALUES ('Hooli') RETURNING id, name, secret;
INSERT INTO act_leads (name) VALUES ('Acme') RETURNING act_leads;
SELECT * FROM act_leads;
RESET ROLE;
SELECT crmperm.unassign_permission_set('act_guest', 'Capture');
SELECT crmperm.drop_permission_set('Capture');
SELECT crmperm.unmanage_table('act_leads');
DROP TABLE act_leads;

-- explain_access lists every action of the resource.
SELECT * FROM crmperm.explain_access('act_support', 'orders');
SELECT * FROM crmperm.explain_access('act_manager', 'reports');
SELECT * FROM crmperm.explain_access('act_support', 'contacts');

-- Per-resource export: COPY ... TO needs resource.export (or the system
-- permission export, every resource).
SET ROLE act_support;
COPY orders TO STDOUT;
COPY (SELECT customer FROM orders) TO STDOUT;
RESET ROLE;
SET ROLE act_manager;
COPY orders TO STDOUT;
COPY (SELECT o.id FROM orders o JOIN contacts c ON c.id = o.id) TO STDOUT;
RESET ROLE;

-- Per-resource import: COPY ... FROM STDIN, which PostgreSQL refuses under
-- row security, for a role holding resource.import; every row is an INSERT
-- as that role (create, its scope).
SET ROLE act_support;
COPY orders FROM STDIN;
10	Initech	new	ann
\.
RESET ROLE;
SELECT crmperm.grant('Support', 'orders', ARRAY['import']);
SELECT crmperm.grant('Support', 'orders', ARRAY['import'], 'owned');
SET ROLE act_support;
COPY orders FROM STDIN;      -- import without create
10	Initech	new	ann
\.
RESET ROLE;
SELECT crmperm.grant('Support', 'orders', ARRAY['create'], 'owned');
SET ROLE act_support;
COPY orders (id, customer, owner_id) FROM STDIN (FORMAT csv, HEADER);
id,customer,owner_id
10,Initech,ann
11,"Umbrella, Ltd",ann
\.
COPY orders FROM STDIN;      -- the second row is outside create's scope: nothing is loaded
12	Hooli	new	ann
13	Wonka	new	bob
\.
COPY orders FROM STDIN;
14	Too	many	columns	here
\.
COPY orders FROM '/etc/passwd';
COPY orders FROM STDIN WHERE id > 100;
\.
-- binary rows are refused before any is read (it crashed the server before 1.6)
COPY orders FROM STDIN (FORMAT binary);
\.
RESET ROLE;
SELECT id, customer, status, owner_id FROM orders ORDER BY id;
DELETE FROM orders WHERE id >= 10;

-- Expired assignments stop counting at once.
SELECT crmperm.assign_permission_set('act_guest', 'Managers', valid_until => now() + interval '1 hour');
SET ROLE act_guest;
SELECT crmperm.check('reports.run');
RESET ROLE;
SELECT crmperm.unassign_permission_set('act_guest', 'Managers');
SELECT crmperm.assign_permission_set('act_guest', 'Managers', valid_until => clock_timestamp() + interval '50 milliseconds');
SELECT pg_sleep(0.1);
SET ROLE act_guest;
SELECT crmperm.check('reports.run');
RESET ROLE;

-- Revoking, then dropping (not while a live token names it).
SELECT crmperm.create_token('cancel token', 'act_manager', ARRAY['orders.cancel']) IS NOT NULL AS created;
SELECT crmperm.revoke('Managers', 'orders', ARRAY['cancel']);
SELECT crmperm.drop_action('orders', 'cancel');
SELECT crmperm.revoke_token('cancel token');
SELECT crmperm.drop_action('orders', 'cancel');
SELECT crmperm.revoke('Managers', 'reports', ARRAY['run']);
SELECT crmperm.drop_permission('reports.run');
SELECT crmperm.drop_permission('reports.nothing');
SELECT resource, action FROM crmperm.actions WHERE action NOT IN ('read', 'create', 'update', 'delete', 'export') ORDER BY 1, 2;

-- The system permission export counts for every resource's export.
SELECT crmperm.create_permission_set('Exporters');
SELECT crmperm.grant_system('Exporters', 'export');
SELECT crmperm.assign_permission_set('act_guest', 'Exporters');
SELECT action, allowed, scope, reason FROM crmperm.explain_access('act_guest', 'orders') WHERE action = 'export';
SELECT crmperm.drop_permission_set('Exporters');

-- Unmanaging a table takes its actions and their grants along.
SELECT crmperm.unmanage_table('contacts');
SELECT count(*) FROM crmperm.actions WHERE resource = 'contacts';

-- Only administrators define and drop.
SET ROLE act_support;
SELECT crmperm.define_action('orders', 'steal');
SELECT crmperm.define_permission('console.hack');
RESET ROLE;

DROP TABLE orders, contacts;
SELECT crmperm.unassign_role('act_support', 'Support User');
SELECT crmperm.unassign_permission_set('act_manager', 'Managers');
SELECT crmperm.unassign_permission_set('act_guest', 'Managers');
SELECT crmperm.drop_role('Support User');
SELECT crmperm.drop_permission_set('Support');
SELECT crmperm.drop_permission_set('Managers');
SELECT crmperm.drop_permission('console.access');
DELETE FROM crmperm.api_tokens WHERE name = 'cancel token';   -- names are never reused otherwise
DELETE FROM crmperm.principals WHERE principal = 'act_support'::regrole;
DROP ROLE act_support, act_manager, act_guest, act_users;
SELECT count(*) AS actions_left FROM crmperm.actions WHERE resource IN ('orders', 'contacts', 'console', 'reports', 'act_leads');

-- crmperm demo: a small CRM whose permissions are enforced by the database.
-- Run by demo/run.sh (make demo) as a superuser in a throwaway cluster.
-- Errors are expected: every "should fail" step shows crmperm's denial.

\set QUIET on
\pset footer off
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;

\echo '=================================================================='
\echo ' 1. Setup, as the DBA (a superuser)'
\echo '=================================================================='
\echo 'Six CRM tables, a group role crm_users holding the native privileges'
\echo '(crmperm only narrows native privileges), and six login roles.'

CREATE EXTENSION crmperm;

CREATE TABLE leads    (id serial PRIMARY KEY, name text NOT NULL, owner_id text, team_id text,
                       source text, score int, value numeric);
CREATE TABLE clients  (id serial PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE invoices (id serial PRIMARY KEY, client_id int REFERENCES clients, amount numeric,
                       status text);
CREATE TABLE projects (id serial PRIMARY KEY, client_id int REFERENCES clients, name text,
                       status text);
CREATE TABLE payments (id serial PRIMARY KEY, invoice_id int REFERENCES invoices, amount numeric,
                       paid_on date);
CREATE TABLE expenses (id serial PRIMARY KEY, description text, amount numeric, spent_on date);

INSERT INTO leads (name, owner_id, team_id, source, score, value) VALUES
    ('Acme Corp',      'alice', 'east', 'web',      70, 12000),
    ('Globex',         'alice', 'east', 'referral', 55,  8000),
    ('Initech',        'bob',   'east', 'event',    80, 25000),
    ('Umbrella Ltd',   'dave',  'west', 'web',      30,  3000);
INSERT INTO clients (name, email) VALUES
    ('Stark Industries', 'ap@stark.example'), ('Wayne Enterprises', 'billing@wayne.example');
INSERT INTO invoices (client_id, amount, status) VALUES (1, 4200, 'paid'), (2, 990, 'open');
INSERT INTO projects (client_id, name, status) VALUES (1, 'Website relaunch', 'active'),
                                                      (2, 'CRM migration', 'planned');
INSERT INTO payments (invoice_id, amount, paid_on) VALUES (1, 4200, '2024-05-02');
INSERT INTO expenses (description, amount, spent_on) VALUES ('Conference booth', 1500, '2024-04-10');

CREATE ROLE crm_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON leads, clients, invoices, projects, payments, expenses TO crm_users;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO crm_users;
CREATE ROLE webhook    LOGIN IN ROLE crm_users;   -- lead capture form
CREATE ROLE portal     LOGIN IN ROLE crm_users;   -- customer portal backend
CREATE ROLE accounting LOGIN IN ROLE crm_users;   -- bookkeeping integration
CREATE ROLE alice      LOGIN IN ROLE crm_users;   -- Sales Rep
CREATE ROLE bob        LOGIN IN ROLE crm_users;   -- Sales Manager
CREATE ROLE carol      LOGIN IN ROLE crm_users;   -- Support Agent

\echo ''
\echo 'Manage the tables: row security is switched on and forced.'
\o /dev/null
SELECT crmperm.manage_table('leads', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.manage_table(t) FROM unnest('{clients,invoices,projects,payments,expenses}'::regclass[]) t;

\echo 'Permission sets, CRM roles (Sales Manager inherits Sales Rep) and assignments.'
SELECT crmperm.create_permission_set('Lead capture',  'Web forms create leads');
SELECT crmperm.grant('Lead capture', 'leads', '{create}');

SELECT crmperm.create_permission_set('Client portal', 'What customers see');
SELECT crmperm.grant('Client portal', 'clients',  '{read,update}');
SELECT crmperm.grant('Client portal', 'invoices', '{read}');
SELECT crmperm.grant('Client portal', 'projects', '{read}');

SELECT crmperm.create_permission_set('Accounting');
SELECT crmperm.grant('Accounting', 'invoices', '{read}');
SELECT crmperm.grant('Accounting', 'payments', '{read}');
SELECT crmperm.grant('Accounting', 'expenses', '{create}');

SELECT crmperm.create_permission_set('Own leads');
SELECT crmperm.grant('Own leads', 'leads', '{read,create,update}', scope => 'owned');
SELECT crmperm.grant('Own leads', 'clients', '{read}');

SELECT crmperm.create_permission_set('All leads');
SELECT crmperm.grant('All leads', 'leads', '{read,update,delete}', scope => 'all');

SELECT crmperm.create_permission_set('Support read');
SELECT crmperm.grant('Support read', 'leads',    '{read}');
SELECT crmperm.grant('Support read', 'clients',  '{read}');
SELECT crmperm.grant('Support read', 'projects', '{read}');

SELECT crmperm.create_role('Sales Rep');
SELECT crmperm.add_to_role('Sales Rep', 'Own leads');
SELECT crmperm.create_role('Sales Manager', 'Sales Rep');
SELECT crmperm.add_to_role('Sales Manager', 'All leads');
SELECT crmperm.create_role('Support Agent');
SELECT crmperm.add_to_role('Support Agent', 'Support read');

SELECT crmperm.assign_permission_set('webhook',    'Lead capture');
SELECT crmperm.assign_permission_set('portal',     'Client portal');
SELECT crmperm.assign_permission_set('accounting', 'Accounting');
SELECT crmperm.assign_role('alice', 'Sales Rep');
SELECT crmperm.assign_role('bob',   'Sales Manager');
SELECT crmperm.assign_role('carol', 'Support Agent');
SELECT crmperm.set_principal('alice', user_id => 'alice', team_ids => '{east}');
SELECT crmperm.set_principal('bob',   user_id => 'bob',   team_ids => '{east}');
\o

\echo ''
\echo 'Why may alice do what she may on leads?'
SELECT * FROM crmperm.explain_access('alice', 'leads');

-- In the role sections below, each statement is echoed before its result and
-- command tags (INSERT 0 1, UPDATE 1, ...) are shown; SET ROLE / RESET ROLE
-- themselves stay quiet.

\echo '=================================================================='
\echo ' 2. webhook (lead capture): may only create leads'
\echo '=================================================================='
SET ROLE webhook;
\set QUIET off
\set ECHO queries
\echo '-- allowed: create a lead'
INSERT INTO leads (name, owner_id, team_id, source) VALUES ('Hooli', 'alice', 'east', 'web');
\echo '-- denied: read leads'
SELECT * FROM leads;
\echo '-- denied: update a lead'
UPDATE leads SET score = 99 WHERE name = 'Hooli';
\echo '-- denied: read clients (nothing granted there)'
SELECT * FROM clients;
\set ECHO none
\set QUIET on
RESET ROLE;

\echo '=================================================================='
\echo ' 3. portal: reads clients, invoices, projects; updates clients'
\echo '=================================================================='
SET ROLE portal;
\set QUIET off
\set ECHO queries
\echo '-- allowed: read clients with their invoices'
SELECT c.name, i.amount, i.status FROM clients c JOIN invoices i ON i.client_id = c.id ORDER BY c.id;
\echo '-- allowed: update a client'
UPDATE clients SET email = 'finance@stark.example' WHERE id = 1;
\echo '-- denied: delete a client'
DELETE FROM clients WHERE id = 2;
\echo '-- denied: mark an invoice paid'
UPDATE invoices SET status = 'paid' WHERE id = 2;
\echo '-- denied: read payments'
SELECT * FROM payments;
\set ECHO none
\set QUIET on
RESET ROLE;

\echo '=================================================================='
\echo ' 4. accounting: reads invoices, payments; creates expenses'
\echo '=================================================================='
SET ROLE accounting;
\set QUIET off
\set ECHO queries
\echo '-- allowed: read invoices and payments'
SELECT i.id, i.amount, p.amount AS paid, p.paid_on
  FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.id ORDER BY i.id;
\echo '-- allowed: book an expense'
INSERT INTO expenses (description, amount, spent_on) VALUES ('Team lunch', 240, '2024-05-03');
\echo '-- denied: read expenses back'
SELECT * FROM expenses;
\set ECHO none
\set QUIET on
RESET ROLE;

\echo '=================================================================='
\echo ' 5. alice (Sales Rep): read/create/update her OWN leads, read clients'
\echo '=================================================================='
SET ROLE alice;
\set QUIET off
\set ECHO queries
\echo '-- whoami: roles and permission sets come from the catalog'
SELECT principal, roles, permission_sets, super_admin FROM crmperm.whoami();
\echo '-- allowed: read leads -- row security shows only owner_id = alice'
SELECT id, name, owner_id, score FROM leads ORDER BY id;
\echo '-- allowed: create a lead she owns'
INSERT INTO leads (name, owner_id, team_id, source, score) VALUES ('Pied Piper', 'alice', 'east', 'event', 60);
\echo '-- denied: a lead owned by bob is outside her scope (owned); the error names it'
INSERT INTO leads (name, owner_id, team_id, source) VALUES ('Vandelay', 'bob', 'east', 'web');
\echo '-- allowed: update her own lead'
UPDATE leads SET score = 75 WHERE name = 'Acme Corp';
\echo '-- no effect: bob''s lead is invisible to her (UPDATE 0)'
UPDATE leads SET score = 1 WHERE name = 'Initech';
\echo '-- denied: delete a lead'
DELETE FROM leads WHERE name = 'Globex';
\echo '-- what can the UI offer her?'
SELECT crmperm.check('leads.read') AS "leads.read", crmperm.check('leads.update') AS "leads.update",
       crmperm.check('leads.delete') AS "leads.delete";
\echo '-- allowed: her own explain_access (about anyone else needs manage_permissions)'
SELECT action, allowed, scope, roles FROM crmperm.explain_access('alice', 'leads');
\echo '-- denied: explain_access about bob'
SELECT * FROM crmperm.explain_access('bob', 'leads');
\echo '-- denied: change permissions herself'
SELECT crmperm.grant('Own leads', 'leads', '{delete}');
\set ECHO none
\set QUIET on
RESET ROLE;

\echo '=================================================================='
\echo ' 6. bob (Sales Manager, parent role Sales Rep): all leads, may delete'
\echo '=================================================================='
SET ROLE bob;
\set QUIET off
\set ECHO queries
\echo '-- whoami: the Sales Manager role brings the sets of its parent Sales Rep too'
SELECT principal, roles, permission_sets FROM crmperm.whoami();
\echo '-- allowed: read every lead'
SELECT id, name, owner_id, score FROM leads ORDER BY id;
\echo '-- allowed: reassign a lead (update, scope all)'
UPDATE leads SET owner_id = 'bob' WHERE name = 'Umbrella Ltd';
\echo '-- allowed: delete a lead'
DELETE FROM leads WHERE name = 'Globex';
\echo '-- allowed: create a lead he owns (inherited from Sales Rep)'
INSERT INTO leads (name, owner_id, team_id, source) VALUES ('Soylent', 'bob', 'east', 'referral');
\echo '-- denied: delete a client'
DELETE FROM clients WHERE id = 2;
\echo '-- what can the UI offer him?'
SELECT crmperm.check('leads.update') AS "leads.update", crmperm.check('leads.delete') AS "leads.delete";
\set ECHO none
\set QUIET on
RESET ROLE;

\echo '=================================================================='
\echo ' 7. carol (Support Agent): reads leads, clients, projects'
\echo '=================================================================='
SET ROLE carol;
\set QUIET off
\set ECHO queries
\echo '-- allowed: read projects with their clients'
SELECT p.name AS project, c.name AS client, p.status
  FROM projects p JOIN clients c ON c.id = p.client_id ORDER BY p.id;
\echo '-- allowed: count leads (scope all)'
SELECT count(*) AS leads FROM leads;
\echo '-- denied: update a client''s email (a prepared statement, kept for later)'
PREPARE fix_email AS UPDATE clients SET email = $1 WHERE id = 2;
EXECUTE fix_email('it@wayne.example');
\set ECHO none
\set QUIET on
RESET ROLE;

\echo ''
\echo '-- The DBA grants clients.update to the Support read permission set:'
\echo 'SELECT crmperm.grant(''Support read'', ''clients'', ''{update}'');'
\o /dev/null
SELECT crmperm.grant('Support read', 'clients', '{update}');
\o
\echo '-- ... and it takes effect at once: carol retries the same prepared statement'
SET ROLE carol;
\set QUIET off
\set ECHO queries
EXECUTE fix_email('it@wayne.example');
SELECT crmperm.check('clients.update') AS "clients.update";
\set ECHO none
\set QUIET on
RESET ROLE;

\echo '-- Revoking works the same way:'
\echo 'SELECT crmperm.revoke(''Support read'', ''clients'', ''{update}'');'
\o /dev/null
SELECT crmperm.revoke('Support read', 'clients', '{update}');
\o
SET ROLE carol;
\set QUIET off
\set ECHO queries
EXECUTE fix_email('helpdesk@wayne.example');
\set ECHO none
\set QUIET on
RESET ROLE;

\echo '=================================================================='
\echo ' 8. Final state, as the DBA (table owner: sees every row)'
\echo '=================================================================='
SELECT id, name, owner_id, team_id, source, score FROM leads ORDER BY id;
SELECT id, name, email FROM clients ORDER BY id;

\echo '=================================================================='
\echo ' 9. Field security: source create-once, score read-only, value hidden'
\echo '=================================================================='
\echo 'The DBA protects three fields of leads. A protected field is default-deny:'
\echo 'without a field grant a principal reads the mask and cannot write it.'
\o /dev/null
SELECT crmperm.protect_field('leads', 'value');                      -- mask: null
SELECT crmperm.protect_field('leads', 'source', mask => 'redact');   -- mask: ****
SELECT crmperm.protect_field('leads', 'score');
SELECT crmperm.protect_field('clients', 'email', mask => 'email');   -- mask: ****@domain
SELECT crmperm.grant_field('Own leads', 'leads', 'source', '{read,create}');   -- create-once
SELECT crmperm.grant_field('Own leads', 'leads', 'score', '{read}');           -- read-only
SELECT crmperm.grant_field('All leads', 'leads', 'value', '{read,update}');
SELECT crmperm.grant_field('All leads', 'leads', 'source', '{read,create,update}');
SELECT crmperm.grant_field('All leads', 'leads', 'score', '{read,update}');
SELECT crmperm.grant_field('Support read', 'leads', 'source', '{read}');
SELECT crmperm.grant_field('Support read', 'leads', 'score', '{read}');
SELECT crmperm.grant_field('Client portal', 'clients', 'email', '{read,update}');
\o
SET ROLE alice;
\set QUIET off
\set ECHO queries
\echo '-- value is masked for the Sales Rep, in the output and in predicates alike'
SELECT id, name, source, score, value FROM leads ORDER BY id;
SELECT count(*) AS "leads worth over 10000" FROM leads WHERE value > 10000;
\echo '-- allowed: set the source when creating a lead (create-once)'
INSERT INTO leads (name, owner_id, team_id, source) VALUES ('Massive Dynamic', 'alice', 'east', 'web');
\echo '-- denied: change it afterwards'
UPDATE leads SET source = 'event' WHERE name = 'Massive Dynamic';
\echo '-- denied: the score is read-only for her'
UPDATE leads SET score = 99 WHERE name = 'Massive Dynamic';
\echo '-- denied: the value is hidden, so she cannot set it either'
UPDATE leads SET value = 1 WHERE name = 'Massive Dynamic';
\echo '-- allowed: an update that does not touch protected fields keeps their stored values'
UPDATE leads SET name = 'Acme Corporation' WHERE name = 'Acme Corp';
\echo '-- clients.email is masked for her (no field grant): the domain shows'
SELECT name, email FROM clients ORDER BY id;
\set ECHO none
\set QUIET on
RESET ROLE;
SET ROLE carol;
\set QUIET off
\set ECHO queries
\echo '-- the Support Agent reads source and score, not the value; writes nothing'
SELECT name, source, score, value FROM leads ORDER BY id;
\set ECHO none
\set QUIET on
RESET ROLE;
SET ROLE bob;
\set QUIET off
\set ECHO queries
\echo '-- the Sales Manager has full access'
SELECT name, source, score, value FROM leads ORDER BY id;
UPDATE leads SET value = 30000, score = 90 WHERE name = 'Initech';
\set ECHO none
\set QUIET on
RESET ROLE;
\echo '-- as the DBA: the stored values were never overwritten with masks'
SELECT name, source, score, value FROM leads ORDER BY id;

\echo
\echo '=============================================================================='
\echo '10. API tokens: the portal backend holds a token instead of a password'
\echo '=============================================================================='
\echo 'The token acts as the portal principal, narrowed to its scopes. The app logs'
\echo 'in as "integrations", which holds nothing and is not a member of portal.'
CREATE ROLE integrations LOGIN;
SELECT crmperm.create_token('customer portal', 'portal', '{clients.read,invoices.read}',
                            expires_at => now() + interval '90 days') AS token \gset
SELECT name, principal, scopes, expires IS NOT NULL AS expires FROM crmperm.tokens;
SET SESSION AUTHORIZATION integrations;
\set QUIET off
\set ECHO queries
\echo '-- the login role alone can do nothing'
SELECT count(*) FROM clients;
BEGIN;
\echo '-- authenticate (pass the token as a bind parameter from an app)'
SELECT crmperm.authenticate(:'token');
SELECT current_user, session_user, (SELECT token FROM crmperm.whoami());
\echo '-- allowed: clients.read is in the token scopes'
SELECT name FROM clients ORDER BY id;
\echo '-- denied: the portal principal may update clients, but the token may not'
UPDATE clients SET name = 'x' WHERE id = 1;
ROLLBACK;
\echo '-- the transaction is over: the login role is back'
SELECT current_user;
BEGIN;
SELECT crmperm.authenticate(:'token');
\echo '-- denied: SET ROLE cannot widen a token'
SET ROLE portal;
ROLLBACK;
\echo '-- denied: a wrong token; every failure gets the same answer'
SELECT crmperm.authenticate('crm_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
\set ECHO none
\set QUIET on
RESET SESSION AUTHORIZATION;

\echo
\echo '=============================================================================='
\echo '11. The audit trail: the denials above were recorded although they rolled back'
\echo '=============================================================================='
SELECT pg_sleep(1.5);
\set QUIET off
\set ECHO queries
SELECT principal, token, resource, action, command
  FROM crmperm.denials ORDER BY seq DESC LIMIT 4;
SELECT kind, principal, resource, action FROM crmperm.audit_log
 WHERE kind = 'change' ORDER BY seq DESC LIMIT 3;
SELECT ok, detail FROM crmperm.verify_audit();

\echo
\echo '=============================================================================='
\echo '12. Actions beyond CRUD: a refund through a protected routine'
\echo '=============================================================================='
\echo 'The DBA defines invoices.refund and ties the app''s refund function to it.'
\echo 'The function is SECURITY DEFINER: it updates invoices, which accounting'
\echo 'may not do directly; calling it needs invoices.refund.'
\o /dev/null
SELECT crmperm.define_action('invoices', 'refund', 'Give a customer its money back');
CREATE FUNCTION refund_invoice(invoice int) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE invoices SET status = 'refunded' WHERE id = invoice;
    RETURN format('invoice %s refunded', invoice);
END
$$;
SELECT crmperm.protect_routine('refund_invoice(int)', 'invoices.refund');
SELECT crmperm.grant('Accounting', 'invoices', '{refund}');
SELECT crmperm.define_permission('console.access', 'Sign in to the admin console');
\o
\echo '-- as accounting (SET ROLE accounting):'
SET ROLE accounting;
\set QUIET off
\set ECHO queries
\echo '-- denied: accounting may read invoices, not update them'
UPDATE invoices SET status = 'refunded' WHERE id = 1;
\echo '-- allowed: the refund, through the routine'
SELECT refund_invoice(1);
SELECT crmperm.check('invoices.refund') AS "invoices.refund",
       crmperm.check('console.access') AS "console.access";
\set ECHO none
\set QUIET on
RESET ROLE;
\echo ''
\echo '-- as carol, the support agent (SET ROLE carol):'
SET ROLE carol;
\set QUIET off
\set ECHO queries
\echo '-- denied: the support agent lacks invoices.refund, whatever the call path'
SELECT refund_invoice(2);
SELECT crmperm.require('console.access');
\set ECHO none
\set QUIET on
RESET ROLE;
\echo '-- the invoices afterwards, as the DBA:'
SELECT id, status FROM invoices ORDER BY id;

\echo
\echo '=============================================================================='
\echo '13. Records across tables: invoices follow their client; an account team;'
\echo '    an account shared for a deal'
\echo '=============================================================================='
\echo 'Invoices follow their client (scope parent, through invoices.client_id).'
\echo 'erin, an account executive, reads the clients on whose account team she is'
\echo '(scope assigned), and through them their invoices.'
\o /dev/null
CREATE ROLE erin LOGIN IN ROLE crm_users;
SELECT crmperm.set_parent('invoices', 'clients', '{client_id}');
SELECT crmperm.create_permission_set('Account executive');
SELECT crmperm.grant('Account executive', 'clients', '{read}', scope => 'assigned');
SELECT crmperm.grant('Account executive', 'invoices', '{read}', scope => 'parent');
SELECT crmperm.assign_permission_set('erin', 'Account executive');
SELECT crmperm.assign_record('clients', 1, 'erin');      -- erin is on Stark's account team
\o
\echo '-- as erin (SET ROLE erin):'
SET ROLE erin;
\set QUIET off
\set ECHO queries
\echo '-- allowed: Stark and its invoices; nothing of Wayne'
SELECT c.name, i.id AS invoice, i.amount FROM clients c JOIN invoices i ON i.client_id = c.id;
\set ECHO none
\set QUIET on
RESET ROLE;
\echo ''
\echo 'For a deal, the DBA shares Wayne with erin until the end of the year.'
\o /dev/null
SELECT crmperm.share('clients', 2, 'erin', '{read}', valid_until => date_trunc('year', now()) + interval '1 year');
\o
SET ROLE erin;
\set QUIET off
\set ECHO queries
\echo '-- allowed: now Wayne and its invoice too'
SELECT c.name, i.id AS invoice, i.amount FROM clients c JOIN invoices i ON i.client_id = c.id ORDER BY i.id;
\set ECHO none
\set QUIET on
RESET ROLE;
\echo '-- why erin reads invoice 2 (through its client), and client 2 (the share), as the DBA:'
SELECT action, allowed, via FROM crmperm.explain_access('erin', 'invoices', 2) WHERE action = 'read';
SELECT action, allowed, regexp_replace(via, 'until .*', 'until the end of the year') AS via
  FROM crmperm.explain_access('erin', 'clients', 2) WHERE action = 'read';
SELECT resource, key, principal, actions, valid_until = date_trunc('year', now()) + interval '1 year'
       AS "until the end of the year" FROM crmperm.shares;

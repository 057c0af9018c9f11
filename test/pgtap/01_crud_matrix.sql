-- 01_crud_matrix.sql: the CRUD permission matrix of the seed use cases.
--
-- Every principal x managed table x statement is one assertion: the statement
-- runs as the principal (SET LOCAL ROLE inside a subtransaction that is always
-- rolled back, so the fixture never changes) and either succeeds on exactly
-- the one fixture row, or fails with SQLSTATE 42501 and the exact denial
-- message naming the principal and the missing "resource.action".
--
-- Then: permissions through a parent CRM role, through PostgreSQL role
-- membership, and a temporary assignment that expires mid-transaction.
--
-- Run: pg_prove -h /tmp/dev -p 5499 -d <db> test/pgtap/01_crud_matrix.sql
-- (the database needs CREATE EXTENSION pgtap, crmperm; the server
-- shared_preload_libraries = crmperm).  Everything is rolled back.

BEGIN;
SELECT plan(359);

-- ---------------------------------------------------------------------------
-- Fixture: six tables, one row each, inserted as the superuser.
-- ---------------------------------------------------------------------------

CREATE TABLE tap_leads    (id serial PRIMARY KEY, owner_id text, payload text);
CREATE TABLE tap_clients  (id serial PRIMARY KEY, owner_id text, payload text);
CREATE TABLE tap_invoices (id serial PRIMARY KEY, owner_id text, payload text);
CREATE TABLE tap_projects (id serial PRIMARY KEY, owner_id text, payload text);
CREATE TABLE tap_payments (id serial PRIMARY KEY, owner_id text, payload text);
CREATE TABLE tap_expenses (id serial PRIMARY KEY, owner_id text, payload text);

INSERT INTO tap_leads    (owner_id, payload) VALUES ('u1', 'seed');
INSERT INTO tap_clients  (owner_id, payload) VALUES ('u1', 'seed');
INSERT INTO tap_invoices (owner_id, payload) VALUES ('u1', 'seed');
INSERT INTO tap_projects (owner_id, payload) VALUES ('u1', 'seed');
INSERT INTO tap_payments (owner_id, payload) VALUES ('u1', 'seed');
INSERT INTO tap_expenses (owner_id, payload) VALUES ('u1', 'seed');

-- Native privileges: everything, through one group.  crmperm only narrows.
CREATE ROLE tap_crm_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON tap_leads, tap_clients, tap_invoices, tap_projects, tap_payments, tap_expenses
   TO tap_crm_users;
GRANT USAGE
   ON SEQUENCE tap_leads_id_seq, tap_clients_id_seq, tap_invoices_id_seq,
               tap_projects_id_seq, tap_payments_id_seq, tap_expenses_id_seq
   TO tap_crm_users;

-- Principals.  tap_inherit gets Sales Rep only through the PostgreSQL role
-- tap_salesrep_group; tap_nobody has native privileges and nothing else;
-- tap_writer may update and delete leads but not read them.
CREATE ROLE tap_webhook    NOLOGIN IN ROLE tap_crm_users;
CREATE ROLE tap_portal     NOLOGIN IN ROLE tap_crm_users;
CREATE ROLE tap_accounting NOLOGIN IN ROLE tap_crm_users;
CREATE ROLE tap_rep        NOLOGIN IN ROLE tap_crm_users;
CREATE ROLE tap_manager    NOLOGIN IN ROLE tap_crm_users;
CREATE ROLE tap_support    NOLOGIN IN ROLE tap_crm_users;
CREATE ROLE tap_salesrep_group NOLOGIN;
CREATE ROLE tap_inherit    NOLOGIN IN ROLE tap_crm_users, tap_salesrep_group;
CREATE ROLE tap_nobody     NOLOGIN IN ROLE tap_crm_users;
CREATE ROLE tap_writer     NOLOGIN IN ROLE tap_crm_users;
-- Two levels of PostgreSQL membership, and a NOINHERIT member (which does
-- not have the group's privileges, so it has native grants of its own).
CREATE ROLE tap_inherit_mid NOLOGIN IN ROLE tap_salesrep_group;
CREATE ROLE tap_inherit2   NOLOGIN IN ROLE tap_crm_users, tap_inherit_mid;
CREATE ROLE tap_noinherit  NOLOGIN NOINHERIT IN ROLE tap_salesrep_group;
GRANT SELECT, INSERT, UPDATE, DELETE ON tap_leads, tap_clients TO tap_noinherit;
CREATE ROLE tap_temp       NOLOGIN IN ROLE tap_crm_users;

DO $$
BEGIN
    PERFORM crmperm.manage_table('tap_leads',    'leads');
    PERFORM crmperm.manage_table('tap_clients',  'clients');
    PERFORM crmperm.manage_table('tap_invoices', 'invoices');
    PERFORM crmperm.manage_table('tap_projects', 'projects');
    PERFORM crmperm.manage_table('tap_payments', 'payments');
    PERFORM crmperm.manage_table('tap_expenses', 'expenses');

    -- Integrations: permission sets assigned directly.
    PERFORM crmperm.create_permission_set('tap webhook', 'Lead-capture webhook');
    PERFORM crmperm.grant('tap webhook', 'leads', ARRAY['create']);
    PERFORM crmperm.assign_permission_set('tap_webhook', 'tap webhook');

    PERFORM crmperm.create_permission_set('tap portal', 'Client portal');
    PERFORM crmperm.grant('tap portal', 'clients', ARRAY['read', 'update']);
    PERFORM crmperm.grant('tap portal', 'invoices', ARRAY['read']);
    PERFORM crmperm.grant('tap portal', 'projects', ARRAY['read']);
    PERFORM crmperm.assign_permission_set('tap_portal', 'tap portal');

    PERFORM crmperm.create_permission_set('tap accounting', 'Accounting sync');
    PERFORM crmperm.grant('tap accounting', 'invoices', ARRAY['read']);
    PERFORM crmperm.grant('tap accounting', 'payments', ARRAY['read']);
    PERFORM crmperm.grant('tap accounting', 'expenses', ARRAY['create']);
    PERFORM crmperm.assign_permission_set('tap_accounting', 'tap accounting');

    PERFORM crmperm.create_permission_set('tap writer', 'Blind writer');
    PERFORM crmperm.grant('tap writer', 'leads', ARRAY['update', 'delete']);
    PERFORM crmperm.assign_permission_set('tap_writer', 'tap writer');

    -- People: CRM roles, Sales Manager inheriting Sales Rep.
    PERFORM crmperm.create_permission_set('tap sales rep');
    PERFORM crmperm.grant('tap sales rep', 'leads', ARRAY['read', 'create', 'update'], 'all');
    PERFORM crmperm.grant('tap sales rep', 'clients', ARRAY['read'], 'all');
    PERFORM crmperm.create_role('Sales Rep');
    PERFORM crmperm.add_to_role('Sales Rep', 'tap sales rep');

    PERFORM crmperm.create_permission_set('tap sales manager');
    PERFORM crmperm.grant('tap sales manager', 'leads', ARRAY['delete']);
    PERFORM crmperm.grant('tap sales manager', 'clients', ARRAY['update']);
    PERFORM crmperm.create_role('Sales Manager', 'Sales Rep');
    PERFORM crmperm.add_to_role('Sales Manager', 'tap sales manager');

    PERFORM crmperm.create_permission_set('tap support agent');
    PERFORM crmperm.grant('tap support agent', 'leads', ARRAY['read']);
    PERFORM crmperm.grant('tap support agent', 'clients', ARRAY['read']);
    PERFORM crmperm.grant('tap support agent', 'projects', ARRAY['read']);
    PERFORM crmperm.create_role('Support Agent');
    PERFORM crmperm.add_to_role('Support Agent', 'tap support agent');

    PERFORM crmperm.assign_role('tap_rep', 'Sales Rep');
    PERFORM crmperm.assign_role('tap_manager', 'Sales Manager');
    PERFORM crmperm.assign_role('tap_support', 'Support Agent');
    PERFORM crmperm.assign_role('tap_salesrep_group', 'Sales Rep');
END
$$;

-- ---------------------------------------------------------------------------
-- try_as(principal, statement [, field]): run the statement as the principal
-- in a subtransaction that is always rolled back (role and rows included).
-- Returns 'ok: N row(s)' on success, else 'SQLSTATE: message' (or the error's
-- detail / hint when field says so).
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.try_as(principal name, stmt text, field text DEFAULT 'message')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    state text;
    msg text;
    detail text;
    hint text;
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', principal);
        EXECUTE stmt;
        GET DIAGNOSTICS n = ROW_COUNT;
        -- success: undo it anyway, carrying the row count out
        RAISE EXCEPTION USING ERRCODE = 'TAPOK', MESSAGE = n::text;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    END;
    IF state = 'TAPOK' THEN
        RETURN format('ok: %s row(s)', msg);
    END IF;
    RETURN CASE field WHEN 'detail' THEN detail
                      WHEN 'hint' THEN hint
                      ELSE state || ': ' || msg END;
END
$$;

CREATE FUNCTION pg_temp.denied(principal name, permission text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('42501: permission denied: role "%s" lacks "%s"', principal, permission)
$$;

-- ---------------------------------------------------------------------------
-- Fixture sanity (2)
-- ---------------------------------------------------------------------------

SELECT is((SELECT array_agg(r.resource || '=' || r.tbl::text ORDER BY r.resource)
             FROM crmperm.resources r
            WHERE r.resource IN ('leads', 'clients', 'invoices', 'projects', 'payments', 'expenses')),
          ARRAY['clients=tap_clients', 'expenses=tap_expenses', 'invoices=tap_invoices',
                'leads=tap_leads', 'payments=tap_payments', 'projects=tap_projects'],
          'the six fixture tables are managed under their resource names');

SELECT is((SELECT count(*) FROM pg_class
            WHERE relname IN ('tap_leads', 'tap_clients', 'tap_invoices', 'tap_projects',
                              'tap_payments', 'tap_expenses')
              AND relrowsecurity AND relforcerowsecurity),
          6::bigint, 'manage_table enabled and forced row security on all six');

-- ---------------------------------------------------------------------------
-- The matrix (9 principals x 6 tables x 6 statements = 324).
--
-- Per table: which of read / create / update / delete the principal has
-- ('-' = not granted).  Statements:
--   read          SELECT * FROM t                              needs read
--   create        INSERT INTO t (owner_id, payload) VALUES ... needs create
--   update        UPDATE t SET payload = 'changed'             needs update
--   update where  UPDATE t SET payload = 'changed' WHERE id=1  needs update + read
--   delete        DELETE FROM t                                needs delete
--   delete where  DELETE FROM t WHERE id = 1                   needs delete + read
-- A write is checked before the read it implies, so a principal missing both
-- is told about the write.  Allowed statements must touch the one row.
-- ---------------------------------------------------------------------------

CREATE TEMP TABLE expectations (principal name, leads text, clients text, invoices text,
                                projects text, payments text, expenses text);
INSERT INTO expectations VALUES
--   principal          leads   clients invoices projects payments expenses
    ('tap_webhook',    '-c--', '----', '----', '----', '----', '----'),
    ('tap_portal',     '----', 'r-u-', 'r---', 'r---', '----', '----'),
    ('tap_accounting', '----', '----', 'r---', '----', 'r---', '-c--'),
    ('tap_rep',        'rcu-', 'r---', '----', '----', '----', '----'),
    ('tap_manager',    'rcud', 'r-u-', '----', '----', '----', '----'),  -- Sales Rep + own
    ('tap_support',    'r---', 'r---', '----', 'r---', '----', '----'),
    ('tap_inherit',    'rcu-', 'r---', '----', '----', '----', '----'),  -- via tap_salesrep_group
    ('tap_nobody',     '----', '----', '----', '----', '----', '----'),
    ('tap_writer',     '--ud', '----', '----', '----', '----', '----');

CREATE TEMP TABLE statements (n int, label text, needs text[], sql text);
INSERT INTO statements VALUES
    (1, 'read',         '{read}',           'SELECT * FROM tap_%s'),
    (2, 'create',       '{create}',         'INSERT INTO tap_%s (owner_id, payload) VALUES (''tap'', ''new'')'),
    (3, 'update',       '{update}',         'UPDATE tap_%s SET payload = ''changed'''),
    (4, 'update where id = 1', '{update,read}',    'UPDATE tap_%s SET payload = ''changed'' WHERE id = 1'),
    (5, 'delete',       '{delete}',         'DELETE FROM tap_%s'),
    (6, 'delete where id = 1', '{delete,read}',    'DELETE FROM tap_%s WHERE id = 1');

SELECT is(pg_temp.try_as(c.principal, c.stmt), c.expected, c.description)
  FROM (
    SELECT m.principal, format(s.sql, m.resource) AS stmt,
           coalesce((SELECT pg_temp.denied(m.principal, m.resource || '.' || need)
                       FROM unnest(s.needs) WITH ORDINALITY AS x(need, k)
                      WHERE strpos(m.granted, left(need, 1)) = 0
                      ORDER BY k LIMIT 1),
                    'ok: 1 row(s)') AS expected,
           format('%s on %s: %s -> %s', m.principal, m.resource, s.label,
                  CASE WHEN (SELECT bool_and(strpos(m.granted, left(need, 1)) > 0)
                               FROM unnest(s.needs) need)
                       THEN 'allowed' ELSE 'denied' END) AS description,
           m.ord, m.resource_n, s.n
      FROM (SELECT e.principal, t.resource, t.granted, e.ord, t.resource_n
              FROM (SELECT *, row_number() OVER () AS ord FROM expectations) e
             CROSS JOIN LATERAL (VALUES (1, 'leads', e.leads), (2, 'clients', e.clients),
                                        (3, 'invoices', e.invoices), (4, 'projects', e.projects),
                                        (5, 'payments', e.payments), (6, 'expenses', e.expenses))
                        AS t(resource_n, resource, granted)) m
     CROSS JOIN statements s
     ORDER BY m.ord, m.resource_n, s.n
  ) c;

-- The matrix itself is complete: 9 x 6 x 6 cells (1).
SELECT is((SELECT count(*) * 6 * 6 FROM expectations), 324::bigint,
          'the matrix covers 9 principals x 6 tables x 6 statements');

-- Nothing the matrix ran stuck (2).
SELECT is((SELECT string_agg(x, ',' ORDER BY x) FROM (
              SELECT 'leads:' || count(*) || ':' || string_agg(payload, '') FROM tap_leads
              UNION ALL SELECT 'clients:' || count(*) || ':' || string_agg(payload, '') FROM tap_clients
              UNION ALL SELECT 'invoices:' || count(*) || ':' || string_agg(payload, '') FROM tap_invoices
              UNION ALL SELECT 'projects:' || count(*) || ':' || string_agg(payload, '') FROM tap_projects
              UNION ALL SELECT 'payments:' || count(*) || ':' || string_agg(payload, '') FROM tap_payments
              UNION ALL SELECT 'expenses:' || count(*) || ':' || string_agg(payload, '') FROM tap_expenses) f(x)),
          'clients:1:seed,expenses:1:seed,invoices:1:seed,leads:1:seed,payments:1:seed,projects:1:seed',
          'every fixture table still holds its one untouched row');
SELECT is(current_user::text, session_user::text, 'try_as leaves the session role as it was');

-- ---------------------------------------------------------------------------
-- Details of a denial (5)
-- ---------------------------------------------------------------------------

SELECT is(pg_temp.try_as('tap_webhook',
              'INSERT INTO tap_leads (owner_id, payload) VALUES (''w'', ''x'') RETURNING (SELECT count(*) FROM tap_leads)'),
          pg_temp.denied('tap_webhook', 'leads.read'),
          'tap_webhook: INSERT ... RETURNING that reads other rows needs read, which the webhook lacks');
SELECT is(pg_temp.try_as('tap_webhook', 'UPDATE tap_leads SET payload = ''x''', 'detail'),
          'Granted on leads: create.', 'the detail lists what is granted on the resource');
SELECT is(pg_temp.try_as('tap_webhook', 'UPDATE tap_leads SET payload = ''x''', 'hint'),
          'Grant it with crmperm.grant().',
          'the hint says how to grant it (no token is active: no word of token scopes)');
SELECT is(pg_temp.try_as('tap_nobody', 'SELECT * FROM tap_leads', 'detail'),
          'Granted on leads: nothing.', 'a principal with native privileges only is granted nothing');
SELECT is(pg_temp.try_as('tap_manager', 'DELETE FROM tap_clients', 'detail'),
          'Granted on clients: read, update.',
          'the detail of a Sales Manager denial lists grants from both roles');

-- ---------------------------------------------------------------------------
-- Through a parent CRM role: Sales Manager inherits Sales Rep (9)
-- ---------------------------------------------------------------------------

SELECT is((SELECT string_agg(action || '=' || allowed, ',' ORDER BY action)
             FROM crmperm.explain_access('tap_manager', 'leads')
            WHERE action IN ('read', 'create', 'update', 'delete')),
          'create=true,delete=true,read=true,update=true',
          'explain_access: Sales Manager may do everything on leads');
SELECT is((SELECT permission_sets FROM crmperm.explain_access('tap_manager', 'leads')
            WHERE action = 'read'),
          ARRAY['tap sales rep'],
          'explain_access: Sales Manager reads leads through the Sales Rep set');
SELECT is((SELECT permission_sets FROM crmperm.explain_access('tap_manager', 'leads')
            WHERE action = 'delete'),
          ARRAY['tap sales manager'],
          'explain_access: Sales Manager deletes leads through its own set');

SET LOCAL ROLE tap_manager;
SELECT is((SELECT permission_sets FROM crmperm.whoami()),
          ARRAY['tap sales manager', 'tap sales rep'],
          'whoami as tap_manager: the sets of Sales Manager and its parent');
RESET ROLE;

-- A change to the parent reaches the child at once, and back.
DO $$ BEGIN PERFORM crmperm.revoke('tap sales rep', 'leads', ARRAY['create']); END $$;
SELECT is(pg_temp.try_as('tap_manager', 'INSERT INTO tap_leads (owner_id, payload) VALUES (''m'', ''x'')'),
          pg_temp.denied('tap_manager', 'leads.create'),
          'create revoked from Sales Rep: Sales Manager loses it too');
SELECT is(pg_temp.try_as('tap_rep', 'INSERT INTO tap_leads (owner_id, payload) VALUES (''m'', ''x'')'),
          pg_temp.denied('tap_rep', 'leads.create'),
          'create revoked from Sales Rep: Sales Rep loses it');
SELECT is(pg_temp.try_as('tap_manager', 'DELETE FROM tap_leads WHERE id = 1'),
          'ok: 1 row(s)', 'Sales Manager keeps its own delete and the inherited read');
DO $$ BEGIN PERFORM crmperm.grant('tap sales rep', 'leads', ARRAY['create']); END $$;
SELECT is(pg_temp.try_as('tap_manager', 'INSERT INTO tap_leads (owner_id, payload) VALUES (''m'', ''x'')'),
          'ok: 1 row(s)', 'create granted back to Sales Rep: Sales Manager has it again');

-- Without the parent link, Sales Manager has only its own set.
UPDATE crmperm.roles SET parent = NULL WHERE name = 'Sales Manager';
SELECT is(pg_temp.try_as('tap_manager', 'SELECT * FROM tap_leads'),
          pg_temp.denied('tap_manager', 'leads.read'),
          'Sales Manager unlinked from Sales Rep no longer reads leads');
UPDATE crmperm.roles SET parent = 'Sales Rep' WHERE name = 'Sales Manager';

-- ---------------------------------------------------------------------------
-- Through PostgreSQL role membership: the assignment is made to
-- tap_salesrep_group (6)
-- ---------------------------------------------------------------------------

SELECT is(pg_temp.try_as('tap_inherit2', 'UPDATE tap_leads SET payload = ''x'' WHERE id = 1'),
          'ok: 1 row(s)', 'two levels of membership: tap_inherit2 updates leads');
SELECT is(pg_temp.try_as('tap_inherit2', 'DELETE FROM tap_leads'),
          pg_temp.denied('tap_inherit2', 'leads.delete'),
          'two levels of membership: still only what Sales Rep has');
SELECT is(pg_temp.try_as('tap_noinherit', 'SELECT * FROM tap_leads'),
          pg_temp.denied('tap_noinherit', 'leads.read'),
          'a NOINHERIT member does not get the group''s assignments');
SELECT is(pg_temp.try_as('tap_salesrep_group', 'SELECT * FROM tap_leads'),
          '42501: permission denied for table tap_leads',
          'the group itself has no native privileges: PostgreSQL denies first');

REVOKE tap_salesrep_group FROM tap_inherit;
SELECT is(pg_temp.try_as('tap_inherit', 'SELECT * FROM tap_leads'),
          pg_temp.denied('tap_inherit', 'leads.read'),
          'membership revoked: tap_inherit loses Sales Rep at once');
GRANT tap_salesrep_group TO tap_inherit;
SELECT is(pg_temp.try_as('tap_inherit', 'SELECT * FROM tap_leads'),
          'ok: 1 row(s)', 'membership granted back: tap_inherit reads leads again');

-- ---------------------------------------------------------------------------
-- A temporary assignment: valid for 2 seconds, then gone, in a cached plan
-- too.  statement_timestamp() moves with every top-level statement (10)
-- ---------------------------------------------------------------------------

DO $$
BEGIN
    PERFORM crmperm.assign_role('tap_temp', 'Sales Rep', clock_timestamp() + interval '2 seconds');
END
$$;
SET LOCAL ROLE tap_temp;
PREPARE tap_temp_read AS SELECT * FROM tap_leads;
RESET ROLE;

SELECT is(pg_temp.try_as('tap_temp', 'SELECT * FROM tap_leads'),
          'ok: 1 row(s)', 'temporary Sales Rep: reads leads while valid');
SELECT is(pg_temp.try_as('tap_temp', 'INSERT INTO tap_leads (owner_id, payload) VALUES (''t'', ''x'')'),
          'ok: 1 row(s)', 'temporary Sales Rep: creates leads while valid');
SELECT is((SELECT array_agg(DISTINCT pg_temp.try_as('tap_temp', 'EXECUTE tap_temp_read'))
             FROM generate_series(1, 6)),
          ARRAY['ok: 1 row(s)'],
          'temporary Sales Rep: a prepared statement runs (six times: generic plan) while valid');
SELECT ok((SELECT allowed FROM crmperm.explain_access('tap_temp', 'leads') WHERE action = 'read'),
          'explain_access: temporary Sales Rep may read leads while valid');

DO $$ BEGIN PERFORM pg_sleep(2.5); END $$;

SELECT is(pg_temp.try_as('tap_temp', 'SELECT * FROM tap_leads'),
          pg_temp.denied('tap_temp', 'leads.read'),
          'temporary Sales Rep expired: reading leads is denied');
SELECT is(pg_temp.try_as('tap_temp', 'EXECUTE tap_temp_read'),
          pg_temp.denied('tap_temp', 'leads.read'),
          'temporary Sales Rep expired: the cached prepared statement is denied');
SELECT is(pg_temp.try_as('tap_temp', 'INSERT INTO tap_leads (owner_id, payload) VALUES (''t'', ''x'')'),
          pg_temp.denied('tap_temp', 'leads.create'),
          'temporary Sales Rep expired: creating leads is denied');
SELECT is((SELECT allowed FROM crmperm.explain_access('tap_temp', 'leads') WHERE action = 'read'),
          false, 'explain_access: temporary Sales Rep may no longer read leads');
SELECT is(pg_temp.try_as('tap_rep', 'SELECT * FROM tap_leads'),
          'ok: 1 row(s)', 'the permanent Sales Rep assignment is unaffected by the expiry');
SELECT throws_ok($$SELECT crmperm.assign_role('tap_temp', 'Sales Rep', statement_timestamp() - interval '1 second')$$,
                 '22023', 'valid_until must be in the future',
                 'an assignment cannot be made already expired');

DEALLOCATE tap_temp_read;

SELECT * FROM finish();
ROLLBACK;

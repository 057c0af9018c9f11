-- 04_token_matrix.sql: the API token matrix, token x resource x action.
--
-- Five managed tables (resources leads, clients, invoices, projects,
-- payments), one row each (id 1), and one table crmperm does not manage
-- (tk_notes).  Three NOLOGIN principals hold crmperm grants; four tokens act
-- as them, each narrowed to its scopes:
--
--   token                  principal      scopes
--   lead-capture-webhook   tk_webhook     leads.create
--   client-portal          tk_portal      clients.read, clients.update,
--                                         invoices.read, projects.read
--   client-portal-extra    tk_portal      clients.read, leads.create, payments.read
--                                         (two scopes its principal lacks)
--   accounting-sync        tk_accounting  clients.read, invoices.read,
--                                         invoices.update, payments.create,
--                                         payments.read
--
-- A token's rights are its principal's grants intersected with its scopes.
-- For every token x resource x action (read = SELECT, create = INSERT,
-- update = UPDATE ... WHERE id = 1, delete = DELETE ... WHERE id = 1; the
-- last two also read): lives_ok touching exactly one row, or throws_ok 42501
-- with the exact message: the token's denial when the token lacks the scope
-- (checked first), the principal's when the token has it and the principal
-- lacks the grant.  As everywhere in crmperm, a write is named before the read
-- it implies.  And crmperm.check('resource.action') under the token agrees
-- with the matrix.
--
-- Around the matrix: INSERT ... RETURNING, unmanaged tables, the identity
-- switch (current_user, whoami(), SET ROLE refused, the login role back after
-- the rollback), the details and hints of both denials, and failed
-- authentications (28000).
--
-- How a token is used here: the statement runs in a subtransaction that is
-- always rolled back; in it the session switches to the login role tk_app
-- (SET LOCAL ROLE; tk_app holds no privileges and is a member of no
-- principal), authenticates there, and runs the statement as the token's
-- principal.  The token ends with the subtransaction, so the pgTAP
-- bookkeeping stays with the superuser.  Failed authentications are
-- throttled per session user, so they are made only after SET LOCAL SESSION
-- AUTHORIZATION tk_intruder (a login role made for them), fewer than five.
--
-- Run: pg_prove -h /tmp/dev -p 5499 -d <db> test/pgtap/04_token_matrix.sql
-- (the database needs CREATE EXTENSION pgtap, crmperm; the server
-- shared_preload_libraries = crmperm).  Everything is rolled back.

BEGIN;
SELECT plan(206);

-- ---------------------------------------------------------------------------
-- Fixture
-- ---------------------------------------------------------------------------

CREATE TABLE tk_leads    (id serial PRIMARY KEY, payload text);
CREATE TABLE tk_clients  (id serial PRIMARY KEY, payload text);
CREATE TABLE tk_invoices (id serial PRIMARY KEY, payload text);
CREATE TABLE tk_projects (id serial PRIMARY KEY, payload text);
CREATE TABLE tk_payments (id serial PRIMARY KEY, payload text);
CREATE TABLE tk_notes    (id serial PRIMARY KEY, payload text);   -- not managed

INSERT INTO tk_leads    (payload) VALUES ('seed');
INSERT INTO tk_clients  (payload) VALUES ('seed');
INSERT INTO tk_invoices (payload) VALUES ('seed');
INSERT INTO tk_projects (payload) VALUES ('seed');
INSERT INTO tk_payments (payload) VALUES ('seed');
INSERT INTO tk_notes    (payload) VALUES ('seed');

-- Native privileges: everything (the unmanaged table too), through one group
-- of principals.  crmperm and the token only narrow.
CREATE ROLE tk_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON tk_leads, tk_clients, tk_invoices, tk_projects, tk_payments, tk_notes
   TO tk_users;
GRANT USAGE
   ON SEQUENCE tk_leads_id_seq, tk_clients_id_seq, tk_invoices_id_seq,
               tk_projects_id_seq, tk_payments_id_seq, tk_notes_id_seq
   TO tk_users;

-- The principals tokens act as: NOLOGIN.
CREATE ROLE tk_webhook    NOLOGIN IN ROLE tk_users;
CREATE ROLE tk_portal     NOLOGIN IN ROLE tk_users;
CREATE ROLE tk_accounting NOLOGIN IN ROLE tk_users;
-- The login role the integrations connect as: no privileges, no membership.
CREATE ROLE tk_app LOGIN;
-- A login role for failed authentications only (they are throttled per role).
CREATE ROLE tk_intruder LOGIN;

DO $$
BEGIN
    PERFORM crmperm.manage_table('tk_leads',    'leads');
    PERFORM crmperm.manage_table('tk_clients',  'clients');
    PERFORM crmperm.manage_table('tk_invoices', 'invoices');
    PERFORM crmperm.manage_table('tk_projects', 'projects');
    PERFORM crmperm.manage_table('tk_payments', 'payments');

    PERFORM crmperm.create_permission_set('tk webhook', 'Lead-capture webhook');
    PERFORM crmperm.grant('tk webhook', 'leads', ARRAY['read', 'create', 'update']);
    PERFORM crmperm.assign_permission_set('tk_webhook', 'tk webhook');

    PERFORM crmperm.create_permission_set('tk portal', 'Client portal');
    PERFORM crmperm.grant('tk portal', 'clients',  ARRAY['read', 'update']);
    PERFORM crmperm.grant('tk portal', 'invoices', ARRAY['read', 'update']);
    PERFORM crmperm.grant('tk portal', 'projects', ARRAY['read', 'delete']);
    PERFORM crmperm.grant('tk portal', 'leads',    ARRAY['read']);
    PERFORM crmperm.assign_permission_set('tk_portal', 'tk portal');

    PERFORM crmperm.create_permission_set('tk accounting', 'Accounting sync');
    PERFORM crmperm.grant('tk accounting', 'clients',  ARRAY['read', 'update']);
    PERFORM crmperm.grant('tk accounting', 'invoices', ARRAY['read', 'create', 'update', 'delete']);
    PERFORM crmperm.grant('tk accounting', 'projects', ARRAY['read']);
    PERFORM crmperm.grant('tk accounting', 'payments', ARRAY['read', 'create', 'update']);
    PERFORM crmperm.assign_permission_set('tk_accounting', 'tk accounting');
END
$$;

-- The plaintexts, shown once by create_token(): kept where only the superuser
-- reads them (the helpers fetch one before switching roles).
CREATE TEMP TABLE tk_tokens (name text PRIMARY KEY, plaintext text NOT NULL);
INSERT INTO tk_tokens VALUES
    ('lead-capture-webhook',
     crmperm.create_token('lead-capture-webhook', 'tk_webhook', ARRAY['leads.create'])),
    ('client-portal',
     crmperm.create_token('client-portal', 'tk_portal',
                          ARRAY['clients.read', 'clients.update', 'invoices.read', 'projects.read'])),
    ('client-portal-extra',
     crmperm.create_token('client-portal-extra', 'tk_portal',
                          ARRAY['clients.read', 'leads.create', 'payments.read'])),
    ('accounting-sync',
     crmperm.create_token('accounting-sync', 'tk_accounting',
                          ARRAY['invoices.read', 'invoices.update', 'payments.read',
                                'payments.create', 'clients.read'],
                          now() + interval '1 day')),
    ('revoked-webhook',
     crmperm.create_token('revoked-webhook', 'tk_webhook', ARRAY['leads.create']));
DO $$ BEGIN PERFORM crmperm.revoke_token('revoked-webhook'); END $$;

-- ---------------------------------------------------------------------------
-- Helpers.  Each fetches the token's plaintext, then, in a subtransaction
-- that is always rolled back (the roles, the token and the rows with it),
-- switches to tk_app, authenticates and runs the statement as the token.
-- ---------------------------------------------------------------------------

CREATE FUNCTION pg_temp.plaintext(token_name text) RETURNS text
LANGUAGE sql AS $$ SELECT plaintext FROM tk_tokens WHERE name = token_name $$;

-- as_token(token, statement): errors propagate (for throws_ok); a statement
-- that touches anything but exactly one row is an error too (so lives_ok
-- means "did it").
CREATE FUNCTION pg_temp.as_token(token_name text, stmt text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tok CONSTANT text := pg_temp.plaintext(token_name);
    n bigint;
BEGIN
    BEGIN
        SET LOCAL ROLE tk_app;
        PERFORM crmperm.authenticate(tok);
        EXECUTE stmt;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n <> 1 THEN
            RAISE EXCEPTION 'expected 1 row, got %', n USING ERRCODE = 'TAPNO';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'TAPOK';   -- undo it: roles, token, row
    EXCEPTION WHEN SQLSTATE 'TAPOK' THEN
        RETURN;
    END;
END
$$;

-- try_token(token, statement [, field]): 'ok: N row(s)', or the error as
-- 'SQLSTATE: message' (or its detail / hint when field says so).
CREATE FUNCTION pg_temp.try_token(token_name text, stmt text, field text DEFAULT 'message')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    tok CONSTANT text := pg_temp.plaintext(token_name);
    n bigint;
    state text;
    msg text;
    detail text;
    hint text;
BEGIN
    BEGIN
        SET LOCAL ROLE tk_app;
        PERFORM crmperm.authenticate(tok);
        EXECUTE stmt;
        GET DIAGNOSTICS n = ROW_COUNT;
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

-- val_token(token, query): the text of the query's single value under the
-- token, or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.val_token(token_name text, query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    tok CONSTANT text := pg_temp.plaintext(token_name);
    v text;
    state text;
    msg text;
BEGIN
    BEGIN
        SET LOCAL ROLE tk_app;
        PERFORM crmperm.authenticate(tok);
        EXECUTE query INTO STRICT v;
        RAISE EXCEPTION USING ERRCODE = 'TAPOK', MESSAGE = coalesce(v, '<null>');
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    RETURN CASE WHEN state = 'TAPOK' THEN msg ELSE state || ': ' || msg END;
END
$$;

-- identity_trace(token): current_user / session_user as tk_app, under the
-- token, and as tk_app again once the token's subtransaction rolled back.
CREATE FUNCTION pg_temp.identity_trace(token_name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    tok CONSTANT text := pg_temp.plaintext(token_name);
    before_auth text;
    under text;
    after_rollback text;
BEGIN
    BEGIN
        SET LOCAL ROLE tk_app;
        before_auth := current_user || '/' || session_user;
        BEGIN
            PERFORM crmperm.authenticate(tok);
            under := current_user || '/' || session_user;
            RAISE EXCEPTION USING ERRCODE = 'TAPOK';
        EXCEPTION WHEN SQLSTATE 'TAPOK' THEN
            NULL;
        END;
        after_rollback := current_user || '/' || session_user;
        RAISE EXCEPTION USING ERRCODE = 'TAPOK';
    EXCEPTION WHEN SQLSTATE 'TAPOK' THEN
        NULL;
    END;
    RETURN format('%s -> %s -> %s', before_auth, under, after_rollback);
END
$$;

-- as_login(login, token): authenticate with this text as the session user
-- login (SET LOCAL SESSION AUTHORIZATION: failures are throttled per session
-- user, and charged to it), rolled back; 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.as_login(login name, tok text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', login);
        IF session_user <> login THEN
            RAISE EXCEPTION 'session user is %, not %', session_user, login;
        END IF;
        PERFORM crmperm.authenticate(tok);
        RAISE EXCEPTION USING ERRCODE = 'TAPOK';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    RETURN CASE WHEN state = 'TAPOK' THEN 'ok' ELSE state || ': ' || msg END;
END
$$;

-- The exact denial texts of src/errors.c.
CREATE FUNCTION pg_temp.token_denied(token_name text, permission text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('permission denied: token "%s" lacks "%s"', token_name, permission)
$$;
CREATE FUNCTION pg_temp.role_denied(principal name, permission text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('permission denied: role "%s" lacks "%s"', principal, permission)
$$;

-- ---------------------------------------------------------------------------
-- The matrix axes.  Letters: r read, c create, u update, d delete ('-' none).
-- ---------------------------------------------------------------------------

CREATE TEMP TABLE tokens (ord int, token text, principal name, scope_list text);
INSERT INTO tokens VALUES
    (1, 'lead-capture-webhook', 'tk_webhook',    'leads.create'),
    (2, 'client-portal',        'tk_portal',     'clients.read, clients.update, invoices.read, projects.read'),
    (3, 'client-portal-extra',  'tk_portal',     'clients.read, leads.create, payments.read'),
    (4, 'accounting-sync',      'tk_accounting', 'clients.read, invoices.read, invoices.update, payments.create, payments.read');

-- Per token and resource: the token's scopes and the principal's grants.
CREATE TEMP TABLE cells (token text, resource text, res_ord int, scopes text, grants text);
INSERT INTO cells VALUES
--   token                   resource         scopes  grants
    ('lead-capture-webhook', 'leads',    1,   '-c--', 'rcu-'),
    ('lead-capture-webhook', 'clients',  2,   '----', '----'),
    ('lead-capture-webhook', 'invoices', 3,   '----', '----'),
    ('lead-capture-webhook', 'projects', 4,   '----', '----'),
    ('lead-capture-webhook', 'payments', 5,   '----', '----'),
    ('client-portal',        'leads',    1,   '----', 'r---'),
    ('client-portal',        'clients',  2,   'r-u-', 'r-u-'),
    ('client-portal',        'invoices', 3,   'r---', 'r-u-'),
    ('client-portal',        'projects', 4,   'r---', 'r--d'),
    ('client-portal',        'payments', 5,   '----', '----'),
    ('client-portal-extra',  'leads',    1,   '-c--', 'r---'),
    ('client-portal-extra',  'clients',  2,   'r---', 'r-u-'),
    ('client-portal-extra',  'invoices', 3,   '----', 'r-u-'),
    ('client-portal-extra',  'projects', 4,   '----', 'r--d'),
    ('client-portal-extra',  'payments', 5,   'r---', '----'),
    ('accounting-sync',      'leads',    1,   '----', '----'),
    ('accounting-sync',      'clients',  2,   'r---', 'r-u-'),
    ('accounting-sync',      'invoices', 3,   'r-u-', 'rcud'),
    ('accounting-sync',      'projects', 4,   '----', 'r---'),
    ('accounting-sync',      'payments', 5,   'rc--', 'rcu-');

-- Statements, and what each needs, the write before the read it implies.
CREATE TEMP TABLE actions (act_ord int, action text, needs text[], sql text);
INSERT INTO actions VALUES
    (1, 'read',   '{read}',          'SELECT * FROM tk_%s'),
    (2, 'create', '{create}',        'INSERT INTO tk_%s (payload) VALUES (''new'')'),
    (3, 'update', '{update,read}',   'UPDATE tk_%s SET payload = ''changed'' WHERE id = 1'),
    (4, 'delete', '{delete,read}',   'DELETE FROM tk_%s WHERE id = 1');

CREATE TEMP TABLE matrix AS
SELECT t.ord * 100 + c.res_ord * 10 + a.act_ord AS ord, t.token, t.principal, c.resource,
       a.action, format(a.sql, c.resource) AS stmt,
       -- the token's denial first: the first need missing from its scopes
       (SELECT pg_temp.token_denied(t.token, c.resource || '.' || need)
          FROM unnest(a.needs) WITH ORDINALITY AS x(need, k)
         WHERE strpos(c.scopes, left(need, 1)) = 0
         ORDER BY k LIMIT 1) AS token_denial,
       -- then the principal's: the first need missing from its grants
       (SELECT pg_temp.role_denied(t.principal, c.resource || '.' || need)
          FROM unnest(a.needs) WITH ORDINALITY AS x(need, k)
         WHERE strpos(c.grants, left(need, 1)) = 0
         ORDER BY k LIMIT 1) AS role_denial,
       strpos(c.scopes, left(a.action, 1)) > 0 AND strpos(c.grants, left(a.action, 1)) > 0
           AS check_expected
  FROM tokens t
  JOIN cells c ON c.token = t.token
 CROSS JOIN actions a;

-- ---------------------------------------------------------------------------
-- Fixture sanity (8)
-- ---------------------------------------------------------------------------

SELECT is((SELECT array_agg(r.resource || '=' || r.tbl::text ORDER BY r.resource)
             FROM crmperm.resources r
            WHERE r.tbl::text LIKE 'tk\_%'),
          ARRAY['clients=tk_clients', 'invoices=tk_invoices', 'leads=tk_leads',
                'payments=tk_payments', 'projects=tk_projects'],
          'five fixture tables are managed; tk_notes is not');

SELECT is((SELECT array_agg(name || ' ' || principal::text || ' ' || array_to_string(scopes, ',')
                            ORDER BY name)
             FROM crmperm.tokens WHERE revoked IS NULL),
          ARRAY['accounting-sync tk_accounting clients.read,invoices.read,invoices.update,payments.create,payments.read',
                'client-portal tk_portal clients.read,clients.update,invoices.read,projects.read',
                'client-portal-extra tk_portal clients.read,leads.create,payments.read',
                'lead-capture-webhook tk_webhook leads.create'],
          'crmperm.tokens lists the four live tokens, their principals and sorted scopes');

SELECT is((SELECT count(*) FROM tokens t JOIN crmperm.tokens v ON v.name = t.token
            WHERE array_to_string(v.scopes, ', ') = t.scope_list
              AND v.scopes = (SELECT array_agg(c.resource || '.' || a.action ORDER BY c.resource || '.' || a.action)
                                FROM cells c CROSS JOIN actions a
                               WHERE c.token = t.token AND strpos(c.scopes, left(a.action, 1)) > 0)),
          4::bigint, 'the matrix''s scope letters are exactly the tokens'' scopes');

SELECT is((SELECT count(*) FROM cells c JOIN tokens t ON t.token = c.token
            CROSS JOIN actions a
            JOIN crmperm.explain_access(t.principal::regrole, c.resource) e ON e.action = a.action
            WHERE e.allowed = (strpos(c.grants, left(a.action, 1)) > 0)),
          80::bigint, 'the matrix''s grant letters agree with explain_access() for all 80 cells');

SELECT is((SELECT array_agg(DISTINCT plaintext ~ '^crm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$') FROM tk_tokens),
          ARRAY[true], 'every plaintext has the token shape crm_<key id>_<secret>');

SELECT is((SELECT count(*) FROM pg_auth_members m
            WHERE m.member = 'tk_app'::regrole OR m.roleid = 'tk_app'::regrole),
          0::bigint, 'tk_app is a member of no role (no principal) and has no members');

SELECT is((SELECT count(*) FROM unnest(ARRAY['tk_leads', 'tk_clients', 'tk_invoices', 'tk_projects',
                                             'tk_payments', 'tk_notes']) t
            WHERE has_table_privilege('tk_app', t, 'SELECT, INSERT, UPDATE, DELETE')),
          0::bigint, 'tk_app holds no privilege on any fixture table');

SELECT is((SELECT revoked IS NOT NULL FROM crmperm.tokens WHERE name = 'revoked-webhook'), true,
          'revoked-webhook is listed as revoked');

-- ---------------------------------------------------------------------------
-- The matrix: 4 tokens x 5 resources x 4 actions = 80 statements.
-- ---------------------------------------------------------------------------

SELECT CASE WHEN m.token_denial IS NULL AND m.role_denial IS NULL THEN
           lives_ok(format('SELECT pg_temp.as_token(%L, %L)', m.token, m.stmt),
                    format('%s: %s %s -> allowed', m.token, m.action, m.resource))
       ELSE
           throws_ok(format('SELECT pg_temp.as_token(%L, %L)', m.token, m.stmt),
                     '42501', coalesce(m.token_denial, m.role_denial),
                     format('%s: %s %s -> denied by the %s', m.token, m.action, m.resource,
                            CASE WHEN m.token_denial IS NOT NULL THEN 'token''s scopes'
                                 ELSE 'principal''s grants' END))
       END
  FROM (SELECT * FROM matrix ORDER BY ord) m;

-- crmperm.check() under the token agrees with the matrix (80).
SELECT is(pg_temp.val_token(m.token, format('SELECT crmperm.check(%L)', m.resource || '.' || m.action)),
          m.check_expected::text,
          format('%s: check(''%s.%s'') is %s', m.token, m.resource, m.action, m.check_expected::text))
  FROM (SELECT * FROM matrix ORDER BY ord) m;

-- The matrix is complete and holds each kind of cell (2).
SELECT is((SELECT count(*) FROM matrix), 80::bigint, 'the matrix covers 4 tokens x 5 resources x 4 actions');
SELECT is((SELECT array_agg(DISTINCT CASE WHEN token_denial IS NOT NULL THEN 'token'
                                          WHEN role_denial IS NOT NULL THEN 'principal'
                                          ELSE 'allowed' END)
             FROM matrix),
          ARRAY['allowed', 'principal', 'token'],
          'the matrix has allowed cells, token denials and principal denials');

-- ---------------------------------------------------------------------------
-- Around the matrix
-- ---------------------------------------------------------------------------

-- RETURNING reads (3).
SELECT throws_ok($$SELECT pg_temp.as_token('lead-capture-webhook',
                     'INSERT INTO tk_leads (payload) VALUES (''w'') RETURNING id')$$,
                 '42501', pg_temp.token_denied('lead-capture-webhook', 'leads.read'),
                 'lead-capture-webhook: INSERT ... RETURNING needs leads.read, which the token lacks (its principal has it)');
SELECT lives_ok($$SELECT pg_temp.as_token('accounting-sync',
                    'INSERT INTO tk_payments (payload) VALUES (''paid'') RETURNING id')$$,
                'accounting-sync: INSERT INTO payments ... RETURNING (payments.create + payments.read) -> allowed');
SELECT lives_ok($$SELECT pg_temp.as_token('accounting-sync',
                    'UPDATE tk_invoices SET payload = ''paid'' WHERE id = 1 RETURNING id')$$,
                'accounting-sync: UPDATE invoices ... RETURNING -> allowed');

-- A token reaches only tables crmperm manages, though its principal has
-- native privileges on the others (4 + 1).
SELECT throws_ok(format('SELECT pg_temp.as_token(%L, %L)', t.token, 'SELECT * FROM tk_notes'),
                 '42501', format('permission denied: token "%s" may not access relation "tk_notes"', t.token),
                 format('%s: SELECT from the unmanaged tk_notes -> denied', t.token))
  FROM tokens t ORDER BY t.ord;
SELECT is(pg_temp.try_token('client-portal', 'INSERT INTO tk_notes (payload) VALUES (''x'')', 'detail'),
          'A token reaches only tables managed by crmperm, views over them and the system catalogs.',
          'client-portal: the unmanaged-table denial says what a token reaches');

-- A statement that names two resources is checked on both (2).
SELECT throws_ok($$SELECT pg_temp.as_token('client-portal',
                     'SELECT c.id FROM tk_clients c JOIN tk_payments p ON p.id = c.id')$$,
                 '42501', pg_temp.token_denied('client-portal', 'payments.read'),
                 'client-portal: a join of clients and payments -> denied on payments');
SELECT lives_ok($$SELECT pg_temp.as_token('client-portal',
                    'SELECT c.id FROM tk_clients c JOIN tk_invoices i ON i.id = c.id JOIN tk_projects p ON p.id = c.id')$$,
                'client-portal: a join of clients, invoices and projects -> allowed');

-- Details and hints (6).
SELECT is(pg_temp.try_token('client-portal', 'SELECT * FROM tk_payments', 'detail'),
          'Token scopes: clients.read, clients.update, invoices.read, projects.read.',
          'client-portal: the token denial lists the token''s scopes');
SELECT is(pg_temp.try_token('client-portal', 'SELECT * FROM tk_payments', 'hint'),
          'A token''s scopes are fixed: create a token whose scopes include "payments.read" with crmperm.create_token(), and revoke this one.',
          'client-portal: the token denial''s hint');
SELECT is(pg_temp.try_token('lead-capture-webhook', 'DELETE FROM tk_leads', 'detail'),
          'Token scopes: leads.create.',
          'lead-capture-webhook: the token denial lists its one scope');
SELECT is(pg_temp.try_token('client-portal-extra', 'SELECT * FROM tk_payments', 'detail'),
          'Granted on payments: nothing.',
          'client-portal-extra: a scope its principal lacks -> the principal''s denial, with the principal''s grants');
SELECT is(pg_temp.try_token('client-portal-extra', 'INSERT INTO tk_leads (payload) VALUES (''x'')', 'detail'),
          'Granted on leads: read.',
          'client-portal-extra: leads.create in the token, not granted to tk_portal -> the principal''s grants');
SELECT is(pg_temp.try_token('client-portal-extra', 'SELECT * FROM tk_leads'),
          '42501: ' || pg_temp.token_denied('client-portal-extra', 'leads.read'),
          'client-portal-extra: tk_portal may read leads, the token may not');

-- Without a token, tk_app can do nothing: PostgreSQL denies it first (1).
SELECT throws_ok($q$DO $do$ BEGIN SET LOCAL ROLE tk_app; PERFORM * FROM tk_clients; END $do$$q$,
                 '42501', 'permission denied for table tk_clients',
                 'tk_app without a token: no privilege on clients');

-- The identity switch (12).
SELECT is(pg_temp.identity_trace(t.token),
          format('tk_app/%2$s -> %1$s/%2$s -> tk_app/%2$s', t.principal, session_user),
          format('%s: current_user is tk_app, then %s under the token, then tk_app again after the rollback',
                 t.token, t.principal))
  FROM tokens t ORDER BY t.ord;
SELECT is(pg_temp.val_token('client-portal', 'SELECT token FROM crmperm.whoami()'),
          'client-portal', 'whoami() under client-portal names the token');
SELECT is(pg_temp.val_token('client-portal', 'SELECT principal::text FROM crmperm.whoami()'),
          'tk_portal', 'whoami() under client-portal names the principal');
SELECT is(pg_temp.val_token('accounting-sync', 'SELECT permission_sets::text FROM crmperm.whoami()'),
          '{"tk accounting"}', 'whoami() under accounting-sync lists the principal''s permission sets');
SELECT is((SELECT token FROM crmperm.whoami()), NULL,
          'after the rollbacks, whoami() names no token');
SELECT is(pg_temp.val_token('client-portal', 'SELECT crmperm.authenticate(' || quote_literal(pg_temp.plaintext('accounting-sync')) || ')::text'),
          '55000: token "client-portal" is already active',
          'a second token cannot replace the first');
SELECT is(pg_temp.try_token('client-portal', 'SET ROLE tk_portal'),
          '42501: permission denied: cannot change the role while token "client-portal" is active',
          'SET ROLE under a token is refused, even to the principal');
SELECT is(pg_temp.try_token('client-portal', 'RESET ROLE'),
          '42501: permission denied: cannot change the role while token "client-portal" is active',
          'RESET ROLE under a token is refused');
SELECT is(pg_temp.try_token('client-portal', 'SELECT set_config(''role'', ''tk_app'', true)'),
          '42501: cannot set parameter "role" within security-definer function',
          'set_config(''role'', ...) under a token is refused');

-- authenticate() refuses to run in a SECURITY DEFINER function (1).  (The
-- refusal comes before the token is looked at: no failure is counted.)
CREATE FUNCTION pg_temp.definer_auth(tok text) RETURNS regrole
LANGUAGE sql SECURITY DEFINER AS $$ SELECT crmperm.authenticate(tok) $$;
SELECT throws_ok(format($f$DO $do$
                 BEGIN
                     SET LOCAL ROLE tk_app;
                     PERFORM pg_temp.definer_auth(%L);
                     RAISE EXCEPTION 'authenticated inside a SECURITY DEFINER function';
                 END $do$$f$, pg_temp.plaintext('client-portal')),
                 '42501',
                 'crmperm.authenticate() cannot be called in a SECURITY DEFINER function or a restricted operation',
                 'authenticate() inside a SECURITY DEFINER function is refused');

-- Failed authentications (3), as tk_intruder: two failures (the lockout
-- takes five), then the right token still works.
SELECT is(pg_temp.as_login('tk_intruder',
              left(pg_temp.plaintext('client-portal'), -1)
              || CASE WHEN right(pg_temp.plaintext('client-portal'), 1) = 'A' THEN 'B' ELSE 'A' END),
          '28000: token authentication failed',
          'a real key id with a wrong secret -> 28000, nothing said about why');
SELECT is(pg_temp.as_login('tk_intruder', pg_temp.plaintext('revoked-webhook')),
          '28000: token authentication failed',
          'a revoked token -> the same 28000');
SELECT is(pg_temp.as_login('tk_intruder', pg_temp.plaintext('client-portal')),
          'ok', 'two failures do not lock tk_intruder out: the right token authenticates');

-- Nothing the matrix ran stuck (3).
SELECT is((SELECT string_agg(x, ',' ORDER BY x) FROM (
              SELECT 'leads:' || count(*) || ':' || string_agg(payload, '') FROM tk_leads
              UNION ALL SELECT 'clients:' || count(*) || ':' || string_agg(payload, '') FROM tk_clients
              UNION ALL SELECT 'invoices:' || count(*) || ':' || string_agg(payload, '') FROM tk_invoices
              UNION ALL SELECT 'projects:' || count(*) || ':' || string_agg(payload, '') FROM tk_projects
              UNION ALL SELECT 'payments:' || count(*) || ':' || string_agg(payload, '') FROM tk_payments
              UNION ALL SELECT 'notes:' || count(*) || ':' || string_agg(payload, '') FROM tk_notes) f(x)),
          'clients:1:seed,invoices:1:seed,leads:1:seed,notes:1:seed,payments:1:seed,projects:1:seed',
          'every fixture table still holds its one untouched row');
SELECT is(current_user::text, session_user::text, 'the helpers leave the session role as it was');
SELECT is(crmperm._token_name(), NULL, 'no token is active after the helpers');

SELECT * FROM finish();
ROLLBACK;

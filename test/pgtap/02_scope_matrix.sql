-- 02_scope_matrix.sql: the row-scope matrix.
--
-- One managed table with owner / team / department / tenant columns, twelve
-- rows spread across users, teams, departments and two tenants (and rows with
-- NULLs), two custom scopes (one over plain columns, one calling user_id()),
-- and seventeen principals: one per scope, unions of scopes held through
-- different permission sets, "all" beating a narrower scope, different scopes
-- per action, principals without attributes, without a tenant, without a
-- principal row at all, and principals of the other tenant.
--
-- For every principal:
--   read    SELECT id                          -> the exact ids it sees
--   update  UPDATE ... RETURNING id            -> the exact ids it touches
--   delete  DELETE ... RETURNING id            -> the exact ids it removes
-- and a list of single-row writes: creates and updates inside the scope
-- (lives_ok, and they must touch exactly one row), outside it (throws_ok
-- 42501 with the exact message, plus the detail naming the scope), and
-- across the tenant boundary (throws_ok 42501, plus the tenant detail: the
-- scope and the tenant denial share their message, the detail tells them
-- apart).
--
-- As in 01_crud_matrix.sql, every statement runs as the principal through
-- SET LOCAL ROLE inside a subtransaction that is always rolled back (role and
-- rows included), so the fixture never changes and the pgTAP bookkeeping
-- stays with the superuser.
--
-- Run: pg_prove -h /tmp/dev -p 5499 -d <db> test/pgtap/02_scope_matrix.sql
-- (the database needs CREATE EXTENSION pgtap, crmperm; the server
-- shared_preload_libraries = crmperm).  Everything is rolled back.

BEGIN;
SELECT plan(177);

-- ---------------------------------------------------------------------------
-- Fixture
-- ---------------------------------------------------------------------------

CREATE TABLE tap_deals (
    id           int PRIMARY KEY,
    owner_id     text,
    team_id      text,
    dept_id      text,
    tenant       text,
    region       text,
    closed       boolean,
    assistant_id text,
    payload      text DEFAULT 'seed'
);

INSERT INTO tap_deals (id, owner_id, team_id, dept_id, tenant, region, closed, assistant_id) VALUES
    ( 1, 'u1', 't1', 'd1', 'acme',   'eu', false, NULL),
    ( 2, 'u2', 't1', 'd1', 'acme',   'us', false, NULL),
    ( 3, 'u3', 't2', 'd1', 'acme',   'eu', true,  NULL),
    ( 4, 'u1', 't2', 'd2', 'acme',   'eu', false, NULL),
    ( 5, 'u4', 't3', 'd2', 'acme',   'us', false, 'u2'),
    ( 6, NULL, NULL, NULL, 'acme',   NULL, NULL,  NULL),   -- nothing but a tenant
    ( 7, 'u1', 't1', 'd1', 'globex', 'eu', false, NULL),   -- row 1's twin, other tenant
    ( 8, 'u5', 't5', 'd5', 'globex', 'eu', false, 'u2'),
    ( 9, 'u2', NULL, 'd2', 'acme',   'eu', false, NULL),
    (10, 'u1', 't1', 'd1', NULL,     'eu', false, NULL),   -- no tenant: nobody's
    (11, 'u6', 't2', NULL, 'acme',   'eu', NULL,  NULL),   -- closed unknown
    (12, 'o''brien', 'sales, "east"', 'NULL', 'acme', NULL, NULL, NULL);
                                   -- values array literals must quote

-- Native privileges: everything, through one group.  crmperm only narrows.
CREATE ROLE tap_scope_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON tap_deals TO tap_scope_users;

CREATE ROLE tap_owned       NOLOGIN IN ROLE tap_scope_users;  -- owned
CREATE ROLE tap_team        NOLOGIN IN ROLE tap_scope_users;  -- team
CREATE ROLE tap_dept        NOLOGIN IN ROLE tap_scope_users;  -- department
CREATE ROLE tap_all         NOLOGIN IN ROLE tap_scope_users;  -- all
CREATE ROLE tap_eu          NOLOGIN IN ROLE tap_scope_users;  -- custom: eu_open
CREATE ROLE tap_assist      NOLOGIN IN ROLE tap_scope_users;  -- custom: assisted (user_id())
CREATE ROLE tap_combo       NOLOGIN IN ROLE tap_scope_users;  -- owned set + team set
CREATE ROLE tap_combo2      NOLOGIN IN ROLE tap_scope_users;  -- eu_open set + owned set
CREATE ROLE tap_wide        NOLOGIN IN ROLE tap_scope_users;  -- owned set + all set
CREATE ROLE tap_noattr      NOLOGIN IN ROLE tap_scope_users;  -- owned+team+dept, tenant only
CREATE ROLE tap_notenant    NOLOGIN IN ROLE tap_scope_users;  -- all+owned, every attribute but tenant
CREATE ROLE tap_noprincipal NOLOGIN IN ROLE tap_scope_users;  -- all, never set_principal'd
CREATE ROLE tap_other       NOLOGIN IN ROLE tap_scope_users;  -- all, tenant globex
CREATE ROLE tap_other_owned NOLOGIN IN ROLE tap_scope_users;  -- owned, tenant globex
CREATE ROLE tap_mixed       NOLOGIN IN ROLE tap_scope_users;  -- read all, update team,
                                                              -- delete owned, create department
CREATE ROLE tap_quoted_team NOLOGIN IN ROLE tap_scope_users;  -- team 'sales, "east"'
CREATE ROLE tap_quoted_dept NOLOGIN IN ROLE tap_scope_users;  -- department 'NULL' (a string)

DO $$
DECLARE
    crud CONSTANT text[] := ARRAY['read', 'create', 'update', 'delete'];
BEGIN
    PERFORM crmperm.manage_table('tap_deals', 'deals',
                                 owner_column => 'owner_id', team_column => 'team_id',
                                 department_column => 'dept_id', tenant_column => 'tenant');
    -- Resolved with search_path pg_catalog, crmperm: user_id() unqualified.
    PERFORM crmperm.define_scope('deals', 'eu_open', $p$region = 'eu' AND NOT closed$p$);
    PERFORM crmperm.define_scope('deals', 'assisted', $p$owner_id = user_id() OR assistant_id = user_id()$p$);

    PERFORM crmperm.create_permission_set('tap owned');
    PERFORM crmperm.grant('tap owned', 'deals', crud, 'owned');
    PERFORM crmperm.create_permission_set('tap team');
    PERFORM crmperm.grant('tap team', 'deals', crud, 'team');
    PERFORM crmperm.create_permission_set('tap dept');
    PERFORM crmperm.grant('tap dept', 'deals', crud, 'department');
    PERFORM crmperm.create_permission_set('tap all');
    PERFORM crmperm.grant('tap all', 'deals', crud, 'all');
    PERFORM crmperm.create_permission_set('tap eu open');
    PERFORM crmperm.grant('tap eu open', 'deals', crud, 'eu_open');
    PERFORM crmperm.create_permission_set('tap assisted');
    PERFORM crmperm.grant('tap assisted', 'deals', crud, 'assisted');
    PERFORM crmperm.create_permission_set('tap mixed');
    PERFORM crmperm.grant('tap mixed', 'deals', ARRAY['read'], 'all');
    PERFORM crmperm.grant('tap mixed', 'deals', ARRAY['update'], 'team');
    PERFORM crmperm.grant('tap mixed', 'deals', ARRAY['delete'], 'owned');
    PERFORM crmperm.grant('tap mixed', 'deals', ARRAY['create'], 'department');

    PERFORM crmperm.assign_permission_set('tap_owned', 'tap owned');
    PERFORM crmperm.assign_permission_set('tap_team', 'tap team');
    PERFORM crmperm.assign_permission_set('tap_dept', 'tap dept');
    PERFORM crmperm.assign_permission_set('tap_all', 'tap all');
    PERFORM crmperm.assign_permission_set('tap_eu', 'tap eu open');
    PERFORM crmperm.assign_permission_set('tap_assist', 'tap assisted');
    PERFORM crmperm.assign_permission_set('tap_combo', 'tap owned');
    PERFORM crmperm.assign_permission_set('tap_combo', 'tap team');
    PERFORM crmperm.assign_permission_set('tap_combo2', 'tap eu open');
    PERFORM crmperm.assign_permission_set('tap_combo2', 'tap owned');
    PERFORM crmperm.assign_permission_set('tap_wide', 'tap owned');
    PERFORM crmperm.assign_permission_set('tap_wide', 'tap all');
    PERFORM crmperm.assign_permission_set('tap_noattr', 'tap owned');
    PERFORM crmperm.assign_permission_set('tap_noattr', 'tap team');
    PERFORM crmperm.assign_permission_set('tap_noattr', 'tap dept');
    PERFORM crmperm.assign_permission_set('tap_notenant', 'tap all');
    PERFORM crmperm.assign_permission_set('tap_notenant', 'tap owned');
    PERFORM crmperm.assign_permission_set('tap_noprincipal', 'tap all');
    PERFORM crmperm.assign_permission_set('tap_other', 'tap all');
    PERFORM crmperm.assign_permission_set('tap_other_owned', 'tap owned');
    PERFORM crmperm.assign_permission_set('tap_mixed', 'tap mixed');
    PERFORM crmperm.assign_permission_set('tap_quoted_team', 'tap team');
    PERFORM crmperm.assign_permission_set('tap_quoted_dept', 'tap dept');

    PERFORM crmperm.set_principal('tap_owned',  user_id => 'u1', tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_team',   user_id => 'u9', team_ids => ARRAY['t1', 't3'],
                                  tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_dept',   department_ids => ARRAY['d2'], tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_all',    user_id => 'u9', tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_eu',     user_id => 'u9', tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_assist', user_id => 'u2', tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_combo',  user_id => 'u2', team_ids => ARRAY['t2'],
                                  tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_combo2', user_id => 'u4', tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_wide',   user_id => 'u1', tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_noattr', tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_notenant', user_id => 'u1', team_ids => ARRAY['t1'],
                                  department_ids => ARRAY['d1']);
    PERFORM crmperm.set_principal('tap_other',  user_id => 'u9', tenant_id => 'globex');
    PERFORM crmperm.set_principal('tap_other_owned', user_id => 'u1', tenant_id => 'globex');
    PERFORM crmperm.set_principal('tap_mixed',  user_id => 'u1', team_ids => ARRAY['t1'],
                                  department_ids => ARRAY['d1'], tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_quoted_team', team_ids => ARRAY['sales, "east"', 'x}'],
                                  tenant_id => 'acme');
    PERFORM crmperm.set_principal('tap_quoted_dept', department_ids => ARRAY['NULL'],
                                  tenant_id => 'acme');
END
$$;

-- ---------------------------------------------------------------------------
-- Helpers.  Each runs the statement as the principal in a subtransaction that
-- is always rolled back (the role switch included).
-- ---------------------------------------------------------------------------

-- ids_as(principal, statement returning id): the ids it returned, sorted, as
-- '{1,4}' ('{}' for none), or 'SQLSTATE: message' if it failed.
CREATE FUNCTION pg_temp.ids_as(principal name, stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    ids int[] := '{}';
    state text;
    msg text;
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', principal);
        FOR r IN EXECUTE stmt LOOP
            ids := ids || r.id;
        END LOOP;
        RAISE EXCEPTION USING ERRCODE = 'TAPOK',
            MESSAGE = (SELECT coalesce(array_agg(i ORDER BY i), '{}')::text FROM unnest(ids) i);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    RETURN CASE WHEN state = 'TAPOK' THEN msg ELSE state || ': ' || msg END;
END
$$;

-- as_role(principal, statement): run a single-row write as the principal and
-- roll it back.  Errors propagate (for throws_ok); a write that touches
-- anything but exactly one row is an error too (so lives_ok means "wrote it").
CREATE FUNCTION pg_temp.as_role(principal name, stmt text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', principal);
    EXECUTE stmt;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RAISE EXCEPTION 'expected to write 1 row, wrote %', n USING ERRCODE = 'TAPNO';
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'TAPOK';   -- undo it, role and row
EXCEPTION WHEN SQLSTATE 'TAPOK' THEN
    RETURN;
END
$$;

-- detail_as(principal, statement): the DETAIL of the error the statement
-- raises as the principal, or 'no error'.
CREATE FUNCTION pg_temp.detail_as(principal name, stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', principal);
        EXECUTE stmt;
        RAISE EXCEPTION USING ERRCODE = 'TAPOK';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        IF SQLSTATE = 'TAPOK' THEN
            RETURN 'no error';
        END IF;
    END;
    RETURN detail;
END
$$;

-- The exact denial texts of src/errors.c (crm_deny_scope, crm_deny_tenant).
CREATE FUNCTION pg_temp.row_denied(principal name, action text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('permission denied: role "%s" lacks "deals.%s" for this row', principal, action)
$$;
CREATE FUNCTION pg_temp.scope_detail(action text, scopes text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('The new row is outside the role''s scope for deals.%s: %s.', action, scopes)
$$;
CREATE FUNCTION pg_temp.tenant_detail() RETURNS text
LANGUAGE sql AS $$
    SELECT 'The new row''s tenant column "tenant" does not hold the role''s tenant id.'
$$;

-- ---------------------------------------------------------------------------
-- Fixture sanity (3)
-- ---------------------------------------------------------------------------

SELECT is((SELECT array_agg(id ORDER BY id) FROM tap_deals),
          ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
          'the superuser sees all twelve fixture rows');
SELECT ok((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class
            WHERE oid = 'tap_deals'::regclass),
          'manage_table enabled and forced row security on tap_deals');
SELECT is((SELECT array_agg(scope || ': ' || predicate ORDER BY scope) FROM crmperm.scopes
            WHERE resource = 'deals'),
          ARRAY['assisted: owner_id = user_id() OR assistant_id = user_id()',
                'eu_open: region = ''eu'' AND NOT closed'],
          'both custom scopes are defined on deals');

-- ---------------------------------------------------------------------------
-- Visibility matrix: 17 principals x {read, update, delete} = 51.
--
-- Rows of tenant acme: 1 2 3 4 5 6 9 11 12; of globex: 7 8; of no tenant: 10.
-- eu_open over acme: 1 4 9 (3 is closed, 2 5 are us, 6 has NULLs, 11 has
-- closed NULL).  assisted for u2: 2 9 (owner) and 5 (assistant); 8 is globex.
-- Update and delete use RETURNING, which needs read as well: every principal
-- but tap_mixed has one scope for all four actions, and tap_mixed reads all.
-- ---------------------------------------------------------------------------

CREATE TEMP TABLE visibility (ord serial, principal name, reads int[], updates int[],
                              deletes int[], why text);
INSERT INTO visibility (principal, reads, updates, deletes, why) VALUES
--   principal          read                      update                    delete
    ('tap_owned',       '{1,4}',                  '{1,4}',                  '{1,4}',
     'owned, user u1: its acme rows; not 7 (globex) nor 10 (no tenant)'),
    ('tap_team',        '{1,2,5}',                '{1,2,5}',                '{1,2,5}',
     'team, teams t1 t3: = ANY of both; not 7, 10'),
    ('tap_dept',        '{4,5,9}',                '{4,5,9}',                '{4,5,9}',
     'department, dept d2; no user id needed'),
    ('tap_all',         '{1,2,3,4,5,6,9,11,12}',  '{1,2,3,4,5,6,9,11,12}',  '{1,2,3,4,5,6,9,11,12}',
     'all: every acme row, NULL columns included'),
    ('tap_eu',          '{1,4,9}',                '{1,4,9}',                '{1,4,9}',
     'custom eu_open: NULL region / closed are outside'),
    ('tap_assist',      '{2,5,9}',                '{2,5,9}',                '{2,5,9}',
     'custom assisted with user_id() = u2: owner or assistant; not 8 (globex)'),
    ('tap_combo',       '{2,3,4,9,11}',           '{2,3,4,9,11}',           '{2,3,4,9,11}',
     'owned u2 (2 9) via one set OR team t2 (3 4 11) via another'),
    ('tap_combo2',      '{1,4,5,9}',              '{1,4,5,9}',              '{1,4,5,9}',
     'eu_open (1 4 9) via one set OR owned u4 (5) via another'),
    ('tap_wide',        '{1,2,3,4,5,6,9,11,12}',  '{1,2,3,4,5,6,9,11,12}',  '{1,2,3,4,5,6,9,11,12}',
     'owned u1 and all: the widest scope wins'),
    ('tap_noattr',      '{}',                     '{}',                     '{}',
     'owned/team/department without user, team or department ids: nothing'),
    ('tap_notenant',    '{}',                     '{}',                     '{}',
     'all + owned with every attribute but a tenant: nothing'),
    ('tap_noprincipal', '{}',                     '{}',                     '{}',
     'all, but never given attributes (no tenant): nothing'),
    ('tap_other',       '{7,8}',                  '{7,8}',                  '{7,8}',
     'all in tenant globex: only globex rows'),
    ('tap_other_owned', '{7}',                    '{7}',                    '{7}',
     'owned u1 in globex: row 7, not its acme twins 1 4'),
    ('tap_mixed',       '{1,2,3,4,5,6,9,11,12}',  '{1,2}',                  '{1,4}',
     'read all, update team t1, delete owned u1: each action its own scope'),
    ('tap_quoted_team', '{12}',                   '{12}',                   '{12}',
     'team ids with a comma, quotes and a brace are matched as written'),
    ('tap_quoted_dept', '{12}',                   '{12}',                   '{12}',
     'department id ''NULL'' is a string, not a NULL element');

SELECT is(pg_temp.ids_as(v.principal, s.stmt),
          (CASE s.action WHEN 'read' THEN v.reads
                         WHEN 'update' THEN v.updates
                         ELSE v.deletes END)::text,
          format('%s: %s %s (%s)', v.principal, s.action,
                 (CASE s.action WHEN 'read' THEN v.reads
                                WHEN 'update' THEN v.updates
                                ELSE v.deletes END)::text, v.why))
  FROM visibility v
 CROSS JOIN (VALUES (1, 'read',   'SELECT id FROM tap_deals ORDER BY id'),
                    (2, 'update', 'UPDATE tap_deals SET payload = ''changed'' RETURNING id'),
                    (3, 'delete', 'DELETE FROM tap_deals RETURNING id'))
            AS s(n, action, stmt)
 ORDER BY v.ord, s.n;

-- ---------------------------------------------------------------------------
-- Writes: creates and updates inside the scope, outside it, and across the
-- tenant boundary.  expect: 'ok' (lives_ok, exactly one row written),
-- 'scope' or 'tenant' (throws_ok 42501 with the exact message for action).
-- Each denial with a known detail gets a second assertion on the detail:
-- scopes = the scope names it must name ('scope'), or the tenant detail
-- ('tenant').  For principals holding several scopes only the message is
-- checked (the order of the names is not part of the contract).
--
-- INSERT column order: id, owner_id, team_id, dept_id, tenant, region,
-- closed, assistant_id.
-- ---------------------------------------------------------------------------

CREATE TEMP TABLE writes (ord serial, principal name, action text, expect text,
                          scopes text, stmt text, label text);
INSERT INTO writes (principal, action, expect, scopes, stmt, label) VALUES
    -- owned (u1)
    ('tap_owned', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (101, 'u1', 't9', 'd9', 'acme', 'us', false, NULL)$$,
     'its own row'),
    ('tap_owned', 'create', 'scope', 'owned',
     $$INSERT INTO tap_deals VALUES (102, 'u2', 't1', 'd1', 'acme', 'eu', false, NULL)$$,
     'a row owned by u2'),
    ('tap_owned', 'create', 'scope', 'owned',
     $$INSERT INTO tap_deals VALUES (103, NULL, 't1', 'd1', 'acme', 'eu', false, NULL)$$,
     'a row with no owner (NULL is outside)'),
    ('tap_owned', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (104, 'u1', 't1', 'd1', 'globex', 'eu', false, NULL)$$,
     'its own row in tenant globex'),
    ('tap_owned', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET team_id = 't9' WHERE id = 1$$,
     'row 1 keeps its owner'),
    ('tap_owned', 'update', 'scope', 'owned',
     $$UPDATE tap_deals SET owner_id = 'u2' WHERE id = 1$$,
     'row 1 handed to u2'),
    ('tap_owned', 'update', 'tenant', NULL,
     $$UPDATE tap_deals SET tenant = 'globex' WHERE id = 4$$,
     'row 4 moved to tenant globex'),
    -- team (t1, t3)
    ('tap_team', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (111, 'u7', 't3', 'd3', 'acme', 'eu', false, NULL)$$,
     'a row of team t3'),
    ('tap_team', 'create', 'scope', 'team',
     $$INSERT INTO tap_deals VALUES (112, 'u9', 't2', 'd1', 'acme', 'eu', false, NULL)$$,
     'a row of team t2 (its user owns it)'),
    ('tap_team', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (113, 'u9', 't1', 'd1', 'globex', 'eu', false, NULL)$$,
     'a row of team t1 in tenant globex'),
    ('tap_team', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET team_id = 't1' WHERE id = 5$$,
     'row 5 moved from t3 to t1'),
    ('tap_team', 'update', 'scope', 'team',
     $$UPDATE tap_deals SET team_id = 't2' WHERE id = 1$$,
     'row 1 moved to team t2'),
    ('tap_team', 'update', 'scope', 'team',
     $$UPDATE tap_deals SET team_id = NULL WHERE id = 2$$,
     'row 2 left without a team'),
    -- department (d2)
    ('tap_dept', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (121, NULL, NULL, 'd2', 'acme', NULL, NULL, NULL)$$,
     'a row of department d2'),
    ('tap_dept', 'create', 'scope', 'department',
     $$INSERT INTO tap_deals VALUES (122, NULL, NULL, 'd1', 'acme', NULL, NULL, NULL)$$,
     'a row of department d1'),
    ('tap_dept', 'create', 'scope', 'department',
     $$INSERT INTO tap_deals VALUES (123, NULL, NULL, NULL, 'acme', NULL, NULL, NULL)$$,
     'a row without a department'),
    ('tap_dept', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9' WHERE id = 9$$,
     'row 9 re-owned, still d2'),
    ('tap_dept', 'update', 'scope', 'department',
     $$UPDATE tap_deals SET dept_id = NULL WHERE id = 4$$,
     'row 4 left without a department'),
    ('tap_dept', 'update', 'tenant', NULL,
     $$UPDATE tap_deals SET tenant = 'globex' WHERE id = 5$$,
     'row 5 moved to tenant globex'),
    -- all
    ('tap_all', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (131, NULL, NULL, NULL, 'acme', NULL, NULL, NULL)$$,
     'an acme row with nothing else set'),
    ('tap_all', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (132, 'u9', 't1', 'd1', 'globex', 'eu', false, NULL)$$,
     'a row of tenant globex'),
    ('tap_all', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (133, 'u9', 't1', 'd1', NULL, 'eu', false, NULL)$$,
     'a row without a tenant (NULL is outside)'),
    ('tap_all', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9', team_id = 't9', dept_id = 'd9' WHERE id = 6$$,
     'row 6 given an owner, team and department'),
    ('tap_all', 'update', 'tenant', NULL,
     $$UPDATE tap_deals SET tenant = 'globex' WHERE id = 1$$,
     'row 1 moved to tenant globex'),
    ('tap_all', 'update', 'tenant', NULL,
     $$UPDATE tap_deals SET tenant = NULL WHERE id = 2$$,
     'row 2 left without a tenant'),
    -- custom eu_open
    ('tap_eu', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (141, 'u9', NULL, NULL, 'acme', 'eu', false, NULL)$$,
     'an open eu row'),
    ('tap_eu', 'create', 'scope', 'eu_open',
     $$INSERT INTO tap_deals VALUES (142, 'u9', NULL, NULL, 'acme', 'eu', true, NULL)$$,
     'a closed eu row'),
    ('tap_eu', 'create', 'scope', 'eu_open',
     $$INSERT INTO tap_deals VALUES (143, 'u9', NULL, NULL, 'acme', 'eu', NULL, NULL)$$,
     'an eu row with closed NULL (predicate NULL is outside)'),
    ('tap_eu', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (144, 'u9', NULL, NULL, 'globex', 'eu', false, NULL)$$,
     'an open eu row in tenant globex'),
    ('tap_eu', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9' WHERE id = 9$$,
     'row 9 re-owned, still open in eu'),
    ('tap_eu', 'update', 'scope', 'eu_open',
     $$UPDATE tap_deals SET closed = true WHERE id = 1$$,
     'row 1 closed'),
    ('tap_eu', 'update', 'scope', 'eu_open',
     $$UPDATE tap_deals SET region = 'us' WHERE id = 4$$,
     'row 4 moved to region us'),
    -- custom assisted (user_id() = u2)
    ('tap_assist', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (151, 'u9', NULL, NULL, 'acme', NULL, NULL, 'u2')$$,
     'a row it assists'),
    ('tap_assist', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (152, 'u2', NULL, NULL, 'acme', NULL, NULL, NULL)$$,
     'a row it owns'),
    ('tap_assist', 'create', 'scope', 'assisted',
     $$INSERT INTO tap_deals VALUES (153, 'u3', NULL, NULL, 'acme', NULL, NULL, 'u9')$$,
     'a row of u3 assisted by u9'),
    ('tap_assist', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (154, 'u2', NULL, NULL, 'globex', NULL, NULL, NULL)$$,
     'a row it owns in tenant globex'),
    ('tap_assist', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u2', assistant_id = NULL WHERE id = 5$$,
     'row 5 switched from assisted to owned'),
    ('tap_assist', 'update', 'scope', 'assisted',
     $$UPDATE tap_deals SET owner_id = 'u3' WHERE id = 2$$,
     'row 2 handed to u3'),
    -- owned (u2) + team (t2) through two sets: the union
    ('tap_combo', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (161, 'u2', 't9', NULL, 'acme', NULL, NULL, NULL)$$,
     'a row in scope through owned only'),
    ('tap_combo', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (162, 'u9', 't2', NULL, 'acme', NULL, NULL, NULL)$$,
     'a row in scope through team only'),
    ('tap_combo', 'create', 'scope', NULL,
     $$INSERT INTO tap_deals VALUES (163, 'u9', 't1', NULL, 'acme', NULL, NULL, NULL)$$,
     'a row in neither scope'),
    ('tap_combo', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (164, 'u2', 't2', NULL, 'globex', NULL, NULL, NULL)$$,
     'a row in both scopes in tenant globex'),
    ('tap_combo', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9', team_id = 't2' WHERE id = 2$$,
     'row 2 moved from owned to team'),
    ('tap_combo', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u2', team_id = 't1' WHERE id = 3$$,
     'row 3 moved from team to owned'),
    ('tap_combo', 'update', 'scope', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9' WHERE id = 2$$,
     'row 2 (team t1) handed to u9: in neither scope'),
    -- eu_open + owned (u4) through two sets
    ('tap_combo2', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (171, 'u4', NULL, NULL, 'acme', 'us', true, NULL)$$,
     'a closed us row it owns'),
    ('tap_combo2', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (172, 'u1', NULL, NULL, 'acme', 'eu', false, NULL)$$,
     'an open eu row of u1'),
    ('tap_combo2', 'create', 'scope', NULL,
     $$INSERT INTO tap_deals VALUES (173, 'u1', NULL, NULL, 'acme', 'us', false, NULL)$$,
     'a us row of u1'),
    ('tap_combo2', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9', region = 'eu' WHERE id = 5$$,
     'row 5 moved from owned to eu_open'),
    ('tap_combo2', 'update', 'scope', NULL,
     $$UPDATE tap_deals SET closed = true WHERE id = 1$$,
     'row 1 (u1) closed'),
    -- owned (u1) + all: all wins
    ('tap_wide', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (181, 'u9', NULL, NULL, 'acme', NULL, NULL, NULL)$$,
     'a row of u9'),
    ('tap_wide', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (182, 'u1', NULL, NULL, 'globex', NULL, NULL, NULL)$$,
     'its own row in tenant globex'),
    ('tap_wide', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9' WHERE id = 1$$,
     'row 1 handed to u9'),
    ('tap_wide', 'update', 'tenant', NULL,
     $$UPDATE tap_deals SET tenant = 'globex' WHERE id = 3$$,
     'row 3 moved to tenant globex'),
    -- no user / team / department ids
    ('tap_noattr', 'create', 'scope', NULL,
     $$INSERT INTO tap_deals VALUES (191, NULL, NULL, NULL, 'acme', NULL, NULL, NULL)$$,
     'a row with NULL owner, team and department'),
    ('tap_noattr', 'create', 'scope', NULL,
     $$INSERT INTO tap_deals VALUES (192, 'u1', 't1', 'd1', 'acme', NULL, NULL, NULL)$$,
     'a row with an owner, team and department'),
    -- no tenant: nothing can be created, whatever the scope
    ('tap_notenant', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (201, 'u1', 't1', 'd1', 'acme', NULL, NULL, NULL)$$,
     'a row of tenant acme'),
    ('tap_notenant', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (202, 'u1', 't1', 'd1', NULL, NULL, NULL, NULL)$$,
     'a row without a tenant'),
    ('tap_noprincipal', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (211, NULL, NULL, NULL, 'acme', NULL, NULL, NULL)$$,
     'a row of tenant acme'),
    -- the other tenant
    ('tap_other', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (221, 'u1', 't1', 'd1', 'globex', NULL, NULL, NULL)$$,
     'a row of tenant globex'),
    ('tap_other', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (222, 'u1', 't1', 'd1', 'acme', NULL, NULL, NULL)$$,
     'a row of tenant acme'),
    ('tap_other', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9' WHERE id = 8$$,
     'row 8 re-owned'),
    ('tap_other', 'update', 'tenant', NULL,
     $$UPDATE tap_deals SET tenant = 'acme' WHERE id = 7$$,
     'row 7 moved to tenant acme'),
    ('tap_other_owned', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (231, 'u1', NULL, NULL, 'globex', NULL, NULL, NULL)$$,
     'its own globex row'),
    ('tap_other_owned', 'create', 'scope', 'owned',
     $$INSERT INTO tap_deals VALUES (232, 'u2', NULL, NULL, 'globex', NULL, NULL, NULL)$$,
     'a globex row of u2'),
    ('tap_other_owned', 'create', 'tenant', NULL,
     $$INSERT INTO tap_deals VALUES (233, 'u1', NULL, NULL, 'acme', NULL, NULL, NULL)$$,
     'its own row in tenant acme'),
    ('tap_other_owned', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET team_id = 't9' WHERE id = 7$$,
     'row 7 keeps its owner'),
    ('tap_other_owned', 'update', 'scope', 'owned',
     $$UPDATE tap_deals SET owner_id = 'u2' WHERE id = 7$$,
     'row 7 handed to u2'),
    ('tap_other_owned', 'update', 'tenant', NULL,
     $$UPDATE tap_deals SET tenant = 'acme' WHERE id = 7$$,
     'row 7 moved to tenant acme'),
    -- one scope per action: create department d1, update team t1
    ('tap_mixed', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (241, 'u9', 't9', 'd1', 'acme', NULL, NULL, NULL)$$,
     'a row of department d1 (neither its user nor its team)'),
    ('tap_mixed', 'create', 'scope', 'department',
     $$INSERT INTO tap_deals VALUES (242, 'u1', 't1', 'd2', 'acme', NULL, NULL, NULL)$$,
     'its own row of team t1 in department d2'),
    ('tap_mixed', 'update', 'ok', NULL,
     $$UPDATE tap_deals SET owner_id = 'u9', dept_id = 'd9' WHERE id = 1$$,
     'row 1 re-owned, still team t1'),
    ('tap_mixed', 'update', 'scope', 'team',
     $$UPDATE tap_deals SET team_id = 't2', owner_id = 'u1' WHERE id = 2$$,
     'row 2 moved to team t2 (even though made its own)'),
    -- attribute values that need quoting in an array literal
    ('tap_quoted_team', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (251, NULL, 'x}', NULL, 'acme', NULL, NULL, NULL)$$,
     'a row of team ''x}'''),
    ('tap_quoted_dept', 'create', 'ok', NULL,
     $$INSERT INTO tap_deals VALUES (261, NULL, NULL, 'NULL', 'acme', NULL, NULL, NULL)$$,
     'a row of department ''NULL'''),
    ('tap_quoted_dept', 'create', 'scope', 'department',
     $$INSERT INTO tap_deals VALUES (262, NULL, NULL, NULL, 'acme', NULL, NULL, NULL)$$,
     'a row whose department is NULL');

-- One assertion per write (76).
SELECT CASE w.expect
         WHEN 'ok' THEN
             lives_ok(format('SELECT pg_temp.as_role(%L, %L)', w.principal, w.stmt),
                      format('%s: %s %s -> allowed', w.principal, w.action, w.label))
         ELSE
             throws_ok(format('SELECT pg_temp.as_role(%L, %L)', w.principal, w.stmt),
                       '42501', pg_temp.row_denied(w.principal, w.action),
                       format('%s: %s %s -> denied (%s)', w.principal, w.action, w.label,
                              CASE w.expect WHEN 'tenant' THEN 'tenant boundary'
                                            ELSE 'outside its scope' END))
       END
  FROM writes w
 ORDER BY w.ord;

-- The detail of every denial whose detail is known (40): the scope it fell
-- outside of, or the tenant boundary.
SELECT is(pg_temp.detail_as(w.principal, w.stmt),
          CASE w.expect WHEN 'tenant' THEN pg_temp.tenant_detail()
                        ELSE pg_temp.scope_detail(w.action, w.scopes) END,
          format('%s: %s %s -> the detail names %s', w.principal, w.action, w.label,
                 CASE w.expect WHEN 'tenant' THEN 'the tenant column'
                               ELSE 'scope ' || w.scopes END))
  FROM writes w
 WHERE w.expect = 'tenant' OR (w.expect = 'scope' AND w.scopes IS NOT NULL)
 ORDER BY w.ord;

-- ---------------------------------------------------------------------------
-- Around the matrix (7)
-- ---------------------------------------------------------------------------

-- Naming a row of another tenant (or of none) by id does not reach it.
SELECT is(pg_temp.ids_as('tap_all', 'UPDATE tap_deals SET tenant = ''acme'' WHERE id IN (7, 8, 10) RETURNING id'),
          '{}', 'tap_all: UPDATE of the globex and tenant-less rows by id touches nothing');
SELECT is(pg_temp.ids_as('tap_other', 'DELETE FROM tap_deals WHERE id IN (1, 2, 10) RETURNING id'),
          '{}', 'tap_other: DELETE of acme and tenant-less rows by id touches nothing');

-- The custom scope is resolved with search_path pg_catalog, crmperm, not the
-- session's: a public.user_id() first on the path changes nothing.
CREATE FUNCTION public.user_id() RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'u1'::text $$;
GRANT EXECUTE ON FUNCTION public.user_id() TO PUBLIC;
SET LOCAL search_path = public, crmperm, pg_catalog;
SELECT is(pg_temp.ids_as('tap_assist', 'SELECT id FROM tap_deals'),
          '{2,5,9}', 'tap_assist: a public.user_id() on the session search_path is not what the scope calls');
RESET search_path;

-- A custom scope follows the data, not a cache: the predicate is evaluated
-- per row, so a row reopened by the superuser is in scope at once.
UPDATE tap_deals SET closed = false WHERE id = 3;
SELECT is(pg_temp.ids_as('tap_eu', 'SELECT id FROM tap_deals'),
          '{1,3,4,9}', 'tap_eu: row 3 reopened is in scope at the next statement');
UPDATE tap_deals SET closed = true WHERE id = 3;

-- Nothing the matrix ran stuck.
SELECT is((SELECT string_agg(t::text, '|' ORDER BY id) FROM tap_deals t),
          $$(1,u1,t1,d1,acme,eu,f,,seed)|(2,u2,t1,d1,acme,us,f,,seed)|(3,u3,t2,d1,acme,eu,t,,seed)|(4,u1,t2,d2,acme,eu,f,,seed)|(5,u4,t3,d2,acme,us,f,u2,seed)|(6,,,,acme,,,,seed)|(7,u1,t1,d1,globex,eu,f,,seed)|(8,u5,t5,d5,globex,eu,f,u2,seed)|(9,u2,,d2,acme,eu,f,,seed)|(10,u1,t1,d1,,eu,f,,seed)|(11,u6,t2,,acme,eu,,,seed)|(12,o'brien,"sales, ""east""",NULL,acme,,,,seed)$$,
          'the fixture is exactly as seeded after the matrix');
SELECT is(current_user::text, session_user::text, 'the helpers leave the session role as it was');
SELECT is((SELECT count(*) FROM writes), 76::bigint, 'the write list has 76 entries');

SELECT * FROM finish();
ROLLBACK;

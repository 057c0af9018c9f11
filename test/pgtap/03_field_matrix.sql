-- 03_field_matrix.sql: the field security matrix, field x principal x privilege.
--
-- One managed table (resource "contacts") with two rows (owners u1 and u2),
-- an unprotected column and seven protected fields, one per mask and one
-- read-only:
--   f_null     text           mask null
--   f_redact   numeric(10,2)  mask redact   (0)
--   f_partial  text           mask partial ("****" and the last 4 characters)
--   f_email    text           mask email   ("****@" and the domain)
--   f_hash     text           mask hash    (HMAC-SHA-256 keyed with crmperm.secret,
--                                          recomputed here in SQL)
--   f_func     date           mask public.fm_mask_year(date) (first of the year)
--   f_ro       text           mask redact ("****"), read-only
-- and eight principals, the same field grant on every field:
--   fm_none    no field grant                 fm_rcu     {read,create,update}
--   fm_r       {read}                         fm_scoped  {read} scope owned (u1)
--   fm_rc      {read,create}                  fm_owner   owns the table (no grant)
--   fm_ru      {read,update}                  fm_super   super admin (no grant)
-- Every governed principal has read, create and update on the rows (scope
-- all), so only field security decides.
--
-- For every (field, principal):
--   read    SELECT field ... ORDER BY id    -> the real values or the masks
--                                              (fm_scoped: real on row 1 only)
--   create  INSERT setting the field        -> lives_ok, or throws_ok 42501
--                                              with the exact message
--   update  UPDATE changing it on row 1     -> lives_ok, or throws_ok 42501
--   copy    UPDATE ... SET name = field     -> the unprotected column gets
--                                              what a read shows, masks included
-- and the detail of every denial (the grants held, or "read-only").
--
-- Around the matrix: predicates see the mask, a whole-row reference is masked,
-- the hash mask cannot be called directly, writes that leave the protected
-- fields alone pass for everyone, and scoped field writes are checked per row.
--
-- As in 01 and 02, every statement runs as the principal through SET LOCAL
-- ROLE inside a subtransaction that is always rolled back, so the fixture
-- never changes and the pgTAP bookkeeping stays with the superuser.
--
-- Run: pg_prove -h /tmp/dev -p 5499 -d <db> test/pgtap/03_field_matrix.sql
-- (the database needs CREATE EXTENSION pgtap, crmperm; the server
-- shared_preload_libraries = crmperm).  Everything is rolled back.

BEGIN;
SELECT plan(322);

SET LOCAL DateStyle = 'ISO, YMD';

-- ---------------------------------------------------------------------------
-- Fixture
-- ---------------------------------------------------------------------------

CREATE TABLE fm_contacts (
    id        int PRIMARY KEY,
    owner_id  text,
    name      text,            -- not protected
    f_null    text,
    f_redact  numeric(10, 2),
    f_partial text,
    f_email   text,
    f_hash    text,
    f_func    date,
    f_ro      text
);

INSERT INTO fm_contacts VALUES
    (1, 'u1', 'Alice', 'secret-one', 913377.77, '+1 555 0100 4242', 'alice@example.com',
     'SSN-111-22-3333', '1980-05-17', 'ACME-0001'),
    (2, 'u2', 'Bob',   'secret-two', 1234.50,   '0044 20 7946 0958', 'bob.roe@example.org',
     'SSN-444-55-6666', '1975-11-02', 'ACME-0002');

-- A mask function: it gets the real value and returns the column's type.  It
-- runs in the reader's session, so it must pin its search_path.
CREATE FUNCTION public.fm_mask_year(v date) RETURNS date
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$ SELECT date_trunc('year', v)::date $$;

-- Native privileges: everything, through one group.  crmperm only narrows.
CREATE ROLE fm_users  NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON fm_contacts TO fm_users;

CREATE ROLE fm_none    NOLOGIN IN ROLE fm_users;
CREATE ROLE fm_r       NOLOGIN IN ROLE fm_users;
CREATE ROLE fm_rc      NOLOGIN IN ROLE fm_users;
CREATE ROLE fm_ru      NOLOGIN IN ROLE fm_users;
CREATE ROLE fm_rcu     NOLOGIN IN ROLE fm_users;
CREATE ROLE fm_scoped  NOLOGIN IN ROLE fm_users;
CREATE ROLE fm_owner   NOLOGIN;
CREATE ROLE fm_super   NOLOGIN IN ROLE fm_users;
CREATE ROLE fm_scoped_w NOLOGIN IN ROLE fm_users;   -- around the matrix: scoped writes
ALTER TABLE fm_contacts OWNER TO fm_owner;

DO $$
DECLARE
    f text;
    crud CONSTANT text[] := ARRAY['read', 'create', 'update', 'delete'];
BEGIN
    PERFORM crmperm.manage_table('fm_contacts', 'contacts', owner_column => 'owner_id');
    PERFORM crmperm.protect_field('contacts', 'f_null');                  -- mask null by default
    PERFORM crmperm.protect_field('contacts', 'f_redact', 'redact');
    PERFORM crmperm.protect_field('contacts', 'f_partial', 'partial');
    PERFORM crmperm.protect_field('contacts', 'f_email', 'email');
    PERFORM crmperm.protect_field('contacts', 'f_hash', 'hash');
    PERFORM crmperm.protect_field('contacts', 'f_func', 'fm_mask_year');  -- resolved on search_path
    PERFORM crmperm.protect_field('contacts', 'f_ro', 'redact', readonly => true);

    PERFORM crmperm.create_permission_set('fm none');
    PERFORM crmperm.grant('fm none', 'contacts', crud);
    PERFORM crmperm.create_permission_set('fm r');
    PERFORM crmperm.grant('fm r', 'contacts', crud);
    PERFORM crmperm.create_permission_set('fm rc');
    PERFORM crmperm.grant('fm rc', 'contacts', crud);
    PERFORM crmperm.create_permission_set('fm ru');
    PERFORM crmperm.grant('fm ru', 'contacts', crud);
    PERFORM crmperm.create_permission_set('fm rcu');
    PERFORM crmperm.grant('fm rcu', 'contacts', crud);
    PERFORM crmperm.create_permission_set('fm scoped');
    PERFORM crmperm.grant('fm scoped', 'contacts', crud);
    PERFORM crmperm.create_permission_set('fm scoped w');
    PERFORM crmperm.grant('fm scoped w', 'contacts', crud);
    FOREACH f IN ARRAY ARRAY['f_null', 'f_redact', 'f_partial', 'f_email', 'f_hash', 'f_func', 'f_ro']
    LOOP
        PERFORM crmperm.grant_field('fm r', 'contacts', f, ARRAY['read']);
        PERFORM crmperm.grant_field('fm rc', 'contacts', f, ARRAY['read', 'create']);
        PERFORM crmperm.grant_field('fm ru', 'contacts', f, ARRAY['read', 'update']);
        PERFORM crmperm.grant_field('fm rcu', 'contacts', f, ARRAY['read', 'create', 'update']);
        PERFORM crmperm.grant_field('fm scoped', 'contacts', f, ARRAY['read'], 'owned');
    END LOOP;
    PERFORM crmperm.grant_field('fm scoped w', 'contacts', 'f_null',
                                ARRAY['read', 'create', 'update'], 'owned');

    PERFORM crmperm.assign_permission_set('fm_none', 'fm none');
    PERFORM crmperm.assign_permission_set('fm_r', 'fm r');
    PERFORM crmperm.assign_permission_set('fm_rc', 'fm rc');
    PERFORM crmperm.assign_permission_set('fm_ru', 'fm ru');
    PERFORM crmperm.assign_permission_set('fm_rcu', 'fm rcu');
    PERFORM crmperm.assign_permission_set('fm_scoped', 'fm scoped');
    PERFORM crmperm.assign_permission_set('fm_scoped_w', 'fm scoped w');
    PERFORM crmperm.set_super_admin('fm_super', true);

    PERFORM crmperm.set_principal('fm_none', user_id => 'u1');
    PERFORM crmperm.set_principal('fm_r', user_id => 'u1');
    PERFORM crmperm.set_principal('fm_rc', user_id => 'u1');
    PERFORM crmperm.set_principal('fm_ru', user_id => 'u1');
    PERFORM crmperm.set_principal('fm_rcu', user_id => 'u1');
    PERFORM crmperm.set_principal('fm_scoped', user_id => 'u1');
    PERFORM crmperm.set_principal('fm_scoped_w', user_id => 'u1');
END
$$;

-- ---------------------------------------------------------------------------
-- Helpers.  Each runs the statement as the principal in a subtransaction that
-- is always rolled back (the role switch included).
-- ---------------------------------------------------------------------------

-- vals_as(principal, statement): the values of its first column as text, in
-- the statement's order, or {'SQLSTATE: message'} if it failed.
CREATE FUNCTION pg_temp.vals_as(principal name, stmt text) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    v text;                -- each value arrives in its text form
    vals text[] := '{}';
    state text;
    msg text;
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', principal);
        FOR v IN EXECUTE stmt LOOP
            vals := vals || v;
        END LOOP;
        RAISE EXCEPTION USING ERRCODE = 'TAPOK', MESSAGE = vals::text;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    RETURN CASE WHEN state = 'TAPOK' THEN msg::text[] ELSE ARRAY[state || ': ' || msg] END;
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

-- HMAC-SHA-256 (RFC 2104) in SQL, to recompute the hash mask independently.
CREATE FUNCTION pg_temp.hmac_sha256(key bytea, msg bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k bytea := key;
    ipad bytea;
    opad bytea;
BEGIN
    IF length(k) > 64 THEN
        k := sha256(k);
    END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);   -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);   -- 0x5c
    END LOOP;
    RETURN encode(sha256(opad || sha256(ipad || msg)), 'hex');
END
$$;

CREATE FUNCTION pg_temp.hash_mask(v text) RETURNS text
LANGUAGE sql AS $$
    SELECT pg_temp.hmac_sha256((SELECT key FROM crmperm.secret), convert_to(v, 'UTF8'))
$$;

-- The exact denial texts of src/errors.c (crm_deny_field, crm_deny_scope).
CREATE FUNCTION pg_temp.field_denied(principal name, field text, privilege text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('permission denied: role "%s" lacks "contacts.%s.%s"', principal, field, privilege)
$$;
CREATE FUNCTION pg_temp.field_detail(field text, granted text, readonly boolean) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE WHEN readonly
                THEN format('Field "contacts.%s" is read-only: only super admins may set or change it.', field)
                ELSE format('Granted on field contacts.%s: %s.', field, granted) END
$$;

-- ---------------------------------------------------------------------------
-- The two axes
-- ---------------------------------------------------------------------------

-- Fields: the real values of rows 1 and 2, what a principal without read
-- sees instead, and the value the writes set (a SQL literal).
CREATE TEMP TABLE fields (ord int, field text, readonly boolean,
                          real1 text, real2 text, mask1 text, mask2 text, newval text);
INSERT INTO fields VALUES
    (1, 'f_null',    false, 'secret-one',        'secret-two',
        NULL,               NULL,               $$'new-secret'$$),
    (2, 'f_redact',  false, '913377.77',         '1234.50',
        '0',                '0',                $$42.00$$),
    (3, 'f_partial', false, '+1 555 0100 4242',  '0044 20 7946 0958',
        '****4242',         '****0958',         $$'+1 555 0199 9999'$$),
    (4, 'f_email',   false, 'alice@example.com', 'bob.roe@example.org',
        '****@example.com', '****@example.org', $$'new@example.net'$$),
    (5, 'f_hash',    false, 'SSN-111-22-3333',   'SSN-444-55-6666',
        pg_temp.hash_mask('SSN-111-22-3333'), pg_temp.hash_mask('SSN-444-55-6666'),
                                                $$'SSN-777-88-9999'$$),
    (6, 'f_func',    false, '1980-05-17',        '1975-11-02',
        '1980-01-01',       '1975-01-01',       $$'2000-02-29'$$),
    (7, 'f_ro',      true,  'ACME-0001',         'ACME-0002',
        '****',             '****',             $$'ACME-0099'$$);

-- Principals: what they read (real / mask / scoped = real on row 1 only),
-- whether they may set (create) and change (update) a field that is not
-- read-only, and a read-only one; and the grant the denial detail lists.
CREATE TEMP TABLE principals (ord int, principal name, reads text,
                              can_create boolean, can_update boolean,
                              ro_create boolean, ro_update boolean, granted text, why text);
INSERT INTO principals VALUES
    (1, 'fm_none',   'mask',   false, false, false, false, 'nothing',
        'no field grant: default deny'),
    (2, 'fm_r',      'real',   false, false, false, false, 'read',
        '{read}'),
    (3, 'fm_rc',     'real',   true,  false, false, false, 'read, create',
        '{read,create}: create-once'),
    (4, 'fm_ru',     'real',   false, true,  false, false, 'read, update',
        '{read,update}'),
    (5, 'fm_rcu',    'real',   true,  true,  false, false, 'read, create, update',
        '{read,create,update}: all but read-only'),
    (6, 'fm_scoped', 'scoped', false, false, false, false, 'read',
        '{read} owned, user u1: real on row 1 only'),
    (7, 'fm_owner',  'real',   true,  true,  false, false, NULL,
        'table owner: exempt, but read-only holds'),
    (8, 'fm_super',  'real',   true,  true,  true,  true,  NULL,
        'super admin: everything, read-only included');

-- ---------------------------------------------------------------------------
-- Fixture sanity (3)
-- ---------------------------------------------------------------------------

SELECT is(pg_temp.hmac_sha256('Jefe', 'what do ya want for nothing?'),
          '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
          'the SQL HMAC-SHA-256 matches RFC 4231 test case 2');
SELECT is((SELECT string_agg(c::text, '|' ORDER BY id) FROM fm_contacts c),
          '(1,u1,Alice,secret-one,913377.77,"+1 555 0100 4242",alice@example.com,SSN-111-22-3333,1980-05-17,ACME-0001)|'
          '(2,u2,Bob,secret-two,1234.50,"0044 20 7946 0958",bob.roe@example.org,SSN-444-55-6666,1975-11-02,ACME-0002)',
          'the superuser reads every real value');
SELECT is((SELECT array_agg(field || ' ' || mask || CASE WHEN readonly THEN ' readonly' ELSE '' END
                            ORDER BY field)
             FROM crmperm.fields WHERE resource = 'contacts'),
          ARRAY['f_email email', 'f_func public.fm_mask_year', 'f_hash hash', 'f_null null',
                'f_partial partial', 'f_redact redact', 'f_ro redact readonly']::text[],
          'seven protected fields, the mask function stored schema-qualified');

-- ---------------------------------------------------------------------------
-- Reads: 7 fields x 8 principals = 56.
-- ---------------------------------------------------------------------------

SELECT is(pg_temp.vals_as(p.principal, format('SELECT %I AS v FROM fm_contacts ORDER BY id', f.field)),
          CASE p.reads WHEN 'real' THEN ARRAY[f.real1, f.real2]
                       WHEN 'mask' THEN ARRAY[f.mask1, f.mask2]
                       ELSE ARRAY[f.real1, f.mask2] END,
          format('%s reads %s: %s (%s)', p.principal, f.field,
                 CASE p.reads WHEN 'real' THEN 'real values' WHEN 'mask' THEN 'the mask'
                              ELSE 'real on its row, the mask on the other' END, p.why))
  FROM fields f CROSS JOIN principals p
 ORDER BY f.ord, p.ord;

-- ---------------------------------------------------------------------------
-- Copies: 7 fields x 8 principals = 56.  A write that reads a field sees what
-- a SELECT sees: UPDATE ... SET name = field copies the mask, never the value,
-- into the unprotected column (read back through RETURNING, then undone).
-- ---------------------------------------------------------------------------

SELECT is(pg_temp.vals_as(p.principal,
              format('WITH u AS (UPDATE fm_contacts SET name = %I::text RETURNING id, name) '
                     'SELECT name FROM u ORDER BY id', f.field)),
          CASE p.reads WHEN 'real' THEN ARRAY[f.real1, f.real2]
                       WHEN 'mask' THEN ARRAY[f.mask1, f.mask2]
                       ELSE ARRAY[f.real1, f.mask2] END,
          format('%s copies %s into an unprotected column: %s', p.principal, f.field,
                 CASE p.reads WHEN 'real' THEN 'real values' WHEN 'mask' THEN 'the mask'
                              ELSE 'real on its row, the mask on the other' END))
  FROM fields f CROSS JOIN principals p
 ORDER BY f.ord, p.ord;

-- ---------------------------------------------------------------------------
-- Writes: 7 fields x 8 principals x {create, update} = 112.
-- create: INSERT a new row (owner u1) setting the field.
-- update: UPDATE row 1 (owner u1) changing the field.
-- ---------------------------------------------------------------------------

CREATE TEMP TABLE writes AS
SELECT f.ord * 100 + p.ord * 10 + a.n AS ord, p.principal, f.field, f.readonly, p.granted,
       a.privilege,
       CASE WHEN a.privilege = 'create'
            THEN CASE WHEN f.readonly THEN p.ro_create ELSE p.can_create END
            ELSE CASE WHEN f.readonly THEN p.ro_update ELSE p.can_update END END AS allowed,
       CASE WHEN a.privilege = 'create'
            THEN format('INSERT INTO fm_contacts (id, owner_id, %I) VALUES (100, %L, %s)',
                        f.field, 'u1', f.newval)
            ELSE format('UPDATE fm_contacts SET %I = %s WHERE id = 1', f.field, f.newval) END AS stmt
  FROM fields f CROSS JOIN principals p
 CROSS JOIN (VALUES (1, 'create'), (2, 'update')) AS a(n, privilege);

SELECT CASE WHEN w.allowed THEN
           lives_ok(format('SELECT pg_temp.as_role(%L, %L)', w.principal, w.stmt),
                    format('%s: %s %s -> allowed', w.principal, w.privilege, w.field))
       ELSE
           throws_ok(format('SELECT pg_temp.as_role(%L, %L)', w.principal, w.stmt),
                     '42501', pg_temp.field_denied(w.principal, w.field, w.privilege),
                     format('%s: %s %s -> denied', w.principal, w.privilege, w.field))
       END
  FROM writes w
 ORDER BY w.ord;

-- The detail of every denial (62): the field's grant, or "read-only".
SELECT is(pg_temp.detail_as(w.principal, w.stmt),
          pg_temp.field_detail(w.field, w.granted, w.readonly),
          format('%s: %s %s -> the detail says %s', w.principal, w.privilege, w.field,
                 CASE WHEN w.readonly THEN 'read-only' ELSE 'granted: ' || w.granted END))
  FROM writes w
 WHERE NOT w.allowed
 ORDER BY w.ord;

-- ---------------------------------------------------------------------------
-- Predicates see the mask (8): a filter on the real e-mail addresses finds
-- only the rows whose real value the principal may read.
-- ---------------------------------------------------------------------------

SELECT is(pg_temp.vals_as(p.principal,
              $$SELECT id AS v FROM fm_contacts WHERE f_email LIKE 'alice%' OR f_email LIKE 'bob.%' ORDER BY id$$),
          CASE p.reads WHEN 'real' THEN '{1,2}' WHEN 'mask' THEN '{}' ELSE '{1}' END::text[],
          format('%s: WHERE on f_email finds %s', p.principal,
                 CASE p.reads WHEN 'real' THEN 'both rows' WHEN 'mask' THEN 'nothing'
                              ELSE 'only its own row' END))
  FROM principals p
 ORDER BY p.ord;

-- ---------------------------------------------------------------------------
-- Around the matrix
-- ---------------------------------------------------------------------------

-- A whole-row reference is masked field by field (1).
SELECT is(pg_temp.vals_as('fm_none', 'SELECT c AS v FROM fm_contacts c ORDER BY id'),
          ARRAY[format('(1,u1,Alice,,0,****4242,****@example.com,%s,1980-01-01,****)',
                       pg_temp.hash_mask('SSN-111-22-3333')),
                format('(2,u2,Bob,,0,****0958,****@example.org,%s,1975-01-01,****)',
                       pg_temp.hash_mask('SSN-444-55-6666'))],
          'fm_none: a whole-row reference holds the masks');

-- The hash mask function refuses to run where crmperm did not put it: it
-- would hash a dictionary of guesses to compare with the masks (1).
SELECT is(pg_temp.vals_as('fm_none', $$SELECT crmperm._mask_hash('SSN-111-22-3333') AS v$$),
          ARRAY['42501: permission denied: crmperm._mask_hash() is applied by crmperm only'],
          'fm_none: calling crmperm._mask_hash() directly is denied');

-- Writes that leave the protected fields alone pass for everyone (16).
SELECT lives_ok(format('SELECT pg_temp.as_role(%L, %L)', p.principal,
                       $$INSERT INTO fm_contacts (id, owner_id, name) VALUES (100, 'u1', 'Carol')$$),
                format('%s: INSERT without protected fields -> allowed', p.principal))
  FROM principals p
 ORDER BY p.ord;
SELECT lives_ok(format('SELECT pg_temp.as_role(%L, %L)', p.principal,
                       $$UPDATE fm_contacts SET name = 'Alicia' WHERE id = 1$$),
                format('%s: UPDATE of an unprotected column -> allowed', p.principal))
  FROM principals p
 ORDER BY p.ord;

-- Scoped field writes (5): fm_scoped_w holds {read,create,update} on f_null
-- with scope owned (user u1), checked per row.
SELECT is(pg_temp.vals_as('fm_scoped_w', 'SELECT f_null AS v FROM fm_contacts ORDER BY id'),
          ARRAY['secret-one', NULL],
          'fm_scoped_w: reads f_null on its own row only');
SELECT lives_ok($$SELECT pg_temp.as_role('fm_scoped_w',
                    'INSERT INTO fm_contacts (id, owner_id, f_null) VALUES (100, ''u1'', ''x'')')$$,
                'fm_scoped_w: create f_null on a row it owns -> allowed');
SELECT throws_ok($$SELECT pg_temp.as_role('fm_scoped_w',
                     'INSERT INTO fm_contacts (id, owner_id, f_null) VALUES (100, ''u2'', ''x'')')$$,
                 '42501', 'permission denied: role "fm_scoped_w" lacks "contacts.f_null.create" for this row',
                 'fm_scoped_w: create f_null on a row of u2 -> denied for this row');
SELECT lives_ok($$SELECT pg_temp.as_role('fm_scoped_w',
                    'UPDATE fm_contacts SET f_null = ''x'' WHERE id = 1')$$,
                'fm_scoped_w: update f_null on its own row -> allowed');
SELECT throws_ok($$SELECT pg_temp.as_role('fm_scoped_w',
                     'UPDATE fm_contacts SET f_null = ''x'' WHERE id = 2')$$,
                 '42501', 'permission denied: role "fm_scoped_w" lacks "contacts.f_null.update" for this row',
                 'fm_scoped_w: update f_null on a row of u2 -> denied for this row');

-- Nothing the matrix ran stuck (2).
SELECT is((SELECT string_agg(c::text, '|' ORDER BY id) FROM fm_contacts c),
          '(1,u1,Alice,secret-one,913377.77,"+1 555 0100 4242",alice@example.com,SSN-111-22-3333,1980-05-17,ACME-0001)|'
          '(2,u2,Bob,secret-two,1234.50,"0044 20 7946 0958",bob.roe@example.org,SSN-444-55-6666,1975-11-02,ACME-0002)',
          'the fixture is exactly as seeded after the matrix');
SELECT is(current_user::text, session_user::text, 'the helpers leave the session role as it was');

SELECT * FROM finish();
ROLLBACK;

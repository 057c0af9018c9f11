-- Field security, the admin API: protect_field, unprotect_field, grant_field
-- and revoke_field validate every argument and change nothing when they
-- fail; strict fields, renamed and dropped columns; and the mask of each
-- type, read by a principal without field grants.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE fl_users NOLOGIN;
CREATE ROLE fl_reader LOGIN IN ROLE fl_users;   -- reads, no field grants
CREATE ROLE fl_admin LOGIN;                     -- holds manage_permissions
CREATE ROLE fl_user LOGIN;                      -- does not
CREATE ROLE fl_owner LOGIN;                     -- owns a mask function
CREATE TABLE fl_contacts (id int PRIMARY KEY, owner_id text, name text, email text,
                          phone text, title text, score int, budget numeric, pos point,
                          doc tsvector);
CREATE TABLE fl_noowner (id int PRIMARY KEY, secret text);
INSERT INTO fl_contacts VALUES (1, 'u1', 'Ada', 'ada@example.com', '555-0100', 'CEO', 7, 1000,
                                '(1,2)', 'ada');
GRANT SELECT ON fl_contacts, fl_noowner TO fl_users;
SELECT crmperm.manage_table('fl_contacts', owner_column => 'owner_id');
SELECT crmperm.manage_table('fl_noowner');
SELECT crmperm.create_permission_set('FL reps');
SELECT crmperm.grant('FL reps', 'fl_contacts', ARRAY['read']);
SELECT crmperm.grant('FL reps', 'fl_noowner', ARRAY['read']);
SELECT crmperm.assign_permission_set('fl_reader', 'FL reps');

-- the field catalog of this test, to show that failed calls change nothing
CREATE FUNCTION fl_counts() RETURNS text LANGUAGE sql AS $$
  SELECT 'fields: ' || (SELECT count(*) FROM crmperm.fields WHERE resource LIKE 'fl\_%') ||
         ', grants: ' || (SELECT count(*) FROM crmperm.field_grants WHERE resource LIKE 'fl\_%') $$;
CREATE FUNCTION fl_digest() RETURNS text LANGUAGE sql AS $$
  SELECT md5(coalesce(string_agg(t, '|' ORDER BY t), '')) FROM (
    SELECT f::text FROM crmperm.fields f WHERE resource LIKE 'fl\_%' UNION ALL
    SELECT g::text FROM crmperm.field_grants g WHERE resource LIKE 'fl\_%') c(t) $$;
SELECT crmperm.protect_field('fl_contacts', 'phone');
SELECT fl_counts() AS counts_before, fl_digest() AS before \gset

-- protect_field: arguments
SELECT crmperm.protect_field(NULL, 'email');
SELECT crmperm.protect_field('fl_contacts', NULL);
SELECT crmperm.protect_field('fl_contacts', 'email', NULL);
SELECT crmperm.protect_field('fl_contacts', 'email', 'null', NULL);
SELECT crmperm.protect_field('nosuch', 'email');
SELECT crmperm.protect_field('fl_contacts', 'nosuch');
SELECT crmperm.protect_field('fl_contacts', 'email', 'foo');
SELECT crmperm.protect_field('fl_contacts', 'email', 'NULL');
SELECT crmperm.protect_field('fl_contacts', 'email', '');
SELECT crmperm.protect_field('fl_contacts', 'email', 'null; drop table fl_contacts');
SELECT crmperm.protect_field('fl_contacts', 'email', 'redact''); DROP TABLE fl_contacts; --');
SELECT crmperm.protect_field('fl_contacts', 'email', 'a.b.c.d');
-- masks that do not fit the column's type
SELECT crmperm.protect_field('fl_contacts', 'score', 'partial');
SELECT crmperm.protect_field('fl_contacts', 'budget', 'email');
SELECT crmperm.protect_field('fl_contacts', 'score', 'hash');
SELECT crmperm.protect_field('fl_contacts', 'budget', 'hash');
SELECT crmperm.protect_field('fl_contacts', 'pos', 'redact');
SELECT crmperm.protect_field('fl_contacts', 'doc', 'redact');
-- a domain: a mask that can break its check is refused (else no masked read would work)
CREATE DOMAIN fl_email AS text CHECK (VALUE ~ '@');
CREATE TABLE fl_dom (id int PRIMARY KEY, e fl_email);
INSERT INTO fl_dom VALUES (1, 'ada@example.com');
GRANT SELECT ON fl_dom TO fl_users;
SELECT crmperm.manage_table('fl_dom');
SELECT crmperm.grant('FL reps', 'fl_dom', ARRAY['read']);
SELECT crmperm.protect_field('fl_dom', 'e', 'redact');
SELECT crmperm.protect_field('fl_dom', 'e', 'partial');
SET ROLE fl_reader;
SELECT * FROM fl_dom;
RESET ROLE;
SELECT crmperm.unmanage_table('fl_dom');
DROP TABLE fl_dom;
DROP DOMAIN fl_email;
-- mask functions: f(value) returning the column's type, found, plain, not
-- SECURITY DEFINER unless a superuser owns it, outside crmperm and pg_temp
CREATE SCHEMA fl_masks;
-- (and, unless C or BEGIN ATOMIC, with a pinned search_path: the body runs
-- in the reader's session)
CREATE FUNCTION fl_masks.initials(text) RETURNS text LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog AS $$ SELECT left($1, 1) || '.' $$;
CREATE FUNCTION fl_masks."Odd Name"(text) RETURNS text LANGUAGE sql
  BEGIN ATOMIC SELECT 'odd'; END;
CREATE FUNCTION fl_masks.unpinned(text) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
CREATE FUNCTION fl_masks.as_int(text) RETURNS int LANGUAGE sql AS $$ SELECT 0 $$;
CREATE FUNCTION fl_masks.many(text) RETURNS SETOF text LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION fl_masks.definer(text) RETURNS text LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT 'x' $$;
CREATE FUNCTION fl_masks.definer_su(text) RETURNS text LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog AS $$ SELECT 'x' $$;
ALTER FUNCTION fl_masks.definer(text) OWNER TO fl_owner;
-- an ordinary role owning a mask function could replace it with SELECT $1
CREATE FUNCTION fl_masks.replaceable(text) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
ALTER FUNCTION fl_masks.replaceable(text) OWNER TO fl_owner;
CREATE FUNCTION pg_temp.tmp(text) RETURNS text LANGUAGE sql AS $$ SELECT 'tmp' $$;
SELECT crmperm.protect_field('fl_contacts', 'email', 'fl_masks.nosuch');
SELECT crmperm.protect_field('fl_contacts', 'email', 'nosuch.initials');
SELECT crmperm.protect_field('fl_contacts', 'email', 'initials');       -- not on search_path
SELECT crmperm.protect_field('fl_contacts', 'email', 'fl_masks.as_int');
SELECT crmperm.protect_field('fl_contacts', 'email', 'fl_masks.many');
SELECT crmperm.protect_field('fl_contacts', 'email', 'fl_masks.definer');
SELECT crmperm.protect_field('fl_contacts', 'email', 'fl_masks.replaceable');
SELECT crmperm.protect_field('fl_contacts', 'email', 'fl_masks.unpinned');
SELECT crmperm.protect_field('fl_contacts', 'score', 'fl_masks.initials');
SELECT crmperm.protect_field('fl_contacts', 'email', 'crmperm._mask_partial');
SELECT crmperm.protect_field('fl_contacts', 'email', 'crmperm._mask_hash');
DO $$ BEGIN   -- (the temporary schema's number varies)
  PERFORM crmperm.protect_field('fl_contacts', 'email', 'pg_temp.tmp');
EXCEPTION WHEN others THEN
  RAISE WARNING '%', regexp_replace(SQLERRM, 'pg_temp_\d+', 'pg_temp_N');
END $$;
SELECT crmperm.protect_field('fl_contacts', 'email', 'tmp');
SELECT :'counts_before' AS before, fl_counts() AS after, fl_digest() = :'before' AS unchanged;
-- accepted: stored schema-qualified (and quoted where needed)
SET search_path = fl_masks, public;
SELECT crmperm.protect_field('fl_contacts', 'name', 'initials');
RESET search_path;
SELECT crmperm.protect_field('fl_contacts', 'email', 'lower');   -- pg_catalog is searched first
SELECT mask FROM crmperm.fields WHERE resource = 'fl_contacts' AND field = 'email';
SELECT crmperm.protect_field('fl_contacts', 'email', 'fl_masks."Odd Name"');
SELECT crmperm.protect_field('fl_contacts', 'title', ' FL_MASKS . definer_su ');
SELECT crmperm.protect_field('fl_contacts', 'budget', 'redact');
SELECT resource, field, mask, readonly FROM crmperm.fields
 WHERE resource LIKE 'fl\_%' ORDER BY resource, field;
-- the reader has no USAGE on schema fl_masks: the mask is applied all the same
SET ROLE fl_reader;
SELECT id, name, email, phone, title, budget FROM fl_contacts;
RESET ROLE;
GRANT USAGE ON SCHEMA fl_masks TO fl_users;
SET ROLE fl_reader;
SELECT id, name, email, phone, title, budget FROM fl_contacts;
RESET ROLE;
-- protecting again changes the mask and the read-only flag
SELECT crmperm.protect_field('fl_contacts', 'email', 'email', readonly => true);
SELECT field, mask, readonly FROM crmperm.fields WHERE resource = 'fl_contacts' AND field = 'email';
-- a mask function dropped later: reading fails closed
DROP FUNCTION fl_masks.initials(text);
SET ROLE fl_reader;
SELECT id, name FROM fl_contacts;
SELECT id, email FROM fl_contacts;
RESET ROLE;
SELECT crmperm.protect_field('fl_contacts', 'name', 'partial');
SET ROLE fl_reader;
SELECT id, name FROM fl_contacts;
RESET ROLE;
-- the hash mask works only where crmperm puts it
SELECT crmperm._mask_hash('ada@example.com');
SET ROLE fl_reader;
SELECT crmperm._mask_hash('ada@example.com');
RESET ROLE;
SELECT fl_counts() AS counts_before, fl_digest() AS before \gset

-- grant_field: arguments
SELECT crmperm.grant_field(NULL, 'fl_contacts', 'phone', ARRAY['read']);
SELECT crmperm.grant_field('Nope', 'fl_contacts', 'phone', ARRAY['read']);
SELECT crmperm.grant_field('FL reps', NULL, 'phone', ARRAY['read']);
SELECT crmperm.grant_field('FL reps', 'nosuch', 'phone', ARRAY['read']);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', NULL, ARRAY['read']);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'nosuch', ARRAY['read']);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'score', ARRAY['read']);   -- not protected
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', NULL);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY[]::text[]);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['read', NULL]);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['read', 'delete']);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['create']);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['update']);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['create', 'update']);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['read'], NULL);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['read'], 'vip');
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['read'], 'team');
SELECT :'counts_before' AS before, fl_counts() AS after, fl_digest() = :'before' AS unchanged;
SELECT crmperm.protect_field('fl_noowner', 'secret');
SELECT fl_counts() AS counts_before, fl_digest() AS before \gset
SELECT crmperm.grant_field('FL reps', 'fl_noowner', 'secret', ARRAY['read'], 'owned');
SELECT :'counts_before' AS before, fl_counts() AS after, fl_digest() = :'before' AS unchanged;
-- accepted: privileges in a fixed order, duplicates folded; granting again replaces
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['update', 'read', 'read']);
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'email', ARRAY['read'], 'owned');
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'email', ARRAY['read', 'create'], 'owned');
SELECT permission_set, resource, field, privileges, scope FROM crmperm.field_grants
 WHERE resource LIKE 'fl\_%' ORDER BY field;
SELECT fl_counts() AS counts_before, fl_digest() AS before \gset

-- revoke_field and unprotect_field: arguments
SELECT crmperm.revoke_field(NULL, 'fl_contacts', 'phone');
SELECT crmperm.revoke_field('Nope', 'fl_contacts', 'phone');
SELECT crmperm.revoke_field('FL reps', NULL, 'phone');
SELECT crmperm.revoke_field('FL reps', 'fl_contacts', NULL);
SELECT crmperm.revoke_field('FL reps', 'fl_contacts', 'nosuch');
SELECT crmperm.revoke_field('FL reps', 'fl_contacts', 'score');
SELECT crmperm.unprotect_field(NULL, 'phone');
SELECT crmperm.unprotect_field('nosuch', 'phone');
SELECT crmperm.unprotect_field('fl_contacts', NULL);
SELECT crmperm.unprotect_field('fl_contacts', 'nosuch');
SELECT crmperm.unprotect_field('fl_contacts', 'score');
SELECT :'counts_before' AS before, fl_counts() AS after, fl_digest() = :'before' AS unchanged;

-- who may call: superusers and holders of manage_permissions (42501 otherwise)
SELECT crmperm.create_permission_set('FL admins');
SELECT crmperm.grant_system('FL admins', 'manage_permissions');
SELECT crmperm.assign_permission_set('fl_admin', 'FL admins');
SET ROLE fl_user;
SELECT crmperm.protect_field('fl_contacts', 'score');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT crmperm.unprotect_field('fl_contacts', 'phone');
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'phone', ARRAY['read']);
SELECT crmperm.revoke_field('FL reps', 'fl_contacts', 'phone');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SET ROLE fl_admin;
SELECT crmperm.protect_field('fl_contacts', 'score', 'redact');
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'score', ARRAY['read']);
SELECT crmperm.revoke_field('FL reps', 'fl_contacts', 'score');
SELECT crmperm.unprotect_field('fl_contacts', 'score');
RESET ROLE;
SELECT :'counts_before' AS before, fl_counts() AS after, fl_digest() = :'before' AS unchanged;

-- a custom scope cannot be dropped while a field grant uses it
SELECT crmperm.define_scope('fl_contacts', 'vip', 'score > 5');
SELECT crmperm.grant_field('FL reps', 'fl_contacts', 'budget', ARRAY['read'], 'vip');
SELECT crmperm.drop_scope('fl_contacts', 'vip');
SELECT crmperm.revoke_field('FL reps', 'fl_contacts', 'budget');
SELECT crmperm.drop_scope('fl_contacts', 'vip');

-- renaming a column carries its protection and grants; dropping it removes them
ALTER TABLE fl_contacts RENAME COLUMN phone TO mobile;
ALTER TABLE fl_contacts RENAME COLUMN owner_id TO owner;
SELECT resource, field, mask FROM crmperm.fields WHERE resource = 'fl_contacts' ORDER BY field;
SELECT field, privileges, scope FROM crmperm.field_grants WHERE resource = 'fl_contacts' ORDER BY field;
SELECT owner_column FROM crmperm.resources WHERE resource = 'fl_contacts';
ALTER TABLE fl_contacts DROP COLUMN mobile;
SELECT resource, field, mask FROM crmperm.fields WHERE resource = 'fl_contacts' ORDER BY field;
SELECT field, privileges, scope FROM crmperm.field_grants WHERE resource = 'fl_contacts' ORDER BY field;
ALTER TABLE fl_contacts ADD COLUMN mobile text;   -- a new column: not protected
SELECT field FROM crmperm.fields WHERE resource = 'fl_contacts' AND field = 'mobile';
-- unprotecting a field removes its grants
SELECT crmperm.unprotect_field('fl_contacts', 'email');
SELECT field, privileges, scope FROM crmperm.field_grants WHERE resource = 'fl_contacts' ORDER BY field;

-- strict fields: every column protected, also columns added later; none
-- may be unprotected, masks may change
CREATE TABLE fl_strict (id int PRIMARY KEY, name text);
INSERT INTO fl_strict VALUES (1, 'Ada');
GRANT SELECT ON fl_strict TO fl_users;
SELECT crmperm.manage_table('fl_strict', strict_fields => true);
SELECT crmperm.grant('FL reps', 'fl_strict', ARRAY['read']);
SELECT field, mask, readonly FROM crmperm.fields WHERE resource = 'fl_strict' ORDER BY field;
ALTER TABLE fl_strict ADD COLUMN note text DEFAULT 'n1';
SELECT field, mask, readonly FROM crmperm.fields WHERE resource = 'fl_strict' ORDER BY field;
SELECT crmperm.unprotect_field('fl_strict', 'note');
SELECT crmperm.protect_field('fl_strict', 'name', 'redact');
SELECT crmperm.grant_field('FL reps', 'fl_strict', 'id', ARRAY['read']);
SET ROLE fl_reader;
SELECT * FROM fl_strict;
RESET ROLE;
SELECT crmperm.grant_field('FL reps', 'fl_strict', 'note', ARRAY['read']);
ALTER TABLE fl_strict RENAME COLUMN note TO remark;
SELECT field, mask, readonly FROM crmperm.fields WHERE resource = 'fl_strict' ORDER BY field;
SELECT field, privileges FROM crmperm.field_grants WHERE resource = 'fl_strict' ORDER BY field;
ALTER TABLE fl_strict DROP COLUMN name;
SELECT field, mask, readonly FROM crmperm.fields WHERE resource = 'fl_strict' ORDER BY field;

-- The masks of each type, as read by a principal without field grants.
-- null: NULL of the column's type.  redact: '****' for text types,
-- 0 for numbers, false, the epoch for dates and times, the nil uuid, JSON
-- null, the empty array.  partial: '****' and the last 4 characters.
-- email: '****@' and the domain.  hash: 64 hex digits, equal for equal values.
CREATE TABLE fl_types (id int PRIMARY KEY, t text, v varchar(10), n numeric, i int,
                       b boolean, d date, ts timestamptz, u uuid, j jsonb, a text[]);
INSERT INTO fl_types VALUES
  (1, 'Ada Lovelace', 'ada@x.org', 12.5, 42, true, '2024-05-01', '2024-05-01 10:00+00',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": 1}', '{a,b}'),
  (2, 'Bob', 'bob', 1, 1, true, '2024-05-02', '2024-05-02 10:00+00',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '[1]', '{c}');
GRANT SELECT ON fl_types TO fl_users;
SELECT crmperm.manage_table('fl_types');
SELECT crmperm.grant('FL reps', 'fl_types', ARRAY['read']);
SELECT crmperm.protect_field('fl_types', c) FROM unnest(ARRAY['t', 'v', 'n', 'i', 'b', 'd', 'ts', 'u', 'j', 'a']) c;
SET ROLE fl_reader;
SELECT * FROM fl_types ORDER BY id;
RESET ROLE;
SELECT crmperm.protect_field('fl_types', c, 'redact') FROM unnest(ARRAY['t', 'v', 'n', 'i', 'b', 'd', 'ts', 'u', 'j', 'a']) c;
SET ROLE fl_reader;
SELECT * FROM fl_types ORDER BY id;
SELECT pg_typeof(t) AS t, pg_typeof(v) AS v, pg_typeof(ts) AS ts, pg_typeof(a) AS a FROM fl_types LIMIT 1;
RESET ROLE;
SELECT crmperm.protect_field('fl_types', 't', 'partial');
SELECT crmperm.protect_field('fl_types', 'v', 'email');
SELECT crmperm.protect_field('fl_types', 'a', 'hash');
SELECT crmperm.protect_field('fl_types', 'j', 'hash');
SELECT crmperm.protect_field('fl_types', 'u', 'partial');
SELECT crmperm.protect_field('fl_types', 'v', 'hash');
SET ROLE fl_reader;
-- (the key is random per database: only the shape of the hash is shown)
SELECT id, t, length(v) AS v_length, v ~ '^[0-9a-f]{64}$' AS v_is_hex,
       v <> encode(sha256(convert_to(CASE id WHEN 1 THEN 'ada@x.org' ELSE 'bob' END, 'UTF8')), 'hex') AS v_keyed
  FROM fl_types ORDER BY id;
RESET ROLE;
SELECT crmperm.protect_field('fl_types', 'v', 'email');
SET ROLE fl_reader;
SELECT id, t, v FROM fl_types ORDER BY id;
RESET ROLE;
SELECT * FROM fl_types ORDER BY id;     -- the stored values, as superuser

-- cleanup
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['fl_contacts', 'fl_noowner', 'fl_strict', 'fl_types']::regclass[]) t;
DROP TABLE fl_contacts, fl_noowner, fl_strict, fl_types;
DROP SCHEMA fl_masks CASCADE;
DROP FUNCTION fl_counts(), fl_digest();
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['FL reps', 'FL admins']) n;
DROP ROLE fl_reader, fl_admin, fl_user, fl_owner, fl_users;

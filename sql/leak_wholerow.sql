-- Leak path: whole-row references.  A reference to the whole row of a
-- managed table (t, t.*, row_to_json(t), t::text, a function of the row
-- type, a row compared with another) becomes a ROW() of its columns with
-- every hidden field masked, at every query level, so the row carries the
-- masks and never the real values.  lwr_rep reads every row and no hidden
-- field; lwr_reader reads them all (the same queries, real values).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE lwr_deals (id int PRIMARY KEY, owner_id text, amount numeric(12,2), code text,
                        note text);
INSERT INTO lwr_deals VALUES (1, 'u1', 987654.32, 'SECRET-ALPHA', 'NOTE-ALPHA'),
                             (2, 'u2', 555.55, 'SECRET-BRAVO', 'NOTE-BRAVO');
CREATE ROLE lwr_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON lwr_deals TO lwr_users;
CREATE ROLE lwr_rep LOGIN IN ROLE lwr_users;
CREATE ROLE lwr_reader LOGIN IN ROLE lwr_users;
SELECT crmperm.manage_table('lwr_deals', owner_column => 'owner_id');
SELECT crmperm.protect_field('lwr_deals', 'amount');               -- null
SELECT crmperm.protect_field('lwr_deals', 'code', 'partial');
SELECT crmperm.protect_field('lwr_deals', 'note', 'redact');
SELECT crmperm.create_permission_set('LWR crud');
SELECT crmperm.grant('LWR crud', 'lwr_deals', ARRAY['read', 'create', 'update', 'delete']);
SELECT crmperm.create_permission_set('LWR fields');
SELECT crmperm.grant_field('LWR fields', 'lwr_deals', f, ARRAY['read'])
  FROM unnest(ARRAY['amount', 'code', 'note']) f;
SELECT crmperm.assign_permission_set('lwr_rep', 'LWR crud');
SELECT crmperm.assign_permission_set('lwr_reader', 'LWR crud');
SELECT crmperm.assign_permission_set('lwr_reader', 'LWR fields');
SELECT crmperm.set_principal('lwr_rep', user_id => 'u1');
SELECT crmperm.set_principal('lwr_reader', user_id => 'u1');

-- Functions of the row type: SQL (inlined by the planner) and plpgsql.
CREATE FUNCTION lwr_sql(lwr_deals) RETURNS text LANGUAGE sql AS
  $$ SELECT concat_ws('/', $1.amount, $1.code, $1.note) $$;
CREATE FUNCTION lwr_plpgsql(r lwr_deals) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN RETURN r::text; END $$;
CREATE FUNCTION lwr_leak(r lwr_deals) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
  $$ BEGIN RAISE NOTICE 'lwr_leak saw %', r; RETURN true; END $$;
-- A view (security_invoker: the caller's masks) and one owned by lwr_rep
-- (a definer view: lwr_rep's masks; as in leak_views, another caller gets
-- no rows through it).
CREATE VIEW lwr_invoker WITH (security_invoker) AS SELECT * FROM lwr_deals;
CREATE VIEW lwr_by_rep AS SELECT * FROM lwr_deals;
ALTER VIEW lwr_by_rep OWNER TO lwr_rep;
GRANT SELECT ON lwr_invoker, lwr_by_rep TO lwr_users;

SET ROLE lwr_rep;
SELECT t FROM lwr_deals t ORDER BY id;
SET ROLE lwr_reader;
SELECT t FROM lwr_deals t ORDER BY id;
RESET ROLE;

-- The probes, run as each principal (security definer wrappers); each
-- returns one text column v, shown joined with ' | ' ('-': no rows).
CREATE FUNCTION lwr_run(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    EXECUTE format('WITH x AS (%s) SELECT coalesce(string_agg(v, '' | ''), ''-'') FROM x', q) INTO r;
    RETURN r;
END
$$;
CREATE FUNCTION lwr_as_rep(q text) RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT lwr_run(q)';
CREATE FUNCTION lwr_as_reader(q text) RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT lwr_run(q)';
ALTER FUNCTION lwr_as_rep(text) OWNER TO lwr_rep;
ALTER FUNCTION lwr_as_reader(text) OWNER TO lwr_reader;
CREATE TABLE lwr_probes (n int PRIMARY KEY, q text);
INSERT INTO lwr_probes VALUES
(1, 'SELECT row_to_json(t)::text AS v FROM lwr_deals t ORDER BY id'),
(2, 'SELECT to_jsonb(t)::text AS v FROM lwr_deals t ORDER BY id'),
(3, 'SELECT t::text AS v FROM lwr_deals t ORDER BY id'),
(4, 'SELECT s::text AS v FROM (SELECT (t).* FROM lwr_deals t) s ORDER BY id'),
(5, 'SELECT s.t::text AS v FROM (SELECT t FROM lwr_deals t) s ORDER BY (s.t).id'),
(6, 'SELECT ROW(t.*)::text AS v FROM lwr_deals t ORDER BY id'),
(7, 'SELECT concat_ws(''/'', (t).amount, (t).code) AS v FROM lwr_deals t ORDER BY id'),
(8, 'SELECT lwr_sql(t) AS v FROM lwr_deals t ORDER BY id'),
(9, 'SELECT lwr_plpgsql(t) AS v FROM lwr_deals t ORDER BY id'),
(10, 'SELECT jsonb_populate_record(NULL::lwr_deals, to_jsonb(t))::text AS v FROM lwr_deals t ORDER BY id'),
(11, 'SELECT concat_ws(''/'', r.amount, r.code) AS v FROM lwr_deals t, json_populate_record(NULL::lwr_deals, row_to_json(t)) r ORDER BY t.id'),
(12, 'SELECT string_agg(key || ''='' || coalesce(value, ''null''), '','' ORDER BY key) AS v FROM lwr_deals t, jsonb_each_text(to_jsonb(t)) GROUP BY t.id ORDER BY t.id'),
(13, 'SELECT jsonb_agg(t ORDER BY id)::text AS v FROM lwr_deals t'),
(14, 'SELECT array_agg(t ORDER BY id)::text AS v FROM lwr_deals t'),
-- views, subqueries, CTEs, joins, LATERAL
(15, 'SELECT w::text AS v FROM lwr_invoker w ORDER BY id'),
(16, 'SELECT w::text AS v FROM lwr_by_rep w ORDER BY id'),
(17, 'SELECT row_to_json(s)::text AS v FROM (SELECT id, amount, code FROM lwr_deals) s ORDER BY id'),
(18, 'WITH c AS MATERIALIZED (SELECT * FROM lwr_deals) SELECT c::text AS v FROM c ORDER BY id'),
(19, 'SELECT j::text AS v FROM (lwr_deals d JOIN (VALUES (2)) x(i) ON x.i = d.id) j'),
(20, 'SELECT l.r::text AS v FROM lwr_deals t, LATERAL (SELECT t AS r) l ORDER BY t.id'),
(21, 'SELECT (SELECT row_to_json(t)::text FROM lwr_deals t WHERE t.id = g) AS v FROM generate_series(1, 2) g'),
-- whole rows in predicates and ordering
(22, 'SELECT id::text AS v FROM lwr_deals t WHERE t = ROW(2, ''u2'', 555.55, ''SECRET-BRAVO'', ''NOTE-BRAVO'')::lwr_deals'),
(23, 'SELECT id::text AS v FROM lwr_deals t WHERE t::text LIKE ''%SECRET%'' ORDER BY id'),
(24, 'SELECT id::text AS v FROM lwr_deals t WHERE row_to_json(t)::text LIKE ''%555.55%'''),
(25, 'SELECT id::text AS v FROM lwr_deals t WHERE t < ROW(2, ''u2'', 555.56, NULL, NULL)::lwr_deals ORDER BY id'),
(26, 'SELECT id::text AS v FROM lwr_deals t WHERE t IN (SELECT r FROM jsonb_populate_record(NULL::lwr_deals, ''{"id": 1, "owner_id": "u1", "amount": 987654.32, "code": "SECRET-ALPHA", "note": "NOTE-ALPHA"}'') r)'),
(27, 'SELECT id::text AS v FROM lwr_deals t ORDER BY ROW(t.amount, t.id)'),
-- RETURNING the whole row
(28, 'UPDATE lwr_deals t SET owner_id = owner_id WHERE id = 1 RETURNING row_to_json(t)::text AS v'),
(29, 'UPDATE lwr_deals t SET owner_id = owner_id WHERE id = 2 RETURNING t::text AS v');
SELECT n, who, rows FROM lwr_probes, LATERAL (VALUES (1, 'rep', lwr_as_rep(q)),
    (2, 'reader', lwr_as_reader(q))) r(o, who, rows) ORDER BY n, o;

-- A leaky function of the row type in WHERE sees masks only.
SET client_min_messages = notice;
SET ROLE lwr_rep;
SELECT id FROM lwr_deals t WHERE lwr_leak(t) ORDER BY id;
SET ROLE lwr_reader;
SELECT id FROM lwr_deals t WHERE lwr_leak(t) ORDER BY id;
RESET ROLE;
SET client_min_messages = warning;

-- The plan builds the row from the masks.
SET ROLE lwr_rep;
EXPLAIN (COSTS OFF, VERBOSE) SELECT row_to_json(t) FROM lwr_deals t;

-- INSERT and DELETE returning whole rows.
BEGIN;
INSERT INTO lwr_deals (id, owner_id) VALUES (3, 'u1') RETURNING lwr_deals;
DELETE FROM lwr_deals t WHERE id = 1 RETURNING t, to_jsonb(t);
DELETE FROM lwr_deals t RETURNING row_to_json(t);
ROLLBACK;
SET ROLE lwr_reader;
BEGIN;
DELETE FROM lwr_deals t RETURNING row_to_json(t);
ROLLBACK;
RESET ROLE;

-- Partitions: a partition masks its own columns, in its own order.  A
-- partition key column cannot be protected: the row's partition (tableoid,
-- and the bound any role reads in pg_class) tells its value's range.
CREATE TABLE lwr_parts (id int, owner_id text, amount numeric(12,2), code text, region text)
  PARTITION BY LIST (region);
CREATE TABLE lwr_parts_alpha (region text, code text, amount numeric(12,2), owner_id text, id int);
ALTER TABLE lwr_parts ATTACH PARTITION lwr_parts_alpha FOR VALUES IN ('north');
CREATE TABLE lwr_parts_other PARTITION OF lwr_parts DEFAULT;
INSERT INTO lwr_parts VALUES (1, 'u1', 987654.32, 'SECRET-ALPHA', 'north'),
                             (2, 'u2', 555.55, 'SECRET-BRAVO', 'south');
GRANT SELECT ON lwr_parts, lwr_parts_alpha, lwr_parts_other TO lwr_users;
SELECT crmperm.manage_table('lwr_parts', owner_column => 'owner_id');
SELECT crmperm.protect_field('lwr_parts', 'region');
SELECT crmperm.protect_field('lwr_parts', 'amount');
SELECT crmperm.protect_field('lwr_parts', 'code', 'partial');
SELECT crmperm.grant('LWR crud', 'lwr_parts', ARRAY['read']);
SET ROLE lwr_rep;
SELECT row_to_json(t) FROM lwr_parts t ORDER BY id;
SELECT row_to_json(t), t FROM lwr_parts_alpha t;
SELECT count(*) FROM lwr_parts_alpha t WHERE t::text LIKE '%987654%' OR t::text LIKE '%SECRET%';
SELECT t.id, t.code, t.tableoid::regclass AS part, pg_get_expr(c.relpartbound, c.oid) AS bound
  FROM lwr_parts t JOIN pg_class c ON c.oid = t.tableoid ORDER BY t.id;
RESET ROLE;

-- cleanup
DROP FUNCTION lwr_as_rep(text), lwr_as_reader(text), lwr_run(text), lwr_sql(lwr_deals),
  lwr_plpgsql(lwr_deals), lwr_leak(lwr_deals);
DROP VIEW lwr_invoker, lwr_by_rep;
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['lwr_deals', 'lwr_parts']::regclass[]) t;
DROP TABLE lwr_deals, lwr_parts, lwr_probes;
SELECT crmperm.drop_permission_set(s) FROM unnest(ARRAY['LWR crud', 'LWR fields']) s;
DELETE FROM crmperm.principals WHERE principal IN ('lwr_rep'::regrole, 'lwr_reader'::regrole);
DROP ROLE lwr_rep, lwr_reader, lwr_users;

-- Leak path: inference of hidden fields through the query itself.  The
-- planner hook replaces every reference to a field the principal may not
-- read with its mask, at every query level, before planning: predicates,
-- joins, ordering, grouping, aggregates, windows, sublinks, CTEs, set
-- operations and LATERAL all see the mask, so no query shape reveals
-- anything about the real value (a scoped field grant: on rows in scope only).
-- Each probe is run as three principals with read on every row:
--   rep     no field grant              masks everywhere
--   mine    field read, scope owned     real values on its own row (id 1)
--   reader  field read on every row     real values: the probe itself works
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Real values in the reverse order of id (amount) and of the domain (email).
CREATE TABLE lw_deals (id int PRIMARY KEY, name text, owner_id text, amount numeric(12,2),
                       code text, email text);
INSERT INTO lw_deals VALUES
  (1, 'deal-1', 'u1', 987654.32, 'SECRET-ALPHA', 'zed@alpha.example'),
  (2, 'deal-2', 'u2', 555.55, 'SECRET-BRAVO', 'mia@bravo.example'),
  (3, 'deal-3', 'u3', 12.34, 'SECRET-CHARLIE', 'abe@charlie.example');
CREATE TABLE lw_guesses (label text, amount numeric(12,2), code text);   -- not managed
INSERT INTO lw_guesses VALUES ('g-alpha', 987654.32, 'SECRET-ALPHA'),
                              ('g-bravo', 555.55, 'SECRET-BRAVO'), ('g-none', 1, 'NOTHING');
CREATE ROLE lw_users NOLOGIN;
GRANT SELECT, UPDATE ON lw_deals TO lw_users;
GRANT SELECT ON lw_guesses TO lw_users;
CREATE ROLE lw_rep LOGIN IN ROLE lw_users;
CREATE ROLE lw_mine LOGIN IN ROLE lw_users;
CREATE ROLE lw_reader LOGIN IN ROLE lw_users;
SELECT crmperm.manage_table('lw_deals', owner_column => 'owner_id');
SELECT crmperm.protect_field('lw_deals', 'amount');             -- mask null
SELECT crmperm.protect_field('lw_deals', 'code', 'partial');
SELECT crmperm.protect_field('lw_deals', 'email', 'email');
SELECT crmperm.create_permission_set('LW rows');
SELECT crmperm.grant('LW rows', 'lw_deals', ARRAY['read', 'update']);
SELECT crmperm.create_permission_set('LW mine');
SELECT crmperm.create_permission_set('LW fields');
SELECT crmperm.grant_field('LW mine', 'lw_deals', f, ARRAY['read'], 'owned'),
       crmperm.grant_field('LW fields', 'lw_deals', f, ARRAY['read'])
  FROM unnest(ARRAY['amount', 'code', 'email']) f;
SELECT crmperm.assign_permission_set(r::regrole, s)
  FROM unnest(ARRAY['lw_rep', 'lw_mine', 'lw_reader', 'lw_mine', 'lw_reader'],
              ARRAY['LW rows', 'LW rows', 'LW rows', 'LW mine', 'LW fields']) AS a(r, s);
SELECT crmperm.set_principal(r, user_id => 'u1')
  FROM unnest(ARRAY['lw_rep', 'lw_mine', 'lw_reader']::regrole[]) r;

-- The probes: each runs as each principal (security definer wrappers) and
-- shows its rows, '-' when there are none.
CREATE FUNCTION lw_run(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    EXECUTE format('SELECT coalesce(string_agg(x::text, '' ''), ''-'') FROM (%s) x', q) INTO r;
    RETURN r;
END
$$;
CREATE FUNCTION lw_as_rep(q text) RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT lw_run(q)';
CREATE FUNCTION lw_as_mine(q text) RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT lw_run(q)';
CREATE FUNCTION lw_as_reader(q text) RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT lw_run(q)';
ALTER FUNCTION lw_as_rep(text) OWNER TO lw_rep;
ALTER FUNCTION lw_as_mine(text) OWNER TO lw_mine;
ALTER FUNCTION lw_as_reader(text) OWNER TO lw_reader;
CREATE TABLE lw_probes (n int PRIMARY KEY, q text);
INSERT INTO lw_probes VALUES
(0, 'SELECT * FROM lw_deals ORDER BY id'),
-- WHERE: comparisons, ranges, patterns, lists, NULL tests
(1, 'SELECT id FROM lw_deals WHERE amount = 987654.32'),
(2, 'SELECT id FROM lw_deals WHERE amount = 555.55'),
(3, 'SELECT id FROM lw_deals WHERE amount > 1000 ORDER BY id'),
(4, 'SELECT id FROM lw_deals WHERE amount < 1000 ORDER BY id'),
(5, 'SELECT id FROM lw_deals WHERE amount BETWEEN 500 AND 600'),
(6, 'SELECT id FROM lw_deals WHERE amount IN (987654.32, 555.55) ORDER BY id'),
(7, 'SELECT id FROM lw_deals WHERE amount = ANY (ARRAY[555.55, 12.34]) ORDER BY id'),
(8, 'SELECT id FROM lw_deals WHERE amount IS NULL ORDER BY id'),
(9, 'SELECT id FROM lw_deals WHERE amount IS NOT DISTINCT FROM 555.55'),
(10, 'SELECT id FROM lw_deals WHERE amount::text LIKE ''5%'''),
(11, 'SELECT id FROM lw_deals WHERE code LIKE ''SECRET-B%'''),
(12, 'SELECT id FROM lw_deals WHERE code = ''SECRET-BRAVO'''),
(13, 'SELECT id FROM lw_deals WHERE code > ''SECRET-B'' ORDER BY id'),
(14, 'SELECT id FROM lw_deals WHERE length(code) > 12'),
(15, 'SELECT id FROM lw_deals WHERE email LIKE ''mia@%'''),
(16, 'SELECT id FROM lw_deals WHERE (amount, code) = (555.55, ''SECRET-BRAVO'')'),
(17, 'SELECT id FROM lw_deals WHERE CASE WHEN amount > 500 THEN true ELSE false END ORDER BY id'),
(18, 'SELECT id, amount > 500 AS big, coalesce(amount, -1) AS amt FROM lw_deals ORDER BY id'),
-- JOIN ON a hidden field
(19, 'SELECT d.id, g.label FROM lw_deals d JOIN lw_guesses g ON g.amount = d.amount ORDER BY 1'),
(20, 'SELECT d.id, g.label FROM lw_deals d JOIN lw_guesses g USING (code) ORDER BY 1'),
(21, 'SELECT g.label, d.id FROM lw_guesses g LEFT JOIN lw_deals d ON d.amount > g.amount ORDER BY 1, 2'),
-- ORDER BY: the real order is 3 2 1
(22, 'SELECT id FROM lw_deals ORDER BY amount, id'),
(23, 'SELECT id FROM lw_deals ORDER BY email, id'),
-- GROUP BY, DISTINCT, HAVING, aggregates
(24, 'SELECT amount, count(*) FROM lw_deals GROUP BY amount ORDER BY 1'),
(25, 'SELECT DISTINCT amount FROM lw_deals ORDER BY 1'),
(26, 'SELECT min(amount), max(amount), sum(amount), avg(amount) FROM lw_deals'),
(27, 'SELECT count(DISTINCT code), string_agg(code, '','' ORDER BY id) FROM lw_deals'),
(28, 'SELECT name FROM lw_deals GROUP BY name HAVING max(amount) > 500 ORDER BY 1'),
(29, 'SELECT count(*) FILTER (WHERE amount > 500), bool_or(code = ''SECRET-BRAVO'') FROM lw_deals'),
(30, 'SELECT amount, count(*) FROM lw_deals GROUP BY ROLLUP (amount) ORDER BY 1, 2'),
(31, 'SELECT jsonb_agg(email ORDER BY id) FROM lw_deals'),
-- windows
(32, 'SELECT id, rank() OVER (ORDER BY amount) FROM lw_deals ORDER BY id'),
(33, 'SELECT id, count(*) OVER (PARTITION BY amount > 500) FROM lw_deals ORDER BY id'),
(34, 'SELECT id, lag(amount) OVER (ORDER BY id), max(code) OVER () FROM lw_deals ORDER BY id'),
-- sublinks
(35, 'SELECT id FROM lw_deals d WHERE EXISTS (SELECT FROM lw_guesses g WHERE g.amount = d.amount) ORDER BY id'),
(36, 'SELECT id FROM lw_deals WHERE code IN (SELECT code FROM lw_guesses) ORDER BY id'),
(37, 'SELECT label FROM lw_guesses g WHERE EXISTS (SELECT FROM lw_deals d WHERE d.code = g.code) ORDER BY 1'),
(38, 'SELECT label FROM lw_guesses g WHERE g.amount = ANY (SELECT amount FROM lw_deals) ORDER BY 1'),
(39, 'SELECT id FROM lw_deals WHERE amount > (SELECT avg(amount) FROM lw_deals) ORDER BY id'),
(40, 'SELECT (SELECT max(amount) FROM lw_deals), (SELECT id FROM lw_deals WHERE amount < 100)'),
(41, 'SELECT label, (SELECT d.id FROM lw_deals d WHERE d.code = g.code) FROM lw_guesses g ORDER BY 1'),
-- CTEs and subqueries in FROM
(42, 'WITH c AS MATERIALIZED (SELECT id, amount FROM lw_deals) SELECT id FROM c WHERE amount > 500 ORDER BY id'),
(43, 'WITH c AS NOT MATERIALIZED (SELECT * FROM lw_deals) SELECT id FROM c WHERE code LIKE ''%BRAVO'''),
(44, 'WITH c AS (SELECT id, amount AS a FROM lw_deals) SELECT max(a), min(a) FROM c'),
(45, 'SELECT id FROM (SELECT id, amount * 2 AS a FROM lw_deals) s WHERE a > 1000 ORDER BY id'),
-- set operations against a probe list
(46, 'SELECT amount FROM lw_deals INTERSECT SELECT g FROM (VALUES (987654.32), (555.55)) v(g) ORDER BY 1'),
(47, 'SELECT g FROM (VALUES (987654.32), (555.55), (1)) v(g) EXCEPT SELECT amount FROM lw_deals ORDER BY 1'),
(48, 'SELECT count(*) FROM (SELECT code FROM lw_deals UNION SELECT ''SECRET-ALPHA'') u'),
-- LATERAL
(49, 'SELECT d.id, l.big FROM lw_deals d, LATERAL (SELECT d.amount > 500 AS big) l ORDER BY 1'),
(50, 'SELECT g.label, l.id FROM lw_guesses g, LATERAL (SELECT id FROM lw_deals d WHERE d.amount = g.amount) l ORDER BY 1');
SELECT n, who, rows FROM lw_probes, LATERAL (VALUES (1, 'rep', lw_as_rep(q)),
    (2, 'mine', lw_as_mine(q)), (3, 'reader', lw_as_reader(q))) r(o, who, rows) ORDER BY n, o;

-- A recursive CTE binary-searching the amount of deal 2 (in cents) through
-- EXISTS probes: for rep and mine it never learns anything (lo stays 0).
CREATE FUNCTION lw_bsearch() RETURNS bigint LANGUAGE sql AS $$
  WITH RECURSIVE bs(lo, hi) AS (
    SELECT 0::bigint, 134217728::bigint
    UNION ALL
    SELECT CASE WHEN p THEN (lo + hi) / 2 ELSE lo END, CASE WHEN p THEN hi ELSE (lo + hi) / 2 END
      FROM bs, LATERAL (SELECT EXISTS (SELECT FROM lw_deals
                                        WHERE id = 2 AND amount * 100 >= (lo + hi) / 2) AS p) x
     WHERE hi - lo > 1)
  SELECT lo FROM bs ORDER BY hi - lo LIMIT 1
$$;
SELECT lw_as_rep('SELECT lw_bsearch()') AS rep, lw_as_mine('SELECT lw_bsearch()') AS mine,
       lw_as_reader('SELECT lw_bsearch()') AS reader;

-- A leaky function in WHERE only ever sees masks (rep), or masks on other
-- rows (mine); the reader shows what it would print.
CREATE FUNCTION lw_leak(numeric, text, text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS
$$ BEGIN RAISE NOTICE 'lw_leak saw % % %', $1, $2, $3; RETURN true; END $$;
SET client_min_messages = notice;
SET ROLE lw_rep;
SELECT id FROM lw_deals WHERE lw_leak(amount, code, email) ORDER BY id;
SET ROLE lw_mine;
SELECT id FROM lw_deals WHERE lw_leak(amount, code, email) ORDER BY id;
SET ROLE lw_reader;
SELECT id FROM lw_deals WHERE lw_leak(amount, code, email) ORDER BY id;
RESET ROLE;
SET client_min_messages = warning;

-- Views of its own (lw_rep may update every row) whose conditions on a
-- hidden field PostgreSQL evaluates apart from the query: the WITH CHECK
-- OPTION on the new row, and for UPDATE / DELETE through a security_barrier
-- view, the view's condition next to the row security quals.
-- Both are the view's own conditions, so crmperm masks them like the view:
-- on the mask (null) both updates pass the check (on the real amounts row 1
-- would fail it, telling amount >= 1000), and the update through the
-- barrier view finds nothing, as a select through it does.
SET ROLE lw_rep;
CREATE TEMP VIEW lw_check AS
  SELECT * FROM lw_deals WHERE amount IS NULL OR amount < 1000 WITH CHECK OPTION;
UPDATE lw_check SET name = name WHERE id = 1;
UPDATE lw_check SET name = name WHERE id = 2;
CREATE TEMP VIEW lw_barrier WITH (security_barrier) AS
  SELECT * FROM lw_deals WHERE amount > 1000;
SELECT id FROM lw_barrier;
UPDATE lw_barrier SET name = name RETURNING id;
DROP VIEW lw_check, lw_barrier;
RESET ROLE;

-- Plans and plan caches: EXPLAIN shows the masks, never values; a plan made
-- for the superuser is not reused for a governed role.
SET ROLE lw_rep;
EXPLAIN (COSTS OFF, VERBOSE) SELECT amount FROM lw_deals WHERE code <> 'x';
SET ROLE lw_mine;
EXPLAIN (COSTS OFF, VERBOSE) SELECT amount FROM lw_deals WHERE code <> 'x';
RESET ROLE;
SET plan_cache_mode = force_generic_plan;
PREPARE lw_generic(numeric) AS SELECT id, amount, code FROM lw_deals WHERE amount > $1 ORDER BY id;
EXECUTE lw_generic(500);
SET ROLE lw_rep;
EXECUTE lw_generic(500);
RESET ROLE;
RESET plan_cache_mode;
CREATE FUNCTION lw_max() RETURNS numeric LANGUAGE plpgsql AS
$$ BEGIN RETURN (SELECT max(amount) FROM lw_deals); END $$;
SELECT lw_max();
SET ROLE lw_rep;
SELECT lw_max();
RESET ROLE;
DEALLOCATE ALL;

-- Row estimates: statistics of a hidden field are never used for the
-- principal (the predicate is on the mask), so two very different bounds
-- give the same estimate; the superuser's estimates follow the data.
CREATE TABLE lw_big (id int PRIMARY KEY, owner_id text, amount int);
INSERT INTO lw_big SELECT g, CASE WHEN g <= 10 THEN 'u1' ELSE 'u2' END, g
  FROM generate_series(1, 1000) g;
GRANT SELECT ON lw_big TO lw_users;
SELECT crmperm.manage_table('lw_big', owner_column => 'owner_id');
SELECT crmperm.protect_field('lw_big', 'amount');
SELECT crmperm.grant('LW rows', 'lw_big', ARRAY['read']);
SELECT crmperm.grant_field('LW mine', 'lw_big', 'amount', ARRAY['read'], 'owned');
ANALYZE lw_big;
CREATE FUNCTION lw_same_estimate() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    a json;
    b json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT * FROM lw_big WHERE amount > 5' INTO a;
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT * FROM lw_big WHERE amount > 995' INTO b;
    RETURN CASE WHEN a -> 0 -> 'Plan' ->> 'Plan Rows' = b -> 0 -> 'Plan' ->> 'Plan Rows'
                THEN 'same' ELSE 'different' END;
END
$$;
SELECT lw_same_estimate() AS superuser;
SET ROLE lw_rep;
SELECT lw_same_estimate() AS rep;
SET ROLE lw_mine;
SELECT lw_same_estimate() AS mine;
RESET ROLE;

-- The hash mask: equal values hash alike, but a guess cannot be hashed to
-- compare (the mask function runs only where crmperm put it).
CREATE TABLE lw_tokens (id int PRIMARY KEY, owner_id text, token text);
INSERT INTO lw_tokens VALUES (1, 'u1', 'SECRET-TOKEN-1'), (2, 'u2', 'SECRET-TOKEN-2'),
                             (3, 'u3', 'SECRET-TOKEN-2');
GRANT SELECT, INSERT, UPDATE ON lw_tokens TO lw_users;
SELECT crmperm.manage_table('lw_tokens', owner_column => 'owner_id');
SELECT crmperm.protect_field('lw_tokens', 'token', 'hash');
SELECT crmperm.grant('LW rows', 'lw_tokens', ARRAY['read', 'create', 'update']);
SELECT crmperm.grant_field('LW mine', 'lw_tokens', 'token', ARRAY['read', 'create'], 'owned');
SELECT crmperm.grant_field('LW fields', 'lw_tokens', 'token', ARRAY['read']);
SET ROLE lw_rep;
SELECT id, length(token) AS len, token = 'SECRET-TOKEN-2' AS guess,
       token = (SELECT token FROM lw_tokens WHERE id = 3) AS same_as_3
  FROM lw_tokens ORDER BY id;
SELECT crmperm._mask_hash('SECRET-TOKEN-2');
SELECT id FROM lw_tokens WHERE token = crmperm._mask_hash('SECRET-TOKEN-2');
SELECT id FROM lw_tokens WHERE token = (SELECT crmperm._mask_hash(label) FROM lw_guesses LIMIT 1);
RESET ROLE;
SELECT lw_as_reader('SELECT id FROM lw_tokens WHERE token = ''SECRET-TOKEN-2'' ORDER BY id') AS reader;
-- A role that could write the field on its own rows only could write a
-- guess there and move the row out of its scope, where it would read the
-- guess's hash.  So a scoped create / update grant on a hash-masked field is
-- refused; without it the insert is denied and the join finds nothing.
SET ROLE lw_mine;
SELECT id, token ~ '^[0-9a-f]{64}$' AS hashed FROM lw_tokens WHERE id = 1;
INSERT INTO lw_tokens VALUES (9, 'u1', 'SECRET-TOKEN-2');
UPDATE lw_tokens SET owner_id = 'u9' WHERE id = 9;
SELECT t.id FROM lw_tokens t JOIN lw_tokens g ON g.id = 9 AND g.token = t.token
 WHERE t.id <> 9 ORDER BY t.id;
RESET ROLE;

-- cleanup
DROP FUNCTION lw_as_rep(text), lw_as_mine(text), lw_as_reader(text), lw_run(text),
  lw_bsearch(), lw_leak(numeric, text, text), lw_max(), lw_same_estimate();
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['lw_deals', 'lw_big', 'lw_tokens']::regclass[]) t;
DROP TABLE lw_deals, lw_guesses, lw_probes, lw_big, lw_tokens;
SELECT crmperm.drop_permission_set(s) FROM unnest(ARRAY['LW rows', 'LW mine', 'LW fields']) s;
DELETE FROM crmperm.principals
 WHERE principal IN ('lw_rep'::regrole, 'lw_mine'::regrole, 'lw_reader'::regrole);
DROP ROLE lw_rep, lw_mine, lw_reader, lw_users;

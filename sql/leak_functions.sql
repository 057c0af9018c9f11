-- Leak path: user functions in WHERE.  Row scopes are row security quals, so
-- PostgreSQL evaluates them before any function that is not LEAKPROOF,
-- whatever its cost: a function that prints its argument only ever sees
-- rows in the role's scope.  Errors raised by non-leakproof functions
-- (casts, division) only ever come from rows in scope too.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE lf_deals (id int PRIMARY KEY, name text, owner_id text, team_id text,
                       code text, amount int);
INSERT INTO lf_deals VALUES (1, 'own-u1', 'u1', 't1', '10', 10),
                            (2, 'team-u2', 'u2', 't1', '20', 20),
                            (3, 'hidden-u3', 'u3', 't2', 'hidden-code', 30),
                            (4, 'hidden-null', NULL, NULL, 'hidden-code', 0);
CREATE ROLE lf_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON lf_deals TO lf_users;
CREATE ROLE lf_rep LOGIN IN ROLE lf_users;    -- owned: row 1
CREATE ROLE lf_team LOGIN IN ROLE lf_users;   -- team t1: rows 1 and 2
CREATE ROLE lf_nobody LOGIN IN ROLE lf_users; -- no grant
SELECT crmperm.manage_table('lf_deals', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.create_permission_set('LF own');
SELECT crmperm.grant('LF own', 'lf_deals', ARRAY['read', 'create', 'update', 'delete'], 'owned');
SELECT crmperm.create_permission_set('LF team');
SELECT crmperm.grant('LF team', 'lf_deals', ARRAY['read', 'update', 'delete'], 'team');
SELECT crmperm.assign_permission_set('lf_rep', 'LF own');
SELECT crmperm.assign_permission_set('lf_team', 'LF team');
SELECT crmperm.set_principal('lf_rep', user_id => 'u1');
SELECT crmperm.set_principal('lf_team', user_id => 'u9', team_ids => ARRAY['t1']);

-- A leaky function, as any role could write it: it prints what it is given.
-- Very cheap, so the planner would like to run it first; PARALLEL SAFE, so
-- it may run in a parallel worker.
CREATE FUNCTION lf_leak(text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 PARALLEL SAFE AS
$$ BEGIN RAISE NOTICE 'lf_leak saw %', $1; RETURN true; END $$;
CREATE FUNCTION lf_leak_sql(text) RETURNS boolean   -- inlined into the query
LANGUAGE sql AS $$ SELECT lf_leak($1) $$;

SET client_min_messages = notice;
SET ROLE lf_rep;
SELECT id FROM lf_deals WHERE lf_leak(name);
SELECT id FROM lf_deals WHERE lf_leak(name) OR id > 1;
SELECT id FROM lf_deals WHERE lf_leak_sql(name);
SELECT id FROM lf_deals WHERE lf_leak(owner_id) AND lf_leak(team_id) ORDER BY id;
-- the scope qual comes first in the plan, whatever the costs
EXPLAIN (COSTS OFF) SELECT id FROM lf_deals WHERE lf_leak(name);
-- an index condition on a hidden row: the row is fetched, the scope qual
-- drops it, the function never sees it
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM lf_deals WHERE id = 3 AND lf_leak(name);
SELECT id FROM lf_deals WHERE id = 3 AND lf_leak(name);
RESET enable_seqscan;
-- subqueries, CTEs, joins, sublinks, the target list, ORDER BY
SELECT id FROM (SELECT * FROM lf_deals OFFSET 0) s WHERE lf_leak(s.name);
WITH c AS MATERIALIZED (SELECT * FROM lf_deals) SELECT id FROM c WHERE lf_leak(c.name);
SELECT a.id FROM lf_deals a JOIN lf_deals b ON lf_leak(a.name || '/' || b.name);
SELECT count(*) FROM generate_series(1, 2) g WHERE EXISTS (SELECT 1 FROM lf_deals WHERE lf_leak(name));
SELECT lf_leak(name) FROM lf_deals;
SELECT id FROM lf_deals ORDER BY lf_leak(name);
-- UPDATE and DELETE: the function sees only rows in scope
UPDATE lf_deals SET amount = amount WHERE lf_leak(name);
DELETE FROM lf_deals WHERE lf_leak(name) AND amount < 0;
-- prepared generic plans
SET plan_cache_mode = force_generic_plan;
PREPARE lf_q(int) AS SELECT id FROM lf_deals WHERE lf_leak(name) AND id = $1;
EXECUTE lf_q(2);
EXECUTE lf_q(1);
DEALLOCATE lf_q;
RESET plan_cache_mode;
-- a parallel worker runs the same plan: scope first
-- (force_parallel_mode is debug_parallel_query since 16)
SELECT current_setting('server_version_num')::int >= 160000 AS debug_parallel \gset
\if :debug_parallel
SET debug_parallel_query = on;
\else
SET force_parallel_mode = on;
\endif
EXPLAIN (COSTS OFF) SELECT id FROM lf_deals WHERE lf_leak(name);
SELECT id FROM lf_deals WHERE lf_leak(name);
\if :debug_parallel
RESET debug_parallel_query;
\else
RESET force_parallel_mode;
\endif
-- another role, another scope: rows 1 and 2
SET ROLE lf_team;
SELECT id FROM lf_deals WHERE lf_leak(name) ORDER BY id;
-- no read at all: refused before the function runs
SET ROLE lf_nobody;
SELECT id FROM lf_deals WHERE lf_leak(name);
RESET ROLE;

-- Errors raised by non-leakproof functions never come from a hidden row:
-- the hidden rows' code does not cast to int and the hidden row 2 would
-- divide by zero for lf_rep.
SET ROLE lf_rep;
SELECT id FROM lf_deals WHERE code::int > 0;
SELECT id FROM lf_deals WHERE 100 / (amount - 20) > 0;
SET ROLE lf_team;
SELECT id FROM lf_deals WHERE code::int > 0 ORDER BY id;
RESET ROLE;
SELECT id FROM lf_deals WHERE code::int > 0;          -- superuser: every row
SELECT id FROM lf_deals WHERE 100 / (amount - 20) > 0;

-- Only superusers may declare a function LEAKPROOF.
SET ROLE lf_rep;
CREATE FUNCTION pg_temp.lf_mine(text) RETURNS boolean LANGUAGE sql LEAKPROOF AS $$ SELECT true $$;
CREATE FUNCTION pg_temp.lf_mine(text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
ALTER FUNCTION pg_temp.lf_mine(text) LEAKPROOF;
DROP FUNCTION pg_temp.lf_mine(text);
RESET ROLE;

-- KNOWN LIMIT (PostgreSQL): LEAKPROOF is a superuser's promise that
-- PostgreSQL trusts.  A function a superuser marked LEAKPROOF may be
-- evaluated before the scope qual, so if it lies (prints, logs or raises on
-- its argument) it sees rows out of scope.  Do not mark user functions
-- LEAKPROOF; crmperm.lint() should report LEAKPROOF functions outside
-- pg_catalog.
CREATE FUNCTION lf_trusted(text) RETURNS boolean
LANGUAGE plpgsql LEAKPROOF COST 0.0000001 AS
$$ BEGIN RAISE NOTICE 'lf_trusted saw %', $1; RETURN true; END $$;
SET ROLE lf_rep;
EXPLAIN (COSTS OFF) SELECT id FROM lf_deals WHERE lf_trusted(name);
SELECT id FROM lf_deals WHERE lf_trusted(name);
RESET ROLE;
SET client_min_messages = warning;

-- cleanup
DROP FUNCTION lf_leak_sql(text), lf_leak(text), lf_trusted(text);
SELECT crmperm.unmanage_table('lf_deals');
DROP TABLE lf_deals;
SELECT crmperm.drop_permission_set('LF own');
SELECT crmperm.drop_permission_set('LF team');
DELETE FROM crmperm.principals WHERE principal IN ('lf_rep'::regrole, 'lf_team'::regrole);
DROP ROLE lf_rep, lf_team, lf_nobody, lf_users;

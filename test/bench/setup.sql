-- make bench: the main database.  Five copies of one pgbench-like accounts
-- table (100,000 rows; owner_id 'u0' .. 'u99', so the bench user 'u0' owns
-- 1% of them, indexed), read and updated by the governed login role bench:
--
--   t_plain         unmanaged
--   t_all           managed by crmperm, bench granted read+update with scope all
--   t_native_true   native row security, FORCEd, one policy USING (true)
--   t_owned         managed by crmperm, bench granted read+update with scope owned
--   t_native_owned  native row security, FORCEd, the same rule written by hand:
--                   USING / WITH CHECK (owner_id = 'u0') for bench
--
-- All owned by the superuser running this: bench is governed everywhere.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION crmperm;

CREATE FUNCTION pg_temp.make_accounts(tbl text, nrows int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (aid int PRIMARY KEY, owner_id text NOT NULL, '
                   'bid int NOT NULL, abalance int NOT NULL, filler char(84)) '
                   'WITH (autovacuum_enabled = off)', tbl);
    EXECUTE format('INSERT INTO %I SELECT g, ''u'' || (g %% 100), 1 + (g - 1) / 100000, 0, '''' '
                   'FROM generate_series(1, %s) g', tbl, nrows);
    EXECUTE format('CREATE INDEX ON %I (owner_id)', tbl);
    EXECUTE format('GRANT SELECT, UPDATE ON %I TO bench', tbl);
END
$$;

SELECT pg_temp.make_accounts(t, 100000)
  FROM unnest(ARRAY['t_plain', 't_all', 't_native_true', 't_owned', 't_native_owned']) t;

CREATE TABLE bench_history (aid int, delta int, mtime timestamp, filler char(22))
    WITH (autovacuum_enabled = off);
GRANT INSERT ON bench_history TO bench;

-- crmperm, scope all
SELECT crmperm.manage_table('t_all', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Bench all');
SELECT crmperm.grant('Bench all', 't_all', ARRAY['read', 'update']);
SELECT crmperm.assign_permission_set('bench', 'Bench all');

-- crmperm, scope owned
SELECT crmperm.manage_table('t_owned', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Bench owned');
SELECT crmperm.grant('Bench owned', 't_owned', ARRAY['read', 'update'], scope => 'owned');
SELECT crmperm.assign_permission_set('bench', 'Bench owned');
SELECT crmperm.set_principal('bench', user_id => 'u0');

-- a protected routine and its unprotected twin (same body, same owner)
SELECT crmperm.define_action('t_all', 'refund');
SELECT crmperm.grant('Bench all', 't_all', ARRAY['refund']);
CREATE FUNCTION routine_plain(id int) RETURNS int LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT abalance FROM t_plain WHERE aid = id);
END
$$;
CREATE FUNCTION routine_protected(id int) RETURNS int LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT abalance FROM t_plain WHERE aid = id);
END
$$;
SELECT crmperm.protect_routine('routine_protected(int)', 't_all.refund');

-- native row security, the reference points
ALTER TABLE t_native_true ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY everything ON t_native_true USING (true) WITH CHECK (true);
ALTER TABLE t_native_owned ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY owned ON t_native_owned TO bench
    USING (owner_id = 'u0') WITH CHECK (owner_id = 'u0');

-- Rows controlled by their parent: 100,000 parents (u0 owns 1% of them),
-- 1,000,000 children (10 per parent, child id p's parent is p for p <=
-- 100,000).  crmperm: parents scope owned, children scope parent.  Native:
-- the same, written by hand: the parents' owner policy, and on the children
-- EXISTS over the parents (whose own policy applies inside).
CREATE FUNCTION pg_temp.make_family(parents text, children text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, owner_id text NOT NULL, filler char(84)) '
                   'WITH (autovacuum_enabled = off)', parents);
    EXECUTE format('INSERT INTO %I SELECT g, ''u'' || (g %% 100), '''' FROM generate_series(1, 100000) g',
                   parents);
    EXECUTE format('CREATE INDEX ON %I (owner_id)', parents);
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES %I, '
                   'amount int NOT NULL, filler char(84)) WITH (autovacuum_enabled = off)',
                   children, parents);
    EXECUTE format('INSERT INTO %I SELECT g, 1 + (g - 1) %% 100000, g %% 1000, '''' '
                   'FROM generate_series(1, 1000000) g', children);
    EXECUTE format('CREATE INDEX ON %I (parent_id)', children);
    EXECUTE format('GRANT SELECT ON %I, %I TO bench', parents, children);
END
$$;
SELECT pg_temp.make_family('p_parents', 'p_children');
SELECT pg_temp.make_family('n_parents', 'n_children');
SELECT crmperm.manage_table('p_parents', owner_column => 'owner_id');
SELECT crmperm.manage_table('p_children');
SELECT crmperm.set_parent('p_children', 'p_parents', ARRAY['parent_id']);
SELECT crmperm.grant('Bench owned', 'p_parents', ARRAY['read'], scope => 'owned');
SELECT crmperm.grant('Bench owned', 'p_children', ARRAY['read'], scope => 'parent');
ALTER TABLE n_parents ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY owned ON n_parents TO bench USING (owner_id = 'u0');
ALTER TABLE n_children ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY by_parent ON n_children TO bench
    USING (EXISTS (SELECT 1 FROM n_parents p WHERE p.id = parent_id));

-- Statistics from every row (the sample is 300 x the target), so twin tables
-- get the same statistics and the planner does the same work on both.
SET default_statistics_target = 400;
VACUUM ANALYZE;

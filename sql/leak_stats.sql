-- Leak path: planner statistics.  pg_stats, pg_stats_ext and
-- pg_stats_ext_exprs hide every table under row security
-- (row_security_active()), and the catalogs behind them are not readable
-- by ordinary roles: a governed role gets no statistics row for a managed
-- table, with or without read on it.  Row security is forced, so the
-- table's owner and the members of its role get none either; superusers do.
--
-- KNOWN LIMIT (PostgreSQL): plan estimates are computed from statistics of
-- all rows, and pg_class.reltuples / relpages and the pg_stat_*_tables
-- counters are readable by everyone: EXPLAIN (without ANALYZE, which crmperm
-- refuses) and those counters show roughly how many rows a table holds and
-- how values are distributed among rows out of scope, never the values.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE ls_deals (id int PRIMARY KEY, name text, owner_id text, team_id text, amount int);
-- 10 rows of u1 worth 1, 990 hidden rows of u2 worth 5000
INSERT INTO ls_deals
  SELECT g, 'deal-' || g, CASE WHEN g <= 10 THEN 'u1' ELSE 'u2' END,
         CASE WHEN g <= 10 THEN 't1' ELSE 't2' END, CASE WHEN g <= 10 THEN 1 ELSE 5000 END
    FROM generate_series(1, 1000) g;
CREATE STATISTICS ls_deals_stx (ndistinct, dependencies, mcv) ON owner_id, team_id FROM ls_deals;
CREATE STATISTICS ls_deals_expr ON (lower(name)) FROM ls_deals;
CREATE ROLE ls_users NOLOGIN;
GRANT SELECT ON ls_deals TO ls_users;
CREATE ROLE ls_rep LOGIN IN ROLE ls_users;      -- read owned
CREATE ROLE ls_nobody LOGIN IN ROLE ls_users;   -- no grant
CREATE ROLE ls_owner LOGIN;
CREATE ROLE ls_owner_member LOGIN IN ROLE ls_owner;
ALTER TABLE ls_deals OWNER TO ls_owner;
SELECT crmperm.manage_table('ls_deals', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.create_permission_set('LS own');
SELECT crmperm.grant('LS own', 'ls_deals', ARRAY['read'], 'owned');
SELECT crmperm.assign_permission_set('ls_rep', 'LS own');
SELECT crmperm.set_principal('ls_rep', user_id => 'u1');
ANALYZE ls_deals;

CREATE FUNCTION ls_stats_rows() RETURNS TABLE (pg_stats bigint, pg_stats_ext bigint,
                                              pg_stats_ext_exprs bigint)
LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM pg_stats WHERE tablename = 'ls_deals'),
         (SELECT count(*) FROM pg_stats_ext WHERE tablename = 'ls_deals'),
         (SELECT count(*) FROM pg_stats_ext_exprs WHERE tablename = 'ls_deals')
$$;

-- The superuser sees the statistics, values included.
SELECT * FROM ls_stats_rows();
SELECT most_common_vals FROM pg_stats WHERE tablename = 'ls_deals' AND attname = 'owner_id';

-- Governed roles see none, with or without read; nor the catalogs behind.
SET ROLE ls_rep;
SELECT * FROM ls_stats_rows();
SELECT count(*) FROM ls_deals;
SELECT * FROM pg_statistic WHERE starelid = 'ls_deals'::regclass;
SELECT * FROM pg_statistic_ext_data;
SET ROLE ls_nobody;
SELECT * FROM ls_stats_rows();
-- Row security is forced: the owner's role members, and the owner itself,
-- see none.
SET ROLE ls_owner_member;
SELECT * FROM ls_stats_rows();
SET ROLE ls_owner;
SELECT * FROM ls_stats_rows();
RESET ROLE;

-- The known limit: estimates.  ls_rep's 10 rows are all worth 1, yet its
-- estimate for "amount = 5000" comes from the hidden rows' statistics, and
-- reltuples counts every row.
CREATE FUNCTION ls_estimate(query text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;
SET ROLE ls_rep;
SELECT count(*) AS visible FROM ls_deals WHERE amount = 5000;
SELECT ls_estimate('SELECT * FROM ls_deals WHERE amount = 5000') AS estimated;
SELECT ls_estimate('SELECT * FROM ls_deals WHERE amount = 1') AS estimated;
SELECT reltuples FROM pg_class WHERE oid = 'ls_deals'::regclass;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM ls_deals;
RESET ROLE;

-- cleanup
DROP FUNCTION ls_stats_rows(), ls_estimate(text);
SELECT crmperm.unmanage_table('ls_deals');
DROP TABLE ls_deals;
SELECT crmperm.drop_permission_set('LS own');
DELETE FROM crmperm.principals WHERE principal = 'ls_rep'::regrole;
DROP ROLE ls_rep, ls_nobody, ls_owner_member, ls_owner, ls_users;

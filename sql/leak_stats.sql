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

-- Fields ---------------------------------------------------------------------
-- Statistics of a hidden field.  Decision: crmperm adds no filter of its own
-- to the statistics views.  It relies on row security's filter in pg_stats,
-- pg_stats_ext and pg_stats_ext_exprs, which hide every row of a table that
-- has row security active for the reader: every managed table, for every
-- governed role, whatever its field grants; and pg_statistic and
-- pg_statistic_ext_data are readable by superusers only.  Planner
-- estimates never use a hidden field's statistics: every reference to the
-- field is replaced by its mask before planning (leak_where shows that two
-- very different bounds give the same estimate).
CREATE TABLE lsf_deals (id int PRIMARY KEY, owner_id text, amount int, code text);
INSERT INTO lsf_deals
  SELECT g, 'u' || (g % 3), CASE WHEN g <= 900 THEN 987654 ELSE g END, 'SECRET-' || (g % 5)
    FROM generate_series(1, 1000) g;
CREATE STATISTICS lsf_deals_stx (ndistinct, dependencies, mcv) ON owner_id, amount FROM lsf_deals;
CREATE STATISTICS lsf_deals_expr ON (lower(code)) FROM lsf_deals;
CREATE ROLE lsf_users NOLOGIN;
GRANT SELECT ON lsf_deals TO lsf_users;
CREATE ROLE lsf_rep LOGIN IN ROLE lsf_users;      -- reads every row, no hidden field
CREATE ROLE lsf_reader LOGIN IN ROLE lsf_users;   -- reads every row and field
SELECT crmperm.manage_table('lsf_deals', owner_column => 'owner_id');
SELECT crmperm.protect_field('lsf_deals', 'amount');
SELECT crmperm.protect_field('lsf_deals', 'code', 'partial');
SELECT crmperm.create_permission_set('LSF read');
SELECT crmperm.grant('LSF read', 'lsf_deals', ARRAY['read']);
SELECT crmperm.create_permission_set('LSF fields');
SELECT crmperm.grant_field('LSF fields', 'lsf_deals', f, ARRAY['read'])
  FROM unnest(ARRAY['amount', 'code']) f;
SELECT crmperm.assign_permission_set('lsf_rep', 'LSF read');
SELECT crmperm.assign_permission_set('lsf_reader', 'LSF read');
SELECT crmperm.assign_permission_set('lsf_reader', 'LSF fields');
ANALYZE lsf_deals;

CREATE FUNCTION lsf_stats_rows() RETURNS TABLE (pg_stats bigint, hidden_columns bigint,
                                               pg_stats_ext bigint, pg_stats_ext_exprs bigint)
LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM pg_stats WHERE tablename = 'lsf_deals'),
         (SELECT count(*) FROM pg_stats
           WHERE tablename = 'lsf_deals' AND attname IN ('amount', 'code')),
         (SELECT count(*) FROM pg_stats_ext WHERE tablename = 'lsf_deals'),
         (SELECT count(*) FROM pg_stats_ext_exprs WHERE tablename = 'lsf_deals')
$$;

-- The superuser sees them all.
SELECT * FROM lsf_stats_rows();
-- A governed role sees none, with or without read on the fields, and may
-- not read the catalogs.
SET ROLE lsf_rep;
SELECT * FROM lsf_stats_rows();
SELECT count(*) FROM pg_statistic WHERE starelid = 'lsf_deals'::regclass;
SELECT count(*) FROM pg_statistic_ext_data;
SET ROLE lsf_reader;
SELECT * FROM lsf_stats_rows();
-- Its predicates on a hidden field never reach the column (nor its
-- statistics): the null mask folds them away.
SET ROLE lsf_rep;
EXPLAIN (COSTS OFF) SELECT id FROM lsf_deals WHERE amount = 987654;
EXPLAIN (COSTS OFF) SELECT id FROM lsf_deals WHERE lower(code) = 'secret-1';
RESET ROLE;

-- cleanup
DROP FUNCTION lsf_stats_rows();
SELECT crmperm.unmanage_table('lsf_deals');
DROP TABLE lsf_deals;
SELECT crmperm.drop_permission_set(s) FROM unnest(ARRAY['LSF read', 'LSF fields']) s;
DROP ROLE lsf_rep, lsf_reader, lsf_users;

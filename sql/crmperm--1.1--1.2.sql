/* crmperm--1.1--1.2.sql: hardening after an outside review (issue 13) */

\echo Use "ALTER EXTENSION crmperm UPDATE TO '1.2'" to load this file. \quit

-- A fresh CREATE EXTENSION crmperm runs crmperm--1.0.sql, crmperm--1.0--1.1.sql
-- and then this script: an updated database and a new one are made by the
-- same statements.  1.0 and 1.1 are released: their scripts never change.

-- ---------------------------------------------------------------------------
-- Internal functions and argument checks (no SQL crashes the server; real
-- principals; one clear error per bad argument).
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- Attachments to managed tables (triggers, foreign keys, rules, ...) and DDL
-- that writes rows.
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- Tenant-scoped administration.
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- Audit paths and tokens.
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- Side channels.
-- ---------------------------------------------------------------------------

-- Functions on rows out of scope and auto_explain's row counts are closed in
-- C (src/sidechannels.c).  What crmperm cannot close is PostgreSQL's
-- cumulative statistics, readable by PUBLIC: per-table and per-index
-- counters count every row a scan touched, hidden ones included
-- (pg_stat_xact_user_tables.idx_tup_fetch after "WHERE name = 'X'" through
-- an index counts the hidden rows named X, in the reader's own transaction),
-- and pg_stat_statements' block counts of a principal's own statements do
-- the same, coarser.  lint() reports them while crmperm manages a table:
--   statistics_count_hidden_rows (warning)  PUBLIC may read the statistics
--       views pg_stat[io]_[xact_]{all,user}_{tables,indexes} or call the
--       per-relation counter functions behind them; the fix revokes both
--       (the views run their functions as their owner).
--   pg_stat_statements_readable (warning)  the same for pg_stat_statements.
CREATE FUNCTION crmperm._lint_side_channels()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
WITH
managed AS (
    SELECT EXISTS (SELECT FROM crmperm._managed_relations()) AS any
),
stat_views AS (
    SELECT c.oid::regclass::text AS name
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace
       AND c.relkind OPERATOR(pg_catalog.=) 'v'
       AND c.relname OPERATOR(pg_catalog.~) '^pg_stat(io)?_(xact_)?(all|user)_(tables|indexes)$'
       AND EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(c.relacl,
                       pg_catalog.acldefault('r', c.relowner))) a
                    WHERE a.grantee OPERATOR(pg_catalog.=) 0
                      AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT')
),
stat_functions AS (
    SELECT p.oid::regprocedure::text AS name
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
       AND p.proname OPERATOR(pg_catalog.~)
           '^pg_stat_get_(xact_)?(numscans|tuples_|blocks_|live_tuples|dead_tuples|mod_since_analyze|ins_since_vacuum)'
       AND EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(p.proacl,
                       pg_catalog.acldefault('f', p.proowner))) a
                    WHERE a.grantee OPERATOR(pg_catalog.=) 0
                      AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE')
),
pgss AS (
    SELECT pg_catalog.format('%I.pg_stat_statements', n.nspname) AS view,
           pg_catalog.format('%I.pg_stat_statements(boolean)', n.nspname) AS func
      FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'pg_stat_statements'
)
SELECT 'warning', 'statistics_count_hidden_rows', 'pg_catalog.pg_stat_xact_user_tables',
       pg_catalog.format('PUBLIC may read %s statistics views and %s counter functions: their '
                         'per-table and per-index counts include rows out of every principal''s '
                         'scope (in the reader''s own transaction for the pg_stat_xact_ views).',
                         (SELECT count(*) FROM stat_views), (SELECT count(*) FROM stat_functions)),
       pg_catalog.concat_ws('; ',
           'REVOKE SELECT ON ' || (SELECT pg_catalog.string_agg(name, ', ' ORDER BY name)
                                     FROM stat_views) || ' FROM PUBLIC',
           'REVOKE EXECUTE ON FUNCTION ' || (SELECT pg_catalog.string_agg(name, ', ' ORDER BY name)
                                               FROM stat_functions) || ' FROM PUBLIC')
       || ' -- then GRANT them to the monitoring roles (pg_monitor)'
  FROM managed
 WHERE managed.any AND (EXISTS (SELECT FROM stat_views) OR EXISTS (SELECT FROM stat_functions))
UNION ALL
SELECT 'warning', 'pg_stat_statements_readable', pgss.view,
       'PUBLIC may read pg_stat_statements: the block counts of a principal''s own statements '
       'include the rows an index condition found out of its scope.',
       pg_catalog.format('REVOKE SELECT ON %s FROM PUBLIC; REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC',
                         pgss.view, pgss.func)
       || ' -- then GRANT them to the monitoring roles (pg_monitor)'
  FROM pgss, managed
 WHERE managed.any
   AND (pg_catalog.has_table_privilege('public', pgss.view, 'SELECT')
        OR pg_catalog.has_function_privilege('public', pgss.func, 'EXECUTE'))
$$;
REVOKE ALL ON FUNCTION crmperm._lint_side_channels() FROM PUBLIC;



-- ---------------------------------------------------------------------------
-- lint() (redefined last: each section above may add findings).
-- ---------------------------------------------------------------------------

-- The 1.1 findings stay in _lint_base(); each section above adds its own
-- crmperm._lint_<topic>() with the same columns, joined here.
ALTER FUNCTION crmperm._lint() RENAME TO _lint_base;

CREATE FUNCTION crmperm._lint()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
SELECT f.severity, f.finding, f.object, f.detail, f.fix
  FROM (
    SELECT * FROM crmperm._lint_base()
    UNION ALL SELECT * FROM crmperm._lint_side_channels()
  ) f
 ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
          f.finding COLLATE "C", f.object COLLATE "C", f.detail COLLATE "C"
$$;
REVOKE ALL ON FUNCTION crmperm._lint() FROM PUBLIC;

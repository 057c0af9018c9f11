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
  ) f
 ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
          f.finding COLLATE "C", f.object COLLATE "C", f.detail COLLATE "C"
$$;
REVOKE ALL ON FUNCTION crmperm._lint() FROM PUBLIC;

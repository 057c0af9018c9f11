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

-- Is this row loaded by a top-level COPY ... FROM into this crmperm table
-- itself (pg_restore), not written by a function some other statement runs?
CREATE FUNCTION crmperm._restoring_copy(rel regclass) RETURNS boolean
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_restoring_copy';
REVOKE ALL ON FUNCTION crmperm._restoring_copy(regclass) FROM PUBLIC;

-- Every change to crmperm's catalog is recorded, whatever statement made it
-- (COPY (SELECT crmperm.assign_permission_set(...)) TO STDOUT included).
-- Only the rows a COPY ... FROM into the catalog table loads itself are left
-- out: that is pg_restore bringing back the catalog, and the audit log that
-- recorded it (restored in name order, api_tokens before audit_log, so
-- records made here would take the restored log's numbers).
CREATE OR REPLACE FUNCTION crmperm._audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    hidden text[] := ARRAY['hash', 'key_id', 'key'];
BEGIN
    IF crmperm._restoring_copy(TG_RELID) THEN
        RETURN NULL;
    END IF;
    INSERT INTO crmperm.audit_log (at, kind, login, principal, token, resource, action,
                                   command, before, after)
    VALUES (clock_timestamp(), 'change', session_user, crmperm._caller()::text,
            crmperm._token_name(), TG_TABLE_NAME, lower(TG_OP),
            upper(substring(current_query() FROM '^\s*\(*\s*([[:alpha:]]+)')),
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - hidden END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - hidden END);
    RETURN NULL;
END
$$;

-- The audit writer's queue gains "failed": events the writer could not
-- write (each is in the server log, with the reason).
DROP VIEW crmperm.audit_queue;
DROP FUNCTION crmperm._audit_queue();
CREATE FUNCTION crmperm._audit_queue()
RETURNS TABLE (database oid, queued bigint, written bigint, overflowed bigint, worker_pid int,
               overflowed_no_queue bigint, failed bigint)
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_audit_queue';
REVOKE ALL ON FUNCTION crmperm._audit_queue() FROM PUBLIC;
CREATE VIEW crmperm.audit_queue WITH (security_barrier) AS
    SELECT d.datname AS database, q.queued, q.written, q.overflowed, q.worker_pid,
           q.overflowed_no_queue, q.failed
      FROM crmperm._audit_queue() q LEFT JOIN pg_catalog.pg_database d ON d.oid = q.database
     WHERE crmperm._may_view_audit();
GRANT SELECT ON crmperm.audit_queue TO PUBLIC;



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

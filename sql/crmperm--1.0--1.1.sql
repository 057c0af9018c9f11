/* crmperm--1.0--1.1.sql: the audit trail, audit_reads() and lint() */

\echo Use "ALTER EXTENSION crmperm UPDATE TO '1.1'" to load this file. \quit

-- A fresh CREATE EXTENSION crmperm runs crmperm--1.0.sql and then this
-- script: an updated database and a new one are made by the same statements.

-- Tables whose reads are audited, one record per statement.
ALTER TABLE crmperm.resources ADD COLUMN audit_reads boolean NOT NULL DEFAULT false;

-- ---------------------------------------------------------------------------
-- The audit log.  Append-only for everyone but the extension owner; readable
-- by superusers and holders of view_audit (row security below).  Every
-- record carries the SHA-256 of its previous record's hash and its own
-- content: verify_audit() finds the first record that was changed, removed
-- or inserted out of turn.
-- ---------------------------------------------------------------------------
CREATE TABLE crmperm.audit_log (
    seq       bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('change', 'denial', 'auth_success', 'auth_failure',
                                            'read', 'purge')),
    login     text,           -- the session's login role
    principal text,           -- the role that acted (the caller of an admin function)
    token     text,           -- the token's name, never the token
    resource  text,           -- a resource, or for a change the catalog table
    action    text,           -- action, field privilege, permission or statement refused
    command   text,           -- the statement's kind (SELECT, INSERT, ...)
    rows      bigint,         -- rows a read returned
    before    jsonb,          -- a change: the catalog row before and after
    after     jsonb,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('crmperm.audit_log', '');

-- The text a record's hash covers (timestamps as epoch seconds: independent
-- of TimeZone and DateStyle).
CREATE FUNCTION crmperm._audit_text(r crmperm.audit_log) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT concat_ws(E'\x1f', r.seq, extract(epoch FROM r.at), r.kind, r.login, r.principal,
                     r.token, r.resource, r.action, r.command, r.rows, r.before::text,
                     r.after::text)
$$;

-- The hash before the first record.
CREATE FUNCTION crmperm._audit_genesis() RETURNS bytea
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT decode(repeat('00', 32), 'hex')
$$;

-- Number and chain each new record.  Writers queue on one advisory lock, so
-- the chain has one order; a record that arrives with its hash (pg_restore
-- reloading the log) is kept as it was.
CREATE FUNCTION crmperm._audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last crmperm.audit_log;
BEGIN
    IF NEW.hash IS NOT NULL THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('crmperm.audit_log'), 0);
    SELECT * INTO last FROM crmperm.audit_log ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.at := coalesce(NEW.at, clock_timestamp());
    NEW.prev_hash := coalesce(last.hash, crmperm._audit_genesis());
    NEW.hash := sha256(NEW.prev_hash || convert_to(crmperm._audit_text(NEW), 'UTF8'));
    RETURN NEW;
END
$$;
CREATE TRIGGER chain BEFORE INSERT ON crmperm.audit_log
    FOR EACH ROW EXECUTE FUNCTION crmperm._audit_chain();

CREATE FUNCTION crmperm._audit_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_user::regrole::oid IS DISTINCT FROM
       (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'crmperm') THEN
        RAISE EXCEPTION 'crmperm.audit_log is append-only'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A superuser removes old records with crmperm.purge_audit(before).';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON crmperm.audit_log
    FOR EACH ROW EXECUTE FUNCTION crmperm._audit_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON crmperm.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION crmperm._audit_append_only();

-- May the current role read the audit trail (a superuser, or a holder of
-- view_audit, not under a token)?
CREATE FUNCTION crmperm._may_view_audit() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_may_view_audit';
GRANT EXECUTE ON FUNCTION crmperm._may_view_audit() TO PUBLIC;

ALTER TABLE crmperm.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON crmperm.audit_log FOR SELECT USING (crmperm._may_view_audit());
GRANT SELECT ON crmperm.audit_log TO PUBLIC;

-- Every change to crmperm's catalog, in the same transaction as the change:
-- who (the caller of the admin function, or the role writing directly), the
-- catalog table, and the row before and after.  Secrets are left out.
-- Rows loaded with COPY are not recorded: that is pg_restore bringing back
-- the catalog, and the audit log that recorded it (restored in name order,
-- api_tokens before audit_log, so records made here would take the restored
-- log's numbers).  Only the extension owner or a superuser can write the
-- catalog at all.
CREATE FUNCTION crmperm._audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    hidden text[] := ARRAY['hash', 'key_id', 'key'];
BEGIN
    IF current_query() ~* '^\s*copy\s' THEN
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

-- The audited tables are the catalog tables whose changes invalidate the
-- decision cache (crmperm--1.0.sql gives each an "invalidate" trigger).
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT g.tgrelid::regclass FROM pg_catalog.pg_trigger g
               JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
              WHERE g.tgname = 'invalidate' AND c.relnamespace = 'crmperm'::regnamespace
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %s '
            'FOR EACH ROW EXECUTE FUNCTION crmperm._audit_change()', t);
    END LOOP;
END
$$;

-- Recent denials (a week), for whoever may read the audit trail.
CREATE VIEW crmperm.denials WITH (security_invoker) AS
    SELECT a.seq, a.at, a.login, a.principal, a.token, a.resource, a.action, a.command
      FROM crmperm.audit_log a
     WHERE a.kind = 'denial' AND a.at > now() - interval '7 days';
GRANT SELECT ON crmperm.denials TO PUBLIC;

-- The queue of events waiting for the audit writer, per database: queued,
-- written, dropped because the queue was full (also in the server log).
CREATE FUNCTION crmperm._audit_queue()
RETURNS TABLE (database oid, queued bigint, written bigint, overflowed bigint, worker_pid int,
               overflowed_no_queue bigint)
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_audit_queue';
CREATE VIEW crmperm.audit_queue WITH (security_barrier) AS
    SELECT d.datname AS database, q.queued, q.written, q.overflowed, q.worker_pid,
           q.overflowed_no_queue
      FROM crmperm._audit_queue() q LEFT JOIN pg_catalog.pg_database d ON d.oid = q.database
     WHERE crmperm._may_view_audit();
GRANT SELECT ON crmperm.audit_queue TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Admin functions (dispatched like the others)
-- ---------------------------------------------------------------------------

CREATE FUNCTION crmperm._audit_reads(resource text, enabled boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._resource(resource);
    PERFORM crmperm._not_null(enabled, 'enabled');
    UPDATE crmperm.resources r SET audit_reads = enabled WHERE r.resource = _audit_reads.resource;
END
$$;

CREATE FUNCTION crmperm._verify_audit()
RETURNS TABLE (ok boolean, records bigint, first_broken bigint, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.audit_log;
    prev crmperm.audit_log;
    n bigint := 0;
BEGIN
    FOR r IN SELECT * FROM crmperm.audit_log ORDER BY seq LOOP
        n := n + 1;
        IF prev.seq IS NULL THEN
            -- the first record: the start of the chain, or where a purge left it
            IF r.prev_hash <> crmperm._audit_genesis() AND NOT EXISTS (
                SELECT FROM crmperm.audit_log p
                 WHERE p.kind = 'purge' AND (p.after->>'last_seq')::bigint = r.seq - 1
                   AND p.after->>'last_hash' = encode(r.prev_hash, 'hex')) THEN
                RETURN QUERY SELECT false, n, r.seq,
                    'the first record neither starts the chain nor follows a purge';
                RETURN;
            END IF;
        ELSIF r.seq <> prev.seq + 1 THEN
            RETURN QUERY SELECT false, n, r.seq,
                pg_catalog.format('records %s to %s are missing', prev.seq + 1, r.seq - 1);
            RETURN;
        ELSIF r.prev_hash <> prev.hash THEN
            RETURN QUERY SELECT false, n, r.seq, 'it does not link to the record before it';
            RETURN;
        END IF;
        IF r.hash <> sha256(r.prev_hash || convert_to(crmperm._audit_text(r), 'UTF8')) THEN
            RETURN QUERY SELECT false, n, r.seq, 'its content does not match its hash';
            RETURN;
        END IF;
        prev := r;
    END LOOP;
    RETURN QUERY SELECT true, n, NULL::bigint, 'every record links to the one before it';
END
$$;

-- Remove the records older than a date (all of them before the first record
-- at or after it; never the newest), and record that it was done.
CREATE FUNCTION crmperm._purge_audit(before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keep_from bigint;
    newest bigint;
    last crmperm.audit_log;
    n bigint;
BEGIN
    PERFORM crmperm._not_null(before, 'before');
    PERFORM pg_advisory_xact_lock(hashtext('crmperm.audit_log'), 0);
    SELECT max(a.seq) INTO newest FROM crmperm.audit_log a;
    SELECT min(a.seq) INTO keep_from FROM crmperm.audit_log a WHERE a.at >= _purge_audit.before;
    keep_from := least(coalesce(keep_from, newest), newest);
    SELECT * INTO last FROM crmperm.audit_log a WHERE a.seq < keep_from ORDER BY a.seq DESC LIMIT 1;
    DELETE FROM crmperm.audit_log a WHERE a.seq < keep_from;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        INSERT INTO crmperm.audit_log (kind, login, principal, action, after)
        VALUES ('purge', session_user, crmperm._caller()::text, 'purge_audit',
                jsonb_build_object('before', _purge_audit.before, 'records', n, 'last_seq', last.seq,
                                   'last_hash', encode(last.hash, 'hex')));
    END IF;
    RETURN n;
END
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'crmperm'::regnamespace
                AND p.proname IN ('_audit_text', '_audit_genesis', '_audit_chain',
                                  '_audit_append_only', '_audit_change', '_audit_queue',
                                  '_audit_reads', '_verify_audit', '_purge_audit')
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

CREATE FUNCTION crmperm.audit_reads(resource text, enabled boolean DEFAULT true) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.verify_audit()
RETURNS TABLE (ok boolean, records bigint, first_broken bigint, detail text)
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.purge_audit(before timestamptz) RETURNS bigint
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

-- Checks that change nothing may run in parallel workers.
ALTER FUNCTION crmperm._not_null(anyelement, text) PARALLEL SAFE;
ALTER FUNCTION crmperm._check_name(text, text) PARALLEL SAFE;
ALTER FUNCTION crmperm._check_list(text[], text[], text) PARALLEL SAFE;
ALTER FUNCTION crmperm._check_hash_grants(text, name, text, text[]) PARALLEL SAFE;

-- ---------------------------------------------------------------------------
-- lint(): what a DBA should act on, one row per finding.
--
--   severity  'error'   crmperm's enforcement is off or stepped around for
--                       other roles right now;
--             'warning' a role can get more than crmperm grants it, or data
--                       crmperm hides is kept where some role can read it;
--             'info'    housekeeping: nothing is exposed.
--   finding   a stable code (below); object: the relation, column, routine,
--             role or token (schema-qualified where it has a schema); detail:
--             why; fix: the SQL that fixes it (<...> marks a choice to make).
--
-- Findings:
--   row_security_off (error)      a managed table, or a partition / child of
--       one, without row security enabled and forced.
--   view_bypasses_crmperm  a view or materialized view that reads a managed
--       relation (pg_depend of its rewrite rule), is granted to some role
--       other than its owner, is not security_invoker, and whose owner
--       escapes crmperm: superuser or BYPASSRLS (error: readers get every
--       row), the table's owner or a super admin (warning: crmperm decides
--       CRUD and field masks for the owner, while its policies are built for
--       the caller and dropped by PostgreSQL when checked as the owner, so
--       other roles see no rows today).  A materialized view is always an
--       error: REFRESH runs as its owner, so it stores the owner's rows for
--       whoever may read it.  A security_invoker view between a definer view
--       and the table does not count: PostgreSQL checks an invoker view's
--       tables as the current user even below a definer view.
--   definer_routine_bypasses_crmperm  a SECURITY DEFINER function or
--       procedure owned by such a role whose body reads a managed table:
--       error when PUBLIC may execute it, warning otherwise.  APPROXIMATE:
--       exact for SQL-standard bodies (BEGIN ATOMIC records pg_depend on the
--       tables); for other bodies (plpgsql, string SQL, PL/Perl...) a
--       search of prosrc for the table's name as a word (unquoted words
--       folded to lower case, "quoted" ones as written), which can match a
--       same-named table of another schema, a column, a string or a comment,
--       and misses names built at run time (EXECUTE format('%I', ...)) and
--       tables read through views or other functions.  Routines of
--       extensions, pg_catalog, information_schema and crmperm are skipped.
--   principal_not_governed (error) a role with crmperm assignments or
--       attributes (not a super admin) that is a superuser or BYPASSRLS, or
--       a BYPASSRLS role holding a principal's assignments through
--       membership (pg_has_role USAGE, as crmperm counts them).
--   table_owned_by_principal (warning) a managed relation owned by such a
--       principal: owners are exempt on their own table, by identity.
--   principal_can_set_role_to_exempt_role  a principal (not a superuser)
--       that is a member (SET ROLE, so NOINHERIT too) of a role crmperm does
--       not govern: a superuser (error), a BYPASSRLS role, a super admin or
--       a managed table's owner (warning).
--   protected_field_statistics (warning) pg_statistic rows for a protected
--       field, for an index expression over it, or extended statistics
--       data over it: most common values and histogram bounds are the
--       hidden values.  pg_stats shows them to roles with column SELECT for
--       which row security is not active (BYPASSRLS roles); governed
--       principals see no pg_stats row of a managed table.  In PostgreSQL 15
--       nothing but DROP COLUMN, ALTER COLUMN ... TYPE (even to the same
--       type) or deleting the pg_statistic rows removes them: SET STATISTICS
--       0 only makes ANALYZE skip the column and keeps what is there, through
--       every later ANALYZE, VACUUM FULL or CLUSTER.  Hence the fix: SET
--       STATISTICS 0 (so ANALYZE does not gather them again) and, as a
--       superuser, DELETE FROM pg_catalog.pg_statistic; for extended
--       statistics DROP STATISTICS.
--   expired_assignment (info) role / permission set assignments whose
--       valid_until has passed: they count no more, but stay in the catalog.
--   assignment_of_dropped_role (warning) assignments, attributes (or a
--       token) of a role that no longer exists: the catalog keeps its OID,
--       and a role that gets that OID later -- after OID wraparound, or in a
--       cluster this database is dumped and restored into, where regrole
--       values are restored from their numbers -- receives them.
--   login_can_set_role_to_token_principal (warning) a login role (not a
--       superuser) that is, or is a member of, the principal of a token not
--       revoked: it can act as the principal without the token, its scopes,
--       its expiry or its revocation.
--   token_without_expiry (warning) a token not revoked with no expiry.
--   token_principal_not_governed (warning) a token not revoked whose role
--       crmperm no longer governs (superuser, BYPASSRLS, super admin, owns a
--       managed table, dropped): authenticate() refuses it (fail closed).
--   leakproof_function (warning) a function outside pg_catalog marked
--       LEAKPROOF: it may run before row security quals and see rows out of
--       the caller's scope.
--
-- Never prints row data, token hashes or key ids.  SECURITY DEFINER: it reads
-- crmperm's catalog, pg_authid and pg_statistic, which callers cannot.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crmperm._lint()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- the plan's estimates reach jit_above_cost, and compiling it takes seconds
-- (4.2 s against 80 ms without, at 3,000 principals and 100 tables)
SET jit = off AS $lint$
WITH
-- managed tables and every partition / inheritance child below them
mr AS (
    SELECT m.relid, m.resource, m.relowner FROM crmperm._managed_relations() m
),
-- roles crmperm holds assignments or attributes for (super admins aside)
governed AS (
    SELECT a.principal::oid AS roleid FROM crmperm.role_assignments a
    UNION SELECT s.principal::oid FROM crmperm.set_assignments s
    UNION SELECT p.principal::oid FROM crmperm.principals p WHERE NOT p.super_admin
),
super_admins AS (
    SELECT p.principal::oid AS roleid FROM crmperm.principals p WHERE p.super_admin
),
-- assignments of CRM roles and of permission sets, with what undoes them
assignments AS (
    SELECT a.principal, a.role AS name, pg_catalog.format('CRM role "%s"', a.role) AS what,
           'unassign_role' AS unassign, a.valid_until
      FROM crmperm.role_assignments a
    UNION ALL
    SELECT s.principal, s.permission_set, pg_catalog.format('permission set "%s"', s.permission_set),
           'unassign_permission_set', s.valid_until
      FROM crmperm.set_assignments s
),
-- 1. definer views and materialized views over managed tables
view_reads AS (
    SELECT DISTINCT v.oid, v.relkind, v.relowner, m.relid AS managed, m.relowner AS tblowner,
           m.relid::regclass::text AS what
      FROM mr m
      JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = m.relid
                      AND d.classid = 'pg_rewrite'::regclass AND d.deptype = 'n'
      JOIN pg_rewrite w ON w.oid = d.objid
      JOIN pg_class v ON v.oid = w.ev_class
     WHERE v.relkind IN ('v', 'm') AND v.oid <> m.relid
       AND (v.relkind = 'm' OR NOT EXISTS (
                SELECT FROM pg_options_to_table(v.reloptions) o
                 WHERE o.option_name = 'security_invoker' AND o.option_value::boolean))
),
view_why AS (
    SELECT x.*, CASE WHEN a.rolsuper THEN 'superuser'
                     WHEN a.rolbypassrls THEN 'BYPASSRLS'
                     WHEN x.relowner IN (SELECT roleid FROM super_admins) THEN 'crmperm super admin'
                     WHEN x.relowner = x.tblowner THEN 'the table owner' END AS why,
           (SELECT string_agg(g.name, ', ' ORDER BY g.name <> 'PUBLIC', g.name COLLATE "C")
              FROM (SELECT DISTINCT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END
                      FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) e
                     WHERE c.oid = x.oid AND e.grantee <> c.relowner) g(name)) AS grantees
      FROM view_reads x JOIN pg_authid a ON a.oid = x.relowner
),
f_views AS (
    SELECT CASE WHEN x.relkind = 'm' OR x.why IN ('superuser', 'BYPASSRLS') THEN 'error'
                ELSE 'warning' END AS severity,
           'view_bypasses_crmperm' AS finding,
           x.oid::regclass::text AS object,
           CASE WHEN x.relkind = 'm' THEN pg_catalog.format(
                'Materialized view owned by %s (%s) reads %s. REFRESH runs as its owner, whom crmperm does not govern there, so it stores every row%s for whoever may read it; a materialized view cannot be security_invoker. Granted to %s.',
                x.relowner::regrole, x.why, string_agg(x.what, ', ' ORDER BY x.what COLLATE "C"),
                CASE WHEN x.why = 'BYPASSRLS' THEN ' (protected fields masked as for its owner)'
                     ELSE ', protected fields unmasked,' END, x.grantees)
                WHEN x.why IN ('superuser', 'BYPASSRLS') THEN pg_catalog.format(
                'View owned by %s (%s) reads %s. It is not security_invoker, so PostgreSQL reads the tables as its owner, who skips row security: every reader gets every row, not only its own scopes and tenant%s. Granted to %s.',
                x.relowner::regrole, x.why, string_agg(x.what, ', ' ORDER BY x.what COLLATE "C"),
                CASE WHEN x.why = 'superuser' THEN ', with protected fields unmasked'
                     ELSE ' (CRUD and field masks are decided for the owner)' END, x.grantees)
                ELSE pg_catalog.format(
                'View owned by %s (%s) reads %s. It is not security_invoker, so crmperm decides CRUD and field masks for its owner, who is exempt; rows are still filtered for the caller, and PostgreSQL drops that policy when checking as the owner, so other roles see no rows through it today (fail closed). Granted to %s.',
                x.relowner::regrole, x.why, string_agg(x.what, ', ' ORDER BY x.what COLLATE "C"), x.grantees) END AS detail,
           CASE WHEN x.relkind = 'm' THEN pg_catalog.format(
                'ALTER MATERIALIZED VIEW %1$s OWNER TO <a role crmperm governs>; REFRESH MATERIALIZED VIEW %1$s; -- it then holds that role''s rows; or replace it with a view WITH (security_invoker = on)',
                x.oid::regclass)
                ELSE pg_catalog.format(
                'ALTER VIEW %s SET (security_invoker = on); -- or ALTER VIEW ... OWNER TO <a role crmperm governs>',
                x.oid::regclass) END AS fix
      FROM view_why x
     WHERE x.why IS NOT NULL AND x.grantees IS NOT NULL
     GROUP BY x.oid, x.relkind, x.relowner, x.why, x.grantees
),
-- 2. SECURITY DEFINER routines over managed tables (see the header: pg_depend
-- for BEGIN ATOMIC bodies, a search of the source text otherwise)
definers AS (
    SELECT p.oid, p.prosrc, p.prosqlbody IS NOT NULL AS atomic, l.lanname
      FROM pg_proc p
      JOIN pg_language l ON l.oid = p.prolang
     WHERE p.prosecdef
       AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                  'crmperm'::regnamespace)
       AND NOT EXISTS (SELECT FROM pg_depend e
                        WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
),
definer_reads AS (
    SELECT p.oid, m.relid AS managed, m.relowner AS tblowner
      FROM definers p
      JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.refclassid = 'pg_class'::regclass
      JOIN mr m ON m.relid = d.refobjid
     WHERE p.atomic
    UNION
    -- the words of the source: "quoted" identifiers as written, others
    -- folded to lower case (string literals and comments included)
    SELECT p.oid, m.relid, m.relowner
      FROM definers p
      CROSS JOIN LATERAL (
          SELECT DISTINCT coalesce(replace(t[1], '""', '"'), lower(t[2])) AS word
            FROM regexp_matches(p.prosrc, '"((?:[^"]|"")+)"|([[:alpha:]_][[:alnum:]_$]*)', 'g') t) w
      JOIN pg_class c ON c.relname = w.word
      JOIN mr m ON m.relid = c.oid
     WHERE NOT p.atomic AND p.lanname NOT IN ('c', 'internal')
),
definer_why AS (
    SELECT x.oid, x.managed, p.proowner, p.prokind, p.prosqlbody IS NOT NULL AS atomic,
           CASE WHEN a.rolsuper THEN 'superuser'
                WHEN a.rolbypassrls THEN 'BYPASSRLS'
                WHEN p.proowner IN (SELECT roleid FROM super_admins) THEN 'crmperm super admin'
                WHEN p.proowner = x.tblowner THEN 'the table owner' END AS why,
           has_function_privilege('public', x.oid, 'EXECUTE') AS public_exec,
           (SELECT string_agg(g.name, ', ' ORDER BY g.name <> 'PUBLIC', g.name COLLATE "C")
              FROM (SELECT DISTINCT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END
                      FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) e
                     WHERE e.privilege_type = 'EXECUTE' AND e.grantee <> p.proowner) g(name)) AS grantees
      FROM definer_reads x
      JOIN pg_proc p ON p.oid = x.oid
      JOIN pg_authid a ON a.oid = p.proowner
),
f_definers AS (
    SELECT CASE WHEN x.public_exec THEN 'error' ELSE 'warning' END,
           'definer_routine_bypasses_crmperm',
           x.oid::regprocedure::text,
           pg_catalog.format(
               'SECURITY DEFINER %s owned by %s (%s); %s %s. It runs as its owner, whom crmperm does not govern there: its callers reach those tables with the owner''s rights instead of their own grants, scopes, tenant boundary and field masks. Executable by %s.',
               CASE x.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
               x.proowner::regrole, x.why,
               CASE WHEN x.atomic THEN 'its body reads' ELSE 'its source text names' END,
               string_agg(x.managed::regclass::text, ', ' ORDER BY x.managed::regclass::text COLLATE "C"),
               x.grantees),
           CASE WHEN x.public_exec THEN pg_catalog.format(
               'REVOKE EXECUTE ON ROUTINE %1$s FROM PUBLIC; -- then GRANT EXECUTE only to roles that may act as its owner, or ALTER ROUTINE %1$s SECURITY INVOKER',
               x.oid::regprocedure)
                ELSE pg_catalog.format(
               'ALTER ROUTINE %1$s SECURITY INVOKER; -- or REVOKE EXECUTE from the roles above that may not act as its owner, or ALTER ROUTINE %1$s OWNER TO <a role crmperm governs>',
               x.oid::regprocedure) END
      FROM definer_why x
     WHERE x.why IS NOT NULL AND x.grantees IS NOT NULL
     GROUP BY x.oid, x.prokind, x.proowner, x.why, x.atomic, x.public_exec, x.grantees
),
-- 3. principals crmperm does not govern
f_ungoverned AS (
    SELECT 'error', 'principal_not_governed', a.oid::regrole::text,
           CASE WHEN a.rolsuper THEN
               'Role has crmperm assignments or attributes but is a superuser: crmperm governs no superuser, so none of its grants, scopes, tenant boundary or field masks apply to it.'
                ELSE
               'Role has crmperm assignments or attributes but has BYPASSRLS: its row scopes and tenant boundary do not apply (it reads and writes every row of the tables it is granted); CRUD and field rules still do.' END,
           pg_catalog.format('ALTER ROLE %s %s; -- or, if it is meant to be unrestricted, remove its crmperm assignments and attributes',
                             a.oid::regrole, CASE WHEN a.rolsuper THEN 'NOSUPERUSER' ELSE 'NOBYPASSRLS' END)
      FROM pg_authid a
     WHERE (a.rolsuper OR a.rolbypassrls)
       AND a.oid IN (SELECT roleid FROM governed)
       AND a.oid NOT IN (SELECT roleid FROM super_admins)
    UNION ALL
    SELECT 'error', 'principal_not_governed', a.oid::regrole::text,
           pg_catalog.format(
               'Role has BYPASSRLS and holds the crmperm assignments of %s through membership: its row scopes and tenant boundary do not apply (it reads and writes every row of the tables those assignments grant); CRUD and field rules still do.',
               string_agg(g.roleid::regrole::text, ', ' ORDER BY g.roleid::regrole::text COLLATE "C")),
           pg_catalog.format('ALTER ROLE %s NOBYPASSRLS; -- or take it out of %s',
               a.oid::regrole, string_agg(g.roleid::regrole::text, ', ' ORDER BY g.roleid::regrole::text COLLATE "C"))
      FROM pg_authid a
      JOIN governed g ON g.roleid <> a.oid
     WHERE a.rolbypassrls AND NOT a.rolsuper
       AND a.oid NOT IN (SELECT roleid FROM governed)
       AND a.oid NOT IN (SELECT roleid FROM super_admins)
       AND pg_has_role(a.oid, g.roleid, 'USAGE')
     GROUP BY a.oid
),
-- 4. owners and roles one SET ROLE away from an exemption
f_owned AS (
    SELECT 'warning', 'table_owned_by_principal', m.relid::regclass::text,
           pg_catalog.format(
               'Owned by %s, which has crmperm assignments or attributes: a table''s owner is exempt from crmperm on it by identity, so those grants, scopes, tenant boundary and field masks do not apply to it there (only sensitive-table writes stay refused).',
               m.relowner::regrole),
           pg_catalog.format('ALTER TABLE %s OWNER TO <a NOLOGIN role without crmperm assignments>;', m.relid::regclass)
      FROM mr m
      JOIN pg_authid a ON a.oid = m.relowner
     WHERE m.relowner IN (SELECT roleid FROM governed) AND NOT a.rolsuper
),
exempt_roles AS (
    SELECT a.oid AS roleid,
           CASE WHEN a.rolsuper THEN 'a superuser'
                WHEN a.rolbypassrls THEN 'has BYPASSRLS'
                WHEN a.oid IN (SELECT roleid FROM super_admins) THEN 'a crmperm super admin'
                ELSE 'owner of ' || (SELECT string_agg(m.relid::regclass::text, ', ' ORDER BY m.relid::regclass::text COLLATE "C")
                                       FROM mr m WHERE m.relowner = a.oid) END AS why,
           a.rolsuper
      FROM pg_authid a
     WHERE a.rolsuper OR a.rolbypassrls OR a.oid IN (SELECT roleid FROM super_admins)
        OR a.oid IN (SELECT m.relowner FROM mr m)
),
f_set_role AS (
    SELECT CASE WHEN e.rolsuper THEN 'error' ELSE 'warning' END,
           'principal_can_set_role_to_exempt_role', g.roleid::regrole::text,
           pg_catalog.format(
               'Role has crmperm assignments or attributes and is a member of %s (%s): with SET ROLE %s it leaves behind the crmperm rules that role is exempt from.',
               e.roleid::regrole, e.why, e.roleid::regrole),
           (SELECT string_agg(pg_catalog.format('REVOKE %s FROM %s;', am.roleid::regrole, g.roleid::regrole),
                              ' ' ORDER BY am.roleid::regrole::text COLLATE "C")
              FROM pg_auth_members am
             WHERE am.member = g.roleid AND pg_has_role(am.roleid, e.roleid, 'MEMBER'))
           || CASE WHEN EXISTS (SELECT FROM pg_auth_members am
                                 WHERE am.member = g.roleid AND am.roleid = e.roleid)
                   THEN '' ELSE ' -- the membership is indirect: this revokes the first step' END
      FROM governed g
      JOIN pg_authid a ON a.oid = g.roleid AND NOT a.rolsuper
      JOIN exempt_roles e ON e.roleid <> g.roleid
     WHERE g.roleid NOT IN (SELECT roleid FROM super_admins)
       AND pg_has_role(g.roleid, e.roleid, 'MEMBER')
),
-- 5. row security off on a managed relation
f_rls AS (
    SELECT 'error', 'row_security_off', m.relid::regclass::text,
           pg_catalog.format('Row security is %s on this %s of resource "%s": crmperm''s scopes, tenant boundary and default deny %s.',
               CASE WHEN NOT c.relrowsecurity AND NOT c.relforcerowsecurity THEN 'disabled and not forced'
                    WHEN NOT c.relrowsecurity THEN 'disabled' ELSE 'not forced' END,
               CASE WHEN m.relid = r.tbl::oid THEN 'managed table'
                    WHEN c.relispartition THEN 'partition' ELSE 'inheritance child' END,
               m.resource,
               CASE WHEN NOT c.relrowsecurity THEN 'apply to nobody on it (every role with the native privilege reads every row)'
                    ELSE 'do not apply to its owner and the members of its owning role' END),
           CASE WHEN c.relkind = 'f' THEN pg_catalog.format(
               'ALTER TABLE %s DETACH PARTITION %s; -- a foreign table cannot have row security', (SELECT i.inhparent::regclass FROM pg_inherits i WHERE i.inhrelid = m.relid LIMIT 1), m.relid::regclass)
                ELSE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;', m.relid::regclass) END
      FROM mr m
      JOIN pg_class c ON c.oid = m.relid
      JOIN crmperm.resources r ON r.resource = m.resource
     WHERE NOT (c.relrowsecurity AND c.relforcerowsecurity)
),
-- 6. statistics of protected fields
field_cols AS (
    SELECT m.relid, a.attnum, a.attname
      FROM crmperm.fields f
      JOIN mr m ON m.resource = f.resource
      JOIN pg_attribute a ON a.attrelid = m.relid AND a.attname = f.field AND a.attnum > 0 AND NOT a.attisdropped
),
f_stats AS (
    SELECT 'warning', 'protected_field_statistics', pg_catalog.format('%s.%I', x.relid::regclass, x.attname),
           'pg_statistic holds statistics of this protected field (most common values, histogram bounds): hidden values themselves. Superusers read them, and pg_stats shows them to roles with SELECT on the column for which row security is not active (BYPASSRLS roles). ANALYZE gathers them again unless the column''s statistics target is 0.',
           pg_catalog.format('ALTER TABLE %1$s ALTER COLUMN %2$I SET STATISTICS 0; DELETE FROM pg_catalog.pg_statistic WHERE starelid = %3$L::regclass AND staattnum = %4$s; -- as a superuser: SET STATISTICS 0 alone keeps the statistics already there (ANALYZE skips the column, it does not delete them)',
               x.relid::regclass, x.attname, x.relid::regclass::text, x.attnum)
      FROM field_cols x
     WHERE EXISTS (SELECT FROM pg_statistic s WHERE s.starelid = x.relid AND s.staattnum = x.attnum)
    UNION ALL
    SELECT 'warning', 'protected_field_statistics', i.indexrelid::regclass::text,
           pg_catalog.format('pg_statistic holds statistics of this index''s expression over protected field %s.%I (most common values, histogram bounds): values computed from the hidden ones. ANALYZE of the table gathers them again unless the index column''s statistics target is 0.',
               x.relid::regclass, x.attname),
           string_agg(pg_catalog.format('ALTER INDEX %s ALTER COLUMN %s SET STATISTICS 0;', i.indexrelid::regclass, k.n), ' ' ORDER BY k.n)
           || pg_catalog.format(' DELETE FROM pg_catalog.pg_statistic WHERE starelid = %L::regclass AND staattnum IN (%s); -- as a superuser',
               i.indexrelid::regclass::text, string_agg(k.n::text, ', ' ORDER BY k.n))
      FROM field_cols x
      JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                      AND d.refobjid = x.relid AND d.refobjsubid = x.attnum
      JOIN pg_index i ON i.indexrelid = d.objid
      CROSS JOIN LATERAL generate_series(1, i.indnatts) k(n)
     WHERE i.indkey[k.n - 1] = 0
       AND EXISTS (SELECT FROM pg_statistic s WHERE s.starelid = i.indexrelid AND s.staattnum = k.n)
       AND EXISTS (SELECT FROM regexp_matches(pg_get_indexdef(i.indexrelid, k.n, true),
                                              '"((?:[^"]|"")+)"|([[:alpha:]_][[:alnum:]_$]*)', 'g') t
                    WHERE coalesce(replace(t[1], '""', '"'), t[2]) = x.attname)
     GROUP BY i.indexrelid, x.relid, x.attname
    UNION ALL
    SELECT 'warning', 'protected_field_statistics', pg_catalog.format('%I.%I', n.nspname, e.stxname),
           pg_catalog.format('Extended statistics over protected field %s.%I hold data gathered from its hidden values (%s).',
               x.relid::regclass, x.attname,
               (SELECT string_agg(k, ', ') FROM unnest(ARRAY[
                    CASE WHEN bool_or(sd.stxdmcv IS NOT NULL) THEN 'most common values' END,
                    CASE WHEN bool_or(sd.stxdexpr IS NOT NULL) THEN 'expression statistics' END,
                    CASE WHEN bool_or(sd.stxdndistinct IS NOT NULL) THEN 'n-distinct counts' END,
                    CASE WHEN bool_or(sd.stxddependencies IS NOT NULL) THEN 'functional dependencies' END]) k)),
           pg_catalog.format('DROP STATISTICS %I.%I; -- recreate it without %I if the planner needs it',
               n.nspname, e.stxname, x.attname)
      FROM field_cols x
      JOIN pg_depend d ON d.classid = 'pg_statistic_ext'::regclass AND d.refclassid = 'pg_class'::regclass
                      AND d.refobjid = x.relid AND d.refobjsubid = x.attnum
      JOIN pg_statistic_ext e ON e.oid = d.objid
      JOIN pg_namespace n ON n.oid = e.stxnamespace
      JOIN pg_statistic_ext_data sd ON sd.stxoid = e.oid
     GROUP BY e.oid, n.nspname, e.stxname, x.relid, x.attname
),
-- 7. expired assignments
f_expired AS (
    SELECT 'info', 'expired_assignment', a.principal::text,
           pg_catalog.format('Assignment of %s ended at %s: it no longer counts, but stays in the catalog.', a.what, a.valid_until),
           pg_catalog.format('SELECT crmperm.%s(%L, %L);', a.unassign, a.principal::text, a.name)
      FROM assignments a
     WHERE a.valid_until <= now()
       AND EXISTS (SELECT FROM pg_authid r WHERE r.oid = a.principal::oid)
),
-- assignments left behind by DROP ROLE
f_dropped AS (
    SELECT 'warning', 'assignment_of_dropped_role', a.principal::oid::text,
           pg_catalog.format('Role OID %s no longer exists but is still assigned %s; a role that gets this OID later (OID wraparound, or a cluster this database is restored into) would receive it.',
               a.principal::oid, a.what),
           pg_catalog.format('SELECT crmperm.%s(%L, %L);', a.unassign, a.principal::oid::text, a.name)
      FROM assignments a
     WHERE NOT EXISTS (SELECT FROM pg_authid r WHERE r.oid = a.principal::oid)
    UNION ALL
    SELECT 'warning', 'assignment_of_dropped_role', p.principal::oid::text,
           pg_catalog.format('Role OID %s no longer exists but still has crmperm principal attributes%s; a role that gets this OID later (OID wraparound, or a cluster this database is restored into) would receive them.',
               p.principal::oid, CASE WHEN p.super_admin THEN ' and the super admin flag' ELSE '' END),
           pg_catalog.format('DELETE FROM crmperm.principals WHERE principal = %L::regrole; -- as the extension owner (a superuser)', p.principal::oid::text)
      FROM crmperm.principals p
     WHERE NOT EXISTS (SELECT FROM pg_authid r WHERE r.oid = p.principal::oid)
),
-- 8. login roles that can become a token's principal without the token
live_tokens AS (
    SELECT t.name, t.principal::oid AS principal, t.scopes, t.expires
      FROM crmperm.api_tokens t
     WHERE t.revoked IS NULL
),
f_token_logins AS (
    SELECT 'warning', 'login_can_set_role_to_token_principal', l.oid::regrole::text,
           CASE WHEN l.oid = t.principal THEN pg_catalog.format(
               'Role %s is the principal of token(s) %s and can log in itself: a session logged in as it has all of its grants without a token, the token''s scopes, expiry or revocation.',
               t.principal::regrole, string_agg(t.name, ', ' ORDER BY t.name COLLATE "C"))
                ELSE pg_catalog.format(
               'Login role is a member of %s, the principal of token(s) %s: SET ROLE %s gives it all of that role''s grants without a token, the token''s scopes, expiry or revocation.',
               t.principal::regrole, string_agg(t.name, ', ' ORDER BY t.name COLLATE "C"), t.principal::regrole) END,
           CASE WHEN l.oid = t.principal THEN pg_catalog.format('ALTER ROLE %s NOLOGIN;', l.oid::regrole)
                ELSE (SELECT string_agg(pg_catalog.format('REVOKE %s FROM %s;', am.roleid::regrole, l.oid::regrole),
                                        ' ' ORDER BY am.roleid::regrole::text COLLATE "C")
                        FROM pg_auth_members am
                       WHERE am.member = l.oid AND pg_has_role(am.roleid, t.principal, 'MEMBER'))
                     || CASE WHEN EXISTS (SELECT FROM pg_auth_members am
                                           WHERE am.member = l.oid AND am.roleid = t.principal)
                             THEN '' ELSE ' -- the membership is indirect: this revokes the first step' END END
      FROM live_tokens t
      JOIN pg_authid l ON l.rolcanlogin AND NOT l.rolsuper
     WHERE pg_has_role(l.oid, t.principal, 'MEMBER')
     GROUP BY l.oid, t.principal
),
-- 9. tokens that never expire
f_token_expiry AS (
    SELECT 'warning', 'token_without_expiry', t.name,
           pg_catalog.format('Token acting as %s with scopes %s never expires: it works until revoked (last used: %s).',
               t.principal::regrole, array_to_string(t.scopes, ', '),
               coalesce((SELECT u.last_used::text FROM crmperm.token_usage u WHERE u.name = t.name), 'never')),
           pg_catalog.format('SELECT crmperm.revoke_token(%L); -- after crmperm.create_token(<new name>, %L, %L, expires_at => <when>) and handing the new token out',
               t.name, t.principal::regrole::text, t.scopes::text)
      FROM live_tokens t
     WHERE t.expires IS NULL
),
f_token_dead AS (
    SELECT 'warning', 'token_principal_not_governed', t.name,
           pg_catalog.format('Token acting as %s: %s, so authenticate() refuses the token (fail closed).',
               t.principal::regrole, crmperm._token_principal_problem(t.principal::regrole)),
           pg_catalog.format('SELECT crmperm.revoke_token(%L); -- and create one for a role without special attributes that crmperm governs', t.name)
      FROM live_tokens t
     WHERE crmperm._token_principal_problem(t.principal::regrole) IS NOT NULL
),
-- functions that row security lets run before its quals
f_leakproof AS (
    SELECT 'warning', 'leakproof_function', p.oid::regprocedure::text,
           'Marked LEAKPROOF outside pg_catalog: PostgreSQL may run it before row security quals, on rows outside the caller''s scopes and tenant; whatever it reveals about its arguments (errors, notices, side effects) leaks them.',
           pg_catalog.format('ALTER FUNCTION %s NOT LEAKPROOF; -- as a superuser', p.oid::regprocedure)
      FROM pg_proc p
     WHERE p.proleakproof AND p.pronamespace <> 'pg_catalog'::regnamespace
),
findings(severity, finding, object, detail, fix) AS (
    SELECT * FROM f_views
    UNION ALL SELECT * FROM f_definers
    UNION ALL SELECT * FROM f_ungoverned
    UNION ALL SELECT * FROM f_owned
    UNION ALL SELECT * FROM f_set_role
    UNION ALL SELECT * FROM f_rls
    UNION ALL SELECT * FROM f_stats
    UNION ALL SELECT * FROM f_expired
    UNION ALL SELECT * FROM f_dropped
    UNION ALL SELECT * FROM f_token_logins
    UNION ALL SELECT * FROM f_token_expiry
    UNION ALL SELECT * FROM f_token_dead
    UNION ALL SELECT * FROM f_leakproof
)
SELECT f.severity, f.finding, f.object, f.detail, f.fix
  FROM findings f
 ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
          f.finding COLLATE "C", f.object COLLATE "C", f.detail COLLATE "C"
$lint$;
REVOKE ALL ON FUNCTION crmperm._lint() FROM PUBLIC;

-- manage_permissions (the dispatcher's default)
CREATE FUNCTION crmperm.lint()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

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
CREATE FUNCTION crmperm._audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    hidden text[] := ARRAY['hash', 'key_id', 'key'];
BEGIN
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

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['resources', 'scopes', 'permission_sets', 'object_grants',
                             'system_grants', 'roles', 'role_permission_sets',
                             'role_assignments', 'set_assignments', 'principals',
                             'fields', 'field_grants', 'secret', 'api_tokens']
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON crmperm.%I '
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

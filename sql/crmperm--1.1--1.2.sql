/* crmperm--1.1--1.2.sql: hardening after an outside review (issue 13) */

\echo Use "ALTER EXTENSION crmperm UPDATE TO '1.2'" to load this file. \quit

-- A fresh CREATE EXTENSION crmperm runs crmperm--1.0.sql, crmperm--1.0--1.1.sql
-- and then this script: an updated database and a new one are made by the
-- same statements.  1.0 and 1.1 are released: their scripts never change.

-- ---------------------------------------------------------------------------
-- Internal functions and argument checks (no SQL crashes the server; real
-- principals; one clear error per bad argument).
-- ---------------------------------------------------------------------------

-- Principals never need these directly: whoami() and the audit trigger run
-- _token_name() as the extension owner.
REVOKE ALL ON FUNCTION crmperm._token_name() FROM PUBLIC;

-- Superuser-only C helpers: no meaning for NULL.
ALTER FUNCTION crmperm._check_predicate(regclass, text) STRICT;
ALTER FUNCTION crmperm._check_mask(regclass, name, text) STRICT;

-- The check and mask functions stay executable by PUBLIC (principals run
-- them inside crmperm's plans, and EXECUTE is checked as the caller), but
-- refuse to act unless called from a call site crmperm built (C).

-- DROP ROLE (crmperm's utility hook, after the role is gone): its rows in
-- this database's catalog go too (audited like every catalog change), and
-- its tokens are revoked (kept: the audit trail names them).  Other
-- databases keep theirs: lint() reports them (assignment_of_dropped_role,
-- token_principal_invalid), and admin functions refuse the OID of a role that
-- does not exist, except unassign_*, which remove such leftovers.
CREATE FUNCTION crmperm._forget_role(principal oid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_authid a WHERE a.oid = principal) THEN
        RETURN;
    END IF;
    DELETE FROM crmperm.role_assignments a WHERE a.principal::oid = _forget_role.principal;
    DELETE FROM crmperm.set_assignments a WHERE a.principal::oid = _forget_role.principal;
    DELETE FROM crmperm.principals p WHERE p.principal::oid = _forget_role.principal;
    UPDATE crmperm.api_tokens t SET revoked = now()
     WHERE t.principal::oid = _forget_role.principal AND t.revoked IS NULL;
END
$$;
REVOKE ALL ON FUNCTION crmperm._forget_role(oid) FROM PUBLIC;

-- One wording for an unknown value, in grant(), revoke(), grant_field(),
-- grant_system() and check(): "unknown action "x"", HINT "Actions are read,
-- create, update and delete."
CREATE OR REPLACE FUNCTION crmperm._check_list(vals text[], allowed text[], what text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v text;
BEGIN
    PERFORM crmperm._not_null(vals, what || 's');
    IF cardinality(vals) = 0 THEN
        RAISE EXCEPTION '% list must not be empty', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v IN ARRAY vals LOOP
        IF v IS NULL THEN
            RAISE EXCEPTION '% must not be null', what USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF NOT v = ANY (allowed) THEN
            RAISE EXCEPTION 'unknown % "%"', what, v
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = pg_catalog.format('%ss are %s and %s.',
                          pg_catalog.upper(pg_catalog.left(what, 1)) || pg_catalog.substr(what, 2),
                          pg_catalog.array_to_string(allowed[1:cardinality(allowed) - 1], ', '),
                          allowed[cardinality(allowed)]);
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT x FROM unnest(vals) x);
END
$$;

-- A predicate that does not parse or type-check names the scope; the
-- parser's message is the DETAIL, its SQLSTATE kept.
CREATE OR REPLACE FUNCTION crmperm._define_scope(resource text, scope text, predicate text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources := crmperm._resource(resource);
    state text;
    msg text;
    detail text;
    hint text;
BEGIN
    PERFORM crmperm._not_null(scope, 'scope');
    PERFORM crmperm._not_null(predicate, 'predicate');
    IF scope IN ('all', 'owned', 'team', 'department', 'tenant') THEN
        RAISE EXCEPTION 'scope "%" is built in', scope
            USING ERRCODE = 'duplicate_object', HINT = 'Choose another name for a custom scope.';
    END IF;
    IF scope !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid scope name "%"', scope
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A scope name has lower case letters, digits and underscores, and does not start with a digit.';
    END IF;
    BEGIN
        PERFORM crmperm._check_predicate(r.tbl, predicate);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        detail := pg_catalog.upper(pg_catalog.left(msg, 1)) || pg_catalog.substr(msg, 2) || '.'
                  || coalesce(' ' || nullif(detail, ''), '');
        IF coalesce(hint, '') = '' THEN
            RAISE EXCEPTION 'invalid predicate for scope "%" of resource "%"', scope, r.resource
                USING ERRCODE = state, DETAIL = detail;
        END IF;
        RAISE EXCEPTION 'invalid predicate for scope "%" of resource "%"', scope, r.resource
            USING ERRCODE = state, DETAIL = detail, HINT = hint;
    END;
    INSERT INTO crmperm.scopes VALUES (r.resource, scope, predicate)
    ON CONFLICT ON CONSTRAINT scopes_pkey DO UPDATE SET predicate = excluded.predicate;
END
$$;



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

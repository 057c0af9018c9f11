/* crmperm--1.0.sql: catalog, admin API and introspection */

\echo Use "CREATE EXTENSION crmperm" to load this file. \quit

/*
 * Everything below runs with search_path = crmperm (set by CREATE EXTENSION),
 * but every object is schema-qualified anyway; functions fix their own
 * search_path to pg_catalog, pg_temp so a caller's search_path changes
 * nothing.
 */

GRANT USAGE ON SCHEMA crmperm TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Catalog.  Roles are regrole and tables regclass, so pg_dump restores them by
-- name; everything else is keyed by name.  Nobody but the extension owner can
-- read or write these tables directly.
-- ---------------------------------------------------------------------------

CREATE TABLE crmperm.resources (
    resource          text PRIMARY KEY,
    tbl               regclass NOT NULL UNIQUE,
    owner_column      name,
    team_column       name,
    department_column name,
    tenant_column     name,
    sensitive         boolean NOT NULL DEFAULT false,
    strict_fields     boolean NOT NULL DEFAULT false,
    rls_was_enabled   boolean NOT NULL DEFAULT false,
    rls_was_forced    boolean NOT NULL DEFAULT false
);

CREATE TABLE crmperm.scopes (
    resource   text NOT NULL REFERENCES crmperm.resources ON DELETE CASCADE ON UPDATE CASCADE,
    scope      text NOT NULL,
    predicate  text NOT NULL,
    PRIMARY KEY (resource, scope)
);

CREATE TABLE crmperm.permission_sets (
    name        text PRIMARY KEY,
    description text
);

CREATE TABLE crmperm.object_grants (
    permission_set text NOT NULL REFERENCES crmperm.permission_sets ON DELETE CASCADE,
    resource       text NOT NULL REFERENCES crmperm.resources ON DELETE CASCADE ON UPDATE CASCADE,
    action         text NOT NULL CHECK (action IN ('read', 'create', 'update', 'delete')),
    scope          text NOT NULL DEFAULT 'all',
    PRIMARY KEY (permission_set, resource, action)
);

CREATE TABLE crmperm.system_grants (
    permission_set text NOT NULL REFERENCES crmperm.permission_sets ON DELETE CASCADE,
    permission     text NOT NULL CHECK (permission IN
                       ('export', 'bulk', 'manage_permissions', 'manage_tokens', 'view_audit')),
    PRIMARY KEY (permission_set, permission)
);

CREATE TABLE crmperm.roles (
    name        text PRIMARY KEY,
    parent      text REFERENCES crmperm.roles ON DELETE RESTRICT,
    description text,
    CHECK (parent IS DISTINCT FROM name)
);

CREATE TABLE crmperm.role_permission_sets (
    role           text NOT NULL REFERENCES crmperm.roles ON DELETE CASCADE,
    permission_set text NOT NULL REFERENCES crmperm.permission_sets ON DELETE CASCADE,
    PRIMARY KEY (role, permission_set)
);

CREATE TABLE crmperm.role_assignments (
    principal   regrole NOT NULL,
    role        text NOT NULL REFERENCES crmperm.roles ON DELETE CASCADE,
    valid_until timestamptz,
    PRIMARY KEY (principal, role)
);

CREATE TABLE crmperm.set_assignments (
    principal      regrole NOT NULL,
    permission_set text NOT NULL REFERENCES crmperm.permission_sets ON DELETE CASCADE,
    valid_until    timestamptz,
    PRIMARY KEY (principal, permission_set)
);

CREATE TABLE crmperm.principals (
    principal      regrole PRIMARY KEY,
    user_id        text,
    team_ids       text[],
    department_ids text[],
    tenant_id      text,
    super_admin    boolean NOT NULL DEFAULT false
);

-- Protected fields: default-deny.  A principal without a field grant reads
-- the mask and cannot set or change the field.
CREATE TABLE crmperm.fields (
    resource text NOT NULL REFERENCES crmperm.resources ON DELETE CASCADE ON UPDATE CASCADE,
    field    name NOT NULL,
    mask     text NOT NULL DEFAULT 'null',
    readonly boolean NOT NULL DEFAULT false,
    PRIMARY KEY (resource, field)
);

CREATE TABLE crmperm.field_grants (
    permission_set text NOT NULL REFERENCES crmperm.permission_sets ON DELETE CASCADE,
    resource       text NOT NULL,
    field          name NOT NULL,
    privileges     text[] NOT NULL CHECK (privileges <@ ARRAY['read', 'create', 'update']
                                          AND 'read' = ANY (privileges)),
    scope          text NOT NULL DEFAULT 'all',
    PRIMARY KEY (permission_set, resource, field),
    FOREIGN KEY (resource, field) REFERENCES crmperm.fields ON DELETE CASCADE ON UPDATE CASCADE
);

-- The key of the hash mask (HMAC-SHA-256), made when a first field is
-- protected with it.  Only the extension owner reads it; crmperm keeps a copy
-- in backend memory, never in a plan.
CREATE TABLE crmperm.secret (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    key bytea NOT NULL CHECK (length(key) >= 32)
);

-- API tokens.  Only the SHA-256 hash of a token is kept; key_id, the public
-- part of the token, finds the row.  Revoked tokens stay (names are not
-- reused) so that the audit trail keeps naming them.
CREATE TABLE crmperm.api_tokens (
    name       text PRIMARY KEY,
    key_id     text NOT NULL UNIQUE,
    hash       bytea NOT NULL CHECK (length(hash) = 32),
    principal  regrole NOT NULL,
    scopes     text[] NOT NULL,
    created    timestamptz NOT NULL DEFAULT now(),
    created_by regrole NOT NULL,
    expires    timestamptz,
    revoked    timestamptz
);

-- When a token was last used: written by authenticate() at most once a
-- minute per token, on the primary only, skipping a row another transaction
-- holds.  Not a watched catalog table (no invalidation trigger): using a
-- token must not make every backend reload its cache.
CREATE TABLE crmperm.token_usage (
    name      text PRIMARY KEY REFERENCES crmperm.api_tokens ON DELETE CASCADE ON UPDATE CASCADE,
    last_used timestamptz
);

-- Role inheritance must stay a tree, whoever writes the table.
CREATE FUNCTION crmperm._no_role_cycle() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.parent IS NOT NULL AND EXISTS (
        WITH RECURSIVE up(name) AS (
            SELECT NEW.parent
            UNION
            SELECT r.parent FROM crmperm.roles r JOIN up ON r.name = up.name
             WHERE r.parent IS NOT NULL)
        SELECT FROM up WHERE up.name = NEW.name) THEN
        RAISE EXCEPTION 'role "%" cannot inherit from "%": that would make a cycle', NEW.name, NEW.parent
            USING ERRCODE = 'invalid_recursion';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER no_cycle BEFORE INSERT OR UPDATE ON crmperm.roles
    FOR EACH ROW EXECUTE FUNCTION crmperm._no_role_cycle();

REVOKE ALL ON ALL TABLES IN SCHEMA crmperm FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('crmperm.resources', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.scopes', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.permission_sets', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.object_grants', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.system_grants', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.roles', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.role_permission_sets', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.role_assignments', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.set_assignments', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.principals', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.fields', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.field_grants', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.secret', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.api_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.token_usage', '');

-- Any change to the catalog, through the API or by direct DML of the
-- extension owner, invalidates the cached decisions and plans of every
-- managed table (transactionally: undone by rollback, sent at commit).
CREATE FUNCTION crmperm._invalidate() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_invalidate';

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
            'CREATE TRIGGER invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crmperm.%I '
            'FOR EACH STATEMENT EXECUTE FUNCTION crmperm._invalidate()', t);
    END LOOP;
END
$$;
-- The resources trigger also needs the rows: a table that stops being managed
-- must be invalidated too.
CREATE TRIGGER invalidate_rows AFTER INSERT OR UPDATE OR DELETE ON crmperm.resources
    FOR EACH ROW EXECUTE FUNCTION crmperm._invalidate();

-- ---------------------------------------------------------------------------
-- What the enforcement code reads.  One source of truth: the C decision cache
-- and explain_access() both use these.
-- ---------------------------------------------------------------------------

-- Managed tables and every partition / inheritance child below them.
CREATE FUNCTION crmperm._managed_relations()
RETURNS TABLE (relid oid, resource text, relowner oid, sensitive boolean,
               owner_column name, team_column name, department_column name,
               tenant_column name)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE tree(relid, resource) AS (
        SELECT r.tbl::oid, r.resource FROM crmperm.resources r
        UNION
        SELECT i.inhrelid, t.resource FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
    )
    SELECT t.relid, t.resource, c.relowner, r.sensitive, r.owner_column,
           r.team_column, r.department_column, r.tenant_column
      FROM tree t
      JOIN crmperm.resources r ON r.resource = t.resource
      JOIN pg_class c ON c.oid = t.relid
$$;

-- Permission sets a role holds right now, with the CRM role they come
-- through (NULL: assigned directly) and when that assignment ends.  A role
-- holds the assignments of every PostgreSQL role it has the privileges of.
CREATE FUNCTION crmperm._effective_sets(principal oid)
RETURNS TABLE (permission_set text, via_role text, valid_until timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE
    assigned AS (
        SELECT a.role, a.valid_until
          FROM crmperm.role_assignments a
         WHERE pg_has_role($1, a.principal::oid, 'USAGE')
           AND (a.valid_until IS NULL OR a.valid_until > statement_timestamp())
    ),
    tree(role, via, valid_until) AS (
        SELECT role, role, valid_until FROM assigned
        UNION
        SELECT r.parent, t.via, t.valid_until
          FROM tree t JOIN crmperm.roles r ON r.name = t.role
         WHERE r.parent IS NOT NULL
    )
    SELECT rs.permission_set, t.via, t.valid_until
      FROM tree t JOIN crmperm.role_permission_sets rs ON rs.role = t.role
    UNION ALL
    SELECT s.permission_set, NULL, s.valid_until
      FROM crmperm.set_assignments s
     WHERE pg_has_role($1, s.principal::oid, 'USAGE')
       AND (s.valid_until IS NULL OR s.valid_until > statement_timestamp())
$$;

-- Object grants (kind 'o': relid, action, scope), field grants (kind 'f':
-- relid, privilege, scope, field) and system grants (kind 's': permission)
-- of a role, with the end of the assignment they come from.
CREATE FUNCTION crmperm._principal_rules(principal oid)
RETURNS TABLE (kind "char", relid oid, name text, scope text, valid_until timestamptz,
               field name)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'o'::"char", r.tbl::oid, g.action, g.scope, s.valid_until, NULL::name
      FROM crmperm._effective_sets($1) s
      JOIN crmperm.object_grants g ON g.permission_set = s.permission_set
      JOIN crmperm.resources r ON r.resource = g.resource
    UNION ALL
    SELECT 'f'::"char", r.tbl::oid, p, g.scope, s.valid_until, g.field
      FROM crmperm._effective_sets($1) s
      JOIN crmperm.field_grants g ON g.permission_set = s.permission_set
      JOIN crmperm.resources r ON r.resource = g.resource
      CROSS JOIN LATERAL unnest(g.privileges) p
    UNION ALL
    SELECT 's'::"char", 0::oid, g.permission, NULL, s.valid_until, NULL
      FROM crmperm._effective_sets($1) s
      JOIN crmperm.system_grants g ON g.permission_set = s.permission_set
$$;

CREATE FUNCTION crmperm._principal_attributes(principal oid)
RETURNS TABLE (user_id text, team_ids text[], department_ids text[], tenant_id text,
               super_admin boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.user_id, p.team_ids, p.department_ids, p.tenant_id, p.super_admin
      FROM crmperm.principals p WHERE p.principal::oid = $1
$$;

REVOKE ALL ON FUNCTION crmperm._managed_relations() FROM PUBLIC;
REVOKE ALL ON FUNCTION crmperm._effective_sets(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION crmperm._principal_rules(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION crmperm._principal_attributes(oid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Validation helpers for the admin implementations.
-- ---------------------------------------------------------------------------

CREATE FUNCTION crmperm._not_null(val anyelement, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF val IS NULL THEN
        RAISE EXCEPTION '% must not be null', what USING ERRCODE = 'null_value_not_allowed';
    END IF;
END
$$;

-- Names of permission sets and roles: a letter, then letters, digits,
-- spaces, underscores and hyphens.  Names are data, but refusing quotes and
-- semicolons keeps them readable in messages and logs.
CREATE FUNCTION crmperm._check_name(val text, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(val, what);
    IF val !~ '^[[:alpha:]][[:alnum:] _-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid % "%"', what, val
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A name starts with a letter and has at most 63 letters, digits, spaces, underscores and hyphens.';
    END IF;
END
$$;

CREATE FUNCTION crmperm._resource(resource text) RETURNS crmperm.resources
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
BEGIN
    PERFORM crmperm._not_null(resource, 'resource');
    SELECT * INTO r FROM crmperm.resources WHERE resources.resource = _resource.resource;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'resource "%" does not exist', resource
            USING ERRCODE = 'undefined_object',
                  HINT = 'Manage the table first with crmperm.manage_table().';
    END IF;
    RETURN r;
END
$$;

CREATE FUNCTION crmperm._permission_set(name text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(name, 'permission set');
    PERFORM FROM crmperm.permission_sets p WHERE p.name = _permission_set.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'permission set "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE FUNCTION crmperm._role(name text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(name, 'role');
    PERFORM FROM crmperm.roles r WHERE r.name = _role.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE FUNCTION crmperm._column(tbl regclass, col name, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF col IS NULL THEN
        RETURN;
    END IF;
    PERFORM FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
            USING ERRCODE = 'undefined_column',
                  DETAIL = pg_catalog.format('It was given as the %s.', what);
    END IF;
END
$$;

-- A scope a grant may use on a resource: all, or owned / team / department
-- when the table has that column, or a scope defined with define_scope().
CREATE FUNCTION crmperm._check_scope(r crmperm.resources, scope text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col name;
BEGIN
    PERFORM crmperm._not_null(scope, 'scope');
    CASE scope
        WHEN 'all' THEN RETURN;
        WHEN 'owned' THEN col := r.owner_column;
        WHEN 'team' THEN col := r.team_column;
        WHEN 'department' THEN col := r.department_column;
        ELSE
            PERFORM FROM crmperm.scopes s WHERE s.resource = r.resource AND s.scope = _check_scope.scope;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'scope "%" does not exist for resource "%"', scope, r.resource
                    USING ERRCODE = 'undefined_object',
                          HINT = 'Scopes are all, department, team, owned, or one defined with crmperm.define_scope().';
            END IF;
            RETURN;
    END CASE;
    IF col IS NULL THEN
        RAISE EXCEPTION 'scope "%" cannot be used on resource "%"', scope, r.resource
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The table has no %s column.', scope),
                  HINT = pg_catalog.format('Name the column with crmperm.manage_table(..., %s_column => ...).',
                                           CASE scope WHEN 'owned' THEN 'owner' ELSE scope END);
    END IF;
END
$$;

-- Elements of an array argument: none NULL, none unknown, no duplicates
-- complaint (duplicates are harmless).  The whole array is checked before
-- anything is written, so a partly bad array changes nothing.
CREATE FUNCTION crmperm._check_list(vals text[], allowed text[], what text) RETURNS text[]
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
                      HINT = pg_catalog.format('Valid values: %s.', pg_catalog.array_to_string(allowed, ', '));
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT x FROM unnest(vals) x);
END
$$;

-- The role a call came from (the dispatcher records it before running an
-- implementation as the extension owner).
CREATE FUNCTION crmperm._caller() RETURNS regrole
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_caller';

-- Enable and force row security on a relation (and say whether it had it).
CREATE FUNCTION crmperm._secure(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', rel);
END
$$;

-- A table that just went below a table crmperm manages (CREATE TABLE ...
-- PARTITION OF / INHERITS, ATTACH PARTITION, INHERIT): secure it.  A managed
-- table never goes below another table, and nothing inherits from two.
CREATE FUNCTION crmperm._adopt_child(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    roots text[];
BEGIN
    IF EXISTS (SELECT FROM crmperm.resources r WHERE r.tbl = rel) THEN
        RAISE EXCEPTION 'cannot put managed table % below another table', rel
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = 'Queries on the parent would read its rows without its scopes.',
                  HINT = 'Stop managing it with crmperm.unmanage_table() first, or manage the parent instead.';
    END IF;
    WITH RECURSIVE up(relid) AS (
        SELECT rel::oid
        UNION SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.relid)
    SELECT array_agg(DISTINCT r.resource ORDER BY r.resource) INTO roots
      FROM up JOIN crmperm.resources r ON r.tbl = up.relid;
    IF cardinality(roots) > 1 THEN
        RAISE EXCEPTION 'table % cannot inherit from more than one managed table', rel
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = pg_catalog.format('It would inherit from resources %s.', array_to_string(roots, ', '));
    END IF;
    PERFORM crmperm._secure(rel);
END
$$;

-- Only a table's owner (or a superuser) manages or unmanages it: managing
-- replaces the owner's own row security with crmperm's.
CREATE FUNCTION crmperm._check_owner(tbl regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT pg_has_role(crmperm._caller(), (SELECT c.relowner FROM pg_class c WHERE c.oid = tbl), 'MEMBER') THEN
        RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

-- Is the role that called the admin function a superuser?
CREATE FUNCTION crmperm._caller_is_superuser() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.rolsuper FROM pg_authid a WHERE a.oid = crmperm._caller()
$$;

REVOKE ALL ON FUNCTION crmperm._not_null(anyelement, text), crmperm._check_name(text, text),
    crmperm._resource(text), crmperm._permission_set(text), crmperm._role(text),
    crmperm._column(regclass, name, text), crmperm._check_scope(crmperm.resources, text),
    crmperm._check_list(text[], text[], text), crmperm._secure(regclass) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Admin API.  Each public function is a C entry point
-- (crmperm_admin_dispatch) that checks the caller -- superuser, or holding the
-- system permission the function needs -- and then runs the implementation
-- crmperm._<name> with the same arguments.  The implementations are SECURITY
-- DEFINER and not executable by PUBLIC, so the catalog is only ever changed
-- through the checks.  An error anywhere undoes the whole call.
-- ---------------------------------------------------------------------------

-- Tables -------------------------------------------------------------------

CREATE FUNCTION crmperm._manage_table(tbl regclass, resource text, owner_column name,
    team_column name, department_column name, tenant_column name,
    sensitive boolean, strict_fields boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c pg_class;
    child regclass;
BEGIN
    PERFORM crmperm._not_null(tbl, 'table');
    SELECT * INTO c FROM pg_class WHERE oid = tbl;
    IF c.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', tbl USING ERRCODE = 'wrong_object_type';
    END IF;
    IF c.relnamespace IN ('pg_catalog'::regnamespace, 'crmperm'::regnamespace,
                          'information_schema'::regnamespace) THEN
        RAISE EXCEPTION 'cannot manage "%"', tbl
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'It is a system or crmperm table.';
    END IF;
    IF c.relpersistence = 't' THEN
        RAISE EXCEPTION 'cannot manage temporary table "%"', tbl USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF c.relispartition THEN
        RAISE EXCEPTION 'cannot manage partition "%" on its own', tbl
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Manage the partitioned table: its partitions follow.';
    END IF;
    IF EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = tbl) THEN
        RAISE EXCEPTION 'cannot manage inheritance child "%" on its own', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Queries on its parent would read its rows without its scopes.',
                  HINT = 'Manage the parent table: its children follow.';
    END IF;
    PERFORM crmperm._check_owner(tbl);
    resource := coalesce(resource, c.relname::text);
    IF resource !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid resource name "%"', resource
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A resource name has lower case letters, digits and underscores, and does not start with a digit.';
    END IF;
    IF EXISTS (SELECT FROM crmperm.resources r WHERE r.tbl = _manage_table.tbl) THEN
        RAISE EXCEPTION 'table "%" is already managed', tbl USING ERRCODE = 'duplicate_object';
    END IF;
    IF EXISTS (SELECT FROM crmperm.resources r WHERE r.resource = _manage_table.resource) THEN
        RAISE EXCEPTION 'resource "%" already exists', resource USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM crmperm._column(tbl, owner_column, 'owner column');
    PERFORM crmperm._column(tbl, team_column, 'team column');
    PERFORM crmperm._column(tbl, department_column, 'department column');
    PERFORM crmperm._column(tbl, tenant_column, 'tenant column');

    INSERT INTO crmperm.resources VALUES (resource, tbl, owner_column, team_column,
        department_column, tenant_column, coalesce(sensitive, false), coalesce(strict_fields, false),
        c.relrowsecurity, c.relforcerowsecurity);
    IF strict_fields THEN
        PERFORM crmperm._protect_all(crmperm._resource(resource));
    END IF;

    PERFORM crmperm._secure(tbl);
    FOR child IN SELECT relid FROM pg_partition_tree(tbl) WHERE relid <> tbl LOOP
        PERFORM crmperm._secure(child);
    END LOOP;
    FOR child IN
        WITH RECURSIVE t(relid) AS (
            SELECT inhrelid FROM pg_inherits WHERE inhparent = tbl
            UNION SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.relid)
        SELECT relid FROM t
    LOOP
        PERFORM crmperm._secure(child);
    END LOOP;
END
$$;

CREATE FUNCTION crmperm._unmanage_table(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
    child regclass;
BEGIN
    PERFORM crmperm._not_null(tbl, 'table');
    PERFORM crmperm._check_owner(tbl);
    DELETE FROM crmperm.resources x WHERE x.tbl = _unmanage_table.tbl RETURNING * INTO r;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table "%" is not managed', tbl USING ERRCODE = 'undefined_object';
    END IF;
    -- Turn row security back to what it was before crmperm turned it on, on
    -- the table and the partitions and children below it.
    FOR child IN
        WITH RECURSIVE t(relid) AS (
            SELECT tbl::oid
            UNION SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.relid)
        SELECT relid FROM t
    LOOP
        IF NOT r.rls_was_forced THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', child);
        END IF;
        IF NOT r.rls_was_enabled THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', child);
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION crmperm._mark_sensitive(resource text, sensitive boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources := crmperm._resource(resource);
BEGIN
    PERFORM crmperm._not_null(sensitive, 'sensitive');
    IF NOT sensitive AND r.sensitive AND
       NOT crmperm._caller_is_superuser() THEN
        RAISE EXCEPTION 'permission denied: only a superuser may make resource "%" not sensitive', r.resource
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF sensitive THEN
        IF EXISTS (SELECT FROM crmperm.object_grants g
                    WHERE g.resource = r.resource AND g.action <> 'read') THEN
            RAISE EXCEPTION 'cannot mark resource "%" sensitive while write grants exist', r.resource
                USING ERRCODE = 'object_in_use',
                      DETAIL = (SELECT 'Granted: ' || string_agg(pg_catalog.format('%s.%s to "%s"', g.resource, g.action, g.permission_set), ', ' ORDER BY g.permission_set, g.action)
                                  FROM crmperm.object_grants g WHERE g.resource = r.resource AND g.action <> 'read') || '.',
                      HINT = 'Revoke them first with crmperm.revoke().';
        END IF;
    END IF;
    UPDATE crmperm.resources x SET sensitive = _mark_sensitive.sensitive WHERE x.resource = r.resource;
END
$$;

-- Custom scopes --------------------------------------------------------------

-- Parse and type-check a predicate over a table (C: one boolean expression,
-- no volatile function, no subquery into a managed table).
CREATE FUNCTION crmperm._check_predicate(tbl regclass, predicate text) RETURNS void
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_check_predicate';

CREATE FUNCTION crmperm._define_scope(resource text, scope text, predicate text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources := crmperm._resource(resource);
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
    PERFORM crmperm._check_predicate(r.tbl, predicate);
    INSERT INTO crmperm.scopes VALUES (r.resource, scope, predicate)
    ON CONFLICT ON CONSTRAINT scopes_pkey DO UPDATE SET predicate = excluded.predicate;
END
$$;

CREATE FUNCTION crmperm._drop_scope(resource text, scope text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources := crmperm._resource(resource);
    users text;
BEGIN
    PERFORM crmperm._not_null(scope, 'scope');
    PERFORM FROM crmperm.scopes s WHERE s.resource = r.resource AND s.scope = _drop_scope.scope;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'scope "%" does not exist for resource "%"', scope, r.resource
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT string_agg(DISTINCT pg_catalog.format('"%s"', g.permission_set), ', ') INTO users
      FROM (SELECT o.permission_set FROM crmperm.object_grants o
             WHERE o.resource = r.resource AND o.scope = _drop_scope.scope
            UNION ALL
            SELECT f.permission_set FROM crmperm.field_grants f
             WHERE f.resource = r.resource AND f.scope = _drop_scope.scope) g;
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop scope "%" of resource "%" because grants use it', scope, r.resource
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = pg_catalog.format('Permission sets granting with it: %s.', users),
                  HINT = 'Revoke those grants or grant them with another scope first.';
    END IF;
    DELETE FROM crmperm.scopes s WHERE s.resource = r.resource AND s.scope = _drop_scope.scope;
END
$$;

-- Fields ---------------------------------------------------------------------

-- Validate a mask for a column (C: builds the mask expression once), and
-- return it as stored: a built-in mask name, or a function as schema.name.
CREATE FUNCTION crmperm._check_mask(tbl regclass, field name, mask text) RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_check_mask';

-- A protected field of a resource (its name checked against the table).
CREATE FUNCTION crmperm._field(r crmperm.resources, field name) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(field, 'field');
    PERFORM FROM crmperm.fields f WHERE f.resource = r.resource AND f.field = _field.field;
    IF NOT FOUND THEN
        PERFORM crmperm._column(r.tbl, field, 'field');
        RAISE EXCEPTION 'field "%.%" is not protected', r.resource, field
            USING ERRCODE = 'undefined_object',
                  HINT = 'Protect it first with crmperm.protect_field().';
    END IF;
END
$$;

-- A principal that may write a hash-masked field on the rows of a scope only
-- could write a guess, move the row out of its scope and read the guess's
-- hash: a dictionary attack on the key, one guess per update.  So scoped
-- create / update and the hash mask do not go together.
CREATE FUNCTION crmperm._check_hash_grants(resource text, field name, mask text, sets text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF mask = 'hash' AND cardinality(sets) > 0 THEN
        RAISE EXCEPTION 'field "%.%" cannot have both the hash mask and scoped create or update', resource, field
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Scoped write grants: %s. A principal could write a guess, move the row out of its scope and read the guess''s hash.',
                                             pg_catalog.array_to_string(sets, ', ')),
                  HINT = 'Grant create or update on this field with scope all, or use another mask.';
    END IF;
END
$$;

-- The columns of a managed table's partition keys (all levels): a row's
-- partition tells which range its key is in, so they cannot be hidden.
CREATE FUNCTION crmperm._partition_key_columns(tbl regclass) RETURNS name[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(DISTINCT a.attname), '{}')
      FROM pg_partition_tree(tbl) t
      JOIN pg_partitioned_table p ON p.partrelid = t.relid
      CROSS JOIN LATERAL unnest(p.partattrs::int2[]) k(attnum)
      JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.attnum
     WHERE k.attnum > 0
$$;

-- Protect one field (or change its mask / read-only flag).  The hash mask's
-- key is made the first time a field uses it.
CREATE FUNCTION crmperm._protect_one(r crmperm.resources, field name, mask text, readonly boolean)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    mask := crmperm._check_mask(r.tbl, field, mask);
    IF mask = 'hash' THEN
        PERFORM crmperm._check_hash_grants(r.resource, field, mask,
            ARRAY(SELECT g.permission_set FROM crmperm.field_grants g
                   WHERE g.resource = r.resource AND g.field = _protect_one.field
                     AND g.scope <> 'all' AND g.privileges && ARRAY['create', 'update']));
        INSERT INTO crmperm.secret (key)
        SELECT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text
                              || gen_random_uuid()::text, '-', ''), 'hex')
        ON CONFLICT DO NOTHING;
    END IF;
    INSERT INTO crmperm.fields VALUES (r.resource, field, mask, readonly)
    ON CONFLICT ON CONSTRAINT fields_pkey
    DO UPDATE SET mask = excluded.mask, readonly = excluded.readonly;
END
$$;

CREATE FUNCTION crmperm._protect_field(resource text, field name, mask text, readonly boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources := crmperm._resource(resource);
BEGIN
    PERFORM crmperm._not_null(field, 'field');
    PERFORM crmperm._not_null(mask, 'mask');
    PERFORM crmperm._not_null(readonly, 'readonly');
    PERFORM crmperm._column(r.tbl, field, 'field');
    IF field = ANY (crmperm._partition_key_columns(r.tbl)) THEN
        RAISE EXCEPTION 'cannot protect field "%.%": it is a partition key column', r.resource, field
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Which partition a row is in tells the value''s range (tableoid, the partitions queried directly).';
    END IF;
    PERFORM crmperm._protect_one(r, field, mask, readonly);
END
$$;

CREATE FUNCTION crmperm._unprotect_field(resource text, field name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources := crmperm._resource(resource);
BEGIN
    PERFORM crmperm._field(r, field);
    IF r.strict_fields THEN
        RAISE EXCEPTION 'cannot unprotect field "%.%": resource "%" has strict fields', r.resource, field, r.resource
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Grant read on it with crmperm.grant_field() instead.';
    END IF;
    DELETE FROM crmperm.fields f WHERE f.resource = r.resource AND f.field = _unprotect_field.field;
END
$$;

CREATE FUNCTION crmperm._grant_field(permission_set text, resource text, field name,
    privileges text[], scope text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    r := crmperm._resource(resource);
    PERFORM crmperm._field(r, field);
    privileges := crmperm._check_list(privileges, ARRAY['read', 'create', 'update'], 'field privilege');
    IF NOT 'read' = ANY (privileges) THEN
        RAISE EXCEPTION 'cannot grant % on field "%.%" without read',
                        array_to_string(privileges, ' and '), r.resource, field
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Writing a field that reads as its mask would write the mask back.',
                  HINT = 'Grant {read,create} (create-once), {read,update} or {read,create,update}.';
    END IF;
    PERFORM crmperm._check_scope(r, scope);
    IF scope <> 'all' AND privileges && ARRAY['create', 'update'] THEN
        PERFORM crmperm._check_hash_grants(r.resource, field,
            (SELECT f.mask FROM crmperm.fields f WHERE f.resource = r.resource AND f.field = _grant_field.field),
            ARRAY[permission_set]);
    END IF;
    INSERT INTO crmperm.field_grants VALUES (permission_set, r.resource, field,
        ARRAY(SELECT x FROM unnest(ARRAY['read', 'create', 'update']) x WHERE x = ANY (privileges)),
        scope)
    ON CONFLICT ON CONSTRAINT field_grants_pkey
    DO UPDATE SET privileges = excluded.privileges, scope = excluded.scope;
END
$$;

CREATE FUNCTION crmperm._revoke_field(permission_set text, resource text, field name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    r := crmperm._resource(resource);
    PERFORM crmperm._field(r, field);
    DELETE FROM crmperm.field_grants g
     WHERE g.permission_set = _revoke_field.permission_set AND g.resource = r.resource
       AND g.field = _revoke_field.field;
END
$$;

-- Strict resources protect every column, also those added later (mask null),
-- except partition key columns.
CREATE FUNCTION crmperm._protect_all(r crmperm.resources) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO crmperm.fields (resource, field)
    SELECT r.resource, a.attname FROM pg_attribute a
     WHERE a.attrelid = r.tbl AND a.attnum > 0 AND NOT a.attisdropped
       AND NOT a.attname = ANY (crmperm._partition_key_columns(r.tbl))
    ON CONFLICT DO NOTHING;
END
$$;

-- A column of a managed table was renamed (called by crmperm's utility hook):
-- its protection, grants and scope-column settings follow it.
CREATE FUNCTION crmperm._rename_column(tbl regclass, old name, new name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- on a strict resource the ALTER TABLE event trigger has just protected
    -- the new name with the default mask: the old name's settings win
    DELETE FROM crmperm.fields f
     USING crmperm.resources r
     WHERE r.tbl = _rename_column.tbl AND f.resource = r.resource AND f.field = new
       AND EXISTS (SELECT FROM crmperm.fields o WHERE o.resource = r.resource AND o.field = old);
    UPDATE crmperm.fields f SET field = new
      FROM crmperm.resources r
     WHERE r.tbl = _rename_column.tbl AND f.resource = r.resource AND f.field = old;
    UPDATE crmperm.resources r
       SET owner_column = CASE WHEN r.owner_column = old THEN new ELSE r.owner_column END,
           team_column = CASE WHEN r.team_column = old THEN new ELSE r.team_column END,
           department_column = CASE WHEN r.department_column = old THEN new ELSE r.department_column END,
           tenant_column = CASE WHEN r.tenant_column = old THEN new ELSE r.tenant_column END
     WHERE r.tbl = _rename_column.tbl
       AND old IN (r.owner_column, r.team_column, r.department_column, r.tenant_column);
END
$$;

-- Permission sets ----------------------------------------------------------

CREATE FUNCTION crmperm._create_permission_set(name text, description text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._check_name(name, 'permission set name');
    IF EXISTS (SELECT FROM crmperm.permission_sets p WHERE p.name = _create_permission_set.name) THEN
        RAISE EXCEPTION 'permission set "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO crmperm.permission_sets VALUES (name, description);
END
$$;

CREATE FUNCTION crmperm._drop_permission_set(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._permission_set(name);
    DELETE FROM crmperm.permission_sets p WHERE p.name = _drop_permission_set.name;
END
$$;

CREATE FUNCTION crmperm._grant(permission_set text, resource text, actions text[], scope text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
    a text;
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    r := crmperm._resource(resource);
    actions := crmperm._check_list(actions, ARRAY['read', 'create', 'update', 'delete'], 'action');
    PERFORM crmperm._check_scope(r, scope);
    IF r.sensitive THEN
        FOREACH a IN ARRAY actions LOOP
            IF a <> 'read' THEN
                RAISE EXCEPTION 'cannot grant "%.%": resource "%" is sensitive', r.resource, a, r.resource
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'Only super admins may create, update or delete rows of a sensitive table.';
            END IF;
        END LOOP;
    END IF;
    INSERT INTO crmperm.object_grants AS g
    SELECT _grant.permission_set, r.resource, x, _grant.scope FROM unnest(actions) x
    ON CONFLICT ON CONSTRAINT object_grants_pkey DO UPDATE SET scope = excluded.scope;
END
$$;

CREATE FUNCTION crmperm._revoke(permission_set text, resource text, actions text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    r := crmperm._resource(resource);
    actions := crmperm._check_list(actions, ARRAY['read', 'create', 'update', 'delete'], 'action');
    DELETE FROM crmperm.object_grants g
     WHERE g.permission_set = _revoke.permission_set AND g.resource = r.resource
       AND g.action = ANY (actions);
END
$$;

CREATE FUNCTION crmperm._grant_system(permission_set text, permission text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    PERFORM crmperm._check_list(ARRAY[permission],
        ARRAY['export', 'bulk', 'manage_permissions', 'manage_tokens', 'view_audit'], 'system permission');
    INSERT INTO crmperm.system_grants VALUES (permission_set, permission) ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION crmperm._revoke_system(permission_set text, permission text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    PERFORM crmperm._check_list(ARRAY[permission],
        ARRAY['export', 'bulk', 'manage_permissions', 'manage_tokens', 'view_audit'], 'system permission');
    DELETE FROM crmperm.system_grants g
     WHERE g.permission_set = _revoke_system.permission_set AND g.permission = _revoke_system.permission;
END
$$;

-- Roles ----------------------------------------------------------------------

CREATE FUNCTION crmperm._create_role(name text, parent text, description text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._check_name(name, 'role name');
    IF parent IS NOT NULL THEN
        IF parent = name THEN
            RAISE EXCEPTION 'role "%" cannot be its own parent', name USING ERRCODE = 'invalid_recursion';
        END IF;
        PERFORM crmperm._role(parent);
    END IF;
    IF EXISTS (SELECT FROM crmperm.roles r WHERE r.name = _create_role.name) THEN
        RAISE EXCEPTION 'role "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO crmperm.roles VALUES (name, parent, description);
END
$$;

CREATE FUNCTION crmperm._drop_role(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    children text;
BEGIN
    PERFORM crmperm._role(name);
    SELECT string_agg(pg_catalog.format('"%s"', r.name), ', ' ORDER BY r.name) INTO children
      FROM crmperm.roles r WHERE r.parent = _drop_role.name;
    IF children IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop role "%" because other roles inherit from it', name
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = pg_catalog.format('Roles with parent "%s": %s.', name, children),
                  HINT = 'Drop those roles first.';
    END IF;
    DELETE FROM crmperm.roles r WHERE r.name = _drop_role.name;
END
$$;

CREATE FUNCTION crmperm._add_to_role(role text, permission_set text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._role(role);
    PERFORM crmperm._permission_set(permission_set);
    INSERT INTO crmperm.role_permission_sets VALUES (role, permission_set) ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION crmperm._remove_from_role(role text, permission_set text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._role(role);
    PERFORM crmperm._permission_set(permission_set);
    DELETE FROM crmperm.role_permission_sets x
     WHERE x.role = _remove_from_role.role AND x.permission_set = _remove_from_role.permission_set;
END
$$;

-- Assignments and principals -------------------------------------------------

CREATE FUNCTION crmperm._check_until(valid_until timestamptz) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF valid_until IS NOT NULL AND valid_until <= statement_timestamp() THEN
        RAISE EXCEPTION 'valid_until must be in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION crmperm._check_until(timestamptz) FROM PUBLIC;

CREATE FUNCTION crmperm._assign_role(principal regrole, role text, valid_until timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(principal, 'principal');
    PERFORM crmperm._role(role);
    PERFORM crmperm._check_until(valid_until);
    INSERT INTO crmperm.role_assignments VALUES (principal, role, valid_until)
    ON CONFLICT ON CONSTRAINT role_assignments_pkey DO UPDATE SET valid_until = excluded.valid_until;
END
$$;

CREATE FUNCTION crmperm._unassign_role(principal regrole, role text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(principal, 'principal');
    PERFORM crmperm._role(role);
    DELETE FROM crmperm.role_assignments a
     WHERE a.principal = _unassign_role.principal AND a.role = _unassign_role.role;
END
$$;

CREATE FUNCTION crmperm._assign_permission_set(principal regrole, permission_set text,
    valid_until timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(principal, 'principal');
    PERFORM crmperm._permission_set(permission_set);
    PERFORM crmperm._check_until(valid_until);
    INSERT INTO crmperm.set_assignments VALUES (principal, permission_set, valid_until)
    ON CONFLICT ON CONSTRAINT set_assignments_pkey DO UPDATE SET valid_until = excluded.valid_until;
END
$$;

CREATE FUNCTION crmperm._unassign_permission_set(principal regrole, permission_set text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(principal, 'principal');
    PERFORM crmperm._permission_set(permission_set);
    DELETE FROM crmperm.set_assignments a
     WHERE a.principal = _unassign_permission_set.principal
       AND a.permission_set = _unassign_permission_set.permission_set;
END
$$;

CREATE FUNCTION crmperm._set_principal(principal regrole, user_id text, team_ids text[],
    department_ids text[], tenant_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(principal, 'principal');
    IF pg_has_role(crmperm._caller(), principal, 'MEMBER') AND
       NOT crmperm._caller_is_superuser() THEN
        RAISE EXCEPTION 'permission denied: role "%" may not set its own principal attributes', crmperm._caller()
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('Role "%s" is "%s" or a member of it.', crmperm._caller(), principal),
                  HINT = 'Ask a superuser or another holder of manage_permissions.';
    END IF;
    IF array_position(team_ids, NULL) IS NOT NULL OR array_position(department_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'team and department ids must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO crmperm.principals AS p VALUES (principal, user_id, team_ids, department_ids, tenant_id)
    ON CONFLICT ON CONSTRAINT principals_pkey DO UPDATE
       SET user_id = excluded.user_id, team_ids = excluded.team_ids,
           department_ids = excluded.department_ids, tenant_id = excluded.tenant_id;
END
$$;

CREATE FUNCTION crmperm._set_super_admin(principal regrole, is_super boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(principal, 'principal');
    PERFORM crmperm._not_null(is_super, 'is_super');
    INSERT INTO crmperm.principals AS p (principal, super_admin) VALUES (principal, is_super)
    ON CONFLICT ON CONSTRAINT principals_pkey DO UPDATE SET super_admin = excluded.super_admin;
END
$$;

-- Tokens -------------------------------------------------------------------------

-- A new token's secret parts, from pg_strong_random(): key_id, the plaintext
-- and its SHA-256 hash.
CREATE FUNCTION crmperm._token_secret(OUT key_id text, OUT token text, OUT hash bytea)
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'crmperm_token_secret';

-- Scopes of a token: resource.action, the resource managed, never a write on
-- a sensitive resource.  Returned sorted, without duplicates.
CREATE FUNCTION crmperm._check_token_scopes(scopes text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text;
    r crmperm.resources;
BEGIN
    PERFORM crmperm._not_null(scopes, 'scopes');
    IF cardinality(scopes) = 0 THEN
        RAISE EXCEPTION 'scope list must not be empty' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A scope is resource.action, such as leads.create.';
    END IF;
    FOREACH s IN ARRAY scopes LOOP
        IF s IS NULL THEN
            RAISE EXCEPTION 'scope must not be null' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF s !~ '^[^.]+\.[^.]+$' THEN
            RAISE EXCEPTION 'invalid scope "%"', s USING ERRCODE = 'invalid_parameter_value',
                HINT = 'A scope is resource.action, such as leads.create.';
        END IF;
        r := crmperm._resource(split_part(s, '.', 1));
        IF split_part(s, '.', 2) <> ALL (ARRAY['read', 'create', 'update', 'delete']) THEN
            RAISE EXCEPTION 'unknown action "%"', split_part(s, '.', 2)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Actions are read, create, update and delete.';
        END IF;
        IF r.sensitive AND split_part(s, '.', 2) <> 'read' THEN
            RAISE EXCEPTION 'a token cannot hold scope "%"', s
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('Resource "%s" is sensitive: only super admins may create, update or delete its rows.', r.resource);
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT x FROM unnest(scopes) x ORDER BY x);
END
$$;

-- Why a role may not be a token's principal, or NULL: a token narrows its
-- principal's rights, so the principal must be governed by crmperm.
CREATE FUNCTION crmperm._token_principal_problem(principal regrole) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN a.oid IS NULL THEN 'it does not exist'
        WHEN a.rolsuper THEN 'it is a superuser'
        WHEN a.rolbypassrls THEN 'it has BYPASSRLS'
        WHEN EXISTS (SELECT FROM crmperm.principals p WHERE p.principal = a.oid AND p.super_admin)
            THEN 'it is a crmperm super admin'
        WHEN EXISTS (SELECT FROM crmperm.resources r JOIN pg_class c ON c.oid = r.tbl
                      WHERE c.relowner = a.oid)
            THEN 'it owns a table crmperm manages'
        END
      FROM (SELECT principal::oid AS oid) x LEFT JOIN pg_authid a ON a.oid = x.oid
$$;

CREATE FUNCTION crmperm._create_token(name text, acts_as regrole, scopes text[],
    expires_at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    problem text;
    checked text[];
    t record;
BEGIN
    PERFORM crmperm._check_name(name, 'token name');
    PERFORM crmperm._not_null(acts_as, 'acts_as');
    problem := crmperm._token_principal_problem(acts_as);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'role "%" cannot be a token''s principal', acts_as
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Role "%s": %s; crmperm does not govern it, so no token could narrow it.', acts_as, problem),
                  HINT = 'Create a role without special attributes for the integration and grant it what the token may do.';
    END IF;
    checked := crmperm._check_token_scopes(scopes);
    IF expires_at IS NOT NULL AND expires_at <= statement_timestamp() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM crmperm.api_tokens a WHERE a.name = _create_token.name) THEN
        RAISE EXCEPTION 'token "%" already exists', name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Token names are not reused, even after revoke_token(): choose another name.';
    END IF;
    SELECT * INTO t FROM crmperm._token_secret();
    INSERT INTO crmperm.api_tokens (name, key_id, hash, principal, scopes, created_by, expires)
    VALUES (name, t.key_id, t.hash, acts_as, checked, crmperm._caller(), expires_at);
    INSERT INTO crmperm.token_usage (name) VALUES (name);
    RETURN t.token;
END
$$;

CREATE FUNCTION crmperm._revoke_token(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(name, 'token name');
    UPDATE crmperm.api_tokens a SET revoked = coalesce(a.revoked, now())
     WHERE a.name = _revoke_token.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'token "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

-- Introspection ----------------------------------------------------------------

-- The rows of explain_access() for protected fields: field.read, .create and
-- .update per field ("masked" when read is not granted; read-only fields are
-- writable by super admins and superusers only).
CREATE FUNCTION crmperm._explain_fields(principal regrole, r crmperm.resources, why text)
RETURNS TABLE (action text, allowed boolean, scope text, permission_sets text[], roles text[],
               reason text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH g AS (
        SELECT fg.field, p, fg.scope, s.permission_set, s.via_role
          FROM crmperm._effective_sets($1) s
          JOIN crmperm.field_grants fg ON fg.permission_set = s.permission_set
          CROSS JOIN LATERAL unnest(fg.privileges) p
         WHERE fg.resource = ($2).resource
    ), x AS (
        SELECT f.field, f.readonly, u.p, u.n,
               f.readonly AND u.p <> 'read' AND coalesce($3, '') NOT IN ('superuser', 'super admin') AS locked,
               EXISTS (SELECT FROM g WHERE g.field = f.field AND g.p = u.p) AS granted
          FROM crmperm.fields f
         CROSS JOIN unnest(ARRAY['read', 'create', 'update']) WITH ORDINALITY u(p, n)
         WHERE f.resource = ($2).resource
    )
    SELECT x.field || '.' || x.p,
           NOT x.locked AND ($3 IS NOT NULL OR x.granted),
           CASE WHEN $3 IS NOT NULL THEN 'all'
                ELSE (SELECT CASE WHEN bool_or(g.scope = 'all') THEN 'all'
                                  ELSE string_agg(DISTINCT g.scope, ' or ') END
                        FROM g WHERE g.field = x.field AND g.p = x.p) END,
           (SELECT array_agg(DISTINCT g.permission_set ORDER BY g.permission_set)
              FROM g WHERE $3 IS NULL AND g.field = x.field AND g.p = x.p),
           (SELECT array_agg(DISTINCT g.via_role ORDER BY g.via_role)
              FROM g WHERE $3 IS NULL AND g.field = x.field AND g.p = x.p AND g.via_role IS NOT NULL),
           CASE WHEN x.locked THEN 'read-only field'
                WHEN $3 IS NOT NULL THEN $3
                WHEN x.granted THEN 'granted'
                WHEN x.p = 'read' THEN 'masked'
                ELSE 'not granted' END
      FROM x
     ORDER BY x.field, x.n
$$;

CREATE FUNCTION crmperm._explain_access(principal regrole, resource text)
RETURNS TABLE (action text, allowed boolean, scope text, permission_sets text[], roles text[],
               reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
    why text;
BEGIN
    PERFORM crmperm._not_null(principal, 'principal');
    r := crmperm._resource(resource);
    SELECT CASE WHEN a.rolsuper THEN 'superuser'
                WHEN coalesce(p.super_admin, false) THEN 'super admin'
                WHEN c.relowner = a.oid THEN 'table owner' END
      INTO why
      FROM pg_authid a
      JOIN pg_class c ON c.oid = r.tbl
      LEFT JOIN crmperm.principals p ON p.principal = a.oid::regrole
     WHERE a.oid = _explain_access.principal;
    IF why IS NOT NULL AND NOT (why = 'table owner' AND r.sensitive) THEN
        RETURN QUERY SELECT x, true, 'all'::text, NULL::text[], NULL::text[], why
                       FROM unnest(ARRAY['read', 'create', 'update', 'delete']) WITH ORDINALITY u(x, n)
                      ORDER BY n;
        RETURN QUERY SELECT * FROM crmperm._explain_fields(principal, r, why);
        RETURN;
    END IF;
    RETURN QUERY
    WITH g AS (
        SELECT og.action, og.scope, s.permission_set, s.via_role
          FROM crmperm._effective_sets(_explain_access.principal) s
          JOIN crmperm.object_grants og ON og.permission_set = s.permission_set
         WHERE og.resource = r.resource
    )
    SELECT x,
           CASE WHEN why = 'table owner' AND x <> 'read' THEN false
                WHEN r.sensitive AND x <> 'read' THEN false
                ELSE why IS NOT NULL OR EXISTS (SELECT FROM g WHERE g.action = x) END,
           CASE WHEN why IS NOT NULL THEN 'all'
                ELSE (SELECT CASE WHEN bool_or(g.scope = 'all') THEN 'all'
                                  ELSE string_agg(DISTINCT g.scope, ' or ') END
                        FROM g WHERE g.action = x) END,
           (SELECT array_agg(DISTINCT g.permission_set ORDER BY g.permission_set) FROM g WHERE g.action = x),
           (SELECT array_agg(DISTINCT g.via_role ORDER BY g.via_role) FROM g WHERE g.action = x AND g.via_role IS NOT NULL),
           CASE WHEN r.sensitive AND x <> 'read' THEN 'sensitive table'
                WHEN why IS NOT NULL THEN why
                WHEN EXISTS (SELECT FROM g WHERE g.action = x) THEN 'granted'
                ELSE 'not granted' END
      FROM unnest(ARRAY['read', 'create', 'update', 'delete']) WITH ORDINALITY u(x, n)
     ORDER BY n;
    RETURN QUERY SELECT * FROM crmperm._explain_fields(principal, r, why);
END
$$;

CREATE FUNCTION crmperm._whoami()
RETURNS TABLE (principal regrole, roles text[], permission_sets text[], system_permissions text[],
               super_admin boolean, token text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me regrole := crmperm._caller();
BEGIN
    RETURN QUERY
    SELECT me,
           (SELECT coalesce(array_agg(DISTINCT s.via_role ORDER BY s.via_role), '{}')
              FROM crmperm._effective_sets(me) s WHERE s.via_role IS NOT NULL),
           (SELECT coalesce(array_agg(DISTINCT s.permission_set ORDER BY s.permission_set), '{}')
              FROM crmperm._effective_sets(me) s),
           (SELECT coalesce(array_agg(DISTINCT g.permission ORDER BY g.permission), '{}')
              FROM crmperm._effective_sets(me) s
              JOIN crmperm.system_grants g ON g.permission_set = s.permission_set),
           coalesce((SELECT p.super_admin FROM crmperm.principals p WHERE p.principal = me), false),
           crmperm._token_name();
END
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'crmperm'::regnamespace AND p.proname LIKE '\_%'
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

-- A dropped managed table stops being managed (its grants go with it).
CREATE FUNCTION crmperm._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM crmperm.resources r
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.objid = r.tbl::oid;
    -- a dropped column is no longer a field (its grants go with it)
    -- (by name from the event: pg_attribute already holds the dropped name)
    DELETE FROM crmperm.fields f
     USING pg_event_trigger_dropped_objects() d, crmperm.resources r
     WHERE d.classid = 'pg_class'::regclass AND d.objsubid > 0 AND d.objid = r.tbl::oid
       AND f.resource = r.resource AND f.field = d.address_names[3];
END
$$;
REVOKE ALL ON FUNCTION crmperm._on_sql_drop() FROM PUBLIC;
CREATE EVENT TRIGGER crmperm_sql_drop ON sql_drop EXECUTE FUNCTION crmperm._on_sql_drop();

-- A column added to a resource with strict fields is protected at once.
CREATE FUNCTION crmperm._on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
BEGIN
    FOR r IN SELECT DISTINCT x.* FROM crmperm.resources x
               JOIN pg_event_trigger_ddl_commands() d ON d.objid = x.tbl::oid
              WHERE x.strict_fields AND d.command_tag = 'ALTER TABLE'
    LOOP
        PERFORM crmperm._protect_all(r);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION crmperm._on_ddl_end() FROM PUBLIC;
CREATE EVENT TRIGGER crmperm_ddl_end ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION crmperm._on_ddl_end();

-- The public entry points.  Arguments and defaults are the contract.

CREATE FUNCTION crmperm.manage_table(tbl regclass, resource text DEFAULT NULL,
    owner_column name DEFAULT NULL, team_column name DEFAULT NULL,
    department_column name DEFAULT NULL, tenant_column name DEFAULT NULL,
    sensitive boolean DEFAULT false, strict_fields boolean DEFAULT false) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unmanage_table(tbl regclass) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.mark_sensitive(resource text, sensitive boolean) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.define_scope(resource text, scope text, predicate text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.drop_scope(resource text, scope text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.protect_field(resource text, field name, mask text DEFAULT 'null',
    readonly boolean DEFAULT false) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unprotect_field(resource text, field name) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.grant_field(permission_set text, resource text, field name,
    privileges text[], scope text DEFAULT 'all') RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.revoke_field(permission_set text, resource text, field name)
    RETURNS void LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.create_permission_set(name text, description text DEFAULT NULL)
    RETURNS void LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.drop_permission_set(name text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.grant(permission_set text, resource text, actions text[],
    scope text DEFAULT 'all') RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.revoke(permission_set text, resource text, actions text[]) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.grant_system(permission_set text, permission text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.revoke_system(permission_set text, permission text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.create_role(name text, parent text DEFAULT NULL,
    description text DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.drop_role(name text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.add_to_role(role text, permission_set text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.remove_from_role(role text, permission_set text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.assign_role(principal regrole, role text,
    valid_until timestamptz DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unassign_role(principal regrole, role text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.assign_permission_set(principal regrole, permission_set text,
    valid_until timestamptz DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unassign_permission_set(principal regrole, permission_set text)
    RETURNS void LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.set_principal(principal regrole, user_id text DEFAULT NULL,
    team_ids text[] DEFAULT NULL, department_ids text[] DEFAULT NULL,
    tenant_id text DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.set_super_admin(principal regrole, is_super boolean) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.explain_access(principal regrole, resource text)
RETURNS TABLE (action text, allowed boolean, scope text, permission_sets text[], roles text[],
               reason text)
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.whoami()
RETURNS TABLE (principal regrole, roles text[], permission_sets text[], system_permissions text[],
               super_admin boolean, token text)
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

CREATE FUNCTION crmperm.create_token(name text, acts_as regrole, scopes text[],
    expires_at timestamptz DEFAULT NULL) RETURNS text
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.revoke_token(name text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

-- Plain C functions, not SECURITY DEFINER: the identity switch they make
-- would be undone by fmgr on return otherwise.
CREATE FUNCTION crmperm.authenticate(token text, session boolean DEFAULT false) RETURNS regrole
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_authenticate';
CREATE FUNCTION crmperm.logout() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_logout';

-- The active token of this session, for whoami().
CREATE FUNCTION crmperm._token_name() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_token_name';
-- May the current role see and manage tokens (superuser, or manage_tokens
-- outside a token)?
CREATE FUNCTION crmperm._may_manage_tokens() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_may_manage_tokens';
GRANT EXECUTE ON FUNCTION crmperm._may_manage_tokens() TO PUBLIC;

-- Tokens, never their hashes, for those who may manage them (others see no
-- rows).
CREATE VIEW crmperm.tokens WITH (security_barrier) AS
    SELECT t.name, t.principal, t.scopes, t.created, t.created_by, t.expires, t.revoked,
           u.last_used
      FROM crmperm.api_tokens t LEFT JOIN crmperm.token_usage u ON u.name = t.name
     WHERE crmperm._may_manage_tokens();
GRANT SELECT ON crmperm.tokens TO PUBLIC;

-- The WITH CHECK of a scoped create or update: true, or crmperm's denial.
CREATE FUNCTION crmperm._in_scope(ok boolean, resource text, action text, scopes text)
RETURNS boolean LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_in_scope';
GRANT EXECUTE ON FUNCTION crmperm._in_scope(boolean, text, text, text) TO PUBLIC;
CREATE FUNCTION crmperm._in_tenant(ok boolean, resource text, action text, tenant_column text)
RETURNS boolean LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_in_tenant';
GRANT EXECUTE ON FUNCTION crmperm._in_tenant(boolean, text, text, text) TO PUBLIC;

-- A scoped field create or update: true, or crmperm's denial.
CREATE FUNCTION crmperm._field_in_scope(ok boolean, field text, privilege text, scopes text)
RETURNS boolean LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_field_in_scope';
GRANT EXECUTE ON FUNCTION crmperm._field_in_scope(boolean, text, text, text) TO PUBLIC;

-- Masks that crmperm puts into queries.  Principals run them, so PUBLIC may
-- execute them; the hash mask refuses to run anywhere crmperm did not put it.
CREATE FUNCTION crmperm._mask_partial(value text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'crmperm_mask_partial';
CREATE FUNCTION crmperm._mask_email(value text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'crmperm_mask_email';
CREATE FUNCTION crmperm._mask_hash(value text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'crmperm_mask_hash';
GRANT EXECUTE ON FUNCTION crmperm._mask_partial(text), crmperm._mask_email(text),
    crmperm._mask_hash(text) TO PUBLIC;

-- Decisions for the current role, straight from the decision cache.
CREATE FUNCTION crmperm.check(scope text) RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_check';
CREATE FUNCTION crmperm.user_id() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_user_id';
CREATE FUNCTION crmperm.team_ids() RETURNS text[]
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_team_ids';
CREATE FUNCTION crmperm.department_ids() RETURNS text[]
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_department_ids';
CREATE FUNCTION crmperm.tenant_id() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_tenant_id';

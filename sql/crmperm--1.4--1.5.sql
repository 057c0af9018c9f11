-- crmperm 1.4 -> 1.5: record access across tables -- rows controlled by
-- their parent, shared rows, account teams, custom scopes reading managed
-- tables

\echo Use "ALTER EXTENSION crmperm UPDATE TO '1.5'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Catalog.
-- ---------------------------------------------------------------------------

-- A resource whose rows follow a parent row (scope parent): invoices
-- follow clients through the foreign key invoices(client_id).
CREATE TABLE crmperm.parents (
    resource   text PRIMARY KEY REFERENCES crmperm.resources ON DELETE CASCADE ON UPDATE CASCADE,
    parent     text NOT NULL REFERENCES crmperm.resources ON DELETE CASCADE ON UPDATE CASCADE,
    fk_columns name[] NOT NULL,
    CHECK (parent <> resource)
);

-- Rows shared one by one (kind share: with actions) and account teams
-- (kind team: scope assigned), by the row's primary key as text.  The
-- grantee is a principal, a CRM role or a team id; "grantee" is what the
-- enforcement code looks up (crmperm._record_keys(), through
-- record_access_lookup).  Nobody but crmperm reads this table.
CREATE TABLE crmperm.record_access (
    resource    text NOT NULL REFERENCES crmperm.resources ON DELETE CASCADE ON UPDATE CASCADE,
    key         text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('share', 'team')),
    principal   regrole,
    role        text REFERENCES crmperm.roles ON DELETE CASCADE ON UPDATE CASCADE,
    team        text,
    actions     text[],
    valid_until timestamptz,
    tenant_id   text,           -- the row's tenant, when its table has one
    owner_value text,           -- share: the row's owner when shared (the share
                                -- holds while the row has that owner)
    granted_by  text NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    grantee     text GENERATED ALWAYS AS (
        CASE WHEN principal IS NOT NULL THEN 'p' || (principal::oid)::text
             WHEN role IS NOT NULL THEN 'r' || role
             ELSE 't' || team END) STORED,
    CHECK (pg_catalog.num_nonnulls(principal, role, team) = 1),
    CHECK ((kind = 'share') = (actions IS NOT NULL)),
    CONSTRAINT record_access_entry UNIQUE (resource, kind, key, grantee)
);
CREATE INDEX record_access_lookup ON crmperm.record_access (resource, kind, grantee);

-- The resources that ever had a shared row: only their policies carry the
-- share lookup (a new one invalidates the cache, a new share does not).
CREATE TABLE crmperm.shared_resources (
    resource text PRIMARY KEY REFERENCES crmperm.resources ON DELETE CASCADE ON UPDATE CASCADE
);

REVOKE ALL ON crmperm.parents, crmperm.record_access, crmperm.shared_resources FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('crmperm.parents', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.record_access', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.shared_resources', '');
CREATE TRIGGER invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crmperm.parents
    FOR EACH STATEMENT EXECUTE FUNCTION crmperm._invalidate();
CREATE TRIGGER invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crmperm.shared_resources
    FOR EACH STATEMENT EXECUTE FUNCTION crmperm._invalidate();
-- every change is in the audit trail (shares and account teams included)
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON crmperm.parents
    FOR EACH ROW EXECUTE FUNCTION crmperm._audit_change();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON crmperm.record_access
    FOR EACH ROW EXECUTE FUNCTION crmperm._audit_change();

-- ---------------------------------------------------------------------------
-- The enforcement code's helpers.
-- ---------------------------------------------------------------------------

-- (with_owner: "length:key" followed by the owner value it was shared
-- under)
CREATE FUNCTION crmperm._record_keys(kind text, resource text, action text, principal oid,
                                     with_owner boolean)
RETURNS SETOF text
    LANGUAGE c STABLE PARALLEL RESTRICTED ROWS 10 AS 'MODULE_PATHNAME', 'crmperm_record_keys';
GRANT EXECUTE ON FUNCTION crmperm._record_keys(text, text, text, oid, boolean) TO PUBLIC;

-- The managed resources a custom scope predicate reads.
CREATE FUNCTION crmperm._predicate_reads(tbl regclass, predicate text) RETURNS text[]
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_predicate_reads';

-- The resources the scopes of a resource read: its parent, and the managed
-- tables its custom scopes read.
CREATE FUNCTION crmperm._scope_reads(resource text) RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.parent FROM crmperm.parents p WHERE p.resource = $1
    UNION
    SELECT unnest(crmperm._predicate_reads(r.tbl, s.predicate))
      FROM crmperm.scopes s JOIN crmperm.resources r ON r.resource = s.resource
     WHERE s.resource = $1
$$;

-- Refuse a scope of resource that would read target, when target's scopes
-- read resource again (directly or through others): the path, in the error.
CREATE FUNCTION crmperm._refuse_scope_loop(resource text, target text, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    path text;
BEGIN
    IF target = resource THEN
        path := resource || ' -> ' || resource;
    ELSIF EXISTS (WITH RECURSIVE reach(res) AS (
                      SELECT target
                      UNION
                      SELECT n FROM reach w, crmperm._scope_reads(w.res) n)
                  SELECT FROM reach WHERE res = _refuse_scope_loop.resource) THEN
        -- the way back, for the message: each resource once on a path
        WITH RECURSIVE walk(res, path, seen) AS (
            SELECT target, resource || ' -> ' || target, ARRAY[target]
            UNION ALL
            SELECT n, w.path || ' -> ' || n, w.seen || n
              FROM walk w, crmperm._scope_reads(w.res) n
             WHERE w.res <> _refuse_scope_loop.resource AND NOT n = ANY (w.seen)
        )
        SELECT w.path INTO path FROM walk w WHERE w.res = _refuse_scope_loop.resource LIMIT 1;
    END IF;
    IF path IS NOT NULL THEN
        RAISE EXCEPTION '% would make the scopes of resource "%" read themselves', what, resource
            USING ERRCODE = 'invalid_recursion',
                  DETAIL = pg_catalog.format('Scopes read: %s.', path),
                  HINT = 'A scope may read other resources, never its own resource through them.';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Scopes: parent and assigned are built in.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION crmperm._check_scope(r crmperm.resources, scope text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col name;
BEGIN
    PERFORM crmperm._not_null(scope, 'scope');
    -- (a custom scope defined before 1.5 under one of the new names stays)
    IF EXISTS (SELECT FROM crmperm.scopes s WHERE s.resource = r.resource AND s.scope = _check_scope.scope) THEN
        RETURN;
    END IF;
    CASE scope
        WHEN 'all' THEN RETURN;
        WHEN 'owned' THEN col := r.owner_column;
        WHEN 'team' THEN col := r.team_column;
        WHEN 'department' THEN col := r.department_column;
        WHEN 'parent' THEN
            IF NOT EXISTS (SELECT FROM crmperm.parents p WHERE p.resource = r.resource) THEN
                RAISE EXCEPTION 'scope "parent" cannot be used on resource "%"', r.resource
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = 'The resource has no parent.',
                          HINT = 'Declare one with crmperm.set_parent().';
            END IF;
            RETURN;
        WHEN 'assigned' THEN
            PERFORM crmperm._key_column(r);
            RETURN;
        ELSE
            RAISE EXCEPTION 'scope "%" does not exist for resource "%"', scope, r.resource
                USING ERRCODE = 'undefined_object',
                      HINT = 'Scopes are all, department, team, owned, parent, assigned, or one defined with crmperm.define_scope().';
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

-- Custom scopes may read managed tables (under their own scopes), never
-- their own table, directly or through others.
CREATE OR REPLACE FUNCTION crmperm._define_scope(resource text, scope text, predicate text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources := crmperm._resource(resource);
    state text;
    msg text;
    detail text;
    hint text;
    t text;
BEGIN
    PERFORM crmperm._not_null(scope, 'scope');
    PERFORM crmperm._not_null(predicate, 'predicate');
    IF scope IN ('all', 'owned', 'team', 'department', 'tenant', 'parent', 'assigned') THEN
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
    FOREACH t IN ARRAY crmperm._predicate_reads(r.tbl, predicate) LOOP
        PERFORM crmperm._refuse_scope_loop(r.resource, t, pg_catalog.format('scope "%s"', scope));
        IF EXISTS (SELECT FROM crmperm.field_grants g WHERE g.resource = r.resource AND g.scope = _define_scope.scope) THEN
            RAISE EXCEPTION 'scope "%" of resource "%" cannot read "%": field grants use it', scope, r.resource, t
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'A field grant''s scope cannot read another managed table.',
                      HINT = 'Define a new scope for this predicate.';
        END IF;
    END LOOP;
    INSERT INTO crmperm.scopes VALUES (r.resource, scope, predicate)
    ON CONFLICT ON CONSTRAINT scopes_pkey DO UPDATE SET predicate = excluded.predicate;
END
$$;

-- Field privileges are built into queries after row security: a field
-- grant's scope cannot reach another table's scopes.
CREATE FUNCTION crmperm._check_field_scope(r crmperm.resources, scope text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (scope = 'parent' AND NOT EXISTS (SELECT FROM crmperm.scopes s WHERE s.resource = r.resource AND s.scope = 'parent'))
       OR EXISTS (SELECT FROM crmperm.scopes s WHERE s.resource = r.resource AND s.scope = _check_field_scope.scope
                     AND cardinality(crmperm._predicate_reads(r.tbl, s.predicate)) > 0) THEN
        RAISE EXCEPTION 'cannot grant a field with scope "%"', scope
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A field grant''s scope cannot read another managed table.',
                  HINT = 'Grant the field with another scope, or on every row the principal reads.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION crmperm._grant_field(permission_set text, resource text, field name,
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
    PERFORM crmperm._check_field_scope(r, scope);
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

-- ---------------------------------------------------------------------------
-- Parents.
-- ---------------------------------------------------------------------------

-- set_parent('invoices', 'clients', '{client_id}'): invoices follow their
-- client through a foreign key of invoices that references clients.
-- set_parent('invoices', NULL) removes it (refused while scope parent is
-- granted).
CREATE FUNCTION crmperm._set_parent(resource text, parent text, fk_columns name[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources := crmperm._resource(resource);
    p crmperm.resources;
    cols int2[];
    c name;
    users text;
BEGIN
    IF parent IS NULL THEN
        IF NOT EXISTS (SELECT FROM crmperm.parents x WHERE x.resource = r.resource) THEN
            RAISE EXCEPTION 'resource "%" has no parent', r.resource USING ERRCODE = 'undefined_object';
        END IF;
        SELECT string_agg(DISTINCT pg_catalog.format('"%s"', g.permission_set), ', ') INTO users
          FROM (SELECT o.permission_set FROM crmperm.object_grants o
                 WHERE o.resource = r.resource AND o.scope = 'parent'
                UNION ALL
                SELECT a.permission_set FROM crmperm.action_grants a
                 WHERE a.resource = r.resource AND a.scope = 'parent') g;
        IF users IS NOT NULL THEN
            RAISE EXCEPTION 'cannot remove the parent of resource "%" because grants use scope "parent"', r.resource
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = pg_catalog.format('Permission sets granting with it: %s.', users),
                      HINT = 'Revoke those grants or grant them with another scope first.';
        END IF;
        DELETE FROM crmperm.parents x WHERE x.resource = r.resource;
        RETURN;
    END IF;
    p := crmperm._resource(parent);
    IF p.resource = r.resource THEN
        RAISE EXCEPTION 'resource "%" cannot be its own parent', r.resource
            USING ERRCODE = 'invalid_recursion';
    END IF;
    PERFORM crmperm._not_null(fk_columns, 'fk_columns');
    IF cardinality(fk_columns) = 0 THEN
        RAISE EXCEPTION 'fk_columns must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH c IN ARRAY fk_columns LOOP
        PERFORM crmperm._column(r.tbl, c, 'column');
    END LOOP;
    cols := ARRAY(SELECT a.attnum FROM unnest(fk_columns) WITH ORDINALITY u(n, o)
                    JOIN pg_attribute a ON a.attrelid = r.tbl AND a.attname = u.n
                   ORDER BY u.o);
    IF NOT EXISTS (SELECT FROM pg_constraint k
                    WHERE k.contype = 'f' AND k.conrelid = r.tbl AND k.confrelid = p.tbl
                      AND k.conkey = cols) THEN
        RAISE EXCEPTION 'no foreign key of "%" (%) references "%"', r.resource,
                pg_catalog.array_to_string(fk_columns, ', '), p.resource
            USING ERRCODE = 'invalid_foreign_key',
                  HINT = pg_catalog.format('Add one: ALTER TABLE %s ADD FOREIGN KEY (%s) REFERENCES %s;',
                      r.tbl, (SELECT string_agg(quote_ident(x), ', ') FROM unnest(fk_columns) x), p.tbl);
    END IF;
    -- whoever owns the parent table decides which of its rows are in scope
    IF (SELECT c.relowner FROM pg_class c WHERE c.oid = p.tbl)
       <> (SELECT c.relowner FROM pg_class c WHERE c.oid = r.tbl)
       AND NOT (SELECT a.rolsuper FROM pg_class c JOIN pg_authid a ON a.oid = c.relowner WHERE c.oid = p.tbl) THEN
        RAISE EXCEPTION 'parent table % is owned by another role than %', p.tbl, r.tbl
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Its owner could change which rows of the child every principal reaches.',
                  HINT = 'Give both tables the same owner.';
    END IF;
    PERFORM crmperm._refuse_scope_loop(r.resource, p.resource, pg_catalog.format('parent "%s"', p.resource));
    INSERT INTO crmperm.parents VALUES (r.resource, p.resource, fk_columns)
    ON CONFLICT ON CONSTRAINT parents_pkey DO UPDATE
       SET parent = excluded.parent, fk_columns = excluded.fk_columns;
END
$$;

-- ---------------------------------------------------------------------------
-- Shared rows and account teams.
-- ---------------------------------------------------------------------------

-- The columns crmperm's SECURITY DEFINER helpers read of a managed row
-- (its key, owner, tenant, foreign key) must be of built-in types, not
-- domains: a domain's CHECK, or a cast to text from a type of the table
-- owner's, would run with crmperm's rights.
CREATE FUNCTION crmperm._builtin_columns(r crmperm.resources, cols name[]) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT NOT EXISTS (SELECT FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                        WHERE a.attrelid = r.tbl AND a.attname = ANY (cols)
                          AND (t.oid >= 16384 OR t.typtype = 'd'))
$$;
CREATE FUNCTION crmperm._check_builtin_columns(r crmperm.resources, cols name[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT crmperm._builtin_columns(r, cols) THEN
        RAISE EXCEPTION 'resource "%" has a key, owner, tenant or foreign key column of a type that is not built in', r.resource
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = pg_catalog.format('Columns %s: shared rows, account teams and explain_access() with a key read them with crmperm''s rights, so they must be of built-in types (not domains).',
                                             pg_catalog.array_to_string(cols, ', '));
    END IF;
END
$$;

-- (typ: the column's type with its modifier, char(5) or numeric(10,2): the
-- key's text is that of a value of the column)
CREATE FUNCTION crmperm._key_column(r crmperm.resources, OUT col name, OUT typ text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    base regtype;
BEGIN
    SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.atttypid INTO col, typ, base
      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
     WHERE i.indrelid = r.tbl AND i.indisprimary AND i.indnkeyatts = 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'resource "%" has no single-column primary key', r.resource
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Shared rows and account teams name a row by the value of its primary key.';
    END IF;
    -- a key is kept as text: only types whose text does not depend on the
    -- session's settings (DateStyle, extra_float_digits, ...)
    IF base NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype,
            'numeric'::regtype, 'text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'uuid'::regtype) THEN
        RAISE EXCEPTION 'resource "%" has a primary key of type %', r.resource, typ
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Shared rows and account teams name a row by a key of type smallint, integer, bigint, numeric, text, varchar, char or uuid.';
    END IF;
    PERFORM crmperm._check_builtin_columns(r, ARRAY[col, r.owner_column, r.tenant_column]);
END
$$;

-- The row of a resource with this key: the key as text (in the key
-- column's type), the row's owner value and tenant.  An administrator
-- learns that a row does not exist; anyone else gets the same denial as
-- for a row that is not theirs.
CREATE FUNCTION crmperm._record_row(r crmperm.resources, key text, admin boolean,
                                    OUT keytext text, OUT owner text, OUT tenant text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record := crmperm._key_column(r);
    found_row boolean;
BEGIN
    PERFORM crmperm._not_null(key, 'key');
    BEGIN
        EXECUTE pg_catalog.format('SELECT ($1::%s)::text', k.typ) INTO keytext USING key;
    EXCEPTION WHEN data_exception THEN
        RAISE EXCEPTION 'invalid key "%" for resource "%"', key, r.resource
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Its primary key "%s" is of type %s.', k.col, k.typ);
    END;
    EXECUTE pg_catalog.format('SELECT true, %s, %s FROM %s WHERE %I = $1::%s',
                              coalesce(quote_ident(r.owner_column) || '::text', 'NULL'),
                              coalesce(quote_ident(r.tenant_column) || '::text', 'NULL'),
                              r.tbl, k.col, k.typ)
       INTO found_row, owner, tenant USING keytext;
    IF found_row IS NULL THEN
        keytext := NULL;
    END IF;
END
$$;

-- May the caller share this row (what: share, unshare), or put it on an
-- account team (assign, unassign)?  A superuser or super admin; a holder of
-- manage_permissions (a tenant administrator: rows of its tenant); for a
-- share, also the row's owner (owner column = its user id, same tenant)
-- holding the system permission share.  Only a global administrator learns
-- that a row does not exist.  Denials are audited, as the caller.
CREATE FUNCTION crmperm._check_record_right(r crmperm.resources, key text, what text,
                                            OUT keytext text, OUT tenant text, OUT owner text,
                                            OUT admin boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me regrole := crmperm._caller();
    row record;
    my_tenant text := crmperm._admin_tenant();
BEGIN
    IF crmperm._token_name() IS NOT NULL THEN
        PERFORM crmperm._deny_record(r.resource, key, what, 'rights');
    END IF;
    admin := crmperm._holds_system(me, 'manage_permissions');
    row := crmperm._record_row(r, key, admin);
    keytext := row.keytext;
    tenant := row.tenant;
    owner := row.owner;
    IF admin AND my_tenant IS NULL AND keytext IS NULL THEN
        RAISE EXCEPTION 'row % of resource "%" does not exist', key, r.resource USING ERRCODE = 'no_data_found';
    END IF;
    IF admin AND keytext IS NOT NULL
       AND (my_tenant IS NULL OR (r.tenant_column IS NOT NULL AND my_tenant = row.tenant)) THEN
        RETURN;
    END IF;
    admin := false;
    IF what IN ('share', 'unshare') AND keytext IS NOT NULL
       AND crmperm._holds_system(me, 'share') AND r.owner_column IS NOT NULL
       AND row.owner = (SELECT p.user_id FROM crmperm.principals p WHERE p.principal = me)
       AND (r.tenant_column IS NULL
            OR row.tenant = (SELECT p.tenant_id FROM crmperm.principals p WHERE p.principal = me)) THEN
        RETURN;
    END IF;
    PERFORM crmperm._deny_record(r.resource, key, what, 'rights');
END
$$;

CREATE FUNCTION crmperm._holds_system(principal regrole, permission text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT FROM pg_authid a WHERE a.oid = principal AND a.rolsuper)
        OR EXISTS (SELECT FROM crmperm.principals p WHERE p.principal = $1 AND p.super_admin)
        OR EXISTS (SELECT FROM crmperm._effective_sets(principal) s
                     JOIN crmperm.system_grants g ON g.permission_set = s.permission_set
                    WHERE g.permission = $2)
$$;

-- The denial of share(), assign_record() and their reverse (audited).
CREATE FUNCTION crmperm._deny_record(resource text, key text, what text, reason text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_deny_record';
-- Does the principal hold the action on the row (key as text)?
CREATE FUNCTION crmperm._may_on_row(principal oid, resource text, action text, key text)
RETURNS boolean LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_may_on_row';

-- Grant or remove one entry.  kind share: actions the resource has, beyond
-- create, export and import; the principal must be of the row's tenant.
CREATE FUNCTION crmperm._record_grant(kind text, resource text, key text, principal regrole,
                                      role text, team text, actions text[], valid_until timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    r crmperm.resources := crmperm._resource(resource);
    target record;
    a text;
BEGIN
    IF principal IS NULL AND role IS NULL AND team IS NULL THEN
        RAISE EXCEPTION '% must not be null', CASE WHEN _record_grant.role IS NOT NULL THEN 'role'
                                                  ELSE 'principal' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF role IS NOT NULL THEN
        PERFORM crmperm._role(role);
    END IF;
    IF team IS NOT NULL AND team = '' THEN
        RAISE EXCEPTION 'team must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF kind = 'share' THEN
        actions := crmperm._check_actions(r.resource, actions);
        FOREACH a IN ARRAY actions LOOP
            IF a IN ('create', 'export', 'import') THEN
                RAISE EXCEPTION 'cannot share "%.%"', r.resource, a
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = 'A share gives actions on one existing row: read, update, delete or an action of the resource.';
            END IF;
        END LOOP;
    END IF;
    PERFORM crmperm._check_until(valid_until);
    target := crmperm._check_record_right(r, key, CASE kind WHEN 'share' THEN 'share' ELSE 'assign' END);
    -- an owner shares only what it may do on the row itself
    IF kind = 'share' AND NOT target.admin THEN
        FOREACH a IN ARRAY actions LOOP
            IF NOT crmperm._may_on_row(crmperm._caller(), r.resource, a, target.keytext) THEN
                PERFORM crmperm._deny_record(r.resource, key, 'share', 'rights');
            END IF;
        END LOOP;
    END IF;
    IF r.tenant_column IS NOT NULL
       AND ((principal IS NOT NULL
             AND (SELECT p.tenant_id FROM crmperm.principals p WHERE p.principal = _record_grant.principal)
                 IS DISTINCT FROM target.tenant)
            OR (role IS NOT NULL
                AND (SELECT x.tenant_id FROM crmperm.roles x WHERE x.name = _record_grant.role) IS NOT NULL
                AND (SELECT x.tenant_id FROM crmperm.roles x WHERE x.name = _record_grant.role)
                    IS DISTINCT FROM target.tenant)) THEN
        PERFORM crmperm._deny_record(r.resource, key, CASE kind WHEN 'share' THEN 'share' ELSE 'assign' END,
                                     'tenant');
    END IF;
    IF kind = 'share' AND NOT EXISTS (SELECT FROM crmperm.shared_resources s WHERE s.resource = r.resource) THEN
        INSERT INTO crmperm.shared_resources VALUES (r.resource);
    END IF;
    INSERT INTO crmperm.record_access AS x (resource, key, kind, principal, role, team, actions,
                                            valid_until, tenant_id, owner_value, granted_by)
    VALUES (r.resource, target.keytext, kind, principal, role, team, actions, valid_until,
            target.tenant, CASE kind WHEN 'share' THEN target.owner END, crmperm._caller()::text)
    ON CONFLICT ON CONSTRAINT record_access_entry DO UPDATE
       SET actions = excluded.actions, valid_until = excluded.valid_until,
           owner_value = excluded.owner_value,
           granted_by = excluded.granted_by, granted_at = excluded.granted_at;
END
$$;

CREATE FUNCTION crmperm._record_revoke(kind text, resource text, key text, principal regrole,
                                       role text, team text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    r crmperm.resources := crmperm._resource(resource);
    target record;
    n bigint;
BEGIN
    IF principal IS NULL AND role IS NULL AND team IS NULL THEN
        RAISE EXCEPTION '% must not be null', CASE WHEN kind = 'share' THEN 'principal' ELSE 'principal' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    target := crmperm._check_record_right(r, key, CASE kind WHEN 'share' THEN 'unshare' ELSE 'unassign' END);
    DELETE FROM crmperm.record_access x
     WHERE x.resource = r.resource AND x.kind = _record_revoke.kind AND x.key = target.keytext
       AND x.grantee = CASE WHEN principal IS NOT NULL THEN 'p' || (principal::oid)::text
                            WHEN role IS NOT NULL THEN 'r' || role ELSE 't' || team END;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'row % of resource "%" is not % %', key, r.resource,
                CASE kind WHEN 'share' THEN 'shared with' ELSE 'assigned to' END,
                coalesce('role "' || principal::text || '"', 'CRM role "' || role || '"', 'team "' || team || '"')
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE FUNCTION crmperm._share(resource text, key anyelement, principal regrole, actions text[],
                               valid_until timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._record_grant('share', resource, key::text, principal, NULL, NULL, actions, valid_until)
$$;
CREATE FUNCTION crmperm._share_with_role(resource text, key anyelement, role text, actions text[],
                                         valid_until timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._not_null(role, 'role');
    SELECT crmperm._record_grant('share', resource, key::text, NULL, role, NULL, actions, valid_until)
$$;
CREATE FUNCTION crmperm._share_with_team(resource text, key anyelement, team text, actions text[],
                                         valid_until timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._not_null(team, 'team');
    SELECT crmperm._record_grant('share', resource, key::text, NULL, NULL, team, actions, valid_until)
$$;
CREATE FUNCTION crmperm._unshare(resource text, key anyelement, principal regrole) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._record_revoke('share', resource, key::text, principal, NULL, NULL)
$$;
CREATE FUNCTION crmperm._unshare_with_role(resource text, key anyelement, role text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._not_null(role, 'role');
    SELECT crmperm._record_revoke('share', resource, key::text, NULL, role, NULL)
$$;
CREATE FUNCTION crmperm._unshare_with_team(resource text, key anyelement, team text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._not_null(team, 'team');
    SELECT crmperm._record_revoke('share', resource, key::text, NULL, NULL, team)
$$;
CREATE FUNCTION crmperm._assign_record(resource text, key anyelement, principal regrole,
                                       valid_until timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._record_grant('team', resource, key::text, principal, NULL, NULL, NULL, valid_until)
$$;
CREATE FUNCTION crmperm._assign_record_to_team(resource text, key anyelement, team text,
                                               valid_until timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._not_null(team, 'team');
    SELECT crmperm._record_grant('team', resource, key::text, NULL, NULL, team, NULL, valid_until)
$$;
CREATE FUNCTION crmperm._unassign_record(resource text, key anyelement, principal regrole) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._record_revoke('team', resource, key::text, principal, NULL, NULL)
$$;
CREATE FUNCTION crmperm._unassign_record_from_team(resource text, key anyelement, team text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT crmperm._not_null(team, 'team');
    SELECT crmperm._record_revoke('team', resource, key::text, NULL, NULL, team)
$$;

-- The entries a caller may see: an administrator (manage_permissions) all,
-- a tenant administrator its tenant's; anyone else those it made, those
-- that name it, and those of rows it owns.
CREATE FUNCTION crmperm._record_entries(kind text)
RETURNS TABLE (resource text, key text, principal regrole, role text, team text, actions text[],
               valid_until timestamptz, granted_by text, granted_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    me regrole := crmperm._caller();
    admin boolean := crmperm._token_name() IS NULL AND crmperm._holds_system(me, 'manage_permissions');
    my_tenant text := crmperm._admin_tenant();
    my_user text := (SELECT p.user_id FROM crmperm.principals p WHERE p.principal = me);
    my_own_tenant text := (SELECT p.tenant_id FROM crmperm.principals p WHERE p.principal = me);
    r crmperm.resources;
    k record;
BEGIN
    IF admin THEN
        RETURN QUERY SELECT x.resource, x.key, x.principal, x.role, x.team, x.actions, x.valid_until,
                            x.granted_by, x.granted_at
                       FROM crmperm.record_access x
                      WHERE x.kind = _record_entries.kind
                        AND (my_tenant IS NULL OR x.tenant_id = my_tenant);
        RETURN;
    END IF;
    RETURN QUERY SELECT x.resource, x.key, x.principal, x.role, x.team, x.actions, x.valid_until,
                        x.granted_by, x.granted_at
                   FROM crmperm.record_access x
                  WHERE x.kind = _record_entries.kind
                    AND (x.granted_by = me::text OR x.principal = me);
    IF my_user IS NULL THEN
        RETURN;
    END IF;
    FOR r IN SELECT * FROM crmperm.resources x
              WHERE x.owner_column IS NOT NULL
                AND EXISTS (SELECT FROM crmperm.record_access a WHERE a.resource = x.resource AND a.kind = _record_entries.kind)
                AND crmperm._builtin_columns(x, ARRAY[x.owner_column, x.tenant_column]
                        || ARRAY(SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
                                  AND a.attnum = ANY (i.indkey) WHERE i.indrelid = x.tbl AND i.indisprimary))
    LOOP
        k := crmperm._key_column(r);
        RETURN QUERY EXECUTE pg_catalog.format(
            'SELECT x.resource, x.key, x.principal, x.role, x.team, x.actions, x.valid_until, x.granted_by, x.granted_at
               FROM crmperm.record_access x JOIN %s t ON t.%I = x.key::%s
              WHERE x.resource = $1 AND x.kind = $2 AND t.%I::text = $3
                AND x.granted_by IS DISTINCT FROM $4 AND x.principal IS DISTINCT FROM $5
                AND ($6 OR x.tenant_id IS NOT DISTINCT FROM $7)',
            r.tbl, k.col, k.typ, r.owner_column)
          USING r.resource, kind, my_user, me::text, me, r.tenant_column IS NULL, my_own_tenant;
    END LOOP;
END
$$;

-- (through the dispatcher, which knows the caller)
CREATE FUNCTION crmperm._list_shares()
RETURNS TABLE (resource text, key text, principal regrole, role text, team text, actions text[],
               valid_until timestamptz, granted_by text, granted_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM crmperm._record_entries('share')
$$;
CREATE FUNCTION crmperm._list_record_teams()
RETURNS TABLE (resource text, key text, principal regrole, role text, team text, actions text[],
               valid_until timestamptz, granted_by text, granted_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM crmperm._record_entries('team')
$$;
CREATE FUNCTION crmperm.list_shares()
RETURNS TABLE (resource text, key text, principal regrole, role text, team text, actions text[],
               valid_until timestamptz, granted_by text, granted_at timestamptz)
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.list_record_teams()
RETURNS TABLE (resource text, key text, principal regrole, role text, team text, actions text[],
               valid_until timestamptz, granted_by text, granted_at timestamptz)
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

CREATE VIEW crmperm.shares WITH (security_barrier) AS
    SELECT e.resource, e.key, e.principal, e.role, e.team, e.actions, e.valid_until,
           e.granted_by AS shared_by, e.granted_at AS shared_at
      FROM crmperm.list_shares() e;
CREATE VIEW crmperm.record_teams WITH (security_barrier) AS
    SELECT e.resource, e.key, e.principal, e.team, e.valid_until,
           e.granted_by AS assigned_by, e.granted_at AS assigned_at
      FROM crmperm.list_record_teams() e;
GRANT SELECT ON crmperm.shares, crmperm.record_teams TO PUBLIC;

-- The system permission share: an owner shares its own rows.
ALTER TABLE crmperm.system_grants DROP CONSTRAINT system_grants_permission_check;
ALTER TABLE crmperm.system_grants ADD CONSTRAINT system_grants_permission_check CHECK (permission IN
    ('export', 'bulk', 'manage_permissions', 'manage_tokens', 'view_audit', 'share'));
CREATE OR REPLACE FUNCTION crmperm._grant_system(permission_set text, permission text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    PERFORM crmperm._check_list(ARRAY[permission],
        ARRAY['export', 'bulk', 'manage_permissions', 'manage_tokens', 'view_audit', 'share'], 'system permission');
    INSERT INTO crmperm.system_grants VALUES (permission_set, permission) ON CONFLICT DO NOTHING;
END
$$;

CREATE OR REPLACE FUNCTION crmperm._revoke_system(permission_set text, permission text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    PERFORM crmperm._check_list(ARRAY[permission],
        ARRAY['export', 'bulk', 'manage_permissions', 'manage_tokens', 'view_audit', 'share'], 'system permission');
    DELETE FROM crmperm.system_grants g
     WHERE g.permission_set = _revoke_system.permission_set AND g.permission = _revoke_system.permission;
END
$$;

-- A dropped role's shares and account team places go with it.
CREATE OR REPLACE FUNCTION crmperm._forget_role(principal oid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_authid a WHERE a.oid = principal) THEN
        RETURN;
    END IF;
    DELETE FROM crmperm.role_assignments a WHERE a.principal::oid = _forget_role.principal;
    DELETE FROM crmperm.set_assignments a WHERE a.principal::oid = _forget_role.principal;
    DELETE FROM crmperm.principals p WHERE p.principal::oid = _forget_role.principal;
    DELETE FROM crmperm.record_access x WHERE x.principal::oid = _forget_role.principal;
    UPDATE crmperm.api_tokens t SET revoked = now()
     WHERE t.principal::oid = _forget_role.principal AND t.revoked IS NULL;
END
$$;

-- ---------------------------------------------------------------------------
-- Public API (the dispatcher, see 1.0).
-- ---------------------------------------------------------------------------

CREATE FUNCTION crmperm.set_parent(resource text, parent text, fk_columns name[] DEFAULT NULL)
RETURNS void LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.share(resource text, key anyelement, principal regrole, actions text[],
    valid_until timestamptz DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.share_with_role(resource text, key anyelement, role text, actions text[],
    valid_until timestamptz DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.share_with_team(resource text, key anyelement, team text, actions text[],
    valid_until timestamptz DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unshare(resource text, key anyelement, principal regrole) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unshare_with_role(resource text, key anyelement, role text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unshare_with_team(resource text, key anyelement, team text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.assign_record(resource text, key anyelement, principal regrole,
    valid_until timestamptz DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.assign_record_to_team(resource text, key anyelement, team text,
    valid_until timestamptz DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unassign_record(resource text, key anyelement, principal regrole) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unassign_record_from_team(resource text, key anyelement, team text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

REVOKE ALL ON FUNCTION crmperm._predicate_reads(regclass, text), crmperm._scope_reads(text),
    crmperm._builtin_columns(crmperm.resources, name[]), crmperm._check_builtin_columns(crmperm.resources, name[]),
    crmperm._refuse_scope_loop(text, text, text), crmperm._check_field_scope(crmperm.resources, text),
    crmperm._set_parent(text, text, name[]), crmperm._key_column(crmperm.resources),
    crmperm._record_row(crmperm.resources, text, boolean),
    crmperm._check_record_right(crmperm.resources, text, text), crmperm._holds_system(regrole, text),
    crmperm._deny_record(text, text, text, text), crmperm._may_on_row(oid, text, text, text),
    crmperm._record_grant(text, text, text, regrole, text, text, text[], timestamptz),
    crmperm._record_revoke(text, text, text, regrole, text, text),
    crmperm._share(text, anyelement, regrole, text[], timestamptz),
    crmperm._share_with_role(text, anyelement, text, text[], timestamptz),
    crmperm._share_with_team(text, anyelement, text, text[], timestamptz),
    crmperm._unshare(text, anyelement, regrole), crmperm._unshare_with_role(text, anyelement, text),
    crmperm._unshare_with_team(text, anyelement, text),
    crmperm._assign_record(text, anyelement, regrole, timestamptz),
    crmperm._assign_record_to_team(text, anyelement, text, timestamptz),
    crmperm._unassign_record(text, anyelement, regrole),
    crmperm._unassign_record_from_team(text, anyelement, text), crmperm._record_entries(text),
    crmperm._list_shares(), crmperm._list_record_teams() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- explain_access(principal, resource, key): one row, and the path that
-- grants each action on it.
-- ---------------------------------------------------------------------------

-- Is the row (key as text) inside one scope of the principal for the
-- action?  Read as the principal, without shares.
CREATE FUNCTION crmperm._row_scope(principal oid, resource text, action text, scope text, key text)
RETURNS boolean LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_row_scope';

-- For each action of the row's resource but create, export and import
-- (they name no existing row): may the principal do it on this row, and
-- through what: "table owner", "scope owned", "scope parent: via clients
-- 42", "shared by bob until 2027-01-01 00:00:00+00", "assigned".  A row
-- that does not exist is, for anyone but an administrator, a row outside
-- every scope.
-- The resource of a row: a table's (an application permission has no rows).
CREATE FUNCTION crmperm._explain_resource(resource text) RETURNS crmperm.resources
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(resource, 'resource');
    IF NOT EXISTS (SELECT FROM crmperm.resources x WHERE x.resource = _explain_resource.resource)
       AND EXISTS (SELECT FROM crmperm.actions a WHERE a.resource = _explain_resource.resource) THEN
        RAISE EXCEPTION 'resource "%" is not a table', resource
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'An application permission holds for no row: use crmperm.explain_access(principal, resource).';
    END IF;
    RETURN crmperm._resource(resource);
END
$$;

CREATE FUNCTION crmperm._explain_access(principal regrole, resource text, key anyelement)
RETURNS TABLE (action text, allowed boolean, via text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    r crmperm.resources := crmperm._explain_resource(resource);
    k record := crmperm._key_column(r);
    keytext text;
    e record;
    s text;
    vias text[];
    par crmperm.parents;
    parent_key text;
    grantees text[];
    row_owner text;
    admin boolean := crmperm._holds_system(crmperm._caller(), 'manage_permissions');
BEGIN
    PERFORM crmperm._not_null(key, 'key');
    IF crmperm._token_name() IS NOT NULL THEN
        RAISE EXCEPTION 'crmperm.explain_access() with a key is not available under a token'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It reads the row with crmperm''s rights, which a token never has.',
                  HINT = 'Ask without a token, or use crmperm.check(action, key).';
    END IF;
    SELECT x.keytext, x.owner INTO keytext, row_owner FROM crmperm._record_row(r, key::text, true) x;
    IF keytext IS NULL AND crmperm._admin_tenant() IS NULL AND admin THEN
        RAISE EXCEPTION 'row % of resource "%" does not exist', key, r.resource USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO par FROM crmperm.parents x WHERE x.resource = r.resource;
    IF par.resource IS NOT NULL THEN
        PERFORM crmperm._check_builtin_columns(r, par.fk_columns);
    END IF;
    -- (the parent's key is the child's foreign key: not shown when a field of it is protected)
    IF par.resource IS NOT NULL AND keytext IS NOT NULL
       AND NOT EXISTS (SELECT FROM crmperm.fields f WHERE f.resource = r.resource AND f.field = ANY (par.fk_columns))
       AND (admin OR crmperm._may_on_row(principal, r.resource, 'read', keytext)) THEN
        EXECUTE pg_catalog.format('SELECT concat_ws('', '', %s) FROM %s WHERE %I = $1::%s',
                                  (SELECT string_agg(pg_catalog.format('%I::text', c), ', ') FROM unnest(par.fk_columns) c),
                                  r.tbl, k.col, k.typ)
           INTO parent_key USING keytext;
        IF cardinality(par.fk_columns) > 1 THEN
            parent_key := '(' || parent_key || ')';
        END IF;
    END IF;
    grantees := ARRAY['p' || principal::oid::text]
        || ARRAY(SELECT 'r' || x.role FROM crmperm.role_assignments x
                  WHERE x.principal = _explain_access.principal
                    AND (x.valid_until IS NULL OR x.valid_until > statement_timestamp())
                 UNION SELECT 'r' || s.via_role FROM crmperm._effective_sets(principal) s WHERE s.via_role IS NOT NULL)
        || ARRAY(SELECT 't' || t FROM crmperm.principals x, unnest(x.team_ids) t WHERE x.principal = _explain_access.principal);
    FOR e IN SELECT x.action, x.allowed, x.scope, x.reason FROM crmperm._explain_access(principal, resource) x
              WHERE x.action IN (SELECT a.action FROM crmperm.actions a WHERE a.resource = r.resource)
                AND x.action NOT IN ('create', 'export', 'import')
    LOOP
        action := e.action;
        IF NOT e.allowed THEN
            allowed := false;
            via := e.reason;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF e.reason <> 'granted' THEN
            allowed := keytext IS NOT NULL;
            via := CASE WHEN keytext IS NULL THEN 'outside its scopes' ELSE e.reason END;
            RETURN NEXT;
            CONTINUE;
        END IF;
        vias := '{}';
        IF keytext IS NOT NULL THEN
            FOREACH s IN ARRAY string_to_array(e.scope, ' or ') LOOP
                IF crmperm._row_scope(principal, r.resource, e.action, s, keytext) THEN
                    vias := vias || CASE WHEN s = 'parent' AND NOT EXISTS (SELECT FROM crmperm.scopes c WHERE c.resource = r.resource AND c.scope = 'parent')
                                         THEN pg_catalog.format('scope parent: via %s%s', par.parent, ' ' || parent_key)
                                         ELSE 'scope ' || s END;
                END IF;
            END LOOP;
            -- the shares that count: the row passes the real check (tenant,
            -- the owner it was shared under), and these name the principal
            IF cardinality(vias) = 0 AND crmperm._may_on_row(principal, r.resource, e.action, keytext) THEN
                vias := vias || ARRAY(
                    SELECT CASE WHEN x.valid_until IS NULL THEN pg_catalog.format('shared by %s', x.granted_by)
                                ELSE pg_catalog.format('shared by %s until %s', x.granted_by, x.valid_until) END
                      FROM crmperm.record_access x
                     WHERE x.resource = r.resource AND x.kind = 'share' AND x.key = keytext
                       AND x.grantee = ANY (grantees) AND e.action = ANY (x.actions)
                       AND x.owner_value IS NOT DISTINCT FROM row_owner
                       AND (x.valid_until IS NULL OR x.valid_until > statement_timestamp())
                     ORDER BY x.granted_at);
            END IF;
        END IF;
        allowed := cardinality(vias) > 0;
        via := CASE WHEN allowed THEN array_to_string(vias, '; ')
                    ELSE pg_catalog.format('outside its scopes (%s)', e.scope) END;
        RETURN NEXT;
    END LOOP;
END
$$;
CREATE FUNCTION crmperm.explain_access(principal regrole, resource text, key anyelement)
RETURNS TABLE (action text, allowed boolean, via text)
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
REVOKE ALL ON FUNCTION crmperm._row_scope(oid, text, text, text, text), crmperm._explain_resource(text),
    crmperm._explain_access(regrole, text, anyelement) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- lint(): scope parent that admits nothing.
-- ---------------------------------------------------------------------------

CREATE FUNCTION crmperm._lint_record_access()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- a grant with scope parent on a resource without a parent (its parent
    -- was unmanaged): it admits no row
    SELECT 'warning', 'parent_scope_without_parent', g.resource,
           pg_catalog.format('Permission set "%s" grants %s.%s with scope parent, but resource %s has no parent: the grant admits no row.',
                             g.permission_set, g.resource, g.action, g.resource),
           pg_catalog.format('SELECT crmperm.set_parent(%L, <parent>, <foreign key columns>);', g.resource)
      FROM (SELECT o.permission_set, o.resource, o.action, o.scope FROM crmperm.object_grants o
            UNION ALL
            SELECT a.permission_set, a.resource, a.action, a.scope FROM crmperm.action_grants a) g
     WHERE g.scope = 'parent'
       AND NOT EXISTS (SELECT FROM crmperm.parents p WHERE p.resource = g.resource)
       AND NOT EXISTS (SELECT FROM crmperm.scopes s WHERE s.resource = g.resource AND s.scope = 'parent')
    UNION ALL
    -- a parent whose foreign key was dropped: scope parent admits no row
    SELECT 'warning', 'parent_without_foreign_key', p.resource,
           pg_catalog.format('Resource %s follows %s through (%s), but no such foreign key exists any more: scope parent admits no row.',
                             p.resource, p.parent, pg_catalog.array_to_string(p.fk_columns, ', ')),
           pg_catalog.format('ALTER TABLE %s ADD FOREIGN KEY (%s) REFERENCES %s;', c.tbl,
                             pg_catalog.array_to_string(p.fk_columns, ', '), pr.tbl)
      FROM crmperm.parents p
      JOIN crmperm.resources c ON c.resource = p.resource
      JOIN crmperm.resources pr ON pr.resource = p.parent
     WHERE NOT EXISTS (SELECT FROM pg_constraint k
                        WHERE k.contype = 'f' AND k.conrelid = c.tbl AND k.confrelid = pr.tbl
                          AND k.conkey = ARRAY(SELECT a.attnum FROM unnest(p.fk_columns) WITH ORDINALITY u(n, o)
                                                 JOIN pg_attribute a ON a.attrelid = c.tbl AND a.attname = u.n
                                                ORDER BY u.o)::int2[])
$$;
REVOKE ALL ON FUNCTION crmperm._lint_record_access() FROM PUBLIC;

CREATE OR REPLACE FUNCTION crmperm._lint()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
SELECT f.severity, f.finding, f.object, f.detail, f.fix
  FROM (
    SELECT * FROM crmperm._lint_base()
    UNION ALL SELECT * FROM crmperm._lint_attachments()
    UNION ALL SELECT * FROM crmperm._lint_side_channels()
    UNION ALL SELECT * FROM crmperm._lint_tenant()
    UNION ALL SELECT * FROM crmperm._lint_routines()
    UNION ALL SELECT * FROM crmperm._lint_record_access()
  ) f
 -- a protected routine's callers need its action: reaching tables with its
 -- owner's rights is its point (_lint_routines reports what could replace it)
 WHERE NOT (f.finding = 'definer_routine_bypasses_crmperm'
            AND EXISTS (SELECT FROM crmperm.routines r WHERE r.routine::text = f.object))
 ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
          f.finding COLLATE "C", f.object COLLATE "C", f.detail COLLATE "C"
$$;

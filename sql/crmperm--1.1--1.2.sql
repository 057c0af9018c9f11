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



-- A CRM role or permission set that does not exist: say which kind (a CRM
-- role is not a PostgreSQL role) and how to make one.
CREATE OR REPLACE FUNCTION crmperm._permission_set(name text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(name, 'permission set');
    PERFORM FROM crmperm.permission_sets p WHERE p.name = _permission_set.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'permission set "%" does not exist', name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Permission sets are made with crmperm.create_permission_set(); names are case-sensitive.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION crmperm._role(name text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(name, 'role');
    PERFORM FROM crmperm.roles r WHERE r.name = _role.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'CRM role "%" does not exist', name
            USING ERRCODE = 'undefined_object',
                  HINT = 'CRM roles are made with crmperm.create_role(); names are case-sensitive.';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Attachments to managed tables (triggers, foreign keys, rules, ...) and DDL
-- that writes rows.
-- ---------------------------------------------------------------------------

-- A table that just went below a managed table is secured as before, and
-- must be owned by the managed table's owner (or a superuser): the owner of
-- a partition or child holds its rows and could take them out of the table
-- (NO INHERIT, then row security off once it is no longer managed).
CREATE OR REPLACE FUNCTION crmperm._adopt_child(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    roots text[];
    top regclass;
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
    SELECT array_agg(DISTINCT r.resource ORDER BY r.resource), min(r.tbl::oid)::regclass
      INTO roots, top
      FROM up JOIN crmperm.resources r ON r.tbl = up.relid;
    IF cardinality(roots) > 1 THEN
        RAISE EXCEPTION 'table % cannot inherit from more than one managed table', rel
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = pg_catalog.format('It would inherit from resources %s.', array_to_string(roots, ', '));
    END IF;
    IF top IS NOT NULL AND EXISTS (
        SELECT FROM pg_class c, pg_class t, pg_authid a
         WHERE c.oid = rel AND t.oid = top AND a.oid = c.relowner
           AND c.relowner <> t.relowner AND NOT a.rolsuper) THEN
        RAISE EXCEPTION 'permission denied: a partition or child of managed table "%" must be owned by its owner "%"',
                (SELECT t.relname FROM pg_class t WHERE t.oid = top),
                (SELECT t.relowner::regrole FROM pg_class t WHERE t.oid = top)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('Role "%s" would own rows of the table and could take them out of it.',
                                             (SELECT c.relowner::regrole FROM pg_class c WHERE c.oid = rel)),
                  HINT = 'Create it as the owner (SET ROLE), or give it to the owner in the same transaction before attaching it.';
    END IF;
    PERFORM crmperm._secure(rel);
END
$$;

-- Where a type's stored values live in a sensitive table or a read-only
-- field (directly, or in an array, domain, range, multirange or composite
-- type of it), as 'column "c" of sensitive table "t"', or NULL.
CREATE FUNCTION crmperm._guarded_type_use(typ oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE edges(parent, child) AS (
        SELECT y.typbasetype, y.oid FROM pg_type y WHERE y.typbasetype <> 0
        UNION ALL
        SELECT y.typelem, y.oid FROM pg_type y
         WHERE y.typelem <> 0 AND y.typsubscript = 'pg_catalog.array_subscript_handler'::regproc
        UNION ALL
        SELECT r.rngsubtype, r.rngtypid FROM pg_range r
        UNION ALL
        SELECT r.rngtypid, r.rngmultitypid FROM pg_range r
        UNION ALL
        SELECT a.atttypid, c.reltype FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'c'
         WHERE NOT a.attisdropped
    ),
    t(oid) AS (
        SELECT typ
        UNION
        SELECT e.child FROM t JOIN edges e ON e.parent = t.oid
    )
    SELECT pg_catalog.format(CASE WHEN m.sensitive THEN 'column "%s" of sensitive table "%s"'
                                  ELSE 'read-only field "%s" of table "%s"' END,
                             a.attname, c.relname)
      FROM crmperm._managed_relations() m
      JOIN pg_class c ON c.oid = m.relid
      JOIN pg_attribute a ON a.attrelid = m.relid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN t ON t.oid = a.atttypid
     WHERE m.sensitive
        OR EXISTS (SELECT FROM crmperm.fields f
                    WHERE f.resource = m.resource AND f.field = a.attname AND f.readonly)
     ORDER BY c.oid, a.attnum
     LIMIT 1
$$;
REVOKE ALL ON FUNCTION crmperm._guarded_type_use(oid) FROM PUBLIC;

-- lint(): what is attached to managed tables (and their partitions and
-- children) that a role other than the managed table's owner controls, and
-- owner-written triggers that publish rows.
CREATE FUNCTION crmperm._lint_attachments()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
WITH
mr AS (
    SELECT m.relid, m.resource, r.tbl AS top, t.relowner AS owner
      FROM crmperm._managed_relations() m
      JOIN crmperm.resources r ON r.resource = m.resource
      JOIN pg_class t ON t.oid = r.tbl
),
-- trusted owners of code on a managed table: its owner and superusers
trusted(relid, roleid) AS (
    SELECT mr.relid, mr.owner FROM mr
    UNION SELECT mr.relid, a.oid FROM mr, pg_authid a WHERE a.rolsuper
),
-- objects attached to managed relations, and the functions they use
attached(relid, kind, classid, objid, name, drop_sql) AS (
    SELECT g.tgrelid, 'trigger', 'pg_trigger'::regclass, g.oid, g.tgname::text,
           pg_catalog.format('DROP TRIGGER %I ON %s;', g.tgname, g.tgrelid::regclass)
      FROM pg_trigger g JOIN mr ON mr.relid = g.tgrelid WHERE NOT g.tgisinternal
    UNION ALL
    SELECT w.ev_class, 'rule', 'pg_rewrite'::regclass, w.oid, w.rulename::text,
           pg_catalog.format('DROP RULE %I ON %s;', w.rulename, w.ev_class::regclass)
      FROM pg_rewrite w JOIN mr ON mr.relid = w.ev_class
    UNION ALL
    SELECT p.polrelid, 'policy', 'pg_policy'::regclass, p.oid, p.polname::text,
           pg_catalog.format('DROP POLICY %I ON %s;', p.polname, p.polrelid::regclass)
      FROM pg_policy p JOIN mr ON mr.relid = p.polrelid
    UNION ALL
    SELECT x.stxrelid, 'statistics object', 'pg_statistic_ext'::regclass, x.oid, x.stxname::text,
           pg_catalog.format('DROP STATISTICS %s;', x.oid::regclass::text)
      FROM pg_statistic_ext x JOIN mr ON mr.relid = x.stxrelid
    UNION ALL
    SELECT i.indrelid, 'index', 'pg_class'::regclass, i.indexrelid, i.indexrelid::regclass::text,
           pg_catalog.format('DROP INDEX %s;', i.indexrelid::regclass)
      FROM pg_index i JOIN mr ON mr.relid = i.indrelid
    UNION ALL
    SELECT k.conrelid, 'constraint', 'pg_constraint'::regclass, k.oid, k.conname::text,
           pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I;', k.conrelid::regclass, k.conname)
      FROM pg_constraint k JOIN mr ON mr.relid = k.conrelid
    UNION ALL
    SELECT d.adrelid, 'column default', 'pg_attrdef'::regclass, d.oid, a.attname::text,
           pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT;', d.adrelid::regclass, a.attname)
      FROM pg_attrdef d JOIN mr ON mr.relid = d.adrelid
      JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
),
uses(relid, kind, name, drop_sql, fn) AS (
    SELECT at.relid, at.kind, at.name, at.drop_sql, dep.refobjid
      FROM attached at JOIN pg_depend dep ON dep.classid = at.classid AND dep.objid = at.objid
     WHERE dep.refclassid = 'pg_proc'::regclass
    UNION
    SELECT at.relid, at.kind, at.name, at.drop_sql, o.oprcode::oid
      FROM attached at JOIN pg_depend dep ON dep.classid = at.classid AND dep.objid = at.objid
      JOIN pg_operator o ON o.oid = dep.refobjid
     WHERE dep.refclassid = 'pg_operator'::regclass
)
-- code on a managed table whose function another role owns (and could replace)
SELECT CASE WHEN u.kind IN ('trigger', 'rule', 'policy') THEN 'error' ELSE 'warning' END,
       'attached_function_owned_by_other_role',
       u.relid::regclass::text,
       pg_catalog.format('%s "%s" on %s uses function %s, owned by role "%s": its owner can replace the code, which runs on every principal''s rows.',
                         u.kind, u.name, u.relid::regclass, u.fn::regprocedure, p.proowner::regrole),
       pg_catalog.format('ALTER FUNCTION %s OWNER TO %I; -- or %s', u.fn::regprocedure,
                         mr.owner::regrole::text, u.drop_sql)
  FROM uses u JOIN mr ON mr.relid = u.relid JOIN pg_proc p ON p.oid = u.fn
 WHERE NOT EXISTS (SELECT FROM trusted t WHERE t.relid = u.relid AND t.roleid = p.proowner)
UNION ALL
-- native policies: OR-ed with crmperm's permissive ones
SELECT 'error', 'native_policy_on_managed_table', p.polrelid::regclass::text,
       pg_catalog.format('Policy "%s" on %s is %s: %s.', p.polname, p.polrelid::regclass,
                         CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                         CASE WHEN p.polpermissive THEN 'it is OR-ed with crmperm''s scopes and widens them'
                              ELSE 'it narrows crmperm''s scopes, which is allowed, but crmperm does not show it' END),
       pg_catalog.format('DROP POLICY %I ON %s;', p.polname, p.polrelid::regclass)
  FROM pg_policy p JOIN mr ON mr.relid = p.polrelid
UNION ALL
-- rules: they rewrite every principal's statements
SELECT 'warning', 'rule_on_managed_table', w.ev_class::regclass::text,
       pg_catalog.format('Rule "%s" on %s rewrites every principal''s statements on it.', w.rulename, w.ev_class::regclass),
       pg_catalog.format('DROP RULE %I ON %s;', w.rulename, w.ev_class::regclass)
  FROM pg_rewrite w JOIN mr ON mr.relid = w.ev_class
UNION ALL
-- foreign keys to a managed table from tables its owner does not own
SELECT 'warning', 'foreign_key_from_other_owner', k.confrelid::regclass::text,
       pg_catalog.format('Foreign key "%s" of %s (owned by role "%s") references %s: its owner learns which keys exist, hidden rows included, and its actions run past scopes.',
                         k.conname, k.conrelid::regclass, c.relowner::regrole, k.confrelid::regclass),
       pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I;', k.conrelid::regclass, k.conname)
  FROM pg_constraint k JOIN mr ON mr.relid = k.confrelid JOIN pg_class c ON c.oid = k.conrelid
 WHERE k.contype = 'f'
   AND NOT EXISTS (SELECT FROM trusted t WHERE t.relid = k.confrelid AND t.roleid = c.relowner)
UNION ALL
-- partitions and children owned by another role
SELECT 'error', 'child_owned_by_other_role', mr.relid::regclass::text,
       pg_catalog.format('%s is below managed table %s but owned by role "%s", not by "%s": its owner holds its rows and could take them out of the table.',
                         mr.relid::regclass, mr.top, c.relowner::regrole, mr.owner::regrole),
       pg_catalog.format('ALTER TABLE %s OWNER TO %I;', mr.relid::regclass, mr.owner::regrole::text)
  FROM mr JOIN pg_class c ON c.oid = mr.relid
 WHERE mr.relid <> mr.top
   AND NOT EXISTS (SELECT FROM trusted t WHERE t.relid = mr.relid AND t.roleid = c.relowner)
UNION ALL
-- owner-written triggers that publish rows (a textual check of the source)
SELECT 'warning', 'trigger_publishes_rows', g.tgrelid::regclass::text,
       pg_catalog.format('Trigger "%s" on %s calls %s, whose source sends rows with pg_notify: listeners get every principal''s rows and real values of masked fields (a textual check of the source).',
                         g.tgname, g.tgrelid::regclass, g.tgfoid::regprocedure),
       pg_catalog.format('DROP TRIGGER %I ON %s; -- or send only the key, and let listeners read the row through crmperm',
                         g.tgname, g.tgrelid::regclass)
  FROM pg_trigger g JOIN mr ON mr.relid = g.tgrelid JOIN pg_proc p ON p.oid = g.tgfoid
 WHERE NOT g.tgisinternal
   AND p.prosrc ~* '\mpg_notify\M'
   AND p.prosrc ~* '\m(new|old|row_to_json|to_jsonb?|jsonb?_build_object|jsonb?_object)\M'
$$;
REVOKE ALL ON FUNCTION crmperm._lint_attachments() FROM PUBLIC;



-- strict_fields: columns a typed table gets from ALTER TYPE ... ADD ATTRIBUTE
-- ... CASCADE are protected too (the event also fires for ALTER TYPE).
CREATE OR REPLACE FUNCTION crmperm._on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
BEGIN
    FOR r IN SELECT DISTINCT x.* FROM crmperm.resources x
               JOIN pg_class c ON c.oid = x.tbl
               JOIN pg_event_trigger_ddl_commands() d
                 ON (d.command_tag = 'ALTER TABLE' AND d.objid = x.tbl::oid)
                 OR (d.command_tag = 'ALTER TYPE' AND c.reloftype <> 0
                     AND d.objid IN (c.reloftype, (SELECT t.typrelid FROM pg_type t
                                                    WHERE t.oid = c.reloftype)))
              WHERE x.strict_fields
    LOOP
        PERFORM crmperm._protect_all(r);
    END LOOP;
END
$$;
DROP EVENT TRIGGER crmperm_ddl_end;
CREATE EVENT TRIGGER crmperm_ddl_end ON ddl_command_end WHEN TAG IN ('ALTER TABLE', 'ALTER TYPE')
    EXECUTE FUNCTION crmperm._on_ddl_end();

-- ---------------------------------------------------------------------------
-- Tenant-scoped administration.
--
-- A tenant administrator is a governed caller of an admin function (not a
-- superuser, not a super admin) whose principal row has a tenant_id; a
-- governed administrator without a tenant is a global administrator.  The
-- dispatcher (src/tenant_admin.c) checks every admin call of a tenant
-- administrator before the implementation runs, from the facts
-- crmperm._tenant_facts() gives: which tenant each permission set, role,
-- principal and token named in the call belongs to.  Permission sets and
-- roles carry a tenant_id (NULL: global, which every row made before 1.2
-- is); those a tenant administrator creates are its tenant's.
-- ---------------------------------------------------------------------------

ALTER TABLE crmperm.permission_sets ADD COLUMN tenant_id text;
ALTER TABLE crmperm.roles ADD COLUMN tenant_id text;

-- The tenant the current role administers (crmperm._caller() inside an admin
-- call): its tenant_id when it is governed, NULL for a global administrator
-- (no tenant), a super admin or a superuser.
CREATE FUNCTION crmperm._admin_tenant() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_admin_tenant';
GRANT EXECUTE ON FUNCTION crmperm._admin_tenant() TO PUBLIC;

-- May the current role read the audit records of the role named (by name:
-- the audit log keeps names)?  It needs view_audit (not under a token); a
-- tenant administrator reads those of the principals of its tenant only.
CREATE FUNCTION crmperm._may_view_audit_of(role_name text) RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_may_view_audit_of';
GRANT EXECUTE ON FUNCTION crmperm._may_view_audit_of(text) TO PUBLIC;

-- A permission set or role made by a tenant administrator belongs to its
-- tenant (whatever the implementation inserts; a restore keeps the dumped
-- value: superusers administer no tenant).
CREATE FUNCTION crmperm._stamp_tenant() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.tenant_id := coalesce(NEW.tenant_id, crmperm._admin_tenant());
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION crmperm._stamp_tenant() FROM PUBLIC;
CREATE TRIGGER stamp_tenant BEFORE INSERT ON crmperm.permission_sets
    FOR EACH ROW EXECUTE FUNCTION crmperm._stamp_tenant();
CREATE TRIGGER stamp_tenant BEFORE INSERT ON crmperm.roles
    FOR EACH ROW EXECUTE FUNCTION crmperm._stamp_tenant();

-- What tenant administration knows about an object named in an admin call
-- (read by the dispatcher, as the extension's catalog reader):
--   'permission set', 'role': whether it exists, its tenant, and the system
--       permissions it carries (a role: through its sets and its parents');
--   'principal' (name: the role's OID): whether it has a principal row, its
--       tenant, and in held the tenants of the permission sets and roles
--       assigned to it directly, with in detail one of them named;
--   'token': whether it exists, and the tenant of its principal.
CREATE FUNCTION crmperm._tenant_facts(kind text, name text)
RETURNS TABLE (found boolean, tenant_id text, system text[], held text[], detail text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    CASE kind
    WHEN 'permission set' THEN
        RETURN QUERY
        SELECT true, s.tenant_id,
               ARRAY(SELECT g.permission FROM crmperm.system_grants g
                      WHERE g.permission_set = s.name ORDER BY 1),
               NULL::text[], NULL::text
          FROM crmperm.permission_sets s WHERE s.name = _tenant_facts.name;
    WHEN 'role' THEN
        RETURN QUERY
        WITH RECURSIVE up(name) AS (
            SELECT _tenant_facts.name
            UNION
            SELECT r.parent FROM crmperm.roles r JOIN up ON r.name = up.name
             WHERE r.parent IS NOT NULL)
        SELECT true, r.tenant_id,
               ARRAY(SELECT DISTINCT g.permission
                       FROM up JOIN crmperm.role_permission_sets rs ON rs.role = up.name
                       JOIN crmperm.system_grants g ON g.permission_set = rs.permission_set
                      ORDER BY 1),
               NULL::text[], NULL::text
          FROM crmperm.roles r WHERE r.name = _tenant_facts.name;
    WHEN 'principal' THEN
        RETURN QUERY
        WITH held AS (
            SELECT s.tenant_id, pg_catalog.format('permission set "%s" of tenant "%s"', s.name, s.tenant_id) AS what
              FROM crmperm.set_assignments a JOIN crmperm.permission_sets s ON s.name = a.permission_set
             WHERE a.principal::oid = _tenant_facts.name::oid AND s.tenant_id IS NOT NULL
            UNION ALL
            SELECT r.tenant_id, pg_catalog.format('role "%s" of tenant "%s"', r.name, r.tenant_id)
              FROM crmperm.role_assignments a JOIN crmperm.roles r ON r.name = a.role
             WHERE a.principal::oid = _tenant_facts.name::oid AND r.tenant_id IS NOT NULL)
        SELECT EXISTS (SELECT FROM crmperm.principals p WHERE p.principal::oid = _tenant_facts.name::oid),
               (SELECT p.tenant_id FROM crmperm.principals p WHERE p.principal::oid = _tenant_facts.name::oid),
               NULL::text[],
               ARRAY(SELECT DISTINCT h.tenant_id FROM held h ORDER BY 1),
               (SELECT h.what FROM held h ORDER BY h.what LIMIT 1);
    WHEN 'token' THEN
        RETURN QUERY
        SELECT true, p.tenant_id, NULL::text[], NULL::text[], NULL::text
          FROM crmperm.api_tokens t LEFT JOIN crmperm.principals p ON p.principal = t.principal
         WHERE t.name = _tenant_facts.name;
    END CASE;
END
$$;
REVOKE ALL ON FUNCTION crmperm._tenant_facts(text, text) FROM PUBLIC;

-- set_principal() by a tenant administrator: the first user, team or
-- department id given that a principal outside the tenant (another tenant's,
-- or one without a tenant) already has, described, or NULL.  Scopes compare
-- these ids with rows of tables shared by every tenant too.
CREATE FUNCTION crmperm._attribute_outside_tenant(tenant text, principal oid, user_id text,
    team_ids text[], department_ids text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT x.what FROM (
        SELECT 1 AS o, pg_catalog.format('user_id %L', $3) AS what
          FROM crmperm.principals p
         WHERE p.principal::oid <> $2 AND p.tenant_id IS DISTINCT FROM $1 AND p.user_id = $3
        UNION ALL
        SELECT 2, pg_catalog.format('team id %L', t)
          FROM crmperm.principals p, unnest($4) t
         WHERE p.principal::oid <> $2 AND p.tenant_id IS DISTINCT FROM $1 AND t = ANY (p.team_ids)
        UNION ALL
        SELECT 3, pg_catalog.format('department id %L', d)
          FROM crmperm.principals p, unnest($5) d
         WHERE p.principal::oid <> $2 AND p.tenant_id IS DISTINCT FROM $1
           AND d = ANY (p.department_ids)) x
     ORDER BY x.o, x.what LIMIT 1
$$;
REVOKE ALL ON FUNCTION crmperm._attribute_outside_tenant(text, oid, text, text[], text[]) FROM PUBLIC;

-- Effective permission sets, fail closed across tenants: a permission set or
-- role of a tenant counts only for principals of that tenant, and an
-- assignment made to another PostgreSQL role whose privileges the principal
-- has counts only if that role is global (no tenant) or of the principal's
-- tenant.  So nothing a tenant administrator changes reaches a principal of
-- another tenant, through memberships or catalog rows written directly.
CREATE OR REPLACE FUNCTION crmperm._effective_sets(principal oid)
RETURNS TABLE (permission_set text, via_role text, valid_until timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE
    me AS (
        SELECT (SELECT p.tenant_id FROM crmperm.principals p WHERE p.principal::oid = $1) AS tenant_id
    ),
    assigned AS (
        SELECT a.role, a.valid_until
          FROM crmperm.role_assignments a
          JOIN crmperm.roles r ON r.name = a.role
          LEFT JOIN crmperm.principals h ON h.principal = a.principal
         CROSS JOIN me
         WHERE pg_has_role($1, a.principal::oid, 'USAGE')
           AND (a.valid_until IS NULL OR a.valid_until > statement_timestamp())
           AND (h.tenant_id IS NULL OR h.tenant_id = me.tenant_id)
           AND (r.tenant_id IS NULL OR r.tenant_id = me.tenant_id)
    ),
    tree(role, via, valid_until) AS (
        SELECT role, role, valid_until FROM assigned
        UNION
        SELECT r.parent, t.via, t.valid_until
          FROM tree t
          JOIN crmperm.roles r ON r.name = t.role
          JOIN crmperm.roles p ON p.name = r.parent
         CROSS JOIN me
         WHERE p.tenant_id IS NULL OR p.tenant_id = me.tenant_id
    ),
    sets AS (
        SELECT rs.permission_set, t.via, t.valid_until
          FROM tree t JOIN crmperm.role_permission_sets rs ON rs.role = t.role
        UNION ALL
        SELECT s.permission_set, NULL, s.valid_until
          FROM crmperm.set_assignments s
          LEFT JOIN crmperm.principals h ON h.principal = s.principal
         CROSS JOIN me
         WHERE pg_has_role($1, s.principal::oid, 'USAGE')
           AND (s.valid_until IS NULL OR s.valid_until > statement_timestamp())
           AND (h.tenant_id IS NULL OR h.tenant_id = me.tenant_id)
    )
    SELECT x.permission_set, x.via, x.valid_until
      FROM sets x
      JOIN crmperm.permission_sets ps ON ps.name = x.permission_set
     CROSS JOIN me
     WHERE ps.tenant_id IS NULL OR ps.tenant_id = me.tenant_id
$$;

-- The tokens view: a tenant administrator sees the tokens of its tenant's
-- principals only.
CREATE OR REPLACE VIEW crmperm.tokens WITH (security_barrier) AS
    SELECT t.name, t.principal, t.scopes, t.created, t.created_by, t.expires, t.revoked,
           u.last_used
      FROM crmperm.api_tokens t LEFT JOIN crmperm.token_usage u ON u.name = t.name
     WHERE crmperm._may_manage_tokens()
       AND (crmperm._admin_tenant() IS NULL
            OR (SELECT p.tenant_id FROM crmperm.principals p WHERE p.principal = t.principal)
               = crmperm._admin_tenant());

-- The audit trail: a tenant administrator holding view_audit reads the
-- records of the roles that are principals of its tenant (crmperm.denials
-- too, which reads through this policy); audit_queue (counts of the whole
-- cluster, redefined in the audit section below) and verify_audit(), which
-- walks every record, are for global readers.
ALTER POLICY readers ON crmperm.audit_log USING (crmperm._may_view_audit_of(principal));


-- lint() findings about tenants:
--   tenant_object_across_tenants (warning)  a tenant's permission set or
--       role held by a principal of another tenant (or of none), put into a
--       role of another tenant or a global one, or a role inheriting from
--       another tenant's role: rows written into the catalog directly (the
--       admin API refuses them).  crmperm ignores them (fail closed).
--   principal_can_set_role_across_tenants (warning)  a principal of one
--       tenant is a member of a principal of another: crmperm ignores the
--       assignments it would inherit, but SET ROLE makes it that principal,
--       rows of the other tenant included.
CREATE FUNCTION crmperm._lint_tenant()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
WITH tenants AS (
    SELECT p.principal::oid AS roleid, p.tenant_id FROM crmperm.principals p
)
SELECT 'warning', 'tenant_object_across_tenants', a.principal::text,
       pg_catalog.format('Permission set "%s" of tenant "%s" is assigned to a role %s: crmperm ignores the assignment.',
           s.name, s.tenant_id, coalesce('of tenant "' || t.tenant_id || '"', 'without a tenant')),
       pg_catalog.format('SELECT crmperm.unassign_permission_set(%L, %L);', a.principal::text, s.name)
  FROM crmperm.set_assignments a
  JOIN crmperm.permission_sets s ON s.name = a.permission_set
  LEFT JOIN tenants t ON t.roleid = a.principal::oid
 WHERE s.tenant_id IS NOT NULL AND t.tenant_id IS DISTINCT FROM s.tenant_id
UNION ALL
SELECT 'warning', 'tenant_object_across_tenants', a.principal::text,
       pg_catalog.format('Role "%s" of tenant "%s" is assigned to a role %s: crmperm ignores the assignment.',
           r.name, r.tenant_id, coalesce('of tenant "' || t.tenant_id || '"', 'without a tenant')),
       pg_catalog.format('SELECT crmperm.unassign_role(%L, %L);', a.principal::text, r.name)
  FROM crmperm.role_assignments a
  JOIN crmperm.roles r ON r.name = a.role
  LEFT JOIN tenants t ON t.roleid = a.principal::oid
 WHERE r.tenant_id IS NOT NULL AND t.tenant_id IS DISTINCT FROM r.tenant_id
UNION ALL
SELECT 'warning', 'tenant_object_across_tenants', rs.role,
       pg_catalog.format('Permission set "%s" of tenant "%s" is in role "%s" %s: crmperm ignores it for principals of other tenants.',
           s.name, s.tenant_id, r.name, coalesce('of tenant "' || r.tenant_id || '"', '(global)')),
       pg_catalog.format('SELECT crmperm.remove_from_role(%L, %L);', r.name, s.name)
  FROM crmperm.role_permission_sets rs
  JOIN crmperm.roles r ON r.name = rs.role
  JOIN crmperm.permission_sets s ON s.name = rs.permission_set
 WHERE s.tenant_id IS NOT NULL AND r.tenant_id IS DISTINCT FROM s.tenant_id
UNION ALL
SELECT 'warning', 'tenant_object_across_tenants', r.name,
       pg_catalog.format('Role "%s" %s inherits from role "%s" of tenant "%s": crmperm ignores the parent for principals of other tenants.',
           r.name, coalesce('of tenant "' || r.tenant_id || '"', '(global)'), p.name, p.tenant_id),
       pg_catalog.format('UPDATE crmperm.roles SET parent = NULL WHERE name = %L; -- as the extension owner', r.name)
  FROM crmperm.roles r
  JOIN crmperm.roles p ON p.name = r.parent
 WHERE p.tenant_id IS NOT NULL AND r.tenant_id IS DISTINCT FROM p.tenant_id
UNION ALL
SELECT 'warning', 'principal_can_set_role_across_tenants', m.roleid::regrole::text,
       pg_catalog.format('Principal of tenant "%s" is a member of %s, a principal of tenant "%s": crmperm ignores the assignments it would inherit, but SET ROLE %s makes it that principal, with the rows of tenant "%s".',
           m.tenant_id, o.roleid::regrole, o.tenant_id, o.roleid::regrole, o.tenant_id),
       (SELECT string_agg(pg_catalog.format('REVOKE %s FROM %s;', am.roleid::regrole, m.roleid::regrole),
                          ' ' ORDER BY am.roleid::regrole::text COLLATE "C")
          FROM pg_auth_members am
         WHERE am.member = m.roleid AND pg_has_role(am.roleid, o.roleid, 'MEMBER'))
  FROM tenants m
  JOIN tenants o ON o.roleid <> m.roleid AND o.tenant_id <> m.tenant_id
  JOIN pg_authid a ON a.oid = m.roleid AND NOT a.rolsuper
  JOIN pg_authid b ON b.oid = o.roleid
 WHERE pg_has_role(m.roleid, o.roleid, 'MEMBER')
$$;
REVOKE ALL ON FUNCTION crmperm._lint_tenant() FROM PUBLIC;

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
-- It answers superusers and global holders of view_audit only (no rows for
-- anyone else), so the view works for them without the superuser.
GRANT EXECUTE ON FUNCTION crmperm._audit_queue() TO PUBLIC;
CREATE VIEW crmperm.audit_queue WITH (security_barrier) AS
    SELECT d.datname AS database, q.queued, q.written, q.overflowed, q.worker_pid,
           q.overflowed_no_queue, q.failed
      FROM crmperm._audit_queue() q LEFT JOIN pg_catalog.pg_database d ON d.oid = q.database;
GRANT SELECT ON crmperm.audit_queue TO PUBLIC;



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
    UNION ALL SELECT * FROM crmperm._lint_attachments()
    UNION ALL SELECT * FROM crmperm._lint_side_channels()
    UNION ALL SELECT * FROM crmperm._lint_tenant()
  ) f
 ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
          f.finding COLLATE "C", f.object COLLATE "C", f.detail COLLATE "C"
$$;
REVOKE ALL ON FUNCTION crmperm._lint() FROM PUBLIC;

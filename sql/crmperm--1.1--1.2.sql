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
-- too, which reads through this policy); audit_queue, counts of the whole
-- database, and verify_audit(), which walks every record, are for global
-- readers.
ALTER POLICY readers ON crmperm.audit_log USING (crmperm._may_view_audit_of(principal));
CREATE OR REPLACE VIEW crmperm.audit_queue WITH (security_barrier) AS
    SELECT d.datname AS database, q.queued, q.written, q.overflowed, q.worker_pid,
           q.overflowed_no_queue
      FROM crmperm._audit_queue() q LEFT JOIN pg_catalog.pg_database d ON d.oid = q.database
     WHERE crmperm._may_view_audit() AND crmperm._admin_tenant() IS NULL;


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
    UNION ALL SELECT * FROM crmperm._lint_tenant()
  ) f
 ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
          f.finding COLLATE "C", f.object COLLATE "C", f.detail COLLATE "C"
$$;
REVOKE ALL ON FUNCTION crmperm._lint() FROM PUBLIC;

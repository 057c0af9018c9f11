-- crmperm 1.3 -> 1.4: actions beyond CRUD, application permissions,
-- protected routines, per-resource export

\echo Use "ALTER EXTENSION crmperm UPDATE TO '1.4'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Catalog.
-- ---------------------------------------------------------------------------

-- Every action a resource has.  A managed table's resource has the built-in
-- actions read, create, update, delete and export (added when it is managed;
-- drop_action() takes one away, define_action() gives it back) and the
-- custom ones an administrator defines (orders.refund).  An application
-- permission (console.access) is an action of a resource that is not a
-- table.  A name is either a table's resource or an application resource,
-- never both.
CREATE TABLE crmperm.actions (
    resource    text NOT NULL,
    action      text NOT NULL,
    description text,
    PRIMARY KEY (resource, action)
);

-- Grants of actions other than read, create, update and delete (those stay
-- in object_grants).
CREATE TABLE crmperm.action_grants (
    permission_set text NOT NULL REFERENCES crmperm.permission_sets ON DELETE CASCADE,
    resource       text NOT NULL,
    action         text NOT NULL,
    scope          text NOT NULL DEFAULT 'all',
    PRIMARY KEY (permission_set, resource, action),
    FOREIGN KEY (resource, action) REFERENCES crmperm.actions ON DELETE CASCADE
);

-- Routines whose every call needs an action.  An action that protects a
-- routine is not dropped (drop_action(), unmanage_table() and DROP TABLE
-- refuse).
CREATE TABLE crmperm.routines (
    routine      regprocedure PRIMARY KEY,
    resource     text NOT NULL,
    action       text NOT NULL,
    key_argument smallint CHECK (key_argument > 0),  -- 1-based, NULL: none
    FOREIGN KEY (resource, action) REFERENCES crmperm.actions
);

REVOKE ALL ON crmperm.actions, crmperm.action_grants, crmperm.routines FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('crmperm.actions', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.action_grants', '');
SELECT pg_catalog.pg_extension_config_dump('crmperm.routines', '');
CREATE TRIGGER invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crmperm.actions
    FOR EACH STATEMENT EXECUTE FUNCTION crmperm._invalidate();
CREATE TRIGGER invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crmperm.action_grants
    FOR EACH STATEMENT EXECUTE FUNCTION crmperm._invalidate();
CREATE TRIGGER invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crmperm.routines
    FOR EACH STATEMENT EXECUTE FUNCTION crmperm._invalidate();
-- and the plans that call or inlined the routine
CREATE TRIGGER invalidate_rows AFTER INSERT OR UPDATE OR DELETE ON crmperm.routines
    FOR EACH ROW EXECUTE FUNCTION crmperm._invalidate();

-- A read, create, update or delete grant names an action its resource has.
ALTER TABLE crmperm.object_grants DROP CONSTRAINT object_grants_action_check;

-- The built-in actions of every managed table, for the tables managed before
-- 1.4 and from now on whenever a table becomes managed; a table that stops
-- being managed takes its actions and their grants with it, and is refused
-- while one of its actions protects a routine.
INSERT INTO crmperm.actions (resource, action)
SELECT r.resource, a FROM crmperm.resources r,
       unnest(ARRAY['read', 'create', 'update', 'delete', 'export', 'import']) a;

ALTER TABLE crmperm.object_grants ADD FOREIGN KEY (resource, action)
    REFERENCES crmperm.actions ON DELETE CASCADE;

CREATE FUNCTION crmperm._resource_actions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- (A restore loads crmperm.actions before crmperm.resources, and a
    -- table always keeps an action: its rows are there already, the ones a
    -- drop_action() took away included.)
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM crmperm.actions a WHERE a.resource = NEW.resource
                                                       AND a.action IN ('read', 'create', 'update', 'delete', 'export', 'import')) THEN
            INSERT INTO crmperm.actions (resource, action)
            SELECT NEW.resource, a FROM unnest(ARRAY['read', 'create', 'update', 'delete', 'export', 'import']) a
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN NEW;
    END IF;
    -- a routine protected by one of its actions would be left to an action
    -- of no table: refuse (the DROP TABLE or unmanage_table() fails)
    IF EXISTS (SELECT FROM crmperm.routines p WHERE p.resource = OLD.resource) THEN
        RAISE EXCEPTION 'actions of resource "%" protect routines', OLD.resource
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = pg_catalog.format('Protected routines: %s.',
                      (SELECT string_agg(pg_catalog.format('%s (%s.%s)', p.routine, p.resource, p.action), ', ' ORDER BY p.routine::text)
                         FROM crmperm.routines p WHERE p.resource = OLD.resource)),
                  HINT = 'Unprotect them first with crmperm.unprotect_routine(), or drop them.';
    END IF;
    DELETE FROM crmperm.action_grants g WHERE g.resource = OLD.resource;
    DELETE FROM crmperm.object_grants g WHERE g.resource = OLD.resource;
    DELETE FROM crmperm.actions a WHERE a.resource = OLD.resource;
    RETURN OLD;
END
$$;
CREATE TRIGGER actions AFTER INSERT OR DELETE ON crmperm.resources
    FOR EACH ROW EXECUTE FUNCTION crmperm._resource_actions();

-- ---------------------------------------------------------------------------
-- What the enforcement code reads (SECURITY DEFINER: the caller cannot read
-- the catalog).
-- ---------------------------------------------------------------------------

-- Grants: 'a' rows are actions other than CRUD, named resource.action.
CREATE OR REPLACE FUNCTION crmperm._principal_rules(principal oid)
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
    UNION ALL
    SELECT 'a'::"char", 0::oid, g.resource || '.' || g.action, g.scope, s.valid_until, NULL
      FROM crmperm._effective_sets($1) s
      JOIN crmperm.action_grants g ON g.permission_set = s.permission_set
$$;

-- ---------------------------------------------------------------------------
-- Validation helpers.
-- ---------------------------------------------------------------------------

CREATE FUNCTION crmperm._check_action_name(action text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(action, 'action');
    IF action !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid action name "%"', action
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'An action name has lower case letters, digits and underscores, and does not start with a digit.';
    END IF;
END
$$;

-- resource.action, split; the action must exist.
CREATE FUNCTION crmperm._action(name text, what text, OUT resource text, OUT action text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(name, what);
    IF name !~ '^[^.]+\.[^.]+$' THEN
        RAISE EXCEPTION 'invalid % "%"', what, name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An action is named resource.action, such as orders.refund or console.access.';
    END IF;
    resource := split_part(name, '.', 1);
    action := split_part(name, '.', 2);
    IF NOT EXISTS (SELECT FROM crmperm.actions a
                    WHERE a.resource = _action.resource AND a.action = _action.action) THEN
        RAISE EXCEPTION 'action "%" does not exist', name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Define it with crmperm.define_action() or crmperm.define_permission().';
    END IF;
END
$$;

-- The actions a resource has, checked against a list: each must be one of
-- them.  A managed table that does not (any more) have a built-in action
-- says so.
CREATE FUNCTION crmperm._check_actions(resource text, actions text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a text;
    have text[] := ARRAY(SELECT x.action FROM crmperm.actions x
                          WHERE x.resource = _check_actions.resource
                          ORDER BY CASE x.action WHEN 'read' THEN 1 WHEN 'create' THEN 2
                                   WHEN 'update' THEN 3 WHEN 'delete' THEN 4 WHEN 'export' THEN 5
                                   WHEN 'import' THEN 6 ELSE 7 END, x.action COLLATE "C");
BEGIN
    PERFORM crmperm._not_null(actions, 'actions');
    IF cardinality(actions) = 0 THEN
        RAISE EXCEPTION 'action list must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH a IN ARRAY actions LOOP
        IF a IS NULL THEN
            RAISE EXCEPTION 'action must not be null' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF NOT a = ANY (have) THEN
            RAISE EXCEPTION 'resource "%" has no action "%"', resource, a
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = CASE WHEN cardinality(have) = 0 THEN 'It has no actions.'
                             ELSE pg_catalog.format('Its actions are %s.', pg_catalog.array_to_string(have, ', '))
                             END || CASE WHEN a IN ('read', 'create', 'update', 'delete', 'export', 'import')
                                         THEN '' ELSE ' Define one with crmperm.define_action().' END;
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT x FROM unnest(actions) x);
END
$$;

-- ---------------------------------------------------------------------------
-- Actions and application permissions.
-- ---------------------------------------------------------------------------

CREATE FUNCTION crmperm._define_action(resource text, action text, description text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
BEGIN
    PERFORM crmperm._not_null(resource, 'resource');
    IF NOT EXISTS (SELECT FROM crmperm.resources x WHERE x.resource = _define_action.resource)
       AND EXISTS (SELECT FROM crmperm.actions x WHERE x.resource = _define_action.resource) THEN
        RAISE EXCEPTION 'resource "%" is not a table', resource
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'It names application permissions: add one with crmperm.define_permission().';
    END IF;
    r := crmperm._resource(resource);
    PERFORM crmperm._check_action_name(action);
    IF EXISTS (SELECT FROM crmperm.actions x
                WHERE x.resource = r.resource AND x.action = _define_action.action) THEN
        RAISE EXCEPTION 'action "%.%" already exists', r.resource, action USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO crmperm.actions VALUES (r.resource, action, description);
END
$$;

-- An action nothing refers to any more.  Taking away a built-in action
-- (contacts: read only) is the same call.
CREATE FUNCTION crmperm._drop_action(resource text, action text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sets text;
    what text := resource || '.' || action;
BEGIN
    PERFORM crmperm._action(what, 'action');
    IF NOT EXISTS (SELECT FROM crmperm.resources x WHERE x.resource = _drop_action.resource) THEN
        RAISE EXCEPTION 'action "%" is an application permission', what
            USING ERRCODE = 'wrong_object_type', HINT = 'Drop it with crmperm.drop_permission().';
    END IF;
    PERFORM crmperm._unused_action(_drop_action.resource, _drop_action.action);
    IF _drop_action.action IN ('read', 'create', 'update', 'delete', 'export', 'import')
       AND NOT EXISTS (SELECT FROM crmperm.actions x
                        WHERE x.resource = _drop_action.resource AND x.action <> _drop_action.action
                          AND x.action IN ('read', 'create', 'update', 'delete', 'export', 'import')) THEN
        RAISE EXCEPTION 'cannot drop "%": it is the last built-in action of resource "%"', what, resource
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A table without read, create, update, delete or export is not a resource: unmanage it with crmperm.unmanage_table().';
    END IF;
    DELETE FROM crmperm.actions x WHERE x.resource = _drop_action.resource AND x.action = _drop_action.action;
END
$$;

-- Refuse to drop an action something still names.
CREATE FUNCTION crmperm._unused_action(resource text, action text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    what text := resource || '.' || action;
    users text;
BEGIN
    SELECT string_agg(DISTINCT pg_catalog.format('"%s"', g.permission_set), ', ' ORDER BY pg_catalog.format('"%s"', g.permission_set))
      INTO users
      FROM (SELECT o.permission_set FROM crmperm.object_grants o
             WHERE o.resource = _unused_action.resource AND o.action = _unused_action.action
            UNION ALL
            SELECT a.permission_set FROM crmperm.action_grants a
             WHERE a.resource = _unused_action.resource AND a.action = _unused_action.action) g;
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'action "%" is granted', what
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = pg_catalog.format('Permission sets granting it: %s.', users),
                  HINT = 'Revoke it first with crmperm.revoke().';
    END IF;
    SELECT string_agg(p.routine::text, ', ' ORDER BY p.routine::text) INTO users
      FROM crmperm.routines p WHERE p.resource = _unused_action.resource AND p.action = _unused_action.action;
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'action "%" protects routines', what
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = pg_catalog.format('Protected routines: %s.', users),
                  HINT = 'Unprotect them first with crmperm.unprotect_routine().';
    END IF;
    SELECT string_agg(pg_catalog.format('"%s"', t.name), ', ' ORDER BY t.name) INTO users
      FROM crmperm.api_tokens t
     WHERE t.revoked IS NULL AND (t.expires IS NULL OR t.expires > pg_catalog.statement_timestamp())
       AND what = ANY (t.scopes);
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'action "%" is a scope of tokens', what
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = pg_catalog.format('Tokens: %s.', users),
                  HINT = 'Revoke them first with crmperm.revoke_token().';
    END IF;
END
$$;

CREATE FUNCTION crmperm._define_permission(name text, description text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    res text;
    act text;
BEGIN
    PERFORM crmperm._not_null(name, 'permission');
    IF name !~ '^[^.]+\.[^.]+$' THEN
        RAISE EXCEPTION 'invalid permission "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An application permission is named area.action, such as console.access.';
    END IF;
    res := split_part(name, '.', 1);
    act := split_part(name, '.', 2);
    IF res !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid resource name "%"', res
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A resource name has lower case letters, digits and underscores, and does not start with a digit.';
    END IF;
    PERFORM crmperm._check_action_name(act);
    IF EXISTS (SELECT FROM crmperm.resources x WHERE x.resource = res) THEN
        RAISE EXCEPTION 'resource "%" is a table', res
            USING ERRCODE = 'wrong_object_type',
                  HINT = pg_catalog.format('Define an action of the table with crmperm.define_action(%L, %L).', res, act);
    END IF;
    IF EXISTS (SELECT FROM crmperm.actions x WHERE x.resource = res AND x.action = act) THEN
        RAISE EXCEPTION 'permission "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO crmperm.actions VALUES (res, act, description);
END
$$;

CREATE FUNCTION crmperm._drop_permission(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a record;
BEGIN
    a := crmperm._action(name, 'permission');
    IF EXISTS (SELECT FROM crmperm.resources x WHERE x.resource = a.resource) THEN
        RAISE EXCEPTION 'permission "%" is an action of a table', name
            USING ERRCODE = 'wrong_object_type', HINT = 'Drop it with crmperm.drop_action().';
    END IF;
    PERFORM crmperm._unused_action(a.resource, a.action);
    DELETE FROM crmperm.actions x WHERE x.resource = a.resource AND x.action = a.action;
END
$$;

-- grant() and revoke() take every action the resource has.  The scope of an
-- application permission and of export is all: export covers the rows read
-- reaches.
CREATE OR REPLACE FUNCTION crmperm._grant(permission_set text, resource text, actions text[], scope text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
    a text;
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    PERFORM crmperm._not_null(resource, 'resource');
    SELECT * INTO r FROM crmperm.resources x WHERE x.resource = _grant.resource;
    IF NOT FOUND AND NOT EXISTS (SELECT FROM crmperm.actions x WHERE x.resource = _grant.resource) THEN
        r := crmperm._resource(resource);
    END IF;
    actions := crmperm._check_actions(resource, actions);
    PERFORM crmperm._not_null(scope, 'scope');
    FOREACH a IN ARRAY actions LOOP
        IF scope <> 'all' AND (r.resource IS NULL OR a IN ('export', 'import')) THEN
            RAISE EXCEPTION 'cannot grant "%.%" with scope "%"', resource, a, scope
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = CASE WHEN r.resource IS NULL THEN 'An application permission has no rows: its scope is all.'
                               WHEN a = 'export' THEN 'Export covers the rows read reaches: its scope is all.'
                               ELSE 'Import creates the rows create reaches: its scope is all.' END;
        END IF;
        IF r.sensitive AND a IN ('create', 'update', 'delete', 'import') THEN
            RAISE EXCEPTION 'cannot grant "%.%": resource "%" is sensitive', r.resource, a, r.resource
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Only super admins may create, update or delete rows of a sensitive table.';
        END IF;
    END LOOP;
    IF r.resource IS NOT NULL THEN
        PERFORM crmperm._check_scope(r, scope);
    END IF;
    -- a table's read, create, update and delete in object_grants, the rest
    -- (an application permission named reports.create too) in action_grants
    INSERT INTO crmperm.object_grants AS g
    SELECT _grant.permission_set, _grant.resource, x, _grant.scope FROM unnest(actions) x
     WHERE r.resource IS NOT NULL AND x IN ('read', 'create', 'update', 'delete')
    ON CONFLICT ON CONSTRAINT object_grants_pkey DO UPDATE SET scope = excluded.scope;
    INSERT INTO crmperm.action_grants AS g
    SELECT _grant.permission_set, _grant.resource, x, _grant.scope FROM unnest(actions) x
     WHERE r.resource IS NULL OR x NOT IN ('read', 'create', 'update', 'delete')
    ON CONFLICT ON CONSTRAINT action_grants_pkey DO UPDATE SET scope = excluded.scope;
END
$$;

CREATE OR REPLACE FUNCTION crmperm._revoke(permission_set text, resource text, actions text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._permission_set(permission_set);
    PERFORM crmperm._not_null(resource, 'resource');
    IF NOT EXISTS (SELECT FROM crmperm.actions x WHERE x.resource = _revoke.resource) THEN
        PERFORM crmperm._resource(resource);
    END IF;
    actions := crmperm._check_actions(resource, actions);
    DELETE FROM crmperm.object_grants g
     WHERE g.permission_set = _revoke.permission_set AND g.resource = _revoke.resource
       AND g.action = ANY (actions);
    DELETE FROM crmperm.action_grants g
     WHERE g.permission_set = _revoke.permission_set AND g.resource = _revoke.resource
       AND g.action = ANY (actions);
END
$$;

-- Token scopes: any action the resource has (a sensitive table's writes
-- aside).
CREATE OR REPLACE FUNCTION crmperm._check_token_scopes(scopes text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text;
    res text;
    act text;
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
        res := split_part(s, '.', 1);
        act := split_part(s, '.', 2);
        IF NOT EXISTS (SELECT FROM crmperm.actions x WHERE x.resource = res) THEN
            PERFORM crmperm._resource(res);
        END IF;
        PERFORM crmperm._check_actions(res, ARRAY[act]);
        IF act IN ('create', 'update', 'delete', 'import')
           AND EXISTS (SELECT FROM crmperm.resources x WHERE x.resource = res AND x.sensitive) THEN
            RAISE EXCEPTION 'a token cannot hold scope "%"', s
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('Resource "%s" is sensitive: only super admins may create, update or delete its rows.', res);
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT x FROM unnest(scopes) x ORDER BY x);
END
$$;

-- ---------------------------------------------------------------------------
-- Protected routines.
-- ---------------------------------------------------------------------------

-- Only a role that can act as the routine's owner protects or unprotects it
-- (as for tables): protecting someone else's function would block its
-- callers, unprotecting it would open it.  One rule for both (1.3's, for
-- tables): the owner's privileges, or SET ROLE to it (16+), or membership (15).
CREATE FUNCTION crmperm._acts_as(owner oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_has_role(crmperm._caller(), owner, 'USAGE')
        OR (current_setting('server_version_num')::int >= 160000
            AND pg_has_role(crmperm._caller(), owner, 'SET'))
        OR (current_setting('server_version_num')::int < 160000
            AND pg_has_role(crmperm._caller(), owner, 'MEMBER'))
$$;

CREATE OR REPLACE FUNCTION crmperm._check_owner(tbl regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT crmperm._acts_as((SELECT c.relowner FROM pg_class c WHERE c.oid = tbl)) THEN
        RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

CREATE FUNCTION crmperm._check_routine_owner(routine regprocedure) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT crmperm._acts_as((SELECT p.proowner FROM pg_proc p WHERE p.oid = routine)) THEN
        RAISE EXCEPTION 'must be owner of function %', routine USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

CREATE FUNCTION crmperm._protect_routine(routine regprocedure, action text, key_argument name)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p pg_proc;
    a record;
    pos int;
BEGIN
    PERFORM crmperm._not_null(routine, 'routine');
    SELECT * INTO p FROM pg_proc x WHERE x.oid = routine;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'function with OID % does not exist', routine::oid USING ERRCODE = 'undefined_function';
    END IF;
    a := crmperm._action(action, 'action');
    IF a.action IN ('read', 'create', 'update', 'delete', 'export', 'import') THEN
        RAISE EXCEPTION 'cannot protect a routine with "%"', action
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Read, create, update, delete, export and import are checked on the table itself.',
                  HINT = 'Define an action for the routine with crmperm.define_action().';
    END IF;
    IF p.pronamespace IN ('pg_catalog'::regnamespace, 'crmperm'::regnamespace,
                          'information_schema'::regnamespace) THEN
        RAISE EXCEPTION 'cannot protect "%"', routine
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'It is a system or crmperm routine.';
    END IF;
    IF p.prokind IN ('a', 'w') THEN
        RAISE EXCEPTION 'cannot protect aggregate function %', routine
            USING ERRCODE = 'wrong_object_type', HINT = 'Protect its transition function.';
    END IF;
    IF p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) THEN
        RAISE EXCEPTION 'cannot protect trigger function %', routine
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'A trigger fires on a write, which the table''s actions already govern.';
    END IF;
    IF p.provolatile = 'i' THEN
        RAISE EXCEPTION 'cannot protect immutable function %', routine
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The planner computes calls of an immutable function once and keeps the result in plans that other roles run.',
                  HINT = pg_catalog.format('Declare it STABLE first: ALTER FUNCTION %s STABLE.', routine);
    END IF;
    IF p.prolang = (SELECT l.oid FROM pg_language l WHERE l.lanname = 'internal') THEN
        RAISE EXCEPTION 'cannot protect internal function %', routine USING ERRCODE = 'wrong_object_type';
    END IF;
    IF key_argument IS NOT NULL THEN
        -- the argument that names the row: an input argument without a default
        SELECT x.n INTO pos
          FROM unnest(p.proargnames) WITH ORDINALITY x(name, n)
         WHERE x.name = key_argument
           AND coalesce(p.proargmodes[x.n], 'i') IN ('i', 'b');
        IF pos IS NULL THEN
            RAISE EXCEPTION 'routine % has no input argument "%"', routine, key_argument
                USING ERRCODE = 'undefined_parameter';
        END IF;
        -- (input arguments come first in proargnames unless modes say otherwise)
        pos := (SELECT count(*) FROM unnest(coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[cardinality(p.proargnames)])))
                WITH ORDINALITY m(mode, n) WHERE m.n <= pos AND m.mode IN ('i', 'b', 'v'));
        IF pos > p.pronargs - p.pronargdefaults OR (p.provariadic <> 0 AND pos = p.pronargs) THEN
            RAISE EXCEPTION 'argument "%" of routine % cannot name the row', key_argument, routine
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A key argument has no default and is not variadic.';
        END IF;
        IF NOT EXISTS (SELECT FROM crmperm.resources r WHERE r.resource = a.resource) THEN
            RAISE EXCEPTION 'application permission "%" holds for no row', action
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'A key argument names a row of the action''s table.';
        END IF;
    END IF;
    PERFORM crmperm._check_routine_owner(routine);
    INSERT INTO crmperm.routines VALUES (routine, a.resource, a.action, pos)
    ON CONFLICT ON CONSTRAINT routines_pkey DO UPDATE
       SET resource = excluded.resource, action = excluded.action, key_argument = excluded.key_argument;
END
$$;

CREATE FUNCTION crmperm._unprotect_routine(routine regprocedure) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crmperm._not_null(routine, 'routine');
    IF NOT EXISTS (SELECT FROM crmperm.routines x WHERE x.routine = _unprotect_routine.routine) THEN
        RAISE EXCEPTION 'routine % is not protected', routine USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM crmperm._check_routine_owner(routine);
    DELETE FROM crmperm.routines x WHERE x.routine = _unprotect_routine.routine;
END
$$;

-- A dropped routine stops being protected.
CREATE OR REPLACE FUNCTION crmperm._on_sql_drop() RETURNS event_trigger
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
    DELETE FROM crmperm.routines p
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.routine::oid;
END
$$;

-- ---------------------------------------------------------------------------
-- Introspection.
-- ---------------------------------------------------------------------------

-- explain_access(): every action the resource has, in order (read, create,
-- update, delete, export, then its own actions), with the grants that decide
-- it; then, for a table, its protected fields.  The exemptions are as
-- before: superusers and super admins hold everything, a table's owner its
-- CRUD and export (not its custom actions), and nobody but a super admin
-- writes to a sensitive table.
CREATE OR REPLACE FUNCTION crmperm._explain_access(principal regrole, resource text)
RETURNS TABLE (action text, allowed boolean, scope text, permission_sets text[], roles text[],
               reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r crmperm.resources;
    why text;
    owner boolean;
    system_export boolean;
BEGIN
    PERFORM crmperm._not_null(principal, 'principal');
    PERFORM crmperm._not_null(resource, 'resource');
    SELECT * INTO r FROM crmperm.resources x WHERE x.resource = _explain_access.resource;
    IF NOT FOUND AND NOT EXISTS (SELECT FROM crmperm.actions a WHERE a.resource = _explain_access.resource) THEN
        PERFORM crmperm._resource(resource);
    END IF;
    SELECT CASE WHEN a.rolsuper THEN 'superuser'
                WHEN coalesce(p.super_admin, false) THEN 'super admin' END,
           coalesce(c.relowner = a.oid, false),
           EXISTS (SELECT FROM crmperm._effective_sets(_explain_access.principal) s
                     JOIN crmperm.system_grants g ON g.permission_set = s.permission_set
                    WHERE g.permission = 'export')
      INTO why, owner, system_export
      FROM pg_authid a
      LEFT JOIN pg_class c ON c.oid = r.tbl
      LEFT JOIN crmperm.principals p ON p.principal = a.oid::regrole
     WHERE a.oid = _explain_access.principal;
    RETURN QUERY
    WITH g AS (
        SELECT og.action, og.scope, s.permission_set, s.via_role
          FROM crmperm._effective_sets(_explain_access.principal) s
          JOIN crmperm.object_grants og ON og.permission_set = s.permission_set
         WHERE og.resource = _explain_access.resource
        UNION ALL
        SELECT ag.action, ag.scope, s.permission_set, s.via_role
          FROM crmperm._effective_sets(_explain_access.principal) s
          JOIN crmperm.action_grants ag ON ag.permission_set = s.permission_set
         WHERE ag.resource = _explain_access.resource
    ), x AS (
        SELECT a.action,
               coalesce(why, CASE WHEN owner AND a.action IN ('read', 'create', 'update', 'delete', 'export', 'import')
                                  THEN 'table owner'
                                  WHEN system_export AND a.action = 'export' AND r.resource IS NOT NULL
                                  THEN 'system permission export' END) AS exempt,
               coalesce(r.sensitive, false) AND a.action IN ('create', 'update', 'delete', 'import')
                   AND why IS DISTINCT FROM 'superuser' AND why IS DISTINCT FROM 'super admin' AS locked,
               array_position(ARRAY['read', 'create', 'update', 'delete', 'export', 'import'], a.action) AS n
          FROM crmperm.actions a
         WHERE a.resource = _explain_access.resource
    )
    SELECT x.action,
           NOT x.locked AND (x.exempt IS NOT NULL OR EXISTS (SELECT FROM g WHERE g.action = x.action)),
           CASE WHEN x.exempt IS NOT NULL THEN 'all'
                ELSE (SELECT CASE WHEN bool_or(g.scope = 'all') THEN 'all'
                                  ELSE string_agg(DISTINCT g.scope, ' or ') END
                        FROM g WHERE g.action = x.action) END,
           (SELECT array_agg(DISTINCT g.permission_set ORDER BY g.permission_set) FROM g
             WHERE g.action = x.action AND x.exempt IS NULL),
           (SELECT array_agg(DISTINCT g.via_role ORDER BY g.via_role) FROM g
             WHERE g.action = x.action AND x.exempt IS NULL AND g.via_role IS NOT NULL),
           CASE WHEN x.locked THEN 'sensitive table'
                WHEN x.exempt IS NOT NULL THEN x.exempt
                WHEN EXISTS (SELECT FROM g WHERE g.action = x.action) THEN 'granted'
                ELSE 'not granted' END
      FROM x
     ORDER BY x.n NULLS LAST, x.action COLLATE "C";
    IF r.resource IS NOT NULL THEN
        RETURN QUERY SELECT * FROM crmperm._explain_fields(principal, r,
            coalesce(why, CASE WHEN owner THEN 'table owner' END));
    END IF;
END
$$;

-- whoami(): also the actions beyond CRUD the caller holds (resource.action).
DROP FUNCTION crmperm.whoami();
DROP FUNCTION crmperm._whoami();
CREATE FUNCTION crmperm._whoami()
RETURNS TABLE (principal regrole, roles text[], permission_sets text[], system_permissions text[],
               super_admin boolean, token text, actions text[])
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
           crmperm._token_name(),
           ARRAY(SELECT DISTINCT n FROM (
                     SELECT g.resource || '.' || g.action AS n
                       FROM crmperm._effective_sets(me) s
                       JOIN crmperm.action_grants g ON g.permission_set = s.permission_set) x
                  WHERE crmperm._token_name() IS NULL
                     OR n = ANY (SELECT unnest(t.scopes) FROM crmperm.api_tokens t
                                  WHERE t.name = crmperm._token_name())
                  ORDER BY n);
END
$$;
CREATE FUNCTION crmperm.whoami()
RETURNS TABLE (principal regrole, roles text[], permission_sets text[], system_permissions text[],
               super_admin boolean, token text, actions text[])
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

-- ---------------------------------------------------------------------------
-- lint(): protected routines others can replace.
-- ---------------------------------------------------------------------------

CREATE FUNCTION crmperm._lint_routines()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- an owner a governed principal can act as: that principal can change
    -- the routine's body, or drop and recreate it unprotected
    SELECT 'error', 'protected routine owned by a governed role', x.routine::text,
           pg_catalog.format('%s is owned by %s, whose privileges principal %s has: it can replace the body of a routine that needs "%s.%s".',
                             x.routine, o.rolname, m.rolname, x.resource, x.action),
           pg_catalog.format('ALTER FUNCTION %s OWNER TO <a role no principal is a member of>;', x.routine)
      FROM crmperm.routines x
      JOIN pg_proc p ON p.oid = x.routine
      JOIN pg_authid o ON o.oid = p.proowner
      JOIN pg_authid m ON pg_has_role(m.oid, o.oid, 'USAGE')
     WHERE NOT o.rolsuper
       AND (EXISTS (SELECT FROM crmperm.role_assignments a WHERE a.principal::oid = m.oid)
            OR EXISTS (SELECT FROM crmperm.set_assignments a WHERE a.principal::oid = m.oid))
    UNION ALL
    -- a SECURITY DEFINER routine resolving names through its caller's
    -- search_path runs the caller's objects with the owner's rights
    SELECT 'error', 'protected routine with an unpinned search_path', x.routine::text,
           pg_catalog.format('%s is SECURITY DEFINER and does not set search_path: a caller''s objects can stand in for the ones it uses.', x.routine),
           pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp;', x.routine)
      FROM crmperm.routines x
      JOIN pg_proc p ON p.oid = x.routine
     WHERE p.prosecdef
       AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
$$;
REVOKE ALL ON FUNCTION crmperm._lint_routines() FROM PUBLIC;

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
  ) f
 -- a protected routine's callers need its action: reaching tables with its
 -- owner's rights is its point (_lint_routines reports what could replace it)
 WHERE NOT (f.finding = 'definer_routine_bypasses_crmperm'
            AND EXISTS (SELECT FROM crmperm.routines r WHERE r.routine::text = f.object))
 ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
          f.finding COLLATE "C", f.object COLLATE "C", f.detail COLLATE "C"
$$;

-- ---------------------------------------------------------------------------
-- Public API (admin functions are the dispatcher, see 1.0).
-- ---------------------------------------------------------------------------

CREATE FUNCTION crmperm.define_action(resource text, action text, description text DEFAULT NULL)
RETURNS void LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.drop_action(resource text, action text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.define_permission(name text, description text DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.drop_permission(name text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.protect_routine(routine regprocedure, action text,
    key_argument name DEFAULT NULL) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';
CREATE FUNCTION crmperm.unprotect_routine(routine regprocedure) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

-- require('orders.refund'): raise the named denial unless the current role
-- (and its token) holds the action.
CREATE FUNCTION crmperm.require(action text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_require';
-- The check crmperm puts around the key argument of a protected routine's
-- call (actions.c): the row check, as the caller, before the call; returns
-- the key.  Callable only where crmperm put it.
CREATE FUNCTION crmperm._routine_key(action text, key anyelement) RETURNS anyelement
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_routine_key';
GRANT EXECUTE ON FUNCTION crmperm._routine_key(text, anyelement) TO PUBLIC;

-- require('orders.refund', 42) and check('orders.refund', 42): on the row of
-- orders whose primary key is 42, through the action's scopes.
CREATE FUNCTION crmperm.require(action text, key anyelement) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_require_row';
CREATE FUNCTION crmperm.check(action text, key anyelement) RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_check_row';

REVOKE ALL ON FUNCTION crmperm._resource_actions(), crmperm._principal_rules(oid),
    crmperm._check_action_name(text),
    crmperm._action(text, text), crmperm._check_actions(text, text[]),
    crmperm._define_action(text, text, text), crmperm._drop_action(text, text),
    crmperm._unused_action(text, text), crmperm._define_permission(text, text),
    crmperm._drop_permission(text), crmperm._check_routine_owner(regprocedure), crmperm._acts_as(oid),
    crmperm._protect_routine(regprocedure, text, name), crmperm._unprotect_routine(regprocedure),
    crmperm._whoami() FROM PUBLIC;

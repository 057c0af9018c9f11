-- crmperm 1.5 -> 1.6: Citus -- shards decided as their tables, the catalog
-- carried to every node by name

\echo Use "ALTER EXTENSION crmperm UPDATE TO '1.6'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The node's part and the way to the workers (C, src/citus.c).
-- ---------------------------------------------------------------------------

-- 'coordinator', 'worker', or NULL where Citus is not created.
CREATE FUNCTION crmperm._citus_node() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'crmperm_citus_node';
-- Run a command on every worker with metadata (node NULL) or on one node,
-- in this transaction.
CREATE FUNCTION crmperm._citus_send(command text, node text DEFAULT NULL, port integer DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'crmperm_citus_send';
REVOKE ALL ON FUNCTION crmperm._citus_node(), crmperm._citus_send(text, text, integer) FROM PUBLIC;

-- The catalog tables every node holds the same (not the audit trail, not
-- when a token was last used: those are each node's own).
CREATE FUNCTION crmperm._synced_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY['secret', 'resources', 'scopes', 'fields', 'permission_sets', 'roles',
                 'object_grants', 'system_grants', 'role_permission_sets', 'role_assignments',
                 'set_assignments', 'principals', 'field_grants', 'api_tokens', 'actions',
                 'action_grants', 'routines', 'parents', 'record_access', 'shared_resources']
$$;
REVOKE ALL ON FUNCTION crmperm._synced_tables() FROM PUBLIC;

-- When this node last received the whole catalog (crmperm.sync_node()).
-- Each node's own: not dumped, not synchronized.
CREATE TABLE crmperm.node_sync (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    synced_at timestamptz NOT NULL
);
REVOKE ALL ON crmperm.node_sync FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Shards are managed relations: through Citus's metadata, never their names.
-- ---------------------------------------------------------------------------
-- The shards on this node of the given tables (managed tables and their
-- partitions), with the table each belongs to; none without Citus.
-- pg_dist_shard names each table's shards, shard_name() their relation (not
-- through pg_class: Citus hides shards from queries on it; a table being
-- dropped has no name left for its shards).
CREATE FUNCTION crmperm._citus_shards(relids oid[]) RETURNS TABLE (relid oid, rel oid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    IF crmperm._citus_node() IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE $q$
        SELECT to_regclass(CASE WHEN EXISTS (SELECT FROM pg_class c WHERE c.oid = s.logicalrelid)
                                THEN shard_name(s.logicalrelid, s.shardid, false) END)::oid,
               s.logicalrelid::oid
          FROM pg_dist_shard s
         WHERE s.logicalrelid::oid = ANY ($1) $q$ USING relids;
END
$f$;
REVOKE ALL ON FUNCTION crmperm._citus_shards(oid[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION crmperm._managed_relations()
RETURNS TABLE (relid oid, resource text, relowner oid, sensitive boolean,
               owner_column name, team_column name, department_column name,
               tenant_column name)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE tree(relid, resource) AS (
        SELECT r.tbl::oid, r.resource FROM crmperm.resources r
        UNION
        SELECT i.inhrelid, t.resource FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
    ),
    -- each relation, and the managed table or partition whose owner it has
    everything(relid, resource, rel) AS (
        SELECT t.relid, t.resource, t.relid FROM tree t
        UNION
        SELECT s.relid, t.resource, t.relid
          FROM crmperm._citus_shards(ARRAY(SELECT relid FROM tree)) s
          JOIN tree t ON t.relid = s.rel
    )
    SELECT e.relid, e.resource, c.relowner, r.sensitive, r.owner_column,
           r.team_column, r.department_column, r.tenant_column
      FROM everything e
      JOIN crmperm.resources r ON r.resource = e.resource
      JOIN pg_class c ON c.oid = e.rel
     WHERE e.relid IS NOT NULL
$$;

-- ---------------------------------------------------------------------------
-- Each change reaches the workers in its transaction.
-- ---------------------------------------------------------------------------

-- On the coordinator, after each statement that changes a synced table: the
-- rows before and after, as JSON (regclass and regrole as names), applied on
-- every worker with metadata by crmperm._sync_apply().
CREATE FUNCTION crmperm._sync_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres' AS $$
DECLARE
    before jsonb;
    after  jsonb;
BEGIN
    IF crmperm._citus_node() IS DISTINCT FROM 'coordinator' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT jsonb_agg(to_jsonb(o)) INTO before FROM old_rows o;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        SELECT jsonb_agg(to_jsonb(n)) INTO after FROM new_rows n;
    END IF;
    IF TG_OP <> 'TRUNCATE' AND before IS NULL AND after IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM crmperm._citus_send(format('SELECT crmperm._sync_apply(%L, %L, %L::jsonb, %L::jsonb)',
                                       TG_TABLE_NAME, TG_OP, before, after));
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION crmperm._sync_rows() FROM PUBLIC;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY crmperm._synced_tables() LOOP
        EXECUTE format('CREATE TRIGGER sync_insert AFTER INSERT ON crmperm.%I '
                       'REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crmperm._sync_rows()', t);
        EXECUTE format('CREATE TRIGGER sync_update AFTER UPDATE ON crmperm.%I '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crmperm._sync_rows()', t);
        EXECUTE format('CREATE TRIGGER sync_delete AFTER DELETE ON crmperm.%I '
                       'REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crmperm._sync_rows()', t);
        EXECUTE format('CREATE TRIGGER sync_truncate AFTER TRUNCATE ON crmperm.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crmperm._sync_rows()', t);
        -- a worker applies changes as a replica (no audit of them, no
        -- foreign keys: the coordinator checked those), and its cache must
        -- still hear of them
        IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = format('crmperm.%I', t)::regclass
                                             AND tgname = 'invalidate') THEN
            EXECUTE format('ALTER TABLE crmperm.%I ENABLE ALWAYS TRIGGER invalidate', t);
        END IF;
    END LOOP;
    ALTER TABLE crmperm.resources ENABLE ALWAYS TRIGGER invalidate_rows;
END
$$;

-- Insert rows given as JSON into a synced table: the columns it stores (not
-- generated ones); rows naming a table or routine this node does not have
-- are left out (a table managed before Citus distributed it: its row comes
-- again when it is distributed, see src/citus.c).
CREATE FUNCTION crmperm._sync_insert(tbl text, rows jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cols   text;
    filter text;
BEGIN
    IF rows IS NULL OR jsonb_array_length(rows) = 0 THEN
        RETURN;
    END IF;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           coalesce(string_agg(CASE a.atttypid
                                 WHEN 'regclass'::regtype THEN format('to_regclass(e->>%L) IS NOT NULL', a.attname)
                                 WHEN 'regprocedure'::regtype THEN format('to_regprocedure(e->>%L) IS NOT NULL', a.attname)
                               END, ' AND '), 'true')
      INTO cols, filter
      FROM pg_attribute a
     WHERE a.attrelid = format('crmperm.%I', tbl)::regclass AND a.attnum > 0
       AND NOT a.attisdropped AND a.attgenerated = '';
    EXECUTE format('INSERT INTO crmperm.%I (%s) SELECT %s FROM jsonb_populate_recordset(NULL::crmperm.%I,'
                   ' (SELECT jsonb_agg(e) FROM jsonb_array_elements($1) e WHERE %s))',
                   tbl, cols, cols, tbl, filter)
      USING rows;
END
$$;
REVOKE ALL ON FUNCTION crmperm._sync_insert(text, jsonb) FROM PUBLIC;

-- On a worker: apply one statement's change, as the coordinator sent it.
CREATE FUNCTION crmperm._sync_apply(tbl text, op text, before jsonb, after jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres' SET session_replication_role = 'replica' AS $$
BEGIN
    IF crmperm._citus_node() IS DISTINCT FROM 'worker' THEN
        RAISE EXCEPTION 'crmperm._sync_apply() runs on Citus workers only';
    END IF;
    IF tbl IS NULL OR NOT tbl = ANY (crmperm._synced_tables()) THEN
        RAISE EXCEPTION 'crmperm does not synchronize table "%"', tbl;
    END IF;
    IF NOT EXISTS (SELECT FROM crmperm.node_sync) THEN
        IF op = 'REPLACE' THEN
            RETURN;     -- a table distributed: this node gets it with sync_node()
        END IF;
        RAISE EXCEPTION 'crmperm''s catalog was never copied to node %', crmperm._citus_self()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Run SELECT crmperm.sync_node(%s) on the coordinator.',
                                (SELECT format('%L, %s', n.nodename, n.nodeport) FROM pg_dist_node n
                                  WHERE n.groupid = (SELECT groupid FROM pg_dist_local_group)
                                  ORDER BY n.nodeid LIMIT 1));
    END IF;
    IF op = 'TRUNCATE' THEN
        EXECUTE format('DELETE FROM crmperm.%I', tbl);
    ELSIF op = 'REPLACE' AND tbl = 'resources' THEN
        DELETE FROM crmperm.resources r
         WHERE r.resource IN (SELECT e->>'resource' FROM jsonb_array_elements(after) e);
    ELSIF op IN ('UPDATE', 'DELETE') THEN
        EXECUTE format('DELETE FROM crmperm.%I t USING jsonb_populate_recordset(NULL::crmperm.%I, $1) o'
                       ' WHERE t = o', tbl, tbl)
          USING before;
    ELSIF op <> 'INSERT' THEN
        RAISE EXCEPTION 'unknown operation "%"', op;
    END IF;
    PERFORM crmperm._sync_insert(tbl, after);
END
$$;
REVOKE ALL ON FUNCTION crmperm._sync_apply(text, text, jsonb, jsonb) FROM PUBLIC;

-- This node as the coordinator knows it: 'host:port' (on a Citus node).
CREATE FUNCTION crmperm._citus_self() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT format('%s:%s', n.nodename, n.nodeport) FROM pg_dist_node n
             WHERE n.groupid = (SELECT groupid FROM pg_dist_local_group)
             ORDER BY n.nodeid LIMIT 1);
END
$$;
REVOKE ALL ON FUNCTION crmperm._citus_self() FROM PUBLIC;

-- What every node must hold alike: the synced tables, with only the
-- resources of Citus tables (a worker has no other table).
CREATE FUNCTION crmperm._sync_checksum() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres' AS $$
DECLARE
    snap jsonb := crmperm._sync_snapshot();
BEGIN
    snap := jsonb_set(snap, '{resources}', coalesce(
        (SELECT jsonb_agg(e) FROM jsonb_array_elements(snap->'resources') e
          WHERE EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = to_regclass(e->>'tbl'))),
        '[]'));
    RETURN md5((SELECT string_agg(x::text, ',' ORDER BY x::text)
                  FROM jsonb_each(snap) t, jsonb_array_elements(t.value) x));
END
$$;
REVOKE ALL ON FUNCTION crmperm._sync_checksum() FROM PUBLIC;

-- lint(): on a Citus coordinator, the workers whose catalog differs.
CREATE FUNCTION crmperm._lint_citus()
RETURNS TABLE (severity text, finding text, object text, detail text, fix text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    mine text;
BEGIN
    IF crmperm._citus_node() IS DISTINCT FROM 'coordinator' THEN
        RETURN;
    END IF;
    mine := crmperm._sync_checksum();
    RETURN QUERY EXECUTE $q$
        SELECT 'error', 'citus_node_not_synced', format('%s:%s', n.nodename, n.nodeport),
               CASE WHEN NOT r.success THEN format('crmperm''s catalog could not be read there: %s', r.result)
                    ELSE 'crmperm''s catalog there differs from the coordinator''s (never copied, or changed since): its shards do not decide as the coordinator does.' END,
               format('SELECT crmperm.sync_node(%L, %s);', n.nodename, n.nodeport)
          FROM run_command_on_workers('SELECT crmperm._sync_checksum()') r
          JOIN pg_dist_node n ON n.nodename = r.nodename AND n.nodeport = r.nodeport
         WHERE NOT r.success OR r.result IS DISTINCT FROM $1 $q$ USING mine;
END
$$;
REVOKE ALL ON FUNCTION crmperm._lint_citus() FROM PUBLIC;

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
    UNION ALL SELECT * FROM crmperm._lint_citus()
  ) f
 -- a protected routine's callers need its action: reaching tables with its
 -- owner's rights is its point (_lint_routines reports what could replace it)
 WHERE NOT (f.finding = 'definer_routine_bypasses_crmperm'
            AND EXISTS (SELECT FROM crmperm.routines r WHERE r.routine::text = f.object))
 ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
          f.finding COLLATE "C", f.object COLLATE "C", f.detail COLLATE "C"
$$;

-- ---------------------------------------------------------------------------
-- The whole catalog, to one node or all: crmperm.sync_node().
-- ---------------------------------------------------------------------------
CREATE FUNCTION crmperm._sync_snapshot() RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres' AS $$
DECLARE
    t    text;
    rows jsonb;
    snap jsonb := '{}';
BEGIN
    FOREACH t IN ARRAY crmperm._synced_tables() LOOP
        EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x)), ''[]'') FROM crmperm.%I x', t) INTO rows;
        snap := snap || jsonb_build_object(t, rows);
    END LOOP;
    RETURN snap;
END
$$;
REVOKE ALL ON FUNCTION crmperm._sync_snapshot() FROM PUBLIC;

CREATE FUNCTION crmperm._sync_load(snapshot jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres' SET session_replication_role = 'replica' AS $$
DECLARE
    t text;
BEGIN
    IF crmperm._citus_node() IS DISTINCT FROM 'worker' THEN
        RAISE EXCEPTION 'crmperm._sync_load() runs on Citus workers only';
    END IF;
    FOREACH t IN ARRAY crmperm._synced_tables() LOOP
        EXECUTE format('DELETE FROM crmperm.%I', t);
        PERFORM crmperm._sync_insert(t, snapshot->t);
    END LOOP;
    INSERT INTO crmperm.node_sync VALUES (true, now())
        ON CONFLICT (id) DO UPDATE SET synced_at = excluded.synced_at;
END
$$;
REVOKE ALL ON FUNCTION crmperm._sync_load(jsonb) FROM PUBLIC;

CREATE FUNCTION crmperm._sync_node(node text, port integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    command text;
    n       record;
    done    integer := 0;
BEGIN
    IF crmperm._citus_node() IS DISTINCT FROM 'coordinator' THEN
        RAISE EXCEPTION 'crmperm.sync_node() runs on the Citus coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE WHEN crmperm._citus_node() IS NULL
                              THEN 'Citus is not created in this database.'
                              ELSE 'This node is a worker.' END;
    END IF;
    IF (node IS NULL) <> (port IS NULL) THEN
        RAISE EXCEPTION 'node and port must both be given, or neither'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    command := format('SELECT crmperm._sync_load(%L::jsonb)', crmperm._sync_snapshot());
    FOR n IN EXECUTE 'SELECT nodename::text, nodeport FROM pg_dist_node'
                     ' WHERE groupid <> 0 AND isactive AND noderole = ''primary'''
                     ' AND ($1 IS NULL OR (nodename = $1 AND nodeport = $2))'
                     ' ORDER BY nodename, nodeport' USING node, port LOOP
        PERFORM crmperm._citus_send(command, n.nodename, n.nodeport);
        done := done + 1;
    END LOOP;
    IF node IS NOT NULL AND done = 0 THEN
        RAISE EXCEPTION 'node "%:%" is not an active Citus worker', node, port
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add it with citus_add_node() first; SELECT * FROM pg_dist_node lists the nodes.';
    END IF;
    RETURN done;
END
$$;
REVOKE ALL ON FUNCTION crmperm._sync_node(text, integer) FROM PUBLIC;

-- Superusers: copy crmperm's whole catalog to a Citus worker (every active
-- worker without arguments), in this transaction.  Returns how many nodes.
CREATE FUNCTION crmperm.sync_node(node text DEFAULT NULL, port integer DEFAULT NULL)
RETURNS integer LANGUAGE c AS 'MODULE_PATHNAME', 'crmperm_admin_dispatch';

-- Re-send the rows of resources whose tables became Citus tables in this
-- transaction (src/citus.c, at commit): a worker could not store them while
-- it did not have the table.
CREATE FUNCTION crmperm._sync_resources(relids oid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres' AS $$
DECLARE
    rows jsonb;
BEGIN
    SELECT jsonb_agg(to_jsonb(r)) INTO rows FROM crmperm.resources r WHERE r.tbl::oid = ANY (relids);
    IF rows IS NOT NULL THEN
        PERFORM crmperm._citus_send(format('SELECT crmperm._sync_apply(''resources'', ''REPLACE'', NULL, %L::jsonb)',
                                           rows));
    END IF;
END
$$;
REVOKE ALL ON FUNCTION crmperm._sync_resources(oid[]) FROM PUBLIC;

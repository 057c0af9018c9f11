-- Per-table CRUD, enforced at executor start on every path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/plan.sql

CREATE TABLE leads (id int PRIMARY KEY, name text, owner_id text);
CREATE TABLE clients (id int PRIMARY KEY, name text);
CREATE TABLE notes (id int PRIMARY KEY, body text);   -- never managed
INSERT INTO leads VALUES (1, 'Acme', 'alice'), (2, 'Globex', 'bob');
INSERT INTO clients VALUES (1, 'Initech');
INSERT INTO notes VALUES (1, 'unmanaged');

CREATE ROLE crud_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON leads, clients, notes TO crud_users;
CREATE ROLE crud_webhook LOGIN IN ROLE crud_users;
CREATE ROLE crud_reader LOGIN IN ROLE crud_users;
CREATE ROLE crud_editor LOGIN IN ROLE crud_users;
CREATE ROLE crud_nobody LOGIN IN ROLE crud_users;

SELECT crmperm.manage_table('leads', owner_column => 'owner_id');
SELECT crmperm.manage_table('clients');
SELECT crmperm.create_permission_set('Lead capture');
SELECT crmperm.grant('Lead capture', 'leads', ARRAY['create']);
SELECT crmperm.create_permission_set('Lead reader');
SELECT crmperm.grant('Lead reader', 'leads', ARRAY['read']);
SELECT crmperm.create_permission_set('Lead editor');
SELECT crmperm.grant('Lead editor', 'leads', ARRAY['read', 'create', 'update', 'delete']);
SELECT crmperm.assign_permission_set('crud_webhook', 'Lead capture');
SELECT crmperm.assign_permission_set('crud_reader', 'Lead reader');
SELECT crmperm.assign_permission_set('crud_editor', 'Lead editor');

-- row security is enabled and forced by manage_table
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relname IN ('leads', 'clients', 'notes') ORDER BY 1;

-- The webhook may create and nothing else.
SET ROLE crud_webhook;
INSERT INTO leads VALUES (3, 'Initrode', 'alice');
SELECT * FROM leads;
-- RETURNING gives a creator back the rows the statement inserted; every other
-- read still needs read
INSERT INTO leads VALUES (4, 'Umbrella', 'bob') RETURNING id, name;
INSERT INTO leads VALUES (5, 'Hooli', 'bob') RETURNING (SELECT count(*) FROM leads);
INSERT INTO leads VALUES (1, 'Acme again', 'bob') ON CONFLICT (id) DO NOTHING RETURNING id;
INSERT INTO leads VALUES (1, 'x', 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' RETURNING id;
WITH x AS (INSERT INTO leads VALUES (6, 'Wonka', 'bob') RETURNING id) SELECT * FROM x;
UPDATE leads SET name = 'x';
DELETE FROM leads;
SELECT * FROM clients;   -- no grant at all
SELECT * FROM notes;     -- unmanaged: untouched
RESET ROLE;

-- A role with nothing.
SET ROLE crud_nobody;
SELECT count(*) FROM leads;
RESET ROLE;

-- Read only.
SET ROLE crud_reader;
SELECT * FROM leads ORDER BY id;
UPDATE leads SET name = 'x' WHERE id = 1;
SELECT * FROM leads WHERE id = 1 FOR UPDATE;   -- row locks need update, as in PostgreSQL
DELETE FROM leads WHERE id = 1;
INSERT INTO leads VALUES (5, 'x', 'x');
RESET ROLE;

-- Everything on leads, nothing on clients.
SET ROLE crud_editor;
UPDATE leads SET name = 'Acme Corp' WHERE id = 1 RETURNING *;
INSERT INTO leads VALUES (1, 'dup', 'alice') ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING *;
DELETE FROM leads WHERE id = 3 RETURNING id;
-- CTEs and sublinks are checked too
WITH c AS (SELECT * FROM clients) SELECT count(*) FROM c;
SELECT count(*) FROM leads WHERE EXISTS (SELECT 1 FROM clients);
-- MERGE needs what each of its actions needs
MERGE INTO leads l USING (VALUES (2, 'Globex 2')) v(id, name) ON l.id = v.id
  WHEN MATCHED THEN UPDATE SET name = v.name
  WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.name, 'bob');
MERGE INTO clients c USING (VALUES (1)) v(id) ON c.id = v.id WHEN MATCHED THEN DELETE;
RESET ROLE;

-- INSERT ... ON CONFLICT DO UPDATE needs create and update (and read for the arbiter).
SELECT crmperm.grant('Lead capture', 'leads', ARRAY['read']);
SET ROLE crud_webhook;
INSERT INTO leads VALUES (1, 'dup', 'alice') ON CONFLICT (id) DO UPDATE SET name = excluded.name;
INSERT INTO leads VALUES (1, 'dup', 'alice') ON CONFLICT (id) DO NOTHING;
RESET ROLE;
SELECT crmperm.revoke('Lead capture', 'leads', ARRAY['read']);

-- Prepared statements, generic plans: checked at every execution.
SET plan_cache_mode = force_generic_plan;
SET ROLE crud_reader;
PREPARE q AS SELECT name FROM leads WHERE id = $1;
EXECUTE q(1);
RESET ROLE;
SELECT crmperm.revoke('Lead reader', 'leads', ARRAY['read']);
SET ROLE crud_reader;
EXECUTE q(1);
RESET ROLE;
SELECT crmperm.grant('Lead reader', 'leads', ARRAY['read']);
SET ROLE crud_reader;
EXECUTE q(1);
SET ROLE crud_webhook;
EXECUTE q(1);   -- same plan, other role
RESET ROLE;
DEALLOCATE q;
RESET plan_cache_mode;

-- PL/pgSQL and SQL functions run as the caller.
CREATE FUNCTION lead_count() RETURNS bigint LANGUAGE plpgsql AS
  $$ BEGIN RETURN (SELECT count(*) FROM leads); END $$;
CREATE FUNCTION lead_names() RETURNS SETOF text LANGUAGE sql AS $$ SELECT name FROM leads $$;
SET ROLE crud_webhook;
SELECT lead_count();
SELECT lead_names();
SET ROLE crud_reader;
SELECT lead_count();
RESET ROLE;

-- A SECURITY DEFINER function runs as its owner: the owner's rules apply.
CREATE FUNCTION reader_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS
  $$ SELECT count(*) FROM leads $$;
ALTER FUNCTION reader_count() OWNER TO crud_reader;
SET ROLE crud_webhook;
SELECT reader_count();
RESET ROLE;

-- Cursors are checked when opened.
SET ROLE crud_webhook;
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM leads;
ROLLBACK;
RESET ROLE;

-- Views: the view owner's rules, as PostgreSQL checks privileges.  A denial
-- names the table, never data.
CREATE VIEW leads_by_reader AS SELECT id, name FROM leads;
ALTER VIEW leads_by_reader OWNER TO crud_reader;
CREATE VIEW leads_by_webhook AS SELECT id, name FROM leads;
ALTER VIEW leads_by_webhook OWNER TO crud_webhook;
CREATE VIEW leads_invoker WITH (security_invoker) AS SELECT id, name FROM leads;
GRANT SELECT ON leads_by_reader, leads_by_webhook, leads_invoker TO crud_users;
SET ROLE crud_webhook;
SELECT * FROM leads_by_webhook;
SELECT * FROM leads_invoker;
SET ROLE crud_reader;
SELECT * FROM leads_invoker ORDER BY id;
SELECT count(*) FROM leads_by_reader;
RESET ROLE;

-- COPY TO needs read and the system permission export; COPY FROM is refused
-- by PostgreSQL under row security.
SET ROLE crud_reader;
COPY leads TO STDOUT;
COPY (SELECT id FROM leads) TO STDOUT;
COPY leads FROM STDIN;
9	x	x
\.
RESET ROLE;
SELECT crmperm.create_permission_set('Exporter');
SELECT crmperm.grant_system('Exporter', 'export');
SELECT crmperm.assign_permission_set('crud_reader', 'Exporter');
SET ROLE crud_reader;
COPY leads (id, name) TO STDOUT;
SET ROLE crud_webhook;
COPY leads TO STDOUT;
RESET ROLE;

-- EXPLAIN shows plans; EXPLAIN ANALYZE is refused (its row counts would
-- reveal rows hidden by scopes), also when it runs a function.
SET ROLE crud_reader;
EXPLAIN (COSTS OFF) SELECT * FROM leads;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM leads;
EXPLAIN (ANALYZE false, COSTS OFF) SELECT * FROM leads;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT lead_count();
SELECT * FROM pg_temp.plan('(ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM notes');
RESET ROLE;
SELECT * FROM pg_temp.plan('(ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM leads');

-- TRUNCATE needs delete with scope all and the system permission bulk.
SET ROLE crud_reader;
TRUNCATE leads;
SET ROLE crud_editor;
TRUNCATE leads;
RESET ROLE;
SELECT crmperm.create_permission_set('Bulk');
SELECT crmperm.grant_system('Bulk', 'bulk');
SELECT crmperm.assign_permission_set('crud_editor', 'Bulk');
SELECT crmperm.grant('Lead editor', 'leads', ARRAY['delete'], 'owned');
SET ROLE crud_editor;
TRUNCATE leads;
RESET ROLE;
SELECT crmperm.grant('Lead editor', 'leads', ARRAY['delete']);
SET ROLE crud_editor;
TRUNCATE leads, clients;   -- every relation truncated is checked
BEGIN;
TRUNCATE leads;
SELECT count(*) FROM leads;
ROLLBACK;
RESET ROLE;

-- Partitions are secured and governed like their parent, queried directly
-- too; TRUNCATE is checked for every partition and CASCADE target.
CREATE TABLE events (id int, region text, lead_id int) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
INSERT INTO events VALUES (1, 'eu', 1), (2, 'us', 2);
CREATE TABLE lead_notes (id int, lead_id int REFERENCES leads (id));
INSERT INTO lead_notes VALUES (1, 1);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON events, events_eu, events_us, lead_notes TO crud_users;
SELECT crmperm.manage_table('events');
SELECT crmperm.manage_table('lead_notes');
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relname LIKE 'events%' ORDER BY 1;
SELECT crmperm.grant('Lead editor', 'events', ARRAY['read']);
SET ROLE crud_editor;
SELECT * FROM events ORDER BY id;
SELECT * FROM events_eu;
DELETE FROM events_us;
TRUNCATE events_eu;
TRUNCATE leads CASCADE;
SELECT crmperm.check('leads.delete') AS leads_delete, crmperm.check('events.delete') AS events_delete,
       crmperm.check('bulk') AS bulk, crmperm.check('export') AS export;
SELECT crmperm.check('leads.fly');
SELECT crmperm.check('nothing.read');
SELECT crmperm.check('leads');
RESET ROLE;
SELECT crmperm.unmanage_table('events');
SELECT crmperm.unmanage_table('lead_notes');
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relname LIKE 'events%' ORDER BY 1;
DROP TABLE events, lead_notes;

-- The owner is exempt by identity; a member of the owning role is governed.
CREATE ROLE crud_owner LOGIN IN ROLE crud_users;
CREATE TABLE owned_by (id int);
INSERT INTO owned_by VALUES (1);
ALTER TABLE owned_by OWNER TO crud_owner;
SELECT crmperm.manage_table('owned_by');
CREATE ROLE crud_owner_member LOGIN IN ROLE crud_owner;
SET ROLE crud_owner;
SELECT * FROM owned_by;
SET ROLE crud_owner_member;
SELECT * FROM owned_by;
RESET ROLE;

-- Owner-side row security cannot be switched off by non-superusers.
SET ROLE crud_owner;
ALTER TABLE owned_by DISABLE ROW LEVEL SECURITY;
ALTER TABLE owned_by NO FORCE ROW LEVEL SECURITY;
RESET ROLE;

-- unmanage_table restores row security as it was.
SELECT crmperm.unmanage_table('owned_by');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'owned_by';
SET ROLE crud_owner_member;
SELECT * FROM owned_by;
RESET ROLE;

-- Cleanup
DROP VIEW leads_by_reader, leads_by_webhook, leads_invoker;
DROP FUNCTION lead_count(), lead_names(), reader_count();
DROP TABLE owned_by;
SELECT crmperm.unmanage_table('leads');
SELECT crmperm.unmanage_table('clients');
DROP TABLE leads, clients, notes;
SELECT crmperm.drop_permission_set(name) FROM crmperm.permission_sets
 WHERE name IN ('Lead capture', 'Lead reader', 'Lead editor', 'Exporter', 'Bulk');
DELETE FROM crmperm.set_assignments;
DROP ROLE crud_webhook, crud_reader, crud_editor, crud_nobody, crud_owner_member, crud_owner, crud_users;

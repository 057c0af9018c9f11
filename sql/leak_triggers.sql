-- Code attached to a managed table runs on every principal's rows.  Only the
-- managed table's owner by identity (not a member of it), a superuser or a
-- super admin attaches triggers (every kind), rules, native policies,
-- indexes, constraints, defaults, statistics objects, foreign keys
-- referencing it, publications, partitions and children; every function the
-- new object uses must be owned by that owner or a superuser.  lint() reports
-- what exists already, and owner-written triggers that publish rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE ROLE lt_owner NOLOGIN;
CREATE ROLE lt_rep NOLOGIN;                    -- governed, GRANT ALL on the table
CREATE ROLE lt_member NOLOGIN IN ROLE lt_owner;  -- governed member of the owner
CREATE ROLE lt_sa NOLOGIN;                     -- a super admin
GRANT CREATE ON SCHEMA public TO lt_owner, lt_rep, lt_member, lt_sa;
SELECT format('GRANT CREATE ON DATABASE %I TO lt_member', current_database()) \gexec

SET ROLE lt_owner;
CREATE TABLE lt_leads (id int PRIMARY KEY, owner_id text, salary int);
INSERT INTO lt_leads VALUES (1, 'rep', 10), (2, 'boss', 99999);
CREATE TABLE lt_parts (id int, owner_id text, salary int) PARTITION BY RANGE (id);
CREATE TABLE lt_parts_1 PARTITION OF lt_parts FOR VALUES FROM (0) TO (100);
INSERT INTO lt_parts VALUES (1, 'rep', 10), (2, 'boss', 99999);
GRANT ALL ON lt_leads, lt_parts, lt_parts_1 TO lt_rep, lt_member, lt_sa;
RESET ROLE;
SELECT crmperm.manage_table('lt_leads', owner_column => 'owner_id');
SELECT crmperm.manage_table('lt_parts', owner_column => 'owner_id');
SELECT crmperm.protect_field('lt_leads', 'salary');
SELECT crmperm.protect_field('lt_parts', 'salary');
SELECT crmperm.create_permission_set('Lt reps');
SELECT crmperm.grant('Lt reps', 'lt_leads', ARRAY['read', 'update'], 'owned');
SELECT crmperm.grant('Lt reps', 'lt_parts', ARRAY['read', 'update'], 'owned');
SELECT crmperm.assign_permission_set('lt_rep', 'Lt reps');
SELECT crmperm.assign_permission_set('lt_member', 'Lt reps');
SELECT crmperm.set_principal('lt_rep', user_id => 'rep');
SELECT crmperm.set_principal('lt_member', user_id => 'rep');
SELECT crmperm.set_super_admin('lt_sa', true);

-- ---------------------------------------------------------------------------
-- The attack: a governed role with TRIGGER copies NEW into its own table
-- when anyone else updates.  Refused, for every kind of trigger.
-- ---------------------------------------------------------------------------
SET ROLE lt_rep;
CREATE TABLE lt_loot (row_data text);
CREATE FUNCTION lt_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.lt_loot VALUES (NEW::text); RETURN NEW; END $$;
CREATE TRIGGER lt_steal BEFORE UPDATE ON lt_leads FOR EACH ROW EXECUTE FUNCTION lt_capture();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER lt_steal AFTER INSERT ON lt_leads FOR EACH STATEMENT EXECUTE FUNCTION lt_capture();
CREATE CONSTRAINT TRIGGER lt_steal AFTER UPDATE ON lt_leads DEFERRABLE
    FOR EACH ROW EXECUTE FUNCTION lt_capture();
CREATE TRIGGER lt_steal AFTER UPDATE ON lt_leads REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION lt_capture();
-- on a partition, directly
CREATE TRIGGER lt_steal BEFORE UPDATE ON lt_parts_1 FOR EACH ROW EXECUTE FUNCTION lt_capture();
-- A foreign key to a managed table puts PostgreSQL's own triggers on it and
-- tells which keys exist, hidden rows included.
CREATE TABLE lt_probe (lead int REFERENCES lt_leads);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE lt_probe (lead int);
ALTER TABLE lt_probe ADD FOREIGN KEY (lead) REFERENCES lt_parts_1 (id);
RESET ROLE;
-- nothing was attached, and an update by the owner leaves no copy
SET ROLE lt_owner;
UPDATE lt_leads SET salary = salary + 1;
RESET ROLE;
SELECT count(*) AS loot FROM lt_loot;
SELECT tgname FROM pg_trigger WHERE tgrelid IN ('lt_leads'::regclass, 'lt_parts'::regclass, 'lt_parts_1'::regclass);

-- ---------------------------------------------------------------------------
-- A member of the owner holds the owner's privileges but is governed: it
-- attaches nothing (SET ROLE to the owner is the documented limit).
-- ---------------------------------------------------------------------------
SET ROLE lt_member;
CREATE FUNCTION lt_member_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER lt_m BEFORE UPDATE ON lt_leads FOR EACH ROW EXECUTE FUNCTION lt_member_fn();
\echo :LAST_ERROR_SQLSTATE
CREATE RULE lt_m AS ON UPDATE TO lt_leads DO ALSO NOTIFY lt_channel;
CREATE POLICY lt_m ON lt_leads USING (true);
CREATE INDEX lt_m ON lt_leads (salary);
ALTER TABLE lt_leads ADD UNIQUE (owner_id, id);
CREATE STATISTICS lt_m ON id, salary FROM lt_leads;
ALTER TABLE lt_leads ADD CONSTRAINT lt_m CHECK (salary > 0);
ALTER TABLE lt_leads ALTER COLUMN owner_id SET DEFAULT 'rep';
ALTER TABLE lt_leads ADD COLUMN lt_g int GENERATED ALWAYS AS (salary) STORED;
SET client_min_messages = error;   -- wal_level: not the point
CREATE PUBLICATION lt_m;
SET client_min_messages = warning;
ALTER PUBLICATION lt_m ADD TABLE lt_leads;
-- a partition created by the member would be the member's own
CREATE TABLE lt_parts_2 PARTITION OF lt_parts FOR VALUES FROM (100) TO (200);
-- the member's own table attached below the managed table
CREATE TABLE lt_parts_3 (id int, owner_id text, salary int);
ALTER TABLE lt_parts ATTACH PARTITION lt_parts_3 FOR VALUES FROM (200) TO (300);
\echo :LAST_ERROR_SQLSTATE
-- as the owner (SET ROLE) it works: the owner attaches its own code
SET ROLE lt_owner;
CREATE FUNCTION lt_owner_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER lt_o BEFORE UPDATE ON lt_leads FOR EACH ROW EXECUTE FUNCTION lt_owner_fn();
CREATE INDEX lt_o ON lt_leads (lower(owner_id));
CREATE TABLE lt_parts_2 PARTITION OF lt_parts FOR VALUES FROM (100) TO (200);
-- but not with another role's function: its owner could replace the code
CREATE TRIGGER lt_r BEFORE UPDATE ON lt_leads FOR EACH ROW EXECUTE FUNCTION lt_capture();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE lt_rep;
CREATE FUNCTION lt_rep_fn(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
RESET ROLE;
SET ROLE lt_owner;
CREATE INDEX lt_r ON lt_leads (lt_rep_fn(salary));
-- partitions and children go to the owner only
ALTER TABLE lt_parts_2 OWNER TO lt_rep;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- a super admin attaches (it bypasses crmperm anyway)
SET ROLE lt_sa;
CREATE TABLE lt_sa_refs (lead int REFERENCES lt_leads);
DROP TABLE lt_sa_refs;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- A partition's own owner is not exempt: only the managed table's owner is.
-- (A superuser can still give a partition away; lint reports it below.)
-- ---------------------------------------------------------------------------
ALTER TABLE lt_parts_2 OWNER TO lt_rep;
INSERT INTO lt_parts VALUES (150, 'boss', 77777), (151, 'rep', 20);
SET ROLE lt_rep;
SELECT id, owner_id, salary FROM lt_parts_2 ORDER BY id;   -- its own row only, salary masked
RESET ROLE;

-- ---------------------------------------------------------------------------
-- lint(): what is already there (made by a superuser, who may).
-- ---------------------------------------------------------------------------
CREATE TRIGGER lt_old BEFORE UPDATE ON lt_leads FOR EACH ROW EXECUTE FUNCTION lt_capture();
CREATE POLICY lt_native ON lt_leads USING (true);
CREATE RULE lt_rule AS ON DELETE TO lt_leads DO ALSO NOTIFY lt_channel;
ALTER TABLE lt_probe ADD FOREIGN KEY (lead) REFERENCES lt_leads;
-- the "realtime" pattern, written by the owner
SET ROLE lt_owner;
CREATE FUNCTION lt_realtime() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('lt_changes', row_to_json(NEW)::text); RETURN NEW; END $$;
CREATE TRIGGER lt_realtime AFTER INSERT OR UPDATE ON lt_leads
    FOR EACH ROW EXECUTE FUNCTION lt_realtime();
RESET ROLE;
SELECT severity, finding, object, detail, fix FROM crmperm.lint()
 WHERE object ~ '^lt_' OR detail ~ 'lt_' ORDER BY finding, object, detail;

-- cleanup
SELECT crmperm.unmanage_table('lt_leads');
SELECT crmperm.unmanage_table('lt_parts');
DROP TABLE lt_probe, lt_loot, lt_leads, lt_parts, lt_parts_3;
DROP PUBLICATION IF EXISTS lt_m;
SELECT format('REVOKE CREATE ON DATABASE %I FROM lt_member', current_database()) \gexec
DROP FUNCTION lt_capture(), lt_member_fn(), lt_owner_fn(), lt_rep_fn(int), lt_realtime();
SELECT crmperm.drop_permission_set('Lt reps');
DELETE FROM crmperm.principals WHERE principal::text LIKE 'lt_%';
REVOKE CREATE ON SCHEMA public FROM lt_owner, lt_rep, lt_member, lt_sa;
DROP ROLE lt_owner, lt_rep, lt_member, lt_sa;

-- Leak path: MERGE.  The join reads the target, so only rows in the read
-- scope can match; a matched row outside the update / delete scope is
-- refused (PostgreSQL's message, no values); inserts outside the create
-- scope are crmperm's named denial.
--
-- KNOWN LIMIT (PostgreSQL): a hidden row does not match, so WHEN NOT
-- MATCHED tries to insert it again and its unique key collides: the
-- duplicate key error reveals that the key exists (never the row's values),
-- as a plain INSERT does.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE lm_deals (id int PRIMARY KEY, name text, owner_id text, amount int);
INSERT INTO lm_deals VALUES (1, 'own-u1', 'u1', 10), (2, 'hidden-u2', 'u2', 20),
                            (3, 'hidden-u3', 'u3', 30), (4, 'hidden-null', NULL, 40);
CREATE ROLE lm_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON lm_deals TO lm_users;
CREATE ROLE lm_rep LOGIN IN ROLE lm_users;      -- everything, owned
CREATE ROLE lm_viewer LOGIN IN ROLE lm_users;   -- read all; create, update, delete owned
SELECT crmperm.manage_table('lm_deals', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('LM own');
SELECT crmperm.grant('LM own', 'lm_deals', ARRAY['read', 'create', 'update', 'delete'], 'owned');
SELECT crmperm.create_permission_set('LM viewer');
SELECT crmperm.grant('LM viewer', 'lm_deals', ARRAY['read']);
SELECT crmperm.grant('LM viewer', 'lm_deals', ARRAY['create', 'update', 'delete'], 'owned');
SELECT crmperm.assign_permission_set('lm_rep', 'LM own');
SELECT crmperm.assign_permission_set('lm_viewer', 'LM viewer');
SELECT crmperm.set_principal('lm_rep', user_id => 'u1');
SELECT crmperm.set_principal('lm_viewer', user_id => 'u1');
CREATE FUNCTION lm_leak(text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS
$$ BEGIN RAISE NOTICE 'lm_leak saw %', $1; RETURN true; END $$;
CREATE TABLE lm_source (id int, name text, owner_id text);   -- not managed
INSERT INTO lm_source VALUES (1, 'src-1', 'u1'), (2, 'src-2', 'u1'), (3, 'src-3', 'u1'),
                             (4, 'src-4', 'u1');
GRANT SELECT, UPDATE ON lm_source TO lm_users;

-- Only its own row matches: the hidden rows are neither updated nor deleted.
SET ROLE lm_rep;
MERGE INTO lm_deals d USING lm_source s ON d.id = s.id
  WHEN MATCHED THEN UPDATE SET amount = d.amount + 1;
MERGE INTO lm_deals d USING lm_source s ON d.id = s.id
  WHEN MATCHED AND s.id > 1 THEN DELETE;
-- a leaky function in the join or in WHEN only sees rows in scope
SET client_min_messages = notice;
MERGE INTO lm_deals d USING lm_source s ON d.id = s.id AND lm_leak(d.name)
  WHEN MATCHED THEN UPDATE SET amount = d.amount;
MERGE INTO lm_deals d USING lm_source s ON d.id = s.id
  WHEN MATCHED AND lm_leak(d.name || '?') THEN UPDATE SET amount = d.amount;
SET client_min_messages = warning;
-- WHEN NOT MATCHED on a hidden key: the hidden row did not match, the insert
-- collides (the known limit above); no values
MERGE INTO lm_deals d USING (VALUES (2, 'new', 'u1')) s(id, name, owner_id) ON d.id = s.id
  WHEN MATCHED THEN UPDATE SET name = s.name
  WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name, s.owner_id, 0);
-- WHEN NOT MATCHED, a new row outside the create scope: crmperm's denial
MERGE INTO lm_deals d USING (VALUES (7, 'new', 'u2')) s(id, name, owner_id) ON d.id = s.id
  WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name, s.owner_id, 0);
-- inside the create scope: created
MERGE INTO lm_deals d USING (VALUES (7, 'new', 'u1')) s(id, name, owner_id) ON d.id = s.id
  WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name, s.owner_id, 0);
-- its own row moved out of the update scope: crmperm's denial
MERGE INTO lm_deals d USING (VALUES (1)) s(id) ON d.id = s.id
  WHEN MATCHED THEN UPDATE SET owner_id = 'u2';
-- the managed table as the source: only its rows in scope
MERGE INTO lm_source s USING lm_deals d ON s.id = d.id
  WHEN MATCHED THEN UPDATE SET name = d.name;
RESET ROLE;
SELECT id, name, owner_id, amount FROM lm_deals ORDER BY id;
SELECT * FROM lm_source ORDER BY id;

-- Reads every row, writes its own: a matched row outside the update or
-- delete scope is refused, not skipped.
SET ROLE lm_viewer;
MERGE INTO lm_deals d USING (VALUES (2)) s(id) ON d.id = s.id
  WHEN MATCHED THEN UPDATE SET amount = 0;
MERGE INTO lm_deals d USING (VALUES (2)) s(id) ON d.id = s.id
  WHEN MATCHED THEN DELETE;
MERGE INTO lm_deals d USING (VALUES (1), (7)) s(id) ON d.id = s.id
  WHEN MATCHED THEN UPDATE SET amount = 100;
RESET ROLE;
SELECT id, name, owner_id, amount FROM lm_deals ORDER BY id;

-- cleanup
DROP FUNCTION lm_leak(text);
SELECT crmperm.unmanage_table('lm_deals');
DROP TABLE lm_deals, lm_source;
SELECT crmperm.drop_permission_set('LM own');
SELECT crmperm.drop_permission_set('LM viewer');
DELETE FROM crmperm.principals WHERE principal IN ('lm_rep'::regrole, 'lm_viewer'::regrole);
DROP ROLE lm_rep, lm_viewer, lm_users;

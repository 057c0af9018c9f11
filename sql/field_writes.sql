-- Field security on writes: setting a protected field needs create, changing
-- it needs update (INSERT, UPDATE, ON CONFLICT, MERGE); a read-only field is
-- set only by super admins and superusers; a scoped field grant is checked
-- per row.  Writes never put a mask back: a field the statement does not
-- set keeps its stored value.  Then the seed scenarios: Sales Rep, Support
-- Agent and Sales Manager, each reading and writing.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE fw_users NOLOGIN;
CREATE ROLE fw_rep LOGIN IN ROLE fw_users;       -- Sales Rep, user u1
CREATE ROLE fw_agent LOGIN IN ROLE fw_users;     -- Support Agent
CREATE ROLE fw_manager LOGIN IN ROLE fw_users;   -- Sales Manager
CREATE ROLE fw_scoped LOGIN IN ROLE fw_users;    -- contract value on its own rows, user u1
CREATE ROLE fw_admin LOGIN IN ROLE fw_users;     -- super admin
CREATE ROLE fw_owner LOGIN;                      -- owns the table
CREATE TABLE fw_leads (id int PRIMARY KEY, owner_id text, name text, phone text,
                       source text DEFAULT 'web', score int, contract_value numeric DEFAULT 500,
                       notes text);
ALTER TABLE fw_leads OWNER TO fw_owner;
INSERT INTO fw_leads VALUES (1, 'u1', 'Acme', '555-0101', 'referral', 80, 12000, NULL),
                            (2, 'u2', 'Globex', '555-0102', 'event', 40, 30000, NULL);
GRANT SELECT, INSERT, UPDATE, DELETE ON fw_leads TO fw_users;
SELECT crmperm.manage_table('fw_leads', owner_column => 'owner_id');

-- The fields: name and phone are standard fields, source is set once (at
-- creation), score is read-only (computed), contract value is hidden from
-- all but managers.
SELECT crmperm.protect_field('fw_leads', 'name', 'redact');
SELECT crmperm.protect_field('fw_leads', 'phone', 'partial');
SELECT crmperm.protect_field('fw_leads', 'source', 'redact');
SELECT crmperm.protect_field('fw_leads', 'score', readonly => true);
SELECT crmperm.protect_field('fw_leads', 'contract_value');

SELECT crmperm.create_permission_set('FW rep');
SELECT crmperm.grant('FW rep', 'fw_leads', ARRAY['read', 'create', 'update'], 'owned');
SELECT crmperm.grant_field('FW rep', 'fw_leads', f, ARRAY['read', 'create', 'update'])
  FROM unnest(ARRAY['name', 'phone']) f;
SELECT crmperm.grant_field('FW rep', 'fw_leads', 'source', ARRAY['read', 'create']);
SELECT crmperm.grant_field('FW rep', 'fw_leads', 'score', ARRAY['read']);
SELECT crmperm.create_permission_set('FW agent');
SELECT crmperm.grant('FW agent', 'fw_leads', ARRAY['read', 'update']);
SELECT crmperm.grant_field('FW agent', 'fw_leads', f, ARRAY['read'])
  FROM unnest(ARRAY['name', 'phone', 'source', 'score']) f;
SELECT crmperm.create_permission_set('FW manager');
SELECT crmperm.grant('FW manager', 'fw_leads', ARRAY['read', 'create', 'update', 'delete']);
SELECT crmperm.grant_field('FW manager', 'fw_leads', f, ARRAY['read', 'create', 'update'])
  FROM unnest(ARRAY['name', 'phone', 'source', 'score', 'contract_value']) f;
SELECT crmperm.create_role('FW Sales Rep');
SELECT crmperm.add_to_role('FW Sales Rep', 'FW rep');
SELECT crmperm.create_role('FW Support Agent');
SELECT crmperm.add_to_role('FW Support Agent', 'FW agent');
SELECT crmperm.create_role('FW Sales Manager', parent => 'FW Sales Rep');
SELECT crmperm.add_to_role('FW Sales Manager', 'FW manager');
SELECT crmperm.assign_role('fw_rep', 'FW Sales Rep');
SELECT crmperm.assign_role('fw_agent', 'FW Support Agent');
SELECT crmperm.assign_role('fw_manager', 'FW Sales Manager');
SELECT crmperm.set_principal('fw_rep', user_id => 'u1');
SELECT crmperm.set_principal('fw_manager', user_id => 'u9');
SELECT crmperm.create_permission_set('FW scoped');
SELECT crmperm.grant('FW scoped', 'fw_leads', ARRAY['read', 'create', 'update']);
SELECT crmperm.grant_field('FW scoped', 'fw_leads', 'contract_value',
                           ARRAY['read', 'create', 'update'], 'owned');
SELECT crmperm.assign_permission_set('fw_scoped', 'FW scoped');
SELECT crmperm.set_principal('fw_scoped', user_id => 'u1');
SELECT crmperm.set_super_admin('fw_admin', true);

-- Sales Rep: its own leads; source set once, score read-only, contract value hidden.
SET ROLE fw_rep;
SELECT * FROM fw_leads ORDER BY id;
SELECT action, allowed, scope, reason FROM crmperm.explain_access('fw_rep', 'fw_leads')
 WHERE action LIKE '%.%';
INSERT INTO fw_leads (id, owner_id, name, phone, source) VALUES (3, 'u1', 'Initech', '555-0103', 'cold call')
  RETURNING *;
INSERT INTO fw_leads (id, owner_id, name, score) VALUES (4, 'u1', 'Hooli', 99);
INSERT INTO fw_leads (id, owner_id, name, contract_value) VALUES (4, 'u1', 'Hooli', 1);
-- without a column list, every column is set: create is needed on every protected field
INSERT INTO fw_leads VALUES (4, 'u1', 'Hooli', NULL, 'web', NULL, NULL, NULL);
UPDATE fw_leads SET source = 'web' WHERE id = 3;
UPDATE fw_leads SET score = 100 WHERE id = 1;
UPDATE fw_leads SET contract_value = 1 WHERE id = 1;
UPDATE fw_leads SET contract_value = contract_value WHERE id = 1;   -- writing the mask back: refused too
UPDATE fw_leads SET name = 'Acme Corp', phone = '555-0199' WHERE id = 1 RETURNING *;
-- ON CONFLICT DO UPDATE changing source needs update on it
INSERT INTO fw_leads (id, owner_id, name, source) VALUES (3, 'u1', 'Initech', 'ad')
  ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source;
-- EXCLUDED: a column the rep did not supply reads as the rep reads the table
-- (contract value: the mask; source: its default, readable)
INSERT INTO fw_leads (id, owner_id, name) VALUES (3, 'u1', 'Initech')
  ON CONFLICT (id) DO UPDATE
  SET notes = coalesce(EXCLUDED.contract_value::text, 'masked') || ' / ' || EXCLUDED.source
  RETURNING id, notes;
-- MERGE: an update action changing source needs update, an insert action
-- setting contract value needs create; otherwise it runs
MERGE INTO fw_leads t USING (VALUES (3, 'u1', 'Initech', 'ad')) s(id, owner_id, name, source)
  ON t.id = s.id
  WHEN MATCHED THEN UPDATE SET source = s.source
  WHEN NOT MATCHED THEN INSERT (id, owner_id, name, source) VALUES (s.id, s.owner_id, s.name, s.source);
MERGE INTO fw_leads t USING (VALUES (5, 'u1', 'Soylent', 7)) s(id, owner_id, name, cv)
  ON t.id = s.id
  WHEN NOT MATCHED THEN INSERT (id, owner_id, name, contract_value) VALUES (s.id, s.owner_id, s.name, s.cv);
MERGE INTO fw_leads t USING (VALUES (3, 'u1', 'Initech Ltd', 'ad'), (5, 'u1', 'Soylent', 'fair')) s(id, owner_id, name, source)
  ON t.id = s.id
  WHEN MATCHED THEN UPDATE SET name = s.name
  WHEN NOT MATCHED THEN INSERT (id, owner_id, name, source) VALUES (s.id, s.owner_id, s.name, s.source);
SELECT * FROM fw_leads ORDER BY id;
RESET ROLE;
-- the stored values: contract values untouched (12000) or the column default
-- (500), never the mask; notes hold what EXCLUDED showed the rep
SELECT id, name, phone, source, score, contract_value, notes FROM fw_leads ORDER BY id;

-- Support Agent: every lead; standard fields read-only for it (read, no
-- update), contract value hidden; unprotected notes writable.
SET ROLE fw_agent;
SELECT * FROM fw_leads ORDER BY id;
UPDATE fw_leads SET name = 'Globex Inc' WHERE id = 2;
UPDATE fw_leads SET phone = '555-0000' WHERE id = 2;
UPDATE fw_leads SET contract_value = 0 WHERE id = 2;
INSERT INTO fw_leads (id, owner_id) VALUES (6, 'u2');
UPDATE fw_leads SET notes = 'big deal' WHERE contract_value > 1000 RETURNING id;   -- sees the mask
WITH u AS (UPDATE fw_leads SET notes = 'agent: ' || id RETURNING id, name, contract_value, notes)
SELECT * FROM u ORDER BY id;
RESET ROLE;
SELECT id, name, phone, contract_value, notes FROM fw_leads ORDER BY id;   -- stored values kept

-- Sales Manager: every field of every lead (its own set plus the inherited
-- Sales Rep set: source update comes from the manager set).  Score stays
-- read-only, even with a grant on it.
SET ROLE fw_manager;
SELECT * FROM fw_leads ORDER BY id;
UPDATE fw_leads SET contract_value = contract_value * 2, source = 'partner' WHERE id = 2
  RETURNING id, source, contract_value;
UPDATE fw_leads SET score = 50 WHERE id = 2;
INSERT INTO fw_leads VALUES (8, 'u2', 'Tyrell', NULL, 'web', NULL, 100, NULL);   -- sets score too
INSERT INTO fw_leads (id, owner_id, name, contract_value) VALUES (6, 'u2', 'Wayne', 9000)
  RETURNING id, contract_value;
INSERT INTO fw_leads (id, owner_id, name, contract_value) VALUES (6, 'u2', 'Wayne', 9500)
  ON CONFLICT (id) DO UPDATE SET contract_value = EXCLUDED.contract_value;
MERGE INTO fw_leads t USING (VALUES (1, 15000)) s(id, cv) ON t.id = s.id
  WHEN MATCHED THEN UPDATE SET contract_value = s.cv;
SELECT crmperm.set_super_admin('fw_manager', true);
RESET ROLE;
SELECT id, source, score, contract_value FROM fw_leads ORDER BY id;   -- as written

-- Read-only: the table owner reads every value and writes other fields,
-- but not score; a super admin and a superuser may.
SET ROLE fw_owner;
SELECT id, score, contract_value FROM fw_leads ORDER BY id;
UPDATE fw_leads SET contract_value = 31000 WHERE id = 2;
UPDATE fw_leads SET score = 41 WHERE id = 2;
INSERT INTO fw_leads (id, owner_id, score) VALUES (7, 'u2', 1);
SET ROLE fw_admin;
UPDATE fw_leads SET score = 42 WHERE id = 2 RETURNING id, score, contract_value;
INSERT INTO fw_leads (id, owner_id, score) VALUES (7, 'u2', 1) RETURNING id, score;
RESET ROLE;
UPDATE fw_leads SET score = 43 WHERE id = 2 RETURNING id, score;
SELECT action, allowed, reason FROM crmperm.explain_access('fw_owner', 'fw_leads')
 WHERE action LIKE 'score.%';

-- Row-dependent: contract value granted on owned rows only.  Real values on
-- its own rows, the mask elsewhere; changing it on another's row, or creating
-- a row outside the scope with it, is refused with crmperm's own denial.
SET ROLE fw_scoped;
SELECT id, owner_id, contract_value FROM fw_leads ORDER BY id;
SELECT count(*) FROM fw_leads WHERE contract_value = 31000;   -- the mask, not the value
UPDATE fw_leads SET contract_value = 13000 WHERE id = 1 RETURNING id, contract_value;
UPDATE fw_leads SET contract_value = 1 WHERE id = 2;
UPDATE fw_leads SET contract_value = 1 WHERE owner_id = 'u2';
UPDATE fw_leads SET contract_value = contract_value + 1;      -- all or nothing
UPDATE fw_leads SET notes = 'scoped' WHERE id = 2 RETURNING id, contract_value, notes;
INSERT INTO fw_leads (id, owner_id, contract_value) VALUES (10, 'u2', 5);
INSERT INTO fw_leads (id, owner_id, contract_value) VALUES (10, 'u1', 5) RETURNING id, contract_value;
INSERT INTO fw_leads (id, owner_id) VALUES (11, 'u2') RETURNING id, contract_value;
-- ON CONFLICT: the proposed row is in scope, the existing row is not
INSERT INTO fw_leads (id, owner_id, contract_value) VALUES (2, 'u1', 7)
  ON CONFLICT (id) DO UPDATE SET contract_value = EXCLUDED.contract_value;
INSERT INTO fw_leads (id, owner_id, contract_value) VALUES (10, 'u1', 8)
  ON CONFLICT (id) DO UPDATE SET contract_value = EXCLUDED.contract_value RETURNING id, contract_value;
-- MERGE: the existing row of an update action must be in scope
MERGE INTO fw_leads t USING (VALUES (2, 1)) s(id, cv) ON t.id = s.id
  WHEN MATCHED THEN UPDATE SET contract_value = s.cv;
MERGE INTO fw_leads t USING (VALUES (12, 'u2', 1)) s(id, owner_id, cv) ON t.id = s.id
  WHEN NOT MATCHED THEN INSERT (id, owner_id, contract_value) VALUES (s.id, s.owner_id, s.cv);
-- a prepared statement is checked again at each execution
PREPARE fw_set(int, numeric) AS UPDATE fw_leads SET contract_value = $2 WHERE id = $1;
EXECUTE fw_set(1, 14000);
EXECUTE fw_set(2, 14000);
DEALLOCATE fw_set;
RESET ROLE;
SELECT id, owner_id, contract_value, notes FROM fw_leads ORDER BY id;

-- Two scoped fields in one UPDATE, the first scope with a subquery, the
-- second without: each row is checked against both.
CREATE TABLE fw_allowed (id int);
INSERT INTO fw_allowed VALUES (1), (2);
GRANT SELECT ON fw_allowed TO fw_users;
CREATE TABLE fw_pair (id int PRIMARY KEY, owner_id text, a text, b text);
INSERT INTO fw_pair VALUES (1, 'u1', 'a1', 'b1'), (2, 'u2', 'a2', 'b2'), (3, 'u1', 'a3', 'b3');
GRANT SELECT, UPDATE ON fw_pair TO fw_users;
SELECT crmperm.manage_table('fw_pair', owner_column => 'owner_id');
SELECT crmperm.define_scope('fw_pair', 'listed', 'id IN (SELECT id FROM public.fw_allowed)');
SELECT crmperm.protect_field('fw_pair', 'a');
SELECT crmperm.protect_field('fw_pair', 'b');
SELECT crmperm.create_permission_set('FW pair');
SELECT crmperm.grant('FW pair', 'fw_pair', ARRAY['read', 'update']);
SELECT crmperm.grant_field('FW pair', 'fw_pair', 'a', ARRAY['read', 'update'], 'listed');
SELECT crmperm.grant_field('FW pair', 'fw_pair', 'b', ARRAY['read', 'update'], 'owned');
SELECT crmperm.assign_permission_set('fw_scoped', 'FW pair');
SET ROLE fw_scoped;
SELECT * FROM fw_pair ORDER BY id;
UPDATE fw_pair SET a = 'x', b = 'y' WHERE id = 1;
UPDATE fw_pair SET a = 'x', b = 'y' WHERE id = 2;   -- listed, not owned: b refused
UPDATE fw_pair SET a = 'x', b = 'y' WHERE id = 3;   -- owned, not listed: a refused
RESET ROLE;
SELECT * FROM fw_pair ORDER BY id;
SELECT crmperm.unmanage_table('fw_pair');
DROP TABLE fw_pair, fw_allowed;
SELECT crmperm.drop_permission_set('FW pair');

-- cleanup
SELECT crmperm.unmanage_table('fw_leads');
DROP TABLE fw_leads;
SELECT crmperm.drop_role(r) FROM unnest(ARRAY['FW Sales Manager', 'FW Sales Rep', 'FW Support Agent']) r;
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['FW rep', 'FW agent', 'FW manager', 'FW scoped']) n;
DELETE FROM crmperm.principals
 WHERE principal IN ('fw_rep'::regrole, 'fw_manager'::regrole, 'fw_scoped'::regrole, 'fw_admin'::regrole);
DROP ROLE fw_rep, fw_agent, fw_manager, fw_scoped, fw_admin, fw_owner, fw_users;

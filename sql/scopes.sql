-- Row scopes through row security: owned, team, department; writes outside
-- the scope are named denials; quals stay index-friendly.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/plan.sql

CREATE TABLE deals (id int PRIMARY KEY, owner_id text, team_id text, dept text, amount int);
CREATE INDEX ON deals (owner_id);
INSERT INTO deals VALUES (1, 'u1', 't1', 'd1', 10), (2, 'u2', 't1', 'd1', 20),
                         (3, 'u3', 't2', 'd2', 30), (4, NULL, NULL, NULL, 40);
CREATE ROLE sc_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON deals TO sc_users;
CREATE ROLE sc_owner LOGIN IN ROLE sc_users;
CREATE ROLE sc_team LOGIN IN ROLE sc_users;
CREATE ROLE sc_dept LOGIN IN ROLE sc_users;
CREATE ROLE sc_none LOGIN IN ROLE sc_users;   -- owned scope, but no attributes
CREATE ROLE sc_both LOGIN IN ROLE sc_users;   -- owned via one set, team via another

SELECT crmperm.manage_table('deals', owner_column => 'owner_id', team_column => 'team_id',
                            department_column => 'dept');
SELECT crmperm.create_permission_set('Own');
SELECT crmperm.grant('Own', 'deals', ARRAY['read', 'create', 'update', 'delete'], 'owned');
SELECT crmperm.create_permission_set('Team');
SELECT crmperm.grant('Team', 'deals', ARRAY['read', 'update'], 'team');
SELECT crmperm.create_permission_set('Dept');
SELECT crmperm.grant('Dept', 'deals', ARRAY['read'], 'department');
SELECT crmperm.assign_permission_set('sc_owner', 'Own');
SELECT crmperm.assign_permission_set('sc_team', 'Team');
SELECT crmperm.assign_permission_set('sc_dept', 'Dept');
SELECT crmperm.assign_permission_set('sc_none', 'Own');
SELECT crmperm.assign_permission_set('sc_both', 'Own');
SELECT crmperm.assign_permission_set('sc_both', 'Team');
SELECT crmperm.set_principal('sc_owner', user_id => 'u1');
SELECT crmperm.set_principal('sc_team', user_id => 'u9', team_ids => ARRAY['t1']);
SELECT crmperm.set_principal('sc_dept', department_ids => ARRAY['d2', 'd3']);
SELECT crmperm.set_principal('sc_both', user_id => 'u3', team_ids => ARRAY['t1']);

SET ROLE sc_owner;
SELECT id FROM deals ORDER BY id;
SELECT crmperm.user_id(), crmperm.team_ids(), crmperm.department_ids(), crmperm.tenant_id();
UPDATE deals SET amount = amount + 1 RETURNING id;          -- only its own row
DELETE FROM deals WHERE id = 2;                             -- out of scope: nothing
INSERT INTO deals VALUES (5, 'u1', 't1', 'd1', 50);         -- in scope
INSERT INTO deals VALUES (6, 'u2', 't1', 'd1', 60);         -- outside: named denial
UPDATE deals SET owner_id = 'u2' WHERE id = 1;              -- cannot move a row out
SET ROLE sc_team;
SELECT id FROM deals ORDER BY id;
UPDATE deals SET team_id = 't2' WHERE id = 2;
INSERT INTO deals VALUES (7, 'u9', 't1', 'd1', 70);         -- no create at all
SET ROLE sc_dept;
SELECT id FROM deals ORDER BY id;
SET ROLE sc_none;
SELECT id FROM deals ORDER BY id;                           -- NULL never matches
INSERT INTO deals VALUES (8, NULL, NULL, NULL, 0);
SET ROLE sc_both;
SELECT id FROM deals ORDER BY id;                           -- owned OR team
RESET ROLE;

-- The injected qual keeps the column bare: the index is usable.
SET enable_seqscan = off;
SET ROLE sc_owner;
SELECT * FROM pg_temp.plan($q$(COSTS OFF) SELECT * FROM deals$q$);
SET ROLE sc_team;
SELECT * FROM pg_temp.plan($q$(COSTS OFF) SELECT * FROM deals$q$);
RESET ROLE;
RESET enable_seqscan;

-- Partitions created or attached later are secured too: queried directly they
-- show the same rows.
CREATE TABLE visits (id int, owner_id text) PARTITION BY RANGE (id);
CREATE TABLE visits_1 PARTITION OF visits FOR VALUES FROM (0) TO (10);
INSERT INTO visits VALUES (1, 'u1'), (2, 'u2');
GRANT SELECT ON visits, visits_1 TO sc_users;
SELECT crmperm.manage_table('visits', owner_column => 'owner_id');
SELECT crmperm.grant('Own', 'visits', ARRAY['read'], 'owned');
CREATE TABLE visits_2 PARTITION OF visits FOR VALUES FROM (10) TO (20);
CREATE TABLE visits_3 (id int, owner_id text);
ALTER TABLE visits ATTACH PARTITION visits_3 FOR VALUES FROM (20) TO (30);
CREATE TABLE unrelated (id int) PARTITION BY RANGE (id);
CREATE TABLE unrelated_1 PARTITION OF unrelated FOR VALUES FROM (0) TO (10);
INSERT INTO visits VALUES (11, 'u1'), (12, 'u2'), (21, 'u1'), (22, 'u2');
GRANT SELECT ON visits_2, visits_3 TO sc_users;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relname LIKE 'visits%' OR relname LIKE 'unrelated%' ORDER BY 1;
SET ROLE sc_owner;
SELECT * FROM visits ORDER BY id;
SELECT * FROM visits_2;
SELECT * FROM visits_3;
RESET ROLE;
SELECT crmperm.unmanage_table('visits');
DROP TABLE visits, unrelated;

-- An attribute change reaches cached plans at once.
SET plan_cache_mode = force_generic_plan;
SET ROLE sc_owner;
PREPARE mine AS SELECT id FROM deals ORDER BY id;
EXECUTE mine;
RESET ROLE;
SELECT crmperm.set_principal('sc_owner', user_id => 'u3');
SET ROLE sc_owner;
EXECUTE mine;
SET ROLE sc_team;
EXECUTE mine;
RESET ROLE;
DEALLOCATE mine;
RESET plan_cache_mode;

-- A change to a managed table itself (here its owner, who is exempt by
-- identity) is seen at once, without reloading the principals.
ANALYZE deals;
SET ROLE sc_dept;
SELECT count(*) FROM deals;
RESET ROLE;
ALTER TABLE deals OWNER TO sc_dept;
SET ROLE sc_dept;
SELECT count(*) FROM deals;
RESET ROLE;
ALTER TABLE deals OWNER TO CURRENT_USER;
SET ROLE sc_dept;
SELECT count(*) FROM deals;
RESET ROLE;

-- cleanup
SELECT crmperm.unmanage_table('deals');
DROP TABLE deals;
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['Own', 'Team', 'Dept']) n;
DELETE FROM crmperm.set_assignments;
DELETE FROM crmperm.principals;
DROP ROLE sc_owner, sc_team, sc_dept, sc_none, sc_both, sc_users;

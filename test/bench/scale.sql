-- make bench: the scale databases.  One accounts table t_scale (as in
-- setup.sql) that bench reads and updates with scope owned, in a catalog of
--   :tables     managed tables (t_scale and :tables - 1 small ones),
--   :principals principals with attributes (bench and :principals - 1 roles
--               p1 .. created by inner.sh), each assigned a CRM role,
--   :depth      CRM roles in a chain L1 <- L2 <- ... (L1 is the root); each
--               level holds one permission set S<i> with grants on a share of
--               the tables.  bench is assigned the deepest role, and its grant
--               on t_scale sits in the root's set: every level is inherited.
-- Run with tables=1, principals=1, depth=1 for the baseline.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION crmperm;

CREATE TABLE t_scale (aid int PRIMARY KEY, owner_id text NOT NULL, bid int NOT NULL,
                      abalance int NOT NULL, filler char(84)) WITH (autovacuum_enabled = off);
INSERT INTO t_scale SELECT g, 'u' || (g % 100), 1, 0, '' FROM generate_series(1, 100000) g;
CREATE INDEX ON t_scale (owner_id);
GRANT SELECT, UPDATE ON t_scale TO bench;
CREATE TABLE bench_history (aid int, delta int, mtime timestamp, filler char(22))
    WITH (autovacuum_enabled = off);
GRANT INSERT ON bench_history TO bench;

-- The role chain and one permission set per level.
SELECT crmperm.create_role('L' || i, parent => CASE WHEN i > 1 THEN 'L' || (i - 1) END)
  FROM generate_series(1, :depth) i ORDER BY i;
SELECT crmperm.create_permission_set('S' || i), crmperm.add_to_role('L' || i, 'S' || i)
  FROM generate_series(1, :depth) i ORDER BY i;

-- Principals, assigned before the tables are managed: each admin call
-- invalidates every managed table, so this order keeps the setup short.  It
-- changes nothing about what is measured.
SELECT crmperm.set_principal(format('p%s', i)::regrole, user_id => format('u%s', i),
                             team_ids => ARRAY[format('team%s', i % 50)]),
       crmperm.assign_role(format('p%s', i)::regrole, 'L' || (1 + i % :depth))
  FROM generate_series(1, :principals - 1) i;
SELECT crmperm.set_principal('bench', user_id => 'u0', team_ids => ARRAY['team0']);
SELECT crmperm.assign_role('bench', 'L' || :depth);

-- The other managed tables, spread over the levels' permission sets.
SELECT format('CREATE TABLE %I (id int PRIMARY KEY, owner_id text, team_id text, v int); '
              'GRANT SELECT, UPDATE ON %I TO bench', 'o' || i, 'o' || i)
  FROM generate_series(1, :tables - 1) i \gexec
SELECT crmperm.manage_table('t_scale', owner_column => 'owner_id');
SELECT crmperm.manage_table(('o' || i)::regclass, owner_column => 'owner_id',
                            team_column => 'team_id')
  FROM generate_series(1, :tables - 1) i;
SELECT crmperm.grant('S' || (1 + i % :depth), 'o' || i, ARRAY['read', 'update'],
                     scope => CASE WHEN i % 2 = 0 THEN 'owned' ELSE 'team' END)
  FROM generate_series(1, :tables - 1) i;
SELECT crmperm.grant('S1', 't_scale', ARRAY['read', 'update'], scope => 'owned');

-- Statistics from every row (the sample is 300 x the target), so twin tables
-- get the same statistics and the planner does the same work on both.
SET default_statistics_target = 400;
VACUUM ANALYZE;
\pset tuples_only on
SELECT format('catalog: %s managed tables, %s principals, %s CRM roles, %s role assignments, %s object grants',
              (SELECT count(*) FROM crmperm.resources), (SELECT count(*) FROM crmperm.principals),
              (SELECT count(*) FROM crmperm.roles), (SELECT count(*) FROM crmperm.role_assignments),
              (SELECT count(*) FROM crmperm.object_grants));

-- A million shares: how a principal's read uses the indexes (run by hand in a
-- throwaway cluster: pg_virtualenv -o shared_preload_libraries=crmperm psql -f test/bench/shares.sql).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION crmperm;
CREATE TABLE accounts (id int PRIMARY KEY, owner_id text, name text);
INSERT INTO accounts SELECT g, 'u' || (g % 1000), 'a' || g FROM generate_series(1, 200000) g;
CREATE INDEX ON accounts (owner_id);
CREATE ROLE rep LOGIN;
GRANT SELECT ON accounts TO rep;
SELECT crmperm.manage_table('accounts', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Rep');
SELECT crmperm.grant('Rep', 'accounts', ARRAY['read'], 'owned');
SELECT crmperm.assign_permission_set('rep', 'Rep');
SELECT crmperm.set_principal('rep', user_id => 'u1');
SELECT crmperm.share('accounts', 5, 'rep', ARRAY['read']);
-- a million other shares, with teams
INSERT INTO crmperm.record_access (resource, key, kind, team, actions, granted_by, owner_value)
SELECT 'accounts', (g % 200000 + 1)::text, 'share', 'team' || g, ARRAY['read'], 'x', 'u' || ((g % 200000 + 1) % 1000)
  FROM generate_series(1, 1000000) g;
ANALYZE;
SELECT count(*) FROM crmperm.record_access;
SET ROLE rep;
\timing on
SELECT count(*) FROM accounts;
SELECT count(*) FROM accounts;
SELECT name FROM accounts WHERE id = 5;
SELECT name FROM accounts WHERE id = 5;
\timing off
EXPLAIN (COSTS OFF) SELECT name FROM accounts WHERE id = 5;
EXPLAIN (COSTS OFF) SELECT count(*) FROM accounts;

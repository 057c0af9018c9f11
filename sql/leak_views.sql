-- Leak path: views.  CRUD through a view is checked as the view owner, as
-- PostgreSQL checks privileges; row scopes are built for the current role
-- only, so:
--   * a view owned by another governed role (or by the table owner) shows
--     no rows: fail closed;
--   * a security_invoker view applies the caller's scope throughout: the
--     recommended kind;
--   * a view owned by a superuser is the superuser's definer view: it shows
--     what the superuser sees (PostgreSQL's definer semantics;
--     crmperm.lint() is to report it).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE lv_deals (id int PRIMARY KEY, name text, owner_id text, team_id text, amount int);
INSERT INTO lv_deals VALUES (1, 'own-u1', 'u1', 't1', 10), (2, 'team-u2', 'u2', 't1', 20),
                            (3, 'hidden-u3', 'u3', 't2', 30), (4, 'hidden-null', NULL, NULL, 40);
CREATE ROLE lv_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON lv_deals TO lv_users;
CREATE ROLE lv_rep LOGIN IN ROLE lv_users;      -- owned: row 1
CREATE ROLE lv_team LOGIN IN ROLE lv_users;     -- team t1: rows 1 and 2
CREATE ROLE lv_nobody LOGIN IN ROLE lv_users;   -- no grant at all
CREATE ROLE lv_owner LOGIN;                     -- owns the table
ALTER TABLE lv_deals OWNER TO lv_owner;
SELECT crmperm.manage_table('lv_deals', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.create_permission_set('LV own');
SELECT crmperm.grant('LV own', 'lv_deals', ARRAY['read', 'create', 'update', 'delete'], 'owned');
SELECT crmperm.create_permission_set('LV team');
SELECT crmperm.grant('LV team', 'lv_deals', ARRAY['read', 'update'], 'team');
SELECT crmperm.assign_permission_set('lv_rep', 'LV own');
SELECT crmperm.assign_permission_set('lv_team', 'LV team');
SELECT crmperm.set_principal('lv_rep', user_id => 'u1');
SELECT crmperm.set_principal('lv_team', user_id => 'u9', team_ids => ARRAY['t1']);

CREATE FUNCTION lv_leak(text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS
$$ BEGIN RAISE NOTICE 'lv_leak saw %', $1; RETURN true; END $$;

CREATE VIEW lv_by_rep AS SELECT id, name FROM lv_deals;
ALTER VIEW lv_by_rep OWNER TO lv_rep;
CREATE VIEW lv_by_nobody AS SELECT id, name FROM lv_deals;
ALTER VIEW lv_by_nobody OWNER TO lv_nobody;
CREATE VIEW lv_by_owner AS SELECT id, name FROM lv_deals;
ALTER VIEW lv_by_owner OWNER TO lv_owner;
CREATE VIEW lv_by_super AS SELECT id, name FROM lv_deals;            -- owned by the superuser
CREATE VIEW lv_invoker WITH (security_invoker) AS SELECT id, name, amount FROM lv_deals;
CREATE VIEW lv_barrier WITH (security_barrier) AS
  SELECT id, name FROM lv_deals WHERE amount > 0;
ALTER VIEW lv_barrier OWNER TO lv_rep;
CREATE VIEW lv_barrier_invoker WITH (security_barrier, security_invoker) AS
  SELECT id, name FROM lv_deals WHERE amount > 0;
CREATE VIEW lv_leaky_invoker WITH (security_invoker) AS   -- a leaky function inside the view
  SELECT id, name FROM lv_deals WHERE lv_leak(name);
GRANT SELECT, UPDATE ON lv_by_rep, lv_by_nobody, lv_by_owner, lv_by_super, lv_invoker,
  lv_barrier, lv_barrier_invoker, lv_leaky_invoker TO lv_users;

-- A plain view owned by a governed role: its owner sees its own rows through
-- it, any other caller sees nothing (fail closed).
SET ROLE lv_rep;
SELECT * FROM lv_by_rep ORDER BY id;
SET ROLE lv_team;
SELECT * FROM lv_by_rep ORDER BY id;
UPDATE lv_by_rep SET name = 'changed' RETURNING id;
-- Owned by a role without read: a denial naming the table and the view owner.
SELECT * FROM lv_by_nobody;
RESET ROLE;

-- Owned by the table owner: the owner is exempt from crmperm's checks, but
-- row security is forced and the policies are built for the caller, whom
-- the view owner is not: no rows.  The owner itself sees every row.
SET ROLE lv_rep;
SELECT * FROM lv_by_owner ORDER BY id;
SET ROLE lv_owner;
SELECT * FROM lv_by_owner ORDER BY id;
RESET ROLE;

-- security_invoker: the caller's scope, for reads and writes.
SET ROLE lv_rep;
SELECT * FROM lv_invoker ORDER BY id;
UPDATE lv_invoker SET amount = amount + 1 RETURNING id, amount;
SET ROLE lv_team;
SELECT * FROM lv_invoker ORDER BY id;
UPDATE lv_invoker SET amount = amount WHERE id IN (3, 4) RETURNING id;
SET ROLE lv_nobody;
SELECT * FROM lv_invoker;
RESET ROLE;

-- A leaky function in the caller's WHERE over a view, or inside the view's
-- own definition, only sees rows in scope.
SET client_min_messages = notice;
SET ROLE lv_rep;
SELECT id FROM lv_invoker WHERE lv_leak(name);
SELECT id FROM lv_leaky_invoker;
SELECT id FROM lv_barrier_invoker WHERE lv_leak(name);
SET ROLE lv_team;
SELECT id FROM lv_leaky_invoker ORDER BY id;
SELECT id FROM lv_barrier_invoker WHERE lv_leak(name) ORDER BY id;
-- views owned by another governed role or by the table owner: nothing at all
SELECT id FROM lv_barrier WHERE lv_leak(name);
SELECT id FROM lv_by_rep WHERE lv_leak(name);
SELECT id FROM lv_by_owner WHERE lv_leak(name);
RESET ROLE;
SET client_min_messages = warning;

-- A view owned by a superuser is the superuser's: PostgreSQL checks the
-- table as the view owner, who bypasses row security and crmperm, so every
-- row shows, and a write through it is the superuser's write too.  This is
-- PostgreSQL's definer-view semantics, not a crmperm hole: do not publish
-- superuser-owned views over managed tables (crmperm.lint() is to report
-- them).
SET ROLE lv_rep;
SELECT * FROM lv_by_super ORDER BY id;
BEGIN;
WITH u AS (UPDATE lv_by_super SET name = name RETURNING id) SELECT id FROM u ORDER BY id;
ROLLBACK;
RESET ROLE;

-- A materialized view holds what its owner saw when it was refreshed.
CREATE MATERIALIZED VIEW lv_mat AS SELECT id, name FROM lv_deals WITH NO DATA;
ALTER MATERIALIZED VIEW lv_mat OWNER TO lv_rep;
REFRESH MATERIALIZED VIEW lv_mat;     -- runs as the owner, lv_rep
SELECT * FROM lv_mat ORDER BY id;

-- cleanup
DROP MATERIALIZED VIEW lv_mat;
DROP VIEW lv_by_rep, lv_by_nobody, lv_by_owner, lv_by_super, lv_invoker, lv_barrier,
  lv_barrier_invoker, lv_leaky_invoker;
DROP FUNCTION lv_leak(text);
SELECT crmperm.unmanage_table('lv_deals');
DROP TABLE lv_deals;
SELECT crmperm.drop_permission_set('LV own');
SELECT crmperm.drop_permission_set('LV team');
DELETE FROM crmperm.principals WHERE principal IN ('lv_rep'::regrole, 'lv_team'::regrole);
DROP ROLE lv_rep, lv_team, lv_nobody, lv_owner, lv_users;

-- Plans follow the principal: prepared statements (generic plans), PL/pgSQL
-- cached plans, SQL functions and cursors give each role its own rows after
-- SET ROLE, and see a grant, a revoke, an attribute change or a role
-- membership change at once (same transaction), and a rollback; an expiring
-- assignment stops counting at that moment, in cached plans too.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE pl_deals (id int PRIMARY KEY, owner_id text, team_id text, amount int);
INSERT INTO pl_deals VALUES (1, 'u1', 't1', 0), (2, 'u2', 't1', 0), (3, 'u3', 't2', 0),
                            (4, 'u1', 't2', 0), (5, 'u4', 't3', 0), (6, NULL, NULL, 0);
CREATE ROLE pl_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON pl_deals TO pl_users;
CREATE ROLE pl_owner LOGIN IN ROLE pl_users;   -- owned: u1
CREATE ROLE pl_team LOGIN IN ROLE pl_users;    -- team: t1
CREATE ROLE pl_all LOGIN IN ROLE pl_users;     -- all rows
CREATE ROLE pl_reader LOGIN IN ROLE pl_users;  -- read only, all rows
CREATE ROLE pl_temp LOGIN IN ROLE pl_users;    -- gets and loses grants
GRANT SELECT, INSERT, UPDATE, DELETE ON pl_deals TO pl_temp;   -- native privileges even with NOINHERIT
CREATE ROLE pl_group NOLOGIN;                  -- a PostgreSQL role with an assignment
CREATE ROLE pl_exp LOGIN IN ROLE pl_users;     -- owned, plus wide access that expires
CREATE ROLE pl_hook LOGIN IN ROLE pl_users;    -- create only, and it expires
CREATE ROLE pl_mid NOLOGIN;                    -- pl_temp -> pl_mid -> pl_group
CREATE ROLE pl_tmpgrp NOLOGIN;                 -- a PostgreSQL role whose assignment expires
CREATE ROLE pl_inh LOGIN IN ROLE pl_users, pl_tmpgrp;   -- inherits only that

SELECT crmperm.manage_table('pl_deals', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.create_permission_set('Plans own');
SELECT crmperm.grant('Plans own', 'pl_deals', ARRAY['read', 'create', 'update'], 'owned');
SELECT crmperm.create_permission_set('Plans team');
SELECT crmperm.grant('Plans team', 'pl_deals', ARRAY['read', 'update'], 'team');
SELECT crmperm.create_permission_set('Plans all');
SELECT crmperm.grant('Plans all', 'pl_deals', ARRAY['read', 'update']);
SELECT crmperm.create_permission_set('Plans read');
SELECT crmperm.grant('Plans read', 'pl_deals', ARRAY['read']);
SELECT crmperm.create_permission_set('Plans extra');   -- empty for now
SELECT crmperm.create_permission_set('Plans group');
SELECT crmperm.grant('Plans group', 'pl_deals', ARRAY['read']);
SELECT crmperm.create_permission_set('Plans wide');
SELECT crmperm.grant('Plans wide', 'pl_deals', ARRAY['read', 'update']);
SELECT crmperm.create_permission_set('Plans capture');
SELECT crmperm.grant('Plans capture', 'pl_deals', ARRAY['create']);
SELECT crmperm.create_role('Plans wide role');
SELECT crmperm.add_to_role('Plans wide role', 'Plans wide');
SELECT crmperm.assign_permission_set('pl_owner', 'Plans own');
SELECT crmperm.assign_permission_set('pl_team', 'Plans team');
SELECT crmperm.assign_permission_set('pl_all', 'Plans all');
SELECT crmperm.assign_permission_set('pl_reader', 'Plans read');
SELECT crmperm.assign_permission_set('pl_temp', 'Plans extra');
SELECT crmperm.assign_permission_set('pl_group', 'Plans group');
SELECT crmperm.assign_permission_set('pl_exp', 'Plans own');
SELECT crmperm.set_principal('pl_owner', user_id => 'u1');
SELECT crmperm.set_principal('pl_team', user_id => 'u9', team_ids => ARRAY['t1']);
SELECT crmperm.set_principal('pl_temp', user_id => 'u2', team_ids => ARRAY['t2']);
SELECT crmperm.set_principal('pl_exp', user_id => 'u1');

CREATE FUNCTION pl_visible() RETURNS text LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
  r text;
BEGIN
  SELECT count(*) || ' ' || coalesce(array_agg(id ORDER BY id)::text, '{}') INTO r FROM pl_deals;
  RETURN r;
END $$;
CREATE FUNCTION pl_bump() RETURNS int[] LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
  r int[];
BEGIN
  WITH u AS (UPDATE pl_deals SET amount = amount + 1 RETURNING id)
  SELECT array_agg(id ORDER BY id) INTO r FROM u;
  RETURN r;
END $$;
CREATE FUNCTION pl_sql_ids() RETURNS SETOF int LANGUAGE sql STABLE AS   -- inlined
  $$ SELECT id FROM pl_deals ORDER BY id $$;
CREATE FUNCTION pl_sql_count() RETURNS bigint LANGUAGE sql STABLE AS   -- not inlined
  $$ SELECT count(*) FROM pl_deals $$;

SET plan_cache_mode = force_generic_plan;

-- 1. One prepared statement, generic plan, each role its own rows.
PREPARE ids AS SELECT array_agg(id ORDER BY id) AS ids FROM pl_deals;
PREPARE one(int) AS SELECT id, owner_id, team_id FROM pl_deals WHERE id = $1;
PREPARE bump(int) AS
  WITH u AS (UPDATE pl_deals SET amount = amount + $1 RETURNING id)
  SELECT array_agg(id ORDER BY id) AS bumped FROM u;
PREPARE via_fn AS SELECT pl_sql_count();
EXECUTE ids;                   -- superuser: every row
SET ROLE pl_owner;
EXECUTE ids;
EXECUTE one(1);
EXECUTE one(2);                -- not its row
EXECUTE bump(1);
EXECUTE via_fn;
SET ROLE pl_team;
EXECUTE ids;
EXECUTE one(1);
EXECUTE one(4);                -- another team
EXECUTE bump(1);
EXECUTE via_fn;
SET ROLE pl_all;
EXECUTE ids;
EXECUTE one(4);
EXECUTE bump(1);
EXECUTE via_fn;
SET ROLE pl_owner;             -- back again: not the previous role's plan
EXECUTE ids;
EXECUTE via_fn;
SET ROLE pl_reader;
EXECUTE ids;
EXECUTE bump(1);               -- read only
SET ROLE pl_hook;              -- no assignment yet
EXECUTE ids;
RESET ROLE;
SELECT id, amount FROM pl_deals ORDER BY id;
SELECT name, generic_plans > 0 AS generic, custom_plans FROM pg_prepared_statements
 WHERE name IN ('ids', 'one', 'bump', 'via_fn') ORDER BY name;

-- 2. PL/pgSQL (SECURITY INVOKER): the cached plans follow the caller.
SET ROLE pl_owner;
SELECT pl_visible();
SELECT pl_bump();
SET ROLE pl_team;
SELECT pl_visible();
SELECT pl_bump();
SET ROLE pl_all;
SELECT pl_visible();
SELECT pl_bump();
SET ROLE pl_owner;
SELECT pl_visible();
SELECT pl_bump();
SET ROLE pl_reader;
SELECT pl_visible();
SELECT pl_bump();
RESET ROLE;
SELECT id, amount FROM pl_deals ORDER BY id;

-- 3. SQL functions.
SET ROLE pl_owner;
SELECT array_agg(i) FROM pl_sql_ids() i;
SELECT pl_sql_count();
SET ROLE pl_team;
SELECT array_agg(i) FROM pl_sql_ids() i;
SELECT pl_sql_count();
SET ROLE pl_all;
SELECT array_agg(i) FROM pl_sql_ids() i;
SELECT pl_sql_count();
SET ROLE pl_hook;
SELECT pl_sql_count();
RESET ROLE;

-- 4. Cursors: the role current at DECLARE.
BEGIN;
SET ROLE pl_owner;
DECLARE c_owner CURSOR FOR SELECT id FROM pl_deals ORDER BY id;
FETCH 1 FROM c_owner;
FETCH ALL FROM c_owner;
SET ROLE pl_team;
DECLARE c_team CURSOR FOR SELECT id FROM pl_deals ORDER BY id;
FETCH ALL FROM c_team;
SET ROLE pl_all;
DECLARE c_all SCROLL CURSOR FOR SELECT id FROM pl_deals ORDER BY id;
FETCH ALL FROM c_all;
FETCH FIRST FROM c_all;
COMMIT;
BEGIN;
SET ROLE pl_hook;
DECLARE c_hook CURSOR FOR SELECT id FROM pl_deals;
ROLLBACK;

-- 5. A grant is seen by the next EXECUTE, in the same transaction.
SET ROLE pl_temp;
EXECUTE ids;                   -- nothing granted yet
RESET ROLE;
BEGIN;
SELECT crmperm.grant('Plans extra', 'pl_deals', ARRAY['read'], 'owned');
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
DECLARE c_temp CURSOR FOR SELECT id FROM pl_deals ORDER BY id;
FETCH ALL FROM c_temp;
RESET ROLE;
SELECT crmperm.grant('Plans extra', 'pl_deals', ARRAY['read'], 'team');   -- replaces owned
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
EXECUTE via_fn;
COMMIT;
RESET ROLE;

-- 6. An attribute change (set_principal), same transaction.
BEGIN;
SELECT crmperm.set_principal('pl_temp', user_id => 'u2', team_ids => ARRAY['t1', 't3']);
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
COMMIT;
RESET ROLE;
SELECT crmperm.set_principal('pl_temp', user_id => 'u2', team_ids => ARRAY['t2']);
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
RESET ROLE;

-- 7. A revoke: the next EXECUTE is denied.
SELECT crmperm.revoke('Plans extra', 'pl_deals', ARRAY['read']);
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
EXECUTE via_fn;
RESET ROLE;
BEGIN;
SELECT crmperm.grant('Plans extra', 'pl_deals', ARRAY['read', 'update'], 'owned');
SET ROLE pl_temp;
EXECUTE ids;
RESET ROLE;
SELECT crmperm.revoke('Plans extra', 'pl_deals', ARRAY['read']);
SET ROLE pl_temp;
EXECUTE ids;                   -- revoked in the same transaction
ROLLBACK;
SELECT crmperm.grant('Plans extra', 'pl_deals', ARRAY['read'], 'owned');

-- 8. Role membership: a principal inherits the assignments of PostgreSQL
-- roles it is a member of.
SET ROLE pl_temp;
EXECUTE ids;
RESET ROLE;
BEGIN;
GRANT pl_group TO pl_temp;
SET ROLE pl_temp;
EXECUTE ids;                   -- rows appear
SELECT pl_visible();
EXECUTE via_fn;
RESET ROLE;
REVOKE pl_group FROM pl_temp;
SET ROLE pl_temp;
EXECUTE ids;                   -- gone, same transaction
SELECT pl_visible();
COMMIT;
RESET ROLE;
GRANT pl_group TO pl_temp;
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
RESET ROLE;
REVOKE pl_group FROM pl_temp;
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
RESET ROLE;
-- through a chain of memberships, and only while pl_temp inherits
GRANT pl_mid TO pl_temp;
SET ROLE pl_temp;
EXECUTE ids;
RESET ROLE;
GRANT pl_group TO pl_mid;
SET ROLE pl_temp;
EXECUTE ids;
RESET ROLE;
-- (15: inheriting is the role's attribute; 16 and later: each grant's
-- INHERIT option, which ALTER ROLE ... NOINHERIT no longer changes)
SELECT current_setting('server_version_num')::int >= 160000 AS grant_inherits \gset
\if :grant_inherits
GRANT pl_mid TO pl_temp WITH INHERIT FALSE;
\else
ALTER ROLE pl_temp NOINHERIT;
\endif
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
RESET ROLE;
\if :grant_inherits
GRANT pl_mid TO pl_temp WITH INHERIT TRUE;
\else
ALTER ROLE pl_temp INHERIT;
\endif
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
RESET ROLE;
REVOKE pl_mid FROM pl_temp;
SET ROLE pl_temp;
EXECUTE ids;
RESET ROLE;

-- 9. Rollbacks: back to before.
BEGIN;
SELECT crmperm.grant('Plans extra', 'pl_deals', ARRAY['read'], 'all');
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
ROLLBACK;
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
RESET ROLE;
BEGIN;
GRANT pl_group TO pl_temp;
SET ROLE pl_temp;
EXECUTE ids;
ROLLBACK;
SET ROLE pl_temp;
EXECUTE ids;
RESET ROLE;
BEGIN;
SELECT crmperm.set_principal('pl_temp', user_id => 'u4', team_ids => ARRAY['t1']);
SET ROLE pl_temp;
EXECUTE ids;
ROLLBACK;
SET ROLE pl_temp;
EXECUTE ids;
RESET ROLE;
BEGIN;
SAVEPOINT s;
SELECT crmperm.grant('Plans extra', 'pl_deals', ARRAY['read'], 'all');
SELECT crmperm.assign_permission_set('pl_hook', 'Plans read');
SET ROLE pl_temp;
EXECUTE ids;
SET ROLE pl_hook;
EXECUTE ids;
RESET ROLE;
ROLLBACK TO SAVEPOINT s;
SET ROLE pl_temp;
EXECUTE ids;
SELECT pl_visible();
SET ROLE pl_hook;
EXECUTE ids;
COMMIT;
RESET ROLE;

-- 10. Expiry: an assignment stops counting at its valid_until, in the
-- prepared statements and PL/pgSQL plans cached while it counted, with no
-- catalog change.  pl_exp keeps its owned rows; pl_hook loses create;
-- pl_inh loses what it inherited from pl_tmpgrp.
PREPARE ins(int) AS INSERT INTO pl_deals VALUES ($1, 'u7', 't7', 0);
SELECT crmperm.assign_permission_set('pl_exp', 'Plans wide', statement_timestamp() + interval '1.2 seconds'),
       crmperm.assign_permission_set('pl_hook', 'Plans capture', statement_timestamp() + interval '1.2 seconds'),
       crmperm.assign_permission_set('pl_tmpgrp', 'Plans read', statement_timestamp() + interval '1.2 seconds');
SET ROLE pl_exp;
EXECUTE ids;                   -- wide
SELECT pl_visible();
SELECT pl_bump();
SET ROLE pl_hook;
EXECUTE ins(10);               -- allowed
SET ROLE pl_inh;
EXECUTE ids;                   -- inherited, wide
SELECT pl_visible();
SET ROLE pl_owner;
EXECUTE ids;
RESET ROLE;
SELECT pg_sleep_until(valid_until + interval '50 milliseconds') FROM crmperm.set_assignments
 WHERE principal = 'pl_exp'::regrole AND permission_set = 'Plans wide';
SET ROLE pl_exp;
EXECUTE ids;                   -- narrow: the same prepared statement
SELECT pl_visible();           -- the same PL/pgSQL plans
SELECT pl_bump();
EXECUTE via_fn;
SET ROLE pl_hook;
EXECUTE ins(11);               -- create has expired
SET ROLE pl_inh;
EXECUTE ids;                   -- the inherited read has expired
SELECT pl_visible();
SET ROLE pl_owner;
EXECUTE ids;
RESET ROLE;
SELECT id FROM pl_deals WHERE id >= 10 ORDER BY id;

-- The same inside one transaction, through a CRM role assigned until a moment.
SELECT crmperm.assign_role('pl_exp', 'Plans wide role', statement_timestamp() + interval '1.2 seconds');
BEGIN;
SET ROLE pl_exp;
EXECUTE ids;                   -- wide
SELECT pl_visible();
RESET ROLE;
SELECT pg_sleep_until(valid_until + interval '50 milliseconds') FROM crmperm.role_assignments
 WHERE principal = 'pl_exp'::regrole AND role = 'Plans wide role';
SET ROLE pl_exp;
EXECUTE ids;                   -- narrow
SELECT pl_visible();
SELECT pl_bump();
COMMIT;
RESET ROLE;
SELECT id, amount FROM pl_deals ORDER BY id;

-- A transaction whose first statement sets its isolation level, right after
-- crmperm's catalog changed (the cache is not reloaded by BEGIN: a reload
-- takes a snapshot, after which the isolation level cannot be set)
SELECT crmperm.grant('Plans read', 'pl_deals', ARRAY['read']);
BEGIN ISOLATION LEVEL SERIALIZABLE;
SHOW transaction_isolation;
COMMIT;
SELECT crmperm.revoke('Plans read', 'pl_deals', ARRAY['read']);
BEGIN;
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SHOW transaction_isolation;
COMMIT;

-- cleanup
RESET plan_cache_mode;
DEALLOCATE ALL;
DROP FUNCTION pl_visible(), pl_bump(), pl_sql_ids(), pl_sql_count();
SELECT crmperm.unmanage_table('pl_deals');
DROP TABLE pl_deals;
SELECT crmperm.drop_role('Plans wide role');
SELECT crmperm.drop_permission_set(n)
  FROM unnest(ARRAY['Plans own', 'Plans team', 'Plans all', 'Plans read', 'Plans extra',
                    'Plans group', 'Plans wide', 'Plans capture']) n;
DELETE FROM crmperm.principals
 WHERE principal IN ('pl_owner'::regrole, 'pl_team', 'pl_temp', 'pl_exp');
DROP ROLE pl_owner, pl_team, pl_all, pl_reader, pl_temp, pl_group, pl_exp, pl_hook, pl_inh,
          pl_mid, pl_tmpgrp, pl_users;

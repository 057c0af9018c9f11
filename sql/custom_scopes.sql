-- Custom scopes: define_scope() validates a predicate once, and it is then
-- one more scope a grant may use, OR-ed with the others.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/plan.sql

CREATE TABLE accts (id int PRIMARY KEY, owner_id text, region text, amount int,
                    closed boolean NOT NULL DEFAULT false);
INSERT INTO accts VALUES (1, 'u1', 'eu', 10, false), (2, 'u2', 'eu', 20, true),
                         (3, 'u3', 'us', 30, false), (4, NULL, NULL, 40, false);
CREATE TABLE acct_team (acct_id int, user_id text);   -- not managed
INSERT INTO acct_team VALUES (3, 'u1');
GRANT SELECT ON acct_team TO PUBLIC;
CREATE ROLE cs_rep LOGIN;
CREATE ROLE cs_other LOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON accts TO cs_rep, cs_other;
SELECT crmperm.manage_table('accts', owner_column => 'owner_id');

-- Valid predicates: columns, constants, crmperm's attribute functions
-- (resolved with search_path pg_catalog, crmperm), subqueries into tables
-- crmperm does not manage.
SELECT crmperm.define_scope('accts', 'open_eu', $$region = 'eu' AND NOT closed$$);
SELECT crmperm.define_scope('accts', 'mine_or_account_team',
    $$owner_id = user_id() OR id IN (SELECT acct_id FROM public.acct_team t
                                     WHERE t.user_id = crmperm.user_id())$$);
SELECT crmperm.define_scope('accts', 'big', $$amount > 100$$);
SELECT crmperm.define_scope('accts', 'big', $$amount >= 30$$);   -- redefined

-- Refused, and nothing is stored.
SELECT crmperm.define_scope('accts', 'bad', $$amount$$);
SELECT crmperm.define_scope('accts', 'bad', $$'yes'$$);
SELECT crmperm.define_scope('accts', 'bad', $$true; DROP TABLE accts$$);
SELECT crmperm.define_scope('accts', 'bad', $$true) OR (true$$);
SELECT crmperm.define_scope('accts', 'bad', $$true FROM pg_authid$$);
SELECT crmperm.define_scope('accts', 'bad', $$true UNION SELECT false$$);
SELECT crmperm.define_scope('accts', 'bad', $$true AS x$$);
SELECT crmperm.define_scope('accts', 'bad', $$'t'::boolean /* $$);
SELECT crmperm.define_scope('accts', 'bad', $$nosuch = 1$$);
SELECT crmperm.define_scope('accts', 'bad', $$random() < 0.5$$);
SELECT crmperm.define_scope('accts', 'bad', $$count(*) > 1$$);
SELECT crmperm.define_scope('accts', 'bad', $$generate_series(1, 2) > 1$$);
SELECT crmperm.define_scope('accts', 'bad', $$id IN (SELECT id FROM public.accts)$$);
SELECT crmperm.define_scope('accts', 'bad', $$EXISTS (SELECT FROM crmperm.principals)$$);
SELECT crmperm.define_scope('accts', 'bad', $$EXISTS (SELECT FROM pg_catalog.pg_roles)$$);
SELECT crmperm.define_scope('accts', 'owned', $$true$$);
SELECT crmperm.define_scope('accts', 'Bad Name', $$true$$);
SELECT crmperm.define_scope('accts', 'x"; DROP TABLE accts; --', $$true$$);
SELECT crmperm.define_scope('accts', NULL, $$true$$);
SELECT crmperm.define_scope('accts', 'bad', NULL);
SELECT crmperm.define_scope('nosuch', 'bad', $$true$$);
SELECT resource, scope, predicate FROM crmperm.scopes ORDER BY scope;

-- Only holders of manage_permissions define scopes.
SET ROLE cs_rep;
SELECT crmperm.define_scope('accts', 'everything', $$true$$);
RESET ROLE;

-- A grant may use a defined scope, and no undefined one.
SELECT crmperm.create_permission_set('CS');
SELECT crmperm.grant('CS', 'accts', ARRAY['read', 'update', 'create'], 'open_eu');
SELECT crmperm.grant('CS', 'accts', ARRAY['delete'], 'mine_or_account_team');
SELECT crmperm.grant('CS', 'accts', ARRAY['read'], 'nosuch');
SELECT crmperm.create_permission_set('Big');
SELECT crmperm.grant('Big', 'accts', ARRAY['read'], 'big');
SELECT crmperm.assign_permission_set('cs_rep', 'CS');
SELECT crmperm.assign_permission_set('cs_other', 'CS');
SELECT crmperm.assign_permission_set('cs_other', 'Big');
SELECT crmperm.set_principal('cs_rep', user_id => 'u1');

SET ROLE cs_rep;
SELECT id FROM accts ORDER BY id;
SELECT * FROM pg_temp.plan($q$(COSTS OFF) SELECT id FROM accts$q$);
UPDATE accts SET amount = amount + 1 RETURNING id;
UPDATE accts SET closed = true WHERE id = 1;                 -- would leave the scope
INSERT INTO accts VALUES (5, 'u1', 'eu', 50, false);         -- inside
INSERT INTO accts VALUES (6, 'u1', 'us', 60, false);         -- outside
BEGIN;
DELETE FROM accts RETURNING id;   -- own rows; 3 (account team) is not readable, and RETURNING needs read
ROLLBACK;
SELECT * FROM pg_temp.plan($q$(COSTS OFF) DELETE FROM accts$q$);
SET ROLE cs_other;                                           -- open_eu or big
SELECT id FROM accts ORDER BY id;
RESET ROLE;

-- The predicate is resolved with crmperm's search path, not the session's:
-- a function or operator of the same name elsewhere changes nothing.
CREATE SCHEMA cs_evil;
GRANT USAGE ON SCHEMA cs_evil TO PUBLIC;
CREATE FUNCTION cs_evil.user_id() RETURNS text LANGUAGE sql AS $$SELECT 'u3'$$;
SET search_path = cs_evil, public;
SET ROLE cs_rep;
BEGIN;
DELETE FROM accts RETURNING id;
ROLLBACK;
RESET ROLE;
RESET search_path;
DROP SCHEMA cs_evil CASCADE;

-- Dropping a scope: refused while grants use it.
SELECT crmperm.drop_scope('accts', 'open_eu');
SELECT crmperm.drop_scope('accts', 'nosuch');
SELECT crmperm.revoke('Big', 'accts', ARRAY['read']);
SELECT crmperm.drop_scope('accts', 'big');
SELECT scope FROM crmperm.scopes ORDER BY scope;

-- cleanup
SELECT crmperm.unmanage_table('accts');
DROP TABLE accts, acct_team;
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['CS', 'Big']) n;
DELETE FROM crmperm.set_assignments;
DELETE FROM crmperm.principals;
DROP ROLE cs_rep, cs_other;

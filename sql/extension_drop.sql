-- DROP EXTENSION crmperm works (also with CASCADE, and again after a new
-- CREATE EXTENSION), with managed tables, grants and principals in place.
-- It fails closed: a table it managed keeps row security enabled and forced
-- with no policy, so nobody but a superuser (or BYPASSRLS) reads it until its
-- owner disables row security -- unmanage_table() first puts it back as it
-- was.  (Found by the new-user walk-through: the drop of crmperm's own
-- tables loaded the decision cache after its functions were gone.)
SET client_min_messages = warning;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT current_database() AS regress_db \gset
CREATE DATABASE crmperm_drop;
\c crmperm_drop
SET client_min_messages = warning;
CREATE EXTENSION crmperm;
CREATE ROLE ed_owner LOGIN;
CREATE ROLE ed_rep LOGIN;
CREATE TABLE ed_deals (id int PRIMARY KEY, owner_id text, secret text);
CREATE TABLE ed_notes (id int PRIMARY KEY, owner_id text);
INSERT INTO ed_deals VALUES (1, 'u1', 's1'), (2, 'u2', 's2');
INSERT INTO ed_notes VALUES (1, 'u1'), (2, 'u2');
ALTER TABLE ed_deals OWNER TO ed_owner;
ALTER TABLE ed_notes OWNER TO ed_owner;
GRANT SELECT ON ed_deals, ed_notes TO ed_rep;
SELECT crmperm.manage_table('ed_deals', owner_column => 'owner_id');
SELECT crmperm.manage_table('ed_notes', owner_column => 'owner_id');
SELECT crmperm.protect_field('ed_deals', 'secret', 'redact');
SELECT crmperm.create_permission_set('ED reps');
SELECT crmperm.grant('ED reps', 'ed_deals', ARRAY['read'], 'owned');
SELECT crmperm.assign_permission_set('ed_rep', 'ED reps');
SELECT crmperm.set_principal('ed_rep', user_id => 'u1');
SET ROLE ed_rep;
SELECT * FROM ed_deals ORDER BY id;
RESET ROLE;
-- unmanaged first: back to PostgreSQL's own rules
SELECT crmperm.unmanage_table('ed_notes');
DROP EXTENSION crmperm;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relname IN ('ed_deals', 'ed_notes') ORDER BY relname;
SET ROLE ed_rep;
SELECT * FROM ed_deals ORDER BY id;       -- fail closed: no policy, no rows
SELECT * FROM ed_notes ORDER BY id;
SET ROLE ed_owner;
SELECT * FROM ed_deals ORDER BY id;       -- forced: the owner too
RESET ROLE;
CREATE EXTENSION crmperm;
SELECT count(*) AS managed FROM crmperm.resources;
DROP EXTENSION crmperm CASCADE;
\c :regress_db
DROP DATABASE crmperm_drop;
DROP ROLE ed_owner, ed_rep;

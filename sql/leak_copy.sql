-- Leak path: COPY TO.  COPY managed TO is rewritten into a query, so row
-- scopes apply exactly as for SELECT; any COPY ... TO reading a managed
-- table needs the system permission export on top of read.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE lc_deals (id int PRIMARY KEY, name text, owner_id text, team_id text);
INSERT INTO lc_deals VALUES (1, 'own-u1', 'u1', 't1'), (2, 'team-u2', 'u2', 't1'),
                            (3, 'hidden-u3', 'u3', 't2'), (4, 'hidden-null', NULL, NULL);
CREATE TABLE lc_events (id int, region text, owner_id text) PARTITION BY LIST (region);
CREATE TABLE lc_events_eu PARTITION OF lc_events FOR VALUES IN ('eu');
CREATE TABLE lc_events_us PARTITION OF lc_events FOR VALUES IN ('us');
INSERT INTO lc_events VALUES (1, 'eu', 'u1'), (2, 'eu', 'u2'), (3, 'us', 'u1'), (4, 'us', 'u2');
CREATE ROLE lc_users NOLOGIN;
GRANT SELECT ON lc_deals, lc_events, lc_events_eu, lc_events_us TO lc_users;
CREATE ROLE lc_rep LOGIN IN ROLE lc_users;      -- owned: row 1; may export
CREATE ROLE lc_team LOGIN IN ROLE lc_users;     -- team t1: rows 1 and 2; may not export
CREATE ROLE lc_owner LOGIN;                     -- owns lc_deals
CREATE ROLE lc_owner_member LOGIN IN ROLE lc_owner, lc_users;
ALTER TABLE lc_deals OWNER TO lc_owner;
SELECT crmperm.manage_table('lc_deals', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.manage_table('lc_events', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('LC own');
SELECT crmperm.grant('LC own', 'lc_deals', ARRAY['read'], 'owned');
SELECT crmperm.grant('LC own', 'lc_events', ARRAY['read'], 'owned');
SELECT crmperm.create_permission_set('LC team');
SELECT crmperm.grant('LC team', 'lc_deals', ARRAY['read'], 'team');
SELECT crmperm.create_permission_set('LC export');
SELECT crmperm.grant_system('LC export', 'export');
SELECT crmperm.assign_permission_set('lc_rep', 'LC own');
SELECT crmperm.assign_permission_set('lc_rep', 'LC export');
SELECT crmperm.assign_permission_set('lc_team', 'LC team');
SELECT crmperm.assign_permission_set('lc_owner_member', 'LC own');
SELECT crmperm.assign_permission_set('lc_owner_member', 'LC export');
SELECT crmperm.set_principal('lc_rep', user_id => 'u1');
SELECT crmperm.set_principal('lc_team', user_id => 'u9', team_ids => ARRAY['t1']);
SELECT crmperm.set_principal('lc_owner_member', user_id => 'u3');
CREATE VIEW lc_invoker WITH (security_invoker) AS SELECT id, name FROM lc_deals;
GRANT SELECT ON lc_invoker TO lc_users;
CREATE FUNCTION lc_leak(text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS
$$ BEGIN RAISE NOTICE 'lc_leak saw %', $1; RETURN true; END $$;

-- Without export: refused, both forms, whatever the scope.
SET ROLE lc_team;
SELECT id FROM lc_deals ORDER BY id;
COPY lc_deals TO STDOUT;
COPY lc_deals (id) TO STDOUT;
COPY (SELECT id FROM lc_deals) TO STDOUT;
COPY (SELECT id FROM lc_invoker) TO STDOUT;
COPY (SELECT 1 AS unrelated) TO STDOUT;    -- no managed table: no export needed
RESET ROLE;

-- With export: only the rows in scope, in every form.
SET ROLE lc_rep;
COPY lc_deals TO STDOUT;
COPY lc_deals (id, name) TO STDOUT WITH (FORMAT csv, HEADER);
COPY (SELECT * FROM lc_deals) TO STDOUT;
COPY (SELECT * FROM lc_deals WHERE id IN (2, 3, 4)) TO STDOUT;
COPY (SELECT * FROM lc_invoker) TO STDOUT;
COPY (SELECT count(*) FROM lc_deals) TO STDOUT;
SET client_min_messages = notice;
COPY (SELECT id FROM lc_deals WHERE lc_leak(name)) TO STDOUT;
SET client_min_messages = warning;
-- partitions, through the parent or directly
COPY (SELECT * FROM lc_events ORDER BY id) TO STDOUT;
COPY lc_events_eu TO STDOUT;
COPY lc_events_us (id) TO STDOUT;
RESET ROLE;

-- COPY of a partitioned table is refused by PostgreSQL ("cannot copy from
-- partitioned table"); crmperm's rewrite into a query must not turn it into
-- an empty export, for a governed role or anyone else.
SET ROLE lc_rep;
COPY lc_events TO STDOUT;
RESET ROLE;
COPY lc_events TO STDOUT;

-- A member of the owning role is governed (only the owner itself is exempt).
SET ROLE lc_owner_member;
COPY lc_deals TO STDOUT;
-- The owner, by identity, and superusers copy every row.
SET ROLE lc_owner;
COPY lc_deals TO STDOUT;
RESET ROLE;
COPY lc_deals TO STDOUT;

-- cleanup
DROP VIEW lc_invoker;
DROP FUNCTION lc_leak(text);
SELECT crmperm.unmanage_table('lc_deals');
SELECT crmperm.unmanage_table('lc_events');
DROP TABLE lc_deals, lc_events;
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['LC own', 'LC team', 'LC export']) n;
DELETE FROM crmperm.principals
 WHERE principal IN ('lc_rep'::regrole, 'lc_team'::regrole, 'lc_owner_member'::regrole);
DROP ROLE lc_rep, lc_team, lc_owner_member, lc_owner, lc_users;

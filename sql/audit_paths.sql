-- Audit paths and the end of a token (issue 13, items 5 and 7): every change
-- to crmperm's catalog is recorded whatever statement makes it (only the rows
-- a COPY ... FROM into the catalog table loads itself are not: pg_restore),
-- and nothing opened under a token stays readable once it ends.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE ap_leads (id int PRIMARY KEY, name text);
INSERT INTO ap_leads VALUES (1, 'Acme'), (2, 'Globex');
CREATE ROLE ap_rep NOLOGIN;
CREATE ROLE ap_rep2 NOLOGIN;
CREATE ROLE ap_app LOGIN;
GRANT SELECT ON ap_leads TO ap_rep;
SELECT crmperm.manage_table('ap_leads', resource => 'ap_leads');
SELECT crmperm.create_permission_set('Ap read');
SELECT crmperm.grant('Ap read', 'ap_leads', ARRAY['read']);
SELECT crmperm.assign_permission_set('ap_rep', 'Ap read');
SELECT crmperm.create_token('ap session', 'ap_rep', ARRAY['ap_leads.read']) AS session_token \gset
SELECT crmperm.create_token('ap brief', 'ap_rep', ARRAY['ap_leads.read'],
                            now() + interval '2 seconds') AS brief_token \gset

-- changes to set_assignments of the roles of this test, as (action, role, command)
CREATE FUNCTION ap_changes() RETURNS TABLE (action text, role text, command text)
LANGUAGE sql AS $$
    SELECT a.action, coalesce(a.after, a.before)->>'principal', a.command
      FROM crmperm.audit_log a
     WHERE a.kind = 'change' AND a.resource = 'set_assignments'
       AND coalesce(a.after, a.before)->>'principal' IN ('ap_rep2', 'ap_loaded')
     ORDER BY a.seq
$$;

-- ---------------------------------------------------------------------------
-- A change made inside a COPY statement is recorded
-- ---------------------------------------------------------------------------
COPY (SELECT crmperm.assign_permission_set('ap_rep2', 'Ap read')) TO STDOUT;
SELECT * FROM ap_changes();
-- COPY into another table whose default calls an admin function
CREATE FUNCTION ap_unassign(r text) RETURNS text LANGUAGE sql AS $$
    SELECT crmperm.unassign_permission_set(r::regrole, 'Ap read')::text
$$;
CREATE TABLE ap_loader (r text, done text DEFAULT ap_unassign('ap_rep2'));
COPY ap_loader (r) FROM STDIN;
ap_rep2
\.
SELECT * FROM ap_changes();
-- a COPY FROM into a crmperm table: the rows it loads itself are not recorded
-- (pg_restore brings back the catalog with the log that recorded it)
CREATE ROLE ap_loaded NOLOGIN;
COPY crmperm.set_assignments (principal, permission_set) FROM STDIN;
ap_loaded	Ap read
\.
SELECT count(*) AS loaded, (SELECT count(*) FROM ap_changes()) AS changes
  FROM crmperm.set_assignments WHERE principal = 'ap_loaded'::regrole;
SELECT crmperm.unassign_permission_set('ap_loaded', 'Ap read');
SELECT * FROM ap_changes();
-- the restore check is crmperm's own
SET ROLE ap_app;
SELECT crmperm._restoring_copy('crmperm.set_assignments');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Cursors under a token
-- ---------------------------------------------------------------------------
SET SESSION AUTHORIZATION ap_app;
-- WITH HOLD is refused under any token, a session token too
SELECT crmperm.authenticate(:'session_token', session => true) IS NOT NULL AS authenticated;
DECLARE c CURSOR WITH HOLD FOR SELECT name FROM ap_leads;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
DECLARE c CURSOR WITH HOLD FOR SELECT name FROM ap_leads;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a cursor opened under the token keeps logout() from ending it
BEGIN;
DECLARE c CURSOR FOR SELECT name FROM ap_leads ORDER BY id;
FETCH 1 FROM c;
SELECT crmperm.logout();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
DECLARE c CURSOR FOR SELECT name FROM ap_leads ORDER BY id;
CLOSE c;
SELECT crmperm.logout();
SELECT current_user;
COMMIT;
-- a held cursor declared in this transaction, before authenticate(), would be
-- filled at commit as the principal
BEGIN;
DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one;
SELECT crmperm.authenticate(:'session_token');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- ... one already held (filled as the login role) is no obstacle
DECLARE h CURSOR WITH HOLD FOR SELECT current_user AS filled_as;
BEGIN;
SELECT crmperm.authenticate(:'session_token') IS NOT NULL AS authenticated;
FETCH ALL FROM h;
COMMIT;
CLOSE h;
-- a transaction token: a cursor a PL/pgSQL function opened under it
RESET SESSION AUTHORIZATION;
CREATE FUNCTION ap_open() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE
    c refcursor := 'ap_fn_cursor';
BEGIN
    OPEN c FOR SELECT name FROM ap_leads ORDER BY id;
    RETURN c;
END
$$;
SET SESSION AUTHORIZATION ap_app;
BEGIN;
SELECT crmperm.authenticate(:'session_token') IS NOT NULL AS authenticated;
SELECT ap_open();
SELECT crmperm.logout();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a prepared statement made under a token runs as whoever executes it later
BEGIN;
SELECT crmperm.authenticate(:'session_token') IS NOT NULL AS authenticated;
PREPARE ap_q AS SELECT current_user AS who, count(*) FROM ap_leads;
EXECUTE ap_q;
SELECT crmperm.logout();
EXECUTE ap_q;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
DEALLOCATE ALL;
-- a cursor opened before the token expired reads nothing after
BEGIN;
SELECT crmperm.authenticate(:'brief_token') IS NOT NULL AS authenticated;
DECLARE c CURSOR FOR SELECT name FROM ap_leads ORDER BY id;
FETCH 1 FROM c;
SELECT pg_sleep(2.2);
FETCH 1 FROM c;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET SESSION AUTHORIZATION;

-- ---------------------------------------------------------------------------
DROP FUNCTION ap_open();
DROP FUNCTION ap_changes();
DROP TABLE ap_loader;
DROP FUNCTION ap_unassign(text);
SELECT crmperm.unassign_permission_set('ap_rep', 'Ap read');
DELETE FROM crmperm.api_tokens WHERE name IN ('ap session', 'ap brief');
SELECT crmperm.unmanage_table('ap_leads');
DROP TABLE ap_leads;
SELECT crmperm.drop_permission_set('Ap read');
DROP ROLE ap_rep, ap_rep2, ap_app, ap_loaded;

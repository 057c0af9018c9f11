-- Every function in schema crmperm that a governed role, a governed role
-- holding every system permission, or an ordinary role without crmperm
-- grants may execute, called with odd arguments (NULL,
-- empty, 10 kB, multibyte, negative, 2-D and huge arrays, OIDs of nothing):
-- errors, never a crash, and no forged audit event (issue 13, item 1).  The
-- functions are found in pg_proc, so a new function is covered without
-- changing this file.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT pg_postmaster_start_time() AS started, pg_backend_pid() AS pid \gset

CREATE TABLE fz_leads (id int PRIMARY KEY, owner_id text, email text, secret text);
INSERT INTO fz_leads VALUES (1, 'u1', 'ada@example.com', 's1');
CREATE ROLE fz_gov;
CREATE ROLE fz_plain;
CREATE ROLE fz_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON fz_leads TO fz_gov, fz_plain, fz_admin;
SELECT crmperm.manage_table('fz_leads', owner_column => 'owner_id');
SELECT crmperm.protect_field('fz_leads', 'email', 'email');
SELECT crmperm.protect_field('fz_leads', 'secret', 'hash');
SELECT crmperm.create_permission_set('fz_set');
SELECT crmperm.grant('fz_set', 'fz_leads', '{read}', 'owned');
SELECT crmperm.assign_permission_set('fz_gov', 'fz_set');
SELECT crmperm.set_principal('fz_gov', user_id => 'u1');
SELECT crmperm.create_permission_set('fz_admins');
SELECT crmperm.grant_system('fz_admins', p)
  FROM unnest(ARRAY['export', 'bulk', 'manage_permissions', 'manage_tokens', 'view_audit']) p;
SELECT crmperm.assign_permission_set('fz_admin', 'fz_admins');

-- odd values per argument type (SQL literals)
CREATE TEMP TABLE fz_values (typ text, n int, lit text);
INSERT INTO fz_values
SELECT 'text', n, v FROM unnest(ARRAY['NULL', $$''$$, $$'fz_forged'$$, $$repeat('x', 10000)$$,
        $$'ü€𝄞 ' || repeat('ß', 3000)$$, $$'-1'$$, $$'fz_leads.read'$$, $$'fz_leads.email.read'$$,
        $$'.'$$, $$'a.b.c.d'$$, $$'export'$$, $$'crm_' || repeat('0', 60)$$]) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'boolean', n, v FROM unnest(ARRAY['NULL', 'false', 'true']) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'name', n, v FROM unnest(ARRAY['NULL', $$''$$, $$repeat('n', 200)$$, $$'email'$$, $$'é'$$]) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'regrole', n, v FROM unnest(ARRAY['NULL', $$'0'$$, $$'999999'$$, $$'4294967295'$$,
        $$'fz_gov'$$, $$'fz_plain'$$]) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'regclass', n, v FROM unnest(ARRAY['NULL', $$'0'$$, $$'999999'$$, $$'fz_leads'$$,
        $$'pg_class'$$]) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'text[]', n, v FROM unnest(ARRAY['NULL', $${}$$, $$'{NULL}'$$, $$'{{read},{update}}'$$,
        $$array_fill('read'::text, ARRAY[100000])$$, $$ARRAY[repeat('x', 10000)]$$,
        $$'[-5:-3]={read,read,read}'$$, $$'{fz_leads.read}'$$]) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'timestamp with time zone', n, v FROM unnest(ARRAY['NULL', $$'-infinity'$$, $$'infinity'$$,
        $$'2000-01-01'$$]) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'integer', n, v FROM unnest(ARRAY['NULL', '-1', '0', '2147483647']) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'bigint', n, v FROM unnest(ARRAY['NULL', '-1', '0', '9223372036854775807']) WITH ORDINALITY u(v, n)
UNION ALL
SELECT 'oid', n, v FROM unnest(ARRAY['NULL', '0', '999999', '4294967295']) WITH ORDINALITY u(v, n);
GRANT SELECT ON fz_values TO PUBLIC;

CREATE TEMP TABLE fz_results (who text, fn text, calls int, ok int, classes text);
GRANT ALL ON fz_results TO PUBLIC;

-- For each function the current role may execute: every argument runs
-- through its values with the others at their first non-NULL value, and
-- then all arguments take their k-th value together.
CREATE FUNCTION pg_temp.fz_run() RETURNS void LANGUAGE plpgsql AS $fz$
DECLARE
    f record;
    call text;
    calls int;
    ok int;
    classes text[];
    nvals int;
    args text[];
    st text;
BEGIN
    FOR f IN SELECT p.oid, p.oid::regprocedure::text AS sig, 
                    (SELECT array_agg(format_type(t, NULL) ORDER BY o)
                       FROM unnest(p.proargtypes) WITH ORDINALITY u(t, o)) AS types,
                    p.pronargs AS nargs, p.prorettype = 'trigger'::regtype AS is_trigger,
                    p.prorettype = 'event_trigger'::regtype AS is_event
               FROM pg_proc p
              WHERE p.pronamespace = 'crmperm'::regnamespace
                AND has_function_privilege(current_user, p.oid, 'EXECUTE')
              ORDER BY 2
    LOOP
        calls := 0; ok := 0; classes := '{}';
        FOR i IN 0 .. f.nargs LOOP          -- i = 0: all arguments together
            SELECT max(n) INTO nvals FROM fz_values
             WHERE i > 0 AND typ = f.types[i]
                OR i = 0 AND typ = ANY (f.types);
            FOR k IN 1 .. coalesce(nvals, 1) LOOP
                args := '{}';
                FOR j IN 1 .. f.nargs LOOP
                    args := args || coalesce(
                        (SELECT v.lit || '::' || f.types[j] FROM fz_values v
                          WHERE v.typ = f.types[j]
                            AND v.n = CASE WHEN i = 0 OR i = j
                                           THEN (k - 1) % (SELECT max(n) FROM fz_values w WHERE w.typ = v.typ) + 1
                                           ELSE 2 END),
                        'NULL::' || f.types[j]);
                END LOOP;
                call := pg_catalog.format('SELECT %s(%s)', f.oid::regproc, array_to_string(args, ', '));
                calls := calls + 1;
                -- a call that succeeds is rolled back (FZ001): the catalog
                -- stays as it was for the next call
                BEGIN
                    EXECUTE call;
                    RAISE SQLSTATE 'FZ001';
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
                    IF st = 'FZ001' THEN
                        ok := ok + 1;
                    ELSIF NOT left(st, 2) = ANY (classes) THEN
                        classes := classes || left(st, 2);
                    END IF;
                END;
            END LOOP;
            EXIT WHEN f.nargs = 0;
        END LOOP;
        INSERT INTO fz_results
        VALUES (current_user, f.sig, calls, ok,
                (SELECT string_agg(c, ',' ORDER BY c) FROM unnest(classes) c));
    END LOOP;
END
$fz$;
GRANT EXECUTE ON FUNCTION pg_temp.fz_run() TO PUBLIC;

-- as each role's own session (SET SESSION AUTHORIZATION): the failed
-- authenticate() calls count against that login's throttle, not against the
-- login running the other tests

SET SESSION AUTHORIZATION fz_gov;
SELECT pg_temp.fz_run();
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION fz_plain;
SELECT pg_temp.fz_run();
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION fz_admin;
SELECT pg_temp.fz_run();
RESET SESSION AUTHORIZATION;

-- what was called, how often, how many calls succeeded, which SQLSTATE
-- classes the others raised (42: refused, 22: bad value, ...)
SELECT fn, who, calls, ok, classes FROM fz_results ORDER BY fn, who;

-- the direct calls of crmperm's check and mask functions: refused, 42501
SET ROLE fz_gov;
SELECT crmperm._in_scope(false, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm._in_tenant(false, 'fz_forged', 'read', 'x');
SELECT crmperm._field_in_scope(NULL, 'fz_forged', 'create', 'owned');
SELECT crmperm._mask_email('ada@example.com');
-- in crmperm's own plans they work: email masked, secret hashed, a write
-- outside the scope denied by _in_scope
SELECT id, email, length(secret) AS hash_length FROM fz_leads;
INSERT INTO fz_leads VALUES (2, 'u2', NULL, NULL);
RESET ROLE;

-- the C functions only the extension owner runs, called directly by a
-- superuser with odd arguments: errors (STRICT: NULL is NULL)
SELECT crmperm._check_mask('fz_leads', 'nosuch', 'null');
SELECT crmperm._check_mask('fz_leads', NULL, 'null') IS NULL AS strict;
SELECT crmperm._check_predicate('fz_leads', NULL) IS NULL AS strict;
SELECT crmperm._check_predicate('fz_leads', repeat('(', 10000));
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm._invalidate();
SELECT crmperm._forget_role(NULL);
SELECT crmperm._caller() IS NOT NULL AS caller;

-- the postmaster never restarted and this session is the one that began
SELECT pg_postmaster_start_time() = :'started' AS same_postmaster,
       pg_backend_pid() = :pid AS same_session;

-- no forged event: none of the audit log's rows names the values the direct
-- calls passed (wait until the writer wrote fz_gov's denials of the INSERT
-- above, which came after every direct call)
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN EXISTS (SELECT FROM crmperm.audit_log a
                           WHERE a.kind = 'denial' AND a.principal = 'fz_gov' AND a.command = 'INSERT');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT kind, principal, resource, action, command FROM crmperm.audit_log
 WHERE principal IN ('fz_gov', 'fz_plain', 'fz_admin') AND kind = 'denial'
   AND (resource ~ 'fz_forged|^$|xxxx' OR resource IS NULL AND action ~ 'fz_forged|^crm_')
 ORDER BY seq;
SELECT count(*) > 0 AS insert_denial_recorded FROM crmperm.audit_log
 WHERE principal = 'fz_gov' AND kind = 'denial' AND command = 'INSERT' AND resource = 'fz_leads';

-- clean up
SELECT crmperm.unassign_permission_set('fz_gov', 'fz_set');
SELECT crmperm.drop_permission_set('fz_set');
SELECT crmperm.unassign_permission_set('fz_admin', 'fz_admins');
SELECT crmperm.drop_permission_set('fz_admins');
SELECT crmperm.unmanage_table('fz_leads');
DROP TABLE fz_leads;
DROP ROLE fz_gov;
DROP ROLE fz_plain;
DROP ROLE fz_admin;

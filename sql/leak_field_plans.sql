-- Leak path: protected fields in plans that outlive a statement or a role.
-- Masks are planned in: a cursor keeps the masks of the role that opened
-- it; prepared statements, generic plans and PL/pgSQL plans are replanned
-- for each role (SET ROLE, SET SESSION AUTHORIZATION) and at once after a
-- field grant, a revoke, a protection, an attribute or membership change,
-- or an expiry.  A field readable on some rows only (scope 'owned') is
-- masked row by row, in views, cursors and prepared statements alike.
-- Masks are built from resolved objects: the hash mask's function runs
-- only where crmperm put it, and no operator or function of the caller's
-- (on its search_path, in pg_temp) is called in a mask's place.
-- Sentinels as in leak_field_paths ('KEY-...' too).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE lfq_deals (id int PRIMARY KEY, name text, owner_id text, secret text, amount int);
INSERT INTO lfq_deals VALUES (1, 'alpha', 'u1', 'SECRET-ALPHA', 111111),
                             (2, 'bravo', 'u2', 'SECRET-BRAVO', 424242);
CREATE TABLE lfq_keys (id int PRIMARY KEY, code text);
INSERT INTO lfq_keys VALUES (1, 'KEY-ALPHA'), (2, 'KEY-BRAVO'), (3, 'KEY-ALPHA');
CREATE ROLE lfq_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON lfq_deals, lfq_keys TO lfq_users;
CREATE ROLE lfq_rep LOGIN IN ROLE lfq_users;      -- every row, no field grant: masks
CREATE ROLE lfq_reader LOGIN IN ROLE lfq_users;   -- every row, reads the fields
CREATE ROLE lfq_owned LOGIN IN ROLE lfq_users;    -- every row, reads the fields of its own
CREATE ROLE lfq_flip LOGIN IN ROLE lfq_users;     -- gets and loses field grants
CREATE ROLE lfq_group NOLOGIN;                    -- holds the field grants, for members
CREATE SCHEMA lfq_evil AUTHORIZATION lfq_rep;     -- lfq_rep's own schema
CREATE FUNCTION lfq_mask_amount(int) RETURNS int LANGUAGE sql IMMUTABLE RETURN 0;
SELECT crmperm.manage_table('lfq_deals', owner_column => 'owner_id');
SELECT crmperm.manage_table('lfq_keys');
SELECT crmperm.protect_field('lfq_deals', 'secret', 'redact'),
       crmperm.protect_field('lfq_deals', 'amount', 'lfq_mask_amount'),
       crmperm.protect_field('lfq_keys', 'code', 'hash');
SELECT crmperm.create_permission_set('LFQ crud');
SELECT crmperm.grant('LFQ crud', 'lfq_deals', ARRAY['read', 'create', 'update', 'delete']),
       crmperm.grant('LFQ crud', 'lfq_keys', ARRAY['read']);
SELECT crmperm.create_permission_set('LFQ fields');
SELECT crmperm.grant_field('LFQ fields', 'lfq_deals', 'secret', ARRAY['read']),
       crmperm.grant_field('LFQ fields', 'lfq_deals', 'amount', ARRAY['read']),
       crmperm.grant_field('LFQ fields', 'lfq_keys', 'code', ARRAY['read']);
SELECT crmperm.create_permission_set('LFQ owned fields');
SELECT crmperm.grant_field('LFQ owned fields', 'lfq_deals', 'secret', ARRAY['read'], 'owned'),
       crmperm.grant_field('LFQ owned fields', 'lfq_deals', 'amount', ARRAY['read'], 'owned');
SELECT crmperm.create_permission_set('LFQ flip');    -- empty for now
SELECT crmperm.assign_permission_set(p::regrole, s)
  FROM (VALUES ('lfq_rep', 'LFQ crud'), ('lfq_reader', 'LFQ crud'),
               ('lfq_reader', 'LFQ fields'), ('lfq_owned', 'LFQ crud'),
               ('lfq_owned', 'LFQ owned fields'), ('lfq_flip', 'LFQ crud'),
               ('lfq_flip', 'LFQ flip'), ('lfq_group', 'LFQ fields')) a(p, s);
SELECT crmperm.set_principal('lfq_rep', user_id => 'u1');
SELECT crmperm.set_principal('lfq_reader', user_id => 'u2');
SELECT crmperm.set_principal('lfq_owned', user_id => 'u1');
SELECT crmperm.set_principal('lfq_flip', user_id => 'u2');

-- Cursors are planned when declared: lfq_rep's cursor holds masks, also
-- fetched after SET ROLE lfq_reader, backwards, or held past the commit.
BEGIN;
SET LOCAL ROLE lfq_rep;
DECLARE lfq_c CURSOR FOR SELECT id, secret, amount FROM lfq_deals ORDER BY id;
FETCH 1 FROM lfq_c;
SET LOCAL ROLE lfq_reader;
FETCH 1 FROM lfq_c;
COMMIT;
BEGIN;
SET LOCAL ROLE lfq_rep;
DECLARE lfq_s SCROLL CURSOR FOR SELECT id, secret, amount FROM lfq_deals ORDER BY id;
FETCH LAST FROM lfq_s;
FETCH BACKWARD 1 FROM lfq_s;
FETCH ABSOLUTE 2 FROM lfq_s;
DECLARE lfq_h CURSOR WITH HOLD FOR
  SELECT id, secret, amount FROM lfq_deals WHERE secret <> 'SECRET-ALPHA' ORDER BY id;
COMMIT;
SET ROLE lfq_reader;
FETCH ALL FROM lfq_h;
CLOSE lfq_h;
-- lfq_reader's own cursor: the values
BEGIN;
DECLARE lfq_r SCROLL CURSOR FOR SELECT id, secret, amount FROM lfq_deals ORDER BY id;
FETCH ALL FROM lfq_r;
-- PostgreSQL's rule: an open cursor keeps the rights it was opened with,
-- also after SET ROLE (as for native privileges, checked at DECLARE).
SET LOCAL ROLE lfq_rep;
FETCH FIRST FROM lfq_r;
COMMIT;
RESET ROLE;

-- Prepared statements are replanned for each role: each gets its masks.
PREPARE lfq_p AS SELECT id, secret, amount FROM lfq_deals ORDER BY id;
PREPARE lfq_q(int) AS SELECT id, secret, amount FROM lfq_deals WHERE amount > $1 ORDER BY id;
SET ROLE lfq_rep;
EXECUTE lfq_p;
EXECUTE lfq_q(400000);
SET ROLE lfq_reader;
EXECUTE lfq_p;
EXECUTE lfq_q(400000);
SET ROLE lfq_rep;
EXECUTE lfq_p;
RESET ROLE;
EXECUTE lfq_p;
-- generic plans too
SET plan_cache_mode = force_generic_plan;
SET ROLE lfq_reader;
EXECUTE lfq_q(400000);
EXECUTE lfq_q(0);
SET ROLE lfq_rep;
EXECUTE lfq_q(400000);
EXECUTE lfq_q(-1);
-- the scan reads whole rows; only the masks leave the plan
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE lfq_q(400000);
SET ROLE lfq_reader;
EXECUTE lfq_q(400000);
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE lfq_q(400000);
RESET ROLE;

-- PL/pgSQL keeps its plans: replanned for each role as well.
CREATE FUNCTION lfq_fn() RETURNS TABLE (id int, secret text, amount int)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT d.id, d.secret, d.amount FROM lfq_deals d ORDER BY d.id;
END
$$;
SET ROLE lfq_rep;
SELECT * FROM lfq_fn();
SET ROLE lfq_reader;
SELECT * FROM lfq_fn();
SET ROLE lfq_rep;
SELECT * FROM lfq_fn();
RESET ROLE;

-- SET SESSION AUTHORIZATION (by a superuser) moves the masks along.
SET SESSION AUTHORIZATION lfq_rep;
SELECT session_user, current_user;
EXECUTE lfq_p;
SELECT * FROM lfq_fn();
SET SESSION AUTHORIZATION lfq_reader;
SELECT session_user, current_user;
EXECUTE lfq_p;
SET ROLE lfq_rep;           -- not a member: refused, the masks stay lfq_reader's
EXECUTE lfq_p;
RESET SESSION AUTHORIZATION;

-- A field grant, a revoke, protecting or unprotecting a field, a membership
-- change: the next execution of the same cached plans has the new masks.
SET ROLE lfq_flip;
EXECUTE lfq_p;
RESET ROLE;
SELECT crmperm.grant_field('LFQ flip', 'lfq_deals', 'secret', ARRAY['read']);
SET ROLE lfq_flip;
EXECUTE lfq_p;
SELECT * FROM lfq_fn();
RESET ROLE;
SELECT crmperm.revoke_field('LFQ flip', 'lfq_deals', 'secret');
SET ROLE lfq_flip;
EXECUTE lfq_p;
SELECT * FROM lfq_fn();
RESET ROLE;
-- in one transaction, and undone by its rollback
BEGIN;
SELECT crmperm.grant_field('LFQ flip', 'lfq_deals', 'amount', ARRAY['read']);
SET LOCAL ROLE lfq_flip;
EXECUTE lfq_p;
ROLLBACK;
SET ROLE lfq_flip;
EXECUTE lfq_p;
RESET ROLE;
-- a PostgreSQL role holding the field grants: membership counts at once
GRANT lfq_group TO lfq_flip;
SET ROLE lfq_flip;
EXECUTE lfq_p;
SELECT * FROM lfq_fn();
RESET ROLE;
REVOKE lfq_group FROM lfq_flip;
SET ROLE lfq_flip;
EXECUTE lfq_p;
SELECT * FROM lfq_fn();
RESET ROLE;
-- a field protected after lfq_reader's plans were made
PREPARE lfq_n AS SELECT id, name, secret FROM lfq_deals ORDER BY id;
SET ROLE lfq_reader;
EXECUTE lfq_n;
RESET ROLE;
SELECT crmperm.protect_field('lfq_deals', 'name', 'redact');
SET ROLE lfq_reader;
EXECUTE lfq_n;
RESET ROLE;
SELECT crmperm.unprotect_field('lfq_deals', 'name');
SET ROLE lfq_reader;
EXECUTE lfq_n;
RESET ROLE;
-- an assignment that expires: the field grant stops counting at that
-- moment, in the plans cached while it counted
SELECT crmperm.assign_permission_set('lfq_flip', 'LFQ fields',
                                     statement_timestamp() + interval '1.2 seconds');
SET ROLE lfq_flip;
EXECUTE lfq_p;
SELECT * FROM lfq_fn();
RESET ROLE;
SELECT pg_sleep_until(valid_until + interval '50 milliseconds') FROM crmperm.set_assignments
 WHERE principal = 'lfq_flip'::regrole AND permission_set = 'LFQ fields';
SET ROLE lfq_flip;
EXECUTE lfq_p;
SELECT * FROM lfq_fn();
RESET ROLE;

-- EXPLAIN shows the masks; EXPLAIN ANALYZE on a managed table is refused
-- to governed roles, with or without masks.
SET ROLE lfq_rep;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, secret, amount FROM lfq_deals WHERE secret = 'SECRET-BRAVO';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id, secret FROM lfq_deals;
SET ROLE lfq_reader;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, secret, amount FROM lfq_deals WHERE secret = 'SECRET-BRAVO';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id, secret FROM lfq_deals;
RESET ROLE;

-- The hash mask.  Equal values hash equally, so masked values can be
-- compared with each other, but the function only runs where crmperm put
-- it: called directly it would hash guesses to compare with.
SET ROLE lfq_rep;
SELECT id, length(code) AS hash_length, code LIKE 'KEY-%' AS real_value FROM lfq_keys ORDER BY id;
SELECT a.id, b.id FROM lfq_keys a JOIN lfq_keys b ON a.code = b.code AND a.id < b.id ORDER BY a.id;
SELECT crmperm._mask_hash('KEY-BRAVO');
SELECT id FROM lfq_keys WHERE code = crmperm._mask_hash('KEY-BRAVO');
CREATE TEMP VIEW lfq_guess AS SELECT crmperm._mask_hash('KEY-BRAVO') AS h;
SELECT * FROM lfq_guess;
CREATE FUNCTION pg_temp.lfq_guess(text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT crmperm._mask_hash($1) $$;
SELECT pg_temp.lfq_guess('KEY-BRAVO');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, code FROM lfq_keys;
SET ROLE lfq_reader;
SELECT id, code FROM lfq_keys ORDER BY id;
RESET ROLE;

-- search_path tricks.  The masked expression is built with resolved OIDs:
-- an operator, a function with the mask function's name, or a shadowing
-- function of lfq_rep's own, found first on its search_path or in
-- pg_temp, only ever gets the mask.
SET ROLE lfq_rep;
CREATE FUNCTION lfq_evil.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'lfq_evil.= saw %', $1; RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR lfq_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = lfq_evil.eq);
CREATE FUNCTION lfq_evil.lower(text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'lfq_evil.lower saw %', $1; RETURN $1; END $$;
CREATE FUNCTION pg_temp.lower(text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'pg_temp.lower saw %', $1; RETURN $1; END $$;
CREATE FUNCTION lfq_evil.lfq_mask_amount(int) RETURNS int LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'lfq_evil.lfq_mask_amount saw %', $1; RETURN $1; END $$;
CREATE FUNCTION pg_temp.lfq_mask_amount(int) RETURNS int LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'pg_temp.lfq_mask_amount saw %', $1; RETURN $1; END $$;
CREATE FUNCTION lfq_evil._mask_hash(text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'lfq_evil._mask_hash saw %', $1; RETURN $1; END $$;
SET search_path = lfq_evil, pg_catalog, public;
SET client_min_messages = notice;
SELECT id, secret FROM lfq_deals WHERE secret = 'SECRET-BRAVO' ORDER BY id;
SELECT id, lower(secret), pg_temp.lower(secret) FROM lfq_deals ORDER BY id;
SELECT id, amount, pg_temp.lfq_mask_amount(amount) FROM lfq_deals ORDER BY id;
SELECT id, length(code) FROM lfq_keys ORDER BY id;
SET client_min_messages = warning;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, secret FROM lfq_deals WHERE secret = 'SECRET-BRAVO';
RESET search_path;
RESET ROLE;

-- A mask function is called on the real value: what its body resolves by
-- name must not depend on the caller's search_path.  A mask function
-- without a pinned search_path (nor a BEGIN ATOMIC body) is refused; pinned,
-- a function of lfq_rep's own, first on lfq_rep's search_path, is never
-- called in its place.
CREATE TABLE lfq_contacts (id int PRIMARY KEY, phone text);
INSERT INTO lfq_contacts VALUES (1, '+1-555-0101'), (2, '+1-555-0102');
GRANT SELECT ON lfq_contacts TO lfq_users;
CREATE FUNCTION lfq_mask_phone(text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT '***' || right($1, 2) $$;
SELECT crmperm.manage_table('lfq_contacts');
SELECT crmperm.protect_field('lfq_contacts', 'phone', 'lfq_mask_phone');
ALTER FUNCTION lfq_mask_phone(text) SET search_path = pg_catalog;
SELECT crmperm.protect_field('lfq_contacts', 'phone', 'lfq_mask_phone');
SELECT crmperm.grant('LFQ crud', 'lfq_contacts', ARRAY['read']);
SET ROLE lfq_rep;
SELECT id, phone FROM lfq_contacts ORDER BY id;
CREATE FUNCTION lfq_evil.right(text, int) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'lfq_evil.right saw %', $1; RETURN $1; END $$;
SET search_path = lfq_evil, pg_catalog, public;
SET client_min_messages = notice;
SELECT id, phone FROM lfq_contacts ORDER BY id;
SET client_min_messages = warning;
RESET search_path;
RESET ROLE;

-- Scope 'owned': lfq_owned (user u1) reads row 1's fields and row 2's
-- masks, and a predicate on a field sees the mask on row 2: through a
-- view, a cursor and a prepared statement.
CREATE VIEW lfq_v WITH (security_invoker) AS SELECT id, owner_id, secret, amount FROM lfq_deals;
GRANT SELECT ON lfq_v TO lfq_users;
SET ROLE lfq_owned;
SELECT * FROM lfq_v ORDER BY id;
SELECT id FROM lfq_v WHERE secret LIKE 'SECRET-%' OR amount > 400000 ORDER BY id;
BEGIN;
DECLARE lfq_o SCROLL CURSOR FOR SELECT id, secret, amount FROM lfq_deals ORDER BY id;
FETCH ALL FROM lfq_o;
FETCH BACKWARD ALL FROM lfq_o;
COMMIT;
EXECUTE lfq_p;
EXECUTE lfq_q(400000);
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, secret FROM lfq_deals;
RESET ROLE;
-- its user id changes: the same cached plans follow
SELECT crmperm.set_principal('lfq_owned', user_id => 'u2');
SET ROLE lfq_owned;
EXECUTE lfq_p;
EXECUTE lfq_q(400000);
SELECT * FROM lfq_v ORDER BY id;
RESET ROLE;
-- another role in the same session: its own masks from the same statements
SET ROLE lfq_rep;
EXECUTE lfq_p;
SELECT * FROM lfq_v ORDER BY id;
RESET ROLE;

-- cleanup
RESET plan_cache_mode;
DEALLOCATE lfq_p;
DEALLOCATE lfq_q;
DEALLOCATE lfq_n;
DROP VIEW lfq_v;
DROP FUNCTION lfq_fn();
DROP FUNCTION pg_temp.lfq_guess(text), pg_temp.lower(text), pg_temp.lfq_mask_amount(int);
DROP VIEW lfq_guess;
DROP SCHEMA lfq_evil CASCADE;
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['lfq_deals', 'lfq_keys', 'lfq_contacts']) t;
DROP TABLE lfq_deals, lfq_keys, lfq_contacts;
DROP FUNCTION lfq_mask_amount(int), lfq_mask_phone(text);
SELECT crmperm.drop_permission_set(s)
  FROM unnest(ARRAY['LFQ crud', 'LFQ fields', 'LFQ owned fields', 'LFQ flip']) s;
DELETE FROM crmperm.principals
 WHERE principal IN ('lfq_rep'::regrole, 'lfq_reader'::regrole, 'lfq_owned'::regrole,
                     'lfq_flip'::regrole);
DROP ROLE lfq_rep, lfq_reader, lfq_owned, lfq_flip, lfq_group, lfq_users;

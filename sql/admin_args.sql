-- Admin functions: arguments that must get one clear error (issue 13, items
-- 8 and 11), principals that must exist, rows of dropped roles, and errors
-- without crmperm's internal context.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
-- CONTEXT is shown for errors: no admin error carries PL/pgSQL context
\set SHOW_CONTEXT errors

CREATE TABLE aa_deals (id int PRIMARY KEY, owner_id text, team_id text, source text);
CREATE ROLE aa_user;
CREATE ROLE aa_gone;
GRANT SELECT, INSERT ON aa_deals TO aa_user;
SELECT crmperm.manage_table('aa_deals', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.create_permission_set('aa_set');
SELECT crmperm.create_role('aa_role');
SELECT crmperm.protect_field('aa_deals', 'source');

CREATE FUNCTION aa_digest() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
    SELECT 'g' || g::text FROM crmperm.object_grants g UNION ALL
    SELECT 'a' || a::text FROM crmperm.role_assignments a UNION ALL
    SELECT 'b' || b::text FROM crmperm.set_assignments b UNION ALL
    SELECT 'x' || x::text FROM crmperm.principals x UNION ALL
    SELECT 'r' || r::text FROM crmperm.resources r) c(t) $$;
SELECT aa_digest() AS before \gset

-- roles that do not exist are refused, nothing is stored
SELECT crmperm.set_super_admin('888888', true);
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_role('999999', 'aa_role');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.assign_permission_set('999999', 'aa_set');
SELECT crmperm.set_principal('999999', user_id => 'u1');
SELECT crmperm.explain_access('999999', 'aa_deals');
SELECT crmperm.create_token('aa_tok', '999999', '{aa_deals.read}');
-- a relation that does not exist
SELECT crmperm.manage_table('999999');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.unmanage_table('999999');

-- two-dimensional arrays name the argument
SELECT crmperm.set_principal('aa_user', team_ids => '{{t1},{t2}}');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.set_principal('aa_user', department_ids => '{{d1}}');
SELECT crmperm.grant('aa_set', 'aa_deals', '{{read},{update}}');
SELECT crmperm.revoke('aa_set', 'aa_deals', '{{read}}');
SELECT crmperm.grant_field('aa_set', 'aa_deals', 'source', '{{read}}');
SELECT crmperm.create_token('aa_tok', 'aa_user', '{{aa_deals.read}}');

-- a 10 kB argument is quoted by its first 64 characters
SELECT crmperm.grant('aa_set', repeat('x', 10000), '{read}');
SELECT crmperm.grant('aa_set', 'aa_deals', ARRAY[repeat('é', 5000)]);
SELECT crmperm.create_permission_set(repeat('ü', 5000));
SELECT crmperm.drop_role(repeat('r', 10000));
SELECT crmperm.check(repeat('z', 10000));
SELECT crmperm.check(repeat('z', 10000) || '.read');
SELECT aa_digest() = :'before' AS unchanged;

-- the same mistake, the same words from grant() and check()
SELECT crmperm.grant('aa_set', 'aa_deals', '{reed}');
SELECT crmperm.check('aa_deals.reed');
SELECT crmperm.grant_field('aa_set', 'aa_deals', 'source', '{reed}');
SELECT crmperm.check('aa_deals.source.reed');
SELECT crmperm.grant_system('aa_set', 'exports');

-- a bad predicate names the scope; the parser's message and SQLSTATE stay
SELECT crmperm.define_scope('aa_deals', 'aa_bad', 'owner_id = 1');
\echo :LAST_ERROR_SQLSTATE
SELECT crmperm.define_scope('aa_deals', 'aa_bad', 'owner_id = (');
\echo :LAST_ERROR_SQLSTATE

-- an error inside the caller's own function keeps the caller's context only
CREATE FUNCTION aa_setup() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crmperm.grant('aa_set', 'aa_nosuch', '{read}');
END $$;
SELECT aa_setup();

-- check() answers field privileges as the executor decides them
SELECT crmperm.grant('aa_set', 'aa_deals', '{read,update}', 'owned');
SELECT crmperm.grant_field('aa_set', 'aa_deals', 'source', '{read,update}', 'owned');
SELECT crmperm.assign_permission_set('aa_user', 'aa_set');
SET ROLE aa_user;
SELECT s, crmperm.check(s)
  FROM unnest(ARRAY['aa_deals.read', 'aa_deals.create', 'aa_deals.source.read',
                    'aa_deals.source.update', 'aa_deals.source.create',
                    'aa_deals.owner_id.update', 'aa_deals.owner_id.create']) s;
SELECT crmperm.check('aa_deals.nosuch.read');
-- the denial's hint mentions a token's scopes only under a token
INSERT INTO aa_deals VALUES (1, 'u', 't', 's');
RESET ROLE;

-- DROP ROLE removes the role's rows from crmperm's catalog (audited)
SELECT crmperm.assign_role('aa_gone', 'aa_role');
SELECT crmperm.assign_permission_set('aa_gone', 'aa_set');
SELECT crmperm.set_principal('aa_gone', user_id => 'g1');
SELECT oid AS gone_oid FROM pg_roles WHERE rolname = 'aa_gone' \gset
DROP ROLE aa_gone;
SELECT (SELECT count(*) FROM crmperm.role_assignments WHERE principal::oid = :gone_oid) AS role_assignments,
       (SELECT count(*) FROM crmperm.set_assignments WHERE principal::oid = :gone_oid) AS set_assignments,
       (SELECT count(*) FROM crmperm.principals WHERE principal::oid = :gone_oid) AS principals;
SELECT count(*) AS lint_findings FROM crmperm.lint() WHERE finding = 'assignment_of_dropped_role';
-- rows of a dropped role left by another database: unassign_* remove them
INSERT INTO crmperm.set_assignments VALUES ('777777', 'aa_set');
SELECT finding, object FROM crmperm.lint() WHERE finding = 'assignment_of_dropped_role';
SELECT crmperm.unassign_permission_set('777777', 'aa_set');
SELECT count(*) FROM crmperm.set_assignments WHERE principal::oid = 777777;

-- clean up
DROP FUNCTION aa_setup();
SELECT crmperm.unassign_permission_set('aa_user', 'aa_set');
SELECT crmperm.drop_permission_set('aa_set');
SELECT crmperm.drop_role('aa_role');
SELECT crmperm.unmanage_table('aa_deals');
DROP TABLE aa_deals;
DROP FUNCTION aa_digest();
DROP ROLE aa_user;

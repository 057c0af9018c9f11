-- crmperm.lint(): a clean setup reports nothing; a fixture produces every
-- finding at least once; running each fix (the SQL lint() prints, where it
-- needs no choice) makes its finding disappear.  Only this file's objects are
-- shown: names starting with lint_, and permission sets "Lint ...".
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- lint() in its own order; the OIDs of dropped roles replaced.  sql: the
-- fix up to its comment, when it needs no choice (no <...>).
CREATE TEMP VIEW lint AS
  SELECT l.severity, l.finding,
         regexp_replace(l.object, '^[0-9]+$', '<oid>') AS object,
         regexp_replace(l.detail, '\m[0-9]{5,}\M', '<oid>', 'g') AS detail,
         regexp_replace(l.fix, '\m[0-9]{5,}\M', '<oid>', 'g') AS fix,
         CASE WHEN split_part(l.fix, ' -- ', 1) !~ '<' THEN split_part(l.fix, ' -- ', 1) END AS sql
    FROM crmperm.lint() WITH ORDINALITY l(severity, finding, object, detail, fix, n)
   WHERE l.object ~ '^(public\.)?lint_' OR l.detail ~ '"Lint '
   ORDER BY l.n;

-- ---------------------------------------------------------------------------
-- A clean setup
-- ---------------------------------------------------------------------------
CREATE ROLE lint_super NOLOGIN SUPERUSER;      -- owns what a superuser would own
CREATE ROLE lint_owner NOLOGIN;                -- owns the tables, no assignment
CREATE ROLE lint_users NOLOGIN;                -- native privileges, a set assigned
CREATE ROLE lint_rep NOLOGIN IN ROLE lint_users;
CREATE ROLE lint_hook NOLOGIN;                 -- a token's principal
CREATE ROLE lint_app LOGIN;                    -- authenticates with tokens, member of nothing
CREATE ROLE lint_sa NOLOGIN;                   -- a super admin, no assignment

CREATE TABLE lint_deals (id int PRIMARY KEY, owner_id text, amount int, email text);
-- 30 rows: under autovacuum's analyze threshold, so statistics come from
-- ANALYZE below only
INSERT INTO lint_deals
  SELECT g, 'u' || (g % 3), (g % 4) * 1000, 'user' || (g % 5) || '@example.com'
    FROM generate_series(1, 30) g;
CREATE TABLE lint_parts (id int, owner_id text) PARTITION BY RANGE (id);
CREATE TABLE lint_parts_1 PARTITION OF lint_parts FOR VALUES FROM (0) TO (100);
ALTER TABLE lint_deals OWNER TO lint_owner;
ALTER TABLE lint_parts OWNER TO lint_owner;
ALTER TABLE lint_parts_1 OWNER TO lint_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON lint_deals, lint_parts TO lint_users, lint_hook;
GRANT SELECT ON lint_deals TO lint_sa;
SELECT crmperm.manage_table('lint_deals', owner_column => 'owner_id');
SELECT crmperm.manage_table('lint_parts', owner_column => 'owner_id');
SELECT crmperm.protect_field('lint_deals', 'amount');
SELECT crmperm.protect_field('lint_deals', 'email', mask => 'email');
SELECT crmperm.create_permission_set('Lint reps');
SELECT crmperm.grant('Lint reps', 'lint_deals', ARRAY['read', 'update'], 'owned');
SELECT crmperm.grant('Lint reps', 'lint_parts', ARRAY['read']);
SELECT crmperm.assign_permission_set('lint_users', 'Lint reps');
SELECT crmperm.create_role('Lint Sales');
SELECT crmperm.add_to_role('Lint Sales', 'Lint reps');
SELECT crmperm.assign_role('lint_rep', 'Lint Sales', valid_until => now() + interval '1 day');
SELECT crmperm.set_principal('lint_rep', user_id => 'u1');
SELECT crmperm.create_permission_set('Lint hooks');
SELECT crmperm.grant('Lint hooks', 'lint_deals', ARRAY['create']);
SELECT crmperm.assign_permission_set('lint_hook', 'Lint hooks');
SELECT crmperm.set_super_admin('lint_sa', true);
SELECT crmperm.create_token('lint_expiring', 'lint_hook', ARRAY['lint_deals.create'],
                            expires_at => now() + interval '1 day') IS NOT NULL AS created;

-- views and functions that keep crmperm in charge
CREATE VIEW lint_v_invoker WITH (security_invoker) AS SELECT id, owner_id FROM lint_deals;
CREATE VIEW lint_v_rep AS SELECT id FROM lint_deals;           -- owned by a governed role
ALTER VIEW lint_v_rep OWNER TO lint_rep;
CREATE VIEW lint_v_private AS SELECT id FROM lint_deals;       -- a superuser's, granted to nobody
ALTER VIEW lint_v_private OWNER TO lint_super;
-- a superuser's view over a security_invoker view: PostgreSQL checks the
-- invoker view's tables as the current user, even below a definer view
CREATE VIEW lint_v_chain AS SELECT id FROM lint_v_invoker;
ALTER VIEW lint_v_chain OWNER TO lint_super;
GRANT SELECT ON lint_v_invoker, lint_v_rep, lint_v_chain TO lint_users;
CREATE FUNCTION lint_f_invoker() RETURNS bigint LANGUAGE sql
  AS 'SELECT count(*) FROM public.lint_deals';                  -- not SECURITY DEFINER
CREATE FUNCTION lint_f_rep() RETURNS bigint SECURITY DEFINER LANGUAGE sql
  BEGIN ATOMIC SELECT count(*) FROM public.lint_deals; END;      -- runs as a governed role
ALTER FUNCTION lint_f_rep() OWNER TO lint_rep;
CREATE FUNCTION lint_f_other() RETURNS int SECURITY DEFINER LANGUAGE sql
  AS 'SELECT 1';                                                -- reads no managed table
ALTER FUNCTION lint_f_other() OWNER TO lint_super;

SELECT * FROM lint;

-- ---------------------------------------------------------------------------
-- Every finding
-- ---------------------------------------------------------------------------
-- views: a superuser's (on the table and on a partition), the table
-- owner's, a super admin's materialized view
CREATE VIEW lint_v_super AS SELECT id, owner_id FROM lint_deals;
CREATE VIEW lint_v_part AS SELECT id FROM lint_parts_1;
CREATE VIEW lint_v_owner AS SELECT id FROM lint_deals;
CREATE MATERIALIZED VIEW lint_m_sa AS SELECT id FROM lint_deals WITH NO DATA;
ALTER VIEW lint_v_super OWNER TO lint_super;
ALTER VIEW lint_v_part OWNER TO lint_super;
ALTER VIEW lint_v_owner OWNER TO lint_owner;
ALTER MATERIALIZED VIEW lint_m_sa OWNER TO lint_sa;
REFRESH MATERIALIZED VIEW lint_m_sa;
GRANT SELECT ON lint_v_super, lint_v_part, lint_v_owner, lint_m_sa TO lint_users;
-- what they show lint_rep, who reads its own 10 rows of lint_deals
SET ROLE lint_rep;
SELECT (SELECT count(*) FROM lint_deals) AS own, (SELECT count(*) FROM lint_v_super) AS v_super,
       (SELECT count(*) FROM lint_v_chain) AS v_chain, (SELECT count(*) FROM lint_v_owner) AS v_owner,
       (SELECT count(*) FROM lint_m_sa) AS m_sa;
RESET ROLE;

-- SECURITY DEFINER routines: a superuser's plpgsql function (found by name,
-- in any case), executable by PUBLIC; the table owner's BEGIN ATOMIC
-- procedure (found through pg_depend), executable by lint_rep only
CREATE FUNCTION lint_f_text() RETURNS bigint SECURITY DEFINER LANGUAGE plpgsql
  AS $$ BEGIN RETURN (SELECT count(*) FROM public.LINT_DEALS); END $$;
ALTER FUNCTION lint_f_text() OWNER TO lint_super;
CREATE PROCEDURE lint_p_atomic() SECURITY DEFINER LANGUAGE sql
  BEGIN ATOMIC UPDATE public.lint_deals SET owner_id = owner_id WHERE false; END;
ALTER PROCEDURE lint_p_atomic() OWNER TO lint_owner;
REVOKE EXECUTE ON PROCEDURE lint_p_atomic() FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE lint_p_atomic() TO lint_rep;

-- principals crmperm does not govern: BYPASSRLS assigned directly, BYPASSRLS
-- through a group's assignment, a superuser with attributes
CREATE ROLE lint_byp NOLOGIN BYPASSRLS;
SELECT crmperm.assign_permission_set('lint_byp', 'Lint reps');
CREATE ROLE lint_etl NOLOGIN BYPASSRLS IN ROLE lint_users;
CREATE ROLE lint_root NOLOGIN SUPERUSER;
SELECT crmperm.set_principal('lint_root', user_id => 'root');

-- a managed table owned by a principal; principals one SET ROLE away from a
-- table owner and from a superuser
CREATE TABLE lint_notes (id int PRIMARY KEY, owner_id text);
ALTER TABLE lint_notes OWNER TO lint_rep;
SELECT crmperm.manage_table('lint_notes', owner_column => 'owner_id');
GRANT lint_owner TO lint_rep;
CREATE ROLE lint_ops NOLOGIN;
SELECT crmperm.assign_permission_set('lint_ops', 'Lint hooks');
CREATE ROLE lint_dba NOLOGIN SUPERUSER;
GRANT lint_dba TO lint_ops;

-- row security off: not forced on the table, disabled on a partition (only
-- a superuser may)
ALTER TABLE lint_deals NO FORCE ROW LEVEL SECURITY;
ALTER TABLE lint_parts_1 DISABLE ROW LEVEL SECURITY;

-- statistics of protected fields: the columns, an index expression, extended
-- statistics
CREATE INDEX lint_deals_email ON lint_deals (lower(email));
CREATE STATISTICS lint_deals_stx (mcv) ON owner_id, amount FROM lint_deals;
ANALYZE lint_deals;

-- expired assignments (assign_* refuses a past valid_until: as time passes)
UPDATE crmperm.role_assignments SET valid_until = '2001-02-03 04:05:06+00'
 WHERE principal = 'lint_rep'::regrole;
INSERT INTO crmperm.set_assignments VALUES ('lint_rep', 'Lint hooks', '2001-02-03 04:05:06+00');

-- a dropped role's assignment
CREATE ROLE lint_gone NOLOGIN;
SELECT crmperm.create_permission_set('Lint gone');
SELECT crmperm.assign_permission_set('lint_gone', 'Lint gone');
SELECT oid AS lint_gone_oid FROM pg_roles WHERE rolname = 'lint_gone' \gset
DROP ROLE lint_gone;
-- DROP ROLE removed the assignment here; another database keeps its own:
-- such a leftover, as the extension owner would find it there
INSERT INTO crmperm.set_assignments VALUES (:'lint_gone_oid', 'Lint gone');

-- login roles that can act as a token's principal without the token:
-- directly, through another role, and the principal logging in itself
GRANT lint_hook TO lint_app;
CREATE ROLE lint_bridge NOLOGIN IN ROLE lint_hook;
CREATE ROLE lint_ci LOGIN IN ROLE lint_bridge;
ALTER ROLE lint_hook LOGIN;

-- a token without expiry; a token whose principal became a super admin
SELECT crmperm.create_token('lint_forever', 'lint_hook', ARRAY['lint_deals.create']) IS NOT NULL AS created;
CREATE ROLE lint_syncer NOLOGIN;
SELECT crmperm.assign_permission_set('lint_syncer', 'Lint hooks');
SELECT crmperm.create_token('lint_sync', 'lint_syncer', ARRAY['lint_deals.create'],
                            expires_at => now() + interval '1 day') IS NOT NULL AS created;
SELECT crmperm.set_super_admin('lint_syncer', true);

-- a LEAKPROOF function outside pg_catalog
CREATE FUNCTION lint_leak(text) RETURNS boolean LEAKPROOF IMMUTABLE LANGUAGE sql AS 'SELECT true';

\x on
SELECT severity, finding, object, detail, fix FROM lint;
\x off

-- ---------------------------------------------------------------------------
-- Fixes
-- ---------------------------------------------------------------------------
-- SET STATISTICS 0 alone does not remove statistics: ANALYZE skips the
-- column and keeps what it gathered before
ALTER TABLE lint_deals ALTER COLUMN email SET STATISTICS 0;
ANALYZE lint_deals;
SELECT severity, finding, object FROM lint WHERE finding = 'protected_field_statistics';

-- every fix that needs no choice, as lint() prints it (the dropped role's
-- names its OID: not echoed)
SELECT sql FROM lint WHERE sql IS NOT NULL AND finding <> 'assignment_of_dropped_role' \gexec
\set ECHO none
SELECT sql FROM lint WHERE finding = 'assignment_of_dropped_role' \gexec
\set ECHO all

-- the two that do: a governed owner for the materialized view (it then holds
-- that role's rows) and for the table
ALTER MATERIALIZED VIEW lint_m_sa OWNER TO lint_rep;
REFRESH MATERIALIZED VIEW lint_m_sa;
ALTER TABLE lint_notes OWNER TO lint_owner;

-- statistics stay away: ANALYZE skips the fields and the index expression
ANALYZE lint_deals;
SELECT * FROM lint;

-- the fixed views show lint_rep its own rows
SET ROLE lint_rep;
SELECT (SELECT count(*) FROM lint_deals) AS own, (SELECT count(*) FROM lint_v_super) AS v_super,
       (SELECT count(*) FROM lint_v_chain) AS v_chain, (SELECT count(*) FROM lint_v_owner) AS v_owner,
       (SELECT count(*) FROM lint_m_sa) AS m_sa;
RESET ROLE;

-- cleanup
DROP VIEW lint_v_super, lint_v_chain, lint_v_part, lint_v_owner, lint_v_invoker, lint_v_rep,
  lint_v_private;
DROP MATERIALIZED VIEW lint_m_sa;
DROP FUNCTION lint_f_invoker(), lint_f_rep(), lint_f_other(), lint_f_text(), lint_leak(text);
DROP PROCEDURE lint_p_atomic();
DELETE FROM crmperm.api_tokens WHERE name LIKE 'lint\_%';
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['lint_deals', 'lint_parts', 'lint_notes']::regclass[]) t;
DROP TABLE lint_deals, lint_parts, lint_notes;
SELECT crmperm.drop_role('Lint Sales');
SELECT crmperm.drop_permission_set(s) FROM unnest(ARRAY['Lint reps', 'Lint hooks', 'Lint gone']) s;
DELETE FROM crmperm.principals WHERE principal::text LIKE 'lint\_%';
DROP ROLE lint_ci, lint_bridge, lint_app, lint_hook, lint_syncer, lint_ops, lint_dba, lint_root,
  lint_etl, lint_byp, lint_rep, lint_users, lint_sa, lint_owner, lint_super;

-- only superusers and holders of manage_permissions run it
CREATE ROLE lint_nobody;
SET ROLE lint_nobody;
SELECT count(*) FROM crmperm.lint();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE lint_nobody;

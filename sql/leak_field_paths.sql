-- Leak path: protected fields reached some other way than a plain SELECT.
-- Every reference to a field the principal may not read becomes its mask
-- before the query is planned, so functions, views, COPY, MERGE, ON
-- CONFLICT and user operators only ever get the mask.  The principal of a
-- reference is the role PostgreSQL checks it as: a view's owner, a SECURITY
-- DEFINER function's owner, otherwise the current role.  The hidden values
-- are sentinels ('SECRET-...', 111111, 424242): any of them in a governed
-- role's output is a leak.  See leak_field_plans for cursors, prepared
-- statements, role changes, the hash mask and search_path tricks.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE lfp_deals (id int PRIMARY KEY, name text, owner_id text, secret text,
                        amount int, note text);
INSERT INTO lfp_deals VALUES (1, 'alpha', 'u1', 'SECRET-ALPHA', 111111, NULL),
                             (2, 'bravo', 'u2', 'SECRET-BRAVO', 424242, NULL);
CREATE ROLE lfp_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON lfp_deals TO lfp_users;
CREATE ROLE lfp_rep LOGIN IN ROLE lfp_users;      -- every row, no field grant: masks
CREATE ROLE lfp_reader LOGIN IN ROLE lfp_users;   -- every row, reads the fields
CREATE ROLE lfp_writer LOGIN IN ROLE lfp_users;   -- every row, reads and writes them
CREATE ROLE lfp_owner LOGIN;                      -- owns the table
ALTER TABLE lfp_deals OWNER TO lfp_owner;
CREATE SCHEMA lfp_work;                           -- where principals create objects
GRANT USAGE, CREATE ON SCHEMA lfp_work TO lfp_users;
CREATE FUNCTION lfp_mask_amount(int) RETURNS int LANGUAGE sql IMMUTABLE RETURN -1;
SELECT crmperm.manage_table('lfp_deals', owner_column => 'owner_id');
SELECT crmperm.protect_field('lfp_deals', 'secret', 'redact');
SELECT crmperm.protect_field('lfp_deals', 'amount', 'lfp_mask_amount');
SELECT mask FROM crmperm.fields WHERE resource = 'lfp_deals' AND field = 'amount';
SELECT crmperm.create_permission_set('LFP crud');
SELECT crmperm.grant('LFP crud', 'lfp_deals', ARRAY['read', 'create', 'update', 'delete']);
SELECT crmperm.create_permission_set('LFP read fields');
SELECT crmperm.grant_field('LFP read fields', 'lfp_deals', 'secret', ARRAY['read']),
       crmperm.grant_field('LFP read fields', 'lfp_deals', 'amount', ARRAY['read']);
SELECT crmperm.create_permission_set('LFP write fields');
SELECT crmperm.grant_field('LFP write fields', 'lfp_deals', 'secret', ARRAY['read', 'create', 'update']),
       crmperm.grant_field('LFP write fields', 'lfp_deals', 'amount', ARRAY['read', 'create', 'update']);
SELECT crmperm.create_permission_set('LFP export');
SELECT crmperm.grant_system('LFP export', 'export');
SELECT crmperm.assign_permission_set(p::regrole, s)
  FROM (VALUES ('lfp_rep', 'LFP crud'), ('lfp_rep', 'LFP export'),
               ('lfp_reader', 'LFP crud'), ('lfp_reader', 'LFP read fields'),
               ('lfp_reader', 'LFP export'),
               ('lfp_writer', 'LFP crud'), ('lfp_writer', 'LFP write fields')) a(p, s);
SELECT crmperm.set_principal('lfp_rep', user_id => 'u1');
SELECT crmperm.set_principal('lfp_reader', user_id => 'u2');
SELECT crmperm.set_principal('lfp_writer', user_id => 'u3');

-- The baseline: lfp_rep reads masks, lfp_reader the values.
SET ROLE lfp_rep;
SELECT id, name, secret, amount FROM lfp_deals ORDER BY id;
SET ROLE lfp_reader;
SELECT id, name, secret, amount FROM lfp_deals ORDER BY id;
RESET ROLE;

-- COPY TO (the export permission held): the masks are exported.  COPY of
-- the table is rewritten into a query, so it is masked like one.
SET ROLE lfp_rep;
COPY lfp_deals TO STDOUT;
COPY lfp_deals (id, secret, amount) TO STDOUT WITH (FORMAT csv, HEADER);
COPY (SELECT id, secret, amount FROM lfp_deals ORDER BY id) TO STDOUT;
COPY (SELECT d FROM lfp_deals d ORDER BY id) TO STDOUT;
SET ROLE lfp_reader;
COPY lfp_deals TO STDOUT;
COPY (SELECT id, secret, amount FROM lfp_deals ORDER BY id) TO STDOUT;
RESET ROLE;

-- Functions.  SQL set-returning functions are never inlined into the
-- caller's query (their table would reach the plan unmasked): they stay
-- calls, and their bodies are planned for the role running them.  They are
-- STABLE, so PostgreSQL would inline them otherwise.
CREATE FUNCTION lfp_srf() RETURNS SETOF lfp_deals
LANGUAGE sql STABLE AS $$ SELECT * FROM lfp_deals $$;
CREATE FUNCTION lfp_table() RETURNS TABLE (id int, secret text, amount int)
LANGUAGE sql STABLE AS $$ SELECT id, secret, amount FROM lfp_deals $$;
CREATE FUNCTION lfp_atomic_srf() RETURNS SETOF lfp_deals
LANGUAGE sql STABLE BEGIN ATOMIC SELECT * FROM lfp_deals; END;
CREATE FUNCTION lfp_plpgsql() RETURNS TABLE (id int, secret text, amount int)
LANGUAGE plpgsql STABLE AS
$$ BEGIN RETURN QUERY SELECT d.id, d.secret, d.amount FROM lfp_deals d; END $$;
CREATE FUNCTION lfp_scalar(int) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT secret FROM lfp_deals WHERE id = $1 $$;
CREATE FUNCTION lfp_atomic(int) RETURNS int
LANGUAGE sql STABLE BEGIN ATOMIC SELECT amount FROM lfp_deals WHERE id = $1; END;
CREATE FUNCTION lfp_row(d lfp_deals) RETURNS text       -- inlined, gets the whole row
LANGUAGE sql IMMUTABLE AS $$ SELECT d.secret || '/' || d.amount $$;
SET ROLE lfp_rep;
SELECT id, name, secret, amount FROM lfp_srf() ORDER BY id;
SELECT * FROM lfp_table() ORDER BY id;
SELECT id, name, secret, amount FROM lfp_atomic_srf() ORDER BY id;
SELECT * FROM lfp_plpgsql() ORDER BY id;
SELECT lfp_scalar(2), lfp_atomic(2);
SELECT id, lfp_row(d), row_to_json(d)::text FROM lfp_deals d ORDER BY id;
-- a predicate on the call's output sees the mask
SELECT id FROM lfp_srf() s WHERE s.secret = 'SECRET-BRAVO' OR s.amount > 400000 ORDER BY id;
EXPLAIN (COSTS OFF) SELECT id FROM lfp_srf() s WHERE s.amount > 400000;
-- its own functions, in pg_temp and in a schema it may create in
CREATE FUNCTION pg_temp.lfp_mine() RETURNS TABLE (id int, secret text, amount int)
LANGUAGE sql STABLE AS $$ SELECT id, secret, amount FROM public.lfp_deals $$;
CREATE FUNCTION lfp_work.lfp_mine() RETURNS SETOF lfp_deals
LANGUAGE sql STABLE AS $$ SELECT * FROM public.lfp_deals WHERE amount > 400000 $$;
SELECT * FROM pg_temp.lfp_mine() ORDER BY id;
SELECT id FROM lfp_work.lfp_mine() ORDER BY id;
SET ROLE lfp_reader;
SELECT id, name, secret, amount FROM lfp_srf() ORDER BY id;
SELECT * FROM lfp_table() ORDER BY id;
SELECT id, name, secret, amount FROM lfp_atomic_srf() ORDER BY id;
SELECT * FROM lfp_plpgsql() ORDER BY id;
SELECT lfp_scalar(2), lfp_atomic(2);
SELECT id, lfp_row(d) FROM lfp_deals d ORDER BY id;
SELECT * FROM pg_temp.lfp_mine() ORDER BY id;
SELECT id FROM lfp_work.lfp_mine() ORDER BY id;
RESET ROLE;

-- SECURITY DEFINER: the body runs, and is planned, as the function's owner.
-- Owned by lfp_rep, it returns lfp_rep's masks to anyone, superusers
-- included.
SET ROLE lfp_rep;
CREATE FUNCTION lfp_work.lfp_def_rep() RETURNS TABLE (id int, secret text, amount int)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT id, secret, amount FROM public.lfp_deals $$;
SET ROLE lfp_reader;
SELECT * FROM lfp_work.lfp_def_rep() ORDER BY id;
RESET ROLE;
SELECT * FROM lfp_work.lfp_def_rep() ORDER BY id;
-- Owned by the table owner, it returns the real values to lfp_rep: the
-- definer's rights, as with native privileges.  Whoever owns a SECURITY
-- DEFINER function over a managed table decides what it returns.
CREATE FUNCTION lfp_def_owner() RETURNS TABLE (id int, secret text, amount int)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT id, secret, amount FROM public.lfp_deals $$;
ALTER FUNCTION lfp_def_owner() OWNER TO lfp_owner;
SET ROLE lfp_rep;
SELECT * FROM lfp_def_owner() ORDER BY id;
RESET ROLE;

-- Views.  A view owned by lfp_rep is masked as lfp_rep, whoever reads it;
-- its rows only show to lfp_rep itself (row scopes in a definer view owned
-- by a governed role show nothing to others: fail closed), so the plan
-- shows what lfp_reader would get.
SET ROLE lfp_rep;
CREATE VIEW lfp_work.lfp_v_rep AS SELECT id, secret, amount FROM public.lfp_deals;
GRANT SELECT ON lfp_work.lfp_v_rep TO lfp_users;
SELECT * FROM lfp_work.lfp_v_rep ORDER BY id;
SET ROLE lfp_reader;
SELECT * FROM lfp_work.lfp_v_rep ORDER BY id;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM lfp_work.lfp_v_rep;
RESET ROLE;
-- security_invoker views are masked per caller, and so is a view over them
CREATE VIEW lfp_v_invoker WITH (security_invoker) AS
  SELECT id, secret, amount FROM lfp_deals;
CREATE VIEW lfp_v_outer WITH (security_invoker) AS
  SELECT id, secret, amount FROM lfp_v_invoker WHERE amount <> 0;
GRANT SELECT ON lfp_v_invoker, lfp_v_outer TO lfp_users;
SET ROLE lfp_rep;
SELECT * FROM lfp_v_invoker ORDER BY id;
SELECT * FROM lfp_v_outer ORDER BY id;
SELECT id FROM lfp_v_outer WHERE secret LIKE 'SECRET%' OR amount > 400000 ORDER BY id;
-- An invoker view is checked as the current role wherever it is used, also
-- inside another role's view (PostgreSQL's rule): a view of lfp_reader's
-- over lfp_v_invoker gives lfp_rep lfp_rep's masks, and one of lfp_rep's
-- gives lfp_reader its own values.
CREATE VIEW lfp_work.lfp_v_rep_outer AS SELECT id, secret, amount FROM public.lfp_v_invoker;
GRANT SELECT ON lfp_work.lfp_v_rep_outer TO lfp_users;
SET ROLE lfp_reader;
SELECT * FROM lfp_v_invoker ORDER BY id;
SELECT * FROM lfp_v_outer ORDER BY id;
CREATE VIEW lfp_work.lfp_v_reader_outer AS SELECT id, secret, amount FROM public.lfp_v_invoker;
GRANT SELECT ON lfp_work.lfp_v_reader_outer TO lfp_users;
SELECT * FROM lfp_work.lfp_v_reader_outer ORDER BY id;
SELECT * FROM lfp_work.lfp_v_rep_outer ORDER BY id;
SET ROLE lfp_rep;
SELECT * FROM lfp_work.lfp_v_reader_outer ORDER BY id;
SELECT * FROM lfp_work.lfp_v_rep_outer ORDER BY id;
RESET ROLE;
-- A materialized view holds what its owner read: lfp_rep's masks, for
-- every reader, and again after a refresh (which runs as the owner).
SET ROLE lfp_rep;
CREATE MATERIALIZED VIEW lfp_work.lfp_mat AS SELECT id, secret, amount FROM public.lfp_deals;
GRANT SELECT ON lfp_work.lfp_mat TO lfp_users;
SET ROLE lfp_reader;
SELECT * FROM lfp_work.lfp_mat ORDER BY id;
RESET ROLE;
REFRESH MATERIALIZED VIEW lfp_work.lfp_mat;
SELECT * FROM lfp_work.lfp_mat ORDER BY id;

-- Writing through an auto-updatable view of lfp_rep's own: the view's
-- WHERE sees the masks when written through, as when read (otherwise the
-- rows an UPDATE or DELETE reaches, and a WITH CHECK OPTION's verdict,
-- would tell which rows hold a guessed value).  A security_barrier view's
-- WHERE becomes a qual on the table, a WITH CHECK OPTION a check on the
-- new row: both see the masks like the rest of the query.
SET ROLE lfp_rep;
CREATE VIEW lfp_work.lfp_plain AS
  SELECT * FROM public.lfp_deals WHERE secret = 'SECRET-BRAVO' OR amount > 400000;
CREATE VIEW lfp_work.lfp_barrier WITH (security_barrier) AS
  SELECT * FROM public.lfp_deals WHERE secret = 'SECRET-BRAVO' OR amount > 400000;
CREATE VIEW lfp_work.lfp_checked AS
  SELECT * FROM public.lfp_deals WHERE amount < 0 OR amount > 400000 WITH CHECK OPTION;
SELECT id FROM lfp_work.lfp_plain ORDER BY id;
SELECT id FROM lfp_work.lfp_barrier ORDER BY id;
SELECT id, amount FROM lfp_work.lfp_checked ORDER BY id;
BEGIN;
UPDATE lfp_work.lfp_plain SET note = 'hit' RETURNING id;
UPDATE lfp_work.lfp_barrier SET note = 'hit' RETURNING id;
DELETE FROM lfp_work.lfp_barrier RETURNING id;
ROLLBACK;
UPDATE lfp_work.lfp_checked SET note = 'checked' WHERE id = 1 RETURNING id, amount;
UPDATE lfp_work.lfp_checked SET note = 'checked' WHERE id = 2 RETURNING id, amount;
RESET ROLE;
SELECT id, secret, amount, note FROM lfp_deals ORDER BY id;
UPDATE lfp_deals SET note = NULL;

-- MERGE: WHEN conditions and the UPDATE's source values see the masks;
-- copying a hidden field writes the mask the principal reads.
SET ROLE lfp_rep;
MERGE INTO lfp_deals d USING (VALUES (1), (2)) s(id) ON d.id = s.id
  WHEN MATCHED AND d.amount > 400000 THEN UPDATE SET note = 'big'
  WHEN MATCHED AND d.secret = 'SECRET-BRAVO' THEN UPDATE SET note = 'guessed'
  WHEN MATCHED THEN UPDATE SET note = 'copy:' || d.secret || '/' || d.amount;
-- the managed table as the source: masked too
MERGE INTO lfp_deals d USING (SELECT id, secret, amount FROM lfp_deals) s ON d.id = s.id
  WHEN MATCHED AND s.amount > 400000 THEN UPDATE SET note = 'big source'
  WHEN MATCHED THEN UPDATE SET note = d.note || ' src:' || s.secret;
RESET ROLE;
SELECT id, secret, amount, note FROM lfp_deals ORDER BY id;
SET ROLE lfp_reader;
MERGE INTO lfp_deals d USING (VALUES (1), (2)) s(id) ON d.id = s.id
  WHEN MATCHED AND d.amount > 400000 THEN UPDATE SET note = 'big'
  WHEN MATCHED AND d.secret = 'SECRET-BRAVO' THEN UPDATE SET note = 'guessed'
  WHEN MATCHED THEN UPDATE SET note = 'copy:' || d.secret || '/' || d.amount;
RESET ROLE;
SELECT id, secret, amount, note FROM lfp_deals ORDER BY id;
UPDATE lfp_deals SET note = NULL;

-- INSERT ... ON CONFLICT DO UPDATE: its WHERE and SET see the target's
-- masks; EXCLUDED holds the values the writer supplied, and masks for the
-- columns it did not supply (their defaults).
SET ROLE lfp_rep;
INSERT INTO lfp_deals (id, name, owner_id) VALUES (2, 'x', 'u1')
  ON CONFLICT (id) DO UPDATE SET note = 'big' WHERE lfp_deals.amount > 400000;
INSERT INTO lfp_deals (id, name, owner_id) VALUES (2, 'x', 'u1')
  ON CONFLICT (id) DO UPDATE
  SET note = lfp_deals.secret || '/' || lfp_deals.amount || ' excluded:' ||
             coalesce(excluded.secret, 'null') || '/' || coalesce(excluded.amount::text, 'null')
  RETURNING id, name, secret, amount, note;
-- setting the field needs create and update on it
INSERT INTO lfp_deals (id, name, owner_id, secret) VALUES (2, 'x', 'u1', 'MINE')
  ON CONFLICT (id) DO UPDATE SET secret = excluded.secret;
INSERT INTO lfp_deals (id, name, owner_id) VALUES (2, 'x', 'u1')
  ON CONFLICT (id) DO UPDATE SET secret = excluded.secret;
SET ROLE lfp_writer;
INSERT INTO lfp_deals (id, name, owner_id, secret) VALUES (2, 'x', 'u1', 'WRITER-VALUE')
  ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, note = 'written'
  WHERE lfp_deals.amount > 400000
  RETURNING id, name, secret, amount, note;
RESET ROLE;
SELECT id, name, secret, amount, note FROM lfp_deals ORDER BY id;
UPDATE lfp_deals SET secret = 'SECRET-BRAVO', note = NULL WHERE id = 2;

-- Triggers run for the write, not for a reader: NEW and OLD hold the real
-- values of the row (documented behaviour: a trigger is the table owner's
-- code).  Here they copy them to an audit table only the superuser reads;
-- the writer itself gets the masks back, and the fields it did not set
-- keep their values.
CREATE TABLE lfp_audit (at text, id int, old_secret text, old_amount int,
                        new_secret text, new_amount int, new_note text);
REVOKE ALL ON lfp_audit FROM PUBLIC;
CREATE FUNCTION lfp_audit_trg() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.lfp_audit
    VALUES (TG_WHEN, OLD.id, OLD.secret, OLD.amount, NEW.secret, NEW.amount, NEW.note);
    RETURN NEW;
END
$$;
CREATE TRIGGER lfp_audit_before BEFORE UPDATE ON lfp_deals
  FOR EACH ROW EXECUTE FUNCTION lfp_audit_trg();
CREATE TRIGGER lfp_audit_after AFTER UPDATE ON lfp_deals
  FOR EACH ROW EXECUTE FUNCTION lfp_audit_trg();
SET ROLE lfp_rep;
UPDATE lfp_deals SET note = 'touched' WHERE id = 2 RETURNING id, secret, amount, note;
SELECT * FROM lfp_audit;
RESET ROLE;
SELECT * FROM lfp_audit ORDER BY at DESC;
SELECT id, secret, amount, note FROM lfp_deals ORDER BY id;
DROP TRIGGER lfp_audit_before ON lfp_deals;
DROP TRIGGER lfp_audit_after ON lfp_deals;
UPDATE lfp_deals SET note = NULL;

-- INSTEAD OF triggers get the view's OLD row as the caller reads it, masks
-- included, and could write them back: changing such a view is refused
-- while masks apply; inserting through it is allowed.
CREATE VIEW lfp_iview WITH (security_invoker) AS
  SELECT id, name, owner_id, secret, note FROM lfp_deals;
CREATE VIEW lfp_iview_narrow WITH (security_invoker) AS
  SELECT id, name, note FROM lfp_deals;
CREATE FUNCTION lfp_iview_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lfp_deals (id, name, owner_id, note) VALUES (NEW.id, NEW.name, 'u1', NEW.note);
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE lfp_deals SET name = NEW.name, note = NEW.note WHERE id = OLD.id;
        RETURN NEW;
    END IF;
    DELETE FROM lfp_deals WHERE id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER lfp_iview_trg INSTEAD OF INSERT OR UPDATE OR DELETE ON lfp_iview
  FOR EACH ROW EXECUTE FUNCTION lfp_iview_trg();
CREATE TRIGGER lfp_iview_trg INSTEAD OF INSERT OR UPDATE OR DELETE ON lfp_iview_narrow
  FOR EACH ROW EXECUTE FUNCTION lfp_iview_trg();
GRANT SELECT, INSERT, UPDATE, DELETE ON lfp_iview, lfp_iview_narrow TO lfp_users;
SET ROLE lfp_rep;
SELECT * FROM lfp_iview ORDER BY id;
UPDATE lfp_iview SET note = 'via view' WHERE id = 1;
DELETE FROM lfp_iview WHERE id = 1;
WITH d AS (DELETE FROM lfp_iview WHERE id = 2 RETURNING id) SELECT * FROM d;
-- a view showing no protected field is refused too: the check is per
-- table (fail closed)
UPDATE lfp_iview_narrow SET note = 'via view' WHERE id = 1;
INSERT INTO lfp_iview (id, name, note) VALUES (3, 'charlie', 'via view');
INSERT INTO lfp_iview_narrow (id, name, note) VALUES (4, 'delta', 'via view');
-- the reader reads no mask: allowed
SET ROLE lfp_reader;
UPDATE lfp_iview SET note = 'changed' WHERE id IN (1, 3);
DELETE FROM lfp_iview WHERE id = 4;
RESET ROLE;
SELECT id, name, owner_id, secret, amount, note FROM lfp_deals ORDER BY id;
DELETE FROM lfp_deals WHERE id > 2;
UPDATE lfp_deals SET note = NULL;

-- cleanup
DROP FUNCTION pg_temp.lfp_mine();
DROP SCHEMA lfp_work CASCADE;
DROP VIEW lfp_v_outer, lfp_v_invoker, lfp_iview, lfp_iview_narrow;
DROP FUNCTION lfp_iview_trg(), lfp_audit_trg(), lfp_srf(), lfp_table(), lfp_atomic_srf(),
  lfp_plpgsql(), lfp_scalar(int), lfp_atomic(int), lfp_row(lfp_deals), lfp_def_owner();
DROP TABLE lfp_audit;
SELECT crmperm.unmanage_table('lfp_deals');
DROP TABLE lfp_deals;
DROP FUNCTION lfp_mask_amount(int);
SELECT crmperm.drop_permission_set(s)
  FROM unnest(ARRAY['LFP crud', 'LFP read fields', 'LFP write fields', 'LFP export']) s;
DELETE FROM crmperm.principals
 WHERE principal IN ('lfp_rep'::regrole, 'lfp_reader'::regrole, 'lfp_writer'::regrole);
DROP ROLE lfp_rep, lfp_reader, lfp_writer, lfp_owner, lfp_users;

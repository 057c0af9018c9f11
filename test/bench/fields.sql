-- make bench: the field security database.  Four copies of one contacts-like
-- table (100,000 rows; owner_id 'u0' .. 'u99' as in setup.sql, so bench,
-- user 'u0', owns 1% of them), each read by bench with scope owned:
--
--   t_masked         managed by crmperm, read granted with scope owned;
--                    email, phone and contract_value protected (masks email,
--                    partial, null), no field grant: bench reads the masks
--   t_masked_native  unmanaged, native row security FORCEd, policy
--                    TO bench USING (owner_id = 'u0'), read through
--   v_masked         the same masks written by hand: a security_barrier,
--                    security_invoker view (so the policy applies to bench)
--   t_granted        as t_masked, but bench's set grants read on the three
--                    protected fields: bench reads every value, no mask
--   t_unprotected    as t_granted, with no field protected
--
-- Every address has one '@', so the view's email expression is crmperm's
-- email mask (which keeps from the last '@').  All owned by the superuser
-- running this: bench is governed everywhere.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION crmperm;

CREATE FUNCTION pg_temp.make_contacts(tbl text, nrows int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (aid int PRIMARY KEY, owner_id text NOT NULL, '
                   'name text NOT NULL, email text NOT NULL, phone text NOT NULL, '
                   'contract_value numeric NOT NULL, filler char(40)) '
                   'WITH (autovacuum_enabled = off)', tbl);
    EXECUTE format('INSERT INTO %I SELECT g, ''u'' || (g %% 100), ''Contact '' || g, '
                   '''contact'' || g || ''@example'' || (g %% 10) || ''.com'', '
                   '''+1 555 '' || lpad(g::text, 7, ''0''), round((g * 37 %% 100000) / 100.0, 2), '''' '
                   'FROM generate_series(1, %s) g', tbl, nrows);
    EXECUTE format('CREATE INDEX ON %I (owner_id)', tbl);
    EXECUTE format('GRANT SELECT ON %I TO bench', tbl);
END
$$;

SELECT pg_temp.make_contacts(t, 100000)
  FROM unnest(ARRAY['t_masked', 't_masked_native', 't_granted', 't_unprotected']) t;

SELECT crmperm.set_principal('bench', user_id => 'u0');

-- crmperm: three protected fields, no field grant (masked read)
SELECT crmperm.manage_table('t_masked', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Bench masked');
SELECT crmperm.grant('Bench masked', 't_masked', ARRAY['read'], scope => 'owned');
SELECT crmperm.assign_permission_set('bench', 'Bench masked');
SELECT crmperm.protect_field('t_masked', 'email', 'email');
SELECT crmperm.protect_field('t_masked', 'phone', 'partial');
SELECT crmperm.protect_field('t_masked', 'contract_value', 'null');

-- the same by hand: native policy, masking view
ALTER TABLE t_masked_native ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY owned ON t_masked_native TO bench USING (owner_id = 'u0');
CREATE VIEW v_masked WITH (security_barrier, security_invoker) AS
    SELECT aid, owner_id, name,
           '****' || substring(email FROM position('@' IN email)) AS email,
           CASE WHEN char_length(phone) <= 4 THEN '****' ELSE '****' || right(phone, 4) END AS phone,
           NULL::numeric AS contract_value,
           filler
      FROM t_masked_native;
GRANT SELECT ON v_masked TO bench;

-- crmperm: three protected fields, all granted (unmasked read) ...
SELECT crmperm.manage_table('t_granted', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Bench granted');
SELECT crmperm.grant('Bench granted', 't_granted', ARRAY['read'], scope => 'owned');
SELECT crmperm.protect_field('t_granted', f.field, f.mask)
  FROM (VALUES ('email', 'email'), ('phone', 'partial'), ('contract_value', 'null')) f(field, mask);
SELECT crmperm.grant_field('Bench granted', 't_granted', f, ARRAY['read'])
  FROM unnest(ARRAY['email', 'phone', 'contract_value']::name[]) f;
SELECT crmperm.assign_permission_set('bench', 'Bench granted');

-- ... and no field protected
SELECT crmperm.manage_table('t_unprotected', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Bench unprotected');
SELECT crmperm.grant('Bench unprotected', 't_unprotected', ARRAY['read'], scope => 'owned');
SELECT crmperm.assign_permission_set('bench', 'Bench unprotected');

-- Statistics from every row, as in setup.sql.
SET default_statistics_target = 400;
VACUUM ANALYZE;

-- Leak path (PostgreSQL 17 and later): MERGE ... RETURNING, merge_action()
-- and WHEN NOT MATCHED BY SOURCE.  RETURNING shows only rows the role may
-- read and masks what it may not read, as every other RETURNING does; NOT
-- MATCHED BY SOURCE updates and deletes only rows in scope, and a row out of
-- scope is never returned.  (Runs on 17 and 18: on 15 the syntax does not
-- exist.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE mr_deals (id int PRIMARY KEY, name text, owner_id text, amount int, secret text);
INSERT INTO mr_deals VALUES (1, 'own-1', 'u1', 10, 's-1'), (2, 'own-2', 'u1', 20, 's-2'),
                            (3, 'hidden-3', 'u3', 30, 's-3'), (4, 'hidden-4', 'u4', 40, 's-4');
CREATE ROLE mr_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON mr_deals TO mr_users;
CREATE ROLE mr_rep LOGIN IN ROLE mr_users;       -- everything, owned; secret masked
CREATE ROLE mr_reader LOGIN IN ROLE mr_users;    -- read owned only
SELECT crmperm.manage_table('mr_deals', owner_column => 'owner_id');
SELECT crmperm.protect_field('mr_deals', 'secret', 'redact');
SELECT crmperm.create_permission_set('MR own');
SELECT crmperm.grant('MR own', 'mr_deals', ARRAY['read', 'create', 'update', 'delete'], 'owned');
SELECT crmperm.create_permission_set('MR read');
SELECT crmperm.grant('MR read', 'mr_deals', ARRAY['read'], 'owned');
SELECT crmperm.assign_permission_set('mr_rep', 'MR own');
SELECT crmperm.assign_permission_set('mr_reader', 'MR read');
SELECT crmperm.set_principal('mr_rep', user_id => 'u1');
SELECT crmperm.set_principal('mr_reader', user_id => 'u1');
CREATE TABLE mr_source (id int, name text);      -- not managed
INSERT INTO mr_source VALUES (1, 'src-1'), (5, 'src-5');
GRANT SELECT ON mr_source TO mr_users;

SET ROLE mr_rep;
-- RETURNING: its own rows, secret masked (old and new values alike)
BEGIN;
MERGE INTO mr_deals d USING mr_source s ON d.id = s.id
  WHEN MATCHED THEN UPDATE SET name = s.name
  WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name, 'u1', 0)
  RETURNING merge_action(), d.*, d::text AS whole;
ROLLBACK;
-- WHEN NOT MATCHED BY SOURCE: only rows in scope (row 2), never 4 or 3
BEGIN;
MERGE INTO mr_deals d USING mr_source s ON d.id = s.id
  WHEN NOT MATCHED BY SOURCE THEN UPDATE SET amount = -1
  RETURNING merge_action(), d.id, d.amount, d.secret;
ROLLBACK;
BEGIN;
MERGE INTO mr_deals d USING mr_source s ON d.id = s.id
  WHEN NOT MATCHED BY SOURCE THEN DELETE
  RETURNING merge_action(), d.*;
ROLLBACK;
-- a RETURNING expression over a masked field reads the mask
BEGIN;
MERGE INTO mr_deals d USING mr_source s ON d.id = s.id
  WHEN MATCHED THEN UPDATE SET amount = d.amount + 1
  RETURNING d.id, length(d.secret) AS secret_length, d.secret IS NULL AS secret_null;
ROLLBACK;
-- a row written with a masked field: the field is refused, as in UPDATE
MERGE INTO mr_deals d USING mr_source s ON d.id = s.id
  WHEN MATCHED THEN UPDATE SET secret = 'x' RETURNING d.id;
RESET ROLE;
-- read only: MERGE ... RETURNING is refused before anything is read
SET ROLE mr_reader;
MERGE INTO mr_deals d USING mr_source s ON d.id = s.id
  WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING d.*;
RESET ROLE;
-- nothing changed
SELECT * FROM mr_deals ORDER BY id;

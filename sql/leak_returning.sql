-- Leak path: RETURNING.  RETURNING reads the rows it returns, so PostgreSQL
-- applies the read scope to UPDATE / DELETE ... RETURNING (rows outside it
-- are neither changed nor returned) and checks new rows of INSERT / UPDATE
-- ... RETURNING against it (a row the role could not read back is refused,
-- with no values in the message).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE lr_deals (id int PRIMARY KEY, name text, owner_id text, amount int);
INSERT INTO lr_deals VALUES (1, 'own-u1', 'u1', 10), (2, 'hidden-u2', 'u2', 20),
                            (3, 'hidden-u3', 'u3', 30), (4, 'hidden-null', NULL, 40);
CREATE ROLE lr_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON lr_deals TO lr_users;
CREATE ROLE lr_rep LOGIN IN ROLE lr_users;       -- everything, owned
CREATE ROLE lr_writer LOGIN IN ROLE lr_users;    -- update and delete all rows, read owned
CREATE ROLE lr_capture LOGIN IN ROLE lr_users;   -- create any row, read owned
SELECT crmperm.manage_table('lr_deals', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('LR own');
SELECT crmperm.grant('LR own', 'lr_deals', ARRAY['read', 'create', 'update', 'delete'], 'owned');
SELECT crmperm.create_permission_set('LR writer');
SELECT crmperm.grant('LR writer', 'lr_deals', ARRAY['read'], 'owned');
SELECT crmperm.grant('LR writer', 'lr_deals', ARRAY['update', 'delete']);
SELECT crmperm.create_permission_set('LR capture');
SELECT crmperm.grant('LR capture', 'lr_deals', ARRAY['read'], 'owned');
SELECT crmperm.grant('LR capture', 'lr_deals', ARRAY['create']);
SELECT crmperm.assign_permission_set('lr_rep', 'LR own');
SELECT crmperm.assign_permission_set('lr_writer', 'LR writer');
SELECT crmperm.assign_permission_set('lr_capture', 'LR capture');
SELECT crmperm.set_principal('lr_rep', user_id => 'u1');
SELECT crmperm.set_principal('lr_writer', user_id => 'u1');
SELECT crmperm.set_principal('lr_capture', user_id => 'u1');

-- Everything owned: RETURNING shows its own rows only, subqueries in
-- RETURNING see its own rows only.
SET ROLE lr_rep;
UPDATE lr_deals SET amount = amount + 1 RETURNING *;
UPDATE lr_deals SET amount = amount + 1 WHERE id IN (2, 3, 4) RETURNING *;
DELETE FROM lr_deals WHERE id > 1 RETURNING *;
UPDATE lr_deals SET amount = amount RETURNING id, (SELECT string_agg(name, ',') FROM lr_deals) AS names;
UPDATE lr_deals SET amount = amount RETURNING row_to_json(lr_deals.*);
WITH u AS (UPDATE lr_deals SET amount = amount RETURNING *) SELECT id, name FROM u;
INSERT INTO lr_deals VALUES (5, 'new-u1', 'u1', 50) RETURNING *;
INSERT INTO lr_deals VALUES (6, 'new-u1', 'u1', 60)
  RETURNING id, (SELECT count(*) FROM lr_deals) AS visible;
INSERT INTO lr_deals VALUES (7, 'new-u2', 'u2', 70) RETURNING *;   -- outside the create scope
DELETE FROM lr_deals WHERE id IN (5, 6) RETURNING id, name;
RESET ROLE;
SELECT id, amount FROM lr_deals ORDER BY id;   -- hidden rows untouched

-- Update and delete on every row, read on its own rows only: without
-- RETURNING and without reading a column, every row is written (scope all);
-- with RETURNING, only rows it may read are written and returned.
SET ROLE lr_writer;
BEGIN;
UPDATE lr_deals SET amount = 0;
UPDATE lr_deals SET amount = 1 RETURNING *;
UPDATE lr_deals SET amount = 2 WHERE amount = 0 RETURNING id;
DELETE FROM lr_deals RETURNING *;
RESET ROLE;
SELECT id, amount FROM lr_deals ORDER BY id;
ROLLBACK;
SET ROLE lr_writer;
-- moving a row out of the read scope while returning it: refused, no values
UPDATE lr_deals SET owner_id = 'u2' WHERE id = 1 RETURNING *;
UPDATE lr_deals SET owner_id = 'u2' WHERE id = 1 RETURNING id;
RESET ROLE;

-- Create any row, read its own: a new row it may not read back cannot be
-- returned (PostgreSQL's refusal, no values); without RETURNING it is
-- created.
SET ROLE lr_capture;
INSERT INTO lr_deals VALUES (8, 'new-u1', 'u1', 80) RETURNING *;
INSERT INTO lr_deals VALUES (9, 'new-u2', 'u2', 90) RETURNING *;
INSERT INTO lr_deals VALUES (9, 'new-u2', 'u2', 90) RETURNING id;
INSERT INTO lr_deals VALUES (9, 'new-u2', 'u2', 90);
RESET ROLE;
SELECT id, owner_id FROM lr_deals WHERE id >= 8 ORDER BY id;

-- cleanup
SELECT crmperm.unmanage_table('lr_deals');
DROP TABLE lr_deals;
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['LR own', 'LR writer', 'LR capture']) n;
DELETE FROM crmperm.principals
 WHERE principal IN ('lr_rep'::regrole, 'lr_writer'::regrole, 'lr_capture'::regrole);
DROP ROLE lr_rep, lr_writer, lr_capture, lr_users;

-- Fields ---------------------------------------------------------------------
-- RETURNING reads like SELECT: a hidden field comes back as its mask, in
-- plain columns, in expressions, in RETURNING * and in the rows a
-- data-modifying CTE hands on; old values fetched through a subquery are
-- masked too.  lrf_rep changes every row but reads no hidden field;
-- lrf_reader runs the same statements and gets the real values.
CREATE TABLE lrf_deals (id int PRIMARY KEY, owner_id text, note text,
                        amount numeric(12,2) DEFAULT 424242.42, code text);
INSERT INTO lrf_deals VALUES (1, 'u1', 'n1', 987654.32, 'SECRET-ALPHA'),
                             (2, 'u2', 'n2', 555.55, 'SECRET-BRAVO');
CREATE TABLE lrf_log (id int, amount numeric(12,2), code text);      -- not managed
CREATE ROLE lrf_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON lrf_deals, lrf_log TO lrf_users;
CREATE ROLE lrf_rep LOGIN IN ROLE lrf_users;
CREATE ROLE lrf_reader LOGIN IN ROLE lrf_users;
SELECT crmperm.manage_table('lrf_deals', owner_column => 'owner_id');
SELECT crmperm.protect_field('lrf_deals', 'amount');
SELECT crmperm.protect_field('lrf_deals', 'code', 'partial');
SELECT crmperm.create_permission_set('LRF crud');
SELECT crmperm.grant('LRF crud', 'lrf_deals', ARRAY['read', 'create', 'update', 'delete']);
SELECT crmperm.create_permission_set('LRF fields');
SELECT crmperm.grant_field('LRF fields', 'lrf_deals', f, ARRAY['read', 'create', 'update'])
  FROM unnest(ARRAY['amount', 'code']) f;
SELECT crmperm.assign_permission_set('lrf_rep', 'LRF crud');
SELECT crmperm.assign_permission_set('lrf_reader', 'LRF crud');
SELECT crmperm.assign_permission_set('lrf_reader', 'LRF fields');
SELECT crmperm.set_principal('lrf_rep', user_id => 'u1');
SELECT crmperm.set_principal('lrf_reader', user_id => 'u1');

SET ROLE lrf_rep;
-- INSERT: supplying a hidden field is refused; the default of a hidden
-- field it did not supply comes back masked.
INSERT INTO lrf_deals VALUES (4, 'u1', 'n4', 1, 'x') RETURNING id;
BEGIN;
INSERT INTO lrf_deals (id, owner_id, note) VALUES (3, 'u1', 'n3') RETURNING *;
-- UPDATE: plain columns, expressions, old values through subqueries.
UPDATE lrf_deals SET note = note || '+' WHERE id IN (1, 2) RETURNING *;
UPDATE lrf_deals SET note = note WHERE id IN (1, 2)
  RETURNING id, amount * 2 AS doubled, amount > 1000 AS big, code || '!' AS code,
            length(code) AS len, coalesce(amount::text, 'masked') AS amount_text;
UPDATE lrf_deals d SET note = 'x' FROM (SELECT id, amount, code FROM lrf_deals) old
 WHERE old.id = d.id AND d.id IN (1, 2) RETURNING d.id, old.amount, old.code;
UPDATE lrf_deals d SET note = 'y' WHERE id IN (1, 2)
  RETURNING id, (SELECT o.amount FROM lrf_deals o WHERE o.id = d.id) AS old_amount;
-- a hidden field written into a plain one holds the mask
UPDATE lrf_deals SET note = code || ':' || coalesce(amount::text, '?') WHERE id IN (1, 2)
  RETURNING id, note;
-- data-modifying CTEs handing the rows on, DELETE RETURNING *
WITH u AS (UPDATE lrf_deals SET note = 'z' RETURNING id, amount, code)
SELECT count(amount) AS amounts, string_agg(code, ',' ORDER BY id) AS codes FROM u;
DELETE FROM lrf_deals WHERE id = 1 RETURNING *;
WITH d AS (DELETE FROM lrf_deals WHERE id = 2 RETURNING *)
INSERT INTO lrf_log SELECT id, amount, code FROM d RETURNING *;
ROLLBACK;
RESET ROLE;
SELECT * FROM lrf_deals ORDER BY id;   -- untouched

SET ROLE lrf_reader;
BEGIN;
INSERT INTO lrf_deals (id, owner_id, note) VALUES (3, 'u1', 'n3') RETURNING *;
UPDATE lrf_deals SET note = note || '+' WHERE id IN (1, 2) RETURNING *;
UPDATE lrf_deals SET note = note WHERE id IN (1, 2)
  RETURNING id, amount * 2 AS doubled, amount > 1000 AS big, code || '!' AS code,
            length(code) AS len, coalesce(amount::text, 'masked') AS amount_text;
UPDATE lrf_deals d SET note = 'x' FROM (SELECT id, amount, code FROM lrf_deals) old
 WHERE old.id = d.id AND d.id IN (1, 2) RETURNING d.id, old.amount, old.code;
WITH u AS (UPDATE lrf_deals SET note = 'z' RETURNING id, amount, code)
SELECT count(amount) AS amounts, string_agg(code, ',' ORDER BY id) AS codes FROM u;
DELETE FROM lrf_deals WHERE id = 1 RETURNING *;
WITH d AS (DELETE FROM lrf_deals WHERE id = 2 RETURNING *)
INSERT INTO lrf_log SELECT id, amount, code FROM d RETURNING *;
ROLLBACK;
RESET ROLE;

-- cleanup
SELECT crmperm.unmanage_table('lrf_deals');
DROP TABLE lrf_deals, lrf_log;
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['LRF crud', 'LRF fields']) n;
DELETE FROM crmperm.principals WHERE principal IN ('lrf_rep'::regrole, 'lrf_reader'::regrole);
DROP ROLE lrf_rep, lrf_reader, lrf_users;

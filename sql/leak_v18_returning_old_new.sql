-- Leak paths (PostgreSQL 18 and later): RETURNING old.* / new.* and
-- virtual generated columns.  A masked field reads as its mask in old and
-- new alike, whole-row references included; a virtual generated column
-- computed from a masked field reads as NULL, as a stored one does (the
-- planner expands virtual columns after crmperm's planner hook: crmperm
-- masks them first).  (Runs on 18: on 15 and 17 the syntax does not exist.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE ro_deals (id int PRIMARY KEY, owner_id text, amount int, secret text,
                       secret_len int GENERATED ALWAYS AS (length(secret)) VIRTUAL,
                       doubled int GENERATED ALWAYS AS (amount * 2) VIRTUAL,
                       secret_copy text GENERATED ALWAYS AS (secret || '') STORED);
INSERT INTO ro_deals (id, owner_id, amount, secret)
  VALUES (1, 'u1', 10, 'sesame-1'), (2, 'u1', 20, 'sesame-22'), (3, 'u3', 30, 'sesame-333');
CREATE ROLE ro_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON ro_deals TO ro_users;
CREATE ROLE ro_rep LOGIN IN ROLE ro_users;
SELECT crmperm.manage_table('ro_deals', owner_column => 'owner_id');
SELECT crmperm.protect_field('ro_deals', 'secret', 'partial');
SELECT crmperm.create_permission_set('RO own');
SELECT crmperm.grant('RO own', 'ro_deals', ARRAY['read', 'create', 'update', 'delete'], 'owned');
SELECT crmperm.assign_permission_set('ro_rep', 'RO own');
SELECT crmperm.set_principal('ro_rep', user_id => 'u1');

SET ROLE ro_rep;
-- virtual and stored generated columns over the masked field: NULL; over a
-- readable one: computed
SELECT * FROM ro_deals ORDER BY id;
SELECT id FROM ro_deals WHERE secret_len = 8;          -- no oracle either
SELECT sum(secret_len) AS total FROM ro_deals;
BEGIN;
UPDATE ro_deals SET amount = amount + 1
  RETURNING old.id, old.secret, new.secret, old.secret_len, new.secret_len, new.doubled;
UPDATE ro_deals SET amount = amount + 1 WHERE id = 1 RETURNING old.*, new.*;
UPDATE ro_deals SET amount = amount + 1 WHERE id = 1 RETURNING old, new;
DELETE FROM ro_deals WHERE id = 2 RETURNING old.secret, old.secret_len, old::text AS whole;
INSERT INTO ro_deals (id, owner_id, amount) VALUES (9, 'u1', 1)
  RETURNING old.secret, new.secret, new.secret_len;
INSERT INTO ro_deals (id, owner_id, amount) VALUES (1, 'u1', 5)
  ON CONFLICT (id) DO UPDATE SET amount = excluded.amount
  RETURNING old.secret, old.secret_len, new.amount;
ROLLBACK;
-- the hidden row is never returned, old or new
UPDATE ro_deals SET amount = 0 WHERE id = 3 RETURNING old.*;
RESET ROLE;
SELECT id, amount, secret, secret_len FROM ro_deals ORDER BY id;

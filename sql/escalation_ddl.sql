-- DDL that changes stored values, or moves rows in or out, is a write: on a
-- sensitive table (and its partitions) only superusers and super admins may
-- run it, the table owner included; changing the type of a read-only field,
-- or dropping it, likewise.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE ROLE ed_owner NOLOGIN;
CREATE ROLE ed_sa NOLOGIN IN ROLE ed_owner;   -- a super admin (member of the owner: it may ALTER)
GRANT CREATE ON SCHEMA public TO ed_owner;

SET ROLE ed_owner;
CREATE TYPE ed_stage AS ENUM ('open', 'won');
CREATE DOMAIN ed_stage_d AS ed_stage;
CREATE TABLE ed_secrets (id int PRIMARY KEY, v text);
INSERT INTO ed_secrets VALUES (1, 'real'), (2, 'real');
CREATE TABLE ed_log (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE ed_log_1 PARTITION OF ed_log FOR VALUES FROM (0) TO (100);
INSERT INTO ed_log VALUES (1, 'kept');
CREATE TABLE ed_outside (id int, v text);
INSERT INTO ed_outside VALUES (150, 'forged');
CREATE TABLE ed_deals (id int, stage ed_stage_d, amount int, note text);
INSERT INTO ed_deals VALUES (1, 'open', 10, 'x');
RESET ROLE;
SELECT crmperm.manage_table('ed_secrets', sensitive => true);
SELECT crmperm.manage_table('ed_log', sensitive => true);
SELECT crmperm.manage_table('ed_deals');
SELECT crmperm.protect_field('ed_deals', 'stage', readonly => true);
SELECT crmperm.protect_field('ed_deals', 'amount', readonly => true);
SELECT crmperm.set_super_admin('ed_sa', true);

-- ---------------------------------------------------------------------------
-- The owner cannot UPDATE a sensitive table, nor rewrite it through DDL.
-- ---------------------------------------------------------------------------
SET ROLE ed_owner;
UPDATE ed_secrets SET v = 'tampered';
ALTER TABLE ed_secrets ALTER COLUMN v TYPE text USING 'tampered';
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ed_secrets ALTER COLUMN v TYPE varchar(100);
ALTER TABLE ed_secrets ADD COLUMN flag text DEFAULT 'tampered';
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ed_secrets ADD COLUMN seq serial;
ALTER TABLE ed_secrets ADD COLUMN g text GENERATED ALWAYS AS (v || '!') STORED;
ALTER TABLE ed_secrets ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;
ALTER TABLE ed_secrets ADD COLUMN d ed_stage_d;    -- no default: allowed
ALTER TABLE ed_secrets DROP COLUMN d;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ed_secrets DROP COLUMN v;
DROP TABLE ed_secrets;
\echo :LAST_ERROR_SQLSTATE
-- rows brought in, or taken out
ALTER TABLE ed_log ATTACH PARTITION ed_outside FOR VALUES FROM (100) TO (200);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ed_log DETACH PARTITION ed_log_1;
DROP TABLE ed_log_1;
CREATE TABLE ed_heir (id int, v text);
ALTER TABLE ed_heir INHERIT ed_secrets;
\echo :LAST_ERROR_SQLSTATE
-- an empty partition adds no row: allowed
CREATE TABLE ed_log_2 PARTITION OF ed_log FOR VALUES FROM (200) TO (300);
RESET ROLE;
SELECT * FROM ed_secrets ORDER BY id;
SELECT * FROM ed_log ORDER BY id;

-- ---------------------------------------------------------------------------
-- Read-only fields of any managed table: no type change, no drop; an
-- enum they store keeps its values' names.
-- ---------------------------------------------------------------------------
SET ROLE ed_owner;
UPDATE ed_deals SET amount = 99;
ALTER TABLE ed_deals ALTER COLUMN amount TYPE bigint USING 99;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ed_deals DROP COLUMN amount;
\echo :LAST_ERROR_SQLSTATE
ALTER TYPE ed_stage RENAME VALUE 'open' TO 'won_already';
\echo :LAST_ERROR_SQLSTATE
ALTER TYPE ed_stage ADD VALUE 'lost';                    -- no stored value changes
ALTER TABLE ed_deals ALTER COLUMN note TYPE varchar(10);  -- not a read-only field
ALTER TABLE ed_deals DROP COLUMN note;
RESET ROLE;
SELECT id, stage, amount FROM ed_deals;

-- ---------------------------------------------------------------------------
-- Super admins and superusers may.
-- ---------------------------------------------------------------------------
SET ROLE ed_sa;
ALTER TABLE ed_secrets ADD COLUMN flag text DEFAULT 'set by a super admin';
ALTER TABLE ed_deals ALTER COLUMN amount TYPE bigint;
RESET ROLE;
ALTER TABLE ed_log DETACH PARTITION ed_log_2;
DROP TABLE ed_log_2;
SELECT * FROM ed_secrets ORDER BY id;

-- cleanup
SELECT crmperm.unmanage_table('ed_secrets');
SELECT crmperm.unmanage_table('ed_log');
SELECT crmperm.unmanage_table('ed_deals');
DROP TABLE ed_secrets, ed_log, ed_outside, ed_deals, ed_heir;
DROP DOMAIN ed_stage_d;
DROP TYPE ed_stage;
DELETE FROM crmperm.principals WHERE principal::text LIKE 'ed_%';
REVOKE CREATE ON SCHEMA public FROM ed_owner;
DROP ROLE ed_owner, ed_sa;

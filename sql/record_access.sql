-- Record access across tables: rows that follow their parent (scope
-- parent), rows shared one by one (share()), account teams (scope
-- assigned), custom scopes that read managed tables.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/plan.sql

CREATE TABLE ra_clients (id int PRIMARY KEY, owner_id text, tenant text, name text, secret text);
CREATE TABLE ra_orders (id int PRIMARY KEY, client_id int NOT NULL REFERENCES ra_clients,
                        owner_id text, tenant text, total int);
CREATE INDEX ON ra_orders (client_id);
CREATE TABLE ra_lines (order_id int NOT NULL, line int NOT NULL, tenant text, item text,
                       PRIMARY KEY (order_id, line));
ALTER TABLE ra_lines ADD FOREIGN KEY (order_id) REFERENCES ra_orders;
-- a composite foreign key
CREATE TABLE ra_regions (country text, code text, owner_id text, tenant text,
                         PRIMARY KEY (country, code));
CREATE TABLE ra_offices (id int PRIMARY KEY, country text, code text, tenant text,
                         FOREIGN KEY (country, code) REFERENCES ra_regions);
INSERT INTO ra_clients VALUES (1, 'u1', 't1', 'Acme', 's1'), (2, 'u2', 't1', 'Globex', 's2'),
                              (3, 'u1', 't2', 'Other tenant', 's3');
INSERT INTO ra_orders VALUES (10, 1, 'u2', 't1', 100), (11, 1, 'u2', 't1', 110),
                             (20, 2, 'u2', 't1', 200), (30, 3, 'u1', 't2', 300);
INSERT INTO ra_lines VALUES (10, 1, 't1', 'bolt'), (10, 2, 't1', 'nut'), (20, 1, 't1', 'gear'),
                            (30, 1, 't2', 'cog');
INSERT INTO ra_regions VALUES ('de', 'by', 'u1', 't1'), ('fr', 'pa', 'u2', 't1');
INSERT INTO ra_offices VALUES (1, 'de', 'by', 't1'), (2, 'fr', 'pa', 't1');

CREATE ROLE ra_alice LOGIN;   -- user u1, team east, tenant t1
CREATE ROLE ra_bob LOGIN;     -- user u2, tenant t1
CREATE ROLE ra_carol LOGIN;   -- user u3, team west, tenant t1
CREATE ROLE ra_dave LOGIN;    -- user u4, tenant t2
CREATE ROLE ra_users;
GRANT ra_users TO ra_alice, ra_bob, ra_carol, ra_dave;
GRANT SELECT, INSERT, UPDATE, DELETE ON ra_clients, ra_orders, ra_lines, ra_regions, ra_offices
    TO ra_users;
SELECT crmperm.manage_table('ra_clients', owner_column => 'owner_id', tenant_column => 'tenant');
SELECT crmperm.manage_table('ra_orders', owner_column => 'owner_id', tenant_column => 'tenant');
SELECT crmperm.manage_table('ra_lines', tenant_column => 'tenant');
SELECT crmperm.manage_table('ra_regions', owner_column => 'owner_id', tenant_column => 'tenant');
SELECT crmperm.manage_table('ra_offices', tenant_column => 'tenant');
SELECT crmperm.set_principal('ra_alice', user_id => 'u1', team_ids => ARRAY['east'], tenant_id => 't1');
SELECT crmperm.set_principal('ra_bob', user_id => 'u2', tenant_id => 't1');
SELECT crmperm.set_principal('ra_carol', user_id => 'u3', team_ids => ARRAY['west'], tenant_id => 't1');
SELECT crmperm.set_principal('ra_dave', user_id => 'u4', tenant_id => 't2');
SELECT crmperm.protect_field('ra_clients', 'secret', 'redact');

-- ---------------------------------------------------------------------------
-- Parents: declared through a foreign key; chains; loops and bad input refused.
-- ---------------------------------------------------------------------------
SELECT crmperm.set_parent('ra_orders', 'ra_clients', ARRAY['client_id']);
SELECT crmperm.set_parent('ra_lines', 'ra_orders', ARRAY['order_id']);
SELECT crmperm.set_parent('ra_offices', 'ra_regions', ARRAY['country', 'code']);
SELECT crmperm.set_parent('ra_clients', 'ra_lines', ARRAY['id']);        -- no such foreign key
SELECT crmperm.set_parent('ra_clients', 'ra_clients', ARRAY['id']);      -- itself
SELECT crmperm.set_parent('ra_offices', 'ra_regions', ARRAY['code', 'country']);  -- wrong order
SELECT crmperm.set_parent('ra_orders', 'ra_clients', ARRAY['nosuch']);
SELECT crmperm.set_parent('ra_orders', 'ra_clients', ARRAY[]::name[]);
SELECT crmperm.set_parent('ra_orders', 'nosuch', ARRAY['client_id']);
-- a loop through others: clients would follow lines, which follow orders,
-- which follow clients
ALTER TABLE ra_clients ADD COLUMN first_order int;
ALTER TABLE ra_clients ADD COLUMN first_line int;
ALTER TABLE ra_clients ADD FOREIGN KEY (first_order, first_line) REFERENCES ra_lines;
SELECT crmperm.set_parent('ra_clients', 'ra_lines', ARRAY['first_order', 'first_line']);
SELECT resource, parent, fk_columns FROM crmperm.parents ORDER BY resource;

SELECT crmperm.create_permission_set('RA Rep');
SELECT crmperm.grant('RA Rep', 'ra_clients', ARRAY['read', 'update'], 'owned');
SELECT crmperm.grant('RA Rep', 'ra_orders', ARRAY['read', 'create', 'update', 'delete'], 'parent');
SELECT crmperm.grant('RA Rep', 'ra_lines', ARRAY['read', 'create'], 'parent');
SELECT crmperm.grant('RA Rep', 'ra_regions', ARRAY['read'], 'owned');
SELECT crmperm.grant('RA Rep', 'ra_offices', ARRAY['read'], 'parent');
SELECT crmperm.grant('RA Rep', 'ra_lines', ARRAY['update'], 'nosuch');
SELECT crmperm.grant('RA Rep', 'ra_clients', ARRAY['delete'], 'parent');   -- clients have no parent
SELECT crmperm.set_parent('ra_orders', NULL);       -- refused: granted with scope parent
SELECT crmperm.assign_permission_set(p, 'RA Rep') FROM unnest(ARRAY['ra_alice', 'ra_bob', 'ra_dave']::regrole[]) p;

-- alice owns client 1: its orders and their lines; bob owns client 2.
SET ROLE ra_alice;
SELECT id, client_id FROM ra_orders ORDER BY id;
SELECT order_id, line, item FROM ra_lines ORDER BY 1, 2;
SELECT id FROM ra_offices ORDER BY id;                  -- composite key: region de/by
-- the parent's masked field never decides nor leaks (it is not even read)
SELECT o.id, c.secret FROM ra_orders o JOIN ra_clients c ON c.id = o.client_id ORDER BY o.id;
-- writes follow the parent's update scope
UPDATE ra_orders SET total = total + 1 RETURNING id;
INSERT INTO ra_orders VALUES (12, 1, 'u1', 't1', 5) RETURNING id;
INSERT INTO ra_orders VALUES (21, 2, 'u1', 't1', 5);    -- client 2 is bob's
UPDATE ra_orders SET client_id = 2 WHERE id = 12;       -- moving it out
DELETE FROM ra_orders WHERE id = 12 RETURNING id;
INSERT INTO ra_lines VALUES (11, 1, 't1', 'washer') RETURNING order_id, line;
INSERT INTO ra_lines VALUES (20, 2, 't1', 'spring');    -- order 20 is under bob's client
-- the other tenant's client 3 is u1's too: the tenant boundary holds on both tables
SELECT count(*) FROM ra_orders WHERE id = 30;
-- every path: views, functions, prepared and generic plans, cursors, COPY
CREATE TEMP VIEW ra_v AS SELECT id FROM ra_orders;
SELECT id FROM ra_v ORDER BY id;
PREPARE ra_p AS SELECT array_agg(id ORDER BY id) FROM ra_orders;
SET plan_cache_mode = force_generic_plan;
EXECUTE ra_p;
BEGIN;
DECLARE ra_c CURSOR FOR SELECT id FROM ra_orders ORDER BY id;
FETCH ALL FROM ra_c;
COMMIT;
COPY (SELECT id FROM ra_orders ORDER BY id) TO STDOUT;
RESET ROLE;
-- a parent change reaches the cached plan at once
UPDATE ra_clients SET owner_id = 'u1' WHERE id = 2;
SET ROLE ra_alice;
EXECUTE ra_p;
RESET ROLE;
UPDATE ra_clients SET owner_id = 'u2' WHERE id = 2;
SET ROLE ra_alice;
EXECUTE ra_p;
RESET plan_cache_mode;
DEALLOCATE ra_p;
RESET ROLE;

-- bob: client 2 only
SET ROLE ra_bob;
SELECT id FROM ra_orders ORDER BY id;
SELECT order_id, line FROM ra_lines ORDER BY 1, 2;
RESET ROLE;
-- dave, tenant t2, u4: owns nothing
SET ROLE ra_dave;
SELECT count(*) FROM ra_orders;
RESET ROLE;

-- The plan: a semi-join on the parent's key, the parent's scope inside.
SET ROLE ra_alice;
SELECT * FROM pg_temp.plan($q$(COSTS OFF) SELECT * FROM ra_orders$q$);
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Shared rows.
-- ---------------------------------------------------------------------------
SELECT crmperm.create_permission_set('RA Sharer');
SELECT crmperm.grant_system('RA Sharer', 'share');
SELECT crmperm.assign_permission_set('ra_alice', 'RA Sharer');
SELECT crmperm.create_permission_set('RA Viewer');
SELECT crmperm.grant('RA Viewer', 'ra_clients', ARRAY['read'], 'owned');
SELECT crmperm.assign_permission_set('ra_carol', 'RA Viewer');

SET ROLE ra_carol;
SELECT id FROM ra_clients ORDER BY id;         -- none of hers
RESET ROLE;
-- alice shares her client 1 with carol (read), for a deal
SET ROLE ra_alice;
SELECT crmperm.share('ra_clients', 1, 'ra_carol', ARRAY['read', 'update']);
SELECT crmperm.share('ra_clients', 2, 'ra_carol', ARRAY['read']);   -- bob's
SELECT crmperm.share('ra_clients', 99, 'ra_carol', ARRAY['read']);  -- no such row: same denial
SELECT crmperm.share('ra_clients', 1, 'ra_dave', ARRAY['read']);    -- another tenant
SELECT crmperm.share('ra_clients', 1, 'ra_carol', ARRAY['create']);
SELECT crmperm.share('ra_clients', 1, 'ra_carol', ARRAY['fly']);
SELECT crmperm.share('ra_clients', 'x', 'ra_carol', ARRAY['read']);
SELECT resource, key, principal, role, team, actions, shared_by FROM crmperm.shares;
RESET ROLE;
SET ROLE ra_carol;
SELECT id, name, secret FROM ra_clients ORDER BY id;          -- shared: read; mask holds
UPDATE ra_clients SET name = 'Acme 2' WHERE id = 1 RETURNING id;   -- carol lacks update at all
SELECT crmperm.check('ra_clients.read', 1), crmperm.check('ra_clients.read', 2);
SELECT resource, key, principal, actions FROM crmperm.shares;   -- shared with her
RESET ROLE;
-- expiry reaches a cached plan at once
SET ROLE ra_carol;
PREPARE ra_s AS SELECT count(*) FROM ra_clients;
EXECUTE ra_s;
RESET ROLE;
UPDATE crmperm.record_access SET valid_until = now() - interval '1 second' WHERE resource = 'ra_clients';
SET ROLE ra_carol;
EXECUTE ra_s;
RESET ROLE;
SET ROLE ra_alice;
SELECT crmperm.share('ra_clients', 1, 'ra_carol', ARRAY['read'], now() + interval '1 day');
RESET ROLE;
SET ROLE ra_carol;
EXECUTE ra_s;
DEALLOCATE ra_s;
RESET ROLE;
-- a share with a team, a CRM role
SELECT crmperm.create_role('RA Deal Desk');
SELECT crmperm.assign_role('ra_bob', 'RA Deal Desk');
SET ROLE ra_alice;
SELECT crmperm.share_with_role('ra_clients', 1, 'RA Deal Desk', ARRAY['read']);
SELECT crmperm.share_with_team('ra_clients', 1, 'west', ARRAY['read']);
RESET ROLE;
SET ROLE ra_bob;
SELECT id FROM ra_clients ORDER BY id;     -- his own 2, and 1 shared with his CRM role
RESET ROLE;
SET ROLE ra_alice;
SELECT crmperm.unshare('ra_clients', 1, 'ra_carol');
SELECT crmperm.unshare('ra_clients', 1, 'ra_carol');
SELECT crmperm.unshare_with_role('ra_clients', 1, 'RA Deal Desk');
RESET ROLE;
SET ROLE ra_carol;
SELECT id FROM ra_clients ORDER BY id;     -- still through team west
RESET ROLE;
SET ROLE ra_alice;
SELECT crmperm.unshare_with_team('ra_clients', 1, 'west');
RESET ROLE;
SET ROLE ra_carol;
SELECT id FROM ra_clients ORDER BY id;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Account teams: scope assigned.
-- ---------------------------------------------------------------------------
SELECT crmperm.grant('RA Viewer', 'ra_orders', ARRAY['read'], 'assigned');
SELECT crmperm.assign_record('ra_orders', 20, 'ra_carol');
SELECT crmperm.assign_record_to_team('ra_orders', 11, 'west');
SELECT crmperm.assign_record('ra_orders', 30, 'ra_carol');          -- another tenant's row
SET ROLE ra_carol;
SELECT id FROM ra_orders ORDER BY id;
SELECT * FROM crmperm.record_access;                                 -- nobody reads it
SELECT crmperm.assign_record('ra_orders', 20, 'ra_carol');           -- not an administrator
RESET ROLE;
SELECT resource, key, principal, team FROM crmperm.record_teams ORDER BY key;
SELECT crmperm.unassign_record('ra_orders', 20, 'ra_carol');
SELECT crmperm.unassign_record_from_team('ra_orders', 11, 'west');
SET ROLE ra_carol;
SELECT id FROM ra_orders ORDER BY id;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Custom scopes that read managed tables, under their scopes.
-- ---------------------------------------------------------------------------
SELECT crmperm.define_scope('ra_offices', 'big_client_region',
    $$EXISTS (SELECT FROM public.ra_clients c WHERE c.id = 1)$$);
SELECT crmperm.define_scope('ra_clients', 'self', $$id IN (SELECT id FROM public.ra_clients)$$);
-- field grants cannot use scopes that read other managed tables
SELECT crmperm.define_scope('ra_orders', 'plain', $$total > 100$$);
SELECT crmperm.protect_field('ra_orders', 'total');
SELECT crmperm.grant_field('RA Rep', 'ra_orders', 'total', ARRAY['read'], 'plain');
SELECT crmperm.define_scope('ra_orders', 'plain', $$client_id IN (SELECT id FROM public.ra_clients)$$);
SELECT crmperm.define_scope('ra_orders', 'of_clients', $$client_id IN (SELECT id FROM public.ra_clients)$$);
SELECT crmperm.grant_field('RA Rep', 'ra_orders', 'total', ARRAY['read'], 'of_clients');
SELECT crmperm.grant_field('RA Rep', 'ra_orders', 'total', ARRAY['read'], 'parent');
SELECT crmperm.revoke_field('RA Rep', 'ra_orders', 'total');
SELECT crmperm.unprotect_field('ra_orders', 'total');
SELECT crmperm.define_scope('ra_clients', 'via_lines',
    $$EXISTS (SELECT FROM public.ra_lines l WHERE l.order_id = 10)$$);

-- ---------------------------------------------------------------------------
-- More paths: RETURNING, ON CONFLICT, MERGE, functions, COPY FROM, partitions.
-- ---------------------------------------------------------------------------
CREATE FUNCTION ra_order_ids() RETURNS int[] LANGUAGE sql STABLE
    AS $$ SELECT array_agg(id ORDER BY id) FROM public.ra_orders $$;
SET ROLE ra_alice;
SELECT ra_order_ids();
-- ON CONFLICT on a row under another client: the existing row is not hers
INSERT INTO ra_orders VALUES (20, 1, 'u1', 't1', 1) ON CONFLICT (id) DO UPDATE SET total = 0;
INSERT INTO ra_orders VALUES (10, 1, 'u1', 't1', 1) ON CONFLICT (id) DO UPDATE SET total = excluded.total
    RETURNING id, total;
-- MERGE sees only her orders
MERGE INTO ra_orders o USING (VALUES (10), (20)) v(id) ON o.id = v.id
    WHEN MATCHED THEN UPDATE SET total = o.total + 1;
SELECT id, total FROM ra_orders ORDER BY id;
RESET ROLE;
-- COPY FROM needs import; each row is checked like an INSERT under its parent
SELECT crmperm.grant('RA Rep', 'ra_lines', ARRAY['import']);
SET ROLE ra_alice;
COPY ra_lines FROM STDIN;
11	2	t1	pin
\.
COPY ra_lines FROM STDIN;
20	3	t1	stolen
\.
SELECT order_id, line FROM ra_lines ORDER BY 1, 2;
RESET ROLE;

-- Partitions of the child and of the parent.
CREATE TABLE ra_accounts (id int PRIMARY KEY, owner_id text, region text) PARTITION BY HASH (id);
CREATE TABLE ra_accounts_0 PARTITION OF ra_accounts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE ra_accounts_1 PARTITION OF ra_accounts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE ra_notes (id int, account_id int REFERENCES ra_accounts, year int,
                       PRIMARY KEY (id, year)) PARTITION BY RANGE (year);
CREATE TABLE ra_notes_2025 PARTITION OF ra_notes FOR VALUES FROM (2025) TO (2026);
CREATE TABLE ra_notes_2026 PARTITION OF ra_notes FOR VALUES FROM (2026) TO (2027);
INSERT INTO ra_accounts VALUES (1, 'u1', 'eu'), (2, 'u2', 'us');
INSERT INTO ra_notes VALUES (1, 1, 2025), (2, 2, 2025), (3, 1, 2026), (4, 2, 2026);
GRANT SELECT ON ra_accounts, ra_notes, ra_notes_2025 TO ra_users;
SELECT crmperm.manage_table('ra_accounts', owner_column => 'owner_id');
SELECT crmperm.manage_table('ra_notes');
SELECT crmperm.set_parent('ra_notes', 'ra_accounts', ARRAY['account_id']);
SELECT crmperm.grant('RA Rep', 'ra_accounts', ARRAY['read'], 'owned');
SELECT crmperm.grant('RA Rep', 'ra_notes', ARRAY['read'], 'parent');
SET ROLE ra_alice;
SELECT id, year FROM ra_notes ORDER BY id;
SELECT id, year FROM ra_notes_2025 ORDER BY id;      -- a partition named directly
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Tokens: a token for orders alone reads them through their clients, which
-- it cannot read; shares hold under tokens too.
-- ---------------------------------------------------------------------------
CREATE ROLE ra_api NOLOGIN IN ROLE ra_users;
CREATE ROLE ra_app LOGIN;
SELECT crmperm.set_principal('ra_api', user_id => 'u1', tenant_id => 't1');
SELECT crmperm.assign_permission_set('ra_api', 'RA Rep');
SELECT crmperm.create_token('ra orders', 'ra_api', ARRAY['ra_orders.read']) AS orders_token \gset
SELECT crmperm.create_token('ra clients', 'ra_carol', ARRAY['ra_clients.read']) AS clients_token \gset
SELECT crmperm.share('ra_clients', 1, 'ra_carol', ARRAY['read']);
SET SESSION AUTHORIZATION ra_app;
BEGIN;
SELECT crmperm.authenticate(:'orders_token') IS NOT NULL AS authenticated;
SELECT id FROM ra_orders ORDER BY id;
SELECT id FROM ra_clients;
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'orders_token') IS NOT NULL AS authenticated;
UPDATE ra_orders SET total = 0;
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'clients_token') IS NOT NULL AS authenticated;
SELECT id FROM ra_clients ORDER BY id;
SELECT crmperm.share('ra_clients', 1, 'ra_bob', ARRAY['read']);
ROLLBACK;
RESET SESSION AUTHORIZATION;

-- ---------------------------------------------------------------------------
-- Findings of the outside review and the new-user walk-through.
-- ---------------------------------------------------------------------------
-- An owner shares only what it may do on the row itself (carol cannot
-- update client rows at all, so she cannot share update).
SELECT crmperm.assign_permission_set('ra_carol', 'RA Sharer');
INSERT INTO ra_clients VALUES (7, 'u3', 't1', 'Carol''s', 's7');
SET ROLE ra_carol;
SELECT crmperm.share('ra_clients', 7, 'ra_bob', ARRAY['read', 'update']);
SELECT crmperm.share('ra_clients', 7, 'ra_bob', ARRAY['read']);
-- account teams are set by administrators only
SELECT crmperm.assign_record('ra_clients', 7, 'ra_bob');
RESET ROLE;
-- a share holds while the row keeps the owner it was shared under: deleted
-- and made again under the same key by someone else, it is another row
SET ROLE ra_bob;
SELECT id FROM ra_clients WHERE id = 7;
RESET ROLE;
DELETE FROM ra_clients WHERE id = 7;
INSERT INTO ra_clients VALUES (7, 'u9', 't1', 'Someone else''s', 's9');
SET ROLE ra_bob;
SELECT id FROM ra_clients WHERE id = 7;
RESET ROLE;
DELETE FROM ra_clients WHERE id = 7;
-- denials are audited as the caller, the cross-tenant one too
SET ROLE ra_alice;
SELECT crmperm.share('ra_clients', 1, 'ra_dave', ARRAY['read']);
RESET ROLE;
-- keys: text and varchar primary keys work; a date key is refused (its text
-- depends on DateStyle)
CREATE TABLE ra_deals (slug varchar(20) PRIMARY KEY, owner_id text, tenant text);
CREATE TABLE ra_tags (name text PRIMARY KEY, owner_id text, tenant text);
CREATE TABLE ra_days (d date PRIMARY KEY, owner_id text, tenant text);
INSERT INTO ra_deals VALUES ('acme-q3', 'u1', 't1'), ('globex-q4', 'u2', 't1');
INSERT INTO ra_tags VALUES ('vip', 'u1', 't1'), ('cold', 'u2', 't1');
INSERT INTO ra_days VALUES ('2024-01-02', 'u1', 't1');
GRANT SELECT ON ra_deals, ra_tags, ra_days TO ra_users;
SELECT crmperm.manage_table(t, owner_column => 'owner_id', tenant_column => 'tenant')
  FROM unnest(ARRAY['ra_deals', 'ra_tags', 'ra_days']::regclass[]) t;
SELECT crmperm.grant('RA Viewer', t, ARRAY['read'], 'owned') FROM unnest(ARRAY['ra_deals', 'ra_tags', 'ra_days']) t;
SELECT crmperm.share('ra_deals', 'acme-q3'::varchar, 'ra_carol', ARRAY['read']);
SELECT crmperm.share('ra_tags', 'vip'::text, 'ra_carol', ARRAY['read']);
SELECT crmperm.share('ra_days', '2024-01-02'::date, 'ra_carol', ARRAY['read']);
SET ROLE ra_carol;
SELECT slug FROM ra_deals;
SELECT name FROM ra_tags;
RESET ROLE;
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['ra_deals', 'ra_tags', 'ra_days']::regclass[]) t;
DROP TABLE ra_deals, ra_tags, ra_days;
-- the shares view shows nobody another tenant's entries: alice is u1 in t1,
-- and u1 also owns client 3 of tenant t2
SELECT crmperm.share('ra_clients', 3, 'ra_dave', ARRAY['read']);
SET ROLE ra_alice;
SELECT resource, key, principal FROM crmperm.shares ORDER BY key;
RESET ROLE;
SELECT crmperm.unshare('ra_clients', 3, 'ra_dave');
-- explain_access with a key: not for a token; an application permission
-- has no rows
SELECT crmperm.define_permission('ra_console.access');
SELECT * FROM crmperm.explain_access('ra_alice', 'ra_console', 1);
SELECT crmperm.drop_permission('ra_console.access');
SET SESSION AUTHORIZATION ra_app;
BEGIN;
SELECT crmperm.authenticate(:'orders_token') IS NOT NULL AS authenticated;
SELECT * FROM crmperm.explain_access('ra_api', 'ra_orders', 10);
ROLLBACK;
RESET SESSION AUTHORIZATION;
-- Second review: a key's type is never the caller's own (its cast would
-- run inside crmperm's SECURITY DEFINER code, or inside a row check)
CREATE ROLE ra_plain LOGIN;
SET SESSION AUTHORIZATION ra_plain;
CREATE TYPE pg_temp.ra_probe AS ENUM ('x');
CREATE FUNCTION pg_temp.ra_probe_text(pg_temp.ra_probe) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> session_user THEN
        RAISE EXCEPTION 'ran as %', current_user;
    END IF;
    RETURN '1';
END $$;
CREATE CAST (pg_temp.ra_probe AS text) WITH FUNCTION pg_temp.ra_probe_text(pg_temp.ra_probe);
CREATE CAST (pg_temp.ra_probe AS int) WITH INOUT AS IMPLICIT;
SELECT crmperm.share('ra_clients', 'x'::pg_temp.ra_probe, 'ra_bob', ARRAY['read']);
SELECT crmperm.share('ra_clients', NULL::pg_temp.ra_probe, 'ra_bob', ARRAY['read']);
SELECT crmperm.explain_access('ra_plain', 'ra_clients', 'x'::pg_temp.ra_probe);
SELECT crmperm.check('ra_clients.read', 'x'::pg_temp.ra_probe);
SELECT crmperm.share('ra_clients', ARRAY[1], 'ra_bob', ARRAY['read']);
RESET SESSION AUTHORIZATION;
DROP TYPE pg_temp.ra_probe CASCADE;
DROP ROLE ra_plain;
-- an update share does not let the grantee take the row over: the owner
-- column changes only on rows of its own update scope
SELECT crmperm.share('ra_clients', 2, 'ra_alice', ARRAY['read', 'update']);
SET ROLE ra_alice;
UPDATE ra_clients SET name = 'Globex (renamed)' WHERE id = 2 RETURNING id, name;
UPDATE ra_clients SET owner_id = 'u1' WHERE id = 2;
UPDATE ra_clients SET owner_id = 'u1', name = 'x' WHERE id = 1 RETURNING id;   -- her own row
RESET ROLE;
UPDATE ra_clients SET name = 'Globex' WHERE id = 2;
SELECT crmperm.unshare('ra_clients', 2, 'ra_alice');
-- explain_access names a share only when the real check admits the row:
-- dave (tenant t2) on a team a t1 row is shared with learns nothing
SELECT crmperm.set_principal('ra_dave', user_id => 'u4', team_ids => ARRAY['west'], tenant_id => 't2');
SELECT crmperm.share_with_team('ra_clients', 1, 'west', ARRAY['read']);
SET ROLE ra_dave;
SELECT * FROM crmperm.explain_access('ra_dave', 'ra_clients', 1);
RESET ROLE;
SELECT crmperm.unshare_with_team('ra_clients', 1, 'west');
SELECT crmperm.set_principal('ra_dave', user_id => 'u4', tenant_id => 't2');
-- keys are the column's values: char(5) and numeric(10,2); an owner value
-- cannot forge another (key, owner) pair
CREATE TABLE ra_ck (k char(5) PRIMARY KEY, owner_id text);
CREATE TABLE ra_nk (k numeric(10,2) PRIMARY KEY, owner_id text);
CREATE TABLE ra_tk (k text PRIMARY KEY, owner_id text);
INSERT INTO ra_ck VALUES ('a', 'u9'), ('abcde', 'u2');
INSERT INTO ra_nk VALUES (1, 'u2');
INSERT INTO ra_tk VALUES ('a', 'u2'), ('a:', 'y');
GRANT SELECT, UPDATE ON ra_ck, ra_nk, ra_tk TO ra_users;
SELECT crmperm.manage_table(t, owner_column => 'owner_id') FROM unnest(ARRAY['ra_ck', 'ra_nk', 'ra_tk']::regclass[]) t;
SELECT crmperm.grant('RA Viewer', t, ARRAY['read'], 'owned') FROM unnest(ARRAY['ra_ck', 'ra_nk', 'ra_tk']) t;
SELECT crmperm.share('ra_ck', 'abcde'::bpchar, 'ra_carol', ARRAY['read']);
SELECT crmperm.share('ra_nk', 1, 'ra_carol', ARRAY['read']);
SELECT crmperm.share('ra_tk', 'a'::text, 'ra_carol', ARRAY['read']);
UPDATE ra_tk SET owner_id = 'u2x' WHERE k = 'a';
SET ROLE ra_carol;
SELECT k FROM ra_ck;           -- abcde, shared; not 'a'
SELECT k FROM ra_nk;
SELECT k FROM ra_tk;           -- the share lapsed with the owner
RESET ROLE;
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['ra_ck', 'ra_nk', 'ra_tk']::regclass[]) t;
DROP TABLE ra_ck, ra_nk, ra_tk;

-- Third review: columns crmperm's own helpers read of a row (key, owner,
-- tenant, foreign key) are of built-in types: a domain's CHECK or a cast of
-- the table owner's would run with crmperm's rights
CREATE DOMAIN ra_dom AS int CHECK (VALUE > 0);
CREATE TABLE ra_dk (id ra_dom PRIMARY KEY, owner_id text);
INSERT INTO ra_dk VALUES (1, 'u1');
SELECT crmperm.manage_table('ra_dk', owner_column => 'owner_id');
SELECT crmperm.share('ra_dk', 1, 'ra_bob', ARRAY['read']);
SELECT crmperm.explain_access('ra_alice', 'ra_dk', 1);
SELECT crmperm.unmanage_table('ra_dk');
DROP TABLE ra_dk;
DROP DOMAIN ra_dom;
-- a protected routine's key argument is checked in any notation
SELECT crmperm.define_action('ra_clients', 'close');
SELECT crmperm.grant('RA Rep', 'ra_clients', ARRAY['close'], 'owned');
CREATE FUNCTION ra_close(reason int, amount int, client int) RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT format('client %s closed', client) $$;
SELECT crmperm.protect_routine('ra_close(int,int,int)', 'ra_clients.close', key_argument => 'client');
SET ROLE ra_alice;
SELECT ra_close(7, 100, 1);
SELECT ra_close(7, 100, 2);
SELECT ra_close(7, client => 2, amount => 1);
SELECT ra_close(amount => 1, client => 2, reason => 7);
SELECT ra_close(reason => 7, amount => 2, client => 1);
RESET ROLE;
SELECT crmperm.unprotect_routine('ra_close(int,int,int)');
DROP FUNCTION ra_close(int, int, int);
SELECT crmperm.revoke('RA Rep', 'ra_clients', ARRAY['close']);
SELECT crmperm.drop_action('ra_clients', 'close');
-- a child reached through a share is not reparented into the grantee's own
-- scopes (the foreign key is guarded like the owner column)
SELECT crmperm.share('ra_orders', 20, 'ra_alice', ARRAY['read', 'update']);
SET ROLE ra_alice;
UPDATE ra_orders SET total = total WHERE id = 20 RETURNING id;
UPDATE ra_orders SET client_id = 1 WHERE id = 20;
RESET ROLE;
SELECT crmperm.unshare('ra_orders', 20, 'ra_alice');

-- Fourth review: a keyed routine runs only where its row was checked (not
-- inlined into another function, as an operator, in a constraint or COPY's
-- WHERE)
SELECT crmperm.define_action('ra_clients', 'close');
SELECT crmperm.grant('RA Rep', 'ra_clients', ARRAY['close'], 'owned');
CREATE FUNCTION ra_close(client int) RETURNS text LANGUAGE sql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$ SELECT format('client %s closed', client) $$;
SELECT crmperm.protect_routine('ra_close(int)', 'ra_clients.close', key_argument => 'client');
SET ROLE ra_alice;
CREATE FUNCTION pg_temp.ra_w(int) RETURNS text LANGUAGE sql AS 'SELECT public.ra_close($1)';
SELECT pg_temp.ra_w(2);
CREATE OPERATOR pg_temp.### (RIGHTARG = int, FUNCTION = public.ra_close);
SELECT OPERATOR(pg_temp.###) 2;
CREATE DOMAIN pg_temp.ra_d AS int CHECK (public.ra_close(VALUE) IS NOT NULL);
SELECT 2::pg_temp.ra_d;
CREATE TEMP TABLE ra_tc (k int);
COPY ra_tc FROM STDIN WHERE public.ra_close(k) IS NOT NULL;
2
\.
SELECT ra_close(1);
RESET ROLE;
DROP DOMAIN pg_temp.ra_d;
DROP OPERATOR pg_temp.### (NONE, int);
DROP FUNCTION pg_temp.ra_w(int);
DROP TABLE pg_temp.ra_tc;
SELECT crmperm.unprotect_routine('ra_close(int)');
DROP FUNCTION ra_close(int);
SELECT crmperm.revoke('RA Rep', 'ra_clients', ARRAY['close']);
SELECT crmperm.drop_action('ra_clients', 'close');
-- the guard covers a column a custom scope reads in a subquery, and what a
-- generated owner column is made of
CREATE TABLE ra_regions2 (code text PRIMARY KEY, manager text);
INSERT INTO ra_regions2 VALUES ('north', 'u2'), ('south', 'u1');
CREATE TABLE ra_accts (id int PRIMARY KEY, region text, login text,
                       owner_id text GENERATED ALWAYS AS (lower(login)) STORED);
INSERT INTO ra_accts (id, region, login) VALUES (1, 'south', 'U1'), (2, 'north', 'U2');
GRANT SELECT, UPDATE ON ra_accts, ra_regions2 TO ra_users;
SELECT crmperm.manage_table('ra_accts', owner_column => 'owner_id');
SELECT crmperm.define_scope('ra_accts', 'my_region',
    $$EXISTS (SELECT FROM public.ra_regions2 r WHERE r.code = region AND r.manager = crmperm.user_id())$$);
SELECT crmperm.grant('RA Rep', 'ra_accts', ARRAY['read', 'update'], 'my_region');
SELECT crmperm.share('ra_accts', 2, 'ra_alice', ARRAY['read', 'update']);
SET ROLE ra_alice;
UPDATE ra_accts SET region = 'south' WHERE id = 2;
UPDATE ra_accts SET login = 'U1' WHERE id = 2;
RESET ROLE;
SELECT crmperm.unmanage_table('ra_accts');
DROP TABLE ra_accts, ra_regions2;
-- a row check finds the rows of a partitioned table
SET ROLE ra_alice;
SELECT crmperm.check('ra_accounts.read', 1) AS own, crmperm.check('ra_accounts.read', 2) AS other;
RESET ROLE;
-- explain_access shows a parent's key only when the principal may read the
-- row: carol may update orders under client 1 (shared for update), not read them
SELECT crmperm.grant('RA Viewer', 'ra_orders', ARRAY['update'], 'parent');
SELECT crmperm.grant('RA Viewer', 'ra_clients', ARRAY['update'], 'owned');
SELECT crmperm.share('ra_clients', 1, 'ra_carol', ARRAY['read', 'update']);
SET ROLE ra_carol;
SELECT * FROM crmperm.explain_access('ra_carol', 'ra_orders', 10);
RESET ROLE;
SELECT crmperm.unshare('ra_clients', 1, 'ra_carol');
SELECT crmperm.revoke('RA Viewer', 'ra_orders', ARRAY['update']);
SELECT crmperm.revoke('RA Viewer', 'ra_clients', ARRAY['update']);

-- explain_access() with a key changes nothing: the policy of the parent it
-- builds for bob keeps the share (bob reads orders 10 and 11 through client
-- 1, shared with him), in this session afterwards too
SELECT crmperm.share('ra_clients', 1, 'ra_bob', ARRAY['read', 'update']);
SELECT * FROM crmperm.explain_access('ra_bob', 'ra_orders', 10);
SET ROLE ra_bob;
SELECT id FROM ra_orders ORDER BY id;
RESET ROLE;
SELECT crmperm.unshare('ra_clients', 1, 'ra_bob');

-- ---------------------------------------------------------------------------
-- explain_access(principal, resource, key): the path that grants a row.
-- ---------------------------------------------------------------------------
SELECT crmperm.share('ra_clients', 1, 'ra_carol', ARRAY['read'], '2099-01-01 00:00:00+00');   -- replaces the one above
SELECT crmperm.assign_record('ra_orders', 11, 'ra_carol');
SELECT * FROM crmperm.explain_access('ra_alice', 'ra_orders', 10);
SELECT * FROM crmperm.explain_access('ra_alice', 'ra_orders', 20);
SELECT * FROM crmperm.explain_access('ra_alice', 'ra_offices', 1);
SELECT * FROM crmperm.explain_access('ra_carol', 'ra_clients', 1);
SELECT * FROM crmperm.explain_access('ra_carol', 'ra_orders', 11);
SELECT * FROM crmperm.explain_access('ra_bob', 'ra_clients', 2);
-- asking changes nothing: carol still reads the client shared with her
SET ROLE ra_carol;
SELECT id FROM ra_clients ORDER BY id;
RESET ROLE;
SELECT * FROM crmperm.explain_access('ra_alice', 'ra_orders', 999);     -- an administrator asks
SET ROLE ra_carol;
SELECT * FROM crmperm.explain_access('ra_carol', 'ra_clients', 999);    -- about itself: no hint
SELECT * FROM crmperm.explain_access('ra_alice', 'ra_clients', 1);      -- about others: refused
RESET ROLE;

-- ---------------------------------------------------------------------------
-- The denials of share() are audited.
-- ---------------------------------------------------------------------------
-- (the audit writer works in the background: wait until it wrote them)
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT count(*) FROM crmperm.audit_log
                    WHERE kind = 'denial' AND action IN ('share', 'assign')) >= 9;
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT principal, resource, action FROM crmperm.audit_log
 WHERE kind = 'denial' AND action IN ('share', 'assign') ORDER BY seq;

-- cleanup
DELETE FROM crmperm.token_usage WHERE name IN ('ra orders', 'ra clients');
DELETE FROM crmperm.api_tokens WHERE name IN ('ra orders', 'ra clients');
SELECT crmperm.unmanage_table(t) FROM unnest(ARRAY['ra_lines', 'ra_offices', 'ra_orders', 'ra_regions', 'ra_clients', 'ra_notes', 'ra_accounts']::regclass[]) t;
DROP TABLE ra_offices, ra_regions, ra_lines, ra_orders, ra_clients, ra_notes, ra_accounts CASCADE;
DROP FUNCTION ra_order_ids();
SELECT crmperm.drop_permission_set(n) FROM unnest(ARRAY['RA Rep', 'RA Sharer', 'RA Viewer']) n;
SELECT crmperm.unassign_role('ra_bob', 'RA Deal Desk');
SELECT crmperm.drop_role('RA Deal Desk');
DELETE FROM crmperm.principals;
DROP ROLE ra_alice, ra_bob, ra_carol, ra_dave, ra_api, ra_app, ra_users;

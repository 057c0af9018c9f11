-- Protected routines: every call needs the action, on every path, checked
-- before the body runs; the routine may be SECURITY DEFINER.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crmperm;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE orders (id int PRIMARY KEY, status text, owner_id text);
INSERT INTO orders VALUES (1, 'paid', 'ann'), (2, 'paid', 'bob');
CREATE ROLE rt_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO rt_users;
CREATE ROLE rt_support LOGIN IN ROLE rt_users;
CREATE ROLE rt_guest LOGIN IN ROLE rt_users;
CREATE ROLE rt_dev LOGIN;              -- owns routines, governed by nothing
SELECT crmperm.manage_table('orders', owner_column => 'owner_id');
SELECT crmperm.define_action('orders', 'refund');
SELECT crmperm.define_permission('reports.run');
SELECT crmperm.create_permission_set('Support');
SELECT crmperm.grant('Support', 'orders', ARRAY['read', 'refund']);
SELECT crmperm.assign_permission_set('rt_support', 'Support');
SELECT crmperm.create_permission_set('Guest');
SELECT crmperm.grant('Guest', 'orders', ARRAY['read']);
SELECT crmperm.assign_permission_set('rt_guest', 'Guest');

-- The app's refund: SECURITY DEFINER, it updates orders, which neither
-- caller may do directly.
CREATE FUNCTION refund_order(order_id int) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE orders SET status = 'refunded' WHERE id = order_id;
    RETURN 'refunded ' || order_id;
END
$$;
-- A SQL function the planner would inline (its body would replace the call).
CREATE FUNCTION order_total(order_id int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT order_id * 100 $$;
CREATE PROCEDURE refund_all() LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE orders SET status = 'refunded';
END
$$;
CREATE FUNCTION wrapper(order_id int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN refund_order(order_id);
END
$$;
CREATE VIEW refund_view AS SELECT refund_order(1) AS r;
GRANT SELECT ON refund_view TO rt_users;
-- a prepared statement planned before the routine is protected
SET ROLE rt_guest;
PREPARE early AS SELECT order_total(2);
EXECUTE early;
RESET ROLE;

SELECT crmperm.protect_routine('refund_order(int)', 'orders.refund');
SELECT crmperm.protect_routine('order_total(int)', 'orders.refund');
SELECT crmperm.protect_routine('refund_all()', 'orders.refund');
SELECT routine, resource, action FROM crmperm.routines ORDER BY 1;

-- Allowed: the body does what the caller may not do directly.
SET ROLE rt_support;
UPDATE orders SET status = 'x';
SELECT refund_order(1);
SELECT wrapper(2);
SELECT order_total(3);
CALL refund_all();
SELECT r FROM refund_view;
RESET ROLE;

-- Denied on every path, before the body runs (orders stays as it was).
UPDATE orders SET status = 'paid';
SET ROLE rt_guest;
SELECT refund_order(1);
SELECT wrapper(1);                                   -- inside another function
SELECT r FROM refund_view;                           -- inside a view
SELECT order_total(3);                               -- a SQL function is not inlined
SELECT * FROM orders WHERE id = order_total(0);      -- in a WHERE clause
EXECUTE early;                                       -- planned before protection
PREPARE late AS SELECT refund_order(1);
EXECUTE late;
SET plan_cache_mode = force_generic_plan;
PREPARE generic(int) AS SELECT refund_order($1);
EXECUTE generic(1);
RESET plan_cache_mode;
CALL refund_all();
DO $$ BEGIN PERFORM refund_order(2); END $$;
BEGIN;
DECLARE c CURSOR FOR SELECT refund_order(1);
ROLLBACK;
EXPLAIN (COSTS OFF) SELECT refund_order(1);
RESET ROLE;
SELECT id, status FROM orders ORDER BY id;

-- A trigger's body calling the routine is checked as the writing role.
CREATE TABLE order_events (order_id int, kind text);
GRANT INSERT ON order_events TO rt_users;
CREATE FUNCTION on_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'refund' THEN PERFORM refund_order(NEW.order_id); END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER on_event BEFORE INSERT ON order_events FOR EACH ROW EXECUTE FUNCTION on_event();
SET ROLE rt_guest;
INSERT INTO order_events VALUES (1, 'refund');
RESET ROLE;
SET ROLE rt_support;
INSERT INTO order_events VALUES (1, 'refund');
RESET ROLE;
SELECT id, status FROM orders ORDER BY id;

-- A routine that names its row by an argument: the row check, as the caller,
-- before the (SECURITY DEFINER) body.  rt_support cancels the orders it owns.
SELECT crmperm.define_action('orders', 'cancel');
SELECT crmperm.grant('Support', 'orders', ARRAY['cancel'], 'owned');
SELECT crmperm.set_principal('rt_support', user_id => 'ann');
CREATE FUNCTION cancel_order(note text, order_id int) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE orders SET status = 'cancelled' WHERE id = order_id;
    RETURN note || ' ' || order_id;
END
$$;
CREATE PROCEDURE cancel_proc(order_id int) LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE orders SET status = 'cancelled' WHERE id = order_id;
END
$$;
SELECT crmperm.protect_routine('cancel_order(text,int)', 'orders.cancel', key_argument => 'order_id');
SELECT crmperm.protect_routine('cancel_proc(int)', 'orders.cancel', 'order_id');
SELECT routine, resource, action, key_argument FROM crmperm.routines WHERE action = 'cancel' ORDER BY 1;
SET ROLE rt_support;
SELECT cancel_order('cancelled', 1);
SELECT cancel_order('cancelled', 2);                        -- bob's order
SELECT cancel_order('cancelled', id) FROM orders;           -- per row
CALL cancel_proc(2);
DO $$ BEGIN PERFORM cancel_order('x', 2); END $$;
PREPARE cancel(int) AS SELECT cancel_order('cancelled', $1);
SET plan_cache_mode = force_generic_plan;
EXECUTE cancel(1);
EXECUTE cancel(2);
RESET plan_cache_mode;
DEALLOCATE cancel;
SELECT cancel_order('cancelled', NULL);
RESET ROLE;
SELECT id, status FROM orders ORDER BY id;
UPDATE orders SET status = 'paid';
-- what cannot name a row
SELECT crmperm.protect_routine('cancel_order(text,int)', 'orders.cancel', 'nothing');
SELECT crmperm.protect_routine('cancel_order(text,int)', 'reports.run', 'order_id');
CREATE FUNCTION with_default(order_id int DEFAULT 1) RETURNS int LANGUAGE sql STABLE AS $$ SELECT order_id $$;
SELECT crmperm.protect_routine('with_default(int)', 'orders.cancel', 'order_id');
-- the check function is crmperm's alone
SELECT crmperm._routine_key('orders.cancel', 1);

-- One transaction, two roles: a PL/pgSQL simple expression (set up once per
-- transaction) and a prepared statement set up for an allowed role are set
-- up again, and checked, for the next one.
CREATE FUNCTION refund_as(r text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    res text;
BEGIN
    PERFORM set_config('role', r, true);
    res := refund_order(1);
    PERFORM set_config('role', 'none', true);
    RETURN res;
END
$$;
BEGIN;
SELECT refund_as('rt_support');
SELECT refund_as('rt_guest');
ROLLBACK;
BEGIN;
SET LOCAL ROLE rt_support;
PREPARE both_roles AS SELECT refund_order(1);
EXECUTE both_roles;
SET LOCAL ROLE rt_guest;
EXECUTE both_roles;
ROLLBACK;
DEALLOCATE both_roles;

-- A statement a function runs inside a parallel worker is checked there too
-- (the worker skips only the plan its leader checked).
CREATE FUNCTION pg_temp.via_worker() RETURNS int LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN order_total(1);
END
$$;
CREATE FUNCTION pg_temp.export_via_worker() RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN (SELECT count(*) FROM orders);
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.via_worker(), pg_temp.export_via_worker() TO PUBLIC;
SELECT current_setting('server_version_num')::int >= 160000 AS debug_parallel \gset
SET ROLE rt_guest;
SET parallel_leader_participation = off;
\if :debug_parallel
SET debug_parallel_query = on;
\else
SET force_parallel_mode = on;
\endif
SELECT pg_temp.via_worker();
COPY (SELECT pg_temp.export_via_worker()) TO STDOUT;
\if :debug_parallel
RESET debug_parallel_query;
\else
RESET force_parallel_mode;
\endif
RESET parallel_leader_participation;
RESET ROLE;

-- ALTER FUNCTION or CREATE OR REPLACE cannot make a protected routine immutable.
ALTER FUNCTION order_total(int) IMMUTABLE;
CREATE OR REPLACE FUNCTION order_total(order_id int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT order_id * 100 $$;
-- nor can its table go while it protects routines
SELECT crmperm.unmanage_table('orders');
DROP TABLE orders;

-- A token narrows protected routines like tables: it needs the scope too.
SELECT crmperm.create_token('support read', 'rt_support', ARRAY['orders.read']) AS read_token \gset
SELECT crmperm.create_token('support refund', 'rt_support', ARRAY['orders.read', 'orders.refund']) AS refund_token \gset
BEGIN;
SELECT crmperm.authenticate(:'read_token') IS NOT NULL AS authenticated;
SELECT crmperm.check('orders.refund');
SELECT refund_order(2);
ROLLBACK;
BEGIN;
SELECT crmperm.authenticate(:'refund_token') IS NOT NULL AS authenticated;
SELECT crmperm.check('orders.refund');
SELECT refund_order(2);
SELECT (crmperm.whoami()).actions;
ROLLBACK;
SELECT crmperm.drop_action('orders', 'refund');     -- still granted

-- What cannot be protected.
CREATE FUNCTION fixed_rate() RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT 0.2 $$;
SELECT crmperm.protect_routine('fixed_rate()', 'orders.refund');
SELECT crmperm.protect_routine('on_event()', 'orders.refund');
SELECT crmperm.protect_routine('sum(int)', 'orders.refund');
SELECT crmperm.protect_routine('pg_catalog.now()', 'orders.refund');
SELECT crmperm.protect_routine('crmperm.whoami()', 'orders.refund');
SELECT crmperm.protect_routine('refund_order(int)', 'orders.update');
SELECT crmperm.protect_routine('refund_order(int)', 'orders.nothing');
SELECT crmperm.protect_routine('refund_order(int)', 'refund');
SELECT crmperm.protect_routine(NULL, 'orders.refund');
SELECT crmperm.protect_routine('refund_order(int)', NULL);
SELECT crmperm.protect_routine(12345, 'orders.refund');
SELECT crmperm.unprotect_routine('wrapper(int)');
-- an application permission protects a routine too
SELECT crmperm.protect_routine('wrapper(int)', 'reports.run');
SET ROLE rt_support;
SELECT wrapper(1);
RESET ROLE;

-- Only a role that can act as the routine's owner protects or unprotects it.
CREATE FUNCTION dev_tool() RETURNS int LANGUAGE sql STABLE AS $$ SELECT 1 $$;
ALTER FUNCTION dev_tool() OWNER TO rt_dev;
SELECT crmperm.create_permission_set('Admins');
SELECT crmperm.grant_system('Admins', 'manage_permissions');
CREATE ROLE rt_admin LOGIN;
SELECT crmperm.assign_permission_set('rt_admin', 'Admins');
SET ROLE rt_admin;
SELECT crmperm.protect_routine('dev_tool()', 'reports.run');
SELECT crmperm.unprotect_routine('refund_order(int)');
RESET ROLE;
-- A protected action cannot be dropped while it protects a routine.
SELECT crmperm.revoke('Support', 'orders', ARRAY['refund']);
SELECT crmperm.revoke_token('support refund');
SELECT crmperm.drop_action('orders', 'refund');

-- lint(): an owner a governed principal can act as; SECURITY DEFINER
-- without a pinned search_path.
CREATE FUNCTION loose() RETURNS int LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT 1 $$;
ALTER FUNCTION loose() OWNER TO rt_dev;
GRANT rt_dev TO rt_guest;
SELECT crmperm.protect_routine('loose()', 'reports.run');
SELECT severity, finding, object, detail, fix FROM crmperm.lint() WHERE finding LIKE 'protected routine%';
REVOKE rt_dev FROM rt_guest;

-- A dropped routine stops being protected; unprotecting opens it.
DROP FUNCTION loose();
SELECT crmperm.unprotect_routine('refund_order(int)');
SET ROLE rt_guest;
SELECT refund_order(2);
RESET ROLE;
SELECT routine, resource, action FROM crmperm.routines ORDER BY 1;

DROP VIEW refund_view;
DROP TABLE order_events;
DROP FUNCTION refund_order(int), order_total(int), wrapper(int), on_event(), fixed_rate(), dev_tool(), refund_as(text),
    cancel_order(text, int), with_default(int);
DROP PROCEDURE cancel_proc(int), refund_all();
DROP TABLE orders;
SELECT crmperm.unassign_permission_set('rt_support', 'Support');
SELECT crmperm.unassign_permission_set('rt_guest', 'Guest');
SELECT crmperm.unassign_permission_set('rt_admin', 'Admins');
SELECT crmperm.drop_permission_set(name) FROM crmperm.permission_sets WHERE name IN ('Support', 'Guest', 'Admins');
DELETE FROM crmperm.principals WHERE principal = 'rt_support'::regrole;
SELECT crmperm.drop_permission('reports.run');
DELETE FROM crmperm.api_tokens WHERE name IN ('support read', 'support refund');
SELECT count(*) AS actions_left FROM crmperm.actions WHERE resource IN ('orders', 'contacts', 'console', 'reports', 'act_leads');
DROP ROLE rt_support, rt_guest, rt_dev, rt_admin, rt_users;

-- 05_action_matrix.sql: actions beyond CRUD over a seed CRM catalog.
--
-- Resources: customers, orders, payments and products (managed tables),
-- reports, analytics and console (application permissions, no table).
-- Actions: the built-in read/create/update/delete/export (products has no
-- delete: a resource declares its actions), orders.process/refund/cancel,
-- payments.reconcile, products.pricing, reports.create, analytics.export,
-- console.access.
--
-- Principals, through CRM roles: Staff; Manager inherits Staff; Owner
-- inherits Manager; Guest; Support (a role of its own).  For every principal
-- x action: crmperm.check() answers the matrix, and crmperm.require() lives
-- or throws 42501 with the exact message.  Then a protected routine
-- (refund_order, SECURITY DEFINER, tied to orders.refund) for each principal,
-- and what a resource does not have.  Everything is rolled back.

BEGIN;
SELECT plan(201);

CREATE TABLE am_customers (id int PRIMARY KEY, name text);
CREATE TABLE am_orders    (id int PRIMARY KEY, status text);
CREATE TABLE am_payments  (id int PRIMARY KEY, amount int);
CREATE TABLE am_products  (id int PRIMARY KEY, price int);
INSERT INTO am_orders VALUES (1, 'paid');
CREATE ROLE am_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON am_customers, am_orders, am_payments, am_products TO am_users;
CREATE ROLE am_owner NOLOGIN IN ROLE am_users;
CREATE ROLE am_manager NOLOGIN IN ROLE am_users;
CREATE ROLE am_staff NOLOGIN IN ROLE am_users;
CREATE ROLE am_guest NOLOGIN IN ROLE am_users;
CREATE ROLE am_support NOLOGIN IN ROLE am_users;

CREATE FUNCTION refund_order(order_id int) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE am_orders SET status = 'refunded' WHERE id = order_id;
    RETURN 'refunded';
END
$$;

DO $$
BEGIN
    PERFORM crmperm.manage_table('am_customers', 'customers');
    PERFORM crmperm.manage_table('am_orders', 'orders');
    PERFORM crmperm.manage_table('am_payments', 'payments');
    PERFORM crmperm.manage_table('am_products', 'products');
    PERFORM crmperm.drop_action('products', 'delete');
    PERFORM crmperm.define_action('orders', 'process');
    PERFORM crmperm.define_action('orders', 'refund');
    PERFORM crmperm.define_action('orders', 'cancel');
    PERFORM crmperm.define_action('payments', 'reconcile');
    PERFORM crmperm.define_action('products', 'pricing');
    PERFORM crmperm.define_permission('reports.create');
    PERFORM crmperm.define_permission('analytics.export');
    PERFORM crmperm.define_permission('console.access');
    PERFORM crmperm.protect_routine('refund_order(int)', 'orders.refund');

    PERFORM crmperm.create_permission_set('am staff');
    PERFORM crmperm.grant('am staff', 'customers', ARRAY['read', 'create', 'update']);
    PERFORM crmperm.grant('am staff', 'orders', ARRAY['read', 'create', 'process']);
    PERFORM crmperm.grant('am staff', 'payments', ARRAY['read']);
    PERFORM crmperm.grant('am staff', 'products', ARRAY['read']);
    PERFORM crmperm.grant('am staff', 'console', ARRAY['access']);
    PERFORM crmperm.create_permission_set('am manager');
    PERFORM crmperm.grant('am manager', 'customers', ARRAY['export']);
    PERFORM crmperm.grant('am manager', 'orders', ARRAY['update', 'refund', 'cancel']);
    PERFORM crmperm.grant('am manager', 'payments', ARRAY['reconcile']);
    PERFORM crmperm.grant('am manager', 'products', ARRAY['pricing']);
    PERFORM crmperm.grant('am manager', 'reports', ARRAY['create']);
    PERFORM crmperm.create_permission_set('am owner');
    PERFORM crmperm.grant('am owner', 'customers', ARRAY['delete']);
    PERFORM crmperm.grant('am owner', 'orders', ARRAY['delete', 'export']);
    PERFORM crmperm.grant('am owner', 'payments', ARRAY['create', 'update', 'delete', 'export']);
    PERFORM crmperm.grant('am owner', 'products', ARRAY['create', 'update', 'export']);
    PERFORM crmperm.grant('am owner', 'analytics', ARRAY['export']);
    PERFORM crmperm.create_permission_set('am guest');
    PERFORM crmperm.grant('am guest', 'customers', ARRAY['read']);
    PERFORM crmperm.grant('am guest', 'products', ARRAY['read']);
    PERFORM crmperm.create_permission_set('am support');
    PERFORM crmperm.grant('am support', 'customers', ARRAY['read', 'update']);
    PERFORM crmperm.grant('am support', 'orders', ARRAY['read', 'refund', 'cancel']);
    PERFORM crmperm.grant('am support', 'payments', ARRAY['read']);
    PERFORM crmperm.grant('am support', 'console', ARRAY['access']);

    PERFORM crmperm.create_role('AM Staff');
    PERFORM crmperm.add_to_role('AM Staff', 'am staff');
    PERFORM crmperm.create_role('AM Manager', parent => 'AM Staff');
    PERFORM crmperm.add_to_role('AM Manager', 'am manager');
    PERFORM crmperm.create_role('AM Owner', parent => 'AM Manager');
    PERFORM crmperm.add_to_role('AM Owner', 'am owner');
    PERFORM crmperm.create_role('AM Guest');
    PERFORM crmperm.add_to_role('AM Guest', 'am guest');
    PERFORM crmperm.create_role('AM Support');
    PERFORM crmperm.add_to_role('AM Support', 'am support');
    PERFORM crmperm.assign_role('am_owner', 'AM Owner');
    PERFORM crmperm.assign_role('am_manager', 'AM Manager');
    PERFORM crmperm.assign_role('am_staff', 'AM Staff');
    PERFORM crmperm.assign_role('am_guest', 'AM Guest');
    PERFORM crmperm.assign_role('am_support', 'AM Support');
END
$$;

-- check() and require() as a role, back to the superuser after.
CREATE FUNCTION pg_temp.check_as(r text, a text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    PERFORM set_config('role', r, true);
    ok := crmperm.check(a);
    PERFORM set_config('role', 'none', true);
    RETURN ok;
END
$$;
CREATE FUNCTION pg_temp.require_as(r text, a text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('role', r, true);
    PERFORM crmperm.require(a);
    PERFORM set_config('role', 'none', true);
END
$$;
CREATE FUNCTION pg_temp.refund_as(r text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    res text;
BEGIN
    PERFORM set_config('role', r, true);
    res := refund_order(1);
    PERFORM set_config('role', 'none', true);
    RETURN res;
END
$$;

-- The matrix: O(wner), M(anager), S(taff), G(uest), s(upport).
CREATE TEMP TABLE am_matrix (action text, who text);
INSERT INTO am_matrix VALUES
    ('customers.read',     'OMSGs'), ('customers.create',  'OMS'),
    ('customers.update',   'OMSs'),  ('customers.delete',  'O'),
    ('customers.export',   'OM'),
    ('orders.read',        'OMSs'),  ('orders.create',     'OMS'),
    ('orders.process',     'OMS'),   ('orders.refund',     'OMs'),
    ('orders.cancel',      'OMs'),   ('orders.export',     'O'),
    ('payments.read',      'OMSs'),  ('payments.reconcile', 'OM'),
    ('payments.export',    'O'),
    ('products.read',      'OMSG'),  ('products.pricing',  'OM'),
    ('reports.create',     'OM'),    ('analytics.export',  'O'),
    ('console.access',     'OMSs');
CREATE TEMP TABLE am_principals (letter text, role text);
INSERT INTO am_principals VALUES ('O', 'am_owner'), ('M', 'am_manager'), ('S', 'am_staff'),
                                 ('G', 'am_guest'), ('s', 'am_support');

SELECT is(pg_temp.check_as(p.role, m.action), strpos(m.who, p.letter) > 0,
          format('check: %s %s %s', p.role, CASE WHEN strpos(m.who, p.letter) > 0 THEN 'holds' ELSE 'lacks' END, m.action))
  FROM am_matrix m, am_principals p ORDER BY m.action, p.role;

SELECT CASE WHEN strpos(m.who, p.letter) > 0
            THEN lives_ok(format('SELECT pg_temp.require_as(%L, %L)', p.role, m.action),
                          format('require: %s holds %s', p.role, m.action))
            ELSE throws_ok(format('SELECT pg_temp.require_as(%L, %L)', p.role, m.action), '42501',
                           format('permission denied: role "%s" lacks "%s"', p.role, m.action),
                           format('require: %s lacks %s', p.role, m.action)) END
  FROM am_matrix m, am_principals p ORDER BY m.action, p.role;

-- The protected routine: owner, manager and support refund; staff and guest
-- are refused before its body runs.
SELECT is(pg_temp.refund_as('am_owner'), 'refunded', 'refund_order: am_owner');
SELECT is(pg_temp.refund_as('am_manager'), 'refunded', 'refund_order: am_manager');
SELECT is(pg_temp.refund_as('am_support'), 'refunded', 'refund_order: am_support');
SELECT throws_ok($$SELECT pg_temp.refund_as('am_staff')$$, '42501',
                 'permission denied: role "am_staff" lacks "orders.refund"', 'refund_order: am_staff is refused');
SELECT throws_ok($$SELECT pg_temp.refund_as('am_guest')$$, '42501',
                 'permission denied: role "am_guest" lacks "orders.refund"', 'refund_order: am_guest is refused');
-- neither may update orders itself
SELECT throws_ok($$SELECT set_config('role', 'am_support', true); UPDATE am_orders SET status = 'x'$$, '42501',
                 'permission denied: role "am_support" lacks "orders.update"', 'am_support may not update orders directly');
RESET ROLE;

-- What a resource does not have: refused when granting, by check(), and at run time.
SELECT throws_ok($$SELECT crmperm.grant('am guest', 'products', ARRAY['delete'])$$, '22023',
                 'resource "products" has no action "delete"', 'grant: products has no delete');
SELECT throws_ok($$SELECT crmperm.check('products.delete')$$, '22023',
                 'resource "products" has no action "delete"', 'check: products has no delete');
SELECT throws_ok($$SELECT crmperm.grant('am guest', 'reports', ARRAY['delete'])$$, '22023',
                 'resource "reports" has no action "delete"', 'grant: reports has no delete');
SELECT throws_ok($$SELECT crmperm.create_token('am', 'am_owner', ARRAY['products.delete'])$$, '22023',
                 'resource "products" has no action "delete"', 'token scope: products has no delete');
SELECT throws_ok($$SELECT set_config('role', 'am_owner', true); DELETE FROM am_products$$, '42501',
                 'permission denied: role "am_owner" lacks "products.delete"', 'run time: nobody governed deletes products');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

# pg_dump / pg_restore into a new cluster (roles created first) keeps every
# grant: explain_access answers the same, and enforcement follows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = PostgreSQL::Test::Cluster->new('src');
$src->init;
$src->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$src->start;

$src->safe_psql('postgres', q{
CREATE DATABASE crm;
});
$src->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE ROLE crm_users NOLOGIN;
CREATE ROLE rep LOGIN IN ROLE crm_users;
CREATE ROLE manager LOGIN IN ROLE crm_users;
CREATE ROLE hook LOGIN IN ROLE crm_users;
CREATE ROLE eu LOGIN IN ROLE crm_users;
CREATE TABLE leads (id int PRIMARY KEY, owner_id text, team_id text, name text,
                    tenant text DEFAULT 'acme', region text DEFAULT 'eu');
CREATE TABLE invoices (id int PRIMARY KEY, amount int);
INSERT INTO leads VALUES (1, 'u1', 't1', 'a', 'acme', 'eu'), (2, 'u2', 't2', 'b', 'acme', 'eu'),
                         (3, 'u3', 't3', 'c', 'globex', 'eu'), (4, 'u4', 't4', 'd', 'acme', 'us');
INSERT INTO invoices VALUES (1, 100);
GRANT SELECT, INSERT, UPDATE, DELETE ON leads, invoices TO crm_users;
SELECT crmperm.manage_table('leads', owner_column => 'owner_id', team_column => 'team_id',
                            tenant_column => 'tenant');
SELECT crmperm.define_scope('leads', 'europe', $$region = 'eu'$$);
SELECT crmperm.create_permission_set('Europe');
SELECT crmperm.grant('Europe', 'leads', ARRAY['read'], 'europe');
SELECT crmperm.assign_permission_set('eu', 'Europe');
SELECT crmperm.set_principal('eu', tenant_id => 'acme');
SELECT crmperm.manage_table('invoices', sensitive => true);
SELECT crmperm.create_permission_set('Rep');
SELECT crmperm.grant('Rep', 'leads', ARRAY['read', 'update'], 'owned');
SELECT crmperm.grant('Rep', 'invoices', ARRAY['read']);
SELECT crmperm.create_permission_set('Manager extras');
SELECT crmperm.grant('Manager extras', 'leads', ARRAY['read', 'delete']);
SELECT crmperm.grant_system('Manager extras', 'export');
SELECT crmperm.create_permission_set('Capture');
SELECT crmperm.grant('Capture', 'leads', ARRAY['create']);
SELECT crmperm.create_role('Sales Rep');
SELECT crmperm.add_to_role('Sales Rep', 'Rep');
SELECT crmperm.create_role('Sales Manager', parent => 'Sales Rep');
SELECT crmperm.add_to_role('Sales Manager', 'Manager extras');
SELECT crmperm.assign_role('rep', 'Sales Rep');
SELECT crmperm.assign_role('manager', 'Sales Manager', valid_until => '2999-01-01');
SELECT crmperm.assign_permission_set('hook', 'Capture');
SELECT crmperm.set_principal('rep', user_id => 'u1', team_ids => ARRAY['t1'], tenant_id => 'acme');
SELECT crmperm.set_principal('manager', tenant_id => 'acme');
SELECT crmperm.protect_field('leads', 'name', 'hash');
SELECT crmperm.protect_field('leads', 'team_id', 'partial', readonly => true);
SELECT crmperm.grant_field('Manager extras', 'leads', 'name', ARRAY['read', 'update']);
SELECT crmperm.grant_field('Rep', 'leads', 'team_id', ARRAY['read'], 'owned');
});

my $answers = q{
SELECT p, r, e.* FROM unnest(ARRAY['rep', 'manager', 'hook']::regrole[]) p,
       unnest(ARRAY['leads', 'invoices']) r, crmperm.explain_access(p, r) e ORDER BY p::text, 2, 3;
};
my $enforced = q{
SET ROLE rep;
SELECT string_agg(id::text, ',' ORDER BY id) FROM leads;
SELECT name, team_id FROM leads;
RESET ROLE;
SET ROLE manager;
SELECT string_agg(id::text, ',' ORDER BY id) FROM leads;
SELECT string_agg(name || '/' || coalesce(team_id, '-'), ',' ORDER BY id) FROM leads;
RESET ROLE;
SET ROLE eu;
SELECT string_agg(id::text, ',' ORDER BY id) FROM leads;
};
my $before = $src->safe_psql('crm', $answers);
my $before_rows = $src->safe_psql('crm', $enforced);
like($before, qr/rep\|leads\|read\|t\|owned\|\{Rep\}\|\{"Sales Rep"\}\|granted/, 'explain_access answers before dump');
like($before_rows, qr/^1\n[0-9a-f]{64}\|t1\n1,2,4\na\/\*\*\*\*,b\/\*\*\*\*,d\/\*\*\*\*\n1,2$/,
	'rows, real values and masks before dump: rep its own lead with a hashed name and its own team, manager its tenant with real names and masked teams, eu its custom scope');
like($before, qr/rep\|leads\|team_id\.read\|t\|owned\|\{Rep\}/, 'field grants in explain_access before dump');

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/crm.dump';
my $roles = $PostgreSQL::Test::Utils::tmp_check . '/roles.sql';
$src->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $src->connstr('crm') ], 'pg_dump');
$src->command_ok([ 'pg_dumpall', '--roles-only', '-f', $roles, '-d', $src->connstr('postgres') ],
	'pg_dumpall --roles-only');

my $dst = PostgreSQL::Test::Cluster->new('dst');
$dst->init;
$dst->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$dst->start;
$dst->psql('postgres', undef, on_error_stop => 0, extra_params => [ '-f', $roles ]);
$dst->safe_psql('postgres', 'CREATE DATABASE crm');
$dst->command_ok([ 'pg_restore', '--exit-on-error', '-d', $dst->connstr('crm'), $dump ], 'pg_restore');

is($dst->safe_psql('crm', $answers), $before, 'explain_access answers the same after restore');
is($dst->safe_psql('crm', $enforced), $before_rows, 'the same rows are enforced after restore');
is($dst->safe_psql('crm', q{
SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = 'leads'}), 't',
	'row security stays enabled and forced');

my ($ret, $out, $err) = $dst->psql('crm', 'SET ROLE hook; SELECT * FROM leads;');
like($err, qr/permission denied: role "hook" lacks "leads.read"/, 'denials after restore');
($ret, $out, $err) = $dst->psql('crm', q{SET ROLE manager; UPDATE invoices SET amount = 1;});
like($err, qr/permission denied: role "manager" lacks "invoices.update"/, 'sensitive mark restored');

done_testing();

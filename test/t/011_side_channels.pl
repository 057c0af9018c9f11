# Side channels: auto_explain with log_analyze (a common DBA setting, loaded
# for every session) prints each plan with its actual row counts ("Rows
# Removed by Filter" counts the rows row security hid).  A session that sets
# client_min_messages = log would receive it.  crmperm keeps these messages
# from the client of a transaction that ran for a governed session or role;
# the server log keeps them, and superusers still receive their own.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('side_channels');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'crmperm'
session_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_analyze = on
auto_explain.log_nested_statements = on
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE crm');
my $su = $node->safe_psql('postgres', 'SELECT current_user');
$node->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE ROLE rep LOGIN;
CREATE TABLE leads (id int PRIMARY KEY, name text, owner_id text);
INSERT INTO leads SELECT g, 'lead-' || g, CASE WHEN g <= 2 THEN 'u1' ELSE 'u2' END
  FROM generate_series(1, 10) g;
GRANT SELECT ON leads TO rep;
SELECT crmperm.manage_table('leads', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('own');
SELECT crmperm.grant('own', 'leads', ARRAY['read'], 'owned');
SELECT crmperm.assign_permission_set('rep', 'own');
SELECT crmperm.set_principal('rep', user_id => 'u1');
CREATE TABLE plain (id int);
GRANT SELECT ON plain TO rep;
});

sub run_as
{
	my ($user, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('crm', "SET client_min_messages = log; $sql",
		stdout => \$out, stderr => \$err, extra_params => [ '-U', $user ]);
	return ($out, $err);
}

my $query = "SELECT count(*) FROM leads WHERE name LIKE 'lead-%'";

# The superuser gets the plan, with actual rows.
my ($out, $err) = run_as($su, $query);
is($out, '10', 'superuser counts every row');
like($err, qr/plan:\nQuery Text: SELECT count.*rows=10(?:\.00)? loops/s,    # 18: rows=10.00
	'superuser receives auto_explain plan');
unlike($err, qr/crmperm/, 'plans of crmperm catalog queries stay in the server log');

# The governed role gets its result and no plan.
my $offset = -s $node->logfile;
($out, $err) = run_as('rep', $query);
is($out, '2', 'rep counts its rows');
unlike($err, qr/plan:|Rows Removed|actual rows/, 'rep receives no auto_explain plan');
my $log = slurp_file($node->logfile, $offset);
like($log, qr/plan:.*Rows Removed by Filter: 8/s, 'the server log keeps the plan');

# Also for a statement on a table crmperm does not manage, in the same
# transaction, and for a superuser session that SET ROLE to the rep.
($out, $err) = run_as('rep', "BEGIN; $query; SELECT count(*) FROM plain; COMMIT");
unlike($err, qr/plan:/, 'no plan for any statement of a governed transaction');
($out, $err) = run_as($su, "SET ROLE rep; $query");
unlike($err, qr/plan:.*FROM leads/s, 'no plan for a superuser session acting as rep');

# EXPLAIN ANALYZE stays refused.
($out, $err) = run_as('rep', "EXPLAIN ANALYZE $query");
like($err, qr/EXPLAIN ANALYZE/, 'EXPLAIN ANALYZE refused');

$node->stop;
done_testing();

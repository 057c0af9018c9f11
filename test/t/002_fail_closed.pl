# Without crmperm in shared_preload_libraries, a managed table is forced row
# security with no policies: governed roles see nothing and write nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION crmperm;
CREATE ROLE rep LOGIN;
CREATE TABLE leads (id int PRIMARY KEY, owner_id text);
INSERT INTO leads VALUES (1, 'u1'), (2, 'u2');
GRANT SELECT, INSERT, UPDATE, DELETE ON leads TO rep;
SELECT crmperm.manage_table('leads', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('All leads');
SELECT crmperm.grant('All leads', 'leads', ARRAY['read', 'create', 'update', 'delete']);
SELECT crmperm.assign_permission_set('rep', 'All leads');
});
is($node->safe_psql('postgres', 'SET ROLE rep; SELECT count(*) FROM leads'), '2',
	'with the library: the grant opens the table');

$node->stop;
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->start;

# loading it any other way is refused
my ($ret, $out, $err) = $node->psql('postgres', q{LOAD 'crmperm'});
like($err, qr/crmperm must be loaded via shared_preload_libraries/, 'LOAD is refused');

is($node->safe_psql('postgres', 'SET ROLE rep; SELECT count(*) FROM leads'), '0',
	'without the library: no row is visible');
($ret, $out, $err) = $node->psql('postgres', q{SET ROLE rep; INSERT INTO leads VALUES (3, 'u1')});
like($err, qr/new row violates row-level security policy for table "leads"/,
	'without the library: no row can be inserted');
is($node->safe_psql('postgres', q{SET ROLE rep; UPDATE leads SET owner_id = 'x'; DELETE FROM leads;
  RESET ROLE; SELECT count(*) FROM leads WHERE owner_id <> 'x'}), '2',
	'without the library: nothing is updated or deleted');
($ret, $out, $err) = $node->psql('postgres', q{SET ROLE rep; COPY leads TO STDOUT});
is($out, '', 'without the library: COPY TO shows nothing');
done_testing();

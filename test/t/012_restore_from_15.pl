# A dump made by PostgreSQL 15's pg_dumpall --roles-only and pg_dump
# (test/fixtures/pg15/dump.sql, crmperm 1.2) restores into the server this
# test runs on (15, 17 or 18) and decides exactly as PostgreSQL 15 did:
# explain_access of six principals on three tables (one partitioned, one
# sensitive), the sets and roles of a tenant administrator, every read, mask,
# write and denial of decisions.sql, COPY, and a token made before the dump,
# all compared with what PostgreSQL 15 printed (decisions.out).  On 17 this
# is the dump-and-restore upgrade a DBA moving from Debian 12 to 13 makes;
# make-fixture.sh remakes the fixture on PostgreSQL 15.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $fixture = "$ENV{TESTDIR}/test/fixtures/pg15";
my $node = PostgreSQL::Test::Cluster->new('restore15');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$node->start;

# psql -f FILE in the fixture directory (so messages name the file as they
# did on 15), standard output and errors in the order psql wrote them
sub psql_file
{
	my ($db, $file, @vars) = @_;
	my $out;
	IPC::Run::run([ 'psql', '-X', '-d', $node->connstr($db), (map { ('-v', $_) } @vars), '-f', $file ],
		'>&', \$out, init => sub { chdir $fixture or die "chdir $fixture: $!" });
	return $out;
}

my $restore = psql_file('postgres', 'dump.sql');
my @errors = grep { /ERROR|FATAL|WARNING/ } split /\n/, $restore;
is_deeply(\@errors, [], 'the PostgreSQL 15 dump restores without an error or warning');
is($node->safe_psql('crm', q{SELECT extversion FROM pg_extension WHERE extname = 'crmperm'}),
	$node->safe_psql('crm', q{SELECT default_version FROM pg_available_extensions WHERE name = 'crmperm'}),
	'the restore installs the default version of crmperm');
is($node->safe_psql('crm', q{SELECT ok FROM crmperm.verify_audit()}), 't',
	'the audit trail restored from 15 verifies');

my $token = slurp_file("$fixture/token.txt");
chomp $token;
my $expected = slurp_file("$fixture/decisions.out");
my $got = psql_file('crm', 'decisions.sql', "token=$token");
is($got, $expected, 'every decision is the one PostgreSQL 15 made (decisions.out)');
if ($got ne $expected)
{
	my @g = split /\n/, $got;
	my @e = split /\n/, $expected;
	for my $i (0 .. ($#g > $#e ? $#g : $#e))
	{
		next if defined $g[$i] && defined $e[$i] && $g[$i] eq $e[$i];
		diag("first difference at line " . ($i + 1) . ":\n  15:   " . ($e[$i] // '(none)')
			  . "\n  here: " . ($g[$i] // '(none)'));
		last;
	}
}

$node->stop;
done_testing();

# A streaming hot standby enforces the same decisions as its primary: the
# same rows per role, the same denials, the same COPY TO check, the same
# injected qual; grants, attribute changes and revokes made on the primary
# take effect on the standby at replay, in sessions already open there too
# (cached plans included).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$primary->start;

$primary->safe_psql('postgres', 'CREATE DATABASE crm');
$primary->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE ROLE crm_users NOLOGIN;
CREATE ROLE rep LOGIN IN ROLE crm_users;       -- owned
CREATE ROLE teamer LOGIN IN ROLE crm_users;    -- team
CREATE ROLE reader LOGIN IN ROLE crm_users;    -- read all, no export
CREATE ROLE exporter LOGIN IN ROLE crm_users;  -- read all + export
CREATE ROLE hook LOGIN IN ROLE crm_users;      -- create only
CREATE TABLE deals (id int PRIMARY KEY, owner_id text, team_id text, name text);
INSERT INTO deals VALUES (1, 'u1', 't1', 'a'), (2, 'u2', 't1', 'b'), (3, 'u3', 't2', 'c'),
                         (4, 'u1', 't2', 'd'), (5, 'u4', 't3', 'e'), (6, NULL, NULL, 'f');
CREATE TABLE invoices (id int PRIMARY KEY, amount int);
INSERT INTO invoices VALUES (1, 100);
GRANT SELECT, INSERT, UPDATE, DELETE ON deals, invoices TO crm_users;
SELECT crmperm.manage_table('deals', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.manage_table('invoices');
SELECT crmperm.create_permission_set('Own deals');
SELECT crmperm.grant('Own deals', 'deals', ARRAY['read', 'update'], scope => 'owned');
SELECT crmperm.create_permission_set('Team deals');
SELECT crmperm.grant('Team deals', 'deals', ARRAY['read'], scope => 'team');
SELECT crmperm.create_permission_set('Read all');
SELECT crmperm.grant('Read all', 'deals', ARRAY['read']);
SELECT crmperm.create_permission_set('Exporter');
SELECT crmperm.grant_system('Exporter', 'export');
SELECT crmperm.create_permission_set('Capture');
SELECT crmperm.grant('Capture', 'deals', ARRAY['create']);
SELECT crmperm.assign_permission_set('rep', 'Own deals');
SELECT crmperm.assign_permission_set('teamer', 'Team deals');
SELECT crmperm.assign_permission_set('reader', 'Read all');
SELECT crmperm.assign_permission_set('exporter', 'Read all');
SELECT crmperm.assign_permission_set('exporter', 'Exporter');
SELECT crmperm.assign_permission_set('hook', 'Capture');
SELECT crmperm.set_principal('rep', user_id => 'u1', team_ids => ARRAY['t3']);
SELECT crmperm.set_principal('teamer', user_id => 'u9', team_ids => ARRAY['t1']);
});

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
# the backup carries the primary's postgresql.conf; say it again all the same
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
# the log file is appended to across runs: only read what this run writes
my $log_offset = -s $standby->logfile // 0;
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('crm', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('crm', 'SHOW shared_preload_libraries'), 'crmperm',
	'crmperm is preloaded on the standby');

# Run $sql on $node and return (stdout, stderr) with psql's "psql:<stdin>:N: "
# prefixes removed from stderr.
sub run
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('crm', $sql);
	$err =~ s/^psql:[^\n]*?:\d+: //mg;
	return ($out, $err);
}

sub denial
{
	my ($role, $perm, $detail, $hint) = @_;
	$hint //= q{Grant it with crmperm.grant().};
	return qq{ERROR:  permission denied: role "$role" lacks "$perm"\nDETAIL:  $detail\nHINT:  $hint};
}

# the same id list per role, every role in one psql call, on both nodes
my $rows_per_role = q{
SET ROLE rep;
SELECT 'rep:' || coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM deals;
SET ROLE teamer;
SELECT 'teamer:' || coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM deals;
SET ROLE reader;
SELECT 'reader:' || coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM deals;
SET ROLE exporter;
SELECT 'exporter:' || coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM deals;
RESET ROLE;
SELECT 'superuser:' || string_agg(id::text, ',' ORDER BY id) FROM deals;
};
my $expected_rows = "rep:1,4\nteamer:1,2\nreader:1,2,3,4,5,6\nexporter:1,2,3,4,5,6\nsuperuser:1,2,3,4,5,6";
is($primary->safe_psql('crm', $rows_per_role), $expected_rows, 'primary: rows per role');
is($standby->safe_psql('crm', $rows_per_role), $expected_rows, 'standby: the same rows per role');

# the same denials on both nodes
for my $node ($primary, $standby)
{
	my $name = $node->name;
	my ($out, $err) = run($node, 'SET ROLE hook; SELECT id FROM deals');
	is($err, denial('hook', 'deals.read', 'Granted on deals: create.'),
		"$name: read without a read grant is denied");
	($out, $err) = run($node, 'SET ROLE rep; SELECT * FROM invoices');
	is($err, denial('rep', 'invoices.read', 'Granted on invoices: nothing.'),
		"$name: read on a table with no grant at all is denied");
	($out, $err) = run($node, 'SET ROLE reader; COPY deals TO STDOUT');
	is($err, denial('reader', 'deals.export',
		'COPY ... TO needs deals.export (or the system permission export). Granted on deals: read.'),
		"$name: COPY TO without export is denied");
	($out, $err) = run($node, 'SET ROLE reader; COPY (SELECT id FROM deals) TO STDOUT');
	is($err, denial('reader', 'deals.export',
		'COPY ... TO needs deals.export (or the system permission export). Granted on deals: read.'),
		"$name: COPY (query) TO without export is denied");
	($out, $err) = run($node, 'SET ROLE exporter; COPY deals (id, owner_id) TO STDOUT');
	is($err, '', "$name: COPY TO with export is allowed");
	is($out, "1\tu1\n2\tu2\n3\tu3\n4\tu1\n5\tu4\n6\t\\N", "$name: COPY TO with export shows every row");
	is($node->safe_psql('crm', 'SET ROLE rep; EXPLAIN (COSTS OFF) SELECT * FROM deals'),
		"Seq Scan on deals\n  Filter: (owner_id = 'u1'::text)",
		"$name: the owned scope is injected as a qual");
	is($node->safe_psql('crm', 'SET ROLE teamer; EXPLAIN (COSTS OFF) SELECT * FROM deals'),
		"Seq Scan on deals\n  Filter: (team_id = ANY ('{t1}'::text[]))",
		"$name: the team scope is injected as a qual");
	is($node->safe_psql('crm', q{SET ROLE rep;
		SELECT crmperm.check('deals.read'), crmperm.check('deals.delete'), crmperm.check('export'),
		       crmperm.user_id(), crmperm.team_ids()}),
		't|f|f|u1|{t3}', "$name: check() and attributes agree");
}

# Sessions opened on the standby before the changes: they must pick the
# changes up at replay, plain queries and generic cached plans alike.
my $rep_s = $standby->background_psql('crm', on_error_stop => 0);
my $teamer_s = $standby->background_psql('crm', on_error_stop => 0);
my $reader_s = $standby->background_psql('crm', on_error_stop => 0);
my $ids = q{SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM deals};
$rep_s->query_safe(qq{SET plan_cache_mode = force_generic_plan; SET ROLE rep;
	PREPARE ids AS $ids;});
$teamer_s->query_safe(qq{SET plan_cache_mode = force_generic_plan; SET ROLE teamer;
	PREPARE ids AS $ids;});
$reader_s->query_safe('SET ROLE reader');
is($rep_s->query_safe($ids), '1,4', 'open standby session: rep sees its own rows');
is($rep_s->query_safe('EXECUTE ids'), '1,4', 'open standby session: rep, cached plan');
is($teamer_s->query_safe($ids), '1,2', 'open standby session: teamer sees its team');
is($teamer_s->query_safe('EXECUTE ids'), '1,2', 'open standby session: teamer, cached plan');
my ($out, $failed) = $reader_s->query('COPY deals TO STDOUT');
ok($failed, 'open standby session: reader COPY TO fails before the export grant');
like($reader_s->{stderr}, qr/ERROR:  permission denied: role "reader" lacks "deals.export"\n/,
	'open standby session: reader lacks export');
$reader_s->{stderr} = '';

# widen rep to all, give teamer a second team, give reader export
$primary->safe_psql('crm', q{
SELECT crmperm.grant('Own deals', 'deals', ARRAY['read'], scope => 'all');
SELECT crmperm.set_principal('teamer', user_id => 'u9', team_ids => ARRAY['t1', 't2']);
SELECT crmperm.assign_permission_set('reader', 'Exporter');
});
$primary->wait_for_catchup($standby);

my $widened = "rep:1,2,3,4,5,6\nteamer:1,2,3,4\nreader:1,2,3,4,5,6\nexporter:1,2,3,4,5,6\nsuperuser:1,2,3,4,5,6";
is($primary->safe_psql('crm', $rows_per_role), $widened, 'primary: rows per role after the changes');
is($standby->safe_psql('crm', $rows_per_role), $widened,
	'standby, new session: the same rows per role after replay');
is($rep_s->query_safe($ids), '1,2,3,4,5,6', 'open standby session: the widened scope is replayed');
is($rep_s->query_safe('EXECUTE ids'), '1,2,3,4,5,6',
	'open standby session: the cached plan is replanned at replay');
is($teamer_s->query_safe($ids), '1,2,3,4', 'open standby session: the new team is replayed');
is($teamer_s->query_safe('EXECUTE ids'), '1,2,3,4',
	'open standby session: the cached plan sees the new team');
is($standby->safe_psql('crm', 'SET ROLE teamer; EXPLAIN (COSTS OFF) SELECT * FROM deals'),
	"Seq Scan on deals\n  Filter: (team_id = ANY ('{t1,t2}'::text[]))",
	'standby: the injected qual carries the new team');
is($reader_s->query_safe('COPY deals (id) TO STDOUT'), "1\n2\n3\n4\n5\n6",
	'open standby session: the export grant is replayed');
($out, my $err) = run($standby, 'SET ROLE reader; COPY deals (id) TO STDOUT');
is($err, '', 'standby, new session: reader may COPY TO now');
is($out, "1\n2\n3\n4\n5\n6", 'standby, new session: COPY TO shows every row');

# revoke: rep loses read, teamer loses its set, reader loses export
$primary->safe_psql('crm', q{
SELECT crmperm.revoke('Own deals', 'deals', ARRAY['read']);
SELECT crmperm.unassign_permission_set('teamer', 'Team deals');
SELECT crmperm.unassign_permission_set('reader', 'Exporter');
});
$primary->wait_for_catchup($standby);

for my $node ($primary, $standby)
{
	my $name = $node->name;
	my ($o, $e) = run($node, 'SET ROLE rep; SELECT id FROM deals');
	is($e, denial('rep', 'deals.read', 'Granted on deals: update (owned).'),
		"$name: after the revoke rep is denied");
	($o, $e) = run($node, 'SET ROLE teamer; SELECT id FROM deals');
	is($e, denial('teamer', 'deals.read', 'Granted on deals: nothing.'),
		"$name: after the unassignment teamer is denied");
	($o, $e) = run($node, 'SET ROLE reader; COPY deals TO STDOUT');
	is($e, denial('reader', 'deals.export',
		'COPY ... TO needs deals.export (or the system permission export). Granted on deals: read.'),
		"$name: after the unassignment reader may not COPY TO");
}

for my $case ([ $rep_s, $ids, 'rep', 'update (owned)' ],
	[ $rep_s, 'EXECUTE ids', 'rep', 'update (owned)' ],
	[ $teamer_s, $ids, 'teamer', 'nothing' ],
	[ $teamer_s, 'EXECUTE ids', 'teamer', 'nothing' ])
{
	my ($s, $sql, $role, $granted) = @$case;
	$s->{stderr} = '';
	my ($o, $f) = $s->query($sql);
	my $e = $s->{stderr};
	$e =~ s/^psql:[^\n]*?:\d+: //mg;
	$e =~ s/\n$//;
	is($e, denial($role, 'deals.read', "Granted on deals: $granted."),
		"open standby session: $role is denied after the revoke ($sql)");
	is($o, '', "open standby session: $role gets no rows ($sql)");
	$s->{stderr} = '';
}
($out, $failed) = $reader_s->query('COPY deals TO STDOUT');
my $e = $reader_s->{stderr};
$e =~ s/^psql:[^\n]*?:\d+: //mg;
$e =~ s/\n$//;
is($e, denial('reader', 'deals.export',
	'COPY ... TO needs deals.export (or the system permission export). Granted on deals: read.'),
	'open standby session: the export unassignment is replayed');
$reader_s->{stderr} = '';

# the sessions are still usable: a superuser in the same session sees everything
$rep_s->query_safe('RESET ROLE');
is($rep_s->query_safe($ids), '1,2,3,4,5,6', 'open standby session: still alive after the denials');

$_->quit for ($rep_s, $teamer_s, $reader_s);

# nothing went wrong in crmperm on the standby
my $log = slurp_file($standby->logfile, $log_offset);
unlike($log, qr/PANIC|TRAP:|terminated by signal|read-only transaction|during recovery|crmperm[^\n]*cache/,
	'standby log: no crash, no write attempted during recovery, no cache error');
is(scalar(() = $log =~ /ERROR:  permission denied: role "\w+" lacks/g), 13,
	'standby log: the only errors are the 13 denials this test provoked');
is(scalar(() = $log =~ /ERROR:/g), 13, 'standby log: no other error');

# Record access (1.5): a parent, a share and an account team, made on the
# primary, decide on the standby; a share made or removed there reaches a
# plan prepared in an open standby session at replay.
$primary->safe_psql('crm', q{
CREATE TABLE accounts (id int PRIMARY KEY, owner_id text);
CREATE TABLE notes (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts);
INSERT INTO accounts VALUES (1, 'u1'), (2, 'u2'), (3, 'u3');
INSERT INTO notes VALUES (10, 1), (20, 2), (30, 3);
GRANT SELECT ON accounts, notes TO crm_users;
SELECT crmperm.manage_table('accounts', owner_column => 'owner_id');
SELECT crmperm.manage_table('notes');
SELECT crmperm.set_parent('notes', 'accounts', ARRAY['account_id']);
SELECT crmperm.create_permission_set('Accounts');
SELECT crmperm.grant('Accounts', 'accounts', ARRAY['read'], scope => 'owned');
SELECT crmperm.grant('Accounts', 'notes', ARRAY['read'], scope => 'parent');
SELECT crmperm.assign_permission_set('rep', 'Accounts');
SELECT crmperm.share('accounts', 2, 'rep', ARRAY['read']);
});
$primary->wait_for_catchup($standby);
my $notes = q{SELECT string_agg(id::text, ',' ORDER BY id) FROM notes};
is($standby->safe_psql('crm', "SET ROLE rep; $notes"), '10,20',
	'standby: rep reads the notes of its own account and of the one shared with it');
my $rep2 = $standby->background_psql('crm', on_error_stop => 0);
$rep2->query_safe("SET plan_cache_mode = force_generic_plan; SET ROLE rep; PREPARE notes_ids AS $notes");
is($rep2->query_safe('EXECUTE notes_ids'), '10,20', 'open standby session: notes through parent and share');
$primary->safe_psql('crm', q{
SELECT crmperm.unshare('accounts', 2, 'rep');
SELECT crmperm.grant('Accounts', 'accounts', ARRAY['read'], scope => 'assigned');
SELECT crmperm.assign_record('accounts', 3, 'rep');
});
$primary->wait_for_catchup($standby);
is($rep2->query_safe('EXECUTE notes_ids'), '30',
	'open standby session: the share removed and the account team replayed, cached plan');
$rep2->quit;

done_testing();

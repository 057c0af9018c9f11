# A pooled application serving human users: one login role, many principals.
#
# The pattern (README, "Pooled applications"): the application logs in as
# webapp, a NOINHERIT login role that holds no privilege and no crmperm
# assignment and is a member of each human principal (alice, bob); every
# transaction starts with SET LOCAL ROLE <user>.  Through a real driver (Perl
# DBI / DBD::Pg, statements prepared on the server and reused) this test
# shows:
#   - one prepared statement handle, executed in transaction after transaction
#     (custom and then generic plans), returns exactly alice's rows and
#     fields under SET LOCAL ROLE alice, and bob's rows with bob's masks under
#     SET LOCAL ROLE bob;
#   - without SET LOCAL ROLE, webapp reads nothing (it holds no privilege:
#     PostgreSQL's own denial, 42501), and crmperm's grants do not reach it
#     (NOINHERIT: crmperm counts memberships as pg_has_role USAGE does);
#   - after COMMIT, and after a transaction that failed on a crmperm denial and
#     was rolled back, the session is webapp again; the denial's audit line
#     names webapp as the login and alice as the principal;
#   - lint() reports nothing about this setup; once a principal webapp can
#     SET ROLE to also holds a token, it reports webapp
#     (login_can_set_role_to_token_principal), and the finding goes with the
#     token;
#   - what the pattern trusts: the application chooses the role.  Inside one
#     transaction webapp may switch from alice to bob; anyone who can run SQL
#     as webapp acts as any of its users.  Under a token that is refused.
use strict;
use warnings;
use DBI;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pooled_app');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE crm');
$node->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE TABLE leads (id int PRIMARY KEY, name text, owner_id text, email text);
INSERT INTO leads VALUES (1, 'Acme', 'alice', 'ceo@acme.com'), (2, 'Globex', 'bob', 'cfo@globex.com'),
                         (3, 'Initech', 'alice', 'it@initech.com'), (4, 'Umbrella', 'carol', 'x@umbrella.com');
CREATE ROLE crm_users NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON leads TO crm_users;
-- the human users: principals that do not log in themselves
CREATE ROLE alice NOLOGIN IN ROLE crm_users;
CREATE ROLE bob NOLOGIN IN ROLE crm_users;
-- the pool's login role: nothing of its own, inherits nothing
CREATE ROLE webapp LOGIN NOINHERIT;
GRANT alice, bob TO webapp;
SELECT crmperm.manage_table('leads', owner_column => 'owner_id');
SELECT crmperm.protect_field('leads', 'email', mask => 'email');
-- alice: her own leads, with their email
SELECT crmperm.create_permission_set('Own leads');
SELECT crmperm.grant('Own leads', 'leads', ARRAY['read', 'update'], scope => 'owned');
SELECT crmperm.grant_field('Own leads', 'leads', 'email', ARRAY['read'], scope => 'owned');
SELECT crmperm.assign_permission_set('alice', 'Own leads');
SELECT crmperm.set_principal('alice', user_id => 'alice');
-- bob: every lead, email masked
SELECT crmperm.create_permission_set('All leads');
SELECT crmperm.grant('All leads', 'leads', ARRAY['read']);
SELECT crmperm.assign_permission_set('bob', 'All leads');
SELECT crmperm.set_principal('bob', user_id => 'bob');
});

my $dsn = sprintf('dbi:Pg:dbname=crm;host=%s;port=%d', $node->host, $node->port);
my $dbh = DBI->connect($dsn, 'webapp', '',
	{ AutoCommit => 0, RaiseError => 1, PrintError => 0, pg_server_prepare => 1 })
  or die "connect: $DBI::errstr";
is($dbh->selectrow_array('SELECT current_user'), 'webapp', 'the application is logged in as webapp');
$dbh->commit;

# One handle, prepared on the server, reused by every transaction below.
my $sth = $dbh->prepare('SELECT id, name, email FROM leads WHERE id > $1 ORDER BY id',
	{ pg_prepare_now => 1 });
ok(defined $sth->{pg_prepare_name}, 'the statement is prepared on the server');
my $prepared = $dbh->selectrow_array(
	'SELECT count(*) FROM pg_prepared_statements WHERE name = ?', undef, $sth->{pg_prepare_name});
is($prepared, 1, 'pg_prepared_statements lists it');
$dbh->commit;

my $alice_rows = '1|Acme|ceo@acme.com 3|Initech|it@initech.com';
my $bob_rows = '1|Acme|****@acme.com 2|Globex|****@globex.com 3|Initech|****@initech.com 4|Umbrella|****@umbrella.com';

# as(ROLE, ARG): one transaction: SET LOCAL ROLE, the prepared statement, COMMIT
sub as
{
	my ($role, $arg) = @_;
	$dbh->do("SET LOCAL ROLE $role");
	$sth->execute($arg);
	my $rows = join ' ', map { join '|', map { $_ // '' } @$_ } @{ $sth->fetchall_arrayref };
	$dbh->commit;
	return $rows;
}

for my $round (1 .. 3)
{
	is(as('alice', 0), $alice_rows, "round $round: alice sees her leads and their email");
	is(as('bob', 0), $bob_rows, "round $round: bob sees every lead, email masked");
}

# Generic plans: the same handle, planned once for every role.
$dbh->do('SET plan_cache_mode = force_generic_plan');
$dbh->commit;
for my $round (1 .. 2)
{
	is(as('bob', 1), '2|Globex|****@globex.com 3|Initech|****@initech.com 4|Umbrella|****@umbrella.com',
		"generic plan, round $round: bob");
	is(as('alice', 1), '3|Initech|it@initech.com', "generic plan, round $round: alice");
}
$dbh->do('RESET plan_cache_mode');
$dbh->commit;

# A bind parameter in a write, as alice: her own lead only.
$dbh->do('SET LOCAL ROLE alice');
is($dbh->do('UPDATE leads SET name = $1 WHERE id = $2', undef, 'Acme Corp', 1), 1,
	'alice updates her own lead through a bind parameter');
is($dbh->do('UPDATE leads SET name = $1 WHERE id = $2', undef, 'mine now', 2), '0E0',
	"alice's update of bob's lead finds no row");
$dbh->commit;

# After COMMIT the session is webapp again, and webapp holds nothing.
is($dbh->selectrow_array('SELECT current_user'), 'webapp', 'after COMMIT: webapp again');
eval { $sth->execute(0); };
is($dbh->state, '42501', 'webapp itself cannot read leads (42501)');
like($dbh->errstr, qr/permission denied for table leads/, "webapp's denial is PostgreSQL's own");
$dbh->rollback;
is($dbh->selectrow_array(q{SELECT crmperm.check('leads.read')}), 0,
	"webapp does not have alice's or bob's crmperm grants (NOINHERIT)");
$dbh->commit;

# A transaction that fails on a crmperm denial rolls back to webapp.
my $logstart = -s $node->logfile;
$dbh->do('SET LOCAL ROLE alice');
eval { $dbh->do('DELETE FROM leads WHERE id = $1', undef, 1); };
is($dbh->state, '42501', 'alice may not delete (42501)');
like($dbh->errstr, qr/permission denied: role "alice" lacks "leads.delete"/, "crmperm's denial names alice");
$dbh->rollback;
is($dbh->selectrow_array('SELECT current_user'), 'webapp', 'after the failed transaction: webapp again');
is(as('bob', 3), '4|Umbrella|****@umbrella.com', 'the next transaction, for bob, sees bob\'s rows only');
ok($node->log_contains(qr/crmperm audit: \{"kind":"denial","database":"crm","login":"webapp","principal":"alice"/, $logstart),
	'the audit line names webapp as the login and alice as the principal');

# The DBA closes the statistics views first, with the fix lint() prints
# (statistics_count_hidden_rows, PostgreSQL's own channel, not this pattern's).
$node->safe_psql('crm', q{DO $$DECLARE f text; BEGIN
  FOR f IN SELECT fix FROM crmperm.lint() WHERE finding = 'statistics_count_hidden_rows' LOOP
    EXECUTE f; END LOOP; END $$});
# lint(): nothing to report about this setup ...
my $lint = q{SELECT string_agg(severity || ' ' || finding || ' ' || object, E'\n'
                               ORDER BY finding, object) FROM crmperm.lint()};
is($node->safe_psql('crm', $lint), '', 'lint() reports nothing about the pooled login role');
# ... until a principal webapp can become also holds a token: webapp can then
# act as it without the token's scopes, expiry or revocation.
$node->safe_psql('crm', q{SELECT crmperm.create_token('alice-sync', 'alice', ARRAY['leads.read'],
                                                     expires_at => now() + interval '1 day')});
is($node->safe_psql('crm', $lint), 'warning login_can_set_role_to_token_principal webapp',
	'lint() reports webapp once alice holds a token');
$node->safe_psql('crm', q{SELECT crmperm.revoke_token('alice-sync')});
is($node->safe_psql('crm', $lint), '', 'the finding goes with the token');

# What the pattern trusts: the application chooses the role.
$dbh->do('SET LOCAL ROLE alice');
$dbh->do('SET LOCAL ROLE bob');
is($dbh->selectrow_array('SELECT current_user'), 'bob',
	'inside a transaction begun for alice, webapp may switch to bob: the application is trusted');
$dbh->rollback;

# Under a token, the role is fixed: a token-holding integration logs in as a
# role that is a member of nothing, and SET ROLE is refused.
$node->safe_psql('crm', q{CREATE ROLE sync LOGIN;
GRANT bob TO sync;  -- made a member only to show that SET ROLE is refused under a token
});
my $token = $node->safe_psql('crm',
	q{SELECT crmperm.create_token('alice-app', 'alice', ARRAY['leads.read'], expires_at => now() + interval '1 day')});
my $tdbh = DBI->connect($dsn, 'sync', '',
	{ AutoCommit => 0, RaiseError => 1, PrintError => 0, pg_server_prepare => 1 })
  or die "connect: $DBI::errstr";
is($tdbh->selectrow_array('SELECT crmperm.authenticate($1)', undef, $token), 'alice',
	'a token, passed as a bind parameter, acts as alice');
eval { $tdbh->do('SET ROLE bob'); };
is($tdbh->state, '42501', 'under the token, SET ROLE bob is refused (42501)');
$tdbh->rollback;
$tdbh->disconnect;

$dbh->disconnect;
$node->stop;
done_testing();

# API tokens behind a transaction pooler: PgBouncer in transaction mode with
# one server connection, two clients logged in as the same role, each with
# its own token.  Their transactions take turns on the one backend; each sees
# exactly its token's rights, and whatever ran before (a committed token, a
# token whose transaction failed and rolled back) never leaks into the next
# client's statements: outside a token the backend is the login role again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $pgbouncer = '/usr/sbin/pgbouncer';
plan skip_all => "$pgbouncer is not installed" unless -x $pgbouncer;

my $node = PostgreSQL::Test::Cluster->new('pooled');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$node->start;

# app is the login role of both clients: no table privileges, no grants, not
# a member of either principal.  capture and clientsvc are the principals;
# each holds more than its token's scopes, so what a client may do is the
# token's narrowing, not just its principal's grants.
$node->safe_psql('postgres', 'CREATE DATABASE crm');
$node->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE ROLE app LOGIN;
CREATE ROLE capture NOLOGIN;
CREATE ROLE clientsvc NOLOGIN;
CREATE TABLE leads (id serial PRIMARY KEY, name text);
CREATE TABLE clients (id int PRIMARY KEY, name text);
INSERT INTO clients VALUES (1, 'Acme'), (2, 'Globex');
GRANT SELECT, INSERT, UPDATE ON leads, clients TO capture, clientsvc;
GRANT USAGE ON SEQUENCE leads_id_seq TO capture, clientsvc;
SELECT crmperm.manage_table('leads');
SELECT crmperm.manage_table('clients');
SELECT crmperm.create_permission_set('Capture');
SELECT crmperm.grant('Capture', 'leads', ARRAY['read', 'create']);
SELECT crmperm.grant('Capture', 'clients', ARRAY['read']);
SELECT crmperm.assign_permission_set('capture', 'Capture');
SELECT crmperm.create_permission_set('Client service');
SELECT crmperm.grant('Client service', 'clients', ARRAY['read', 'update']);
SELECT crmperm.grant('Client service', 'leads', ARRAY['create']);
SELECT crmperm.assign_permission_set('clientsvc', 'Client service');
});
my $token_a = $node->safe_psql('crm',
	q{SELECT crmperm.create_token('webform', 'capture', ARRAY['leads.create'])});
my $token_b = $node->safe_psql('crm',
	q{SELECT crmperm.create_token('support', 'clientsvc', ARRAY['clients.read', 'clients.update'])});
like($token_a, qr/^crm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, 'create_token returns a token of the documented shape');
isnt($token_a, $token_b, 'two tokens differ');

# ---- PgBouncer: transaction pooling, one server connection ----

my $su = $node->safe_psql('postgres', 'SELECT current_user');
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my $bdir = PostgreSQL::Test::Utils::tempdir();
my ($nhost, $nport) = ($node->host, $node->port);
PostgreSQL::Test::Utils::append_to_file("$bdir/users.txt", qq{"app" ""\n"$su" ""\n});
PostgreSQL::Test::Utils::append_to_file("$bdir/pgbouncer.ini", qq{
[databases]
crm = host=$nhost port=$nport dbname=crm

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $bdir/users.txt
admin_users = $su
pool_mode = transaction
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = 1
max_client_conn = 10
logfile = $bdir/pgbouncer.log
pidfile = $bdir/pgbouncer.pid
});
system($pgbouncer, '-d', '-q', "$bdir/pgbouncer.ini") == 0
  or BAIL_OUT("pgbouncer did not start");
my $bouncer_pid;
for (1 .. 100)
{
	last if -s "$bdir/pgbouncer.pid";
	usleep(100_000);
}
$bouncer_pid = PostgreSQL::Test::Utils::slurp_file("$bdir/pgbouncer.pid");
chomp $bouncer_pid;
ok($bouncer_pid =~ /^\d+$/ && kill(0, $bouncer_pid), 'pgbouncer is running');

# the pooler goes away with the test, whatever happens
END { kill 'TERM', $bouncer_pid if $bouncer_pid && $bouncer_pid =~ /^\d+$/; }

# psql through PgBouncer: background_psql/psql of the node, with a second -d
# (the last one wins in psql) that points at PgBouncer instead.
my $via_bouncer = "host=127.0.0.1 port=$bport dbname=crm user=app";
sub client
{
	return $node->background_psql('crm', on_error_stop => 0, extra_params => [ '-d', $via_bouncer ]);
}

# PgBouncer's SHOW POOLS for crm/app, as a hash of column => value.
sub pool
{
	my ($ret, $out, $err) = $node->psql('pgbouncer', 'SHOW POOLS',
		extra_params => [ '-d', "host=127.0.0.1 port=$bport dbname=pgbouncer user=$su",
			'-P', 'tuples_only=off', '-P', 'footer=off' ]);
	my ($head, @rows) = split /\n/, $out;
	my @cols = split /\|/, $head;
	for my $row (@rows)
	{
		my %h;
		@h{@cols} = split /\|/, $row, -1;
		return \%h if $h{database} eq 'crm' && $h{user} eq 'app';
	}
	return {};
}

# One statement on a client: (stdout, stderr without psql's prefix).
sub run
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	my $out = $s->query($sql);
	my $err = $s->{stderr};
	$err =~ s/^psql:[^\n]*?:\d+: //mg;
	$err =~ s/\n+$//;
	$s->{stderr} = '';
	return ($out, $err);
}

# The one backend all of app's transactions run on.
sub app_backends
{
	return $node->safe_psql('crm', q{
SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity
 WHERE usename = 'app' AND backend_type = 'client backend'});
}

my $ca = client();
my $cb = client();

# plain statements through the pooler: the login role, one backend
my ($out, $err) = run($ca, 'SELECT current_user, session_user, pg_backend_pid()');
is($err, '', 'client A: a plain statement runs');
my ($user, $session, $pid) = split /\|/, $out;
is("$user|$session", 'app|app', 'client A, no token: current_user is the login role');
($out, $err) = run($cb, 'SELECT current_user, pg_backend_pid()');
is($out, "app|$pid", 'client B, no token: the login role, on the same backend');
is(app_backends(), $pid, 'the server has one backend for app: the one both clients use');
($out, $err) = run($cb, 'SELECT count(*) FROM clients');
like($err, qr/^ERROR:  permission denied for table clients$/m,
	'client B, no token: the login role has no privilege of its own on clients');

my $lacks = sub {
	my ($token, $scope, $scopes) = @_;
	return qq{ERROR:  permission denied: token "$token" lacks "$scope"\nDETAIL:  Token scopes: $scopes.\n}
	  . qq{HINT:  A token's scopes are fixed: create a token whose scopes include "$scope" with crmperm.create_token(), and revoke this one.};
};

# Interleaved rounds: a transaction of A under its token, a plain statement
# of B, a transaction of B under its token, a plain statement of A.  Every
# statement reports the backend it ran on.
for my $round (1 .. 3)
{
	# A: leads.create only
	run($ca, 'BEGIN');
	($out, $err) = run($ca, "SELECT crmperm.authenticate('$token_a')");
	is("$out$err", 'capture', "round $round, A: authenticate returns the principal");
	($out, $err) = run($ca, 'SELECT current_user, session_user, pg_backend_pid()');
	is($out, "capture|app|$pid", "round $round, A: current_user is the principal, on the one backend");
	($out, $err) = run($ca, "INSERT INTO leads (name) VALUES ('lead $round')");
	is($err, '', "round $round, A: inserts a lead");
	($out, $err) = run($ca, 'SELECT id FROM leads');
	is($err, $lacks->('webform', 'leads.read', 'leads.create'),
		"round $round, A: cannot read leads (its principal could, its token cannot)");
	run($ca, 'ROLLBACK');

	# the lead above was rolled back: commit one for real
	run($ca, 'BEGIN');
	run($ca, "SELECT crmperm.authenticate('$token_a')");
	($out, $err) = run($ca, "INSERT INTO leads (name) VALUES ('lead $round')");
	is($err, '', "round $round, A: inserts a lead again");
	($out, $err) = run($ca, 'COMMIT');
	is($err, '', "round $round, A: commits");

	($out, $err) = run($cb, 'SELECT current_user, session_user, pg_backend_pid()');
	is($out, "app|app|$pid", "round $round, B after A's token: the login role on the same backend");

	# B: clients.read, clients.update
	run($cb, 'BEGIN');
	($out, $err) = run($cb, "SELECT crmperm.authenticate('$token_b')");
	is("$out$err", 'clientsvc', "round $round, B: authenticate returns the principal");
	($out, $err) = run($cb, 'SELECT current_user, pg_backend_pid()');
	is($out, "clientsvc|$pid", "round $round, B: current_user is the principal, on the one backend");
	($out, $err) = run($cb, 'SELECT string_agg(name, \',\' ORDER BY id) FROM clients');
	is($out, $round == 1 ? 'Acme,Globex' : 'Acme ' . ($round - 1) . ',Globex',
		"round $round, B: reads clients");
	($out, $err) = run($cb, "UPDATE clients SET name = 'Acme $round' WHERE id = 1");
	is($err, '', "round $round, B: updates a client");
	($out, $err) = run($cb, 'COMMIT');
	is($err, '', "round $round, B: commits");

	($out, $err) = run($ca, 'SELECT current_user, session_user, pg_backend_pid()');
	is($out, "app|app|$pid", "round $round, A after B's token: the login role on the same backend");

	# each token's denials, each in a transaction that fails and rolls back
	run($ca, 'BEGIN');
	run($ca, "SELECT crmperm.authenticate('$token_a')");
	($out, $err) = run($ca, 'SELECT name FROM clients');
	is($err, $lacks->('webform', 'clients.read', 'leads.create'),
		"round $round, A: cannot read clients");
	run($ca, 'ROLLBACK');
	run($cb, 'BEGIN');
	run($cb, "SELECT crmperm.authenticate('$token_b')");
	($out, $err) = run($cb, "INSERT INTO leads (name) VALUES ('not from B')");
	is($err, $lacks->('support', 'leads.create', 'clients.read, clients.update'),
		"round $round, B: cannot insert leads (its principal could, its token cannot)");
	run($cb, 'ROLLBACK');
}

is($node->safe_psql('crm', q{SELECT string_agg(name, ',' ORDER BY id) FROM leads}),
	'lead 1,lead 2,lead 3', "server: exactly A's committed leads");
is($node->safe_psql('crm', q{SELECT string_agg(name, ',' ORDER BY id) FROM clients}),
	'Acme 3,Globex', "server: B's update");

# While A holds the backend in a transaction under its token, B's statement
# waits in PgBouncer's queue; it runs right after A's COMMIT, on the same
# backend, and sees the login role, not A's principal.
run($ca, 'BEGIN');
run($ca, "SELECT crmperm.authenticate('$token_a')");
$cb->{stdin} .= "SELECT 'queued', current_user, pg_backend_pid();\n";
$cb->{run}->pump_nb;
my $waiting;
for (1 .. 100)
{
	$waiting = pool()->{cl_waiting};
	last if defined $waiting && $waiting eq '1';
	usleep(100_000);
}
is($waiting, '1', "B's statement waits for the backend A holds under its token");
($out, $err) = run($ca, 'SELECT current_user');
is($out, 'capture', 'A still acts as its principal meanwhile');
run($ca, 'COMMIT');
($out, $err) = run($cb, '');    # collects the queued statement's result
is($out, "queued|app|$pid", "B's queued statement runs after A's COMMIT as the login role, on the same backend");

# A transaction that authenticated, failed and was not yet ended holds the
# backend; the next client gets it only after the ROLLBACK, as the login role.
run($cb, 'BEGIN');
run($cb, "SELECT crmperm.authenticate('$token_b')");
($out, $err) = run($cb, "INSERT INTO leads (name) VALUES ('no')");
like($err, qr/^ERROR:  permission denied: token "support" lacks "leads.create"$/m,
	'B fails mid-transaction under its token');
($out, $err) = run($cb, 'SELECT current_user');
like($err, qr/current transaction is aborted/, 'B: the transaction is aborted');
$ca->{stdin} .= "SELECT 'after failure', current_user, session_user, pg_backend_pid();\n";
$ca->{run}->pump_nb;
for (1 .. 100)
{
	$waiting = pool()->{cl_waiting};
	last if defined $waiting && $waiting eq '1';
	usleep(100_000);
}
is($waiting, '1', 'A waits while B holds the backend in a failed transaction');
run($cb, 'ROLLBACK');
($out, $err) = run($ca, '');
is($out, "after failure|app|app|$pid", 'after the failed transaction A gets the backend as the login role');
is($err, '', 'A: no error');

# An authenticate that fails leaves nothing behind either.
($out, $err) = run($cb, q{SELECT crmperm.authenticate('crm_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')});
is($err, 'ERROR:  token authentication failed', 'B: a wrong token fails');
($out, $err) = run($ca, 'SELECT current_user, pg_backend_pid()');
is($out, "app|$pid", 'A after the failed authentication: the login role');

# A second token in a transaction is refused; the first stays in force until
# the transaction ends, and nothing of either survives it.
run($ca, 'BEGIN');
run($ca, "SELECT crmperm.authenticate('$token_a')");
($out, $err) = run($ca, "SELECT crmperm.authenticate('$token_b')");
like($err, qr/^ERROR:  token "webform" is already active$/m, 'A: a second token in the transaction is refused');
run($ca, 'ROLLBACK');
($out, $err) = run($cb, 'SELECT current_user, pg_backend_pid()');
is($out, "app|$pid", 'B after that: the login role');

is(app_backends(), $pid, 'the server still has exactly one backend for app, the same one');
is(pool()->{sv_active} + pool()->{sv_idle} + pool()->{sv_used}, 1,
	'PgBouncer holds exactly one server connection for crm/app');

$ca->quit;
$cb->quit;
kill 'TERM', $bouncer_pid;
for (1 .. 100)
{
	last unless kill 0, $bouncer_pid;
	usleep(100_000);
}
ok(!kill(0, $bouncer_pid), 'pgbouncer stopped');
$bouncer_pid = undef;

done_testing();

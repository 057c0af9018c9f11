# API tokens: throttling of failed authentications, and secrets kept out of
# sight.
#
# Throttling: crmperm.token_max_failures failures within
# crmperm.token_failure_window from one login role lock that role out for
# crmperm.token_lockout, even with a valid token; every login role counts on
# its own; after the lockout the valid token works again.
#
# Secrets: with statement logging off (log_statement = 'none'),
# log_min_error_statement = error and log_min_messages = info, neither a
# token nor its SHA-256 hash reaches the server log, whatever happens:
# good and bad tokens as literals, through PREPARE/EXECUTE and as protocol
# bind parameters (with log_parameter_max_length_on_error = -1, which would
# print them), create_token(), denials under a token, and errors later in a
# query string that authenticated earlier in it.  pg_stat_statements
# (track = all) never holds one either, nor shows one to another client of
# the same principal.  Ordinary roles cannot read the token table and see no
# rows in crmperm.tokens.  With log_statement = 'all' PostgreSQL logs every
# statement text before crmperm runs (a literal token included); a token
# sent as a bind parameter stays out with log_parameter_max_length = 0.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('tokens');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'crmperm,pg_stat_statements'
pg_stat_statements.track = all
crmperm.token_max_failures = 3
crmperm.token_failure_window = 60
crmperm.token_lockout = 2
log_statement = 'none'
log_min_messages = info
log_min_error_statement = error
log_error_verbosity = verbose
log_parameter_max_length_on_error = -1
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE crm');
$node->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE EXTENSION pg_stat_statements;
CREATE ROLE app1 LOGIN;
CREATE ROLE app2 LOGIN;
CREATE ROLE app3 LOGIN;
CREATE ROLE app4 LOGIN;
CREATE ROLE app5 LOGIN;
CREATE ROLE app6 LOGIN;
CREATE ROLE tokadmin LOGIN;
CREATE ROLE reader NOLOGIN;
CREATE TABLE leads (id int PRIMARY KEY, name text);
CREATE TABLE clients (id int PRIMARY KEY, name text);
INSERT INTO leads VALUES (1, 'Acme');
INSERT INTO clients VALUES (1, 'Initech');
GRANT SELECT ON leads, clients TO reader;
SELECT crmperm.manage_table('leads');
SELECT crmperm.manage_table('clients');
SELECT crmperm.create_permission_set('Reader');
SELECT crmperm.grant('Reader', 'leads', ARRAY['read']);
SELECT crmperm.grant('Reader', 'clients', ARRAY['read']);
SELECT crmperm.assign_permission_set('reader', 'Reader');
SELECT crmperm.create_permission_set('Token admin');
SELECT crmperm.grant_system('Token admin', 'manage_tokens');
SELECT crmperm.assign_permission_set('tokadmin', 'Token admin');
});

is($node->safe_psql('crm', q{SELECT string_agg(current_setting(n), ',') FROM unnest(ARRAY[
	'crmperm.token_max_failures', 'crmperm.token_failure_window', 'crmperm.token_lockout']) n}),
	'3,1min,2s', 'the throttle settings from postgresql.conf are in force');

# Every token and near-token this test hands the server, to look for later.
my @secrets;
sub new_token
{
	my ($as, $name) = @_;
	my $tok = $node->safe_psql('crm',
		"SELECT crmperm.create_token('$name', 'reader', ARRAY['leads.read'])",
		extra_params => [ '-U', $as ]);
	like($tok, qr/^crm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, "create_token by $as returns a token");
	push @secrets, $tok;
	return $tok;
}
my $good = new_token('tokadmin', 'integration');
my $good2 = new_token($node->safe_psql('postgres', 'SELECT current_user'), 'second');
# wrong secret with a real key id, unknown key id, not a token at all
(my $wrong_secret = $good) =~ s/.{6}$/AAAAAA/;
$wrong_secret =~ s/AAAAAA$/BBBBBB/ if $wrong_secret eq $good;
my $unknown = 'crm_0123456789ab_' . ('x' x 43);
my $garbage = 'crm_not-a-token-at-all-but-still-secret-ish';
push @secrets, $wrong_secret, $unknown, $garbage;

# psql as $role: (stdout, stderr without psql's prefixes, with SQLSTATEs)
sub as_role
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('crm', "\\set VERBOSITY verbose\n$sql",
		on_error_stop => 0, extra_params => [ '-U', $role ]);
	$err =~ s/^psql:[^\n]*?:\d+: //mg;
	$err =~ s/^LOCATION:[^\n]*\n?//mg;
	$err =~ s/\n+$//;
	return ($out, $err);
}

my $failed = 'ERROR:  28000: token authentication failed';

# ---- throttling ----

my ($out, $err);
for my $bad ($wrong_secret, $unknown, $garbage)
{
	($out, $err) = as_role('app1', "SELECT crmperm.authenticate('$bad')");
	is($err, $failed, "app1: a bad token fails with 28000 ($bad)");
}
my $locked_at = time();
($out, $err) = as_role('app1', "SELECT crmperm.authenticate('$good')");
like($err, qr/^ERROR:  28000: too many failed token authentications for role "app1"\nDETAIL:  Further attempts are refused for [12] more seconds\.$/,
	'app1: after 3 failures even the valid token is refused');
is($out, '', 'app1: and no principal');

($out, $err) = as_role('app2', "BEGIN; SELECT crmperm.authenticate('$good'); SELECT current_user; COMMIT;");
is("$out|$err", "reader\nreader|", 'app2: its own bucket, the valid token works');
for my $bad ($wrong_secret, $unknown)
{
	($out, $err) = as_role('app2', "SELECT crmperm.authenticate('$bad')");
	is($err, $failed, 'app2: a bad token fails');
}
($out, $err) = as_role('app2', "SELECT crmperm.authenticate('$good')");
is("$out|$err", 'reader|', "app2: 2 failures of its own, app1's not counted: not locked");
($out, $err) = as_role('app1', "SELECT crmperm.authenticate('$good2')");
like($err, qr/too many failed token authentications for role "app1"/,
	'app1: still locked out, for any token');

# wait out the lockout (throttled attempts are not failures: polling is fine)
for (1 .. 100)
{
	($out, $err) = as_role('app1', "SELECT crmperm.authenticate('$good')");
	last if $err eq '';
	usleep(200_000);
}
my $waited = time() - $locked_at;
is("$out|$err", 'reader|', 'app1: after the lockout the valid token works again');
cmp_ok($waited, '>=', 1.5, 'app1: ... and not before the lockout (about 2s) passed');
($out, $err) = as_role('app1', "SELECT crmperm.authenticate('$wrong_secret')");
is($err, $failed, 'app1: a new failure after the lockout');
($out, $err) = as_role('app1', "SELECT crmperm.authenticate('$good')");
is("$out|$err", 'reader|', 'app1: one failure after the lockout does not lock again');

# ---- the token table ----

($out, $err) = as_role('app3', 'SELECT name, hash FROM crmperm.api_tokens');
is($err, 'ERROR:  42501: permission denied for table api_tokens', 'app3 cannot read crmperm.api_tokens');
is((as_role('app3', 'SELECT count(*) FROM crmperm.tokens'))[0], '0', 'app3 sees no rows in crmperm.tokens');
is((as_role('tokadmin', 'SELECT string_agg(name, \',\' ORDER BY name) FROM crmperm.tokens'))[0],
	'integration,second', 'a manage_tokens holder sees the tokens');
($out, $err) = as_role('tokadmin', 'SELECT hash FROM crmperm.api_tokens');
like($err, qr/^ERROR:  42501: permission denied for table api_tokens/, '... but not their hashes');
($out, $err) = as_role('app3', "BEGIN; SELECT crmperm.authenticate('$good');
SELECT count(*) FROM crmperm.tokens; SELECT hash FROM crmperm.api_tokens;");
is($out, "reader\n0", 'under a token: no rows in crmperm.tokens');
like($err, qr/^ERROR:  42501: permission denied/, 'under a token: crmperm.api_tokens refused');

# ---- tokens in action, every way they can be passed ----

# a prepared statement, the token an argument of EXECUTE
($out, $err) = as_role('app3', qq{
PREPARE auth(text) AS SELECT crmperm.authenticate(\$1);
BEGIN; EXECUTE auth('$good'); SELECT name FROM leads; SELECT name FROM clients; ROLLBACK;
BEGIN; EXECUTE auth('$good2'); CREATE TABLE x (id int); ROLLBACK;
BEGIN; EXECUTE auth('$good'); EXECUTE auth('$good2'); ROLLBACK;
EXECUTE auth('$unknown');
});
is($out, "reader\nAcme\nreader\nreader", 'EXECUTE: the valid tokens authenticate, a read in scope runs');
is(join("\n", $err =~ /^ERROR:  (.*)$/mg), join("\n",
	'42501: permission denied: token "integration" lacks "clients.read"',
	'42501: permission denied: token "second" may not run CREATE TABLE',
	'55000: token "integration" is already active',
	'28000: token authentication failed'),
	'EXECUTE: a denial, a refused DDL, a refused second token, a failed authentication');
# literals in statements of their own, a denial after each
($out, $err) = as_role('app3', qq{
BEGIN; SELECT crmperm.authenticate('$good'); SELECT name FROM clients; ROLLBACK;
BEGIN; SELECT crmperm.authenticate('$good2', true); SELECT name FROM clients; ROLLBACK;
SELECT crmperm.authenticate('$good', session => true); SELECT crmperm.authenticate('$good2');
SELECT crmperm.logout();
SELECT crmperm.authenticate('$garbage');
});
like($err, qr/lacks "clients.read"/, 'denials under literal tokens happened');
like($err, qr/token "integration" is already active/, 'a second token was refused');
# protocol bind parameters (pgbench -M extended sends :tok as $1)
my $script = PostgreSQL::Test::Utils::tempdir() . '/auth.sql';
PostgreSQL::Test::Utils::append_to_file($script, qq{BEGIN;
SELECT crmperm.authenticate(:tok);
SELECT name FROM leads;
SELECT name FROM clients;
END;
});
sub pgbench
{
	my ($role, $mode, $file, $var) = @_;
	my ($o, $e) = run_command([ 'pgbench', '-n', '-t', '1', '-M', $mode, '-h', $node->host,
		'-p', $node->port, '-U', $role, '-D', $var, '-f', $file, 'crm' ]);
	return $e;
}
like(pgbench('app3', 'extended', $script, "tok=$good"), qr/ERROR:  permission denied: token "integration" lacks "clients.read"/,
	'bind parameter: a valid token, then a denial');
like(pgbench('app3', 'extended', $script, "tok=$wrong_secret"), qr/ERROR:  token authentication failed/,
	'bind parameter: a wrong token');
# control: an ordinary error with a bind parameter logs the parameter
my $control = PostgreSQL::Test::Utils::tempdir() . '/control.sql';
PostgreSQL::Test::Utils::append_to_file($control, "SELECT 1 / (:divisor)::int;\n");
like(pgbench('app3', 'extended', $control, 'divisor=0'), qr/division by zero/,
	'bind parameter: an ordinary error');
$node->safe_psql('crm', q{SELECT crmperm.revoke_token('second')});
($out, $err) = as_role('app4', "SELECT crmperm.authenticate('$good2')");
is($err, $failed, 'a revoked token fails');

# ---- the server log and pg_stat_statements ----

my @hashes = map { sha256_hex($_) } @secrets;
is($hashes[0], $node->safe_psql('crm', q{SELECT encode(hash, 'hex') FROM crmperm.api_tokens
 WHERE name = 'integration'}), 'the stored hash is the SHA-256 of the token');

# The lines of $text that hold $needle (case-insensitive), or ''.
sub lines_with
{
	my ($text, $needle) = @_;
	return join("\n", grep { /\Q$needle\E/i } split /\n/, $text);
}

my $log = slurp_file($node->logfile);
# the log holds what it should: failures, denials and their statements
like($log, qr/ERROR:  28000: token authentication failed/, 'log: failed authentications are logged');
like($log, qr/CONTEXT:  unnamed portal with parameters: \$1 = '0'/,
	'log: bind parameters of a failing statement are logged (the control)');
like($log, qr/ERROR:  28000: too many failed token authentications for role "app1"/,
	'log: the lockout is logged');
like($log, qr/ERROR:  42501: permission denied: token "integration" lacks "clients.read"\n(?:[^\n]*\n){3}[^\n]*STATEMENT:  SELECT name FROM clients;?\n/,
	'log: denials under a token are logged with their statement');
is(join("\n", grep { /STATEMENT:.*authenticate/ } split /\n/, $log), '',
	'log: no statement that calls authenticate()');
is(lines_with($log, 'EXECUTE auth('), '', 'log: no EXECUTE of it either');
for my $i (0 .. $#secrets)
{
	is(lines_with($log, $secrets[$i]), '', "log: no token ($secrets[$i])");
	is(lines_with($log, $hashes[$i]), '', "log: no token hash ($hashes[$i])");
}
is(lines_with($log, substr($good, 17)), '', 'log: not even the secret part of a token alone');

# pg_stat_statements: one line per entry, "role | query"
my $pgss = q{SELECT userid::regrole || ' | ' || regexp_replace(query, '\s+', ' ', 'g') FROM pg_stat_statements};
my $queries = $node->safe_psql('crm', $pgss);
like($queries, qr/crmperm\.authenticate/, 'pg_stat_statements: authenticate() calls are recorded');
for my $i (0 .. $#secrets)
{
	is(lines_with($queries, $secrets[$i]), '', "pg_stat_statements: no token ($secrets[$i])");
	is(lines_with($queries, $hashes[$i]), '', "pg_stat_statements: no token hash ($hashes[$i])");
}
# what a client acting as the same principal with its own token could read
my $good3 = new_token('tokadmin', 'third');
($out, $err) = as_role('app4', qq{BEGIN; SELECT crmperm.authenticate('$good3');
SELECT query FROM pg_stat_statements WHERE query ~ 'crm_[0-9a-f]{12}_'; COMMIT;});
is($err, '', 'under a token: pg_stat_statements can be read');
is($out, 'reader', "under a token: no other client's token in pg_stat_statements");

# ---- several statements in one query string ----
# A client that sends its authenticate() call and what it does under the
# token in one simple-protocol query string (psql -c, many drivers): an
# error in a later statement of the string would log the string as its
# STATEMENT; crmperm's emit_log_hook leaves out a statement holding a token.
my $offset = -s $node->logfile;
my $batch = new_token('tokadmin', 'batch');
($out, $err) = as_role('app5', '\\set VERBOSITY default' . "\n"
	  . "SELECT crmperm.authenticate('$batch') \\; SELECT name FROM clients;");
like($err, qr/permission denied: token "batch" lacks "clients.read"/,
	'one query string: authenticate, then a denial');
($out, $err) = as_role('app5', "BEGIN \\; SELECT crmperm.authenticate('$batch') \\; SELECT 1/0;");
like($err, qr/division by zero/, 'one query string: authenticate, then an ordinary error');
$log = slurp_file($node->logfile, $offset);
like($log, qr/division by zero/, 'one query string: the errors are logged');
unlike($log, qr/STATEMENT:/, 'one query string: without the statement, which holds a token');
is(lines_with($log, $batch), '', 'one query string: no token in the log');

# ---- log_statement = 'all' ----
# Statement logging prints every statement, and every bind parameter (the
# DETAIL "parameters: $1 = '...'"): crmperm's emit_log_hook overwrites the
# secret part of any token in a log message with '*' (the key id stays).
$node->append_conf('postgresql.conf', q{
log_statement = 'all'
});
$node->reload;
$offset = -s $node->logfile;
my $bound = new_token('tokadmin', 'bound');
like(pgbench('app6', 'extended', $script, "tok=$bound"), qr/token "bound" lacks "clients.read"/,
	"log_statement = 'all': bind parameter, a valid token, then a denial");
like(pgbench('app6', 'prepared', $script, "tok=$bound"), qr/token "bound" lacks "clients.read"/,
	"log_statement = 'all': named prepared statement, a valid token, then a denial");
$log = slurp_file($node->logfile, $offset);
like($log, qr/execute [^\n]*: SELECT crmperm\.authenticate\(\$1\)/,
	"log_statement = 'all': the statement is logged with its placeholder");
is(lines_with($log, $bound), '', "log_statement = 'all': no token sent as a bind parameter");
is(lines_with($log, sha256_hex($bound)), '', "log_statement = 'all': no token hash");
like($log, qr/[Pp]arameters: \$1 = 'crm_[0-9a-f]{12}_\*{43}'/,   # "Parameters" since 17
	"log_statement = 'all': the bind parameter is logged with its secret overwritten");
$offset = -s $node->logfile;
my $literal = new_token('tokadmin', 'literal');
($out, $err) = as_role('app6', "BEGIN; SELECT crmperm.authenticate('$literal'); COMMIT;");
is($err, '', "log_statement = 'all': a literal token authenticates");
$log = slurp_file($node->logfile, $offset);
is(lines_with($log, $literal), '', "log_statement = 'all': no literal token in the log");
like($log, qr/statement: SELECT crmperm\.authenticate\('crm_[0-9a-f]{12}_\*{43}'\)/,
	"log_statement = 'all': the statement is logged with the secret overwritten");

# ---- every statement form that can carry a token, every store of query text ----
# A token in the text of DO, CALL, PREPARE/EXECUTE, DECLARE, a statement a
# PL/pgSQL block runs, a protocol-level named prepared statement with a
# literal, or a bind parameter: its secret reaches none of
# pg_stat_statements (track = all, utility statements too),
# pg_prepared_statements, pg_cursors, pg_stat_activity (read by another
# session, while the statement runs and after, while the session is idle)
# and the server log.
$node->safe_psql('crm', q{
CREATE PROCEDURE auth_proc(t text) LANGUAGE plpgsql AS $$BEGIN PERFORM crmperm.authenticate(t); END$$;
GRANT CREATE ON SCHEMA public TO PUBLIC;
});
$offset = -s $node->logfile;
my %form;
$form{$_} = new_token('tokadmin', "form $_") for qw(do call prepare declare nested pbprep bind activity idle);
my @form_secrets = map { substr($_, 17) } values %form;
($out, $err) = as_role('app6', qq{
BEGIN; DO \$\$BEGIN PERFORM crmperm.authenticate('$form{do}'); END\$\$; SELECT name FROM clients; ROLLBACK;
BEGIN; CALL auth_proc('$form{call}'); SELECT current_user; COMMIT;
PREPARE p_auth AS SELECT crmperm.authenticate('$form{prepare}');
BEGIN; EXECUTE p_auth; SELECT statement FROM pg_prepared_statements; COMMIT;
BEGIN; DECLARE c_auth CURSOR FOR SELECT crmperm.authenticate('$form{declare}');
FETCH c_auth; SELECT statement FROM pg_cursors; COMMIT;
BEGIN; DO \$\$BEGIN EXECUTE 'SELECT crmperm.authenticate(''$form{nested}'')'; END\$\$; COMMIT;
});
like($err, qr/lacks "clients.read"/, 'statement forms: DO authenticated (then a denial)');
like($out, qr/^reader$/m, 'statement forms: CALL authenticated');
like($out, qr/PREPARE p_auth AS SELECT crmperm\.authenticate\('crm_[0-9a-f]{12}_\*{43}'\)/,
	'pg_prepared_statements: the statement with its secret overwritten');
like($out, qr/DECLARE c_auth CURSOR FOR SELECT crmperm\.authenticate\('crm_[0-9a-f]{12}_\*{43}'\)/,
	'pg_cursors: the statement with its secret overwritten');
is(join('', grep { index($out . $err, $_) >= 0 } @form_secrets), '',
	'statement forms: no secret in what the session itself reads back');
my $pbscript = PostgreSQL::Test::Utils::tempdir() . '/literal.sql';
PostgreSQL::Test::Utils::append_to_file($pbscript, qq{BEGIN;
SELECT crmperm.authenticate('$form{pbprep}');
SELECT statement FROM pg_prepared_statements;
SELECT name FROM clients;
END;
});
like(pgbench('app6', 'prepared', $pbscript, 'x=1'), qr/token "form pbprep" lacks "clients.read"/,
	'protocol-level named prepared statement with a literal: authenticated, then a denial');
like(pgbench('app6', 'extended', $script, "tok=$form{bind}"), qr/token "form bind" lacks "clients.read"/,
	'bind parameter: authenticated, then a denial');

# pg_stat_activity, read by another session: while the statement runs, and
# while the session is idle after it (its last statement stays shown)
sub watch_activity
{
	my ($sql) = @_;
	my ($o, $e) = ('', '');
	my $file = PostgreSQL::Test::Utils::tempdir() . '/watched.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $sql);
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-h', $node->host, '-p', $node->port,
		'-U', 'app6', '-d', 'crm', '-f', $file ], '<', \undef, '>', \$o, '2>', \$e);
	my $seen = '';
	for (1 .. 50)
	{
		usleep(100_000);
		$seen .= $node->safe_psql('crm', q{SELECT state || ': ' || query FROM pg_stat_activity
			WHERE usename = 'app6' AND backend_type = 'client backend'}) . "\n";
	}
	$h->finish;
	return $seen;
}
my $seen = watch_activity("SELECT crmperm.authenticate('$form{activity}'), pg_sleep(3);\n");
like($seen, qr/^active: SELECT crmperm\.authenticate\('crm_[0-9a-f]{12}_\*{43}'\), pg_sleep\(3\);?$/m,
	'pg_stat_activity: the running statement, its secret overwritten');
$seen = watch_activity("SELECT crmperm.authenticate('$form{idle}');\n\\! sleep 3\n");
is(index($seen, substr($form{idle}, 17)), -1, 'pg_stat_activity: no secret while idle after it');
like($seen, qr/^idle: SELECT crmperm\.authenticate\('crm_[0-9a-f]{12}_\*{43}'\)/m,
	'pg_stat_activity: the idle session shows its last statement, redacted');

$log = slurp_file($node->logfile, $offset);
$queries = $node->safe_psql('crm', $pgss);
my $prepared_text = $node->safe_psql('crm', q{SELECT string_agg(query, E'\n') FROM pg_stat_statements
	WHERE query ~ 'p_auth|c_auth|auth_proc|DO \$'});
like($prepared_text, qr/auth_proc|DO/, 'pg_stat_statements: the utility statements are recorded');
for my $f (sort keys %form)
{
	my $secret = substr($form{$f}, 17);
	is(lines_with($queries, $secret), '', "pg_stat_statements: no secret ($f)");
	is(lines_with($log, $secret), '', "log: no secret ($f)");
}

done_testing();

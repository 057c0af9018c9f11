# API tokens on a streaming hot standby: a token created on the primary
# authenticates on the standby, in a transaction or for the session, with
# reads narrowed to its scopes; authenticate() writes nothing there (last_used
# is the primary's business, and a standby cannot write anyway); a revoke on
# the primary bites on the standby at replay, for new authentications and for
# a session that authenticated before it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$primary->start;

# app logs in; reporting is the principal of both tokens and may read leads
# and clients, the tokens only leads.
$primary->safe_psql('postgres', 'CREATE DATABASE crm');
$primary->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE ROLE app LOGIN;
CREATE ROLE reporting NOLOGIN;
CREATE TABLE leads (id int PRIMARY KEY, name text);
CREATE TABLE clients (id int PRIMARY KEY, name text);
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO leads VALUES (1, 'Acme'), (2, 'Globex');
INSERT INTO clients VALUES (1, 'Initech');
INSERT INTO notes VALUES (1, 'not managed');
GRANT SELECT ON leads, clients, notes TO reporting;
SELECT crmperm.manage_table('leads');
SELECT crmperm.manage_table('clients');
SELECT crmperm.create_permission_set('Reporting');
SELECT crmperm.grant('Reporting', 'leads', ARRAY['read']);
SELECT crmperm.grant('Reporting', 'clients', ARRAY['read']);
SELECT crmperm.assign_permission_set('reporting', 'Reporting');
});
my $token = $primary->safe_psql('crm',
	q{SELECT crmperm.create_token('dashboard', 'reporting', ARRAY['leads.read'])});
my $other = $primary->safe_psql('crm',
	q{SELECT crmperm.create_token('exporter', 'reporting', ARRAY['leads.read'])});

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
my $log_offset = -s $standby->logfile // 0;
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('crm', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# psql as app on $node: (stdout, stderr without psql's prefixes), errors
# reported with their SQLSTATE.
sub as_app
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('crm', "\\set VERBOSITY verbose\n$sql",
		on_error_stop => 0, extra_params => [ '-U', 'app' ]);
	$err =~ s/^psql:[^\n]*?:\d+: //mg;
	$err =~ s/^LOCATION:[^\n]*\n?//mg;
	$err =~ s/\n+$//;
	return ($out, $err);
}

my $last_used = q{SELECT coalesce(last_used::text, 'never') FROM crmperm.tokens WHERE name = 'dashboard'};
is($primary->safe_psql('crm', $last_used), 'never', 'primary: the token was never used');

# ---- authenticate on the standby, in a transaction ----
my ($out, $err) = as_app($standby, qq{
BEGIN;
SELECT crmperm.authenticate('$token');
SELECT current_user, session_user, current_setting('transaction_read_only');
SELECT string_agg(name, ',' ORDER BY id) FROM leads;
SELECT token FROM crmperm.whoami();
COMMIT;
SELECT current_user;
});
is($err, '', 'standby: authenticate and a read within the scopes raise nothing (no read-only error)');
is($out, "reporting\nreporting|app|on\nAcme,Globex\ndashboard\napp",
	'standby: the principal in the (read-only) transaction, its reads, the login role after COMMIT');

($out, $err) = as_app($standby, qq{
BEGIN;
SELECT crmperm.authenticate('$token');
SELECT name FROM clients;
ROLLBACK;
SELECT current_user;
});
is($err, qq{ERROR:  42501: permission denied: token "dashboard" lacks "clients.read"
DETAIL:  Token scopes: leads.read.
HINT:  A token's scopes are fixed: create a token whose scopes include "clients.read" with crmperm.create_token(), and revoke this one.},
	'standby: a read outside the scopes is denied with the token named (its principal could read clients)');
is($out, "reporting\napp", 'standby: after the ROLLBACK the login role again');

($out, $err) = as_app($standby, qq{
BEGIN;
SELECT crmperm.authenticate('$token');
SELECT body FROM notes;
ROLLBACK;
});
like($err, qr/^ERROR:  42501: permission denied: token "dashboard" may not access relation "notes"$/m,
	'standby: a table crmperm does not manage is refused under a token');

# nothing was written anywhere: last_used is still unset on both nodes
$primary->wait_for_catchup($standby);
is($primary->safe_psql('crm', $last_used), 'never',
	'primary: authenticating on the standby did not set last_used');
is($standby->safe_psql('crm', $last_used), 'never', 'standby: last_used unset there too');

# on the primary, authenticate records last_used, which replays to the standby
($out, $err) = as_app($primary, qq{BEGIN; SELECT crmperm.authenticate('$token'); COMMIT;});
is("$out$err", 'reporting', 'primary: the same token authenticates');
isnt($primary->safe_psql('crm', $last_used), 'never', 'primary: authenticate set last_used');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('crm', $last_used), $primary->safe_psql('crm', $last_used),
	'standby: last_used as the primary wrote it');
# an old last_used, which a primary would refresh: the standby does not
$primary->safe_psql('crm', q{UPDATE crmperm.token_usage SET last_used = '2001-02-03 04:05:06+00'
  WHERE name = 'dashboard'});
$primary->wait_for_catchup($standby);
my $used_at = $standby->safe_psql('crm', $last_used);
($out, $err) = as_app($standby, qq{BEGIN; SELECT crmperm.authenticate('$token'); COMMIT;});
is("$out$err", 'reporting', 'standby: authenticates again');
is($standby->safe_psql('crm', $last_used), $used_at, 'standby: an old last_used is left as it was');
$primary->wait_for_catchup($standby);
is($primary->safe_psql('crm', $last_used), $used_at, 'primary: nor did anything write it there');

# ---- a session token on the standby, then a revoke on the primary ----
my $s1 = $standby->background_psql('crm', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
my $s2 = $standby->background_psql('crm', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
my $s3 = $standby->background_psql('crm', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
is($s1->query_safe("SELECT crmperm.authenticate('$token', session => true)"), 'reporting',
	'standby session 1: authenticates for the session');
is($s2->query_safe("SELECT crmperm.authenticate('$token', true)"), 'reporting',
	'standby session 2: authenticates for the session');
is($s3->query_safe("SELECT crmperm.authenticate('$other', true)"), 'reporting',
	'standby session 3: authenticates with the other token for the session');
is($s1->query_safe('SELECT current_user, session_user'), 'reporting|app',
	'standby session 1: the principal after the COMMIT');
is($s1->query_safe('SELECT count(*) FROM leads'), '2', 'standby session 1: reads leads');

$primary->safe_psql('crm', q{SELECT crmperm.revoke_token('dashboard')});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('crm', q{SELECT revoked IS NOT NULL FROM crmperm.tokens WHERE name = 'dashboard'}),
	't', 'standby: the revoke has replayed');

sub session_query
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	my $o = $s->query($sql);
	my $e = $s->{stderr};
	$e =~ s/^psql:[^\n]*?:\d+: //mg;
	$e =~ s/\n+$//;
	$s->{stderr} = '';
	return ($o, $e);
}
my $invalid = qq{ERROR:  token "dashboard" is no longer valid
DETAIL:  It was revoked or it expired, or its principal can no longer be narrowed by a token.
HINT:  The token ends with this transaction; authenticate again with a valid token.};

($out, $err) = session_query($s1, 'SELECT count(*) FROM leads');
is($err, $invalid, 'standby session 1: the next read after the replayed revoke fails');
is($out, '', 'standby session 1: no rows');
($out, $err) = session_query($s1, 'SELECT current_user, session_user');
is("$out$err", 'app|app', 'standby session 1: the token is over, the login role again');
($out, $err) = session_query($s1, 'SELECT count(*) FROM leads');
like($err, qr/^ERROR:  permission denied for table leads$/m,
	'standby session 1: and the login role has no rights of its own');

($out, $err) = session_query($s2, 'SELECT current_user');
is($err, $invalid, 'standby session 2: even a statement without a table fails after the revoke');
($out, $err) = session_query($s2, 'SELECT current_user');
is("$out$err", 'app', 'standby session 2: then the login role');

is($s3->query_safe('SELECT current_user, count(*) FROM leads GROUP BY 1'), 'reporting|2',
	'standby session 3: the other token still works');

($out, $err) = as_app($standby, qq{SELECT crmperm.authenticate('$token');});
is($err, 'ERROR:  28000: token authentication failed', 'standby: the revoked token is refused (28000)');
($out, $err) = as_app($standby, qq{BEGIN; SELECT crmperm.authenticate('$token', true); COMMIT; SELECT current_user;});
is($err, 'ERROR:  28000: token authentication failed', 'standby: also for a session');
is($out, 'app', 'standby: the login role after the refusal');
($out, $err) = as_app($primary, qq{SELECT crmperm.authenticate('$token');});
is($err, 'ERROR:  28000: token authentication failed', 'primary: the revoked token is refused too');

$_->quit for ($s1, $s2, $s3);

my $log = slurp_file($standby->logfile, $log_offset);
unlike($log, qr/PANIC|TRAP:|terminated by signal|read-only transaction|during recovery/,
	'standby log: no crash, no write attempted during recovery');

done_testing();

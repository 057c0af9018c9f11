# Denials outlive their transaction: the audit queue and its writer.
#
# A denial aborts its transaction, so the backend that raises it cannot
# write it to crmperm.audit_log.  Before raising it, crmperm writes one line
# "crmperm audit: {json}" to the server log and puts the event into a queue
# in shared memory (one per database); a background worker per database
# ("crmperm audit writer") drains the queue into audit_log in its own
# transactions.  This test shows:
#
#   - a denied SELECT inside BEGIN ... ROLLBACK (after an INSERT the rollback
#     undoes) reaches audit_log within seconds, as a 'denial' row naming the
#     login, the principal, the resource, the action and the command; the
#     server log has the JSON line with the same fields; crmperm.audit_queue
#     shows the writer's pid (the pg_stat_activity entry of backend type
#     "crmperm audit writer") and what it wrote;
#   - the writer terminated with SIGTERM (pg_terminate_backend) exits with an
#     error and the postmaster restarts it about 5 s later (bgw_restart_time):
#     events queued meanwhile wait in the queue (audit_queue shows them, no
#     writer) and are written when it is back;
#   - a backend killed with SIGKILL makes the postmaster reinitialise shared
#     memory.  What is kept and what is lost then:
#       * events already written stay in audit_log (it is a table: the crash
#         recovery keeps every committed row), and the chain verifies;
#       * events queued but not yet written (here: while the writer was
#         terminated and waiting to be restarted) are lost from audit_log:
#         the queue lived in shared memory.  Their lines are in the server
#         log, written before the denial was raised;
#       * the queue starts again empty (audit_queue's counters restart), and
#         the next event starts a new writer;
#   - names that fill their fixed-size event fields (a token name of 63
#     two-byte characters, a role name of 63 bytes of three-byte characters)
#     reach audit_log whole and valid in the database encoding; an event the
#     writer cannot write (here: a CHECK constraint added to audit_log
#     rejects it) is logged, counted in audit_queue.failed, and does not
#     stop the denials after it;
#   - on a hot standby a denial writes its log line there but is queued
#     nowhere: no audit_log row on the primary (nor, by replication, on the
#     standby), and the standby's audit_queue is empty.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'crmperm'
restart_after_crash = on
});
$node->start;
# the log file is appended to across runs: only read what this run writes
my $log_offset = -s $node->logfile // 0;

$node->safe_psql('postgres', 'CREATE DATABASE crm');
$node->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE ROLE crm_users NOLOGIN;
CREATE ROLE hook NOLOGIN IN ROLE crm_users;     -- may create leads, not read them
CREATE ROLE gap NOLOGIN IN ROLE crm_users;      -- denied while the writer is away
CREATE ROLE lost NOLOGIN IN ROLE crm_users;     -- denied just before the crash
CREATE ROLE later NOLOGIN IN ROLE crm_users;    -- denied after the crash
CREATE ROLE standby_user NOLOGIN IN ROLE crm_users;  -- denied on the standby
CREATE ROLE multi NOLOGIN IN ROLE crm_users;    -- denied in a multi-statement query string
CREATE TABLE leads (id int PRIMARY KEY, name text);
INSERT INTO leads VALUES (1, 'Acme');
GRANT SELECT, INSERT, UPDATE, DELETE ON leads TO crm_users;
SELECT crmperm.manage_table('leads');
SELECT crmperm.create_permission_set('Capture');
SELECT crmperm.grant('Capture', 'leads', ARRAY['create']);
SELECT crmperm.assign_permission_set('hook', 'Capture');
});
my $changes = $node->safe_psql('crm', q{SELECT count(*) FROM crmperm.audit_log WHERE kind = 'change'});
cmp_ok($changes, '>', 0, 'the configuration is in the audit log as change rows');
is($node->safe_psql('crm', q{SELECT count(*) FROM crmperm.audit_queue}), '0',
	'no queue yet: changes are written by triggers, not queued');

# Run $sql; stderr without psql's prefixes.
sub run
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('crm', $sql, on_error_stop => 0);
	$err =~ s/^psql:[^\n]*?:\d+: //mg;
	return ($out, $err);
}

# The audit lines of the server log since this run started, decoded.
sub audit_lines
{
	my $log = slurp_file($node->logfile, $log_offset);
	return map { decode_json($_) } ($log =~ /crmperm audit: (\{.*\})$/mg);
}

# Poll $sql until it returns $want (30 s at most).
sub poll
{
	my ($sql, $want, $db) = @_;
	my $deadline = time() + 30;
	my $got = '';
	while (time() < $deadline)
	{
		my ($ret, $out, $err) = $node->psql($db // 'crm', $sql);
		$got = $out;
		return 1 if $ret == 0 && $out eq $want;
		usleep(100_000);
	}
	diag("poll: $sql\nwanted: $want\ngot: $got");
	return 0;
}

my $denials_of = q{SELECT string_agg(concat(kind, '|', login, '|', principal, '|', token, '|', resource, '|', action, '|', command, '|', rows), E'\n' ORDER BY seq)
  FROM crmperm.audit_log WHERE kind <> 'change' AND principal = };

# ---------------------------------------------------------------------------
# A denial inside a transaction that rolls back
# ---------------------------------------------------------------------------
my ($out, $err) = run(q{
BEGIN;
SET LOCAL ROLE hook;
INSERT INTO leads VALUES (2, 'Globex');
SELECT * FROM leads;
ROLLBACK;
});
like($err, qr/^ERROR:  permission denied: role "hook" lacks "leads\.read"$/m, 'hook is denied the SELECT');
is($node->safe_psql('crm', 'SELECT string_agg(id::text, \',\') FROM leads'), '1', 'the INSERT before it was rolled back');
my $t0 = time();
ok(poll($denials_of . q{'hook'}, 'denial|postgres|hook||leads|read|SELECT|'),
	'the denial is in audit_log, with login, principal, resource, action and command');
my $took = time() - $t0;
cmp_ok($took, '<', 10, 'within a few seconds');
note(sprintf('the denial was written %.2f s after the rollback', $took));

my @lines = grep { $_->{principal} eq 'hook' } audit_lines();
is(scalar(@lines), 1, 'one audit line for it in the server log');
is_deeply($lines[0],
	{ kind => 'denial', database => 'crm', login => 'postgres', principal => 'hook', token => undef,
	  resource => 'leads', action => 'read', command => 'SELECT' },
	'the server log line is JSON with the same fields');

my $queue = q{SELECT q.database, q.queued, q.written, q.overflowed, q.overflowed_no_queue,
	q.worker_pid = a.pid FROM crmperm.audit_queue q LEFT JOIN pg_stat_activity a ON a.backend_type = 'crmperm audit writer'};
is($node->safe_psql('crm', $queue), 'crm|0|1|0|0|t',
	'audit_queue: nothing queued, one written, the writer is the "crmperm audit writer" backend');

# ---------------------------------------------------------------------------
# The writer terminated: restarted by the postmaster, the queue kept
# ---------------------------------------------------------------------------
# The writer leaves after 10 s without events: make sure one is running.
sub writer_pid
{
	my $pid = $node->safe_psql('crm', q{SELECT worker_pid FROM crmperm.audit_queue WHERE database = 'crm'});
	return $pid if $pid ne '';
	run('SET ROLE hook; SELECT 1 FROM leads');
	poll(q{SELECT worker_pid IS NOT NULL FROM crmperm.audit_queue WHERE database = 'crm'}, 't');
	return $node->safe_psql('crm', q{SELECT worker_pid FROM crmperm.audit_queue WHERE database = 'crm'});
}

my $pid = writer_pid();
like($pid, qr/^\d+$/, 'the writer runs');
my $terminated_at = time();
is($node->safe_psql('crm', "SELECT pg_terminate_backend($pid)"), 't', 'SIGTERM to the writer');
ok(poll(q{SELECT worker_pid IS NULL FROM crmperm.audit_queue WHERE database = 'crm'}, 't'),
	'audit_queue: no writer');
for my $n (1 .. 3)
{
	($out, $err) = run("BEGIN; SET LOCAL ROLE gap; SELECT * FROM leads WHERE id = $n; ROLLBACK;");
	like($err, qr/permission denied: role "gap" lacks "leads\.read"/, "gap is denied ($n)");
}
ok(time() - $terminated_at < 4, 'still within the writer\'s restart interval') or diag('too slow: the writer may be back');
is($node->safe_psql('crm', q{SELECT queued, worker_pid IS NULL FROM crmperm.audit_queue WHERE database = 'crm'}),
	'3|t', 'audit_queue: the three denials wait in the queue while no writer runs');
ok(poll($denials_of . q{'gap'}, join("\n", ('denial|postgres|gap||leads|read|SELECT|') x 3)),
	'the restarted writer writes the three denials queued while it was away');
my $back_after = time() - $terminated_at;
cmp_ok($back_after, '>=', 4, 'the postmaster restarted the writer after its restart interval (5 s)');
note(sprintf('the queued denials were written %.2f s after the SIGTERM', $back_after));
my $new_pid = writer_pid();
isnt($new_pid, $pid, 'a new writer process');
is($node->safe_psql('crm', q{SELECT queued, written FROM crmperm.audit_queue WHERE database = 'crm'}), '0|4',
	'audit_queue: the counters survived the restart of the writer (one + three written)');
my $log = slurp_file($node->logfile, $log_offset);
ok($log =~ /\[$pid\] FATAL:  terminating background worker "crmperm audit writer" due to administrator command/,
	'server log: the writer was terminated');
ok($log =~ /background worker "crmperm audit writer" \(PID $pid\) exited with exit code 1/,
	'server log: it exited with an error (so the postmaster restarts it)');

# ---------------------------------------------------------------------------
# A backend killed with SIGKILL: shared memory is reinitialised
# ---------------------------------------------------------------------------
# Terminate the writer again: events made in the next 5 s stay queued.
$pid = writer_pid();
$node->safe_psql('crm', "SELECT pg_terminate_backend($pid)");
ok(poll(q{SELECT worker_pid IS NULL FROM crmperm.audit_queue WHERE database = 'crm'}, 't'),
	'the writer is away again');
$terminated_at = time();
is($node->safe_psql('crm', q{SELECT queued FROM crmperm.audit_queue WHERE database = 'crm'}), '0',
	'everything queued so far was written');
is($node->safe_psql('crm', 'SELECT ok FROM crmperm.verify_audit()'), 't', 'verify_audit() before the crash');
my $written_before = $node->safe_psql('crm',
	q{SELECT string_agg(seq || ':' || kind || ':' || encode(hash, 'hex'), ',' ORDER BY seq) FROM crmperm.audit_log});
my $victim = $node->background_psql('crm', on_error_stop => 0);
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
$victim->query("BEGIN; SET LOCAL ROLE lost; SELECT * FROM leads;");
like($victim->{stderr}, qr/permission denied: role "lost" lacks "leads\.read"/, 'lost is denied a read');
$victim->{stderr} = '';
$victim->query("ROLLBACK; BEGIN; SET LOCAL ROLE lost; DELETE FROM leads;");
like($victim->{stderr}, qr/permission denied: role "lost" lacks "leads\.delete"/, 'lost is denied a delete');
$victim->{stderr} = '';
$victim->query("ROLLBACK");
my ($queued, $writer) = split /\|/, $node->safe_psql('crm',
	q{SELECT queued, worker_pid IS NULL FROM crmperm.audit_queue WHERE database = 'crm'});
my $in_time = time() - $terminated_at < 4;
ok($in_time, 'still within the writer\'s restart interval') or diag('too slow: the writer may be back');
is("$queued|$writer", '2|t', 'audit_queue: the two denials are queued, not written');

# kill -9 the session that just produced them
my $log_before_crash = -s $node->logfile;
kill 'KILL', $victim_pid;
eval { $victim->quit };
ok(poll('SELECT 1', '1'), 'the server accepts connections again after the crash');
$log = slurp_file($node->logfile, $log_before_crash);
# (18 names the process by its type: "client backend", 15 and 17 "server process")
ok($log =~ /(?:server process|client backend) \(PID $victim_pid\) was terminated by signal 9/,
	'server log: the backend was killed');
ok($log =~ /all server processes terminated; reinitializing/, 'server log: shared memory was reinitialised');

is($node->safe_psql('crm', q{SELECT count(*) FROM crmperm.audit_queue}), '0',
	'after the crash the audit queue is empty: nothing queued, counters restarted');
is($node->safe_psql('crm',
	q{SELECT string_agg(seq || ':' || kind || ':' || encode(hash, 'hex'), ',' ORDER BY seq) FROM crmperm.audit_log}),
	$written_before, 'the events written before the crash are all in audit_log, unchanged');

# A new event after the crash: it starts a new writer; once it is written,
# anything queued before it would have been written too.
($out, $err) = run('BEGIN; SET LOCAL ROLE later; SELECT * FROM leads; ROLLBACK;');
like($err, qr/permission denied: role "later" lacks "leads\.read"/, 'later is denied after the crash');
ok(poll($denials_of . q{'later'}, 'denial|postgres|later||leads|read|SELECT|'),
	'the event after the crash is written by a new writer');
is($node->safe_psql('crm', $denials_of . q{'lost'}), '',
	'the two events queued but not written when the backend was killed are not in audit_log');
@lines = grep { $_->{principal} eq 'lost' } audit_lines();
is_deeply([ map { "$_->{kind}|$_->{principal}|$_->{resource}|$_->{action}|$_->{command}" } @lines ],
	[ 'denial|lost|leads|read|SELECT', 'denial|lost|leads|delete|DELETE' ],
	'their lines are in the server log');
is($node->safe_psql('crm', $queue), 'crm|0|1|0|0|t', 'audit_queue: one written since the crash, by the running writer');
is($node->safe_psql('crm', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'crmperm audit writer'}), '1',
	'one writer runs');
is($node->safe_psql('crm', 'SELECT ok, detail FROM crmperm.verify_audit()'),
	't|every record links to the one before it', 'verify_audit() after the crash');
is($node->safe_psql('crm',
	q{SELECT count(*) FROM (SELECT at, principal, resource, action FROM crmperm.audit_log WHERE kind <> 'change'
	  GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d}), '0', 'no event was written twice');

# ---------------------------------------------------------------------------
# A hot standby: the log line, no row anywhere
# ---------------------------------------------------------------------------
$node->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'bk', has_streaming => 1);
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
my $standby_offset = -s $standby->logfile // 0;
$standby->start;
$node->wait_for_catchup($standby);
is($standby->safe_psql('crm', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

my ($ret, $sout, $serr) = $standby->psql('crm', 'BEGIN; SET LOCAL ROLE standby_user; SELECT * FROM leads; ROLLBACK;');
like($serr, qr/permission denied: role "standby_user" lacks "leads\.read"/, 'standby: standby_user is denied');
my $slog = slurp_file($standby->logfile, $standby_offset);
my @slines = grep { $_->{principal} eq 'standby_user' } map { decode_json($_) } ($slog =~ /crmperm audit: (\{.*\})$/mg);
is_deeply(\@slines,
	[ { kind => 'denial', database => 'crm', login => 'postgres', principal => 'standby_user', token => undef,
		resource => 'leads', action => 'read', command => 'SELECT' } ],
	'standby: the denial is in the standby\'s server log');
is($standby->safe_psql('crm', q{SELECT count(*) FROM crmperm.audit_queue}), '0',
	'standby: nothing queued (nothing can be written during recovery)');
unlike($standby->safe_psql('crm', q{SELECT string_agg(backend_type, ',') FROM pg_stat_activity}),
	qr/crmperm audit writer/, 'standby: no writer runs');

# A marker event on the primary: once it is written and replayed, a row for
# the standby's denial would be there too.
($out, $err) = run('BEGIN; SET LOCAL ROLE later; DELETE FROM leads; ROLLBACK;');
ok(poll($denials_of . q{'later'}, "denial|postgres|later||leads|read|SELECT|\ndenial|postgres|later||leads|delete|DELETE|"),
	'primary: a later denial is written');
$node->wait_for_catchup($standby);
is($node->safe_psql('crm', $denials_of . q{'standby_user'}), '', 'primary: no audit_log row for the standby\'s denial');
is($standby->safe_psql('crm', $denials_of . q{'standby_user'}), '', 'standby: no audit_log row for it either');
is($standby->safe_psql('crm', $denials_of . q{'later'}),
	"denial|postgres|later||leads|read|SELECT|\ndenial|postgres|later||leads|delete|DELETE|",
	'standby: the primary\'s rows are replicated');
my $plog = slurp_file($node->logfile, $log_offset);
unlike($plog, qr/"principal":"standby_user"/, 'primary: the standby\'s denial is not in the primary\'s log');
unlike($slog, qr/could not write a crmperm audit event|read-only transaction|PANIC|TRAP:/,
	'standby log: no write attempted, no crash');
unlike($plog, qr/could not write a crmperm audit event|TRAP:/, 'primary log: the writer never failed to write');

# The command is the statement denied, not the first of a multi-statement
# query string (psql -c, many drivers' batches).
{
	my ($ret, $o, $e) = $node->psql('crm', '', on_error_stop => 0,
		extra_params => [ '-c', 'BEGIN; SET LOCAL ROLE multi; DELETE FROM leads; ROLLBACK;' ]);
	my ($line) = grep { $_->{principal} eq 'multi' } audit_lines();
	is($line && $line->{command}, 'DELETE', 'a DELETE sent in one query string after BEGIN: its log line names DELETE');
	poll(q{SELECT count(*) FROM crmperm.audit_log WHERE principal = 'multi'}, '1');
	is($node->safe_psql('crm', q{SELECT command FROM crmperm.audit_log WHERE principal = 'multi'}), 'DELETE',
		'its audit_log row names DELETE');
}

# ---------------------------------------------------------------------------
# Long multibyte names, and an event that cannot be written
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{CREATE DATABASE mb ENCODING 'UTF8' LOCALE 'C.utf8' TEMPLATE template0});
my $tokname = "\x{e9}" x 63;                 # 126 bytes in UTF-8
my $rolname = "\x{20ac}" x 21;               # 63 bytes in UTF-8
my $mb_setup = qq{
CREATE EXTENSION crmperm;
CREATE ROLE mb_users NOLOGIN;
CREATE ROLE "$rolname" NOLOGIN IN ROLE mb_users;
CREATE ROLE poison NOLOGIN IN ROLE mb_users;
CREATE ROLE after_poison NOLOGIN IN ROLE mb_users;
CREATE ROLE mb_app LOGIN;
CREATE TABLE mb_leads (id int PRIMARY KEY, name text);
GRANT SELECT ON mb_leads TO mb_users;
SELECT crmperm.manage_table('mb_leads');
SELECT crmperm.create_permission_set('Mb');
SELECT crmperm.grant('Mb', 'mb_leads', ARRAY['create']);
SELECT crmperm.assign_permission_set('"$rolname"', 'Mb');
SELECT crmperm.create_token('$tokname', '"$rolname"', ARRAY['mb_leads.create']);
};
utf8::encode($mb_setup);
my $mbtok = $node->safe_psql('mb', $mb_setup);
($mbtok) = $mbtok =~ /(crm_[0-9a-f]{12}_\S{43})/;
my ($r, $o, $e) = $node->psql('mb', "BEGIN; SELECT crmperm.authenticate('$mbtok'); SELECT * FROM mb_leads; ROLLBACK;",
	on_error_stop => 0, extra_params => [ '-U', 'mb_app' ]);
like($e, qr/permission denied: token ".+" lacks "mb_leads\.read"/, 'a denial under a token with a long multibyte name');
my $mb_denial = qq{SELECT token = '$tokname' AND principal = '$rolname' FROM crmperm.audit_log
	WHERE kind = 'denial' AND resource = 'mb_leads'};
utf8::encode($mb_denial);
ok(poll($mb_denial, 't', 'mb'), 'audit_log: the denial names the token and the role whole');

# an event the writer cannot write, then one it can
$node->safe_psql('mb', q{ALTER TABLE crmperm.audit_log ADD CONSTRAINT no_poison CHECK (principal <> 'poison')});
$node->psql('mb', 'BEGIN; SET LOCAL ROLE poison; SELECT * FROM mb_leads; ROLLBACK;');
$node->psql('mb', 'BEGIN; SET LOCAL ROLE after_poison; SELECT * FROM mb_leads; ROLLBACK;');
ok(poll(q{SELECT count(*) FROM crmperm.audit_log WHERE principal = 'after_poison'}, '1', 'mb'),
	'the denial after an event that cannot be written reaches audit_log');
is($node->safe_psql('mb', q{SELECT failed FROM crmperm.audit_queue WHERE database = 'mb'}), '1',
	'audit_queue counts the event that could not be written');
like(slurp_file($node->logfile, $log_offset),
	qr/crmperm audit: could not write a "denial" event of role "poison" to crmperm\.audit_log: new row for relation "audit_log" violates check constraint "no_poison"/,
	'the server log says why, and that the event is there only');
$node->safe_psql('mb', q{ALTER TABLE crmperm.audit_log DROP CONSTRAINT no_poison});
$node->psql('mb', 'BEGIN; SET LOCAL ROLE after_poison; SELECT id FROM mb_leads; ROLLBACK;');
ok(poll(q{SELECT count(*) FROM crmperm.audit_log WHERE principal = 'after_poison'}, '2', 'mb'),
	'the writer goes on');
is($node->safe_psql('mb', q{SELECT ok FROM crmperm.verify_audit()}), 't', 'the chain verifies');

done_testing();

# ALTER EXTENSION crmperm UPDATE works.
#
# Database "a" installs crmperm 1.0 and is configured under it: managed
# tables with owner and team columns, a sensitive table, a custom scope,
# permission sets with scoped grants and a system grant, CRM roles with a
# parent, role and set assignments (one with valid_until), principals'
# attributes, protected fields with masks (email, hash, read-only), field
# grants (one scoped), and API tokens (one live, one revoked) made with
# create_token().  The decisions are recorded (rows and values each principal
# sees through SET ROLE, explain_access() for every principal and resource,
# what the live token reads and is refused, the revoked token's 28000), then
# ALTER EXTENSION crmperm UPDATE brings it to 1.1: the decisions are the same
# afterwards, the token made under 1.0 still authenticates, and the audit
# trail works (a grant writes a 'change' row; denials, authentications and
# reads of a table marked with audit_reads() reach audit_log through the
# worker; verify_audit() is ok).  Events of the 1.0 days (a denial, token
# authentications) are in the server log only: the writer had no audit_log
# to put them in and dropped them (as audit.c says), without counting them
# in audit_queue.written.
#
# Database "b" installs 1.1 directly.  The crmperm catalog of "a" must equal
# that of "b": pg_dump --schema-only --schema=crmperm, the binary-upgrade
# schema dump (which, unlike a plain dump, spells out every member object of
# the extension) restricted to crmperm's objects with OIDs, xids and LSNs
# masked, the member objects (pg_depend deptype 'e'), extconfig and
# extcondition, function and table ACLs and initial privileges, columns,
# constraints, indexes, triggers, policies and function definitions.  The
# only normalisation is of values that name no catalog content: OIDs,
# relfrozenxid / relminmxid, attribute LSNs and pg_dump's random \restrict
# key.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$node->start;
# the log file is appended to across runs: only read what this run writes
my $log_offset = -s $node->logfile // 0;

$node->safe_psql('postgres', 'CREATE DATABASE a');
$node->safe_psql('postgres', 'CREATE DATABASE b');

# ---------------------------------------------------------------------------
# Database a: crmperm 1.0 and a configuration made under it
# ---------------------------------------------------------------------------
$node->safe_psql('a', q{
CREATE EXTENSION crmperm VERSION '1.0';
CREATE ROLE crm_users NOLOGIN;
CREATE ROLE rep LOGIN IN ROLE crm_users;       -- Sales Rep: owned
CREATE ROLE manager LOGIN IN ROLE crm_users;   -- Sales Manager (parent Sales Rep): all
CREATE ROLE teamer LOGIN IN ROLE crm_users;    -- team
CREATE ROLE eu LOGIN IN ROLE crm_users;        -- custom scope
CREATE ROLE hook NOLOGIN IN ROLE crm_users;    -- a token's principal
CREATE ROLE app LOGIN;                         -- logs in and authenticates with the token
CREATE TABLE leads (id int PRIMARY KEY, owner_id text, team_id text, name text,
                    email text, value numeric, region text DEFAULT 'eu');
CREATE TABLE invoices (id int PRIMARY KEY, amount int);
INSERT INTO leads VALUES (1, 'u1', 't1', 'Acme', 'ceo@acme.com', 100, 'eu'),
                         (2, 'u2', 't1', 'Globex', 'cfo@globex.com', 200, 'eu'),
                         (3, 'u3', 't2', 'Initech', 'it@initech.com', 300, 'us'),
                         (4, 'u1', 't3', 'Umbrella', 'x@umbrella.com', 400, 'us');
INSERT INTO invoices VALUES (1, 100), (2, 250);
GRANT SELECT, INSERT, UPDATE, DELETE ON leads, invoices TO crm_users;
SELECT crmperm.manage_table('leads', owner_column => 'owner_id', team_column => 'team_id');
SELECT crmperm.manage_table('invoices');
SELECT crmperm.define_scope('leads', 'europe', $$region = 'eu'$$);
SELECT crmperm.create_permission_set('Own leads', 'leads a rep owns');
SELECT crmperm.grant('Own leads', 'leads', ARRAY['read', 'update'], scope => 'owned');
SELECT crmperm.grant('Own leads', 'invoices', ARRAY['read']);
SELECT crmperm.create_permission_set('Team leads');
SELECT crmperm.grant('Team leads', 'leads', ARRAY['read'], scope => 'team');
SELECT crmperm.create_permission_set('All leads');
SELECT crmperm.grant('All leads', 'leads', ARRAY['read', 'delete']);
SELECT crmperm.grant_system('All leads', 'export');
SELECT crmperm.create_permission_set('Europe');
SELECT crmperm.grant('Europe', 'leads', ARRAY['read'], scope => 'europe');
SELECT crmperm.create_permission_set('Capture');
SELECT crmperm.grant('Capture', 'leads', ARRAY['read', 'create']);
SELECT crmperm.create_role('Sales Rep');
SELECT crmperm.add_to_role('Sales Rep', 'Own leads');
SELECT crmperm.create_role('Sales Manager', parent => 'Sales Rep', description => 'inherits Sales Rep');
SELECT crmperm.add_to_role('Sales Manager', 'All leads');
SELECT crmperm.assign_role('rep', 'Sales Rep');
SELECT crmperm.assign_role('manager', 'Sales Manager', valid_until => '2999-01-01');
SELECT crmperm.assign_permission_set('teamer', 'Team leads');
SELECT crmperm.assign_permission_set('eu', 'Europe');
SELECT crmperm.assign_permission_set('hook', 'Capture');
SELECT crmperm.set_principal('rep', user_id => 'u1', team_ids => ARRAY['t1']);
SELECT crmperm.set_principal('manager', user_id => 'u2');
SELECT crmperm.set_principal('teamer', user_id => 'u9', team_ids => ARRAY['t1', 't2']);
SELECT crmperm.mark_sensitive('invoices', true);
SELECT crmperm.protect_field('leads', 'email', mask => 'email');
SELECT crmperm.protect_field('leads', 'name', mask => 'hash');
SELECT crmperm.protect_field('leads', 'value', readonly => true);
SELECT crmperm.grant_field('All leads', 'leads', 'email', ARRAY['read']);
SELECT crmperm.grant_field('Own leads', 'leads', 'name', ARRAY['read']);
SELECT crmperm.grant_field('Capture', 'leads', 'name', ARRAY['read', 'create']);
SELECT crmperm.grant_field('Own leads', 'leads', 'value', ARRAY['read'], scope => 'owned');
});
is($node->safe_psql('a', q{SELECT extversion FROM pg_extension WHERE extname = 'crmperm'}), '1.0',
	'a: crmperm 1.0 installed');
my $token = $node->safe_psql('a',
	q{SELECT crmperm.create_token('hook token', 'hook', ARRAY['leads.read', 'leads.create'])});
like($token, qr/^crm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, 'a: create_token under 1.0 returns a token');
my $revoked = $node->safe_psql('a', q{
SELECT crmperm.create_token('old token', 'hook', ARRAY['leads.read']);
SELECT crmperm.revoke_token('old token');
});
$revoked =~ s/\n.*//s;
like($revoked, qr/^crm_[0-9a-f]{12}_/, 'a: a second token, revoked under 1.0');

# Every decision: rows and values per principal, explain_access() for every
# principal and resource, the tokens view (but last_used, which using a token
# sets), and the catalog's rows.
my $decisions = q{
SET ROLE rep;
SELECT 'rep leads: ' || coalesce(string_agg(id || '/' || coalesce(name, '-') || '/' || coalesce(email, '-') || '/' || coalesce(value::text, '-'), ', ' ORDER BY id), '') FROM leads;
SELECT 'rep invoices: ' || coalesce(string_agg(id || '/' || amount, ', ' ORDER BY id), '') FROM invoices;
SET ROLE manager;
SELECT 'manager leads: ' || coalesce(string_agg(id || '/' || coalesce(name, '-') || '/' || coalesce(email, '-') || '/' || coalesce(value::text, '-'), ', ' ORDER BY id), '') FROM leads;
SELECT 'manager invoices: ' || coalesce(string_agg(id || '/' || amount, ', ' ORDER BY id), '') FROM invoices;
SET ROLE teamer;
SELECT 'teamer leads: ' || coalesce(string_agg(id || '/' || coalesce(name, '-') || '/' || coalesce(email, '-') || '/' || coalesce(value::text, '-'), ', ' ORDER BY id), '') FROM leads;
SET ROLE eu;
SELECT 'eu leads: ' || coalesce(string_agg(id || '/' || coalesce(name, '-') || '/' || coalesce(email, '-') || '/' || coalesce(value::text, '-'), ', ' ORDER BY id), '') FROM leads;
SET ROLE hook;
SELECT 'hook leads: ' || coalesce(string_agg(id || '/' || coalesce(name, '-') || '/' || coalesce(email, '-') || '/' || coalesce(value::text, '-'), ', ' ORDER BY id), '') FROM leads;
RESET ROLE;
SELECT p, r, e.action, e.allowed, e.scope, e.permission_sets, e.roles, e.reason,
       row_number() OVER (PARTITION BY p, r ORDER BY e.ordinality)
  FROM unnest(ARRAY['rep', 'manager', 'teamer', 'eu', 'hook', 'app']::regrole[]) p,
       unnest(ARRAY['leads', 'invoices']) r,
       crmperm.explain_access(p, r) WITH ORDINALITY e
 WHERE e.action NOT IN ('export', 'import')   -- 1.4 lists the per-resource ones too
 ORDER BY p::text, r, e.ordinality;
SELECT name, principal, scopes, created, created_by, expires, revoked IS NOT NULL
  FROM crmperm.tokens ORDER BY name;
SELECT 'resources', resource, tbl, owner_column, team_column, department_column, tenant_column,
       sensitive, strict_fields FROM crmperm.resources ORDER BY resource;
SELECT 'scopes', s.* FROM crmperm.scopes s ORDER BY 2, 3;
SELECT 'permission_sets', s.name, s.description FROM crmperm.permission_sets s ORDER BY 2;
SELECT 'object_grants', g.* FROM crmperm.object_grants g ORDER BY 2, 3, 4;
SELECT 'system_grants', g.* FROM crmperm.system_grants g ORDER BY 2, 3;
SELECT 'roles', r.name, r.parent, r.description FROM crmperm.roles r ORDER BY 2;
SELECT 'role_permission_sets', r.* FROM crmperm.role_permission_sets r ORDER BY 2, 3;
SELECT 'role_assignments', a.* FROM crmperm.role_assignments a ORDER BY 2, 3;
SELECT 'set_assignments', a.* FROM crmperm.set_assignments a ORDER BY 2, 3;
SELECT 'principals', p.* FROM crmperm.principals p ORDER BY 2;
SELECT 'fields', f.* FROM crmperm.fields f ORDER BY 2, 3;
SELECT 'field_grants', g.* FROM crmperm.field_grants g ORDER BY 2, 3, 4;
SELECT 'secret', count(*) FROM crmperm.secret;
SELECT 'api_tokens', name, key_id, encode(hash, 'hex'), principal, scopes, created, created_by,
       expires, revoked FROM crmperm.api_tokens ORDER BY name;
};

# Run $sql as role $user in database $db; (stdout, stderr without psql's
# prefixes), errors with their SQLSTATE.
sub run_as
{
	my ($db, $user, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $user ]);
	$err =~ s/^psql:[^\n]*?:\d+: //mg;
	$err =~ s/^LOCATION:[^\n]*\n?//mg;
	$err =~ s/\n$//;
	return ($out, $err);
}

# What a token does, run as the login role app: authenticate, who it is, what
# it reads, a table outside its scopes.
sub token_use
{
	my ($db, $tok) = @_;
	my ($out, $err) = run_as($db, 'app', qq{
BEGIN;
SELECT crmperm.authenticate('$tok');
SELECT current_user, session_user;
SELECT string_agg(id || '/' || name || '/' || email, ', ' ORDER BY id) FROM leads;
SELECT * FROM invoices;
ROLLBACK;
});
	return "$out\n---\n$err";
}

my $before = $node->safe_psql('a', $decisions);
like($before,
	qr/^rep leads: 1\/Acme\/\*\*\*\*\@acme\.com\/100, 4\/Umbrella\/\*\*\*\*\@umbrella\.com\/400\nrep invoices: 1\/100, 2\/250\n/,
	'a, 1.0: rep reads its own leads, emails masked, values of its own rows, every invoice');
like($before, qr/\nmanager leads: 1\/Acme\/ceo\@acme\.com\/-, 2\/Globex\/cfo\@globex\.com\/200, 3\/Initech\/it\@initech\.com\/-, 4\/Umbrella\/x\@umbrella\.com\/-\n/,
	'a, 1.0: manager reads every lead and email, the value of its own row only (scoped field grant inherited from Sales Rep)');
like($before, qr/\nteamer leads: 1\/[0-9a-f]{64}\/\*\*\*\*\@acme\.com\/-, 2\/[0-9a-f]{64}\/\*\*\*\*\@globex\.com\/-, 3\/[0-9a-f]{64}\/\*\*\*\*\@initech\.com\/-\n/,
	'a, 1.0: teamer reads its teams, names hashed, emails and values masked');
like($before, qr/\neu leads: 1\/[0-9a-f]{64}\/\*\*\*\*\@acme\.com\/-, 2\/[0-9a-f]{64}\/\*\*\*\*\@globex\.com\/-\n/,
	'a, 1.0: eu reads the rows of its custom scope');
like($before, qr/\nmanager\|invoices\|update\|f\|\|\|\|sensitive table\|3\n/,
	'a, 1.0: explain_access names the sensitive table');
like($before, qr/\nrep\|leads\|value\.read\|t\|owned\|\{"Own leads"\}\|\{"Sales Rep"\}\|granted\|\d+\n/,
	'a, 1.0: explain_access shows the scoped field grant');
like($before, qr/\nhook token\|hook\|\{leads\.create,leads\.read\}\|[^|]+\|postgres\|\|f\nold token\|hook\|\{leads\.read\}\|[^|]+\|postgres\|\|t\n/,
	'a, 1.0: the tokens view lists both tokens');

my $token_before = token_use('a', $token);
like($token_before,
	qr/^hook\nhook\|app\n1\/Acme\/\*\*\*\*\@acme\.com, 2\/Globex\/\*\*\*\*\@globex\.com, 3\/Initech\/\*\*\*\*\@initech\.com, 4\/Umbrella\/\*\*\*\*\@umbrella\.com\n---\nERROR:  42501: permission denied: token "hook token" lacks "invoices\.read"/,
	'a, 1.0: the token authenticates as hook, reads leads with emails masked, is refused invoices');
my ($out, $err) = run_as('a', 'app', "SELECT crmperm.authenticate('$revoked')");
is($err, 'ERROR:  28000: token authentication failed', 'a, 1.0: the revoked token fails with 28000');

# A denial under 1.0: its log line is written, but there is no audit_log to
# put it in (the worker drops what it cannot write: "the log has them").
($out, $err) = run_as('a', 'postgres', 'SET ROLE rep; DELETE FROM leads WHERE id = 1');
like($err, qr/ERROR:  42501: permission denied: role "rep" lacks "leads\.delete"/, 'a, 1.0: rep may not delete');
ok(wait_for_log(qr/crmperm audit: \{"kind":"denial","database":"a","login":"postgres","principal":"rep"[^\n]*"resource":"leads","action":"delete"/),
	'a, 1.0: the denial is in the server log');

# ---------------------------------------------------------------------------
# ALTER EXTENSION crmperm UPDATE
# ---------------------------------------------------------------------------
$node->safe_psql('a', q{ALTER EXTENSION crmperm UPDATE TO '1.1'});
is($node->safe_psql('a', q{SELECT extversion FROM pg_extension WHERE extname = 'crmperm'}), '1.1',
	'a: updated to 1.1');
is($node->safe_psql('a', q{SELECT count(*) FROM crmperm.audit_log}), '0',
	'a: the update itself writes nothing to the audit log, and the 1.0 denial is not in it');

my $after = $node->safe_psql('a', $decisions);
is($after, $before, 'a, 1.1: the same rows, values, explain_access answers, tokens and catalog rows');
is(token_use('a', $token), $token_before,
	'a, 1.1: the token made under 1.0 still authenticates and reads the same, and is refused the same');
($out, $err) = run_as('a', 'app', "SELECT crmperm.authenticate('$revoked')");
is($err, 'ERROR:  28000: token authentication failed', 'a, 1.1: the revoked token still fails with 28000');
is($node->safe_psql('a', 'SELECT count(*) FROM crmperm.resources WHERE audit_reads'), '0',
	'a, 1.1: the new column resources.audit_reads is false on existing rows');

# The new objects work in the updated database.  Since the update, the token
# was used (an auth_success, then a denial under it), the revoked token was
# tried (an auth_failure: its secret matched, so it is named); now a grant
# (a change row, written by the trigger in the granting transaction), a
# denial, and a read of a table marked with audit_reads() (the worker writes
# these: poll).
$node->safe_psql('a', q{SELECT crmperm.grant('Capture', 'leads', ARRAY['update'], scope => 'owned')});
is($node->safe_psql('a', q{
SELECT kind, login, principal, token, resource, action, command, before, after
  FROM crmperm.audit_log WHERE kind = 'change' ORDER BY seq}),
	'change|postgres|postgres||object_grants|insert|SELECT||{"scope": "owned", "action": "update", "resource": "leads", "permission_set": "Capture"}',
	'a, 1.1: a grant writes a change row');
($out, $err) = run_as('a', 'postgres', 'SET ROLE teamer; DELETE FROM leads WHERE id = 2');
like($err, qr/ERROR:  42501: permission denied: role "teamer" lacks "leads\.delete"/, 'a, 1.1: teamer may not delete');
$node->safe_psql('a', q{SELECT crmperm.audit_reads('leads')});
is($node->safe_psql('a', q{SET ROLE rep; SELECT string_agg(id::text, ',') FROM (SELECT id FROM leads ORDER BY id) x}),
	'1,4', 'a, 1.1: rep reads a table marked with audit_reads()');
is($node->safe_psql('a', q{SET ROLE rep; SELECT id FROM leads ORDER BY id}), "1\n4",
	'a, 1.1: rep reads it again, two rows returned');
ok(poll('a', q{SELECT count(*) FROM crmperm.audit_log WHERE kind <> 'change'}, '6'),
	'a, 1.1: the worker writes the queued events to audit_log');
is($node->safe_psql('a', q{
SELECT kind, login, principal, token, resource, action, command, rows
  FROM crmperm.audit_log WHERE kind <> 'change' ORDER BY seq}),
	join("\n",
		'auth_success|app|hook|hook token||authenticate|SELECT|',
		'denial|app|hook|hook token|invoices|read|SELECT|',
		'auth_failure|app|app|old token||authenticate|SELECT|',
		'denial|postgres|teamer||leads|delete|DELETE|',
		'read|postgres|rep||leads|read|SELECT|1',
		'read|postgres|rep||leads|read|SELECT|2'),
	'a, 1.1: the authentications, denials and audited reads since the update, each named (the 1.0 denial is not there)');
is($node->safe_psql('a', 'SELECT ok, records, detail FROM crmperm.verify_audit()'),
	't|8|every record links to the one before it', 'a, 1.1: verify_audit() is ok');
is($node->safe_psql('a', q{SELECT database, queued, overflowed FROM crmperm.audit_queue}), 'a|0|0',
	'a, 1.1: audit_queue shows nothing queued or dropped');
# the writer drained the 1.0 denial (nowhere to write it) without counting it
is($node->safe_psql('a', q{SELECT written FROM crmperm.audit_queue}),
	$node->safe_psql('a', q{SELECT count(*) FROM crmperm.audit_log WHERE kind <> 'change'}),
	'a, 1.1: audit_queue.written is the number of events written to audit_log');

# ---------------------------------------------------------------------------
# ALTER EXTENSION crmperm UPDATE to the newest version, from 1.1 (a) and
# from 1.0 in one step (c); decisions stay the same.
# ---------------------------------------------------------------------------
my $newest = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'crmperm'});
# (the grant made under 1.1 above is part of what 1.1 decides now)
my $before_newest = $node->safe_psql('a', $decisions);
$node->safe_psql('a', 'ALTER EXTENSION crmperm UPDATE');
is($node->safe_psql('a', q{SELECT extversion FROM pg_extension WHERE extname = 'crmperm'}), $newest,
	"a: updated from 1.1 to $newest");
is($node->safe_psql('a', $decisions), $before_newest, "a, $newest: the same rows, values, explain_access answers, tokens and catalog rows");
is(token_use('a', $token), $token_before, "a, $newest: the token made under 1.0 still authenticates and reads the same");
is($node->safe_psql('a', q{
SELECT (SELECT count(*) FROM crmperm.permission_sets) || '/' ||
       (SELECT count(*) FROM crmperm.permission_sets WHERE tenant_id IS NULL) || ' ' ||
       (SELECT count(*) FROM crmperm.roles) || '/' ||
       (SELECT count(*) FROM crmperm.roles WHERE tenant_id IS NULL)}),
	'5/5 2/2', "a, $newest: the new columns permission_sets.tenant_id and roles.tenant_id are NULL (global) on existing rows");

$node->safe_psql('postgres', 'CREATE DATABASE c');
$node->safe_psql('c', q{CREATE EXTENSION crmperm VERSION '1.0'});
# A manage_permissions holder with a tenant, in a database still at 1.0 (whose
# sets and roles have no tenant) under the newest library: refused until the
# update (fail closed); afterwards a tenant administrator, whose new set is
# its tenant's.
$node->safe_psql('c', q{
CREATE ROLE c_tenant_admin NOLOGIN;
SELECT crmperm.create_permission_set('C admins');
SELECT crmperm.grant_system('C admins', 'manage_permissions');
SELECT crmperm.assign_permission_set('c_tenant_admin', 'C admins');
SELECT crmperm.set_principal('c_tenant_admin', tenant_id => 'c1');
});
($out, $err) = run_as('c', 'postgres', q{SET ROLE c_tenant_admin; SELECT crmperm.create_permission_set('C mine')});
like($err, qr/^ERROR:  42501: permission denied: role "c_tenant_admin" of tenant "c1" may not call crmperm\.create_permission_set\(\)\nDETAIL:  Tenant administration needs crmperm 1\.2 or later in this database\.\nHINT:  Run ALTER EXTENSION crmperm UPDATE\.$/,
	'c, 1.0: a tenant administrator is refused until the update');
$node->safe_psql('c', 'ALTER EXTENSION crmperm UPDATE');
$node->safe_psql('c', q{SET ROLE c_tenant_admin; SELECT crmperm.create_permission_set('C mine')});
is($node->safe_psql('c', q{
SELECT string_agg(name || ':' || coalesce(tenant_id, 'global'), ', ' ORDER BY name) FROM crmperm.permission_sets}),
	'C admins:global, C mine:c1', "c, $newest: the tenant administrator's new permission set is its tenant's");
$node->safe_psql('c', q{SELECT crmperm.drop_permission_set('C mine')});
is($node->safe_psql('c', q{SELECT extversion FROM pg_extension WHERE extname = 'crmperm'}), $newest,
	"c: updated from 1.0 to $newest in one ALTER EXTENSION");

# ---------------------------------------------------------------------------
# Database b: the newest version installed directly.  Its catalog equals a's
# (and c's).
# ---------------------------------------------------------------------------
$node->safe_psql('b', 'CREATE EXTENSION crmperm');
is($node->safe_psql('b', q{SELECT extversion FROM pg_extension WHERE extname = 'crmperm'}), $newest,
	"b: a fresh CREATE EXTENSION installs $newest");

sub dump_of
{
	my ($db, @opts) = @_;
	my ($stdout, $stderr) = run_command([ 'pg_dump', '--schema-only', @opts, '-d', $node->connstr($db) ]);
	# pg_dump's random key of \restrict (since 15.14) is no catalog content
	$stdout =~ s/^\\(un)?restrict \S+$/\\$1restrict <key>/mg;
	return $stdout;
}

my ($dump_a, $dump_b) = map { dump_of($_, '--schema=crmperm') } ('a', 'b');
like($dump_a, qr/CREATE SCHEMA crmperm;/, 'pg_dump --schema=crmperm of a has the schema');
same_text($dump_a, $dump_b, 'pg_dump --schema-only --schema=crmperm: a and b are identical');

# The binary-upgrade dump spells out each member of the extension (ALTER
# EXTENSION ... ADD, with the object's definition and its initial
# privileges).  Keep crmperm's entries only (a also has the CRM tables) and
# mask OIDs, xids and LSNs.
sub crmperm_entries
{
	my ($dump) = @_;
	my @keep;
	for my $e (split /(?=^--\n-- (?:Name|Data for Name): )/m, $dump)
	{
		next unless $e =~ /^--\n-- Name: ([^;]*); Type: ([^;]*); Schema: ([^;]*); Owner: /;
		my ($name, $type, $schema) = ($1, $2, $3);
		next unless $schema eq 'crmperm' || $name eq 'crmperm' || $type eq 'EVENT TRIGGER';
		$e =~ s/'\d+'::pg_catalog\.oid/'<oid>'::pg_catalog.oid/g;
		$e =~ s/WHERE oid = '\d+';/WHERE oid = '<oid>';/g;
		$e =~ s/(binary_upgrade_set_next_attribute_versions\()'[^']*'/$1'<lsns>'/g;
		$e =~ s/relfrozenxid = '\d+', relminmxid = '\d+'/relfrozenxid = '<xid>', relminmxid = '<mxid>'/g;
		$e =~ s/(binary_upgrade_create_empty_extension\('crmperm', 'crmperm', \w+, '[^']*', )'\{[\d,]*\}'/$1'{<oids>}'/g;
		push @keep, $e;
	}
	return join('', @keep);
}
my ($bu_a, $bu_b) = map { crmperm_entries(dump_of($_, '--binary-upgrade')) } ('a', 'b');
like($bu_a, qr/ALTER EXTENSION crmperm ADD TABLE crmperm\.audit_log;/,
	'the binary-upgrade dump of a lists the extension members');
is(scalar(() = $bu_a =~ /^ALTER EXTENSION crmperm ADD /mg),
	# (17 and later also record the row types of the extension's tables and
	# views, and their array types, as members; pg_dump leaves them to the
	# relation's own entry)
	$node->safe_psql('a', q{SELECT count(*) FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
	  WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'crmperm' AND d.deptype = 'e'
	    AND NOT (d.classid = 'pg_type'::regclass AND EXISTS
	      (SELECT FROM pg_type t LEFT JOIN pg_type elem ON elem.oid = t.typelem
	        WHERE t.oid = d.objid AND (t.typrelid <> 0 OR elem.typrelid <> 0)))}),
	'the binary-upgrade dump of a adds each member object of pg_depend to the extension');
same_text($bu_a, $bu_b, 'binary-upgrade schema dump, crmperm entries: a and b are identical');

my %catalog = (
	'member objects' => q{
SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'crmperm' AND d.deptype = 'e' ORDER BY 1},
	'extconfig and extcondition' => q{
SELECT c::regclass::text AS t, coalesce(w, '<null>')
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(c, w)
 WHERE e.extname = 'crmperm' ORDER BY t},
	'extension row' => q{
SELECT extname, extowner::regrole, extnamespace::regnamespace, extrelocatable, extversion
  FROM pg_extension WHERE extname = 'crmperm'},
	'function ACLs' => q{
SELECT p.oid::regprocedure::text AS f, p.proowner::regrole, coalesce(p.proacl::text, '<default>')
  FROM pg_proc p WHERE p.pronamespace = 'crmperm'::regnamespace ORDER BY f},
	'table ACLs' => q{
SELECT c.relname, c.relkind, c.relowner::regrole, coalesce(c.relacl::text, '<default>'),
       coalesce((SELECT string_agg(a.attname || '=' || a.attacl::text, ',' ORDER BY a.attnum)
                   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL), '')
  FROM pg_class c WHERE c.relnamespace = 'crmperm'::regnamespace ORDER BY 1},
	'schema ACL' => q{
SELECT nspowner::regrole, nspacl FROM pg_namespace WHERE nspname = 'crmperm'},
	'initial privileges' => q{
SELECT pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype, i.initprivs
  FROM pg_init_privs i
 WHERE pg_describe_object(i.classoid, i.objoid, i.objsubid) ~ 'crmperm' ORDER BY 1},
	'columns' => q{
SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.atthasmissing, a.attmissingval, a.attisdropped,
       a.attidentity, a.attgenerated, a.attcollation::regcollation
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'crmperm'::regnamespace ORDER BY 1, 2},
	'relations' => q{
SELECT relname, relkind, relpersistence, relrowsecurity, relforcerowsecurity, relreplident,
       reloptions FROM pg_class WHERE relnamespace = 'crmperm'::regnamespace ORDER BY 1},
	'constraints' => q{
SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'crmperm'::regnamespace ORDER BY rel, conname},
	'indexes' => q{
SELECT indexrelid::regclass::text AS idx, pg_get_indexdef(indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'crmperm'::regnamespace ORDER BY idx},
	'triggers' => q{
SELECT tgrelid::regclass::text AS rel, tgname, tgenabled, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'crmperm'::regnamespace AND NOT tgisinternal ORDER BY rel, tgname},
	'event triggers' => q{
SELECT evtname, evtevent, evtfoid::regproc, evtenabled, evttags FROM pg_event_trigger ORDER BY 1},
	'policies' => q{
SELECT polrelid::regclass::text AS rel, polname, polcmd, polpermissive, polroles::regrole[],
       pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
 WHERE c.relnamespace = 'crmperm'::regnamespace ORDER BY rel, polname},
	'views' => q{
SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
 WHERE c.relnamespace = 'crmperm'::regnamespace AND c.relkind = 'v' ORDER BY 1},
	'function definitions' => q{
SELECT p.oid::regprocedure::text AS f, md5(pg_get_functiondef(p.oid)), p.prosecdef, p.provolatile,
       p.proparallel, p.proconfig, p.proisstrict
  FROM pg_proc p WHERE p.pronamespace = 'crmperm'::regnamespace ORDER BY f},
	'types' => q{
SELECT t.typname, t.typtype, t.typowner::regrole, coalesce(t.typacl::text, '<default>')
  FROM pg_type t WHERE t.typnamespace = 'crmperm'::regnamespace ORDER BY 1},
);
for my $what (sort keys %catalog)
{
	my $in_a = $node->safe_psql('a', $catalog{$what});
	my $in_b = $node->safe_psql('b', $catalog{$what});
	isnt($in_a, "", "catalog, $what: a has some");
	same_text($in_a, $in_b, "catalog, $what: a (updated) equals b (fresh)");
	same_text($node->safe_psql('c', $catalog{$what}), $in_b,
		"catalog, $what: c (1.0 updated in one step) equals b (fresh)");
}

# nothing went wrong in crmperm along the way
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/PANIC|TRAP:|terminated by signal|could not write a crmperm audit event/,
	'server log: no crash, the audit writer never failed');

done_testing();

# is() for long texts: on a difference, show a unified diff of a and b.
sub same_text
{
	my ($in_a, $in_b, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return 1 if ok($in_a eq $in_b, $name);
	my $dir = PostgreSQL::Test::Utils::tempdir();
	PostgreSQL::Test::Utils::append_to_file("$dir/a", $in_a . "\n");
	PostgreSQL::Test::Utils::append_to_file("$dir/b", $in_b . "\n");
	my ($diff) = run_command([ 'diff', '-u', "$dir/a", "$dir/b" ]);
	diag("a (updated) vs b (fresh):\n$diff");
	return 0;
}

# Poll $sql in $db until it returns $want (30 s at most).
sub poll
{
	my ($db, $sql, $want) = @_;
	my $deadline = time() + 30;
	my $got;
	while (time() < $deadline)
	{
		$got = $node->safe_psql($db, $sql);
		return 1 if $got eq $want;
		usleep(100_000);
	}
	diag("poll: $sql\nwanted: $want\ngot: $got");
	return 0;
}

# Wait until the server log (since this run started) matches $re (30 s).
sub wait_for_log
{
	my ($re) = @_;
	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		return 1 if slurp_file($node->logfile, $log_offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}

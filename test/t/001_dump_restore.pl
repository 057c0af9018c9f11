# pg_dump / pg_restore into a new cluster (roles created first) keeps every
# grant: explain_access answers the same, and enforcement follows.
#
# The round trip also keeps API tokens (the api_tokens and token_usage rows;
# a token made before the dump authenticates after the restore, a revoked
# one still fails with 28000), sensitive marks (made by manage_table and by
# mark_sensitive), the tenant of the permission sets and roles a tenant
# administrator made (and that administrator's confinement) and the audit
# trail: after the restore the audit_log starts
# with exactly the records it had before the dump (seq, kind, hash),
# verify_audit() is ok, and new events chain on after them.
#
# What the restore adds to the audit log: nothing.  pg_restore loads
# crmperm's configuration tables with COPY, in name order (api_tokens before
# audit_log); the audit trigger on the catalog tables does not record rows
# loaded by COPY, so the restored log is exactly the dumped one and the
# records made after the restore chain on after it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $src = PostgreSQL::Test::Cluster->new('src');
$src->init;
$src->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$src->start;

$src->safe_psql('postgres', q{
CREATE DATABASE crm;
});
$src->safe_psql('crm', q{
CREATE EXTENSION crmperm;
CREATE ROLE crm_users NOLOGIN;
CREATE ROLE rep LOGIN IN ROLE crm_users;
CREATE ROLE manager LOGIN IN ROLE crm_users;
CREATE ROLE hook LOGIN IN ROLE crm_users;
CREATE ROLE eu LOGIN IN ROLE crm_users;
CREATE ROLE app LOGIN;     -- logs in and authenticates with a token
CREATE TABLE leads (id int PRIMARY KEY, owner_id text, team_id text, name text,
                    tenant text DEFAULT 'acme', region text DEFAULT 'eu');
CREATE TABLE invoices (id int PRIMARY KEY, amount int);
CREATE TABLE contracts (id int PRIMARY KEY, amount int);
INSERT INTO contracts VALUES (1, 500);
INSERT INTO leads VALUES (1, 'u1', 't1', 'a', 'acme', 'eu'), (2, 'u2', 't2', 'b', 'acme', 'eu'),
                         (3, 'u3', 't3', 'c', 'globex', 'eu'), (4, 'u4', 't4', 'd', 'acme', 'us');
INSERT INTO invoices VALUES (1, 100);
GRANT SELECT, INSERT, UPDATE, DELETE ON leads, invoices, contracts TO crm_users;
SELECT crmperm.manage_table('leads', owner_column => 'owner_id', team_column => 'team_id',
                            tenant_column => 'tenant');
SELECT crmperm.define_scope('leads', 'europe', $$region = 'eu'$$);
SELECT crmperm.create_permission_set('Europe');
SELECT crmperm.grant('Europe', 'leads', ARRAY['read'], 'europe');
SELECT crmperm.assign_permission_set('eu', 'Europe');
SELECT crmperm.set_principal('eu', tenant_id => 'acme');
SELECT crmperm.manage_table('invoices', sensitive => true);
SELECT crmperm.create_permission_set('Rep');
SELECT crmperm.grant('Rep', 'leads', ARRAY['read', 'update'], 'owned');
SELECT crmperm.grant('Rep', 'invoices', ARRAY['read']);
SELECT crmperm.create_permission_set('Manager extras');
SELECT crmperm.grant('Manager extras', 'leads', ARRAY['read', 'delete']);
SELECT crmperm.grant_system('Manager extras', 'export');
SELECT crmperm.create_permission_set('Capture');
SELECT crmperm.grant('Capture', 'leads', ARRAY['create']);
SELECT crmperm.create_role('Sales Rep');
SELECT crmperm.add_to_role('Sales Rep', 'Rep');
SELECT crmperm.create_role('Sales Manager', parent => 'Sales Rep');
SELECT crmperm.add_to_role('Sales Manager', 'Manager extras');
SELECT crmperm.assign_role('rep', 'Sales Rep');
SELECT crmperm.assign_role('manager', 'Sales Manager', valid_until => '2999-01-01');
SELECT crmperm.assign_permission_set('hook', 'Capture');
SELECT crmperm.set_principal('rep', user_id => 'u1', team_ids => ARRAY['t1'], tenant_id => 'acme');
SELECT crmperm.set_principal('manager', tenant_id => 'acme');
SELECT crmperm.protect_field('leads', 'name', 'hash');
SELECT crmperm.protect_field('leads', 'team_id', 'partial', readonly => true);
SELECT crmperm.grant_field('Manager extras', 'leads', 'name', ARRAY['read', 'update']);
SELECT crmperm.grant_field('Rep', 'leads', 'team_id', ARRAY['read'], 'owned');
-- sensitive after the fact: mark_sensitive() on a managed table
SELECT crmperm.manage_table('contracts');
SELECT crmperm.grant('Manager extras', 'contracts', ARRAY['read']);
SELECT crmperm.mark_sensitive('contracts', true);
-- actions beyond CRUD (1.4): a custom action protecting a routine, an
-- application permission, a dropped built-in action, per-resource export
SELECT crmperm.define_action('leads', 'convert', 'Turn into a client');
SELECT crmperm.define_permission('console.access');
SELECT crmperm.drop_action('invoices', 'delete');
CREATE FUNCTION convert_lead(lead int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT lead $$;
SELECT crmperm.protect_routine('convert_lead(int)', 'leads.convert');
SELECT crmperm.grant('Rep', 'leads', ARRAY['convert', 'export']);
SELECT crmperm.grant('Manager extras', 'console', ARRAY['access']);
-- record access (1.5): a parent, a share, an account team, a custom scope
-- that reads a managed table
CREATE TABLE accounts (id int PRIMARY KEY, owner_id text);
CREATE TABLE deals (id int PRIMARY KEY, account_id int REFERENCES accounts);
INSERT INTO accounts VALUES (1, 'u1'), (2, 'u2'), (3, 'u3');
INSERT INTO deals VALUES (10, 1), (20, 2), (30, 3);
GRANT SELECT ON accounts, deals TO crm_users;
SELECT crmperm.manage_table('accounts', owner_column => 'owner_id');
SELECT crmperm.manage_table('deals');
SELECT crmperm.set_parent('deals', 'accounts', ARRAY['account_id']);
SELECT crmperm.grant('Rep', 'accounts', ARRAY['read'], 'owned');
SELECT crmperm.grant('Rep', 'deals', ARRAY['read'], 'parent');
SELECT crmperm.share('accounts', 2, 'rep', ARRAY['read'], '2999-01-01');
SELECT crmperm.grant('Capture', 'accounts', ARRAY['read'], 'assigned');
SELECT crmperm.assign_record('accounts', 3, 'hook');
SELECT crmperm.define_scope('deals', 'of_my_accounts', $$account_id IN (SELECT id FROM public.accounts)$$);
SELECT crmperm.grant('Capture', 'deals', ARRAY['read'], 'of_my_accounts');
});
# tokens: one live (acts as manager, reads leads), one revoked
my $token = $src->safe_psql('crm',
	q{SELECT crmperm.create_token('manager api', 'manager', ARRAY['leads.read', 'contracts.read'])});
like($token, qr/^crm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, 'create_token returns a token');
my $revoked = $src->safe_psql('crm',
	q{SELECT crmperm.create_token('old api', 'manager', ARRAY['leads.read'])});
$src->safe_psql('crm', q{SELECT crmperm.revoke_token('old api')});
# a tenant administrator of acme: the set and role it makes are acme's
$src->safe_psql('crm', q{
CREATE ROLE acme_admin NOLOGIN;
SELECT crmperm.create_permission_set('Admins');
SELECT crmperm.grant_system('Admins', 'manage_permissions');
SELECT crmperm.assign_permission_set('acme_admin', 'Admins');
SELECT crmperm.set_principal('acme_admin', tenant_id => 'acme');
SET ROLE acme_admin;
SELECT crmperm.create_permission_set('Acme team');
SELECT crmperm.grant('Acme team', 'leads', ARRAY['read'], 'team');
SELECT crmperm.create_role('Acme reps', parent => 'Sales Rep');
SELECT crmperm.add_to_role('Acme reps', 'Acme team');
SELECT crmperm.set_principal('eu', team_ids => ARRAY['t4'], tenant_id => 'acme');
SELECT crmperm.assign_role('eu', 'Acme reps');
});
my $tenants_q = q{
SELECT 'set', name, coalesce(tenant_id, '-') FROM crmperm.permission_sets ORDER BY name;
SELECT 'role', name, coalesce(tenant_id, '-') FROM crmperm.roles ORDER BY name;
};
my $tenants_before = $src->safe_psql('crm', $tenants_q);
my $actions_q = q{
SELECT 'action', resource, action, coalesce(description, '-') FROM crmperm.actions ORDER BY 2, 3;
SELECT 'grant', permission_set, resource, action, scope FROM crmperm.action_grants ORDER BY 2, 3, 4;
SELECT 'routine', routine, resource, action FROM crmperm.routines ORDER BY 2;
};
my $actions_before = $src->safe_psql('crm', $actions_q);
my $access_q = q{
SELECT 'parent', resource, parent, fk_columns FROM crmperm.parents ORDER BY 2;
SELECT 'entry', resource, key, kind, coalesce(principal::text, role, team), actions, valid_until, granted_by
  FROM crmperm.record_access ORDER BY 2, 3, 4;
SELECT 'shared', resource FROM crmperm.shared_resources ORDER BY 2;
SET ROLE rep;
SELECT 'rep', (SELECT array_agg(id ORDER BY id) FROM accounts), (SELECT array_agg(id ORDER BY id) FROM deals);
RESET ROLE;
SET ROLE hook;
SELECT 'hook', (SELECT array_agg(id ORDER BY id) FROM accounts), (SELECT array_agg(id ORDER BY id) FROM deals);
};
my $access_before = $src->safe_psql('crm', $access_q);
like($access_before, qr/^rep\|\{1,2\}\|\{10,20\}\nhook\|\{3\}\|\{30\}$/m,
	'before dump: parent, share, account team and a scope reading a managed table decide');
like($actions_before, qr/routine\|convert_lead\(integer\)\|leads\|convert/, 'before dump: the routine is protected');
unlike($actions_before, qr/invoices\|delete/, 'before dump: invoices has no delete');
is($tenants_before, join("\n",
	'set|Acme team|acme', 'set|Admins|-', 'set|Capture|-', 'set|Europe|-', 'set|Manager extras|-', 'set|Rep|-',
	'role|Acme reps|acme', 'role|Sales Manager|-', 'role|Sales Rep|-'),
	'before dump: the tenant administrator\'s set and role are acme\'s');

my $answers = q{
SELECT p, r, e.* FROM unnest(ARRAY['rep', 'manager', 'hook', 'eu']::regrole[]) p,
       unnest(ARRAY['leads', 'invoices', 'contracts']) r, crmperm.explain_access(p, r) e ORDER BY p::text, 2, 3;
};
my $enforced = q{
SET ROLE rep;
SELECT string_agg(id::text, ',' ORDER BY id) FROM leads;
SELECT name, team_id FROM leads;
RESET ROLE;
SET ROLE manager;
SELECT string_agg(id::text, ',' ORDER BY id) FROM leads;
SELECT string_agg(name || '/' || coalesce(team_id, '-'), ',' ORDER BY id) FROM leads;
RESET ROLE;
SET ROLE eu;
SELECT string_agg(id::text, ',' ORDER BY id) FROM leads;
};
my $before = $src->safe_psql('crm', $answers);
my $before_rows = $src->safe_psql('crm', $enforced);
like($before, qr/rep\|leads\|read\|t\|owned\|\{Rep\}\|\{"Sales Rep"\}\|granted/, 'explain_access answers before dump');
like($before_rows, qr/^1\n[0-9a-f]{64}\|t1\n1,2,4\na\/\*\*\*\*,b\/\*\*\*\*,d\/\*\*\*\*\n1,2,4$/,
	'rows, real values and masks before dump: rep its own lead with a hashed name and its own team, manager its tenant with real names and masked teams, eu its custom scope and, through the acme role, its team');
like($before, qr/rep\|leads\|team_id\.read\|t\|owned\|\{Rep\}/, 'field grants in explain_access before dump');
like($before, qr/manager\|contracts\|update\|f\|\|\|\|sensitive table/, 'mark_sensitive in explain_access before dump');

# Run $sql as login role $user; (stdout, stderr) with errors' SQLSTATEs and
# without psql's prefixes.
sub run_as
{
	my ($node, $user, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('crm', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $user ]);
	$err =~ s/^psql:[^\n]*?:\d+: //mg;
	$err =~ s/^LOCATION:[^\n]*\n?//mg;
	$err =~ s/\n$//;
	return ($out, $err);
}

# What the token does, as login role app: authenticate, whom it acts as,
# what it reads, a write outside its scopes.
# (token_usage.last_used is written in the authenticating transaction: the
# first one commits.)
my $token_use = qq{
BEGIN;
SELECT crmperm.authenticate('$token');
SELECT current_user, session_user;
SELECT string_agg(id::text, ',' ORDER BY id) FROM leads;
SELECT string_agg(id || '/' || amount, ',' ORDER BY id) FROM contracts;
COMMIT;
SELECT current_user;
BEGIN;
SELECT crmperm.authenticate('$token');
DELETE FROM leads;
ROLLBACK;
};
my $token_expected = "manager\nmanager|app\n1,2,4\n1/500\napp\nmanager";
my $token_denied = 'ERROR:  42501: permission denied: token "manager api" lacks "leads.delete"';
my ($out, $err) = run_as($src, 'app', $token_use);
is($out, $token_expected, 'before dump: the token authenticates as manager and reads its tenant\'s leads and the contracts');
like($err, qr/^\Q$token_denied\E/, 'before dump: the token is refused a write outside its scopes');
($out, $err) = run_as($src, 'app', "SELECT crmperm.authenticate('$revoked')");
is($err, 'ERROR:  28000: token authentication failed', 'before dump: the revoked token fails with 28000');
($out, $err) = run_as($src, 'postgres', 'SET ROLE hook; SELECT * FROM leads');
like($err, qr/ERROR:  42501: permission denied: role "hook" lacks "leads.read"/, 'before dump: a denial');

# The worker writes those five events (two auth_success, the token's denial,
# auth_failure, the denial) to the audit log; wait for them before dumping.
ok(poll($src, q{SELECT string_agg(kind || ':' || coalesce(token, '') || ':' || coalesce(resource, '') || ':' || action, ',' ORDER BY seq)
  FROM crmperm.audit_log WHERE kind <> 'change'},
	'auth_success:manager api::authenticate,auth_success:manager api::authenticate,denial:manager api:leads:delete,auth_failure:old api::authenticate,denial::leads:read'),
	'before dump: the authentications and denials are in the audit log');
is($src->safe_psql('crm', q{SELECT queued FROM crmperm.audit_queue WHERE database = 'crm'}), '0',
	'before dump: nothing left in the audit queue');

my $tokens_q = q{
SELECT name, key_id, encode(hash, 'hex'), principal, scopes, created, created_by, expires, revoked
  FROM crmperm.api_tokens ORDER BY name;
SELECT name, last_used IS NOT NULL, last_used FROM crmperm.token_usage ORDER BY name;
};
my $sensitive_q = q{SELECT resource, tbl, sensitive FROM crmperm.resources ORDER BY resource};
my $audit_q = q{SELECT seq, kind, encode(hash, 'hex') FROM crmperm.audit_log ORDER BY seq};
my $tokens_before = $src->safe_psql('crm', $tokens_q);
like($tokens_before, qr/^manager api\|[0-9a-f]{12}\|[0-9a-f]{64}\|manager\|\{contracts\.read,leads\.read\}\|[^|]+\|postgres\|\|\nold api\|[0-9a-f]{12}\|[0-9a-f]{64}\|manager\|\{leads\.read\}\|[^|]+\|postgres\|\|\d{4}-[^\n]+\nmanager api\|t\|[^\n]+\nold api\|f\|$/,
	'before dump: api_tokens and token_usage rows (the live token used, the revoked one not)');
my $sensitive_before = $src->safe_psql('crm', $sensitive_q);
is($sensitive_before, "accounts|accounts|f\ncontracts|contracts|t\ndeals|deals|f\ninvoices|invoices|t\nleads|leads|f",
	'before dump: contracts and invoices are sensitive');
my $audit_before = $src->safe_psql('crm', $audit_q);
my $records_before = () = $audit_before =~ /^/mg;
is($src->safe_psql('crm', 'SELECT ok, records FROM crmperm.verify_audit()'), "t|$records_before",
	'before dump: verify_audit() is ok');

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/crm.dump';
my $roles = $PostgreSQL::Test::Utils::tmp_check . '/roles.sql';
$src->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $src->connstr('crm') ], 'pg_dump');
$src->command_ok([ 'pg_dumpall', '--roles-only', '-f', $roles, '-d', $src->connstr('postgres') ],
	'pg_dumpall --roles-only');

my $dst = PostgreSQL::Test::Cluster->new('dst');
$dst->init;
$dst->append_conf('postgresql.conf', "shared_preload_libraries = 'crmperm'");
$dst->start;
$dst->psql('postgres', undef, on_error_stop => 0, extra_params => [ '-f', $roles ]);
$dst->safe_psql('postgres', 'CREATE DATABASE crm');
# Without --exit-on-error, so that an error restoring one table (reported by
# the next two tests) does not hide what the other tables kept.
my ($restore_out, $restore_err) = run_command([ 'pg_restore', '-d', $dst->connstr('crm'), $dump ]);
is($restore_err, '', 'pg_restore reports no error');

# The audit trail first (before anything here queues an event): exactly the
# records of before the dump.
my $audit_after = $dst->safe_psql('crm', $audit_q);
my @after_lines = split /\n/, $audit_after;
is(join("\n", @after_lines[0 .. $records_before - 1]), $audit_before,
	'the restored audit log starts with the same records (seq, kind, hash) as before the dump');
is($dst->safe_psql('crm', 'SELECT ok, detail FROM crmperm.verify_audit()'),
	't|every record links to the one before it', 'verify_audit() is ok after restore');
is($dst->safe_psql('crm', 'SELECT count(*) FROM crmperm.audit_log'), $records_before,
	'the restore itself adds no record (COPY into the catalog is not recorded)');

my $last = $dst->safe_psql('crm', 'SELECT max(seq) FROM crmperm.audit_log');
my $ret;

is($dst->safe_psql('crm', $tokens_q), $tokens_before, 'api_tokens and token_usage rows restored');
is($dst->safe_psql('crm', $sensitive_q), $sensitive_before, 'sensitive marks restored');
is($dst->safe_psql('crm', $tenants_q), $tenants_before, 'the tenants of permission sets and roles restored');
is($dst->safe_psql('crm', $actions_q), $actions_before, 'actions, their grants and protected routines restored');
is($dst->safe_psql('crm', $access_q), $access_before, 'parents, shares and account teams restored, and decide the same');
($ret, $out, $err) = $dst->psql('crm', q{SET ROLE acme_admin; SELECT crmperm.grant('Capture', 'leads', ARRAY['read'])});
like($err, qr/permission denied: role "acme_admin" of tenant "acme" may not change global permission set "Capture"/,
	'after restore: the tenant administrator still changes no global set');

is($dst->safe_psql('crm', $answers), $before, 'explain_access answers the same after restore');
is($dst->safe_psql('crm', $enforced), $before_rows, 'the same rows are enforced after restore');
is($dst->safe_psql('crm', q{
SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = 'leads'}), 't',
	'row security stays enabled and forced');

($ret, $out, $err) = $dst->psql('crm', 'SET ROLE hook; SELECT * FROM leads;');
like($err, qr/permission denied: role "hook" lacks "leads.read"/, 'denials after restore');
($ret, $out, $err) = $dst->psql('crm', q{SET ROLE manager; UPDATE invoices SET amount = 1;});
like($err, qr/permission denied: role "manager" lacks "invoices.update"/, 'sensitive mark restored');
($ret, $out, $err) = $dst->psql('crm', q{SET ROLE manager; UPDATE contracts SET amount = 1;});
like($err, qr/permission denied: role "manager" lacks "contracts.update"/, 'mark_sensitive restored');

# Tokens: the one made before the dump authenticates and is narrowed the same;
# the revoked one fails.
($out, $err) = run_as($dst, 'app', $token_use);
is($out, $token_expected, 'after restore: the token authenticates and reads the same');
like($err, qr/^\Q$token_denied\E/, 'after restore: the token is refused the same write');
($out, $err) = run_as($dst, 'app', "SELECT crmperm.authenticate('$revoked')");
is($err, 'ERROR:  28000: token authentication failed', 'after restore: the revoked token still fails with 28000');

# New events chain on after the restored records.
ok(poll($dst, qq{SELECT string_agg(kind || ':' || coalesce(token, '') || ':' || coalesce(resource, '') || ':' || action, ',' ORDER BY seq)
  FROM crmperm.audit_log WHERE seq > $last},
	'denial:::crmperm.grant(),denial::leads:read,denial::invoices:update,denial::contracts:update,auth_success:manager api::authenticate,auth_success:manager api::authenticate,denial:manager api:leads:delete,auth_failure:old api::authenticate'),
	'after restore: new denials and authentications are written after the restored records');
is($dst->safe_psql('crm', 'SELECT ok, detail FROM crmperm.verify_audit()'),
	't|every record links to the one before it', 'verify_audit() is still ok');

# (after the audit checks: the denial below is audited too)
is($dst->safe_psql('crm', q{
SET ROLE rep;
SELECT crmperm.check('leads.convert'), crmperm.check('console.access'), convert_lead(7);
}), "t|f|7", 'after restore: the protected routine runs for rep');
my (undef, $rerr) = run_as($dst, 'hook', 'SELECT convert_lead(7)');
like($rerr, qr/ERROR:  42501: permission denied: role "hook" lacks "leads.convert"/,
	'after restore: the protected routine is refused to hook');

done_testing();

# Poll $sql on $node until it returns $want (30 s at most).
sub poll
{
	my ($node, $sql, $want) = @_;
	my $deadline = time() + 30;
	my $got;
	while (time() < $deadline)
	{
		$got = $node->safe_psql('crm', $sql);
		return 1 if $got eq $want;
		usleep(100_000);
	}
	diag("poll: $sql\nwanted: $want\ngot: $got");
	return 0;
}

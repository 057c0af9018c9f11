# crmperm chains its hooks with pgaudit and pg_stat_statements, loaded before
# or after it: scopes, denials, the COPY TO rewrite and the EXPLAIN ANALYZE
# refusal still hold, and the other extensions still see every statement.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

for my $order ('pgaudit,pg_stat_statements,crmperm', 'crmperm,pg_stat_statements,pgaudit')
{
	my $node = PostgreSQL::Test::Cluster->new('chain' . ($order =~ /^crmperm/ ? 'first' : 'last'));
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = '$order'
pgaudit.log = 'read, write'
pgaudit.log_relation = on
});
	$node->start;
	$node->safe_psql('postgres', q{
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION pgaudit;
CREATE EXTENSION crmperm;
CREATE ROLE rep LOGIN;
CREATE ROLE nobody LOGIN;
CREATE TABLE leads (id int PRIMARY KEY, owner_id text, secret text);
INSERT INTO leads VALUES (1, 'u1', 'mine'), (2, 'u2', 'hidden');
GRANT SELECT, INSERT, UPDATE, DELETE ON leads TO rep, nobody;
SELECT crmperm.manage_table('leads', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Own');
SELECT crmperm.grant('Own', 'leads', ARRAY['read', 'update'], 'owned');
SELECT crmperm.grant_system('Own', 'export');
SELECT crmperm.assign_permission_set('rep', 'Own');
SELECT crmperm.set_principal('rep', user_id => 'u1');
SELECT pg_stat_statements_reset();
});
	my $offset = -s $node->logfile;

	is($node->safe_psql('postgres', 'SET ROLE rep; SELECT string_agg(id::text, \',\') FROM leads'),
		'1', "$order: scopes hold");
	is($node->safe_psql('postgres', 'SET ROLE rep; COPY leads TO STDOUT'),
		"1\tu1\tmine", "$order: COPY TO is rewritten and scoped");
	my ($ret, $out, $err) = $node->psql('postgres', 'SET ROLE nobody; SELECT * FROM leads');
	like($err, qr/permission denied: role "nobody" lacks "leads.read"/, "$order: denials hold");
	($ret, $out, $err) = $node->psql('postgres', 'SET ROLE rep; EXPLAIN ANALYZE SELECT * FROM leads');
	like($err, qr/may not run EXPLAIN ANALYZE on "leads"/, "$order: EXPLAIN ANALYZE is refused");
	($ret, $out, $err) = $node->psql('postgres', q{SET ROLE rep; UPDATE leads SET owner_id = 'u2'});
	like($err, qr/lacks "leads.update" for this row/, "$order: named WITH CHECK denial");

	is($node->safe_psql('postgres', q{
SELECT count(*) > 0 FROM pg_stat_statements WHERE query LIKE '%FROM leads%' AND calls > 0}),
		't', "$order: pg_stat_statements records the queries");
	my $log = slurp_file($node->logfile, $offset);
	like($log, qr/AUDIT: SESSION,\d+,\d+,READ,SELECT,TABLE,public\.leads/,
		"$order: pgaudit logs the read");
	unlike($log, qr/hidden/, "$order: no hidden value in the log");
	$node->stop;
}
done_testing();

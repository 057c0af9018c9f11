# Sourced by test/citus/suite.sh: the data, crmperm's setup, and the cases.

# ---- the same tables twice: NAME_local (the reference) and NAME (Citus) ----
setup_sql() {
    local s
    cat <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION crmperm;
SELECT crmperm.sync_node();
CREATE ROLE crm_users NOLOGIN;
CREATE ROLE alice LOGIN IN ROLE crm_users;
CREATE ROLE bob LOGIN IN ROLE crm_users;
CREATE ROLE carol LOGIN IN ROLE crm_users;
CREATE ROLE dave LOGIN IN ROLE crm_users;
CREATE ROLE integrations LOGIN;
CREATE ROLE zapier NOLOGIN IN ROLE crm_users;
CREATE ROLE crmperm_relay LOGIN;   -- crmperm.citus_relay_role: Citus connects as it under a token
-- a mask of one's own (Citus creates the function on every node)
CREATE FUNCTION public.initial_only(text) RETURNS text LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog AS $f$ SELECT left($1, 1) || '.' $f$;
SELECT crmperm.create_permission_set('rep');
SELECT crmperm.create_permission_set('manager');
SQL
    for s in _local ""; do
        cat <<SQL
CREATE TABLE leads$s (id int PRIMARY KEY, tenant text NOT NULL, name text, owner_id text,
                      team_id text, email text, phone text, ssn text, score int, notes text,
                      source text);
CREATE TABLE deals$s (id int, lead_id int, tenant text NOT NULL, owner_id text, amount numeric,
                      stage text, PRIMARY KEY (lead_id, id));
CREATE TABLE countries$s (code text PRIMARY KEY, name text, tax_id text);
CREATE TABLE payroll$s (id int PRIMARY KEY, emp text, salary int);
GRANT SELECT, INSERT, UPDATE, DELETE ON leads$s, deals$s, countries$s, payroll$s TO crm_users;
INSERT INTO leads$s
SELECT i, CASE WHEN i <= 14 THEN 't1' ELSE 't2' END, 'lead ' || i,
       CASE WHEN i % 3 = 0 THEN 'alice' WHEN i > 14 AND i % 2 = 0 THEN 'carol' ELSE 'bob' END,
       CASE WHEN i % 2 = 0 THEN 'east' ELSE 'west' END,
       'contact' || i || '@acme' || (i % 3) || '.example', '+1-555-01' || lpad(i::text, 2, '0'),
       'ssn-' || i, i * 10, 'note ' || i, 'web'
  FROM generate_series(1, 20) i;
INSERT INTO deals$s SELECT d, l.id, l.tenant, l.owner_id, l.id * 100 + d, 'open'
  FROM leads$s l, generate_series(1, 2) d;
INSERT INTO countries$s VALUES ('de', 'Germany', 'DE-123456789'), ('fr', 'France', 'FR-987654321'),
                               ('us', 'United States', 'US-555000111');
INSERT INTO payroll$s VALUES (1, 'alice', 5000), (2, 'bob', 7000), (3, 'carol', 5100);
SQL
        # the Citus tables: three distributed before they are managed, deals after
        [ -z "$s" ] && cat <<'SQL'
SELECT create_distributed_table('leads', 'id');
SELECT create_reference_table('countries');
SELECT create_distributed_table('payroll', 'id');
SQL
        cat <<SQL
SELECT crmperm.manage_table('leads$s', owner_column => 'owner_id', team_column => 'team_id',
                            tenant_column => 'tenant');
SELECT crmperm.manage_table('deals$s', owner_column => 'owner_id', tenant_column => 'tenant');
SELECT crmperm.manage_table('countries$s');
SELECT crmperm.manage_table('payroll$s', sensitive => true);
SELECT crmperm.protect_field('leads$s', 'email', 'email');
SELECT crmperm.protect_field('leads$s', 'phone', 'partial');
SELECT crmperm.protect_field('leads$s', 'ssn', 'hash');
SELECT crmperm.protect_field('leads$s', 'notes', 'redact');
SELECT crmperm.protect_field('leads$s', 'score', 'null');
SELECT crmperm.protect_field('leads$s', 'source', 'redact', readonly => true);
SELECT crmperm.protect_field('countries$s', 'tax_id', 'partial');
SELECT crmperm.protect_field('countries$s', 'name', 'public.initial_only');
SELECT crmperm.grant('rep', 'leads$s', ARRAY['read', 'create', 'update'], scope => 'owned');
SELECT crmperm.grant('rep', 'deals$s', ARRAY['read', 'create'], scope => 'owned');
SELECT crmperm.grant('rep', 'countries$s', ARRAY['read']);
SELECT crmperm.grant_field('rep', 'leads$s', 'source', ARRAY['read']);
SELECT crmperm.grant_field('rep', 'leads$s', 'score', ARRAY['read', 'create']);
SELECT crmperm.grant('manager', 'leads$s', ARRAY['read', 'update', 'delete']);
SELECT crmperm.grant('manager', 'deals$s', ARRAY['read', 'update']);
SELECT crmperm.grant('manager', 'countries$s', ARRAY['read']);
SELECT crmperm.grant('manager', 'payroll$s', ARRAY['read']);
SELECT crmperm.grant_field('manager', 'leads$s', 'ssn', ARRAY['read']);
SQL
        [ -z "$s" ] && cat <<'SQL'
SELECT create_distributed_table('deals', 'lead_id', colocate_with => 'leads');
SQL
    done
    cat <<'SQL'
SELECT crmperm.assign_permission_set('alice', 'rep');
SELECT crmperm.assign_permission_set('carol', 'rep');
SELECT crmperm.assign_permission_set('zapier', 'rep');
SELECT crmperm.assign_permission_set('bob', 'manager');
SELECT crmperm.set_principal('alice', user_id => 'alice', team_ids => ARRAY['east'], tenant_id => 't1');
SELECT crmperm.set_principal('zapier', user_id => 'alice', tenant_id => 't1');
SELECT crmperm.set_principal('carol', user_id => 'carol', tenant_id => 't2');
SELECT crmperm.set_principal('bob', user_id => 'bob', tenant_id => 't1');
SELECT crmperm.set_super_admin('dave', true);
SQL
}

out=$(setup_sql | q $C 2>&1 >/dev/null)
check "setup: two sets of tables managed alike, Citus ones distributed before and after manage_table" \
    '[ -z "$out" ]' "$out"
$PGBIN/psql -X -q -At -h "$CITUS_DIR" -p $C -U postgres -d crm \
    -c "SELECT crmperm.create_token('zap', 'zapier', ARRAY['leads.read', 'leads_local.read', 'deals.read', 'deals_local.read'])" \
    > "$CITUS_DIR/token.zap"

# ---- the catalog on every node ----
catalog="SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
  SELECT to_jsonb(r) x FROM crmperm.resources r WHERE r.resource NOT LIKE '%_local' UNION ALL SELECT to_jsonb(g) FROM crmperm.object_grants g
  UNION ALL SELECT to_jsonb(f) FROM crmperm.fields f UNION ALL SELECT to_jsonb(f) FROM crmperm.field_grants f
  UNION ALL SELECT to_jsonb(p) FROM crmperm.principals p UNION ALL SELECT to_jsonb(s) FROM crmperm.secret s
  UNION ALL SELECT to_jsonb(t) FROM crmperm.api_tokens t) c"
cat_c=$(q $C -At -c "$catalog"); cat_w=$(q $W1 -At -c "$catalog")
check "catalog: the worker holds the coordinator's catalog, the hash mask's key and token hashes included" \
    '[ -n "$cat_c" ] && [ "$cat_c" = "$cat_w" ]' "coordinator $cat_c, worker $cat_w"

# ---- reads ----
same "owned rows and every mask kind, multi-shard" alice "(4 rows)" \
    "SELECT id, name, email, phone, ssn, notes, score, source FROM leads@@ ORDER BY id"
same "count over every shard" alice " 4" "SELECT count(*) FROM leads@@"
same "router query, own row" alice "(1 row)" "SELECT id, ssn, phone FROM leads@@ WHERE id = 3"
same "router query, another owner's row" alice "(0 rows)" "SELECT id FROM leads@@ WHERE id = 4"
same "a predicate on a masked field sees the mask" alice "(0 rows)" \
    "SELECT id FROM leads@@ WHERE ssn LIKE 'ssn-%' OR phone LIKE '+1%'"
same "grouping by a masked field" alice "****@acme0.example" \
    "SELECT email, count(*) FROM leads@@ GROUP BY email ORDER BY 1"
same "aggregates pushed down" alice " 300 |" "SELECT sum(score), max(id), min(ssn) IS NOT NULL FROM leads@@"
same "ordering by a masked field, LIMIT" alice "(2 rows)" "SELECT id, ssn FROM leads@@ ORDER BY ssn, id LIMIT 2"
same "CTE and subquery" alice " 4" "WITH x AS (SELECT * FROM leads@@) SELECT count(*) FROM x WHERE id IN (SELECT id FROM leads@@)"
same "colocated join" alice "(8 rows)" \
    "SELECT l.id, d.id, d.amount, l.ssn FROM leads@@ l JOIN deals@@ d ON d.lead_id = l.id ORDER BY 1, 2"
same "reference table, masked (a mask function of one's own too)" alice " G.   | ****6789" \
    "SELECT code, name, tax_id FROM countries@@ ORDER BY code"
same "join with a reference table" alice "(4 rows)" \
    "SELECT l.id, c.tax_id FROM leads@@ l JOIN countries@@ c ON c.code = 'de' ORDER BY 1"
same "prepared statement, custom and generic plans" alice "(1 row)" \
    "PREPARE p(int) AS SELECT id, ssn FROM leads@@ WHERE id = \$1; EXECUTE p(3); EXECUTE p(4); EXECUTE p(6); EXECUTE p(5); EXECUTE p(9); EXECUTE p(12); EXECUTE p(3)"
same "cursor" alice "(2 rows)" "BEGIN; DECLARE c CURSOR FOR SELECT id, ssn FROM leads@@ ORDER BY id; FETCH 2 FROM c; COMMIT"
same "manager: every row of the tenant, the field granted" bob " 14 |" \
    "SELECT count(*), count(DISTINCT owner_id), min(ssn) FROM leads@@"
same "another tenant's rep" carol "(2 rows)" "SELECT id, owner_id, tenant FROM leads@@ ORDER BY id"
same "super admin sees everything, unmasked" dave "(20 rows)" "SELECT id, ssn, email FROM leads@@ ORDER BY id"
same "no read grant: the named denial" alice 'lacks "payroll.read"' "SELECT * FROM payroll@@"
same "sensitive table read" bob "(3 rows)" "SELECT * FROM payroll@@ ORDER BY id"
same "EXPLAIN ANALYZE refused (row counts)" alice "ERROR:" "EXPLAIN ANALYZE SELECT * FROM leads@@"
same "COPY TO needs export" alice "ERROR:" "COPY (SELECT id FROM leads@@) TO STDOUT"

# ---- writes (each rolled back) ----
same "update own row, RETURNING masked" alice "(1 row)" \
    "BEGIN; UPDATE leads@@ SET name = name || '!' WHERE id IN (3, 4) RETURNING id, name, ssn, phone; ROLLBACK"
same "update another owner's row touches nothing" alice "(0 rows)" \
    "BEGIN; UPDATE leads@@ SET name = 'x' WHERE id = 4 RETURNING id; ROLLBACK"
same "insert an own row" alice "(1 row)" \
    "BEGIN; INSERT INTO leads@@ (id, tenant, name, owner_id, team_id, score) VALUES (100, 't1', 'New', 'alice', 'east', 5) RETURNING id, name, score; ROLLBACK"
same "insert a row for another owner: outside the create scope" alice "ERROR:  permission denied" \
    "INSERT INTO leads@@ (id, tenant, name, owner_id) VALUES (101, 't1', 'New', 'bob')"
same "insert into another tenant" alice "ERROR:  permission denied" \
    "INSERT INTO leads@@ (id, tenant, name, owner_id) VALUES (102, 't2', 'New', 'alice')"
same "update moving a row out of the update scope" alice "ERROR:  permission denied" \
    "UPDATE leads@@ SET owner_id = 'bob' WHERE id = 3"
same "delete without the grant" alice 'lacks "leads.delete"' "DELETE FROM leads@@ WHERE id = 3"
same "read-only field" alice "ERROR:  permission denied" "UPDATE leads@@ SET source = 'x' WHERE id = 3"
same "create-once field" alice 'leads.score.update' "UPDATE leads@@ SET score = 1 WHERE id = 3"
same "masked field write" alice 'leads.ssn' "UPDATE leads@@ SET ssn = 'x' WHERE id = 3"
same "ON CONFLICT DO UPDATE on an own row" alice "(1 row)" \
    "BEGIN; INSERT INTO leads@@ (id, tenant, name, owner_id, team_id) VALUES (3, 't1', 'x', 'alice', 'east') ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING id, name; ROLLBACK"
same "sensitive table write" bob "ERROR:  permission denied" "UPDATE payroll@@ SET salary = 1"
same "manager deletes in its tenant only" bob "    14 |   1 |  14" \
    "BEGIN; WITH d AS (DELETE FROM leads@@ WHERE id > 0 RETURNING id) SELECT count(*), min(id), max(id) FROM d; ROLLBACK"
same "insert a deal (distributed after manage_table)" alice "(1 row)" \
    "BEGIN; INSERT INTO deals@@ VALUES (9, 3, 't1', 'alice', 1, 'new') RETURNING id, lead_id; ROLLBACK"
same "insert a deal for another owner" alice "ERROR:  permission denied" \
    "INSERT INTO deals@@ VALUES (9, 4, 't1', 'bob', 1, 'new')"

# ---- record access across tables ----
as $C postgres "SELECT crmperm.share('leads_local', 4, 'alice', ARRAY['read']); SELECT crmperm.share('leads', 4, 'alice', ARRAY['read'])" >/dev/null
same "a shared row" alice "(5 rows)" "SELECT id, owner_id, ssn FROM leads@@ ORDER BY id"
same "a shared row, router query" alice "(1 row)" "SELECT id, owner_id FROM leads@@ WHERE id = 4"
as $C postgres "SELECT crmperm.unshare('leads_local', 4, 'alice'); SELECT crmperm.unshare('leads', 4, 'alice')" >/dev/null
same "unshared" alice "(4 rows)" "SELECT id FROM leads@@ ORDER BY id"
out=$(as $C postgres "ALTER TABLE deals ADD FOREIGN KEY (lead_id) REFERENCES leads (id);
SELECT crmperm.set_parent('deals', 'leads', ARRAY['lead_id']::name[]);
SELECT crmperm.create_permission_set('follow leads');
SELECT crmperm.grant('follow leads', 'deals', ARRAY['read'], scope => 'parent');
SELECT crmperm.assign_permission_set('carol', 'follow leads');
SET ROLE carol; SELECT count(*) FROM deals; RESET ROLE;
SELECT crmperm.drop_permission_set('follow leads'); SELECT crmperm.set_parent('deals', NULL);")
check "scope parent on distributed tables fails closed (Citus refuses the shard's subquery)" \
    'grep -q "ERROR:  direct joins between distributed and local tables are not supported" <<<"$out" && ! grep -q "^     [0-9]" <<<"$out"' "$out"

# ---- a token (its principal is NOLOGIN: Citus connects as the login role) ----
same "token: the principal's rows through the token's scopes" token:zap "(4 rows)" \
    "SELECT id, ssn, phone, current_user FROM leads@@ ORDER BY id; COMMIT"
same "token: a colocated join" token:zap "(8 rows)" \
    "SELECT l.id, d.amount FROM leads@@ l JOIN deals@@ d ON d.lead_id = l.id ORDER BY 1, 2; COMMIT"
same "token: a router query" token:zap "(1 row)" "SELECT id, name FROM leads@@ WHERE id = 6; COMMIT"
same "token: a CTE planned on its own (recursive planning)" token:zap "     6" \
    "WITH x AS (SELECT id FROM leads@@ WHERE id > 3 ORDER BY id LIMIT 10) SELECT count(*) FROM x JOIN deals@@ d ON d.lead_id = x.id; COMMIT"
as $C postgres "CREATE FUNCTION count_rows(t regclass) RETURNS bigint LANGUAGE plpgsql AS
  \$\$DECLARE n bigint; BEGIN EXECUTE format('SELECT count(*) FROM %s', t) INTO n; RETURN n; END\$\$" >/dev/null
same "token: a function running a query" token:zap "     4" "SELECT count_rows('leads@@'); COMMIT"
# a client of the same login role watching another's token statement
( printf '%s\n' "BEGIN;" "SELECT crmperm.authenticate(:'tok_zap') AS p \\gset" "SELECT count(*) FROM leads;" \
      "SELECT pg_sleep(3);" "COMMIT;" |
    $PGBIN/psql -X -q -h "$CITUS_DIR" -p $C -U integrations -d crm $(token_vars) -f - >/dev/null 2>&1 ) &
sleep 1.5
watched=""
for p in $C $W1; do
    watched="$watched$($PGBIN/psql -X -At -h "$CITUS_DIR" -p $p -U integrations -d crm -c \
        "SELECT usename || ': ' || query FROM pg_stat_activity WHERE usename = 'crmperm_relay'")"
done
wait
check "Citus's sessions under a token run as the relay role, whose statements other clients cannot read" \
    'grep -q "crmperm_relay: <insufficient privilege>" <<<"$watched" && ! grep -q "node_token" <<<"$watched"' "$watched"
out=$(as $W1 token:zap "SELECT current_setting('crmperm.node_token') FROM leads WHERE id = 3")
check "a principal cannot read the node token its statement runs under" \
    'grep -q "permission denied to examine \"crmperm.node_token\"\|must be superuser" <<<"$out"' "$out"
out=$(as $W1 postgres "SET ROLE integrations; BEGIN; SET LOCAL crmperm.node_token = 'crm_a1b2c3d4e5f6_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:99999999999:integrations'; SELECT 1; ROLLBACK")
check "a node token presented by anyone but the relay role is refused" \
    'grep -q "only crmperm.citus_relay_role presents one" <<<"$out"' "$out"
out=$(grep -hoE "crm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}" "$CITUS_DIR"/*.log | sort -u)
check "no node token's signature in any node's log (log_statement = all)" '[ -z "$out" ]' "$out"
out=$(grep -hcE "crmperm.node_token TO 'crm_[0-9a-f]{12}_\*{43}:" "$CITUS_DIR"/*.log | awk '{s += $1} END {print s + 0}')
check "the node tokens Citus sent are in the logs, redacted" '[ "$out" -gt 0 ]' "$out"
same "token: a write outside its scopes" token:zap 'token "zap" lacks "leads.update"' \
    "UPDATE leads@@ SET name = 'x' WHERE id = 3"
same "token: a table outside its scopes" token:zap 'token "zap"' "SELECT * FROM countries@@"

# ---- the catalog reaches every node in the changing transaction ----
as $C postgres "BEGIN; SELECT crmperm.grant('rep', 'payroll', ARRAY['read']); ROLLBACK;" >/dev/null
out=$(as $W1 alice "SELECT count(*) FROM payroll")
check "a grant rolled back on the coordinator is on no worker" \
    'grep -q "lacks \"payroll.read\"" <<<"$out"' "$out"
as $C postgres "SELECT crmperm.grant('rep', 'payroll', ARRAY['read'])" >/dev/null
out=$(as $W1 alice "SELECT count(*) FROM payroll")
check "a grant committed on the coordinator is in force on a worker at once" \
    'grep -q "^     3$" <<<"$out"' "$out"
as $C postgres "SELECT crmperm.revoke('rep', 'payroll', ARRAY['read'])" >/dev/null
out=$(as $W1 alice "SELECT count(*) FROM payroll")
check "a revoke too" 'grep -q "lacks \"payroll.read\"" <<<"$out"' "$out"
out=$(as $W1 postgres "SELECT crmperm.create_permission_set('made on a worker')")
check "admin functions that change the catalog are refused on a worker" \
    'grep -q "changed on the Citus coordinator only" <<<"$out"' "$out"
out=$(as $W1 alice "SELECT crmperm._sync_apply('grants', 'INSERT', NULL, '[]')")
check "principals cannot apply catalog changes" 'grep -q "permission denied for function _sync_apply" <<<"$out"' "$out"
out=$(as $C postgres "SELECT crmperm.sync_node('localhost', 1)")
check "sync_node() names a node that is not a worker" 'grep -q "is not an active Citus worker" <<<"$out"' "$out"
out=$(as $C alice "SELECT crmperm.sync_node()")
check "sync_node() is for superusers" 'grep -q "only a superuser may call crmperm.sync_node()" <<<"$out"' "$out"

# ---- a worker added later: fails closed until sync_node() ----
out=$(as $C postgres "SELECT citus_add_node('localhost', $W2);
SELECT replicate_reference_tables('block_writes');
SELECT citus_move_shard_placement(s.shardid, 'localhost', $W1, 'localhost', $W2, shard_transfer_mode => 'block_writes')
  FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n ON n.groupid = p.groupid
 WHERE s.logicalrelid = 'leads'::regclass AND n.nodeport = $W1;" 2>&1)
check "a third node, with the leads shards of the first worker moved to it" \
    '! grep -q ERROR <<<"$out"' "$out"
out=$(as $C alice "SELECT count(*) FROM leads")
check "before sync_node(): the new node's shards show the principal nothing (fails closed)" \
    'n=$(sed -n "3p" <<<"$out" | tr -d " "); [ -n "$n" ] && [ "$n" -lt 4 ]' "$out"
out=$(as $C postgres "SELECT crmperm.grant('rep', 'payroll', ARRAY['read'])")
check "before sync_node(): a catalog change names the node to copy it to" \
    'grep -q "never copied to node localhost:$W2" <<<"$out" && grep -q "sync_node(.localhost., $W2)" <<<"$out"' "$out"
out=$(as $C postgres "SELECT crmperm.sync_node('localhost', $W2)")
check "sync_node() copies the catalog to the new node" 'grep -q "^         1$" <<<"$out"' "$out"
cat_w=$(q $W2 -At -c "$catalog"); cat_c=$(q $C -At -c "$catalog")
check "the new node holds the coordinator's catalog" '[ "$cat_c" = "$cat_w" ]' "coordinator $cat_c, new node $cat_w"
same "after sync_node(): every shard again" alice "(4 rows)" \
    "SELECT id, name, email, phone, ssn, notes, score, source FROM leads@@ ORDER BY id"
out=$(as $W2 alice "SELECT id, ssn FROM leads WHERE id = 3")
ref=$(as $C alice "SELECT id, ssn FROM leads_local WHERE id = 3")
check "the new node, directly" '[ "$out" = "$ref" ]' "$(diff <(echo "$ref") <(echo "$out"))"

# ---- managed Citus tables dropped, undistributed; a node removed and added again ----
out=$(as $C postgres "CREATE TABLE scratch (id int PRIMARY KEY, owner_id text);
SELECT create_distributed_table('scratch', 'id');
SELECT crmperm.manage_table('scratch', owner_column => 'owner_id');
DROP TABLE scratch;
CREATE TABLE scratch_ref (id int PRIMARY KEY, owner_id text);
SELECT create_reference_table('scratch_ref');
SELECT crmperm.manage_table('scratch_ref', owner_column => 'owner_id');
DROP TABLE scratch_ref;
CREATE TABLE scratch_und (id int PRIMARY KEY, owner_id text);
SELECT create_distributed_table('scratch_und', 'id');
SELECT crmperm.manage_table('scratch_und', owner_column => 'owner_id');
SELECT undistribute_table('scratch_und');
DROP TABLE scratch_und;")
check "a managed distributed or reference table is dropped (unmanaged with it), or undistributed" \
    '! grep -q "ERROR" <<<"$out"' "$out"
out=$(as $C postgres "SELECT finding, object FROM crmperm.lint() WHERE finding LIKE 'citus%'")
check "lint(): every worker in sync" 'grep -q "(0 rows)" <<<"$out"' "$out"
out=$(as $C postgres "SELECT citus_drain_node('localhost', $W2, shard_transfer_mode => 'block_writes');
SELECT citus_remove_node('localhost', $W2);
SELECT citus_add_node('localhost', $W2) > 0 AS added;")
check "a node drained, removed and added again" '! grep -q "ERROR" <<<"$out"' "$out"
out=$(as $C postgres "SELECT finding, object, fix FROM crmperm.lint() WHERE finding LIKE 'citus%'")
check "lint(): the node added again no longer holds the catalog, and the fix says what to run" \
    'grep -q "citus_node_not_synced | localhost:$W2 | SELECT crmperm.sync_node(.localhost., $W2);" <<<"$out"' "$out"
out=$(as $C postgres "SELECT crmperm.sync_node('localhost', $W2); SELECT finding FROM crmperm.lint() WHERE finding LIKE 'citus%'")
check "lint(): in sync again after sync_node()" 'grep -q "(0 rows)" <<<"$out"' "$out"
out=$(as $W1 alice "SELECT * FROM crmperm.whoami()")
check "read-only admin functions run on a worker (whoami)" 'grep -q "^ alice " <<<"$out"' "$out"

# ---- audit: each node keeps the denials raised there ----
denials="SELECT sum(result::bigint) FROM run_command_on_all_nodes(\$\$SELECT count(*) FROM crmperm.audit_log WHERE kind = 'denial'\$\$)"
before=$(q $C -At -c "$denials")
before_w=$(q $W1 -At -c "SELECT count(*) FROM crmperm.audit_log WHERE kind = 'denial'")
as $W1 alice "DELETE FROM leads WHERE id = 3" >/dev/null
as $W1 alice "INSERT INTO leads (id, tenant, name, owner_id) VALUES (103, 't1', 'x', 'bob')" >/dev/null
sleep 1
after=$(q $C -At -c "$denials")
after_w=$(q $W1 -At -c "SELECT count(*) FROM crmperm.audit_log WHERE kind = 'denial'")
check "audit: a denial raised by the node a principal queries is in that node's trail" \
    '[ $((after_w - before_w)) -ge 1 ]' "worker: $before_w -> $after_w"
check "audit: a denial raised where the shard is (a row outside the create scope) is in that node's trail" \
    '[ $((after - before)) -ge 2 ]' "all nodes: $before -> $after"
out=$(q $C -At -c "SELECT nodeid, result FROM run_command_on_all_nodes(\$\$SELECT ok FROM crmperm.verify_audit()\$\$) ORDER BY 1")
check "audit: verify_audit() holds on every node" '! grep -q "|f" <<<"$out" && [ $(grep -c "|t" <<<"$out") -eq 3 ]' "$out"

# ---- found by the outside review ----
out=$(as $C alice "INSERT INTO leads (id, tenant, name, owner_id, team_id)
  SELECT v.* FROM (VALUES (509, 't2', 'planted', 'carol', 'east')) v(a, b, c, d, e) LIMIT 1")
check "INSERT ... SELECT through the coordinator cannot cross the tenant boundary (Citus's COPY needs import)" \
    'grep -q "lacks \"leads.import\"" <<<"$out"' "$out"
out=$(as $W1 alice "INSERT INTO leads (id, tenant, name, owner_id, team_id)
  SELECT v.* FROM (VALUES (512, 't1', 'planted', 'bob', 'west')) v(a, b, c, d, e) LIMIT 1")
check "INSERT ... SELECT through a worker cannot write outside the create scope (Citus's COPY needs import)" \
    'grep -q "lacks \"leads.import\"" <<<"$out"' "$out"
out=$(q $C -At -c "SELECT count(*) FROM leads WHERE id IN (509, 512)")
check "... and wrote nothing" '[ "$out" = 0 ]' "$out"
out=$(as $C alice "SELECT * FROM worker_save_query_explain_analyze('SELECT id FROM leads_local', '{}') AS (id int)")
check "worker_save_query_explain_analyze() (EXPLAIN ANALYZE) refused to principals" \
    'grep -q "may not call worker_save_query_explain_analyze()" <<<"$out"' "$out"
shard=$(q $C -At -c "SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'leads'::regclass ORDER BY shardid LIMIT 1")
out=$(as $C bob "SELECT worker_split_copy($shard, 'id', ARRAY[ROW($shard, '-2147483648', '2147483647', 1)::split_copy_info])")
check "worker_split_copy() (a COPY into a shard) refused to principals" \
    'grep -q "may not call worker_split_copy()" <<<"$out"' "$out"
out=$(as $C postgres "ALTER ROLE integrations SET crmperm.node_token = 'x'")
check "crmperm.node_token cannot be a role's default" 'grep -q "can only be set in a session" <<<"$out"' "$out"
same "a savepoint around a query under a token" token:zap "(4 rows)" \
    "SAVEPOINT s; SELECT id FROM leads@@ ORDER BY id; ROLLBACK TO SAVEPOINT s; SELECT 1 AS after; COMMIT"

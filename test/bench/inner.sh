#!/bin/bash
# Called by test/bench/run.sh inside pg_virtualenv, as postgres (PGHOST,
# PGPORT, PGUSER, PGPASSWORD set for the cluster's superuser).
#
# Builds four databases in the one throwaway cluster (crmperm_bench,
# crmperm_fields for field security, and the two scale databases), counts
# instructions per query with callgrind, then runs pgbench workloads as the
# governed login role "bench": each comparison is A / B, in rounds where A
# and B run at the same time on one shared CPU (see pair() below; which one
# starts first alternates), and prints the median over the rounds of
# tps_A / tps_B as a markdown table; then the decision cache's cold start.
#   $1  work directory (writable by postgres); results.md is written there.
# Knobs (environment): BENCH_SECONDS (per round, default 3), BENCH_ROUNDS
# (default 5), BENCH_CLIENTS (pgbench clients per side, default 1),
# BENCH_ONLY (a regular expression: run only the comparisons whose label
# matches it, e.g. 'simple-update|scale'; "cold start" and "callgrind" name
# the last two sections), BENCH_CALLGRIND=0 (skip callgrind).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
secs=${BENCH_SECONDS:-3}
rounds=${BENCH_ROUNDS:-5}
clients=${BENCH_CLIENTS:-1}
only=${BENCH_ONLY:-.}
principals=10000
tables=500
depth=25

export PGDATABASE=postgres

# The library the cluster preloaded.  If it is reinstalled during the run
# (make install elsewhere), the callgrind section would count another build.
lib="$(pg_config --pkglibdir)/crmperm.so"
lib_id() { echo "$(sha1sum < "$lib" | cut -c1-12), installed $(date -r "$lib" '+%F %T')"; }
lib_at_start=$(lib_id)
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

say() { printf '%s  %s\n' "$(date +%T)" "$*"; }

# -------------------------------------------------------------------------
# Setup
# -------------------------------------------------------------------------
say "setup: roles (bench + $((principals - 1)) principals, cluster-wide)"
psql_q <<SQL
CREATE ROLE bench LOGIN PASSWORD 'bench';
SELECT format('CREATE ROLE %I NOLOGIN', 'p' || i) FROM generate_series(1, $principals - 1) i \gexec
SQL

say "setup: crmperm_bench (unmanaged / scope all / native true / scope owned / native owned)"
createdb crmperm_bench
psql_q -d crmperm_bench -f "$here/setup.sql" >/dev/null

say "setup: crmperm_fields (masked / masking view over native owned / fields granted / none protected)"
createdb crmperm_fields
psql_q -d crmperm_fields -f "$here/fields.sql" >/dev/null
# What the field workloads read, as bench: t_masked shows the masks, as the
# view does by hand; t_granted shows every value, as t_unprotected does.
fields_ok=$(PGPASSWORD=bench PGSSLMODE=disable psql -X -At -U bench -d crmperm_fields <<'SQL'
SELECT (SELECT count(*) FROM t_masked WHERE email LIKE '****@%' AND phone LIKE '****%'
                                        AND contract_value IS NULL) = 1000
   AND (SELECT count(*) FROM t_granted WHERE email NOT LIKE '****%'
                                         AND contract_value IS NOT NULL) = 1000
   AND NOT EXISTS (SELECT aid, name, email, phone, contract_value FROM t_masked
                   EXCEPT ALL SELECT aid, name, email, phone, contract_value FROM v_masked)
   AND NOT EXISTS (SELECT aid, name, email, phone, contract_value FROM v_masked
                   EXCEPT ALL SELECT aid, name, email, phone, contract_value FROM t_masked)
   AND NOT EXISTS (SELECT aid, name, email, phone, contract_value FROM t_granted
                   EXCEPT ALL SELECT aid, name, email, phone, contract_value FROM t_unprotected);
SQL
)
[ "$fields_ok" = t ] || { echo "crmperm_fields: bench does not read what the field workloads expect" >&2; exit 1; }

say "setup: crmperm_scale_small (1 principal, 1 managed table, 1 CRM role)"
createdb crmperm_scale_small
psql_q -d crmperm_scale_small -v principals=1 -v tables=1 -v depth=1 -f "$here/scale.sql" |
    sed -n 's/^ *catalog:/    catalog:/p'

say "setup: crmperm_scale_large ($principals principals, $tables managed tables, $depth-deep CRM roles)"
createdb crmperm_scale_large
psql_q -d crmperm_scale_large -v principals=$principals -v tables=$tables -v depth=$depth \
    -f "$here/scale.sql" | sed -n 's/^ *catalog:/    catalog:/p'

# -------------------------------------------------------------------------
# Instructions per query, counted by callgrind: exact where the timings below
# are not, and they say where crmperm's part goes.  The same select-only
# statement as bench (the masked-read statement for the field rows), in
# single-user mode (the cluster is stopped for it): no network, no client,
# every statement parsed and planned as in the simple protocol.  Per query is
# the difference between 1001 statements and 1, over 1000 (so the first
# statement, which loads the decision cache, is left out).  Run before the
# workloads: the cluster restarted after it preloads the build it counted, so
# the workloads measure that build too (backends keep the preloaded copy even
# if crmperm is reinstalled later: the library is found loaded by its name).
# -------------------------------------------------------------------------
pg_version=$(psql -X -At -c 'SHOW server_version')
cg_rows=""; cg_funcs=""; cg_skipped=""
fcols=aid,name,email,phone,contract_value    # what the masked-read statement reads
# where the field runs' time goes, besides crmperm's hooks: the planner hook's
# parts (static in fields.c, when not inlined), and on the view's side the
# rewrite (view expansion) and the planning of its security_barrier subquery
cg_field_funcs='mask_query|read_masks|replace_in_query|check_plan|ReplaceVarsFromTargetList|QueryRewrite|set_subquery_pathlist'
# cg_run NAME DB TABLE OWNED N [COLUMNS]: instructions collected for N
# statements (OWNED: 1 to read only rows bench owns; COLUMNS: what the
# statement reads, abalance unless told, the select-only statement).
cg_run() {
    awk -v n="$5" -v tbl="$3" -v own="$4" -v cols="${6:-abalance}" 'BEGIN {
        srand(1); print "SET ROLE bench;"
        for (i = 0; i < n; i++)
            printf "SELECT %s FROM %s WHERE aid = %d;\n", cols, tbl,
                   own ? 100 * (1 + int(rand() * 1000)) : 1 + int(rand() * 100000)
    }' | valgrind --tool=callgrind \
        --callgrind-out-file="$work/cg.$1.$5" "$bindir/postgres" --single \
        -c config_file="$conf" "$2" > "$work/cg.out" 2> "$work/cg.err" || {
        echo "single-user run failed:" >&2; tail -20 "$work/cg.out" "$work/cg.err" >&2; return 1; }
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$work/cg.err"
}
# cg_func_costs NAME [NAMES]: crmperm's functions (and the functions whose
# names start with one of NAMES, a regular expression alternation),
# instructions per query, inclusive.
cg_func_costs() {
    local f
    for f in 1 1001; do
        callgrind_annotate --inclusive=yes --threshold=100 "$work/cg.$1.$f" 2>/dev/null |
            sed -nE 's/^ *([0-9,]+) \([^)]*\) +[^ ]*:((crm|get_row_security_policies|ExecCheckRTPerms|standard_planner'"${2:+|$2}"')[a-z_]*)( \[.*\])$/\2 \1/p' |
            tr -d ',' | sed "s/^/$f /"
    done | awk '{v[$2, $1] = $3; names[$2]} END {
        for (n in names) printf "%s %.0f\n", n, (v[n, 1001] - v[n, 1]) / 1000 }' | sort -k2 -nr
}
if [[ callgrind =~ $only ]] && [ "${BENCH_CALLGRIND:-1}" = 1 ]; then
    if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
        bindir=$(pg_config --bindir)
        conf=$(psql -X -At -c 'SHOW config_file')
        say "callgrind: instructions per select-only and masked-read query, single-user mode"
        pg_ctlcluster "$PGVERSION" regress stop
        declare -A ir
        # Counted again (3 times at most) when crmperm.so is reinstalled while
        # callgrind runs (others share this machine's installation): the
        # counts would mix two builds.
        for attempt in 1 2 3; do
            cg_lib=$(lib_id)
            for v in "plain crmperm_bench t_plain 0" "all crmperm_bench t_all 0" \
                     "true crmperm_bench t_native_true 0" "owned crmperm_bench t_owned 1" \
                     "native crmperm_bench t_native_owned 1" \
                     "small crmperm_scale_small t_scale 1" "large crmperm_scale_large t_scale 1" \
                     "masked crmperm_fields t_masked 1 $fcols" "view crmperm_fields v_masked 1 $fcols" \
                     "granted crmperm_fields t_granted 1 $fcols" \
                     "unprotected crmperm_fields t_unprotected 1 $fcols"; do
                set -- $v
                one=$(cg_run "$1" "$2" "$3" "$4" 1 "${5:-}")
                many=$(cg_run "$1" "$2" "$3" "$4" 1001 "${5:-}")
                ir[$1]=$(( (many - one) / 1000 ))
            done
            [ "$(lib_id)" = "$cg_lib" ] && break
            say "callgrind: crmperm.so was reinstalled while callgrind ran (attempt $attempt of 3)"
        done
        # Restarted, the cluster preloads the build just counted: the workloads
        # below measure it too (lib_at_start is what the report names).
        pg_ctlcluster "$PGVERSION" regress start
        lib_at_start=$(lib_id)
        if [ "$lib_at_start" != "$cg_lib" ]; then
            cg_skipped="discarded: crmperm.so was reinstalled while callgrind ran (3 attempts)."
        fi
        cg_row() { # label A B goal
            cg_rows="$cg_rows| $1 | ${ir[$2]} | ${ir[$3]} | $(awk -v a="${ir[$2]}" -v b="${ir[$3]}" \
                'BEGIN {printf "%+d (%+.1f%%)", a - b, 100 * (a - b) / b}') | $(awk -v a="${ir[$2]}" \
                -v b="${ir[$3]}" 'BEGIN {printf "%.3f", b / a}') | $4 |
"
        }
        cg_row "crmperm scope all / unmanaged" all plain ">= 0.99"
        cg_row "native policy true / unmanaged (reference)" true plain "~0.99"
        cg_row "crmperm owned / native owned policy" owned native ">= 1.0"
        cg_row "owned: scale $principals/$tables/$depth / 1/1/1" large small ">= 0.97"
        cg_row "masked read: crmperm owned, 3 fields masked / masking view, native owned policy" \
            masked view ">= 1.0"
        cg_row "unmasked read: 3 protected fields, all granted / none protected" \
            granted unprotected ">= 0.99"
        cg_row "masked read / unmasked read, all granted (what the masks cost; information)" \
            masked granted "—"
        for v in "all:t_all, scope all" "owned:t_owned, scope owned" "small:t_scale, owned, 1/1/1" \
                 "large:t_scale, owned, $principals/$tables/$depth"; do
            cg_funcs="$cg_funcs| ${v#*:} | $(cg_func_costs "${v%%:*}" |
                awk '$2 >= 50 {printf "%s%s %d", sep, $1, $2; sep = ", "}') |
"
        done
        # the field runs: the planner hook's parts, and the view's rewrite and subquery
        for v in "masked:t_masked, owned, 3 fields masked" "view:v_masked, masking view, native owned policy" \
                 "granted:t_granted, owned, 3 protected fields granted" \
                 "unprotected:t_unprotected, owned, none protected"; do
            cg_funcs="$cg_funcs| ${v#*:} | $(cg_func_costs "${v%%:*}" "$cg_field_funcs" |
                awk '$2 >= 50 {printf "%s%s %d", sep, $1, $2; sep = ", "}') |
"
        done
        say "callgrind: done"
    else
        say "callgrind: valgrind is not installed, skipped"
    fi
fi

# Citus (when it is installed): a coordinator and a worker on loopback, both
# preloading citus and crmperm; t_crm (crmperm, scope owned) and t_native (the
# same rule as a native policy, which Citus puts on every shard), both
# distributed by aid.  The workload is a router query as bench.
citus_db=""
if [ -f "$(pg_config --pkglibdir)/citus.so" ] && [[ "router select on Citus" =~ $only ]]; then
    say "setup: Citus (a coordinator and a worker; t_crm scope owned / t_native native owned policy)"
    export CITUS_DIR="$work/citus"
    PGBIN=$(pg_config --bindir)
    . "$here/cluster.sh"
    trap node_stop_all EXIT
    cport=$((PGPORT + 300))
    mkdir -p "$CITUS_DIR"
    node_start coord $cport && node_start worker $((cport + 1))
    for p in $cport $((cport + 1)); do
        createdb -h "$CITUS_DIR" -p $p crm
        q $p -c "CREATE EXTENSION citus" >/dev/null
    done
    q $cport >/dev/null <<SQL
SET client_min_messages = warning;
SELECT citus_set_coordinator_host('localhost', $cport);
SELECT citus_add_node('localhost', $((cport + 1)));
CREATE EXTENSION crmperm;
SELECT crmperm.sync_node();
CREATE ROLE bench LOGIN;
CREATE TABLE t_crm (aid int PRIMARY KEY, owner_id text NOT NULL, abalance int NOT NULL);
CREATE TABLE t_native (aid int PRIMARY KEY, owner_id text NOT NULL, abalance int NOT NULL);
INSERT INTO t_crm SELECT i, CASE WHEN i % 100 = 0 THEN 'bench' ELSE 'u' || i % 7 END, 0
  FROM generate_series(1, 100000) i;
INSERT INTO t_native SELECT * FROM t_crm;
SELECT create_distributed_table('t_crm', 'aid');
SELECT create_distributed_table('t_native', 'aid');
SELECT truncate_local_data_after_distributing_table('t_crm');
SELECT truncate_local_data_after_distributing_table('t_native');
GRANT SELECT ON t_crm, t_native TO bench;
SELECT crmperm.manage_table('t_crm', owner_column => 'owner_id');
SELECT crmperm.create_permission_set('Bench owned');
SELECT crmperm.grant('Bench owned', 't_crm', ARRAY['read'], scope => 'owned');
SELECT crmperm.assign_permission_set('bench', 'Bench owned');
SELECT crmperm.set_principal('bench', user_id => 'bench');
ALTER TABLE t_native ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY owned ON t_native TO bench USING (owner_id = current_user);
ANALYZE t_crm, t_native;
SQL
    citus_db="host=$CITUS_DIR port=$cport dbname=crm"
    # bench reads the same rows from both
    citus_ok=$(psql -X -At -U bench -d "$citus_db" -c \
        "SELECT (SELECT count(*) FROM t_crm) = 1000 AND (SELECT count(*) FROM t_native) = 1000")
    [ "$citus_ok" = t ] || { echo "Citus: bench does not read what the router workload expects" >&2; exit 1; }
fi

# -------------------------------------------------------------------------
# Workloads
# -------------------------------------------------------------------------
# script NAME TEMPLATE TABLE AID: a pgbench script with the placeholders filled.
script() {
    sed -e "s/@TABLE@/$3/g" -e "s/@AID@/$4/g" "$here/$2" > "$work/$1.pgb"
}
any='random(1, 100000)'          # any row
own='100 * random(1, 1000)'      # a row owned by u0 (bench)
script sel_plain select.pgb t_plain "$any"
script sel_all select.pgb t_all "$any"
script sel_true select.pgb t_native_true "$any"
script upd_plain update.pgb t_plain "$any"
script upd_all update.pgb t_all "$any"
script upd_true update.pgb t_native_true "$any"
script sel_owned select.pgb t_owned "$own"
script sel_native select.pgb t_native_owned "$own"
script upd_owned update.pgb t_owned "$own"
script upd_native update.pgb t_native_owned "$own"
script sel_scale select.pgb t_scale "$own"
script upd_scale update.pgb t_scale "$own"
script rd_masked masked.pgb t_masked "$own"
script rd_view masked.pgb v_masked "$own"
script rd_granted masked.pgb t_granted "$own"
script rd_unprotected masked.pgb t_unprotected "$own"
script rt_protected routine.pgb routine_protected "$any"
script rt_plain routine.pgb routine_plain "$any"
script ch_parent child.pgb p_children "$own"
script ch_native child.pgb n_children "$own"
script cit_crm select.pgb t_crm "$own"
script cit_native select.pgb t_native "$own"

# One CPU for both sides.  This machine is a shared VM: its speed changes
# from one second to the next (steal time, other clusters), so A and B are
# never run one after the other.  They run at the same time, each pgbench
# client and its backend pinned to the same CPU, and the scheduler shares that
# CPU fairly between the two: the tps ratio of one round is the ratio of what
# a transaction costs on each side, whatever the machine does meanwhile.
# (A/A rounds agree within about 1%.)  The postmaster is pinned, so every
# backend it forks from now on is too.
cpu=$(( $(nproc) - 1 ))
postmaster=$(head -1 "$(psql -X -At -c 'SHOW data_directory')/postmaster.pid")
taskset -pc "$cpu" "$postmaster" >/dev/null
for f in "$work"/citus/*/postmaster.pid; do
    [ -f "$f" ] && taskset -pc "$cpu" "$(head -1 "$f")" >/dev/null
done

# pgb OUT DB SCRIPT PROTOCOL SECONDS: one pgbench run as bench, in the background.
pgb() {
    PGPASSWORD=bench PGSSLMODE=disable taskset -c "$cpu" pgbench -n -U bench -M "$4" \
        -c "$clients" -j "$clients" -T "$5" -f "$work/$3.pgb" "$2" > "$work/$1.out" 2>&1 &
}
# tps OUT: the tps of a finished run (fails loudly if pgbench did).
tps() {
    awk '/^tps = /{print $3; found = 1} END {exit !found}' "$work/$1.out" || {
        echo "pgbench failed:" >&2; cat "$work/$1.out" >&2; exit 1; }
}
# pair DB_A SCRIPT_A DB_B SCRIPT_B PROTOCOL SECONDS ROUND: A and B at once;
# prints "tps_A tps_B".  Who starts first alternates.
pair() {
    if [ $(($7 % 2)) = 1 ]; then
        pgb a "$1" "$2" "$5" "$6"; pgb b "$3" "$4" "$5" "$6"
    else
        pgb b "$3" "$4" "$5" "$6"; pgb a "$1" "$2" "$5" "$6"
    fi
    wait || true
    echo "$(tps a) $(tps b)"
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

results="$work/results.tsv"
: > "$results"

# compare LABEL PROTOCOL GOAL DB_A SCRIPT_A DB_B SCRIPT_B
# The ratio is the median over the rounds of tps_A / tps_B.
compare() {
    local label=$1 proto=$2 goal=$3 r out ratios="" as="" bs=""
    [[ $label =~ $only ]] || return 0
    # warm-up, not counted: buffers, catalog caches, crmperm's decision cache
    pair "$4" "$5" "$6" "$7" "$proto" 1 1 >/dev/null
    for r in $(seq 1 "$rounds"); do
        out=$(pair "$4" "$5" "$6" "$7" "$proto" "$secs" "$r")
        as="$as ${out% *}"; bs="$bs ${out#* }"
        ratios="$ratios $(echo "$out" | awk '{printf "%.4f", $1 / $2}')"
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$proto" \
        "$(echo $as | tr ' ' '\n' | median)" "$(echo $bs | tr ' ' '\n' | median)" \
        "$(echo $ratios | tr ' ' '\n' | median | awk '{printf "%.3f", $1}')" "$goal" \
        "$(echo $ratios | tr ' ' '\n' | sort -g | tr '\n' ' ')" >> "$results"
    say "$(tail -1 "$results" | awk -F'\t' '{printf "%-58s %-8s %7.0f / %7.0f  %s  (goal %s)  rounds: %s", $1, $2, $3, $4, $5, $6, $7}')"
}

# Vacuum between workload groups so dead tuples left by the update rounds of
# one group do not weigh on the next (autovacuum is off on these tables).
vac() { psql_q -d "$1" -c 'VACUUM' >/dev/null; }

say "running: $rounds rounds of ${secs}s, A and B at once on CPU $cpu, $clients client(s) each"
for proto in prepared simple; do
    vac crmperm_bench
    compare "select-only: crmperm scope all / unmanaged" $proto ">= 0.99" \
        crmperm_bench sel_all crmperm_bench sel_plain
    compare "select-only: native policy true / unmanaged (reference)" $proto "~0.99" \
        crmperm_bench sel_true crmperm_bench sel_plain
    compare "select-only: crmperm owned / native owned policy" $proto ">= 1.0" \
        crmperm_bench sel_owned crmperm_bench sel_native
    vac crmperm_bench
    compare "simple-update: crmperm scope all / unmanaged" $proto ">= 0.99" \
        crmperm_bench upd_all crmperm_bench upd_plain
    vac crmperm_bench
    compare "simple-update: native policy true / unmanaged (reference)" $proto "~0.99" \
        crmperm_bench upd_true crmperm_bench upd_plain
    vac crmperm_bench
    compare "simple-update: crmperm owned / native owned policy" $proto ">= 1.0" \
        crmperm_bench upd_owned crmperm_bench upd_native
    vac crmperm_scale_small; vac crmperm_scale_large
    compare "select-only, owned: scale $principals/$tables/$depth / 1/1/1" $proto ">= 0.97" \
        crmperm_scale_large sel_scale crmperm_scale_small sel_scale
    compare "simple-update, owned: scale $principals/$tables/$depth / 1/1/1" $proto ">= 0.97" \
        crmperm_scale_large upd_scale crmperm_scale_small upd_scale
    compare "masked read: crmperm owned, 3 fields masked / masking view, native owned policy" \
        $proto ">= 1.0" crmperm_fields rd_masked crmperm_fields rd_view
    compare "unmasked read: 3 protected fields, all granted / none protected" $proto ">= 0.99" \
        crmperm_fields rd_granted crmperm_fields rd_unprotected
    compare "routine call: protected (action granted) / the same routine unprotected" $proto ">= 0.99" \
        crmperm_bench rt_protected crmperm_bench rt_plain
    compare "child read: crmperm scope parent / native EXISTS policy (100k parents, 1M children)" \
        $proto ">= 1.0" crmperm_bench ch_parent crmperm_bench ch_native
    if [ -n "$citus_db" ]; then
        compare "router select on Citus: crmperm owned / native owned policy (distributed, 100k rows)" \
            $proto ">= 0.98" "$citus_db" cit_crm "$citus_db" cit_native
    fi
done

# -------------------------------------------------------------------------
# Cold start: what loading the decision cache costs a new backend (the first
# statement that touches a managed table), small catalog vs large.  Median of
# 5 connections: first statement minus the same statement again.
# -------------------------------------------------------------------------
coldstart() {
    local db=$1 i out
    for i in 1 2 3 4 5; do
        out=$(PGPASSWORD=bench PGSSLMODE=disable psql -X -q -U bench -d "$db" <<'SQL'
\timing on
SELECT abalance FROM t_scale WHERE aid = 100;
SELECT abalance FROM t_scale WHERE aid = 100;
SQL
)
        echo "$out" | awk '/^Time:/ {t[++n] = $2} END {printf "%.2f\n", t[1] - t[2]}'
    done | median
}
cold_small=""; cold_large=""
if [[ "cold start" =~ $only ]]; then
    cold_small=$(coldstart crmperm_scale_small)
    cold_large=$(coldstart crmperm_scale_large)
    say "cold start (first statement of a new backend, extra ms): 1/1/1 $cold_small, $principals/$tables/$depth $cold_large"
fi

# -------------------------------------------------------------------------
# Report
# -------------------------------------------------------------------------
{
    echo "| workload | protocol | A tps | B tps | ratio A / B | rounds (min – max) | goal |"
    echo "| --- | --- | ---: | ---: | ---: | --- | --- |"
    awk -F'\t' '{
        ok = ""
        if ($6 ~ /^>=/) { g = $6; sub(/^>= */, "", g); ok = ($5 + 0 >= g + 0) ? " ok" : " **below**" }
        n = split($7, r, " ")
        printf "| %s | %s | %.0f | %.0f | %s | %.3f – %.3f | %s%s |\n", $1, $2, $3, $4, $5, r[1], r[n], $6, ok
    }' "$results"
    echo
    echo "Ratio: median over $rounds rounds of tps A / tps B, A and B running at the same time" \
         "(pgbench -c $clients -j $clients each, ${secs} s, both pinned to one CPU, so they share it fairly" \
         "and what a transaction costs is compared, not the machine's speed at two moments); tps are" \
         "medians and only show scale. PostgreSQL $pg_version, $(nproc) CPUs," \
         "over TCP without SSL, as the non-superuser bench. crmperm.so: $lib_at_start."
    if [ -n "$cold_small" ]; then
        echo
        echo "Cold start (a new backend's first statement on a managed table, loading the decision cache):" \
             "${cold_small} ms with 1/1/1, ${cold_large} ms with $principals/$tables/$depth (median of 5," \
             "over the same statement run again)."
    fi
    if [ -n "$cg_skipped" ]; then
        echo
        echo "Instructions per query (callgrind): $cg_skipped"
    fi
    if [ -n "$cg_rows" ] && [ -z "$cg_skipped" ]; then
        echo
        echo "Instructions per query (callgrind, single-user mode: parse, plan and execute, no network)." \
             "The select-only statement, and for the field rows the masked-read statement" \
             "(SELECT $(echo "$fcols" | sed 's/,/, /g') ... WHERE aid = ...):"
        echo
        echo "| comparison | A instr/query | B instr/query | A − B | ratio B / A | goal |"
        echo "| --- | ---: | ---: | ---: | ---: | --- |"
        printf '%s' "$cg_rows"
        echo
        echo "Where it goes (instructions per query, inclusive; the hooks call crm_decide and crm_relation;" \
             "crm_planner is the field-security planner hook around standard_planner, mask_query its" \
             "rewrite; for the field rows also the view's expansion (QueryRewrite) and the planning of" \
             "its security_barrier subquery (set_subquery_pathlist)):"
        echo
        echo "| run | functions |"
        echo "| --- | --- |"
        printf '%s' "$cg_funcs"
    fi
} > "$work/results.md"
echo
cat "$work/results.md"

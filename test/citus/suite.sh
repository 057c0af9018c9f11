#!/bin/bash
# make check-citus's suite, as the postgres user (test/citus/run.sh starts it):
# a Citus coordinator and two workers on loopback, every node with
# shared_preload_libraries = 'citus,crmperm'.  Each case runs one query as a
# principal against a local managed table (the reference: what crmperm does
# on one server) and against the same data in a Citus table, on the
# coordinator and directly on a worker: the outputs must be equal, and the
# reference must show what the case expects (rows, a mask, a denial).
# Prints "ok - ..." / "not ok - ..." per check; ends with "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
export CITUS_DIR=${CITUS_DIR:?}
. "$here/cluster.sh"
C=${CITUS_PORT:-57630}; W1=$((C + 1)); W2=$((C + 2))
pass=0; fail=0
[ -n "${KEEP:-}" ] || trap node_stop_all EXIT

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() {
    fail=$((fail + 1)); echo "not ok - $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
    return 0
}
# check DESC COND [DETAIL]
check() { if eval "$2"; then ok "$1"; else not_ok "$1" "${3:-}"; fi; }

# as PORT ROLE SQL: run SQL as ROLE (SET ROLE; or "token:NAME": log in as
# integrations and authenticate with that token in a transaction) and print
# what psql prints, without the context Citus adds to an error relayed from
# a worker.
as() {
    local port=$1 role=$2 sql=$3 pre user=postgres
    case $role in
        token:*) user=integrations
                 pre="BEGIN; SELECT crmperm.authenticate(:'tok_${role#token:}') AS principal \\gset" ;;
        postgres) pre="" ;;
        *) pre="SET ROLE $role;" ;;
    esac
    printf '%s\n%s\n' "$pre" "$sql" |
        $PGBIN/psql -X -q -h "$CITUS_DIR" -p "$port" -U $user -d crm $(token_vars) -f - 2>&1 |
        grep -v '^CONTEXT:  while executing command on'
}
token_vars() { local f; for f in "$CITUS_DIR"/token.*; do [ -f "$f" ] && echo "-v tok_${f##*/token.}=$(cat "$f")"; done; }

# same DESC ROLE EXPECT SQL: SQL names tables with @@ (leads@@): leads_local
# for the reference, leads for the Citus table.  EXPECT (a fixed string) must
# be in the reference's output.
same() {
    local desc=$1 role=$2 expect=$3 sql=$4 ref dist wdist
    ref=$(as $C "$role" "${sql//@@/_local}" | sed 's/_local//g')
    dist=$(as $C "$role" "${sql//@@/}" | sed 's/_local//g')
    wdist=$(as $W1 "$role" "${sql//@@/}" | sed 's/_local//g')
    if ! grep -qF -- "$expect" <<<"$ref"; then
        not_ok "$desc: the reference shows \"$expect\"" "$ref"
        return
    fi
    check "$desc (coordinator)" '[ "$dist" = "$ref" ]' "$(diff <(echo "$ref") <(echo "$dist"))"
    check "$desc (worker, directly)" '[ "$wdist" = "$ref" ]' "$(diff <(echo "$ref") <(echo "$wdist"))"
}

# ---- the cluster ----
mkdir -p "$CITUS_DIR"
node_start coord $C && node_start w1 $W1 && node_start w2 $W2 || { echo "0 passed, 1 failed"; exit 1; }
for p in $C $W1 $W2; do
    $PGBIN/createdb -h "$CITUS_DIR" -p $p -U postgres crm && q $p -c "CREATE EXTENSION citus" ||
        { echo "0 passed, 1 failed"; exit 1; }
done
q $C >/dev/null <<SQL || { echo "0 passed, 1 failed"; exit 1; }
SELECT citus_set_coordinator_host('localhost', $C);
SELECT citus_set_node_property('localhost', $C, 'shouldhaveshards', true);
SELECT citus_add_node('localhost', $W1);
SQL
. "$here/cases.sh"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

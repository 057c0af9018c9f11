#!/bin/bash
# test/sqlsmith.sh [WORKDIR]: random queries must never show a protected field.
#
# Called by test/suites.sh inside pg_virtualenv (PGHOST, PGPORT, PGUSER and
# PGPASSWORD of a superuser set); runs against any cluster with
# shared_preload_libraries = crmperm and the extension installed.
#
# Database crmperm_smith: two managed tables whose protected fields hold
# sentinel values (ZQXSENTINEL..., 913377.77, 771177.11; masks null, redact,
# hash, email, partial, on text, numeric, text[] and jsonb) next to
# unprotected columns.  Two governed LOGIN roles, each reading (and writing)
# every row:
#   smith_reader  no field grant: every protected value is hidden
#   smith_scoped  {read} with scope owned (user u1) on every field: the rows of
#                 u1 hold its own values (ZQXOWN...), the sentinels are all on
#                 rows of u2, outside its scope
# For each role, sqlsmith (connected as that role, so it sees what the role
# sees) generates a bounded number of queries (--dry-run); psql then runs each
# of them as the role, in a transaction that is rolled back, with a short
# statement_timeout, and everything psql prints (rows, errors, details,
# contexts) is searched for the sentinels and for their md5 / sha256.
# Queries that cast to a pseudo-type (about half of what sqlsmith 1.4 makes
# on PostgreSQL 15; they cannot run) are skipped.
#
# Fails on: a sentinel in any output; a server crash (a superuser "sentry"
# session must survive the run); an internal error (XX...) that a third role,
# smith_admin (a crmperm super admin: same hooks, nothing masked, no
# superuser rights), does not get on the same query; a control query that
# does not behave (the superuser must see the sentinels, each role its masks
# or its own values); sqlsmith not generating the queries.
#
# Prints per role: queries generated / skipped / ran / succeeded / returned
# rows / referenced a managed table / printed masks or own values / refused by
# crmperm's masking backstop / leaks, and the commonest SQLSTATEs.
#
# Knobs: SMITH_QUERIES (generated per role, default 3000), SMITH_TIMEOUT_MS
# (default 300), SMITH_BUDGET (seconds of execution per role, default 25),
# SMITH_KEEP=1 keeps the database.  Outputs under WORKDIR/sqlsmith.
set -u
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d /tmp/crmperm-smith.XXXXXX)}
out="$work/sqlsmith"
rm -rf "$out"
mkdir -p "$out"
db=crmperm_smith
nq=${SMITH_QUERIES:-3000}
timeout_ms=${SMITH_TIMEOUT_MS:-300}
budget=${SMITH_BUDGET:-25}
pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
failed=0

fail() { echo "sqlsmith: FAIL: $*"; failed=1; }

command -v sqlsmith >/dev/null || { echo "sqlsmith: FAIL: sqlsmith is not installed"; exit 1; }

su_psql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# ---------------------------------------------------------------------------
# Fixture
# ---------------------------------------------------------------------------

su_psql -d postgres >"$out/setup.log" 2>&1 <<SQL || { cat "$out/setup.log"; echo "sqlsmith: FAIL: setup"; exit 1; }
DROP DATABASE IF EXISTS $db WITH (FORCE);
DROP ROLE IF EXISTS smith_reader;
DROP ROLE IF EXISTS smith_scoped;
DROP ROLE IF EXISTS smith_admin;
CREATE ROLE smith_reader LOGIN PASSWORD '$pw';
CREATE ROLE smith_scoped LOGIN PASSWORD '$pw';
CREATE ROLE smith_admin LOGIN PASSWORD '$pw';
CREATE DATABASE $db;
SQL

su_psql -d $db >>"$out/setup.log" 2>&1 <<'SQL' || { cat "$out/setup.log"; echo "sqlsmith: FAIL: setup"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION crmperm;

CREATE TABLE smith_accounts (
    id            int PRIMARY KEY,
    owner_id      text NOT NULL,
    name          text,
    region        text,
    employees     int,
    created       date,
    secret_note   text,            -- mask null
    revenue       numeric(12, 2),  -- mask redact
    tax_id        text,            -- mask hash
    contact_email text,            -- mask email
    phone         text             -- mask partial
);
CREATE TABLE smith_deals (
    id          int PRIMARY KEY,
    account_id  int REFERENCES smith_accounts,
    owner_id    text NOT NULL,
    title       text,
    stage       text,
    probability int,
    closes      date,
    amount      numeric(12, 2),    -- mask null
    memo        text,              -- mask redact
    tags        text[],            -- mask redact
    meta        jsonb              -- mask redact
);

-- Odd ids belong to u1 (values ZQXOWN...: smith_scoped's own), even ids to
-- u2 (the sentinels).  Unprotected columns are NULL now and then: sqlsmith
-- likes "x IS NULL".
INSERT INTO smith_accounts
SELECT g, CASE WHEN g % 2 = 1 THEN 'u1' ELSE 'u2' END, 'account ' || g,
       (ARRAY['eu', 'us', 'apac', NULL])[1 + g % 4], NULLIF(g * 10 % 70, 0),
       CASE WHEN g % 5 <> 0 THEN DATE '2020-01-01' + g END,
       CASE WHEN g % 2 = 1 THEN 'ZQXOWN-note-' || g ELSE 'ZQXSENTINEL1-' || g END,
       CASE WHEN g % 2 = 1 THEN 13.37 ELSE 913377.77 END,
       CASE WHEN g % 2 = 1 THEN 'ZQXOWN-tax-' || g ELSE 'ZQXSENTINEL3-' || g END,
       CASE WHEN g % 2 = 1 THEN 'zqxown' || g || '@example.com'
            ELSE 'zqxsentinel4.' || g || '@example.org' END,
       CASE WHEN g % 2 = 1 THEN 'ZQXOWN-phone-' || g || '-1111'
            ELSE 'ZQXSENTINEL5-' || g || '-0000' END
  FROM generate_series(1, 400) g;
INSERT INTO smith_deals
SELECT g, NULLIF(g % 401, 0), CASE WHEN g % 2 = 1 THEN 'u1' ELSE 'u2' END,
       CASE WHEN g % 7 <> 0 THEN 'deal ' || g END,
       (ARRAY['open', 'won', 'lost', NULL])[1 + g % 4], NULLIF(g * 7 % 100, 0),
       CASE WHEN g % 3 <> 0 THEN DATE '2021-06-01' + g END,
       CASE WHEN g % 2 = 1 THEN 24.24 ELSE 771177.11 END,
       CASE WHEN g % 2 = 1 THEN 'ZQXOWN-memo-' || g ELSE 'ZQXSENTINEL6-' || g END,
       CASE WHEN g % 2 = 1 THEN ARRAY['ZQXOWN-tag', 'a'] ELSE ARRAY['ZQXSENTINEL7-' || g, 'b'] END,
       CASE WHEN g % 2 = 1 THEN jsonb_build_object('k', 'ZQXOWN-meta', 'n', g)
            ELSE jsonb_build_object('k', 'ZQXSENTINEL8-' || g, 'n', 913377.77) END
  FROM generate_series(1, 800) g;

GRANT SELECT, INSERT, UPDATE, DELETE ON smith_accounts, smith_deals
   TO smith_reader, smith_scoped, smith_admin;

SELECT crmperm.manage_table('smith_accounts', 'accounts', owner_column => 'owner_id');
SELECT crmperm.manage_table('smith_deals', 'deals', owner_column => 'owner_id');
SELECT crmperm.protect_field('accounts', 'secret_note');
SELECT crmperm.protect_field('accounts', 'revenue', 'redact');
SELECT crmperm.protect_field('accounts', 'tax_id', 'hash');
SELECT crmperm.protect_field('accounts', 'contact_email', 'email');
SELECT crmperm.protect_field('accounts', 'phone', 'partial');
SELECT crmperm.protect_field('deals', 'amount');
SELECT crmperm.protect_field('deals', 'memo', 'redact');
SELECT crmperm.protect_field('deals', 'tags', 'redact');
SELECT crmperm.protect_field('deals', 'meta', 'redact');

-- Rows: everything, on every row.  Fields: nothing (reader), own rows (scoped).
SELECT crmperm.create_permission_set('smith rows');
SELECT crmperm.grant('smith rows', r, ARRAY['read', 'create', 'update', 'delete'])
  FROM unnest(ARRAY['accounts', 'deals']) r;
SELECT crmperm.create_permission_set('smith own fields');
SELECT crmperm.grant_field('smith own fields', f.resource, f.field, ARRAY['read'], 'owned')
  FROM (VALUES ('accounts', 'secret_note'), ('accounts', 'revenue'), ('accounts', 'tax_id'),
               ('accounts', 'contact_email'), ('accounts', 'phone'), ('deals', 'amount'),
               ('deals', 'memo'), ('deals', 'tags'), ('deals', 'meta')) f(resource, field);
SELECT crmperm.assign_permission_set('smith_reader', 'smith rows');
SELECT crmperm.assign_permission_set('smith_scoped', 'smith rows');
SELECT crmperm.assign_permission_set('smith_scoped', 'smith own fields');
SELECT crmperm.set_principal('smith_reader', user_id => 'u1');
SELECT crmperm.set_principal('smith_scoped', user_id => 'u1');
-- The reference for internal errors: a super admin (nothing masked, but
-- not a superuser either: the admin functions sqlsmith calls stay denied).
SELECT crmperm.set_super_admin('smith_admin', true);
ANALYZE smith_accounts, smith_deals;
SQL

# What must never appear (grep -i -F): the sentinels, reversed, their numbers
# (with the decimals: random() prints any six digits now and then), and the
# md5 / sha256 of every protected text value.  $out/own.pat: the
# same for the u1 rows (hidden from smith_reader, smith_scoped's own).
pattern_sql() {
    cat <<SQL
SELECT DISTINCT p FROM (
    SELECT unnest(ARRAY[v, md5(v), encode(sha256(convert_to(v, 'UTF8')), 'hex')]) p
      FROM (SELECT unnest(ARRAY[secret_note, tax_id, contact_email, phone]) v
              FROM smith_accounts WHERE owner_id = '$1'
            UNION ALL
            SELECT unnest(ARRAY[memo, meta->>'k']) FROM smith_deals WHERE owner_id = '$1'
            UNION ALL
            SELECT unnest(tags) FROM smith_deals WHERE owner_id = '$1') s
     WHERE v NOT IN ('a', 'b')) s;
SQL
}
{ printf '%s\n' sentinel lenitnes 913377.77 771177.11
  pattern_sql u2 | su_psql -A -t -d $db; } > "$out/sentinel.pat" || fail "could not list the sentinels"
{ printf '%s\n' zqxown nwoxqz
  pattern_sql u1 | su_psql -A -t -d $db; } > "$out/own.pat" || fail "could not list the own values"

# Sentry: a superuser session that lives as long as the server does; if it
# dies, the server crashed (and restarted) under the queries.
sentry_name="crmperm_smith_sentry_$$"
PGAPPNAME=$sentry_name psql -X -q -d postgres -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
sentry=$!
sleep 0.5
stop_sentry() {
    su_psql -d postgres -A -t -c \
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$sentry_name'" \
        >/dev/null 2>&1
    wait "$sentry" 2>/dev/null
}
trap stop_sentry EXIT
kill -0 "$sentry" 2>/dev/null || fail "the sentry session did not start"

connstr() {
    printf 'dbname=%s user=%s password=%s' "$db" "$1" "$pw"
    [ -n "${PGHOST:-}" ] && printf ' host=%s' "$PGHOST"
    [ -n "${PGPORT:-}" ] && printf ' port=%s' "$PGPORT"
}

# role_psql ROLE ARGS...: psql as the governed role
role_psql() {
    local role=$1
    shift
    PGUSER=$role PGPASSWORD=$pw PGAPPNAME=crmperm_smith psql -X -q -A -t -d $db "$@"
}

# ---------------------------------------------------------------------------
# Controls: the grep finds the sentinels where they are shown (superuser),
# and each role sees its masks / own values.
# ---------------------------------------------------------------------------

control_sql='SELECT id, secret_note, revenue, tax_id, contact_email, phone FROM smith_accounts ORDER BY id;
SELECT id, amount, memo, tags, meta FROM smith_deals ORDER BY id;'

echo "$control_sql" | su_psql -A -t -d $db > "$out/control.superuser" 2>&1
[ "$(grep -i -c -F -f "$out/sentinel.pat" "$out/control.superuser")" -ge 10 ] &&
    grep -q -i -F -f "$out/own.pat" "$out/control.superuser" ||
    fail "control: the superuser's output does not show the sentinels (the search would miss a leak)"

echo "$control_sql" | role_psql smith_reader > "$out/control.smith_reader" 2>&1
if grep -q -i -F -f "$out/sentinel.pat" -f "$out/own.pat" "$out/control.smith_reader"; then
    fail "control: smith_reader sees protected values: $(grep -i -F -f "$out/sentinel.pat" -f "$out/own.pat" "$out/control.smith_reader" | head -3)"
fi
grep -q -F '|****@example.org|****0000' "$out/control.smith_reader" ||
    fail "control: smith_reader does not see the masks: $(head -3 "$out/control.smith_reader")"

echo "$control_sql" | role_psql smith_scoped > "$out/control.smith_scoped" 2>&1
if grep -q -i -F -f "$out/sentinel.pat" "$out/control.smith_scoped"; then
    fail "control: smith_scoped sees values outside its scope: $(grep -i -F -f "$out/sentinel.pat" "$out/control.smith_scoped" | head -3)"
fi
grep -q -F '|ZQXOWN-note-1|13.37|' "$out/control.smith_scoped" ||
    fail "control: smith_scoped does not see its own values: $(head -3 "$out/control.smith_scoped")"

# ---------------------------------------------------------------------------
# The fuzz
# ---------------------------------------------------------------------------

total_q=0; total_ran=0; total_leaks=0

# which_queries FILE PATTERNFILE...: the numbers of the queries (@@Q n
# markers) under which a line matches
which_queries() {
    local file=$1
    shift
    local pats=()
    for p in "$@"; do pats+=(-f "$p"); done
    grep -n -i -F "${pats[@]}" "$file" | cut -d: -f1 |
        awk 'NR == FNR { want[$1] = 1; next } /^@@Q / { q = $2 } (FNR in want) && q != "" { print q }' \
            - "$file" | sort -un
}

# run_role ROLE SEED SHOWS LABEL PATTERNFILE...: fuzz as ROLE; no line may
# match the pattern files; SHOWS (a string) is what it may see (counted)
run_role() {
    local role=$1 seed=$2 shows=$3 label=$4
    shift 4
    local pats=("$@")              # pattern files that must not match
    local d="$out/$role"
    mkdir -p "$d"

    sqlsmith --target="$(connstr "$role")" --max-queries="$nq" --seed="$seed" \
        --dry-run --exclude-catalog > "$d/queries.sql" 2> "$d/sqlsmith.log"
    local generated
    generated=$(grep -c ';[[:space:]]*$' "$d/queries.sql")
    if [ "$generated" -lt "$nq" ]; then
        fail "$role: sqlsmith generated $generated of $nq queries: $(tail -3 "$d/sqlsmith.log")"
    fi

    # One block per query: markers on stdout (\echo) and stderr (\warn), a
    # transaction that is rolled back, the SQLSTATE of the query.  Queries
    # that cast to a pseudo-type (sqlsmith 1.4 on PostgreSQL 15: "cast(null
    # as anyrange)" and the like, about half of them) cannot run: skipped.
    awk -v t="$timeout_ms" -v refs="$d/refs" -v skipped="$d/skipped" '
        { q = q $0 "\n" }
        /;[ \t]*$/ {
            n++
            if (q ~ /as (anyrange|anymultirange|anyenum|anyarray|anyelement|anynonarray|anycompatible[a-z]*)\)/) {
                print n > skipped
                q = ""
                next
            }
            print "\\echo @@Q " n
            print "\\warn @@Q " n
            print "BEGIN;"
            print "SET LOCAL statement_timeout = " t ";"
            printf "%s", q
            print "\\echo @@R " n " :SQLSTATE"
            print "ROLLBACK;"
            # a statement timeout that fired as the query ended cancels the
            # ROLLBACK: roll back again
            print "\\if :ERROR"
            print "ROLLBACK;"
            print "\\endif"
            if (q ~ /smith_accounts|smith_deals/) print n > refs
            q = ""
        }' "$d/queries.sql" > "$d/run.sql"
    touch "$d/refs" "$d/skipped"
    local skipped torun
    skipped=$(wc -l < "$d/skipped")
    torun=$(grep -c '^\\echo @@Q ' "$d/run.sql")
    : > "$d/stdout"; : > "$d/stderr"

    # Run; if the session is lost (a query ended it), go on after that query.
    local after=0 last rc lost=0 start=$SECONDS remaining
    while :; do
        remaining=$((budget - (SECONDS - start)))
        [ "$remaining" -gt 0 ] || { echo "sqlsmith: $role: time budget (${budget}s) reached"; break; }
        { printf '\\set ON_ERROR_STOP off\n\\set VERBOSITY verbose\n\\set SHOW_CONTEXT always\n'
          awk -v after="$after" '/^\\echo @@Q /{ if ($3 > after) p = 1 } p' "$d/run.sql"; } |
            timeout "$remaining" env PGUSER="$role" PGPASSWORD="$pw" PGAPPNAME=crmperm_smith \
                psql -X -q -A -t -d $db >> "$d/stdout" 2>> "$d/stderr"
        rc=$?
        [ "$rc" -eq 0 ] && break
        [ "$rc" -eq 124 ] && { echo "sqlsmith: $role: time budget (${budget}s) reached"; break; }
        # the query that was running: the last one started
        last=$(grep -o '^@@Q [0-9]*' "$d/stdout" | tail -1 | cut -d' ' -f2)
        [ -n "$last" ] && [ "$last" -gt "$after" ] || { fail "$role: psql failed (exit $rc): $(tail -3 "$d/stderr")"; break; }
        lost=$((lost + 1))
        echo "sqlsmith: $role: session lost at query $last (psql exit $rc): $(grep -v '^@@' "$d/stderr" | tail -2 | tr '\n' ' ')"
        after=$last
        [ "$lost" -ge 10 ] && { fail "$role: session lost $lost times"; break; }
    done

    local ran ok withrows refs refrows leaks nomask shown
    ran=$(grep -c '^@@R ' "$d/stdout")
    ok=$(grep -c '^@@R [0-9]* 00000$' "$d/stdout")
    grep -o '^@@R [0-9]* [0-9A-Z]*$' "$d/stdout" | awk '{print $3}' | sort | uniq -c |
        sort -rn > "$d/sqlstates"
    # queries that printed at least one row
    awk '/^@@Q /{n=$2; rows=0; next} /^@@R /{if (rows) print n; next} {rows=1}' "$d/stdout" |
        sort > "$d/withrows"
    withrows=$(wc -l < "$d/withrows")
    refs=$(sort -u "$d/refs" | wc -l)
    refrows=$(sort -u "$d/refs" | comm -12 - "$d/withrows" | wc -l)
    nomask=$(grep -c 'crmperm could not mask' "$d/stderr")

    { which_queries "$d/stdout" "${pats[@]}"; which_queries "$d/stderr" "${pats[@]}"; } |
        sort -un > "$d/leaks"
    leaks=$(wc -l < "$d/leaks")
    # and what it may see did show up: masks, or its own values
    printf '%s\n' "$shows" > "$d/shows.pat"
    shown=$(which_queries "$d/stdout" "$d/shows.pat" | wc -l)
    if [ "$leaks" -gt 0 ]; then
        fail "$role: $leaks queries showed protected values (queries: $(head -20 "$d/leaks" | tr '\n' ' '))"
        local pargs=()
        for p in "${pats[@]}"; do pargs+=(-f "$p"); done
        grep -h -i -F "${pargs[@]}" "$d/stdout" "$d/stderr" | head -5 | sed 's/^/    /'
        echo "    first leaking query ($d/queries.sql, query $(head -1 "$d/leaks")):"
        awk -v want="$(head -1 "$d/leaks")" '{ q = q $0 "\n" } /;[ \t]*$/ { if (++n == want) { printf "%s", q; exit } q = "" }' \
            "$d/queries.sql" | head -40 | sed 's/^/    /'
    fi
    # Internal errors (XX...): PostgreSQL has its own on sqlsmith's queries
    # ("failed to find conversion function from unknown to text"); one that
    # smith_admin (same hooks, nothing masked) does not get is crmperm's.
    # A query may draw other rows each time (TABLESAMPLE, random()), and
    # PostgreSQL's own errors on some values are XX000 ("invalid INTERVAL
    # typmod"): it counts only when the role gets it again, three times out
    # of three, and smith_admin never in three tries.
    local xq xstate xmine crm_internal=0
    rerun() { # ROLE FILE: the SQLSTATE of one run
        { echo "BEGIN; SET LOCAL statement_timeout = $timeout_ms;"
          cat "$2"
          echo '\echo @@R :SQLSTATE'
          echo 'ROLLBACK;'; } |
            role_psql "$1" 2>/dev/null | grep '^@@R ' | cut -d' ' -f2
    }
    for xq in $(grep '^@@R [0-9]* XX' "$d/stdout" | cut -d' ' -f2); do
        awk -v want="$xq" '{ q = q $0 "\n" } /;[ \t]*$/ { if (++n == want) { printf "%s", q; exit } q = "" }' \
            "$d/queries.sql" > "$d/internal.$xq.sql"
        xstate=""; xmine=""
        for try in 1 2 3; do
            xstate="$xstate $(rerun smith_admin "$d/internal.$xq.sql")"
            xmine="$xmine $(rerun "$role" "$d/internal.$xq.sql")"
        done
        echo "sqlsmith: $role: query $xq: internal error: $(grep -A2 "^@@Q $xq\$" "$d/stderr" |
             grep -m1 'ERROR:' | sed 's/^psql:[^ ]* //'); again as $role:$xmine; as smith_admin:$xstate"
        if ! echo "$xstate" | grep -q XX && [ "$(echo "$xmine" | grep -o XX | wc -l)" = 3 ]; then
            crm_internal=$((crm_internal + 1))
        fi
    done
    [ "$crm_internal" -gt 0 ] &&
        fail "$role: $crm_internal queries failed with an internal error that smith_admin does not get ($d/internal.*.sql)"
    echo "sqlsmith: $role: $generated queries, $skipped skipped (pseudo-types), $ran of $torun ran," \
         "$ok succeeded, $withrows returned rows; $refs referenced a managed table ($refrows of" \
         "them returned rows), $shown printed $label; $nomask refused by the masking backstop; $leaks leaks"
    echo "    SQLSTATEs: $(head -8 "$d/sqlstates" | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//')"
    total_q=$((total_q + generated)); total_ran=$((total_ran + ran)); total_leaks=$((total_leaks + leaks))
}

run_role smith_reader 42 '****' 'masks' "$out/sentinel.pat" "$out/own.pat"
run_role smith_scoped 43 'ZQXOWN' 'its own values' "$out/sentinel.pat"

if kill -0 "$sentry" 2>/dev/null; then
    stop_sentry
    trap - EXIT
else
    fail "the server crashed (the sentry session died): see the server log"
fi
psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1 || fail "the server does not answer after the run"

echo "sqlsmith: $total_q queries, $total_ran ran, $total_leaks leaks"
if [ "$failed" -eq 0 ] && [ "${SMITH_KEEP:-0}" != 1 ]; then
    su_psql -d postgres -c "DROP DATABASE $db WITH (FORCE)" -c "DROP ROLE smith_reader" \
        -c "DROP ROLE smith_scoped" -c "DROP ROLE smith_admin" >/dev/null 2>&1
fi
exit $failed

#!/bin/bash
# make test: install what is missing, build, install, then run every suite
# against throwaway clusters with shared_preload_libraries = crmperm:
#   harness    (test/harness-selftest.sh) this script, on a tiny fixture
#   pg_regress (sql/, expected/)          exact outputs and messages
#   isolation  (test/isolation/)          concurrency
#   pgTAP      (test/pgtap/)              permission matrices, via pg_prove
#   sqlsmith   (test/sqlsmith.sh)         random queries as masked principals: no hidden value
#   README     (test/readme.sh)           the README's tour, run as written
#   TAP        (test/t/)                  multi-node: restart, dump/restore, drivers, ...
#
# test/run.sh [SUITE...] runs only the named suites (selftest regress
# isolation pgtap sqlsmith readme tap); make test-readme is test/run.sh readme.
#
# Works as root from a checkout anywhere, a mode-700 home directory included:
# the suites run as the postgres user, from a copy of the tree in one private
# work directory (mktemp under $TMPDIR or /tmp, mode 755, owned by postgres)
# that a trap removes on every exit (pass, fail, Ctrl-C).  On failure, what a
# developer needs (diffs, outputs, server logs) is first copied to
# test/output/ in the checkout.
#
# Counts one result per suite FILE: each sql/*.sql regress file, isolation
# spec, test/pgtap/*.sql, test/t/*.pl, sqlsmith, the README tour, the
# harness self-test.  A file that produced no result is a failure ("fail NAME
# (did not run)").  Ends with "N passed, N failed"; exits non-zero on any
# failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

all="selftest regress isolation pgtap sqlsmith readme tap"
suites=${*:-$all}
for s in $suites; do
    case " $all " in *" $s "*) ;; *) echo "unknown suite: $s (suites: $all)" >&2; exit 2 ;; esac
done
want() { case " $suites " in *" $1 "*) return 0 ;; esac; return 1; }

test/deps.sh || exit 1
. test/pgversion.sh
echo "== PostgreSQL $PGMAJOR ($($PGBIN/postgres --version))"
make -s PG_CONFIG=$PGBIN/pg_config >/dev/null && make -s PG_CONFIG=$PGBIN/pg_config install >/dev/null ||
    { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

out="$top/test/output"
rm -rf "$out"

work=$(mktemp -d "${TMPDIR:-/tmp}/crmperm-test.XXXXXX") || { echo "0 passed, 1 failed"; exit 1; }
# On every exit.  An interrupted run (Ctrl-C, kill) can leave processes
# behind: su runs its command in a new session, which the terminal's SIGINT
# does not reach, and su gives it only seconds before SIGKILL, so
# pg_virtualenv may not drop its cluster.  Stop whatever runs from the work
# directory (found by its path, which is ours alone): the suites, then the
# servers they started (immediate shutdown); then remove it.
cleanup() {
    trap - EXIT INT TERM HUP
    local pids f i alive
    pids=$(grep -lsF "$work" /proc/[0-9]*/cmdline | cut -d/ -f3 | grep -vx "$$")
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    for f in $(find "$work" -name postmaster.pid 2>/dev/null); do
        i=$(head -1 "$f" 2>/dev/null)
        [ -n "$i" ] && kill -QUIT "$i" 2>/dev/null && pids="$pids $i"
    done
    for i in $(seq 100); do
        alive=""
        for f in $pids; do kill -0 "$f" 2>/dev/null && alive="$alive $f"; done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    [ -n "$alive" ] && kill -KILL $alive 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'printf "\ninterrupted\n"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM HUP
chmod 755 "$work"
tally="$work/tally"
: > "$tally"

# The copy: the working tree (uncommitted files included) without build
# output, earlier results or version control.
mkdir "$work/tree"
tar -C "$top" --exclude=./.git --exclude=./test/output --exclude=./tmp_check \
    --exclude=./results --exclude=./log --exclude='*.o' --exclude='*.bc' --exclude='*.so' \
    -cf - . | tar -C "$work/tree" -xf -
chown -R postgres: "$work"
tree="$work/tree"
if ! su postgres -s /bin/bash -c "test -r '$tree/Makefile' -a -w '$work'"; then
    echo "the postgres user cannot use $work: set TMPDIR to a directory it can enter"
    echo "0 passed, 1 failed"
    exit 1
fi

# as_postgres CMD: run CMD (a shell string) as postgres in the copy, with
# every temporary file of its own (pg_virtualenv, TAP) inside $work
# (In the background, then wait: a trapped SIGINT -- Ctrl-C -- interrupts
# the wait builtin at once, whereas bash waiting on a foreground su would
# carry on if su survives it; the EXIT trap then stops what runs.)
as_postgres() {
    (cd "$tree" && su postgres -s /bin/bash -c "cd '$tree' && export TMPDIR='$work' CRMPERM_PG=$PGMAJOR && $1") &
    wait $!
}

# The files each suite must report on, one name per line.
{
    if want selftest && [ -f "$tree/test/harness-selftest.sh" ]; then echo harness-selftest; fi
    if want regress; then
        regress_tests "$tree" | sed 's|^|regress/|'
    fi
    if want isolation; then
        ls "$tree"/test/isolation/specs/*.spec 2>/dev/null | xargs -rn1 basename | sed 's/\.spec$//; s|^|isolation/|'
    fi
    if want pgtap; then (cd "$tree" && ls test/pgtap/*.sql 2>/dev/null); fi
    if want sqlsmith && [ -f "$tree/test/sqlsmith.sh" ]; then echo sqlsmith; fi
    if want readme && [ -f "$tree/test/readme.sh" ]; then echo readme; fi
    if want tap; then (cd "$tree" && ls test/t/*.pl 2>/dev/null); fi
} > "$work/expected"

# The harness itself, first: as root, from a mode-700 directory.
if grep -qx harness-selftest "$work/expected"; then
    echo "== harness self-test (test/harness-selftest.sh)"
    if TMPDIR="$work" "$tree/test/harness-selftest.sh" > "$work/selftest.out" 2>&1; then
        echo "pass harness-selftest" >> "$tally"
    else
        echo "fail harness-selftest" >> "$tally"
    fi
    cat "$work/selftest.out"
fi

# Suites that share one cluster, run inside pg_virtualenv as postgres (so the
# throwaway cluster lives in a private directory, whoever else runs one).
cluster_suites=""
for s in regress isolation pgtap sqlsmith; do want $s && cluster_suites="$cluster_suites $s"; done
if [ -n "$cluster_suites" ]; then
    as_postgres "pg_virtualenv -v $PGMAJOR -o shared_preload_libraries=crmperm \
        -- test/suites.sh '$work' '$tally' $cluster_suites" || echo "fail pg_virtualenv" >> "$tally"
fi

# The README tour, in a cluster of its own (it creates roles such as alice).
if grep -qx readme "$work/expected"; then
    echo "== README tour (test/readme.sh)"
    if as_postgres "pg_virtualenv -v $PGMAJOR -o shared_preload_libraries=crmperm -- test/readme.sh '$work/readme'"; then
        echo "pass readme" >> "$tally"
    else
        echo "fail readme" >> "$tally"
    fi
fi

# TAP tests start their own clusters and must not run as root; one prove per
# file, so that each file has its result whatever its output looks like.
if grep -q '^test/t/' "$work/expected"; then
    echo "== TAP (test/t)"
    for t in $(grep '^test/t/' "$work/expected"); do
        as_postgres "PATH=/usr/lib/postgresql/$PGMAJOR/bin:\$PATH \
            PG_REGRESS=/usr/lib/postgresql/$PGMAJOR/lib/pgxs/src/test/regress/pg_regress \
            TESTDIR='$tree' prove -I /usr/lib/postgresql/$PGMAJOR/lib/pgxs/src/test/perl '$t'" 2>&1 |
            tee -a "$work/tap.out"
        if [ "${PIPESTATUS[0]}" -eq 0 ]; then
            echo "pass $t" >> "$tally"
        else
            echo "fail $t" >> "$tally"
        fi
    done
fi

# A file without a result line did not run: pg_regress stopped early (a
# missing expected file), a suite crashed, pg_virtualenv failed...
while read -r name; do
    grep -qE "^(pass|fail) $name( |\$)" "$tally" || echo "fail $name (did not run)" >> "$tally"
done < "$work/expected"

passed=$(grep -c '^pass' "$tally")
failed=$(grep -c '^fail' "$tally")
if [ "$failed" -gt 0 ]; then
    # keep what a developer needs, then show the start of it
    mkdir -p "$out"
    cp "$tally" "$out/tally"
    for f in selftest.out regress.out isolation.out pgtap.out sqlsmith.out tap.out; do
        [ -f "$work/$f" ] && cp "$work/$f" "$out/"
    done
    [ -f "$work/results/regression.diffs" ] && cp "$work/results/regression.diffs" "$out/regression.diffs"
    [ -d "$work/results/results" ] && cp -r "$work/results/results" "$out/regress-results"
    [ -f "$work/isolation/regression.diffs" ] && cp "$work/isolation/regression.diffs" "$out/isolation.diffs"
    [ -d "$work/isolation/results" ] && cp -r "$work/isolation/results" "$out/isolation-results"
    [ -d "$work/sqlsmith" ] && cp -r "$work/sqlsmith" "$out/sqlsmith"
    [ -d "$work/readme" ] && cp -r "$work/readme" "$out/readme"
    [ -d "$tree/tmp_check/log" ] && cp -r "$tree/tmp_check/log" "$out/tap-log"
    chown -R --reference="$top" "$out" 2>/dev/null

    echo "failed:"; grep '^fail' "$tally" | sed 's/^fail /  /'
    for f in regression.diffs isolation.diffs readme/tour.diff; do
        [ -s "$out/$f" ] && { echo "--- test/output/$f"; head -100 "$out/$f"; }
    done
    for t in $(sed -n 's|^fail test/t/\([^ ]*\)\.pl.*|\1|p' "$tally"); do
        f="$out/tap-log/regress_log_$t"
        [ -f "$f" ] && { echo "--- test/output/tap-log/regress_log_$t (last lines)"; tail -30 "$f"; }
    done
    echo "(outputs, diffs and logs: test/output/)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/bash
# make test: install what is missing, build, install, then run every suite
# against throwaway clusters with shared_preload_libraries = crmperm:
#   pg_regress (sql/, expected/)      exact outputs and messages
#   isolation  (test/isolation/)      concurrency
#   pgTAP      (test/pgtap/)          permission matrices, via pg_prove
#   sqlsmith   (test/sqlsmith.sh)     random queries as masked principals: no hidden value
#   TAP        (test/t/)              multi-node: restart, dump/restore, ...
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

test/deps.sh || exit 1
make -s >/dev/null && make -s install >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d /tmp/crmperm-test.XXXXXX)
chmod 755 "$work"
tally="$work/tally"
: > "$tally"
chown postgres "$work" "$tally"

# Suites that share one cluster, run inside pg_virtualenv as postgres (so the
# throwaway cluster lives in a private directory, whoever else runs one).
su postgres -s /bin/bash -c "pg_virtualenv -v 15 -o shared_preload_libraries=crmperm \
    -- '$top/test/suites.sh' '$work' '$tally'" || echo "fail pg_virtualenv" >> "$tally"

# Every regress file and isolation spec must have produced a result line: a
# missing expected file or a crashed harness stops pg_regress early.
want=$(ls sql/*.sql | grep -vc 'crmperm--')
got=$(grep -c ' regress/' "$tally")
[ "$got" -ge "$want" ] || echo "fail regress/only-$got-of-$want-tests-ran" >> "$tally"
want=$(ls test/isolation/specs/*.spec 2>/dev/null | wc -l)
got=$(grep -c ' isolation/' "$tally")
[ "$got" -ge "$want" ] || echo "fail isolation/only-$got-of-$want-specs-ran" >> "$tally"

# TAP tests start their own clusters and must not run as root.
if ls test/t/*.pl >/dev/null 2>&1; then
    cp -r "$top" "$work/tree"
    chown -R postgres "$work/tree"
    echo "== TAP (test/t)"
    su postgres -s /bin/bash -c "cd '$work/tree' && PATH=/usr/lib/postgresql/15/bin:\$PATH \
        PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
        TESTDIR='$work/tree' prove -I /usr/lib/postgresql/15/lib/pgxs/src/test/perl test/t/*.pl" \
        > "$work/tap.out" 2>&1
    cat "$work/tap.out"
    grep -E '^test/t/.*\.pl \.+ ' "$work/tap.out" | while read -r line; do
        case "$line" in
            *" ok") echo "pass ${line%% *}" >> "$tally" ;;
            *) echo "fail ${line%% *}" >> "$tally" ;;
        esac
    done
    # a crash before any test line counts as a failure
    grep -qE '^test/t/' "$work/tap.out" || echo "fail tap" >> "$tally"
    for f in "$work"/tree/tmp_check/log/*.log; do
        [ -f "$f" ] || continue
        grep -q "not ok" "$work/tap.out" && { echo "--- $f"; tail -40 "$f"; }
    done
fi

passed=$(grep -c '^pass' "$tally")
failed=$(grep -c '^fail' "$tally")
if [ "$failed" -gt 0 ]; then
    echo "failed:"; grep '^fail' "$tally" | sed 's/^fail /  /'
    for d in "$work"/results "$work"/isolation; do
        [ -f "$d/regression.diffs" ] && { echo "--- $d/regression.diffs"; head -200 "$d/regression.diffs"; }
    done
else
    rm -rf "$work"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

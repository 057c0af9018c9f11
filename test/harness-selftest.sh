#!/bin/bash
# test/harness-selftest.sh: test/run.sh itself, as root, from a mode-700
# checkout (as a DBA's clone in /root), against a tiny fixture.  About ten
# seconds.  Run by make test as its first suite; needs crmperm installed (its
# cluster preloads it) and root.
#
# The fixture: this tree's test/run.sh, suites.sh, deps.sh and pgversion.sh, a
# Makefile that builds nothing, and
#   sql/st_a_pass.sql    passes
#   sql/st_b_fail.sql    its output differs from expected/st_b_fail.out
#   sql/st_c_noexp.sql   has no expected file: pg_regress stops there, so
#   sql/st_d_after.sql   (which would pass) never runs
#   test/t/st_ok.pl      passes
#   test/t/st_dies.pl    dies before its first test
# First run: "2 passed, 4 failed" with each failure named (two "did not
# run"), a non-zero exit, the diff in test/output/ of the fixture.  Second
# run, the failing files removed: "3 passed, 0 failed", exit 0, no
# test/output/.  Third run, with a slow regress file, interrupted as Ctrl-C
# does (SIGINT to its process group): it ends, and no process of it is left.
# After each run the directory the harness got as TMPDIR (a stand-in for
# /tmp, mode 1777) must be empty again: nothing is left behind.
set -u
here=$(cd "$(dirname "$0")" && pwd)
failed=0
fail() { echo "harness-selftest: FAIL: $*"; failed=1; }

[ "$(id -u)" = 0 ] || { echo "harness-selftest: FAIL: must run as root"; exit 1; }

# mktemp -d makes mode-700 directories, owned by root: the postgres user
# cannot enter the checkout, as in /root.
co=$(mktemp -d "${TMPDIR:-/tmp}/crmperm-selftest-co.XXXXXX")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/crmperm-selftest-tmp.XXXXXX")
# stray: the processes running from $tmp (none, unless the harness under
# test leaves some: they are stopped here, after being reported)
stray() { grep -lsF "$tmp" /proc/[0-9]*/cmdline | cut -d/ -f3 | grep -vx "$$"; }
finish() {
    local p
    for p in $(stray); do
        case "$(cat "/proc/$p/comm" 2>/dev/null)" in
            postgres) kill -QUIT "$p" 2>/dev/null ;;
            *) kill -TERM "$p" 2>/dev/null ;;
        esac
    done
    sleep 1
    rm -rf "$co" "$tmp" "$co".*.out "$co.pgid"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
chmod 700 "$co"
chmod 1777 "$tmp"
su postgres -s /bin/bash -c "test -x '$co'" 2>/dev/null && fail "postgres can enter the mode-700 checkout: the test proves nothing"

mkdir -p "$co/test/t" "$co/sql" "$co/expected"
cp "$here/run.sh" "$here/suites.sh" "$here/deps.sh" "$here/pgversion.sh" "$co/test/"
printf 'all:\ninstall:\n.PHONY: all install\n' > "$co/Makefile"

printf 'SELECT 1 AS one;\n' > "$co/sql/st_a_pass.sql"
printf 'SELECT 1 AS one;\n one \n-----\n   1\n(1 row)\n\n' > "$co/expected/st_a_pass.out"
printf 'SELECT 2 AS two;\n' > "$co/sql/st_b_fail.sql"
printf 'SELECT 2 AS two;\n two \n-----\n   3\n(1 row)\n\n' > "$co/expected/st_b_fail.out"
printf 'SELECT 3 AS three;\n' > "$co/sql/st_c_noexp.sql"
printf 'SELECT 4 AS four;\n' > "$co/sql/st_d_after.sql"
printf 'SELECT 4 AS four;\n four \n------\n    4\n(1 row)\n\n' > "$co/expected/st_d_after.out"
printf 'use strict;\nuse Test::More;\nok(1, "fixture");\ndone_testing();\n' > "$co/test/t/st_ok.pl"
printf 'use strict;\ndie "fixture dies before any test\\n";\n' > "$co/test/t/st_dies.pl"

# run LABEL: test/run.sh of the fixture, its output in $co.LABEL.out (not
# in $tmp, which must stay empty), its exit code in $rc
run() {
    (cd "$co" && TMPDIR="$tmp" test/run.sh) > "$co.$1.out" 2>&1
    rc=$?
    leftover=$(ls -A "$tmp")
    [ -z "$leftover" ] || fail "$1: left behind in TMPDIR: $leftover"
}

show() { sed 's/^/    | /' "$co.$1.out"; }
has() {  # has LABEL LINE: LINE is a whole line of the output
    grep -qxF -- "$2" "$co.$1.out" || { fail "$1: no line \"$2\""; show "$1"; }
}

run failing
has failing "2 passed, 4 failed"
has failing "  regress/st_b_fail"
has failing "  regress/st_c_noexp (did not run)"
has failing "  regress/st_d_after (did not run)"
has failing "  test/t/st_dies.pl"
[ "$rc" -ne 0 ] || fail "failing: exit code 0"
grep -q '^+   2$' "$co/test/output/regression.diffs" 2>/dev/null ||
    { fail "failing: test/output/regression.diffs does not show the difference"; show failing; }

rm "$co"/sql/st_b_fail.sql "$co"/sql/st_c_noexp.sql "$co"/test/t/st_dies.pl
run passing
has passing "3 passed, 0 failed"
[ "$rc" -eq 0 ] || fail "passing: exit code $rc"
[ -e "$co/test/output" ] && fail "passing: test/output/ is there after a passing run"

# Interrupted: SIGINT to the run's process group (what Ctrl-C in a terminal
# sends) while pg_regress waits on a slow query: the run ends, no process of
# it is left, TMPDIR is empty.
printf 'SELECT pg_sleep(120);\n' > "$co/sql/st_e_slow.sql"
: > "$co/expected/st_e_slow.out"
# (A background job of this shell starts with SIGINT ignored, and bash cannot
# trap a signal ignored on entry -- 5.3 holds to that: perl restores the
# default, as a terminal's shell gives it.)
(cd "$co" && exec setsid perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' \
    bash -c 'echo $$ > "$0.pgid"; TMPDIR="$1" exec test/run.sh' "$co" "$tmp") \
    > "$co.interrupted.out" 2>&1 &
# (15's pg_regress prints "test st_e_slow ..." as the test starts; 16 and
# later print TAP lines as tests end: the slow one starts after st_d_after.)
started='^(test st_e_slow |ok [0-9]+ +- st_d_after )'
for i in $(seq 300); do
    grep -qE "$started" "$co.interrupted.out" 2>/dev/null && break
    sleep 0.1
done
grep -qE "$started" "$co.interrupted.out" || { fail "interrupted: the slow test did not start"; show interrupted; }
kill -INT -- "-$(cat "$co.pgid")"
for i in $(seq 300); do
    [ -z "$(jobs -pr)" ] && break
    sleep 0.1
done
[ -z "$(jobs -pr)" ] || fail "interrupted: the run did not end within 30 s"
sleep 0.5
leftover=$(ls -A "$tmp")
[ -z "$leftover" ] || { fail "interrupted: left behind in TMPDIR: $leftover"; show interrupted; }
left=$(for p in $(stray); do ps -o pid=,args= -p "$p"; done)
[ -z "$left" ] || fail "interrupted: processes left running: $left"
has interrupted "interrupted"

if [ "$failed" -eq 0 ]; then
    echo "harness-selftest: ok (a failing, a passing and an interrupted run from a mode-700 checkout: counts, exit codes, test/output/, nothing left in TMPDIR or running)"
fi
exit $failed

#!/bin/bash
# make check-core: PostgreSQL's own regression suite must not notice crmperm.
#
# Runs the core suite (src/test/regress, parallel_schedule) of the PostgreSQL
# 15 source that Debian ships, against the installed server, on throwaway
# clusters (pg_regress --temp-instance: initdb under /tmp/checkcore, run as
# postgres, Unix socket only, ports from 5600), once for each preload:
#   base      nothing: the reference
#   crmperm   crmperm (the extension not created, see below)
#   chained   crmperm, pgaudit (logging everything), pg_stat_statements
# and compares every results/*.out with the base run's: any difference fails.
# Results are compared with each other, not with expected/, so the tests that
# fail in this environment (see "source" below) fail the same way each time.
#
# Only preloaded, not created: the suite makes its own database from
# template0 (so template1 does not matter), and with CREATE EXTENSION crmperm
# in it (pg_regress --load-extension) tests that list what is there print
# crmperm's too: its event triggers (event_trigger), its SECURITY DEFINER and
# immutable parallel-unsafe functions (opr_sanity), the lock its cache takes
# on crmperm.resources (alter_table's my_locks); with a managed table, plans
# of SQL set-returning functions, which crmperm keeps from being inlined.
# Those runs cannot be compared line for line.  A database without the
# extension is also the one crmperm meets most.
#
# The source: apt-get source postgresql-15 at the installed version, or, when
# the mirror does not have that one, the newest it has (the tests of an older
# minor release against this server: some fail, the same way in every run).
# psql is then taken from that release's postgresql-client-15 too: psql's
# handling of a failed COPY FROM STDIN changed in a minor release, and a newer
# psql would skip hundreds of lines of the copy, privileges and rowsecurity
# tests.  regress.so is built with PGXS; autoinc and refint come installed.
#
# make check-core builds and installs crmperm first.  As root.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
work=/tmp/checkcore
pgbin=$(pg_config --bindir)
pkglib=$(pg_config --pkglibdir)
pg_regress=$pkglib/pgxs/src/test/regress/pg_regress
export DEBIAN_FRONTEND=noninteractive

die() { echo "check-core: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (installs packages, runs the suite as postgres)"
[ -f "$pkglib/crmperm.so" ] || die "crmperm is not installed: make check-core installs it"
"$top/test/deps.sh" || die "test/deps.sh failed"
dpkg-query -W -f='${Status}' dpkg-dev 2>/dev/null | grep -q "install ok installed" ||
    apt-get install -y -qq dpkg-dev >/dev/null || die "cannot install dpkg-dev"
mkdir -p "$work/src"

# --- the source -------------------------------------------------------------

# apt-get source needs deb-src entries (added beside the deb ones if there
# are none) and their package lists.
if ! apt-cache showsrc postgresql-15 2>/dev/null | grep -q '^Version:'; then
    if ! apt-get indextargets --format '$(CREATED_BY)' | grep -qx Sources; then
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
                > /etc/apt/sources.list.d/debian-src.sources
        else
            sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/debian-src.list
        fi
    fi
    apt-get update -qq || die "apt-get update failed"
fi

installed=$(dpkg-query -W -f='${Version}' postgresql-15)
# The installed version first, then every other one the mirror lists, newest first.
versions="$installed $(apt-cache showsrc postgresql-15 | sed -n 's/^Version: //p' |
    grep -vxF "$installed" | sort -rV)"
srcver=""
for v in $versions; do
    tree="$work/src/postgresql-15-${v%%-*}"
    if [ -f "$tree/src/test/regress/parallel_schedule" ] ||
        (cd "$work/src" && apt-get source -qq "postgresql-15=$v" >"$work/src/apt-$v.log" 2>&1); then
        srcver=$v
        break
    fi
    echo "check-core: no source for postgresql-15 $v ($(grep -m1 '^E:' "$work/src/apt-$v.log"))"
done
[ -n "$srcver" ] || die "no postgresql-15 source could be fetched"
regress=$tree/src/test/regress
echo "check-core: server $installed, regression tests of $srcver"

# --- what the suite needs -----------------------------------------------------

# pg_regress's --bindir gives both the server programs and psql.
bin=$pgbin
if [ "$srcver" != "$installed" ]; then
    client=$work/client-$srcver
    if [ ! -x "$client/usr/lib/postgresql/15/bin/psql" ]; then
        rm -rf "$client" && mkdir -p "$client"
        (cd "$client" && apt-get download -qq "postgresql-client-15=$srcver" >/dev/null 2>&1 &&
            dpkg-deb -x postgresql-client-15_*.deb .)
    fi
    if [ -x "$client/usr/lib/postgresql/15/bin/psql" ]; then
        bin=$work/bin
        rm -rf "$bin" && mkdir -p "$bin"
        ln -s "$pgbin"/* "$bin/"
        ln -sf "$client/usr/lib/postgresql/15/bin/psql" "$bin/psql"
        echo "check-core: psql of $srcver, server programs of $installed"
    else
        echo "check-core: no postgresql-client-15 $srcver: the installed psql desynchronises some COPY tests"
    fi
fi

# --dlpath: regress.so built here, autoinc and refint (contrib/spi) as installed.
lib=$work/lib
mkdir -p "$lib"
cp "$regress/regress.c" "$lib/"
printf '%s\n' 'MODULES = regress' 'PGXS := $(shell pg_config --pgxs)' 'include $(PGXS)' > "$lib/Makefile"
make -s -C "$lib" >/dev/null || die "cannot build regress.so"
ln -sf "$pkglib/autoinc.so" "$pkglib/refint.so" "$lib/"

# --- the runs -----------------------------------------------------------------

# pg_regress leaves a failed run's cluster behind (here some tests always
# fail): stop any postmaster still up and remove the clusters, keep results/.
cleanup() {
    for d in "$work"/run-*/tmp_check/data; do
        [ -f "$d/postmaster.pid" ] && su postgres -s /bin/sh -c "'$pgbin/pg_ctl' -D '$d' -m immediate stop" >/dev/null 2>&1
    done
    rm -rf "$work"/run-*/tmp_check
}
trap cleanup EXIT

tests=$(sed -n 's/^test: *//p' "$regress/parallel_schedule" | tr ' ' '\n' | grep -c .)

# run NAME PORT CONFIG: the whole schedule on a new cluster with CONFIG in postgresql.conf.
run() {
    local out="$work/run-$1" start=$SECONDS
    rm -rf "$out" && mkdir -p "$out" && chown postgres "$out"
    printf '%s\n' "$3" > "$out/extra.conf"
    su postgres -s /bin/sh -c "cd '$out' && '$pg_regress' --temp-instance='$out/tmp_check' \
        --bindir='$bin' --inputdir='$regress' --outputdir='$out' --dlpath='$lib' \
        --port=$2 --temp-config='$out/extra.conf' --no-locale --encoding=UTF8 \
        --max-concurrent-tests=20 --schedule='$regress/parallel_schedule'" > "$out/pg_regress.log" 2>&1
    local got
    got=$(ls "$out"/results/*.out 2>/dev/null | wc -l)
    printf '  %-8s %3d of %d tests ran in %3ds, %s\n' "$1" "$got" "$tests" $((SECONDS - start)) \
        "$(grep -E 'tests (passed|failed)' "$out/pg_regress.log" | tr -s ' =' ' ' | sed 's/^ //')"
    if [ "$got" -ne "$tests" ]; then
        tail -20 "$out/pg_regress.log"
        tail -20 "$out/log/postmaster.log" 2>/dev/null
        die "run $1 did not complete"
    fi
}

echo "check-core: running the core suite (parallel_schedule) three times"
run base 5600 ""
run crmperm 5601 "shared_preload_libraries = 'crmperm'"
# compute_query_id = regress: pg_stat_statements turns query ids on, and this
# keeps EXPLAIN VERBOSE from printing them (which is what the setting is for).
run chained 5602 "shared_preload_libraries = 'crmperm,pgaudit,pg_stat_statements'
compute_query_id = regress
pgaudit.log = 'all'"
# Proof the libraries were loaded: pgaudit's log lines, and crmperm's memory
# contexts among those that misc_functions has a backend log.
grep -q 'AUDIT: SESSION' "$work/run-chained/log/postmaster.log" || die "pgaudit logged nothing in run chained"
for name in crmperm chained; do
    grep -qE 'level: [0-9]+; crmperm' "$work/run-$name/log/postmaster.log" ||
        die "no crmperm memory context in run $name: was it loaded?"
done

# --- the comparison -------------------------------------------------------------

failed=0
for name in crmperm chained; do
    diffs=$work/run-$name/vs-base.diffs
    : > "$diffs"
    for f in "$work"/run-base/results/*.out; do
        diff -U3 "$f" "$work/run-$name/results/${f##*/}" >> "$diffs"
    done
    ndiff=$(grep -c '^+++ ' "$diffs")
    if [ "$ndiff" -eq 0 ]; then
        echo "pass $name: results identical to base"
    else
        failed=$((failed + 1))
        echo "FAIL $name: $ndiff test(s) differ from base:"
        sed -n 's|^+++ .*/results/\([^ \t]*\)\.out.*|  \1|p' "$diffs"
        head -300 "$diffs"
        echo "(all of it: $diffs)"
    fi
done

failing=$(awk '{ for (i = 2; i < NF; i++) if ($i == "..." && $(i + 1) == "FAILED") print $(i - 1) }' \
    "$work/run-base/pg_regress.log" | paste -sd' ')
echo "failing against expected/ in the base run (and identically in the others): ${failing:-none}"
echo "$((2 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]

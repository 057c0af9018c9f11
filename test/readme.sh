#!/bin/bash
# test/readme.sh OUTDIR: the README's tour, run as written.
#
# make test-readme (as root) runs it; so does make test.  Either runs it as
# the postgres user inside pg_virtualenv: a throwaway cluster with
# shared_preload_libraries = crmperm and PGHOST, PGPORT, PGUSER, PGPASSWORD
# of its superuser set.  It creates a database and roles (alice, bob, ...):
# never point it at a cluster you keep.
#
# What it runs: the fenced code blocks of README.md from "## A tour" to the
# next "## " heading, in order, in one psql session as the superuser
# (psql -X, no psqlrc; ON_ERROR_STOP off, so the denials the tour shows are
# errors it goes past; pager off; psql's defaults otherwise: VERBOSITY
# default, SHOW_CONTEXT errors; UTC, C.UTF-8).
#   ```sql         runs
#   ```sql norun   does not run (not used by the tour today)
#   ```text        psql's output for the ```sql block before it (errors
#                  without psql's "psql:file:line:" prefix; trailing spaces
#                  and trailing empty lines ignored), compared exactly
# A ```sql block with no ```text block has its output unchecked, but must
# print no ERROR or WARNING.
#
# Fails (exit 1) with a diff (OUTDIR/tour.diff, printed) when an output or an
# error differs from what the README shows.  OUTDIR also gets tour.sql (what
# ran, a "\echo @@BLOCK n" before each block), tour.out (what psql printed).
set -u
cd "$(dirname "$0")/.."
out=${1:?usage: test/readme.sh OUTDIR}
rm -rf "$out"
mkdir -p "$out/expected"

# Extract: tour.sql, expected/N (the ```text of block N), blocks ("N LINE").
awk -v out="$out" '
    /^## / { intour = ($0 == "## A tour") }
    !intour { next }
    /^```/ && !inblock {
        info = substr($0, 4); sub(/[ \t]+$/, "", info)
        inblock = 1
        if (info == "sql") {
            kind = "sql"; n++; hastext = 0
            print n, NR > (out "/blocks")
            printf "\\echo @@BLOCK %d\n", n > (out "/tour.sql")
        } else if (info == "text") {
            if (n == 0 || hastext) {
                printf "README.md:%d: a ```text block with no ```sql block before it\n", NR
                bad = 1
            }
            kind = "text"; hastext = 1
            printf "" > (out "/expected/" n)
        } else {
            kind = "skip"
        }
        next
    }
    /^```[ \t]*$/ && inblock { inblock = 0; next }
    inblock && kind == "sql" { print > (out "/tour.sql") }
    inblock && kind == "text" { print > (out "/expected/" n) }
    END {
        if (inblock) { print "README.md: a code block of the tour is not closed"; bad = 1 }
        if (n == 0) { print "README.md: no ```sql block under \"## A tour\""; bad = 1 }
        exit bad
    }' README.md || exit 1
nblocks=$(wc -l < "$out/blocks")

PGOPTIONS='-c client_min_messages=warning' psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS crmperm_tour' -c 'CREATE DATABASE crmperm_tour' ||
    { echo "readme: could not create the database"; exit 1; }
cd "$out"
PGTZ=UTC LC_ALL=C.UTF-8 stdbuf -oL -eL psql -X -d crmperm_tour -v ON_ERROR_STOP=0 -P pager=off \
    -f tour.sql > tour.raw 2>&1
sed -E 's/^psql:[^:]*:[0-9]+: //' tour.raw > tour.out

# normalize: no trailing spaces, no trailing empty lines
norm() { sed -E 's/[ \t]+$//' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }

failed=0
: > tour.expected
: > tour.actual
while read -r n line; do
    awk -v n="$n" '/^@@BLOCK [0-9]+$/ { p = ($2 == n); next } p' tour.out > "actual.$n"
    if [ -f "expected/$n" ]; then
        { echo "==== README.md line $line (block $n)"; norm < "expected/$n"; } >> tour.expected
        { echo "==== README.md line $line (block $n)"; norm < "actual.$n"; } >> tour.actual
    elif grep -qE '^(ERROR|WARNING|FATAL|PANIC):' "actual.$n"; then
        echo "readme: README.md line $line (block $n) shows no output, but printed:"
        sed 's/^/    /' "actual.$n"
        failed=1
    fi
done < blocks
if ! diff -u tour.expected tour.actual > tour.diff; then
    echo "readme: what psql printed differs from README.md (- README, + psql):"
    cat tour.diff
    failed=1
fi
ran=$(grep -c '^@@BLOCK ' tour.out)
[ "$ran" -eq "$nblocks" ] || { echo "readme: $ran of $nblocks blocks ran"; failed=1; }
[ "$failed" -eq 0 ] && echo "readme: ok ($nblocks blocks, $(ls expected | wc -l) outputs compared)"
exit $failed

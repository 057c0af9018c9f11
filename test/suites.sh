#!/bin/bash
# test/suites.sh WORKDIR TALLY SUITE...: called by test/run.sh inside
# pg_virtualenv (PGHOST, PGPORT, PGUSER set), as postgres, in the copy of the
# tree: the named suites (regress isolation pgtap sqlsmith) against that one
# cluster.  Appends "pass NAME" / "fail NAME" per file to TALLY; a file it
# says nothing about counts as "did not run" in test/run.sh.
set -u
cd "$(dirname "$0")/.."
work=$1
tally=$2
shift 2
suites=" $* "
. test/pgversion.sh
pgxs=/usr/lib/postgresql/$PGMAJOR/lib/pgxs/src/test
bindir=$PGBIN

# $1: tally prefix, $2: output file; lines "test name ... ok|FAILED" (15) or
# "ok N - name" / "not ok N - name" (16+ prints TAP)
count_regress() {
    sed -nE 's/^(test| ) *([^ ]+) +\.\.\. (ok|FAILED|failed).*/\2 \3/p
             s/^ok [0-9]+ +[-+] +([^ ]+).*/\1 ok/p
             s/^not ok [0-9]+ +[-+] +([^ ]+).*/\1 FAILED/p' "$2" |
    while read -r name status; do
        if [ "$status" = ok ]; then echo "pass $1/$name"; else echo "fail $1/$name"; fi
    done >> "$tally"
}

tests=$(regress_tests)
if [ -n "$tests" ] && [[ $suites == *" regress "* ]]; then
    echo "== pg_regress (sql/)"
    $pgxs/regress/pg_regress --inputdir=. --outputdir="$work/results" --bindir=$bindir \
        --dbname=crmperm_regress $tests 2>&1 | tee "$work/regress.out"
    count_regress regress "$work/regress.out"
fi

specs=$(ls test/isolation/specs/*.spec 2>/dev/null | xargs -rn1 basename | sed 's/\.spec$//' | sort)
if [ -n "$specs" ] && [[ $suites == *" isolation "* ]]; then
    echo "== isolation (test/isolation)"
    $pgxs/isolation/pg_isolation_regress --inputdir=test/isolation \
        --outputdir="$work/isolation" --bindir=$bindir --dbname=crmperm_isolation $specs 2>&1 |
        tee "$work/isolation.out"
    count_regress isolation "$work/isolation.out"
fi

if ls test/pgtap/*.sql >/dev/null 2>&1 && [[ $suites == *" pgtap "* ]]; then
    echo "== pgTAP (test/pgtap)"
    createdb crmperm_tap
    psql -X -q -d crmperm_tap -c 'CREATE EXTENSION pgtap; CREATE EXTENSION crmperm;'
    for f in test/pgtap/*.sql; do
        pg_prove -d crmperm_tap "$f" 2>&1 | tee -a "$work/pgtap.out"
        if [ "${PIPESTATUS[0]}" -eq 0 ]; then
            echo "pass $f" >> "$tally"
        else
            echo "fail $f" >> "$tally"
        fi
    done
fi

if [ -f test/sqlsmith.sh ] && [[ $suites == *" sqlsmith "* ]]; then
    echo "== sqlsmith (test/sqlsmith.sh)"
    test/sqlsmith.sh "$work" 2>&1 | tee "$work/sqlsmith.out"
    if [ "${PIPESTATUS[0]}" -eq 0 ]; then
        echo "pass sqlsmith" >> "$tally"
    else
        echo "fail sqlsmith" >> "$tally"
    fi
fi
exit 0

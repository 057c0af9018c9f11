#!/bin/bash
# Called by test/run.sh inside pg_virtualenv (PGHOST, PGPORT, PGUSER set):
# pg_regress, isolation, pgTAP and sqlsmith against that one cluster.
set -u
cd "$(dirname "$0")/.."
work=$1
tally=$2
pgxs=/usr/lib/postgresql/15/lib/pgxs/src/test
bindir=/usr/lib/postgresql/15/bin

# $1: tally prefix, $2: output file; lines "test name ... ok|FAILED"
count_regress() {
    sed -nE 's/^(test| ) *([a-z0-9_]+) +\.\.\. (ok|FAILED|failed).*/\2 \3/p' "$2" |
    while read -r name status; do
        if [ "$status" = ok ]; then echo "pass $1/$name"; else echo "fail $1/$name"; fi
    done >> "$tally"
}

tests=$(ls sql/*.sql 2>/dev/null | grep -v 'crmperm--' | xargs -rn1 basename | sed 's/\.sql$//' | sort)
if [ -n "$tests" ]; then
    echo "== pg_regress (sql/)"
    $pgxs/regress/pg_regress --inputdir=. --outputdir="$work/results" --bindir=$bindir \
        --dbname=crmperm_regress $tests 2>&1 | tee "$work/regress.out"
    count_regress regress "$work/regress.out"
fi

specs=$(ls test/isolation/specs/*.spec 2>/dev/null | xargs -rn1 basename | sed 's/\.spec$//' | sort)
if [ -n "$specs" ]; then
    echo "== isolation (test/isolation)"
    $pgxs/isolation/pg_isolation_regress --inputdir=test/isolation \
        --outputdir="$work/isolation" --bindir=$bindir --dbname=crmperm_isolation $specs 2>&1 |
        tee "$work/isolation.out"
    count_regress isolation "$work/isolation.out"
fi

if ls test/pgtap/*.sql >/dev/null 2>&1; then
    echo "== pgTAP (test/pgtap)"
    createdb crmperm_tap
    psql -X -q -d crmperm_tap -c 'CREATE EXTENSION pgtap; CREATE EXTENSION crmperm;'
    pg_prove -d crmperm_tap test/pgtap/*.sql 2>&1 | tee "$work/pgtap.out"
    grep -E '^test/pgtap/.*\.sql \.+ ' "$work/pgtap.out" | while read -r line; do
        case "$line" in
            *" ok") echo "pass ${line%% *}" >> "$tally" ;;
            *) echo "fail ${line%% *}" >> "$tally" ;;
        esac
    done
fi

echo "== sqlsmith (test/sqlsmith.sh)"
test/sqlsmith.sh "$work" 2>&1 | tee "$work/sqlsmith.out"
if [ "${PIPESTATUS[0]}" -eq 0 ]; then
    echo "pass sqlsmith" >> "$tally"
else
    echo "fail sqlsmith" >> "$tally"
fi
exit 0

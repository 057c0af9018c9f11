#!/bin/bash
# make bench: what crmperm costs, as ratios measured in one throwaway
# PostgreSQL cluster, of the version make test uses (test/pgversion.sh) (pg_virtualenv, as postgres, with
# shared_preload_libraries = crmperm).  Not part of make test.
#
#   crmperm scope all / the same table unmanaged             goal >= 0.99
#   crmperm scope owned / the same rule as a native policy    goal >= 1.0
#   10,000 principals, 500 managed tables, 25-deep CRM roles / 1, 1, 1
#                                                            goal >= 0.97 (flat)
# each for pgbench select-only and simple-update, with prepared statements and
# with the simple protocol (every query planned, so policies are fetched at
# every statement); native row security with a "true" policy / unmanaged is
# the reference.  Field security, reading a contact with 3 protected fields:
#   masked (no field grant) / a hand-written masking view   goal >= 1.0
#   all 3 fields granted / no field protected               goal >= 0.99
# A protected routine (its action granted) / the same routine unprotected:
#                                                            goal >= 0.99
# A child read with scope parent (100,000 parents, 1,000,000 children) / the
# same rule as a native EXISTS policy:                        goal >= 1.0
# With Citus installed: a router select on a distributed table as a scoped
# principal, crmperm owned / a native owned policy:          goal >= 0.98
# Then the cold start of the decision cache, and instructions
# per query counted by callgrind (exact, and where they go).  The tables are
# printed at the end and written to test/bench/results.md.
#
# As root on Debian 12, 13 or unstable, like make test: installs what is missing (test/deps.sh,
# and valgrind), builds and installs crmperm (BENCH_NO_INSTALL=1 skips
# building and installing: the installed library is measured), then runs
# test/bench/inner.sh as postgres.  Knobs: BENCH_SECONDS, BENCH_ROUNDS,
# BENCH_CLIENTS, BENCH_ONLY, BENCH_CALLGRIND=0 (see inner.sh), BENCH_KEEP=1,
# PGPORT (the throwaway cluster's port; pg_virtualenv picks a free one
# otherwise).  About 8 to 9 minutes.  Results: test/bench/results-N.md for
# PostgreSQL N (doc/crmperm-benchmarks.md has a column per version).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

test/deps.sh
. test/pgversion.sh
if ! command -v valgrind >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing: valgrind"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null ||
        echo "could not install valgrind: the callgrind section will be skipped"
fi
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    make -s PG_CONFIG=$PGBIN/pg_config >/dev/null && make -s PG_CONFIG=$PGBIN/pg_config install >/dev/null ||
        { echo "build failed" >&2; exit 1; }
fi

work=$(mktemp -d /tmp/crmperm-bench.XXXXXX)
chmod 755 "$work"
chown postgres "$work"
# BENCH_KEEP=1 keeps the work directory (pgbench scripts, callgrind profiles).
[ "${BENCH_KEEP:-0}" = 1 ] && echo "work directory: $work" || trap 'rm -rf "$work"' EXIT

env_keep=""
for v in BENCH_SECONDS BENCH_ROUNDS BENCH_CLIENTS BENCH_ONLY BENCH_CALLGRIND; do
    [ -n "${!v:-}" ] && env_keep="$env_keep $v='${!v}'"
done
# the scripts, from a copy postgres can read (the checkout may be mode 700)
cp -r "$top/test/bench" "$work/bench"
cp "$top/test/citus/cluster.sh" "$work/bench/"
chown -R postgres "$work/bench"
cd "$work"
su postgres -s /bin/bash -c "PATH=$PGBIN:\$PATH pg_virtualenv -v $PGMAJOR -o shared_preload_libraries=crmperm \
    -o shared_buffers=256MB -- env $env_keep '$work/bench/inner.sh' '$work'"

cp "$work/results.md" "$top/test/bench/results-$PGMAJOR.md"
echo
echo "written to test/bench/results-$PGMAJOR.md"

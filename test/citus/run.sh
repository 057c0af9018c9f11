#!/bin/bash
# make check-citus: crmperm on a Citus cluster (a coordinator and two workers
# on loopback).  As root, from a checkout anywhere:
#   - installs what is missing (test/deps.sh), and Citus when it is not
#     installed: from CITUS_TARBALL (test/citus/build.sh; nothing from the
#     network but Debian's packages);
#   - builds and installs crmperm;
#   - runs test/citus/suite.sh as the postgres user in a private work
#     directory, removed on every exit.
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
test/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
. test/pgversion.sh
test/citus/build.sh || { echo "0 passed, 1 failed"; exit 1; }
make -s PG_CONFIG=$PGBIN/pg_config >/dev/null && make -s PG_CONFIG=$PGBIN/pg_config install >/dev/null ||
    { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/crmperm-citus.XXXXXX") || { echo "0 passed, 1 failed"; exit 1; }
cleanup() {
    local f
    for f in "$work"/c/*/postmaster.pid; do
        [ -f "$f" ] && kill -QUIT "$(head -1 "$f")" 2>/dev/null
    done
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo interrupted; exit 130' INT TERM HUP
chmod 755 "$work"
mkdir "$work/tree"
cp -r test/citus "$work/tree/"
chown -R postgres: "$work"
out="$top/test/output/citus"
rm -rf "$out"
( su postgres -s /bin/bash -c "CITUS_DIR='$work/c' PGBIN='$PGBIN' '$work/tree/citus/suite.sh'" ) &
wait $!
rc=$?
if [ $rc -ne 0 ]; then
    mkdir -p "$out"
    cp "$work"/c/*.log "$out/" 2>/dev/null
    echo "(server logs in test/output/citus/)"
fi
exit $rc

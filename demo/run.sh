#!/bin/bash
# make demo: build and install crmperm, then run demo/demo.sql in a throwaway
# PostgreSQL cluster (pg_virtualenv creates it and removes it afterwards), of
# the major version test/pgversion.sh picks: the newest installed, or the
# newest the machine's Debian offers (15 on Debian 12, 17 on 13, 18 on
# unstable).  Meant for a fresh Debian machine, run as root.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"

# Dependencies (postgresql-N, server headers, postgresql-common, ...).
"$repo/test/deps.sh"
. "$repo/test/pgversion.sh"

# Build and install quietly: only warnings and errors are shown.
echo "== building and installing crmperm"
make -s -C "$repo" PG_CONFIG="$PGBIN/pg_config" >/dev/null
make -s -C "$repo" PG_CONFIG="$PGBIN/pg_config" install >/dev/null

echo "== running demo/demo.sql in a throwaway PostgreSQL $PGMAJOR cluster"
echo
# ON_ERROR_STOP=0: the denials are the point of the demo, so keep going.
# Errors go to stderr; merge them into stdout (line-buffered, so they stay in
# order) and drop psql's "psql:<file>:<line>: " prefix to keep it readable.
# -t: the cluster lives in a private temporary directory (not /etc/postgresql),
# removed on exit; psql runs as root, so the checkout may be mode 700.
pg_virtualenv -t -v "$PGMAJOR" -o shared_preload_libraries=crmperm -- \
    stdbuf -oL -eL psql -X -v ON_ERROR_STOP=0 -f "$here/demo.sql" 2>&1 \
    | sed -E 's/^psql:[^:]*:[0-9]+: //'

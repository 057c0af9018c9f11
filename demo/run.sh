#!/bin/bash
# make demo: build and install crmperm, then run demo/demo.sql in a throwaway
# PostgreSQL 15 cluster (pg_virtualenv creates it and removes it afterwards).
# Meant for a fresh Debian 12 machine, run as root.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"

# Dependencies (postgresql-15, server headers, postgresql-common, ...).
[ -x "$(dirname "$0")/../test/deps.sh" ] && "$(dirname "$0")/../test/deps.sh"

# Build and install quietly: only warnings and errors are shown.
echo "== building and installing crmperm"
make -s -C "$repo" >/dev/null
make -s -C "$repo" install >/dev/null

echo "== running demo/demo.sql in a throwaway PostgreSQL 15 cluster"
echo
# ON_ERROR_STOP=0: the denials are the point of the demo, so keep going.
# Errors go to stderr; merge them into stdout (line-buffered, so they stay in
# order) and drop psql's "psql:<file>:<line>: " prefix to keep it readable.
# -t: the cluster lives in a private temporary directory (not /etc/postgresql),
# removed on exit; psql runs as root, so the checkout may be mode 700.
pg_virtualenv -t -v 15 -o shared_preload_libraries=crmperm -- \
    stdbuf -oL -eL psql -X -v ON_ERROR_STOP=0 -f "$here/demo.sql" 2>&1 \
    | sed -E 's/^psql:[^:]*:[0-9]+: //'

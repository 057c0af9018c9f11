#!/bin/bash
# Install what building, testing and the demo need, if it is missing.
# Debian 12, 13 or unstable, as root.  Does nothing when everything is there.
# The PostgreSQL major version: the newest installed server (test/pgversion.sh),
# or, when none is, the newest postgresql-N the machine's Debian offers
# (15 on Debian 12, 17 on Debian 13, 18 on unstable).
set -eu
. "$(dirname "$0")/pgversion.sh"
export DEBIAN_FRONTEND=noninteractive
updated=""
if [ -z "$PGMAJOR" ]; then
    [ "$(id -u)" = 0 ] || { echo "no PostgreSQL server installed (run as root to install one)" >&2; exit 1; }
    apt-get update -qq
    updated=1
    PGMAJOR=$(apt-cache pkgnames postgresql- | sed -nE 's/^postgresql-([0-9]+)$/\1/p' | sort -n | tail -1)
    [ -n "$PGMAJOR" ] || { echo "this machine's Debian offers no postgresql-N package" >&2; exit 1; }
fi
N=$PGMAJOR
pkgs="make gcc postgresql-$N postgresql-server-dev-$N postgresql-$N-pgtap pgtap
      libtap-parser-sourcehandler-pgtap-perl libipc-run-perl postgresql-common
      postgresql-$N-pgaudit sqlsmith pgbouncer libdbd-pg-perl"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "installing for PostgreSQL $N:$missing"
[ -n "$updated" ] || apt-get update -qq
apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing >/dev/null

#!/bin/bash
# Install what building, testing and the demo need, if it is missing.
# Debian 12, as root.  Does nothing when everything is there.
set -eu
pkgs="make gcc postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap pgtap
      libtap-parser-sourcehandler-pgtap-perl libipc-run-perl postgresql-common
      postgresql-15-pgaudit sqlsmith pgbouncer libdbd-pg-perl"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing >/dev/null

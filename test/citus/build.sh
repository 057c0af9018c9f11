#!/bin/bash
# Make sure Citus is installed for the PostgreSQL that make check-citus uses.
#   - Citus already installed (citus.so in pkglibdir, citus.control in
#     sharedir/extension): use it, build nothing.
#   - else CITUS_TARBALL names a release source tarball (citus-X.Y.Z.tar.gz);
#     every citus-X.Y.Z-*.patch beside it (or CITUS_PATCH) is applied, then it
#     is built once into a cache outside the tree (CITUS_CACHE, default
#     /var/cache/crmperm-citus, keyed by tarball, patches and PostgreSQL
#     version) and installed from there.  Nothing comes from the network
#     except Debian's build dependencies.
# As root.  Prints one line saying what it did.
set -eu
. "$(dirname "$0")/../pgversion.sh"
pgc=$PGBIN/pg_config
lib=$($pgc --pkglibdir)
share=$($pgc --sharedir)
if [ -f "$lib/citus.so" ] && [ -f "$share/extension/citus.control" ]; then
    echo "citus: installed ($(sed -n "s/^default_version = '\(.*\)'/\1/p" "$share/extension/citus.control"))"
    exit 0
fi
tarball=${CITUS_TARBALL:-}
if [ -z "$tarball" ]; then
    echo "citus: not installed for PostgreSQL $PGMAJOR, and CITUS_TARBALL names no source tarball" >&2
    echo "       (make check-citus CITUS_TARBALL=/path/to/citus-13.2.2.tar.gz)" >&2
    exit 1
fi
[ -r "$tarball" ] || { echo "citus: cannot read CITUS_TARBALL $tarball" >&2; exit 1; }
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
base=$(basename "$tarball" .tar.gz)
if [ -n "${CITUS_PATCH:-}" ]; then
    patches=$CITUS_PATCH
else
    patches=$(ls "$(dirname "$tarball")/$base"-*.patch 2>/dev/null || true)
fi
[ "$(id -u)" = 0 ] || { echo "citus: building and installing Citus needs root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
need="postgresql-server-dev-$PGMAJOR libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev
      libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev autoconf flex bison make gcc patch"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "citus: installing build dependencies:$missing"
    apt-get update -qq
    apt-get install -y -qq $missing >/dev/null
fi
key=$( { sha256sum "$tarball" | cut -c1-16; for p in $patches; do sha256sum "$p" | cut -c1-16; done
         $PGBIN/postgres --version; } | sha256sum | cut -c1-16)
cache=${CITUS_CACHE:-/var/cache/crmperm-citus}/$base-pg$PGMAJOR-$key
if [ ! -f "$cache/.built" ]; then
    echo "citus: building $base for PostgreSQL $PGMAJOR in $cache (a few minutes)"
    rm -rf "$cache"
    mkdir -p "$cache"
    tar -C "$cache" -xzf "$tarball"
    src=$cache/$base
    for p in $patches; do patch -s -d "$src" -p1 < "$p"; done
    ( cd "$src" && ./configure PG_CONFIG=$pgc >"$cache/configure.log" 2>&1 &&
      make -j"$(nproc)" >"$cache/make.log" 2>&1 ) ||
        { echo "citus: build failed; see $cache/*.log" >&2; tail -20 "$cache/make.log" "$cache/configure.log" >&2 2>/dev/null; exit 1; }
    touch "$cache/.built"
fi
make -s -C "$cache/$base" install >"$cache/install.log" 2>&1 ||
    { echo "citus: install failed; see $cache/install.log" >&2; exit 1; }
echo "citus: installed $base from $cache"

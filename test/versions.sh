#!/bin/bash
# make test-versions: the two commands on fresh Debian 13 (PostgreSQL 17) and
# Debian unstable (PostgreSQL 18) machines, from this Debian 12 one.  As root.
#
# For each suite, a root filesystem made by debootstrap from Debian's
# registry (standard variant, plus make) is kept under $CRMPERM_ROOTFS
# (default /var/cache/crmperm-rootfs/SUITE/base), outside the tree, and made
# again when missing.  Each run starts from a fresh copy of it: /proc, /dev
# and /sys mounted, the working tree (uncommitted files included) copied to
# /root/crmperm (mode 700, a DBA's home), then, as root in the chroot,
#   make demo    must end well and show the tour's denials; it installs what
#                is missing (test/deps.sh, apt-get: the downloaded packages
#                are kept in SUITE/archives between runs)
#   make test    its "N passed, N failed" line is counted; run in a network
#                namespace of its own (loopback only), so its clusters and
#                PgBouncer never meet a server of this machine's on a port
#                (its own test/deps.sh then finds nothing missing)  Ends with one line that counts
# every suite file of every version, plus one result per demo; exits non-zero
# on any failure.  Outputs of a failed run: test/output/versions/SUITE/.
#
#   CRMPERM_SUITES="trixie sid"   which Debian suites (default both)
#   CRMPERM_MIRROR=URL            Debian mirror (default deb.debian.org)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${CRMPERM_ROOTFS:-/var/cache/crmperm-rootfs}
mirror=${CRMPERM_MIRROR:-http://deb.debian.org/debian}
suites=${CRMPERM_SUITES:-trixie sid}
out="$top/test/output/versions"

[ "$(id -u)" = 0 ] || { echo "make test-versions runs as root (debootstrap, chroot)"; echo "0 passed, 1 failed"; exit 1; }
if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
        { echo "could not install debootstrap"; echo "0 passed, 1 failed"; exit 1; }
fi
command -v ip >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
rm -rf "$out"

root=""
unmount_root() {
    [ -n "$root" ] || return 0
    # deepest first; rbind mounts are detached lazily with their submounts
    grep -o " $root/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
}
# Stop what the run left behind in the chroot (servers of an interrupted run).
stop_root() {
    [ -n "$root" ] || return 0
    local p pids=""
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids="$pids ${p#/proc/}"
    done
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    sleep 0.5
    unmount_root
}
trap 'stop_root' EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM HUP

# base SUITE: the cached root filesystem, made when missing
base() {
    local b="$cache/$1/base"
    [ -f "$b/.crmperm-base" ] && return 0
    echo "== debootstrap $1 (cached in $b)"
    rm -rf "$b" "$b.tmp"
    mkdir -p "$cache/$1"
    debootstrap --include=make,ca-certificates "$1" "$b.tmp" "$mirror" > "$cache/$1/debootstrap.log" 2>&1 ||
        { tail -5 "$cache/$1/debootstrap.log"; return 1; }
    echo "deb $mirror $1 main" > "$b.tmp/etc/apt/sources.list"
    # The registry may serve a snapshot whose Release file is past its
    # Valid-Until date (unstable's is short); a real machine has no such file.
    echo 'Acquire::Check-Valid-Until "false";' > "$b.tmp/etc/apt/apt.conf.d/99crmperm-snapshot"
    touch "$b.tmp/.crmperm-base"
    mv "$b.tmp" "$b"
}

total_pass=0
total_fail=0
summary=""
for suite in $suites; do
    if ! base "$suite"; then
        summary="$summary\n  $suite: no root filesystem"
        total_fail=$((total_fail + 1))
        continue
    fi
    root="$cache/$suite/run"
    stop_root
    rm -rf "$root"
    cp -a "$cache/$suite/base" "$root"
    mkdir -p "$cache/$suite/archives"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
    mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
    mount --bind "$cache/$suite/archives" "$root/var/cache/apt/archives"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    chmod 700 "$root/root"
    mkdir "$root/root/crmperm"
    tar -C "$top" --exclude=./.git --exclude=./test/output --exclude=./tmp_check \
        --exclude=./results --exclude=./log --exclude='*.o' --exclude='*.bc' --exclude='*.so' \
        -cf - . | tar -C "$root/root/crmperm" -xf -
    incroot() {
        $netns chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            /bin/bash -c "cd /root/crmperm && $1"
    }
    echo "== $suite: make demo"
    netns=""
    demo_ok=0
    if incroot "make demo" > "$cache/$suite/demo.out" 2>&1 &&
        grep -q 'permission denied' "$cache/$suite/demo.out"; then
        demo_ok=1
        total_pass=$((total_pass + 1))
    else
        total_fail=$((total_fail + 1))
    fi
    sed -n 's/^== running/   running/p' "$cache/$suite/demo.out"
    echo "== $suite: make test"
    netns="unshare --net -- $top/test/versions-netns.sh"
    incroot "make test" 2>&1 | tee "$cache/$suite/test.out" | sed -u "s/^/[$suite] /" |
        grep -E '^\[[a-z]+\] (== |fail |ok |not ok|[0-9]+ passed)'
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$cache/$suite/test.out" | tail -1)
    if [ -n "$line" ]; then
        p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
    else
        p=0; f=1; line="make test did not finish"
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    pg=$(sed -n 's/^== PostgreSQL \([0-9]*\) .*/\1/p' "$cache/$suite/test.out" | head -1)
    summary="$summary\n  $suite (PostgreSQL ${pg:-?}): make demo $([ $demo_ok = 1 ] && echo ok || echo FAILED), make test: $line"
    if [ "$demo_ok" != 1 ] || [ "$f" != 0 ]; then
        mkdir -p "$out/$suite"
        cp "$cache/$suite/demo.out" "$cache/$suite/test.out" "$out/$suite/"
        [ -d "$root/root/crmperm/test/output" ] && cp -r "$root/root/crmperm/test/output" "$out/$suite/output"
        chown -R --reference="$top" "$out" 2>/dev/null
    fi
    stop_root
    rm -rf "$root"
    root=""
done
echo -e "versions:$summary"
[ "$total_fail" -gt 0 ] && echo "(outputs: test/output/versions/)"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]

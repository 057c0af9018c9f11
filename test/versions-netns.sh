#!/bin/sh
# test/versions-netns.sh CMD...: in a new network namespace (unshare --net),
# bring loopback up, then run CMD (make test-versions' make test).
ip link set lo up || exit 1
exec "$@"

#!/usr/bin/env bash
# Does this feedcached accept a --redis URL?
#
#   scripts/feedcached-accepts-url.sh FEEDCACHED URL
#
# Exit 0: it does; 1: it refuses it at start-up (its message is printed);
# 2: usage. The cluster tests ask this about redis-cluster:// URLs so that
# they skip, saying why, while the daemon does not speak Redis Cluster yet,
# instead of failing for a missing feature.
#
# feedcached checks every setting before it opens anything and exits 2 with
# "flag --redis: ..." on a bad one. The probe gives it an RPC address it
# cannot bind (a unix socket in a directory that does not exist), so when
# the URL passes it stops right after, having served nothing; should it
# hang on to the seeds instead, it is killed (by PID) after 5 s: accepted.
set -uo pipefail

[ $# -eq 2 ] || { echo "usage: $0 FEEDCACHED URL" >&2; exit 2; }
FEEDCACHED=$1
URL=$2
[ -x "$FEEDCACHED" ] || { echo "$FEEDCACHED: not an executable" >&2; exit 2; }

out=$(mktemp /tmp/fc-accepts.XXXXXX)
trap 'rm -f "$out"' EXIT
"$FEEDCACHED" --redis "$URL" --pg 'host=/nonexistent dbname=none' \
    --listen "unix:/nonexistent-$$/rpc.sock" --metrics-listen off >"$out" 2>&1 &
pid=$!
for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    exit 0
fi
wait "$pid"
status=$?
if [ "$status" -eq 2 ] && grep -q -- '--redis' "$out"; then
    grep -- '--redis' "$out" >&2
    exit 1
fi
exit 0

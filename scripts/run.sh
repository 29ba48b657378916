#!/usr/bin/env bash
# The demo, in one command: installs what is missing, builds, starts a
# throwaway Redis and PostgreSQL (scripts/services.sh) on free loopback ports,
# loads the demo graph (scripts/demo-data.sql), and runs feedcached in the
# foreground. Ctrl-C (or feedcached exiting, or any failure) stops everything
# this script started.
#
#   scripts/run.sh [extra feedcached flags, e.g. --log-level debug --celebrity-threshold 300]
#
# Knobs (environment): FC_BUILD_DIR [build], FC_STATE_DIR [.tmp/services],
# FC_LISTEN [127.0.0.1:7400], FC_METRICS_LISTEN [127.0.0.1:9464].
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

BUILD=${FC_BUILD_DIR:-build}
STATE_DIR=${FC_STATE_DIR:-$REPO/.tmp/services}
LISTEN=${FC_LISTEN:-127.0.0.1:7400}
METRICS_LISTEN=${FC_METRICS_LISTEN:-127.0.0.1:9464}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
FEEDCACHED=$BUILD/src/feedcached/feedcached
CTL=$BUILD/src/ctl/feedcachectl

say() { printf 'run: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

services_started=0
daemon_pid=

# shellcheck disable=SC2317  # invoked by the traps below
cleanup() {
    local rc=$?
    # A second Ctrl-C must not cut the cleanup short (it is bounded: at most
    # 12 s for feedcached, then the servers are stopped by PID).
    trap - EXIT
    trap '' INT TERM
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        say "stopping feedcached (pid $daemon_pid)"
        kill -TERM "$daemon_pid" 2>/dev/null || true
        # The contract gives feedcached 10 s to drain; then it is killed.
        for ((i = 0; i < 120; i++)); do
            kill -0 "$daemon_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$daemon_pid" 2>/dev/null; then
            say "feedcached still running after 12 s; killing it"
            kill -KILL "$daemon_pid" 2>/dev/null || true
        fi
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ "$services_started" = 1 ]; then
        bash scripts/services.sh stop "$STATE_DIR" || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# An address HOST:PORT whose port already accepts connections.
addr_busy() {
    case "$1" in unix:*) return 1 ;; esac
    local host=${1%:*} port=${1##*:}
    timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# Fail before doing any work when the fixed demo ports are taken.
for a in "$LISTEN" "$METRICS_LISTEN"; do
    [ "$a" = off ] && continue
    if addr_busy "$a"; then
        die "$a is already in use (another feedcached?). Stop it, or set FC_LISTEN / FC_METRICS_LISTEN."
    fi
done

say "1/4 dependencies"
bash scripts/install-deps.sh

say "2/4 build ($BUILD)"
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD"
fi
ninja -C "$BUILD"
[ -x "$FEEDCACHED" ] || die "$FEEDCACHED was not built"

say "3/4 Redis + PostgreSQL ($STATE_DIR)"
services_started=1     # services.sh cleans up itself if start fails half way
bash scripts/services.sh start "$STATE_DIR"
# Not exported: feedcached gets the addresses as flags, and would warn about
# FEEDCACHE_* variables it does not know.
# shellcheck disable=SC1091
. "$STATE_DIR/env"

say "4/4 demo data"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$FEEDCACHE_TEST_PG" -f scripts/demo-data.sql ||
    die "loading scripts/demo-data.sql failed"

if [ -x "$CTL" ]; then
    ctl_note=""
else
    ctl_note="   (feedcachectl is not built yet)"
fi
cat <<EOF

feedcache demo
  RPC (msgpack-RPC)  $LISTEN
  metrics            http://$METRICS_LISTEN/metrics   health: http://$METRICS_LISTEN/healthz
  Redis              $FEEDCACHE_TEST_REDIS_URL   (redis-cli -p $FEEDCACHE_TEST_REDIS_PORT)
  PostgreSQL         $FEEDCACHE_TEST_PG   (psql "$FEEDCACHE_TEST_PG")
  demo data          users 1..1000 (1..5 are celebrities with 300..700 followers), 20000 posts

Try, in another terminal:
  $CTL --addr $LISTEN ping$ctl_note
  curl -s http://$METRICS_LISTEN/metrics | grep '^feedcache_'
  curl -s http://$METRICS_LISTEN/healthz

Ctrl-C stops feedcached, Redis and PostgreSQL.

EOF

# feedcached runs in its own session so that Ctrl-C reaches only this script,
# which then sends it exactly one SIGTERM (a clean shutdown) and stops the
# servers. (No job control here, so setsid does not fork: $! is feedcached.)
setsid "$FEEDCACHED" --listen "$LISTEN" --metrics-listen "$METRICS_LISTEN" \
    --redis "$FEEDCACHE_TEST_REDIS_URL" --pg "$FEEDCACHE_TEST_PG" "$@" &
daemon_pid=$!
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
say "feedcached exited with status $rc"
exit "$rc"

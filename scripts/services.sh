#!/usr/bin/env bash
# Throwaway Redis and PostgreSQL 15 for feedcache's tests and demo.
#
#   scripts/services.sh start  [STATE_DIR]   start both, write STATE_DIR/env
#   scripts/services.sh stop   [STATE_DIR]   stop both (by PID), remove STATE_DIR
#   scripts/services.sh status [STATE_DIR]   show addresses; exit 0 when both answer
#
# STATE_DIR defaults to $FC_STATE_DIR, else <repo>/.tmp/services.
#
# Both servers listen on 127.0.0.1 only, on free ports probed upwards from a
# random base in 20000-29999, so several copies (a demo, a test run, a CI job)
# can run side by side and none collides with a system Redis/PostgreSQL.
# STATE_DIR/env holds the addresses as shell assignments:
#   set -a; . STATE_DIR/env; set +a
#
# PostgreSQL refuses to run as root, so as root it runs as the `postgres`
# user. That user may not be able to reach STATE_DIR (a checkout under /root),
# and a unix socket path must stay under ~107 bytes; in either case its data
# goes to a fresh /tmp/feedcache-pg.XXXXXX instead, recorded in STATE_DIR/state.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SCHEMA=${FC_SCHEMA:-$REPO/sql/schema.sql}
MARKER=.feedcache-services      # only a dir holding this file is ever removed

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    echo "usage: $0 start|stop|status [STATE_DIR]" >&2
    exit 2
}

cmd=${1:-}
[ $# -le 2 ] || usage
STATE_DIR=${2:-${FC_STATE_DIR:-$REPO/.tmp/services}}
case "$STATE_DIR" in /*) ;; *) STATE_DIR=$PWD/$STATE_DIR ;; esac
STATE_DIR=${STATE_DIR%/}
[ -n "$STATE_DIR" ] || die "refusing to use / as the state directory"

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# Runs a PostgreSQL server tool as the user that owns the cluster. From / so
# that the tool does not trip over a working directory it cannot read.
as_pg() {
    if [ "$IS_ROOT" = 1 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# Prints the last lines of a server log, indented, for error messages.
show_log() {
    if [ -s "$1" ]; then
        say "last lines of $1:"
        tail -n "${2:-20}" "$1" | sed 's/^/    /' >&2
    else
        say "(no log at $1)"
    fi
}

# True when PID is alive and its command line mentions WHAT (so a stale
# pidfile whose number was reused by another process is not obeyed).
pid_is() {
    local pid=$1 what=$2
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$what"
}

# Sends TERM, waits up to $2 seconds, then KILL.
kill_wait() {
    local pid=$1 secs=${2:-10} i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "pid $pid did not stop within ${secs}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# --- ports ----------------------------------------------------------------

port_in_use() {
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && return 0
    fi
    # ss may be missing (minimal images): try to connect.
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null && return 0
    return 1
}

# First free port at or above $1 (wrapping within 20000-29999), skipping $2.
pick_port() {
    local p=$1 skip=${2:-0} n
    for ((n = 0; n < 10000; n++)); do
        if [ "$p" -gt 29999 ]; then p=20000; fi
        if [ "$p" != "$skip" ] && ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
        p=$((p + 1))
    done
    return 1
}

# --- state ----------------------------------------------------------------

REDIS_DIR=$STATE_DIR/redis
REDIS_PIDFILE=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log
PG_ROOT=
REDIS_PORT=
PG_PORT=

load_state() {
    PG_ROOT=$STATE_DIR/pg
    if [ -f "$STATE_DIR/state" ]; then
        # shellcheck disable=SC1091
        . "$STATE_DIR/state"
    fi
}

redis_pid() {
    local pid
    pid=$(cat "$REDIS_PIDFILE" 2>/dev/null || true)
    pid_is "$pid" redis-server && echo "$pid"
}

pg_pid() {
    local pid
    pid=$(head -n 1 "$PG_ROOT/data/postmaster.pid" 2>/dev/null || true)
    pid_is "$pid" postgres && echo "$pid"
}

# --- Redis ----------------------------------------------------------------

start_redis() {
    local base=$1 port i pid
    mkdir -p "$REDIS_DIR"
    port=$(pick_port "$base") || die "no free port for Redis in 20000-29999"
    for _ in 1 2 3 4 5; do
        rm -f "$REDIS_PIDFILE"
        : >"$REDIS_LOG"
        # zset-max-listpack-entries 1024: an 800-entry home feed stays a
        # listpack (measured ~21 bytes/entry, against ~129 as a skiplist).
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" \
            --dir "$REDIS_DIR" --zset-max-listpack-entries 1024 \
            || { show_log "$REDIS_LOG"; die "redis-server failed to start"; }
        # Ready when our own process (by PID) answers on the port.
        for ((i = 0; i < 100; i++)); do
            pid=$(redis_pid || true)
            if [ -n "$pid" ] &&
                redis-cli -h 127.0.0.1 -p "$port" INFO server 2>/dev/null |
                grep -qE "^process_id:$pid"$'\r?$'; then
                REDIS_PORT=$port
                return 0
            fi
            if [ -z "$pid" ] && [ "$i" -ge 10 ] && grep -q 'Address already in use' "$REDIS_LOG"; then
                break
            fi
            sleep 0.1
        done
        if grep -q 'Address already in use' "$REDIS_LOG"; then
            # Someone took the port between the probe and the bind.
            say "port $port was taken meanwhile; trying another"
            port=$(pick_port $((port + 1))) || die "no free port for Redis"
            continue
        fi
        show_log "$REDIS_LOG"
        die "redis-server did not come up on 127.0.0.1:$port"
    done
    die "could not find a free port for Redis after 5 attempts"
}

# --- PostgreSQL -------------------------------------------------------------

# Chooses PG_ROOT: STATE_DIR/pg when the cluster owner can use it, else /tmp.
prepare_pg_root() {
    PG_ROOT=$STATE_DIR/pg
    mkdir -p "$PG_ROOT"
    local ok=1
    if [ "$IS_ROOT" = 1 ]; then
        id postgres >/dev/null 2>&1 ||
            die "no 'postgres' user (install postgresql-15: scripts/install-deps.sh)"
        chown postgres: "$PG_ROOT"
        runuser -u postgres -- test -w "$PG_ROOT" -a -x "$PG_ROOT" 2>/dev/null || ok=0
    fi
    # Socket path: PG_ROOT/.s.PGSQL.NNNNN must fit in sun_path (108 bytes).
    [ $((${#PG_ROOT} + 17)) -lt 100 ] || ok=0
    if [ "$ok" = 0 ]; then
        rmdir "$PG_ROOT"
        PG_ROOT=$(mktemp -d /tmp/feedcache-pg.XXXXXX)
        [ "$IS_ROOT" = 1 ] && chown postgres: "$PG_ROOT"
        say "postgres cannot use $STATE_DIR; its data lives in $PG_ROOT"
    fi
    chmod 700 "$PG_ROOT"
    # Recorded at once so that `stop` finds it even if start fails half way.
    printf 'PG_ROOT=%q\n' "$PG_ROOT" >"$STATE_DIR/state"
}

psql_run() {
    local db=$1
    shift
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$PG_PORT user=postgres dbname=$db" "$@"
}

start_pg() {
    local base=$1 skip=$2 port
    prepare_pg_root

    if ! as_pg "$PG_BIN/initdb" -D "$PG_ROOT/data" -U postgres --auth=trust \
        -E UTF8 --locale=C --no-sync >"$PG_ROOT/initdb.log" 2>&1; then
        show_log "$PG_ROOT/initdb.log"
        die "initdb failed"
    fi
    # A throwaway cluster: durability off, loopback only, socket in PG_ROOT.
    cat >>"$PG_ROOT/data/postgresql.conf" <<EOF

# --- scripts/services.sh: throwaway test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_ROOT'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF

    port=$(pick_port "$base" "$skip") || die "no free port for PostgreSQL in 20000-29999"
    for _ in 1 2 3 4 5; do
        rm -f "$PG_ROOT/postgres.log"     # pg_ctl -l appends; keep this attempt only
        if as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/postgres.log" \
            -o "-p $port" -w -t 30 start >"$PG_ROOT/pg_ctl.log" 2>&1; then
            PG_PORT=$port
            break
        fi
        if grep -q -e 'could not bind' -e 'Address already in use' "$PG_ROOT/postgres.log"; then
            say "port $port was taken meanwhile; trying another"
            port=$(pick_port $((port + 1)) "$skip") || die "no free port for PostgreSQL"
            continue
        fi
        cat "$PG_ROOT/pg_ctl.log" >&2
        show_log "$PG_ROOT/postgres.log"
        die "PostgreSQL did not start on 127.0.0.1:$port"
    done
    [ -n "$PG_PORT" ] || die "could not find a free port for PostgreSQL after 5 attempts"

    psql_run postgres -c 'CREATE DATABASE feedcache' ||
        { show_log "$PG_ROOT/postgres.log"; die "CREATE DATABASE feedcache failed"; }
    psql_run feedcache -f "$SCHEMA" ||
        { show_log "$PG_ROOT/postgres.log"; die "applying $SCHEMA failed"; }
}

# --- commands ---------------------------------------------------------------

stop_all() {
    local pid stopped=0
    [ -d "$STATE_DIR" ] || return 0
    load_state

    pid=$(redis_pid || true)
    if [ -n "$pid" ]; then
        kill_wait "$pid" 10
        say "redis stopped (pid $pid)"
        stopped=1
    fi

    pid=$(pg_pid || true)
    if [ -n "$pid" ]; then
        if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m fast -w -t 20 stop >/dev/null 2>&1; then
            say "pg_ctl stop failed; signalling the postmaster"
            kill_wait "$pid" 10
        fi
        say "postgresql stopped (pid $pid)"
        stopped=1
    fi

    # Only remove what this script created.
    if [ -n "$PG_ROOT" ] && [ "$PG_ROOT" != "$STATE_DIR/pg" ]; then
        case "$PG_ROOT" in /tmp/feedcache-pg.*) rm -rf "$PG_ROOT" ;; esac
    fi
    if [ -f "$STATE_DIR/$MARKER" ]; then
        rm -rf "$STATE_DIR"
    else
        say "warning: $STATE_DIR was not made by this script; left in place"
    fi
    [ "$stopped" = 1 ] || say "nothing was running in $STATE_DIR"
}

cmd_start() {
    # Check the tools before starting anything.
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        die "redis-server/redis-cli not found (run scripts/install-deps.sh)"
    fi
    [ -x "$PG_BIN/initdb" ] ||
        die "$PG_BIN/initdb not found (PostgreSQL 15 server: run scripts/install-deps.sh, or set PG_BIN)"
    [ -f "$SCHEMA" ] || die "schema $SCHEMA not found"
    if [ -d "$STATE_DIR" ]; then
        [ -f "$STATE_DIR/$MARKER" ] || [ -z "$(ls -A "$STATE_DIR")" ] ||
            die "$STATE_DIR exists and was not made by this script; choose another STATE_DIR"
        load_state
        if [ -n "$(redis_pid || true)" ] || [ -n "$(pg_pid || true)" ]; then
            die "services already running in $STATE_DIR (run: $0 stop $STATE_DIR)"
        fi
        # Left over from a run that was killed: clear it.
        stop_all 2>/dev/null
    fi
    mkdir -p "$STATE_DIR"
    : >"$STATE_DIR/$MARKER"
    # From here on, a failure undoes whatever was started.
    trap 'rc=$?; if [ $rc -ne 0 ]; then say "start failed; cleaning up"; stop_all; fi' EXIT

    local base=${FC_PORT_BASE:-$((20000 + RANDOM % 10000))}
    start_redis "$base"
    start_pg $((REDIS_PORT + 1)) "$REDIS_PORT"

    printf 'PG_ROOT=%q\nREDIS_PORT=%s\nPG_PORT=%s\n' "$PG_ROOT" "$REDIS_PORT" "$PG_PORT" \
        >"$STATE_DIR/state"
    cat >"$STATE_DIR/env" <<EOF
# Written by scripts/services.sh start. Use: set -a; . $STATE_DIR/env; set +a
FEEDCACHE_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
FEEDCACHE_TEST_REDIS_PORT=$REDIS_PORT
FEEDCACHE_TEST_PG='host=127.0.0.1 port=$PG_PORT user=postgres dbname=feedcache'
FEEDCACHE_TEST_PG_PORT=$PG_PORT
EOF
    trap - EXIT
    say "redis      127.0.0.1:$REDIS_PORT (pid $(redis_pid), log $REDIS_LOG)"
    say "postgresql 127.0.0.1:$PG_PORT (pid $(pg_pid), db feedcache, log $PG_ROOT/postgres.log)"
    say "env        $STATE_DIR/env"
}

cmd_status() {
    local rc=0 pid
    if [ ! -f "$STATE_DIR/$MARKER" ]; then
        say "not started ($STATE_DIR)"
        return 1
    fi
    load_state
    pid=$(redis_pid || true)
    if [ -n "$pid" ] && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" PING 2>/dev/null | grep -q PONG; then
        say "redis      127.0.0.1:$REDIS_PORT up (pid $pid)"
    else
        say "redis      127.0.0.1:${REDIS_PORT:-?} DOWN"
        rc=1
    fi
    pid=$(pg_pid || true)
    if [ -n "$pid" ] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
        say "postgresql 127.0.0.1:$PG_PORT up (pid $pid, data $PG_ROOT/data)"
    else
        say "postgresql 127.0.0.1:${PG_PORT:-?} DOWN"
        rc=1
    fi
    [ -f "$STATE_DIR/env" ] && cat "$STATE_DIR/env"
    return $rc
}

case "$cmd" in
    start) cmd_start ;;
    stop) stop_all ;;
    status) cmd_status ;;
    *) usage ;;
esac

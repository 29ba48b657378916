#!/usr/bin/env bash
# Throwaway Redis and PostgreSQL 15 for feedcache's tests and demo.
#
#   scripts/services.sh start  [STATE_DIR]   start both, write STATE_DIR/env
#   scripts/services.sh stop   [STATE_DIR]   stop everything (by PID), remove STATE_DIR
#   scripts/services.sh status [STATE_DIR]   show addresses; exit 0 when all answer
#   scripts/services.sh start-cluster [STATE_DIR]   add a Redis Cluster (below)
#   scripts/services.sh stop-cluster  [STATE_DIR]   stop the cluster only
#
# STATE_DIR defaults to $FC_STATE_DIR, else <repo>/.tmp/services.
#
# Redis Cluster: `FC_CLUSTER=1 scripts/services.sh start DIR` also starts a
# throwaway cluster; `start-cluster DIR` adds one to running services (or to
# an empty DIR: then the cluster alone). Six `redis-server --cluster-enabled
# yes` nodes on loopback, three masters and one replica each (`redis-cli
# --cluster create --cluster-replicas 1`), with --cluster-node-timeout 1000
# so that a failover takes a second or two, and 64 MB each. Start returns
# once every node reports cluster_state:ok, agrees on all 16384 slots and
# every replica is in sync. It appends to DIR/env:
#   FEEDCACHE_TEST_REDIS_CLUSTER_URL=redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#   FEEDCACHE_TEST_REDIS_CLUSTER_PORTS="P1 P2 P3 P4 P5 P6"
# (the URL names three nodes as seeds; which of them are masters is the
# cluster's business, and changes with failovers). Node N keeps its pid
# file, log and nodes.conf in DIR/cluster/PORT/.
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
    echo "usage: $0 start|stop|status|start-cluster|stop-cluster [STATE_DIR]" >&2
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
    local cmdline
    # Read into a variable, not piped to `grep -q`: with pipefail, grep
    # quitting at its first match can kill the writer with SIGPIPE.
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ "$cmdline" == *"$what"* ]]
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
        # hash-max-listpack-value 1024: for builds before 2026-12-04, which
        # cached posts as hashes (benchmarks compare them with this one); a
        # post is one string now.
        # FC_REDIS_THP=1: Redis's heap in transparent huge pages (jemalloc
        # asks for them; Redis's own disable-thp is turned off), for hosts
        # that stop a process in proportion to its 4 KB pages
        # (bench/micro/redis_stall.py; docs/OPERATIONS.md, "Deploying").
        local thp=()
        [ "${FC_REDIS_THP:-}" = 1 ] && thp=(env MALLOC_CONF=thp:always,metadata_thp:always)
        "${thp[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" \
            --dir "$REDIS_DIR" --zset-max-listpack-entries 1024 \
            --hash-max-listpack-value 1024 \
            ${thp[@]:+--disable-thp no} \
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

# --- Redis Cluster ----------------------------------------------------------

CLUSTER_DIR=$STATE_DIR/cluster
CLUSTER_NODES=6
CLUSTER_PORTS=

load_cluster_state() {
    CLUSTER_PORTS=
    if [ -f "$CLUSTER_DIR/state" ]; then
        # shellcheck disable=SC1091
        . "$CLUSTER_DIR/state"
    fi
}

# The PID of the node on PORT, when it runs (its command line names the
# address, so a reused PID of another Redis is not obeyed).
cluster_node_pid() {
    local port=$1 pid
    pid=$(cat "$CLUSTER_DIR/$port/redis.pid" 2>/dev/null || true)
    pid_is "$pid" "redis-server 127.0.0.1:$port" && echo "$pid"
}

# A cluster node also listens on its bus port, PORT + 10000: both must be
# free, and the bus port must stay a valid port.
pick_cluster_port() {
    local p=$1 taken=" $2 " n
    for ((n = 0; n < 10000; n++)); do
        if [ "$p" -gt 29999 ]; then p=20000; fi
        if [[ "$taken" != *" $p "* ]] && ! port_in_use "$p" && ! port_in_use $((p + 10000)); then
            echo "$p"
            return 0
        fi
        p=$((p + 1))
    done
    return 1
}

# Starts one empty node on a free port at or above $1 (not in $2); prints
# the port. A node that does not come up: its log, and the script dies.
start_cluster_node() {
    local base=$1 taken=$2 port dir pid i
    port=$(pick_cluster_port "$base" "$taken") || die "no free port pair for a cluster node"
    for _ in 1 2 3 4 5; do
        dir=$CLUSTER_DIR/$port
        rm -rf "$dir"
        mkdir -p "$dir"
        # Small and disposable: no persistence, 64 MB, and a node timeout of
        # 1 s so that the failover tests see a replica promoted within ~2 s.
        # --maxmemory-policy stays noeviction: a full node must fail writes
        # loudly, not drop fan-out jobs or feeds behind the tests' backs.
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
            --cluster-node-timeout 1000 --maxmemory 64mb \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
            --dir "$dir" --zset-max-listpack-entries 1024 \
            --hash-max-listpack-value 1024 \
            || { show_log "$dir/redis.log"; die "cluster node on port $port failed to start"; }
        for ((i = 0; i < 100; i++)); do
            pid=$(cluster_node_pid "$port" || true)
            if [ -n "$pid" ] &&
                redis-cli -h 127.0.0.1 -p "$port" INFO server 2>/dev/null |
                grep -qE "^process_id:$pid"$'\r?$'; then
                echo "$port"
                return 0
            fi
            if [ -z "$pid" ] && [ "$i" -ge 10 ] && grep -q 'Address already in use' "$dir/redis.log"; then
                break
            fi
            sleep 0.1
        done
        if grep -q 'Address already in use' "$dir/redis.log"; then
            say "port $port (or its bus port $((port + 10000))) was taken meanwhile; trying another"
            rm -rf "$dir"
            port=$(pick_cluster_port $((port + 1)) "$taken") || die "no free port pair for a cluster node"
            continue
        fi
        show_log "$dir/redis.log"
        die "cluster node did not come up on 127.0.0.1:$port"
    done
    die "could not find a free port pair for a cluster node after 5 attempts"
}

# One field of `CLUSTER INFO` / `INFO replication` of the node on PORT.
node_field() {
    local port=$1 section=$2 field=$3
    # shellcheck disable=SC2086  # $section is a command of one or two words
    redis-cli -h 127.0.0.1 -p "$port" $section 2>/dev/null |
        tr -d '\r' | sed -n "s/^$field://p"
}

# True when every node says cluster_state:ok with all slots assigned and
# none failing, the nodes agree on which node serves which slots, and every
# replica's link to its master is up (a failover test needs a synced one).
cluster_ready() {
    local port first='' slots
    for port in $CLUSTER_PORTS; do
        [ "$(node_field "$port" 'CLUSTER INFO' cluster_state)" = ok ] || return 1
        [ "$(node_field "$port" 'CLUSTER INFO' cluster_slots_ok)" = 16384 ] || return 1
        [ "$(node_field "$port" 'CLUSTER INFO' cluster_known_nodes)" = "$CLUSTER_NODES" ] || return 1
        # The slot map as this node sees it: "first-last owner-id" lines.
        slots=$(redis-cli -h 127.0.0.1 -p "$port" CLUSTER NODES 2>/dev/null | tr -d '\r' |
            awk '$3 ~ /master/ && $3 !~ /fail/ { for (i = 9; i <= NF; i++) print $i, $1 }' | sort)
        [ -n "$slots" ] || return 1
        if [ -z "$first" ]; then
            first=$slots
        elif [ "$slots" != "$first" ]; then
            return 1
        fi
        if [ "$(node_field "$port" 'INFO replication' role)" = slave ]; then
            [ "$(node_field "$port" 'INFO replication' master_link_status)" = up ] || return 1
        fi
    done
    return 0
}

# Stops every node by PID: TERM to all at once (each takes a second or two
# to exit), then waits for each; sets CLUSTER_STOPPED to how many ran.
CLUSTER_STOPPED=0
stop_cluster() {
    local dir port pid pids=()
    CLUSTER_STOPPED=0
    [ -d "$CLUSTER_DIR" ] || return 0
    # Every node directory, also of a start that died before writing state.
    for dir in "$CLUSTER_DIR"/*/; do
        [ -d "$dir" ] || continue
        port=$(basename "$dir")
        pid=$(cluster_node_pid "$port" || true)
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        kill_wait "$pid" 10
    done
    CLUSTER_STOPPED=${#pids[@]}
    [ "$CLUSTER_STOPPED" -eq 0 ] || say "redis cluster stopped ($CLUSTER_STOPPED nodes)"
    rm -rf "$CLUSTER_DIR"
    if [ -f "$STATE_DIR/env" ]; then
        sed -i '/^FEEDCACHE_TEST_REDIS_CLUSTER_/d' "$STATE_DIR/env"
    fi
    CLUSTER_PORTS=
}

start_cluster() {
    local base=$1 port taken='' i seeds create_log
    [ ! -d "$CLUSTER_DIR" ] || die "a cluster already runs in $STATE_DIR (run: $0 stop-cluster $STATE_DIR)"
    mkdir -p "$CLUSTER_DIR"
    port=$base
    for ((i = 0; i < CLUSTER_NODES; i++)); do
        port=$(start_cluster_node "$port" "$taken")
        taken="$taken $port"
        port=$((port + 1))
    done
    CLUSTER_PORTS=${taken# }
    printf 'CLUSTER_PORTS=%q\n' "$CLUSTER_PORTS" >"$CLUSTER_DIR/state"

    create_log=$CLUSTER_DIR/create.log
    # shellcheck disable=SC2046,SC2086  # one argument per node
    if ! redis-cli --cluster create $(printf '127.0.0.1:%s ' $CLUSTER_PORTS) \
        --cluster-replicas 1 --cluster-yes >"$create_log" 2>&1; then
        show_log "$create_log" 40
        die "redis-cli --cluster create failed"
    fi
    for ((i = 0; i < 300; i++)); do
        cluster_ready && break
        sleep 0.1
    done
    if ! cluster_ready; then
        for port in $CLUSTER_PORTS; do
            say "node $port: $(node_field "$port" 'CLUSTER INFO' cluster_state)," \
                "$(node_field "$port" 'INFO replication' role)"
        done
        redis-cli -h 127.0.0.1 -p "${CLUSTER_PORTS%% *}" CLUSTER NODES >&2 || true
        die "the cluster did not become ready within 30 s"
    fi
    # The first three nodes as seeds. Not `printf | head -n 3`: head quits
    # after three lines, printf may still be writing, dies of SIGPIPE, and
    # pipefail plus set -e end the whole start silently (seen in CI).
    local seed_ports
    read -r -a seed_ports <<<"$CLUSTER_PORTS"
    seeds="127.0.0.1:${seed_ports[0]},127.0.0.1:${seed_ports[1]},127.0.0.1:${seed_ports[2]}"
    cat >>"$STATE_DIR/env" <<EOT
FEEDCACHE_TEST_REDIS_CLUSTER_URL=redis-cluster://$seeds
FEEDCACHE_TEST_REDIS_CLUSTER_PORTS="$CLUSTER_PORTS"
EOT
    say "redis cluster 127.0.0.1:{${CLUSTER_PORTS// /,}} (3 masters + 3 replicas, logs $CLUSTER_DIR/PORT/redis.log)"
}

cluster_status() {
    local port pid rc=0
    load_cluster_state
    [ -n "$CLUSTER_PORTS" ] || return 0
    for port in $CLUSTER_PORTS; do
        pid=$(cluster_node_pid "$port" || true)
        if [ -n "$pid" ] && redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null | grep -q PONG; then
            say "cluster    127.0.0.1:$port up (pid $pid, $(node_field "$port" 'INFO replication' role)," \
                "cluster_state $(node_field "$port" 'CLUSTER INFO' cluster_state))"
        else
            say "cluster    127.0.0.1:$port DOWN"
            rc=1
        fi
    done
    return $rc
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
    stop_cluster
    [ "$CLUSTER_STOPPED" -eq 0 ] || stopped=1

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
    trap 'rc=$?; if [ $rc -ne 0 ]; then say "start failed (exit status $rc); cleaning up"; stop_all; fi' EXIT

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
    if [ "${FC_CLUSTER:-0}" = 1 ]; then
        start_cluster $((PG_PORT + 1))
    fi
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
    load_cluster_state
    if [ -z "$REDIS_PORT" ] && [ -n "$CLUSTER_PORTS" ]; then
        cluster_status || rc=1      # a cluster alone (start-cluster on an empty dir)
        [ -f "$STATE_DIR/env" ] && cat "$STATE_DIR/env"
        return $rc
    fi
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
    cluster_status || rc=1
    [ -f "$STATE_DIR/env" ] && cat "$STATE_DIR/env"
    return $rc
}

# Adds a cluster to the services running in STATE_DIR, or starts one alone
# in a new STATE_DIR.
cmd_start_cluster() {
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        die "redis-server/redis-cli not found (run scripts/install-deps.sh)"
    fi
    # Global: the EXIT trap below reads it after this function has returned.
    FRESH_DIR=0
    if [ -d "$STATE_DIR" ]; then
        [ -f "$STATE_DIR/$MARKER" ] || [ -z "$(ls -A "$STATE_DIR")" ] ||
            die "$STATE_DIR exists and was not made by this script; choose another STATE_DIR"
    else
        FRESH_DIR=1
    fi
    mkdir -p "$STATE_DIR"
    : >"$STATE_DIR/$MARKER"
    load_state
    trap 'rc=$?; if [ $rc -ne 0 ]; then say "start-cluster failed (exit status $rc); cleaning up"; stop_cluster;
          [ "$FRESH_DIR" = 0 ] || rm -rf "$STATE_DIR"; fi' EXIT
    start_cluster "${FC_PORT_BASE:-$((20000 + RANDOM % 10000))}"
    trap - EXIT
}

case "$cmd" in
    start) cmd_start ;;
    stop) stop_all ;;
    status) cmd_status ;;
    start-cluster) cmd_start_cluster ;;
    stop-cluster) stop_cluster ;;
    *) usage ;;
esac

#!/usr/bin/env bash
# The TypeScript client (clients/node/) against a real feedcached:
#
#   1. `npm ci` in clients/node (skipped when node_modules already holds
#      exactly what package-lock.json names; otherwise from ~/.npm's cache or
#      the npm registry). If it fails, the test FAILS: no network and no
#      cache is a broken test run, never a pass or a skip.
#   2. a database of its own (sql/schema.sql + scripts/demo-data.sql) on the
#      test PostgreSQL ($FEEDCACHE_TEST_PG), and three feedcached on free
#      loopback ports, all on $FEEDCACHE_TEST_REDIS_URL (single Redis or
#      Redis Cluster) with a key prefix of their own:
#        main         auth_tokens_file with a read, a write and an admin token;
#                     celebrity_threshold 300 (the demo's celebrities)
#        unavailable  Redis on a port nobody listens on: writes answer
#                     UNAVAILABLE with retry_after_ms, reads come from
#                     PostgreSQL; admission fixed at 1 call in progress, so
#                     pipelined reads get OVERLOADED
#        victim       killed (SIGKILL) by the test, for connection loss
#   3. `npm test`: tsc, then node --test on the compiled unit tests (codec,
#      errors, token files, the retry helper with a fake clock, pipelining
#      and connection loss against a fake server) and integration tests
#      (every method against the daemons above).
#   4. SIGTERM to main and unavailable: both must exit 0 (under ASan, a leak
#      or an error report fails the test there).
#
# Needs FEEDCACHED, node >= 18 and npm (scripts/install-deps.sh installs
# them; missing, the test fails), psql and redis-cli; skips (77) without
# FEEDCACHE_TEST_PG / FEEDCACHE_TEST_REDIS_URL (scripts/test.sh sets them).
set -euo pipefail

: "${FEEDCACHED:?FEEDCACHED must name the feedcached binary}"
if [ -z "${FEEDCACHE_TEST_PG:-}" ] || [ -z "${FEEDCACHE_TEST_REDIS_URL:-}" ]; then
    echo "SKIP: FEEDCACHE_TEST_PG / FEEDCACHE_TEST_REDIS_URL are not set (scripts/test.sh sets them)"
    exit 77
fi
for tool in psql redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${FEEDCACHE_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
PKG=$REPO/clients/node

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*"; }
die() { log "FAIL - $*"; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are needed (scripts/install-deps.sh installs them: apt-get install nodejs npm)"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 18 ] || die "node $(node --version) is too old: the client needs node >= 18"
log "node $(node --version), npm $(npm --version)"

# --- 1. dependencies --------------------------------------------------------------
# npm ci wipes node_modules and reinstalls, even when nothing changed; the
# stamp (the lock file's hash) lets a second run in the same tree (the
# cluster and ASan steps of scripts/test.sh) start at once, offline.
cd "$PKG"
STAMP=node_modules/.feedcache-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    log "node_modules is up to date with package-lock.json: npm ci skipped"
else
    t0=$SECONDS
    log "npm ci (from ~/.npm's cache when it has everything, else the npm registry)"
    # Bounded, so that a network that drops packets fails within the meson
    # timeout with the message below rather than a bare TIMEOUT.
    if ! npm ci --prefer-offline --no-audit --no-fund --loglevel=error \
        --fetch-retries=1 --fetch-timeout=60000; then
        die "npm ci failed in $PKG (npm's message is above): most likely the npm registry cannot be reached and ~/.npm's cache lacks packages of package-lock.json; the client cannot be tested without them"
    fi
    echo "$want" >"$STAMP"
    log "npm ci took $((SECONDS - t0)) s"
fi

# --- 2. database and daemons ---------------------------------------------------------
T=$(mktemp -d /tmp/fc-test-node.XXXXXX)
DB=fc_node_$$
DB_MADE=0
MAIN_PID=
UNAV_PID=
VICTIM_PID=

psql_admin() {
    local db=$1
    shift
    PGOPTIONS="-c client_min_messages=warning" \
        psql -X -q -v ON_ERROR_STOP=1 "$FEEDCACHE_TEST_PG dbname=$db" "$@"
}

# True while process $1 runs (a zombie, e.g. the victim the test killed,
# does not count: it is only waiting to be reaped).
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    if ! alive "$pid"; then
        wait "$pid" 2>/dev/null || true
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    stop_pid "$MAIN_PID"
    stop_pid "$UNAV_PID"
    stop_pid "$VICTIM_PID"
    if [ "$DB_MADE" = 1 ]; then
        psql_admin postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" ||
            echo "warning: could not drop database $DB"
    fi
    if [ $rc -ne 0 ]; then
        local f
        for f in main unavailable victim; do
            if [ -s "$T/$f.log" ]; then
                echo "--- last lines of the $f feedcached's log:"
                tail -n 30 "$T/$f.log"
            fi
        done
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

psql_admin postgres -c "CREATE DATABASE $DB" || die "CREATE DATABASE $DB"
DB_MADE=1
psql_admin "$DB" -f "$REPO/sql/schema.sql" >/dev/null || die "sql/schema.sql"
psql_admin "$DB" -f "$REPO/scripts/demo-data.sql" >/dev/null || die "scripts/demo-data.sql"
PG="$FEEDCACHE_TEST_PG dbname=$DB"
log "database $DB: schema and demo data loaded"

# Server tokens, and client token files in both formats the clients read.
TOKEN_READ=r$RANDOM$RANDOM$$
TOKEN_WRITE=w$RANDOM$RANDOM$$
TOKEN_ADMIN=a$RANDOM$RANDOM$$
printf '# feedcached auth_tokens_file for test_node_client.sh\nread %s\nwrite %s\nadmin %s\n' \
    "$TOKEN_READ" "$TOKEN_WRITE" "$TOKEN_ADMIN" >"$T/tokens"
printf '%s\n' "$TOKEN_READ" >"$T/read.token"                 # TOKEN
printf '# copied from the server file\nwrite %s\n' "$TOKEN_WRITE" >"$T/write.token"  # ROLE TOKEN
printf 'admin %s\n' "$TOKEN_ADMIN" >"$T/admin.token"
printf 'not-a-token-%s\n' "$RANDOM" >"$T/bad.token"
chmod 600 "$T"/*.token "$T/tokens"

PREFIX=fcnode$$:
# Starts feedcached as a child of this shell (so that its exit status can
# be waited for); $1 = name (log file), $2 = RPC port, rest = settings.
# Leaves its pid in STARTED.
STARTED=
start_daemon() {
    local name=$1 port=$2
    shift 2
    "$FEEDCACHED" --listen "127.0.0.1:$port" --metrics-listen off --pg "$PG" \
        --key-prefix "$PREFIX" "$@" >"$T/$name.log" 2>&1 &
    STARTED=$!
}

# Waits up to 15 s until the daemon on port $2 (pid $1) accepts connections.
wait_listening() {
    local pid=$1 port=$2 name=$3
    for _ in $(seq 150); do
        alive "$pid" || die "the $name feedcached exited at start: $(tail -n 5 "$T/$name.log")"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "the $name feedcached does not listen on $port after 15 s"
}

MAIN_PORT=$(free_port)
start_daemon main "$MAIN_PORT" --redis "$FEEDCACHE_TEST_REDIS_URL" \
    --auth-tokens-file "$T/tokens" --celebrity-threshold 300
MAIN_PID=$STARTED
UNAV_PORT=$(free_port)
DEAD_REDIS_PORT=$(free_port)     # free a moment ago: nobody listens there
start_daemon unavailable "$UNAV_PORT" --redis "redis://127.0.0.1:$DEAD_REDIS_PORT/0" \
    --redis-timeout-ms 200 --admission fixed --max-inflight 1
UNAV_PID=$STARTED
VICTIM_PORT=$(free_port)
start_daemon victim "$VICTIM_PORT" --redis "$FEEDCACHE_TEST_REDIS_URL"
VICTIM_PID=$STARTED
wait_listening "$MAIN_PID" "$MAIN_PORT" main
wait_listening "$UNAV_PID" "$UNAV_PORT" unavailable
wait_listening "$VICTIM_PID" "$VICTIM_PORT" victim
log "feedcached: main 127.0.0.1:$MAIN_PORT, unavailable :$UNAV_PORT, victim :$VICTIM_PORT (Redis $FEEDCACHE_TEST_REDIS_URL)"

# --- 3. npm test -------------------------------------------------------------------------
export FC_NODE_INTEGRATION=1
export FC_NODE_ADDR=127.0.0.1:$MAIN_PORT
export FC_NODE_UNAVAILABLE_ADDR=127.0.0.1:$UNAV_PORT
export FC_NODE_VICTIM_ADDR=127.0.0.1:$VICTIM_PORT
export FC_NODE_VICTIM_PID=$VICTIM_PID
export FC_NODE_TOKENS=$T
export FC_NODE_PG=$PG
export FC_NODE_KEY_PREFIX=$PREFIX
export FEEDCACHE_TEST_REDIS_URL
t0=$SECONDS
rc=0
npm test || rc=$?
log "npm test: exit $rc after $((SECONDS - t0)) s"
[ $rc -eq 0 ] || die "npm test failed"

# --- 4. the daemons end cleanly ------------------------------------------------------------
for pair in "main:$MAIN_PID" "unavailable:$UNAV_PID"; do
    name=${pair%%:*}
    pid=${pair#*:}
    alive "$pid" || die "the $name feedcached died during the test"
    kill -TERM "$pid"
    for _ in $(seq 150); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then die "the $name feedcached still runs 15 s after SIGTERM"; fi
    status=0
    wait "$pid" || status=$?
    [ "$status" = 0 ] || die "the $name feedcached exited $status after SIGTERM, want 0"
    case $name in main) MAIN_PID= ;; unavailable) UNAV_PID= ;; esac
done
log "ok - feedcached main and unavailable exited 0 after SIGTERM"

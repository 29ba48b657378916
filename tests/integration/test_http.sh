#!/usr/bin/env bash
# Integration test of the operations endpoint (/metrics, /healthz) of a real
# feedcached, against its own Redis (started here, so it can be stopped,
# frozen and restarted) and the test PostgreSQL ($FEEDCACHE_TEST_PG):
#
#   - GET /metrics passes `promtool check metrics` and counts an RPC ping
#   - /healthz is 200 `ok`; HEAD /healthz sends headers and no body
#   - Redis frozen (SIGSTOP): /healthz is 503 naming redis within 1 s
#   - Redis stopped: /healthz is 503 naming redis within 1 s
#   - Redis restarted on the same port: /healthz is 200 again within seconds
#   - unknown path 404, POST /metrics 405
#   - SIGTERM: feedcached exits 0
#
# Needs FEEDCACHED (the daemon under test) and FEEDCACHE_TEST_PG; exits 77
# (skipped) without the latter. Ports: 16600-16619 on 127.0.0.1.
set -euo pipefail

: "${FEEDCACHED:?FEEDCACHED must name the feedcached binary}"
# The cluster step of scripts/test.sh runs the suite again with a
# redis-cluster:// URL: this test uses a single Redis of its own, so it would
# only pass again without testing anything new.
if [[ "${FEEDCACHE_TEST_REDIS_URL:-}" == redis-cluster://* ]]; then
    echo "SKIP: FEEDCACHE_TEST_REDIS_URL is a cluster; test_http.sh runs against a Redis of its own (the plain run covers it)"
    exit 77
fi
if [ -z "${FEEDCACHE_TEST_PG:-}" ]; then
    echo "SKIP: FEEDCACHE_TEST_PG is not set (scripts/test.sh sets it)"
    exit 77
fi
for tool in redis-server redis-cli curl promtool; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

T=$(mktemp -d /tmp/fc-test-http.XXXXXX)
FC_PID=
REDIS_STOPPED=0

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*"; }
pass() { log "ok - $*"; }
fail() {
    log "FAIL - $*"
    if [ -s "$T/feedcached.log" ]; then
        echo "--- last lines of the feedcached log:"
        tail -n 30 "$T/feedcached.log"
    fi
    exit 1
}

redis_pid() { cat "$T/redis.pid" 2>/dev/null || true; }

cleanup() {
    local rc=$?
    if [ -n "$FC_PID" ] && kill -0 "$FC_PID" 2>/dev/null; then
        kill -KILL "$FC_PID" 2>/dev/null || true
        wait "$FC_PID" 2>/dev/null || true
    fi
    local rp
    rp=$(redis_pid)
    if [ -n "$rp" ] && kill -0 "$rp" 2>/dev/null; then
        kill -CONT "$rp" 2>/dev/null || true
        kill -TERM "$rp" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$rp" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

# A port in 16600-16619 nothing listens on (connect refused), from $1 up.
free_port() {
    local p
    for p in $(seq "$1" 16619); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

REDIS_PORT=$(free_port 16600) || fail "no free port for Redis"
RPC_PORT=$(free_port $((REDIS_PORT + 1))) || fail "no free port for RPC"
HTTP_PORT=$(free_port $((RPC_PORT + 1))) || fail "no free port for HTTP"
BASE=http://127.0.0.1:$HTTP_PORT

start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --pidfile "$T/redis.pid" --dir "$T" --logfile "$T/redis.log" \
        || fail "redis-server did not start"
    for _ in $(seq 50); do
        if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
            return 0
        fi
        sleep 0.1
    done
    fail "Redis on port $REDIS_PORT does not answer"
}

stop_redis() {
    local rp
    rp=$(redis_pid)
    [ -n "$rp" ] || fail "no Redis pid"
    kill -TERM "$rp"
    for _ in $(seq 50); do
        kill -0 "$rp" 2>/dev/null || { rm -f "$T/redis.pid"; return 0; }
        sleep 0.1
    done
    fail "Redis (pid $rp) did not stop"
}

# GET/HEAD helper: prints "STATUS TIME_S" and leaves the body in $T/body.
probe() {
    curl -s -m 2 -o "$T/body" -w "%{http_code} %{time_total}" "$@" || true
}

# Waits up to $2 seconds for /healthz to answer status $1.
wait_health() {
    local want=$1 secs=$2 got=
    local end=$((SECONDS + secs))
    while [ $SECONDS -le $end ]; do
        got=$(probe "$BASE/healthz")
        [ "${got%% *}" = "$want" ] && return 0
        sleep 0.2
    done
    fail "/healthz did not become $want within ${secs}s (last: $got, body: $(cat "$T/body" 2>/dev/null))"
}

# Asserts /healthz is 503 within 1 s and names redis.
expect_unhealthy_redis() {
    local what=$1 got status took
    got=$(probe "$BASE/healthz")
    status=${got%% *}
    took=${got#* }
    [ "$status" = 503 ] || fail "$what: /healthz status $status, want 503 (body: $(cat "$T/body"))"
    awk -v t="$took" 'BEGIN { exit !(t < 1.0) }' || fail "$what: /healthz took ${took}s (limit 1 s)"
    grep -q '^redis: ' "$T/body" || fail "$what: reason does not name redis: $(cat "$T/body")"
    [ "$(wc -l <"$T/body")" -eq 1 ] || fail "$what: reason is not one line: $(cat "$T/body")"
    pass "$what: /healthz 503 in ${took}s: $(cat "$T/body")"
}

# --- start -------------------------------------------------------------------
start_redis
log "redis on $REDIS_PORT, feedcached rpc on $RPC_PORT, http on $HTTP_PORT"

"$FEEDCACHED" --listen "127.0.0.1:$RPC_PORT" --metrics-listen "127.0.0.1:$HTTP_PORT" \
    --redis "redis://127.0.0.1:$REDIS_PORT/0" --pg "$FEEDCACHE_TEST_PG" \
    >"$T/feedcached.log" 2>&1 &
FC_PID=$!

wait_health 200 15
[ "$(cat "$T/body")" = ok ] || fail "/healthz body is '$(cat "$T/body")', want 'ok'"
pass "/healthz 200 ok"

# --- /metrics ------------------------------------------------------------------
CTL=$(dirname "$FEEDCACHED")/../ctl/feedcachectl
PINGED=0
if [ -x "$CTL" ]; then
    "$CTL" --addr "127.0.0.1:$RPC_PORT" ping >/dev/null || fail "feedcachectl ping failed"
    PINGED=1
    pass "rpc ping"
else
    log "# skip: no feedcachectl at $CTL, not pinging over RPC"
fi

curl -s -m 5 -D "$T/headers" -o "$T/metrics" "$BASE/metrics?x=1" || fail "GET /metrics failed"
head -n 1 "$T/headers" | grep -q '^HTTP/1.1 200' || fail "GET /metrics: $(head -n 1 "$T/headers")"
grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$T/headers" \
    || fail "GET /metrics: wrong Content-Type: $(grep -i content-type "$T/headers")"
promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1 \
    || fail "promtool check metrics: $(cat "$T/promtool.out")"
pass "/metrics passes promtool check metrics ($(wc -l <"$T/metrics") lines)"
if [ "$PINGED" = 1 ]; then
    grep -q '^feedcache_rpc_requests_total{.*method="ping"' "$T/metrics" \
        || fail "/metrics has no feedcache_rpc_requests_total for ping"
    pass "/metrics counts the rpc ping"
fi
grep -q '^feedcache_http_requests_total{path="/healthz",status="200"} [1-9]' "$T/metrics" \
    || fail "/metrics does not count the /healthz requests"
pass "/metrics counts http requests"

# --- HEAD /healthz: headers only, on the wire ---------------------------------
exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT"
printf 'HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
timeout 5 cat <&3 >"$T/head" || true
exec 3<&- 3>&-
head -n 1 "$T/head" | grep -q '^HTTP/1.1 200' || fail "HEAD /healthz: $(head -n 1 "$T/head")"
grep -q $'^Content-Length: 3\r$' "$T/head" || fail "HEAD /healthz: no Content-Length: 3"
[ "$(tail -c 4 "$T/head" | od -An -c | tr -d ' ')" = '\r\n\r\n' ] \
    || fail "HEAD /healthz sent a body: $(od -c "$T/head" | tail -n 3)"
pass "HEAD /healthz: 200, Content-Length 3, no body"

# --- other paths and methods ----------------------------------------------------
got=$(probe "$BASE/nope")
[ "${got%% *}" = 404 ] || fail "GET /nope: ${got%% *}, want 404"
got=$(probe -X POST "$BASE/metrics")
[ "${got%% *}" = 405 ] || fail "POST /metrics: ${got%% *}, want 405"
pass "unknown path 404, POST 405"

# --- Redis hangs ------------------------------------------------------------------
kill -STOP "$(redis_pid)"
expect_unhealthy_redis "redis frozen"
kill -CONT "$(redis_pid)"
wait_health 200 15
pass "redis thawed: /healthz 200 again"

# --- Redis down, then back ------------------------------------------------------
stop_redis
sleep 0.3
expect_unhealthy_redis "redis stopped"
expect_unhealthy_redis "redis still stopped"
start_redis
t0=$SECONDS
wait_health 200 10
pass "redis restarted: /healthz 200 again after ~$((SECONDS - t0))s"

# --- shutdown ---------------------------------------------------------------------
kill -TERM "$FC_PID"
rc=0
for _ in $(seq 150); do
    kill -0 "$FC_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$FC_PID" 2>/dev/null; then
    fail "feedcached still running 15 s after SIGTERM"
fi
wait "$FC_PID" || rc=$?
FC_PID=
[ "$rc" = 0 ] || fail "feedcached exited $rc after SIGTERM, want 0"
pass "SIGTERM: exit 0"
log "all passed"

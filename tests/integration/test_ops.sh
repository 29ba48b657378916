#!/usr/bin/env bash
# Integration test of the deployment and monitoring files in docker/, against
# a real feedcached, Redis, PostgreSQL and Prometheus:
#
#   - docker/postgres/10-feedcache.sh (the PostgreSQL container's init script)
#     makes the schema and a read-only role in a fresh database, twice
#     (idempotent); docker/postgres/load-demo.sh loads the demo data once and
#     leaves it alone the second time
#   - feedcached runs as that read-only role: /healthz 200, a timeline read
#     (rebuilt from PostgreSQL, then from the cache) and a warm job work
#   - its /metrics has exactly the families, types and labels listed in
#     docker/prometheus/feedcache-metrics.txt (the list the dashboard and
#     alert checks of tests/unit/test_ops.sh rely on)
#   - a Prometheus with docker/prometheus/alerts.yml scrapes it: every
#     dashboard query evaluates to a non-empty result, every alert rule is
#     healthy, no alert is active
#   - a second feedcached with an unreachable PostgreSQL: FeedcachePostgres-
#     Unavailable goes pending for it alone; Redis stopped:
#     FeedcacheRedisUnavailable goes pending; feedcached stopped:
#     FeedcacheDown goes pending (the `for:` durations are covered by
#     `promtool test rules`; this checks that the expressions match the
#     series the daemon really exports)
#
# Needs FEEDCACHED, FEEDCACHECTL, FEEDCACHE_TEST_PG; skips (77) without the
# PostgreSQL or a tool. Ports: free ones picked by the kernel, 127.0.0.1 only.
set -euo pipefail

: "${FEEDCACHED:?FEEDCACHED must name the feedcached binary}"
: "${FEEDCACHECTL:=$(dirname "$FEEDCACHED")/../ctl/feedcachectl}"
# The cluster step of scripts/test.sh runs the suite again with a
# redis-cluster:// URL: this test uses a single Redis of its own, so it would
# only pass again without testing anything new.
if [[ "${FEEDCACHE_TEST_REDIS_URL:-}" == redis-cluster://* ]]; then
    echo "SKIP: FEEDCACHE_TEST_REDIS_URL is a cluster; test_ops.sh runs against a Redis of its own (the plain run covers it)"
    exit 77
fi
if [ -z "${FEEDCACHE_TEST_PG:-}" ]; then
    echo "SKIP: FEEDCACHE_TEST_PG is not set (scripts/test.sh sets it)"
    exit 77
fi
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PATH=$PATH:$PG_BIN
for tool in redis-server redis-cli curl psql prometheus python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${FEEDCACHE_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
DOCKER=$REPO/docker
CHECK=$REPO/tests/unit/ops_check.py
METRICS=$DOCKER/prometheus/feedcache-metrics.txt
DASH=$DOCKER/grafana/dashboards/feedcache.json
ALERTS=$DOCKER/prometheus/alerts.yml

T=$(mktemp -d /tmp/fc-test-ops.XXXXXX)
chmod 755 "$T"
DB=fc_ops_$$
ROLE=fc_ops_$$
ROLE_PW=pw$$$RANDOM
FC_PID=
FC2_PID=
PROM_PID=
DB_MADE=0

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*"; }
pass() { log "ok - $*"; }
fail() {
    log "FAIL - $*"
    local f
    for f in feedcached.log feedcached2.log prometheus.log; do
        if [ -s "$T/$f" ]; then
            echo "--- last lines of $f:"
            tail -n 20 "$T/$f"
        fi
    done
    exit 1
}

# Stops a process we started, by PID: TERM, then KILL after 10 s.
stop_pid() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

redis_pid() { cat "$T/redis.pid" 2>/dev/null || true; }

# psql as the test cluster's admin, on database $1 (the last dbname= wins).
psql_admin() {
    local db=$1
    shift
    PGOPTIONS="-c client_min_messages=warning" \
        psql -X -q -v ON_ERROR_STOP=1 "$FEEDCACHE_TEST_PG dbname=$db" "$@"
}

cleanup() {
    local rc=$?
    stop_pid "$FC_PID"
    stop_pid "$FC2_PID"
    stop_pid "$PROM_PID"
    stop_pid "$(redis_pid)"
    if [ "$DB_MADE" = 1 ]; then
        psql_admin postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
            -c "DROP ROLE IF EXISTS $ROLE" || echo "warning: could not drop $DB / $ROLE"
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to $2 s for command $1 (a string, eval'd) to succeed.
wait_for() {
    local what=$1 secs=$2
    local end=$((SECONDS + secs))
    while [ $SECONDS -le $end ]; do
        eval "$what" && return 0
        sleep 0.3
    done
    return 1
}

# The test cluster's address, from its conninfo, for the scripts that take
# PGHOST/PGPORT (as the postgres image provides them).
conn_value() { sed -n "s/.*\\b$1='\\{0,1\\}\\([^' ]*\\).*/\\1/p" <<<"$FEEDCACHE_TEST_PG"; }
PGHOST_T=$(conn_value host)
PGPORT_T=$(conn_value port)
PGUSER_T=$(conn_value user)
[ -n "$PGHOST_T" ] || PGHOST_T=127.0.0.1
[ -n "$PGPORT_T" ] || PGPORT_T=5432
[ -n "$PGUSER_T" ] || PGUSER_T=postgres

# --- PostgreSQL: init script and demo loader ------------------------------------
psql_admin postgres -c "CREATE DATABASE $DB" || fail "CREATE DATABASE $DB"
DB_MADE=1
init_db() {
    PGHOST=$PGHOST_T PGPORT=$PGPORT_T POSTGRES_USER=$PGUSER_T POSTGRES_DB=$DB \
        FEEDCACHE_SCHEMA=$REPO/sql/schema.sql FEEDCACHE_DB_USER=$ROLE \
        FEEDCACHE_DB_PASSWORD=$ROLE_PW bash "$DOCKER/postgres/10-feedcache.sh"
}
load_demo() {
    PGHOST=$PGHOST_T PGPORT=$PGPORT_T PGUSER=$PGUSER_T PGDATABASE=$DB \
        FEEDCACHE_SCHEMA=$REPO/sql/schema.sql FEEDCACHE_DEMO_DATA=$REPO/scripts/demo-data.sql \
        bash "$DOCKER/postgres/load-demo.sh"
}
init_db >"$T/init1.log" 2>&1 || { cat "$T/init1.log"; fail "10-feedcache.sh (first run)"; }
init_db >"$T/init2.log" 2>&1 || { cat "$T/init2.log"; fail "10-feedcache.sh (second run)"; }
pass "10-feedcache.sh: schema and role $ROLE, twice"

ROLE_PG="host=$PGHOST_T port=$PGPORT_T user=$ROLE password=$ROLE_PW dbname=$DB"
out=$(psql -X -q -tA "$ROLE_PG" -c "INSERT INTO users (id, handle) VALUES (1, 'x')" 2>&1) &&
    fail "the role may write to users"
grep -q 'permission denied' <<<"$out" || fail "unexpected error for the role's INSERT: $out"
pass "the role cannot write: $out"

load_demo >"$T/load1.log" 2>&1 || { cat "$T/load1.log"; fail "load-demo.sh (first run)"; }
users=$(psql -X -tA "$ROLE_PG" -c 'SELECT count(*) FROM users')
[ "$users" = 1000 ] || fail "demo data: $users users, want 1000"
before=$(psql -X -tA "$ROLE_PG" -c 'SELECT max(created_at) FROM posts')
load_demo >"$T/load2.log" 2>&1 || { cat "$T/load2.log"; fail "load-demo.sh (second run)"; }
grep -q 'not reloading' "$T/load2.log" || fail "load-demo.sh reloaded: $(cat "$T/load2.log")"
after=$(psql -X -tA "$ROLE_PG" -c 'SELECT max(created_at) FROM posts')
[ "$before" = "$after" ] || fail "the second load changed the posts ($before -> $after)"
pass "load-demo.sh: 1000 users, not reloaded the second time"

# --- Redis and two feedcached ------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --zset-max-listpack-entries 1024 --hash-max-listpack-value 1024 --daemonize yes --pidfile "$T/redis.pid" \
    --dir "$T" --logfile "$T/redis.log" || fail "redis-server did not start"
wait_for 'redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG' 10 || fail "Redis does not answer"

RPC_PORT=$(free_port)
HTTP_PORT=$(free_port)
"$FEEDCACHED" --listen "127.0.0.1:$RPC_PORT" --metrics-listen "127.0.0.1:$HTTP_PORT" \
    --redis "redis://127.0.0.1:$REDIS_PORT/0" --pg "$ROLE_PG" --celebrity-threshold 300 \
    >"$T/feedcached.log" 2>&1 &
FC_PID=$!

# The second one's PostgreSQL port accepts nothing (nobody listens on it).
DEAD_PG_PORT=$(free_port)
RPC2_PORT=$(free_port)
HTTP2_PORT=$(free_port)
"$FEEDCACHED" --listen "127.0.0.1:$RPC2_PORT" --metrics-listen "127.0.0.1:$HTTP2_PORT" \
    --redis "redis://127.0.0.1:$REDIS_PORT/0" --key-prefix "fcops2:" \
    --pg "host=127.0.0.1 port=$DEAD_PG_PORT dbname=none user=none" \
    >"$T/feedcached2.log" 2>&1 &
FC2_PID=$!

health() { curl -s -m 2 -o "$T/health" -w '%{http_code}' "http://127.0.0.1:$1/healthz" || true; }
wait_for '[ "$(health "$HTTP_PORT")" = 200 ]' 15 || fail "/healthz is not 200 (the read-only role not enough?)"
pass "feedcached as the read-only role: /healthz 200"

CTL=("$FEEDCACHECTL" --addr "127.0.0.1:$RPC_PORT")
if [ -x "$FEEDCACHECTL" ]; then
    "${CTL[@]}" timeline 42 --limit 5 >"$T/tl1" 2>&1 || { cat "$T/tl1"; fail "timeline 42"; }
    grep -q 'source rebuilt' "$T/tl1" || fail "first read not rebuilt: $(head -n 1 "$T/tl1")"
    "${CTL[@]}" timeline 42 --limit 5 >"$T/tl2" 2>&1 || { cat "$T/tl2"; fail "timeline 42 again"; }
    grep -q 'source cache' "$T/tl2" || fail "second read not from the cache: $(head -n 1 "$T/tl2")"
    pass "timeline read: rebuilt, then cache"
    timeout 30 "${CTL[@]}" warm --users 10,11,12 --rate 100 >"$T/warm" 2>&1 ||
        { cat "$T/warm"; fail "warm job"; }
    pass "warm job: $(tail -n 1 "$T/warm")"
else
    log "# no feedcachectl at $FEEDCACHECTL: no reads or warm job, counters stay at 0"
fi

# --- the metric list is honest ---------------------------------------------------------
curl -s -m 5 -o "$T/metrics" "http://127.0.0.1:$HTTP_PORT/metrics" || fail "GET /metrics"
python3 "$CHECK" families "$METRICS" "$T/metrics" || fail "$METRICS does not match /metrics"
pass "feedcache-metrics.txt matches a live /metrics"

# --- Prometheus with the alert rules -----------------------------------------------------
PROM_PORT=$(free_port)
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $ALERTS
scrape_configs:
  - job_name: feedcache
    static_configs:
      - targets: ["127.0.0.1:$HTTP_PORT", "127.0.0.1:$HTTP2_PORT"]
EOF
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
PROM=http://127.0.0.1:$PROM_PORT
wait_for 'curl -sf -m 2 "$PROM/-/ready" >/dev/null' 30 || fail "Prometheus not ready"

up_count() {
    curl -s -m 2 --data-urlencode 'query=count(up{job="feedcache"} == 1)' "$PROM/api/v1/query" |
        python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
wait_for '[ "$(up_count)" = 2 ]' 20 || fail "Prometheus does not scrape both feedcached"
sleep 4     # a few scrapes, so that rate() has samples
python3 "$CHECK" live "$DASH" "$METRICS" "$ALERTS" "$PROM" || fail "dashboard queries or alert rules"
pass "every dashboard query has data, every alert rule is healthy"

alerts() { python3 "$CHECK" alerts "$PROM"; }
A=127.0.0.1:$HTTP_PORT
B=127.0.0.1:$HTTP2_PORT
wait_for 'alerts | grep -x "FeedcachePostgresUnavailable pending $B" >/dev/null' 10 ||
    fail "no pending FeedcachePostgresUnavailable for $B: $(alerts)"
others=$(alerts | grep -vx "FeedcachePostgresUnavailable pending $B" || true)
[ -z "$others" ] || fail "unexpected alerts: $others"
pass "PostgreSQL unreachable: FeedcachePostgresUnavailable pending for $B only"

stop_pid "$(redis_pid)"
wait_for 'alerts | grep -x "FeedcacheRedisUnavailable pending $A" >/dev/null' 15 ||
    fail "no pending FeedcacheRedisUnavailable for $A: $(alerts)"
pass "Redis stopped: FeedcacheRedisUnavailable pending"

stop_pid "$FC_PID"
FC_PID=
wait_for 'alerts | grep -x "FeedcacheDown pending $A" >/dev/null' 15 ||
    fail "no pending FeedcacheDown for $A: $(alerts)"
pass "feedcached stopped: FeedcacheDown pending"
log "all passed"

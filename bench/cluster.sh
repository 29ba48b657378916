#!/usr/bin/env bash
# Single Redis against a 3-master Redis Cluster, side by side in one run
# (issue 11), on the same graph and the same machine:
#
#   bench/cluster.sh [--quick]
#
#  1. builds (meson, in $FC_BUILD_DIR or build-bench)
#  2. starts Redis, PostgreSQL and a 3-master + 3-replica cluster
#     (FC_CLUSTER=1 scripts/services.sh), loads a graph with bench/graphgen
#     (--quick: 10,000 users; else 30,000 users, --quick's other shapes)
#  3. for each of the two: starts feedcached on it, warms every feed, then
#     measures cached reads (closed loop 8x8, best of 2), and publishing
#     (fan-out deliveries/s until the queue is empty); Redis CPU per
#     operation over every node (masters and replicas: replication is part
#     of the cost)
#  4. prints the table and writes it into bench/RESULTS.md (section
#     "cluster"), stops everything.
#
# On this 2-core machine the three masters share the cores of the single
# Redis: the cluster cannot be faster here, and the ratio shows what the
# routing costs (commands spread over 3 servers, more connections, fewer
# commands per pipeline). Scaling out pays where each master has cores of
# its own: docs/SCALING.md derives the sizes from these figures.
#
# Knobs: FC_BUILD_DIR [build-bench], FC_BENCH_KEEP=1 keeps the work dir.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

MODE=full
for arg in "$@"; do
    case $arg in
        --quick) MODE=quick ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "cluster.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

BUILD=${FC_BUILD_DIR:-build-bench}
FEEDCACHED=$BUILD/src/feedcached/feedcached
CTL=$BUILD/src/ctl/feedcachectl
FB=$BUILD/bench/feedbench
GG=$BUILD/bench/graphgen
RESULTS=$REPO/bench/RESULTS.md
if [ "$MODE" = quick ]; then
    GEN_ARGS=(--quick)
    DUR=5
    PUB_DUR=3
else
    GEN_ARGS=(--quick --users 30000)
    DUR=10
    PUB_DUR=4
fi

T0=$SECONDS
log() { printf '[cluster %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=
STATE=
DAEMON_PID=

stop_daemon() {
    [ -n "$DAEMON_PID" ] || return 0
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_daemon
    [ -z "$STATE" ] || bash scripts/services.sh stop "$STATE" >/dev/null 2>&1 ||
        log "services.sh stop failed"
    if [ -n "$WORK" ]; then
        if [ "${FC_BENCH_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
            log "kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

# Seconds of CPU (user + sys) used so far by the Redis servers on PORTS.
redis_cpu() {
    local p total=0 c
    for p in "$@"; do
        c=$(redis-cli -h 127.0.0.1 -p "$p" INFO cpu | tr -d '\r' |
            awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" { s += $2 } END { print s }')
        total=$(calc "$total + $c")
    done
    echo "$total"
}

# --- build, services, graph -------------------------------------------------------

log "mode $MODE; build in $BUILD"
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null || die "meson setup failed"
ninja -C "$BUILD" >/dev/null || die "build failed (run: ninja -C $BUILD)"

WORK=$(mktemp -d /tmp/fc-cluster-bench.XXXXXX)
chmod 755 "$WORK"
REPORT=$WORK/report.txt
: >"$REPORT"
STATE=$WORK/services
log "starting Redis, a 3+3 Redis Cluster and PostgreSQL"
FC_CLUSTER=1 bash scripts/services.sh start "$STATE" 2>"$WORK/services.log" ||
    { cat "$WORK/services.log" >&2; die "services.sh start failed"; }
# shellcheck disable=SC1091
. "$STATE/env"
PGC=$FEEDCACHE_TEST_PG
[ -n "${FEEDCACHE_TEST_REDIS_CLUSTER_URL:-}" ] || die "services.sh started no cluster"
read -r -a CLUSTER_PORTS <<<"$FEEDCACHE_TEST_REDIS_CLUSTER_PORTS"
for p in "${CLUSTER_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$p" CONFIG SET zset-max-listpack-entries 1024 >/dev/null
    redis-cli -h 127.0.0.1 -p "$p" CONFIG SET hash-max-listpack-value 1024 >/dev/null
done

log "loading the graph (graphgen ${GEN_ARGS[*]})"
"$GG" --pg "$PGC" --schema sql/schema.sql "${GEN_ARGS[@]}" >"$WORK/graph.txt" 2>"$WORK/graphgen.log" ||
    { cat "$WORK/graphgen.log" >&2; die "graphgen failed"; }
USERS=$(awk -F= '$1 == "users" { print $2 }' "$WORK/graph.txt")
THRESH=$(awk -F= '$1 == "celebrity_threshold" { print $2 }' "$WORK/graph.txt")
log "graph: $USERS users, celebrity threshold $THRESH"

# --- one target ---------------------------------------------------------------------

# measure NAME URL PORT...: the figures of feedcached on that Redis, as
# NAME.* lines of the report.
measure() {
    local name=$1 url=$2
    shift 2
    local rpc met c0 c1 best=0 i r
    rpc=$(free_port) || die "no free port"
    met=$(free_port "$rpc") || die "no free port"
    setsid "$FEEDCACHED" --listen "127.0.0.1:$rpc" --metrics-listen "127.0.0.1:$met" \
        --redis "$url" --pg "$PGC" --feed-max 800 --celebrity-threshold "$THRESH" \
        --feed-ttl 7200 --post-ttl 7200 --log-level warn >"$WORK/feedcached-$name.log" 2>&1 &
    DAEMON_PID=$!
    for ((i = 0; i < 100; i++)); do
        "$CTL" --addr "127.0.0.1:$rpc" --timeout 500 ping >/dev/null 2>&1 && break
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/feedcached-$name.log" >&2; die "feedcached exited"; }
        sleep 0.1
    done
    local fbx=("$FB" --addr "127.0.0.1:$rpc" --pg "$PGC" --pid "$DAEMON_PID"
               --metrics "127.0.0.1:$met" --report "$REPORT")
    log "$name: warming every feed"
    "${fbx[@]}" --workload celebs --celebrity-threshold "$THRESH" --label "$name.celebs" >/dev/null
    "${fbx[@]}" --workload warm --conns 4 --depth 8 --label "$name.warm" >/dev/null
    "${fbx[@]}" --workload warm --conns 4 --depth 8 --label "$name.rewarm" >/dev/null
    for i in 1 2; do
        log "$name: cached reads, closed loop 8x8, run $i"
        c0=$(redis_cpu "$@")
        "${fbx[@]}" --workload read --conns 8 --depth 8 --duration "$DUR" --warmup 1 \
            --label "$name.read$i" | sed 's/^/    /' >&2
        c1=$(redis_cpu "$@")
        r=$(val "$name.read$i.read_per_s")
        echo "$name.read$i.redis_cpu_us=$(calc "($c1 - $c0) * 1e6 / ($r * ($DUR + 1))")" >>"$REPORT"
        if [ "$(calc "$r > $best")" = 1 ]; then best=$r; BEST=$i; fi
    done
    grep "^$name.read$BEST\." "$REPORT" | sed "s/^$name.read$BEST\./$name.read./" >"$WORK/best.txt"
    cat "$WORK/best.txt" >>"$REPORT"
    log "$name: publishing (fan-out until the queue is empty)"
    c0=$(redis_cpu "$@")
    "${fbx[@]}" --workload publish --conns 4 --depth 16 --duration "$PUB_DUR" --warmup 0 \
        --label "$name.publish" | sed 's/^/    /' >&2
    c1=$(redis_cpu "$@")
    local d
    d=$(val "$name.publish.fanout_deliveries")
    [ -n "$d" ] && [ "$d" != 0 ] &&
        echo "$name.publish.redis_cpu_us_per_delivery=$(calc "($c1 - $c0) * 1e6 / $d")" >>"$REPORT"
    echo "$name.warnings=$(grep -c ' warn ' "$WORK/feedcached-$name.log" || true)" >>"$REPORT"
    stop_daemon
}

measure single "$FEEDCACHE_TEST_REDIS_URL" "$FEEDCACHE_TEST_REDIS_PORT"
measure cluster "$FEEDCACHE_TEST_REDIS_CLUSTER_URL" "${CLUSTER_PORTS[@]}"

# --- the table ------------------------------------------------------------------------

ratio() {
    if [ -z "$1" ] || [ -z "$2" ] || [ "$(calc "$2 == 0")" = 1 ]; then echo -; return; fi
    calc "$1 / $2" | awk '{ printf "%.2f", $1 }'
}
row() {
    local label=$1 key=$2 d=${3:-0}
    printf '| %s | %s | %s | %s |\n' "$label" "$(fmt "$(val "single.$key")" "$d")" \
        "$(fmt "$(val "cluster.$key")" "$d")" "$(ratio "$(val "cluster.$key")" "$(val "single.$key")")"
}
TABLE=$(
    echo "| figure | single Redis | 3-master cluster | cluster / single |"
    echo "|---|---:|---:|---:|"
    row "Cached reads/s (closed loop 8x8, best of 2)" read.read_per_s
    row "Cached read p99 (ms)" read.read_p99_ms 2
    row "Redis CPU per cached read, all nodes (us)" read.redis_cpu_us 1
    row "feedcached CPU per cached read (us)" read.daemon_cpu_us_per_op 1
    row "Fan-out deliveries/s (publish run, until the queue drained)" publish.deliveries_per_s
    row "Redis CPU per delivery, all nodes, publishing included (us)" publish.redis_cpu_us_per_delivery 1
    row "Posts published/s" publish.publish_per_s
    row "feedcached warnings in its log" warnings
)
echo "$TABLE"

SECTION="<!-- cluster.sh $MODE: begin -->"
END="<!-- cluster.sh $MODE: end -->"
{
    echo "$SECTION"
    echo "## Redis Cluster against a single Redis (\`bench/cluster.sh$([ "$MODE" = quick ] && echo ' --quick')\`)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'); wall time $((SECONDS - T0)) s"
    echo "- machine: $(nproc) CPUs; load average at end $(cut -d' ' -f1-3 /proc/loadavg); the single Redis, the 6 cluster nodes, feedcached, PostgreSQL and feedbench share these CPUs"
    echo "- graph: $USERS users (graphgen ${GEN_ARGS[*]}); celebrity threshold $THRESH; feed_max 800; each run ${DUR} s (publish ${PUB_DUR} s, then until the queue drained)"
    echo
    echo "$TABLE"
    echo "$END"
} >"$WORK/section.md"
if grep -qF "$SECTION" "$RESULTS"; then
    awk -v s="$SECTION" -v e="$END" -v f="$WORK/section.md" '
        $0 == s { while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0; next }
        !skip' "$RESULTS" >"$WORK/results.md"
    cp "$WORK/results.md" "$RESULTS"
else
    { echo; cat "$WORK/section.md"; } >>"$RESULTS"
fi
log "written to bench/RESULTS.md"

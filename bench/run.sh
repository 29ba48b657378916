#!/usr/bin/env bash
# The benchmark suite of feedcache, end to end, in one command:
#
#   bench/run.sh [--quick] [--profile] [--only overload|follow]
#
#  1. builds (meson, in $FC_BUILD_DIR or build-bench)
#  2. starts its own Redis and PostgreSQL (scripts/services.sh, free ports,
#     data in a temporary directory); checks that Redis has the recommended
#     zset-max-listpack-entries (>= feed_max + 16; sets 1024 if not)
#  3. loads a social graph with bench/graphgen (COPY): 100,000 users, ~100
#     follows each, 1,000,000 posts; --quick: 10,000 / ~30 / 100,000
#  4. starts feedcached (--feed-max 800, TTLs of 2 h so that nothing expires
#     during the run, --celebrity-threshold sized so that
#     0.5% of the users are celebrities)
#  5. measures the ceiling of that Redis with redis-benchmark (pipelined ZADD
#     to random feed keys; pipelined ZREVRANGE and HGETALL)
#  6. flags the celebrities (each publishes once), warms every feed by
#     reading it once, and measures Redis memory per feed entry and per
#     cached post (INFO memory before/after)
#  7. runs every workload of bench/feedbench: cached reads (closed loop at
#     the maximum, open loop at half of it, Zipf), cold reads, publish
#     (fan-out, with Redis' SLOWLOG at 1 ms and INFO commandstats: calls per
#     delivery), post.publish latency while fan-out runs (open loop at half
#     the fan-out rate), mixed 90/10/0 (reads, publishes, follows) at the
#     read-alone rate, and the same with every publish its INSERT alone
#     (feedbench --insert-only: the read tail's floor on this machine); EXPLAIN ANALYZE of an ~800-entry rebuild; then the
#     overload scenario (issue 15): capacity = cached reads, closed loop at
#     64 in flight (best of 2, and of 3 with one after the phases); then
#     one open-loop run in back-to-back
#     phases at 0.5x (unloaded), 1.5x, 4x and again 0.5x (recovery) of it,
#     never retrying, with goodput, p99 of served reads, errors by code and
#     feedcached's log lines per second for each phase; then the follow
#     scenario (issue 14): cached reads alone and mixed 80/0/10/10 (reads,
#     publishes, follows, unfollows) at the same open-loop rate (half the
#     maximum), interleaved twice, best of 2: follows+unfollows/s, feed
#     rebuilds and PostgreSQL queries per follow+unfollow (the read-alone
#     run's per-read share subtracted), read p99 mixed vs alone, follow and
#     unfollow p99, feedcache_follow_updates_total by op and path; last,
#     feedcached is restarted with --feed-max 100 and the publish run
#     repeated, so that every delivery goes to a full feed (Redis calls per
#     delivery to a full feed, issue 12)
#  8. prints one table (each figure, its ceiling and the ratio) and the
#     targets of issue 12 (goal, measured, ceiling of the same run, met), writes it
#     into bench/RESULTS.md (its own section per mode; the rest of the file
#     is kept), stops everything it started, and exits 0.
#
# --profile also records feedcached with `perf record` during a cached-read
# run and adds the top functions to the results.
#
# --only overload skips the ceilings, the memory figures and the other
# workloads (steps 5, 7 but the overload scenario) and writes its own
# section of RESULTS.md ("quick overload" / "full overload"), so that two
# builds can be compared back to back:
#   FC_BUILD_DIR=build-a bench/run.sh --quick --only overload
#   FC_BUILD_DIR=build-b FC_BENCH_CAPACITY=N bench/run.sh --quick --only overload
#
# --only follow likewise runs only the follow scenario (after measuring the
# maximum read rate, best of 2, unless FC_BENCH_RATE gives the rate) and
# writes its own section ("quick follow" / "full follow"):
#   FC_BENCH_FEEDCACHED=build-old/src/feedcached/feedcached FC_BENCH_RATE=N \
#       bench/run.sh --quick --only follow
#
# --only reads compares two feedcached binaries' cached reads on one loaded
# graph: after the warm passes it restarts feedcached with each binary in
# turn, A B B A A B ... (FC_BENCH_AB_ROUNDS pairs, 2 by default), runs the
# closed-loop 8x8 read workload of step 7 against each, and prints a table
# of reads/s, CPU per read (feedcached, Redis), Redis commands per read by
# command and the celebrity windows from the copy, then the cold reads of
# step 7 (rebuild times and CPU per rebuild) (RESULTS.md untouched).
# A is FC_BENCH_FEEDCACHED (or this build's), B FC_BENCH_FEEDCACHED_B (or A:
# the harness's own noise):
#   FC_BENCH_FEEDCACHED_B=build-old/src/feedcached/feedcached bench/run.sh --only reads
# --only publish compares two binaries' post.publish while fan-out runs
# the same way (A and B as for --only reads): the open-loop publish run
# of step 7 at FC_BENCH_PUB_RATE publishes/s (default 1600, about the
# quick run's), feedcached restarted for each, and a table of the RPC's
# p50 / p99 / max and the deliveries/s (RESULTS.md untouched):
#   FC_BENCH_FEEDCACHED_B=build-old/src/feedcached/feedcached bench/run.sh --quick --only publish
# --only mixed compares two binaries' read tail under the mixed workload
# the same way: per run, feedcached restarted, then the open-loop runs of
# step 7 at one rate (FC_BENCH_RATE, or half of a closed-loop maximum
# measured first): reads alone, mixed 90/10/0, and mixed with every publish
# its INSERT alone; a table of their read p50 / p99, the ratio, the
# publishes' p99, the fan-out lag and what was shed (RESULTS.md untouched).
# --only overload-ab compares two binaries under the overload scenario
# the same way: capacity measured once (best of 2, with A; or
# FC_BENCH_CAPACITY), then per run feedcached restarted and the scenario's
# open-loop phases; a table of each phase's goodput / capacity, p50 / p99
# and its ratio to that run's unloaded p99, the onset p99, the sheds and
# the CPU per served read (RESULTS.md untouched).
# FC_BENCH_AB_RATE=N adds an open-loop run at N reads/s (8 connections, as
# the half-rate runs of step 7) after the closed-loop one, and a table of
# its CPU per read and Redis round trips per read: what reads cost when
# they come one at a time rather than in batches.
#
# Knobs (environment): FC_BUILD_DIR [build-bench], FC_BENCH_KEEP=1 keeps
# the temporary directory (logs, raw report) for inspection, FC_BENCH_RATE
# sets the open-loop rate of the read-alone and mixed runs (default: half
# the measured maximum), so that two commits are compared at one load;
# FC_BENCH_CAPACITY does the same for the overload scenario (the reads/s
# its phases are multiples of; default: measured in the run);
# FC_BENCH_OV_MULT replaces its phases' multiples ("0.5 1.5 4 0.5"; e.g.
# "0.5 0.5 4 0.5 0.5" to watch a recovery longer): feedbench then prints
# every phase, while the tables only know the four standard ones;
# FC_BENCH_PUB_RATE the publishes/s of the post.publish-while-fan-out run
# (default: half the measured fan-out rate, in posts/s);
# FC_BENCH_FOLLOW_USERS sets the active users of the follow scenario
# (default: a tenth of the graph);
# FC_BENCH_FEEDCACHED runs another feedcached binary (e.g. an older
# commit's) with this tree's tools, so the same harness measures both;
# FC_BENCH_DAEMON_ARGS adds flags to feedcached's command line (e.g.
# "--max-inflight 2000"), to compare settings; FC_BENCH_CAPTURE=DIR saves
# the publish run's Redis data set and commands for
# bench/micro/fanout_replay.py (MONITOR slows that run); FC_REDIS_THP=1
# starts Redis with its heap in transparent huge pages (scripts/services.sh),
# to compare with 4 KB pages on a host that stalls a large Redis
# (bench/micro/redis_stall.py).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

MODE=full
PROFILE=0
ONLY=
while [ $# -gt 0 ]; do
    arg=$1
    shift
    case "$arg" in
        --quick) MODE=quick ;;
        --profile) PROFILE=1 ;;
        --only | --only=*)
            if [ "$arg" = --only ]; then ONLY=${1:-}; shift || true; else ONLY=${arg#--only=}; fi
            case "$ONLY" in
                overload | overload-ab | follow | reads | publish | mixed) ;;
                *) echo "run.sh: --only takes 'overload', 'overload-ab', 'follow', 'reads', 'publish' or 'mixed'" >&2; exit 2 ;;
            esac
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run.sh: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

BUILD=${FC_BUILD_DIR:-build-bench}
FEEDCACHED=${FC_BENCH_FEEDCACHED:-$BUILD/src/feedcached/feedcached}
CTL=$BUILD/src/ctl/feedcachectl
FB=$BUILD/bench/feedbench
# FC_BENCH_PIN=SVC:CLIENT (CPU lists, e.g. 0:1) runs Redis, PostgreSQL and
# feedcached on the CPUs of SVC and feedbench on those of CLIENT (taskset),
# so that the load generator's CPU is not taken from the service: the
# nearest this machine comes to driving the load from another one.
PIN_SVC=(env)
PIN_CLIENT=(env)
if [ -n "${FC_BENCH_PIN:-}" ]; then
    [[ $FC_BENCH_PIN =~ ^[0-9,-]+:[0-9,-]+$ ]] ||
        { echo "run.sh: FC_BENCH_PIN must be SVC_CPUS:CLIENT_CPUS, e.g. 0:1" >&2; exit 2; }
    PIN_SVC=(taskset -c "${FC_BENCH_PIN%%:*}")
    PIN_CLIENT=(taskset -c "${FC_BENCH_PIN##*:}")
fi
case "${FC_BENCH_REDIS_SCHED:-}" in
    "" | fifo | nice=-[0-9]* | nice=[0-9]*) ;;
    *) echo "run.sh: FC_BENCH_REDIS_SCHED must be fifo or nice=N, e.g. nice=-10" >&2; exit 2 ;;
esac
GG=$BUILD/bench/graphgen
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
RESULTS=$REPO/bench/RESULTS.md
FEED_MAX=800    # feedcached --feed-max
FULL_MAX=100    # --feed-max of the full-feed fan-out run (issue 12; step 7d)
MIX=90,10,0     # the mixed workload: % reads, publishes, follows (issue 12: 10% publishes)

if [ "$MODE" = quick ]; then
    GEN_ARGS=(--quick)
    DUR=5           # measured seconds per workload
    WARMUP=1
    PUB_DUR=3       # publishing builds a fan-out backlog: keep it short
    FULL_DUR=1      # the publish run to full feeds (step 7d)
    CEIL_N=500000   # redis-benchmark requests per ceiling
    OV_DUR=5        # seconds per overload phase
    FW_WARMUP=3     # follow scenario: warm-up of the mixed runs (see there)
else
    GEN_ARGS=()
    DUR=15
    WARMUP=2
    PUB_DUR=4
    FULL_DUR=2
    CEIL_N=2000000
    OV_DUR=15
    FW_WARMUP=6
fi

T0=$SECONDS
log() { printf '[bench %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=
STATE=
DAEMON_PID=
PERF_PID=
CAPTURE_PID=
HOG_PID=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -z "$CAPTURE_PID" ] || kill "$CAPTURE_PID" 2>/dev/null || true
    [ -z "$HOG_PID" ] || kill "$HOG_PID" 2>/dev/null || true
    if [ -n "$PERF_PID" ] && kill -0 "$PERF_PID" 2>/dev/null; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
    fi
    stop_daemon
    stop_micro_redis
    if [ -n "$STATE" ]; then
        bash scripts/services.sh stop "$STATE" >/dev/null 2>&1 || log "services.sh stop failed"
    fi
    if [ -n "$WORK" ]; then
        if [ "${FC_BENCH_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
            log "kept $WORK (logs and raw figures)"
        else
            rm -rf "$WORK"
        fi
    fi
    exit $rc
}
# Stops the micro-benchmarks' Redis (step 7), by its PID.
MICRO_PIDFILE=
MICRO_ENTRIES= MICRO_CHECK= MICRO_PUSH= MICRO_HEAD= MICRO_READ_PCT= MICRO_APPLY_US= RQ_MS=
MICRO_ENTRIES_D= MICRO_CHECK_D= MICRO_PUSH_D= MICRO_HEAD_D=
MICRO_CHECK_S= MICRO_PUSH_S= MICRO_HEAD_S= MICRO_CHECK_DS= MICRO_PUSH_DS= MICRO_HEAD_DS=
MICRO_SLOW_ALONE= MICRO_SLOW_HOGS= MICRO_SLOW_FIFO=
STALL_FLOOR= STALL_SLOW=
MICRO_RAND= MICRO_RAND_CEIL= MICRO_RAND_S= MICRO_RAND_RANGE= RAND_F= RAND_D=
HOG_CORES=
MICRO_PUBF_ALONE= MICRO_PUBF_HOGS= MICRO_PUBF_INS= MICRO_PUBF_INS_RATE=
stop_micro_redis() {
    if [ -n "$MICRO_PIDFILE" ] && [ -s "$MICRO_PIDFILE" ]; then
        kill -TERM "$(cat "$MICRO_PIDFILE")" 2>/dev/null || true
    fi
    MICRO_PIDFILE=
}
# Stops the feedcached this script started (SIGTERM, SIGKILL after 12 s).
stop_daemon() {
    local i
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        for ((i = 0; i < 120; i++)); do
            kill -0 "$DAEMON_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$DAEMON_PID" 2>/dev/null; then
            log "feedcached did not stop within 12 s; killing it"
            kill -KILL "$DAEMON_PID" 2>/dev/null || true
        fi
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    DAEMON_PID=
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers -------------------------------------------------------------------

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
# A number from graphgen's summary.
gval() { awk -F= -v k="$1" '$1 == k { v = $2 } END { print v }' "$WORK/graph.txt"; }
# Arithmetic on decimals: calc 'a / b' with a, b already substituted.
ratio() { [ -n "$1" ] && [ -n "$2" ] && calc "$1 / $2" | awk '{ printf "%.1f%%", $1 * 100 }'; }
yes_no() { [ "$(calc "$1")" = 1 ] && echo yes || echo "**no**"; }
pct() { awk -v x="$1" 'BEGIN { printf "%.0f%%", x * 100 }'; }

rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
used_memory() { rcli INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

fb() { "${PIN_CLIENT[@]}" "$FB" --addr "127.0.0.1:$RPC_PORT" --pg "$PGC" --pid "$DAEMON_PID" \
    --redis "127.0.0.1:$RPORT" --metrics "127.0.0.1:$MET_PORT" --report "$REPORT" "$@"; }

# stall_probe LABEL PORT: bench/micro/redis_stall.py against an idle Redis
# (a PING every 2 ms for 5 s) into $WORK/stall_LABEL.txt; stall_text LABEL
# is its figures as a phrase for the tables.
stall_probe() {
    (cd bench/micro && RPORT=$2 D=5 python3 redis_stall.py) >"$WORK/stall_$1.txt" 2>&1 ||
        log "redis_stall.py ($1) failed"
    log "idle Redis ($1): $(head -1 "$WORK/stall_$1.txt")"
}
stall_text() { sed -n 's/^stall: //p' "$WORK/stall_$1.txt" 2>/dev/null; }

# One redis-benchmark ceiling (requests/s), pipelined 32 deep, 50 clients,
# random keys, in db 9 (feedcached uses db 0).
rb() {
    redis-benchmark -h 127.0.0.1 -p "$RPORT" --dbnum 9 -c 50 -P 32 --csv "$@" 2>/dev/null |
        awk -F'","' 'NR == 2 { print $2 }'
}

# The best of three ceilings (rb_best [--fresh] ARGS...), as "BEST A/B/C":
# noise on this shared machine only ever slows a run, and one run's
# ceiling was found 1.6x the time per ZADD of the least of those
# push_floor.py timed beside its floors minutes later (bench/RESULTS.md,
# 2026-12-07 afternoon), which makes a target's ratio to it look better
# than it is. --fresh empties db 9 before each (a ZADD ceiling starts from
# empty keys each time).
rb_best() {
    local fresh= best=0 v all=
    [ "$1" = --fresh ] && { fresh=1; shift; }
    for _ in 1 2 3; do
        [ -z "$fresh" ] || rcli -n 9 FLUSHDB >/dev/null
        v=$(rb "$@")
        [ -n "$v" ] || return 0
        all=${all:+$all / }$v
        awk -v a="$v" -v b="$best" 'BEGIN { exit !(a > b) }' && best=$v
    done
    echo "$best $all"
}

# Totals over the keys matching a pattern, one SCAN step (COUNT 500) per
# EVAL, so that Redis never stalls long enough for feedcached's commands to
# time out. A step script gets pattern, cursor, how many keys may still be
# sampled (MEMORY USAGE), and options; it returns the next cursor, how many
# keys it sampled, then its counts, which scan_all sums.
# Sorted sets: keys, entries (scores >= 0), meta members, keys with celebrity
# markers, MEMORY USAGE and ZCARD of the sampled keys, keys with at least
# ARGV[4] and at least ARGV[5] entries (options; 0 when not given), and the
# sum of the squares of the entries per key.
SCAN_ZSETS="local r = redis.call('SCAN', ARGV[2], 'MATCH', ARGV[1], 'COUNT', 500)
local left, sampled, k, n, meta, marked, mem, card = tonumber(ARGV[3]), 0, 0, 0, 0, 0, 0, 0
local min1, min2, full1, full2, sq = tonumber(ARGV[4] or 0), tonumber(ARGV[5] or 0), 0, 0, 0
for _, key in ipairs(r[2]) do
  k = k + 1
  local real = redis.call('ZCOUNT', key, 0, '+inf')
  n = n + real
  sq = sq + real * real
  if real >= min1 then full1 = full1 + 1 end
  if real >= min2 then full2 = full2 + 1 end
  meta = meta + redis.call('ZCOUNT', key, '-inf', '(0')
  if redis.call('ZCOUNT', key, -5, -5) > 0 then marked = marked + 1 end
  if sampled < left then
    sampled = sampled + 1
    mem = mem + redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')
    card = card + redis.call('ZCARD', key)
  end
end
return {r[1], sampled, k, n, meta, marked, mem, card, full1, full2, sq}"
# Cached posts (strings pc:{P}; hashes post:{P} before 2026-12-04, so that
# an older binary can be measured too): keys, MEMORY USAGE of the sampled
# ones; deleted when the option is 1.
SCAN_POSTS="local r = redis.call('SCAN', ARGV[2], 'MATCH', ARGV[1], 'COUNT', 500)
local left, sampled, k, mem = tonumber(ARGV[3]), 0, 0, 0
for _, key in ipairs(r[2]) do
  local t = redis.call('TYPE', key)['ok']
  if t == 'hash' or t == 'string' then
    k = k + 1
    if sampled < left then
      sampled = sampled + 1
      mem = mem + redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')
    end
    if ARGV[4] == '1' then redis.call('DEL', key) end
  end
end
return {r[1], sampled, k, mem}"

# scan_all SCRIPT PATTERN [OPTION...]: prints the summed counts.
scan_all() {
    local script=$1 pattern=$2 cursor=0 left=200 out i
    local -a sum=() opts=("${@:3}")
    [ "${#opts[@]}" -gt 0 ] || opts=(0)
    while :; do
        mapfile -t out < <(rcli EVAL "$script" 0 "$pattern" "$cursor" "$left" "${opts[@]}")
        [ "${#out[@]}" -ge 3 ] || die "scanning $pattern failed: ${out[*]}"
        cursor=${out[0]}
        left=$((left - out[1]))
        for ((i = 2; i < ${#out[@]}; i++)); do
            sum[i - 2]=$((${sum[i - 2]:-0} + out[i]))
        done
        [ "$cursor" = 0 ] && break
    done
    echo "${sum[*]}"
}

# The SLOWLOG since its reset (kept in slowlog.json), Redis' own commands
# (INFO, SLOWLOG, CONFIG, HELLO: the probes') and the commands a script
# called (client "?:0": its EVAL/EVALSHA entry covers them) left out: "COUNT LONGEST_US NAME MEDIAN_US BY_NAME"
# ("0 0 - 0 -" when empty); NAME is a script's command with its number of
# keys, e.g. EVALSHA_(250_keys); BY_NAME the entries per command, e.g.
# EVALSHA_1000,_HSET_3.
# shellcheck disable=SC2016 # a jq program: $m is jq's
SLOW_JQ='[.[] | select(.[4] != "?:0")
    | select(.[3][0] | ascii_upcase | IN("INFO", "SLOWLOG", "CONFIG", "HELLO") | not)]
    | if length == 0 then "0 0 - 0 -" else
        (max_by(.[2]) | "\(.[2]) \(.[3][0] | ascii_upcase)\(if (.[3][0] | ascii_upcase | startswith("EVAL"))
            then "_(\(.[3][2])_keys)" else "" end)") as $m
        | (map(.[2]) | sort | .[length / 2 | floor]) as $med
        | (group_by(.[3][0] | ascii_upcase) | sort_by(-length)
           | map("\(.[0][3][0] | ascii_upcase)_\(length)") | join(",_")) as $by
        | "\(length) \($m) \($med) \($by)" end'
# The SLOWLOG figure of the publish run, for the tables.
slow_text() {
    if [ "${SLOW_N:--}" = - ]; then
        echo "n/a (no jq)"
    elif [ "$SLOW_N" = 0 ]; then
        echo "none over 1 ms"
    else
        echo "$(fmt "$(calc "$SLOW_US / 1000")" 2) ms, ${SLOW_CMD//_/ }; $SLOW_N entries over 1 ms$([ "$SLOW_N" -ge 4096 ] &&
            echo ' (the log kept the last 4096)'), median $(fmt "$(calc "$SLOW_MED / 1000")" 2) ms (${SLOW_BY//_/ })"
    fi
}
slowlog_longest() {
    if command -v jq >/dev/null; then
        rcli --json SLOWLOG GET 4096 >"$WORK/slowlog.json"
        jq -r "$SLOW_JQ" "$WORK/slowlog.json"
    else
        log "jq not found: no SLOWLOG figure (apt-get install jq)"
        echo "- - n/a - -"
    fi
}

# "feedcached / Redis waits, pressure" of a workload (feedbench's probes).
cpu_waits() {
    echo "$(fmt "$(val "$1.daemon_cpu_wait")" 2) / $(fmt "$(val "$1.redis_cpu_wait")" 2), $(fmt "$(val "$1.cpu_pressure_pct")")%"
}

# FC_BENCH_CAPTURE=DIR: the publish run's Redis traffic for
# bench/micro/fanout_replay.py: the data set just before it (DIR/snapshot.rdb)
# and every command during it (DIR/monitor.txt, from MONITOR, which costs
# Redis CPU: that run's figures do not compare with others).
capture_start() {
    mkdir -p "$FC_BENCH_CAPTURE"
    rcli --rdb "$FC_BENCH_CAPTURE/snapshot.rdb" >/dev/null 2>&1 || die "redis-cli --rdb failed"
    # --rdb connects as a replica, for which Redis keeps a replication
    # backlog from then on: every write would be copied into it (8.6% of
    # Redis's instructions in a replay). Let it expire now.
    rcli CONFIG SET repl-backlog-ttl 1 >/dev/null
    local i
    for ((i = 0; i < 40; i++)); do
        rcli INFO replication | grep -q '^repl_backlog_active:0' && break
        sleep 0.25
    done
    redis-cli -h 127.0.0.1 -p "$RPORT" MONITOR >"$FC_BENCH_CAPTURE/monitor.txt" &
    CAPTURE_PID=$!
    sleep 0.2
    log "capturing the publish run's Redis traffic into $FC_BENCH_CAPTURE (MONITOR)"
}
capture_stop() {
    kill "$CAPTURE_PID" 2>/dev/null || true
    wait "$CAPTURE_PID" 2>/dev/null || true
    CAPTURE_PID=
}
run_fb() {
    local label=$1
    shift
    log "workload $label: $*"
    fb --label "$label" --duration "$DUR" --warmup "$WARMUP" "$@" | tee "$WORK/$label.txt" |
        sed 's/^/    /' >&2
}
# The open-loop runs that the read tail is judged by (8 connections):
# run_read_open LABEL RATE, reads alone; run_mixed_open LABEL RATE [FLAGS],
# the mix MIX (with --insert-only: every publish its INSERT alone).
run_read_open() {
    run_fb "$1" --workload read --rate "$2" --conns 8
}
run_mixed_open() {
    local label=$1 rate=$2
    shift 2
    run_fb "$label" --workload mixed --mix "$MIX" --rate "$rate" --conns 8 "$@"
}
# The overload scenario's shape (step 7b, --only overload-ab): its open-loop
# run, OV_CONNS connections on OV_THREADS threads, at most OV_MAXIN reads in
# flight per connection (--drop past it), phases at OV_MULT x capacity.
OV_CONNS=32
OV_THREADS=4
OV_MAXIN=512
read -r -a OV_MULT <<<"${FC_BENCH_OV_MULT:-0.5 1.5 4 0.5}"
# ov_capacity LABEL: closed loop with 64 in flight (8 x 8) as LABEL1 and
# LABEL2; prints the better's reads/s, or FC_BENCH_CAPACITY.
ov_capacity() {
    local i
    for i in 1 2; do
        run_fb "$1$i" --workload read --conns 8 --depth 8
    done
    best_of "$1" read_per_s max 2 >/dev/null
    echo "${FC_BENCH_CAPACITY:-$(calc "int($(val "$1.read_per_s"))")}"
}
# ov_phases CAP: feedbench's --phases for OV_MULT x CAP, OV_DUR s each.
ov_phases() {
    local m phases=
    for m in "${OV_MULT[@]}"; do
        phases+="${phases:+,}$(calc "int($1 * $m)"):$OV_DUR"
    done
    echo "$phases"
}
# fb_overload LABEL PHASES: the scenario's open-loop run (report to stdout).
fb_overload() {
    fb --label "$1" --workload read --conns "$OV_CONNS" --threads "$OV_THREADS" \
        --max-inflight "$OV_MAXIN" --drop --warmup "$WARMUP" --phases "$2" \
        --daemon-log "$WORK/feedcached.log"
}

# Noise on a shared machine only ever makes the service look slower: where
# it matters, a workload runs several times and the best run counts. This
# copies the keys of the best of LABEL1..LABELn (by KEY, max or min) to LABEL.
best_of() {
    local label=$1 key=$2 dir=$3 n=$4 i best
    best=$(for ((i = 1; i <= n; i++)); do echo "$(val "$label$i.$key") $i"; done |
        sort -g | { if [ "$dir" = max ]; then tail -1; else head -1; fi; } | cut -d' ' -f2)
    grep "^$label$best\." "$REPORT" | sed "s/^$label$best\./$label./" >>"$REPORT"
    echo "$best"
}

# --- 1. build --------------------------------------------------------------------

log "mode $MODE; build in $BUILD"
if [ ! -f "$BUILD/build.ninja" ]; then
    [ -d "$BUILD/meson-private" ] && rm -rf "$BUILD"
    meson setup "$BUILD" >/dev/null || die "meson setup $BUILD failed"
fi
ninja -C "$BUILD" >/dev/null || die "build failed (run: ninja -C $BUILD)"
for b in "$FEEDCACHED" "$FB" "$GG" "$CTL"; do
    [ -x "$b" ] || die "$b was not built"
done
command -v redis-benchmark >/dev/null || die "redis-benchmark not found (apt-get install redis-tools)"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 2. services -------------------------------------------------------------------

WORK=$(mktemp -d /tmp/feedbench.XXXXXX)
chmod 755 "$WORK"      # lets the postgres user keep its data in there
REPORT=$WORK/report.txt
: >"$REPORT"
STATE=$WORK/services
log "starting Redis and PostgreSQL ($STATE)"
"${PIN_SVC[@]}" bash scripts/services.sh start "$STATE" 2>"$WORK/services.log" ||
    { cat "$WORK/services.log" >&2; die "services.sh start failed"; }
# shellcheck disable=SC1091
. "$STATE/env"
# FC_BENCH_REDIS_SCHED=fifo runs Redis under SCHED_FIFO (chrt; nice=N, e.g.
# nice=-10, renices it instead). Redis runs every command on one thread, and
# on this shared 2-CPU machine the scheduler preempts it, in the middle of a
# script too, whenever feedcached, PostgreSQL and feedbench want the CPUs
# (bench/micro/slowlog_sched.py). Under SCHED_FIFO no other process
# preempts it: what a host that gives Redis a CPU of its own would see, so
# the run tells Redis's own work (SLOWLOG's longest script, a latency tail)
# from the time it waited for a CPU. (The kernel's real-time throttle still
# stops it for the rest of a second in which it ran 95%.)
case "${FC_BENCH_REDIS_SCHED:-}" in
    "") ;;
    fifo) chrt -f -p 1 "$(cat "$STATE/redis/redis.pid")" || die "chrt of Redis failed" ;;
    nice=*)                          # (checked at the top)
        renice -n "${FC_BENCH_REDIS_SCHED#nice=}" -p "$(cat "$STATE/redis/redis.pid")" >/dev/null ||
            die "renice of Redis failed" ;;
esac
RPORT=$FEEDCACHE_TEST_REDIS_PORT
PGC=$FEEDCACHE_TEST_PG
psql_q() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$PGC" "$@"; }

# --- 3. the graph --------------------------------------------------------------------

log "loading the graph (graphgen ${GEN_ARGS[*]:-})"
"$GG" --pg "$PGC" --schema sql/schema.sql "${GEN_ARGS[@]}" >"$WORK/graph.txt" 2>"$WORK/graphgen.log" ||
    { cat "$WORK/graphgen.log" >&2; die "graphgen failed"; }
sed 's/^/    /' "$WORK/graphgen.log" >&2
USERS=$(gval users)
THRESH=$(gval celebrity_threshold)
log "graph: $USERS users, $(gval follows) follows, $(gval posts) posts in $(gval load_seconds) s;" \
    "celebrity threshold $THRESH followers ($(gval celebrities) celebrities)"

# --- 4. feedcached ---------------------------------------------------------------------

# The recommended Redis setting (docs/OPERATIONS.md): an 800-entry home
# feed stays a listpack when zset-max-listpack-entries >= feed_max + 16.
# services.sh starts Redis with 1024; checked here, and set if lower.
LISTPACK=$(rcli CONFIG GET zset-max-listpack-entries | sed -n 2p)
# A home feed holds feed_max plus its trim slack (feed_max / 4, at most 64)
# plus the sampled trim's overshoot (64) plus its meta members
# (src/feed/feed_scripts.h, feed_trim_slack, FEED_TRIM_OVERSHOOT).
SLACK=$((FEED_MAX / 4 < 64 ? FEED_MAX / 4 : 64))
if [ -z "$LISTPACK" ] || [ "$LISTPACK" -lt $((FEED_MAX + SLACK + 64 + 16)) ]; then
    log "zset-max-listpack-entries is '${LISTPACK}': setting it to 1024 (feed_max $FEED_MAX + slack $SLACK + 80 or more)"
    rcli CONFIG SET zset-max-listpack-entries 1024 >/dev/null || die "CONFIG SET failed"
    LISTPACK=$(rcli CONFIG GET zset-max-listpack-entries | sed -n 2p)
fi

RPC_PORT=$(free_port) || die "no free port"
MET_PORT=$(free_port "$RPC_PORT") || die "no free port"
# start_daemon FEED_MAX: starts feedcached (its log appended to
# feedcached.log). TTLs of two hours: warming the full graph takes longer
# than the default feed_ttl (300 s), and every feed must still be cached
# when it is read and when memory is counted.
start_daemon() {
    local i
    # shellcheck disable=SC2086 # FC_BENCH_DAEMON_ARGS: flags, split on spaces
    "${PIN_SVC[@]}" setsid "$FEEDCACHED" --listen "127.0.0.1:$RPC_PORT" --metrics-listen "127.0.0.1:$MET_PORT" \
        --redis "$FEEDCACHE_TEST_REDIS_URL" --pg "$PGC" --feed-max "$1" \
        --celebrity-threshold "$THRESH" --feed-ttl 7200 --post-ttl 7200 --log-level warn \
        ${FC_BENCH_DAEMON_ARGS:-} >>"$WORK/feedcached.log" 2>&1 &
    DAEMON_PID=$!
    for ((i = 0; i < 100; i++)); do
        "$CTL" --addr "127.0.0.1:$RPC_PORT" --timeout 500 ping >/dev/null 2>&1 && break
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/feedcached.log" >&2; die "feedcached exited"; }
        sleep 0.1
    done
    "$CTL" --addr "127.0.0.1:$RPC_PORT" ping >/dev/null || die "feedcached does not answer"
    log "feedcached pid $DAEMON_PID on 127.0.0.1:$RPC_PORT (metrics :$MET_PORT), --feed-max $1"
}
start_daemon "$FEED_MAX"

# --- 5. Redis ceilings ---------------------------------------------------------------------

if [ -z "$ONLY" ]; then
    log "Redis ceilings (redis-benchmark -P 32 -c 50 -r $USERS, $CEIL_N requests each)"
    BODY=$(printf 'x%.0s' {1..140})
    CEIL_ZADD= CEIL_ZREV= CEIL_HGETALL= CEIL_ZADD_ALL= CEIL_ZREV_ALL= CEIL_HGETALL_ALL=
    read -r CEIL_ZADD CEIL_ZADD_ALL < <(rb_best --fresh \
        -n "$CEIL_N" -r "$USERS" ZADD 'fc:bench:feed:{__rand_int__}' __rand_int__ __rand_int__) || true
    rb -n $((3 * USERS)) -r "$USERS" HSET 'fc:bench:post:{__rand_int__}' a 123456789 \
        t 1764000000000 b "$BODY" >/dev/null
    read -r CEIL_ZREV CEIL_ZREV_ALL < <(rb_best -n "$CEIL_N" -r "$USERS" ZREVRANGE 'fc:bench:feed:{__rand_int__}' 0 19 WITHSCORES) || true
    read -r CEIL_HGETALL CEIL_HGETALL_ALL < <(rb_best -n "$CEIL_N" -r "$USERS" HGETALL 'fc:bench:post:{__rand_int__}') || true
    BENCH_CARD=$(calc "$CEIL_N / $USERS")
    rcli -n 9 FLUSHDB >/dev/null
    [ -n "$CEIL_ZADD" ] && [ -n "$CEIL_ZREV" ] && [ -n "$CEIL_HGETALL" ] || die "redis-benchmark failed"
    log "ceilings: ZADD $CEIL_ZADD/s, ZREVRANGE 0 19 $CEIL_ZREV/s, HGETALL $CEIL_HGETALL/s"
fi

# --- 6. celebrities, warm feeds, memory -------------------------------------------------------

log "flagging celebrities (one post each)"
fb --workload celebs --celebrity-threshold "$THRESH" --label celebs >"$WORK/celebs.txt" ||
    die "celebs failed: $(cat "$WORK/celebs.txt")"
MEM0=$(used_memory)
log "warming all $USERS feeds (each read once)"
fb --workload warm --conns 4 --depth 4 --label warm | tee "$WORK/warm.txt" | sed 's/^/    /' >&2
if [ -z "$ONLY" ]; then
    MEM1=$(used_memory)
    read -r FEEDS FEED_ENTRIES FEED_META FEEDS_MARKED FEED_SMEM FEED_SCARD FEEDS_FULL \
        FEEDS_FULL_SMALL FEED_SQ < <(scan_all "$SCAN_ZSETS" 'fc:home:*' "$FEED_MAX" "$FULL_MAX")
    read -r _ ASET_ENTRIES _ _ _ _ _ _ < <(scan_all "$SCAN_ZSETS" 'fc:posts:*')
    read -r POSTS_CACHED POST_SMEM < <(scan_all "$SCAN_POSTS" 'fc:pc:*' 1)
    if [ "$POSTS_CACHED" = 0 ]; then    # an older feedcached: post hashes
        read -r POSTS_CACHED POST_SMEM < <(scan_all "$SCAN_POSTS" 'fc:post:*' 1)
    fi
    MEM2=$(used_memory)
    BYTES_PER_ENTRY=$(calc "($MEM2 - $MEM0) / ($FEED_ENTRIES + $ASET_ENTRIES)")
    BYTES_PER_POST=$(calc "($MEM1 - $MEM2) / $POSTS_CACHED")
    SAMPLED_PER_ENTRY=$(calc "$FEED_SMEM / $FEED_SCARD")
    SAMPLED_PER_POST=$(calc "$POST_SMEM / ($POSTS_CACHED < 200 ? $POSTS_CACHED : 200)")
    ENTRIES_PER_FEED=$(calc "$FEED_ENTRIES / $FEEDS")
    # The feed a delivery meets: a feed's size and its deliveries both grow
    # with its followees, so its size weighted by itself (sum n^2 / sum n).
    ENTRIES_PER_DELIVERY=$(calc "$FEED_SQ / $FEED_ENTRIES")
    MARKED_FRAC=$(calc "$FEEDS_MARKED / $FEEDS")
    MARKERS_PER_FEED=$(calc "($FEED_META - $FEEDS) / $FEEDS")
    [ "$(calc "$MARKERS_PER_FEED < 0")" = 1 ] && MARKERS_PER_FEED=0
    log "memory: $FEEDS feeds, $ENTRIES_PER_FEED entries each, $BYTES_PER_ENTRY B/entry;" \
        "$POSTS_CACHED cached posts, $BYTES_PER_POST B/post; $MARKED_FRAC of feeds merge celebrities"
fi
# Also after a PostgreSQL fallback of the first pass (rebuild cap), so that
# the reads measured below are cache hits.
log "hydrating the first pages again (every feed read once more)"
fb --workload warm --conns 4 --depth 8 --label rewarm >"$WORK/rewarm.txt"
# On the full graph a pass at 32 in flight still leaves feeds cold: reads
# past max_rebuilds (2 x pg_pool = 8) are served from PostgreSQL and not
# cached (the 2026-12-05 full overload run: a fifth of the reads of its
# capacity runs, which then measured 3,600-4,000 reads/s before the phases
# and 8,900 after them). Passes with 8 in flight, so that none is shed,
# until at most 1% of the reads came from PostgreSQL (at most 4 more).
for i in 1 2 3 4; do
    [ "$(calc "$(val rewarm.src_db) + 0 > $USERS / 100")" = 1 ] || break
    log "rewarm pass $i: $(val rewarm.src_db) pages came from PostgreSQL in the last pass"
    fb --workload warm --conns 4 --depth 2 --label rewarm >"$WORK/rewarm.txt"
done

# --- two binaries alternated (--only reads, publish, mixed) -------------------------------

# ab_binaries: BIN_A, BIN_B and AB_ROUNDS from the environment, checked.
ab_binaries() {
    BIN_A=$FEEDCACHED
    BIN_B=${FC_BENCH_FEEDCACHED_B:-$FEEDCACHED}
    [ -x "$BIN_B" ] || die "FC_BENCH_FEEDCACHED_B: $BIN_B is not an executable"
    AB_ROUNDS=${FC_BENCH_AB_ROUNDS:-2}
    [[ $AB_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "FC_BENCH_AB_ROUNDS must be a count, e.g. 2"
}

# ab_rounds FN: FN NAME ROUND for A B, then B A, ... (AB_ROUNDS pairs).
ab_rounds() {
    local fn=$1 r name order
    for ((r = 1; r <= AB_ROUNDS; r++)); do
        if ((r % 2)); then order="A B"; else order="B A"; fi
        for name in $order; do
            "$fn" "$name" "$r"
        done
    done
}

# ab_restart NAME: feedcached restarted with binary NAME (A or B).
ab_restart() {
    FEEDCACHED=$([ "$1" = A ] && echo "$BIN_A" || echo "$BIN_B")
    stop_daemon
    start_daemon "$FEED_MAX"
}

# --- 7a. two binaries' reads (--only reads) -----------------------------------------------

if [ "$ONLY" = reads ]; then
    ab_binaries
    AB_RATE=${FC_BENCH_AB_RATE:-}
    [ -z "$AB_RATE" ] || [[ $AB_RATE =~ ^[1-9][0-9]*$ ]] ||
        die "FC_BENCH_AB_RATE must be a rate in reads/s, e.g. 8000"
    AB_ROWS=()
    AB_OPEN=()
    # Restarted for every run, A's as B's: each starts with empty caches of
    # celebrity windows and guesses, which the warm-up fills.
    ab_run() {
        local name=$1 label="ab_$1$2"
        ab_restart "$name"
        run_fb "$label" --workload read --conns 8 --depth 8
        if [ -n "$AB_RATE" ]; then
            run_fb "${label}_open" --workload read --rate "$AB_RATE" --conns 8
            AB_OPEN+=("| $((${#AB_OPEN[@]} / 2 + 1)) | $name | $(fmt "$(val "${label}_open.read_per_s")") | $(fmt "$(val "${label}_open.read_p50_ms")" 2) / $(fmt "$(val "${label}_open.read_p99_ms")" 2) | $(fmt "$(val "${label}_open.daemon_cpu_us_per_op")" 1) | $(fmt "$(val "${label}_open.redis_cpu_us_per_op")" 1) | $(fmt "$(val "${label}_open.redis_reads_per_op")" 2) | $(val "${label}_open.cmd_calls_top") |")
        fi
        run_fb "${label}_cold" --workload read-cold --conns 2 --depth 1
        AB_ROWS+=("| $((${#AB_ROWS[@]} / 2 + 1)) | $name | $(fmt "$(val "$label.read_per_s")") | $(fmt "$(val "$label.daemon_cpu_us_per_op")" 1) | $(fmt "$(val "$label.redis_cpu_us_per_op")" 1) | $(fmt "$(val "$label.redis_cmds_per_op")" 2) | $(val "$label.cmd_calls_top") | $(val "$label.cmd_usec_top") | $(fmt "$(val "$label.celeb_cached_pct")" 1) | $(fmt "$(val "${label}_cold.rebuild_p50_ms")" 2) / $(fmt "$(val "${label}_cold.rebuild_p99_ms")" 2) | $(fmt "$(val "${label}_cold.daemon_cpu_us_per_op")") / $(fmt "$(val "${label}_cold.redis_cpu_us_per_op")") |")
    }
    ab_rounds ab_run
    echo "Cached reads, two binaries on one graph ($MODE; closed loop 8x8, $DUR s each after $WARMUP s; feedcached restarted for each run)"
    echo "A: $BIN_A"
    echo "B: $BIN_B"
    echo
    echo "| pair | binary | reads/s | feedcached CPU per read (us) | Redis CPU per read (us) | Redis commands per read | calls per read by command | Redis time per read by command (us) | celebrity windows from the copy (%) | cold reads: rebuild p50 / p99 in feedcached (ms) | cold reads: feedcached / Redis CPU per rebuild (us) |"
    echo "|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|"
    printf '%s\n' "${AB_ROWS[@]}"
    if [ -n "$AB_RATE" ]; then
        echo
        echo "Cached reads in open loop at $AB_RATE reads/s (8 connections, $DUR s each after $WARMUP s; right after the closed-loop run of the same binary)"
        echo
        echo "| pair | binary | reads/s | p50 / p99 (ms) | feedcached CPU per read (us) | Redis CPU per read (us) | Redis read events per read (its pipelines) | calls per read by command |"
        echo "|---|---|---:|---:|---:|---:|---:|---|"
        printf '%s\n' "${AB_OPEN[@]}"
    fi
    exit 0
fi

# --- 7b. two binaries' post.publish while fan-out runs (--only publish) -------------------

if [ "$ONLY" = publish ]; then
    ab_binaries
    PF_RATE=${FC_BENCH_PUB_RATE:-1600}
    [[ $PF_RATE =~ ^[1-9][0-9]*$ ]] || die "FC_BENCH_PUB_RATE must be a rate in publishes/s"
    AB_ROWS=()
    # A first run, not counted: the first publishes after the warm passes
    # found PostgreSQL's and Redis's caches colder (p99 7.8 ms where the
    # same binary's later runs gave 2.3-2.5).
    run_fb pab_warm --workload publish --rate "$PF_RATE" --conns 4 >/dev/null 2>&1
    pab_run() {
        local name=$1 r=$2 label="pab_$1$2"
        ab_restart "$name"
        run_fb "$label" --workload publish --rate "$PF_RATE" --conns 4
        AB_ROWS+=("| $r | $name | $(fmt "$(val "$label.publish_per_s")") | $(fmt "$(val "$label.deliveries_per_s")") | $(fmt "$(val "$label.publish_rpc_p50_ms")" 2) / $(fmt "$(val "$label.publish_rpc_p99_ms")" 2) / $(fmt "$(val "$label.publish_rpc_max_ms")" 2) | $(fmt "$(val "$label.publish_p99_ms")" 2) |")
    }
    ab_rounds pab_run
    echo "post.publish while fan-out runs, two binaries on one graph ($MODE; open loop $PF_RATE/s, 4 connections, $DUR s each after $WARMUP s; feedcached restarted for each run)"
    echo "A: $BIN_A"
    echo "B: $BIN_B"
    echo
    echo "| round | binary | publishes/s | deliveries/s | RPC p50 / p99 / max (ms, from its send) | with the INSERT p99 (ms) |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s\n' "${AB_ROWS[@]}"
    exit 0
fi

# --- 7c. two binaries' read tail under the mixed workload (--only mixed) ------------------

if [ "$ONLY" = mixed ]; then
    ab_binaries
    if [ -n "${FC_BENCH_RATE:-}" ]; then
        MX_RATE=$FC_BENCH_RATE
    else
        run_fb mab_max --workload read --conns 8 --depth 8
        MX_RATE=$(calc "int($(val mab_max.read_per_s) / 2)")
    fi
    AB_ROWS=()
    mab_run() {
        local name=$1 r=$2 label="mab_$1$2"
        ab_restart "$name"
        run_read_open "${label}_alone" "$MX_RATE"
        run_mixed_open "$label" "$MX_RATE"
        run_mixed_open "${label}_ins" "$MX_RATE" --insert-only
        AB_ROWS+=("| $r | $name | $(fmt "$(val "${label}_alone.read_p50_ms")" 2) / $(fmt "$(val "${label}_alone.read_p99_ms")" 2) | $(fmt "$(val "$label.read_p50_ms")" 2) / $(fmt "$(val "$label.read_p99_ms")" 2) | $(fmt "$(calc "$(val "$label.read_p99_ms") / $(val "${label}_alone.read_p99_ms")")" 2)x | $(fmt "$(val "$label.publish_p99_ms")" 2) | $(fmt "$(val "$label.lag_p50_ms")") / $(fmt "$(val "$label.lag_p99_ms")") | $(fmt "$(val "$label.errors")") | $(fmt "$(val "$label.machine_busy_cores")" 2) | $(fmt "$(val "${label}_ins.read_p50_ms")" 2) / $(fmt "$(val "${label}_ins.read_p99_ms")" 2) |")
    }
    ab_rounds mab_run
    echo "Reads under the mixed workload ($MIX % reads/publishes/follows), two binaries on one graph ($MODE; open loop $MX_RATE ops/s, 8 connections, $DUR s each after $WARMUP s; feedcached restarted before each row's three runs)"
    echo "A: $BIN_A"
    echo "B: $BIN_B"
    echo
    echo "| round | binary | reads alone p50 / p99 (ms) | mixed: read p50 / p99 (ms) | mixed / alone p99 | mixed: publish p99 (ms, INSERT included) | mixed: fan-out lag p50 / p99 (ms) | mixed: errors (shed) | mixed: CPUs busy (of 2) | INSERTs alone: read p50 / p99 (ms) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${AB_ROWS[@]}"
    exit 0
fi

# --- 7d. two binaries under the overload scenario (--only overload-ab) --------------------

if [ "$ONLY" = overload-ab ]; then
    ab_binaries
    OAB_CAP=$(ov_capacity oab_cap)
    OAB_PHASES=$(ov_phases "$OAB_CAP")
    AB_ROWS=()
    oab_run() {
        local name=$1 r=$2 label="oab_$1$2" p u
        ab_restart "$name"
        log "workload $label: overload phases $OAB_PHASES"
        fb_overload "$label" "$OAB_PHASES" >"$WORK/$label.txt" 2>&1
        u=$(val "$label.p1.p99_ms")
        for ((p = 1; p <= ${#OV_MULT[@]}; p++)); do
            AB_ROWS+=("| $r | $name | ${OV_MULT[p - 1]}x | $(pct "$(calc "$(val "$label.p$p.goodput") / $OAB_CAP")") | $(fmt "$(val "$label.p$p.p50_ms")" 2) / $(fmt "$(val "$label.p$p.p99_ms")" 2) | $(fmt "$(calc "$(val "$label.p$p.p99_ms") / $u")" 1)x | $(fmt "$(val "$label.p$p.onset_p99_ms")" 2) | $(val "$label.p$p.overloaded") / $(val "$label.p$p.unavailable") / $(val "$label.p$p.other_errors") / $(val "$label.p$p.dropped") | $(val "$label.p$p.shed_queue_time") / $(val "$label.p$p.shed_concurrency_limit") / $(val "$label.p$p.shed_reserve") / $(val "$label.p$p.shed_newer_first") | $(fmt "$(val "$label.p$p.service_cpu_us_per_read")" 1) | $(fmt "$(val "$label.p$p.client_cpu_cores")" 2) |")
        done
    }
    ab_rounds oab_run
    echo "The overload scenario, two binaries on one graph ($MODE; capacity $OAB_CAP reads/s, phases (reads/s:seconds) $OAB_PHASES, open loop, $OV_CONNS connections x at most $OV_MAXIN in flight; feedcached restarted for each run)"
    echo "A: $BIN_A"
    echo "B: $BIN_B"
    echo
    echo "| round | binary | phase | goodput / capacity | p50 / p99 (ms) | p99 / the run's first phase's | onset p99 (ms) | OVERLOADED / UNAVAILABLE / other / dropped | shed by reason: queue_time / concurrency_limit / reserve / newer_first | service CPU per served read (us) | feedbench cores |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${AB_ROWS[@]}"
    exit 0
fi

# --- 7. workloads ------------------------------------------------------------------------
if [ -z "$ONLY" ]; then

    # Cached reads: the maximum (closed loop, 8 connections x 8), best of 3.
    for i in 1 2 3; do
        run_fb "read_max$i" --workload read --conns 8 --depth 8
    done
    best_of read_max read_per_s max 3 >/dev/null
    READ_MAX=$(val read_max.read_per_s)
    if [ "$PROFILE" = 1 ]; then
        if perf record -e cpu-clock -o /dev/null true >/dev/null 2>&1; then
            perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$DAEMON_PID" \
                -o "$WORK/perf.data" >"$WORK/perf.log" 2>&1 &
            PERF_PID=$!
            run_fb read_prof --workload read --conns 8 --depth 8
            kill -INT "$PERF_PID" 2>/dev/null || true
            wait "$PERF_PID" 2>/dev/null || true
            PERF_PID=
            log "perf report (unwinding call stacks takes a while)"
            perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
                grep -E '^ +[0-9.]+%' | head -15 >"$WORK/profile_self.txt" || true
            perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
                grep -E '^ +[0-9.]+%' | grep -v -E '\] 0x[0-9a-f]+ ' | head -30 \
                >"$WORK/profile_children.txt" || true
        else
            log "perf does not work here: no profile"
        fi
    fi
    HALF=${FC_BENCH_RATE:-$(calc "int($READ_MAX / 2)")}
    # Round trips per read: with one read in flight at a time, each round trip
    # of the service reaches Redis as one pipeline, one read event
    # (INFO total_reads_processed), so read events per read count them.
    log "workload read_rt: --workload read --conns 1 --depth 1"
    fb --label read_rt --duration 3 --warmup 0.5 --workload read --conns 1 --depth 1 \
        >"$WORK/read_rt.txt"
    run_fb read_zipf --workload read --dist zipf --conns 8 --depth 8
    run_fb read_cold --workload read-cold --conns 2 --depth 1
    # How long this machine stalls the run's Redis while it is idle (no
    # load: the reads are over, the fan-out queue is empty): a floor under
    # the p99 of any call that needs Redis (bench/micro/redis_stall.py; the
    # same on an empty Redis in step 7's micro-benchmarks).
    stall_probe main "$RPORT"
    # Fan-out at its maximum (closed loop, then until the queue is empty).
    # Redis logs every command or script slower than 1 ms meanwhile
    # (SLOWLOG); feedbench counts the Redis calls per delivery (INFO
    # commandstats).
    rcli CONFIG SET slowlog-log-slower-than 1000 >/dev/null
    rcli CONFIG SET slowlog-max-len 4096 >/dev/null
    rcli SLOWLOG RESET >/dev/null
    [ -n "${FC_BENCH_CAPTURE:-}" ] && capture_start
    run_fb publish --workload publish --conns 4 --depth 16 --duration "$PUB_DUR"
    [ -n "${FC_BENCH_CAPTURE:-}" ] && capture_stop
    read -r SLOW_N SLOW_US SLOW_CMD SLOW_MED SLOW_BY < <(slowlog_longest)
    rcli CONFIG SET slowlog-log-slower-than 10000 >/dev/null
    rcli CONFIG SET slowlog-max-len 128 >/dev/null
    log "SLOWLOG over 1 ms during the fan-out: $SLOW_N entries, longest $SLOW_US us ($SLOW_CMD)"
    # post.publish while the fan-out runs: open loop at half of what the
    # publish run fanned out (in posts/s; or half its publishes/s if that is
    # lower), so that the fan-out worker is busy throughout without a
    # backlog that grows; post.publish timed from its send, after the INSERT.
    DPP=$(val publish.deliveries_per_post)
    PF_RATE=$(calc "int(0.5 * ($DPP > 0 ? $(val publish.deliveries_per_s) / $DPP : 100))")
    PF_MAX=$(calc "int(0.5 * $(val publish.publish_per_s))")
    [ "$(calc "$PF_RATE > $PF_MAX")" = 1 ] && PF_RATE=$PF_MAX
    [ "$(calc "$PF_RATE < 10")" = 1 ] && PF_RATE=10
    PF_RATE=${FC_BENCH_PUB_RATE:-$PF_RATE}
    run_fb pub_fan --workload publish --rate "$PF_RATE" --conns 4
    # Reads alone and mixed (MIX: % reads, publishes, follows), at the same
    # total rate (half the maximum), interleaved twice; the lower read p99 of
    # each counts. The third run of each round is the mixed one with every
    # publish its INSERT alone (--insert-only: no post.publish, so nothing
    # of feedcache's but the reads): what the caller's own writes do to the
    # reads on this machine, where PostgreSQL shares the two CPUs, the read
    # tail's floor (issue 12).
    for i in 1 2; do
        run_read_open "read_half$i" "$HALF"
        run_mixed_open "mixed$i" "$HALF"
        run_mixed_open "mixed_ins$i" "$HALF" --insert-only
    done
    best_of read_half read_p99_ms min 2 >/dev/null
    best_of mixed read_p99_ms min 2 >/dev/null
    best_of mixed_ins read_p99_ms min 2 >/dev/null

    # EXPLAIN ANALYZE of the rebuild query (src/store/pg/pg_queries.h,
    # feed_rebuild) for the user whose non-celebrity timeline is closest to 800
    # posts among the first 2000 users.
    log "EXPLAIN ANALYZE of an ~800-entry rebuild"
    read -r EX_USER EX_POSTS < <(psql_q -F ' ' -c "
        WITH celeb AS (SELECT followee_id FROM follows GROUP BY followee_id HAVING count(*) >= $THRESH),
             counts AS (SELECT author_id, count(*) AS n FROM posts WHERE deleted_at IS NULL GROUP BY author_id),
             auth AS (SELECT u.id AS uid, u.id AS aid FROM users u WHERE u.id <= 2000
                      UNION SELECT f.follower_id, f.followee_id FROM follows f WHERE f.follower_id <= 2000)
        SELECT a.uid, sum(c.n) FROM auth a JOIN counts c ON c.author_id = a.aid
        WHERE a.aid NOT IN (SELECT followee_id FROM celeb)
        GROUP BY a.uid ORDER BY abs(sum(c.n) - 800) LIMIT 1")
    EX_AUTHORS=$(psql_q -c "
        SELECT '{' || string_agg(a::text, ',') || '}' FROM (
          SELECT $EX_USER AS a UNION SELECT followee_id FROM follows WHERE follower_id = $EX_USER
            AND followee_id NOT IN (SELECT followee_id FROM follows GROUP BY followee_id
                                    HAVING count(*) >= $THRESH)) s")
    EX_TIMES=()
    for i in 1 2 3 4 5; do
        t=$(psql_q -c "EXPLAIN (ANALYZE, TIMING OFF)
          SELECT p.id, p.author_id, (extract(epoch FROM p.created_at) * 1000)::int8
          FROM unnest('$EX_AUTHORS'::int8[]) AS a(id)
          CROSS JOIN LATERAL (SELECT id, author_id, created_at FROM posts
            WHERE author_id = a.id AND deleted_at IS NULL
            ORDER BY created_at DESC, id DESC LIMIT 801) p
          ORDER BY p.created_at DESC, p.id DESC LIMIT 801" |
            awk '/Execution Time/ { print $3 }')
        EX_TIMES+=("$t")
    done
    EX_MEDIAN=$(printf '%s\n' "${EX_TIMES[@]}" | sort -g | sed -n 3p)
    psql_q -c "EXPLAIN SELECT p.id FROM unnest('$EX_AUTHORS'::int8[]) AS a(id)
          CROSS JOIN LATERAL (SELECT id FROM posts WHERE author_id = a.id AND deleted_at IS NULL
            ORDER BY created_at DESC, id DESC LIMIT 801) p" >"$WORK/explain.txt"
    EX_SEQSCAN=$(grep -c 'Seq Scan on posts' "$WORK/explain.txt" || true)
    # The statement as feedcached sends it (feed_rebuild_all, prepared, the
    # celebrities as its array parameter), for random users, one client:
    # its latency is what a rebuild waits for PostgreSQL, where EXPLAIN
    # ANALYZE's instrumentation costs more than the query (3.2 against 0.9
    # ms for one user of the full graph, 2026-12-07).
    EX_CELEBS=$(psql_q -c "SELECT '{' || coalesce(string_agg(followee_id::text, ','), '') || '}'
        FROM (SELECT followee_id FROM follows GROUP BY followee_id HAVING count(*) >= $THRESH) s")
    printf '%s\n' '\set u random(1, '"$USERS"')' \
        "WITH f AS MATERIALIZED (SELECT followee_id FROM follows WHERE follower_id = :u) SELECT NULL::int8, followee_id, NULL::int8 FROM f UNION ALL (SELECT p.id, p.author_id, (extract(epoch FROM p.created_at) * 1000)::int8 FROM (SELECT :u::int8 AS id UNION ALL SELECT followee_id FROM f) a CROSS JOIN LATERAL (SELECT id, author_id, created_at FROM posts WHERE author_id = a.id AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $((FEED_MAX + 1))) p WHERE a.id <> ALL(:celebs::int8[]) ORDER BY p.created_at DESC, p.id DESC LIMIT $((FEED_MAX + 1)));" \
        >"$WORK/rebuild_query.sql"
    RQ_MS=$("$PG_BIN/pgbench" -n -M prepared -c 1 -T 3 -D celebs="$EX_CELEBS" -f "$WORK/rebuild_query.sql" "$PGC" 2>&1 |
        sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' || true)
    log "user $EX_USER: $EX_POSTS posts from $(tr -cd ',' <<<"$EX_AUTHORS" | wc -c) authors;" \
        "rebuild query median $EX_MEDIAN ms (${EX_TIMES[*]}); feed_rebuild_all by pgbench, random users: ${RQ_MS:-?} ms"

    DAEMON_WARNINGS=$(grep -c -E ' (warn|error) ' "$WORK/feedcached.log" || true)

    # The design's floors (issue 12): what a delivery and a cached read cost
    # a Redis that does nothing else (warm caches, commands pipelined), from
    # bench/micro's push_floor.py and read_floor.py on a throwaway Redis of
    # their own (they run FLUSHALL), feeds of this graph's average size. Set
    # against the ceilings above they say how much of a target's gap is the
    # design and how much the run's conditions (shared CPUs, cold caches).
    MICRO_ENTRIES=$(fmt "$ENTRIES_PER_FEED")
    MICRO_ENTRIES_D=$(fmt "$ENTRIES_PER_DELIVERY")
    MICRO_PORT=$(free_port "$RPC_PORT") || die "no free port"
    log "micro-benchmarks on a Redis of their own (127.0.0.1:$MICRO_PORT), $MICRO_ENTRIES- and $MICRO_ENTRIES_D-entry feeds"
    redis-server --port "$MICRO_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --pidfile "$WORK/micro-redis.pid" --logfile "$WORK/micro-redis.log" \
        --dir "$WORK" >/dev/null || die "the micro-benchmarks' redis-server did not start"
    MICRO_PIDFILE=$WORK/micro-redis.pid
    for ((i = 0; i < 50; i++)); do
        redis-cli -p "$MICRO_PORT" PING >/dev/null 2>&1 && break
        sleep 0.1
    done
    stall_probe empty "$MICRO_PORT"
    # Three rounds, each with the ZADD ceiling timed beside it on the same
    # Redis (the machine's speed can change by half within minutes): the
    # least time and the highest share of the ceiling count, as noise only
    # ever adds time.
    (cd bench/micro && RPORT=$MICRO_PORT R=3 NS="$MICRO_ENTRIES $MICRO_ENTRIES_D" HS=128 V='check push head' \
        CEIL_N=$CEIL_N CEIL_R=$USERS python3 push_floor.py) >"$WORK/push_floor.txt" 2>&1 || log "push_floor.py failed"
    # The same FEED_PUSH as the service reaches feeds: each post to its
    # deliveries per post at random over as many feeds as the graph has,
    # so that each delivery reads its feed from memory, where the 1,000
    # feeds above, in order, stay in the cache (bench/RESULTS.md,
    # 2026-12-06 morning: 47.9 against 0.002 memory reads per delivery).
    # The floor the fan-out target is judged by, so it is timed longer
    # than the others (~100,000 deliveries, about a second of Redis's CPU,
    # per round) and in five rounds, whose median share of the ceiling
    # counts: the share of one round is of two short timings, and the
    # highest of them is that of the round whose ceiling the machine
    # slowed most (bench/RESULTS.md, 2026-12-07 midday: 0.14-0.44 over
    # rounds of one sitting).
    RAND_F=$FEEDS
    RAND_D=$(calc "int($(val publish.deliveries_per_post) + 0.5)")
    [ "$RAND_D" -ge 1 ] 2>/dev/null || RAND_D=27
    RAND_P=$(calc "int(100000 / $RAND_D) + 1")
    (cd bench/micro && RPORT=$MICRO_PORT R=5 F=$RAND_F D=$RAND_D P=$RAND_P NS="$MICRO_ENTRIES_D" V='push' \
        CEIL_N=$CEIL_N CEIL_R=$USERS python3 push_floor.py) >"$WORK/push_floor_rand.txt" 2>&1 ||
        log "push_floor.py (at random) failed"
    (cd bench/micro && RPORT=$MICRO_PORT R=3 ENTRIES=$MICRO_ENTRIES python3 read_floor.py) \
        >"$WORK/read_floor.txt" 2>&1 || log "read_floor.py failed"
    # Whether a script's SLOWLOG entries over 1 ms are its work or its wait
    # for a CPU: the same calls of 16 alone, with four busy loops competing
    # for the two CPUs (the run's own processes are as many), and with those
    # loops but Redis under SCHED_FIFO.
    (cd bench/micro && RPORT=$MICRO_PORT RPID=$(cat "$MICRO_PIDFILE") R=1 H=4 N=$MICRO_ENTRIES_D \
        V='alone hogs fifo' python3 slowlog_sched.py) >"$WORK/slowlog_sched.txt" 2>&1 ||
        log "slowlog_sched.py failed"
    # post.publish's floor while fan-out runs: its one round trip to Redis
    # (the writes, then PUBLISH_JOB) timed on this Redis behind
    # FEED_PUSH calls of 16 (up to 8 in flight, as the service's rounds) at
    # the deliveries/s of the run that timed post.publish: alone; with the
    # caller's own INSERTs at the publishes' rate beside it (pgbench into
    # this run's PostgreSQL, as the publish run's feedbench INSERTs before
    # each publish: the run's real neighbour); and with four busy loops
    # competing for the two CPUs.
    PUBF_RATE=$(calc "int($(val pub_fan.deliveries_per_s) + 0.5)")
    PUBF_I=$(calc "1000 / $PF_RATE")   # PF_RATE is at least 10
    (cd bench/micro && RPORT=$MICRO_PORT R=1 H=4 F=$RAND_F D=$RAND_D N=$MICRO_ENTRIES_D \
        RATE=$PUBF_RATE I=$PUBF_I PG="$PGC" PGBENCH="$PG_BIN/pgbench" PSQL="$PG_BIN/psql" \
        USERS=$USERS V='alone inserts hogs' python3 publish_floor.py) \
        >"$WORK/publish_floor.txt" 2>&1 || log "publish_floor.py failed"
    # A rebuild's write alone (its scratch key's ZADD, the union): Redis's
    # CPU per rebuild of a feed of this graph's average size.
    (cd bench/micro && RPORT=$MICRO_PORT R=2 K=200 ROWS=$MICRO_ENTRIES python3 rebuild_apply.py) \
        >"$WORK/rebuild_apply.txt" 2>&1 || log "rebuild_apply.py failed"
    MICRO_APPLY_US=$(sed -n 's/.* zadd \([0-9]*\) us$/\1/p' "$WORK/rebuild_apply.txt" | tail -1)
    stop_micro_redis
    sed 's/^/    /' "$WORK/push_floor.txt" "$WORK/push_floor_rand.txt" "$WORK/read_floor.txt" \
        "$WORK/slowlog_sched.txt" "$WORK/publish_floor.txt" "$WORK/rebuild_apply.txt" >&2
    # micro_us N VARIANT [FILE]: the variant's least us per delivery into
    # N-entry feeds over the rounds; micro_ceil N [FILE]: the least us per
    # ZADD of the ceilings timed in those rounds; micro_share: the one
    # over the other, the share of the ceiling the variant reaches at most.
    # Each is the least of its rounds because noise only ever adds time,
    # and the two timings of a round are seconds apart: the shares of
    # single rounds, one timing over the other, ranged 0.17-0.52 in one
    # sitting (2026-12-07, the floor at random), where the least over the
    # least gave 0.25-0.29 in all six runs of that day (bench/RESULTS.md,
    # 2026-12-07 afternoon).
    micro_us() {
        grep "^N= *$1 " "${3:-$WORK/push_floor.txt}" | sed -n "s/.* $2 *\([0-9.]*\) (.*/\1/p" | sort -g | head -1
    }
    micro_ceil() {
        grep "^N= *$1 " "${2:-$WORK/push_floor.txt}" | sed -n 's/.*ZADD ceiling *\([0-9.]*\) us;.*/\1/p' | sort -g | head -1
    }
    micro_share() {
        local us ceil
        us=$(micro_us "$@") ceil=$(micro_ceil "$1" "${3:-}")
        [ -n "$us" ] && [ -n "$ceil" ] && calc "$ceil / $us"
    }
    # micro_shares N VARIANT [FILE]: the rounds' own shares, lowest first.
    micro_shares() {
        grep "^N= *$1 " "${3:-$WORK/push_floor.txt}" | sed -n "s/.* $2 *[0-9.]* (\([0-9.]*\)).*/\1/p" | sort -g
    }
    MICRO_RAND=$(micro_us "$MICRO_ENTRIES_D" push "$WORK/push_floor_rand.txt")
    MICRO_RAND_CEIL=$(micro_ceil "$MICRO_ENTRIES_D" "$WORK/push_floor_rand.txt")
    MICRO_RAND_S=$(micro_share "$MICRO_ENTRIES_D" push "$WORK/push_floor_rand.txt")
    # The rounds' own shares: their median and range, for the record.
    MICRO_RAND_RANGE=$(micro_shares "$MICRO_ENTRIES_D" push "$WORK/push_floor_rand.txt" |
        awk '{ v[NR] = $1 } END { if (NR) printf "%d rounds; one round'"'"'s timing over the other'"'"'s: median %s, %s-%s\n", NR, v[int((NR + 1) / 2)], v[1], v[NR] }') || true
    # MICRO_{CHECK,PUSH,HEAD}: into the average feed; _D: into the feed a
    # delivery meets; _S, _DS: their shares.
    for v in CHECK:check PUSH:push 'HEAD:head H=128'; do
        printf -v "MICRO_${v%%:*}" '%s' "$(micro_us "$MICRO_ENTRIES" "${v#*:}")"
        printf -v "MICRO_${v%%:*}_S" '%s' "$(micro_share "$MICRO_ENTRIES" "${v#*:}")"
        printf -v "MICRO_${v%%:*}_D" '%s' "$(micro_us "$MICRO_ENTRIES_D" "${v#*:}")"
        printf -v "MICRO_${v%%:*}_DS" '%s' "$(micro_share "$MICRO_ENTRIES_D" "${v#*:}")"
    done
    # sched_text CONDITION: "N (longest X ms)" from slowlog_sched.py.
    sched_text() {
        sed -n "s/^round 0 $1 *: *\([0-9]*\) entries over 1 ms (of \([0-9]*\) calls), longest \([0-9.]*\) ms.*/\1 of \2 calls (longest \3 ms)/p" \
            "$WORK/slowlog_sched.txt"
    }
    MICRO_SLOW_ALONE=$(sched_text alone)
    MICRO_SLOW_HOGS=$(sched_text hogs)
    MICRO_SLOW_FIFO=$(sched_text fifo)
    MICRO_READ_PCT=$(sed -n 's/.*at most \([0-9.]*\)% of the ceiling.*/\1/p' "$WORK/read_floor.txt" | tail -1)
    # pubf_text CONDITION: "P50 / P99 ms" from publish_floor.py.
    pubf_text() {
        sed -n "s/^round 0 $1 *: .*round trips p50 \([0-9.]*\) \/ p99 \([0-9.]*\) .*/\1 \/ \2 ms/p" \
            "$WORK/publish_floor.txt"
    }
    MICRO_PUBF_ALONE=$(pubf_text alone)
    MICRO_PUBF_HOGS=$(pubf_text hogs)
    MICRO_PUBF_INS=$(pubf_text inserts)
    MICRO_PUBF_INS_RATE=$(sed -n 's/^round 0 inserts *: .*; \([0-9]*\) INSERTs\/s$/\1/p' "$WORK/publish_floor.txt")

    # The read tail's floor with the fan-out's least work beside it: the
    # mixed run with every publish its INSERT alone (as mixed_ins), while
    # bench/micro/cpu_hog.py uses the CPU that the mix's deliveries cost
    # Redis at the floor at random (MICRO_RAND), in 0.5 ms slices at
    # normal priority. Any fan-out of those posts adds at least that work
    # to these CPUs within the window (the contract's 1 s lag leaves no
    # room to put it off); inside Redis it would also hold reads up behind
    # its calls, which the slices do not. Reads alone at the same rate are
    # timed again beside it (the machine's speed drifts over minutes);
    # the better of 2 of each.
    if [ -n "$MICRO_RAND" ] && [ -n "$(val mixed.deliveries_per_post)" ]; then
        IFS=, read -r _ HOG_PPCT _ <<<"$MIX"
        # What the mix's deliveries cost Redis at the floor (also a term of
        # the machine's need in the tables, MIX_MACHINE).
        HOG_CORES=$(calc "$HALF * $HOG_PPCT / 100 * $(val mixed.deliveries_per_post) * $MICRO_RAND / 1e6")
        log "the read tail beside the fan-out's floor CPU ($(fmt "$HOG_CORES" 2) cores, bench/micro/cpu_hog.py)"
        for i in 1 2; do
            run_read_open "read_hog_alone$i" "$HALF"
            python3 bench/micro/cpu_hog.py "$HOG_CORES" $((DUR + WARMUP + 60)) >"$WORK/cpu_hog$i.txt" 2>&1 &
            HOG_PID=$!
            run_mixed_open "mixed_hog$i" "$HALF" --insert-only
            kill "$HOG_PID" 2>/dev/null || true
            wait "$HOG_PID" 2>/dev/null || true
            HOG_PID=
        done
        best_of read_hog_alone read_p99_ms min 2 >/dev/null
        best_of mixed_hog read_p99_ms min 2 >/dev/null
    fi
fi

# --- 7b. overload (issue 15) -------------------------------------------------------------

# Capacity: cached reads, closed loop with 64 in flight (8 x 8), best of 2;
# the phases offer multiples of it. Once more after the phases: the other
# load of a shared machine comes and goes, and the best of the three is
# the capacity that goodput is divided by (noise only ever lowers it). One open-loop run then offers 0.5x
# (unloaded), 1.5x, 4x and 0.5x again (recovery), back to back, so the
# service cannot drain between phases. feedbench never retries (OVERLOADED
# counts as shed, not served) and drops, rather than queues, a read that
# falls due while its connection already has OV_MAXIN in flight (--drop),
# so the offered rate is what the table says; 32 connections x 512 let
# 16,384 reads be in flight. Its 4 threads share the 2 CPUs with the
# service: their CPU is in the table. (OV_CONNS and the rest: fb_overload.)
if [ "$ONLY" != follow ]; then
OV_RATE_CAP=$(ov_capacity ov_cap)
OV_PHASES=$(ov_phases "$OV_RATE_CAP")
log "workload overload: capacity $OV_RATE_CAP reads/s; phases (reads/s:seconds) $OV_PHASES"
fb_overload overload "$OV_PHASES" | tee "$WORK/overload.txt" | sed 's/^/    /' >&2
run_fb ov_cap3 --workload read --conns 8 --depth 8
best_of ov_cap read_per_s max 3 >/dev/null
OV_CAP=${FC_BENCH_CAPACITY:-$(calc "int($(val ov_cap.read_per_s))")}
fi

# --- 7c. follow (issue 14) ----------------------------------------------------------------

# Cached reads alone and mixed 80/0/10/10 (reads, publishes, follows,
# unfollows) at one open-loop rate: half the maximum read throughput (the
# one of step 7, else measured here, best of 2; or FC_BENCH_RATE), as the
# mixed workload above. Interleaved twice; the lower read p99 of each
# counts, and the rebuild and query figures come from those same two runs.
# Both runs draw users uniformly from an active set, users 1..FW_USERS
# (a tenth of the graph; its ids are a random sample of the graph, as
# popularity is a random permutation): readers, followers, followees and
# unfollowers alike, so that follows hit the feeds being read (a follow
# inserts a random edge, an unfollow deletes an existing one: fb_load.c).
# A feed a follow drops is rebuilt by the next read of its owner, on
# average FW_USERS / (0.8 x rate) seconds later (well under a second quick,
# ~2.5 s full); over all users that lag would be longer than the window,
# and most rebuilds a follow causes would fall outside it. The mixed runs
# also get a longer warm-up (FW_WARMUP) to reach that steady state. Before
# each read-alone run every active feed is read once (rewarm), so that it
# starts with all of them cached.
if [ "$ONLY" != overload ]; then
    FW_MIX=80,0,10,10
    FW_USERS=${FC_BENCH_FOLLOW_USERS:-$((USERS / 10))}
    if [ -z "${FC_BENCH_RATE:-}" ] && [ -z "${READ_MAX:-}" ]; then
        for i in 1 2; do
            run_fb "fw_max$i" --workload read --conns 8 --depth 8
        done
        best_of fw_max read_per_s max 2 >/dev/null
        READ_MAX=$(val fw_max.read_per_s)
    fi
    FW_RATE=${FC_BENCH_RATE:-$(calc "int($READ_MAX / 2)")}
    # 8 reads in flight: at most max_rebuilds (2 x pg_pool) rebuilds run at
    # once, and a read past it is served from PostgreSQL, leaving its feed
    # missing.
    fw_rewarm() {
        log "rewarm $1: the feeds of users 1..$FW_USERS read once, 4 connections x 2"
        fb --workload warm --users "$FW_USERS" --conns 4 --depth 2 --label "fw_rewarm$1" \
            >"$WORK/fw_rewarm$1.txt"
        log "rewarm $1: $(val "fw_rewarm$1.src_rebuilt") feeds rebuilt," \
            "$(val "fw_rewarm$1.src_db") pages from PostgreSQL"
    }
    fw_rewarm 0
    for i in 1 2; do
        run_fb "fw_read$i" --workload read --users "$FW_USERS" --rate "$FW_RATE" --conns 8
        run_fb "fw_mixed$i" --workload mixed --mix "$FW_MIX" --users "$FW_USERS" \
            --rate "$FW_RATE" --conns 8 --warmup "$FW_WARMUP"
        [ "$i" = 2 ] || fw_rewarm "$i"
    done
    FW_BEST_READ=$(best_of fw_read read_p99_ms min 2)
    FW_BEST_MIXED=$(best_of fw_mixed read_p99_ms min 2)
fi

# --- 7d. fan-out to full feeds (issue 12) --------------------------------------------------

# Redis calls per delivery to a full feed: the quick graph's feeds (~275
# entries) never reach feed_max 800, and the full graph's only mostly.
# feedcached is restarted with --feed-max FULL_MAX (100), below nearly
# every cached feed (the share is measured by the memory scan), so that
# every delivery goes to a full feed (the first one trims it down to
# FULL_MAX); then the publish run again, its calls per delivery from INFO
# commandstats. Last, as it leaves the feeds trimmed.
if [ -z "$ONLY" ]; then
    log "restarting feedcached with --feed-max $FULL_MAX (full feeds)"
    stop_daemon
    start_daemon "$FULL_MAX"
    run_fb publish_full --workload publish --conns 4 --depth 16 --duration "$FULL_DUR"
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
WALL=$((SECONDS - T0))

# --- 8. the table -------------------------------------------------------------------------

# Every figure is in the report by now: read it once, so that val (called
# a few hundred times below) is a lookup rather than an awk over the file.
declare -A REPORT_VALS=()
while IFS='=' read -r k v; do
    [ -n "$k" ] && REPORT_VALS[$k]=$v
done <"$REPORT"
val() { echo "${REPORT_VALS[$1]:-}"; }

if [ -z "$ONLY" ]; then
    # Rows: figure | measured | ceiling | ratio. "-" where no ceiling applies.
    ROWS=()
    row() { ROWS+=("$1|$2|${3:--}|${4:--}"); }

    DELIV=$(val publish.deliveries_per_s)
    row "Redis ceiling: pipelined ZADD to random feed keys (ops/s; best of 3: $CEIL_ZADD_ALL)" "$(fmt "$CEIL_ZADD")"
    row "Redis ceiling: pipelined ZREVRANGE 0 19 WITHSCORES (ops/s, ~$(fmt "$BENCH_CARD") entries/key; best of 3: $CEIL_ZREV_ALL)" "$(fmt "$CEIL_ZREV")"
    row "Redis ceiling: pipelined HGETALL of a post hash (ops/s; best of 3: $CEIL_HGETALL_ALL)" "$(fmt "$CEIL_HGETALL")"
    row "Fan-out: delivered feed entries/s (publish run, until the queue drained)" "$(fmt "$DELIV")" \
        "$(fmt "$CEIL_ZADD") ZADD/s" "$(ratio "$DELIV" "$CEIL_ZADD")"
    DRAIN=$(val publish.drain_deliveries_per_s)
    row "Fan-out: the drain, publishing over (deliveries/s from the publish window's end until the queue was empty, $(fmt "$(val publish.drain_seconds)" 1) s; feedcached and Redis alone on the machine, as for the ceiling); CPU cores feedcached / Redis $(fmt "$(val publish.drain_daemon_cpu_cores)" 2) / $(fmt "$(val publish.drain_redis_cpu_cores)" 2); Redis CPU per delivery $(fmt "$(val publish.drain_redis_cpu_us_per_delivery)" 1) us" \
        "$(fmt "$DRAIN")" "$(fmt "$CEIL_ZADD") ZADD/s" "$(ratio "$DRAIN" "$CEIL_ZADD")"
    row "Fan-out: Redis CPU per delivery, publishing included (us; ceiling: 1 s / ZADD ceiling)" \
        "$(fmt "$(val publish.fanout_redis_cpu_us_per_delivery)" 1)" "$(fmt "$(calc "1e6 / $CEIL_ZADD")" 1) us per ZADD"
    row "Fan-out: CPU cores used while fanning out, feedcached / Redis" \
        "$(fmt "$(val publish.fanout_daemon_cpu_cores)" 2) / $(fmt "$(val publish.fanout_redis_cpu_cores)" 2)"
    row "Fan-out: posts published/s (closed loop, PostgreSQL INSERT + post.publish)" \
        "$(fmt "$(val publish.publish_per_s)")"
    row "Fan-out: deliveries per post (followers with a cached feed)" "$(fmt "$(val publish.deliveries_per_post)" 1)"
    row "Fan-out lag p50 / p99 under the publish backlog (ms)" \
        "$(fmt "$(val publish.lag_p50_ms)" 1) / $(fmt "$(val publish.lag_p99_ms)" 1)"
    row "Fan-out lag p50 / p99 in mixed (ms; contract: within 1 s)" \
        "$(fmt "$(val mixed.lag_p50_ms)" 1) / $(fmt "$(val mixed.lag_p99_ms)" 1)"
    row "Cached reads: max throughput (reads/s, limit 20, hydrated, closed loop 8x8, best of 3: $(fmt "$(val read_max1.read_per_s)") / $(fmt "$(val read_max2.read_per_s)") / $(fmt "$(val read_max3.read_per_s)"))" \
        "$(fmt "$READ_MAX")" "$(fmt "$CEIL_ZREV") ZREVRANGE/s" "$(ratio "$READ_MAX" "$CEIL_ZREV")"
    row "Cached reads: Redis commands/s at max throughput" "$(fmt "$(val read_max.redis_cmds_per_s)")" \
        "$(fmt "$CEIL_ZREV") ZREVRANGE/s" "$(ratio "$(val read_max.redis_cmds_per_s)" "$CEIL_ZREV")"
    row "Cached reads: p50 / p99 / p99.9 at max throughput (ms)" \
        "$(fmt "$(val read_max.read_p50_ms)" 2) / $(fmt "$(val read_max.read_p99_ms)" 2) / $(fmt "$(val read_max.read_p999_ms)" 2)"
    row "Cached reads: p50 / p99 / p99.9 at half of max, open loop $HALF/s (ms; better of 2 runs, p99 $(fmt "$(val read_half1.read_p99_ms)" 2) / $(fmt "$(val read_half2.read_p99_ms)" 2))" \
        "$(fmt "$(val read_half.read_p50_ms)" 2) / $(fmt "$(val read_half.read_p99_ms)" 2) / $(fmt "$(val read_half.read_p999_ms)" 2)"
    row "Cached reads: feedcached CPU per read (us)" "$(fmt "$(val read_max.daemon_cpu_us_per_op)" 1)"
    row "Cached reads: Redis CPU per read (us)" "$(fmt "$(val read_max.redis_cpu_us_per_op)" 1)"
    row "Cached reads: Redis commands per read" "$(fmt "$(val read_max.redis_cmds_per_op)" 1)"
    row "Cached reads: Redis calls and time per read by command (INFO commandstats over the run at max throughput; calls inside scripts included; time in us, a script's includes the commands it called): calls $(val read_max.cmd_calls_top); time $(val read_max.cmd_usec_top)" \
        "$(fmt "$(val read_max.cmd_calls_per_op)" 2)"
    row "Machine: time waiting for a CPU (s per s) feedcached / Redis, and CPU pressure (% of the time some task waited for one; /proc/pressure/cpu): reads at max throughput; at half of max; the publish run" \
        "$(cpu_waits read_max); $(cpu_waits read_half); $(cpu_waits publish)"
    # machine_cpu WORKLOAD: "busy / of it not feedcached, Redis or feedbench".
    machine_cpu() {
        echo "$(fmt "$(val "$1.machine_busy_cores")" 2) / $(fmt "$(val "$1.other_cpu_cores")" 2)"
    }
    row "Machine: cores busy (of $(nproc); /proc/stat, every process) / of them neither feedcached, Redis nor feedbench (PostgreSQL, the kernel): reads at max throughput; at half of max; mixed; mixed with INSERTs alone; the publish run" \
        "$(machine_cpu read_max); $(machine_cpu read_half); $(machine_cpu mixed); $(machine_cpu mixed_ins); $(machine_cpu publish)"
    row "Cached reads: celebrity windows served from feedcached's copy (celebrity_cache_ms, % of the windows merged)" \
        "$(fmt "$(val read_max.celeb_cached_pct)" 1)"
    PIPES=$(val read_rt.redis_reads_per_op)
    row "Cached reads: Redis round trips per read (Redis read events per read, one read in flight; $(fmt "$(calc "$MARKED_FRAC * 100")")% of feeds merge celebrities)" \
        "$(fmt "$PIPES" 2)"
    row "Cached reads, Zipf 0.99 users: throughput (reads/s) / p99 (ms)" \
        "$(fmt "$(val read_zipf.read_per_s)") / $(fmt "$(val read_zipf.read_p99_ms)" 2)" \
        "$(fmt "$CEIL_ZREV") ZREVRANGE/s" "$(ratio "$(val read_zipf.read_per_s)" "$CEIL_ZREV")"
    row "Cold reads (invalidate + read, 2 connections x 1): p50 / p99 (ms)" \
        "$(fmt "$(val read_cold.read_p50_ms)" 2) / $(fmt "$(val read_cold.read_p99_ms)" 2)"
    row "Cold reads: rebuild p50 / p99 in feedcached (ms, /metrics histogram)" \
        "$(fmt "$(val read_cold.rebuild_p50_ms)" 2) / $(fmt "$(val read_cold.rebuild_p99_ms)" 2)"
    row "Cold reads: feedcached / Redis CPU per rebuild (us)" \
        "$(fmt "$(val read_cold.daemon_cpu_us_per_op)") / $(fmt "$(val read_cold.redis_cpu_us_per_op)")"
    row "Cold reads: rebuild query, EXPLAIN ANALYZE median ($EX_POSTS posts of user $EX_USER; $([ "$EX_SEQSCAN" = 0 ] && echo 'no Seq Scan' || echo 'SEQ SCAN on posts')) (ms)" \
        "$(fmt "$EX_MEDIAN" 2)"
    row "Cold reads: the rebuild's statement as feedcached sends it (feed_rebuild_all, prepared, random users), pgbench latency, one client (ms; EXPLAIN ANALYZE's instrumentation costs more than the query)" \
        "$(fmt "${RQ_MS:-0}" 2)"
    row "Mixed ${MIX//,//} (% reads/publishes/follows) at $HALF ops/s: read p50 / p99 (ms; better of 2 runs, p99 $(fmt "$(val mixed1.read_p99_ms)" 2) / $(fmt "$(val mixed2.read_p99_ms)" 2))" \
        "$(fmt "$(val mixed.read_p50_ms)" 2) / $(fmt "$(val mixed.read_p99_ms)" 2)" \
        "$(fmt "$(val read_half.read_p99_ms)" 2) ms read alone" \
        "$(ratio "$(val mixed.read_p99_ms)" "$(val read_half.read_p99_ms)")"
    row "Mixed: publish p50 / p99 (ms, INSERT included) / fan-out deliveries/s" \
        "$(fmt "$(val mixed.publish_p50_ms)" 2) / $(fmt "$(val mixed.publish_p99_ms)" 2) / $(fmt "$(val mixed.deliveries_per_s)")"
    row "Mixed, every publish its INSERT alone (--insert-only: no post.publish, no fan-out): read p50 / p99 (ms; better of 2 runs, p99 $(fmt "$(val mixed_ins1.read_p99_ms)" 2) / $(fmt "$(val mixed_ins2.read_p99_ms)" 2)); INSERT p99 (ms)" \
        "$(fmt "$(val mixed_ins.read_p50_ms)" 2) / $(fmt "$(val mixed_ins.read_p99_ms)" 2); $(fmt "$(val mixed_ins.publish_p99_ms)" 2)" \
        "$(fmt "$(val read_half.read_p99_ms)" 2) ms read alone" \
        "$(ratio "$(val mixed_ins.read_p99_ms)" "$(val read_half.read_p99_ms)")"
    row "Fan-out: Redis calls per delivery, publish run (INFO commandstats, calls inside scripts and publishing included; $(pct "$(calc "$FEEDS_FULL / $FEEDS")") of feeds held feed_max $FEED_MAX entries); per delivery: $(val publish.fanout_calls_top)" \
        "$(fmt "$(val publish.fanout_calls_per_delivery)" 2) ($(fmt "$(val publish.fanout_scripts_per_delivery)" 4) scripts)"
    # Where Redis's time per delivery went (INFO commandstats usec): a
    # script's time includes the commands it called; its own time (Lua,
    # redis.call's conversions) is at least its usec less every other
    # command's.
    row "Fan-out: Redis time per delivery by command, publish run (INFO commandstats usec, us; a script's includes the commands it called): $(val publish.fanout_usec_top); the scripts' own time (Lua, call overhead), at least" \
        "$(fmt "$(val publish.fanout_script_own_us_per_delivery)" 2)"
    row "Fan-out to full feeds (feedcached restarted with --feed-max $FULL_MAX; $(pct "$(calc "$FEEDS_FULL_SMALL / $FEEDS")") of feeds held >= $FULL_MAX entries): deliveries/s; Redis calls per delivery: $(val publish_full.fanout_calls_top)" \
        "$(fmt "$(val publish_full.deliveries_per_s)"); $(fmt "$(val publish_full.fanout_calls_per_delivery)" 2) ($(fmt "$(val publish_full.fanout_scripts_per_delivery)" 4) scripts)" \
        "$(fmt "$CEIL_ZADD") ZADD/s" "$(ratio "$(val publish_full.deliveries_per_s)" "$CEIL_ZADD")"
    row "Fan-out: Redis commands or scripts over 1 ms during the publish run (SLOWLOG); the longest" \
        "$(slow_text)"
    row "post.publish while fan-out runs: open loop $PF_RATE/s, $(fmt "$(val pub_fan.deliveries_per_s)") deliveries/s; RPC p50 / p99 / max (ms, from its send); with the INSERT p99 (ms)" \
        "$(fmt "$(val pub_fan.publish_rpc_p50_ms)" 2) / $(fmt "$(val pub_fan.publish_rpc_p99_ms)" 2) / $(fmt "$(val pub_fan.publish_rpc_max_ms)" 2); $(fmt "$(val pub_fan.publish_p99_ms)" 2)"
    row "Warm-up: feeds rebuilt/s (closed loop 4x4)" "$(fmt "$(val warm.read_per_s)")"
    row "Memory: Redis bytes per feed entry (INFO used_memory; sampled MEMORY USAGE)" \
        "$(fmt "$BYTES_PER_ENTRY" 1) ($(fmt "$SAMPLED_PER_ENTRY" 1))"
    row "Memory: Redis bytes per cached post (INFO used_memory; sampled)" \
        "$(fmt "$BYTES_PER_POST" 1) ($(fmt "$SAMPLED_PER_POST" 1))"

    # print_rows HEADER ARRAY: a markdown table of "a|b|c|d" rows.
    print_rows() {
        local -n rows=$2
        local r a b c d
        printf '%s\n' "$1"
        for r in "${rows[@]}"; do
            IFS='|' read -r a b c d <<<"$r"
            printf '| %s | %s | %s | %s |\n' "$a" "$b" "$c" "$d"
        done
    }
    print_table() {
        print_rows $'| figure | measured | ceiling | ratio |\n|---|---:|---:|---:|' ROWS
    }

    # Targets of issue 12: goal, measured, the ceiling of this run where one
    # applies, met.
    TROWS=()
    target() { TROWS+=("$1|$2|$3|${4:--}|$5"); }
    # met_if VALUE COND: yes/no, or n/a when the figure is missing.
    met_if() {
        if [ -n "$1" ] && [ "$1" != - ]; then yes_no "$1 $2"; else echo n/a; fi
    }
    FAN_RATIO=$(calc "$DELIV / $CEIL_ZADD")
    target "Fan-out deliveries/s / pipelined ZADD ceiling (publish run; zset-max-listpack-entries $LISTPACK, >= feed_max $FEED_MAX + slack $SLACK + 80)" \
        ">= 0.35" "$(fmt "$FAN_RATIO" 3) ($(fmt "$DELIV") deliveries/s)" "$(fmt "$CEIL_ZADD") ZADD/s" \
        "$(met_if "$FAN_RATIO" ">= 0.35")"
    target "Memory per feed entry (~$(fmt "$ENTRIES_PER_FEED")-entry feeds; INFO used_memory, sampled MEMORY USAGE)" \
        "<= 24 B" "$(fmt "$BYTES_PER_ENTRY" 1) B ($(fmt "$SAMPLED_PER_ENTRY" 1))" "" \
        "$(met_if "$BYTES_PER_ENTRY" "<= 24")"
    CALLS=$(val publish_full.fanout_calls_per_delivery)
    target "Redis calls per delivery to a full feed (INFO commandstats over the fan-out to feeds trimmed to --feed-max $FULL_MAX, calls inside scripts and publishing included; $(pct "$(calc "$FEEDS_FULL_SMALL / $FEEDS")") of feeds held >= $FULL_MAX entries)" \
        "<= 2 on average" "$(fmt "$CALLS" 2) ($(val publish_full.fanout_calls_top))" "1 (a pipelined ZADD)" \
        "$(met_if "$CALLS" "<= 2")"
    target "Longest Redis command or script in the fan-out path (SLOWLOG over 1 ms, publish run until the queue drained)" \
        "none over 1 ms" "$(slow_text)" "" "$(met_if "$SLOW_N" "== 0")"
    MR=$(calc "$(val mixed.read_p99_ms) / $(val read_half.read_p99_ms)")
    target "Read p99 with 10% publishes (mixed ${MIX//,//}) / read-only p99, same open-loop rate $HALF ops/s" \
        "<= 1.5x" "$(fmt "$MR" 2)x ($(fmt "$(val mixed.read_p99_ms)" 2) / $(fmt "$(val read_half.read_p99_ms)" 2) ms)" "" \
        "$(met_if "$MR" "<= 1.5")"
    PP99=$(val pub_fan.publish_rpc_p99_ms)
    target "post.publish p99 while fan-out runs (open loop $PF_RATE/s, $(fmt "$(val pub_fan.deliveries_per_s)") deliveries/s; from its send, INSERT excluded)" \
        "<= 2 ms" "$(fmt "$PP99" 2) ms" "" "$(met_if "$PP99" "<= 2")"
    RB=$(val read_cold.rebuild_p50_ms)
    target "Median rebuild of a feed ($([ "$MODE" = quick ] && echo "quick graph: ~$(fmt "$ENTRIES_PER_FEED")-entry feeds, not 800" ||
        echo "~$(fmt "$ENTRIES_PER_FEED") entries/feed, feed_max $FEED_MAX"); /metrics histogram, cold reads)" \
        "<= 5 ms" "$(fmt "$RB" 2) ms" "" "$(met_if "$RB" "<= 5")"
    CPU=$(val read_max.daemon_cpu_us_per_op)
    target "feedcached CPU per cached read (limit 20, hydrated; $(pct "$MARKED_FRAC") of feeds merge celebrities)" \
        "<= 50 us" "$(fmt "$CPU" 1) us" "" "$(met_if "$CPU" "<= 50")"
    RCPU=$(val read_max.redis_cpu_us_per_op)
    target "Redis CPU per cached read (same read); commands per read" "<= 40 us" \
        "$(fmt "$RCPU" 1) us; $(fmt "$(val read_max.redis_cmds_per_op)" 1) commands" \
        "$(fmt "$(calc "1e6 / $CEIL_ZREV")" 1) us per pipelined ZREVRANGE" "$(met_if "$RCPU" "<= 40")"
    RR=$(calc "$READ_MAX / $CEIL_ZREV")
    target "Cached reads/s / pipelined ZREVRANGE ceiling" ">= 30%" \
        "$(ratio "$READ_MAX" "$CEIL_ZREV") ($(fmt "$READ_MAX") reads/s)" "$(fmt "$CEIL_ZREV") ZREVRANGE/s" \
        "$(met_if "$RR" ">= 0.3")"
    target "Redis bytes per cached post (INFO used_memory; sampled MEMORY USAGE)" "<= 300 B" \
        "$(fmt "$BYTES_PER_POST" 1) B ($(fmt "$SAMPLED_PER_POST" 1))" "" "$(met_if "$BYTES_PER_POST" "<= 300")"

    # Floors of the design (step 7's micro-benchmarks) beside what this run
    # measured: for a target not met, how much of the gap a Redis that does
    # nothing else would leave.
    LROWS=()
    limit() { LROWS+=("$1|$2|$3"); }
    # The machine's own stalls of an idle Redis (stall_probe), the run's
    # and an empty one: what no call to Redis escapes on this machine.
    STALL_MAIN=$(stall_text main)
    if [ -n "$STALL_MAIN" ]; then
        STALL_FLOOR="; and under any call to Redis, the machine's stalls of an idle Redis (bench/micro/redis_stall.py, a PING every 2 ms for 5 s, before the publish run): this run's Redis, $STALL_MAIN; an empty Redis, $(stall_text empty)"
        DAMON_LINE=$(sed -n 's/^damon: //p' "$WORK/stall_main.txt")
        [ -z "$DAMON_LINE" ] || STALL_FLOOR="$STALL_FLOOR (the kernel's DAMON: $DAMON_LINE)"
        STALL_SLOW="; the same machine stops an idle Redis of this run's size, doing nothing: $STALL_MAIN"
    fi
    if [ -n "$MICRO_PUSH" ]; then
        # floor_text CHECK CHECK_SHARE PUSH PUSH_SHARE HEAD HEAD_SHARE N: the
        # fan-out floors into N-entry feeds.
        floor_text() {
            echo "into $7-entry feeds: FEED_PUSH (calls of 16) $(fmt "$3" 2) us of Redis CPU per delivery, at most $(fmt "$4" 2) of the ceiling; the least a delivery to a feed that must exist costs (one ZADD NX of the sentinel and the entry) $(fmt "$1" 2) us, at most $(fmt "$2" 2); a head set in front of the feed at its cheapest (H = 128) $(fmt "$5" 2) us, at most $(fmt "$6" 2)"
        }
        limit "Fan-out deliveries/s / ZADD ceiling (>= 0.35)" \
            "$(floor_text "$MICRO_CHECK" "$MICRO_CHECK_S" "$MICRO_PUSH" "$MICRO_PUSH_S" "$MICRO_HEAD" "$MICRO_HEAD_S" "$MICRO_ENTRIES") (the average feed); $(floor_text "$MICRO_CHECK_D" "$MICRO_CHECK_DS" "$MICRO_PUSH_D" "$MICRO_PUSH_DS" "$MICRO_HEAD_D" "$MICRO_HEAD_DS" "$MICRO_ENTRIES_D") (the feed a delivery meets on average: a feed's deliveries grow with its followees, as its size does); all of these into 1,000 feeds in order, which stay in the CPU's cache; FEED_PUSH as the service reaches feeds ($RAND_D per post at random over the graph's $RAND_F feeds, of $MICRO_ENTRIES_D entries, read from memory at each delivery): $(fmt "$MICRO_RAND" 2) us at the least, against $(fmt "$MICRO_RAND_CEIL" 2) us per ZADD at the least of the ceilings timed beside it: at most $(fmt "$MICRO_RAND_S" 2) of the ceiling ($MICRO_RAND_RANGE)" \
            "$(fmt "$(val publish.fanout_redis_cpu_us_per_delivery)" 1) us per delivery, publishing included, Redis at $(fmt "$(val publish.fanout_redis_cpu_cores)" 2) cores: $(fmt "$FAN_RATIO" 3); by command (commandstats, us per delivery): $(val publish.fanout_usec_top), the scripts' own at least $(fmt "$(val publish.fanout_script_own_us_per_delivery)" 2)"
        limit "Redis calls per delivery to a full feed (<= 2)" \
            "a delivery to a feed that must exist is one call in the script (FEED_PUSH: a ZADD NX of the sentinel, the fast markers and the entry), plus its shares of the script call (1/16 or more), of the size check (1 delivery in 8) and of the trims (4 calls per trim, one per slack (feed_max / 4, at most 64) + 8 deliveries or more: at most 0.12 at --feed-max 100, 0.06 at 800, more while feeds come down from their old size); a delivery to a guarded feed (its owner unfollowed someone in the last 10 minutes: the follow scenario just before) goes the slow way, 4 calls (ZADD NX, ZSCORE, SISMEMBER, ZREM of the fast markers)" \
            "$(fmt "$CALLS" 2)"
        # The same log's entries of plain commands (not scripts): they cost
        # microseconds, so a time over 1 ms is the machine's, not their work.
        SLOW_PLAIN=$(echo "${SLOW_BY:-}" | tr ',' '\n' | sed 's/^_//' |
            awk -F_ '$1 !~ /^EVAL/ && $2 + 0 > 0 { n += $2; s = s (s ? ", " : "") $1 " " $2 }
                     END { if (n) print n " (" s ")"; else print 0 }')
        SLOW_MICRO=
        [ -z "$MICRO_SLOW_HOGS" ] ||
            SLOW_MICRO="; the same calls on a Redis of its own (bench/micro/slowlog_sched.py), entries over 1 ms: alone ${MICRO_SLOW_ALONE:-?}, with four busy loops competing for the two CPUs ${MICRO_SLOW_HOGS}, with those loops but Redis under SCHED_FIFO (nothing preempts it) ${MICRO_SLOW_FIFO:-not permitted}"
        limit "Longest command in the fan-out path (none over 1 ms)" \
            "a call of 16 deliveries: $(fmt "$(calc "16 * $MICRO_PUSH_D")") us of Redis CPU (SLOWLOG times wall time, which a CPU shared with other processes stretches); plain commands over 1 ms in the same log, each microseconds of work: $SLOW_PLAIN$SLOW_MICRO$STALL_SLOW" \
            "$(slow_text)"
    fi
    if [ -n "$MICRO_PUBF_ALONE" ]; then
        limit "post.publish p99 while fan-out runs (<= 2 ms)" \
            "its one round trip to Redis alone (the writes, then PUBLISH_JOB: the publish state and the job; nothing of feedcached's own time, no PostgreSQL), on a Redis of its own (bench/micro/publish_floor.py) behind FEED_PUSH calls of 16 (up to 8 in flight, as the service's rounds) at this run's $(fmt "$PUBF_RATE") deliveries/s into $MICRO_ENTRIES_D-entry feeds, p50 / p99: $MICRO_PUBF_ALONE alone, ${MICRO_PUBF_INS:-?} with the caller's own INSERTs beside it (pgbench, ${MICRO_PUBF_INS_RATE:-?} INSERT INTO posts/s into this run's PostgreSQL, as the publish run's caller makes before each publish), ${MICRO_PUBF_HOGS:-?} with four busy loops competing for the two CPUs$STALL_FLOOR" \
            "$(fmt "$(val pub_fan.publish_rpc_p50_ms)" 2) / $(fmt "$(val pub_fan.publish_rpc_p99_ms)" 2) ms"
    fi
    MR_INS=$(calc "$(val mixed_ins.read_p99_ms) / $(val read_half.read_p99_ms)")
    # What the mix asks of Redis at the fan-out floors: its deliveries/s
    # (publishes/s x deliveries per post) at the floor's cost per delivery,
    # plus its reads/s at the Redis CPU per read measured above. Redis runs
    # commands on one thread: past one core, fan-out falls behind or reads
    # queue, whatever the latency.
    MIX_NEED=
    if [ -n "$MICRO_PUSH_D" ]; then
        MIX_DPS=$(calc "$(val mixed.publish_per_s) * $(val mixed.deliveries_per_post)")
        mix_need() { calc "($MIX_DPS * $1 + $(val mixed.read_per_s) * $RCPU) / 1e6"; }
        MIX_NEED="; what the mix asks of Redis at the floors ($(fmt "$(val mixed.publish_per_s)") publishes/s x $(fmt "$(val mixed.deliveries_per_post)" 1) deliveries at the cost of one into $MICRO_ENTRIES_D-entry feeds, plus $(fmt "$(val mixed.read_per_s)") reads/s x $(fmt "$RCPU" 1) us): $(fmt "$(mix_need "$MICRO_PUSH_D")" 2) cores of Redis with FEED_PUSH, $(fmt "$(mix_need "$MICRO_HEAD_D")" 2) with a head set at its cheapest; one Redis thread has at most 1 (beyond it fan-out falls behind or reads queue: here the fan-out lag p99 was $(fmt "$(calc "$(val mixed.lag_p99_ms) / 1000")" 2) s)"
    fi
    # What the mix asks of the whole machine at the least: its reads as the
    # read-alone run at this rate used the machine (feedcached, Redis and
    # feedbench; scaled to the mix's share of reads), the caller's INSERTs as the
    # insert-only run added to what is neither of those (PostgreSQL), and
    # the deliveries at the floor at random, Redis's part alone (nothing
    # for feedcached's share of the fan-out or its follower pages). At or
    # past the CPUs the machine has, nothing bounds the reads' wait for
    # one (the CPUs were already 80-85% busy with the reads alone).
    MIX_MACHINE=
    if [ -n "$HOG_CORES" ] && [ -n "$(val read_half.machine_busy_cores)" ] &&
        [ -n "$(val mixed_ins.other_cpu_cores)" ]; then
        # The offered mix, not what was served: a shed read costs little.
        IFS=, read -r MIX_RPCT MIX_PPCT _ <<<"$MIX"
        MIX_R=$(calc "$(val read_half.machine_busy_cores) * $MIX_RPCT / 100")
        MIX_I=$(calc "$(val mixed_ins.other_cpu_cores) - $(val read_half.other_cpu_cores)")
        MIX_I=$(calc "$MIX_I > 0 ? $MIX_I : 0")
        MIX_F=$HOG_CORES
        MIX_MACHINE="; what the mix offered asks of the whole machine at the least: its reads as the read-alone run at $HALF reads/s used it, scaled to $MIX_RPCT% ($(fmt "$MIX_R" 2) cores), the caller's INSERTs in PostgreSQL as the insert-only run added them ($(fmt "$MIX_I" 2)), $MIX_PPCT% publishes' deliveries at the floor at random, Redis alone ($(fmt "$MIX_F" 2)): $(fmt "$(calc "$MIX_R + $MIX_I + $MIX_F")" 2) of the $(nproc) CPUs (the mixed run kept $(fmt "$(val mixed.machine_busy_cores)" 2) busy and shed $(fmt "$(val mixed.overloaded)") requests)"
    fi
    MIX_HOG=
    if [ -n "$HOG_CORES" ] && [ -n "$(val mixed_hog.read_p99_ms)" ] && [ -n "$(val read_hog_alone.read_p99_ms)" ]; then
        MIX_HOG="; the same INSERTs-alone run with the deliveries' floor CPU beside it (bench/micro/cpu_hog.py: $(fmt "$HOG_CORES" 2) cores, $(fmt "$(calc "$HALF * $HOG_PPCT / 100")") publishes/s x $(fmt "$(val mixed.deliveries_per_post)" 1) deliveries x $(fmt "$MICRO_RAND" 2) us, in 0.5 ms slices; nothing of feedcached's fan-out, no follower queries, no wait inside Redis), against reads alone timed beside it, best of 2 each (p99 $(fmt "$(val mixed_hog1.read_p99_ms)" 2) / $(fmt "$(val mixed_hog2.read_p99_ms)" 2) against $(fmt "$(val read_hog_alone1.read_p99_ms)" 2) / $(fmt "$(val read_hog_alone2.read_p99_ms)" 2) ms): **$(fmt "$(calc "$(val mixed_hog.read_p99_ms) / $(val read_hog_alone.read_p99_ms)")" 2)x** ($(fmt "$(val mixed_hog.read_p99_ms)" 2) / $(fmt "$(val read_hog_alone.read_p99_ms)" 2) ms; CPUs busy $(fmt "$(val mixed_hog.machine_busy_cores)" 2) of $(nproc))"
    fi
    limit "Read p99 with 10% publishes / read-only p99 (<= 1.5x)" \
        "not on a Redis of its own: the same mixed run with every publish its INSERT INTO posts alone (feedbench --insert-only: no post.publish, no fan-out, nothing of feedcache's but the reads; PostgreSQL shares the two CPUs), best of 2 (p99 $(fmt "$(val mixed_ins1.read_p99_ms)" 2) / $(fmt "$(val mixed_ins2.read_p99_ms)" 2) ms): $(fmt "$MR_INS" 2)x ($(fmt "$(val mixed_ins.read_p99_ms)" 2) / $(fmt "$(val read_half.read_p99_ms)" 2) ms)$MIX_HOG$MIX_NEED$MIX_MACHINE" \
        "$(fmt "$MR" 2)x"
    # The same bound from this run's own figures: the ceiling's Redis time
    # per ZREVRANGE (redis-benchmark keeps Redis at a full CPU: its time per
    # request is Redis's CPU per request, bench/micro/read_floor.py checks
    # it) against the Redis CPU a read of the service took.
    READ_BOUND=
    if [ -n "$RCPU" ] && [ "$(calc "$RCPU > 0")" = 1 ]; then
        READ_BOUND="; with the Redis CPU per read measured above ($(fmt "$RCPU" 1) us) against the ceiling's $(fmt "$(calc "1e6 / $CEIL_ZREV")" 1) us per ZREVRANGE, at most $(fmt "$(calc "100e6 / $CEIL_ZREV / $RCPU")" 1)% even with Redis's whole CPU given to reads"
    fi
    if [ -n "$MICRO_READ_PCT" ]; then
        limit "Cached reads/s / ZREVRANGE ceiling (>= 30%)" \
            "a cached read's commands (its sentinel and meta names, window with scores, MGET of 20) timed alone, each the least of 3 rounds, as the ceiling: at most ${MICRO_READ_PCT}% of the ceiling, whatever feedcached and the client cost$READ_BOUND" \
            "$(ratio "$READ_MAX" "$CEIL_ZREV")"
    fi
    if [ -n "$RQ_MS" ] && [ -n "$MICRO_APPLY_US" ]; then
        limit "Median rebuild of a feed (<= 5 ms)" \
            "its statement alone (feed_rebuild_all as feedcached sends it, prepared, random users, one pgbench client; PostgreSQL alone on the machine) $(fmt "$RQ_MS" 2) ms, plus its write alone (the scratch key's ZADD and the union, ${MICRO_ENTRIES} rows, bench/micro/rebuild_apply.py: Redis CPU) $(fmt "$(calc "$MICRO_APPLY_US / 1000")" 2) ms: $(fmt "$(calc "$RQ_MS + $MICRO_APPLY_US / 1000")" 2) ms before its three round trips (REBUILD_BEGIN, the statement, the apply with its flags) and feedcached's own work, with nothing else on the CPUs (the cold reads run two at a time)" \
            "$(fmt "$(val read_cold.rebuild_p50_ms)" 2) ms"
    fi
    print_limits() {
        local r a b c
        [ ${#LROWS[@]} -gt 0 ] || return 0
        printf 'Floors of this design (issue 12), measured in this run: by bench/micro/push_floor.py and read_floor.py on a Redis of their own that does nothing else (warm caches, pipelined commands; a share of a ceiling is the least time per ZADD of the ceilings timed beside it on that Redis over the least time of the floor, over 3 rounds (5 for FEED_PUSH at random), as noise only ever adds time); the read tail by a mixed run without feedcache'"'"'s part of the publishes:\n\n'
        printf '| target (goal) | floor | this run |\n|---|---|---|\n'
        for r in "${LROWS[@]}"; do
            IFS='|' read -r a b c <<<"$r"
            printf '| %s | %s | %s |\n' "$a" "$b" "$c"
        done
    }

    print_targets() {
        local r a b c d e
        printf '| target (issue 12) | goal | measured | ceiling (same run) | met |\n|---|---|---|---|---|\n'
        for r in "${TROWS[@]}"; do
            IFS='|' read -r a b c d e <<<"$r"
            printf '| %s | %s | %s | %s | %s |\n' "$a" "$b" "$c" "$d" "$e"
        done
    }

fi
# The overload scenario: every phase's figures, then the targets of issue
# 15 beside what was measured.
ov() { val "overload.p$1.$2"; }
OV_P99U=$(ov 1 p99_ms)
ov_goodput() { calc "$(ov "$1" goodput) / $OV_CAP"; }
ov_p99x() { calc "$(ov "$1" p99_ms) / $OV_P99U"; }
# The recovery phase's p99 once its 2 s allowance is over.
ov_settledx() { calc "$(ov "$1" settled_p99_ms) / $OV_P99U"; }
ov_errs() {
    echo "$(ov "$1" overloaded) / $(ov "$1" unavailable) / $(ov "$1" other_errors) / $(ov "$1" dropped)"
}
# Errors other than OVERLOADED (drops by the client included).
ov_bad() { calc "$(ov "$1" unavailable) + $(ov "$1" other_errors) + $(ov "$1" dropped)"; }

# The sum of two figures, empty when either is unknown.
sum_known() { [ -n "$1" ] && [ -n "$2" ] && calc "$1 + $2"; }
# The service's CPU (feedcached + Redis) in the capacity run that sets
# OV_CAP (the best of three), cores and us per read, and in phase $1.
ov_cap_cores() { sum_known "$(val ov_cap.daemon_cpu_cores)" "$(val ov_cap.redis_cpu_cores)"; }
ov_cap_us() { sum_known "$(val ov_cap.daemon_cpu_us_per_op)" "$(val ov_cap.redis_cpu_us_per_op)"; }
ov_cores() { sum_known "$(ov "$1" daemon_cpu_cores)" "$(ov "$1" redis_cpu_cores)"; }
# goodput / capacity of phase $1 split in two factors whose product it is:
# the service's CPU in the phase against the capacity run's (the CPU the
# machine left it: feedbench, PostgreSQL and other tenants take the rest
# of the two CPUs) and the capacity run's CPU per read against the phase's
# (what serving under overload costs per read, its sheds included).
ov_split() {
    local cc cu pc pu
    cc=$(ov_cap_cores) cu=$(ov_cap_us) pc=$(ov_cores "$1") pu=$(ov "$1" service_cpu_us_per_read)
    if [ -z "$cc" ] || [ -z "$cu" ] || [ -z "$pc" ] || [ -z "$pu" ]; then
        echo "n/a"
        return 0
    fi
    echo "$(pct "$(ov_goodput "$1")") = $(pct "$(calc "$pc / $cc")") (the service's CPU: $(fmt "$pc" 2) cores," \
        "feedbench $(fmt "$(ov "$1" client_cpu_cores)" 2), against $(fmt "$cc" 2) and" \
        "$(fmt "$(val ov_cap.client_cpu_cores)" 2)) x $(pct "$(calc "$cu / $pu")") (its CPU per read:" \
        "$(fmt "$cu" 1) us against $(fmt "$pu" 1))"
}

print_overload() {
    printf '| phase (x capacity) | offered (reads/s; / capacity) | goodput (reads/s) | goodput / capacity | p99 of served reads (ms) | p99 / unloaded p99 | onset: p99 / max of the reads due in its first 0.25 s (ms) | errors: OVERLOADED / UNAVAILABLE / other / dropped by the client | feedcached log lines/s | CPU cores: feedcached / Redis / feedbench | service CPU per served read (feedcached + Redis, us) | CPU pressure (%% of the time some task waited for a CPU) / feedcached waiting for a CPU (s per s) |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
    local i names=("0.5x (unloaded)" "1.5x" "4x" "0.5x (recovery)")
    for i in 1 2 3 4; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s / %s |\n' "${names[i - 1]}" \
            "$(fmt "$(ov $i offered_per_s)") ($(fmt "$(calc "$(ov $i offered_per_s) / $OV_CAP")" 2)x)" \
            "$(fmt "$(ov $i goodput)")" "$(pct "$(ov_goodput $i)")" \
            "$(fmt "$(ov $i p99_ms)" 2)" "$(fmt "$(ov_p99x $i)" 2)x" \
            "$(fmt "$(ov $i onset_p99_ms)" 2) / $(fmt "$(ov $i onset_max_ms)" 2)" "$(ov_errs $i)" \
            "$(fmt "$(ov $i log_lines_per_s)" 1)" "$(fmt "$(ov $i daemon_cpu_cores)" 2)" \
            "$(fmt "$(ov $i redis_cpu_cores)" 2)" "$(fmt "$(ov $i client_cpu_cores)" 2)" \
            "$(fmt "$(ov $i service_cpu_us_per_read)" 1)" "$(fmt "$(ov $i cpu_pressure_pct)")%" \
            "$(fmt "$(ov $i daemon_cpu_wait)" 2)"
    done
    echo
    # Why each phase shed (feedcache_rpc_shed_total by reason), what it held
    # instead, and where the adaptive limit ended: a recovery that keeps
    # shedding says here whether the limit or the queue time did it.
    if [ -n "$(ov 1 shed_queue_time)" ]; then
        local adm="" sep=""
        for i in 1 2 3 4; do
            adm+="$sep${names[i - 1]}: $(ov $i shed_queue_time) / $(ov $i shed_concurrency_limit) / $(ov $i shed_reserve) / $(ov $i shed_newer_first); $(ov $i holds); $(ov $i limit_end)"
            sep=", "
        done
        echo "Sheds by reason (feedcache_rpc_shed_total: queue_time / concurrency_limit / reserve / newer_first), bursts held instead (feedcache_rpc_holds_total) and the concurrency limit at the phase's end: $adm."
        echo
    fi
    if [ -z "${FC_BENCH_CAPACITY:-}" ]; then
        echo "The capacity run that sets it (the best): feedcached + Redis $(fmt "$(ov_cap_cores)" 2) cores," \
            "$(fmt "$(ov_cap_us)" 1) us per read; feedbench $(fmt "$(val ov_cap.client_cpu_cores)" 2) cores."
        echo "Goodput / capacity = the service's CPU in the phase / in that run (what the machine left it)" \
            "x that run's CPU per read / the phase's (what serving under overload costs): 1.5x: $(ov_split 2);" \
            "4x: $(ov_split 3)."
        echo
    fi
    echo "| offered load (x measured capacity) | goodput: goal | measured | p99 of served reads: goal | measured | errors while backends are healthy: goal | measured (OVERLOADED / UNAVAILABLE / other / dropped) | met |"
    echo "|---|---|---|---|---|---|---|---|"
    local g1 g2 rec last
    g1=$(ov_goodput 2)
    echo "| 1.5x | >= 90% of capacity | $(pct "$g1") | <= 3x the unloaded p99 | $(fmt "$(ov_p99x 2)" 1)x |" \
        "only OVERLOADED | $(ov_errs 2) | $(yes_no "$g1 >= 0.9 && $(ov_p99x 2) <= 3 && $(ov_bad 2) == 0") |"
    g2=$(ov_goodput 3)
    echo "| 4x | >= 80% of capacity | $(pct "$g2") | <= 5x the unloaded p99 | $(fmt "$(ov_p99x 3)" 1)x |" \
        "only OVERLOADED | $(ov_errs 3) | $(yes_no "$g2 >= 0.8 && $(ov_p99x 3) <= 5 && $(ov_bad 3) == 0") |"
    last=$(ov 4 last_fail_s)
    rec=$(calc "$(ov 4 early_ok) / ($(ov 4 early_due) > 0 ? $(ov 4 early_due) : 1)")
    echo "| back to 0.5x | 100% served within 2 s | $([ "$(calc "$last < 0")" = 1 ] && echo "no failure" ||
        echo "last failure $(fmt "$last" 2) s in"); $(pct "$rec") of the reads due in the first 2 s served |" \
        "as unloaded (<= 1.5x) after the first 2 s | $(fmt "$(ov_settledx 4)" 1)x (whole phase $(fmt "$(ov_p99x 4)" 1)x) |" \
        "none after the first 2 s, never UNAVAILABLE |" \
        "$(ov_errs 4) | $(yes_no "$last <= 2 && $(ov_settledx 4) <= 1.5 && $(ov 4 unavailable) + $(ov 4 other_errors) == 0") |"
}

# The follow scenario (issue 14): the mixed run beside the read-alone run.
fw() { val "fw_mixed.$1"; }
fwr() { val "fw_read.$1"; }
# A figure of the mixed run per follow+unfollow, net of what the same reads
# cost alone: (mixed - alone / alone's reads x mixed's reads) / (follows +
# unfollows). Empty when a figure is missing.
fw_net() {
    local m a mr ar fu
    m=$(fw "$1") a=$(fwr "$1") mr=$(fw read_count) ar=$(fwr read_count) fu=$(fw follows_unfollows)
    [ -n "$m" ] && [ -n "$a" ] && [ -n "$mr" ] && [ -n "$ar" ] && [ -n "$fu" ] || return 0
    calc "($m - $a * $mr / ($ar > 0 ? $ar : 1)) / ($fu > 0 ? $fu : 1)"
}
# A raw figure per follow+unfollow of the mixed run.
fw_per() {
    local m fu
    m=$(fw "$1") fu=$(fw follows_unfollows)
    [ -n "$m" ] && [ -n "$fu" ] || return 0
    calc "$m / ($fu > 0 ? $fu : 1)"
}
fw_met() { [ -n "$1" ] && yes_no "$1 $2" || echo n/a; }
# feedcache_follow_updates_total{op=OP} deltas by path ('-': not exported).
fw_paths() {
    local p v line=
    for p in in_place rebuild no_feed celebrity; do
        v=$(fw "fu_$1_$p")
        line+="${line:+ / }${v:--}"
    done
    echo "$line"
}
fw_errs() {
    echo "$(val "$1.overloaded") / $(val "$1.unavailable") / $(val "$1.other_errors")"
}

print_follow() {
    local net_rb net_pg net_miss ratio_p99
    net_rb=$(fw_net metric_rebuilds)
    net_pg=$(fw_net metric_pg_queries)
    net_miss=$(fw_net feed_misses)
    ratio_p99=$(calc "$(fw read_p99_ms) / $(fwr read_p99_ms)")
    echo "Follow (issue 14): cached reads alone and mixed $FW_MIX (% reads / publishes / follows /" \
        "unfollows) at the same open-loop rate, $FW_RATE ops/s$([ -n "${FC_BENCH_RATE:-}" ] &&
            echo ' (FC_BENCH_RATE)' || echo " (half of $(fmt "$READ_MAX") cached reads/s, closed loop 8x8)"), 8" \
        "connections; ${WARMUP} s warm-up for reads alone, ${FW_WARMUP} s for mixed (a feed a follow" \
        "drops is only rebuilt when its owner reads again), ${DUR} s measured; interleaved twice," \
        "the lower read p99 of each counts (read alone: run $FW_BEST_READ, mixed: run" \
        "$FW_BEST_MIXED; read p99 $(fmt "$(val fw_read1.read_p99_ms)" 2) / $(fmt "$(val fw_read2.read_p99_ms)" 2)" \
        "and $(fmt "$(val fw_mixed1.read_p99_ms)" 2) / $(fmt "$(val fw_mixed2.read_p99_ms)" 2) ms)." \
        "Readers, followers, followees and unfollowers are drawn uniformly from users" \
        "1..$FW_USERS (every feed of them cached at the start of each run); a follow adds an edge" \
        "to a random user, an unfollow removes an existing edge of its follower (PostgreSQL first," \
        "then the RPC). Rebuilds and PostgreSQL queries are \`/metrics\` counter differences over" \
        "the measured window (feedcached's queries only, not feedbench's INSERT/DELETE), per" \
        "follow or unfollow that succeeded (one answered OVERLOADED changed nothing); \"net\"" \
        "subtracts what the read-alone run's reads cost per read."
    echo
    echo "| figure | mixed $FW_MIX | reads alone | goal | met |"
    echo "|---|---:|---:|---|---|"
    echo "| follows + unfollows that succeeded (/s) | $(fmt "$(calc "$(fw follows_unfollows) / $(fw seconds)")")" \
        "($(fmt "$(fw follow_per_s)") + $(fmt "$(fw unfollow_per_s)")) | - | - | - |"
    echo "| reads answered (/s) | $(fmt "$(fw read_per_s)") | $(fmt "$(fwr read_per_s)") | - | - |"
    echo "| feed rebuilds in the window (feedcache_feed_rebuilds_total); per follow+unfollow |" \
        "$(fmt "$(fw metric_rebuilds)") ($(fmt "$(fw_per metric_rebuilds)" 3)) | $(fmt "$(fwr metric_rebuilds)") | - | - |"
    # Met only with few feed cache misses as well: past max_rebuilds a
    # rebuild is shed and the read served from PostgreSQL, which would
    # lower the rebuilds without sparing anything.
    local met_rb=n/a
    [ -n "$net_rb" ] && [ -n "$net_miss" ] && met_rb=$(yes_no "$net_rb <= 0.05 && $net_miss <= 0.05")
    echo "| **rebuilds per follow+unfollow, net of the reads' own** | **$(fmt "$net_rb" 3)** | - |" \
        "<= 0.05, and feed cache misses too (a rebuild shed past max_rebuilds is a miss served" \
        "from PostgreSQL) | $met_rb |"
    echo "| PostgreSQL queries of feedcached in the window (feedcache_pg_queries_total); per follow+unfollow |" \
        "$(fmt "$(fw metric_pg_queries)") ($(fmt "$(fw_per metric_pg_queries)" 2)) | $(fmt "$(fwr metric_pg_queries)") | - | - |"
    echo "| **PostgreSQL queries per follow+unfollow, net of the reads' own** | **$(fmt "$net_pg" 2)** | - | - | - |"
    echo "| feed cache misses in the window (\`stats\` feed_cache_misses: rebuilt, or served from" \
        "PostgreSQL past max_rebuilds); per follow+unfollow, net | $(fmt "$(fw feed_misses)")" \
        "($(fmt "$net_miss" 3)) | $(fmt "$(fwr feed_misses)") | <= 0.05 per follow+unfollow | - |"
    echo "| reads answered from a rebuilt feed (source=rebuilt) | $(fmt "$(fw src_rebuilt)") |" \
        "$(fmt "$(fwr src_rebuilt)") | - | - |"
    echo "| read p50 / p99 (ms) | $(fmt "$(fw read_p50_ms)" 2) / $(fmt "$(fw read_p99_ms)" 2) |" \
        "$(fmt "$(fwr read_p50_ms)" 2) / $(fmt "$(fwr read_p99_ms)" 2) | - | - |"
    echo "| **read p99, mixed / alone** | **$(fmt "$ratio_p99" 2)x** | - | <= 1.5x |" \
        "$(fw_met "$ratio_p99" "<= 1.5") |"
    echo "| follow p50 / p99 (ms) | $(fmt "$(fw follow_p50_ms)" 2) / $(fmt "$(fw follow_p99_ms)" 2) | - | - | - |"
    echo "| unfollow p50 / p99 (ms) | $(fmt "$(fw unfollow_p50_ms)" 2) / $(fmt "$(fw unfollow_p99_ms)" 2) | - | - | - |"
    echo "| follows by path, feedcache_follow_updates_total{op=\"follow\"}: in_place / rebuild / no_feed /" \
        "celebrity ('-': not exported) | $(fw_paths follow) | - | - | - |"
    echo "| unfollows by path, {op=\"unfollow\"}: in_place / rebuild / no_feed / celebrity |" \
        "$(fw_paths unfollow) | - | - | - |"
    echo "| unfollows not sent (the follower had no edge left) | $(fmt "$(fw unfollow_none)") | - | - | - |"
    echo "| errors: OVERLOADED / UNAVAILABLE / other | $(fw_errs fw_mixed) | $(fw_errs fw_read) | - | - |"
}

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain 2>/dev/null | head -1)" ] && COMMIT="$COMMIT (with uncommitted changes)"
CPU_MODEL=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GB=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)

# This run's section of RESULTS.md: "quick", "full", "quick overload"...
SECTION=$MODE${ONLY:+ $ONLY}

section() {
    echo "## $([ "$MODE" = quick ] && echo 'Quick run (`bench/run.sh --quick' || echo 'Full run (`bench/run.sh')${ONLY:+ --only $ONLY}\`)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $COMMIT; wall time of the run ${WALL} s"
    echo "- machine: $(nproc) CPUs, $CPU_MODEL, ${MEM_GB} GB, Linux $(uname -r);" \
        "$(redis-server --version | awk '{ print $3 }' | tr -d 'v='), PostgreSQL" \
        "$("$PG_BIN/postgres" --version | awk '{ print $3 }')"
    [ -z "${FC_BENCH_DAEMON_ARGS:-}" ] || echo "- feedcached flags added: \`$FC_BENCH_DAEMON_ARGS\`"
    [ -z "${FC_BENCH_FEEDCACHED:-}" ] || echo "- feedcached binary: \`$FC_BENCH_FEEDCACHED\`"
    [ -z "${FC_BENCH_PIN:-}" ] ||
        echo "- pinned (FC_BENCH_PIN): Redis, PostgreSQL and feedcached on CPUs ${FC_BENCH_PIN%%:*}, feedbench on ${FC_BENCH_PIN##*:}"
    [ "${FC_REDIS_THP:-}" != 1 ] ||
        echo "- Redis's heap in transparent huge pages (FC_REDIS_THP=1: jemalloc thp:always, disable-thp no)"
    [ -z "${FC_BENCH_REDIS_SCHED:-}" ] ||
        echo "- Redis scheduled as $FC_BENCH_REDIS_SCHED (FC_BENCH_REDIS_SCHED): with fifo, no other process of this machine preempts it"
    echo "- load average (1/5/15 min) at start $LOAD_START, at end $LOAD_END: the machine is" \
        "shared, and feedcached, Redis, PostgreSQL and feedbench share its CPUs"
    echo "- graph: $(gval users) users, $(gval follows) follows (median author" \
        "$(gval followers_median) followers, max $(gval followers_max)), $(gval posts) posts," \
        "loaded in $(gval load_seconds) s; celebrity threshold $THRESH followers" \
        "($(gval celebrities) celebrities)$([ -n "$ONLY" ] || echo "; $FEEDS feeds of" \
            "$(fmt "$ENTRIES_PER_FEED") entries on average, $(fmt "$MARKERS_PER_FEED" 1) celebrity" \
            "markers per feed")"
    if [ -z "$ONLY" ]; then
        echo "- each workload: ${WARMUP} s warm-up, ${DUR} s measured (publish ${PUB_DUR} s, then" \
            "until the fan-out queue is empty); feedcached warnings in its log before the" \
            "overload scenario: $DAEMON_WARNINGS"
        echo
        print_table
        echo
        print_targets
        echo
        print_limits
    fi
    if [ "$ONLY" != follow ]; then
        # The three capacity runs span the scenario's minute or two; on a
        # shared machine whose speed changes by half from one minute to the
        # next (bench/RESULTS.md, 2026-12-05 evening) the best may have
        # been a faster minute than the phases had. Said, not corrected.
        ov_drift() {
            local lo hi
            read -r lo hi < <(printf '%s\n' "$(val ov_cap1.read_per_s)" "$(val ov_cap2.read_per_s)" \
                "$(val ov_cap3.read_per_s)" | sort -g | sed -n '1p;$p' | paste -sd' ')
            [ -n "$lo" ] && [ "$(calc "$hi > 1.2 * $lo")" = 1 ] &&
                echo "; the three differ by $(pct "$(calc "$hi / $lo - 1")"): the machine's speed changed during the scenario, so goodput as a share of the best is not what the phases could serve"
            return 0
        }
        echo
        echo "Overload (issue 15): capacity $OV_CAP cached reads/s$([ -n "${FC_BENCH_CAPACITY:-}" ] &&
            echo ' (FC_BENCH_CAPACITY)' || echo " (closed loop, 64 in flight, best of 3 runs:" \
            "$(fmt "$(val ov_cap1.read_per_s)") / $(fmt "$(val ov_cap2.read_per_s)") before the" \
            "phases, whose rates are multiples of the better of these two, and" \
            "$(fmt "$(val ov_cap3.read_per_s)") after them$(ov_drift))"); one" \
            "open-loop run, ${OV_DUR} s per phase back to back after ${WARMUP} s at 0.5x, $OV_CONNS" \
            "connections on $OV_THREADS threads, at most $OV_MAXIN reads in flight per connection" \
            "(a read due beyond that is dropped by the client and counted), no retries:"
        echo
        print_overload
    fi
    if [ "$ONLY" != overload ]; then
        echo
        print_follow
    fi
    if [ -s "$WORK/profile_self.txt" ]; then
        echo
        echo "Profile of feedcached during a cached-read run (\`perf record -e cpu-clock" \
            "--call-graph dwarf\`, $(val read_prof.read_per_s) reads/s while recording)." \
            "Self time, top 15:"
        echo
        echo '```'
        awk '{ printf "%8s  %s\n", $1, $3 }' "$WORK/profile_self.txt"
        echo '```'
        echo
        echo "Including callees (where the time goes), top 30:"
        echo
        echo '```'
        awk '{ printf "%8s  %s\n", $1, $4 }' "$WORK/profile_children.txt"
        echo '```'
    fi
}

echo
section | tee "$WORK/section.md"

# bench/RESULTS.md: replace this mode's section between its markers; keep
# everything else (the other mode's section, the notes).
BEGIN="<!-- run.sh $SECTION: begin -->"
END="<!-- run.sh $SECTION: end -->"
if [ ! -f "$RESULTS" ]; then
    cat >"$RESULTS" <<'EOF'
# feedbench results

Written by `bench/run.sh` (see bench/README.md for what each figure means and
how it is measured). Rerun: `bench/run.sh --quick` (about 4 minutes) or
`bench/run.sh` (the full graph); each replaces its own section below.

<!-- run.sh quick: begin -->
<!-- run.sh quick: end -->

<!-- run.sh full: begin -->
<!-- run.sh full: end -->
EOF
fi
if ! grep -qF "$BEGIN" "$RESULTS"; then
    printf '\n%s\n%s\n' "$BEGIN" "$END" >>"$RESULTS"
fi
awk -v begin="$BEGIN" -v end="$END" -v file="$WORK/section.md" '
    $0 == begin { print; while ((getline line < file) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }' "$RESULTS" >"$WORK/RESULTS.md"
cp "$WORK/RESULTS.md" "$RESULTS"
log "wrote $RESULTS ($SECTION section); total ${WALL} s"

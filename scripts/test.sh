#!/usr/bin/env bash
# The whole test suite, in one command (and the only thing .ci/run runs):
#
#   1. checks the include structure of src/ (scripts/check-layers.sh: no
#      include cycle, no include from a lower layer to a higher one); counted
#      as one test, and the run goes on when it fails
#   2. installs what is missing (scripts/install-deps.sh)
#   3. builds two trees: plain, and with AddressSanitizer + UBSan
#   4. starts a throwaway Redis + PostgreSQL (scripts/services.sh) and exports
#      FEEDCACHE_TEST_REDIS_URL, FEEDCACHE_TEST_REDIS_PORT, FEEDCACHE_TEST_PG,
#      FEEDCACHE_TEST_PG_PORT for the integration tests
#   5. runs `meson test` in the plain tree; then the cluster step: the
#      integration suite of the plain tree again, against a throwaway Redis
#      Cluster of 3 masters + 3 replicas (scripts/services.sh start-cluster,
#      FEEDCACHE_TEST_REDIS_URL=redis-cluster://...; about 3 minutes; tests
#      that cannot apply to a cluster skip, saying why), the cluster stopped
#      again after it; then `meson test` in the sanitizer tree, then the unit
#      suite of the plain tree under valgrind (all without the fault suite)
#   6. runs the fault suite (tests/faults, meson suite "faults") in the plain
#      tree only, as its own step: each fault test starts and stops its own
#      Redis + PostgreSQL pair (it pauses, stops and restarts them), each is
#      bounded by its meson timeout, the whole suite takes a few minutes
#   7. runs the libFuzzer targets briefly (scripts/fuzz.sh 20: a clang tree
#      of its own, 20 s per target, about 2 minutes with the build), counted
#      as one test; a crash fails it and leaves the input in
#      tests/fuzz/crashes/
#   8. builds the Debian packages and checks them installed
#      (scripts/packages.sh: dpkg-buildpackage -b -us -uc in a temporary
#      directory outside the repository, lintian with no error allowed,
#      apt-get install of feedcache and libfeedcache-client-dev, the
#      installed `feedcached --help`, systemd-analyze verify of the installed
#      units, a program built with `pkg-config --cflags --libs
#      feedcache-client` and run; then the packages are purged again), about
#      a minute and a half, counted as one test
#   9. stops the servers (also on failure or Ctrl-C) and prints, as its very
#      last line, `N passed, N failed[, N skipped]` over the layer check,
#      all five runs, the fuzz step and the packages step.
#
# Every step runs even when an earlier test run failed; the exit status is
# non-zero when anything failed. Extra arguments go to every `meson test`:
#   scripts/test.sh --suite unit
#   scripts/test.sh metrics            (one test by name)
# Arguments that mention "fault" select the fault step alone:
#   scripts/test.sh --suite faults
#   scripts/test.sh fault_pg_outage
# With other arguments the fault step, the cluster step, the fuzz step and
# the packages step are left out.
#
# Knobs (environment): FC_BUILD_DIR [build], FC_ASAN_BUILD_DIR [build-asan],
# FC_FAULTS [1] (0: leave the fault suite out), FC_FUZZ [1] (0: leave the
# fuzz step out), FC_FUZZ_SECONDS [20] (per target), FC_PACKAGES [1] (0:
# leave the packages step out), FC_CLUSTER (0: leave
# the cluster step out; 1: run it also with arguments, which it then gets:
# FC_CLUSTER=1 scripts/test.sh oracle). The fault suite's fault_cluster_*
# tests start clusters of their own and follow FC_FAULTS.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1

BUILD=${FC_BUILD_DIR:-build}
ASAN_BUILD=${FC_ASAN_BUILD_DIR:-build-asan}
# shellcheck disable=SC2054  # the commas belong to the option value
SANITIZE_OPTS=(-Db_sanitize=address,undefined -Db_lundef=false)
VALGRIND='valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q'

PASSED=0
FAILED=0
SKIPPED=0
FAILED_STEPS=()
STATE_DIR=
T0=$SECONDS

say() { printf '\n=== %s\n' "$*"; }

finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$STATE_DIR" ]; then
        bash scripts/services.sh stop "$STATE_DIR" || FAILED_STEPS+=("services stop")
    fi
    echo
    if [ ${#FAILED_STEPS[@]} -ne 0 ]; then
        echo "failed steps: ${FAILED_STEPS[*]}"
    fi
    echo "total time: $((SECONDS - T0)) s"
    if [ $rc -eq 0 ] && { [ ${#FAILED_STEPS[@]} -ne 0 ] || [ "$FAILED" -ne 0 ]; }; then
        rc=1
    fi
    if [ "$SKIPPED" -ne 0 ]; then
        echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    else
        echo "$PASSED passed, $FAILED failed"
    fi
    exit "$rc"
}
trap finish EXIT
trap 'FAILED_STEPS+=("interrupted"); exit 130' INT
trap 'FAILED_STEPS+=("terminated"); exit 143' TERM

# Counts the results in meson's testlog JSON files (one object per line,
# "result": OK / EXPECTEDFAIL / SKIP / FAIL / TIMEOUT / ERROR / ...).
# Prints "passed failed skipped".
count_results() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$@" <<'EOF'
import json, sys
passed = failed = skipped = 0
for name in sys.argv[1:]:
    with open(name) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            result = json.loads(line).get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
print(passed, failed, skipped)
EOF
    else
        local all p s
        all=$(cat "$@" | grep -c '"result": *"' || true)
        p=$(cat "$@" | grep -cE '"result": *"(OK|EXPECTEDFAIL)"' || true)
        s=$(cat "$@" | grep -c '"result": *"SKIP"' || true)
        echo "$p $((all - p - s)) $s"
    fi
}

# Sets up (if needed) and builds one tree. $1 = dir, rest = meson options.
build_tree() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        if [ $# -gt 0 ]; then
            meson configure "$dir" "$@" || return 1
        fi
    else
        # An earlier `meson setup` that failed leaves a tree meson cannot
        # reuse (not even with --wipe): start it afresh.
        if [ -d "$dir/meson-private" ]; then
            rm -rf "$dir"
        fi
        meson setup "$dir" "$@" || return 1
    fi
    ninja -C "$dir"
}

# Runs `meson test` in tree $2 (label $1) with extra arguments, and adds its
# results to the totals.
run_tests() {
    local label=$1 dir=$2 rc=0 logs counts p f s
    shift 2
    say "tests: $label"
    rm -f "$dir"/meson-logs/testlog*.json
    # Integration tests start the daemon of the tree under test.
    FEEDCACHED=$REPO/$dir/src/feedcached/feedcached \
        meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?
    logs=("$dir"/meson-logs/testlog*.json)
    if [ -f "${logs[0]}" ]; then
        counts=$(count_results "${logs[@]}")
        read -r p f s <<<"$counts"
        echo "$label: $p passed, $f failed, $s skipped (exit $rc)"
        PASSED=$((PASSED + p))
        FAILED=$((FAILED + f))
        SKIPPED=$((SKIPPED + s))
    else
        echo "$label: no test log (exit $rc)"
    fi
    [ $rc -eq 0 ] || FAILED_STEPS+=("$label")
}

# The integration suite against a Redis Cluster started for it in STATE_DIR
# (and stopped after it, so that the runs after it have the memory back).
cluster_step() {
    local single=$FEEDCACHE_TEST_REDIS_URL url
    say "cluster: scripts/services.sh start-cluster"
    if ! bash scripts/services.sh start-cluster "$STATE_DIR"; then
        FAILED=$((FAILED + 1))
        FAILED_STEPS+=("cluster start")
        return 0
    fi
    url=$(sed -n 's/^FEEDCACHE_TEST_REDIS_CLUSTER_URL=//p' "$STATE_DIR/env")
    export FEEDCACHE_TEST_REDIS_URL=$url
    run_tests "cluster" "$BUILD" --suite integration "$@"
    export FEEDCACHE_TEST_REDIS_URL=$single
    bash scripts/services.sh stop-cluster "$STATE_DIR" || FAILED_STEPS+=("cluster stop")
}

say "layers: scripts/check-layers.sh"
if bash scripts/check-layers.sh; then
    PASSED=$((PASSED + 1))
else
    FAILED=$((FAILED + 1))
    FAILED_STEPS+=("check-layers")
fi

say "dependencies"
bash scripts/install-deps.sh || { FAILED_STEPS+=("install-deps"); exit 1; }

say "build: $BUILD"
plain_ok=1
# Both trees compile the fault points (util/fault.h) for the fault suite.
build_tree "$BUILD" -Dfault_hooks=true || { FAILED_STEPS+=("build $BUILD"); plain_ok=0; }

say "build: $ASAN_BUILD (address,undefined)"
asan_ok=1
build_tree "$ASAN_BUILD" "${SANITIZE_OPTS[@]}" -Dfault_hooks=true || { FAILED_STEPS+=("build $ASAN_BUILD"); asan_ok=0; }

if [ $plain_ok = 0 ] && [ $asan_ok = 0 ]; then
    exit 1      # nothing to test
fi

say "services"
mkdir -p "$REPO/.tmp"
# A fresh state dir per run, so that a demo (scripts/run.sh) or another test
# run can be up at the same time.
STATE_DIR=$(mktemp -d "$REPO/.tmp/test-services.XXXXXX")
chmod 755 "$STATE_DIR"     # let the postgres user keep its data in there
if ! bash scripts/services.sh start "$STATE_DIR"; then
    rmdir "$STATE_DIR" 2>/dev/null     # services.sh removed it unless it failed early
    STATE_DIR=
    FAILED_STEPS+=("services start")
    exit 1
fi
set -a
# shellcheck disable=SC1091
. "$STATE_DIR/env"
set +a

# The fault suite: wanted with no arguments or with arguments naming it;
# then alone when they name it.
WANT_FAULTS=1
FAULTS_ONLY=0
if [ $# -gt 0 ]; then
    WANT_FAULTS=0
    for arg in "$@"; do
        case "$arg" in *fault*) WANT_FAULTS=1; FAULTS_ONLY=1 ;; esac
    done
fi
[ "${FC_FAULTS:-1}" = 0 ] && WANT_FAULTS=0

# The cluster step: in a full run, or when FC_CLUSTER=1 asks for it.
# Plain tree only: the ASan run of the same tests against one Redis covers
# the daemon's memory; this step is about the cluster's redirections.
WANT_CLUSTER=0
[ $# -eq 0 ] && WANT_CLUSTER=1
case "${FC_CLUSTER:-}" in
    0) WANT_CLUSTER=0 ;;
    1) WANT_CLUSTER=1 ;;
esac

if [ $FAULTS_ONLY = 0 ]; then
    if [ $plain_ok = 1 ]; then
        run_tests "plain" "$BUILD" --no-suite faults "$@"
    fi
    if [ $plain_ok = 1 ] && [ $WANT_CLUSTER = 1 ]; then
        cluster_step "$@"
    fi
    if [ $asan_ok = 1 ]; then
        ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            run_tests "asan+ubsan" "$ASAN_BUILD" --no-suite faults "$@"
    fi
    if [ $plain_ok = 1 ]; then
        run_tests "valgrind (unit)" "$BUILD" --suite unit --wrapper "$VALGRIND" \
            --timeout-multiplier 4 "$@"
    fi
fi
# Plain tree only: the fault tests measure CPU time and time-outs, which a
# sanitizer or valgrind would distort. Each test brings its own servers (the
# shared ones above stay untouched) and has its own meson timeout.
if [ $WANT_FAULTS = 1 ] && [ $plain_ok = 1 ]; then
    if [ $FAULTS_ONLY = 1 ]; then
        run_tests "faults (plain)" "$BUILD" --timeout-multiplier 1 "$@"
    else
        run_tests "faults (plain)" "$BUILD" --suite faults --timeout-multiplier 1
    fi
fi

# The fuzz step: only in a full run (no arguments). The seed corpora are
# also replayed by the unit tests fuzz_replay_* in every tree above.
if [ $# -eq 0 ] && [ "${FC_FUZZ:-1}" != 0 ]; then
    say "fuzz: scripts/fuzz.sh ${FC_FUZZ_SECONDS:-20}"
    if bash scripts/fuzz.sh "${FC_FUZZ_SECONDS:-20}"; then
        PASSED=$((PASSED + 1))
    else
        FAILED=$((FAILED + 1))
        FAILED_STEPS+=("fuzz")
    fi
fi

# The packages step: only in a full run (no arguments), like the fuzz step.
# It needs no server; the packages are built outside the repository and
# purged again at its end.
if [ $# -eq 0 ] && [ "${FC_PACKAGES:-1}" != 0 ]; then
    say "packages: scripts/packages.sh"
    if bash scripts/packages.sh; then
        PASSED=$((PASSED + 1))
    else
        FAILED=$((FAILED + 1))
        FAILED_STEPS+=("packages")
    fi
fi

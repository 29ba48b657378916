#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz and runs each for a while:
#
#   scripts/fuzz.sh [SECONDS]        (default 60 per target)
#
# The targets (fuzz_rpc, fuzz_http, fuzz_settings, fuzz_rds_url) are built
# with clang in their own tree, the core library included, with
# -fsanitize=fuzzer-no-link,address,undefined (meson option -Dfuzz=true).
# Each runs for SECONDS from its seed corpus tests/fuzz/corpus/<target>/
# (read only) plus a working corpus in the build tree (BUILD/corpus/<target>,
# kept between runs, so later runs start where earlier ones stopped), with
# its dictionary tests/fuzz/<target>.dict.
#
# Prints per target: seconds, executions (and per second), corpus size,
# new crashes. A crash, leak, time-out or out-of-memory input is copied to
# tests/fuzz/crashes/ (gitignored) and the exit status is non-zero; turn
# each into a regression test (docs/HACKING.md, "Fuzzing").
#
# Knobs (environment): FC_FUZZ_BUILD_DIR [build-fuzz], FC_FUZZ_TARGETS
# ["rpc http settings rds_url"], FC_FUZZ_CC [clang].
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1

SECS=${1:-60}
case "$SECS" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
BUILD=${FC_FUZZ_BUILD_DIR:-build-fuzz}
read -r -a TARGETS <<<"${FC_FUZZ_TARGETS:-rpc http settings rds_url}"
CC_FUZZ=${FC_FUZZ_CC:-clang}
CRASHES=tests/fuzz/crashes

# Longest input per target: a little above the limits each parser enforces
# (HTTP headers and body 8 KiB each; settings strings up to 4 KiB; a Redis
# URL up to 1 KiB), so the limit paths are reachable.
max_len() {
    case "$1" in
        http) echo 20000 ;;
        settings) echo 8192 ;;
        rds_url) echo 1200 ;;
        *) echo 4096 ;;
    esac
}

say() { printf '\n=== %s\n' "$*"; }

if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
    echo "fuzz: $CC_FUZZ not found (scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
    exit 1
fi

say "build: $BUILD ($CC_FUZZ, -Dfuzz=true)"
T0=$SECONDS
if [ ! -f "$BUILD/build.ninja" ]; then
    [ -d "$BUILD/meson-private" ] && rm -rf "$BUILD"
    # -O1 and line tables only, as libFuzzer suggests: quicker to build,
    # and stack traces still name the lines.
    CC=$CC_FUZZ meson setup "$BUILD" -Dfuzz=true -Dtests=false -Dbuildtype=plain \
        -Dc_args='-O1 -gline-tables-only' >/dev/null || exit 1
fi
ninja_targets=()
for t in "${TARGETS[@]}"; do
    ninja_targets+=("tests/fuzz/fuzz_$t")
done
ninja -C "$BUILD" "${ninja_targets[@]}" || exit 1
echo "built in $((SECONDS - T0)) s"

mkdir -p "$CRASHES"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

SUMMARY=()
FAILED=()
for t in "${TARGETS[@]}"; do
    exe=$BUILD/tests/fuzz/fuzz_$t
    work=$BUILD/corpus/$t
    art=$BUILD/artifacts/$t
    log=$BUILD/fuzz-$t.log
    mkdir -p "$work" "$art"
    rm -f "$art"/*
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    say "fuzz_$t: $SECS s"
    t0=$SECONDS
    rc=0
    # The first corpus directory receives new inputs; the seeds stay as
    # they are. -timeout: one input may take 10 s; -rss_limit_mb also
    # bounds single allocations (the hostile-msgpack-header case).
    "$exe" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
        "${dict[@]}" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    secs=$((SECONDS - t0))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | sed 's/corp: //')
    new=0
    for f in "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-*; do
        [ -f "$f" ] || continue
        cp "$f" "$CRASHES/${t}-$(basename "$f")"
        echo "fuzz_$t: $(basename "$f") -> $CRASHES/${t}-$(basename "$f")"
        rm -f "$f"
        new=$((new + 1))
    done
    if [ $rc -ne 0 ] && [ $new -eq 0 ]; then
        # No artifact, but libFuzzer failed (e.g. in the seeds' first pass).
        new=1
        cp "$log" "$CRASHES/${t}-failed-$(date +%s).log"
    fi
    if [ $new -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|fuzz check failed|runtime error' "$log" | head -5 || true   # head may quit first (SIGPIPE under pipefail)
        echo "full log: $log"
        FAILED+=("fuzz_$t")
    fi
    rate=0
    [ -n "$execs" ] && [ $secs -gt 0 ] && rate=$((execs / secs))
    SUMMARY+=("$(printf '%-14s %5s s %10s execs %7s/s  corpus %-12s new crashes %s' \
        "fuzz_$t" "$secs" "${execs:-?}" "$rate" "${corp:-?}" "$new")")
done

say "summary ($((SECONDS - T0)) s with the build)"
printf '%s\n' "${SUMMARY[@]}"
if [ ${#FAILED[@]} -ne 0 ]; then
    echo "crashes in: ${FAILED[*]} (inputs in $CRASHES/)"
    exit 1
fi

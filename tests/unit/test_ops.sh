#!/usr/bin/env bash
# Checks of the deployment and monitoring files in docker/, no servers needed:
#
#   test_ops.sh static     (meson test 'ops')
#     - promtool check config docker/prometheus/prometheus.yml (and its rule files)
#     - promtool check rules docker/prometheus/alerts.yml
#     - promtool test rules docker/prometheus/alerts_test.yml
#     - alert exprs use only metrics and labels feedcached exports
#       (docker/prometheus/feedcache-metrics.txt)
#     - the Grafana dashboard: every panel has a title, a Prometheus
#       datasource and targets; every query uses only exported metrics and
#       labels and parses (`promtool check rules` on a generated rules file);
#       the promised panels are all there; the provisioning points at it
#     - docker/Dockerfile: multi-stage, bookworm-slim, non-root, HEALTHCHECK
#       on /healthz, and it installs the Debian package of every shared
#       library the built binaries (FEEDCACHED, FEEDCACHECTL) link against
#
#   test_ops.sh compose    (meson test 'ops_compose')
#     - docker-compose config on docker/docker-compose.yml, then the
#       service names, ports and mounts fit together. SKIP (exit 77) when
#       docker-compose is not installed (apt-get install docker-compose).
#
# Uses promtool (package prometheus) and python3; installs nothing.
set -euo pipefail

MODE=${1:-static}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${FEEDCACHE_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
DOCKER=$REPO/docker
CHECK=$HERE/ops_check.py
METRICS=$DOCKER/prometheus/feedcache-metrics.txt

T=$(mktemp -d /tmp/fc-test-ops.XXXXXX)
trap 'rm -rf "$T"' EXIT

FAILS=0
ok() { printf 'ok - %s\n' "$*"; }
not_ok() { printf 'not ok - %s\n' "$*"; FAILS=$((FAILS + 1)); }

# Runs a check; prints its output indented; counts a failure.
step() {
    local what=$1
    shift
    if "$@" >"$T/out" 2>&1; then
        sed 's/^/    /' "$T/out"
        ok "$what"
    else
        sed 's/^/    /' "$T/out"
        not_ok "$what"
    fi
}

need() {
    command -v "$1" >/dev/null && return 0
    echo "$1 not found (install: $2)"
    exit 1
}

# The Debian packages that provide the shared libraries binary $1 links
# against directly (ELF NEEDED), except the C runtime and sanitizer
# libraries (in every base image / only in sanitizer builds).
runtime_packages() {
    local bin=$1 so path pkg
    objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }' | while read -r so; do
        path=$(ldd "$bin" | awk -v s="$so" '$1 == s { print $3 }')
        if [ -z "$path" ] || [ ! -e "$path" ]; then
            echo "?$so"     # not resolvable here: reported by the caller
            continue
        fi
        pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1) || true
        [ -n "$pkg" ] || pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1) || true
        [ -n "$pkg" ] || { echo "?$so"; continue; }
        case "$pkg" in
            libc6 | libgcc-s1 | libasan* | libubsan* | liblsan* | libtsan*) ;;
            *) echo "$pkg" ;;
        esac
    done
}

static_checks() {
    need promtool "apt-get install prometheus"
    need python3 "apt-get install python3"

    step "promtool check config prometheus.yml" \
        promtool check config "$DOCKER/prometheus/prometheus.yml"
    step "promtool check rules alerts.yml" \
        promtool check rules "$DOCKER/prometheus/alerts.yml"
    step "promtool test rules alerts_test.yml" \
        bash -c 'cd "$1" && promtool test rules alerts_test.yml' _ "$DOCKER/prometheus"
    step "alert rules use exported metrics and labels" \
        python3 "$CHECK" rules "$DOCKER/prometheus/alerts.yml" "$METRICS"

    local dash=$DOCKER/grafana/dashboards/feedcache.json
    step "dashboard panels, metrics, labels, required panels" \
        python3 "$CHECK" dashboard "$dash" "$METRICS" "$T/dashboard_rules.yml"
    if [ -s "$T/dashboard_rules.yml" ]; then
        step "dashboard queries parse (promtool check rules)" \
            promtool check rules "$T/dashboard_rules.yml"
    else
        not_ok "dashboard queries parse: no rules file was written"
    fi
    step "grafana provisioning" \
        python3 "$CHECK" provisioning "$DOCKER/grafana" "$dash"

    # Runtime packages of the binaries this build made.
    local pkgs=() bin
    if command -v objdump >/dev/null && command -v dpkg >/dev/null; then
        for bin in "${FEEDCACHED:-}" "${FEEDCACHECTL:-}"; do
            [ -n "$bin" ] || continue
            [ -x "$bin" ] || { not_ok "binary $bin not built"; continue; }
            mapfile -t -O "${#pkgs[@]}" pkgs < <(runtime_packages "$bin")
        done
        mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u | sed '/^$/d')
        for p in "${pkgs[@]}"; do
            case "$p" in '?'*) not_ok "cannot tell which package provides ${p#?}" ;; esac
        done
        echo "# runtime packages of the built binaries: ${pkgs[*]:-(none: FEEDCACHED/FEEDCACHECTL not set)}"
    else
        echo "# objdump or dpkg missing: not comparing the Dockerfile's runtime packages"
    fi
    step "Dockerfile" python3 "$CHECK" dockerfile "$DOCKER/Dockerfile" "$REPO" "${pkgs[@]}"

    step "postgres scripts parse (bash -n)" \
        bash -c 'for f in "$@"; do bash -n "$f" || exit 1; [ -x "$f" ] || { echo "$f is not executable"; exit 1; }; done' \
        _ "$DOCKER"/postgres/*.sh
}

compose_checks() {
    if ! command -v docker-compose >/dev/null; then
        echo "SKIP: docker-compose is not installed (apt-get install docker-compose); compose file not checked"
        exit 77
    fi
    need python3 "apt-get install python3"
    local f=$DOCKER/docker-compose.yml
    # A fixed project directory: relative paths resolve against docker/.
    step "docker-compose config -q" docker-compose -f "$f" config -q
    if docker-compose -f "$f" config >"$T/compose.yml" 2>"$T/compose.err"; then
        step "compose service names, ports, mounts" python3 "$CHECK" compose "$T/compose.yml" "$REPO"
    else
        cat "$T/compose.err"
        not_ok "docker-compose config"
    fi
}

case "$MODE" in
    static) static_checks ;;
    compose) compose_checks ;;
    *) echo "usage: $0 static|compose" >&2; exit 2 ;;
esac

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed"
    exit 1
fi
echo "all passed"

#!/usr/bin/env bash
# Installs what feedcache needs to build and test on Debian 12, and nothing
# else. Idempotent: when every package is already installed it does no apt
# work at all (no `apt-get update`), so scripts/run.sh and scripts/test.sh can
# call it every time.
#
# The server packages (redis-server, postgresql-15, prometheus) would start
# system services on their default ports. feedcache never uses those (the
# scripts start throwaway servers on free ports), and a CI container has no
# init system for them anyway, so package installation is told not to start
# any service (policy-rc.d, honoured by invoke-rc.d and deb-systemd-invoke).
set -euo pipefail

PACKAGES=(
    meson ninja-build pkg-config gcc
    libuv1-dev libhiredis-dev libmsgpack-dev libpq-dev libcmocka-dev libhttp-parser-dev
    redis-server redis-tools postgresql-15 postgresql-client-15
    prometheus valgrind curl docker-compose
    clang libclang-rt-14-dev    # scripts/fuzz.sh: libFuzzer, ASan, UBSan
    python3-msgpack             # clients/python (tests/integration/test_python_client.sh)
    nodejs npm                  # clients/node (tests/clients/test_node_client.sh)
    # scripts/packages.sh: dpkg-buildpackage with debhelper, lintian, and
    # systemd-analyze for the units (the package, not a running systemd)
    dpkg-dev debhelper lintian systemd man-db
)

say() { printf 'install-deps: %s\n' "$*" >&2; }

# The status dpkg -s shows. Its exit code alone is not enough: it also
# succeeds for a package that was removed but left its config files behind.
# (No `dpkg -s | grep -q`: grep quitting early makes dpkg die of SIGPIPE, and
# pipefail would then call an installed package missing.)
is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ] || is_provided "$1"
}

# True when an installed package Provides $1. Some images carry a nodejs
# package of their own (NodeSource's) that bundles npm and Provides and
# Conflicts with Debian's npm: asking apt for npm there would fail.
is_provided() {
    dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
        awk -F'|' -v want="$1" '
            $1 ~ /^ii/ {
                n = split($2, alts, /,/)
                for (i = 1; i <= n; i++) {
                    name = alts[i]
                    sub(/^ +/, "", name)
                    sub(/[ (].*/, "", name)
                    if (name == want) found = 1
                }
            }
            END { exit !found }'
}

missing=()
for p in "${PACKAGES[@]}"; do
    is_installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    say "all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

say "missing: ${missing[*]}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        say "error: not root and no sudo; install these as root: ${missing[*]}"
        exit 1
    fi
fi

# Keep packages from starting their daemons. Only when no policy is in place
# already (Docker images often ship one), and removed again afterwards.
POLICY=/usr/sbin/policy-rc.d
policy_ours=0
cleanup() {
    if [ "$policy_ours" = 1 ]; then
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# feedcache install-deps: do not start services during install\nexit 101\n' |
        "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    policy_ours=1
fi

export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

say "apt-get update"
"${APT[@]}" update
# No recommends: prometheus would pull in node-exporter and more daemons.
say "apt-get install ${missing[*]}"
"${APT[@]}" install --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
    is_installed "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
    say "error: still not installed after apt-get: ${still[*]}"
    exit 1
fi
say "installed ${#missing[@]} package(s)"

#!/usr/bin/env bash
# Builds the Debian packages, installs them on this machine and checks what
# got installed (scripts/test.sh runs it as its "packages" step, in a full
# run; docs/OPERATIONS.md, "Installing"):
#
#   1. copies the tree (git's tracked and untracked-but-not-ignored files)
#      into a temporary directory outside the repository and runs
#      `dpkg-buildpackage -b -us -uc` there: feedcache and
#      libfeedcache-client-dev (and feedcache-dbgsym);
#   2. prints `dpkg -c` of both, and runs `lintian --fail-on error` on them
#      (warnings are printed, and do not fail the step);
#   3. installs them with `apt-get install ./*.deb` (a policy-rc.d keeps
#      the unit from being started), then checks the installed files:
#      `feedcached --help` and `feedcachectl --version`, `systemd-analyze
#      verify` of the installed units, and tests/install/pkgconfig_demo.c
#      built with nothing but `pkg-config --cflags --libs feedcache-client`
#      and run;
#   4. purges the packages again (FC_PACKAGES_KEEP=1 leaves them installed).
#
#   scripts/packages.sh [OUTDIR]     OUTDIR: also copy the .deb files there
#
# Needs root (or sudo) for apt-get, and the build dependencies
# (scripts/install-deps.sh installs them: debhelper, lintian, systemd...).
# About a minute and a half on 2 cores, most of it the package build.
# Exit status 0 when every check passed; the last line says how long it took.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${1:-}
T0=$SECONDS
FAILS=()

say() { printf '\n--- packages: %s\n' "$*"; }
fail() { echo "packages: FAIL: $*"; FAILS+=("$1"); }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "packages: not root and no sudo"; exit 1; }
    SUDO=(sudo)
fi

WORK=$(mktemp -d /tmp/feedcache-packages.XXXXXX)
POLICY=/usr/sbin/policy-rc.d
policy_ours=0
installed=0
cleanup() {
    if [ "$installed" = 1 ] && [ "${FC_PACKAGES_KEEP:-0}" != 1 ]; then
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q \
            feedcache libfeedcache-client-dev >"$WORK/purge.log" 2>&1 ||
            { cat "$WORK/purge.log"; echo "packages: purge failed"; }
    fi
    [ "$policy_ours" = 1 ] && "${SUDO[@]}" rm -f "$POLICY"
    rm -rf "$WORK"
}
trap cleanup EXIT

version=$(sed -n '1s/^feedcache (\([^)]*\)).*/\1/p' "$REPO/debian/changelog")
SRC=$WORK/feedcache-$version

say "build (dpkg-buildpackage -b -us -uc in $SRC)"
mkdir -p "$SRC"
(cd "$REPO" && git ls-files -z -co --exclude-standard | tar -cf - --null -T -) | tar -xf - -C "$SRC" ||
    { fail "copy"; exit 1; }
if ! (cd "$SRC" && dpkg-buildpackage -b -us -uc >"$WORK/build.log" 2>&1); then
    tail -40 "$WORK/build.log"
    fail "dpkg-buildpackage"
    echo "packages: $((SECONDS - T0)) s"
    exit 1
fi
echo "built in $((SECONDS - T0)) s:"
DEBS=("$WORK/feedcache_${version}_"*.deb "$WORK/libfeedcache-client-dev_${version}_"*.deb)
ls -l "${DEBS[@]}"
if [ -n "$OUTDIR" ]; then
    mkdir -p "$OUTDIR" && cp "$WORK"/*.deb "$OUTDIR"/ && echo "copied to $OUTDIR"
fi

for deb in "${DEBS[@]}"; do
    say "dpkg -c ${deb##*/}"
    dpkg -c "$deb" | awk '{ print $1, $6, $7, $8 }'
done

say "lintian --fail-on error"
# --fail-on error: warnings and infos are shown, only errors fail.
lintian_rc=0
lintian --fail-on error --display-info "${DEBS[@]}" >"$WORK/lintian.log" 2>&1 || lintian_rc=$?
grep -v 'running with root privileges' "$WORK/lintian.log" || echo "(no tag)"
[ "$lintian_rc" = 0 ] || fail "lintian"

say "apt-get install ${DEBS[*]##*/}"
# Installing enables feedcached.service; it must not start on this machine
# (deb-systemd-invoke honours policy-rc.d).
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# feedcache packages.sh: do not start services\nexit 101\n' |
        "${SUDO[@]}" tee "$POLICY" >/dev/null && "${SUDO[@]}" chmod 755 "$POLICY" && policy_ours=1
fi
if "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${DEBS[@]}" >"$WORK/install.log" 2>&1; then
    installed=1
    tail -3 "$WORK/install.log"
else
    cat "$WORK/install.log"
    fail "apt-get install"
fi

if [ "$installed" = 1 ]; then
    say "the installed programs"
    if out=$(/usr/sbin/feedcached --help) && grep -q -- '--log-format' <<<"$out" &&
        /usr/sbin/feedcached --config /etc/feedcache/feedcached.conf --help >/dev/null; then
        echo "/usr/sbin/feedcached --help: $(grep -c '^  --' <<<"$out") options"
    else
        fail "feedcached --help"
    fi
    /usr/bin/feedcachectl --version || fail "feedcachectl --version"
    if command -v man >/dev/null; then
        man -w feedcached feedcachectl || fail "man pages"
    fi

    say "systemd-analyze verify (the installed units)"
    if command -v systemd-analyze >/dev/null; then
        out=$(systemd-analyze verify /lib/systemd/system/feedcached.service \
            /lib/systemd/system/feedcache-warm.service /lib/systemd/system/feedcache-warm.timer 2>&1) || true
        if ! command -v man >/dev/null; then
            out=$(grep -v "Command 'man " <<<"$out" || true)
        fi
        if [ -z "$out" ]; then
            echo "no finding"
        else
            echo "$out"
            fail "systemd-analyze verify"
        fi
    else
        fail "systemd-analyze missing (apt-get install systemd)"
    fi

    say "a caller built with pkg-config --cflags --libs feedcache-client"
    flags=$(pkg-config --cflags --libs feedcache-client) || fail "pkg-config"
    echo "flags: $flags"
    # shellcheck disable=SC2086  # the flags are words
    if cc -Wall -Wextra -Werror -o "$WORK/demo" "$REPO/tests/install/pkgconfig_demo.c" $flags &&
        "$WORK/demo" "$(pkg-config --modversion feedcache-client)"; then
        ldd "$WORK/demo" | grep libfeedcache-client
    else
        fail "the pkg-config program"
    fi
fi

echo
echo "packages: $((SECONDS - T0)) s"
if [ ${#FAILS[@]} -ne 0 ]; then
    echo "packages: failed: ${FAILS[*]}"
    exit 1
fi
echo "packages: all ok"

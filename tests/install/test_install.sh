#!/usr/bin/env bash
# `meson install --destdir` of the build tree into a temporary directory,
# then checks what a packager and a caller get (meson test `install`):
#
#   - the files: feedcached in sbin, feedcachectl in bin, the client library
#     as libfeedcache-client.so.0 (soname) + .so + .a, exporting the API of
#     include/feedcache/client.h and nothing else, the header, the .pc
#     file, both man pages, the systemd units with this prefix's paths, the
#     example config;
#   - a caller: tests/install/pkgconfig_demo.c compiled and linked with
#     nothing but `pkg-config --cflags --libs feedcache-client`
#     (PKG_CONFIG_PATH at the temporary tree; --define-variable moves the
#     .pc file's prefix there, as the tree is staged, not installed: it
#     moves msgpack's too, whose -L then names a directory that does not
#     exist, and the linker finds libmsgpackc where it always does), run
#     against the installed shared library; and again linked against the
#     static archive alone (it must be whole);
#   - `systemd-analyze verify` of the units, in copies whose program paths
#     point into the temporary tree (skipped without systemd-analyze).
#
# Environment (set by tests/install/meson.build): FEEDCACHE_BUILD_ROOT,
# FEEDCACHE_SOURCE_ROOT, FEEDCACHE_PREFIX, FEEDCACHE_LIBDIR, FEEDCACHE_BINDIR,
# FEEDCACHE_SBINDIR, FEEDCACHE_UNITDIR, FEEDCACHE_SYSCONFDIR,
# FEEDCACHE_MANDIR (absolute), FEEDCACHE_VERSION, FEEDCACHE_SANITIZE. Skips
# (77) in a sanitizer tree: its library needs the sanitizer runtime that a
# plain caller does not load.
set -euo pipefail

if [ "${FEEDCACHE_SANITIZE:-none}" != none ]; then
    echo "skip: built with -Db_sanitize=$FEEDCACHE_SANITIZE; a plain caller cannot load it"
    exit 77
fi
for tool in pkg-config cc objdump nm; do
    command -v "$tool" >/dev/null || { echo "skip: no $tool"; exit 77; }
done

TMP=$(mktemp -d /tmp/fc-install-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
DEST=$TMP/dest
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

meson install -C "$FEEDCACHE_BUILD_ROOT" --destdir "$DEST" --no-rebuild --quiet >"$TMP/install.log" 2>&1 ||
    { cat "$TMP/install.log"; echo "FAIL: meson install"; exit 1; }

# --- the files -------------------------------------------------------------
LIB=$DEST$FEEDCACHE_LIBDIR
want() {
    if [ -e "$DEST$1" ] || [ -L "$DEST$1" ]; then ok "installed $1"; else fail "missing $1"; fi
}
want "$FEEDCACHE_SBINDIR/feedcached"
want "$FEEDCACHE_BINDIR/feedcachectl"
want "$FEEDCACHE_LIBDIR/libfeedcache-client.so.0"
want "$FEEDCACHE_LIBDIR/libfeedcache-client.so"
want "$FEEDCACHE_LIBDIR/libfeedcache-client.a"
want "$FEEDCACHE_LIBDIR/pkgconfig/feedcache-client.pc"
want "$FEEDCACHE_PREFIX/include/feedcache/client.h"
want "$FEEDCACHE_MANDIR/man8/feedcached.8"
want "$FEEDCACHE_MANDIR/man1/feedcachectl.1"
want "$FEEDCACHE_UNITDIR/feedcached.service"
want "$FEEDCACHE_UNITDIR/feedcache-warm.service"
want "$FEEDCACHE_UNITDIR/feedcache-warm.timer"
want "$FEEDCACHE_SYSCONFDIR/feedcache/feedcached.conf"
want "$FEEDCACHE_PREFIX/share/feedcache/schema.sql"
[ ! -e "$DEST$FEEDCACHE_BINDIR/feedcached" ] || fail "feedcached is in bin; it belongs in sbin"

soname=$(objdump -p "$LIB/libfeedcache-client.so" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libfeedcache-client.so.0 ] && ok "soname $soname" || fail "soname '$soname', want libfeedcache-client.so.0"
[ "$(readlink "$LIB/libfeedcache-client.so")" = libfeedcache-client.so.0 ] ||
    fail "libfeedcache-client.so does not point at the soname"
extra=$(nm -D --defined-only "$LIB/libfeedcache-client.so" | awk '{ print $3 }' |
    grep -vE '^(fc_(client|params|response|obj|token)_[a-z_]+(@@FEEDCACHE_CLIENT_0(\.1)?)?|FEEDCACHE_CLIENT_0(\.1)?)$' || true)
[ -z "$extra" ] && ok "the shared library exports the client API only" ||
    fail "the shared library exports more than the API: $extra"

unit=$DEST$FEEDCACHE_UNITDIR/feedcached.service
grep -qx "ExecStart=$FEEDCACHE_SBINDIR/feedcached --config $FEEDCACHE_SYSCONFDIR/feedcache/feedcached.conf" "$unit" &&
    ok "the unit starts $FEEDCACHE_SBINDIR/feedcached with the installed config" ||
    fail "feedcached.service: ExecStart is $(grep ExecStart= "$unit")"
grep -q '@[a-z]*dir@' "$DEST$FEEDCACHE_UNITDIR"/*.service && fail "a unit has an unsubstituted @...@ path"

# The installed daemon reads the installed example config as it is.
"$DEST$FEEDCACHE_SBINDIR/feedcached" --config "$DEST$FEEDCACHE_SYSCONFDIR/feedcache/feedcached.conf" \
    --help >/dev/null && ok "feedcached --config <the example> --help" ||
    fail "feedcached does not accept the example config"

# --- a caller, with pkg-config only ----------------------------------------
export PKG_CONFIG_PATH=$LIB/pkgconfig
PC=(pkg-config "--define-variable=prefix=$DEST$FEEDCACHE_PREFIX")
flags=$("${PC[@]}" --cflags --libs feedcache-client)
echo "pkg-config --cflags --libs feedcache-client: $flags"
case "$flags" in
    *"$FEEDCACHE_SOURCE_ROOT"* | *"$FEEDCACHE_BUILD_ROOT"*) fail "pkg-config points into the source or build tree" ;;
esac
# shellcheck disable=SC2086  # the flags are words
if cc -Wall -Wextra -Werror -o "$TMP/demo" "$FEEDCACHE_SOURCE_ROOT/tests/install/pkgconfig_demo.c" $flags; then
    ok "compiled and linked with pkg-config's flags"
    libdir=$("${PC[@]}" --variable=libdir feedcache-client)
    if LD_LIBRARY_PATH=$libdir "$TMP/demo" "$FEEDCACHE_VERSION"; then
        ok "the program runs against the installed libfeedcache-client.so.0"
    else
        fail "the program failed"
    fi
    # No `ldd | grep -q`: grep quitting at the first match kills ldd with
    # SIGPIPE, and pipefail then calls the match a failure.
    libs=$(LD_LIBRARY_PATH=$libdir ldd "$TMP/demo")
    grep -q "libfeedcache-client.so.0 => $libdir/" <<<"$libs" ||
        fail "the program did not load the installed library: $libs"
else
    fail "cannot build the program with pkg-config's flags"
fi

# The static archive is whole: the library and msgpack, nothing of the tree.
# shellcheck disable=SC2046
if cc -o "$TMP/demo-static" "$FEEDCACHE_SOURCE_ROOT/tests/install/pkgconfig_demo.c" \
        $("${PC[@]}" --cflags feedcache-client) "$LIB/libfeedcache-client.a" \
        $(pkg-config --libs msgpack 2>/dev/null || echo -lmsgpackc) &&
    "$TMP/demo-static" "$FEEDCACHE_VERSION" >/dev/null &&
    ! grep -q 'NEEDED.*libfeedcache-client' <<<"$(objdump -p "$TMP/demo-static")"; then
    ok "linked against libfeedcache-client.a alone"
else
    fail "the static archive does not link or run on its own"
fi

# --- the units --------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$TMP/units"
    for f in "$DEST$FEEDCACHE_UNITDIR"/*; do
        sed -e "s|$FEEDCACHE_SBINDIR/|$DEST$FEEDCACHE_SBINDIR/|g" \
            -e "s|$FEEDCACHE_BINDIR/|$DEST$FEEDCACHE_BINDIR/|g" "$f" >"$TMP/units/${f##*/}"
    done
    # Documentation=man:... is looked up with man(1): point it at the tree.
    out=$(MANPATH=$DEST$FEEDCACHE_MANDIR systemd-analyze verify "$TMP"/units/* 2>&1) || true
    if ! command -v man >/dev/null; then
        out=$(grep -v "Command 'man " <<<"$out" || true)   # no man(1) to look pages up
    fi
    if [ -z "$out" ]; then
        ok "systemd-analyze verify: no finding"
    else
        fail "systemd-analyze verify: $out"
    fi
else
    echo "note: no systemd-analyze: the units are not verified"
fi

echo
[ "$FAILS" -eq 0 ] && echo "all ok" || echo "$FAILS failed"
[ "$FAILS" -eq 0 ]

#!/usr/bin/env bash
# Tests of scripts/check-layers.sh (meson test 'check_layers', suite unit) on
# small fake trees built in a temporary directory:
#   - a clean layout passes (exit 0), with the includes the script must
#     ignore (<...>, files that do not exist such as fc_version.h) and the
#     ones it must allow (same module, same layer across folders, downward,
#     a name relative to the including file, the public include/ folder);
#   - a cycle a -> b -> a fails (exit 1) and names both modules and files;
#   - util including feed fails (exit 1) and names both files;
#   - a folder the layer table does not list fails (exit 1);
#   - bad arguments are usage errors (exit 2).
# Needs nothing beyond what the script needs (bash, coreutils, findutils, awk).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${FEEDCACHE_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
CHECK=$REPO/scripts/check-layers.sh

T=$(mktemp -d /tmp/fc-test-check-layers.XXXXXX)
trap 'rm -rf "$T"' EXIT

FAILS=0
ok() { printf 'ok - %s\n' "$*"; }
not_ok() { printf 'not ok - %s\n' "$*"; FAILS=$((FAILS + 1)); }

# put TREE PATH [LINE...]: writes a file of the fake tree, one line each.
put() {
    local tree=$1 path=$2
    shift 2
    mkdir -p "$(dirname "$T/$tree/$path")"
    if [ $# -gt 0 ]; then printf '%s\n' "$@" >"$T/$tree/$path"; else : >"$T/$tree/$path"; fi
}

# run TREE: runs the check on TREE/src; sets RC and OUT.
run() {
    RC=0
    OUT=$(bash "$CHECK" "$T/$1/src" 2>&1) || RC=$?
    printf '%s\n' "$OUT" | sed 's/^/    /'
}

expect_rc() {
    if [ "$RC" -eq "$2" ]; then ok "$1: exit $RC"; else not_ok "$1: exit $RC, expected $2"; fi
}

# grep reads a here-string, not a pipe: with pipefail, `printf | grep -q`
# fails when grep exits at its first match before printf has written
# everything (SIGPIPE; seen under valgrind, which slows bash down).
expect_out() {
    if grep -qF -- "$2" <<<"$OUT"; then
        ok "$1: says '$2'"
    else
        not_ok "$1: does not say '$2'"
    fi
}

expect_no_out() {
    if grep -qF -- "$2" <<<"$OUT"; then
        not_ok "$1: says '$2', which it should not"
    else
        ok "$1: does not say '$2'"
    fi
}

# ---- (i) a clean layout --------------------------------------------------
put clean src/util/log.h '#include <stdio.h>'
put clean src/util/log.c '#include "util/log.h"'
put clean src/util/buf.h
put clean src/util/buf.c '#include "util/buf.h"' '  #  include "util/log.h"  /* spaced */'
put clean src/metrics/metrics.h '#include "util/buf.h"'
put clean src/store/redis/rds.h '#include "util/log.h"'
put clean src/store/redis/rds.c '#include "store/redis/rds.h"' '#include "metrics/metrics.h"'
put clean src/store/pg/pg.c '#include "store/redis/rds.h"'
put clean src/rpc/rpc_msg.h '#include <msgpack.h>'
put clean src/config/settings.c '#include "rpc/rpc_msg.h"' '#include "fc_version.h"' \
    '#include "store/pg/pg.h"'
put clean src/feed/feed_b.h '#include "store/redis/rds.h"'
put clean src/feed/feed_a.h '#include "feed_b.h"'
put clean src/feed/feed_a.c '#include "feed/feed_a.h"' '#include "config/settings.h"'
put clean src/feedcached/main.c '#include "feed/feed_a.h"' '#include "fc_version.h"'
put clean include/feedcache/client.h '#include <stdint.h>'
put clean src/client/client.c '#include "feedcache/client.h"' '#include "util/buf.h"'
put clean src/ctl/main.c '#include "feedcache/client.h"' '#include "util/log.h"'
# store/pg/pg.h does not exist: config's include of it resolves to nothing.
run clean
expect_rc "clean layout" 0
expect_out "clean layout" "check-layers: ok"

# ---- (ii) a cycle a -> b -> a ---------------------------------------------
put cycle src/util/log.h
put cycle src/feed/a.h '#include "util/log.h"'
put cycle src/feed/a.c '#include "feed/a.h"' '#include "feed/b.h"'
put cycle src/feed/b.h
put cycle src/feed/b.c '#include "feed/b.h"' '#include "feed/a.h"'
put cycle src/feed/c.c '#include "feed/a.h"'
run cycle
expect_rc "cycle" 1
expect_out "cycle" "include cycle among 2 modules: src/feed/a src/feed/b"
expect_out "cycle" "src/feed/a -> src/feed/b -> src/feed/a"
expect_out "cycle" "src/feed/a.c includes src/feed/b.h"
expect_out "cycle" "src/feed/b.c includes src/feed/a.h"
expect_no_out "cycle" "src/feed/c"
expect_no_out "cycle" "upward include"

# ---- (iii) util including feed ----------------------------------------------
put upward src/util/log.h
put upward src/util/log.c '#include "util/log.h"' '#include "feed/feed_read.h"'
put upward src/feed/feed_read.h '#include "util/log.h"'
run upward
expect_rc "util includes feed" 1
expect_out "util includes feed" \
    "upward include: src/util/log.c (util, layer 0) includes src/feed/feed_read.h (feed, layer 4)"
# The cycle log -> feed_read -> log goes through the upward include: it is
# reported once, as the upward include.
expect_no_out "util includes feed" "include cycle"

# ---- a folder with no layer ---------------------------------------------------
put unknown src/util/log.h
put unknown src/extra/thing.c '#include "util/log.h"'
run unknown
expect_rc "unlisted folder" 1
expect_out "unlisted folder" 'src/extra/thing.c is in folder "extra"'

# ---- usage -------------------------------------------------------------------------
RC=0
bash "$CHECK" "$T/no-such-dir" >/dev/null 2>&1 || RC=$?
expect_rc "missing directory" 2
RC=0
bash "$CHECK" "$T/clean/src" extra >/dev/null 2>&1 || RC=$?
expect_rc "two arguments" 2

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed"
    exit 1
fi
echo "all checks passed"

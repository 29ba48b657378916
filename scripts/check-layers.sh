#!/usr/bin/env bash
# Checks the include structure of src/: no include cycle among modules, and
# no include from a lower layer to a higher one. docs/HACKING.md explains the
# rules; scripts/test.sh runs this as one of its steps.
#
#   scripts/check-layers.sh [SRC_DIR]      (default: this repository's src/)
#
# What it reads: every `#include "..."` line of SRC_DIR/**/*.c and *.h (and of
# the public headers in SRC_DIR/../include/, when that folder exists).
# `#include <...>` lines are ignored, and so are includes that do not resolve
# to a file under SRC_DIR or SRC_DIR/../include (e.g. the generated
# fc_version.h). A name resolves as the compiler does: next to the including
# file first, then from SRC_DIR, then from include/.
#
# A module is a file path without its extension: x.c and x.h are one node.
# A module's folder is the first directory below src/ (or below include/);
# its layer comes from LAYERS below.
#
# Fails (exit 1), naming the files, on:
#   - an include from a module to a module of a higher layer;
#   - an include cycle among modules (a includes b, b includes a, directly or
#     through others): each cycle is printed, with the include lines in it.
#     Upward includes are reported as such and left out of the cycle search,
#     so that a cycle they close is not reported twice; every cycle left
#     lies within one layer;
#   - a file in a folder LAYERS does not list (add the folder to the table).
# Includes within one layer are allowed, also across folders (config may use
# rpc), as long as they make no cycle. Exit 2: usage error.
#
# Needs bash, coreutils, findutils (find, xargs), sed and awk (mawk is enough).
set -euo pipefail

# ---- the layer table ---------------------------------------------------------
# folder  layer  what it holds
# A module may include modules of its own layer or of lower layers.
LAYERS='
util        0  logging, buffers, addresses (no feedcache dependency at all)
metrics     1  the metrics registry and the Prometheus text format
store       2  Redis (store/redis) and PostgreSQL (store/pg) clients and pools
config      3  the settings table
rpc         3  msgpack-RPC framing, envelopes, server
http        3  the /metrics and /healthz HTTP server
feed        4  the feed engine
feedcached  5  the daemon: start-up, method table, health check
client      6  the caller library: above the daemon, so that no daemon module may use it
feedcache   6  include/feedcache/: the client library'"'"'s public header
ctl         7  feedcachectl, on top of the client library
'

usage() {
    echo "usage: $0 [SRC_DIR]" >&2
    exit 2
}

case "${1:-}" in
    -h | --help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
esac
[ $# -le 1 ] || usage

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${1:-$REPO/src}
[ -d "$SRC" ] || { echo "check-layers: $SRC: not a directory" >&2; exit 2; }
SRC=$(cd "$SRC" && pwd -P)
ROOT=$(dirname "$SRC")
INC=$ROOT/include
SRC_NAME=$(basename "$SRC")

# Every .c/.h file of SRC (and .h of include/), NUL-separated.
sources() {
    find "$SRC" -type f \( -name '*.c' -o -name '*.h' \) -print0
    if [ -d "$INC" ]; then find "$INC" -type f -name '*.h' -print0; fi
}

# Prints "including-file<TAB>included-file" for every include line that
# resolves, both relative to ROOT (e.g. src/feed/feed_read.c).
edges() {
    local f name dir cand path
    # FILE<TAB>NAME for every `#include "NAME"` line (blanks allowed around
    # the '#', as C allows).
    # shellcheck disable=SC2016  # awk's own $0, not the shell's
    sources | xargs -0 -r awk '
        /^[ \t]*#[ \t]*include[ \t]*"/ {
            line = $0
            sub(/^[^"]*"/, "", line)
            sub(/".*$/, "", line)
            print FILENAME "\t" line
        }' |
        while IFS=$'\t' read -r f name; do
            dir=${f%/*}
            path=
            for cand in "$dir/$name" "$SRC/$name" "$INC/$name"; do
                if [ -f "$cand" ]; then
                    path=$cand
                    break
                fi
            done
            case "$path" in
                */./* | */../*) path=$(realpath -m "$path") ;;
            esac
            case "$path" in
                "$SRC"/* | "$INC"/*) printf '%s\t%s\n' "${f#"$ROOT"/}" "${path#"$ROOT"/}" ;;
                *) ;;    # not ours (or not found): ignored
            esac
        done
}

# Every file, so that a module with no include lines still counts (and a file
# in an unknown folder is reported even when it includes nothing).
files() {
    sources | tr '\0' '\n' | sed "s|^$ROOT/||"
}

{
    printf '%s\n' "$LAYERS" | awk 'NF >= 2 && $1 !~ /^#/ { print "L", $1, $2 }'
    files | sort | awk '{ print "F", $0 }'
    edges | sort -u | awk -F '\t' '{ print "E", $1, $2 }'
} | awk -v src="$SRC_NAME" '
# Module of a file: its path without the extension.
function module(path) { sub(/\.[ch]$/, "", path); return path }
# Folder of a module: the first directory below src/ or include/.
function folder(m,   parts, n) {
    n = split(m, parts, "/")
    return n >= 3 ? parts[2] : ""
}
function sort_words(list,   a, n, i, j, t, out) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    out = ""
    for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") a[i]
    return out
}
# Tarjan: strongly connected components of the module graph.
function connect(v,   i, n, w, list, c, members) {
    index_of[v] = next_index; low[v] = next_index; next_index++
    stack[++sp] = v; on_stack[v] = 1
    n = split(adj[v], list, " ")
    for (i = 1; i <= n; i++) {
        w = list[i]
        if (!(w in index_of)) {
            connect(w)
            if (low[w] < low[v]) low[v] = low[w]
        } else if (on_stack[w] && index_of[w] < low[v]) {
            low[v] = index_of[w]
        }
    }
    if (low[v] == index_of[v]) {
        c = ++ncomp; members = ""
        do {
            w = stack[sp--]; on_stack[w] = 0; comp[w] = c
            members = members (members == "" ? "" : " ") w
        } while (w != v)
        comp_members[c] = sort_words(members)
    }
}
# The shortest cycle through s within its component (breadth first).
function shortest_cycle(s,   head, tail, q, prev, seen, v, i, n, list, w, path) {
    head = 1; tail = 0; q[++tail] = s
    while (head <= tail) {
        v = q[head++]
        n = split(adj[v], list, " ")
        for (i = 1; i <= n; i++) {
            w = list[i]
            if (comp[w] != comp[s]) continue
            if (w == s) {
                path = s
                while (v != s) { path = v " -> " path; v = prev[v] }
                return s " -> " path
            }
            if (!(w in seen)) { seen[w] = 1; prev[w] = v; q[++tail] = w }
        }
    }
    return s
}
$1 == "L" { layer[$2] = $3 + 0; next }
$1 == "F" {
    m = module($2); f = folder(m)
    if (!(m in nodes)) { nodes[m] = 1; order[++nnodes] = m }
    if (!(f in layer)) {
        problems++
        printf "no layer: %s is in folder \"%s\", which the layer table of scripts/check-layers.sh does not list\n", \
            $2, (f == "" ? "(top level)" : f)
    }
    next
}
$1 == "E" {
    from = module($2); to = module($3)
    if (from == to) next
    nedges++
    ff = folder(from); tf = folder(to)
    if ((ff in layer) && (tf in layer) && layer[ff] < layer[tf]) {
        problems++; upward++
        printf "upward include: %s (%s, layer %d) includes %s (%s, layer %d)\n", \
            $2, ff, layer[ff], $3, tf, layer[tf]
        next    # reported; cycles are looked for among the other includes
    }
    key = from SUBSEP to
    if (!(key in edge_files)) {
        adj[from] = adj[from] (adj[from] == "" ? "" : " ") to
        edge_files[key] = $2 " includes " $3
    } else {
        edge_files[key] = edge_files[key] "\n    " $2 " includes " $3
    }
    next
}
END {
    next_index = 0; sp = 0; ncomp = 0
    for (i = 1; i <= nnodes; i++)
        if (!(order[i] in index_of)) connect(order[i])
    for (c = 1; c <= ncomp; c++) {
        n = split(comp_members[c], members, " ")
        if (n < 2) continue
        problems++; cycles++
        printf "include cycle among %d modules: %s\n", n, comp_members[c]
        printf "  e.g. %s\n", shortest_cycle(members[1])
        printf "  the include lines that close it:\n"
        for (i = 1; i <= n; i++) {
            k = split(adj[members[i]], list, " ")
            for (j = 1; j <= k; j++)
                if (comp[list[j]] == c)
                    lines[++nlines] = edge_files[members[i] SUBSEP list[j]]
        }
        all = ""
        for (i = 1; i <= nlines; i++) all = all "\n    " lines[i]
        # one include line per row, sorted
        nl = split(substr(all, 2), rows, "\n")
        for (i = 2; i <= nl; i++)
            for (j = i; j > 1 && rows[j - 1] > rows[j]; j--) { t = rows[j]; rows[j] = rows[j - 1]; rows[j - 1] = t }
        for (i = 1; i <= nl; i++) print rows[i]
        delete lines; nlines = 0
    }
    if (problems) {
        what = ""
        if (upward) what = upward " upward include" (upward > 1 ? "s" : "")
        if (cycles) what = what (what == "" ? "" : ", ") cycles " include cycle" (cycles > 1 ? "s" : "")
        unlisted = problems - upward - cycles
        if (unlisted) what = what (what == "" ? "" : ", ") unlisted " file" (unlisted > 1 ? "s" : "") " in unlisted folders"
        printf "check-layers: FAILED: %s in %s/ (%d modules, %d includes between modules); rules: docs/HACKING.md\n", \
            what, src, nnodes, nedges
        exit 1
    }
    printf "check-layers: ok: %s/ has no include cycle and no upward include (%d modules, %d includes between modules)\n", \
        src, nnodes, nedges
}
'

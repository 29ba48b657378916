#!/bin/sh
# The image's entrypoint: starts feedcached with the arguments given, after
# one check. Listening beyond loopback without auth_tokens_file would let
# anyone who reaches the port publish posts, overwrite bodies and start warm
# jobs (docs/PROTOCOL.md, "Authentication"), so it refuses to start then:
#
#   docker run -v /etc/feedcache/tokens:/run/feedcache/tokens:ro \
#       -e FEEDCACHE_AUTH_TOKENS_FILE=/run/feedcache/tokens ... feedcache
#
# The listen address and the tokens file are read from the flags given
# (--listen, --auth-tokens-file, also in the --x=v form) or else from
# FEEDCACHE_LISTEN and FEEDCACHE_AUTH_TOKENS_FILE; a --config file is not
# read here, so name the tokens file with the flag or the variable. A first
# argument that is not a flag is run as a command instead (e.g.
# `docker run feedcache feedcachectl --help`).
set -eu

case "${1:-}" in
    ''|-*) ;;
    *) exec "$@" ;;
esac

listen=${FEEDCACHE_LISTEN:-127.0.0.1:7400}
tokens=${FEEDCACHE_AUTH_TOKENS_FILE:-}
prev=
for arg in "$@"; do
    case "$prev" in
        --listen) listen=$arg ;;
        --auth-tokens-file) tokens=$arg ;;
    esac
    case "$arg" in
        --help|-h|--version|-V) exec /usr/local/bin/feedcached "$@" ;;
        --listen=*) listen=${arg#--listen=} ;;
        --auth-tokens-file=*) tokens=${arg#--auth-tokens-file=} ;;
    esac
    prev=$arg
done

case "$listen" in
    unix:*|127.*|localhost:*|'[::1]':*) ;;
    *)
        if [ -z "$tokens" ]; then
            echo "feedcache-entrypoint: refusing to start: feedcached would listen on $listen" \
                 "without authentication. Mount a file of 'ROLE TOKEN' lines and set" \
                 "FEEDCACHE_AUTH_TOKENS_FILE (or --auth-tokens-file); docs/OPERATIONS.md," \
                 "\"Authentication\"." >&2
            exit 2
        fi
        ;;
esac

exec /usr/local/bin/feedcached "$@"

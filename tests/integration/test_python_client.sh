#!/usr/bin/env bash
# The Python client (clients/python) against a real feedcached: runs
#   python3 -m unittest discover clients/python/tests
# whose test_live.py starts the feedcached named by FEEDCACHED (several, on
# free 127.0.0.1 ports) against FEEDCACHE_TEST_REDIS_URL (a single Redis or
# a cluster: both are tested) and a database of its own in FEEDCACHE_TEST_PG
# (schema, demo data, a small graph), and test_wire/test_retry/test_token.py
# (no daemon: a fake server, a fake clock). See clients/python/tests/support.py.
#
# Needs FEEDCACHED (meson passes it) and FEEDCACHE_TEST_PG; exits 77
# (skipped) without the latter, or without psql, redis-cli or a python3
# that has msgpack (Debian: python3-msgpack, in scripts/install-deps.sh).
set -euo pipefail

: "${FEEDCACHED:?FEEDCACHED must name the feedcached binary}"
if [ -z "${FEEDCACHE_TEST_PG:-}" ]; then
    echo "SKIP: FEEDCACHE_TEST_PG is not set (scripts/test.sh sets it)"
    exit 77
fi
for tool in psql redis-cli; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${FEEDCACHE_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}

# The first python3 that has msgpack: PATH's, else Debian's own (a pyenv or
# venv python3 earlier in PATH does not see Debian's packages).
PY=
for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import msgpack' 2>/dev/null; then
        PY=$cand
        break
    fi
done
if [ -z "$PY" ]; then
    echo "SKIP: no python3 with msgpack (apt-get install python3-msgpack; scripts/install-deps.sh does)"
    exit 77
fi

export FEEDCACHED FEEDCACHE_SOURCE_ROOT=$REPO
export FEEDCACHE_PYTEST_REQUIRE=1    # a missing setting fails, never skips quietly
export PYTHONPATH=$REPO/clients/python${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1     # nothing written into the source tree
echo "# $("$PY" --version) ($PY), msgpack $("$PY" -c 'import msgpack; print(msgpack.version)')"
echo "# feedcached: $FEEDCACHED"
echo "# redis: ${FEEDCACHE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0 (default)}"
cd "$REPO"
exec "$PY" -m unittest discover -v clients/python/tests

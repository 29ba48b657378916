#!/usr/bin/env bash
# The compose stack's one-shot demo data loader (service demo-loader, run in
# the postgres image for its psql). Connection from PGHOST, PGPORT, PGUSER,
# PGPASSWORD, PGDATABASE.
#
#   1. applies sql/schema.sql (idempotent), so a data volume made by an older
#      version gets new indexes too;
#   2. loads scripts/demo-data.sql (1000 users, 20000 posts) when the users
#      table is empty. Not otherwise: the demo data is relative to now(), so
#      reloading it would contradict the feeds already cached in Redis. For a
#      fresh start: docker compose -p feedcache down -v.
set -euo pipefail

: "${FEEDCACHE_SCHEMA:=/feedcache/sql/schema.sql}"
: "${FEEDCACHE_DEMO_DATA:=/feedcache/demo-data.sql}"

psql_q() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$@"
}

echo "demo-loader: schema $FEEDCACHE_SCHEMA"
psql_q -f "$FEEDCACHE_SCHEMA"

users=$(psql_q -tA -c 'SELECT count(*) FROM users')
if [ "$users" != 0 ]; then
    echo "demo-loader: $users users already there; not reloading (down -v for a fresh start)"
    exit 0
fi
echo "demo-loader: loading $FEEDCACHE_DEMO_DATA"
psql_q -f "$FEEDCACHE_DEMO_DATA"
echo "demo-loader: done"

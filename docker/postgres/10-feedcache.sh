#!/usr/bin/env bash
# First-start initialisation of the PostgreSQL container (run by the official
# postgres image from /docker-entrypoint-initdb.d, as the postgres user, on
# an empty data directory only):
#
#   1. applies the feedcache schema (sql/schema.sql, mounted at $FEEDCACHE_SCHEMA)
#      to $POSTGRES_DB;
#   2. creates the login role feedcached uses ($FEEDCACHE_DB_USER, password
#      $FEEDCACHE_DB_PASSWORD) with SELECT on the three tables and nothing
#      else: the service never writes to them (docs/PROTOCOL.md,
#      "PostgreSQL, the source of truth"), so a bug cannot either.
#
# Idempotent (schema.sql is, and the role is created only when missing), so
# it may also be run by hand against an existing database:
#   PGHOST=... PGPORT=... POSTGRES_USER=postgres POSTGRES_DB=feedcache \
#   FEEDCACHE_DB_PASSWORD=... bash docker/postgres/10-feedcache.sh
# tests/integration/test_ops.sh does exactly that.
set -euo pipefail

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${FEEDCACHE_SCHEMA:=/feedcache/sql/schema.sql}"
: "${FEEDCACHE_DB_USER:=feedcache}"
: "${FEEDCACHE_DB_PASSWORD:?set FEEDCACHE_DB_PASSWORD (the password of the $FEEDCACHE_DB_USER role)}"

if [ ! -r "$FEEDCACHE_SCHEMA" ]; then
    echo "10-feedcache.sh: schema $FEEDCACHE_SCHEMA not found (mount sql/schema.sql there)" >&2
    exit 1
fi

psql_db() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
        psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "$@"
}

echo "10-feedcache.sh: applying $FEEDCACHE_SCHEMA to database $POSTGRES_DB"
psql_db -f "$FEEDCACHE_SCHEMA"

echo "10-feedcache.sh: read-only role $FEEDCACHE_DB_USER"
# Values go in as psql variables, quoted by psql (:'x' / :"x"), never pasted
# into the SQL text. \gexec runs the statement the SELECT produces, which is
# how a CREATE ROLE can be conditional without a DO block (psql variables are
# not expanded inside dollar quotes).
psql_db -v role="$FEEDCACHE_DB_USER" -v pw="$FEEDCACHE_DB_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'pw';
GRANT CONNECT ON DATABASE :"db" TO :"role";
GRANT USAGE ON SCHEMA public TO :"role";
GRANT SELECT ON users, follows, posts TO :"role";
SQL

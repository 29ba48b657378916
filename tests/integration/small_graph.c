/* The small graph of the pg_read and epoch tests: see small_graph.h. */
#include "small_graph.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

void small_graph_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

PGconn *small_graph_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", conninfo, PQerrorMessage(c));
    return c;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* A database with the schema and the graph: user 1 follows author 2, who
 * has posts 1..4 (created 1..4 s after 2026-01-01); the body of post N is
 * "pN-<tag>"; with_newest false leaves post 4 out. */
void small_graph_create(PGconn *admin, const char *name, char *conninfo, size_t cap, const char *tag,
                    bool with_newest)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    small_graph_exec(admin, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    small_graph_exec(admin, sql);
    snprintf(conninfo, cap, "%s dbname=%s", getenv("FEEDCACHE_TEST_PG"), name);
    PGconn *c = small_graph_connect(conninfo);
    char path[512];
    const char *root = getenv("FEEDCACHE_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/sql/schema.sql", root ? root : ".");
    char *schema = read_file(path);
    if (!schema)
        fail_msg("cannot read %s", path);
    small_graph_exec(c, schema);
    free(schema);
    small_graph_exec(c, "INSERT INTO users (id, handle) VALUES (1, 'reader'), (2, 'author')");
    small_graph_exec(c, "INSERT INTO follows (follower_id, followee_id) VALUES (1, 2)");
    for (int n = 1; n <= (with_newest ? 4 : 3); n++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO posts (id, author_id, body, created_at) VALUES (%d, 2, 'p%d-%s', "
                 "timestamptz '2026-01-01 00:00:00+00' + interval '%d seconds')", n, n, tag, n);
        small_graph_exec(c, sql);
    }
    PQfinish(c);
}


/* A small graph in a database of its own on the test PostgreSQL server
 * (FEEDCACHE_TEST_PG), for tests that need to know every row: user 1
 * follows author 2, whose posts 1..4 were created 1..4 s after 2026-01-01
 * with bodies "pN-<tag>". Failures are cmocka failures. */
#ifndef FC_TESTS_SMALL_GRAPH_H
#define FC_TESTS_SMALL_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

void small_graph_exec(PGconn *c, const char *sql);
PGconn *small_graph_connect(const char *conninfo);

/* (Re)creates database `name` with sql/schema.sql (FEEDCACHE_SOURCE_ROOT)
 * and the graph; with_newest false leaves post 4 out. Its conninfo goes to
 * conninfo. admin is a connection to any database of the server. */
void small_graph_create(PGconn *admin, const char *name, char *conninfo, size_t cap,
                        const char *tag, bool with_newest);

#endif

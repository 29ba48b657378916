/* PostgreSQL: libpq's asynchronous API on the libuv loop, in a small pool.
 *
 * Each connection runs one query at a time; queries wait in a bounded FIFO
 * when every connection is busy. Every statement the service sends is a
 * prepared statement from pg_queries.h, prepared on each connection right
 * after it connects. Connections reconnect with backoff and jitter.
 *
 * The calling convention is "always call back": pg_query_i64, pg_query_ids
 * and pg_query_sql* have no return value; the callback runs exactly once,
 * always later from the loop, never before the call returns. A query that
 * cannot even be queued fails through the callback like any other:
 * PG_UNAVAILABLE with "PostgreSQL is not connected", "PostgreSQL queue is
 * full" or "PostgreSQL pool closing"; PG_ERROR for a bad call (unknown
 * statement, NULL parameters). (A callback that queries again on failure should give
 * up at some point: with no connection, each retry fails again on the next
 * loop iteration.)
 *
 * Failures map to two statuses: PG_ERROR when the server rejected the
 * statement and the connection is fine (bad SQL, constraint violation);
 * PG_UNAVAILABLE when no answer could be had (connection lost or refused,
 * deadline passed, server shutting down: SQLSTATE classes 08, 53, 57, 58 or
 * a FATAL error), where retrying later may help.
 *
 * A query's deadline is timeout_ms after the call. Still queued at its
 * deadline: it fails PG_UNAVAILABLE. Still running: its connection is dropped
 * (the only way to stop the server working for a client that has gone) and
 * reconnected. When the last connection goes down, every queued query fails
 * PG_UNAVAILABLE at once rather than waiting out its deadline. At start-up,
 * before every connection's first attempt has ended, "nothing up" means "not
 * yet": queries wait for the first connection (within their deadline), so a
 * caller that sends the moment the service answers is served, not refused.
 *
 * Host names in the conninfo (host=, or PGHOST) are resolved without
 * blocking the loop, on libuv's thread pool, again before every connection
 * attempt, and libpq is handed the addresses as hostaddr= (host= is kept for
 * TLS verification and .pgpass; see pg_hosts.h). A name that does not
 * resolve is a failed attempt like a refused connection: retried with
 * backoff, and the reason is in the "not connected" refusals.
 *
 * Metrics: feedcache_pg_{queries,errors,timeouts,reconnects}_total,
 * feedcache_pg_connections, feedcache_pg_query_duration_seconds{query}. */
#ifndef FC_STORE_PG_PG_H
#define FC_STORE_PG_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "store/pg/pg_queries.h"

typedef enum {
    PG_OK = 0,          /* res holds the result (tuples or command ok) */
    PG_UNAVAILABLE,     /* not connected, connection lost, timed out, closing */
    PG_ERROR,           /* the server answered with an error (SQL, constraint) */
} pg_status_t;

/* res is NULL unless status == PG_OK, and is cleared after the callback
 * returns. errmsg is NULL when status == PG_OK. */
typedef void pg_result_fn(pg_status_t status, PGresult *res, const char *errmsg, void *privdata);

typedef struct pg_pool pg_pool_t;

typedef struct {
    int size;               /* connections, >= 1 */
    unsigned timeout_ms;    /* per query (including time queued); also connect timeout */
    unsigned max_queued;    /* queries waiting for a connection; beyond: refused */
    const char *name;       /* for logs */
    unsigned retry_min_ms;  /* first reconnect delay; 0: 100 */
    unsigned retry_max_ms;  /* reconnect delay cap; 0: 5000 */
    /* The delay doubles from retry_min_ms up to retry_max_ms, each one drawn
     * from [delay/2, delay] (util/backoff.h), and starts again from
     * retry_min_ms after a connection that stayed up for 10 s. */
} pg_pool_options_t;

/* Zero fields take defaults: size 1, timeout_ms 5000, max_queued 1024,
 * name "pg". Never returns NULL: a conninfo that does not parse makes every
 * connection attempt fail (logged), so check it first with
 * pg_conninfo_check when it comes from a user. */

pg_pool_t *pg_pool_create(uv_loop_t *loop, const char *conninfo, const pg_pool_options_t *opts);

/* Connections that are connected with every statement prepared. */
int pg_pool_ready(const pg_pool_t *pool);

/* True once every connection's first attempt has ended, connected or not:
 * from then on "nothing up" means PostgreSQL is down, not "not yet". */
bool pg_pool_settled(const pg_pool_t *pool);

/* Queries waiting for a connection (not yet sent): the backlog a new query
 * would wait behind. */
unsigned pg_pool_queued(const pg_pool_t *pool);

/* Runs prepared statement `stmt` with integer parameters $1..$n, n being
 * pg_queries[stmt].nparams (params may be NULL when n is 0); the result is in
 * text format. cb may be NULL (fire and forget). pool must not be NULL
 * (there would be no loop to call back from). */
void pg_query_i64(pg_pool_t *pool, pg_stmt_t stmt, const int64_t *params, pg_result_fn *cb,
                  void *privdata);

/* Same for a statement whose $1 is an int8[] (feed_rebuild_all, posts_by_ids):
 * $1 holds ids[0 .. nids-1] (nids may be 0: an empty array), and $2..$n are
 * rest[0 .. n-2] (rest may be NULL when n is 1). */
void pg_query_ids(pg_pool_t *pool, pg_stmt_t stmt, const int64_t *ids, size_t nids,
                  const int64_t *rest, pg_result_fn *cb, void *privdata);

/* For tests and tools only (feedcachectl, the integration tests): runs an
 * ad-hoc statement that is not in pg_queries.h, through the same queue,
 * deadline, rules and "always call back" convention as pg_query_i64 (no
 * return value; a refusal reaches cb from the loop). One statement per call
 * (extended query protocol); COPY is refused. Parameters are copied:
 * values[i] NULL is SQL NULL; lengths and formats may be NULL for all text
 * (formats[i] 1 is binary and needs lengths[i]); result_format 0 is text,
 * 1 binary. A bad call (sql NULL, nparams outside 0..65535, values NULL with
 * nparams > 0, a binary value without a length) fails PG_ERROR. cb may be
 * NULL; pool must not be NULL. The service itself sends only the prepared
 * statements of pg_queries.h, so that every SQL it runs is listed there. */
void pg_query_sql(pg_pool_t *pool, const char *sql, pg_result_fn *cb, void *privdata);
void pg_query_sql_params(pg_pool_t *pool, const char *sql, int nparams,
                         const char *const *values, const int *lengths, const int *formats,
                         int result_format, pg_result_fn *cb, void *privdata);

/* Returns 0 when libpq can parse conninfo (key=value pairs, a
 * postgresql:// URI, or a bare database name), else -1 with libpq's reason
 * in err (e.g. an unknown keyword, a missing "="). Reachability is not
 * checked. */
int pg_conninfo_check(const char *conninfo, char *err, size_t errlen);

/* Fails queued and running queries with PG_UNAVAILABLE and completes the
 * deferred failures (their callbacks all run before this returns), closes
 * every connection; the pool frees itself once its handles are closed (run
 * the loop until it has no more work). pg_query_* calls made after this
 * fail with "PostgreSQL pool closing" from the loop, until the pool is
 * freed; after that the pool must not be used. Safe to call from a pg
 * callback. */
void pg_pool_close(pg_pool_t *pool);

#endif

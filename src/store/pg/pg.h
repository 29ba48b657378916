/* PostgreSQL: libpq's asynchronous API on the libuv loop, in a small pool.
 *
 * Each connection runs one query at a time; queries wait in a bounded FIFO
 * when every connection is busy. Every statement the service sends is a
 * prepared statement from pg_queries.h, prepared on each connection right
 * after it connects. Connections reconnect with backoff and jitter.
 *
 * pg_query returns -1 at once (callback NOT called) when no connection is up
 * or the wait queue is full; otherwise 0 and the callback runs exactly once,
 * later, from the loop. */
#ifndef FC_STORE_PG_PG_H
#define FC_STORE_PG_PG_H

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
    unsigned max_queued;    /* queries waiting for a connection; beyond: -1 */
    const char *name;       /* for logs */
} pg_pool_options_t;

pg_pool_t *pg_pool_create(uv_loop_t *loop, const char *conninfo, const pg_pool_options_t *opts);

/* Connections that are connected with every statement prepared. */
int pg_pool_ready(const pg_pool_t *pool);

/* Runs prepared statement `stmt` with text-format parameters (values may be
 * NULL for SQL NULL; lengths/formats may be NULL for all-text). result_format
 * 0 = text, 1 = binary. */
int pg_query(pg_pool_t *pool, pg_stmt_t stmt, int nparams, const char *const *values,
             const int *lengths, const int *formats, int result_format,
             pg_result_fn *cb, void *privdata);

/* Fails queued and running queries with PG_UNAVAILABLE, closes every
 * connection; the pool frees itself once its handles are closed. */
void pg_pool_close(pg_pool_t *pool);

#endif

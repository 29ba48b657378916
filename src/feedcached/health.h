/* The daemon's health check, behind GET /healthz: is Redis answering, is
 * PostgreSQL answering?
 *
 * Each check sends PING on the Redis pool and runs the `ping` statement on
 * the PostgreSQL pool in parallel, and answers when both have replied or
 * timeout_ms has passed, whichever is first: done(ctx, 1, "ok"), or
 * done(ctx, 0, "redis: <why>; pg: <why>") naming only what failed (not
 * connected / timed out after N ms / the error). A reply that arrives after
 * the answer is dropped. A NULL pool is not checked. */
#ifndef FC_FEEDCACHED_HEALTH_H
#define FC_FEEDCACHED_HEALTH_H

#include <uv.h>

#include "http/http_server.h"
#include "store/pg/pg.h"
#include "store/redis/rds.h"

typedef struct health health_t;

health_t *health_create(uv_loop_t *loop, rds_pool_t *redis, pg_pool_t *pg, unsigned timeout_ms);

/* An http_health_fn: pass health_check and the health_t * to
 * http_server_start. Calls done from the loop, never before returning
 * (except when both pools are NULL: nothing to wait for). */
void health_check(void *health /* health_t * */, http_health_done_fn *done, void *ctx);

/* Answers the checks still running with "shutting down" and frees h. Call it
 * before closing the pools; checks free themselves once the pools have
 * called back and their timers are closed (keep running the loop). */
void health_destroy(health_t *h);

#endif

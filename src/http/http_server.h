/* The operations endpoint: HTTP/1.1 on libuv, serving
 *   GET|HEAD /metrics  200, the metrics registry in Prometheus text 0.0.4
 *   GET|HEAD /healthz  200 `ok\n`, or 503 with a one-line reason
 * Any other path is 404, another method on these paths 405, a malformed or
 * oversized request 400/413/431 followed by a close.
 *
 * Connections are kept alive (Prometheus reuses them) and may pipeline;
 * requests on one connection are answered one at a time, in order. A
 * connection must deliver each request within HTTP_IDLE_TIMEOUT_MS of the
 * previous answer (or of connecting); at most HTTP_MAX_CONNECTIONS are open,
 * further ones are closed at once.
 *
 * Counts feedcache_http_requests_total{path,status}, plus the gauge
 * feedcache_http_connections and feedcache_http_connections_rejected_total.
 * Everything runs on the loop's thread. */
#ifndef FC_HTTP_HTTP_SERVER_H
#define FC_HTTP_HTTP_SERVER_H

#include <stddef.h>

#include <uv.h>

#include "util/addr.h"

#define HTTP_MAX_CONNECTIONS 64
#define HTTP_IDLE_TIMEOUT_MS 30000

/* The health check's answer. reason: "ok" when healthy, else one line naming
 * what failed (copied before done returns). */
typedef void http_health_done_fn(void *ctx, int healthy, const char *reason);

/* Starts a health check and calls done(ctx, ...) exactly once, later or
 * before returning. The server copes with a connection that goes away
 * meanwhile (the late answer is dropped), so done must always be called. */
typedef void http_health_fn(void *arg, http_health_done_fn *done, void *ctx);

typedef struct http_server http_server_t;

/* Listens on addr (TCP, or unix:/path: a stale socket file left by a dead
 * process is replaced). health may be NULL: /healthz then always says ok.
 * Registers the HTTP metrics. Returns NULL with a reason in err on failure
 * (run the loop once more to release the half-made listener). */
http_server_t *http_server_start(uv_loop_t *loop, const addr_t *addr,
                                 http_health_fn *health, void *health_arg,
                                 char *err, size_t errlen);

/* Stops listening and closes every connection at once (a pending health
 * check's answer is then dropped); removes the unix socket file. The server
 * frees itself once its handles are closed: keep running the loop. Call it
 * before metrics_teardown(). */
void http_server_close(http_server_t *s);

#endif

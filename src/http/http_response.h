/* What the metrics/health endpoint answers: routing and response text.
 *
 * Pure functions, kept apart from the sockets so the unit tests can check
 * every answer byte for byte. */
#ifndef FC_HTTP_HTTP_RESPONSE_H
#define FC_HTTP_HTTP_RESPONSE_H

#include <stddef.h>

#include "util/buf.h"

#define HTTP_CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define HTTP_CT_TEXT    "text/plain; charset=utf-8"

typedef enum {
    HTTP_ROUTE_METRICS,          /* GET/HEAD /metrics */
    HTTP_ROUTE_HEALTHZ,          /* GET/HEAD /healthz */
    HTTP_ROUTE_NOT_FOUND,        /* any other path */
    HTTP_ROUTE_BAD_METHOD,       /* a known path with another method: 405 */
} http_route_t;

/* method is an enum http_method; path has no query string. */
http_route_t http_route(unsigned method, const char *path);

/* The `path` label of feedcache_http_requests_total: the route's path, or
 * "other", so that scanners probing random URLs cannot grow the registry. */
const char *http_route_label(http_route_t route);

/* Appends a whole response. The body is sent unless head_only; Content-Length
 * is len either way (a HEAD answer announces what GET would send).
 * extra_headers: NULL, or complete header lines each ending in CRLF. */
void http_response_write(buf_t *out, unsigned status, const char *content_type,
                         const char *extra_headers, const char *body, size_t len,
                         int head_only, int keep_alive);

/* Appends s as one line of text: control characters (CR, LF, ...) become
 * spaces, at most max bytes of s are used, then a newline. Keeps a backend's
 * multi-line error message a one-line health reason. */
void http_response_line(buf_t *out, const char *s, size_t max);

#endif

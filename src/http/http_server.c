#include "http/http_server.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_reader.h"
#include "http/http_response.h"
#include "metrics/metrics.h"
#include "util/buf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/unix_sock.h"

#define HTTP_BACKLOG 128
/* Bytes a connection may have buffered, unparsed, while its current request
 * is being answered; beyond this we stop reading it (back-pressure). */
#define HTTP_MAX_BUFFERED (HTTP_MAX_HEADER_BYTES + HTTP_MAX_BODY_BYTES + 4096)
#define HTTP_READ_CHUNK 4096
/* After a `Connection: close` answer we shut down our side and discard input
 * for a while before closing: closing with unread input makes the kernel send
 * a RST, which can destroy the answer before the client has read it. */
#define HTTP_LINGER_MS 2000

#define HTTP_METRICS(ACTION) \
    ACTION(http_connections, METRIC_GAUGE, \
           "Open connections to the metrics and health HTTP endpoint") \
    ACTION(http_connections_rejected_total, METRIC_COUNTER, \
           "HTTP connections closed at once because HTTP_MAX_CONNECTIONS were open")

typedef struct { HTTP_METRICS(METRIC_FIELD) } http_metrics_t;
static http_metrics_t http_metrics;

typedef union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} http_sock_t;

typedef struct http_conn http_conn_t;

/* A health check in flight. It outlives its connection if need be: closing
 * the connection clears `conn`, and the answer is then dropped. */
typedef struct {
    http_conn_t *conn;
    int head_only;
} http_pending_t;

typedef struct {
    uv_write_t req;
    http_conn_t *conn;
    buf_t data;
} http_write_t;

struct http_conn {
    http_server_t *server;
    http_sock_t sock;
    uv_timer_t timer;          /* idle timeout, then linger timeout */
    uv_shutdown_t shutdown;
    http_reader_t reader;
    buf_t in;                  /* read, not yet parsed */
    http_pending_t *pending;   /* health check being waited for */
    int busy;                  /* a request is being answered (until its write completes) */
    int keep_alive;            /* of the request being answered */
    int reading;
    int processing;            /* inside conn_process (guards re-entry) */
    int eof;                   /* the client has shut down its side */
    int draining;              /* answered with close; discarding input until closed */
    int closing;
    int handles_open;          /* sock + timer, until their close callbacks */
    list_t link;               /* in the server's conns */
};

struct http_server {
    uv_loop_t *loop;
    http_sock_t listener;
    addr_t addr;
    char name[300];            /* the address, for logs */
    http_health_fn *health;
    void *health_arg;
    metric_family_t *requests;
    list_t conns;              /* open connections (http_conn_t.link) */
    unsigned nconns;
    unsigned handles_open;     /* listener + connections not yet fully closed */
    int unlink_on_close;
    int closing;
};

static char drain_buf[HTTP_READ_CHUNK];   /* input discarded while draining */

static void conn_process(http_conn_t *c);
static void conn_close(http_conn_t *c);
static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out);
static void conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);

static void server_release(http_server_t *s)
{
    if (--s->handles_open == 0 && s->closing)
        free(s);
}

/* --- connection life cycle ------------------------------------------------ */

static void conn_handle_closed(uv_handle_t *h)
{
    http_conn_t *c = h->data;
    if (--c->handles_open > 0)
        return;
    http_server_t *s = c->server;
    http_reader_free(&c->reader);
    buf_free(&c->in);
    free(c);
    server_release(s);
}

/* Closes at once: unsent answers are dropped, a pending health answer too. */
static void conn_close(http_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->pending) {
        c->pending->conn = NULL;
        c->pending = NULL;
    }
    http_server_t *s = c->server;
    list_remove(&c->link);
    s->nconns--;
    metric_gauge_add(http_metrics.http_connections, -1);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    uv_close(&c->sock.handle, conn_handle_closed);
}

static void conn_timer_fired(uv_timer_t *t)
{
    /* Idle (no request within the timeout) or done lingering. */
    conn_close(t->data);
}

static void conn_shutdown_done(uv_shutdown_t *req, int status)
{
    /* Nothing to do: the linger timer or the client's EOF ends the
     * connection. ECANCELED here means it was closed already. */
}

/* Ends the connection after an answer with `Connection: close`. */
static void conn_finish(http_conn_t *c)
{
    if (c->eof) {
        conn_close(c);
        return;
    }
    c->draining = 1;
    buf_free(&c->in);
    if (uv_shutdown(&c->shutdown, &c->sock.stream, conn_shutdown_done) != 0) {
        conn_close(c);
        return;
    }
    if (!c->reading) {
        if (uv_read_start(&c->sock.stream, conn_alloc, conn_read) != 0) {
            conn_close(c);
            return;
        }
        c->reading = 1;
    }
    uv_timer_start(&c->timer, conn_timer_fired, HTTP_LINGER_MS, 0);
}

/* --- answers ---------------------------------------------------------------- */

static void write_done(uv_write_t *req, int status)
{
    http_write_t *w = container_of(req, http_write_t, req);
    http_conn_t *c = w->conn;
    buf_free(&w->data);
    free(w);
    if (c->closing)
        return;   /* cancelled by the close; the connection is freed after this */
    if (status < 0) {
        log_debug("http", "%s: write failed: %s", c->server->name, uv_strerror(status));
        conn_close(c);
        return;
    }
    c->busy = 0;
    if (!c->keep_alive) {
        conn_finish(c);
        return;
    }
    uv_timer_start(&c->timer, conn_timer_fired, HTTP_IDLE_TIMEOUT_MS, 0);
    conn_process(c);
}

static void count_request(http_server_t *s, http_route_t route, unsigned status)
{
    char code[16];
    snprintf(code, sizeof code, "%u", status);
    static const char *const names[] = { "path", "status" };
    const char *values[] = { http_route_label(route), code };
    metric_inc(metrics_series(s->requests, 2, names, values));
}

static void conn_respond(http_conn_t *c, http_route_t route, unsigned status,
                         const char *content_type, const char *extra_headers,
                         const char *body, size_t len, int head_only)
{
    count_request(c->server, route, status);
    http_write_t *w = fc_xmalloc(sizeof *w);
    w->conn = c;
    buf_init(&w->data);
    http_response_write(&w->data, status, content_type, extra_headers, body, len,
                        head_only, c->keep_alive);
    uv_buf_t b = uv_buf_init(w->data.data, (unsigned)w->data.len);
    int rc = uv_write(&w->req, &c->sock.stream, &b, 1, write_done);
    if (rc != 0) {
        log_debug("http", "%s: write failed: %s", c->server->name, uv_strerror(rc));
        buf_free(&w->data);
        free(w);
        conn_close(c);
    }
}

static void health_answered(void *ctx, int healthy, const char *reason)
{
    http_pending_t *p = ctx;
    http_conn_t *c = p->conn;
    int head_only = p->head_only;
    free(p);
    if (!c)
        return;   /* the connection went away while the check ran */
    c->pending = NULL;
    buf_t body;
    buf_init(&body);
    if (healthy)
        buf_puts(&body, "ok\n");
    else
        http_response_line(&body, reason && *reason ? reason : "unhealthy", 512);
    conn_respond(c, HTTP_ROUTE_HEALTHZ, healthy ? 200 : 503, HTTP_CT_TEXT, NULL,
                 body.data, body.len, head_only);
    buf_free(&body);
}

static void conn_dispatch(http_conn_t *c)
{
    http_reader_t *r = &c->reader;
    http_server_t *s = c->server;
    int head_only = r->method == HTTP_HEAD;
    http_route_t route = http_route(r->method, r->path.data);
    c->busy = 1;
    c->keep_alive = r->keep_alive && !s->closing;
    uv_timer_stop(&c->timer);

    switch (route) {
    case HTTP_ROUTE_METRICS: {
        buf_t body;
        buf_init(&body);
        metrics_render(&body);
        conn_respond(c, route, 200, HTTP_CT_METRICS, NULL, body.data, body.len, head_only);
        buf_free(&body);
        break;
    }
    case HTTP_ROUTE_HEALTHZ: {
        if (!s->health) {
            conn_respond(c, route, 200, HTTP_CT_TEXT, NULL, "ok\n", 3, head_only);
            break;
        }
        http_pending_t *p = fc_xmalloc(sizeof *p);
        p->conn = c;
        p->head_only = head_only;
        c->pending = p;
        /* May answer before returning: conn_process is guarded against the
         * re-entry, and the answer's write completes later anyway. */
        s->health(s->health_arg, health_answered, p);
        break;
    }
    case HTTP_ROUTE_NOT_FOUND:
        conn_respond(c, route, 404, HTTP_CT_TEXT, NULL, "not found\n", 10, head_only);
        break;
    case HTTP_ROUTE_BAD_METHOD:
        conn_respond(c, route, 405, HTTP_CT_TEXT, "Allow: GET, HEAD\r\n",
                     "method not allowed\n", 19, head_only);
        break;
    }
}

static void conn_reject(http_conn_t *c)
{
    http_reader_t *r = &c->reader;
    char body[128];
    int n = snprintf(body, sizeof body, "%s\n", r->error ? r->error : "bad request");
    log_debug("http", "%s: bad request: %s", c->server->name, r->error ? r->error : "?");
    c->busy = 1;
    c->keep_alive = 0;
    uv_timer_stop(&c->timer);
    conn_respond(c, HTTP_ROUTE_NOT_FOUND, r->error_status ? r->error_status : 400,
                 HTTP_CT_TEXT, NULL, body, (size_t)n, 0);
}

/* --- reading ---------------------------------------------------------------- */

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    http_conn_t *c = h->data;
    if (c->draining) {
        *out = uv_buf_init(drain_buf, sizeof drain_buf);
        return;
    }
    buf_reserve(&c->in, HTTP_READ_CHUNK);
    *out = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len - 1));
}

static void conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    http_conn_t *c = stream->data;
    if (c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && !c->draining) {
            /* A client may half-close after its last request: answer what
             * is buffered, then close (see conn_update_reading). */
            c->eof = 1;
            conn_process(c);
        } else {
            if (nread != UV_EOF)
                log_debug("http", "%s: read: %s", c->server->name, uv_strerror((int)nread));
            conn_close(c);
        }
        return;
    }
    if (nread == 0 || c->draining)
        return;
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
    conn_process(c);
}

/* Reads while the connection can take more input: stops while an answer is
 * pending and enough is buffered, so a client cannot make us hold unbounded
 * input by pipelining. */
static void conn_update_reading(http_conn_t *c)
{
    if (c->closing || c->draining)
        return;
    if (c->eof) {
        if (c->reading) {
            uv_read_stop(&c->sock.stream);
            c->reading = 0;
        }
        if (!c->busy)
            conn_close(c);
        return;
    }
    int want = c->in.len < HTTP_MAX_BUFFERED;
    if (want && !c->reading) {
        if (uv_read_start(&c->sock.stream, conn_alloc, conn_read) != 0) {
            conn_close(c);
            return;
        }
        c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop(&c->sock.stream);
        c->reading = 0;
    }
}

static void conn_process(http_conn_t *c)
{
    if (c->processing)
        return;
    c->processing = 1;
    while (!c->closing && !c->busy && c->in.len > 0) {
        size_t used = 0;
        http_read_t r = http_reader_feed(&c->reader, c->in.data, c->in.len, &used);
        buf_consume(&c->in, used);
        if (r == HTTP_READ_MORE)
            break;
        if (r == HTTP_READ_ERROR) {
            conn_reject(c);
            break;
        }
        conn_dispatch(c);
    }
    c->processing = 0;
    conn_update_reading(c);
}

/* --- listening -------------------------------------------------------------- */

static void reject_closed(uv_handle_t *h)
{
    free(h);
}

/* Over the limit: accept (or libuv keeps reporting the connection) and close. */
static void server_reject(http_server_t *s)
{
    http_sock_t *sock = fc_xmalloc(sizeof *sock);
    if (s->addr.is_unix)
        uv_pipe_init(s->loop, &sock->pipe, 0);
    else
        uv_tcp_init(s->loop, &sock->tcp);
    uv_accept(&s->listener.stream, &sock->stream);
    uv_close(&sock->handle, reject_closed);
    metric_inc(http_metrics.http_connections_rejected_total);
    log_debug("http", "%s: connection limit (%d) reached, closing a new connection",
              s->name, HTTP_MAX_CONNECTIONS);
}

static void server_accept(uv_stream_t *listener, int status)
{
    http_server_t *s = listener->data;
    if (status < 0) {
        log_warn("http", "%s: accept: %s", s->name, uv_strerror(status));
        return;
    }
    if (s->closing)
        return;
    if (s->nconns >= HTTP_MAX_CONNECTIONS) {
        server_reject(s);
        return;
    }
    http_conn_t *c = fc_xcalloc(1, sizeof *c);
    c->server = s;
    if (s->addr.is_unix)
        uv_pipe_init(s->loop, &c->sock.pipe, 0);
    else
        uv_tcp_init(s->loop, &c->sock.tcp);
    uv_timer_init(s->loop, &c->timer);
    c->sock.handle.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    http_reader_init(&c->reader);
    buf_init(&c->in);
    s->handles_open++;
    list_insert_head(&s->conns, &c->link);
    s->nconns++;
    metric_gauge_add(http_metrics.http_connections, 1);

    int rc = uv_accept(listener, &c->sock.stream);
    if (rc != 0) {
        log_warn("http", "%s: accept: %s", s->name, uv_strerror(rc));
        conn_close(c);
        return;
    }
    if (!s->addr.is_unix)
        uv_tcp_nodelay(&c->sock.tcp, 1);
    uv_timer_start(&c->timer, conn_timer_fired, HTTP_IDLE_TIMEOUT_MS, 0);
    conn_update_reading(c);
}

static void listener_closed(uv_handle_t *h)
{
    server_release(h->data);
}

static int bind_unix(http_server_t *s)
{
    int rc = uv_pipe_bind(&s->listener.pipe, s->addr.path);
    if (rc == UV_EADDRINUSE && unix_sock_probe(s->addr.path) == UNIX_SOCK_STALE) {
        log_info("http", "removing stale socket %s", s->addr.path);
        unlink(s->addr.path);
        rc = uv_pipe_bind(&s->listener.pipe, s->addr.path);
    }
    if (rc == 0)
        s->unlink_on_close = 1;
    return rc;
}

static int bind_tcp(http_server_t *s, char *err, size_t errlen)
{
    /* Start-up only, so the blocking resolution is fine here. */
    uv_getaddrinfo_t req;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%d", s->addr.port);
    int rc = uv_getaddrinfo(s->loop, &req, NULL, s->addr.host, port, &hints);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", s->addr.host, uv_strerror(rc));
        return rc;
    }
    rc = uv_tcp_bind(&s->listener.tcp, req.addrinfo->ai_addr, 0);
    uv_freeaddrinfo(req.addrinfo);
    return rc;
}

http_server_t *http_server_start(uv_loop_t *loop, const addr_t *addr,
                                 http_health_fn *health, void *health_arg,
                                 char *err, size_t errlen)
{
    http_server_t *s = fc_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->addr = *addr;
    s->health = health;
    s->health_arg = health_arg;
    list_init(&s->conns);
    addr_format(addr, s->name, sizeof s->name);

#define METRICS_TARGET (&http_metrics)
    HTTP_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET
    s->requests = metrics_family("feedcache_http_requests_total",
                                 "HTTP requests to /metrics and /healthz, by path and status",
                                 METRIC_COUNTER, NULL, 0);
    /* Series that a dashboard expects to see from the start, at zero. */
    static const char *const names[] = { "path", "status" };
    static const char *const initial[][2] = {
        { "/metrics", "200" }, { "/healthz", "200" }, { "/healthz", "503" },
    };
    for (size_t i = 0; i < sizeof initial / sizeof initial[0]; i++)
        metrics_series(s->requests, 2, names, initial[i]);

    err[0] = '\0';
    int rc = addr->is_unix ? uv_pipe_init(loop, &s->listener.pipe, 0)
                           : uv_tcp_init(loop, &s->listener.tcp);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", s->name, uv_strerror(rc));
        free(s);
        return NULL;
    }
    s->listener.handle.data = s;
    rc = addr->is_unix ? bind_unix(s) : bind_tcp(s, err, errlen);
    if (rc == 0)
        rc = uv_listen(&s->listener.stream, HTTP_BACKLOG, server_accept);
    if (rc != 0) {
        if (!err[0])
            snprintf(err, errlen, "cannot listen on %s: %s", s->name, uv_strerror(rc));
        if (s->unlink_on_close)
            unlink(s->addr.path);   /* bound, but could not listen */
        /* The listener handle exists: the server is freed once it is closed. */
        s->closing = 1;
        s->handles_open = 1;
        uv_close(&s->listener.handle, listener_closed);
        return NULL;
    }
    s->handles_open = 1;
    log_info("http", "serving /metrics and /healthz on %s", s->name);
    return s;
}

void http_server_close(http_server_t *s)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    if (s->unlink_on_close)
        unlink(s->addr.path);
    while (!list_empty(&s->conns))
        conn_close(list_entry(list_first(&s->conns), http_conn_t, link));
    uv_close(&s->listener.handle, listener_closed);
}

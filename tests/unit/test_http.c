/* Unit tests for the HTTP endpoint: the request reader, routing and response
 * text (pure), then the server itself over a unix socket in a temporary
 * directory, with a fake health check (no Redis or PostgreSQL involved). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "http/http_reader.h"
#include "http/http_response.h"
#include "http/http_server.h"
#include "metrics/metrics.h"

/* --- reader ----------------------------------------------------------------- */

static http_read_t feed_str(http_reader_t *r, const char *s, size_t *used)
{
    return http_reader_feed(r, s, strlen(s), used);
}

static void reader_simple_get(void **state)
{
    http_reader_t r;
    http_reader_init(&r);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t used;
    assert_int_equal(feed_str(&r, req, &used), HTTP_READ_REQUEST);
    assert_int_equal(used, strlen(req));
    assert_int_equal(r.method, HTTP_GET);
    assert_string_equal(r.path.data, "/metrics");
    assert_true(r.keep_alive);
    http_reader_free(&r);
}

static void reader_strips_query_and_takes_absolute_form(void **state)
{
    http_reader_t r;
    http_reader_init(&r);
    size_t used;
    assert_int_equal(feed_str(&r, "GET /metrics?x=1&y=%20#frag HTTP/1.1\r\n\r\n", &used),
                     HTTP_READ_REQUEST);
    assert_string_equal(r.path.data, "/metrics");
    assert_int_equal(feed_str(&r, "HEAD http://host:9464/healthz?a HTTP/1.1\r\n\r\n", &used),
                     HTTP_READ_REQUEST);
    assert_int_equal(r.method, HTTP_HEAD);
    assert_string_equal(r.path.data, "/healthz");
    http_reader_free(&r);
}

static void reader_one_request_at_a_time(void **state)
{
    http_reader_t r;
    http_reader_init(&r);
    const char *two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
    size_t used;
    assert_int_equal(feed_str(&r, two, &used), HTTP_READ_REQUEST);
    assert_string_equal(r.path.data, "/a");
    assert_true(r.keep_alive);
    size_t first = used;
    assert_int_equal(strncmp(two + first, "GET /b", 6), 0);
    assert_int_equal(feed_str(&r, two + first, &used), HTTP_READ_REQUEST);
    assert_string_equal(r.path.data, "/b");
    assert_false(r.keep_alive);
    assert_int_equal(first + used, strlen(two));
    http_reader_free(&r);
}

static void reader_byte_by_byte(void **state)
{
    http_reader_t r;
    http_reader_init(&r);
    const char *req = "GET /healthz?q HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\n";
    size_t n = strlen(req), used;
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(http_reader_feed(&r, req + i, 1, &used), HTTP_READ_MORE);
        assert_int_equal(used, 1);
    }
    assert_int_equal(http_reader_feed(&r, req + n - 1, 1, &used), HTTP_READ_REQUEST);
    assert_string_equal(r.path.data, "/healthz");
    http_reader_free(&r);
}

static void reader_keep_alive_rules(void **state)
{
    http_reader_t r;
    size_t used;
    http_reader_init(&r);
    assert_int_equal(feed_str(&r, "GET / HTTP/1.0\r\n\r\n", &used), HTTP_READ_REQUEST);
    assert_false(r.keep_alive);
    http_reader_free(&r);
    http_reader_init(&r);
    assert_int_equal(feed_str(&r, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &used),
                     HTTP_READ_REQUEST);
    assert_true(r.keep_alive);
    http_reader_free(&r);
}

static void reader_skips_small_body(void **state)
{
    http_reader_t r;
    http_reader_init(&r);
    size_t used;
    const char *req = "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /x HTTP/1.1\r\n\r\n";
    assert_int_equal(feed_str(&r, req, &used), HTTP_READ_REQUEST);
    assert_int_equal(r.method, HTTP_POST);
    assert_int_equal(strncmp(req + used, "GET /x", 6), 0);
    http_reader_free(&r);
}

static void reader_rejects_garbage(void **state)
{
    http_reader_t r;
    http_reader_init(&r);
    size_t used;
    assert_int_equal(feed_str(&r, "\x16\x03\x01\x02\x00 hello\r\n\r\n", &used), HTTP_READ_ERROR);
    assert_int_equal(r.error_status, 400);
    assert_non_null(r.error);
    /* Stays failed. */
    assert_int_equal(feed_str(&r, "GET / HTTP/1.1\r\n\r\n", &used), HTTP_READ_ERROR);
    http_reader_free(&r);

    http_reader_init(&r);
    assert_int_equal(feed_str(&r, "GET /a b c HTTP/1.1\r\n\r\n", &used), HTTP_READ_ERROR);
    http_reader_free(&r);
    http_reader_init(&r);
    assert_int_equal(feed_str(&r, "GET / HTTP/1.1\r\nBad Header\r\n\r\n", &used), HTTP_READ_ERROR);
    assert_int_equal(r.error_status, 400);
    http_reader_free(&r);
}

static void reader_caps_headers_and_body(void **state)
{
    http_reader_t r;
    size_t used;
    buf_t big;
    buf_init(&big);
    buf_puts(&big, "GET / HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < HTTP_MAX_HEADER_BYTES; i++)
        buf_append(&big, "a", 1);
    buf_puts(&big, "\r\n\r\n");
    http_reader_init(&r);
    assert_int_equal(http_reader_feed(&r, big.data, big.len, &used), HTTP_READ_ERROR);
    assert_int_equal(r.error_status, 431);
    http_reader_free(&r);

    /* Many small headers add up too. */
    buf_reset(&big);
    buf_puts(&big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 1000; i++)
        buf_printf(&big, "X-%d: v\r\n", i);
    buf_puts(&big, "\r\n");
    http_reader_init(&r);
    assert_int_equal(http_reader_feed(&r, big.data, big.len, &used), HTTP_READ_ERROR);
    assert_int_equal(r.error_status, 431);
    http_reader_free(&r);

    http_reader_init(&r);
    assert_int_equal(feed_str(&r, "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", &used),
                     HTTP_READ_ERROR);
    assert_int_equal(r.error_status, 413);
    http_reader_free(&r);

    /* A chunked body is counted as it arrives. */
    buf_reset(&big);
    buf_puts(&big, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 10; i++) {
        buf_printf(&big, "%x\r\n", 1000);
        for (int j = 0; j < 1000; j++)
            buf_append(&big, "b", 1);
        buf_puts(&big, "\r\n");
    }
    http_reader_init(&r);
    assert_int_equal(http_reader_feed(&r, big.data, big.len, &used), HTTP_READ_ERROR);
    assert_int_equal(r.error_status, 413);
    http_reader_free(&r);
    buf_free(&big);
}

/* --- routing and responses ---------------------------------------------- */

static void routes(void **state)
{
    assert_int_equal(http_route(HTTP_GET, "/metrics"), HTTP_ROUTE_METRICS);
    assert_int_equal(http_route(HTTP_HEAD, "/metrics"), HTTP_ROUTE_METRICS);
    assert_int_equal(http_route(HTTP_GET, "/healthz"), HTTP_ROUTE_HEALTHZ);
    assert_int_equal(http_route(HTTP_HEAD, "/healthz"), HTTP_ROUTE_HEALTHZ);
    assert_int_equal(http_route(HTTP_POST, "/healthz"), HTTP_ROUTE_BAD_METHOD);
    assert_int_equal(http_route(HTTP_DELETE, "/metrics"), HTTP_ROUTE_BAD_METHOD);
    assert_int_equal(http_route(HTTP_GET, "/"), HTTP_ROUTE_NOT_FOUND);
    assert_int_equal(http_route(HTTP_GET, "/metrics/"), HTTP_ROUTE_NOT_FOUND);
    assert_int_equal(http_route(HTTP_POST, "/nope"), HTTP_ROUTE_NOT_FOUND);
    assert_string_equal(http_route_label(HTTP_ROUTE_METRICS), "/metrics");
    assert_string_equal(http_route_label(HTTP_ROUTE_HEALTHZ), "/healthz");
    assert_string_equal(http_route_label(HTTP_ROUTE_NOT_FOUND), "other");
}

static void response_text(void **state)
{
    buf_t b;
    buf_init(&b);
    http_response_write(&b, 200, HTTP_CT_TEXT, NULL, "ok\n", 3, 0, 1);
    assert_string_equal(b.data,
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 3\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
        "ok\n");
    buf_reset(&b);
    /* HEAD: the same Content-Length, no body. */
    http_response_write(&b, 503, HTTP_CT_TEXT, "Allow: GET\r\n", "down\n", 5, 1, 0);
    assert_string_equal(b.data,
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 5\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n"
        "Allow: GET\r\n"
        "\r\n");
    buf_free(&b);
}

static void response_line_is_one_line(void **state)
{
    buf_t b;
    buf_init(&b);
    http_response_line(&b, "pg: FATAL:  no\r\nsuch\tdatabase\n\n", 512);
    assert_string_equal(b.data, "pg: FATAL:  no  such database\n");
    buf_reset(&b);
    http_response_line(&b, "abcdef", 3);
    assert_string_equal(b.data, "abc\n");
    buf_free(&b);
}

/* --- the server over a unix socket ------------------------------------------ */

typedef enum { FAKE_OK, FAKE_FAIL, FAKE_DEFER } fake_mode_t;

typedef struct {
    fake_mode_t mode;
    int calls;
    http_health_done_fn *done;   /* deferred answer */
    void *ctx;
} fake_health_t;

static void fake_health(void *arg, http_health_done_fn *done, void *ctx)
{
    fake_health_t *f = arg;
    f->calls++;
    switch (f->mode) {
    case FAKE_OK: done(ctx, 1, "ok"); break;
    case FAKE_FAIL: done(ctx, 0, "redis: not connected\n"); break;
    case FAKE_DEFER: f->done = done; f->ctx = ctx; break;
    }
}

typedef struct {
    uv_loop_t loop;
    char dir[64];
    addr_t addr;
    fake_health_t health;
    http_server_t *server;
} fixture_t;

static int server_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    snprintf(f->dir, sizeof f->dir, "/tmp/fc-test-http-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char a[128], err[256];
    snprintf(a, sizeof a, "unix:%s/http.sock", f->dir);
    assert_int_equal(addr_parse(a, &f->addr, err, sizeof err), 0);
    f->server = http_server_start(&f->loop, &f->addr, fake_health, &f->health, err, sizeof err);
    assert_non_null(f->server);
    *state = f;
    return 0;
}

static int server_teardown(void **state)
{
    fixture_t *f = *state;
    http_server_close(f->server);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    /* Every handle the server made is closed. */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    /* A deferred health answer arriving after everything is gone is dropped. */
    if (f->health.done)
        f->health.done(f->health.ctx, 1, "ok");
    assert_int_equal(access(f->addr.path, F_OK), -1);   /* socket file removed */
    rmdir(f->dir);
    metrics_teardown();
    free(f);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int client_connect(fixture_t *f)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->addr.path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void client_send(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Runs the loop until `until` returns non-zero for what the client has
 * received, the server closes (*closed), or 3 s pass. */
static void pump(fixture_t *f, int fd, buf_t *in, int (*until)(const buf_t *, void *),
                 void *arg, int *closed)
{
    double end = now_s() + 3;
    *closed = 0;
    while (now_s() < end) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        char tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n > 0)
            buf_append(in, tmp, (size_t)n);
        else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            *closed = 1;
            return;
        }
        if (until && until(in, arg))
            return;
        if (n <= 0)
            usleep(1000);
    }
}

/* Counts complete responses at the start of in; bodies are expected unless
 * the response answers a HEAD (heads[i]). */
static int count_responses(const buf_t *in, const int *heads)
{
    size_t off = 0;
    int n = 0;
    while (off < in->len) {
        const char *hdr_end = strstr(in->data + off, "\r\n\r\n");
        if (!hdr_end)
            break;
        const char *cl = strstr(in->data + off, "Content-Length: ");
        size_t len = cl && cl < hdr_end ? strtoul(cl + 16, NULL, 10) : 0;
        size_t total = (size_t)(hdr_end + 4 - (in->data + off)) + ((heads && heads[n]) ? 0 : len);
        if (off + total > in->len)
            break;
        off += total;
        n++;
    }
    return n;
}

typedef struct {
    int want;
    const int *heads;
} want_t;

static int have_responses(const buf_t *in, void *arg)
{
    want_t *w = arg;
    return count_responses(in, w->heads) >= w->want;
}

static void expect_responses(fixture_t *f, int fd, buf_t *in, int n, const int *heads)
{
    want_t w = { n, heads };
    int closed;
    pump(f, fd, in, have_responses, &w, &closed);
    assert_int_equal(count_responses(in, heads), n);
}

static void expect_closed(fixture_t *f, int fd, buf_t *in)
{
    int closed;
    pump(f, fd, in, NULL, NULL, &closed);
    assert_true(closed);
}

static void serves_metrics_and_health_on_one_connection(void **state)
{
    fixture_t *f = *state;
    metric_inc(metrics_simple("feedcache_test_total", "a test counter", METRIC_COUNTER));
    int fd = client_connect(f);
    buf_t in;
    buf_init(&in);

    client_send(fd, "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_responses(f, fd, &in, 1, NULL);
    assert_non_null(strstr(in.data, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(in.data, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(in.data, "\nfeedcache_test_total 1\n"));
    assert_non_null(strstr(in.data, "feedcache_http_requests_total{path=\"/healthz\",status=\"503\"} 0"));

    buf_reset(&in);
    client_send(fd, "GET /healthz HTTP/1.1\r\n\r\n");
    expect_responses(f, fd, &in, 1, NULL);
    assert_non_null(strstr(in.data, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(in.data, "Content-Length: 3\r\n"));
    assert_non_null(strstr(in.data, "\r\n\r\nok\n"));

    f->health.mode = FAKE_FAIL;
    buf_reset(&in);
    client_send(fd, "GET /healthz HTTP/1.1\r\n\r\n");
    expect_responses(f, fd, &in, 1, NULL);
    assert_non_null(strstr(in.data, "HTTP/1.1 503 Service Unavailable\r\n"));
    assert_non_null(strstr(in.data, "\r\n\r\nredis: not connected\n"));

    /* The requests were counted, by path and status. */
    buf_reset(&in);
    client_send(fd, "GET /metrics HTTP/1.1\r\n\r\n");
    expect_responses(f, fd, &in, 1, NULL);
    assert_non_null(strstr(in.data, "feedcache_http_requests_total{path=\"/metrics\",status=\"200\"} 1\n"));
    assert_non_null(strstr(in.data, "feedcache_http_requests_total{path=\"/healthz\",status=\"200\"} 1\n"));
    assert_non_null(strstr(in.data, "feedcache_http_requests_total{path=\"/healthz\",status=\"503\"} 1\n"));
    assert_non_null(strstr(in.data, "feedcache_http_connections 1\n"));
    assert_int_equal(f->health.calls, 2);
    buf_free(&in);
    close(fd);
}

static void head_has_length_but_no_body(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f);
    buf_t in;
    buf_init(&in);
    static const int heads[] = { 1, 0 };
    /* A HEAD, then a GET right behind it: if the HEAD had a body, the
     * second status line would not start where expected. */
    client_send(fd, "HEAD /healthz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n");
    expect_responses(f, fd, &in, 2, heads);
    const char *second = strstr(in.data, "\r\n\r\n") + 4;
    assert_non_null(strstr(in.data, "Content-Length: 3\r\n"));
    assert_int_equal(strncmp(second, "HTTP/1.1 404 Not Found\r\n", 24), 0);
    buf_free(&in);
    close(fd);
}

static void pipelined_requests_answered_in_order(void **state)
{
    fixture_t *f = *state;
    f->health.mode = FAKE_DEFER;
    int fd = client_connect(f);
    buf_t in;
    buf_init(&in);
    client_send(fd, "GET /healthz HTTP/1.1\r\n\r\n"
                    "POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                    "GET /missing HTTP/1.1\r\n\r\n"
                    "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    /* Nothing may overtake the health check that has not answered yet. */
    int closed;
    pump(f, fd, &in, NULL, NULL, &closed);   /* runs the full 3 s */
    assert_false(closed);
    assert_int_equal(in.len, 0);
    assert_int_equal(f->health.calls, 1);

    f->health.mode = FAKE_OK;
    http_health_done_fn *done = f->health.done;
    f->health.done = NULL;
    done(f->health.ctx, 0, "pg: timed out after 800 ms");
    expect_responses(f, fd, &in, 4, NULL);
    const char *p = in.data;
    const char *expect[] = { "HTTP/1.1 503", "HTTP/1.1 405", "HTTP/1.1 404", "HTTP/1.1 200" };
    for (int i = 0; i < 4; i++) {
        p = strstr(p, expect[i]);
        assert_non_null(p);
    }
    assert_non_null(strstr(in.data, "Allow: GET, HEAD\r\n"));
    assert_non_null(strstr(in.data, "pg: timed out after 800 ms\n"));
    assert_non_null(strstr(p, "Connection: close\r\n"));
    /* Connection: close is honoured. */
    expect_closed(f, fd, &in);
    buf_free(&in);
    close(fd);
}

static void client_gone_while_health_pending(void **state)
{
    fixture_t *f = *state;
    f->health.mode = FAKE_DEFER;
    int fd = client_connect(f);
    buf_t in;
    buf_init(&in);
    client_send(fd, "GET /healthz HTTP/1.1\r\n\r\n");
    double end = now_s() + 2;
    while (!f->health.done && now_s() < end) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_non_null(f->health.done);
    /* The server sees EOF; the answer then goes to a closed peer (EPIPE). */
    close(fd);
    for (int i = 0; i < 50; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    /* Late answer: must be dropped quietly (valgrind checks the rest). */
    http_health_done_fn *done = f->health.done;
    f->health.done = NULL;
    done(f->health.ctx, 1, "ok");
    uv_run(&f->loop, UV_RUN_NOWAIT);
    buf_free(&in);
}

static void server_closed_while_health_pending(void **state)
{
    fixture_t *f = *state;
    f->health.mode = FAKE_DEFER;
    int fd = client_connect(f);
    client_send(fd, "HEAD /healthz HTTP/1.1\r\n\r\n");
    double end = now_s() + 2;
    while (!f->health.done && now_s() < end) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_non_null(f->health.done);
    /* The teardown closes the server first, then answers. */
    close(fd);
}

static void half_close_still_gets_answers(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f);
    buf_t in;
    buf_init(&in);
    client_send(fd, "GET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n");
    shutdown(fd, SHUT_WR);
    expect_closed(f, fd, &in);
    assert_int_equal(count_responses(&in, NULL), 2);
    buf_free(&in);
    close(fd);
}

static void malformed_gets_400_and_close(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f);
    buf_t in;
    buf_init(&in);
    client_send(fd, "GET /metrics HTTP/1.1\r\n\r\nHELLO\x01\x02 what\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    expect_closed(f, fd, &in);
    assert_int_equal(count_responses(&in, NULL), 2);
    const char *second = strstr(in.data, "HTTP/1.1 400 Bad Request\r\n");
    assert_non_null(second);
    assert_non_null(strstr(second, "Connection: close\r\n"));
    buf_free(&in);
    close(fd);

    /* Oversized headers: 431, then close, even while more keeps coming. */
    fd = client_connect(f);
    buf_init(&in);
    client_send(fd, "GET /metrics HTTP/1.1\r\nX-Junk: ");
    char junk[1024];
    memset(junk, 'j', sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    for (int i = 0; i < 10; i++)
        client_send(fd, junk);
    expect_responses(f, fd, &in, 1, NULL);
    assert_non_null(strstr(in.data ? in.data : "", "HTTP/1.1 431 "));
    expect_closed(f, fd, &in);
    buf_free(&in);
    close(fd);
}

static void connection_limit(void **state)
{
    fixture_t *f = *state;
    int fds[HTTP_MAX_CONNECTIONS + 1];
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
        fds[i] = client_connect(f);
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    buf_t in;
    buf_init(&in);
    fds[HTTP_MAX_CONNECTIONS] = client_connect(f);
    expect_closed(f, fds[HTTP_MAX_CONNECTIONS], &in);
    assert_int_equal(in.len, 0);
    /* The ones within the limit still work. */
    client_send(fds[0], "GET /metrics HTTP/1.1\r\n\r\n");
    expect_responses(f, fds[0], &in, 1, NULL);
    assert_non_null(strstr(in.data, "feedcache_http_connections_rejected_total 1\n"));
    assert_non_null(strstr(in.data, "feedcache_http_connections 64\n"));
    for (int i = 0; i <= HTTP_MAX_CONNECTIONS; i++)
        close(fds[i]);
    buf_free(&in);
}

static void stale_unix_socket_is_replaced(void **state)
{
    fixture_t *f = *state;
    char err[256];
    /* A live server's socket is not taken over. */
    http_server_t *second = http_server_start(&f->loop, &f->addr, NULL, NULL, err, sizeof err);
    assert_null(second);
    assert_non_null(strstr(err, "address already in use"));
    uv_run(&f->loop, UV_RUN_NOWAIT);

    /* A dead one's is: make a socket file nobody listens on. */
    char path[100];
    snprintf(path, sizeof path, "%.60s/stale.sock", f->dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);
    addr_t a;
    char spec[160];
    snprintf(spec, sizeof spec, "unix:%s", path);
    assert_int_equal(addr_parse(spec, &a, err, sizeof err), 0);
    second = http_server_start(&f->loop, &a, NULL, NULL, err, sizeof err);
    assert_non_null(second);
    http_server_close(second);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(access(path, F_OK), -1);
}

static void tcp_listener(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    addr_t a;
    char err[256];
    assert_int_equal(addr_parse("127.0.0.1:16610", &a, err, sizeof err), 0);
    http_server_t *s = http_server_start(&loop, &a, NULL, NULL, err, sizeof err);
    if (!s) {
        /* Someone else holds the port: not this module's failure. */
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        metrics_teardown();
        skip();
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    uv_ip4_addr("127.0.0.1", 16610, &sin);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    const char *req = "GET /healthz HTTP/1.0\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    buf_t in;
    buf_init(&in);
    double end = now_s() + 3;
    for (;;) {
        uv_run(&loop, UV_RUN_NOWAIT);
        char tmp[512];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n > 0)
            buf_append(&in, tmp, (size_t)n);
        else if (n == 0 || now_s() > end)
            break;
        else
            usleep(1000);
    }
    /* HTTP/1.0 without keep-alive: answered, then closed. */
    assert_non_null(in.data);
    assert_non_null(strstr(in.data, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(in.data, "Connection: close\r\n\r\nok\n"));
    close(fd);
    buf_free(&in);
    http_server_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    metrics_teardown();
}

static void listen_failure_is_reported(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    addr_t a;
    char err[256];
    assert_int_equal(addr_parse("unix:/nonexistent-dir/x.sock", &a, err, sizeof err), 0);
    assert_null(http_server_start(&loop, &a, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "unix:/nonexistent-dir/x.sock"));
    assert_int_equal(addr_parse("192.0.2.1:16611", &a, err, sizeof err), 0);   /* not ours */
    assert_null(http_server_start(&loop, &a, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "192.0.2.1:16611"));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    metrics_teardown();
}

int main(void)
{
    /* As in the daemon: a peer that has gone must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_simple_get),
        cmocka_unit_test(reader_strips_query_and_takes_absolute_form),
        cmocka_unit_test(reader_one_request_at_a_time),
        cmocka_unit_test(reader_byte_by_byte),
        cmocka_unit_test(reader_keep_alive_rules),
        cmocka_unit_test(reader_skips_small_body),
        cmocka_unit_test(reader_rejects_garbage),
        cmocka_unit_test(reader_caps_headers_and_body),
        cmocka_unit_test(routes),
        cmocka_unit_test(response_text),
        cmocka_unit_test(response_line_is_one_line),
        cmocka_unit_test_setup_teardown(serves_metrics_and_health_on_one_connection,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(head_has_length_but_no_body, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(pipelined_requests_answered_in_order,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(client_gone_while_health_pending,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(server_closed_while_health_pending,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(half_close_still_gets_answers, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(malformed_gets_400_and_close, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(connection_limit, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(stale_unix_socket_is_replaced,
                                        server_setup, server_teardown),
        cmocka_unit_test(tcp_listener),
        cmocka_unit_test(listen_failure_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

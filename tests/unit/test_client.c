/* Unit tests for the client library, against a fake server on a thread in
 * this process (loopback or a unix socket): framing, pipelining with
 * out-of-order and byte-by-byte responses, error fields, timeouts, closed
 * and hostile servers, and the no-deadlock guarantee of flush. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "feedcache/client.h"

/* --- the fake server ----------------------------------------------------- */

typedef enum {
    FAKE_BATCH,      /* gather `expect` requests, answer them in order (or reversed), byte by byte */
    FAKE_SILENT,     /* read everything, never answer */
    FAKE_CLOSE,      /* close after the first request */
    FAKE_GARBAGE,    /* answer the first request with a byte that is not msgpack */
    FAKE_HUGE,       /* answer with a str32 declaring 100 MiB, then stream zeros */
    FAKE_IMMEDIATE,  /* answer each request at once with a 1 KiB result, never reading ahead */
} fake_mode_t;

typedef struct {
    fake_mode_t mode;
    int expect;
    bool reverse;
    int lfd;
    char addr[128];
    pthread_t thread;
    int notifications;    /* read by the test after join */
    int requests;
} fake_t;

typedef struct {
    uint32_t msgid;
    char method[32];
    msgpack_sbuffer params;   /* params re-packed, for "echo" */
} fake_req_t;

static int write_all(int fd, const void *p, size_t n, bool bytewise)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, bytewise ? 1 : n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static void fake_answer(int fd, const fake_req_t *rq, bool bytewise)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_uint32(&pk, rq->msgid);
    if (strcmp(rq->method, "ping") == 0) {
        msgpack_pack_nil(&pk);
        msgpack_pack_str_with_body(&pk, "pong", 4);
    } else if (strcmp(rq->method, "echo") == 0) {
        msgpack_pack_nil(&pk);
        msgpack_sbuffer_write(&sb, rq->params.data, rq->params.size);
    } else if (strcmp(rq->method, "strerr") == 0) {
        msgpack_pack_str_with_body(&pk, "plain", 5);
        msgpack_pack_nil(&pk);
    } else {
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str_with_body(&pk, "code", 4);
        msgpack_pack_str_with_body(&pk, "NOT_FOUND", 9);
        msgpack_pack_str_with_body(&pk, "message", 7);
        msgpack_pack_str_with_body(&pk, "no such method", 14);
        msgpack_pack_str_with_body(&pk, "retry_after_ms", 14);
        msgpack_pack_int(&pk, 5);
        msgpack_pack_nil(&pk);
    }
    write_all(fd, sb.data, sb.size, bytewise);
    msgpack_sbuffer_destroy(&sb);
}

static void fake_big_answer(int fd, uint32_t msgid)
{
    static char payload[1024];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_uint32(&pk, msgid);
    msgpack_pack_nil(&pk);
    msgpack_pack_bin_with_body(&pk, payload, sizeof payload);
    write_all(fd, sb.data, sb.size, false);
    msgpack_sbuffer_destroy(&sb);
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    msgpack_unpacker unp;
    msgpack_unpacker_init(&unp, 4096);
    fake_req_t *reqs = calloc((size_t)(f->expect > 0 ? f->expect : 1), sizeof *reqs);
    int nreqs = 0;
    bool done = false;
    while (!done) {
        msgpack_unpacker_reserve_buffer(&unp, 4096);
        ssize_t n = recv(fd, msgpack_unpacker_buffer(&unp), 4096, 0);
        if (n <= 0)
            break;
        msgpack_unpacker_buffer_consumed(&unp, (size_t)n);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        while (!done && msgpack_unpacker_next(&unp, &u) == MSGPACK_UNPACK_SUCCESS) {
            msgpack_object *a = u.data.via.array.ptr;
            if (a[0].via.u64 == 2) {
                f->notifications++;
                continue;
            }
            f->requests++;
            fake_req_t rq = { .msgid = (uint32_t)a[1].via.u64 };
            snprintf(rq.method, sizeof rq.method, "%.*s", (int)a[2].via.str.size, a[2].via.str.ptr);
            msgpack_sbuffer_init(&rq.params);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &rq.params, msgpack_sbuffer_write);
            msgpack_pack_object(&pk, a[3]);
            switch (f->mode) {
            case FAKE_BATCH:
                reqs[nreqs++] = rq;
                if (nreqs == f->expect) {
                    for (int i = 0; i < nreqs; i++)
                        fake_answer(fd, &reqs[f->reverse ? nreqs - 1 - i : i], true);
                    for (int i = 0; i < nreqs; i++)
                        msgpack_sbuffer_destroy(&reqs[i].params);
                    nreqs = 0;
                }
                continue;   /* reqs owns rq.params now */
            case FAKE_SILENT:
                break;
            case FAKE_CLOSE:
                done = true;
                break;
            case FAKE_GARBAGE:
                write_all(fd, "\xc1", 1, false);
                done = true;
                break;
            case FAKE_HUGE: {
                static char zeros[65536];
                write_all(fd, "\x94\x01\x01\xc0\xdb\x06\x40\x00\x00", 9, false);
                while (write_all(fd, zeros, sizeof zeros, false) == 0)
                    ;
                done = true;
                break;
            }
            case FAKE_IMMEDIATE:
                fake_big_answer(fd, rq.msgid);
                break;
            }
            msgpack_sbuffer_destroy(&rq.params);
        }
        msgpack_unpacked_destroy(&u);
    }
    for (int i = 0; i < nreqs; i++)
        msgpack_sbuffer_destroy(&reqs[i].params);
    free(reqs);
    msgpack_unpacker_destroy(&unp);
    close(fd);
    return NULL;
}

static void fake_start_on(fake_t *f, fake_mode_t mode, bool use_unix)
{
    memset(f, 0, sizeof *f);
    f->mode = mode;
    if (use_unix) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        snprintf(sun.sun_path, sizeof sun.sun_path, "/tmp/fc-test-client-%d.sock", (int)getpid());
        unlink(sun.sun_path);
        f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof sun), 0);
        snprintf(f->addr, sizeof f->addr, "unix:%s", sun.sun_path);
    } else {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        f->lfd = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
        socklen_t len = sizeof sin;
        getsockname(f->lfd, (struct sockaddr *)&sin, &len);
        snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", ntohs(sin.sin_port));
    }
    assert_int_equal(listen(f->lfd, 8), 0);
}

static void fake_run(fake_t *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_start(fake_t *f, fake_mode_t mode, int expect, bool reverse)
{
    fake_start_on(f, mode, false);
    f->expect = expect;
    f->reverse = reverse;
    fake_run(f);
}

static void fake_join(fake_t *f)
{
    pthread_join(f->thread, NULL);
    close(f->lfd);
    if (strncmp(f->addr, "unix:", 5) == 0)
        unlink(f->addr + 5);
}

static fc_client_t *connect_ok(const fake_t *f, int timeout_ms)
{
    char err[256];
    fc_client_t *c = fc_client_connect(f->addr, timeout_ms, err, sizeof err);
    if (!c)
        fail_msg("connect %s: %s", f->addr, err);
    return c;
}

/* --- tests --------------------------------------------------------------- */

static void pipelined_pings_come_back_reversed_byte_by_byte(void **state)
{
    fake_t f;
    enum { N = 20 };
    fake_start(&f, FAKE_BATCH, N, true);
    fc_client_t *c = connect_ok(&f, 5000);
    uint32_t ids[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(fc_client_send(c, "ping", NULL, &ids[i]), FC_OK);
    for (int i = N - 1; i >= 0; i--) {
        fc_response_t r;
        assert_int_equal(fc_client_recv(c, &r), FC_OK);
        assert_int_equal(r.msgid, ids[i]);
        assert_true(r.ok);
        assert_true(fc_obj_str_eq(&r.result, "pong"));
        assert_int_equal(r.retry_after_ms, -1);
        fc_response_free(&r);
    }
    fc_client_close(c);
    fake_join(&f);
}

static void call_keeps_other_responses_for_recv(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_BATCH, 3, false);
    fc_client_t *c = connect_ok(&f, 5000);
    uint32_t a, b;
    assert_int_equal(fc_client_send(c, "ping", NULL, &a), FC_OK);
    assert_int_equal(fc_client_send(c, "nope", NULL, &b), FC_OK);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_OK);
    assert_int_equal(r.msgid, b + 1);
    fc_response_free(&r);
    assert_int_equal(fc_client_recv(c, &r), FC_OK);
    assert_int_equal(r.msgid, a);
    fc_response_free(&r);
    assert_int_equal(fc_client_recv(c, &r), FC_OK);
    assert_int_equal(r.msgid, b);
    assert_false(r.ok);
    fc_response_free(&r);
    fc_client_close(c);
    fake_join(&f);
}

static void error_fields_are_parsed(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_BATCH, 1, false);
    fc_client_t *c = connect_ok(&f, 5000);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "nope", NULL, &r), FC_OK);
    assert_false(r.ok);
    assert_string_equal(r.code, "NOT_FOUND");
    assert_string_equal(r.message, "no such method");
    assert_int_equal(r.retry_after_ms, 5);
    assert_int_equal(r.result.type, MSGPACK_OBJECT_NIL);
    fc_response_free(&r);
    fc_response_free(&r);  /* twice is harmless */
    fc_client_close(c);
    fake_join(&f);

    fake_start(&f, FAKE_BATCH, 1, false);
    c = connect_ok(&f, 5000);
    assert_int_equal(fc_client_call(c, "strerr", NULL, &r), FC_OK);
    assert_false(r.ok);
    assert_string_equal(r.code, "");
    assert_string_equal(r.message, "plain");
    fc_response_free(&r);
    fc_client_close(c);
    fake_join(&f);
}

static void params_are_packed_as_one_map(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_BATCH, 1, false);
    fc_client_t *c = connect_ok(&f, 5000);
    fc_response_t r;

    /* No params: [] */
    assert_int_equal(fc_client_call(c, "echo", NULL, &r), FC_OK);
    assert_int_equal(r.result.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(r.result.via.array.size, 0);
    fc_response_free(&r);

    fc_params_t p;
    fc_params_init(&p);
    int64_t ids[] = { 1, 2, 9007199254740993LL };
    fc_params_int(&p, "user_id", 42);
    fc_params_int(&p, "neg", -7);
    fc_params_str(&p, "cursor", "abc");
    fc_params_bool(&p, "hydrate", false);
    fc_params_nil(&p, "limit");
    fc_params_double(&p, "rate", 2.5);
    fc_params_int_array(&p, "user_ids", ids, 3);
    assert_int_equal(fc_client_call(c, "echo", &p, &r), FC_OK);
    fc_params_free(&p);
    assert_int_equal(r.result.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(r.result.via.array.size, 1);
    const msgpack_object *m = &r.result.via.array.ptr[0];
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m->via.map.size, 7);
    int64_t v;
    bool b;
    double d;
    assert_int_equal(fc_obj_int(fc_obj_get(m, "user_id"), &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(fc_obj_int(fc_obj_get(m, "neg"), &v), 0);
    assert_int_equal(v, -7);
    assert_true(fc_obj_str_eq(fc_obj_get(m, "cursor"), "abc"));
    assert_int_equal(fc_obj_bool(fc_obj_get(m, "hydrate"), &b), 0);
    assert_false(b);
    /* Booleans are not integers, nil is not anything. */
    assert_int_equal(fc_obj_int(fc_obj_get(m, "hydrate"), &v), -1);
    assert_int_equal(fc_obj_get(m, "limit")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(fc_obj_int(fc_obj_get(m, "limit"), &v), -1);
    assert_int_equal(fc_obj_double(fc_obj_get(m, "rate"), &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(fc_obj_double(fc_obj_get(m, "user_id"), &d), 0);
    assert_true(d == 42.0);
    const msgpack_object *arr = fc_obj_get(m, "user_ids");
    assert_int_equal(arr->via.array.size, 3);
    assert_int_equal(fc_obj_int(&arr->via.array.ptr[2], &v), 0);
    assert_true(v == 9007199254740993LL);
    /* Missing keys and NULLs chain without crashing. */
    assert_null(fc_obj_get(m, "absent"));
    assert_null(fc_obj_get(NULL, "x"));
    assert_null(fc_obj_get(arr, "x"));
    assert_int_equal(fc_obj_int(NULL, &v), -1);
    assert_null(fc_obj_strdup(fc_obj_get(m, "user_id")));
    char *s = fc_obj_strdup(fc_obj_get(m, "cursor"));
    assert_string_equal(s, "abc");
    free(s);
    fc_response_free(&r);
    fc_client_close(c);
    fake_join(&f);
}

static void notifications_get_no_response(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_BATCH, 1, false);
    fc_client_t *c = connect_ok(&f, 5000);
    assert_int_equal(fc_client_notify(c, "ping", NULL), FC_OK);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_OK);
    assert_int_equal(r.msgid, 1);
    fc_response_free(&r);
    fc_client_close(c);
    fake_join(&f);
    assert_int_equal(f.notifications, 1);
    assert_int_equal(f.requests, 1);
}

static void corked_sends_go_out_on_recv(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_BATCH, 64, false);
    fc_client_t *c = connect_ok(&f, 5000);
    fc_client_set_cork(c, true);
    for (int i = 0; i < 64; i++)
        assert_int_equal(fc_client_send(c, "ping", NULL, NULL), FC_OK);
    for (uint32_t i = 1; i <= 64; i++) {
        fc_response_t r;
        assert_int_equal(fc_client_recv(c, &r), FC_OK);
        assert_int_equal(r.msgid, i);
        fc_response_free(&r);
    }
    fc_client_close(c);
    fake_join(&f);
}

static void silent_server_times_out_and_connection_survives(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_SILENT, 0, false);
    fc_client_t *c = connect_ok(&f, 100);
    fc_response_t r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 90 && ms < 2000);
    assert_non_null(strstr(fc_client_error(c), "timed out after 100 ms"));
    fc_response_free(&r);
    /* Still usable: a send works. */
    assert_int_equal(fc_client_send(c, "ping", NULL, NULL), FC_OK);
    fc_client_close(c);
    fake_join(&f);
}

static void closed_connection_is_reported(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_CLOSE, 0, false);
    fc_client_t *c = connect_ok(&f, 5000);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_ECLOSED);
    assert_non_null(strstr(fc_client_error(c), "closed"));
    /* Later sends fail fast instead of hanging. */
    fake_join(&f);
    int rc = FC_OK;
    for (int i = 0; i < 100 && rc == FC_OK; i++)
        rc = fc_client_send(c, "ping", NULL, NULL);
    assert_int_equal(rc, FC_ECLOSED);
    assert_int_equal(fc_client_recv(c, &r), FC_ECLOSED);
    fc_client_close(c);
}

static void garbage_from_server_is_a_protocol_error(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_GARBAGE, 0, false);
    fc_client_t *c = connect_ok(&f, 5000);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_EPROTO);
    assert_non_null(strstr(fc_client_error(c), "not msgpack"));
    assert_int_equal(fc_client_send(c, "ping", NULL, NULL), FC_EPROTO);
    fc_client_close(c);
    fake_join(&f);
}

static void oversized_response_is_refused(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_HUGE, 0, false);
    fc_client_t *c = connect_ok(&f, 10000);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_EPROTO);
    assert_non_null(strstr(fc_client_error(c), "larger than 64 MiB"));
    fc_client_close(c);   /* the fake's send now fails and it exits */
    fake_join(&f);
}

/* The fake answers each request with 1 KiB before reading the next one, and
 * the client writes ~30 MiB before reading anything: without reading while it
 * waits to write, both sides would block forever. */
static void writing_a_lot_while_responses_pile_up_does_not_deadlock(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_IMMEDIATE, 0, false);
    fc_client_t *c = connect_ok(&f, 10000);
    enum { N = 30000 };
    char blob[1000];
    memset(blob, 'x', sizeof blob - 1);
    blob[sizeof blob - 1] = '\0';
    fc_params_t p;
    fc_params_init(&p);
    fc_params_str(&p, "blob", blob);
    for (int i = 0; i < N; i++)
        assert_int_equal(fc_client_send(c, "echo", &p, NULL), FC_OK);
    fc_params_free(&p);
    for (uint32_t i = 1; i <= N; i++) {
        fc_response_t r;
        assert_int_equal(fc_client_recv(c, &r), FC_OK);
        assert_int_equal(r.msgid, i);
        assert_int_equal(r.result.type, MSGPACK_OBJECT_BIN);
        fc_response_free(&r);
    }
    fc_client_close(c);
    fake_join(&f);
}

/* A caller with its own poll(): the fd polls readable once an answer is
 * there, recv at timeout 0 takes it, and then reports FC_ETIMEDOUT (nothing
 * more buffered) without blocking. */
static void fd_polls_readable_when_an_answer_arrives(void **state)
{
    fake_t f;
    fake_start(&f, FAKE_IMMEDIATE, 0, false);
    fc_client_t *c = connect_ok(&f, 5000);
    int fd = fc_client_fd(c);
    assert_true(fd >= 0);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_int_equal(fc_client_send(c, "echo", NULL, NULL), FC_OK);
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    fc_client_set_timeout(c, 0);
    fc_response_t r;
    int rc;
    while ((rc = fc_client_recv(c, &r)) == FC_ETIMEDOUT)
        assert_int_equal(poll(&pfd, 1, 5000), 1);     /* the rest of a 1 KiB answer */
    assert_int_equal(rc, FC_OK);
    assert_int_equal(r.msgid, 1);
    fc_response_free(&r);
    assert_int_equal(fc_client_recv(c, &r), FC_ETIMEDOUT);
    fc_client_close(c);
    fake_join(&f);
}

static void unix_socket_works(void **state)
{
    fake_t f;
    fake_start_on(&f, FAKE_BATCH, true);
    f.expect = 1;
    fake_run(&f);
    fc_client_t *c = connect_ok(&f, 5000);
    assert_string_equal(fc_client_addr(c), f.addr);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_OK);
    assert_true(fc_obj_str_eq(&r.result, "pong"));
    fc_response_free(&r);
    fc_client_close(c);
    fake_join(&f);
}

static void connect_errors_say_why(void **state)
{
    char err[256];
    assert_null(fc_client_connect("nonsense", 1000, err, sizeof err));
    assert_non_null(strstr(err, "bad address 'nonsense'"));
    assert_null(fc_client_connect("unix:/nonexistent/fc.sock", 1000, err, sizeof err));
    assert_non_null(strstr(err, "No such file"));

    /* A port nobody listens on: bind one, read it back, close it. */
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    char addr[64];
    snprintf(addr, sizeof addr, "localhost:%d", ntohs(sin.sin_port));
    assert_null(fc_client_connect(addr, 1000, err, sizeof err));
    assert_non_null(strstr(err, "refused"));

    fc_client_t *c = NULL;
    fake_t f;
    fake_start(&f, FAKE_BATCH, 1, false);
    c = connect_ok(&f, 1000);
    assert_int_equal(fc_client_send(c, "", NULL, NULL), FC_EARG);
    fc_client_close(c);
    fake_join(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipelined_pings_come_back_reversed_byte_by_byte),
        cmocka_unit_test(call_keeps_other_responses_for_recv),
        cmocka_unit_test(error_fields_are_parsed),
        cmocka_unit_test(params_are_packed_as_one_map),
        cmocka_unit_test(notifications_get_no_response),
        cmocka_unit_test(corked_sends_go_out_on_recv),
        cmocka_unit_test(silent_server_times_out_and_connection_survives),
        cmocka_unit_test(closed_connection_is_reported),
        cmocka_unit_test(garbage_from_server_is_a_protocol_error),
        cmocka_unit_test(oversized_response_is_refused),
        cmocka_unit_test(writing_a_lot_while_responses_pile_up_does_not_deadlock),
        cmocka_unit_test(fd_polls_readable_when_an_answer_arrives),
        cmocka_unit_test(unix_socket_works),
        cmocka_unit_test(connect_errors_say_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

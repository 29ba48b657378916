/* RPC integration tests, written against the contract (section 3: framing,
 * envelopes, errors, hostile input; section 1: shutdown; section 4: stats).
 *
 * Every test gets its own feedcached (harness.c), so a crash is pinned on
 * the input that caused it: the teardown fails the test when the daemon is
 * no longer running, or does not exit 0 within 10 s of SIGTERM, and prints
 * the daemon's log whenever a test did not finish. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "feedcache/client.h"
#include "harness.h"

#define TIMEOUT_MS 5000

typedef struct {
    harness_daemon_t *d;
    bool finished;     /* the test body reached its end */
    bool stopped;      /* the test stopped the daemon itself */
} fixture_t;

/* --- fixture ------------------------------------------------------------- */

static int start_with(void **state, const char *const *extra)
{
    fixture_t *f = calloc(1, sizeof *f);
    char err[4096];
    f->d = harness_daemon_start(extra, err, sizeof err);
    if (!f->d) {
        fprintf(stderr, "cannot start feedcached: %s\n", err);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start_with(state, NULL);
}

static int setup_small_frames(void **state)
{
    const char *const extra[] = { "--max-frame", "4096", NULL };
    return start_with(state, extra);
}

static char unix_path[108];

static int setup_unix(void **state)
{
    snprintf(unix_path, sizeof unix_path, "unix:/tmp/fc-test-rpc-%d.sock", (int)getpid());
    unlink(unix_path + 5);
    const char *const extra[] = { "--listen", unix_path, NULL };
    return start_with(state, extra);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc = 0;
    if (!f->stopped) {
        if (!harness_daemon_alive(f->d)) {
            fprintf(stderr, "feedcached died during the test (status %d)\n", f->d->status);
            rc = -1;
        } else {
            int st = harness_daemon_stop(f->d, 10000);
            if (st != 0) {
                fprintf(stderr, "feedcached did not exit 0 within 10 s of SIGTERM (status %d)\n", st);
                rc = -1;
            }
        }
    }
    if (rc != 0 || !f->finished)
        harness_daemon_dump_log(f->d, rc != 0 ? "bad exit" : "test failed");
    harness_daemon_free(f->d);
    free(f);
    if (unix_path[0]) {
        unlink(unix_path + 5);
        unix_path[0] = '\0';
    }
    return rc;
}

/* --- helpers ------------------------------------------------------------- */

static fc_client_t *connect_to(const char *addr)
{
    char err[512];
    fc_client_t *c = fc_client_connect(addr, TIMEOUT_MS, err, sizeof err);
    if (!c)
        fail_msg("connect %s: %s", addr, err);
    return c;
}

static fc_client_t *dial(fixture_t *f)
{
    return connect_to(f->d->addr);
}

static void expect_pong(fc_client_t *c, uint32_t msgid)
{
    fc_response_t r;
    int rc = fc_client_recv(c, &r);
    if (rc != FC_OK)
        fail_msg("no response to ping %u: %s", msgid, fc_client_error(c));
    assert_int_equal(r.msgid, msgid);
    if (!r.ok)
        fail_msg("ping %u answered %s: %s", msgid, r.code, r.message);
    assert_true(fc_obj_str_eq(&r.result, "pong"));
    fc_response_free(&r);
}

static void ping_ok(fc_client_t *c)
{
    fc_response_t r;
    int rc = fc_client_call(c, "ping", NULL, &r);
    if (rc != FC_OK)
        fail_msg("ping: %s", fc_client_error(c));
    if (!r.ok)
        fail_msg("ping answered %s: %s", r.code, r.message);
    assert_true(fc_obj_str_eq(&r.result, "pong"));
    fc_response_free(&r);
}

/* The next response must be an error with this code for this msgid. */
static void expect_error(fc_client_t *c, uint32_t msgid, const char *code, const char *mentions)
{
    fc_response_t r;
    int rc = fc_client_recv(c, &r);
    if (rc != FC_OK)
        fail_msg("no response to msgid %u (expected %s): %s", msgid, code, fc_client_error(c));
    assert_int_equal(r.msgid, msgid);
    if (r.ok)
        fail_msg("msgid %u succeeded; expected %s", msgid, code);
    assert_string_equal(r.code, code);
    assert_true(r.message[0] != '\0');
    if (mentions && !strstr(r.message, mentions))
        fail_msg("%s message '%s' does not name '%s'", code, r.message, mentions);
    fc_response_free(&r);
}

/* The server must close the connection (not answer, not hang). */
static void expect_closed(fc_client_t *c, const char *after)
{
    fc_response_t r;
    int rc = fc_client_recv(c, &r);
    if (rc == FC_OK) {
        uint32_t id = r.msgid;
        fc_response_free(&r);
        fail_msg("after %s: got a response (msgid %u) instead of a closed connection", after, id);
    }
    if (rc != FC_ECLOSED)
        fail_msg("after %s: connection not closed: %s", after, fc_client_error(c));
}

/* Packs [0, msgid, method, params] where method is str or bin and params is
 * written by the caller-provided bytes (already msgpack). */
static void send_request_raw(fc_client_t *c, uint32_t msgid, const char *method, bool as_bin,
                             const char *params, size_t params_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_uint32(&pk, msgid);
    if (as_bin)
        msgpack_pack_bin_with_body(&pk, method, strlen(method));
    else
        msgpack_pack_str_with_body(&pk, method, strlen(method));
    msgpack_sbuffer_write(&sb, params, params_len);
    int rc = fc_client_send_raw(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (rc != FC_OK)
        fail_msg("send: %s", fc_client_error(c));
}

#define RAW(s) s, sizeof(s) - 1

static void send_raw_ok(fc_client_t *c, const void *bytes, size_t len)
{
    if (fc_client_send_raw(c, bytes, len) != FC_OK)
        fail_msg("send: %s", fc_client_error(c));
}

/* --- tests ---------------------------------------------------------------- */

static void ping_over_tcp(void **state)
{
    fixture_t *f = *state;
    fc_client_t *c = dial(f);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_OK);
    assert_true(r.ok);
    assert_int_equal(r.msgid, 1);
    assert_true(fc_obj_str_eq(&r.result, "pong"));
    fc_response_free(&r);
    fc_client_close(c);
    f->finished = true;
}

static void ping_over_unix_socket(void **state)
{
    fixture_t *f = *state;
    assert_string_equal(f->d->addr, unix_path);
    fc_client_t *c = dial(f);
    ping_ok(c);
    ping_ok(c);
    fc_client_close(c);
    f->finished = true;
}

/* params as [] and [{}], unknown keys ignored, the method as msgpack bin,
 * and msgids at both ends of the uint32 range. */
static void ping_param_shapes_and_bin_method(void **state)
{
    fixture_t *f = *state;
    fc_client_t *c = dial(f);
    send_request_raw(c, 1, "ping", false, RAW("\x90"));                 /* [] */
    expect_pong(c, 1);
    send_request_raw(c, 2, "ping", false, RAW("\x91\x80"));             /* [{}] */
    expect_pong(c, 2);
    send_request_raw(c, 3, "ping", true, RAW("\x90"));                  /* bin method */
    expect_pong(c, 3);
    send_request_raw(c, 4, "ping", true, RAW("\x91\x80"));
    expect_pong(c, 4);
    send_request_raw(c, 5, "ping", false, RAW("\x91\x81\xa5" "extra\x01")); /* [{"extra":1}] */
    expect_pong(c, 5);
    send_request_raw(c, 0, "ping", false, RAW("\x90"));
    expect_pong(c, 0);
    send_request_raw(c, UINT32_MAX, "ping", false, RAW("\x90"));
    expect_pong(c, UINT32_MAX);
    fc_client_close(c);
    f->finished = true;
}

/* Checks that ids 1..n each came back exactly once. */
static void recv_all_pongs(fc_client_t *c, uint32_t n)
{
    unsigned char *seen = calloc(n + 1, 1);
    for (uint32_t i = 0; i < n; i++) {
        fc_response_t r;
        int rc = fc_client_recv(c, &r);
        if (rc != FC_OK)
            fail_msg("response %u of %u: %s", i + 1, n, fc_client_error(c));
        if (r.msgid < 1 || r.msgid > n || seen[r.msgid])
            fail_msg("unexpected or repeated msgid %u", r.msgid);
        seen[r.msgid] = 1;
        assert_true(r.ok);
        assert_true(fc_obj_str_eq(&r.result, "pong"));
        fc_response_free(&r);
    }
    free(seen);
}

/* Issue 10 item 5: a second feedcached on the unix path the first listens on
 * must exit 1 and leave the first's socket alone; a stale socket file (its
 * process died) is replaced. */
/* Runs feedcached --listen LISTEN --metrics-listen off (and the test
 * backends) to its exit, which must come within 10 s. Not through the
 * harness: its readiness ping would reach the first daemon. Returns the
 * exit status (-1: did not exit, killed); its output goes to log. */
static int run_to_exit(const char *listen, char *log, size_t loglen)
{
    char logpath[] = "/tmp/fc-test-rpc-second-XXXXXX";
    int fd = mkstemp(logpath);
    assert_true(fd >= 0);
    const char *redis = getenv("FEEDCACHE_TEST_REDIS_URL"), *pg = getenv("FEEDCACHE_TEST_PG");
    const char *argv[] = { getenv("FEEDCACHED"), "--listen", listen, "--metrics-listen", "off",
                           "--redis", redis ? redis : "redis://127.0.0.1:6379/0",
                           "--pg", pg ? pg : "dbname=feedcache", NULL };
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    close(fd);
    int ws = 0, status = -1;
    for (int i = 0; i < 1000; i++) {
        if (waitpid(pid, &ws, WNOHANG) == pid) {
            status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
            break;
        }
        usleep(10 * 1000);
    }
    if (status < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &ws, 0);
    }
    FILE *fp = fopen(logpath, "r");
    size_t n = fp ? fread(log, 1, loglen - 1, fp) : 0;
    log[n] = '\0';
    if (fp)
        fclose(fp);
    unlink(logpath);
    return status;
}

/* Issue 10 item 5: a second feedcached on the unix path the first listens on
 * must exit 1 with a clear error and leave the first's socket alone; a
 * stale socket file (its process died) is replaced. */
static void unix_socket_takeover_refused(void **state)
{
    fixture_t *f = *state;
    fc_client_t *c = dial(f);
    ping_ok(c);
    char log[8192];
    int st = run_to_exit(unix_path, log, sizeof log);
    if (st != 1)
        fail_msg("a second feedcached on %s: status %d, expected exit 1\n%s", unix_path, st, log);
    if (!strstr(log, "another process is listening"))
        fail_msg("the second feedcached did not say why:\n%s", log);
    /* The first still owns its socket: existing and new connections work. */
    ping_ok(c);
    fc_client_close(c);
    c = dial(f);
    ping_ok(c);
    fc_client_close(c);
    f->finished = true;
}

/* A socket file nobody listens on (bound, never listened, closed) is stale. */
static void unix_stale_socket_replaced(void **state)
{
    (void)state;
    char path[108];
    snprintf(path, sizeof path, "/tmp/fc-test-rpc-stale-%d.sock", (int)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);
    char listen[120], err[8192];
    snprintf(listen, sizeof listen, "unix:%s", path);
    const char *const extra[] = { "--listen", listen, "--metrics-listen", "off", NULL };
    harness_daemon_t *d = harness_daemon_start(extra, err, sizeof err);
    if (!d) {
        unlink(path);
        fail_msg("feedcached did not replace a stale socket: %s", err);
    }
    fc_client_t *c = connect_to(listen);
    ping_ok(c);
    fc_client_close(c);
    int st = harness_daemon_stop(d, 10000);
    harness_daemon_free(d);
    unlink(path);
    assert_int_equal(st, 0);
}

static void hundred_pipelined_pings(void **state)
{
    fixture_t *f = *state;
    fc_client_t *c = dial(f);
    /* All 100 in one write: the server sees them in one read. */
    fc_client_set_cork(c, true);
    for (int i = 0; i < 100; i++)
        assert_int_equal(fc_client_send(c, "ping", NULL, NULL), FC_OK);
    assert_int_equal(fc_client_flush(c), FC_OK);
    recv_all_pongs(c, 100);
    /* And again, one write per request. */
    fc_client_close(c);
    c = dial(f);
    for (int i = 0; i < 100; i++)
        assert_int_equal(fc_client_send(c, "ping", NULL, NULL), FC_OK);
    recv_all_pongs(c, 100);
    fc_client_close(c);
    f->finished = true;
}

static void eight_connections_pipelining(void **state)
{
    fixture_t *f = *state;
    enum { CONNS = 8, EACH = 200 };
    fc_client_t *c[CONNS];
    for (int k = 0; k < CONNS; k++)
        c[k] = dial(f);
    /* Interleaved, so all eight have requests in flight at once. */
    for (int i = 0; i < EACH; i++)
        for (int k = 0; k < CONNS; k++)
            assert_int_equal(fc_client_send(c[k], "ping", NULL, NULL), FC_OK);
    for (int k = 0; k < CONNS; k++) {
        recv_all_pongs(c[k], EACH);
        fc_client_close(c[k]);
    }
    f->finished = true;
}

static void unknown_method_is_not_found(void **state)
{
    fixture_t *f = *state;
    fc_client_t *c = dial(f);
    uint32_t id;
    assert_int_equal(fc_client_send(c, "no.such.method", NULL, &id), FC_OK);
    expect_error(c, id, "NOT_FOUND", NULL);
    ping_ok(c);
    fc_client_close(c);
    f->finished = true;
}

static void notifications_get_no_response(void **state)
{
    fixture_t *f = *state;
    fc_client_t *c = dial(f);
    uint32_t id;
    assert_int_equal(fc_client_notify(c, "ping", NULL), FC_OK);
    assert_int_equal(fc_client_send(c, "ping", NULL, &id), FC_OK);
    expect_pong(c, id);
    /* Unknown method: ignored, no error response either. */
    assert_int_equal(fc_client_notify(c, "no.such.method", NULL), FC_OK);
    /* Hand-packed, with [{}] params and a bin method. */
    send_raw_ok(c, RAW("\x93\x02\xc4\x04ping\x91\x80"));
    assert_int_equal(fc_client_send(c, "ping", NULL, &id), FC_OK);
    expect_pong(c, id);
    /* Nothing late either: the next response is the next request's. */
    assert_int_equal(fc_client_send(c, "ping", NULL, &id), FC_OK);
    expect_pong(c, id);
    fc_client_close(c);
    f->finished = true;
}

/* Issue 10 item 2: a notification is ignored whatever its params, as a
 * client's leading [2, "nvim_set_client_info", [name, version, ...]] with
 * the method as bin; a request with positional params gets BAD_REQUEST.
 * The connection stays usable throughout. */
static void positional_params_notification_keeps_connection(void **state)
{
    fixture_t *f = *state;
    fc_client_t *c = dial(f);
    /* [2, bin "nvim_set_client_info", ["client", {"major": 0}, "remote", {}, {}]] */
    send_raw_ok(c, RAW("\x93\x02\xc4\x14nvim_set_client_info"
                       "\x95\xa6" "client\x81\xa5major\x00\xa6remote\x80\x80"));
    ping_ok(c);
    /* Positional params on a known method, and params that are not an array. */
    send_raw_ok(c, RAW("\x93\x02\xa4ping\x92\x01\x02"));
    send_raw_ok(c, RAW("\x93\x02\xa4ping\x80"));
    send_raw_ok(c, RAW("\x93\x02\xa7nosuchm\xa1x"));
    ping_ok(c);
    /* A request with positional params: BAD_REQUEST for its msgid. */
    send_request_raw(c, 41, "ping", false, RAW("\x92\x01\x02"));
    expect_error(c, 41, "BAD_REQUEST", "params");
    send_request_raw(c, 42, "nvim_get_api_info", true, RAW("\x91\xa1x"));
    expect_error(c, 42, "BAD_REQUEST", "params");
    ping_ok(c);
    fc_client_close(c);
    f->finished = true;
}

/* Type-0 arrays with an integer msgid but a bad shape: BAD_REQUEST for that
 * msgid, and the connection stays usable. */
static void malformed_requests_get_bad_request(void **state)
{
    fixture_t *f = *state;
    fc_client_t *c = dial(f);
    send_raw_ok(c, RAW("\x94\x00\x07\xa4ping\x80"));          /* params is a map */
    expect_error(c, 7, "BAD_REQUEST", "params");
    send_raw_ok(c, RAW("\x94\x00\x08\x2a\x90"));              /* method is an int */
    expect_error(c, 8, "BAD_REQUEST", "method");
    send_raw_ok(c, RAW("\x94\x00\x09\xa4ping\xa1x"));         /* params is a str */
    expect_error(c, 9, "BAD_REQUEST", "params");
    send_raw_ok(c, RAW("\x94\x00\x0a\xc0\x90"));              /* method is nil */
    expect_error(c, 10, "BAD_REQUEST", "method");
    send_raw_ok(c, RAW("\x94\x00\x0b\xa4ping\x91\x2a"));      /* params holds an int, not a map */
    expect_error(c, 11, "BAD_REQUEST", "params");
    ping_ok(c);
    fc_client_close(c);
    f->finished = true;
}

/* Frames that are not requests close that connection only. */
static void garbage_closes_only_that_connection(void **state)
{
    fixture_t *f = *state;
    static const struct { const char *what; const char *bytes; size_t len; } cases[] = {
        { "bytes that are not msgpack", RAW("\xc1\xc1\xc1\xc1") },
        { "an HTTP request", RAW("GET / HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "a msgpack map", RAW("\x81\xa1" "a\x01") },
        { "a msgpack string", RAW("\xa4ping") },
        { "an array with a str msgid", RAW("\x94\x00\xa1x\xa4ping\x90") },
        { "an array with a nil msgid", RAW("\x94\x00\xc0\xa4ping\x90") },
        { "an empty array", RAW("\x90") },
    };
    fc_client_t *bystander = dial(f);
    ping_ok(bystander);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fc_client_t *victim = dial(f);
        int rc = fc_client_send_raw(victim, cases[i].bytes, cases[i].len);
        assert_true(rc == FC_OK || rc == FC_ECLOSED);
        expect_closed(victim, cases[i].what);
        fc_client_close(victim);
        ping_ok(bystander);
    }
    fc_client_close(bystander);
    fc_client_t *fresh = dial(f);
    ping_ok(fresh);
    fc_client_close(fresh);
    f->finished = true;
}

/* Started with --max-frame 4096. */
static void oversized_frame_closes_only_that_connection(void **state)
{
    fixture_t *f = *state;
    fc_client_t *bystander = dial(f);
    ping_ok(bystander);

    /* Under the limit: answered (unknown keys are ignored). */
    static char blob[1 << 20];
    fc_client_t *c = dial(f);
    fc_params_t p;
    fc_params_init(&p);
    msgpack_pack_bin_with_body(fc_params_value(&p, "blob"), blob, 3000);
    uint32_t id;
    assert_int_equal(fc_client_send(c, "ping", &p, &id), FC_OK);
    expect_pong(c, id);
    fc_client_close(c);

    /* 1 MiB in params: closed. The write may fail once the server closes. */
    fc_params_reset(&p);
    msgpack_pack_bin_with_body(fc_params_value(&p, "blob"), blob, sizeof blob);
    c = dial(f);
    int rc = fc_client_send(c, "ping", &p, &id);
    assert_true(rc == FC_OK || rc == FC_ECLOSED);
    expect_closed(c, "a 1 MiB frame with --max-frame 4096");
    fc_client_close(c);
    fc_params_free(&p);

    ping_ok(bystander);
    fc_client_close(bystander);
    c = dial(f);
    ping_ok(c);
    fc_client_close(c);
    f->finished = true;
}

/* 5-byte headers that declare 4 billion elements: a decoder that reserves
 * memory for the declared count would ask for ~100 GB. The connection must
 * be closed (the default max_frame of 1 MiB cannot hold that many elements)
 * and the RSS must stay put. */
static void hostile_headers_close_without_allocating(void **state)
{
    fixture_t *f = *state;
    static const struct { const char *what; const char *bytes; size_t len; } cases[] = {
        { "array32 of 2^32-1", RAW("\xdd\xff\xff\xff\xff") },
        { "map32 of 2^32-1", RAW("\xdf\xff\xff\xff\xff") },
        { "array32 as params", RAW("\x94\x00\x01\xa4ping\xdd\xff\xff\xff\xff") },
        { "map32 inside params", RAW("\x94\x00\x01\xa4ping\x91\xdf\xff\xff\xff\xff") },
        { "array32 of 16M", RAW("\xdd\x01\x00\x00\x00") },
    };
    fc_client_t *bystander = dial(f);
    ping_ok(bystander);
    long before = harness_daemon_rss_kb(f->d);
    assert_true(before > 0);
    for (int round = 0; round < 5; round++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            fc_client_t *victim = dial(f);
            int rc = fc_client_send_raw(victim, cases[i].bytes, cases[i].len);
            assert_true(rc == FC_OK || rc == FC_ECLOSED);
            expect_closed(victim, cases[i].what);
            fc_client_close(victim);
        }
    }
    ping_ok(bystander);
    long after = harness_daemon_rss_kb(f->d);
    fprintf(stderr, "# feedcached VmRSS before %ld kB, after %ld kB\n", before, after);
    if (after - before > 4096)
        fail_msg("RSS grew by %ld kB after hostile headers", after - before);
    fc_client_close(bystander);
    f->finished = true;
}

static void stats_has_the_contract_keys(void **state)
{
    fixture_t *f = *state;
    static const char *const keys[] = {
        "feed_cache_hits", "feed_cache_misses", "post_cache_hits", "post_cache_misses",
        "feed_rebuilds", "pg_fallbacks", "fanout_posts", "fanout_deliveries",
        "fanout_queue_depth",
    };
    fc_client_t *c = dial(f);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "stats", NULL, &r), FC_OK);
    if (!r.ok)
        fail_msg("stats answered %s: %s", r.code, r.message);
    assert_int_equal(r.result.type, MSGPACK_OBJECT_MAP);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t v;
        const msgpack_object *o = fc_obj_get(&r.result, keys[i]);
        if (!o)
            fail_msg("stats lacks '%s'", keys[i]);
        if (fc_obj_int(o, &v) != 0)
            fail_msg("stats '%s' is not an integer (msgpack type %d)", keys[i], (int)o->type);
        assert_true(v >= 0);
    }
    fc_response_free(&r);
    /* [{}] is the same call. */
    send_request_raw(c, 77, "stats", false, RAW("\x91\x80"));
    assert_int_equal(fc_client_recv(c, &r), FC_OK);
    assert_int_equal(r.msgid, 77);
    assert_true(r.ok);
    assert_int_equal(r.result.type, MSGPACK_OBJECT_MAP);
    fc_response_free(&r);
    fc_client_close(c);
    f->finished = true;
}

/* Sum of the samples of `name` whose labels include every `k="v"` given
 * (NULL-terminated), or -1 when there is none. */
static double metric_sum(const char *text, const char *name, const char *const *labels)
{
    double sum = -1;
    size_t n = strlen(name);
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (strncmp(line, name, n) == 0 && line[n] == '{') {
            char *copy = strndup(line, len);
            bool match = true;
            for (size_t i = 0; labels[i] && match; i++)
                match = strstr(copy, labels[i]) != NULL;
            const char *close = strrchr(copy, '}');
            if (match && close)
                sum = (sum < 0 ? 0 : sum) + strtod(close + 1, NULL);
            free(copy);
        }
        line = eol ? eol + 1 : NULL;
    }
    return sum;
}

/* Requests are counted in /metrics by method and code (contract section 4),
 * and unknown method names do not become label values: a client sending
 * random names must not grow the registry without bound. Also exercises the
 * harness's HTTP helper on /healthz. */
static void rpc_requests_show_in_metrics(void **state)
{
    fixture_t *f = *state;
    assert_true(f->d->metrics_addr[0] != '\0');
    fc_client_t *c = dial(f);
    for (int i = 0; i < 3; i++)
        ping_ok(c);
    for (int i = 0; i < 20; i++) {
        char method[32];
        uint32_t id;
        snprintf(method, sizeof method, "nosuch%d", i);
        assert_int_equal(fc_client_send(c, method, NULL, &id), FC_OK);
        expect_error(c, id, "NOT_FOUND", NULL);
    }
    send_raw_ok(c, RAW("\x94\x00\x07\xa4ping\x80"));
    expect_error(c, 7, "BAD_REQUEST", NULL);
    fc_client_close(c);

    harness_http_t h;
    char err[512];
    if (harness_http(f->d->metrics_addr, "GET", "/metrics", TIMEOUT_MS, &h, err, sizeof err) != 0)
        fail_msg("GET /metrics: %s", err);
    assert_int_equal(h.status, 200);
    const char *text = h.body.data ? h.body.data : "";
    const char *ping_ok_labels[] = { "method=\"ping\"", "code=\"OK\"", NULL };
    const char *not_found[] = { "code=\"NOT_FOUND\"", NULL };
    const char *bad_request[] = { "code=\"BAD_REQUEST\"", NULL };
    const char *ping_only[] = { "method=\"ping\"", NULL };
    const char *none[] = { NULL };
    assert_true(metric_sum(text, "feedcache_rpc_requests_total", ping_ok_labels) >= 3);
    assert_true(metric_sum(text, "feedcache_rpc_requests_total", not_found) >= 20);
    assert_true(metric_sum(text, "feedcache_rpc_requests_total", bad_request) >= 1);
    assert_true(metric_sum(text, "feedcache_rpc_duration_seconds_count", ping_only) >= 3);
    assert_true(metric_sum(text, "feedcache_rpc_requests_total", none) >= 24);
    if (strstr(text, "nosuch"))
        fail_msg("an unknown method name became a metric label");
    harness_http_free(&h);

    /* /healthz: HEAD has no body; GET says ok when both backends answer. */
    if (harness_http(f->d->metrics_addr, "HEAD", "/healthz", TIMEOUT_MS, &h, err, sizeof err) != 0)
        fail_msg("HEAD /healthz: %s", err);
    assert_true(h.status == 200 || h.status == 503);
    assert_int_equal(h.body.len, 0);
    harness_http_free(&h);
    /* The pools connect in the background (PostgreSQL also prepares every
     * statement): give them a few seconds, as a load balancer would. */
    bool backends = getenv("FEEDCACHE_TEST_REDIS_URL") && getenv("FEEDCACHE_TEST_PG");
    for (int tries = 0;; tries++) {
        if (harness_http(f->d->metrics_addr, "GET", "/healthz", TIMEOUT_MS, &h, err, sizeof err) != 0)
            fail_msg("GET /healthz: %s", err);
        if (!backends || h.status == 200 || tries == 50)
            break;
        harness_http_free(&h);
        usleep(100 * 1000);
    }
    if (backends) {
        int status = h.status;
        bool ok = h.body.data && strncmp(h.body.data, "ok", 2) == 0;
        char body[128];
        snprintf(body, sizeof body, "%s", h.body.data ? h.body.data : "");
        harness_http_free(&h);
        if (status != 200 || !ok)
            fail_msg("/healthz %d with both backends up for 5 s: %s", status, body);
    } else {
        harness_http_free(&h);
    }
    f->finished = true;
}

/* After a signal: a connection open at the time gets UNAVAILABLE (with
 * retry_after_ms) or is closed; new connections are refused; exit 0 within
 * 10 s. */
static void shutdown_on(fixture_t *f, int sig)
{
    fc_client_t *open_conn = dial(f);
    ping_ok(open_conn);
    fc_client_t *idle = dial(f);
    ping_ok(idle);

    assert_int_equal(harness_daemon_signal(f->d, sig), 0);
    f->stopped = true;   /* the teardown must not expect it running */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The signal is handled on the daemon's loop: give it a moment, so the
     * request below arrives after shutdown began. */
    usleep(200 * 1000);

    uint32_t id;
    int rc = fc_client_send(open_conn, "ping", NULL, &id);
    if (rc == FC_OK) {
        fc_response_t r;
        rc = fc_client_recv(open_conn, &r);
        if (rc == FC_OK) {
            if (r.ok)
                fail_msg("a ping sent 200 ms after the signal was answered pong");
            assert_int_equal(r.msgid, id);
            assert_string_equal(r.code, "UNAVAILABLE");
            assert_true(r.retry_after_ms >= 0);
            fc_response_free(&r);
        } else if (rc != FC_ECLOSED) {
            fail_msg("open connection after the signal: %s", fc_client_error(open_conn));
        }
    } else {
        assert_int_equal(rc, FC_ECLOSED);
    }

    /* New connections: refused, or at least never served. */
    char err[512];
    fc_client_t *late = fc_client_connect(f->d->addr, 1000, err, sizeof err);
    if (late) {
        fc_response_t r;
        rc = fc_client_call(late, "ping", NULL, &r);
        if (rc == FC_OK && r.ok)
            fail_msg("a connection made after the signal was served");
        if (rc == FC_OK)
            assert_string_equal(r.code, "UNAVAILABLE");
        else if (rc != FC_ECLOSED)
            fail_msg("connection made after the signal: %s", fc_client_error(late));
        fc_response_free(&r);
        fc_client_close(late);
    }

    int st = harness_daemon_wait(f->d, 10000);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (st < 0)
        fail_msg("feedcached still running 10 s after signal %d", sig);
    fprintf(stderr, "# feedcached exited %d, %ld ms after signal %d\n", st, ms, sig);
    assert_int_equal(st, 0);
    /* The idle connection is closed by now. */
    rc = fc_client_send(idle, "ping", NULL, &id);
    if (rc == FC_OK)
        expect_closed(idle, "the daemon exited");
    fc_client_close(idle);
    fc_client_close(open_conn);
    f->finished = true;
}

static void sigterm_shuts_down_cleanly(void **state)
{
    shutdown_on(*state, SIGTERM);
}

static void sigint_shuts_down_cleanly(void **state)
{
    shutdown_on(*state, SIGINT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ping_over_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(ping_over_unix_socket, setup_unix, teardown),
        cmocka_unit_test_setup_teardown(unix_socket_takeover_refused, setup_unix, teardown),
        cmocka_unit_test(unix_stale_socket_replaced),
        cmocka_unit_test_setup_teardown(ping_param_shapes_and_bin_method, setup, teardown),
        cmocka_unit_test_setup_teardown(hundred_pipelined_pings, setup, teardown),
        cmocka_unit_test_setup_teardown(eight_connections_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_method_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(notifications_get_no_response, setup, teardown),
        cmocka_unit_test_setup_teardown(positional_params_notification_keeps_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_requests_get_bad_request, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_closes_only_that_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_frame_closes_only_that_connection,
                                        setup_small_frames, teardown),
        cmocka_unit_test_setup_teardown(hostile_headers_close_without_allocating,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(stats_has_the_contract_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(rpc_requests_show_in_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(sigterm_shuts_down_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(sigint_shuts_down_cleanly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

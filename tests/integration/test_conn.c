/* What a connection may cost (issue 10 item 3; docs/PROTOCOL.md,
 * "Backpressure and limits"): idle connections are closed after
 * idle_timeout; clients that pipeline timeline pages and never read cost a
 * bounded amount of memory each, while another client keeps being served;
 * a slow reader past max_output_hard is closed; the input buffer given back
 * after a large frame; a burst at low load is held, not shed; cold reads
 * past a full PostgreSQL queue are OVERLOADED, not UNAVAILABLE.
 *
 * The slow-reader test is also the measurement the issue asks for: it prints
 * feedcached's RSS before and at its peak with SLOW_CONNS such clients
 * ("# slow readers: ..."). Run it against another build with
 * FEEDCACHED=/path/to/feedcached build/tests/integration/itest_conn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"
#include "oracle_db.h"

#define AUTHOR 7001
#define READER 7002
#define NPOSTS 200
#define BODY_BYTES 1500          /* a page of 200 is about 320 KB */
#define SLOW_CONNS 6
#define SLOW_SECONDS 5

/* ASan keeps freed memory in quarantine and adds shadow memory: RSS says
 * nothing about what the daemon holds, so memory is only printed there. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static const fixture_conf_t conf = {
    .program = "test_conn", .db_tag = "fc_conn", .redis_db = 13, .key_prefix = "fcconn",
};

/* --- helpers --------------------------------------------------------------- */

static void pg_exec(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", PQerrorMessage(pg), sql);
    PQclear(res);
}

/* READER follows AUTHOR, who wrote NPOSTS posts of BODY_BYTES. */
static void load_big_feed(fixture_t *f)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO users (id, handle) VALUES (%d, 'author'), (%d, 'reader');"
             "INSERT INTO follows (follower_id, followee_id) VALUES (%d, %d);"
             "INSERT INTO posts (id, author_id, created_at, body) "
             "SELECT 900000 + g, %d, to_timestamp(1700000000 + g), repeat('x', %d) "
             "FROM generate_series(1, %d) g;",
             AUTHOR, READER, READER, AUTHOR, AUTHOR, BODY_BYTES, NPOSTS);
    pg_exec(f->pg, sql);
}

static size_t page_bytes(fc_client_t *c)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", READER);
    fc_params_int(&p, "limit", 200);
    fc_response_t r;
    if (fc_client_call(c, "timeline.get", &p, &r) != FC_OK)
        fail_msg("timeline.get: %s", fc_client_error(c));
    if (!r.ok)
        fail_msg("timeline.get answered %s: %s", r.code, r.message);
    const msgpack_object *posts = fc_obj_get(&r.result, "posts");
    size_t n = posts && posts->type == MSGPACK_OBJECT_ARRAY ? posts->via.array.size : 0;
    fc_response_free(&r);
    fc_params_free(&p);
    return n;
}

/* The first page, once the backends are up: a request in the first moments
 * may find Redis not connected yet (docs/PROTOCOL.md, start-up). */
static void wait_first_page(fc_client_t *c)
{
    for (int i = 0; i < 100; i++) {
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "user_id", READER);
        fc_params_int(&p, "limit", 200);
        fc_response_t r;
        int rc = fc_client_call(c, "timeline.get", &p, &r);
        fc_params_free(&p);
        if (rc != FC_OK)
            fail_msg("timeline.get: %s", fc_client_error(c));
        bool ok = r.ok;
        bool unavailable = strcmp(r.code, "UNAVAILABLE") == 0;
        fc_response_free(&r);
        if (ok)
            return;
        if (!unavailable)
            break;
        odb_sleep_ms(100);
    }
    assert_int_equal(page_bytes(c), NPOSTS);
}

static void ping_ok(fc_client_t *c)
{
    fc_response_t r;
    if (fc_client_call(c, "ping", NULL, &r) != FC_OK)
        fail_msg("ping: %s", fc_client_error(c));
    if (!r.ok)
        fail_msg("ping answered %s: %s", r.code, r.message);
    fc_response_free(&r);
}

/* A non-blocking TCP socket to HOST:PORT that the test never reads. */
static int raw_connect(const char *addr, int rcvbuf)
{
    const char *colon = strrchr(addr, ':');
    assert_non_null(colon);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
        fail_msg("connect %s: %s", addr, strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* 256 pipelined [0, id, "timeline.get", [{"user_id": READER, "limit": 200}]]. */
static void pack_pages(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (uint32_t id = 1; id <= 256; id++) {
        msgpack_pack_array(&pk, 4);
        msgpack_pack_int(&pk, 0);
        msgpack_pack_uint32(&pk, id);
        msgpack_pack_str_with_body(&pk, "timeline.get", 12);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 2);
        msgpack_pack_str_with_body(&pk, "user_id", 7);
        msgpack_pack_int64(&pk, READER);
        msgpack_pack_str_with_body(&pk, "limit", 5);
        msgpack_pack_int(&pk, 200);
    }
}

/* Writes as much of the pipeline as the socket takes, round and round.
 * Returns false once the server closed the connection. */
static bool push_pages(int fd, const msgpack_sbuffer *sb, size_t *off)
{
    for (;;) {
        ssize_t n = send(fd, sb->data + *off, sb->size - *off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        *off = (*off + (size_t)n) % sb->size;
    }
}

/* The sample of a family without labels in /metrics, or -1. */
static double metric(const harness_daemon_t *d, const char *name)
{
    harness_http_t h;
    char err[256];
    if (harness_http(d->metrics_addr, "GET", "/metrics", 5000, &h, err, sizeof err) != 0)
        fail_msg("GET /metrics: %s", err);
    double v = -1;
    size_t n = strlen(name);
    for (const char *line = h.body.data ? h.body.data : ""; *line;) {
        if (strncmp(line, name, n) == 0 && line[n] == ' ')
            v = strtod(line + n + 1, NULL);
        const char *eol = strchr(line, '\n');
        if (!eol)
            break;
        line = eol + 1;
    }
    harness_http_free(&h);
    return v;
}

/* --- tests ------------------------------------------------------------------ */

/* --idle-timeout 1: a connection that says nothing is closed within about a
 * second; one that keeps calling is not. */
static void idle_connection_is_closed(void **state)
{
    fixture_t *f = *state;
    const char *const extra[] = { "--idle-timeout", "1", NULL };
    assert_int_equal(fixture_start(f, extra), 0);
    fc_client_t *busy = f->c;
    char err[256];
    fc_client_t *idle = harness_connect(f->d, 5000, err, sizeof err);
    assert_non_null(idle);
    ping_ok(idle);
    for (int i = 0; i < 12; i++) {      /* 2.4 s */
        odb_sleep_ms(200);
        ping_ok(busy);
    }
    fc_response_t r;
    int rc = fc_client_call(idle, "ping", NULL, &r);
    if (rc == FC_OK) {
        fc_response_free(&r);
        fail_msg("a connection idle for 2.4 s with --idle-timeout 1 was still served");
    }
    assert_int_equal(rc, FC_ECLOSED);
    fc_client_close(idle);
    assert_true(metric(f->d, "feedcache_rpc_connections_idle_closed_total") >= 1);
    ping_ok(busy);
    f->finished = true;
}

/* SLOW_CONNS clients pipeline timeline pages and never read. feedcached's
 * RSS must stay within a few MB per such client, and another client must
 * keep getting its pages meanwhile (no OVERLOADED, no stall). */
static void slow_readers_memory_is_bounded(void **state)
{
    fixture_t *f = *state;
    load_big_feed(f);
    assert_int_equal(fixture_start(f, NULL), 0);
    wait_first_page(f->c);                             /* the feed is cached now */
    for (int i = 0; i < 20; i++)
        page_bytes(f->c);
    odb_sleep_ms(300);
    long before = harness_daemon_rss_kb(f->d), peak = before;
    assert_true(before > 0);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_pages(&sb);
    int fds[SLOW_CONNS];
    size_t off[SLOW_CONNS] = { 0 };
    for (int k = 0; k < SLOW_CONNS; k++)
        fds[k] = raw_connect(f->d->addr, 0);
    long long end = odb_now_ms() + SLOW_SECONDS * 1000;
    int served = 0, refused = 0, overloaded = 0, open_at_end = 0;
    char first_refusal[300] = "";
    while (odb_now_ms() < end) {
        for (int k = 0; k < SLOW_CONNS; k++)
            if (fds[k] >= 0 && !push_pages(fds[k], &sb, &off[k])) {
                close(fds[k]);
                fds[k] = -1;
            }
        /* The bystander: a whole page every round. */
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "user_id", READER);
        fc_params_int(&p, "limit", 200);
        fc_response_t r;
        if (fc_client_call(f->c, "timeline.get", &p, &r) != FC_OK)
            fail_msg("the bystander's timeline.get: %s", fc_client_error(f->c));
        if (r.ok)
            served++;
        else {
            overloaded += strcmp(r.code, "OVERLOADED") == 0;
            if (!refused++)
                snprintf(first_refusal, sizeof first_refusal, "%s: %s", r.code, r.message);
        }
        fc_response_free(&r);
        fc_params_free(&p);
        long rss = harness_daemon_rss_kb(f->d);
        if (rss > peak)
            peak = rss;
        odb_sleep_ms(50);
    }
    for (int k = 0; k < SLOW_CONNS; k++)
        if (fds[k] >= 0)
            open_at_end++;
    long per_conn = (peak - before) / SLOW_CONNS;
    fprintf(stderr, "# slow readers: %d connections for %d s: feedcached RSS %ld kB before, "
            "peak %ld kB, +%ld kB per connection; %d of them still open; bystander served "
            "%d pages, refused %d\n", SLOW_CONNS, SLOW_SECONDS, before, peak, per_conn,
            open_at_end, served, refused);
    for (int k = 0; k < SLOW_CONNS; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    msgpack_sbuffer_destroy(&sb);
    if (refused > 0)
        fprintf(stderr, "# first refusal: %s\n", first_refusal);
    if (per_conn > 8 * 1024 && !SANITIZED)
        fail_msg("each slow reader cost %ld kB (more than 8 MB)", per_conn);
    /* Under a sanitizer the daemon is several times slower: a backend
     * timeout there is the machine's doing, but never OVERLOADED. */
    if (overloaded > 0 || (refused > 0 && !SANITIZED))
        fail_msg("the bystander was refused %d of %d pages while slow readers ran (%s)",
                 refused, served + refused, first_refusal);
    ping_ok(f->c);
    f->finished = true;
}

/* A burst on an idle service: BURST_CONNS clients send BURST_DEPTH pages
 * each at once, past the adaptive concurrency limit's start (128, of which
 * the last eighth is kept for connections with nothing in progress), so
 * that without holds the calls past the limit are shed although the whole
 * burst is served in a few ms. They must be held instead (docs/PROTOCOL.md,
 * "Backpressure and limits"): every call answered, none OVERLOADED. */
#define BURST_CONNS 16
#define BURST_DEPTH 12
#define BURST_ROUNDS 5
/* A burst within the limit (BURST_CONNS x BURST_PROBE_DEPTH = 96 calls,
 * below the 112 the reserve leaves), timed just before each burst, says
 * how fast the machine serves one just then. The calls past the limit
 * (about as many) are held until as many calls have finished; a hold
 * lasts at most 10 ms on an idle service (max(10 ms, 8 x the normal p99),
 * docs/PROTOCOL.md). When the machine needs longer than
 * BURST_PROBE_MAX_MS for the probe, the burst's excess may not be served
 * within the hold, and the design sheds it: seen on a slow 2-CPU machine
 * with Redis Cluster (358 of 960 shed, 2026-12-05). Such bursts are not
 * counted. */
#define BURST_PROBE_DEPTH 6
#define BURST_PROBE_MAX_MS 8.0

typedef struct {
    int served, overloaded, other;
    char example[300];
} burst_tally_t;

static double burst_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Sends depth pages on each connection at once, then reads every answer;
 * returns the milliseconds from the first send to the last answer. */
static double burst_once(fc_client_t **cs, int depth, burst_tally_t *t)
{
    double start = burst_now_ms();
    for (int k = 0; k < BURST_CONNS; k++) {
        for (int i = 0; i < depth; i++) {
            fc_params_t p;
            fc_params_init(&p);
            fc_params_int(&p, "user_id", READER);
            fc_params_int(&p, "limit", 10);
            uint32_t id;
            if (fc_client_send(cs[k], "timeline.get", &p, &id) != FC_OK)
                fail_msg("send: %s", fc_client_error(cs[k]));
            fc_params_free(&p);
        }
    }
    for (int k = 0; k < BURST_CONNS; k++)
        if (fc_client_flush(cs[k]) != FC_OK)
            fail_msg("flush: %s", fc_client_error(cs[k]));
    for (int k = 0; k < BURST_CONNS; k++) {
        for (int i = 0; i < depth; i++) {
            fc_response_t r;
            if (fc_client_recv(cs[k], &r) != FC_OK)
                fail_msg("recv: %s", fc_client_error(cs[k]));
            if (r.ok)
                t->served++;
            else {
                if (strcmp(r.code, "OVERLOADED") == 0)
                    t->overloaded++;
                else
                    t->other++;
                if (!t->example[0])
                    snprintf(t->example, sizeof t->example, "%s: %s", r.code, r.message);
            }
            fc_response_free(&r);
        }
    }
    return burst_now_ms() - start;
}

static void a_burst_at_low_load_is_held_not_shed(void **state)
{
    fixture_t *f = *state;
    load_big_feed(f);
    assert_int_equal(fixture_start(f, NULL), 0);
    wait_first_page(f->c);
    fc_client_t *cs[BURST_CONNS];
    char err[256];
    for (int k = 0; k < BURST_CONNS; k++) {
        cs[k] = fc_client_connect(f->d->addr, 10000, err, sizeof err);
        if (!cs[k])
            fail_msg("connect: %s", err);
        fc_client_set_cork(cs[k], true);
    }
    /* Each burst follows a probe within the limit (nothing may be shed
     * there), which says whether the machine is fast enough just then for
     * the burst's excess to be served within a hold; only such bursts must
     * shed nothing. */
    burst_tally_t probe = { 0 }, t = { 0 };
    int counted = 0, shed_counted = 0;
    double probe_min = 0, probe_max = 0;
    burst_once(cs, BURST_PROBE_DEPTH, &probe);   /* warms the connections' paths */
    odb_sleep_ms(50);
    for (int round = 0; round < BURST_ROUNDS; round++) {
        double ms = burst_once(cs, BURST_PROBE_DEPTH, &probe);
        probe_min = round == 0 || ms < probe_min ? ms : probe_min;
        probe_max = ms > probe_max ? ms : probe_max;
        odb_sleep_ms(50);
        int shed_before = t.overloaded;
        burst_once(cs, BURST_DEPTH, &t);
        if (ms <= BURST_PROBE_MAX_MS) {
            counted++;
            shed_counted += t.overloaded - shed_before;
        }
        odb_sleep_ms(100);
    }
    for (int k = 0; k < BURST_CONNS; k++)
        fc_client_close(cs[k]);
    double holds = metric(f->d, "feedcache_rpc_holds_total");
    fprintf(stderr,
            "# bursts of %d calls: %d served, %d OVERLOADED, %d other; %.0f holds; "
            "probes of %d calls within the limit took %.1f-%.1f ms; %d of %d bursts came "
            "after a probe within %.0f ms\n",
            BURST_CONNS * BURST_DEPTH, t.served, t.overloaded, t.other, holds,
            BURST_CONNS * BURST_PROBE_DEPTH, probe_min, probe_max, counted, BURST_ROUNDS,
            BURST_PROBE_MAX_MS);
    if (probe.overloaded > 0 || probe.other > 0)
        fail_msg("%d of %d calls in bursts within the limit failed (%s)",
                 probe.overloaded + probe.other,
                 (BURST_ROUNDS + 1) * BURST_CONNS * BURST_PROBE_DEPTH,
                 probe.example);
    if (t.other > 0)
        fail_msg("%d calls of the bursts failed (%s)", t.other, t.example);
    /* Under a sanitizer the daemon is several times slower, and on a slow
     * machine as well: a burst outlasts the hold's bound, which makes it an
     * overload, shed (measured: 340 of 960 under ASan). There the test
     * checks that holding and releasing connections is memory-safe and
     * that nothing but OVERLOADED is answered, not how many are served. */
    if (!SANITIZED && shed_counted > 0)
        fail_msg("%d calls of %d bursts at low load (after a probe within %.0f ms) were shed (%s)",
                 shed_counted, counted, BURST_PROBE_MAX_MS, t.example);
    /* The bursts did pass the limit: it is the hold that served them. */
    assert_true(holds >= 1);
    f->finished = true;
}

/* Cold reads past a full PostgreSQL queue, with both backends up: --pg-pool 1
 * and --max-rebuilds 1, and PostgreSQL's tables locked by the test, so the
 * first read's rebuild and the next reads' PostgreSQL pages wait in its
 * queue (8 x pg_pool). The reads past it are load shed: OVERLOADED with
 * retry_after_ms, at once, never UNAVAILABLE (docs/PROTOCOL.md, "Errors":
 * that is for a backend that is down). Once the lock goes, the queued
 * reads are served. */
#define COLD_READERS 40
#define COLD_FIRST 7100
static void a_read_past_a_full_postgresql_queue_is_overloaded(void **state)
{
    fixture_t *f = *state;
    load_big_feed(f);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO users (id, handle) SELECT g, 'r' || g FROM generate_series(%d, %d) g;"
             "INSERT INTO follows (follower_id, followee_id) "
             "SELECT g, %d FROM generate_series(%d, %d) g;",
             COLD_FIRST, COLD_FIRST + COLD_READERS - 1, AUTHOR, COLD_FIRST,
             COLD_FIRST + COLD_READERS - 1);
    pg_exec(f->pg, sql);
    const char *const extra[] = { "--pg-pool", "1", "--max-rebuilds", "1", NULL };
    assert_int_equal(fixture_start(f, extra), 0);
    wait_first_page(f->c);
    pg_exec(f->pg, "BEGIN; LOCK TABLE posts, follows IN ACCESS EXCLUSIVE MODE");
    fc_client_t *cs[COLD_READERS];
    char err[256];
    for (int k = 0; k < COLD_READERS; k++) {
        cs[k] = harness_connect(f->d, 10000, err, sizeof err);
        if (!cs[k])
            fail_msg("connect: %s", err);
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "user_id", COLD_FIRST + k);
        fc_params_int(&p, "limit", 10);
        uint32_t id;
        if (fc_client_send(cs[k], "timeline.get", &p, &id) != FC_OK ||
            fc_client_flush(cs[k]) != FC_OK)
            fail_msg("send: %s", fc_client_error(cs[k]));
        fc_params_free(&p);
    }
    odb_sleep_ms(500);
    pg_exec(f->pg, "COMMIT");
    int served = 0, overloaded = 0, other = 0;
    char example[256] = "", other_example[512] = "";
    for (int k = 0; k < COLD_READERS; k++) {
        fc_response_t r;
        if (fc_client_recv(cs[k], &r) != FC_OK)
            fail_msg("recv: %s", fc_client_error(cs[k]));
        if (r.ok) {
            served++;
        } else if (strcmp(r.code, "OVERLOADED") == 0) {
            overloaded++;
            if (r.retry_after_ms <= 0)
                fail_msg("OVERLOADED without retry_after_ms: %s", r.message);
            if (!example[0])
                snprintf(example, sizeof example, "%s", r.message);
        } else {
            other++;
            if (!other_example[0])
                snprintf(other_example, sizeof other_example, "%s: %s", r.code, r.message);
        }
        fc_response_free(&r);
        fc_client_close(cs[k]);
    }
    fprintf(stderr, "# %d cold reads, PostgreSQL locked: %d served, %d OVERLOADED (%s), %d other\n",
            COLD_READERS, served, overloaded, example, other);
    if (other > 0)
        fail_msg("%d cold reads failed otherwise (%s)", other, other_example);
    /* The queue holds 8 (8 x pg_pool) and one rebuild: the rest are shed. */
    assert_true(overloaded >= COLD_READERS / 2);
    assert_true(served >= 1);
    assert_non_null(strstr(example, "PostgreSQL is busy"));
    assert_true(metric(f->d, "feedcache_reads_shed_total") >= overloaded);
    f->finished = true;
}

/* Pipelines pages on a socket it never reads until the daemon counts a slow
 * reader closed (within 10 s); then the socket must end (EOF or reset) and
 * the daemon keep serving others. */
static void expect_slow_reader_closed(fixture_t *f)
{
    wait_first_page(f->c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_pages(&sb);
    int fd = raw_connect(f->d->addr, 4096);
    size_t off = 0;
    bool closed = false;
    for (int i = 0; i < 100 && !closed; i++) {
        push_pages(fd, &sb, &off);
        closed = metric(f->d, "feedcache_rpc_connections_slow_closed_total") >= 1;
        odb_sleep_ms(100);
    }
    msgpack_sbuffer_destroy(&sb);
    if (!closed)
        fail_msg("a client that never reads was not closed within 10 s");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[65536];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        ;
    assert_true(n == 0 || errno == ECONNRESET);
    close(fd);
    char *log = harness_daemon_log(f->d);
    bool said = strstr(log, "closing a slow reader") != NULL;
    free(log);
    assert_true(said);
    /* A new client (f->c may have been idle for longer than idle_timeout). */
    char err[256];
    fc_client_t *c = harness_connect(f->d, 5000, err, sizeof err);
    if (!c)
        fail_msg("connect after the slow reader was closed: %s", err);
    ping_ok(c);
    assert_int_equal(page_bytes(c), NPOSTS);
    fc_client_close(c);
}

/* Unsent output past max_output_hard closes the connection. The soft limit
 * keeps a non-reader's output near it, so the hard limit is reached when
 * replies outgrow the soft one: here both are 64 KiB and a page is 320 KB,
 * so the first page the kernel cannot take does it. */
static void slow_reader_is_closed_past_hard_limit(void **state)
{
    fixture_t *f = *state;
    load_big_feed(f);
    const char *const extra[] = { "--max-output", "65536", "--max-output-hard", "65536", NULL };
    assert_int_equal(fixture_start(f, extra), 0);
    expect_slow_reader_closed(f);
    f->finished = true;
}

/* With the default limits a non-reader is paused, its output held below
 * the hard limit; after idle_timeout without reading it is closed as slow. */
static void stuck_reader_is_closed_after_idle_timeout(void **state)
{
    fixture_t *f = *state;
    load_big_feed(f);
    const char *const extra[] = { "--idle-timeout", "1", NULL };
    assert_int_equal(fixture_start(f, extra), 0);
    expect_slow_reader_closed(f);
    f->finished = true;
}

/* A 32 MiB frame grows the connection's input buffer; it must be given back
 * once the frame was handled, not kept for the connection's life. */
static void input_buffer_shrinks_after_large_frame(void **state)
{
    fixture_t *f = *state;
    const char *const extra[] = { "--max-frame", "67108864", NULL };
    assert_int_equal(fixture_start(f, extra), 0);
    ping_ok(f->c);
    long before = harness_daemon_rss_kb(f->d);
    enum { BLOB = 32 << 20 };
    char *blob = calloc(1, BLOB);
    memset(blob, 'b', BLOB);
    fc_params_t p;
    fc_params_init(&p);
    msgpack_pack_bin_with_body(fc_params_value(&p, "blob"), blob, BLOB);
    free(blob);
    fc_response_t r;
    fc_client_set_timeout(f->c, 20000);
    if (fc_client_call(f->c, "ping", &p, &r) != FC_OK)
        fail_msg("ping with a 32 MiB argument: %s", fc_client_error(f->c));
    assert_true(r.ok);
    fc_response_free(&r);
    fc_params_free(&p);
    ping_ok(f->c);           /* the same connection stays open, and is read again */
    odb_sleep_ms(200);
    long after = harness_daemon_rss_kb(f->d);
    fprintf(stderr, "# large frame: feedcached RSS %ld kB before, %ld kB after a 32 MiB frame\n",
            before, after);
    if (after - before > 8 * 1024 && !SANITIZED)
        fail_msg("RSS stayed %ld kB higher after a 32 MiB frame", after - before);
    f->finished = true;
}

static int group_setup(void **state)
{
    (void)state;
    return fixture_group_setup(&conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(idle_connection_is_closed, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(slow_readers_memory_is_bounded, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_burst_at_low_load_is_held_not_shed, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_read_past_a_full_postgresql_queue_is_overloaded,
                                        fixture_setup_data, fixture_teardown),
        cmocka_unit_test_setup_teardown(slow_reader_is_closed_past_hard_limit,
                                        fixture_setup_data, fixture_teardown),
        cmocka_unit_test_setup_teardown(stuck_reader_is_closed_after_idle_timeout,
                                        fixture_setup_data, fixture_teardown),
        cmocka_unit_test_setup_teardown(input_buffer_shrinks_after_large_frame,
                                        fixture_setup_data, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, fixture_group_teardown);
}

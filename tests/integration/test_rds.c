/* Integration tests for the Redis pool (rds.h) against real redis-servers.
 *
 * This program starts its own throwaway servers (redis-server from PATH, on
 * loopback ports free when it starts, data in a temp dir, daemonized with a
 * pidfile)
 * because it kills, stops and restarts them; it ignores FEEDCACHE_TEST_*.
 * Every server is stopped by PID in the group teardown, even after a failure.
 * FEEDCACHE_TEST_LOG=debug shows the pool's debug logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "metrics/metrics.h"
#include "store/redis/rds.h"
#include "store/redis/rds_script.h"
#include "util/log.h"
#include "harness.h"
#include "redis_direct.h"

extern char **environ;

/* Chosen free at start (pick_ports): fixed ones clashed with another run
 * of this program on the same machine. */
static int port_plain;   /* also serves a unix socket */
static int port_auth;    /* --requirepass */
static int port_kill;
static int port_slow;
static int port_late;
static int port_close;
#define PASSWORD "s3cret pass"

/* --- throwaway servers --------------------------------------------------- */

typedef struct {
    int port;
    pid_t pid;
} server_t;

static server_t servers[16];
static char tmpdir[64];

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static server_t *server_slot(int port)
{
    for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++)
        if (servers[i].port == port)
            return &servers[i];
    for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++)
        if (servers[i].port == 0) {
            servers[i].port = port;
            return &servers[i];
        }
    return NULL;
}

/* Gone, or a zombie nobody reaps yet (it holds no sockets any more). */
static int process_gone(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* Any reply, even NOAUTH, means the server is up. */
static int server_answers(int port)
{
    struct timeval tv = { 0, 200000 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r != NULL;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

static int server_start(int port, int with_password)
{
    server_t *s = server_slot(port);
    if (!s)
        return -1;
    char portstr[16], pidfile[128], logfile[128], sock[128];
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(pidfile, sizeof pidfile, "%s/redis-%d.pid", tmpdir, port);
    snprintf(logfile, sizeof logfile, "%s/redis-%d.log", tmpdir, port);
    snprintf(sock, sizeof sock, "%s/redis-%d.sock", tmpdir, port);
    unlink(pidfile);
    const char *argv[32];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port"; argv[n++] = portstr;
    argv[n++] = "--bind"; argv[n++] = "127.0.0.1";
    argv[n++] = "--save"; argv[n++] = "";
    argv[n++] = "--appendonly"; argv[n++] = "no";
    argv[n++] = "--daemonize"; argv[n++] = "yes";
    argv[n++] = "--pidfile"; argv[n++] = pidfile;
    argv[n++] = "--logfile"; argv[n++] = logfile;
    argv[n++] = "--dir"; argv[n++] = tmpdir;
    argv[n++] = "--enable-debug-command"; argv[n++] = "local";
    argv[n++] = "--unixsocket"; argv[n++] = sock;
    argv[n++] = "--unixsocketperm"; argv[n++] = "700";
    if (with_password) {
        argv[n++] = "--requirepass";
        argv[n++] = PASSWORD;
    }
    argv[n] = NULL;

    pid_t child;
    int rc = posix_spawnp(&child, "redis-server", NULL, NULL, (char *const *)argv, environ);
    if (rc != 0) {
        fprintf(stderr, "cannot run redis-server from PATH: %s\n", strerror(rc));
        return -1;
    }
    int status;
    waitpid(child, &status, 0);   /* the daemonizing parent exits at once */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "redis-server on port %d failed to start\n", port);
        return -1;
    }
    for (uint64_t deadline = now_ms() + 5000; now_ms() < deadline; sleep_ms(20)) {
        FILE *f = fopen(pidfile, "r");
        int pid = 0;
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0 && server_answers(port)) {
            s->pid = pid;
            return 0;
        }
    }
    fprintf(stderr, "redis-server on port %d did not come up (see %s)\n", port, logfile);
    return -1;
}

static void server_signal(int port, int sig)
{
    server_t *s = server_slot(port);
    if (s && s->pid > 0)
        kill(s->pid, sig);
}

/* Stops by PID (SIGCONT first in case it is stopped) and waits until gone. */
static void server_stop(int port, int sig)
{
    server_t *s = server_slot(port);
    if (!s || s->pid <= 0)
        return;
    kill(s->pid, sig);
    kill(s->pid, SIGCONT);
    for (uint64_t deadline = now_ms() + 5000; now_ms() < deadline; sleep_ms(10))
        if (process_gone(s->pid))
            break;
    if (!process_gone(s->pid)) {
        kill(s->pid, SIGKILL);
        sleep_ms(100);
    }
    s->pid = 0;
}

/* --- loop helpers --------------------------------------------------------- */

typedef int pred_fn(void *arg);

static void wake(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until pred(arg) holds or timeout_ms pass; returns pred. */
static int run_until(uv_loop_t *loop, pred_fn *pred, void *arg, unsigned timeout_ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, wake, 2, 2);
    uint64_t deadline = now_ms() + timeout_ms;
    int ok;
    while (!(ok = pred ? pred(arg) : 0) && now_ms() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static void run_for(uv_loop_t *loop, unsigned ms)
{
    run_until(loop, NULL, NULL, ms);
}

typedef struct {
    rds_pool_t *pool;
    int want;
} ready_arg_t;

static int pool_has_ready(void *arg)
{
    ready_arg_t *a = arg;
    return rds_pool_ready(a->pool) >= a->want;
}

static int wait_ready(uv_loop_t *loop, rds_pool_t *pool, int want, unsigned timeout_ms)
{
    ready_arg_t a = { pool, want };
    return run_until(loop, pool_has_ready, &a, timeout_ms);
}

/* Closes the pool, runs the loop dry and checks nothing was left open. */
static void finish(uv_loop_t *loop, rds_pool_t *pool)
{
    if (pool)
        rds_pool_close(pool);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static rds_pool_t *make_pool(uv_loop_t *loop, const char *url, int size, unsigned timeout_ms)
{
    rds_url_t u;
    char err[256];
    if (rds_url_parse(url, &u, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", url, err);
        return NULL;
    }
    rds_pool_options_t o = { .size = size, .timeout_ms = timeout_ms, .name = "test" };
    return rds_pool_create(loop, &u, &o);
}

static const char *url_of(int port, char *buf, size_t n)
{
    snprintf(buf, n, "redis://127.0.0.1:%d", port);
    return buf;
}

static uint64_t counter(const char *name)
{
    return metrics_simple(name, "", METRIC_COUNTER)->count;
}

static double gauge(const char *name)
{
    return metrics_simple(name, "", METRIC_GAUGE)->value;
}

/* --- reply recording ------------------------------------------------------ */

typedef struct {
    int calls, nulls, errors;
    int type;
    long long integer;
    char str[512];
    size_t len;
} rec_t;

static void rec_cb(redisReply *r, void *pd)
{
    rec_t *rec = pd;
    rec->calls++;
    if (!r) {
        rec->nulls++;
        return;
    }
    rec->type = r->type;
    if (r->type == REDIS_REPLY_ERROR)
        rec->errors++;
    if (r->type == REDIS_REPLY_INTEGER)
        rec->integer = r->integer;
    if (r->str) {
        rec->len = r->len < sizeof rec->str ? r->len : sizeof rec->str - 1;
        memcpy(rec->str, r->str, rec->len);
        rec->str[rec->len] = '\0';
    }
}

typedef struct {
    rec_t *rec;
    int want;
} calls_arg_t;

static int has_calls(void *arg)
{
    calls_arg_t *a = arg;
    return a->rec->calls >= a->want;
}

static int wait_calls(uv_loop_t *loop, rec_t *rec, int want, unsigned timeout_ms)
{
    calls_arg_t a = { rec, want };
    return run_until(loop, has_calls, &a, timeout_ms);
}

/* --- sending --------------------------------------------------------------- */

/* Builds a command from one line split on spaces ("GET k1"), printf-style:
 * enough for the tests' text commands. Binary ones use rds_args_add. */
static void args_line(rds_args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void args_line(rds_args_t *a, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    rds_args_reset(a);
    for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save))
        rds_args_str(a, tok);
}

/* rds_send of a one-line command; the args are gone when it returns, which
 * also checks that rds_send needs them no longer. */
static void send_line(rds_pool_t *pool, unsigned affinity, rds_reply_fn *cb, void *pd,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void send_line(rds_pool_t *pool, unsigned affinity, rds_reply_fn *cb, void *pd,
                      const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    rds_args_t a;
    rds_args_init(&a);
    args_line(&a, "%s", line);
    rds_send(pool, affinity, &a, cb, pd);
    rds_args_free(&a);
}

/* One command, waited for; returns its record. */
static rec_t roundtrip(uv_loop_t *loop, rds_pool_t *pool, rds_args_t *a)
{
    rec_t rec = { 0 };
    rds_send(pool, 0, a, rec_cb, &rec);
    assert_int_equal(rec.calls, 0);   /* never from inside rds_send */
    assert_true(wait_calls(loop, &rec, 1, 5000));
    assert_int_equal(rec.calls, 1);
    return rec;
}

static rec_t roundtrip_line(uv_loop_t *loop, rds_pool_t *pool, const char *line)
{
    rds_args_t a;
    rds_args_init(&a);
    args_line(&a, "%s", line);
    rec_t rec = roundtrip(loop, pool, &a);
    rds_args_free(&a);
    return rec;
}

/* --- tests ---------------------------------------------------------------- */

static void commands_and_binary_safety(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_plain, url, sizeof url), 2, 1000);
    assert_non_null(pool);
    assert_true(wait_ready(&loop, pool, 2, 5000));
    uint64_t cmds0 = counter("feedcache_redis_commands_total");
    uint64_t errs0 = counter("feedcache_redis_errors_total");
    assert_int_equal(gauge("feedcache_redis_connections"), 2);

    const char key[] = "bin\0key", val[] = "a\0b\r\nc";
    rds_args_t a;
    rds_args_init(&a);
    rds_args_str(&a, "SET");
    rds_args_add(&a, key, 7);
    rds_args_add(&a, val, 6);
    rec_t r = roundtrip(&loop, pool, &a);
    assert_int_equal(r.type, REDIS_REPLY_STATUS);
    assert_string_equal(r.str, "OK");

    rds_args_reset(&a);
    rds_args_str(&a, "GET");
    rds_args_add(&a, key, 7);
    r = roundtrip(&loop, pool, &a);
    assert_int_equal(r.type, REDIS_REPLY_STRING);
    assert_int_equal(r.len, 6);
    assert_memory_equal(r.str, val, 6);

    /* Integers through rds_args_int; the reply is an integer. */
    roundtrip_line(&loop, pool, "DEL intkey");
    rds_args_reset(&a);
    rds_args_str(&a, "INCRBY");
    rds_args_str(&a, "intkey");
    rds_args_int(&a, -9000000000123LL);
    r = roundtrip(&loop, pool, &a);
    assert_int_equal(r.type, REDIS_REPLY_INTEGER);
    assert_true(r.integer == -9000000000123LL);

    /* An error reply is a reply, delivered once. */
    roundtrip_line(&loop, pool, "SET strkey x");
    r = roundtrip_line(&loop, pool, "INCR strkey");
    assert_int_equal(r.type, REDIS_REPLY_ERROR);
    assert_int_equal(r.errors, 1);

    /* No callback wanted: still counted and completed. */
    args_line(&a, "PING");
    rds_send(pool, 3, &a, NULL, NULL);
    assert_int_equal(rds_pool_pending(pool), 1);
    run_for(&loop, 100);
    assert_int_equal(rds_pool_pending(pool), 0);

    /* An empty command is not sent: NULL, from the loop, counted as an error. */
    rec_t e = { 0 };
    rds_args_reset(&a);
    rds_send(pool, 0, &a, rec_cb, &e);
    rds_send(pool, 0, NULL, rec_cb, &e);
    assert_int_equal(e.calls, 0);
    assert_true(wait_calls(&loop, &e, 2, 1000));
    assert_int_equal(e.nulls, 2);
    /* No pool: nothing to call back from; logged, never called. */
    rds_send(NULL, 0, &a, rec_cb, &e);
    run_for(&loop, 20);
    assert_int_equal(e.calls, 2);

    assert_int_equal(counter("feedcache_redis_commands_total") - cmds0, 7);
    assert_int_equal(counter("feedcache_redis_errors_total") - errs0, 3);
    rds_args_free(&a);
    finish(&loop, pool);
    assert_int_equal(gauge("feedcache_redis_connections"), 0);
}

typedef struct {
    int calls, in_order;
} incr_state_t;

typedef struct {
    incr_state_t *st;
    long long want;
} incr_t;

static void incr_cb(redisReply *r, void *pd)
{
    incr_t *x = pd;
    x->st->calls++;
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != x->want ||
        x->st->calls != x->want)
        x->st->in_order = 0;
}

static int incr_done(void *arg)
{
    return ((incr_state_t *)arg)->calls >= 1000;
}

static void pipelined_incrs_in_order(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_plain, url, sizeof url), 4, 2000);
    assert_true(wait_ready(&loop, pool, 4, 5000));
    roundtrip_line(&loop, pool, "DEL incr:counter");

    static incr_t slots[1000];
    incr_state_t st = { 0, 1 };
    rds_args_t incr;
    rds_args_init(&incr);
    args_line(&incr, "INCR incr:counter");
    /* All queued in one tick: hiredis writes them as one pipeline. */
    for (int i = 0; i < 1000; i++) {
        slots[i].st = &st;
        slots[i].want = i + 1;
        rds_send(pool, 77, &incr, incr_cb, &slots[i]);
    }
    rds_args_free(&incr);
    assert_int_equal(rds_pool_pending(pool), 1000);
    assert_true(run_until(&loop, incr_done, &st, 10000));
    assert_int_equal(st.calls, 1000);
    assert_true(st.in_order);
    assert_int_equal(rds_pool_pending(pool), 0);
    finish(&loop, pool);
}

static void auth_and_select(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    /* The password has a space: %20 in the URL. */
    snprintf(url, sizeof url, "redis://:s3cret%%20pass@127.0.0.1:%d/3", port_auth);
    rds_pool_t *pool = make_pool(&loop, url, 2, 1000);
    assert_true(wait_ready(&loop, pool, 2, 5000));

    rec_t r = roundtrip_line(&loop, pool, "SET db3:key in-three");
    assert_string_equal(r.str, "OK");
    for (unsigned aff = 0; aff < 2; aff++) {   /* both connections */
        rec_t ci = { 0 };
        send_line(pool, aff, rec_cb, &ci, "CLIENT INFO");
        assert_true(wait_calls(&loop, &ci, 1, 5000));
        assert_non_null(strstr(ci.str, " db=3 "));
    }
    finish(&loop, pool);

    /* The key really is in db 3 (checked with a plain blocking client). */
    redisContext *c = redisConnect("127.0.0.1", port_auth);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *rep = redisCommand(c, "AUTH %s", PASSWORD);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    rep = redisCommand(c, "GET db3:key");
    assert_int_equal(rep->type, REDIS_REPLY_NIL);   /* not in db 0 */
    freeReplyObject(rep);
    rep = redisCommand(c, "SELECT 3");
    freeReplyObject(rep);
    rep = redisCommand(c, "GET db3:key");
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "in-three");
    freeReplyObject(rep);
    redisFree(c);

    /* Wrong password, or none: never ready, commands fail (NULL, later). */
    const char *fmts[] = { "redis://:wrong@127.0.0.1:%d/3", "redis://127.0.0.1:%d" };
    for (int i = 0; i < 2; i++) {
        uv_loop_init(&loop);
        snprintf(url, sizeof url, fmts[i], port_auth);
        pool = make_pool(&loop, url, 2, 1000);
        run_for(&loop, 600);
        assert_int_equal(rds_pool_ready(pool), 0);
        rec_t n = { 0 };
        send_line(pool, 0, rec_cb, &n, "PING");
        assert_int_equal(n.calls, 0);
        assert_true(wait_calls(&loop, &n, 1, 1000));
        assert_int_equal(n.nulls, 1);
        finish(&loop, pool);
        assert_int_equal(n.calls, 1);
    }
}

/* Commands sent right after the pool is created, before any connection is
 * up, wait for the first one (callers send the moment the service answers)
 * and get their replies, in order. */
static void first_connect_waits(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    rds_pool_t *pool = make_pool(&loop, url_of(port_plain, url, sizeof url), 2, 1000);
    assert_int_equal(rds_pool_ready(pool), 0);
    rec_t r[3];
    memset(r, 0, sizeof r);
    send_line(pool, 0, rec_cb, &r[0], "SET early:k v1");
    send_line(pool, 0, rec_cb, &r[1], "APPEND early:k v2");
    send_line(pool, 0, rec_cb, &r[2], "GET early:k");
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].calls, 0);
    for (int i = 0; i < 3; i++)
        assert_true(wait_calls(&loop, &r[i], 1, 3000));
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].nulls, 0);
    assert_string_equal(r[2].str, "v1v2");
    rec_t del = roundtrip_line(&loop, pool, "DEL early:k");
    assert_int_equal(del.integer, 1);
    finish(&loop, pool);
}

/* redis://user:password@: the pool logs in as that ACL user (AUTH user
 * password), not as `default`; a wrong password for the user never gets
 * ready. */
static void acl_user(void **state)
{
    (void)state;
    redisContext *c = redisConnect("127.0.0.1", port_plain);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *rep = redisCommand(c, "ACL SETUSER fcacl on >acl%%pw ~* &* +@all");
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);

    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    snprintf(url, sizeof url, "redis://fcacl:acl%%25pw@127.0.0.1:%d", port_plain);
    rds_pool_t *pool = make_pool(&loop, url, 1, 1000);
    assert_true(wait_ready(&loop, pool, 1, 5000));
    rec_t who = roundtrip_line(&loop, pool, "ACL WHOAMI");
    assert_string_equal(who.str, "fcacl");
    finish(&loop, pool);

    uv_loop_init(&loop);
    snprintf(url, sizeof url, "redis://fcacl:wrong@127.0.0.1:%d", port_plain);
    pool = make_pool(&loop, url, 1, 1000);
    run_for(&loop, 600);
    assert_int_equal(rds_pool_ready(pool), 0);
    finish(&loop, pool);

    rep = redisCommand(c, "ACL DELUSER fcacl");
    freeReplyObject(rep);
    redisFree(c);
}

static void unix_socket_with_db(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[160];
    snprintf(url, sizeof url, "unix://%s/redis-%d.sock?db=2", tmpdir, port_plain);
    rds_pool_t *pool = make_pool(&loop, url, 1, 1000);
    assert_true(wait_ready(&loop, pool, 1, 5000));
    rec_t ci = roundtrip_line(&loop, pool, "CLIENT INFO");
    assert_non_null(strstr(ci.str, " db=2 "));
    finish(&loop, pool);
}

/* On NULL, sends the command again from inside the callback: the pool must
 * not hand it to a connection hiredis is tearing down, and every command
 * sent still gets exactly one callback. One retry per command at most: with
 * no connection left, a retry fails again (later), forever. */
typedef struct {
    rds_pool_t *pool;
    int sent, calls, nulls, retries, max_retries;
} retrier_t;

static void retry_cb(redisReply *r, void *pd)
{
    retrier_t *t = pd;
    t->calls++;
    if (r)
        return;
    t->nulls++;
    if (t->retries < t->max_retries) {
        t->retries++;
        t->sent++;
        send_line(t->pool, (unsigned)t->calls, retry_cb, t, "GET k");
    }
}

static int retrier_done(void *arg)
{
    retrier_t *t = arg;
    return t->calls == t->sent;
}

static void killed_server_fails_everything_then_reconnects(void **state)
{
    (void)state;
    assert_int_equal(server_start(port_kill, 0), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_kill, url, sizeof url), 2, 3000);
    assert_true(wait_ready(&loop, pool, 2, 5000));
    uint64_t timeouts0 = counter("feedcache_redis_timeouts_total");
    uint64_t reconnects0 = counter("feedcache_redis_reconnects_total");

    /* Stopped: the commands are written but never answered. */
    server_signal(port_kill, SIGSTOP);
    retrier_t rt = { .pool = pool, .max_retries = 200 };
    rds_args_t get;
    rds_args_init(&get);
    args_line(&get, "GET k");
    for (unsigned i = 0; i < 200; i++) {
        rds_send(pool, i, &get, retry_cb, &rt);
        rt.sent++;
    }
    run_for(&loop, 100);
    assert_int_equal(rt.calls, 0);
    assert_int_equal(rds_pool_pending(pool), 200);

    server_stop(port_kill, SIGKILL);
    uint64_t t0 = now_ms();
    assert_true(run_until(&loop, retrier_done, &rt, 2500));
    fprintf(stderr, "# killed: %d callbacks, all NULL: %d, re-sent from callbacks: %d\n",
            rt.calls, rt.nulls == rt.calls, rt.retries);
    assert_int_equal(rt.calls, 400);
    assert_int_equal(rt.nulls, rt.calls);
    assert_true(now_ms() - t0 < 2500);
    assert_int_equal(counter("feedcache_redis_timeouts_total"), timeouts0);  /* seen as lost, not slow */
    assert_int_equal(rds_pool_ready(pool), 0);
    assert_int_equal(rds_pool_pending(pool), 0);
    rec_t none = { 0 };
    rds_send(pool, 0, &get, rec_cb, &none);
    assert_int_equal(none.calls, 0);
    assert_true(wait_calls(&loop, &none, 1, 1000));
    assert_int_equal(none.nulls, 1);

    /* Down for a while (backoff grows), then back: the pool heals itself. */
    run_for(&loop, 700);
    assert_int_equal(rds_pool_ready(pool), 0);
    assert_int_equal(server_start(port_kill, 0), 0);
    t0 = now_ms();
    assert_true(wait_ready(&loop, pool, 2, 10000));
    fprintf(stderr, "# reconnected %llu ms after the restart\n",
            (unsigned long long)(now_ms() - t0));
    assert_true(counter("feedcache_redis_reconnects_total") > reconnects0);
    rec_t ok = roundtrip_line(&loop, pool, "SET k v");
    assert_string_equal(ok.str, "OK");
    rds_args_free(&get);
    finish(&loop, pool);
    server_stop(port_kill, SIGTERM);
}

static void command_timeout_drops_and_recovers(void **state)
{
    (void)state;
    assert_int_equal(server_start(port_slow, 0), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_slow, url, sizeof url), 1, 300);
    assert_true(wait_ready(&loop, pool, 1, 5000));
    uint64_t timeouts0 = counter("feedcache_redis_timeouts_total");

    /* DEBUG SLEEP 2 blocks the server for 2 s; both commands must fail after
     * ~300 ms (the tick runs every 75 ms). */
    rec_t rec = { 0 };
    send_line(pool, 0, rec_cb, &rec, "DEBUG SLEEP 2");
    send_line(pool, 0, rec_cb, &rec, "GET k");
    uint64_t t0 = now_ms();
    assert_true(wait_calls(&loop, &rec, 2, 3000));
    uint64_t took = now_ms() - t0;
    fprintf(stderr, "# DEBUG SLEEP: NULL after %llu ms\n", (unsigned long long)took);
    assert_int_equal(rec.nulls, 2);
    assert_true(took >= 250 && took < 1000);
    assert_true(counter("feedcache_redis_timeouts_total") > timeouts0);

    /* Reconnects (handshakes time out until the server wakes up). */
    assert_true(wait_ready(&loop, pool, 1, 8000));
    rec_t ok = roundtrip_line(&loop, pool, "SET k after");
    assert_string_equal(ok.str, "OK");

    /* Same with a stopped process. */
    server_signal(port_slow, SIGSTOP);
    rec_t st = { 0 };
    send_line(pool, 5, rec_cb, &st, "GET k");
    t0 = now_ms();
    assert_true(wait_calls(&loop, &st, 1, 3000));
    took = now_ms() - t0;
    fprintf(stderr, "# SIGSTOP: NULL after %llu ms\n", (unsigned long long)took);
    assert_int_equal(st.nulls, 1);
    assert_true(took >= 250 && took < 1000);
    run_for(&loop, 500);
    assert_int_equal(rds_pool_ready(pool), 0);   /* handshake cannot finish */
    server_signal(port_slow, SIGCONT);
    assert_true(wait_ready(&loop, pool, 1, 8000));
    ok = roundtrip_line(&loop, pool, "GET k");
    assert_string_equal(ok.str, "after");
    finish(&loop, pool);
    server_stop(port_slow, SIGTERM);
}

static void server_down_at_start(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_late, url, sizeof url), 2, 500);
    assert_non_null(pool);
    run_for(&loop, 400);
    assert_int_equal(rds_pool_ready(pool), 0);
    rec_t rec = { 0 };
    send_line(pool, 0, rec_cb, &rec, "PING");
    assert_int_equal(rec.calls, 0);
    assert_true(wait_calls(&loop, &rec, 1, 1000));
    assert_int_equal(rec.nulls, 1);
    assert_int_equal(server_start(port_late, 0), 0);
    assert_true(wait_ready(&loop, pool, 2, 10000));
    rec = roundtrip_line(&loop, pool, "PING");
    assert_string_equal(rec.str, "PONG");
    finish(&loop, pool);
    server_stop(port_late, SIGTERM);
}

/* A host name is resolved on the thread pool (here from /etc/hosts), and
 * every address it has is tried (localhost may also be ::1, where nothing
 * listens). */
static void host_name_resolves(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    snprintf(url, sizeof url, "redis://localhost:%d", port_plain);
    rds_pool_t *pool = make_pool(&loop, url, 2, 1000);
    assert_non_null(pool);
    assert_int_equal(rds_pool_ready(pool), 0);
    assert_true(wait_ready(&loop, pool, 2, 5000));
    rec_t rec = roundtrip_line(&loop, pool, "PING");
    assert_string_equal(rec.str, "PONG");
    assert_string_equal(rds_pool_last_error(pool), "");
    finish(&loop, pool);
}

/* A name that does not resolve is a connection failure like a refused
 * connect: commands fail (NULL, from the loop), the pool says why, keeps
 * retrying with backoff, and closes cleanly with a lookup in flight. */
static void unresolvable_name_is_a_failed_connect(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    rds_pool_t *pool = make_pool(&loop, "redis://no-such-host.invalid:6379", 2, 300);
    assert_non_null(pool);
    uint64_t reconnects0 = counter("feedcache_redis_reconnects_total");
    run_for(&loop, 600);
    assert_int_equal(rds_pool_ready(pool), 0);
    assert_non_null(strstr(rds_pool_last_error(pool), "cannot resolve 'no-such-host.invalid'"));
    assert_true(counter("feedcache_redis_reconnects_total") > reconnects0);
    rec_t rec = { 0 };
    send_line(pool, 0, rec_cb, &rec, "PING");
    assert_int_equal(rec.calls, 0);
    assert_true(wait_calls(&loop, &rec, 1, 1000));
    assert_int_equal(rec.nulls, 1);
    finish(&loop, pool);
}

/* A failure rds_send defers runs on the next loop iteration, not before
 * rds_send returns and not in the middle of another callback's turn. */
typedef struct {
    rds_pool_t *pool;
    int calls, nulls, max;
} stubborn_t;

static void stubborn_cb(redisReply *r, void *pd)
{
    stubborn_t *s = pd;
    s->calls++;
    s->nulls += r == NULL;
    if (s->calls < s->max)
        send_line(s->pool, 0, stubborn_cb, s, "PING");   /* fails again */
}

static void not_connected_calls_back_later_with_null(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    /* Nothing listens on port_late now: the pool never gets a connection. */
    rds_pool_t *pool = make_pool(&loop, url_of(port_late, url, sizeof url), 2, 500);
    run_for(&loop, 100);
    assert_int_equal(rds_pool_ready(pool), 0);
    uint64_t errs0 = counter("feedcache_redis_errors_total");
    uint64_t cmds0 = counter("feedcache_redis_commands_total");

    rec_t a = { 0 }, b = { 0 };
    send_line(pool, 0, rec_cb, &a, "PING");
    send_line(pool, 1, rec_cb, &b, "GET k");
    send_line(pool, 2, NULL, NULL, "PING");          /* no callback: must not leak */
    assert_int_equal(a.calls + b.calls, 0);
    assert_int_equal(rds_pool_pending(pool), 3);      /* waiting for their callback */
    uv_run(&loop, UV_RUN_NOWAIT);                     /* one iteration */
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.nulls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.nulls, 1);
    assert_int_equal(rds_pool_pending(pool), 0);
    assert_int_equal(counter("feedcache_redis_errors_total") - errs0, 3);
    assert_int_equal(counter("feedcache_redis_commands_total"), cmds0);   /* none sent */

    /* A callback that sends again gets its answer on the next iteration:
     * one call per iteration, and the loop gets on with the rest. */
    stubborn_t s = { .pool = pool, .max = 5 };
    send_line(pool, 0, stubborn_cb, &s, "PING");
    for (int i = 1; i <= 5; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        assert_int_equal(s.calls, i);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(s.calls, 5);
    assert_int_equal(s.nulls, 5);
    assert_int_equal(rds_pool_pending(pool), 0);
    finish(&loop, pool);
}

static void close_runs_deferred_failures(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_late, url, sizeof url), 1, 500);
    run_for(&loop, 50);
    assert_int_equal(rds_pool_ready(pool), 0);

    /* Deferred, then closed before the loop ran them: close runs them. */
    rec_t rec = { 0 };
    for (int i = 0; i < 3; i++)
        send_line(pool, 0, rec_cb, &rec, "PING");
    send_line(pool, 0, NULL, NULL, "PING");
    assert_int_equal(rec.calls, 0);
    rds_pool_close(pool);
    assert_int_equal(rec.calls, 3);   /* before close returned */
    assert_int_equal(rec.nulls, 3);

    /* Sent after the close (while the pool still exists): NULL from the loop. */
    rec_t late = { 0 };
    send_line(pool, 0, rec_cb, &late, "PING");
    send_line(pool, 0, NULL, NULL, "PING");
    assert_int_equal(late.calls, 0);
    finish(&loop, NULL);              /* runs the loop dry: the pool is freed */
    assert_int_equal(late.calls, 1);
    assert_int_equal(late.nulls, 1);
    assert_int_equal(rec.calls, 3);
}

/* Closing the pool from the callback of a deferred failure, with more of
 * them queued behind it and one sent from inside. */
typedef struct {
    rds_pool_t *pool;
    rec_t rec, inner;
} defer_closer_t;

static void close_in_deferred_cb(redisReply *r, void *pd)
{
    defer_closer_t *d = pd;
    rec_cb(r, &d->rec);
    if (d->rec.calls == 1) {
        rds_pool_close(d->pool);
        send_line(d->pool, 0, rec_cb, &d->inner, "PING");
    }
}

static void close_from_a_deferred_callback(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_late, url, sizeof url), 1, 500);
    run_for(&loop, 50);
    defer_closer_t d = { .pool = pool };
    for (int i = 0; i < 4; i++)
        send_line(pool, 0, close_in_deferred_cb, &d, "PING");
    uv_run(&loop, UV_RUN_DEFAULT);   /* ends once the pool is closed and freed */
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(d.rec.calls, 4);
    assert_int_equal(d.rec.nulls, 4);
    assert_int_equal(d.inner.calls, 1);
    assert_int_equal(d.inner.nulls, 1);
}

static void close_runs_outstanding_callbacks(void **state)
{
    (void)state;
    assert_int_equal(server_start(port_close, 0), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_close, url, sizeof url), 2, 5000);
    assert_true(wait_ready(&loop, pool, 2, 5000));
    server_signal(port_close, SIGSTOP);
    rec_t rec = { 0 };
    for (unsigned i = 0; i < 50; i++)
        send_line(pool, i, rec_cb, &rec, "GET k%u", i);
    run_for(&loop, 50);
    assert_int_equal(rec.calls, 0);
    rds_pool_close(pool);
    assert_int_equal(rec.calls, 50);   /* before close returned */
    assert_int_equal(rec.nulls, 50);
    send_line(pool, 0, rec_cb, &rec, "PING");   /* closed: NULL, from the loop */
    assert_int_equal(rec.calls, 50);
    rds_pool_close(pool);   /* twice is harmless */
    finish(&loop, NULL);
    assert_int_equal(rec.calls, 51);
    assert_int_equal(rec.nulls, 51);
    server_signal(port_close, SIGCONT);
}

typedef struct {
    rds_pool_t *pool;
    rec_t rec, late;
} closer_t;

static void close_from_callback(redisReply *r, void *pd)
{
    closer_t *c = pd;
    rec_cb(r, &c->rec);
    if (c->rec.calls == 1) {
        rds_pool_close(c->pool);
        send_line(c->pool, 0, rec_cb, &c->late, "PING");
        assert_int_equal(c->late.calls, 0);
    }
}

static void close_from_inside_a_callback(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_close, url, sizeof url), 2, 5000);
    assert_true(wait_ready(&loop, pool, 2, 5000));
    closer_t c = { .pool = pool };
    for (int i = 0; i < 10; i++)
        send_line(pool, 0, close_from_callback, &c, "PING");
    /* Never answered (blocks server-side): must get NULL from the close. */
    rec_t other = { 0 };
    send_line(pool, 1, rec_cb, &other, "BLPOP never:pushed 0");
    uv_run(&loop, UV_RUN_DEFAULT);   /* ends once the pool is closed and freed */
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(c.rec.calls, 10);
    assert_int_equal(c.rec.nulls, 9);
    assert_int_equal(c.late.calls, 1);   /* sent on a closing pool: NULL, later */
    assert_int_equal(c.late.nulls, 1);
    assert_int_equal(other.calls, 1);
    assert_int_equal(other.nulls, 1);
    server_stop(port_close, SIGTERM);
}

static void two_pools_share_metrics(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *a = make_pool(&loop, url_of(port_plain, url, sizeof url), 2, 1000);
    char url_b[64];
    snprintf(url_b, sizeof url_b, "redis://localhost:%d/1", port_plain);
    rds_pool_t *b = make_pool(&loop, url_b, 1, 1000);
    assert_true(wait_ready(&loop, a, 2, 5000));
    assert_true(wait_ready(&loop, b, 1, 5000));
    assert_int_equal(gauge("feedcache_redis_connections"), 3);
    buf_t out;
    buf_init(&out);
    metrics_render(&out);
    const char *first = strstr(out.data, "# TYPE feedcache_redis_commands_total counter\n");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE feedcache_redis_commands_total"));
    assert_non_null(strstr(out.data, "# TYPE feedcache_redis_connections gauge\nfeedcache_redis_connections 3\n"));
    buf_free(&out);
    rds_pool_close(a);
    assert_int_equal(gauge("feedcache_redis_connections"), 1);
    finish(&loop, b);
    assert_int_equal(gauge("feedcache_redis_connections"), 0);
}

static void bad_options_are_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    rds_url_t u;
    char err[128];
    assert_int_equal(rds_url_parse("redis://127.0.0.1:16419", &u, err, sizeof err), 0);
    rds_pool_options_t o = { .size = 0, .timeout_ms = 100, .name = "bad" };
    assert_null(rds_pool_create(&loop, &u, &o));
    o.size = 1;
    u.host[0] = '\0';
    assert_null(rds_pool_create(&loop, &u, &o));
    finish(&loop, NULL);
}

/* --- scripts by digest ------------------------------------------------------ */

static const char script_get[] = "return redis.call('GET', KEYS[1])";
static const char script_broken[] = "return (";

static void send_script(rds_pool_t *pool, const char *script, const char *key, rec_t *rec)
{
    rds_args_t a;
    rds_args_init(&a);
    rds_args_eval(&a, script, 1);
    rds_args_str(&a, key);
    rds_send(pool, 0, &a, rec_cb, rec);
    rds_args_free(&a);
}

/* calls= of INFO commandstats' line for cmd (eval, evalsha), 0 when none. */
static long long cmd_calls(redisContext *c, const char *cmd)
{
    redisReply *rep = redisCommand(c, "INFO commandstats");
    assert_non_null(rep);
    char pattern[64];
    snprintf(pattern, sizeof pattern, "cmdstat_%s:calls=", cmd);
    const char *p = rep->str ? strstr(rep->str, pattern) : NULL;
    long long n = p ? strtoll(p + strlen(pattern), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

static void direct_ok(redisContext *c, const char *line)
{
    redisReply *rep = redisCommand(c, line);
    assert_non_null(rep);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
}

/* rds_args_eval writes EVALSHA; a connection that has not run the script
 * yet sends EVAL (once: later calls go by digest). After SCRIPT FLUSH the
 * EVALSHAs get NOSCRIPT and go again as EVAL on the same connection: the
 * callers see only the script's answer, but a resent call runs after what
 * was pipelined behind it (here a SET: both scripts read its value). A
 * script that does not compile goes by EVAL every time and its error
 * reaches the caller; an EVALSHA of a digest nobody registered is sent as
 * it is, NOSCRIPT included. A reconnect forgets what was loaded. */
static void scripts_go_by_digest(void **state)
{
    (void)state;
    redisContext *c = redisConnect("127.0.0.1", port_plain);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    /* Our digest is Redis's. */
    redisReply *rep = redisCommand(c, "SCRIPT LOAD %s", script_get);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, rds_script_sha(rds_script_register(script_get)));
    freeReplyObject(rep);
    direct_ok(c, "SCRIPT FLUSH");
    direct_ok(c, "CONFIG RESETSTAT");
    direct_ok(c, "SET sk v1");

    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    rds_pool_t *pool = make_pool(&loop, url_of(port_plain, url, sizeof url), 1, 1000);
    assert_true(wait_ready(&loop, pool, 1, 5000));
    uint64_t loads0 = counter("feedcache_redis_script_loads_total");
    uint64_t noscript0 = counter("feedcache_redis_noscript_total");

    /* First call: EVAL; then three at once: EVALSHA. */
    rec_t r[4];
    memset(r, 0, sizeof r);
    send_script(pool, script_get, "sk", &r[0]);
    assert_true(wait_calls(&loop, &r[0], 1, 5000));
    for (int i = 1; i < 4; i++)
        send_script(pool, script_get, "sk", &r[i]);
    for (int i = 1; i < 4; i++)
        assert_true(wait_calls(&loop, &r[i], 1, 5000));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].errors + r[i].nulls, 0);
        assert_string_equal(r[i].str, "v1");
    }
    assert_int_equal(cmd_calls(c, "eval"), 1);
    assert_int_equal(cmd_calls(c, "evalsha"), 3);
    assert_int_equal(counter("feedcache_redis_script_loads_total") - loads0, 1);

    /* SCRIPT FLUSH under the pool; script, SET, script pipelined. */
    direct_ok(c, "SCRIPT FLUSH");
    rec_t a = { 0 }, set = { 0 }, b = { 0 };
    send_script(pool, script_get, "sk", &a);
    send_line(pool, 0, rec_cb, &set, "SET sk v2");
    send_script(pool, script_get, "sk", &b);
    assert_true(wait_calls(&loop, &a, 1, 5000));
    assert_true(wait_calls(&loop, &b, 1, 5000));
    assert_true(wait_calls(&loop, &set, 1, 5000));
    assert_int_equal(a.errors + a.nulls + b.errors + b.nulls + set.errors + set.nulls, 0);
    assert_string_equal(a.str, "v2");     /* ran after the SET behind it */
    assert_string_equal(b.str, "v2");
    assert_int_equal(counter("feedcache_redis_noscript_total") - noscript0, 2);
    assert_int_equal(cmd_calls(c, "eval"), 3);
    assert_int_equal(cmd_calls(c, "evalsha"), 5);
    /* Loaded again: by digest. */
    rec_t again = { 0 };
    send_script(pool, script_get, "sk", &again);
    assert_true(wait_calls(&loop, &again, 1, 5000));
    assert_string_equal(again.str, "v2");
    assert_int_equal(cmd_calls(c, "eval"), 3);
    assert_int_equal(cmd_calls(c, "evalsha"), 6);

    /* A script that does not compile: EVAL each time, the error reaches
     * the caller, nothing is resent. */
    for (int i = 0; i < 2; i++) {
        rec_t bad = { 0 };
        send_script(pool, script_broken, "sk", &bad);
        assert_true(wait_calls(&loop, &bad, 1, 5000));
        assert_int_equal(bad.errors, 1);
        assert_non_null(strstr(bad.str, "compiling"));
    }
    assert_int_equal(cmd_calls(c, "eval"), 5);
    /* A digest nobody registered: as it is. */
    rec_t raw = roundtrip_line(&loop, pool, "EVALSHA 0000000000000000000000000000000000000000 0");
    assert_int_equal(raw.errors, 1);
    assert_memory_equal(raw.str, "NOSCRIPT", 8);
    assert_int_equal(counter("feedcache_redis_noscript_total") - noscript0, 2);

    /* A new connection knows nothing: EVAL again. */
    direct_ok(c, "CLIENT KILL TYPE normal SKIPME yes");
    run_for(&loop, 300);
    assert_true(wait_ready(&loop, pool, 1, 5000));
    rec_t fresh = { 0 };
    send_script(pool, script_get, "sk", &fresh);
    assert_true(wait_calls(&loop, &fresh, 1, 5000));
    assert_string_equal(fresh.str, "v2");
    assert_int_equal(cmd_calls(c, "eval"), 6);

    direct_ok(c, "DEL sk");
    redisFree(c);
    finish(&loop, pool);
}

/* --- setup ---------------------------------------------------------------- */

/* Six distinct free ports. */
static int pick_ports(void)
{
    int *ports[] = { &port_plain, &port_auth, &port_kill, &port_slow, &port_late, &port_close };
    size_t n = sizeof ports / sizeof ports[0];
    for (size_t i = 0; i < n; i++) {
        for (int tries = 0;; tries++) {
            int p = harness_free_port();
            bool taken = false;
            for (size_t j = 0; j < i; j++)
                taken |= *ports[j] == p;
            if (p > 0 && !taken) {
                *ports[i] = p;
                break;
            }
            if (tries == 100)
                return -1;
        }
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    const char *lvl = getenv("FEEDCACHE_TEST_LOG");
    log_level_t l;
    if (lvl && log_level_parse(lvl, &l) == 0)
        log_set_level(l);
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fc-rds-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return -1;
    }
    if (pick_ports() != 0) {
        fprintf(stderr, "no free loopback ports\n");
        return -1;
    }
    if (server_start(port_plain, 0) != 0 || server_start(port_auth, 1) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++)
        if (servers[i].port)
            server_stop(servers[i].port, SIGTERM);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (tmpdir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    metrics_teardown();
    return 0;
}

int main(void)
{
    /* The cluster step of scripts/test.sh runs the integration suite again
     * with a redis-cluster:// URL; this program starts single Redis servers of its own
     * (AUTH, SELECT, unix sockets: none of which a cluster has), so running it again would
     * pass without testing anything new. */
    const char *url = getenv("FEEDCACHE_TEST_REDIS_URL");
    if (rdirect_url_is_cluster(url)) {
        printf("SKIP: FEEDCACHE_TEST_REDIS_URL is a cluster; test_rds tests the single-node pool against servers of its own (the plain run covers it)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commands_and_binary_safety),
        cmocka_unit_test(pipelined_incrs_in_order),
        cmocka_unit_test(auth_and_select),
        cmocka_unit_test(acl_user),
        cmocka_unit_test(first_connect_waits),
        cmocka_unit_test(unix_socket_with_db),
        cmocka_unit_test(killed_server_fails_everything_then_reconnects),
        cmocka_unit_test(command_timeout_drops_and_recovers),
        cmocka_unit_test(server_down_at_start),
        cmocka_unit_test(host_name_resolves),
        cmocka_unit_test(unresolvable_name_is_a_failed_connect),
        cmocka_unit_test(not_connected_calls_back_later_with_null),
        cmocka_unit_test(close_runs_deferred_failures),
        cmocka_unit_test(close_from_a_deferred_callback),
        cmocka_unit_test(close_runs_outstanding_callbacks),
        cmocka_unit_test(close_from_inside_a_callback),
        cmocka_unit_test(two_pools_share_metrics),
        cmocka_unit_test(scripts_go_by_digest),
        cmocka_unit_test(bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

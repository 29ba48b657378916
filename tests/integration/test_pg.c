/* Integration tests for the PostgreSQL pool (src/store/pg) and sql/schema.sql.
 *
 * This test starts its OWN PostgreSQL 15 (initdb into a temp dir as user
 * postgres, loopback only, a port in 16500..16519) instead of using
 * FEEDCACHE_TEST_PG, because it stops and restarts the server. It needs
 * root (for runuser) and /usr/lib/postgresql/15/bin; without them every
 * test is skipped. Each test runs its own uv loop and checks at the end that
 * the pool closed every handle (uv_loop_close succeeds). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <uv.h>

#include "metrics/metrics.h"
#include "store/pg/pg.h"
#include "util/buf.h"
#include "redis_direct.h"

#define PG_BIN "/usr/lib/postgresql/15/bin"
#define PORT_MIN 16500
#define PORT_MAX 16519

static char tmpdir[64];
static int pg_port;
static int pg_running;
static char conninfo[256];

/* --- shell and server helpers --------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* A loopback port in our range that nobody listens on, other than `avoid`. */
static int free_port(int avoid)
{
    for (int p = PORT_MIN; p <= PORT_MAX; p++) {
        if (p == avoid)
            continue;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            return p;
    }
    return -1;
}

static int pg_start(void)
{
    return sh("runuser -u postgres -- " PG_BIN "/pg_ctl -D %s/data -l %s/server.log -w -t 60 "
              "-o \"-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off "
              "-c full_page_writes=off\" start >/dev/null", tmpdir, tmpdir, pg_port, tmpdir);
}

static int pg_stop(void)
{
    return sh("runuser -u postgres -- " PG_BIN "/pg_ctl -D %s/data -m fast -w -t 60 stop "
              ">/dev/null", tmpdir);
}

static int psql(const char *args)
{
    return sh("psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p %d -U postgres %s >>%s/psql.log 2>&1",
              pg_port, args, tmpdir);
}

static const char *schema_path(void);

static int group_setup(void **state)
{
    struct passwd *pw = getpwnam("postgres");
    if (geteuid() != 0 || !pw || access(PG_BIN "/initdb", X_OK) != 0) {
        fprintf(stderr, "test_pg: needs root, user postgres and " PG_BIN ": skipping\n");
        return 0;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fc-pgtest-XXXXXX");
    if (!mkdtemp(tmpdir) || chown(tmpdir, pw->pw_uid, pw->pw_gid) != 0)
        return -1;
    pg_port = free_port(-1);
    if (pg_port < 0)
        return -1;
    if (sh("runuser -u postgres -- " PG_BIN "/initdb -D %s/data -A trust -U postgres "
           "-E UTF8 --locale=C --no-sync >%s/initdb.log 2>&1", tmpdir, tmpdir) != 0)
        return -1;
    if (pg_start() != 0)
        return -1;
    pg_running = 1;
    if (psql("-d postgres -c 'CREATE DATABASE fctest'") != 0)
        return -1;
    /* The pool prepares every statement of pg_queries.h on connect, and
     * they name the schema's tables. */
    const char *schema = schema_path();
    char args[1200];
    snprintf(args, sizeof args, "-d fctest -f %s", schema ? schema : "sql/schema.sql");
    if (!schema || psql(args) != 0)
        return -1;
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=fctest sslmode=disable", pg_port);
    return 0;
}

static int group_teardown(void **state)
{
    if (pg_running)
        pg_stop();
    if (tmpdir[0])
        sh("rm -rf %s", tmpdir);
    metrics_teardown();
    return 0;
}

/* --- loop helpers ----------------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    uv_timer_t wake;   /* keeps UV_RUN_ONCE from blocking longer than 10 ms */
} env_t;

static void on_wake(uv_timer_t *t) { (void)t; }

static int setup(void **state)
{
    if (!pg_running)
        skip();
    env_t *e = fc_xcalloc(1, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    uv_timer_init(&e->loop, &e->wake);
    uv_timer_start(&e->wake, on_wake, 10, 10);
    *state = e;
    return 0;
}

/* Every pool must have been closed by the test: once its last requests are
 * done the loop has no handle left, and uv_loop_close succeeds. A closed
 * pool may still wait for a getaddrinfo on libuv's thread pool (a name that
 * does not resolve can take seconds on a loaded machine), hence turns for up
 * to 10 s rather than a fixed count. */
static int teardown(void **state)
{
    env_t *e = *state;
    if (!e)
        return 0;
    uv_close((uv_handle_t *)&e->wake, NULL);
    uint64_t until = uv_hrtime() / 1000000 + 10000;
    while (uv_loop_alive(&e->loop) && uv_hrtime() / 1000000 < until) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    int rc = uv_loop_close(&e->loop);
    free(e);
    assert_int_equal(rc, 0);
    return 0;
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* Runs the loop until *counter reaches target or ms pass; returns whether it did. */
static int run_until_count(env_t *e, const int *counter, int target, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (*counter < target && now_ms() < end)
        uv_run(&e->loop, UV_RUN_ONCE);
    return *counter >= target;
}

static int run_until_ready(env_t *e, pg_pool_t *pool, int n, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (pg_pool_ready(pool) < n && now_ms() < end)
        uv_run(&e->loop, UV_RUN_ONCE);
    return pg_pool_ready(pool) >= n;
}

static void run_for(env_t *e, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (now_ms() < end)
        uv_run(&e->loop, UV_RUN_ONCE);
}

/* Closes the pool and lets the loop free it. */
static void close_pool(env_t *e, pg_pool_t *pool)
{
    pg_pool_close(pool);
    for (int i = 0; i < 10; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
}

typedef struct {
    int *counter;        /* bumped on every callback */
    int calls;
    pg_status_t status;
    char value[4096];    /* every row's first column, newline separated */
    char err[512];
    uint64_t at_ms;
} res_t;

static void on_result(pg_status_t st, PGresult *res, const char *err, void *arg)
{
    res_t *r = arg;
    r->calls++;
    r->status = st;
    r->at_ms = now_ms();
    r->value[0] = '\0';
    if (st == PG_OK) {
        assert_non_null(res);
        assert_null(err);
        size_t off = 0;
        for (int i = 0; i < PQntuples(res) && off < sizeof r->value; i++)
            off += (size_t)snprintf(r->value + off, sizeof r->value - off, "%s%s",
                                    i ? "\n" : "", PQgetvalue(res, i, 0));
    } else {
        assert_null(res);
        assert_non_null(err);
        snprintf(r->err, sizeof r->err, "%s", err);
    }
    if (r->counter)
        (*r->counter)++;
}

static pg_pool_t *make_pool(env_t *e, const char *ci, int size, unsigned timeout_ms)
{
    pg_pool_options_t o = { .size = size, .timeout_ms = timeout_ms, .max_queued = 1000,
                            .name = "pgtest", .retry_min_ms = 50, .retry_max_ms = 500 };
    pg_pool_t *pool = pg_pool_create(&e->loop, ci, &o);
    assert_non_null(pool);
    return pool;
}

/* Runs one ad-hoc statement and waits for its answer. */
static void sql_sync(env_t *e, pg_pool_t *pool, const char *sql, res_t *r)
{
    int n = 0;
    memset(r, 0, sizeof *r);
    r->counter = &n;
    pg_query_sql(pool, sql, on_result, r);
    assert_int_equal(n, 0);   /* never called from inside pg_query_sql */
    assert_true(run_until_count(e, &n, 1, 10000));
    assert_int_equal(r->calls, 1);
}

static double metric_value(const char *line_prefix)
{
    buf_t b;
    buf_init(&b);
    metrics_render(&b);
    double v = -1;
    for (const char *p = b.data; p && (p = strstr(p, line_prefix)) != NULL; p++) {
        if (p == b.data || p[-1] == '\n') {
            v = strtod(p + strlen(line_prefix), NULL);
            break;
        }
    }
    buf_free(&b);
    return v;
}

/* A query on a pool without a connection fails through its callback, from
 * the loop (one iteration), never before the call returns. */
static void expect_not_connected(env_t *e, pg_pool_t *pool)
{
    int n = 0;
    res_t r = { .counter = &n };
    double errors = metric_value("feedcache_pg_errors_total ");
    pg_query_i64(pool, PGQ_ping, NULL, on_result, &r);
    assert_int_equal(n, 0);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, PG_UNAVAILABLE);
    /* Followed by why, when a connection attempt has failed. */
    assert_int_equal(strncmp(r.err, "PostgreSQL is not connected", 27), 0);
    assert_true(metric_value("feedcache_pg_errors_total ") == errors + 1);
}

/* --- tests ---------------------------------------------------------------- */

static void ping_returns_one(void **state)
{
    env_t *e = *state;
    pg_pool_t *pool = make_pool(e, conninfo, 2, 5000);
    assert_int_equal(pg_pool_ready(pool), 0);
    assert_true(run_until_ready(e, pool, 2, 5000));

    int n = 0;
    res_t r = { .counter = &n };
    pg_query_i64(pool, PGQ_ping, NULL, on_result, &r);
    assert_int_equal(n, 0);   /* never called from inside pg_query_i64 */
    assert_true(run_until_count(e, &n, 1, 5000));
    assert_int_equal(r.status, PG_OK);
    assert_string_equal(r.value, "1");
    assert_true(metric_value("feedcache_pg_connections ") >= 2);
    assert_true(metric_value("feedcache_pg_query_duration_seconds_count{query=\"ping\"} ") >= 1);
    close_pool(e, pool);

    /* The same over the unix socket in the temp dir. */
    char ci[512];
    snprintf(ci, sizeof ci, "host=%s port=%d user=postgres dbname=fctest", tmpdir, pg_port);
    pool = make_pool(e, ci, 1, 5000);
    assert_true(run_until_ready(e, pool, 1, 5000));
    n = 0;
    memset(&r, 0, sizeof r);
    r.counter = &n;
    pg_query_i64(pool, PGQ_ping, NULL, on_result, &r);
    assert_true(run_until_count(e, &n, 1, 5000));
    assert_int_equal(r.status, PG_OK);
    assert_string_equal(r.value, "1");
    close_pool(e, pool);
}

typedef struct {
    int expect;
    int got;
    int calls;
    pg_status_t status;
    int *counter;
} num_t;

static void on_num(pg_status_t st, PGresult *res, const char *err, void *arg)
{
    num_t *q = arg;
    q->calls++;
    q->status = st;
    if (st == PG_OK)
        q->got = atoi(PQgetvalue(res, 0, 0));
    (*q->counter)++;
}

static void many_queries_queue_on_four(void **state)
{
    env_t *e = *state;
    enum { N = 200 };
    pg_pool_t *pool = make_pool(e, conninfo, 4, 10000);
    assert_true(run_until_ready(e, pool, 4, 5000));

    /* 200 parameterised queries at once: 4 run, 196 wait. The parameter
     * buffer is reused at once, so each answer proves the pool copied it. */
    static num_t q[N];
    int done = 0;
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i * 7);
        const char *values[] = { v };
        q[i] = (num_t){ .expect = i * 7, .got = -1, .counter = &done };
        pg_query_sql_params(pool, "SELECT $1::int", 1, values, NULL, NULL, 0, on_num, &q[i]);
        memset(v, 'x', sizeof v - 1);
    }
    /* And 200 pings through the prepared statement. */
    static res_t pings[N];
    int pinged = 0;
    for (int i = 0; i < N; i++) {
        pings[i] = (res_t){ .counter = &pinged };
        pg_query_i64(pool, PGQ_ping, NULL, on_result, &pings[i]);
    }
    uint64_t t0 = now_ms();
    assert_true(run_until_count(e, &done, N, 10000));
    assert_true(run_until_count(e, &pinged, N, 10000));
    fprintf(stderr, "test_pg: 400 queries on 4 connections in %llu ms\n",
            (unsigned long long)(now_ms() - t0));
    for (int i = 0; i < N; i++) {
        assert_int_equal(q[i].calls, 1);
        assert_int_equal(q[i].status, PG_OK);
        assert_int_equal(q[i].got, q[i].expect);
        assert_int_equal(pings[i].calls, 1);
        assert_int_equal(pings[i].status, PG_OK);
        assert_string_equal(pings[i].value, "1");
    }
    assert_int_equal(pg_pool_ready(pool), 4);
    close_pool(e, pool);
}

static void full_queue_refuses(void **state)
{
    env_t *e = *state;
    pg_pool_options_t o = { .size = 1, .timeout_ms = 5000, .max_queued = 3, .name = "pgtest" };
    pg_pool_t *pool = pg_pool_create(&e->loop, conninfo, &o);
    assert_true(run_until_ready(e, pool, 1, 5000));
    int n = 0;
    res_t r[5];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 5; i++)
        r[i].counter = &n;
    /* One runs, three wait, the fifth is refused: through its callback,
     * from the loop, before the others are answered. */
    pg_query_sql(pool, "SELECT pg_sleep(0.2)", on_result, &r[0]);
    for (int i = 1; i < 4; i++)
        pg_query_i64(pool, PGQ_ping, NULL, on_result, &r[i]);
    pg_query_i64(pool, PGQ_ping, NULL, on_result, &r[4]);
    assert_int_equal(n, 0);
    assert_true(run_until_count(e, &n, 1, 1000));
    assert_int_equal(r[4].calls, 1);
    assert_int_equal(r[4].status, PG_UNAVAILABLE);
    assert_string_equal(r[4].err, "PostgreSQL queue is full");
    /* Bad calls: an unknown statement, missing parameters, an id array for
     * a statement without parameters, missing rest parameters. PG_ERROR,
     * through the callback as well. */
    res_t bad[4];
    memset(bad, 0, sizeof bad);
    int nbad = 0;
    for (int i = 0; i < 4; i++)
        bad[i].counter = &nbad;
    int64_t one = 1;
    pg_query_i64(pool, (pg_stmt_t)PGQ__COUNT, &one, on_result, &bad[0]);
    pg_query_i64(pool, PGQ_follower_count, NULL, on_result, &bad[1]);
    pg_query_ids(pool, PGQ_ping, &one, 1, NULL, on_result, &bad[2]);
    pg_query_ids(pool, PGQ_feed_rebuild_all, &one, 1, NULL, on_result, &bad[3]);
    assert_int_equal(nbad, 0);
    assert_true(run_until_count(e, &nbad, 4, 1000));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(bad[i].calls, 1);
        assert_int_equal(bad[i].status, PG_ERROR);
    }
    assert_true(run_until_count(e, &n, 5, 5000));
    run_for(e, 50);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, PG_OK);
    }
    assert_int_equal(r[4].calls, 1);
    close_pool(e, pool);
}

static void refused_and_garbage_conninfo_fail_cleanly(void **state)
{
    env_t *e = *state;
    char ci[256];
    int n = 0;
    res_t r = { .counter = &n };

    /* Nothing listens on this port. */
    int dead = free_port(pg_port);
    assert_true(dead > 0);
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=fctest sslmode=disable",
             dead);
    double reconnects = metric_value("feedcache_pg_reconnects_total ");
    pg_pool_t *pool = make_pool(e, ci, 2, 500);
    /* Sent before the first attempts end: it waits for them, then fails as
     * soon as both have failed (PostgreSQL known down), not at its 500 ms
     * deadline. */
    int early_n = 0;
    res_t early = { .counter = &early_n };
    pg_query_sql(pool, "SELECT 1", on_result, &early);
    assert_true(run_until_count(e, &early_n, 1, 300));
    assert_int_equal(early.status, PG_UNAVAILABLE);
    assert_string_equal(early.err, "no PostgreSQL connection");
    run_for(e, 700);
    assert_int_equal(pg_pool_ready(pool), 0);
    expect_not_connected(e, pool);
    assert_true(metric_value("feedcache_pg_reconnects_total ") > reconnects);
    close_pool(e, pool);

    /* A conninfo libpq cannot parse. */
    char err[256] = "";
    const char *garbage = "host=127.0.0.1 bogus_option=1";
    assert_int_equal(pg_conninfo_check(garbage, err, sizeof err), -1);
    assert_non_null(strstr(err, "bogus_option"));
    assert_int_equal(pg_conninfo_check("host=127.0.0.1 port", err, sizeof err), -1);
    assert_int_equal(pg_conninfo_check(conninfo, err, sizeof err), 0);
    assert_int_equal(pg_conninfo_check("postgresql://u@127.0.0.1:5/db", err, sizeof err), 0);
    assert_int_equal(pg_conninfo_check("feedcache", err, sizeof err), 0);   /* a db name */
    pool = make_pool(e, garbage, 1, 500);
    run_for(e, 300);
    assert_int_equal(pg_pool_ready(pool), 0);
    expect_not_connected(e, pool);
    close_pool(e, pool);

    /* The server is up but the database does not exist (FATAL at startup). */
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=nosuchdb", pg_port);
    pool = make_pool(e, ci, 1, 500);
    run_for(e, 300);
    assert_int_equal(pg_pool_ready(pool), 0);
    expect_not_connected(e, pool);
    close_pool(e, pool);

    /* A listener that accepts (the kernel does) and never answers: only
     * the pool's own connect timer can end that. */
    int silent = free_port(pg_port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)silent) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=fctest", silent);
    pool = make_pool(e, ci, 1, 200);
    run_for(e, 700);
    assert_int_equal(pg_pool_ready(pool), 0);
    expect_not_connected(e, pool);
    close_pool(e, pool);
    close(fd);
    assert_int_equal(n, 0);

    /* NULL pool: no crash; there is no loop to call back from, so the call
     * is logged and the callback never runs. */
    pg_query_i64(NULL, PGQ_ping, NULL, on_result, &r);
    pg_query_ids(NULL, PGQ_posts_by_ids, NULL, 0, NULL, on_result, &r);
    pg_query_sql(NULL, "SELECT 1", on_result, &r);
    pg_query_sql_params(NULL, "SELECT $1::int", 0, NULL, NULL, NULL, 0, on_result, &r);
    assert_int_equal(n, 0);
}

/* Host names are resolved on the thread pool and handed to libpq as
 * hostaddr: a name (from /etc/hosts), a multi-host list whose first name
 * does not resolve, and a name that does not resolve at all (a failed
 * connect that says why). */
static void host_names_resolve(void **state)
{
    env_t *e = *state;
    char ci[512];
    snprintf(ci, sizeof ci, "host=localhost port=%d user=postgres dbname=fctest sslmode=disable",
             pg_port);
    pg_pool_t *pool = make_pool(e, ci, 2, 5000);
    assert_true(run_until_ready(e, pool, 2, 5000));
    res_t r;
    sql_sync(e, pool, "SELECT inet_server_addr()::text", &r);
    assert_int_equal(r.status, PG_OK);
    assert_string_equal(r.value, "127.0.0.1/32");
    close_pool(e, pool);

    snprintf(ci, sizeof ci, "host=no-such-host.invalid,localhost port=%d user=postgres "
             "dbname=fctest target_session_attrs=read-write", pg_port);
    pool = make_pool(e, ci, 1, 5000);
    assert_true(run_until_ready(e, pool, 1, 5000));
    sql_sync(e, pool, "SELECT 1", &r);
    assert_int_equal(r.status, PG_OK);
    close_pool(e, pool);

    snprintf(ci, sizeof ci, "host=no-such-host.invalid port=%d user=postgres dbname=fctest",
             pg_port);
    pool = make_pool(e, ci, 1, 500);
    run_for(e, 300);
    assert_int_equal(pg_pool_ready(pool), 0);
    sql_sync(e, pool, "SELECT 1", &r);
    assert_int_equal(r.status, PG_UNAVAILABLE);
    assert_non_null(strstr(r.err, "cannot resolve 'no-such-host.invalid'"));
    close_pool(e, pool);
}

static void sql_error_keeps_connection(void **state)
{
    env_t *e = *state;
    pg_pool_t *pool = make_pool(e, conninfo, 1, 5000);
    assert_true(run_until_ready(e, pool, 1, 5000));
    res_t r;
    sql_sync(e, pool, "SELECT pg_backend_pid()", &r);
    assert_int_equal(r.status, PG_OK);
    char pid[32];
    snprintf(pid, sizeof pid, "%.31s", r.value);

    sql_sync(e, pool, "SELECT * FROM no_such_table", &r);
    assert_int_equal(r.status, PG_ERROR);
    assert_non_null(strstr(r.err, "no_such_table"));
    assert_non_null(strstr(r.err, "42P01"));
    sql_sync(e, pool, "SELECT 1/0", &r);
    assert_int_equal(r.status, PG_ERROR);
    assert_non_null(strstr(r.err, "division by zero"));
    sql_sync(e, pool, "SELEC 1", &r);
    assert_int_equal(r.status, PG_ERROR);

    /* Same backend afterwards: the connection was kept. */
    assert_int_equal(pg_pool_ready(pool), 1);
    sql_sync(e, pool, "SELECT pg_backend_pid()", &r);
    assert_int_equal(r.status, PG_OK);
    assert_string_equal(r.value, pid);

    /* COPY is refused without wedging the pool. */
    sql_sync(e, pool, "COPY (SELECT 1) TO STDOUT", &r);
    assert_int_equal(r.status, PG_ERROR);
    assert_true(run_until_ready(e, pool, 1, 5000));
    sql_sync(e, pool, "SELECT 2", &r);
    assert_int_equal(r.status, PG_OK);
    assert_string_equal(r.value, "2");
    close_pool(e, pool);
}

static void killed_idle_connection_is_replaced(void **state)
{
    env_t *e = *state;
    pg_pool_t *pool = make_pool(e, conninfo, 1, 5000);
    assert_true(run_until_ready(e, pool, 1, 5000));
    res_t r;
    sql_sync(e, pool, "SELECT pg_backend_pid()", &r);
    char pid[32];
    snprintf(pid, sizeof pid, "%.31s", r.value);
    char args[128];
    snprintf(args, sizeof args, "-d fctest -c 'SELECT pg_terminate_backend(%s)'", pid);
    assert_int_equal(psql(args), 0);
    /* The pool sees the idle connection close, not only at the next query. */
    uint64_t end = now_ms() + 3000;
    while (pg_pool_ready(pool) == 1 && now_ms() < end)
        uv_run(&e->loop, UV_RUN_ONCE);
    assert_int_equal(pg_pool_ready(pool), 0);
    assert_true(run_until_ready(e, pool, 1, 5000));
    sql_sync(e, pool, "SELECT pg_backend_pid()", &r);
    assert_int_equal(r.status, PG_OK);
    assert_string_not_equal(r.value, pid);
    close_pool(e, pool);
}

static void slow_query_times_out_and_pool_recovers(void **state)
{
    env_t *e = *state;
    pg_pool_t *pool = make_pool(e, conninfo, 1, 500);
    assert_true(run_until_ready(e, pool, 1, 5000));
    res_t r;
    sql_sync(e, pool, "SELECT pg_backend_pid()", &r);
    char pid[32];
    snprintf(pid, sizeof pid, "%.31s", r.value);

    double timeouts = metric_value("feedcache_pg_timeouts_total ");
    int n = 0;
    res_t slow = { .counter = &n }, queued = { .counter = &n };
    uint64_t t0 = now_ms();
    pg_query_sql(pool, "SELECT pg_sleep(2)", on_result, &slow);
    pg_query_i64(pool, PGQ_ping, NULL, on_result, &queued);
    assert_true(run_until_count(e, &n, 2, 3000));
    uint64_t took = slow.at_ms - t0;
    fprintf(stderr, "test_pg: pg_sleep(2) with a 500 ms timeout failed after %llu ms (%s)\n",
            (unsigned long long)took, slow.err);
    assert_int_equal(slow.status, PG_UNAVAILABLE);
    assert_true(took >= 450 && took < 1000);
    assert_int_equal(queued.status, PG_UNAVAILABLE);
    assert_true(metric_value("feedcache_pg_timeouts_total ") > timeouts);

    /* A new connection (a new backend) takes over. */
    assert_true(run_until_ready(e, pool, 1, 5000));
    sql_sync(e, pool, "SELECT pg_backend_pid()", &r);
    assert_int_equal(r.status, PG_OK);
    assert_string_not_equal(r.value, pid);
    close_pool(e, pool);
}

static void server_stop_fails_queries_and_pool_reconnects(void **state)
{
    env_t *e = *state;
    pg_pool_t *pool = make_pool(e, conninfo, 2, 10000);
    assert_true(run_until_ready(e, pool, 2, 5000));

    int n = 0;
    res_t r[5];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 5; i++)
        r[i].counter = &n;
    pg_query_sql(pool, "SELECT pg_sleep(5)", on_result, &r[0]);
    pg_query_sql(pool, "SELECT pg_sleep(5)", on_result, &r[1]);
    for (int i = 2; i < 5; i++)
        pg_query_i64(pool, PGQ_ping, NULL, on_result, &r[i]);
    run_for(e, 200);   /* the two sleeps are running, three pings wait */
    assert_int_equal(n, 0);

    assert_int_equal(pg_stop(), 0);
    uint64_t t0 = now_ms();
    assert_true(run_until_count(e, &n, 5, 5000));
    fprintf(stderr, "test_pg: server stopped: 5 queries failed within %llu ms; first: %s\n",
            (unsigned long long)(now_ms() - t0), r[0].err);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, PG_UNAVAILABLE);
    }
    run_for(e, 300);
    assert_int_equal(pg_pool_ready(pool), 0);
    res_t late = { .counter = &n };
    pg_query_i64(pool, PGQ_ping, NULL, on_result, &late);
    assert_int_equal(late.calls, 0);
    assert_true(run_until_count(e, &n, 6, 12000));
    assert_int_equal(late.status, PG_UNAVAILABLE);
    run_for(e, 1000);   /* retries with backoff against a dead port */

    assert_int_equal(pg_start(), 0);
    t0 = now_ms();
    assert_true(run_until_ready(e, pool, 2, 15000));
    fprintf(stderr, "test_pg: server back: pool ready again after %llu ms\n",
            (unsigned long long)(now_ms() - t0));
    res_t ok;
    sql_sync(e, pool, "SELECT 42", &ok);
    assert_int_equal(ok.status, PG_OK);
    assert_string_equal(ok.value, "42");
    close_pool(e, pool);
}

static pg_pool_t *closing_pool;
static res_t closing_late;

static void on_result_close_pool(pg_status_t st, PGresult *res, const char *err, void *arg)
{
    on_result(st, res, err, arg);
    pg_pool_close(closing_pool);
    /* A query issued from a callback of a closing pool fails, later. */
    pg_query_i64(closing_pool, PGQ_ping, NULL, on_result, &closing_late);
    assert_int_equal(closing_late.calls, 0);
}

static void close_calls_every_outstanding_query(void **state)
{
    env_t *e = *state;
    /* Closing while still connecting. */
    pg_pool_t *pool = make_pool(e, conninfo, 3, 5000);
    close_pool(e, pool);

    pool = make_pool(e, conninfo, 2, 5000);
    assert_true(run_until_ready(e, pool, 2, 5000));
    int n = 0;
    res_t r[12];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 12; i++)
        r[i].counter = &n;
    pg_query_sql(pool, "SELECT pg_sleep(1)", on_result, &r[0]);
    pg_query_sql(pool, "SELECT pg_sleep(1)", on_result, &r[1]);
    for (int i = 2; i < 12; i++)
        pg_query_i64(pool, PGQ_ping, NULL, on_result, &r[i]);
    run_for(e, 100);
    assert_int_equal(n, 0);
    pg_pool_close(pool);
    assert_int_equal(n, 12);   /* all called before pg_pool_close returned */
    for (int i = 0; i < 12; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, PG_UNAVAILABLE);
    }
    res_t late = { 0 };
    pg_query_i64(pool, PGQ_ping, NULL, on_result, &late);
    assert_int_equal(late.calls, 0);
    pg_pool_close(pool);   /* twice is harmless until the loop frees it */
    for (int i = 0; i < 10; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(late.calls, 1);   /* from the loop, as the pool went */
    assert_int_equal(late.status, PG_UNAVAILABLE);
    assert_string_equal(late.err, "PostgreSQL pool closing");

    /* Closing from inside a callback, with more queries outstanding. */
    closing_pool = pool = make_pool(e, conninfo, 1, 5000);
    assert_true(run_until_ready(e, pool, 1, 5000));
    n = 0;
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++)
        r[i].counter = &n;
    memset(&closing_late, 0, sizeof closing_late);
    pg_query_i64(pool, PGQ_ping, NULL, on_result_close_pool, &r[0]);
    for (int i = 1; i < 4; i++)
        pg_query_i64(pool, PGQ_ping, NULL, on_result, &r[i]);
    assert_true(run_until_count(e, &n, 4, 5000));
    run_for(e, 50);
    assert_int_equal(r[0].status, PG_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].calls, 1);
    for (int i = 1; i < 4; i++)
        assert_int_equal(r[i].status, PG_UNAVAILABLE);
    assert_int_equal(closing_late.calls, 1);
    assert_int_equal(closing_late.status, PG_UNAVAILABLE);
}

/* --- typed parameters and the deferred failure ------------------------------ */

/* Every row's columns, "a|b;c|d", for comparing whole results. */
typedef struct {
    int calls;
    pg_status_t status;
    char rows[1024];
    int *counter;
} table_t;

static void on_table(pg_status_t st, PGresult *res, const char *err, void *arg)
{
    table_t *t = arg;
    t->calls++;
    t->status = st;
    t->rows[0] = '\0';
    size_t off = 0;
    for (int i = 0; st == PG_OK && i < PQntuples(res); i++)
        for (int j = 0; j < PQnfields(res) && off < sizeof t->rows; j++)
            off += (size_t)snprintf(t->rows + off, sizeof t->rows - off, "%s%s",
                                    j ? "|" : i ? ";" : "", PQgetvalue(res, i, j));
    (*t->counter)++;
}

static void typed_parameters_reach_the_statements(void **state)
{
    env_t *e = *state;
    pg_pool_t *pool = make_pool(e, conninfo, 2, 5000);
    assert_true(run_until_ready(e, pool, 2, 5000));
    res_t r;
    sql_sync(e, pool, "INSERT INTO users (id, handle) VALUES (9001, 'a'), (9002, 'b'), "
                      "(9003, 'c'), (9004, 'd') ON CONFLICT DO NOTHING", &r);
    assert_int_equal(r.status, PG_OK);
    sql_sync(e, pool, "INSERT INTO follows (follower_id, followee_id) VALUES (9001, 9002), "
                      "(9001, 9003), (9004, 9002) ON CONFLICT DO NOTHING", &r);
    assert_int_equal(r.status, PG_OK);
    sql_sync(e, pool, "INSERT INTO posts (id, author_id, created_at, body, deleted_at) VALUES "
                      "(90001, 9002, 'epoch'::timestamptz + interval '1 s', 'p1', NULL), "
                      "(90002, 9003, 'epoch'::timestamptz + interval '2 s', 'p2', NULL), "
                      "(90003, 9002, 'epoch'::timestamptz + interval '3 s', 'p3', NULL), "
                      "(90004, 9003, 'epoch'::timestamptz + interval '4 s', 'p4', now()) "
                      "ON CONFLICT DO NOTHING", &r);
    assert_int_equal(r.status, PG_OK);

    int n = 0;
    table_t t[12];
    memset(t, 0, sizeof t);
    for (int i = 0; i < 12; i++)
        t[i].counter = &n;
    /* The parameter arrays are gone when the calls return: the pool copies. */
    {
        int64_t p0[] = { 9002 };
        int64_t p1[] = { 9002, 0, 10 };
        int64_t p2[] = { 9002, 9001, 10 };
        int64_t p3[] = { INT64_MIN };
        int64_t p4[] = { 9001 };
        pg_query_i64(pool, PGQ_follower_count, p0, on_table, &t[0]);
        pg_query_i64(pool, PGQ_followers_page, p1, on_table, &t[1]);
        pg_query_i64(pool, PGQ_followers_page, p2, on_table, &t[2]);
        pg_query_i64(pool, PGQ_follower_count, p3, on_table, &t[3]);
        pg_query_i64(pool, PGQ_followees, p4, on_table, &t[4]);
        int64_t authors[] = { 9002, 9003, INT64_MAX };
        int64_t user_limit2[] = { 9001, 2 }, nobody_limit10[] = { 424242, 10 };
        pg_query_ids(pool, PGQ_feed_rebuild_all, NULL, 0, user_limit2, on_table, &t[5]);
        pg_query_ids(pool, PGQ_feed_rebuild_all, authors, 3, user_limit2, on_table, &t[6]);
        pg_query_ids(pool, PGQ_feed_rebuild_all, NULL, 0, nobody_limit10, on_table, &t[7]);
        int64_t ids[] = { 90004, 90001, -5 };
        pg_query_ids(pool, PGQ_posts_by_ids, ids, 3, NULL, on_table, &t[8]);
        pg_query_ids(pool, PGQ_posts_by_ids, ids, 0, NULL, on_table, &t[9]);
        /* Followees and rows at once; the authors in $1 left out. */
        int64_t user_limit10[] = { 9001, 10 }, celebs[] = { 9003 };
        pg_query_ids(pool, PGQ_feed_rebuild_all, NULL, 0, user_limit10, on_table, &t[10]);
        pg_query_ids(pool, PGQ_feed_rebuild_all, celebs, 1, user_limit10, on_table, &t[11]);
        memset(p1, 0xff, sizeof p1);
        memset(authors, 0xff, sizeof authors);
        memset(ids, 0xff, sizeof ids);
    }
    assert_int_equal(n, 0);
    assert_true(run_until_count(e, &n, 12, 5000));
    for (int i = 0; i < 12; i++) {
        assert_int_equal(t[i].calls, 1);
        assert_int_equal(t[i].status, PG_OK);
    }
    assert_string_equal(t[0].rows, "2");
    assert_string_equal(t[1].rows, "9001;9004");
    assert_string_equal(t[2].rows, "9004");
    assert_string_equal(t[3].rows, "0");
    assert_true(strcmp(t[4].rows, "9002;9003") == 0 || strcmp(t[4].rows, "9003;9002") == 0);
    /* Newest first, the deleted post left out, at most the limit; ms since
     * the epoch. Every author left out: the followees alone. Nobody
     * followed, nothing posted: no row. */
    assert_true(strcmp(t[5].rows, "|9002|;|9003|;90003|9002|3000;90002|9003|2000") == 0 ||
                strcmp(t[5].rows, "|9003|;|9002|;90003|9002|3000;90002|9003|2000") == 0);
    assert_true(strcmp(t[6].rows, "|9002|;|9003|") == 0 || strcmp(t[6].rows, "|9003|;|9002|") == 0);
    assert_string_equal(t[7].rows, "");
    /* By id, deleted ones too (the last column says so). */
    assert_true(strstr(t[8].rows, "90001|9002|1000|p1|f") != NULL);
    assert_true(strstr(t[8].rows, "90004|9003|4000|p4|t") != NULL);
    assert_int_equal(strlen(t[8].rows), strlen("90001|9002|1000|p1|f;90004|9003|4000|p4|t"));
    assert_string_equal(t[9].rows, "");
    /* Followee rows have no id (empty text), then the posts newest first. */
    assert_true(strcmp(t[10].rows, "|9002|;|9003|;90003|9002|3000;90002|9003|2000;90001|9002|1000") ==
                    0 ||
                strcmp(t[10].rows, "|9003|;|9002|;90003|9002|3000;90002|9003|2000;90001|9002|1000") ==
                    0);
    assert_true(strcmp(t[11].rows, "|9002|;|9003|;90003|9002|3000;90001|9002|1000") == 0 ||
                strcmp(t[11].rows, "|9003|;|9002|;90003|9002|3000;90001|9002|1000") == 0);
    close_pool(e, pool);
}

/* The ad-hoc calls follow the same convention: every failure, bad calls
 * included, reaches the callback once, from the loop, never before the call
 * returns. */
static void ad_hoc_sql_fails_through_its_callback(void **state)
{
    env_t *e = *state;
    pg_pool_options_t o = { .size = 1, .timeout_ms = 5000, .max_queued = 1, .name = "pgtest" };
    pg_pool_t *pool = pg_pool_create(&e->loop, conninfo, &o);
    int n = 0;
    res_t r[9];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 9; i++)
        r[i].counter = &n;
    /* Not connected yet: the query waits for the pool's first connection
     * (within its deadline) rather than failing, and is answered later. */
    pg_query_sql(pool, "SELECT 1", on_result, &r[0]);
    assert_int_equal(n, 0);
    assert_true(run_until_count(e, &n, 1, 5000));
    assert_int_equal(r[0].calls, 1);
    assert_int_equal(r[0].status, PG_OK);
    assert_true(run_until_ready(e, pool, 1, 5000));

    /* Bad calls: no SQL, parameters without values, a negative count, a
     * binary value without a length. PG_ERROR, whatever the pool's state. */
    const char *one[] = { "1" };
    int binary[] = { 1 };
    n = 0;
    pg_query_sql(pool, NULL, on_result, &r[1]);
    pg_query_sql_params(pool, "SELECT $1::int", 1, NULL, NULL, NULL, 0, on_result, &r[2]);
    pg_query_sql_params(pool, "SELECT 1", -1, one, NULL, NULL, 0, on_result, &r[3]);
    pg_query_sql_params(pool, "SELECT $1::int", 1, one, NULL, binary, 0, on_result, &r[4]);
    assert_int_equal(n, 0);
    assert_true(run_until_count(e, &n, 4, 1000));
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, PG_ERROR);
    }
    assert_string_equal(r[1].err, "bad call: no SQL");

    /* Queue full: one runs, one waits, the third is refused, first. */
    n = 0;
    pg_query_sql(pool, "SELECT pg_sleep(0.1)", on_result, &r[5]);
    pg_query_sql(pool, "SELECT 2", on_result, &r[6]);
    pg_query_sql(pool, "SELECT 3", on_result, &r[7]);
    assert_int_equal(n, 0);
    assert_true(run_until_count(e, &n, 1, 1000));
    assert_int_equal(r[7].calls, 1);
    assert_int_equal(r[7].status, PG_UNAVAILABLE);
    assert_string_equal(r[7].err, "PostgreSQL queue is full");
    assert_true(run_until_count(e, &n, 3, 5000));
    assert_int_equal(r[5].status, PG_OK);
    assert_int_equal(r[6].status, PG_OK);
    assert_string_equal(r[6].value, "2");

    /* Closing: answered from the loop as the pool goes. Fire and forget
     * too: nothing leaks. */
    pg_pool_close(pool);
    pg_query_sql(pool, "SELECT 4", on_result, &r[8]);
    pg_query_sql(pool, "SELECT 5", NULL, NULL);
    assert_int_equal(r[8].calls, 0);
    for (int i = 0; i < 10; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(r[8].calls, 1);
    assert_int_equal(r[8].status, PG_UNAVAILABLE);
    assert_string_equal(r[8].err, "PostgreSQL pool closing");
    for (int i = 0; i < 9; i++)
        assert_int_equal(r[i].calls, 1);
}

/* A callback that queries again and fails again. */
typedef struct {
    pg_pool_t *pool;
    int calls, max;
} stubborn_t;

static void stubborn_cb(pg_status_t st, PGresult *res, const char *err, void *arg)
{
    stubborn_t *s = arg;
    s->calls++;
    assert_int_equal(st, PG_UNAVAILABLE);
    if (s->calls < s->max)
        pg_query_i64(s->pool, PGQ_ping, NULL, stubborn_cb, s);
}

static void deferred_failures_run_once_per_iteration_and_on_close(void **state)
{
    env_t *e = *state;
    int dead = free_port(pg_port);
    char ci[256];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=fctest sslmode=disable",
             dead);
    pg_pool_t *pool = make_pool(e, ci, 1, 500);
    run_for(e, 50);
    assert_int_equal(pg_pool_ready(pool), 0);

    /* Fire and forget: nobody to tell, nothing leaked. */
    pg_query_i64(pool, PGQ_ping, NULL, NULL, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);

    /* A retry from the callback is answered on the next iteration: the
     * loop is never stuck answering it. */
    stubborn_t s = { .pool = pool, .max = 5 };
    pg_query_i64(pool, PGQ_ping, NULL, stubborn_cb, &s);
    for (int i = 1; i <= 5; i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
        assert_int_equal(s.calls, i);
    }
    uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(s.calls, 5);

    /* Deferred failures still waiting when the pool closes: answered before
     * pg_pool_close returns, with the reason they failed for. */
    int n = 0;
    res_t r[3];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 3; i++) {
        r[i].counter = &n;
        int64_t id = i;
        pg_query_ids(pool, PGQ_posts_by_ids, &id, 1, NULL, on_result, &r[i]);
    }
    pg_query_i64(pool, PGQ_ping, NULL, NULL, NULL);
    assert_int_equal(n, 0);
    pg_pool_close(pool);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, PG_UNAVAILABLE);
        assert_int_equal(strncmp(r[i].err, "PostgreSQL is not connected", 27), 0);
    }
    /* Made after the close: answered from the loop as the pool goes. */
    res_t late = { .counter = &n };
    pg_query_i64(pool, PGQ_ping, NULL, on_result, &late);
    pg_query_i64(pool, PGQ_ping, NULL, NULL, NULL);
    assert_int_equal(late.calls, 0);
    for (int i = 0; i < 10; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(late.calls, 1);
    assert_string_equal(late.err, "PostgreSQL pool closing");
}

static const char *schema_path(void)
{
    static char path[1024];
    const char *env = getenv("FEEDCACHE_SCHEMA");
    if (env)
        return env;
    /* __FILE__ is this file as the compiler saw it, relative to the build
     * directory (where meson runs tests) or absolute. */
    const char *tail = "tests/integration/test_pg.c";
    const char *f = __FILE__;
    size_t len = strlen(f), tlen = strlen(tail);
    if (len >= tlen && strcmp(f + len - tlen, tail) == 0) {
        snprintf(path, sizeof path, "%.*ssql/schema.sql", (int)(len - tlen), f);
        if (access(path, R_OK) == 0)
            return path;
    }
    const char *guesses[] = { "../sql/schema.sql", "sql/schema.sql", "../../sql/schema.sql" };
    for (size_t i = 0; i < sizeof guesses / sizeof guesses[0]; i++)
        if (access(guesses[i], R_OK) == 0)
            return guesses[i];
    return NULL;
}

static void expect_plan_uses(env_t *e, pg_pool_t *pool, const char *query, const char *index)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "EXPLAIN %s", query);
    res_t r;
    sql_sync(e, pool, sql, &r);
    assert_int_equal(r.status, PG_OK);
    if (!strstr(r.value, index) || strstr(r.value, "Seq Scan")) {
        fprintf(stderr, "test_pg: plan of `%s` does not use %s:\n%s\n", query, index, r.value);
        fail();
    }
}

static void schema_applies_twice_with_its_indexes(void **state)
{
    env_t *e = *state;
    const char *schema = schema_path();
    assert_non_null(schema);
    char args[1200];
    snprintf(args, sizeof args, "-d fctest -f %s", schema);
    assert_int_equal(psql(args), 0);
    assert_int_equal(psql(args), 0);   /* idempotent */

    pg_pool_t *pool = make_pool(e, conninfo, 1, 5000);
    assert_true(run_until_ready(e, pool, 1, 5000));
    res_t r;
    sql_sync(e, pool, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                      "WHERE schemaname = 'public'", &r);
    assert_string_equal(r.value, "follows,posts,users");
    sql_sync(e, pool, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                      "WHERE schemaname = 'public'", &r);
    assert_string_equal(r.value, "follows_followee_idx,follows_pkey,posts_author_created_idx,"
                                 "posts_pkey,users_last_active_id_idx,users_pkey");

    /* The planner can serve each access path from an index. Tables are
     * empty, so seq scans are switched off to ask "could it", not "would it". */
    sql_sync(e, pool, "SET enable_seqscan = off", &r);
    assert_int_equal(r.status, PG_OK);
    expect_plan_uses(e, pool, "SELECT follower_id FROM follows WHERE followee_id = 7 "
                     "ORDER BY follower_id LIMIT 1000", "follows_followee_idx");
    expect_plan_uses(e, pool, "SELECT followee_id FROM follows WHERE follower_id = 7",
                     "follows_pkey");
    expect_plan_uses(e, pool, "SELECT id, created_at FROM posts WHERE author_id = 7 "
                     "AND deleted_at IS NULL AND (created_at, id) < (now(), 99) "
                     "ORDER BY created_at DESC, id DESC LIMIT 20", "posts_author_created_idx");
    expect_plan_uses(e, pool, "SELECT id FROM users WHERE last_active_at >= now() - "
                     "interval '1 hour'", "users_last_active_id_idx");
    expect_plan_uses(e, pool, "SELECT id, body FROM posts WHERE id = ANY('{1,2,3}'::bigint[])",
                     "posts_pkey");
    close_pool(e, pool);
}

/* Everything the pool registered renders as valid Prometheus text. */
static void metrics_pass_promtool(void **state)
{
    env_t *e = *state;
    pg_pool_t *pool = make_pool(e, conninfo, 1, 5000);
    assert_true(run_until_ready(e, pool, 1, 5000));
    res_t r;
    sql_sync(e, pool, "SELECT 1", &r);
    close_pool(e, pool);
    if (sh("command -v promtool >/dev/null") != 0)
        skip();
    buf_t b;
    buf_init(&b);
    metrics_render(&b);
    char path[128];
    snprintf(path, sizeof path, "%s/metrics.txt", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    for (const char *name = "feedcache_pg_queries_total\0feedcache_pg_errors_total\0"
                            "feedcache_pg_timeouts_total\0feedcache_pg_reconnects_total\0"
                            "feedcache_pg_connections\0feedcache_pg_query_duration_seconds\0";
         *name; name += strlen(name) + 1) {
        char line[128];
        snprintf(line, sizeof line, "# TYPE %s ", name);
        assert_non_null(strstr(b.data, line));
    }
    assert_non_null(strstr(b.data, "feedcache_pg_query_duration_seconds_bucket{query=\"ping\",le=\"+Inf\"}"));
    buf_free(&b);
    assert_int_equal(sh("promtool check metrics < %s", path), 0);
}

int main(void)
{
    /* The cluster step of scripts/test.sh runs the integration suite again
     * with a redis-cluster:// URL; this program uses no Redis at all, so running it again would
     * pass without testing anything new. */
    const char *url = getenv("FEEDCACHE_TEST_REDIS_URL");
    if (rdirect_url_is_cluster(url)) {
        printf("SKIP: FEEDCACHE_TEST_REDIS_URL is a cluster; test_pg uses no Redis (the plain run covers it)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ping_returns_one, setup, teardown),
        cmocka_unit_test_setup_teardown(many_queries_queue_on_four, setup, teardown),
        cmocka_unit_test_setup_teardown(full_queue_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_and_garbage_conninfo_fail_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(host_names_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(sql_error_keeps_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(killed_idle_connection_is_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(slow_query_times_out_and_pool_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(close_calls_every_outstanding_query, setup, teardown),
        cmocka_unit_test_setup_teardown(typed_parameters_reach_the_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(ad_hoc_sql_fails_through_its_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_failures_run_once_per_iteration_and_on_close,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(schema_applies_twice_with_its_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_pass_promtool, setup, teardown),
        /* Last: it stops and restarts the server. */
        cmocka_unit_test_setup_teardown(server_stop_fails_queries_and_pool_reconnects, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

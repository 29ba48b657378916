/* Fault tests: backends reached by name (issue 16). The resolver's test
 * hooks (util/resolve.h, -Dfault_hooks=true) stand in for DNS: a private
 * hosts file (FC_FAULT_RESOLVE_HOSTS, re-read on every lookup, so a test
 * can add, drop or move a name) and a slow resolver
 * (FC_FAULT_RESOLVE_DELAY_MS).
 *
 *   resolve_names          --redis redis://fc-redis.test:PORT and --pg
 *        "host=fc-pg.test ..." serve reads and /healthz says ok. Each name
 *        has a dead address first (::1 for Redis, 127.0.0.9 for
 *        PostgreSQL: nothing listens there), so the pools must try every
 *        address in turn.
 *   resolve_unknown_then_recover   neither name resolves at start: the
 *        daemon starts anyway, ping and /metrics answer, /healthz is 503 and
 *        names the lookup failure for both; once the names are added, both
 *        backends connect within the backoff and reads succeed.
 *   resolve_follows_move   fc-redis.test moves from 127.0.0.1 to a second
 *        Redis on 127.0.0.2 (same port) and the first one dies: the pool's
 *        reconnects resolve the name again and land on the new server.
 *   resolve_slow_no_stall  every lookup takes 2 s: the daemon answers
 *        ping throughout (longest round trip measured), connects after the
 *        delay, and feedcache_loop_iteration_max_seconds shows the loop
 *        never stalled meanwhile.
 *
 * Own Redis + PostgreSQL per test (faults.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#define USER 2
#define BASE_MS INT64_C(1700000000000)
#define DELAY_MS 2000

static char hosts_path[160];
static pid_t second_redis;          /* resolve_follows_move's server on 127.0.0.2 */

/* Writes the hook's hosts file (atomically: the daemon may read it now). */
static void hosts_write(const char *text)
{
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.new", hosts_path);
    FILE *fp = fopen(tmp, "w");
    if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0)
        fail_msg("cannot write %s", tmp);
    if (rename(tmp, hosts_path) != 0)
        fail_msg("cannot rename %s", tmp);
}

static int setup(void **state)
{
    int rc = faults_setup(state);
    if (rc != 0)
        return rc;
    faults_t *f = *state;
    snprintf(hosts_path, sizeof hosts_path, "%s/resolve-hosts", f->s.dir);
    hosts_write("# empty\n");
    setenv("FC_FAULT_RESOLVE_HOSTS", hosts_path, 1);
    unsetenv("FC_FAULT_RESOLVE_DELAY_MS");
    /* harness_daemon_start passes these as --redis and --pg. */
    char url[160], pg[256];
    snprintf(url, sizeof url, "redis://fc-redis.test:%d/0", f->s.redis_port);
    snprintf(pg, sizeof pg, "host=fc-pg.test port=%d user=postgres dbname=feedcache",
             f->s.pg_port);
    setenv("FEEDCACHE_TEST_REDIS_URL", url, 1);
    setenv("FEEDCACHE_TEST_PG", pg, 1);
    second_redis = 0;
    return 0;
}

static int teardown(void **state)
{
    if (second_redis > 0) {
        kill(second_redis, SIGKILL);
        second_redis = 0;
    }
    unsetenv("FC_FAULT_RESOLVE_HOSTS");
    unsetenv("FC_FAULT_RESOLVE_DELAY_MS");
    return faults_teardown(state);
}

static void seed(faults_t *f)
{
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM generate_series(1, 3) g");
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) VALUES (%d, 1)", USER);
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 100 + g, 1, "
                  "'epoch'::timestamptz + (%" PRId64 " + g) * interval '1 millisecond', 'p' "
                  "FROM generate_series(1, 5) g", BASE_MS);
}

/* GET /healthz: the status, and the body in body. */
static int healthz(const harness_daemon_t *d, char *body, size_t cap)
{
    harness_http_t h;
    char err[512];
    if (harness_http(d->metrics_addr, "GET", "/healthz", 3000, &h, err, sizeof err) != 0)
        fail_msg("GET /healthz: %s", err);
    int status = h.status;
    snprintf(body, cap, "%s", h.body.data ? h.body.data : "");
    harness_http_free(&h);
    return status;
}

/* Waits for /healthz 200; returns how long it took. */
static long long wait_healthy(faults_t *f, int timeout_ms)
{
    long long t0 = faults_now_ms();
    char body[512] = "";
    int status = 0;
    while (faults_now_ms() - t0 < timeout_ms) {
        status = healthz(f->d, body, sizeof body);
        if (status == 200)
            return faults_now_ms() - t0;
        faults_sleep_ms(50);
    }
    harness_daemon_dump_log(f->d, "not healthy");
    fail_msg("/healthz still %d after %d ms: %s", status, timeout_ms, body);
    return -1;
}

static void read_five(faults_t *f)
{
    int64_t ids[16];
    size_t n = 0;
    char source[16], err[256];
    if (faults_read(f->c, USER, 20, ids, 16, &n, source, err, sizeof err) != 0)
        fail_msg("timeline.get: %s", err);
    assert_int_equal(n, 5);
}

static void need_hooks(void)
{
#ifndef FC_FAULT_HOOKS
    skip();                            /* the hooks are compiled out */
#endif
}

static void resolve_names(void **state)
{
    need_hooks();
    faults_t *f = *state;
    seed(f);
    hosts_write("::1 fc-redis.test\n127.0.0.1 fc-redis.test\n"
                "127.0.0.9 fc-pg.test\n127.0.0.1 fc-pg.test\n");
    faults_start(f, NULL);
    read_five(f);
    char body[512];
    assert_int_equal(healthz(f->d, body, sizeof body), 200);
    char *log = harness_daemon_log(f->d);
    bool named = strstr(log, "connected to fc-redis.test:") != NULL &&
                 strstr(log, "(fc-pg.test:") != NULL && strstr(log, "via 127.0.0.1") != NULL;
    free(log);
    if (!named)
        harness_daemon_dump_log(f->d, "names in the log");
    assert_true(named);
    f->finished = true;
}

static void resolve_unknown_then_recover(void **state)
{
    need_hooks();
    faults_t *f = *state;
    seed(f);
    hosts_write("127.0.0.1 some-other-name\n");
    char err[8192];
    f->d = faults_daemon_start(NULL, &f->c, err, sizeof err);   /* ping answered */
    if (!f->d)
        fail_msg("feedcached did not start with names that do not resolve: %s", err);
    faults_sleep_ms(500);
    char body[512] = "";
    assert_int_equal(healthz(f->d, body, sizeof body), 503);
    printf("/healthz while neither name resolves: 503 %s\n", body);
    assert_non_null(strstr(body, "redis: not connected: cannot resolve 'fc-redis.test'"));
    assert_non_null(strstr(body, "pg: PostgreSQL is not connected: cannot resolve 'fc-pg.test'"));
    fc_response_t r;
    assert_int_equal(fc_client_call(f->c, "ping", NULL, &r), FC_OK);
    assert_true(r.ok);
    fc_response_free(&r);
    assert_false(isnan(faults_metric(f->d, "feedcache_redis_connections")));
    assert_true(harness_daemon_alive(f->d));

    hosts_write("127.0.0.1 fc-redis.test fc-pg.test\n");
    long long took = wait_healthy(f, 15000);
    printf("names added: /healthz 200 after %lld ms\n", took);
    read_five(f);
    f->finished = true;
}

/* A second Redis on 127.0.0.2, same port; its PID in second_redis. */
static void start_second_redis(faults_t *f)
{
    char cmd[1024], pidfile[200];
    snprintf(pidfile, sizeof pidfile, "%s/redis2.pid", f->s.dir);
    snprintf(cmd, sizeof cmd,
             "redis-server --bind 127.0.0.2 --port %d --save '' --appendonly no --daemonize yes "
             "--pidfile '%s' --logfile '%s/redis2.log' --dir '%s'",
             f->s.redis_port, pidfile, f->s.dir, f->s.dir);
    if (system(cmd) != 0)
        fail_msg("cannot start a second redis-server on 127.0.0.2:%d", f->s.redis_port);
    for (int i = 0; i < 250 && second_redis <= 0; i++) {
        FILE *fp = fopen(pidfile, "r");
        int pid = 0;
        if (fp) {
            if (fscanf(fp, "%d", &pid) != 1)
                pid = 0;
            fclose(fp);
        }
        second_redis = pid;
        if (pid <= 0)
            faults_sleep_ms(20);
    }
    if (second_redis <= 0)
        fail_msg("the second redis-server wrote no pidfile");
}

/* connected_clients of the Redis at host:port, -1 when it does not answer. */
static long long clients_at(const char *host, int port)
{
    struct timeval tv = { .tv_sec = 2 };
    redisContext *rc = redisConnectWithTimeout(host, port, tv);
    long long v = -1;
    if (rc && !rc->err) {
        redisSetTimeout(rc, tv);
        redisReply *rep = redisCommand(rc, "INFO clients");
        const char *p = rep && rep->type == REDIS_REPLY_STRING
            ? strstr(rep->str, "connected_clients:") : NULL;
        if (p)
            v = strtoll(p + 18, NULL, 10) - 1;   /* without this connection */
        freeReplyObject(rep);
    }
    if (rc)
        redisFree(rc);
    return v;
}

static void resolve_follows_move(void **state)
{
    need_hooks();
    faults_t *f = *state;
    seed(f);
    start_second_redis(f);
    hosts_write("127.0.0.1 fc-redis.test fc-pg.test\n");
    faults_start(f, NULL);
    read_five(f);
    assert_int_equal(clients_at("127.0.0.2", f->s.redis_port), 0);

    /* The failover: the name moves, then the old server dies. */
    hosts_write("127.0.0.2 fc-redis.test\n127.0.0.1 fc-pg.test\n");
    redisFree(f->r);
    f->r = NULL;
    faults_redis_kill(&f->s);
    long long took = wait_healthy(f, 15000);
    long long moved = clients_at("127.0.0.2", f->s.redis_port);
    printf("fc-redis.test moved to 127.0.0.2: /healthz 200 after %lld ms, %lld connections "
           "from feedcached there\n", took, moved);
    /* The command pool (redis_pool, 2 by default) and the fan-out worker's
     * connections: its blocking read (1 shard) and its deliveries (1). */
    long long deadline = faults_now_ms() + 10000;
    while (moved < 4 && faults_now_ms() < deadline) {
        faults_sleep_ms(100);
        moved = clients_at("127.0.0.2", f->s.redis_port);
    }
    assert_int_equal(moved, 4);
    read_five(f);                       /* the new Redis is empty: rebuilt there */
    f->finished = true;
}

static void resolve_slow_no_stall(void **state)
{
    need_hooks();
    faults_t *f = *state;
    seed(f);
    hosts_write("127.0.0.1 fc-redis.test fc-pg.test\n");
    char delay[16];
    snprintf(delay, sizeof delay, "%d", DELAY_MS);
    setenv("FC_FAULT_RESOLVE_DELAY_MS", delay, 1);
    char err[8192];
    long long t0 = faults_now_ms();
    f->d = faults_daemon_start(NULL, &f->c, err, sizeof err);
    if (!f->d)
        fail_msg("cannot start feedcached: %s", err);
    (void)faults_metric(f->d, "feedcache_loop_iteration_max_seconds");   /* resets the max */
    long long worst_ping = 0, pings = 0;
    char body[512] = "";
    int status = 0;
    while (faults_now_ms() - t0 < DELAY_MS + 8000) {
        long long s = faults_now_ms();
        fc_response_t r;
        assert_int_equal(fc_client_call(f->c, "ping", NULL, &r), FC_OK);
        assert_true(r.ok);
        fc_response_free(&r);
        long long rtt = faults_now_ms() - s;
        worst_ping = rtt > worst_ping ? rtt : worst_ping;
        pings++;
        if (pings % 20 == 0 && (status = healthz(f->d, body, sizeof body)) == 200)
            break;
        faults_sleep_ms(5);
    }
    long long connected = faults_now_ms() - t0;
    double loop_max = faults_metric(f->d, "feedcache_loop_iteration_max_seconds");
    printf("resolver delay %d ms: backends up %lld ms after start; %lld pings meanwhile, "
           "slowest %lld ms; longest loop iteration %.2f ms\n", DELAY_MS, connected, pings,
           worst_ping, loop_max * 1000);
    if (status != 200)
        harness_daemon_dump_log(f->d, "slow resolver");
    assert_int_equal(status, 200);
    assert_true(connected >= DELAY_MS - 100);   /* the delay was in effect */
    assert_false(isnan(loop_max));
    /* Generous for an ASan build on a busy machine; a blocked loop shows
     * the whole 2 s. */
    assert_true(loop_max < 0.25);
    assert_true(worst_ping < 250);
    read_five(f);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(resolve_names, setup, teardown),
        cmocka_unit_test_setup_teardown(resolve_unknown_then_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(resolve_follows_move, setup, teardown),
        cmocka_unit_test_setup_teardown(resolve_slow_no_stall, setup, teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}

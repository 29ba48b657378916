/* Integration tests of the fan-out worker on a bad day (issue 9, items 1-3),
 * against a real feedcached, Redis and PostgreSQL:
 *
 *   - poison: a job whose delivery fails every time (a follower's feed key
 *     holds a string: WRONGTYPE) is moved to the dead-letter stream after
 *     fanout_max_attempts while other authors' posts keep flowing;
 *     `feedcachectl fanout dead-letters` lists it, `fanout retry ID`
 *     requeues it and, the key fixed, it completes; a malformed entry is
 *     dead-lettered at once with its reason, and `retry --all` requeues it;
 *     a poison job alone (nothing else succeeds meanwhile, so this is not
 *     mistaken for an outage) is dead-lettered too
 *   - long jobs: a job slower than fanout_claim_idle_ms (PostgreSQL slowed
 *     down through a view) with two instances running is delivered exactly
 *     once per feed; kill -9 of its worker after two pages: a second
 *     instance takes it over and resumes, redoing at most one page, and
 *     every feed gets the post
 *   - outage: PostgreSQL cut off (a TCP proxy in this process stops) with
 *     40 jobs pending: feedcached's CPU time and Redis commands over 4 s
 *     stay small; the outage is logged once; after it every pending post
 *     and every new one is delivered
 *   - shards: fanout_shards 4 with two instances: jobs spread over the
 *     shards, each instance consumes every shard, a dead letter's id names
 *     its shard and is requeued there; a lowered fanout_shards with jobs in
 *     a dropped shard is logged at start-up
 *
 * Own PostgreSQL database fc_fanout_<pid>, own Redis db 12, a key prefix
 * per daemon. FEEDCACHE_TEST_FILTER=fanout_poison runs one test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "feed/feed_scripts.h"
#include "feed/feed_shard.h"
#include "fixture.h"
#include "harness.h"
#include "oracle_db.h"

#define PAGE 5000            /* FANOUT_PAGE */

static const fixture_conf_t conf = {
    .program = "test_fanout", .db_tag = "fc_fanout", .redis_db = 12, .key_prefix = "fcfan",
};

/* --- helpers: SQL, Redis ------------------------------------------------------ */

static void pg_exec(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pg_exec(PGconn *pg, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", PQerrorMessage(pg), sql);
    PQclear(res);
}

/* Users lo..hi, and each of them (but author) follows author. */
static void add_followers(PGconn *pg, int64_t author, int64_t lo, int64_t hi)
{
    pg_exec(pg, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM generate_series(%" PRId64
            ", %" PRId64 ") g ON CONFLICT DO NOTHING", lo, hi);
    pg_exec(pg, "INSERT INTO users (id, handle) VALUES (%" PRId64 ", 'a') ON CONFLICT DO NOTHING",
            author);
    pg_exec(pg, "INSERT INTO follows (follower_id, followee_id) SELECT g, %" PRId64
            " FROM generate_series(%" PRId64 ", %" PRId64 ") g WHERE g <> %" PRId64
            " ON CONFLICT DO NOTHING", author, lo, hi, author);
}

static void key_of(const char *prefix, char *out, size_t cap, const char *kind, int64_t id)
{
    snprintf(out, cap, "%s%s:{%" PRId64 "}", prefix, kind, id);
}

static redisReply *cmd(rdirect_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = rdirect_vcommand(r, fmt, ap);
    va_end(ap);
    if (!rep)
        fail_msg("redis: %s", rdirect_error(r));
    return rep;
}

static long long cmd_int(rdirect_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = rdirect_vcommand(r, fmt, ap);
    va_end(ap);
    if (!rep)
        fail_msg("redis: %s", rdirect_error(r));
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return v;
}

/* The scratch key of a rebuild as the rebuilder fills it before
 * REBUILD_APPLY: the pad first (a skiplist), then n rows, score/id pairs. */
static void scratch_rows(fixture_t *f, const char *tmp, int n, const int64_t *rows)
{
    char pad[FEED_REBUILD_PAD_LEN + 1];
    memset(pad, '-', FEED_REBUILD_PAD_LEN);
    pad[FEED_REBUILD_PAD_LEN] = '\0';
    freeReplyObject(cmd(f->r, "DEL %s", tmp));
    freeReplyObject(cmd(f->r, "ZADD %s 0 %s", tmp, pad));
    for (int i = 0; i < n; i++)
        freeReplyObject(cmd(f->r, "ZADD %s %" PRId64 " %" PRId64, tmp, rows[2 * i],
                            rows[2 * i + 1]));
}

/* Empty complete home feeds (the sentinel only) for users lo..hi. */
static void make_feeds(fixture_t *f, const char *prefix, int64_t lo, int64_t hi)
{
    char k[160];
    for (int64_t u = lo; u <= hi; u++) {
        key_of(prefix, k, sizeof k, "home", u);
        rdirect_append(f->r, "ZADD %s -1 s", k);
    }
    for (int64_t u = lo; u <= hi; u++) {
        redisReply *rep;
        assert_int_equal(rdirect_get_reply(f->r, &rep), REDIS_OK);
        freeReplyObject(rep);
    }
}

/* How many of the feeds of users lo..hi hold post. */
static int64_t feeds_with(fixture_t *f, const char *prefix, int64_t lo, int64_t hi, int64_t post)
{
    char k[160];
    for (int64_t u = lo; u <= hi; u++) {
        key_of(prefix, k, sizeof k, "home", u);
        rdirect_append(f->r, "ZSCORE %s %" PRId64, k, post);
    }
    int64_t n = 0;
    for (int64_t u = lo; u <= hi; u++) {
        redisReply *rep;
        assert_int_equal(rdirect_get_reply(f->r, &rep), REDIS_OK);
        n += rep->type == REDIS_REPLY_STRING;
        freeReplyObject(rep);
    }
    return n;
}

/* The shard of the fan-out queue xadd_post and stream_len use (0 unless a
 * test sets it). */
static unsigned cur_shard;

static void stream_name(char *out, size_t cap, const char *prefix, const char *suffix)
{
    if (cur_shard == 0)
        snprintf(out, cap, "%s{fanout}%s", prefix, suffix);
    else
        snprintf(out, cap, "%s{fanout:%u}%s", prefix, cur_shard, suffix);
}

/* XADDs a push job as post.publish does (feed_job.h); returns its id. */
static void xadd_post(fixture_t *f, const char *prefix, int64_t post, int64_t author,
                      char id[64])
{
    char stream[160];
    stream_name(stream, sizeof stream, prefix, "");
    long long now = (long long)time(NULL) * 1000;
    redisReply *rep = cmd(f->r, "XADD %s * t p p %lld a %lld ts %lld pub %lld", stream,
                          (long long)post, (long long)author, 1700000000000LL + post, now);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    if (id)
        snprintf(id, 64, "%s", rep->str);
    freeReplyObject(rep);
}

static long long stream_len(fixture_t *f, const char *prefix, const char *suffix)
{
    char stream[160];
    stream_name(stream, sizeof stream, prefix, suffix);
    return cmd_int(f->r, "XLEN %s", stream);
}

static int64_t stat_of(fc_client_t *c, const char *key)
{
    int64_t v = -1;
    char err[256];
    if (odb_rpc_stat(c, key, &v, err, sizeof err) != 0)
        fail_msg("stats %s: %s", key, err);
    return v;
}

/* fanout.dead_letters: the total, and the first one's id and reason. */
static int64_t dead_letters(fc_client_t *c, char id[64], char reason[256], int64_t *attempts)
{
    fc_response_t r;
    char err[256];
    if (odb_call(c, "fanout.dead_letters", NULL, &r, err, sizeof err) != 0)
        fail_msg("fanout.dead_letters: %s", err);
    int64_t total = -1;
    assert_int_equal(fc_obj_int(fc_obj_get(&r.result, "total"), &total), 0);
    const msgpack_object *list = fc_obj_get(&r.result, "dead_letters");
    assert_non_null(list);
    assert_int_equal(list->type, MSGPACK_OBJECT_ARRAY);
    if (list->via.array.size > 0) {
        const msgpack_object *d = &list->via.array.ptr[0];
        const char *s;
        size_t n;
        if (id && fc_obj_str(fc_obj_get(d, "id"), &s, &n) == 0)
            snprintf(id, 64, "%.*s", (int)n, s);
        if (reason && fc_obj_str(fc_obj_get(d, "reason"), &s, &n) == 0)
            snprintf(reason, 256, "%.*s", (int)n, s);
        if (attempts)
            fc_obj_int(fc_obj_get(d, "attempts"), attempts);
    }
    fc_response_free(&r);
    return total;
}

/* --- feedcachectl ------------------------------------------------------------- */

typedef struct {
    int status;
    char out[8192];
} ctl_run_t;

static void run_ctl(ctl_run_t *r, const char *addr, const char *args)
{
    char line[1024];
    snprintf(line, sizeof line, "timeout 60 '%s' --addr %s %s 2>&1 </dev/null",
             getenv("FEEDCACHECTL"), addr, args);
    FILE *p = popen(line, "r");
    assert_non_null(p);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --- a PostgreSQL that can be cut off: a TCP proxy thread --------------------- */

typedef struct {
    int listen_port, target_port;
    atomic_bool up, quit;
    pthread_t thread;
} pg_proxy_t;

static int listen_on(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 64) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static int connect_to(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

#define PROXY_MAX 64

/* Pumps bytes between each accepted connection and PostgreSQL. While down,
 * every connection is closed and nothing listens (connection refused). */
static void *proxy_main(void *arg)
{
    pg_proxy_t *p = arg;
    int lfd = -1;
    int fds[PROXY_MAX][2];
    int npairs = 0;
    char buf[65536];
    while (!atomic_load(&p->quit)) {
        bool up = atomic_load(&p->up);
        if (!up) {
            for (int i = 0; i < npairs; i++) {
                close(fds[i][0]);
                close(fds[i][1]);
            }
            npairs = 0;
            if (lfd >= 0)
                close(lfd);
            lfd = -1;
            usleep(20000);
            continue;
        }
        if (lfd < 0 && (lfd = listen_on(p->listen_port)) < 0) {
            usleep(20000);
            continue;
        }
        struct pollfd pfd[1 + 2 * PROXY_MAX];
        pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        for (int i = 0; i < npairs; i++) {
            pfd[1 + 2 * i] = (struct pollfd){ .fd = fds[i][0], .events = POLLIN };
            pfd[2 + 2 * i] = (struct pollfd){ .fd = fds[i][1], .events = POLLIN };
        }
        if (poll(pfd, (nfds_t)(1 + 2 * npairs), 20) <= 0)
            continue;
        for (int i = npairs - 1; i >= 0; i--) {
            bool dead = false;
            for (int k = 0; k < 2 && !dead; k++) {
                if (!(pfd[1 + 2 * i + k].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                ssize_t n = read(fds[i][k], buf, sizeof buf);
                if (n <= 0) {
                    dead = true;
                    break;
                }
                for (ssize_t off = 0; off < n;) {
                    ssize_t w = write(fds[i][1 - k], buf + off, (size_t)(n - off));
                    if (w <= 0) {
                        dead = true;
                        break;
                    }
                    off += w;
                }
            }
            if (dead) {
                close(fds[i][0]);
                close(fds[i][1]);
                fds[i][0] = fds[npairs - 1][0];
                fds[i][1] = fds[npairs - 1][1];
                npairs--;
            }
        }
        if (pfd[0].revents & POLLIN) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                int t = npairs < PROXY_MAX ? connect_to(p->target_port) : -1;
                if (t < 0) {
                    close(c);
                } else {
                    fds[npairs][0] = c;
                    fds[npairs][1] = t;
                    npairs++;
                }
            }
        }
    }
    for (int i = 0; i < npairs; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
    if (lfd >= 0)
        close(lfd);
    return NULL;
}

/* --- fixture -------------------------------------------------------------------- */

static int group_setup(void **state)
{
    return fixture_group_setup(&conf);
}

/* A daemon on f->prefix with extra flags and, when pg is not NULL, that
 * PostgreSQL conninfo. */
static harness_daemon_t *start_daemon(fixture_t *f, const char *pg, const char *const *extra,
                                      fc_client_t **c)
{
    char saved[1200];
    snprintf(saved, sizeof saved, "%s", getenv("FEEDCACHE_TEST_PG"));
    if (pg)
        setenv("FEEDCACHE_TEST_PG", pg, 1);
    harness_daemon_t *d = fixture_daemon_start(f->prefix, extra, c);
    setenv("FEEDCACHE_TEST_PG", saved, 1);
    if (!d)
        fail_msg("feedcached did not start");
    return d;
}

static bool log_has(const harness_daemon_t *d, const char *needle, int *count)
{
    char *log = harness_daemon_log(d);
    int n = 0;
    for (const char *p = log; (p = strstr(p, needle)); p++)
        n++;
    free(log);
    if (count)
        *count = n;
    return n > 0;
}

/* --- (a) poison jobs ------------------------------------------------------------ */

/* Jobs that finish while an acknowledgement is out share the next call
 * (FANOUT_ACK with many ids): a backlog of 300 jobs queued before the
 * worker starts, read and run 32 at a time, every one delivered and
 * acknowledged: the stream, its pending list and the progress hash end
 * empty. */
static void fanout_acks_in_batches(void **state)
{
    fixture_t *f = *state;
    enum { JOBS = 300, LO = 600, HI = 603 };
    add_followers(f->pg, 6, LO, HI);
    fixture_next_prefix(f);
    make_feeds(f, f->prefix, 6, 6);
    make_feeds(f, f->prefix, LO, HI);
    for (int64_t i = 0; i < JOBS; i++)
        xadd_post(f, f->prefix, 60000 + i, 6, NULL);
    assert_int_equal(stream_len(f, f->prefix, ""), JOBS);
    fc_client_t *c;
    harness_daemon_t *d = start_daemon(f, NULL, NULL, &c);
    long long deadline = odb_now_ms() + 30000;
    while (stream_len(f, f->prefix, "") > 0) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(d, "acks in batches");
            fail_msg("%lld of %d jobs still in the stream after 30 s",
                     stream_len(f, f->prefix, ""), JOBS);
        }
        odb_sleep_ms(20);
    }
    for (int64_t i = 0; i < JOBS; i++) {
        if (feeds_with(f, f->prefix, LO, HI, 60000 + i) != HI - LO + 1)
            fail_msg("post %" PRId64 " acknowledged but not in every follower's feed", 60000 + i);
        assert_int_equal(feeds_with(f, f->prefix, 6, 6, 60000 + i), 1);
    }
    char stream[160], progress[160];
    stream_name(stream, sizeof stream, f->prefix, "");
    stream_name(progress, sizeof progress, f->prefix, ":progress");
    redisReply *rep = cmd(f->r, "XPENDING %s feedcache", stream);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_true(rep->elements >= 1);
    assert_int_equal(rep->element[0]->integer, 0);
    freeReplyObject(rep);
    assert_int_equal(cmd_int(f->r, "HLEN %s", progress), 0);
    fc_client_close(c);
    assert_int_equal(harness_daemon_finish(d, true), 0);
    f->finished = true;
}

/* A poison job with no other traffic: Redis refusing the job's own command
 * (WRONGTYPE) counts as an attempt even though nothing else succeeds in
 * between, so the job is not retried for ever as if Redis were down. */
static void fanout_poison_alone(void **state)
{
    fixture_t *f = *state;
    add_followers(f->pg, 3, 300, 304);
    static const char *const flags[] = { "--fanout-max-attempts", "3", "--fanout-retry-min-ms",
                                         "50", "--fanout-retry-max-ms", "200", NULL };
    assert_int_equal(fixture_start(f, flags), 0);
    make_feeds(f, f->prefix, 3, 3);
    make_feeds(f, f->prefix, 300, 304);
    char k[160];
    key_of(f->prefix, k, sizeof k, "home", 302);
    freeReplyObject(cmd(f->r, "SET %s garbage", k));
    xadd_post(f, f->prefix, 7001, 3, NULL);
    long long deadline = odb_now_ms() + 15000;
    char id[64] = "", reason[256] = "";
    int64_t attempts = 0;
    while (dead_letters(f->c, id, reason, &attempts) < 1) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(f->d, "poison alone");
            fail_msg("a lone poison job was not dead-lettered within 15 s");
        }
        odb_sleep_ms(20);
    }
    assert_int_equal(attempts, 3);
    if (!strstr(reason, "WRONGTYPE"))
        fail_msg("dead letter reason '%s' lacks WRONGTYPE", reason);
    assert_int_equal(stream_len(f, f->prefix, ""), 0);
}

static void fanout_poison(void **state)
{
    fixture_t *f = *state;
    /* Author 1: followers 100..119; author 2: followers 200..239. */
    add_followers(f->pg, 1, 100, 119);
    add_followers(f->pg, 2, 200, 239);
    static const char *const flags[] = { "--fanout-max-attempts", "3", "--fanout-retry-min-ms",
                                         "50", "--fanout-retry-max-ms", "200", NULL };
    assert_int_equal(fixture_start(f, flags), 0);
    make_feeds(f, f->prefix, 1, 2);
    make_feeds(f, f->prefix, 100, 119);
    make_feeds(f, f->prefix, 200, 239);
    /* Follower 107's feed key holds a string: every delivery to it fails. */
    char k[160];
    key_of(f->prefix, k, sizeof k, "home", 107);
    freeReplyObject(cmd(f->r, "SET %s garbage", k));

    xadd_post(f, f->prefix, 5001, 1, NULL);
    /* Author 2's posts keep flowing meanwhile. */
    int64_t good = 0;
    long long deadline = odb_now_ms() + 15000;
    char id[64] = "", reason[256] = "";
    int64_t attempts = 0;
    while (dead_letters(f->c, id, reason, &attempts) < 1) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(f->d, "poison");
            fail_msg("the poison job was not dead-lettered within 15 s");
        }
        xadd_post(f, f->prefix, 6000 + good++, 2, NULL);
        odb_sleep_ms(20);
    }
    assert_int_equal(attempts, 3);
    if (!strstr(reason, "WRONGTYPE"))
        fail_msg("dead letter reason '%s' lacks WRONGTYPE", reason);
    /* Every good post reached all of author 2's followers. */
    deadline = odb_now_ms() + 10000;
    for (int64_t i = 0; i < good; i++) {
        while (feeds_with(f, f->prefix, 200, 239, 6000 + i) != 40) {
            if (odb_now_ms() > deadline)
                fail_msg("good post %" PRId64 " not delivered to every follower", 6000 + i);
            odb_sleep_ms(20);
        }
    }
    fprintf(stderr, "poison: dead-lettered after %" PRId64 " attempts while %" PRId64
            " other posts were delivered\n", attempts, good);
    assert_true(good >= 2);
    assert_int_equal(stream_len(f, f->prefix, ""), 0);

    /* feedcachectl lists it... */
    ctl_run_t r;
    run_ctl(&r, f->d->addr, "fanout dead-letters");
    if (r.status != 0 || !strstr(r.out, id) || !strstr(r.out, "5001") ||
        !strstr(r.out, "WRONGTYPE") || !strstr(r.out, "1 dead letter"))
        fail_msg("fanout dead-letters: exit %d:\n%s", r.status, r.out);
    run_ctl(&r, f->d->addr, "fanout retry");
    assert_int_equal(r.status, 2);
    run_ctl(&r, f->d->addr, "fanout retry 1-1");
    if (r.status != 1 || !strstr(r.out, "NOT_FOUND"))
        fail_msg("fanout retry of an unknown id: exit %d:\n%s", r.status, r.out);

    /* ...and, the key fixed, requeues it: it completes. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    make_feeds(f, f->prefix, 107, 107);
    char args[128];
    snprintf(args, sizeof args, "fanout retry %s", id);
    run_ctl(&r, f->d->addr, args);
    if (r.status != 0 || !strstr(r.out, "requeued 1 dead letter"))
        fail_msg("fanout retry: exit %d:\n%s", r.status, r.out);
    deadline = odb_now_ms() + 10000;
    while (feeds_with(f, f->prefix, 100, 119, 5001) != 20 ||
           feeds_with(f, f->prefix, 1, 1, 5001) != 1) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(f->d, "poison retry");
            fail_msg("the requeued job did not complete");
        }
        odb_sleep_ms(20);
    }
    assert_int_equal(dead_letters(f->c, NULL, NULL, NULL), 0);

    /* A malformed entry is dead-lettered at once, with its reason. */
    freeReplyObject(cmd(f->r, "XADD %s{fanout} * t x junk 1", f->prefix));
    deadline = odb_now_ms() + 10000;
    while (dead_letters(f->c, id, reason, NULL) < 1) {
        if (odb_now_ms() > deadline)
            fail_msg("the malformed job was not dead-lettered");
        odb_sleep_ms(20);
    }
    if (!strstr(reason, "malformed"))
        fail_msg("malformed job's reason: '%s'", reason);
    run_ctl(&r, f->d->addr, "fanout dead-letters --json");
    if (r.status != 0 || !strstr(r.out, "\"reason\":\"malformed"))
        fail_msg("fanout dead-letters --json: exit %d:\n%s", r.status, r.out);
    run_ctl(&r, f->d->addr, "fanout retry --all");
    if (r.status != 0 || !strstr(r.out, "requeued 1 dead letter"))
        fail_msg("fanout retry --all: exit %d:\n%s", r.status, r.out);
    /* Still malformed: back in the dead-letter stream, counted twice. */
    deadline = odb_now_ms() + 10000;
    while (dead_letters(f->c, NULL, NULL, NULL) < 1) {
        if (odb_now_ms() > deadline)
            fail_msg("the requeued malformed job did not come back");
        odb_sleep_ms(20);
    }
    harness_http_t h;
    char err[256];
    assert_int_equal(harness_http(f->d->metrics_addr, "GET", "/metrics", 5000, &h, err,
                                  sizeof err), 0);
    if (!strstr(h.body.data, "feedcache_fanout_dead_letters_total 3"))
        fail_msg("/metrics lacks feedcache_fanout_dead_letters_total 3");
    harness_http_free(&h);
    f->finished = true;
}

/* --- (b) long jobs ------------------------------------------------------------- */

#define LONG_LO 100001
#define LONG_N 20000
#define LONG_HI (LONG_LO + LONG_N - 1)

/* The followers of author 1 (LONG_N of them, with feeds), and a schema
 * "slow" whose follows view sleeps 5 ms every 100 rows: a page of the
 * fan-out query takes about 0.3 s. Returns the conninfo that reads it. */
static void long_world(fixture_t *f, char *slow_pg, size_t cap)
{
    add_followers(f->pg, 1, LONG_LO, LONG_HI);
    pg_exec(f->pg, "CREATE SCHEMA IF NOT EXISTS slow");
    pg_exec(f->pg, "CREATE OR REPLACE FUNCTION slow.pass(id bigint) RETURNS boolean "
            "LANGUAGE sql VOLATILE AS $$ SELECT CASE WHEN id %% 100 = 0 "
            "THEN pg_sleep(0.005) IS NOT NULL ELSE true END $$");
    pg_exec(f->pg, "CREATE OR REPLACE VIEW slow.follows AS SELECT * FROM public.follows "
            "WHERE slow.pass(follower_id)");
    snprintf(slow_pg, cap, "%s options='-c search_path=slow,public'", fixture_env()->conninfo);
    fixture_next_prefix(f);
    make_feeds(f, f->prefix, 1, 1);
    make_feeds(f, f->prefix, LONG_LO, LONG_HI);
}

static void fanout_long_job_once(void **state)
{
    fixture_t *f = *state;
    char slow[1400];
    long_world(f, slow, sizeof slow);
    static const char *const flags[] = { "--fanout-claim-idle-ms", "600", NULL };
    fc_client_t *ca, *cb;
    harness_daemon_t *a = start_daemon(f, slow, flags, &ca);
    harness_daemon_t *b = start_daemon(f, slow, flags, &cb);
    long long t0 = odb_now_ms();
    xadd_post(f, f->prefix, 777, 1, NULL);
    long long deadline = t0 + 30000;
    while (feeds_with(f, f->prefix, LONG_LO, LONG_HI, 777) != LONG_N ||
           stream_len(f, f->prefix, "") != 0) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(a, "long job: a");
            harness_daemon_dump_log(b, "long job: b");
            fail_msg("the long job did not finish in 30 s");
        }
        odb_sleep_ms(50);
    }
    long long took = odb_now_ms() - t0;
    odb_sleep_ms(1500);            /* a second run would show by now */
    int64_t da = stat_of(ca, "fanout_deliveries"), db = stat_of(cb, "fanout_deliveries");
    fprintf(stderr, "long job: %lld ms (claim time 600 ms), deliveries %" PRId64 " + %" PRId64
            " for %d feeds\n", took, da, db, LONG_N + 1);
    assert_true(took > 1200);      /* it did outlast the claim time */
    assert_int_equal(da + db, LONG_N + 1);
    assert_int_equal(cmd_int(f->r, "HLEN %s{fanout}:progress", f->prefix), 0);
    fc_client_close(ca);
    fc_client_close(cb);
    assert_int_equal(harness_daemon_finish(a, true), 0);
    assert_int_equal(harness_daemon_finish(b, true), 0);
    f->finished = true;
}

/* kill -9 of the worker of a long job in shard `shard` (of 4 when > 0): the
 * other instance, another consumer, claims it there and resumes. */
static void kill_resume(fixture_t *f, unsigned shard)
{
    char slow[1400];
    long_world(f, slow, sizeof slow);
    cur_shard = shard;
    char progress[160];
    stream_name(progress, sizeof progress, f->prefix, ":progress");
    const char *const flags[] = { "--fanout-claim-idle-ms", "600", "--fanout-shards",
                                  shard ? "4" : "1", NULL };
    fc_client_t *ca;
    harness_daemon_t *a = start_daemon(f, slow, flags, &ca);
    char entry[64];
    xadd_post(f, f->prefix, 888, 1, entry);
    /* Wait until two pages are delivered (the saved position is past the
     * 10,000th follower), then kill -9. */
    long long deadline = odb_now_ms() + 30000;
    long long pos = 0;
    while (pos < LONG_LO + 2 * PAGE - 1) {
        redisReply *rep = cmd(f->r, "HGET %s %s", progress, entry);
        if (rep->type == REDIS_REPLY_STRING)
            pos = strtoll(rep->str, NULL, 10);
        freeReplyObject(rep);
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(a, "kill resume");
            fail_msg("no progress past two pages within 30 s (position %lld)", pos);
        }
        odb_sleep_ms(10);
    }
    assert_int_equal(harness_daemon_signal(a, SIGKILL), 0);
    harness_daemon_wait(a, 5000);
    int64_t before = feeds_with(f, f->prefix, LONG_LO, LONG_HI, 888) +
                     feeds_with(f, f->prefix, 1, 1, 888);
    assert_true(before < LONG_N + 1);
    fc_client_close(ca);
    harness_daemon_free(a);

    /* A second instance (another consumer) claims it and resumes. */
    fc_client_t *cb;
    harness_daemon_t *b = start_daemon(f, NULL, flags, &cb);
    deadline = odb_now_ms() + 30000;
    while (feeds_with(f, f->prefix, LONG_LO, LONG_HI, 888) != LONG_N ||
           stream_len(f, f->prefix, "") != 0) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(b, "kill resume: b");
            fail_msg("the second instance did not finish the job in 30 s");
        }
        odb_sleep_ms(50);
    }
    assert_int_equal(feeds_with(f, f->prefix, 1, 1, 888), 1);
    int64_t db = stat_of(cb, "fanout_deliveries");
    int64_t redone = before + db - (LONG_N + 1);
    fprintf(stderr, "kill -9 at position %lld: %" PRId64 " feeds had the post, the second "
            "instance delivered %" PRId64 ", redone %" PRId64 " (a page is %d)\n", pos, before,
            db, redone, PAGE);
    assert_true(redone >= 0);
    assert_true(redone <= PAGE);
    assert_true(log_has(b, "resumes after follower", NULL));
    assert_int_equal(cmd_int(f->r, "HLEN %s", progress), 0);
    fc_client_close(cb);
    assert_int_equal(harness_daemon_finish(b, true), 0);
    cur_shard = 0;
    f->finished = true;
}

static void fanout_kill_resume(void **state)
{
    kill_resume(*state, 0);
}

static void fanout_kill_resume_shard(void **state)
{
    kill_resume(*state, 3);
}

/* --- (c) PostgreSQL outage -------------------------------------------------------- */

static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    assert_non_null(p);
    unsigned long utime = 0, stime = 0;
    /* After "pid (comm)": state is field 3; utime and stime are 14 and 15. */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                            &utime, &stime), 2);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Commands processed by the server, or by every master of a cluster. */
static long long redis_commands(fixture_t *f)
{
    long long v = rdirect_info_sum(f->r, "total_commands_processed");
    if (v < 0)
        fail_msg("redis: %s", rdirect_error(f->r));
    return v;
}

#define OUTAGE_MS 4000
#define PENDING 40
#define CPU_MAX_S 0.4
#define REDIS_MAX 200

static void fanout_pg_outage(void **state)
{
    fixture_t *f = *state;
    add_followers(f->pg, 1, 100, 149);
    const char *port = getenv("FEEDCACHE_TEST_PG_PORT");
    int pg_port = port ? atoi(port) : -1;
    if (pg_port <= 0) {
        /* The conninfo's port= is the server's. */
        const char *c = strstr(fixture_env()->conninfo, "port=");
        assert_non_null(c);
        pg_port = atoi(c + 5);
    }
    pg_proxy_t proxy = { .target_port = pg_port };
    proxy.listen_port = harness_free_port();
    atomic_store(&proxy.up, true);
    assert_int_equal(pthread_create(&proxy.thread, NULL, proxy_main, &proxy), 0);
    char pg[1400];
    snprintf(pg, sizeof pg, "%s host=127.0.0.1 port=%d", fixture_env()->conninfo,
             proxy.listen_port);
    static const char *const flags[] = { "--fanout-retry-min-ms", "100", "--fanout-retry-max-ms",
                                         "1000", NULL };
    fixture_next_prefix(f);
    f->d = start_daemon(f, pg, flags, &f->c);
    make_feeds(f, f->prefix, 1, 1);
    make_feeds(f, f->prefix, 100, 149);
    /* The proxy works: a first post goes through. */
    xadd_post(f, f->prefix, 1, 1, NULL);
    long long deadline = odb_now_ms() + 10000;
    while (feeds_with(f, f->prefix, 100, 149, 1) != 50) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(f->d, "outage: before");
            fail_msg("fan-out through the proxy does not work");
        }
        odb_sleep_ms(20);
    }

    atomic_store(&proxy.up, false);
    for (int i = 0; i < PENDING; i++)
        xadd_post(f, f->prefix, 100 + i, 1, NULL);
    odb_sleep_ms(1000);            /* every job has failed once by now */
    double cpu0 = cpu_seconds(f->d->pid);
    long long cmds0 = redis_commands(f);
    odb_sleep_ms(OUTAGE_MS);
    double cpu = cpu_seconds(f->d->pid) - cpu0;
    long long cmds = redis_commands(f) - cmds0 - 1;    /* our INFO */
    long long pending = stream_len(f, f->prefix, "");
    fprintf(stderr, "outage: %d jobs pending, over %d ms feedcached used %.2f s CPU and sent "
            "%lld Redis commands (bounds %.2f s, %d)\n", PENDING, OUTAGE_MS, cpu, cmds,
            CPU_MAX_S, REDIS_MAX);
    assert_true(cpu <= CPU_MAX_S);
    assert_true(cmds <= REDIS_MAX);
    assert_int_equal(pending, PENDING);
    assert_int_equal(stream_len(f, f->prefix, ":dead"), 0);

    atomic_store(&proxy.up, true);
    long long t_up = odb_now_ms();
    for (int i = 0; i < 5; i++)
        xadd_post(f, f->prefix, 200 + i, 1, NULL);
    deadline = odb_now_ms() + 20000;
    for (int i = 0; i < PENDING + 5; i++) {
        int64_t post = i < PENDING ? 100 + i : 200 + (i - PENDING);
        while (feeds_with(f, f->prefix, 100, 149, post) != 50 ||
               feeds_with(f, f->prefix, 1, 1, post) != 1) {
            if (odb_now_ms() > deadline) {
                harness_daemon_dump_log(f->d, "outage: after");
                fail_msg("post %" PRId64 " not delivered after the outage", post);
            }
            odb_sleep_ms(20);
        }
    }
    fprintf(stderr, "outage: every post delivered %lld ms after PostgreSQL came back\n",
            odb_now_ms() - t_up);
    deadline = odb_now_ms() + 5000;
    while (stream_len(f, f->prefix, "") != 0 && odb_now_ms() < deadline)
        odb_sleep_ms(20);
    assert_int_equal(stream_len(f, f->prefix, ""), 0);
    int warned = 0, recovered = 0;
    log_has(f->d, "failed jobs are retried with backoff", &warned);
    log_has(f->d, "fan-out recovered", &recovered);
    if (warned != 1 || recovered != 1) {
        harness_daemon_dump_log(f->d, "outage: log");
        fail_msg("the outage was logged %d times, its end %d times (want 1 and 1)", warned,
                 recovered);
    }
    atomic_store(&proxy.quit, true);
    pthread_join(proxy.thread, NULL);
    f->finished = true;
}

/* --- (d) a sharded queue -------------------------------------------------------- */

static void shard_consumer_names(fixture_t *f, unsigned i, char *out, size_t cap);

#define SHARDS 4

/* XINFO STREAM's entries-added of shard i's stream (jobs ever queued). */
static long long shard_added(fixture_t *f, unsigned i)
{
    char stream[160];
    if (i == 0)
        snprintf(stream, sizeof stream, "%s{fanout}", f->prefix);
    else
        snprintf(stream, sizeof stream, "%s{fanout:%u}", f->prefix, i);
    redisReply *rep = cmd(f->r, "XINFO STREAM %s", stream);
    long long v = -1;
    for (size_t k = 0; rep->type == REDIS_REPLY_ARRAY && k + 1 < rep->elements; k += 2)
        if (rep->element[k]->type == REDIS_REPLY_STRING &&
            strcmp(rep->element[k]->str, "entries-added") == 0)
            v = rep->element[k + 1]->integer;
    freeReplyObject(rep);
    return v;
}

/* The consumers of the group on shard i's stream. */
static long long shard_consumers(fixture_t *f, unsigned i)
{
    char stream[160];
    if (i == 0)
        snprintf(stream, sizeof stream, "%s{fanout}", f->prefix);
    else
        snprintf(stream, sizeof stream, "%s{fanout:%u}", f->prefix, i);
    redisReply *rep = cmd(f->r, "XINFO CONSUMERS %s feedcache", stream);
    long long n = rep->type == REDIS_REPLY_ARRAY ? (long long)rep->elements : -1;
    freeReplyObject(rep);
    return n;
}

/* fanout_shards 4, two instances: publishes spread over the shards, both
 * instances consume every shard, every post reaches every feed; a poison
 * job in a shard > 0 is dead-lettered with an id naming its shard, listed
 * and requeued by feedcachectl, and completes once its key is fixed. */
static void fanout_shards(void **state)
{
    fixture_t *f = *state;
    enum { AUTHORS = 24, FLO = 1000, FHI = 1039 };
    for (int64_t a = 1; a <= AUTHORS; a++)
        add_followers(f->pg, a, FLO, FHI);
    /* The poison author: its jobs land in a shard > 0; follower 2000's feed
     * key holds a string. */
    int64_t poison = 50;
    while (feed_shard_of(poison, SHARDS) == 0)
        poison++;
    unsigned poison_shard = feed_shard_of(poison, SHARDS);
    add_followers(f->pg, poison, 2000, 2001);
    fixture_next_prefix(f);
    make_feeds(f, f->prefix, 1, AUTHORS);
    make_feeds(f, f->prefix, FLO, FHI);
    make_feeds(f, f->prefix, 2001, 2001);
    char k[160];
    key_of(f->prefix, k, sizeof k, "home", 2000);
    freeReplyObject(cmd(f->r, "SET %s garbage", k));
    static const char *const flags[] = { "--fanout-shards", "4", "--fanout-max-attempts", "2",
                                         "--fanout-retry-min-ms", "50", "--fanout-retry-max-ms",
                                         "200", NULL };
    fc_client_t *ca, *cb;
    harness_daemon_t *a = start_daemon(f, NULL, flags, &ca);
    harness_daemon_t *b = start_daemon(f, NULL, flags, &cb);
    char err[256], mode[16];
    for (int64_t au = 1; au <= AUTHORS; au++) {
        odb_post_t p = { .id = 10000 + au, .author_id = au, .created_ms = 1700000000000 + au };
        if (odb_rpc_publish(au % 2 ? ca : cb, &p, false, false, mode, err, sizeof err) != 0)
            fail_msg("publish: %s", err);
        assert_string_equal(mode, "fanout");
    }
    odb_post_t pp = { .id = 20000, .author_id = poison, .created_ms = 1700000000000 };
    if (odb_rpc_publish(ca, &pp, false, false, mode, err, sizeof err) != 0)
        fail_msg("publish: %s", err);
    long long deadline = odb_now_ms() + 20000;
    for (int64_t au = 1; au <= AUTHORS; au++)
        while (feeds_with(f, f->prefix, FLO, FHI, 10000 + au) != FHI - FLO + 1 ||
               feeds_with(f, f->prefix, au, au, 10000 + au) != 1) {
            if (odb_now_ms() > deadline) {
                harness_daemon_dump_log(a, "shards: a");
                fail_msg("post %" PRId64 " not delivered to every follower in 20 s", 10000 + au);
            }
            odb_sleep_ms(20);
        }
    /* Spread: each author's jobs in its own shard; every instance reads all. */
    long long total = 0;
    int used = 0;
    for (unsigned i = 0; i < SHARDS; i++) {
        long long n = shard_added(f, i);
        long long want = 0;
        for (int64_t au = 1; au <= AUTHORS; au++)
            want += feed_shard_of(au, SHARDS) == i;
        want += i == poison_shard;
        char names[512];
        shard_consumer_names(f, i, names, sizeof names);
        fprintf(stderr, "shard %u: %lld jobs queued (expected %lld), consumers %s\n", i, n,
                want, names);
        assert_int_equal(n, want);
        /* Each instance registers in every shard's group once it is up. */
        long long until = odb_now_ms() + 5000;
        while (shard_consumers(f, i) != 2) {
            if (odb_now_ms() > until)
                fail_msg("shard %u: consumers %s (want both instances)", i, names);
            odb_sleep_ms(20);
        }
        total += n;
        used += n > 0;
    }
    assert_int_equal(total, AUTHORS + 1);
    assert_true(used >= 3);
    /* The poison job: dead-lettered, its id naming its shard. */
    char id[64] = "", reason[256] = "", want_prefix[16];
    snprintf(want_prefix, sizeof want_prefix, "%u/", poison_shard);
    deadline = odb_now_ms() + 20000;
    while (dead_letters(ca, id, reason, NULL) < 1) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(a, "shards: a");
            harness_daemon_dump_log(b, "shards: b");
            fail_msg("the poison job was not dead-lettered in 20 s");
        }
        odb_sleep_ms(20);
    }
    if (strncmp(id, want_prefix, strlen(want_prefix)) != 0 || !strstr(reason, "WRONGTYPE"))
        fail_msg("dead letter id '%s' (want %s...), reason '%s'", id, want_prefix, reason);
    ctl_run_t r;
    run_ctl(&r, a->addr, "fanout dead-letters");
    if (r.status != 0 || !strstr(r.out, id) || !strstr(r.out, "1 dead letter"))
        fail_msg("fanout dead-letters: exit %d:\n%s", r.status, r.out);
    freeReplyObject(cmd(f->r, "DEL %s", k));
    freeReplyObject(cmd(f->r, "ZADD %s -1 s", k));
    char line[128];
    snprintf(line, sizeof line, "fanout retry %s", id);
    run_ctl(&r, b->addr, line);
    if (r.status != 0 || !strstr(r.out, "requeued 1 dead letter"))
        fail_msg("%s: exit %d:\n%s", line, r.status, r.out);
    deadline = odb_now_ms() + 10000;
    while (feeds_with(f, f->prefix, 2000, 2001, 20000) != 2) {
        if (odb_now_ms() > deadline)
            fail_msg("the requeued job did not complete");
        odb_sleep_ms(20);
    }
    assert_int_equal(dead_letters(cb, NULL, NULL, NULL), 0);
    /* Unknown shard of a dead letter id: refused. */
    run_ctl(&r, a->addr, "fanout retry 9/1-1");
    assert_int_not_equal(r.status, 0);
    /* Queue depth (every shard) back to 0, and the shard gauge. */
    deadline = odb_now_ms() + 5000;
    while (stat_of(ca, "fanout_queue_depth") != 0 || stat_of(cb, "fanout_queue_depth") != 0) {
        if (odb_now_ms() > deadline)
            fail_msg("fanout_queue_depth did not return to 0");
        odb_sleep_ms(50);
    }
    harness_http_t h;
    assert_int_equal(harness_http(a->metrics_addr, "GET", "/metrics", 5000, &h, err,
                                  sizeof err), 0);
    if (!strstr(h.body.data, "feedcache_fanout_shards 4"))
        fail_msg("/metrics lacks feedcache_fanout_shards 4");
    harness_http_free(&h);
    fc_client_close(ca);
    fc_client_close(cb);
    assert_int_equal(harness_daemon_finish(a, true), 0);
    assert_int_equal(harness_daemon_finish(b, true), 0);
    f->finished = true;
}

/* fanout_shards lowered while a dropped shard holds a job: logged at start
 * with what to do; the shards kept are consumed as usual. */
static void fanout_shards_dropped(void **state)
{
    fixture_t *f = *state;
    fixture_next_prefix(f);
    freeReplyObject(cmd(f->r, "XADD %s{fanout:5} * t p p 1 a 1 ts 1 pub 1", f->prefix));
    static const char *const flags[] = { "--fanout-shards", "2", NULL };
    fc_client_t *c;
    harness_daemon_t *d = start_daemon(f, NULL, flags, &c);
    long long deadline = odb_now_ms() + 10000;
    while (!log_has(d, "fan-out shard 5 holds 1 jobs and 0 dead letters, but fanout_shards is 2",
                    NULL)) {
        if (odb_now_ms() > deadline) {
            harness_daemon_dump_log(d, "dropped shard");
            fail_msg("no warning about shard 5");
        }
        odb_sleep_ms(50);
    }
    int n = 0;
    log_has(d, "fan-out shard", &n);
    assert_int_equal(n, 1);         /* only shard 5; the empty ones are not mentioned */
    fc_client_close(c);
    assert_int_equal(harness_daemon_finish(d, true), 0);
    f->finished = true;
}

/* --- (e) several instances: names, consumers gone for a day ------------------- */

/* The consumer names of the group on shard i's stream, space-separated. */
static void shard_consumer_names(fixture_t *f, unsigned i, char *out, size_t cap)
{
    char stream[160];
    if (i == 0)
        snprintf(stream, sizeof stream, "%s{fanout}", f->prefix);
    else
        snprintf(stream, sizeof stream, "%s{fanout:%u}", f->prefix, i);
    redisReply *rep = cmd(f->r, "XINFO CONSUMERS %s feedcache", stream);
    out[0] = '\0';
    for (size_t k = 0; rep->type == REDIS_REPLY_ARRAY && k < rep->elements; k++) {
        const redisReply *c = rep->element[k];
        for (size_t m = 0; m + 1 < c->elements; m += 2)
            if (strcmp(c->element[m]->str, "name") == 0)
                snprintf(out + strlen(out), cap - strlen(out), "%s ", c->element[m + 1]->str);
    }
    freeReplyObject(rep);
}

/* instance_id names the consumer in every shard's group; by default it is
 * hostname:pid, so two instances on one host differ. */
static void fanout_instance_id(void **state)
{
    fixture_t *f = *state;
    fixture_next_prefix(f);
    static const char *const named[] = { "--fanout-shards", "2", "--instance-id", "feed-a.1",
                                         NULL };
    static const char *const unnamed[] = { "--fanout-shards", "2", NULL };
    fc_client_t *ca, *cb;
    harness_daemon_t *a = start_daemon(f, NULL, named, &ca);
    harness_daemon_t *b = start_daemon(f, NULL, unnamed, &cb);
    char host[128] = "", want[200], names[1024];
    gethostname(host, sizeof host - 1);
    snprintf(want, sizeof want, "%s:%d ", host, (int)b->pid);
    long long deadline = odb_now_ms() + 10000;
    for (unsigned i = 0; i < 2; i++) {
        for (;;) {
            shard_consumer_names(f, i, names, sizeof names);
            if (strstr(names, "feed-a.1 ") && strstr(names, want))
                break;
            if (odb_now_ms() > deadline)
                fail_msg("shard %u consumers are '%s' (want feed-a.1 and %s)", i, names, want);
            odb_sleep_ms(50);
        }
    }
    fc_client_close(ca);
    fc_client_close(cb);
    assert_int_equal(harness_daemon_finish(a, true), 0);
    assert_int_equal(harness_daemon_finish(b, true), 0);
    f->finished = true;
}

/* FANOUT_REAP removes consumers idle past the limit with nothing pending,
 * never one with a pending job, never the caller itself. (The daemon runs it
 * hourly with a one-day limit; here the limit is 30 ms.) */
static void fanout_reap_consumers(void **state)
{
    fixture_t *f = *state;
    fixture_next_prefix(f);
    char stream[160], names[1024];
    snprintf(stream, sizeof stream, "%s{fanout:1}", f->prefix);
    freeReplyObject(cmd(f->r, "XGROUP CREATE %s feedcache 0 MKSTREAM", stream));
    freeReplyObject(cmd(f->r, "XGROUP CREATECONSUMER %s feedcache gone", stream));
    freeReplyObject(cmd(f->r, "XADD %s * t p p 1 a 1 ts 1 pub 1", stream));
    freeReplyObject(cmd(f->r, "XREADGROUP GROUP feedcache busy COUNT 1 STREAMS %s >", stream));
    freeReplyObject(cmd(f->r, "XGROUP CREATECONSUMER %s feedcache me", stream));
    odb_sleep_ms(100);
    /* A day: nobody is that idle. */
    redisReply *rep = cmd(f->r, "EVAL %s 1 %s feedcache me 86400000", feed_script_fanout_reap,
                          stream);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 0);
    freeReplyObject(rep);
    rep = cmd(f->r, "EVAL %s 1 %s feedcache me 30", feed_script_fanout_reap, stream);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 1);
    assert_string_equal(rep->element[0]->str, "gone");
    freeReplyObject(rep);
    shard_consumer_names(f, 1, names, sizeof names);
    assert_string_equal(names, "busy me ");
    f->finished = true;
}

/* --- FEED_PUSH's layouts and trim slack (the script alone) ------------------ */

/* FEED_PUSH of one post into one key (stride 1); returns the script's
 * answer: 1 delivered, 0 not. */
static long long push_one(fixture_t *f, const char *k, int64_t post, int64_t score, int max,
                          bool newest_first, int slack)
{
    return cmd_int(f->r, "EVAL %s 1 %s %" PRId64 " %" PRId64 " %d 1 1 %s %d", feed_script_push, k,
                   post, score, max, newest_first ? "1" : "0", slack);
}

/* The members of k with a score >= 0, in Redis's order, as "id id ...". */
static void entries_of(fixture_t *f, const char *k, char *out, size_t cap)
{
    redisReply *rep = cmd(f->r, "ZRANGE %s 0 +inf BYSCORE", k);
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < rep->elements && n + 1 < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", rep->element[i]->str);
    freeReplyObject(rep);
}

/* The sentinel's score as a double: a state minus the guard (0.5) and a
 * coverage floor (feed_scripts.h, "The sentinel's fraction"). */
static double sentinel_score(fixture_t *f, const char *k)
{
    redisReply *rep = cmd(f->r, "ZSCORE %s s", k);
    double v = rep->type == REDIS_REPLY_STRING ? strtod(rep->str, NULL) : 0;
    freeReplyObject(rep);
    return v;
}

/* The score of a sentinel: state, guard, coverage floor (0: none). */
static double sentinel_with(int state, bool guarded, int64_t cover)
{
    return state - (guarded ? 0.5 : 0) - (double)cover / (double)FEED_COVER_UNIT;
}

static const char *sentinel_of(fixture_t *f, const char *k, char *out, size_t cap)
{
    redisReply *rep = cmd(f->r, "ZSCORE %s s", k);
    snprintf(out, cap, "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "none");
    freeReplyObject(rep);
    return out;
}

/* Whether a feed holds both fast markers (feed_scripts.h, "Fast markers"). */
static bool has_fast_markers(fixture_t *f, const char *k)
{
    redisReply *rep = cmd(f->r, "ZMSCORE %s f:1 f:2", k);
    bool both = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                rep->element[0]->type == REDIS_REPLY_STRING &&
                rep->element[1]->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    return both;
}

/* FEED_PUSH of one post into one home feed that does not check its size. */
static long long push_unchecked(fixture_t *f, const char *k, int64_t post, int64_t ts, int max,
                                int slack)
{
    return cmd_int(f->r, "EVAL %s 1 %s %" PRId64 " %" PRId64 " %d 1 1 1 %d 0", feed_script_push,
                   k, post, feed_home_score(ts), max, slack);
}

/* A home feed (newest first, feed_home_score) grows to feed_max + slack
 * entries, then the next delivery that checks its size trims it to
 * feed_max entries from the tail (the oldest) and makes it partial, with
 * its oldest entry kept as its coverage floor. A feed from before the fast
 * markers gets them at its first delivery; with them, a late-dated post
 * goes in the fast way even below the floor (readers trust a partial feed
 * only above its coverage floor: follow's late_post_below_floor walks
 * that), and a trim that keeps such a post keeps the floor where it was.
 * An author set (oldest first, no slack) is trimmed at every delivery past
 * feed_max, from the head. */
static void push_trims_past_slack(void **state)
{
    fixture_t *f = *state;
    char k[160], got[512], st[32];
    const int max = 8, slack = 2;
    const int64_t t0 = 1700000000000;
    key_of(f->prefix, k, sizeof k, "home", 77);
    freeReplyObject(cmd(f->r, "DEL %s", k));
    freeReplyObject(cmd(f->r, "ZADD %s -1 s", k));
    assert_false(has_fast_markers(f, k));
    /* Posts 1..11 (post i at t0 + 1000 i): with the sentinel and the two
     * markers, 12 members = max + slack + 2: trimmed at the 10th. */
    for (int64_t i = 1; i <= 9; i++)
        assert_int_equal(push_one(f, k, i, feed_home_score(t0 + 1000 * i), max, true, slack), 1);
    assert_true(has_fast_markers(f, k));
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "9 8 7 6 5 4 3 2 1");      /* newest first, untrimmed */
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-1");
    /* A delivery that does not check the size (checks "0") does not trim ... */
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s 10 %" PRId64 " %d 1 1 1 %d 0", feed_script_push,
                             k, feed_home_score(t0 + 10000), max, slack), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "10 9 8 7 6 5 4 3 2 1");
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-1");
    /* ... the next one that does (checks "1") trims to feed_max. */
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s 11 %" PRId64 " %d 1 1 1 %d 1", feed_script_push,
                             k, feed_home_score(t0 + 11000), max, slack), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "11 10 9 8 7 6 5 4");
    /* Partial now, with post 4's created_at as its coverage floor, and
     * still fast. */
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 4000));
    assert_true(has_fast_markers(f, k));
    /* Older posts go in the fast way, below the floor, in their place ... */
    assert_int_equal(push_unchecked(f, k, 42, t0 + 3500, max, slack), 1);
    assert_int_equal(push_unchecked(f, k, 43, t0 + 6500, max, slack), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "11 10 9 8 7 43 6 5 4 42");
    /* ... and a trim that keeps some of them keeps the floor: posts 5..11
     * and 43 deleted, seven more late ones (posts 44..50 at t0 + 3400 down
     * to t0 + 2800), then post 12 checks the size: 10 entries, trimmed to
     * 8, the oldest kept (post 48, t0 + 3000) below the floor. */
    freeReplyObject(cmd(f->r, "ZREM %s 5 6 7 8 9 10 11 43", k));
    for (int64_t i = 44; i <= 50; i++)
        assert_int_equal(push_unchecked(f, k, i, t0 + 3400 - 100 * (i - 44), max, slack), 1);
    assert_int_equal(push_one(f, k, 12, feed_home_score(t0 + 12000), max, true, slack), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "12 4 42 44 45 46 47 48");
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 4000));

    /* Without a coverage floor (a partial feed from before the floors, or
     * one whose created_at does not fit) a feed is not fast: the markers
     * come out again, the oldest entry is the floor, and a post that would
     * fall below it is taken out again; one above it stays. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    freeReplyObject(cmd(f->r, "ZADD %s -2 s %" PRId64 " 5 %" PRId64 " 3", k,
                        feed_home_score(t0 + 5000), feed_home_score(t0 + 3000)));
    assert_int_equal(push_one(f, k, 46, feed_home_score(t0 + 2500), max, true, slack), 0);
    assert_int_equal(push_one(f, k, 47, feed_home_score(t0 + 4500), max, true, slack), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "5 47 3");
    assert_false(has_fast_markers(f, k));
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-2");

    /* A follow that cuts the feed (its posts reach down to t0 + 6200 only)
     * makes the cut its coverage floor. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    freeReplyObject(cmd(f->r, "ZADD %s %.17g s -7 f:1 -7 f:2", k,
                        sentinel_with(-2, false, t0 + 4000)));
    for (int64_t i = 4; i <= 11; i++)
        freeReplyObject(cmd(f->r, "ZADD %s %" PRId64 " %" PRId64, k,
                            feed_home_score(t0 + 1000 * i), i));
    /* (A follow whose posts all sit above the floor, with no trim (feed_max
     * 16 here), leaves it.) */
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s 16 %s %" PRId64 " 48", feed_script_follow_merge, k,
                             "", feed_home_score(t0 + 6800)), 1);
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 4000));
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s 8 %" PRId64, feed_script_follow_merge, k,
                             feed_home_score(t0 + 6200)), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "11 10 9 8 7 48");
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 6200));
    assert_true(has_fast_markers(f, k));
    /* A late post below the coverage floor, then a follow: the floor is the
     * coverage floor, not the late post, so the followee's posts between
     * them stay out. */
    assert_int_equal(push_one(f, k, 50, feed_home_score(t0 + 3000), max, true, slack), 1);
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s 16 %s %" PRId64 " 51 %" PRId64 " 52",
                             feed_script_follow_merge, k, "", feed_home_score(t0 + 7500),
                             feed_home_score(t0 + 5000)), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "11 10 9 8 51 7 48 50");
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 6200));

    /* An author set: created_at scores, no slack, never fast. */
    key_of(f->prefix, k, sizeof k, "posts", 77);
    freeReplyObject(cmd(f->r, "DEL %s", k));
    freeReplyObject(cmd(f->r, "ZADD %s -1 s", k));
    for (int64_t i = 1; i <= 9; i++)
        assert_int_equal(push_one(f, k, i, t0 + 1000 * i, max, false, 0), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "2 3 4 5 6 7 8 9");
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-2");
    assert_false(has_fast_markers(f, k));
    f->finished = true;
}

/* FEED_PUSH of one post from `author` into one home feed with its
 * unfollowed set (stride 2, as fan-out calls it); feed_max 2, no slack,
 * every feed's size checked. */
static long long push_guarded(fixture_t *f, const char *k, const char *unf, int64_t post,
                              int64_t ts, int64_t author)
{
    return cmd_int(f->r, "EVAL %s 2 %s %s %" PRId64 " %" PRId64 " 2 %" PRId64 " 2 1 0",
                   feed_script_push, k, unf, post, feed_home_score(ts), author);
}

/* The unfollow guard: UNFOLLOW_GUARD puts the followee in the unfollowed set
 * and guards an existing feed (its sentinel half a point lower) in one
 * step; from then on FEED_PUSH keeps that author's posts out, and every
 * script that rewrites the sentinel keeps the guard. REBUILD_BEGIN guards a
 * new placeholder when the set exists. A partial feed with no entry takes
 * no post (the post would become a floor the feed never had). */
static void push_unfollow_guard(void **state)
{
    fixture_t *f = *state;
    char k[160], unf[160], tmp[160], got[128], st[32];
    const int64_t t0 = 1700000000000;
    key_of(f->prefix, k, sizeof k, "home", 78);
    key_of(f->prefix, unf, sizeof unf, "unf", 78);
    key_of(f->prefix, tmp, sizeof tmp, "rebuild", 78);
    freeReplyObject(cmd(f->r, "DEL %s %s", k, unf));
    freeReplyObject(cmd(f->r, "ZADD %s -1 s", k));
    assert_int_equal(push_guarded(f, k, unf, 1, t0 + 1000, 5), 1);
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-1");
    assert_true(has_fast_markers(f, k));
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s 5", feed_script_unfollow_guard, unf, k), 1);
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-1.5");
    assert_false(has_fast_markers(f, k));        /* a guarded feed goes the slow way */
    assert_int_equal(cmd_int(f->r, "SISMEMBER %s 5", unf), 1);
    assert_int_equal(push_guarded(f, k, unf, 2, t0 + 2000, 5), 0);     /* unfollowed */
    assert_int_equal(push_guarded(f, k, unf, 3, t0 + 3000, 6), 1);     /* someone else */
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "3 1");
    /* A trim makes it partial and keeps the guard. */
    assert_int_equal(push_guarded(f, k, unf, 4, t0 + 4000, 6), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "4 3");
    assert_true(sentinel_score(f, k) == sentinel_with(-2, true, t0 + 3000));
    assert_int_equal(push_guarded(f, k, unf, 5, t0 + 5000, 5), 0);
    /* The coverage floor is read past the guard: post 3 deleted, one
     * created between 3 and 4 goes in as the oldest entry. */
    freeReplyObject(cmd(f->r, "ZREM %s 3", k));
    assert_int_equal(push_guarded(f, k, unf, 30, t0 + 3500, 6), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "4 30");
    /* Guarding twice changes nothing; the other scripts read the state. */
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s 9", feed_script_unfollow_guard, unf, k), 1);
    assert_true(sentinel_score(f, k) == sentinel_with(-2, true, t0 + 3000));
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s 60000", feed_script_slide, k), 1);
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s c:9", feed_script_follow_celeb, k), 1);
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s tok 60000", feed_script_rebuild_begin, k), 0);

    /* No feed: the set is written, no feed is created. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s 7", feed_script_unfollow_guard, unf, k), 1);
    assert_int_equal(cmd_int(f->r, "EXISTS %s", k), 0);
    /* A placeholder made while the set exists is guarded ... */
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 60000", feed_script_rebuild_begin, k,
                             unf), 1);
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-3.5");
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 60000", feed_script_rebuild_begin, k,
                             unf), -1);                                  /* building */
    assert_int_equal(push_guarded(f, k, unf, 6, t0 + 6000, 7), 0);
    assert_int_equal(push_guarded(f, k, unf, 7, t0 + 7000, 6), 1);
    /* ... and stays so once built (complete: the rows and the delivery). */
    scratch_rows(f, tmp, 1, (int64_t[]){ feed_home_score(t0 + 1000), 1 });
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 8 60000 0 1 0 %s",
                             feed_script_rebuild_apply, k, tmp, ""),
                     1);
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-1.5");
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "7 1");
    /* A follow whose posts reach only down to a cut: partial, still guarded. */
    assert_int_equal(cmd_int(f->r, "EVAL %s 1 %s 8 %" PRId64, feed_script_follow_merge, k,
                             feed_home_score(t0 + 1500)), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "7");
    assert_true(sentinel_score(f, k) == sentinel_with(-2, true, t0 + 1500));
    assert_false(has_fast_markers(f, k));
    assert_int_equal(push_guarded(f, k, unf, 8, t0 + 8000, 7), 0);
    /* One made without the set is not. */
    freeReplyObject(cmd(f->r, "DEL %s %s", k, unf));
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 60000", feed_script_rebuild_begin, k,
                             unf), 1);
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-3");
    assert_true(has_fast_markers(f, k));

    /* A partial feed with no entry: the post would be its floor. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    freeReplyObject(cmd(f->r, "ZADD %s -2 s", k));
    assert_int_equal(push_guarded(f, k, unf, 9, t0 + 9000, 6), 0);
    assert_int_equal(cmd_int(f->r, "ZCARD %s", k), 1);

    /* A guarded feed whose unfollowed set has expired: the next delivery
     * that checks its size unguards it, its coverage floor kept, and it is
     * fast again. */
    freeReplyObject(cmd(f->r, "DEL %s %s", k, unf));
    freeReplyObject(cmd(f->r, "ZADD %s %.17g s %" PRId64 " 2", k,
                        sentinel_with(-2, true, t0 + 1000), feed_home_score(t0 + 2000)));
    assert_int_equal(push_guarded(f, k, unf, 10, t0 + 3000, 5), 1);
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 1000));
    assert_true(has_fast_markers(f, k));
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "10 2");
    f->finished = true;
}

/* REBUILD_APPLY of the rows of a partial home feed: the placeholder, then
 * rows 4, 3, 2 (post i created at t0 + 1000 i) of a timeline that has more,
 * with max and the coverage floor given. */
static long long apply_partial(fixture_t *f, const char *k, const char *tmp, int max,
                               int64_t t0, int64_t cover)
{
    scratch_rows(f, tmp, 3, (int64_t[]){ feed_home_score(t0 + 4000), 4,
                                         feed_home_score(t0 + 3000), 3,
                                         feed_home_score(t0 + 2000), 2 });
    return cmd_int(f->r, "EVAL %s 2 %s %s tok %d 60000 1 1 %" PRId64 " %s",
                   feed_script_rebuild_apply, k, tmp, max, cover, "");
}

/* A rebuild that finds more than feed_max posts writes a coverage floor: the
 * created_at of the newest row it left out, or, when deliveries that landed
 * meanwhile make it trim, that of the oldest entry it kept. Fan-out then
 * takes a post created after the floor without checking the feed's tail,
 * and still keeps one from before it out. */
static void rebuild_writes_coverage_floor(void **state)
{
    fixture_t *f = *state;
    char k[160], tmp[160], unf[160], got[128], st[32];
    const int64_t t0 = 1700000000000;
    key_of(f->prefix, k, sizeof k, "home", 79);
    key_of(f->prefix, tmp, sizeof tmp, "rebuild", 79);
    key_of(f->prefix, unf, sizeof unf, "unf", 79);
    freeReplyObject(cmd(f->r, "DEL %s %s %s", k, tmp, unf));
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 60000", feed_script_rebuild_begin, k, unf),
                     1);
    assert_int_equal(apply_partial(f, k, tmp, 3, t0, t0 + 1000), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "4 3 2");
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 1000));
    assert_true(has_fast_markers(f, k));
    /* Post 9, created between the floor and the oldest entry, goes in as
     * the oldest entry; post 8, created before the floor, goes in below it
     * (the fast way: readers do not trust it). */
    assert_int_equal(push_one(f, k, 9, feed_home_score(t0 + 1500), 8, true, 0), 1);
    assert_int_equal(push_one(f, k, 8, feed_home_score(t0 + 500), 8, true, 0), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "4 3 2 9 8");
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 1000));

    /* Post 5 delivered to the placeholder during the rebuild: four entries,
     * trimmed to three, and the floor is the oldest kept, post 3. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 60000", feed_script_rebuild_begin, k, unf),
                     1);
    assert_int_equal(push_one(f, k, 5, feed_home_score(t0 + 5000), 8, true, 0), 1);
    assert_int_equal(apply_partial(f, k, tmp, 3, t0, t0 + 1000), 1);
    entries_of(f, k, got, sizeof got);
    assert_string_equal(got, "5 4 3");
    assert_true(sentinel_score(f, k) == sentinel_with(-2, false, t0 + 3000));
    assert_true(has_fast_markers(f, k));

    /* A partial rebuild whose floor does not fit the sentinel (created_at
     * 0 or less) has none, and is not fast. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 60000", feed_script_rebuild_begin, k, unf),
                     1);
    assert_int_equal(apply_partial(f, k, tmp, 3, t0, 0), 1);
    assert_true(sentinel_score(f, k) == -2);
    assert_false(has_fast_markers(f, k));

    /* A complete rebuild has no floor, whatever it is given. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 60000", feed_script_rebuild_begin, k, unf),
                     1);
    scratch_rows(f, tmp, 1, (int64_t[]){ feed_home_score(t0 + 1000), 1 });
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 8 60000 0 1 %" PRId64 " %s",
                             feed_script_rebuild_apply, k, tmp, t0 + 500, ""),
                     1);
    assert_true(sentinel_score(f, k) == -1);
    assert_true(has_fast_markers(f, k));
    assert_int_equal(cmd_int(f->r, "EXISTS %s", tmp), 0);          /* deleted */

    /* A placeholder owned by another token: nothing is written, and the
     * scratch key goes. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s tok 60000", feed_script_rebuild_begin, k, unf),
                     1);
    scratch_rows(f, tmp, 1, (int64_t[]){ feed_home_score(t0 + 1000), 1 });
    assert_int_equal(cmd_int(f->r, "EVAL %s 2 %s %s other 8 60000 0 1 0 %s",
                             feed_script_rebuild_apply, k, tmp, ""),
                     0);
    assert_int_equal(cmd_int(f->r, "EXISTS %s", tmp), 0);
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-3");
    /* No scratch key (it expired, or its ZADD failed): an error, and the
     * placeholder stays as it was, for the rebuilder to drop. */
    redisReply *rep = cmd(f->r, "EVAL %s 2 %s %s tok 8 60000 0 1 0 %s",
                          feed_script_rebuild_apply, k, tmp, "");
    assert_int_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
    assert_string_equal(sentinel_of(f, k, st, sizeof st), "-3");
    assert_int_equal(cmd_int(f->r, "ZCARD %s", k), 4);    /* s, b:tok, f:1, f:2 */
    /* A missing feed is not made by a delivery. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(push_one(f, k, 9, feed_home_score(t0 + 1500), 8, true, 0), 0);
    assert_int_equal(cmd_int(f->r, "EXISTS %s", k), 0);
    f->finished = true;
}

/* A post's value (feed_postval.h) through POST_FILL, POST_UPDATE and the
 * delete's SET: nothing older overwrites anything newer, whatever order
 * publish, update, delete and write-backs reach Redis in. */
static const char *value_of(fixture_t *f, const char *k, char *out, size_t cap)
{
    redisReply *rep = cmd(f->r, "GET %s", k);
    snprintf(out, cap, "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "(nil)");
    freeReplyObject(rep);
    return out;
}

static long long fill(fixture_t *f, const char *k, const char *v)
{
    return cmd_int(f->r, "EVAL %s 1 %s 600 %s", feed_script_post_fill, k, v);
}

static long long update(fixture_t *f, const char *k, const char *body)
{
    return cmd_int(f->r, "EVAL %s 1 %s 600 %s", feed_script_post_update, k, body);
}

static void post_value_scripts(void **state)
{
    fixture_t *f = *state;
    char k[160], got[256];
    key_of(f->prefix, k, sizeof k, "pc", 4242);
    freeReplyObject(cmd(f->r, "DEL %s", k));
    /* Publish, then a write-back of an older read: the post stays. */
    assert_int_equal(fill(f, k, "p5:hello"), 1);
    assert_int_equal(fill(f, k, "p5:stale"), 0);
    assert_string_equal(value_of(f, k, got, sizeof got), "p5:hello");
    freeReplyObject(cmd(f->r, "EXPIRE %s 10", k));
    assert_int_equal(fill(f, k, "p5:stale"), 0);
    assert_true(cmd_int(f->r, "TTL %s", k) > 500);       /* a kept value's TTL slides */
    /* An update keeps the author, whatever the bodies hold. */
    assert_int_equal(update(f, k, "new:body p9:"), 1);
    assert_string_equal(value_of(f, k, got, sizeof got), "p5:new:body p9:");
    /* PostgreSQL says deleted: the tombstone wins over a post. */
    assert_int_equal(fill(f, k, "d"), 1);
    assert_string_equal(value_of(f, k, got, sizeof got), "d");
    /* Nothing revives a tombstone. */
    assert_int_equal(fill(f, k, "p5:hello"), 0);
    assert_int_equal(update(f, k, "again"), 0);
    assert_string_equal(value_of(f, k, got, sizeof got), "d");
    assert_true(cmd_int(f->r, "TTL %s", k) > 500);

    /* An update of a post not cached: 'u<body>', completed by the
     * write-back with PostgreSQL's author and the update's body. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(update(f, k, "edited"), 1);
    assert_string_equal(value_of(f, k, got, sizeof got), "uedited");
    assert_int_equal(update(f, k, "edited twice"), 1);
    assert_string_equal(value_of(f, k, got, sizeof got), "uedited twice");
    assert_int_equal(fill(f, k, "p77:original"), 1);
    assert_string_equal(value_of(f, k, got, sizeof got), "p77:edited twice");
    /* ... or turned into a tombstone. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(update(f, k, "edited"), 1);
    assert_int_equal(fill(f, k, "d"), 1);
    assert_string_equal(value_of(f, k, got, sizeof got), "d");
    /* An empty body is a body. */
    freeReplyObject(cmd(f->r, "DEL %s", k));
    assert_int_equal(fill(f, k, "p5:"), 1);
    assert_int_equal(update(f, k, ""), 1);
    assert_string_equal(value_of(f, k, got, sizeof got), "p5:");
    freeReplyObject(cmd(f->r, "DEL %s", k));
    f->finished = true;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup_teardown(fanout_poison, fixture_setup_data, fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_acks_in_batches, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_poison_alone, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_long_job_once, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_kill_resume, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_kill_resume_shard, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_pg_outage, fixture_setup_data, fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_shards, fixture_setup_data, fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_shards_dropped, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_instance_id, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(fanout_reap_consumers, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(push_trims_past_slack, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(push_unfollow_guard, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(rebuild_writes_coverage_floor, fixture_setup_data,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(post_value_scripts, fixture_setup_data,
                                        fixture_teardown),
    };
    const char *filter = getenv("FEEDCACHE_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(all, group_setup, fixture_group_teardown);
}

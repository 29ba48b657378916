/* graphgen: loads a realistic social graph into PostgreSQL, fast, for
 * feedbench (bench/README.md).
 *
 *   graphgen --pg CONNINFO [--users N] [--follows F] [--posts P] [--quick] ...
 *
 * The shape (defaults: 100,000 users, ~100 follows each, 1,000,000 posts):
 * - users 1..N; handle "user<id>"; created_at within the last year;
 *   last_active_at within the last 7 days for --active of them, else NULL.
 * - follows: user u follows F/2..3F/2 distinct others (mean F). Each choice
 *   is, with probability --friends, a uniformly random user (friends), else
 *   a user drawn by popularity: Zipf with exponent --zipf over a random
 *   permutation of the users. Follower counts are then power-law: a few
 *   celebrities followed by most users, a median author with dozens of
 *   followers. The exponent 0.8 matches a follower-count distribution
 *   P(k) ~ k^-2.25 (Zipf rank exponent s <-> degree exponent 1 + 1/s), close
 *   to what has been measured on Twitter.
 * - posts: created_at whole milliseconds, uniform over the last --days days;
 *   ids are snowflake-like ((ms since 2020) << 22 | sequence, 18 digits),
 *   so ids grow with time as with real id generators; authors uniformly
 *   random; bodies of 80..200 bytes of words.
 *
 * How it is fast: the secondary indexes of the three tables are dropped, the
 * tables truncated, then two connections COPY in parallel (users + follows,
 * posts), with foreign-key triggers off (session_replication_role = replica,
 * superuser only; the data is consistent by construction). Rows arrive in
 * primary-key order, so the primary keys are appended to. Then the schema
 * file is applied again, which recreates the indexes (sorted builds), and
 * VACUUM ANALYZE sets the visibility map (index-only scans) and statistics.
 *
 * It prints the time of each phase, and a summary as `key=value` lines on
 * stdout (bench/run.sh reads celebrity_threshold, the follower count at
 * which 0.5% of the users are celebrities). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "bench_cli.h"
#include "bench_rand.h"
#include "util/buf.h"

#define PROG "graphgen"
#define COPY_CHUNK (1 << 20)
/* 2020-01-01T00:00:00Z in ms: the epoch of the snowflake-like post ids. */
#define ID_EPOCH_MS INT64_C(1577836800000)
#define DAY_MS INT64_C(86400000)

typedef struct {
    const char *pg;
    const char *schema;
    int64_t users;
    int64_t follows;        /* mean per user */
    int64_t posts;
    double zipf;
    double friends;
    double active;
    int64_t days;
    uint64_t seed;
    double celeb_fraction;
} gen_opts_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- PostgreSQL helpers ------------------------------------------------- */

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s", PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

static PGconn *connect_pg(const char *conninfo, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Streams rows into a COPY ... FROM STDIN; flushes the buffer in chunks. */
typedef struct {
    PGconn *c;
    buf_t b;
    char *err;
    size_t errlen;
    int failed;
} copy_t;

static int copy_begin(copy_t *cp, PGconn *c, const char *sql, char *err, size_t errlen)
{
    *cp = (copy_t){ .c = c, .err = err, .errlen = errlen };
    buf_init(&cp->b);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(err, errlen, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        buf_free(&cp->b);
        return -1;
    }
    PQclear(r);
    return 0;
}

static void copy_flush(copy_t *cp)
{
    if (cp->b.len == 0 || cp->failed)
        return;
    if (PQputCopyData(cp->c, cp->b.data, (int)cp->b.len) != 1) {
        snprintf(cp->err, cp->errlen, "COPY: %s", PQerrorMessage(cp->c));
        cp->failed = 1;
    }
    buf_reset(&cp->b);
}

static void copy_row_done(copy_t *cp)
{
    if (cp->b.len >= COPY_CHUNK)
        copy_flush(cp);
}

static int copy_end(copy_t *cp)
{
    copy_flush(cp);
    buf_free(&cp->b);
    if (cp->failed) {
        PQputCopyEnd(cp->c, "graphgen failed");
        PGresult *r;
        while ((r = PQgetResult(cp->c)))
            PQclear(r);
        return -1;
    }
    int rc = 0;
    if (PQputCopyEnd(cp->c, NULL) != 1)
        rc = -1;
    PGresult *r;
    while ((r = PQgetResult(cp->c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = -1;
        PQclear(r);
    }
    if (rc)
        snprintf(cp->err, cp->errlen, "COPY: %s", PQerrorMessage(cp->c));
    return rc;
}

/* Appends an ISO timestamp (UTC, milliseconds) that PostgreSQL parses. */
static void put_ts(buf_t *b, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char out[48];
    size_t n = strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + n, sizeof out - n, ".%03d+00", (int)(ms % 1000));
    buf_puts(b, out);
}

/* ---- the generators ------------------------------------------------------ */

typedef struct {
    const gen_opts_t *o;
    PGconn *c;
    int64_t now_ms;
    double secs;
    int64_t rows;
    int64_t *followers;        /* per user (index id-1), filled by the follows thread */
    char err[1024];
    int rc;
} job_t;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int load_users(job_t *j, rng_t *rng)
{
    const gen_opts_t *o = j->o;
    copy_t cp;
    if (copy_begin(&cp, j->c, "COPY users (id, handle, created_at, last_active_at) FROM STDIN",
                   j->err, sizeof j->err) != 0)
        return -1;
    for (int64_t id = 1; id <= o->users; id++) {
        buf_printf(&cp.b, "%" PRId64 "\tuser%" PRId64 "\t", id, id);
        put_ts(&cp.b, j->now_ms - 365 * DAY_MS + (int64_t)rng_below(rng, 365 * DAY_MS));
        buf_puts(&cp.b, "\t");
        if (rng_unit(rng) < o->active)
            put_ts(&cp.b, j->now_ms - (int64_t)rng_below(rng, 7 * DAY_MS));
        else
            buf_puts(&cp.b, "\\N");
        buf_puts(&cp.b, "\n");
        copy_row_done(&cp);
    }
    j->rows += o->users;
    return copy_end(&cp);
}

static int load_follows(job_t *j, rng_t *rng)
{
    const gen_opts_t *o = j->o;
    int64_t n = o->users;
    /* Popularity rank -> user id: a random permutation, so that the
     * celebrities are not simply the smallest ids. */
    int64_t *perm = fc_xmalloc((size_t)n * sizeof *perm);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i + 1;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t k = (int64_t)rng_below(rng, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[k];
        perm[k] = t;
    }
    zipf_t z;
    zipf_init(&z, n, o->zipf);
    int64_t maxk = o->follows * 3 / 2 + 1;
    if (maxk > n - 1)
        maxk = n - 1;
    int64_t *picks = fc_xmalloc((size_t)(2 * maxk + 16) * sizeof *picks);
    copy_t cp;
    if (copy_begin(&cp, j->c, "COPY follows (follower_id, followee_id) FROM STDIN", j->err,
                   sizeof j->err) != 0) {
        free(perm);
        free(picks);
        zipf_free(&z);
        return -1;
    }
    for (int64_t u = 1; u <= n; u++) {
        int64_t k = o->follows / 2 + (int64_t)rng_below(rng, (uint64_t)o->follows + 1);
        if (k > maxk)
            k = maxk;
        /* Draw, sort, dedupe, draw again for what is missing. */
        int64_t have = 0;
        for (int tries = 0; have < k && tries < 64; tries++) {
            while (have < k + 8 && have < 2 * maxk + 16) {
                int64_t v = rng_unit(rng) < o->friends ? 1 + (int64_t)rng_below(rng, (uint64_t)n)
                                                       : perm[zipf_draw(&z, rng)];
                if (v != u)
                    picks[have++] = v;
            }
            qsort(picks, (size_t)have, sizeof *picks, cmp_i64);
            int64_t m = 0;
            for (int64_t i = 0; i < have; i++)
                if (m == 0 || picks[m - 1] != picks[i])
                    picks[m++] = picks[i];
            have = m;
        }
        if (have > k) {
            /* Drop random extras (keeping the list sorted). */
            while (have > k) {
                int64_t i = (int64_t)rng_below(rng, (uint64_t)have);
                memmove(&picks[i], &picks[i + 1], (size_t)(have - i - 1) * sizeof *picks);
                have--;
            }
        }
        for (int64_t i = 0; i < have; i++) {
            buf_printf(&cp.b, "%" PRId64 "\t%" PRId64 "\n", u, picks[i]);
            j->followers[picks[i] - 1]++;
        }
        j->rows += have;
        copy_row_done(&cp);
    }
    free(perm);
    free(picks);
    zipf_free(&z);
    return copy_end(&cp);
}

static int load_posts(job_t *j, rng_t *rng)
{
    const gen_opts_t *o = j->o;
    int64_t span = o->days * DAY_MS;
    int64_t *ts = fc_xmalloc((size_t)(o->posts ? o->posts : 1) * sizeof *ts);
    for (int64_t i = 0; i < o->posts; i++)
        ts[i] = j->now_ms - span + (int64_t)rng_below(rng, (uint64_t)span);
    /* In time order, so that ids (which grow with time) arrive in primary
     * key order. */
    qsort(ts, (size_t)o->posts, sizeof *ts, cmp_i64);
    copy_t cp;
    if (copy_begin(&cp, j->c, "COPY posts (id, author_id, created_at, body) FROM STDIN", j->err,
                   sizeof j->err) != 0) {
        free(ts);
        return -1;
    }
    int64_t seq = 0;
    for (int64_t i = 0; i < o->posts; i++) {
        /* A sequence number within the millisecond keeps ids unique. */
        seq = i > 0 && ts[i] == ts[i - 1] ? seq + 1 : 0;
        int64_t id = ((ts[i] - ID_EPOCH_MS) << 22) | (seq & 0x3FFFFF);
        int64_t author = 1 + (int64_t)rng_below(rng, (uint64_t)o->users);
        buf_printf(&cp.b, "%" PRId64 "\t%" PRId64 "\t", id, author);
        put_ts(&cp.b, ts[i]);
        buf_puts(&cp.b, "\t");
        rng_body(rng, &cp.b);
        buf_puts(&cp.b, "\n");
        copy_row_done(&cp);
    }
    j->rows += o->posts;
    free(ts);
    return copy_end(&cp);
}

static int prepare_session(job_t *j)
{
    /* Foreign-key triggers off for this session (superuser only). */
    if (exec_ok(j->c, "SET session_replication_role = replica", j->err, sizeof j->err) != 0)
        return -1;
    return exec_ok(j->c, "SET synchronous_commit = off", j->err, sizeof j->err);
}

static void *users_follows_main(void *arg)
{
    job_t *j = arg;
    double t0 = now_s();
    rng_t rng = { j->o->seed * 2 + 1 };
    j->rc = prepare_session(j);
    if (j->rc == 0)
        j->rc = exec_ok(j->c, "BEGIN", j->err, sizeof j->err);
    if (j->rc == 0)
        j->rc = load_users(j, &rng);
    if (j->rc == 0)
        j->rc = load_follows(j, &rng);
    if (j->rc == 0)
        j->rc = exec_ok(j->c, "COMMIT", j->err, sizeof j->err);
    j->secs = now_s() - t0;
    return NULL;
}

static void *posts_main(void *arg)
{
    job_t *j = arg;
    double t0 = now_s();
    rng_t rng = { j->o->seed * 2 + 2 };
    j->rc = prepare_session(j);
    if (j->rc == 0)
        j->rc = exec_ok(j->c, "BEGIN", j->err, sizeof j->err);
    if (j->rc == 0)
        j->rc = load_posts(j, &rng);
    if (j->rc == 0)
        j->rc = exec_ok(j->c, "COMMIT", j->err, sizeof j->err);
    j->secs = now_s() - t0;
    return NULL;
}

/* ---- steps --------------------------------------------------------------- */

/* Drops the indexes of the three tables that back no constraint (the
 * schema file recreates them after the load). */
static const char drop_indexes_sql[] =
    "DO $$DECLARE r record; BEGIN "
    "FOR r IN SELECT i.indexrelid::regclass AS idx FROM pg_index i "
    "WHERE i.indrelid IN ('users'::regclass, 'follows'::regclass, 'posts'::regclass) "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
    "LOOP EXECUTE 'DROP INDEX ' || r.idx; END LOOP; END$$";

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b;
    buf_init(&b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.len == 0) {
        snprintf(err, errlen, "cannot read %s (empty or I/O error)", path);
        buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int step(PGconn *c, const char *what, const char *sql)
{
    double t0 = now_s();
    char err[1024];
    if (exec_ok(c, sql, err, sizeof err) != 0) {
        fprintf(stderr, "graphgen: %s failed: %s", what, err);
        return -1;
    }
    fprintf(stderr, "graphgen: %-28s %7.2f s\n", what, now_s() - t0);
    return 0;
}

static int generate(const gen_opts_t *o)
{
    char err[1024];
    double t_start = now_s();
    char *schema = read_file(o->schema, err, sizeof err);
    if (!schema) {
        fprintf(stderr, "graphgen: %s\n", err);
        return 1;
    }
    PGconn *c0 = connect_pg(o->pg, err, sizeof err);
    if (!c0) {
        fprintf(stderr, "graphgen: %s\n", err);
        free(schema);
        return 1;
    }
    int rc = 1;
    job_t ju = { .o = o }, jp = { .o = o };
    int64_t *followers = NULL;
    /* The schema first: the tables must exist (applying it is idempotent). */
    if (step(c0, "quiet notices", "SET client_min_messages = warning") != 0 ||
        step(c0, "schema (tables)", schema) != 0 ||
        step(c0, "drop secondary indexes", drop_indexes_sql) != 0 ||
        step(c0, "truncate", "TRUNCATE users, follows, posts") != 0)
        goto out;
    ju.c = connect_pg(o->pg, ju.err, sizeof ju.err);
    jp.c = connect_pg(o->pg, jp.err, sizeof jp.err);
    if (!ju.c || !jp.c) {
        fprintf(stderr, "graphgen: %s\n", ju.c ? jp.err : ju.err);
        goto out;
    }
    followers = fc_xcalloc((size_t)o->users, sizeof *followers);
    ju.followers = followers;
    ju.now_ms = jp.now_ms = wall_ms();
    double t0 = now_s();
    pthread_t tu, tp;
    pthread_create(&tu, NULL, users_follows_main, &ju);
    pthread_create(&tp, NULL, posts_main, &jp);
    pthread_join(tu, NULL);
    pthread_join(tp, NULL);
    if (ju.rc != 0 || jp.rc != 0) {
        fprintf(stderr, "graphgen: load failed: %s\n", ju.rc != 0 ? ju.err : jp.err);
        goto out;
    }
    fprintf(stderr, "graphgen: %-28s %7.2f s (users+follows %.2f s, posts %.2f s, in parallel)\n",
            "COPY", now_s() - t0, ju.secs, jp.secs);
    /* Synchronous commits from here: VACUUM marks a page all-visible only
     * once its rows' hint bits are set, which waits for their commits to be
     * flushed; with the test servers' synchronous_commit = off, VACUUM's own
     * ANALYZE of one table (an asynchronous commit) kept the next tables'
     * pages from it, and the rebuild and fan-out queries read the heap. */
    if (step(c0, "synchronous_commit", "SET synchronous_commit = on") != 0 ||
        step(c0, "maintenance_work_mem", "SET maintenance_work_mem = '1GB'") != 0 ||
        step(c0, "schema (indexes)", schema) != 0 ||
        step(c0, "vacuum analyze", "VACUUM (ANALYZE) users, follows, posts") != 0)
        goto out;

    /* Follower counts: the celebrity threshold that makes celeb_fraction of
     * the users celebrities, and the shape of the distribution. */
    int64_t *sorted = fc_xmalloc((size_t)o->users * sizeof *sorted);
    memcpy(sorted, followers, (size_t)o->users * sizeof *sorted);
    qsort(sorted, (size_t)o->users, sizeof *sorted, cmp_i64);
    int64_t ncel = (int64_t)((double)o->users * o->celeb_fraction);
    if (ncel < 1)
        ncel = 1;
    int64_t threshold = sorted[o->users - ncel];
    if (threshold < 1)
        threshold = 1;
    int64_t celebs = 0;
    for (int64_t i = 0; i < o->users; i++)
        celebs += followers[i] >= threshold;
    double secs = now_s() - t_start;
    fprintf(stderr, "graphgen: %-28s %7.2f s\n", "total", secs);
    printf("users=%" PRId64 "\nfollows=%" PRId64 "\nposts=%" PRId64 "\n", o->users,
           ju.rows - o->users, jp.rows);
    printf("followers_max=%" PRId64 "\nfollowers_p99=%" PRId64 "\nfollowers_median=%" PRId64
           "\n",
           sorted[o->users - 1], sorted[(int64_t)((double)o->users * 0.99)],
           sorted[o->users / 2]);
    printf("celebrity_threshold=%" PRId64 "\ncelebrities=%" PRId64 "\nload_seconds=%.1f\n",
           threshold, celebs, secs);
    free(sorted);
    rc = 0;
out:
    free(followers);
    if (ju.c)
        PQfinish(ju.c);
    if (jp.c)
        PQfinish(jp.c);
    PQfinish(c0);
    free(schema);
    return rc;
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *to)
{
    fputs("Usage: graphgen --pg CONNINFO [options]\n"
          "Replaces the users, follows and posts of a feedcache PostgreSQL database\n"
          "with a generated social graph (bench/README.md). Everything in those tables\n"
          "is deleted first.\n"
          "  --pg CONNINFO     libpq connection string (a superuser: FK triggers are skipped)\n"
          "  --schema FILE     the schema to (re)apply [sql/schema.sql]\n"
          "  --users N         users, ids 1..N [100000]\n"
          "  --follows F       mean follows per user (F/2..3F/2) [100]\n"
          "  --posts P         posts [1000000]\n"
          "  --quick           10000 users, 30 follows, 100000 posts\n"
          "  --zipf S          popularity exponent of followees [0.8]\n"
          "  --friends X       fraction of follows to uniformly random users [0.5]\n"
          "  --active X        fraction of users with last_active_at set [0.3]\n"
          "  --days D          posts spread over the last D days [30]\n"
          "  --celebrities X   fraction of users the printed celebrity_threshold makes\n"
          "                    celebrities [0.005]\n"
          "  --seed N          random seed [1]\n"
          "Prints the time of each phase on stderr and key=value lines on stdout.\n"
          "Exit status: 0 ok, 1 a database error, 2 usage error.\n",
          to);
}

int main(int argc, char **argv)
{
    gen_opts_t o = {
        .schema = "sql/schema.sql", .users = 100000, .follows = 100, .posts = 1000000,
        .zipf = 0.8, .friends = 0.5, .active = 0.3, .days = 30, .seed = 1,
        .celeb_fraction = 0.005,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = cli_value(argc, argv, i);
        int64_t n;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            o.users = 10000;
            o.follows = 30;
            o.posts = 100000;
            continue;
        } else if (!strcmp(a, "--pg")) {
            if (!v)
                return cli_bad(PROG, a, v);
            o.pg = v;
        } else if (!strcmp(a, "--schema")) {
            if (!v)
                return cli_bad(PROG, a, v);
            o.schema = v;
        } else if (!strcmp(a, "--users")) {
            if (cli_i64(v, 2, INT64_C(100000000), &o.users))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--follows")) {
            if (cli_i64(v, 0, 100000, &o.follows))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--posts")) {
            if (cli_i64(v, 0, INT64_C(1000000000), &o.posts))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--days")) {
            if (cli_i64(v, 1, 1000, &o.days))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--seed")) {
            if (cli_i64(v, 0, INT64_MAX / 4, &n))
                return cli_bad(PROG, a, v);
            o.seed = (uint64_t)n;
        } else if (!strcmp(a, "--zipf")) {
            if (cli_double(v, 0, 5, &o.zipf))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--friends")) {
            if (cli_double(v, 0, 1, &o.friends))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--active")) {
            if (cli_double(v, 0, 1, &o.active))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--celebrities")) {
            if (cli_double(v, 0, 1, &o.celeb_fraction))
                return cli_bad(PROG, a, v);
        } else {
            cli_unknown(PROG, a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!o.pg) {
        fprintf(stderr, "graphgen: --pg is required\n");
        usage(stderr);
        return 2;
    }
    if (o.follows > o.users - 1)
        o.follows = o.users - 1;
    return generate(&o);
}

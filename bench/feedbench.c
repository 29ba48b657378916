/* feedbench: load generator for feedcached (bench/README.md).
 *
 *   feedbench --workload read|read-cold|publish|mixed|warm|celebs [options]
 *
 * One run = one workload for --warmup + --duration seconds (or, for warm,
 * until every user was read once). Latencies come from the client side
 * (fb_hist: p50, p99, p99.9 within 1%); around the measured window it
 * samples feedcached's CPU time, Redis INFO, the `stats` counters and the
 * /metrics histograms (fb_probe), and reports per-operation costs from the
 * differences. Runs with publishes wait for the fan-out queue to drain, so
 * that deliveries/s covers the whole fan-out of the window's posts.
 *
 * Open loop in phases (--phases R:S,...): the rate changes at each boundary
 * with no pause; each phase gets its own goodput, latency, errors by code,
 * drops, client and daemon CPU and feedcached log lines (--daemon-log).
 *
 * Output: a readable summary on stdout, and with --report FILE the same
 * figures as `LABEL.key=value` lines appended to FILE (bench/run.sh builds
 * its table from them). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench_cli.h"
#include "bench_rand.h"
#include "fb_probe.h"
#include "feedbench.h"
#include "feedcache/client.h"
#include "util/buf.h"

#define PROG "feedbench"
#define MAX_CONNS 1024
#define STATS_TIMEOUT_MS 3000

static const char *const workload_names[] = {
    [WL_READ] = "read", [WL_READ_COLD] = "read-cold", [WL_PUBLISH] = "publish",
    [WL_MIXED] = "mixed", [WL_WARM] = "warm", [WL_CELEBS] = "celebs",
};
static const char *const op_names[OP__COUNT] = {
    [OP_READ] = "read", [OP_PUBLISH] = "publish", [OP_FOLLOW] = "follow",
    [OP_UNFOLLOW] = "unfollow",
};

/* ---- the report ------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const char *label;
} report_t;

static void kv(report_t *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kv(report_t *r, const char *key, const char *fmt, ...)
{
    if (!r->f)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->f, "%s.%s=", r->label, key);
    vfprintf(r->f, fmt, ap);
    fputc('\n', r->f);
    va_end(ap);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void sleep_until(double t)
{
    for (;;) {
        double d = t - fb_now();
        if (d <= 0)
            return;
        struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
        nanosleep(&ts, NULL);
    }
}

/* ---- PostgreSQL helpers ------------------------------------------------------- */

static PGconn *pg_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "feedbench: PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* The single integer a query returns, or -1. */
static int64_t pg_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int64_t v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "feedbench: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return v;
}

/* ---- celebs: one post by every author at or above the threshold ----------------- */

/* A post by a celebrity is what puts the author in the service's celebrity
 * set (the follower count is checked at publish time); rebuilt feeds then
 * carry markers for them and reads merge their posts. So before feeds are
 * warmed, every celebrity publishes once, as the timeline API would. */
static int run_celebs(const fb_opts_t *o, report_t *rep)
{
    PGconn *pg = pg_connect(o->pg);
    if (!pg)
        return 1;
    char err[512];
    fc_client_t *c = fb_connect(o, 5000, err, sizeof err);
    if (!c) {
        fprintf(stderr, "feedbench: %s\n", err);
        PQfinish(pg);
        return 1;
    }
    fc_client_set_timeout(c, 10000);
    int rc = 1;
    int64_t next_id = pg_int(pg, "SELECT coalesce(max(id), 0) + 1 FROM posts");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT followee_id FROM follows GROUP BY followee_id HAVING count(*) >= %" PRId64
             " ORDER BY 1",
             o->celebrity_threshold);
    PGresult *authors = PQexec(pg, sql);
    if (next_id < 0 || PQresultStatus(authors) != PGRES_TUPLES_OK) {
        fprintf(stderr, "feedbench: celebrities: %s", PQerrorMessage(pg));
        goto out;
    }
    int n = PQntuples(authors);
    rng_t rng = { o->seed };
    buf_t q, body;
    buf_init(&q);
    buf_init(&body);
    fc_params_t p;
    fc_params_init(&p);
    int celeb = 0, fanout = 0, failed = 0;
    double t0 = fb_now();
    for (int i = 0; i < n && !failed; i++) {
        int64_t author = strtoll(PQgetvalue(authors, i, 0), NULL, 10);
        int64_t id = next_id++, ts = fb_wall_ms();
        buf_reset(&body);
        rng_body(&rng, &body);
        buf_reset(&q);
        buf_printf(&q,
                   "INSERT INTO posts (id, author_id, created_at, body) VALUES (%" PRId64
                   ",%" PRId64 ",'epoch'::timestamptz + %" PRId64
                   " * interval '1 millisecond','%s')",
                   id, author, ts, body.data);
        PGresult *r = PQexec(pg, q.data);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "feedbench: INSERT: %s", PQerrorMessage(pg));
            failed = 1;
        }
        PQclear(r);
        if (failed)
            break;
        fc_params_reset(&p);
        fc_params_int(&p, "id", id);
        fc_params_int(&p, "author_id", author);
        fc_params_int(&p, "created_at", ts);
        fc_params_str(&p, "body", body.data);
        fc_response_t resp;
        if (fc_client_call(c, "post.publish", &p, &resp) != FC_OK) {
            fprintf(stderr, "feedbench: post.publish: %s\n", fc_client_error(c));
            failed = 1;
            break;
        }
        if (!resp.ok) {
            fprintf(stderr, "feedbench: post.publish: %s %s\n", resp.code, resp.message);
            failed = 1;
        } else if (fc_obj_str_eq(fc_obj_get(&resp.result, "mode"), "celebrity")) {
            celeb++;
        } else {
            fanout++;
        }
        fc_response_free(&resp);
    }
    double secs = fb_now() - t0;
    printf("celebs: %d authors with >= %" PRId64 " followers published once in %.2f s: "
           "%d in celebrity mode, %d fanned out\n",
           n, o->celebrity_threshold, secs, celeb, fanout);
    kv(rep, "authors", "%d", n);
    kv(rep, "celebrity_mode", "%d", celeb);
    kv(rep, "fanout_mode", "%d", fanout);
    fc_params_free(&p);
    buf_free(&q);
    buf_free(&body);
    rc = failed || fanout > 0 ? 1 : 0;
    if (fanout > 0)
        fprintf(stderr, "feedbench: %d authors at the threshold were fanned out (is feedcached's "
                        "--celebrity-threshold %" PRId64 "?)\n",
                fanout, o->celebrity_threshold);
out:
    PQclear(authors);
    fc_client_close(c);
    PQfinish(pg);
    return rc;
}

/* ---- a measured run ------------------------------------------------------------ */

static void report_hist(report_t *rep, const char *name, const hist_t *h, double secs,
                        uint64_t errors)
{
    char key[64];
#define KEY(suffix) (snprintf(key, sizeof key, "%s_%s", name, suffix), key)
    kv(rep, KEY("count"), "%" PRIu64, h->total);
    kv(rep, KEY("per_s"), "%.1f", secs > 0 ? (double)h->total / secs : 0);
    kv(rep, KEY("p50_ms"), "%.3f", ms(hist_percentile(h, 50)));
    kv(rep, KEY("p99_ms"), "%.3f", ms(hist_percentile(h, 99)));
    kv(rep, KEY("p999_ms"), "%.3f", ms(hist_percentile(h, 99.9)));
    kv(rep, KEY("max_ms"), "%.3f", ms(h->max));
    kv(rep, KEY("mean_ms"), "%.3f", hist_mean(h) / 1e6);
    kv(rep, KEY("errors"), "%" PRIu64, errors);
#undef KEY
    printf("  %-8s %9.1f/s  p50 %7.3f ms  p99 %7.3f ms  p99.9 %7.3f ms  max %8.3f ms"
           "  (%" PRIu64 " ops, %" PRIu64 " errors)\n",
           name, secs > 0 ? (double)h->total / secs : 0, ms(hist_percentile(h, 50)),
           ms(hist_percentile(h, 99)), ms(hist_percentile(h, 99.9)), ms(h->max), h->total,
           errors);
}

static void report_prom(report_t *rep, const char *name, const probe_hist_t *a,
                        const probe_hist_t *b, const char *what)
{
    double n, p50 = probe_hist_quantile(a, b, 0.5, &n);
    double n2, p99 = probe_hist_quantile(a, b, 0.99, &n2);
    if (n <= 0)
        return;
    char key[64];
    snprintf(key, sizeof key, "%s_p50_ms", name);
    kv(rep, key, "%.3f", p50 * 1000);
    snprintf(key, sizeof key, "%s_p99_ms", name);
    kv(rep, key, "%.3f", p99 * 1000);
    snprintf(key, sizeof key, "%s_count", name);
    kv(rep, key, "%.0f", n);
    printf("  %-30s p50 %.3f ms  p99 %.3f ms  (%.0f, from /metrics buckets)\n", what, p50 * 1000,
           p99 * 1000, n);
}

/* Celebrity windows merged over the window and the share served from
 * feedcached's own copy (celebrity_cache_ms; absent from older binaries). */
static void report_celebs(report_t *rep, const probe_snap_t *a, const probe_snap_t *b)
{
    if (a->celeb_merges_total < 0 || b->celeb_merges_total < 0)
        return;
    double merged = b->celeb_merges_total - a->celeb_merges_total;
    kv(rep, "celeb_merges", "%.0f", merged);
    if (merged <= 0 || a->celeb_cache_hits_total < 0 || b->celeb_cache_hits_total < 0)
        return;
    double pct = 100 * (b->celeb_cache_hits_total - a->celeb_cache_hits_total) / merged;
    kv(rep, "celeb_cached_pct", "%.1f", pct);
    printf("  celebrity windows merged %.0f, %.1f%% from feedcached's copy (/metrics)\n", merged,
           pct);
}

/* Counters of /metrics over the window, per follow + unfollow that
 * succeeded in it (issue 14): feed rebuilds, PostgreSQL queries of the daemon (the
 * client's own INSERT/DELETE are not among them), and how follows and
 * unfollows left the follower's feed (feedcache_follow_updates_total, '-'
 * while the daemon does not export it). Rebuilds and queries include what
 * the window's reads cause themselves: bench/run.sh subtracts a read-only
 * run's. */
static void report_follows(report_t *rep, const fb_result_t *res, const probe_snap_t *a,
                           const probe_snap_t *b)
{
    /* Those answered with success: one refused (OVERLOADED) changed nothing. */
    uint64_t fu = res->hist[OP_FOLLOW].total + res->hist[OP_UNFOLLOW].total;
    bool have_rb = a->rebuilds_total >= 0 && b->rebuilds_total >= 0;
    bool have_pg = a->pg_queries_total >= 0 && b->pg_queries_total >= 0;
    double rb = have_rb ? b->rebuilds_total - a->rebuilds_total : -1;
    double pg = have_pg ? b->pg_queries_total - a->pg_queries_total : -1;
    if (have_rb)
        kv(rep, "metric_rebuilds", "%.0f", rb);
    if (have_pg)
        kv(rep, "metric_pg_queries", "%.0f", pg);
    if (!fu)
        return;
    kv(rep, "follows_unfollows", "%" PRIu64, fu);
    char rbs[32] = "-", pgs[32] = "-";
    if (have_rb) {
        kv(rep, "rebuilds_per_follow", "%.3f", rb / (double)fu);
        snprintf(rbs, sizeof rbs, "%.3f", rb / (double)fu);
    }
    if (have_pg) {
        kv(rep, "pg_queries_per_follow", "%.3f", pg / (double)fu);
        snprintf(pgs, sizeof pgs, "%.3f", pg / (double)fu);
    }
    printf("  per follow+unfollow (%" PRIu64 " succeeded; reads' own share included): %s rebuilds,"
           " %s PostgreSQL queries (/metrics)\n",
           fu, rbs, pgs);
    for (int op = 0; op < PROBE_FU__OPS; op++) {
        printf("  feedcache_follow_updates_total{op=\"%s\"}:", probe_fu_op_names[op]);
        for (int path = 0; path < PROBE_FU__PATHS; path++) {
            char key[64];
            snprintf(key, sizeof key, "fu_%s_%s", probe_fu_op_names[op], probe_fu_path_names[path]);
            double x = a->follow_updates[op][path], y = b->follow_updates[op][path];
            if (y < 0) {
                kv(rep, key, "-");
                printf(" %s -", probe_fu_path_names[path]);
            } else {
                /* A series that appears in the window started at 0. */
                double d = y - (x < 0 ? 0 : x);
                kv(rep, key, "%.0f", d);
                printf(" %s %.0f", probe_fu_path_names[path], d);
            }
        }
        printf("\n");
    }
}

/* "name v, name v, ..." of the (at most) eight largest values / d, largest
 * first; values[] is spent (zeroed) on the way. */
static void format_top(char *out, size_t size, const probe_redis_t *b, double *values, double d,
                       int decimals)
{
    size_t len = 0;
    out[0] = '\0';
    for (int n = 0; n < 8; n++) {
        int best = -1;
        for (int i = 0; i < b->ncmds; i++)
            if (values[i] > 0 && (best < 0 || values[i] > values[best]))
                best = i;
        if (best < 0)
            break;
        int w = snprintf(out + len, size - len, "%s%s %.*f", n ? ", " : "", b->cmd_name[best],
                         decimals, values[best] / d);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
        values[best] = 0;
    }
}

static bool is_script_cmd(const char *name)
{
    static const char *const scripts[] = { "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall",
                                           "fcall_ro" };
    for (size_t k = 0; k < sizeof scripts / sizeof scripts[0]; k++)
        if (strcmp(name, scripts[k]) == 0)
            return true;
    return false;
}

/* report_calls' key "PREFIX_WHAT", or "PREFIX_WHAT_per_PER" when per is set. */
static const char *calls_key(char *key, size_t size, const char *prefix, const char *what,
                             const char *per)
{
    if (per)
        snprintf(key, size, "%s_%s_per_%s", prefix, what, per);
    else
        snprintf(key, size, "%s_%s", prefix, what);
    return key;
}

/* Redis calls between two samples per unit of work (issue 12: a delivery
 * in a publish run, an operation in the others), from INFO commandstats:
 * every command, those a script makes with redis.call() included, and the
 * scripts themselves; only the probes' own INFO is left out. Also the
 * scripts per unit and the eight commands called most; and where Redis's
 * time went: usec per unit of the eight commands that took most (a
 * script's includes the commands it called), and the scripts' own time
 * (Lua, redis.call's argument and reply conversions): their usec less that
 * of every other command, a lower bound, since some of those (XREADGROUP,
 * XADD...) are sent outside scripts. Keys: calls_key. */
static void report_calls(report_t *rep, const char *prefix, const char *unit,
                         const char *unit_key, const probe_redis_t *a, const probe_redis_t *b,
                         double units)
{
    if (!a->ok || !b->ok || b->ncmds == 0 || units <= 0)
        return;
    double d = units, total = 0, nscripts = 0, script_us = 0, other_us = 0;
    double calls[PROBE_MAX_CMDS], usec[PROBE_MAX_CMDS];
    for (int i = 0; i < b->ncmds; i++) {
        uint64_t before = probe_cmd_calls(a, b->cmd_name[i]);
        uint64_t before_us = probe_cmd_usec(a, b->cmd_name[i]);
        calls[i] = b->cmd_calls[i] > before ? (double)(b->cmd_calls[i] - before) : 0;
        usec[i] = b->cmd_usec[i] > before_us ? (double)(b->cmd_usec[i] - before_us) : 0;
        if (strcmp(b->cmd_name[i], "info") == 0)
            calls[i] = usec[i] = 0;
        total += calls[i];
        if (is_script_cmd(b->cmd_name[i])) {
            nscripts += calls[i];
            script_us += usec[i];
        } else {
            other_us += usec[i];
        }
    }
    double script_own = script_us > other_us ? script_us - other_us : 0;
    char key[64];
    kv(rep, calls_key(key, sizeof key, prefix, "calls", NULL), "%.0f", total);
    kv(rep, calls_key(key, sizeof key, prefix, "calls", unit_key), "%.3f", total / d);
    kv(rep, calls_key(key, sizeof key, prefix, "scripts", unit_key), "%.4f", nscripts / d);
    char top[512], top_us[512];
    format_top(top, sizeof top, b, calls, d, 2);
    format_top(top_us, sizeof top_us, b, usec, d, 2);
    kv(rep, calls_key(key, sizeof key, prefix, "calls_top", NULL), "%s", top);
    kv(rep, calls_key(key, sizeof key, prefix, "usec_top", NULL), "%s", top_us);
    kv(rep, calls_key(key, sizeof key, prefix, "script_own_us", unit_key), "%.2f",
       script_own / d);
    printf("  Redis calls (INFO commandstats, inside scripts included): %.2f per %s, "
           "%.4f scripts per %s; per %s: %s\n",
           total / d, unit, nscripts / d, unit, unit, top);
    printf("  Redis time per %s (commandstats usec; a script's includes the commands it "
           "called): %s; the scripts' own (Lua, call overhead): at least %.2f us\n",
           unit, top_us, script_own / d);
}

/* The drain: from the end of the publish window to the empty queue, when
 * the fan-out worker and Redis have the machine to themselves (no INSERTs,
 * no post.publish, no load generator), as the ZADD ceiling had it. The
 * fan-out's own speed; the whole window's figure shares the CPUs with
 * publishing. Skipped when the drain was too short to time. */
static void report_drain(report_t *rep, const probe_snap_t *end, const probe_snap_t *drained)
{
    if (!end->stats.ok || !drained->stats.ok)
        return;
    double secs = drained->t - end->t;
    int64_t deliveries = drained->stats.fanout_deliveries - end->stats.fanout_deliveries;
    if (secs < 0.5 || deliveries <= 0)
        return;
    kv(rep, "drain_seconds", "%.3f", secs);
    kv(rep, "drain_deliveries_per_s", "%.1f", (double)deliveries / secs);
    printf("  the drain (publishing over, until the queue was empty): %" PRId64
           " deliveries in %.2f s, %.0f deliveries/s",
           deliveries, secs, (double)deliveries / secs);
    if (end->daemon_cpu_s >= 0 && drained->daemon_cpu_s >= 0 && end->redis.ok &&
        drained->redis.ok) {
        double dc = (drained->daemon_cpu_s - end->daemon_cpu_s) / secs;
        double rc = (drained->redis.cpu_s - end->redis.cpu_s) / secs;
        double us = (drained->redis.cpu_s - end->redis.cpu_s) / (double)deliveries * 1e6;
        kv(rep, "drain_daemon_cpu_cores", "%.3f", dc);
        kv(rep, "drain_redis_cpu_cores", "%.3f", rc);
        kv(rep, "drain_redis_cpu_us_per_delivery", "%.2f", us);
        printf("; feedcached %.2f cores, Redis %.2f cores, %.1f us of Redis CPU per delivery", dc,
               rc, us);
    }
    printf("\n");
}

/* Waits until the fan-out queue is empty (or the timeout): the deliveries
 * of the window's publishes then are all counted. */
static bool wait_drained(const fb_opts_t *o, const probe_cfg_t *cfg, probe_snap_t *s)
{
    double deadline = fb_now() + o->drain_timeout;
    for (;;) {
        probe_take(cfg, s);
        if (!s->stats.ok || s->stats.fanout_queue_depth <= 0)
            return s->stats.ok;
        if (fb_now() >= deadline)
            return false;
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

/* ---- phases ---------------------------------------------------------------------- */

/* Lines in a file (its newlines), or -1 when it cannot be read. */
static long long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char chunk[65536];
    long long n = 0;
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        for (size_t i = 0; i < got; i++)
            n += chunk[i] == '\n';
    fclose(f);
    return n;
}

/* CPU seconds of this process (every thread), the client's own cost. */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Taken at every phase boundary. */
typedef struct {
    long long log_lines;        /* -1: unknown */
    double client_cpu, daemon_cpu;
    double redis_cpu;           /* -1: unknown (a Redis of another machine) */
    double daemon_wait, pressure; /* fb_probe.h; -1: unknown */
    probe_admit_t admit;        /* sheds by reason, holds, the limit; -1: unknown */
} phase_mark_t;

/* redis_pid: a local Redis's (probe_redis_local_pid), or 0. */
static void phase_mark(const fb_opts_t *o, int redis_pid, phase_mark_t *m)
{
    m->log_lines = o->daemon_log ? count_lines(o->daemon_log) : -1;
    m->client_cpu = self_cpu();
    m->daemon_cpu = o->pid ? probe_proc_cpu(o->pid) : -1;
    m->redis_cpu = redis_pid ? probe_proc_cpu(redis_pid) : -1;
    m->daemon_wait = o->pid ? probe_proc_cpu_wait(o->pid) : -1;
    m->pressure = probe_cpu_pressure();
    probe_admission(o->metrics, &m->admit);
}

/* The rate of a counter between two samples, or -1 when either is unknown. */
static double rate_of(double before, double after, double secs)
{
    return before >= 0 && after >= 0 && secs > 0 ? (after - before) / secs : -1;
}

/* v printed with fmt, or "n/a" when it is unknown (< 0). */
static const char *known(char *buf, size_t size, const char *fmt, double v)
{
    if (v < 0)
        return "n/a";
    snprintf(buf, size, fmt, v);
    return buf;
}

static void report_phases(const fb_opts_t *o, report_t *rep, const fb_result_t *res,
                          const phase_mark_t *m)
{
    char key[64];
#define PKEY(suffix) (snprintf(key, sizeof key, "p%d.%s", i + 1, suffix), key)
    for (int i = 0; i < o->phases.n; i++) {
        const fb_phase_res_t *ph = &res->phase[i];
        double secs = o->phases.secs[i];
        uint64_t ok = ph->ok;
        kv(rep, PKEY("rate"), "%.1f", o->phases.rate[i]);
        kv(rep, PKEY("seconds"), "%.3f", secs);
        kv(rep, PKEY("scheduled"), "%" PRIu64, ph->scheduled);
        kv(rep, PKEY("offered_per_s"), "%.1f", (double)ph->scheduled / secs);
        kv(rep, PKEY("ok"), "%" PRIu64, ok);
        kv(rep, PKEY("goodput"), "%.1f", (double)ok / secs);
        kv(rep, PKEY("p50_ms"), "%.3f", ms(hist_percentile(&ph->served, 50)));
        kv(rep, PKEY("p99_ms"), "%.3f", ms(hist_percentile(&ph->served, 99)));
        kv(rep, PKEY("max_ms"), "%.3f", ms(ph->served.max));
        /* Recovery is judged once its allowance (the first
         * FB_PHASE_EARLY_S) is over. */
        kv(rep, PKEY("settled_p99_ms"), "%.3f", ms(hist_percentile(&ph->settled, 99)));
        kv(rep, PKEY("onset_p99_ms"), "%.3f", ms(hist_percentile(&ph->onset, 99)));
        kv(rep, PKEY("onset_max_ms"), "%.3f", ms(ph->onset.max));
        for (int c = 0; c < FB_CODE__COUNT; c++)
            kv(rep, PKEY(fb_code_name((fb_code_t)c)), "%" PRIu64, ph->codes[c]);
        kv(rep, PKEY("dropped"), "%" PRIu64, ph->dropped);
        kv(rep, PKEY("last_fail_s"), "%.3f", ph->last_fail);
        kv(rep, PKEY("early_due"), "%" PRIu64, ph->early_due);
        kv(rep, PKEY("early_ok"), "%" PRIu64, ph->early_ok);
        kv(rep, PKEY("client_cpu_cores"), "%.3f", (m[i + 1].client_cpu - m[i].client_cpu) / secs);
        double cores = rate_of(m[i].daemon_cpu, m[i + 1].daemon_cpu, secs);
        if (cores >= 0)
            kv(rep, PKEY("daemon_cpu_cores"), "%.3f", cores);
        /* The service's CPU (feedcached's and Redis's) per served read: how
         * much of a phase's goodput the CPU it got explains, and how much
         * the work per read (sheds included) does. */
        double rcores = rate_of(m[i].redis_cpu, m[i + 1].redis_cpu, secs);
        char rbuf[16];
        if (rcores >= 0) {
            kv(rep, PKEY("redis_cpu_cores"), "%.3f", rcores);
            if (cores >= 0 && ok > 0)
                kv(rep, PKEY("service_cpu_us_per_read"), "%.2f",
                   (cores + rcores) / ((double)ok / secs) * 1e6);
        }
        char pbuf[16], wbuf[16];
        double wait = rate_of(m[i].daemon_wait, m[i + 1].daemon_wait, secs);
        double pressure = rate_of(m[i].pressure, m[i + 1].pressure, secs);
        if (wait >= 0)
            kv(rep, PKEY("daemon_cpu_wait"), "%.3f", wait);
        if (pressure >= 0)
            kv(rep, PKEY("cpu_pressure_pct"), "%.1f", 100 * pressure);
        double lines = -1;
        if (m[i].log_lines >= 0 && m[i + 1].log_lines >= 0) {
            lines = (double)(m[i + 1].log_lines - m[i].log_lines);
            kv(rep, PKEY("log_lines"), "%.0f", lines);
            kv(rep, PKEY("log_lines_per_s"), "%.1f", lines / secs);
        }
        /* Why it shed (issue 15): each reason's sheds, the holds, and the
         * concurrency limit at the phase's end. */
        buf_t admit;
        buf_init(&admit);
        for (int r = 0; r < PROBE_SHED__REASONS; r++) {
            double d = m[i + 1].admit.shed[r] - m[i].admit.shed[r];
            if (m[i].admit.shed[r] < 0 || m[i + 1].admit.shed[r] < 0)
                continue;
            snprintf(key, sizeof key, "p%d.shed_%s", i + 1, probe_shed_names[r]);
            kv(rep, key, "%.0f", d);
            buf_printf(&admit, "%s%s %.0f", admit.len ? ", " : "; shed by reason: ",
                       probe_shed_names[r], d);
        }
        if (m[i].admit.holds >= 0 && m[i + 1].admit.holds >= 0) {
            double d = m[i + 1].admit.holds - m[i].admit.holds;
            kv(rep, PKEY("holds"), "%.0f", d);
            buf_printf(&admit, "; held %.0f", d);
        }
        if (m[i + 1].admit.limit >= 0) {
            kv(rep, PKEY("limit_end"), "%.0f", m[i + 1].admit.limit);
            buf_printf(&admit, "; limit at its end %.0f", m[i + 1].admit.limit);
        }
        printf("  phase %d: offered %.0f/s for %.1f s: goodput %.0f/s, p50 %.3f ms p99 %.3f ms "
               "(due in the first %.2f s: p99 %.3f ms); "
               "OVERLOADED %" PRIu64 ", UNAVAILABLE %" PRIu64 ", other %" PRIu64 ", dropped %" PRIu64
               "; last failure at %.2f s; due in the first %.0f s: %" PRIu64 " of %" PRIu64
               " served; client %.2f cores, Redis %s; log %.1f lines/s; CPU pressure %s,"
               " feedcached waited %s s per s for a CPU%s\n",
               i + 1, (double)ph->scheduled / secs, secs, (double)ok / secs,
               ms(hist_percentile(&ph->served, 50)), ms(hist_percentile(&ph->served, 99)),
               FB_PHASE_ONSET_S, ms(hist_percentile(&ph->onset, 99)),
               ph->codes[FB_CODE_OVERLOADED], ph->codes[FB_CODE_UNAVAILABLE], ph->codes[FB_CODE_OTHER], ph->dropped, ph->last_fail, FB_PHASE_EARLY_S,
               ph->early_ok, ph->early_due, (m[i + 1].client_cpu - m[i].client_cpu) / secs,
               known(rbuf, sizeof rbuf, "%.2f", rcores), lines >= 0 ? lines / secs : -1,
               known(pbuf, sizeof pbuf, "%.0f%%", pressure < 0 ? -1 : 100 * pressure),
               known(wbuf, sizeof wbuf, "%.2f", wait), admit.len ? admit.data : "");
        buf_free(&admit);
    }
#undef PKEY
}

static int run_load(const fb_opts_t *o, report_t *rep)
{
    char err[512];
    int64_t first_post_id = 1;
    bool writes = o->workload == WL_PUBLISH ||
                  (o->workload == WL_MIXED &&
                   o->pct_publish + o->pct_follow + o->pct_unfollow > 0);
    if (writes) {
        PGconn *pg = pg_connect(o->pg);
        if (!pg)
            return 1;
        first_post_id = pg_int(pg, "SELECT coalesce(max(id), 0) + 1 FROM posts");
        PQfinish(pg);
        if (first_post_id < 0)
            return 1;
    }
    fc_client_t *rpc = fb_connect(o, 5000, err, sizeof err);
    if (!rpc) {
        fprintf(stderr, "feedbench: %s\n", err);
        return 1;
    }
    fc_client_set_timeout(rpc, STATS_TIMEOUT_MS);
    probe_cfg_t cfg = { .pid = o->pid, .redis = o->redis, .metrics = o->metrics, .rpc = rpc };
    int redis_pid = o->phases.n ? probe_redis_local_pid(o->redis) : 0;   /* phase marks */
    probe_snap_t before, after, drained;
    memset(&drained, 0, sizeof drained);
    bool counted = o->requests > 0;
    if (counted)
        probe_take(&cfg, &before);
    double t0, t1;
    fb_load_t *l = fb_load_start(o, first_post_id, &t0, &t1, err, sizeof err);
    if (!l) {
        fprintf(stderr, "feedbench: %s\n", err);
        fc_client_close(rpc);
        return 1;
    }
    fb_result_t *res = fc_xmalloc(sizeof *res);
    /* Marks at the window's start, every phase boundary and its end
     * (marks[0] and marks[nphases]: the whole window). */
    phase_mark_t marks[FB_MAX_PHASES + 1];
    int nmarks = o->phases.n ? o->phases.n : 1;
    if (!counted) {
        sleep_until(t0);
        phase_mark(o, redis_pid, &marks[0]);
        probe_take(&cfg, &before);
        for (int i = 1; i <= nmarks; i++) {
            sleep_until(o->phases.n ? fb_phases_start(&o->phases, t0, i) : t1);
            phase_mark(o, redis_pid, &marks[i]);
        }
        probe_take(&cfg, &after);
        fb_load_join(l, res);
    } else {
        phase_mark(o, redis_pid, &marks[0]);
        fb_load_join(l, res);
        phase_mark(o, redis_pid, &marks[1]);
        probe_take(&cfg, &after);
    }
    double secs = counted ? after.t - before.t : t1 - t0;
    double probe_secs = after.t - before.t;
    bool has_publish = res->hist[OP_PUBLISH].total > 0 || res->errors[OP_PUBLISH] > 0;
    bool drained_ok = false;
    if (has_publish)
        drained_ok = wait_drained(o, &cfg, &drained);

    uint64_t ops = 0, errors = 0;
    for (int k = 0; k < OP__COUNT; k++) {
        ops += res->hist[k].total;
        errors += res->errors[k];
    }
    printf("%s: %s, %s users, %d connections x %s, %.1f s measured\n", o->label,
           workload_names[o->workload],
           o->dist == DIST_ZIPF ? "zipf" : o->dist == DIST_SEQ ? "sequential" : "uniform",
           o->conns,
           o->rate > 0 ? "open loop" : "closed loop", secs);
    if (o->rate > 0)
        printf("  offered %.0f ops/s; %" PRIu64 " sends were more than 1 ms late\n", o->rate,
               res->late);
    else
        printf("  %d in flight per connection\n", o->depth);
    kv(rep, "workload", "%s", workload_names[o->workload]);
    kv(rep, "seconds", "%.3f", secs);
    kv(rep, "ops", "%" PRIu64, ops);
    kv(rep, "throughput", "%.1f", secs > 0 ? (double)ops / secs : 0);
    kv(rep, "errors", "%" PRIu64, errors);
    kv(rep, "conns", "%d", o->conns);
    kv(rep, "depth", "%d", o->depth);
    kv(rep, "offered_rate", "%.1f", o->rate);
    kv(rep, "late", "%" PRIu64, res->late);
    kv(rep, "dropped", "%" PRIu64, res->dropped);
    for (int c = 0; c < FB_CODE__COUNT; c++)
        kv(rep, fb_code_name((fb_code_t)c), "%" PRIu64, res->codes[c]);
    double client_cores = (marks[nmarks].client_cpu - marks[0].client_cpu) / secs;
    kv(rep, "client_cpu_cores", "%.3f", client_cores);
    printf("  errors in the window: OVERLOADED %" PRIu64 ", UNAVAILABLE %" PRIu64 ", other %" PRIu64
           "; dropped at the client's cap %" PRIu64 "; feedbench used %.2f cores\n",
           res->codes[FB_CODE_OVERLOADED], res->codes[FB_CODE_UNAVAILABLE],
           res->codes[FB_CODE_OTHER], res->dropped, client_cores);
    if (o->phases.n)
        report_phases(o, rep, res, marks);
    for (int k = 0; k < OP__COUNT; k++)
        if (res->hist[k].total || res->errors[k])
            report_hist(rep, op_names[k], &res->hist[k], secs, res->errors[k]);
    uint64_t reads = res->hist[OP_READ].total;
    if (reads) {
        kv(rep, "src_cache", "%" PRIu64, res->src_cache);
        kv(rep, "src_rebuilt", "%" PRIu64, res->src_rebuilt);
        kv(rep, "src_db", "%" PRIu64, res->src_db);
        kv(rep, "degraded", "%" PRIu64, res->degraded);
        kv(rep, "posts_per_read", "%.2f", (double)res->posts / (double)reads);
        printf("  reads: %" PRIu64 " from cache, %" PRIu64 " rebuilt, %" PRIu64 " from db, %" PRIu64
               " degraded, %.1f posts per page\n",
               res->src_cache, res->src_rebuilt, res->src_db, res->degraded,
               (double)res->posts / (double)reads);
    }
    if (o->pct_unfollow > 0 && o->workload == WL_MIXED) {
        kv(rep, "unfollow_none", "%" PRIu64, res->unfollow_none);
        if (res->unfollow_none)
            printf("  unfollows not sent (the follower had no edge left to remove): %" PRIu64 "\n",
                   res->unfollow_none);
    }
    if (res->publish_rpc.total) {
        kv(rep, "publish_rpc_p50_ms", "%.3f", ms(hist_percentile(&res->publish_rpc, 50)));
        kv(rep, "publish_rpc_p99_ms", "%.3f", ms(hist_percentile(&res->publish_rpc, 99)));
        kv(rep, "publish_rpc_max_ms", "%.3f", ms(res->publish_rpc.max));
        printf("  post.publish alone (send to answer, INSERT excluded): p50 %.3f ms, p99 %.3f ms, "
               "max %.3f ms\n",
               ms(hist_percentile(&res->publish_rpc, 50)), ms(hist_percentile(&res->publish_rpc, 99)),
               ms(res->publish_rpc.max));
    }
    if (res->pg_hist.total) {
        /* Keys kept from when only INSERTs went there; the DELETE of
         * unfollows shares the round trip. */
        kv(rep, "pg_insert_p50_ms", "%.3f", ms(hist_percentile(&res->pg_hist, 50)));
        kv(rep, "pg_insert_p99_ms", "%.3f", ms(hist_percentile(&res->pg_hist, 99)));
        printf("  PostgreSQL write round trips (INSERT/DELETE): p50 %.3f ms, p99 %.3f ms (%" PRIu64 ")\n",
               ms(hist_percentile(&res->pg_hist, 50)), ms(hist_percentile(&res->pg_hist, 99)),
               res->pg_hist.total);
    }
    /* Costs per operation: rates over the probe window, so that the time
     * the probes themselves take does not skew them. */
    double op_rate = secs > 0 ? (double)ops / secs : 0;
    /* Cores used over the probe window (< 0: unknown). */
    double daemon_cores = rate_of(before.daemon_cpu_s, after.daemon_cpu_s, probe_secs);
    double redis_cores = before.redis.ok && after.redis.ok
                             ? rate_of(before.redis.cpu_s, after.redis.cpu_s, probe_secs) : -1;
    if (op_rate > 0 && probe_secs > 0) {
        if (daemon_cores >= 0) {
            kv(rep, "daemon_cpu_cores", "%.3f", daemon_cores);
            kv(rep, "daemon_cpu_us_per_op", "%.2f", daemon_cores / op_rate * 1e6);
            printf("  feedcached CPU: %.2f cores, %.1f us per operation\n", daemon_cores,
                   daemon_cores / op_rate * 1e6);
        }
        if (redis_cores >= 0) {
            double cmds = (double)(after.redis.commands - before.redis.commands) / probe_secs;
            kv(rep, "redis_cpu_cores", "%.3f", redis_cores);
            kv(rep, "redis_cpu_us_per_op", "%.2f", redis_cores / op_rate * 1e6);
            kv(rep, "redis_cmds_per_s", "%.0f", cmds);
            kv(rep, "redis_cmds_per_op", "%.2f", cmds / op_rate);
            /* Read events in Redis: with one operation in flight at a time,
             * every round trip of the service arrives as one pipeline, so
             * this counts round trips per operation (plus the probes' own
             * few and the fan-out worker's blocking reads). */
            double rds_reads = (double)(after.redis.reads - before.redis.reads) / probe_secs;
            kv(rep, "redis_reads_per_op", "%.2f", rds_reads / op_rate);
            printf("  Redis: %.2f cores, %.1f us, %.2f commands and %.2f read events per operation "
                   "(%.0f commands/s)\n",
                   redis_cores, redis_cores / op_rate * 1e6, cmds / op_rate, rds_reads / op_rate,
                   cmds);
            /* By command (a publish run reports them per delivery below). */
            if (!has_publish)
                report_calls(rep, "cmd", "operation", "op", &before.redis, &after.redis,
                             op_rate * probe_secs);
        }
    }
    if (probe_secs > 0) {
        /* Waits for a CPU: a tail without slow work is often this. */
        double dw = rate_of(before.daemon_wait_s, after.daemon_wait_s, probe_secs);
        double rw = rate_of(before.redis_wait_s, after.redis_wait_s, probe_secs);
        double pressure = rate_of(before.pressure_s, after.pressure_s, probe_secs);
        if (dw >= 0)
            kv(rep, "daemon_cpu_wait", "%.3f", dw);
        if (rw >= 0)
            kv(rep, "redis_cpu_wait", "%.3f", rw);
        if (pressure >= 0)
            kv(rep, "cpu_pressure_pct", "%.1f", 100 * pressure);
        char db[16], rb[16], pb[16];
        if (dw >= 0 || rw >= 0 || pressure >= 0)
            printf("  waiting for a CPU (s per s): feedcached %s, Redis %s; CPU pressure "
                   "(some task waiting) %s of the time\n", known(db, sizeof db, "%.2f", dw),
                   known(rb, sizeof rb, "%.2f", rw),
                   known(pb, sizeof pb, "%.0f%%", pressure < 0 ? -1 : 100 * pressure));
        /* The whole machine, and what is not feedcached, Redis or feedbench:
         * mostly PostgreSQL (the caller's writes, the fan-out's follower
         * pages), whose processes come and go. */
        double busy = rate_of(before.machine_busy_s, after.machine_busy_s, probe_secs);
        if (busy >= 0) {
            kv(rep, "machine_busy_cores", "%.3f", busy);
            printf("  machine: %.2f of %ld CPUs busy", busy, sysconf(_SC_NPROCESSORS_ONLN));
            if (daemon_cores >= 0 && redis_cores >= 0) {
                double others = busy - daemon_cores - redis_cores - client_cores;
                kv(rep, "other_cpu_cores", "%.3f", others);
                printf("; besides feedcached, Redis and feedbench: %.2f cores (PostgreSQL, the "
                       "kernel's own)", others);
            }
            printf("\n");
        }
    }
    if (before.stats.ok && after.stats.ok) {
        const probe_stats_t *a = &before.stats, *b = has_publish && drained.stats.ok
                                                      ? &drained.stats : &after.stats;
        kv(rep, "feed_hits", "%" PRId64, after.stats.feed_cache_hits - a->feed_cache_hits);
        kv(rep, "feed_misses", "%" PRId64, after.stats.feed_cache_misses - a->feed_cache_misses);
        kv(rep, "post_hits", "%" PRId64, after.stats.post_cache_hits - a->post_cache_hits);
        kv(rep, "post_misses", "%" PRId64, after.stats.post_cache_misses - a->post_cache_misses);
        kv(rep, "feed_rebuilds", "%" PRId64, after.stats.feed_rebuilds - a->feed_rebuilds);
        kv(rep, "pg_fallbacks", "%" PRId64, after.stats.pg_fallbacks - a->pg_fallbacks);
        printf("  daemon: feed cache %" PRId64 " hits %" PRId64 " misses, post cache %" PRId64
               " hits %" PRId64 " misses, %" PRId64 " rebuilds, %" PRId64 " PostgreSQL fallbacks\n",
               after.stats.feed_cache_hits - a->feed_cache_hits,
               after.stats.feed_cache_misses - a->feed_cache_misses,
               after.stats.post_cache_hits - a->post_cache_hits,
               after.stats.post_cache_misses - a->post_cache_misses,
               after.stats.feed_rebuilds - a->feed_rebuilds,
               after.stats.pg_fallbacks - a->pg_fallbacks);
        if (has_publish) {
            int64_t deliveries = b->fanout_deliveries - a->fanout_deliveries;
            int64_t posts = b->fanout_posts - a->fanout_posts;
            double fsecs = (drained.stats.ok ? drained.t : after.t) - before.t;
            kv(rep, "fanout_posts", "%" PRId64, posts);
            kv(rep, "fanout_deliveries", "%" PRId64, deliveries);
            kv(rep, "fanout_seconds", "%.3f", fsecs);
            kv(rep, "deliveries_per_s", "%.1f", fsecs > 0 ? (double)deliveries / fsecs : 0);
            kv(rep, "deliveries_per_post", "%.1f", posts > 0 ? (double)deliveries / (double)posts : 0);
            kv(rep, "drained", "%d", drained_ok ? 1 : 0);
            kv(rep, "mode_fanout", "%" PRIu64, res->mode_fanout);
            kv(rep, "mode_celebrity", "%" PRIu64, res->mode_celebrity);
            printf("  fan-out: %" PRId64 " posts, %" PRId64 " deliveries in %.2f s (window start to "
                   "queue %s): %.0f deliveries/s, %.1f per post\n",
                   posts, deliveries, fsecs, drained_ok ? "empty" : "NOT empty",
                   fsecs > 0 ? (double)deliveries / fsecs : 0,
                   posts > 0 ? (double)deliveries / (double)posts : 0);
            /* CPU over the whole fan-out (window start to empty queue): is
             * it bound by CPU or by waiting? */
            if (drained.stats.ok && fsecs > 0 && before.daemon_cpu_s >= 0 &&
                drained.daemon_cpu_s >= 0 && before.redis.ok && drained.redis.ok) {
                double dc = (drained.daemon_cpu_s - before.daemon_cpu_s) / fsecs;
                double rc = (drained.redis.cpu_s - before.redis.cpu_s) / fsecs;
                kv(rep, "fanout_daemon_cpu_cores", "%.3f", dc);
                kv(rep, "fanout_redis_cpu_cores", "%.3f", rc);
                kv(rep, "fanout_redis_cpu_us_per_delivery", "%.2f",
                   deliveries > 0 ? rc * fsecs / (double)deliveries * 1e6 : 0);
                printf("  during the fan-out: feedcached %.2f cores, Redis %.2f cores "
                       "(%.1f us of Redis CPU per delivery, publishing included)\n",
                       dc, rc, deliveries > 0 ? rc * fsecs / (double)deliveries * 1e6 : 0);
            }
            report_calls(rep, "fanout", "delivery", "delivery", &before.redis,
                         drained.stats.ok ? &drained.redis : &after.redis, (double)deliveries);
            report_drain(rep, &after, &drained);
        }
    }
    report_follows(rep, res, &before, &after);
    report_celebs(rep, &before, &after);
    report_prom(rep, "lag", &before.lag, drained.stats.ok && has_publish ? &drained.lag : &after.lag,
                "fan-out lag (publish -> last delivery)");
    report_prom(rep, "rebuild", &before.rebuild, &after.rebuild, "feed rebuild (daemon)");
    report_prom(rep, "daemon_read", &before.read_rpc, &after.read_rpc,
                "timeline.get in the daemon");
    int rc = 0;
    if (res->failed || errors) {
        fprintf(stderr, "feedbench: %s: %s%s\n", o->label, res->failed ? "FAILED: " : "errors: ",
                res->first_error);
        rc = res->failed ? 1 : 0;
    }
    if (has_publish && !drained_ok)
        fprintf(stderr, "feedbench: the fan-out queue did not drain within %.0f s\n",
                o->drain_timeout);
    fflush(stdout);
    free(res);
    fc_client_close(rpc);
    return rc;
}

/* ---- command line ---------------------------------------------------------------- */

static void usage(FILE *to)
{
    fputs(
        "Usage: feedbench --workload NAME [options]\n"
        "Load generator for feedcached (bench/README.md). Workloads:\n"
        "  read        timeline.get (limit, hydrate) of cached feeds\n"
        "  read-cold   timeline.invalidate + timeline.get: every read rebuilds the feed\n"
        "  publish     INSERT INTO posts, then post.publish; waits for the fan-out to drain\n"
        "  mixed       reads, publishes, follows and unfollows (--mix); a follow INSERTs INTO\n"
        "              follows first, an unfollow DELETEs an existing edge of its follower\n"
        "  warm        every user 1..N read once, in id order (then --requests is N)\n"
        "  celebs      one post by every author with >= --celebrity-threshold followers\n"
        "Options [default]:\n"
        "  --addr ADDR          feedcached RPC [$FEEDCACHE_ADDR or 127.0.0.1:7400]\n"
        "  --token-file FILE    auth token for feedcached's auth_tokens_file (a write or\n"
        "                       admin token for publish/mixed) [$FEEDCACHE_TOKEN_FILE or none]\n"
        "  --pg CONNINFO        PostgreSQL, for publish/mixed/celebs (and --users) [none]\n"
        "  --users N            user ids 1..N [max(id) of users, with --pg]\n"
        "  --conns N            connections [8]\n"
        "  --threads N          threads; connections are spread over them [= conns]\n"
        "  --depth N            operations in flight per connection, closed loop [8]\n"
        "  --rate R             open loop: R operations/s in total, at fixed intervals;\n"
        "                       latency counts from each operation's scheduled time\n"
        "  --duration S         measured seconds [10]\n"
        "  --warmup S           seconds of load before the measured window [1]\n"
        "  --requests N         stop after N operations instead of after a duration\n"
        "  --dist D             user choice: uniform, zipf or seq [uniform]\n"
        "  --zipf S             Zipf exponent (user 1 the most active) [0.99]\n"
        "  --limit N            timeline.get page size [20]\n"
        "  --no-hydrate         timeline.get with hydrate=false\n"
        "  --mix R,P,F[,U]      mixed: percent reads, publishes, follows, unfollows [95,4,1,0];\n"
        "                       followers are drawn like readers (--dist)\n"
        "  --celebrity-threshold N   celebs: followers that make a celebrity [10000]\n"
        "  --pid PID            feedcached's pid: CPU time per operation\n"
        "  --redis HOST:PORT    Redis: commands and CPU per operation (INFO)\n"
        "  --metrics HOST:PORT  feedcached /metrics: fan-out lag and rebuild histograms\n"
        "  --drain-timeout S    longest wait for the fan-out queue to empty [120]\n"
        "  --max-inflight N     open loop: operations in flight per connection at most [1000]\n"
        "  --drop               open loop: an operation due at --max-inflight is not sent but\n"
        "                       counted as dropped (a bounded client queue) [it waits]\n"
        "  --insert-only        a publish is its INSERT INTO posts alone, without post.publish:\n"
        "                       what the caller's own writes cost the machine (its latency is\n"
        "                       the INSERT's)\n"
        "  --phases R:S,...     open loop in back-to-back phases: R operations/s for S seconds\n"
        "                       each (replaces --rate and --duration; at most 8); figures per\n"
        "                       phase as LABEL.pN.key\n"
        "  --daemon-log FILE    feedcached's log: lines it wrote per phase\n"
        "  --seed N             random seed [1]\n"
        "  --label NAME         prefix of the report keys [the workload]\n"
        "  --report FILE        append the figures as LABEL.key=value lines to FILE\n"
        "Errors are never retried: OVERLOADED and UNAVAILABLE are counted by code.\n"
        "Exit status: 0 ok (errors answered by the service are reported, not fatal),\n"
        "1 a connection or PostgreSQL failed, 2 usage error.\n",
        to);
}

int main(int argc, char **argv)
{
    const char *env_addr = getenv("FEEDCACHE_ADDR");
    const char *env_token = getenv("FEEDCACHE_TOKEN_FILE");
    fb_opts_t o = {
        .addr = env_addr && *env_addr ? env_addr : "127.0.0.1:7400",
        .workload = -1, .dist = DIST_UNIFORM, .zipf = 0.99, .conns = 8, .depth = 8,
        .duration = 10, .warmup = 1, .drain_timeout = 120, .limit = 20, .hydrate = true,
        .pct_publish = 4, .pct_follow = 1, .celebrity_threshold = 10000, .seed = 1,
        .max_inflight = 1000,
        .token_file = env_token && *env_token ? env_token : NULL,
    };
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = cli_value(argc, argv, i);
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-hydrate")) {
            o.hydrate = false;
            continue;
        } else if (!strcmp(a, "--drop")) {
            o.drop = true;
            continue;
        } else if (!strcmp(a, "--insert-only")) {
            o.insert_only = true;
            continue;
        } else if (!strcmp(a, "--phases")) {
            if (fb_phases_parse(v, &o.phases) != 0)
                return cli_bad(PROG, a, v);
            o.rate = o.phases.rate[0];
        } else if (!strcmp(a, "--workload")) {
            int k = -1;
            for (size_t w = 0; v && w < sizeof workload_names / sizeof *workload_names; w++)
                if (!strcmp(v, workload_names[w]))
                    k = (int)w;
            if (k < 0)
                return cli_bad(PROG, a, v);
            o.workload = (fb_workload_t)k;
        } else if (!strcmp(a, "--dist")) {
            if (v && !strcmp(v, "uniform"))
                o.dist = DIST_UNIFORM;
            else if (v && !strcmp(v, "zipf"))
                o.dist = DIST_ZIPF;
            else if (v && !strcmp(v, "seq"))
                o.dist = DIST_SEQ;
            else
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--mix")) {
            int r, p, f, u = 0, n = 0, m = 0;
            if (!v || sscanf(v, "%d,%d,%d%n", &r, &p, &f, &n) != 3)
                return cli_bad(PROG, a, v);
            if (v[n] == ',' && (sscanf(v + n + 1, "%d%n", &u, &m) != 1 || m == 0))
                return cli_bad(PROG, a, v);
            if (v[n] == ',')
                n += 1 + m;
            if (v[n] != '\0' || r < 0 || p < 0 || f < 0 || u < 0 || r + p + f + u != 100)
                return cli_bad(PROG, a, v);
            o.pct_publish = p;
            o.pct_follow = f;
            o.pct_unfollow = u;
        } else if (!strcmp(a, "--addr") || !strcmp(a, "--pg") || !strcmp(a, "--redis") ||
                   !strcmp(a, "--metrics") || !strcmp(a, "--label") || !strcmp(a, "--report") ||
                   !strcmp(a, "--token-file") || !strcmp(a, "--daemon-log")) {
            if (!v || !*v)
                return cli_bad(PROG, a, v);
            if (!strcmp(a, "--addr"))
                o.addr = v;
            else if (!strcmp(a, "--token-file"))
                o.token_file = v;
            else if (!strcmp(a, "--pg"))
                o.pg = v;
            else if (!strcmp(a, "--redis"))
                o.redis = v;
            else if (!strcmp(a, "--metrics"))
                o.metrics = v;
            else if (!strcmp(a, "--label"))
                o.label = v;
            else if (!strcmp(a, "--daemon-log"))
                o.daemon_log = v;
            else
                o.report = v;
        } else if (!strcmp(a, "--users")) {
            if (cli_i64(v, 1, INT64_MAX / 2, &o.users))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--requests")) {
            if (cli_i64(v, 1, INT64_MAX / 2, &o.requests))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--celebrity-threshold")) {
            if (cli_i64(v, 1, INT64_MAX, &o.celebrity_threshold))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--seed")) {
            int64_t s;
            if (cli_i64(v, 0, INT64_MAX, &s))
                return cli_bad(PROG, a, v);
            o.seed = (uint64_t)s;
        } else if (!strcmp(a, "--conns")) {
            if (cli_int(v, 1, MAX_CONNS, &o.conns))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--threads")) {
            if (cli_int(v, 1, MAX_CONNS, &threads))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--depth")) {
            if (cli_int(v, 1, 4096, &o.depth))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--limit")) {
            if (cli_int(v, 1, 200, &o.limit))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--pid")) {
            if (cli_int(v, 1, 1 << 30, &o.pid))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--max-inflight")) {
            if (cli_int(v, 1, 100000, &o.max_inflight))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--rate")) {
            if (cli_double(v, 0.001, 1e8, &o.rate))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--duration")) {
            if (cli_double(v, 0.1, 86400, &o.duration))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--warmup")) {
            if (cli_double(v, 0, 3600, &o.warmup))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--zipf")) {
            if (cli_double(v, 0, 5, &o.zipf))
                return cli_bad(PROG, a, v);
        } else if (!strcmp(a, "--drain-timeout")) {
            if (cli_double(v, 0, 86400, &o.drain_timeout))
                return cli_bad(PROG, a, v);
        } else {
            return cli_unknown(PROG, a);
        }
        i++;
    }
    if ((int)o.workload < 0) {
        fprintf(stderr, "feedbench: --workload is required (see --help)\n");
        return 2;
    }
    bool needs_pg = o.workload == WL_PUBLISH || o.workload == WL_CELEBS ||
                    (o.workload == WL_MIXED && o.pct_publish + o.pct_follow + o.pct_unfollow > 0);
    if (needs_pg && !o.pg) {
        fprintf(stderr, "feedbench: --workload %s needs --pg\n", workload_names[o.workload]);
        return 2;
    }
    if (o.insert_only && o.workload != WL_PUBLISH && o.workload != WL_MIXED) {
        fprintf(stderr, "feedbench: --insert-only is for --workload publish or mixed\n");
        return 2;
    }
    if (!o.label)
        o.label = workload_names[o.workload];
    report_t rep = { NULL, o.label };
    if (o.report) {
        rep.f = fopen(o.report, "a");
        if (!rep.f) {
            fprintf(stderr, "feedbench: cannot open %s: %s\n", o.report, strerror(errno));
            return 2;
        }
    }
    int rc;
    if (o.workload == WL_CELEBS) {
        rc = run_celebs(&o, &rep);
    } else {
        if (!o.users && o.pg) {
            PGconn *pg = pg_connect(o.pg);
            o.users = pg ? pg_int(pg, "SELECT coalesce(max(id), 0) FROM users") : -1;
            if (pg)
                PQfinish(pg);
        }
        if (o.users <= 0) {
            fprintf(stderr, "feedbench: give --users N (or --pg, to count them)\n");
            rc = 2;
        } else {
            if (o.workload == WL_WARM) {
                o.dist = DIST_SEQ;
                if (!o.requests)
                    o.requests = o.users;
            }
            o.threads = threads ? threads : o.conns;
            rc = run_load(&o, &rep);
        }
    }
    if (rep.f)
        fclose(rep.f);
    return rc;
}

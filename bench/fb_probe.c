/* Probes of feedcached, Redis and the /metrics page (fb_probe.h). */
#include "fb_probe.h"

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "util/addr.h"
#include "util/buf.h"

#define PROBE_TIMEOUT_MS 3000

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each kind of failure is reported once, not after every window. */
static void warn_once(bool *said, const char *what, const char *why)
{
    if (!*said)
        fprintf(stderr, "feedbench: warning: %s: %s (left out of the report)\n", what, why);
    *said = true;
}

double probe_proc_cpu(int pid)
{
    char path[64], text[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command name may hold spaces and parentheses: fields count from
     * the last ')'. utime and stime are fields 14 and 15. */
    char *p = strrchr(text, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double probe_proc_cpu_wait(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    unsigned long long sum = 0;
    bool any = false;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char file[sizeof path + sizeof e->d_name + 16];
        snprintf(file, sizeof file, "%s/%s/schedstat", path, e->d_name);
        FILE *f = fopen(file, "r");
        if (!f)
            continue;            /* the thread ended meanwhile */
        unsigned long long run, wait;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
            sum += wait;
            any = true;
        }
        fclose(f);
    }
    closedir(d);
    return any ? (double)sum / 1e9 : -1;
}

double probe_cpu_pressure(void)
{
    FILE *f = fopen("/proc/pressure/cpu", "r");
    if (!f)
        return -1;
    unsigned long long total = 0;
    bool found = false;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "some ", 5) == 0) {
            const char *t = strstr(line, "total=");
            found = t && sscanf(t + 6, "%llu", &total) == 1;
        }
    fclose(f);
    return found ? (double)total / 1e6 : -1;
}

double probe_machine_busy(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    /* cpu  user nice system idle iowait irq softirq steal guest guest_nice:
     * guest time is already counted in user and nice. */
    unsigned long long v[8] = { 0 };
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8)
        return -1;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

double probe_info_value(const char *info, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = info; p && *p;) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ':')
            return strtod(p + klen + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

/* ---- Redis ---------------------------------------------------------------- */

/* The `cmdstat_NAME:calls=N,...` lines of an INFO text. */
static void parse_cmdstats(const char *info, probe_redis_t *out)
{
    out->ncmds = 0;
    for (const char *p = strstr(info, "cmdstat_"); p && out->ncmds < PROBE_MAX_CMDS;
         p = strstr(p, "\ncmdstat_")) {
        if (*p == '\n')
            p++;
        p += strlen("cmdstat_");
        const char *colon = strchr(p, ':');
        if (!colon || colon - p >= (long)sizeof out->cmd_name[0] ||
            strncmp(colon, ":calls=", 7) != 0)
            continue;
        memcpy(out->cmd_name[out->ncmds], p, (size_t)(colon - p));
        out->cmd_name[out->ncmds][colon - p] = '\0';
        out->cmd_calls[out->ncmds] = strtoull(colon + 7, NULL, 10);
        const char *eol = strchr(colon, '\n');
        const char *usec = strstr(colon, ",usec=");
        out->cmd_usec[out->ncmds] = usec && (!eol || usec < eol) ? strtoull(usec + 6, NULL, 10) : 0;
        out->ncmds++;
    }
}

uint64_t probe_cmd_calls(const probe_redis_t *r, const char *name)
{
    for (int i = 0; i < r->ncmds; i++)
        if (strcmp(r->cmd_name[i], name) == 0)
            return r->cmd_calls[i];
    return 0;
}

uint64_t probe_cmd_usec(const probe_redis_t *r, const char *name)
{
    for (int i = 0; i < r->ncmds; i++)
        if (strcmp(r->cmd_name[i], name) == 0)
            return r->cmd_usec[i];
    return 0;
}

static int redis_info(const char *hostport, probe_redis_t *out, char *err, size_t errlen)
{
    addr_t a;
    if (addr_parse(hostport, &a, err, errlen) != 0)
        return -1;
    struct timeval tv = { PROBE_TIMEOUT_MS / 1000, 0 };
    redisContext *c = a.is_unix ? redisConnectUnixWithTimeout(a.path, tv)
                                : redisConnectWithTimeout(a.host, a.port, tv);
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s: %s", hostport,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "INFO everything");
    int rc = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        out->pid = (int64_t)probe_info_value(r->str, "process_id");
        out->cpu_s = probe_info_value(r->str, "used_cpu_user") +
                     probe_info_value(r->str, "used_cpu_sys");
        out->commands = (uint64_t)probe_info_value(r->str, "total_commands_processed");
        out->reads = (uint64_t)probe_info_value(r->str, "total_reads_processed");
        out->used_memory = (uint64_t)probe_info_value(r->str, "used_memory");
        parse_cmdstats(r->str, out);
        out->ok = true;
        rc = 0;
    } else {
        snprintf(err, errlen, "INFO failed: %s", r && r->str ? r->str : c->errstr);
    }
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

/* ---- stats ---------------------------------------------------------------- */

static int get_stats(fc_client_t *rpc, probe_stats_t *s, char *err, size_t errlen)
{
    fc_response_t r;
    int rc = fc_client_call(rpc, "stats", NULL, &r);
    if (rc != FC_OK) {
        snprintf(err, errlen, "stats: %s", fc_client_error(rpc));
        return -1;
    }
    if (!r.ok) {
        snprintf(err, errlen, "stats: %s %s", r.code, r.message);
        fc_response_free(&r);
        return -1;
    }
    struct {
        const char *key;
        int64_t *v;
    } keys[] = {
        { "feed_cache_hits", &s->feed_cache_hits },
        { "feed_cache_misses", &s->feed_cache_misses },
        { "post_cache_hits", &s->post_cache_hits },
        { "post_cache_misses", &s->post_cache_misses },
        { "feed_rebuilds", &s->feed_rebuilds },
        { "pg_fallbacks", &s->pg_fallbacks },
        { "fanout_posts", &s->fanout_posts },
        { "fanout_deliveries", &s->fanout_deliveries },
        { "fanout_queue_depth", &s->fanout_queue_depth },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (fc_obj_int(fc_obj_get(&r.result, keys[i].key), keys[i].v) != 0) {
            snprintf(err, errlen, "stats has no integer '%s'", keys[i].key);
            fc_response_free(&r);
            return -1;
        }
    }
    s->ok = true;
    fc_response_free(&r);
    return 0;
}

/* ---- /metrics --------------------------------------------------------------- */

/* GET /metrics over HTTP/1.0; the body in out. */
static int http_get(const char *hostport, const char *path, buf_t *out, char *err, size_t errlen)
{
    addr_t a;
    if (addr_parse(hostport, &a, err, errlen) != 0)
        return -1;
    if (a.is_unix) {
        snprintf(err, errlen, "metrics over a unix socket are not supported");
        return -1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", a.port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int gai = getaddrinfo(a.host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "%s: %s", a.host, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    struct timeval tv = { PROBE_TIMEOUT_MS / 1000, 0 };
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", hostport, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, a.host);
    if (write(fd, req, (size_t)n) != n) {
        snprintf(err, errlen, "write to %s: %s", hostport, strerror(errno));
        close(fd);
        return -1;
    }
    buf_t all;
    buf_init(&all);
    char chunk[16384];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0)
        buf_append(&all, chunk, (size_t)got);
    int read_errno = errno;
    close(fd);
    if (got < 0) {
        snprintf(err, errlen, "read from %s: %s", hostport, strerror(read_errno));
        buf_free(&all);
        return -1;
    }
    const char *body = all.len ? strstr(all.data, "\r\n\r\n") : NULL;
    if (!body || strncmp(all.data, "HTTP/1.", 7) != 0 || strncmp(all.data + 8, " 200", 4) != 0) {
        snprintf(err, errlen, "GET %s from %s: not a 200 answer", path, hostport);
        buf_free(&all);
        return -1;
    }
    buf_reset(out);
    buf_puts(out, body + 4);
    buf_free(&all);
    return 0;
}

/* Reads the series `name` whose labels contain `match` (or any, if NULL)
 * from a Prometheus text page. */
static void parse_hist(const char *page, const char *name, const char *match, probe_hist_t *h)
{
    memset(h, 0, sizeof *h);
    char bucket[160], sum[160], count[160];
    snprintf(bucket, sizeof bucket, "%s_bucket{", name);
    snprintf(sum, sizeof sum, "%s_sum", name);
    snprintf(count, sizeof count, "%s_count", name);
    for (const char *line = page; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char l[512];
        if (len < sizeof l) {
            memcpy(l, line, len);
            l[len] = '\0';
            const char *sp = strrchr(l, ' ');
            bool matches = !match || strstr(l, match);
            if (sp && matches && strncmp(l, bucket, strlen(bucket)) == 0 &&
                h->n < PROBE_MAX_BUCKETS) {
                const char *le = strstr(l, "le=\"");
                if (le) {
                    le += 4;
                    h->le[h->n] = strncmp(le, "+Inf", 4) == 0 ? 1e300 : strtod(le, NULL);
                    h->cum[h->n] = strtod(sp + 1, NULL);
                    h->n++;
                }
            } else if (sp && matches && strncmp(l, sum, strlen(sum)) == 0 &&
                       (l[strlen(sum)] == ' ' || l[strlen(sum)] == '{')) {
                h->sum = strtod(sp + 1, NULL);
            } else if (sp && matches && strncmp(l, count, strlen(count)) == 0 &&
                       (l[strlen(count)] == ' ' || l[strlen(count)] == '{')) {
                h->count = strtod(sp + 1, NULL);
                h->ok = h->n > 0;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
}

/* The sum of the series of counter `name` whose line holds both m1 and m2
 * (each when not NULL), or -1 when there is none. */
static double counter_sum(const char *page, const char *name, const char *m1, const char *m2)
{
    size_t nlen = strlen(name);
    double sum = -1;
    for (const char *line = page; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char l[512];
        if (len < sizeof l && strncmp(line, name, nlen) == 0 &&
            (line[nlen] == ' ' || line[nlen] == '{')) {
            memcpy(l, line, len);
            l[len] = '\0';
            const char *sp = strrchr(l, ' ');
            if (sp && (!m1 || strstr(l, m1)) && (!m2 || strstr(l, m2)))
                sum = (sum < 0 ? 0 : sum) + strtod(sp + 1, NULL);
        }
        line = eol ? eol + 1 : NULL;
    }
    return sum;
}

double probe_counter(const char *page, const char *name, const char *match)
{
    return counter_sum(page, name, match, NULL);
}

/* feedcached's /metrics page into page (NUL-terminated); -1 with err when it
 * cannot be read or is empty. */
static int metrics_page(const char *hostport, buf_t *page, char *err, size_t errlen)
{
    if (http_get(hostport, "/metrics", page, err, errlen) != 0)
        return -1;
    if (page->len == 0) {
        snprintf(err, errlen, "empty /metrics page");
        return -1;
    }
    return 0;
}

/* A series' value (-1: not on the page) as a counter to subtract: once its
 * family is on the page, a series not (yet) there is 0. */
static double series_or_zero(double v, bool family)
{
    return v < 0 && family ? 0 : v;
}

const char *const probe_shed_names[PROBE_SHED__REASONS] = { "queue_time", "concurrency_limit",
                                                            "reserve", "newer_first" };

int probe_admission(const char *metrics, probe_admit_t *a)
{
    a->holds = a->limit = -1;
    for (int r = 0; r < PROBE_SHED__REASONS; r++)
        a->shed[r] = -1;
    if (!metrics)
        return -1;
    char err[256];
    buf_t page;
    buf_init(&page);
    int rc = metrics_page(metrics, &page, err, sizeof err);
    if (rc == 0) {
        bool family = probe_counter(page.data, "feedcache_rpc_shed_total", NULL) >= 0;
        for (int r = 0; r < PROBE_SHED__REASONS; r++) {
            char want[64];
            snprintf(want, sizeof want, "reason=\"%s\"", probe_shed_names[r]);
            a->shed[r] = series_or_zero(probe_counter(page.data, "feedcache_rpc_shed_total", want),
                                        family);
        }
        a->holds = probe_counter(page.data, "feedcache_rpc_holds_total", NULL);
        a->limit = probe_counter(page.data, "feedcache_rpc_concurrency_limit", NULL);
    }
    buf_free(&page);
    return rc;
}

const char *const probe_fu_op_names[PROBE_FU__OPS] = { "follow", "unfollow" };
const char *const probe_fu_path_names[PROBE_FU__PATHS] = {
    "in_place", "rebuild", "no_feed", "celebrity",
};

/* feedcache_follow_updates_total{op="...",path="..."}, labels in any order
 * (`op="follow"` is no substring of `op="unfollow"`). */
static double follow_updates(const char *page, int op, int path)
{
    char want_op[64], want_path[64];
    snprintf(want_op, sizeof want_op, "op=\"%s\"", probe_fu_op_names[op]);
    snprintf(want_path, sizeof want_path, "path=\"%s\"", probe_fu_path_names[path]);
    return counter_sum(page, "feedcache_follow_updates_total", want_op, want_path);
}

double probe_hist_quantile(const probe_hist_t *before, const probe_hist_t *after, double q,
                           double *count)
{
    *count = 0;
    if (!after->ok || after->n < 1 || (before->ok && before->n != after->n))
        return -1;
    double d[PROBE_MAX_BUCKETS] = { 0 };
    for (int i = 0; i < after->n; i++)
        d[i] = after->cum[i] - (before->ok ? before->cum[i] : 0);
    double total = d[after->n - 1];
    *count = total;
    if (total <= 0)
        return -1;
    double rank = q * total;
    for (int i = 0; i < after->n; i++) {
        if (d[i] >= rank) {
            double lo = i == 0 ? 0 : after->le[i - 1];
            double below = i == 0 ? 0 : d[i - 1];
            if (after->le[i] > 1e299)
                return lo;          /* in +Inf: the largest finite bound */
            double in = d[i] - below;
            return in > 0 ? lo + (after->le[i] - lo) * (rank - below) / in : after->le[i];
        }
    }
    return after->n >= 2 ? after->le[after->n - 2] : -1;
}

/* Whether pid, as Redis's INFO gives it, is a Redis of this machine (a
 * remote one's pid may name some other local process). */
static bool is_local_redis(int pid)
{
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(comm, sizeof comm, f) && strncmp(comm, "redis-server", 12) == 0;
    fclose(f);
    return ok;
}

int probe_redis_local_pid(const char *hostport)
{
    probe_redis_t r;
    char err[512];
    memset(&r, 0, sizeof r);
    if (!hostport || redis_info(hostport, &r, err, sizeof err) != 0 || r.pid <= 0)
        return 0;
    return is_local_redis((int)r.pid) ? (int)r.pid : 0;
}

/* ---- all of them -------------------------------------------------------------- */

void probe_take(const probe_cfg_t *cfg, probe_snap_t *s)
{
    static bool said_cpu, said_redis, said_stats, said_metrics;
    char err[512];
    memset(s, 0, sizeof *s);
    s->daemon_cpu_s = -1;
    s->daemon_wait_s = -1;
    s->redis_wait_s = -1;
    s->rebuilds_total = -1;
    s->pg_queries_total = -1;
    s->celeb_merges_total = -1;
    s->celeb_cache_hits_total = -1;
    for (int op = 0; op < PROBE_FU__OPS; op++)
        for (int path = 0; path < PROBE_FU__PATHS; path++)
            s->follow_updates[op][path] = -1;
    if (cfg->pid > 0) {
        s->daemon_cpu_s = probe_proc_cpu(cfg->pid);
        if (s->daemon_cpu_s < 0)
            warn_once(&said_cpu, "feedcached CPU", "cannot read /proc/PID/stat");
        s->daemon_wait_s = probe_proc_cpu_wait(cfg->pid);
    }
    if (cfg->redis && redis_info(cfg->redis, &s->redis, err, sizeof err) != 0)
        warn_once(&said_redis, "Redis INFO", err);
    if (s->redis.ok && s->redis.pid > 0 && is_local_redis((int)s->redis.pid))
        s->redis_wait_s = probe_proc_cpu_wait((int)s->redis.pid);
    s->pressure_s = probe_cpu_pressure();
    s->machine_busy_s = probe_machine_busy();
    if (cfg->rpc && get_stats(cfg->rpc, &s->stats, err, sizeof err) != 0)
        warn_once(&said_stats, "feedcached stats", err);
    if (cfg->metrics) {
        buf_t page;
        buf_init(&page);
        if (metrics_page(cfg->metrics, &page, err, sizeof err) == 0) {
            parse_hist(page.data, "feedcache_fanout_lag_seconds", NULL, &s->lag);
            parse_hist(page.data, "feedcache_feed_rebuild_duration_seconds", NULL, &s->rebuild);
            parse_hist(page.data, "feedcache_rpc_duration_seconds", "method=\"timeline.get\"",
                       &s->read_rpc);
            s->rebuilds_total = probe_counter(page.data, "feedcache_feed_rebuilds_total", NULL);
            s->pg_queries_total = probe_counter(page.data, "feedcache_pg_queries_total", NULL);
            s->celeb_merges_total =
                probe_counter(page.data, "feedcache_celebrity_merges_total", NULL);
            s->celeb_cache_hits_total =
                probe_counter(page.data, "feedcache_celebrity_cache_hits_total", NULL);
            bool family = probe_counter(page.data, "feedcache_follow_updates_total", NULL) >= 0;
            for (int op = 0; op < PROBE_FU__OPS; op++)
                for (int path = 0; path < PROBE_FU__PATHS; path++)
                    s->follow_updates[op][path] =
                        series_or_zero(follow_updates(page.data, op, path), family);
        } else {
            warn_once(&said_metrics, "/metrics", err);
        }
        buf_free(&page);
    }
    /* Taken last, so that the window starts after the probes' own work. */
    s->t = mono_s();
}

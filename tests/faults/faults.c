/* Shared helpers of the fault suite (see faults.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "faults.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --- time ------------------------------------------------------------------ */

long long faults_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void faults_sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- processes ---------------------------------------------------------------- */

/* The state letter of /proc/PID/stat, or 0 when there is no such process. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

/* Gone, or a zombie nobody reaped (daemonized servers belong to init). */
static bool pid_gone(pid_t pid)
{
    char st = proc_state(pid);
    return st == 0 || st == 'Z' || st == 'X';
}

bool faults_wait_gone(pid_t pid, int timeout_ms)
{
    long long deadline = faults_now_ms() + timeout_ms;
    while (!pid_gone(pid)) {
        if (faults_now_ms() > deadline)
            return false;
        faults_sleep_ms(20);
    }
    return true;
}

long long faults_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After "pid (comm)": field 3 is the state; utime and stime are 14, 15. */
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    for (const char *q = p + 1; *q && field < 15; q++) {
        if (*q != ' ')
            continue;
        field++;
        if (field == 14)
            utime = strtoull(q + 1, NULL, 10);
        else if (field == 15)
            stime = strtoull(q + 1, NULL, 10);
    }
    long tck = sysconf(_SC_CLK_TCK);
    return (long long)((utime + stime) * 1000ULL / (unsigned long long)(tck > 0 ? tck : 100));
}

pid_t faults_read_pid_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = -1;
    fclose(f);
    return (pid_t)pid;
}

/* --- the private pair ----------------------------------------------------------- */

const char *faults_source_root(void)
{
    const char *r = getenv("FEEDCACHE_SOURCE_ROOT");
    return r && *r ? r : ".";
}

static const char *pg_bin(void)
{
    const char *b = getenv("PG_BIN");
    return b && *b ? b : "/usr/lib/postgresql/15/bin";
}

/* Prints a file to stderr (a server log when something failed). */
void faults_dump_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    fprintf(stderr, "----- %s -----\n", path);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

bool faults_read_assignment(const char *path, const char *key, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    size_t kl = strlen(key);
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) != 0 || line[kl] != '=')
            continue;
        char *v = line + kl + 1;
        v[strcspn(v, "\n")] = '\0';
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '\'' || v[0] == '"') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        snprintf(out, cap, "%s", v);
        found = true;
        break;
    }
    fclose(f);
    return found;
}

int faults_services_start(faults_services_t *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/fc-faults.XXXXXX");
    if (!mkdtemp(s->dir)) {
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    chmod(s->dir, 0755);      /* the postgres user keeps its data in there */
    char cmd[1024], log[256];
    snprintf(log, sizeof log, "%s.log", s->dir);
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/services.sh' start '%s' >'%s' 2>&1",
             faults_source_root(), s->dir, log);
    int st = system(cmd);
    if (st != 0) {
        faults_dump_file(log);
        unlink(log);
        rmdir(s->dir);
        snprintf(err, errlen, "scripts/services.sh start %s failed (status %d)", s->dir, st);
        return -1;
    }
    unlink(log);
    s->started = true;
    char path[256], v[256];
    snprintf(path, sizeof path, "%s/env", s->dir);
    if (!faults_read_assignment(path, "FEEDCACHE_TEST_REDIS_PORT", v, sizeof v) ||
        (s->redis_port = atoi(v)) <= 0 ||
        !faults_read_assignment(path, "FEEDCACHE_TEST_PG_PORT", v, sizeof v) ||
        (s->pg_port = atoi(v)) <= 0) {
        snprintf(err, errlen, "cannot read the ports from %s", path);
        return -1;
    }
    snprintf(path, sizeof path, "%s/state", s->dir);
    if (!faults_read_assignment(path, "PG_ROOT", s->pg_root, sizeof s->pg_root)) {
        snprintf(err, errlen, "cannot read PG_ROOT from %s", path);
        return -1;
    }
    snprintf(s->redis_url, sizeof s->redis_url, "redis://127.0.0.1:%d/0", s->redis_port);
    snprintf(s->pg_conninfo, sizeof s->pg_conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=feedcache", s->pg_port);
    /* harness_daemon_start() passes these as --redis and --pg. */
    setenv("FEEDCACHE_TEST_REDIS_URL", s->redis_url, 1);
    setenv("FEEDCACHE_TEST_PG", s->pg_conninfo, 1);
    return 0;
}

void faults_services_stop(faults_services_t *s)
{
    if (!s->started)
        return;
    faults_pg_resume(s);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/services.sh' stop '%s' >/dev/null 2>&1",
             faults_source_root(), s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "faults: scripts/services.sh stop %s failed\n", s->dir);
    s->started = false;
}

pid_t faults_redis_pid(const faults_services_t *s)
{
    char path[256];
    snprintf(path, sizeof path, "%s/redis/redis.pid", s->dir);
    return faults_read_pid_file(path);
}

pid_t faults_pg_pid(const faults_services_t *s)
{
    char path[320];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", s->pg_root);
    return faults_read_pid_file(path);
}

/* Direct children of ppid (from /proc/N/stat), at most cap. */
static size_t children_of(pid_t ppid, pid_t *out, size_t cap)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && n < cap) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *p = strrchr(buf, ')');
        char st;
        long pp;
        if (p && sscanf(p + 1, " %c %ld", &st, &pp) == 2 && pp == (long)ppid)
            out[n++] = (pid_t)pid;
    }
    closedir(dir);
    return n;
}

void faults_pg_pause(faults_services_t *s)
{
    pid_t pm = faults_pg_pid(s);
    if (pm <= 0 || pid_gone(pm))
        fail_msg("faults: no PostgreSQL postmaster to pause (%s)", s->pg_root);
    /* The postmaster first, so that it starts no new backend meanwhile. */
    kill(pm, SIGSTOP);
    s->paused[s->npaused++] = pm;
    pid_t kids[FAULTS_MAX_PAUSED];
    size_t n = children_of(pm, kids, FAULTS_MAX_PAUSED - s->npaused);
    for (size_t i = 0; i < n; i++) {
        kill(kids[i], SIGSTOP);
        s->paused[s->npaused++] = kids[i];
    }
}

void faults_pg_resume(faults_services_t *s)
{
    /* Children first, the postmaster last. */
    for (size_t i = s->npaused; i-- > 0;)
        kill(s->paused[i], SIGCONT);
    s->npaused = 0;
}

void faults_pg_stop(faults_services_t *s)
{
    pid_t pm = faults_pg_pid(s);
    if (pm <= 0 || pid_gone(pm))
        fail_msg("faults: no PostgreSQL postmaster to stop (%s)", s->pg_root);
    kill(pm, SIGINT);       /* fast shutdown */
    if (!faults_wait_gone(pm, 20000))
        fail_msg("faults: PostgreSQL (pid %d) did not stop within 20 s", (int)pm);
    s->pg_stopped = true;
}

void faults_pg_start(faults_services_t *s)
{
    char cmd[1024], as[64] = "";
    if (getuid() == 0)
        snprintf(as, sizeof as, "runuser -u postgres -- ");
    snprintf(cmd, sizeof cmd,
             "cd / && %s'%s/pg_ctl' -D '%s/data' -l '%s/postgres.log' -o '-p %d' -w -t 30 start "
             ">/dev/null 2>&1", as, pg_bin(), s->pg_root, s->pg_root, s->pg_port);
    if (system(cmd) != 0) {
        char log[320];
        snprintf(log, sizeof log, "%s/postgres.log", s->pg_root);
        faults_dump_file(log);
        fail_msg("faults: pg_ctl start failed (port %d)", s->pg_port);
    }
    s->pg_stopped = false;
}

void faults_redis_kill(faults_services_t *s)
{
    pid_t pid = faults_redis_pid(s);
    if (pid <= 0 || pid_gone(pid))
        fail_msg("faults: no Redis to kill (%s)", s->dir);
    kill(pid, SIGKILL);
    if (!faults_wait_gone(pid, 10000))
        fail_msg("faults: Redis (pid %d) did not die", (int)pid);
}

void faults_redis_start(faults_services_t *s)
{
    char cmd[1024];
    /* The options of scripts/services.sh start_redis. */
    snprintf(cmd, sizeof cmd,
             "cd '%s/redis' && rm -f dump.rdb && redis-server --bind 127.0.0.1 --port %d "
             "--save '' --appendonly no --daemonize yes --pidfile '%s/redis/redis.pid' "
             "--logfile '%s/redis/redis.log' --dir '%s/redis' --zset-max-listpack-entries 1024 "
             "--hash-max-listpack-value 1024",
             s->dir, s->redis_port, s->dir, s->dir, s->dir);
    long long deadline = faults_now_ms() + 10000;
    for (;;) {
        /* The port may linger a moment after the kill. */
        if (system(cmd) == 0) {
            for (int i = 0; i < 100; i++) {
                long long up = faults_redis_info(s, "uptime_in_seconds");
                if (up >= 0)
                    return;
                faults_sleep_ms(20);
            }
        }
        if (faults_now_ms() > deadline)
            fail_msg("faults: Redis did not start again on port %d", s->redis_port);
        faults_sleep_ms(100);
    }
}

void faults_redis_restart_empty(faults_services_t *s)
{
    faults_redis_kill(s);
    faults_redis_start(s);
}

long long faults_redis_info(const faults_services_t *s, const char *field)
{
    struct timeval tv = { .tv_sec = 2 };
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", s->redis_port, tv);
    if (!rc || rc->err) {
        if (rc)
            redisFree(rc);
        return -1;
    }
    redisSetTimeout(rc, tv);
    redisReply *rep = redisCommand(rc, "INFO all");
    long long v = -1;
    if (rep && (rep->type == REDIS_REPLY_STRING)) {
        size_t fl = strlen(field);
        for (const char *p = rep->str; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            if (strncmp(p, field, fl) == 0 && p[fl] == ':') {
                v = strtoll(p + fl + 1, NULL, 10);
                break;
            }
    }
    freeReplyObject(rep);
    redisFree(rc);
    return v;
}

double faults_metric(const harness_daemon_t *d, const char *series)
{
    char err[512];
    double v = harness_metric(d->metrics_addr, series, err, sizeof err);
    if (v == -2)
        fail_msg("GET /metrics: %s", err);
    return v == -1 ? NAN : v;
}

int64_t faults_stat(fc_client_t *c, const char *key)
{
    fc_response_t r;
    if (fc_client_call(c, "stats", NULL, &r) != FC_OK)
        fail_msg("stats: no answer: %s", fc_client_error(c));
    if (!r.ok)
        fail_msg("stats: %s: %s", r.code, r.message);
    int64_t v;
    if (fc_obj_int(fc_obj_get(&r.result, key), &v) != 0)
        fail_msg("stats: no integer '%s'", key);
    fc_response_free(&r);
    return v;
}

/* --- setup / teardown -------------------------------------------------------------- */

int faults_setup(void **state)
{
    char err[2048];
    faults_t *f = calloc(1, sizeof *f);
    *state = f;
    if (!f)
        return -1;
    if (faults_services_start(&f->s, err, sizeof err) != 0) {
        fprintf(stderr, "faults: %s\n", err);
        return -1;
    }
    f->pg = PQconnectdb(f->s.pg_conninfo);
    if (PQstatus(f->pg) != CONNECTION_OK) {
        fprintf(stderr, "faults: cannot connect to PostgreSQL: %s\n", PQerrorMessage(f->pg));
        return -1;
    }
    struct timeval tv = { .tv_sec = 5 };
    f->r = redisConnectWithTimeout("127.0.0.1", f->s.redis_port, tv);
    if (!f->r || f->r->err) {
        fprintf(stderr, "faults: cannot connect to Redis on %d\n", f->s.redis_port);
        return -1;
    }
    redisSetTimeout(f->r, tv);
    return 0;
}

int faults_teardown(void **state)
{
    faults_t *f = *state;
    if (!f)
        return 0;
    int rc = 0;
    /* Whatever the test left paused or stopped comes back first, so that
     * the daemon can shut down cleanly and services.sh can stop it. */
    faults_pg_resume(&f->s);
    if (f->c)
        fc_client_close(f->c);
    if (f->d)
        rc = harness_daemon_finish(f->d, f->finished);
    if (f->r)
        redisFree(f->r);
    if (f->pg)
        PQfinish(f->pg);
    faults_services_stop(&f->s);
    free(f);
    return rc;
}

/* --- feedcached -------------------------------------------------------------------- */

#define MAX_EXTRA 40

harness_daemon_t *faults_daemon_start(const char *const *extra, fc_client_t **c,
                                      char *err, size_t errlen)
{
    const char *argv[MAX_EXTRA + 8];
    size_t n = 0;
    argv[n++] = "--key-prefix";
    argv[n++] = FAULTS_PREFIX;
    argv[n++] = "--log-level";
    argv[n++] = "info";
    for (size_t i = 0; extra && extra[i] && i < MAX_EXTRA; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    harness_daemon_t *d = harness_daemon_start(argv, err, errlen);
    if (!d)
        return NULL;
    *c = harness_connect(d, FAULTS_RPC_TIMEOUT_MS, err, errlen);
    if (!*c) {
        harness_daemon_dump_log(d, "connect failed");
        harness_daemon_free(d);
        return NULL;
    }
    fc_client_set_timeout(*c, FAULTS_RPC_TIMEOUT_MS);
    return d;
}

void faults_start(faults_t *f, const char *const *extra)
{
    char err[8192];
    f->d = faults_daemon_start(extra, &f->c, err, sizeof err);
    if (!f->d)
        fail_msg("cannot start feedcached: %s", err);
    /* Requests in the first milliseconds may find a backend still connecting
     * (docs/PROTOCOL.md, "Start-up"): wait until /healthz says both answer. */
    long long deadline = faults_now_ms() + 10000;
    for (;;) {
        harness_http_t h;
        int status = 0;
        if (harness_http(f->d->metrics_addr, "GET", "/healthz", 2000, &h, err, sizeof err) == 0) {
            status = h.status;
            harness_http_free(&h);
        }
        if (status == 200)
            return;
        if (faults_now_ms() > deadline)
            fail_msg("feedcached: /healthz not 200 within 10 s of start (last %d)", status);
        faults_sleep_ms(20);
    }
}

int faults_sigterm(harness_daemon_t *d, int timeout_ms, long long *took_ms)
{
    long long t0 = faults_now_ms();
    int st = harness_daemon_stop(d, timeout_ms);
    *took_ms = faults_now_ms() - t0;
    return st;
}

void faults_stop_daemon(faults_t *f)
{
    if (f->c) {
        fc_client_close(f->c);
        f->c = NULL;
    }
    if (!f->d)
        return;
    harness_daemon_t *d = f->d;
    f->d = NULL;
    if (!harness_daemon_alive(d)) {
        harness_daemon_dump_log(d, "died during the test");
        int st = d->status;
        harness_daemon_free(d);
        fail_msg("feedcached died during the test (status %d)", st);
    }
    long long took;
    int st = faults_sigterm(d, 10000, &took);
    if (st != 0) {
        harness_daemon_dump_log(d, "SIGTERM");
        harness_daemon_free(d);
        fail_msg("feedcached did not exit 0 within 10 s of SIGTERM: status %d after %lld ms", st,
                 took);
    }
    harness_daemon_free(d);
}

/* --- data ---------------------------------------------------------------------------- */

static PGresult *vsql(faults_t *f, const char *fmt, va_list ap)
{
    char sql[4096];
    vsnprintf(sql, sizeof sql, fmt, ap);
    PGresult *res = PQexec(f->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(f->pg));
        PQclear(res);
        fail_msg("SQL failed: %s\n%s", msg, sql);
    }
    return res;
}

void faults_sql(faults_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *res = vsql(f, fmt, ap);
    va_end(ap);
    PQclear(res);
}

int64_t faults_sql_int(faults_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *res = vsql(f, fmt, ap);
    va_end(ap);
    if (PQntuples(res) != 1)
        fail_msg("SQL: expected one row, got %d", PQntuples(res));
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

void faults_pg_reconnect(faults_t *f)
{
    if (f->pg)
        PQfinish(f->pg);
    long long deadline = faults_now_ms() + 15000;
    for (;;) {
        f->pg = PQconnectdb(f->s.pg_conninfo);
        if (PQstatus(f->pg) == CONNECTION_OK)
            return;
        if (faults_now_ms() > deadline)
            fail_msg("cannot reconnect to PostgreSQL: %s", PQerrorMessage(f->pg));
        PQfinish(f->pg);
        f->pg = NULL;
        faults_sleep_ms(100);
    }
}

void faults_insert_post(faults_t *f, int64_t id, int64_t author, int64_t created_ms)
{
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) VALUES (%" PRId64 ", %"
               PRId64 ", 'epoch'::timestamptz + %" PRId64 " * interval '1 millisecond', "
               "'post %" PRId64 "')", id, author, created_ms, id);
}

const char *faults_key(char *out, size_t cap, const char *kind, int64_t id)
{
    snprintf(out, cap, "%s%s{%" PRId64 "}", FAULTS_PREFIX, kind, id);
    return out;
}

static void publish_params(fc_params_t *p, int64_t id, int64_t author, int64_t created_ms)
{
    char body[48];
    snprintf(body, sizeof body, "post %" PRId64, id);
    fc_params_init(p);
    fc_params_int(p, "id", id);
    fc_params_int(p, "author_id", author);
    fc_params_int(p, "created_at", created_ms);
    fc_params_str(p, "body", body);
}

void faults_publish(fc_client_t *c, int64_t id, int64_t author, int64_t created_ms,
                    fc_response_t *r)
{
    fc_params_t p;
    publish_params(&p, id, author, created_ms);
    int rc = fc_client_call(c, "post.publish", &p, r);
    fc_params_free(&p);
    if (rc != FC_OK)
        fail_msg("post.publish %" PRId64 ": no answer: %s", id, fc_client_error(c));
}

void faults_publish_ok(fc_client_t *c, int64_t id, int64_t author, int64_t created_ms,
                       char mode[16])
{
    fc_response_t r;
    faults_publish(c, id, author, created_ms, &r);
    if (!r.ok)
        fail_msg("post.publish %" PRId64 " by %" PRId64 ": %s: %s", id, author, r.code,
                 r.message);
    const char *s;
    size_t n;
    mode[0] = '\0';
    if (fc_obj_str(fc_obj_get(&r.result, "mode"), &s, &n) == 0 && n < 16) {
        memcpy(mode, s, n);
        mode[n] = '\0';
    }
    fc_response_free(&r);
}

int faults_read(fc_client_t *c, int64_t user, int limit, int64_t *ids, size_t cap, size_t *n,
                char *source, char *err, size_t errlen)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", user);
    fc_params_int(&p, "limit", limit);
    fc_response_t r;
    int rc = fc_client_call(c, "timeline.get", &p, &r);
    fc_params_free(&p);
    *n = 0;
    if (source)
        source[0] = '\0';
    if (rc != FC_OK) {
        snprintf(err, errlen, "timeline.get %" PRId64 ": no answer: %s", user,
                 fc_client_error(c));
        return -1;
    }
    if (!r.ok) {
        snprintf(err, errlen, "timeline.get %" PRId64 ": %s: %s", user, r.code, r.message);
        fc_response_free(&r);
        return -1;
    }
    const msgpack_object *posts = fc_obj_get(&r.result, "posts");
    if (!posts || posts->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, errlen, "timeline.get %" PRId64 ": no posts array", user);
        fc_response_free(&r);
        return -1;
    }
    for (uint32_t i = 0; i < posts->via.array.size && *n < cap; i++) {
        int64_t id;
        if (fc_obj_int(fc_obj_get(&posts->via.array.ptr[i], "id"), &id) == 0)
            ids[(*n)++] = id;
    }
    const char *s;
    size_t sl;
    if (source && fc_obj_str(fc_obj_get(&r.result, "source"), &s, &sl) == 0 && sl < 16) {
        memcpy(source, s, sl);
        source[sl] = '\0';
    }
    fc_response_free(&r);
    return 0;
}

bool faults_ids_have(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

bool faults_feed_has(redisContext *r, int64_t user, int64_t post)
{
    char k[128];
    redisReply *rep = redisCommand(r, "ZSCORE %s %" PRId64, faults_key(k, sizeof k, "home:", user),
                                   post);
    if (!rep)
        fail_msg("Redis: %s", r->errstr);
    bool yes = rep->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    return yes;
}

bool faults_feed_exists(redisContext *r, int64_t user)
{
    char k[128];
    redisReply *rep = redisCommand(r, "EXISTS %s", faults_key(k, sizeof k, "home:", user));
    if (!rep)
        fail_msg("Redis: %s", r->errstr);
    bool yes = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    return yes;
}

size_t faults_count_deliveries(redisContext *r, const int64_t *users, size_t n, int64_t post)
{
    char k[128];
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(r, "ZSCORE %s %" PRId64, faults_key(k, sizeof k, "home:", users[i]),
                           post);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep;
        if (redisGetReply(r, (void **)&rep) != REDIS_OK || !rep)
            fail_msg("Redis: %s", r->errstr);
        if (rep->type == REDIS_REPLY_STRING)
            count++;
        freeReplyObject(rep);
    }
    return count;
}

size_t faults_wait_delivered(redisContext *r, const int64_t *users, size_t nu,
                             const int64_t *posts, size_t np, int timeout_ms,
                             char *err, size_t errlen)
{
    long long deadline = faults_now_ms() + timeout_ms;
    for (;;) {
        size_t missing = 0;
        err[0] = '\0';
        for (size_t j = 0; j < np; j++) {
            size_t got = faults_count_deliveries(r, users, nu, posts[j]);
            if (got < nu && missing == 0) {
                for (size_t i = 0; i < nu; i++)
                    if (!faults_feed_has(r, users[i], posts[j])) {
                        snprintf(err, errlen, "post %" PRId64 " is missing from the feed of %"
                                 PRId64 " (%zu of %zu feeds have it)", posts[j], users[i], got,
                                 nu);
                        break;
                    }
            }
            missing += nu - got;
        }
        if (missing == 0 || faults_now_ms() > deadline)
            return missing;
        faults_sleep_ms(100);
    }
}

size_t faults_stream_jobs(redisContext *r, char type, int64_t post)
{
    char k[128];
    snprintf(k, sizeof k, "%s{fanout}", FAULTS_PREFIX);
    redisReply *rep = redisCommand(r, "XRANGE %s - +", k);
    if (!rep)
        fail_msg("Redis: %s", r->errstr);
    size_t n = 0;
    char want[24];
    snprintf(want, sizeof want, "%" PRId64, post);
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *fields = rep->element[i]->element[1];
        bool type_ok = false, post_ok = post == 0;
        for (size_t j = 0; j + 1 < fields->elements; j += 2) {
            const char *name = fields->element[j]->str, *val = fields->element[j + 1]->str;
            if (strcmp(name, "t") == 0 && val[0] == type && val[1] == '\0')
                type_ok = true;
            if (strcmp(name, "p") == 0 && strcmp(val, want) == 0)
                post_ok = true;
        }
        n += type_ok && post_ok;
    }
    freeReplyObject(rep);
    return n;
}

long long faults_stream_len(redisContext *r)
{
    char k[128];
    snprintf(k, sizeof k, "%s{fanout}", FAULTS_PREFIX);
    redisReply *rep = redisCommand(r, "XLEN %s", k);
    if (!rep)
        fail_msg("Redis: %s", r->errstr);
    long long n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

void faults_wait_settled(fc_client_t *c, int timeout_ms)
{
    long long deadline = faults_now_ms() + timeout_ms;
    int64_t prev[2] = { -1, -1 };
    int stable = 0;
    for (;;) {
        int64_t depth = faults_stat(c, "fanout_queue_depth");
        int64_t now[2] = { faults_stat(c, "fanout_posts"), faults_stat(c, "fanout_deliveries") };
        if (depth == 0 && now[0] == prev[0] && now[1] == prev[1])
            stable++;
        else
            stable = 0;
        prev[0] = now[0];
        prev[1] = now[1];
        if (stable >= 3)
            return;
        if (faults_now_ms() > deadline)
            fail_msg("fan-out did not settle within %d ms: fanout_queue_depth %" PRId64
                     ", fanout_posts %" PRId64, timeout_ms, depth, now[0]);
        faults_sleep_ms(100);
    }
}

void faults_seed_fanout(faults_t *f, int64_t author, int nfollowers, int64_t base_ms,
                        int64_t *feeds, char mode[16])
{
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM "
                  "generate_series(1, %d) g", nfollowers + 1);
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) SELECT g, %" PRId64 " FROM "
                  "generate_series(2, %d) g", author, nfollowers + 1);
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 100 + g, %" PRId64
                  ", 'epoch'::timestamptz + (%" PRId64 " + g) * interval '1 millisecond', "
                  "'post ' || (100 + g) FROM generate_series(1, 5) g", author, base_ms);
    char err[512];
    int64_t ids[16];
    size_t n;
    for (int i = 0; i <= nfollowers; i++) {
        feeds[i] = 1 + i;
        if (faults_read(f->c, feeds[i], 10, ids, 16, &n, NULL, err, sizeof err) != 0)
            fail_msg("warm-up read: %s", err);
    }
    faults_insert_post(f, 2000, author, base_ms + 2000);
    faults_publish_ok(f->c, 2000, author, base_ms + 2000, mode);
    faults_wait_settled(f->c, 15000);
}

int faults_run(const struct CMUnitTest *tests, size_t n)
{
    const char *filter = getenv("FEEDCACHE_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return _cmocka_run_group_tests("faults", tests, n, NULL, NULL);
}

/* Shared helpers of the oracle integration tests (see oracle_db.h). */
#include "oracle_db.h"

#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

/* --- PRNG and time ----------------------------------------------------------- */

void odb_rng_seed(odb_rng_t *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t odb_rng_next(odb_rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t odb_rng_below(odb_rng_t *r, uint64_t n)
{
    return n ? odb_rng_next(r) % n : 0;
}

bool odb_rng_chance(odb_rng_t *r, unsigned percent)
{
    return odb_rng_below(r, 100) < percent;
}

int64_t odb_rng_id(odb_rng_t *r)
{
    unsigned digits = 1 + (unsigned)odb_rng_below(r, 19);
    uint64_t lo = 1;
    for (unsigned i = 1; i < digits; i++)
        lo *= 10;
    uint64_t hi = digits == 19 ? (uint64_t)INT64_MAX : lo * 10 - 1;
    return (int64_t)(lo + odb_rng_below(r, hi - lo + 1));
}

long long odb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void odb_sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* --- environment ---------------------------------------------------------------- */

/* What odb_env_setup overwrote, to put back in teardown. */
static char *saved_pg, *saved_redis_url;

/* First readable sql/schema.sql: FEEDCACHE_SOURCE_ROOT, MESON_SOURCE_ROOT,
 * then the executable's directory and its parents (build dirs live inside
 * the source tree). */
static char *find_schema(void)
{
    const char *roots[] = { getenv("FEEDCACHE_SOURCE_ROOT"), getenv("MESON_SOURCE_ROOT") };
    char path[4096];
    for (size_t i = 0; i < 2; i++) {
        if (!roots[i] || !*roots[i])
            continue;
        snprintf(path, sizeof path, "%s/sql/schema.sql", roots[i]);
        if (access(path, R_OK) == 0)
            return fc_xstrdup(path);
    }
    char dir[2048];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        return NULL;
    dir[n] = '\0';
    for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
        *slash = '\0';
        snprintf(path, sizeof path, "%s/sql/schema.sql", dir);
        if (access(path, R_OK) == 0)
            return fc_xstrdup(path);
    }
    return NULL;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "");
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return b.data;
}

/* Appends key='value' with libpq's quoting. */
static void conninfo_add(buf_t *b, const char *key, const char *val)
{
    buf_printf(b, "%s%s='", b->len ? " " : "", key);
    for (const char *p = val; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_append(b, "\\", 1);
        buf_append(b, p, 1);
    }
    buf_puts(b, "'");
}

/* conninfo (keywords or a URI) with dbname replaced. */
static int conninfo_with_db(const char *conninfo, const char *db, char *out, size_t outlen,
                            char *err, size_t errlen)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
    if (!opts) {
        set_err(err, errlen, "cannot parse FEEDCACHE_TEST_PG '%s': %s", conninfo,
                why ? why : "out of memory");
        PQfreemem(why);
        return -1;
    }
    buf_t b;
    buf_init(&b);
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && strcmp(o->keyword, "dbname") != 0)
            conninfo_add(&b, o->keyword, o->val);
    conninfo_add(&b, "dbname", db);
    PQconninfoFree(opts);
    int rc = 0;
    if (b.len >= outlen) {
        set_err(err, errlen, "connection string too long");
        rc = -1;
    } else {
        memcpy(out, b.data, b.len + 1);
    }
    buf_free(&b);
    return rc;
}

/* Notices ("database does not exist, skipping") are not test output. */
static void quiet_notices(void *arg, const char *message)
{
}

static PGconn *pg_connect(const char *conninfo, char *err, size_t errlen)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        set_err(err, errlen, "cannot connect to PostgreSQL (%s): %s", conninfo,
                PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, quiet_notices, NULL);
    return pg;
}

/* A command without parameters that must succeed. */
static int pg_exec(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        set_err(err, errlen, "%.120s: %s", sql, PQerrorMessage(pg));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Splits redis://[:pass@]host:port[/db] (the test URL) into its parts. */
static int parse_redis_url(const char *url, char *host, size_t hostlen, int *port,
                           char *pass, size_t passlen)
{
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *a = url + 8;
    const char *end = strchr(a, '/');
    size_t alen = end ? (size_t)(end - a) : strlen(a);
    char auth[256];
    if (alen >= sizeof auth)
        return -1;
    memcpy(auth, a, alen);
    auth[alen] = '\0';
    char *hp = auth;
    pass[0] = '\0';
    char *at = strrchr(auth, '@');
    if (at) {
        *at = '\0';
        snprintf(pass, passlen, "%s", auth[0] == ':' ? auth + 1 : auth);
        hp = at + 1;
    }
    char *colon = strrchr(hp, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    *port = atoi(colon + 1);
    snprintf(host, hostlen, "%s", hp);
    return *port > 0 ? 0 : -1;
}

rdirect_t *odb_redis_connect(const odb_env_t *e, char *err, size_t errlen)
{
    return rdirect_open(e->redis_url, err, errlen);
}

static int each_master(const odb_env_t *e, const char *command, char *err, size_t errlen)
{
    rdirect_t *r = odb_redis_connect(e, err, errlen);
    if (!r)
        return -1;
    char why[512];
    int ret = rdirect_each_master(r, command, why, sizeof why);
    if (ret != 0)
        set_err(err, errlen, "Redis %s failed: %s", command, why);
    rdirect_close(r);
    return ret;
}

int odb_redis_flushdb(const odb_env_t *e, char *err, size_t errlen)
{
    return each_master(e, "FLUSHDB", err, errlen);
}

int odb_redis_script_flush(const odb_env_t *e, char *err, size_t errlen)
{
    return each_master(e, "SCRIPT FLUSH", err, errlen);
}

/* Drops <tag>_<pid> databases whose test process is gone (killed before
 * its teardown), so that aborted runs do not pile up. */
static void drop_orphans(PGconn *admin, const char *tag)
{
    char pattern[80];
    snprintf(pattern, sizeof pattern, "%s\\_%%", tag);
    const char *vals[] = { pattern };
    PGresult *res = PQexecParams(admin, "SELECT datname FROM pg_database WHERE datname LIKE $1",
                                 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return;
    }
    size_t taglen = strlen(tag);
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        char *end;
        long pid = strtol(name + taglen + 1, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char sql[160], err[256];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
        if (pg_exec(admin, sql, err, sizeof err) == 0)
            fprintf(stderr, "oracle_db: dropped %s, left over by a test run that was killed\n",
                    name);
    }
    PQclear(res);
}

int odb_env_setup(odb_env_t *e, const char *tag, int redis_db, char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    const char *pg = getenv("FEEDCACHE_TEST_PG");
    const char *rurl = getenv("FEEDCACHE_TEST_REDIS_URL");
    const char *rport = getenv("FEEDCACHE_TEST_REDIS_PORT");
    if (!pg || !*pg || ((!rurl || !*rurl) && (!rport || !*rport))) {
        set_err(err, errlen, "FEEDCACHE_TEST_PG and FEEDCACHE_TEST_REDIS_URL (or _PORT) must be "
                "set: run through scripts/test.sh, or scripts/services.sh start DIR and source "
                "DIR/env");
        return -1;
    }
    snprintf(e->admin_conninfo, sizeof e->admin_conninfo, "%s", pg);
    snprintf(e->dbname, sizeof e->dbname, "%s_%d", tag, (int)getpid());
    e->redis_db = redis_db;

    if (rdirect_url_is_cluster(rurl)) {
        /* A cluster has db 0 only: the programs share it (meson runs them
         * one at a time, and each empties it first). */
        if (strlen(rurl) >= sizeof e->redis_url) {
            set_err(err, errlen, "FEEDCACHE_TEST_REDIS_URL too long");
            return -1;
        }
        snprintf(e->redis_url, sizeof e->redis_url, "%s", rurl);
        e->redis_db = 0;
        e->redis_cluster = true;
    } else {
        /* The Redis URL of the shared server, with our own db number. */
        char host[256] = "127.0.0.1", pass[256] = "";
        int port = rport && *rport ? atoi(rport) : 0;
        if (rurl && *rurl &&
            parse_redis_url(rurl, host, sizeof host, &port, pass, sizeof pass) != 0) {
            set_err(err, errlen, "cannot parse FEEDCACHE_TEST_REDIS_URL '%s'", rurl);
            return -1;
        }
        e->redis_port = port;
        snprintf(e->redis_url, sizeof e->redis_url, "redis://%s%s%s%s:%d/%d", pass[0] ? ":" : "",
                 pass, pass[0] ? "@" : "", host, port, redis_db);
    }

    if (conninfo_with_db(pg, e->dbname, e->conninfo, sizeof e->conninfo, err, errlen) != 0)
        return -1;
    char *schema_path = find_schema();
    if (!schema_path) {
        set_err(err, errlen, "sql/schema.sql not found (set FEEDCACHE_SOURCE_ROOT)");
        return -1;
    }
    char *schema = read_file(schema_path);
    if (!schema) {
        set_err(err, errlen, "cannot read %s: %s", schema_path, strerror(errno));
        free(schema_path);
        return -1;
    }

    int rc = -1;
    PGconn *admin = pg_connect(pg, err, errlen);
    PGconn *db = NULL;
    char sql[256];
    if (!admin)
        goto out;
    drop_orphans(admin, tag);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", e->dbname);
    if (pg_exec(admin, sql, err, errlen) != 0)
        goto out;
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", e->dbname);
    if (pg_exec(admin, sql, err, errlen) != 0)
        goto out;
    e->created = true;
    db = pg_connect(e->conninfo, err, errlen);
    if (!db)
        goto out;
    if (pg_exec(db, schema, err, errlen) != 0) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " (applying %s)", schema_path);
        goto out;
    }
    if (odb_redis_flushdb(e, err, errlen) != 0)
        goto out;

    free(saved_pg);
    free(saved_redis_url);
    saved_pg = fc_xstrdup(pg);
    saved_redis_url = rurl ? fc_xstrdup(rurl) : NULL;
    setenv("FEEDCACHE_TEST_PG", e->conninfo, 1);
    setenv("FEEDCACHE_TEST_REDIS_URL", e->redis_url, 1);
    rc = 0;
out:
    if (db)
        PQfinish(db);
    if (admin)
        PQfinish(admin);
    free(schema);
    free(schema_path);
    return rc;
}

void odb_env_teardown(odb_env_t *e)
{
    if (saved_pg) {
        setenv("FEEDCACHE_TEST_PG", saved_pg, 1);
        if (saved_redis_url)
            setenv("FEEDCACHE_TEST_REDIS_URL", saved_redis_url, 1);
        else
            unsetenv("FEEDCACHE_TEST_REDIS_URL");
        free(saved_pg);
        free(saved_redis_url);
        saved_pg = saved_redis_url = NULL;
    }
    if (!e->created)
        return;
    char err[512];
    if (odb_redis_flushdb(e, err, sizeof err) != 0)
        fprintf(stderr, "oracle_db: %s\n", err);
    PGconn *admin = pg_connect(e->admin_conninfo, err, sizeof err);
    if (!admin) {
        fprintf(stderr, "oracle_db: cannot drop database %s: %s\n", e->dbname, err);
        return;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", e->dbname);
    if (pg_exec(admin, sql, err, sizeof err) != 0)
        fprintf(stderr, "oracle_db: %s\n", err);
    PQfinish(admin);
    e->created = false;
}

PGconn *odb_pg_connect(const odb_env_t *e, char *err, size_t errlen)
{
    return pg_connect(e->conninfo, err, errlen);
}

int odb_pg_truncate(PGconn *pg, char *err, size_t errlen)
{
    return pg_exec(pg, "TRUNCATE posts, follows, users", err, errlen);
}

/* --- posts -------------------------------------------------------------------------- */

void odb_posts_push(odb_posts_t *ps, const odb_post_t *p)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        ps->v = fc_xrealloc(ps->v, ps->cap * sizeof *ps->v);
    }
    odb_post_t *q = &ps->v[ps->n++];
    *q = *p;
    if (p->body) {
        q->body = fc_xmalloc(p->body_len + 1);
        memcpy(q->body, p->body, p->body_len);
        q->body[p->body_len] = '\0';
    }
}

void odb_posts_free(odb_posts_t *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(ps->v[i].body);
    free(ps->v);
    memset(ps, 0, sizeof *ps);
}

bool odb_posts_has(const odb_posts_t *ps, int64_t id)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].id == id)
            return true;
    return false;
}

/* --- PostgreSQL writes ----------------------------------------------------------------- */

/* Runs a parameterised statement (text parameters). Returns the result
 * (caller clears) or NULL with err. */
static PGresult *pg_params(PGconn *pg, const char *sql, int n, const char *const *vals,
                           char *err, size_t errlen)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        set_err(err, errlen, "%.100s: %s", sql, PQerrorMessage(pg));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* A statement over int64 parameters that must change exactly `rows` rows
 * (-1: any number). */
static int pg_ints(PGconn *pg, const char *sql, int n, const int64_t *v, int rows,
                   char *err, size_t errlen)
{
    char txt[4][24];
    const char *vals[4];
    for (int i = 0; i < n && i < 4; i++) {
        snprintf(txt[i], sizeof txt[i], "%" PRId64, v[i]);
        vals[i] = txt[i];
    }
    PGresult *res = pg_params(pg, sql, n, vals, err, errlen);
    if (!res)
        return -1;
    int got = atoi(PQcmdTuples(res));
    PQclear(res);
    if (rows >= 0 && got != rows) {
        set_err(err, errlen, "%.100s changed %d rows, expected %d", sql, got, rows);
        return -1;
    }
    return 0;
}

int odb_pg_add_user(PGconn *pg, int64_t id, char *err, size_t errlen)
{
    char idtxt[24], handle[40];
    snprintf(idtxt, sizeof idtxt, "%" PRId64, id);
    snprintf(handle, sizeof handle, "user%" PRId64, id);
    const char *vals[] = { idtxt, handle };
    PGresult *res = pg_params(pg, "INSERT INTO users (id, handle) VALUES ($1, $2)", 2, vals,
                              err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

int odb_pg_follow(PGconn *pg, int64_t follower, int64_t followee, char *err, size_t errlen)
{
    int64_t v[] = { follower, followee };
    return pg_ints(pg, "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2)", 2, v, 1,
                   err, errlen);
}

int odb_pg_unfollow(PGconn *pg, int64_t follower, int64_t followee, char *err, size_t errlen)
{
    int64_t v[] = { follower, followee };
    return pg_ints(pg, "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2", 2, v,
                   1, err, errlen);
}

int odb_pg_insert_post(PGconn *pg, const odb_post_t *p, char *err, size_t errlen)
{
    char id[24], author[24], ms[24];
    snprintf(id, sizeof id, "%" PRId64, p->id);
    snprintf(author, sizeof author, "%" PRId64, p->author_id);
    snprintf(ms, sizeof ms, "%" PRId64, p->created_ms);
    const char *vals[] = { id, author, ms, p->body ? p->body : "" };
    /* Whole milliseconds, exactly: no float on the way. */
    PGresult *res = pg_params(pg,
        "INSERT INTO posts (id, author_id, created_at, body) VALUES "
        "($1, $2, 'epoch'::timestamptz + $3::bigint * interval '1 millisecond', $4) "
        "ON CONFLICT (id) DO NOTHING", 4, vals, err, errlen);
    if (!res)
        return -1;
    int rows = atoi(PQcmdTuples(res));
    PQclear(res);
    return rows == 1 ? 0 : 1;
}

int odb_pg_delete_post(PGconn *pg, int64_t id, char *err, size_t errlen)
{
    return pg_ints(pg, "UPDATE posts SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL",
                   1, &id, 1, err, errlen);
}

int odb_pg_update_body(PGconn *pg, int64_t id, const char *body, char *err, size_t errlen)
{
    char idtxt[24];
    snprintf(idtxt, sizeof idtxt, "%" PRId64, id);
    const char *vals[] = { idtxt, body };
    PGresult *res = pg_params(pg, "UPDATE posts SET body = $2 WHERE id = $1", 2, vals, err, errlen);
    if (!res)
        return -1;
    int rows = atoi(PQcmdTuples(res));
    PQclear(res);
    if (rows != 1) {
        set_err(err, errlen, "UPDATE of post %" PRId64 " changed %d rows", id, rows);
        return -1;
    }
    return 0;
}

int odb_pg_follower_count(PGconn *pg, int64_t author, int64_t *out, char *err, size_t errlen)
{
    char idtxt[24];
    snprintf(idtxt, sizeof idtxt, "%" PRId64, author);
    const char *vals[] = { idtxt };
    PGresult *res = pg_params(pg, "SELECT count(*) FROM follows WHERE followee_id = $1", 1, vals,
                              err, errlen);
    if (!res)
        return -1;
    *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int odb_pg_timeline(PGconn *pg, int64_t user, odb_posts_t *out, char *err, size_t errlen)
{
    char idtxt[24];
    snprintf(idtxt, sizeof idtxt, "%" PRId64, user);
    const char *vals[] = { idtxt };
    /* The contract's definition, word for word; created_at back to ms. */
    PGresult *res = pg_params(pg,
        "SELECT id, author_id, (extract(epoch FROM created_at) * 1000)::bigint, body "
        "FROM posts WHERE deleted_at IS NULL AND (author_id = $1 OR author_id IN "
        "(SELECT followee_id FROM follows WHERE follower_id = $1)) "
        "ORDER BY created_at DESC, id DESC", 1, vals, err, errlen);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        odb_post_t p = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .author_id = strtoll(PQgetvalue(res, i, 1), NULL, 10),
            .created_ms = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .body = PQgetvalue(res, i, 3),
            .body_len = (size_t)PQgetlength(res, i, 3),
        };
        odb_posts_push(out, &p);
    }
    PQclear(res);
    return 0;
}

/* --- RPC --------------------------------------------------------------------------------- */

int odb_call(fc_client_t *c, const char *method, const fc_params_t *p, fc_response_t *r,
             char *err, size_t errlen)
{
    fc_response_t local;
    fc_response_t *resp = r ? r : &local;
    memset(resp, 0, sizeof *resp);
    int rc = fc_client_call(c, method, p, resp);
    if (rc != FC_OK) {
        set_err(err, errlen, "%s: no answer: %s", method, fc_client_error(c));
        return -1;
    }
    if (!resp->ok) {
        set_err(err, errlen, "%s: error %s: %s", method, resp->code, resp->message);
        fc_response_free(resp);
        return -1;
    }
    if (!r)
        fc_response_free(resp);
    return 0;
}

/* Calls a method whose answer must be {"ok": true}. */
static int call_ok(fc_client_t *c, const char *method, const fc_params_t *p,
                   char *err, size_t errlen)
{
    fc_response_t r;
    if (odb_call(c, method, p, &r, err, errlen) != 0)
        return -1;
    bool ok = false;
    int rc = 0;
    if (fc_obj_bool(fc_obj_get(&r.result, "ok"), &ok) != 0 || !ok) {
        set_err(err, errlen, "%s: result is not {\"ok\": true}", method);
        rc = -1;
    }
    fc_response_free(&r);
    return rc;
}

int odb_rpc_publish(fc_client_t *c, const odb_post_t *p, bool with_body, bool notify,
                    char mode[16], char *err, size_t errlen)
{
    fc_params_t pp;
    fc_params_init(&pp);
    fc_params_int(&pp, "id", p->id);
    fc_params_int(&pp, "author_id", p->author_id);
    fc_params_int(&pp, "created_at", p->created_ms);
    if (with_body) {
        msgpack_packer *pk = fc_params_value(&pp, "body");
        msgpack_pack_str_with_body(pk, p->body ? p->body : "", p->body ? p->body_len : 0);
    }
    mode[0] = '\0';
    int rc = 0;
    if (notify) {
        if (fc_client_notify(c, "post.publish", &pp) != FC_OK) {
            set_err(err, errlen, "post.publish notification: %s", fc_client_error(c));
            rc = -1;
        }
        fc_params_free(&pp);
        return rc;
    }
    fc_response_t r;
    rc = odb_call(c, "post.publish", &pp, &r, err, errlen);
    fc_params_free(&pp);
    if (rc != 0)
        return -1;
    bool queued = false;
    const msgpack_object *m = fc_obj_get(&r.result, "mode");
    if (fc_obj_bool(fc_obj_get(&r.result, "queued"), &queued) != 0 || !queued ||
        !(fc_obj_str_eq(m, "fanout") || fc_obj_str_eq(m, "celebrity"))) {
        set_err(err, errlen, "post.publish of %" PRId64 ": result is not {\"queued\": true, "
                "\"mode\": \"fanout\"|\"celebrity\"}", p->id);
        rc = -1;
    } else {
        snprintf(mode, 16, "%s", fc_obj_str_eq(m, "fanout") ? "fanout" : "celebrity");
    }
    fc_response_free(&r);
    return rc;
}

int odb_rpc_update(fc_client_t *c, int64_t id, const char *body, char *err, size_t errlen)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "id", id);
    fc_params_str(&p, "body", body);
    int rc = call_ok(c, "post.update", &p, err, errlen);
    fc_params_free(&p);
    return rc;
}

int odb_rpc_delete(fc_client_t *c, int64_t id, int64_t author, char *err, size_t errlen)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "id", id);
    fc_params_int(&p, "author_id", author);
    int rc = call_ok(c, "post.delete", &p, err, errlen);
    fc_params_free(&p);
    return rc;
}

static int rpc_pair(fc_client_t *c, const char *method, int64_t follower, int64_t followee,
                    char *err, size_t errlen)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "follower_id", follower);
    fc_params_int(&p, "followee_id", followee);
    int rc = call_ok(c, method, &p, err, errlen);
    fc_params_free(&p);
    return rc;
}

int odb_rpc_follow(fc_client_t *c, int64_t follower, int64_t followee, char *err, size_t errlen)
{
    return rpc_pair(c, "follow", follower, followee, err, errlen);
}

int odb_rpc_unfollow(fc_client_t *c, int64_t follower, int64_t followee, char *err, size_t errlen)
{
    return rpc_pair(c, "unfollow", follower, followee, err, errlen);
}

int odb_rpc_invalidate(fc_client_t *c, int64_t user, char *err, size_t errlen)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", user);
    int rc = call_ok(c, "timeline.invalidate", &p, err, errlen);
    fc_params_free(&p);
    return rc;
}

/* Reads n integer counters of one `stats` answer. */
static int rpc_stats(fc_client_t *c, const char *const *keys, int64_t *out, size_t n,
                     char *err, size_t errlen)
{
    fc_response_t r;
    if (odb_call(c, "stats", NULL, &r, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (fc_obj_int(fc_obj_get(&r.result, keys[i]), &out[i]) != 0) {
            set_err(err, errlen, "stats: no integer '%s'", keys[i]);
            rc = -1;
        }
    fc_response_free(&r);
    return rc;
}

int odb_rpc_stat(fc_client_t *c, const char *key, int64_t *out, char *err, size_t errlen)
{
    return rpc_stats(c, &key, out, 1, err, errlen);
}

int odb_wait_settled(fc_client_t *c, int timeout_ms, char *err, size_t errlen)
{
    static const char *const keys[] = { "fanout_queue_depth", "fanout_posts", "fanout_deliveries" };
    int64_t now[3], prev[3] = { -1, -1, -1 };
    long long deadline = odb_now_ms() + timeout_ms;
    int stable = 0;
    for (;;) {
        if (rpc_stats(c, keys, now, 3, err, errlen) != 0)
            return -1;
        /* Depth 0 alone is not enough: a job taken off the queue may still
         * be delivering. Wait until the counters stop moving too. */
        if (now[0] == 0 && now[1] == prev[1] && now[2] == prev[2])
            stable++;
        else
            stable = 0;
        memcpy(prev, now, sizeof prev);
        if (stable >= 3)
            break;
        if (odb_now_ms() >= deadline) {
            set_err(err, errlen, "fan-out did not settle within %d ms: fanout_queue_depth %" PRId64
                    ", fanout_posts %" PRId64 ", fanout_deliveries %" PRId64, timeout_ms,
                    now[0], now[1], now[2]);
            return -1;
        }
        odb_sleep_ms(50);
    }
    odb_sleep_ms(150);
    return 0;
}

/* --- walking a timeline --------------------------------------------------------------------- */

void odb_walk_free(odb_walk_t *w)
{
    odb_posts_free(&w->posts);
    free(w->first_cursor);
    memset(w, 0, sizeof *w);
}

/* (created_at, id) of a strictly before b in the timeline's order. */
static bool newer(const odb_post_t *a, const odb_post_t *b)
{
    return a->created_ms > b->created_ms || (a->created_ms == b->created_ms && a->id > b->id);
}

/* Decodes one post map; err names what is wrong. */
static int read_post(const msgpack_object *o, bool hydrate, odb_post_t *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (o->type != MSGPACK_OBJECT_MAP) {
        set_err(err, errlen, "a post is not a map (msgpack type %d)", (int)o->type);
        return -1;
    }
    p->nkeys = o->via.map.size;
    if (fc_obj_int(fc_obj_get(o, "id"), &p->id) != 0 ||
        fc_obj_int(fc_obj_get(o, "author_id"), &p->author_id) != 0 ||
        fc_obj_int(fc_obj_get(o, "created_at"), &p->created_ms) != 0) {
        set_err(err, errlen, "a post lacks integer id, author_id or created_at");
        return -1;
    }
    const msgpack_object *body = fc_obj_get(o, "body");
    if (hydrate) {
        const char *s;
        size_t n;
        if (fc_obj_str(body, &s, &n) != 0) {
            set_err(err, errlen, "post %" PRId64 " (hydrate=true) has no string body", p->id);
            return -1;
        }
        p->body = fc_xmalloc(n + 1);
        memcpy(p->body, s, n);
        p->body[n] = '\0';
        p->body_len = n;
    } else if (body || p->nkeys != 3) {
        set_err(err, errlen, "post %" PRId64 " (hydrate=false) has %zu keys%s: want only id, "
                "author_id, created_at", p->id, p->nkeys, body ? " including body" : "");
        return -1;
    }
    return 0;
}

int odb_walk(fc_client_t *c, int64_t user, const odb_walk_opts_t *o, odb_walk_t *w,
             char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    char *cursor = o->cursor ? fc_xstrdup(o->cursor) : NULL;
    size_t cursor_len = o->cursor ? strlen(o->cursor) : 0;
    fc_params_t p;
    fc_params_init(&p);
    int rc = -1;
    /* Every page but the last holds at least one post, so no walk needs more
     * pages than this; a runaway cursor loop stops here. */
    const size_t max_pages = 100000;
    for (;;) {
        fc_params_reset(&p);
        fc_params_int(&p, "user_id", user);
        fc_params_int(&p, "limit", o->limit);
        fc_params_bool(&p, "hydrate", o->hydrate);
        if (cursor) {
            msgpack_packer *pk = fc_params_value(&p, "cursor");
            msgpack_pack_str_with_body(pk, cursor, cursor_len);
        }
        fc_response_t r;
        char why[512];
        if (odb_call(c, "timeline.get", &p, &r, why, sizeof why) != 0) {
            set_err(err, errlen, "page %zu: %s", w->pages + 1, why);
            goto out;
        }
        w->pages++;
        const msgpack_object *res = &r.result;
        const msgpack_object *posts = fc_obj_get(res, "posts");
        const msgpack_object *next = fc_obj_get(res, "next_cursor");
        const msgpack_object *source = fc_obj_get(res, "source");
        bool degraded = true;
        const char *bad = NULL;
        if (res->type != MSGPACK_OBJECT_MAP)
            bad = "the result is not a map";
        else if (!posts || posts->type != MSGPACK_OBJECT_ARRAY)
            bad = "no posts array";
        else if (!next || (next->type != MSGPACK_OBJECT_NIL && next->type != MSGPACK_OBJECT_STR))
            bad = "next_cursor is missing or neither str nor nil";
        else if (!(fc_obj_str_eq(source, "cache") || fc_obj_str_eq(source, "rebuilt") ||
                   fc_obj_str_eq(source, "db")))
            bad = "source is not one of cache, rebuilt, db";
        else if (fc_obj_bool(fc_obj_get(res, "degraded"), &degraded) != 0)
            bad = "degraded is not a boolean";
        else if (degraded)
            bad = "degraded is true (both backends are up)";
        else if (posts->via.array.size > (uint32_t)o->limit)
            bad = "more posts than limit";
        else if (cursor && posts->via.array.size == 0 && !o->data_may_change)
            bad = "a non-nil next_cursor led to an empty page";
        if (bad) {
            set_err(err, errlen, "page %zu (%u posts so far %zu): %s", w->pages,
                    posts && posts->type == MSGPACK_OBJECT_ARRAY ? posts->via.array.size : 0,
                    w->posts.n, bad);
            fc_response_free(&r);
            goto out;
        }
        if (w->pages == 1) {
            const char *s;
            size_t n;
            fc_obj_str(source, &s, &n);
            snprintf(w->first_source, sizeof w->first_source, "%.*s", (int)n, s);
            if (next->type == MSGPACK_OBJECT_STR)
                w->first_cursor = fc_obj_strdup(next);
        }
        for (uint32_t i = 0; i < posts->via.array.size; i++) {
            odb_post_t q;
            if (read_post(&posts->via.array.ptr[i], o->hydrate, &q, why, sizeof why) != 0) {
                set_err(err, errlen, "page %zu, post %u: %s", w->pages, i, why);
                fc_response_free(&r);
                goto out;
            }
            const odb_post_t *last = w->posts.n ? &w->posts.v[w->posts.n - 1] : NULL;
            if (last && !newer(last, &q)) {
                bool dup = odb_posts_has(&w->posts, q.id);
                set_err(err, errlen, "page %zu, post %u: %s: id %" PRId64 " created_at %" PRId64
                        " comes after id %" PRId64 " created_at %" PRId64 " (position %zu)",
                        w->pages, i, dup ? "returned twice" : "out of (created_at, id) DESC order",
                        q.id, q.created_ms, last->id, last->created_ms, w->posts.n);
                free(q.body);
                fc_response_free(&r);
                goto out;
            }
            odb_posts_push(&w->posts, &q);
            free(q.body);
        }
        free(cursor);
        cursor = NULL;
        if (next->type == MSGPACK_OBJECT_STR) {
            cursor_len = next->via.str.size;
            cursor = fc_xmalloc(cursor_len + 1);
            memcpy(cursor, next->via.str.ptr, cursor_len);
            cursor[cursor_len] = '\0';
        }
        fc_response_free(&r);
        if (!cursor)
            break;
        if (w->pages >= max_pages) {
            set_err(err, errlen, "still a next_cursor after %zu pages", w->pages);
            goto out;
        }
    }
    rc = 0;
out:
    free(cursor);
    fc_params_free(&p);
    return rc;
}

/* "id@created_at" of positions [from, to) of ps, for a diff. */
static void show_ids(buf_t *b, const odb_posts_t *ps, size_t from, size_t to)
{
    buf_puts(b, "[");
    for (size_t i = from; i < to && i < ps->n; i++)
        buf_printf(b, "%s%zu:%" PRId64 "@%" PRId64, i > from ? " " : "", i, ps->v[i].id,
                   ps->v[i].created_ms);
    buf_puts(b, "]");
}

/* A body for a one-line message: quoted, escaped, cut at 60 bytes. */
static void show_body(buf_t *b, const odb_post_t *p)
{
    buf_puts(b, "\"");
    for (size_t i = 0; i < p->body_len && i < 60; i++) {
        unsigned char ch = (unsigned char)p->body[i];
        if (ch == '"' || ch == '\\')
            buf_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            buf_printf(b, "\\x%02x", ch);
        else
            buf_append(b, &p->body[i], 1);
    }
    buf_printf(b, "\"%s (%zu bytes)", p->body_len > 60 ? "..." : "", p->body_len);
}

static long find_id(const odb_posts_t *ps, int64_t id)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].id == id)
            return (long)i;
    return -1;
}

int odb_compare(const odb_posts_t *want, const odb_posts_t *got, bool hydrate,
                char *err, size_t errlen)
{
    size_t common = want->n < got->n ? want->n : got->n;
    size_t i = 0;
    while (i < common && want->v[i].id == got->v[i].id)
        i++;
    if (i < common || want->n != got->n) {
        buf_t b;
        buf_init(&b);
        buf_printf(&b, "ids differ at position %zu (lengths: expected %zu, got %zu): ", i,
                   want->n, got->n);
        if (i < want->n) {
            const odb_post_t *e = &want->v[i];
            long at = find_id(got, e->id);
            buf_printf(&b, "expected id %" PRId64 " (author %" PRId64 ", created_at %" PRId64
                       "; %s", e->id, e->author_id, e->created_ms, at < 0 ? "missing from the walk"
                       : "in the walk at ");
            if (at >= 0)
                buf_printf(&b, "%ld", at);
            buf_puts(&b, ")");
        } else {
            buf_puts(&b, "expected the end");
        }
        if (i < got->n) {
            const odb_post_t *g = &got->v[i];
            long at = find_id(want, g->id);
            buf_printf(&b, ", got id %" PRId64 " (author %" PRId64 ", created_at %" PRId64 "; %s",
                       g->id, g->author_id, g->created_ms,
                       at < 0 ? "not among the expected posts: deleted, unfollowed, unknown or before the cursor" :
                       "expected at ");
            if (at >= 0)
                buf_printf(&b, "%ld", at);
            buf_puts(&b, ")");
        } else {
            buf_puts(&b, ", got the end of the walk");
        }
        size_t from = i >= 2 ? i - 2 : 0;
        buf_puts(&b, "\n    expected ");
        show_ids(&b, want, from, i + 4);
        buf_puts(&b, "\n    got      ");
        show_ids(&b, got, from, i + 4);
        /* How many are missing / extra overall, to tell one slip from a
         * systematic gap. */
        size_t missing = 0, extra = 0;
        for (size_t k = 0; k < want->n; k++)
            missing += find_id(got, want->v[k].id) < 0;
        for (size_t k = 0; k < got->n; k++)
            extra += find_id(want, got->v[k].id) < 0;
        buf_printf(&b, "\n    %zu expected posts missing, %zu unexpected posts", missing, extra);
        set_err(err, errlen, "%s", b.data);
        buf_free(&b);
        return -1;
    }
    for (i = 0; i < want->n; i++) {
        const odb_post_t *e = &want->v[i], *g = &got->v[i];
        if (e->author_id != g->author_id || e->created_ms != g->created_ms) {
            set_err(err, errlen, "post %" PRId64 " at position %zu: author_id %" PRId64
                    " created_at %" PRId64 ", expected author_id %" PRId64 " created_at %" PRId64,
                    e->id, i, g->author_id, g->created_ms, e->author_id, e->created_ms);
            return -1;
        }
        if (hydrate && (e->body_len != g->body_len || memcmp(e->body, g->body, e->body_len) != 0)) {
            buf_t b;
            buf_init(&b);
            buf_printf(&b, "post %" PRId64 " at position %zu: body ", e->id, i);
            show_body(&b, g);
            buf_puts(&b, ", expected ");
            show_body(&b, e);
            set_err(err, errlen, "%s", b.data);
            buf_free(&b);
            return -1;
        }
    }
    return 0;
}

int odb_check_user(PGconn *pg, fc_client_t *c, int64_t user, const odb_walk_opts_t *o,
                   char *first_source, char *err, size_t errlen)
{
    odb_walk_t w;
    char why[4096];
    int rc = odb_walk(c, user, o, &w, why, sizeof why);
    if (first_source)
        snprintf(first_source, 16, "%s", w.first_source);
    if (rc != 0) {
        set_err(err, errlen, "user %" PRId64 " (limit %d, hydrate %s): walk failed: %s", user,
                o->limit, o->hydrate ? "true" : "false", why);
        odb_walk_free(&w);
        return -1;
    }
    odb_posts_t want = { 0 };
    if (odb_pg_timeline(pg, user, &want, why, sizeof why) != 0) {
        set_err(err, errlen, "user %" PRId64 ": oracle query failed: %s", user, why);
        rc = -1;
    } else if (odb_compare(&want, &w.posts, o->hydrate, why, sizeof why) != 0) {
        set_err(err, errlen, "user %" PRId64 " (limit %d, hydrate %s, %zu pages, first source "
                "%s): %s", user, o->limit, o->hydrate ? "true" : "false", w.pages,
                w.first_source, why);
        rc = -1;
    }
    odb_posts_free(&want);
    odb_walk_free(&w);
    return rc;
}

/* --- the world ---------------------------------------------------------------------------------- */

void odb_world_init(odb_world_t *w, PGconn *pg, fc_client_t *c, uint64_t seed,
                    int64_t celebrity_threshold)
{
    memset(w, 0, sizeof *w);
    odb_rng_seed(&w->rng, seed);
    w->seed = seed;
    w->pg = pg;
    w->c = c;
    w->celebrity_threshold = celebrity_threshold;
    /* 2023-11-14, and a seed-dependent offset so runs differ a little. */
    w->clock_ms = 1700000000000LL + (int64_t)(seed % 1000) * 1000;
}

void odb_world_free(odb_world_t *w)
{
    for (size_t i = 0; i < w->nposts; i++)
        free(w->posts[i].post.body);
    free(w->posts);
    free(w->users);
    free(w->follows);
    memset(w, 0, sizeof *w);
}

int odb_world_add_users(odb_world_t *w, size_t n, char *err, size_t errlen)
{
    size_t total = w->nusers + n;
    w->users = fc_xrealloc(w->users, total * sizeof *w->users);
    bool *f = fc_xcalloc(total * total, sizeof *f);
    for (size_t i = 0; i < w->nusers; i++)
        for (size_t j = 0; j < w->nusers; j++)
            f[i * total + j] = w->follows[i * w->nusers + j];
    free(w->follows);
    w->follows = f;
    for (size_t k = w->nusers; k < total; k++) {
        int64_t id;
        bool taken;
        do {
            id = odb_rng_id(&w->rng);
            taken = false;
            for (size_t i = 0; i < k; i++)
                taken |= w->users[i] == id;
        } while (taken);
        if (odb_pg_add_user(w->pg, id, err, errlen) != 0)
            return -1;
        w->users[k] = id;
        w->nusers = k + 1;
    }
    return 0;
}

bool odb_world_follows(const odb_world_t *w, size_t i, size_t j)
{
    return w->follows[i * w->nusers + j];
}

size_t odb_world_followers(const odb_world_t *w, size_t j)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nusers; i++)
        n += w->follows[i * w->nusers + j];
    return n;
}

size_t odb_world_most_followed(const odb_world_t *w)
{
    size_t best = 0, most = 0;
    for (size_t j = 0; j < w->nusers; j++) {
        size_t n = odb_world_followers(w, j);
        if (n > most) {
            most = n;
            best = j;
        }
    }
    return best;
}

int odb_world_follow(odb_world_t *w, size_t i, size_t j, char *err, size_t errlen)
{
    char why[512];
    if (odb_pg_follow(w->pg, w->users[i], w->users[j], why, sizeof why) != 0 ||
        odb_rpc_follow(w->c, w->users[i], w->users[j], why, sizeof why) != 0) {
        set_err(err, errlen, "follow %" PRId64 " -> %" PRId64 ": %s", w->users[i], w->users[j], why);
        return -1;
    }
    w->follows[i * w->nusers + j] = true;
    return 0;
}

int odb_world_unfollow(odb_world_t *w, size_t i, size_t j, char *err, size_t errlen)
{
    char why[512];
    if (odb_pg_unfollow(w->pg, w->users[i], w->users[j], why, sizeof why) != 0 ||
        odb_rpc_unfollow(w->c, w->users[i], w->users[j], why, sizeof why) != 0) {
        set_err(err, errlen, "unfollow %" PRId64 " -> %" PRId64 ": %s", w->users[i], w->users[j],
                why);
        return -1;
    }
    w->follows[i * w->nusers + j] = false;
    return 0;
}

int odb_world_random_follows(odb_world_t *w, size_t per_user, const size_t *skip, size_t nskip,
                             char *err, size_t errlen)
{
    size_t n = w->nusers;
    if (n < 2)
        return 0;
    /* Popularity: a random order of users; rank r is drawn with weight
     * 1/(r+1), so the first few collect most follows (celebrities). */
    size_t *rank = fc_xmalloc(n * sizeof *rank);
    for (size_t i = 0; i < n; i++)
        rank[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t k = odb_rng_below(&w->rng, i + 1), t = rank[i];
        rank[i] = rank[k];
        rank[k] = t;
    }
    double *cum = fc_xmalloc(n * sizeof *cum);
    double total = 0;
    for (size_t r = 0; r < n; r++)
        cum[r] = total += 1.0 / (double)(r + 1);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool skipped = false;
        for (size_t s = 0; s < nskip; s++)
            skipped |= skip[s] == i;
        if (skipped)
            continue;
        size_t want = per_user > 3 ? per_user - 3 + odb_rng_below(&w->rng, 7) : 1 + odb_rng_below(&w->rng, per_user);
        if (want > n - 1)
            want = n - 1;
        for (size_t got = 0, tries = 0; got < want && tries < 1000 && rc == 0; tries++) {
            double x = (double)(odb_rng_next(&w->rng) >> 11) / 9007199254740992.0 * total;
            size_t r = 0;
            while (r + 1 < n && cum[r] < x)
                r++;
            size_t j = rank[r];
            if (j == i || odb_world_follows(w, i, j))
                continue;
            rc = odb_world_follow(w, i, j, err, errlen);
            got++;
        }
    }
    free(cum);
    free(rank);
    return rc;
}

char *odb_random_body(odb_rng_t *r)
{
    static const char *const pieces[] = {
        "hello", "world", " ", " ", " ", "feed", "cache", "caf\xc3\xa9", "stra\xc3\x9f" "e",
        "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x99\x82", "\"quoted\"", "back\\slash", "\n", "\t",
        "#tag", "@someone", "1234567890", "'", "%s%d", "{}[]", "\xd0\xbf\xd1\x80\xd0\xb8",
    };
    size_t npieces = sizeof pieces / sizeof pieces[0];
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "");
    unsigned kind = (unsigned)odb_rng_below(r, 100);
    size_t n = kind < 4 ? 0 : kind < 12 ? 60 + odb_rng_below(r, 120) : 1 + odb_rng_below(r, 12);
    for (size_t i = 0; i < n; i++)
        buf_puts(&b, pieces[odb_rng_below(r, npieces)]);
    return b.data;
}

static odb_wpost_t *world_new_post(odb_world_t *w)
{
    if (w->nposts == w->posts_cap) {
        w->posts_cap = w->posts_cap ? w->posts_cap * 2 : 256;
        w->posts = fc_xrealloc(w->posts, w->posts_cap * sizeof *w->posts);
    }
    odb_wpost_t *p = &w->posts[w->nposts];
    memset(p, 0, sizeof *p);
    return p;
}

int odb_world_publish(odb_world_t *w, size_t author, int how, size_t *idx,
                      char *err, size_t errlen)
{
    odb_wpost_t *wp = world_new_post(w);
    odb_post_t *p = &wp->post;
    p->author_id = w->users[author];
    /* Many posts share a millisecond: ties broken by id. A few arrive late
     * with an older created_at, landing inside feeds rather than on top. */
    unsigned r = (unsigned)odb_rng_below(&w->rng, 100);
    if (how == ODB_PUB_RANDOM && r >= 95) {
        p->created_ms = w->clock_ms - (int64_t)odb_rng_below(&w->rng, 30000);
    } else {
        if (r >= 50)
            w->clock_ms += r < 85 ? 1 + (int64_t)odb_rng_below(&w->rng, 3)
                                  : 1 + (int64_t)odb_rng_below(&w->rng, 2000);
        p->created_ms = w->clock_ms;
    }
    p->body = odb_random_body(&w->rng);
    p->body_len = strlen(p->body);
    bool with_body = how == ODB_PUB_PLAIN || !odb_rng_chance(&w->rng, 15);
    bool notify = how == ODB_PUB_RANDOM && odb_rng_chance(&w->rng, 12);

    char why[512];
    int ins;
    do {
        p->id = odb_rng_id(&w->rng);
        ins = odb_pg_insert_post(w->pg, p, why, sizeof why);
    } while (ins == 1);
    if (ins < 0) {
        set_err(err, errlen, "insert post: %s", why);
        free(p->body);
        return -1;
    }
    w->nposts++;
    if (idx)
        *idx = w->nposts - 1;
    char mode[16];
    if (odb_rpc_publish(w->c, p, with_body, notify, mode, why, sizeof why) != 0) {
        set_err(err, errlen, "publish post %" PRId64 " by %" PRId64 ": %s", p->id, p->author_id,
                why);
        return -1;
    }
    if (notify) {
        w->published_notify++;
        return 0;
    }
    size_t followers = odb_world_followers(w, author);
    const char *want = (int64_t)followers >= w->celebrity_threshold ? "celebrity" : "fanout";
    if (strcmp(mode, want) != 0) {
        set_err(err, errlen, "publish post %" PRId64 " by %" PRId64 " with %zu followers "
                "(threshold %" PRId64 "): mode \"%s\", expected \"%s\"", p->id, p->author_id,
                followers, w->celebrity_threshold, mode, want);
        return -1;
    }
    if (strcmp(mode, "fanout") == 0)
        w->published_fanout++;
    else
        w->published_celebrity++;
    return 0;
}

int odb_world_random_live(odb_world_t *w, size_t *idx)
{
    for (int tries = 0; tries < 10000 && w->nposts; tries++) {
        size_t k = (size_t)odb_rng_below(&w->rng, w->nposts);
        if (!w->posts[k].deleted) {
            *idx = k;
            return 0;
        }
    }
    return -1;
}

size_t odb_world_user_index(const odb_world_t *w, int64_t id)
{
    for (size_t i = 0; i < w->nusers; i++)
        if (w->users[i] == id)
            return i;
    return w->nusers;
}

int odb_world_delete(odb_world_t *w, size_t idx, char *err, size_t errlen)
{
    odb_wpost_t *p = &w->posts[idx];
    char why[512];
    if (odb_pg_delete_post(w->pg, p->post.id, why, sizeof why) != 0 ||
        odb_rpc_delete(w->c, p->post.id, p->post.author_id, why, sizeof why) != 0) {
        set_err(err, errlen, "delete post %" PRId64 ": %s", p->post.id, why);
        return -1;
    }
    p->deleted = true;
    return 0;
}

int odb_world_edit(odb_world_t *w, size_t idx, char *err, size_t errlen)
{
    odb_wpost_t *p = &w->posts[idx];
    char *body = odb_random_body(&w->rng);
    /* Make sure the edit is visible: never the same text again. */
    char *edited = fc_xmalloc(strlen(body) + 32);
    sprintf(edited, "%s (edited %zu)", body, w->nposts);
    free(body);
    char why[512];
    if (odb_pg_update_body(w->pg, p->post.id, edited, why, sizeof why) != 0 ||
        odb_rpc_update(w->c, p->post.id, edited, why, sizeof why) != 0) {
        set_err(err, errlen, "edit post %" PRId64 ": %s", p->post.id, why);
        free(edited);
        return -1;
    }
    free(p->post.body);
    p->post.body = edited;
    p->post.body_len = strlen(edited);
    return 0;
}

/* Failures printed per phase: the rest are only counted (one broken rule
 * usually breaks every user's walk the same way). */
#define ODB_MAX_PRINTED 8

size_t odb_world_check_all(odb_world_t *w, const char *phase, const int64_t *extra,
                           size_t nextra, const char *first_source)
{
    size_t failed = 0, walks = 0;
    long long t0 = odb_now_ms();
    char err[8192];
    for (size_t i = 0; i < w->nusers + nextra; i++) {
        int64_t user = i < w->nusers ? w->users[i] : extra[i - w->nusers];
        odb_walk_opts_t runs[4];
        size_t nruns = 0;
        runs[nruns++] = (odb_walk_opts_t){ .limit = 7, .hydrate = true };
        if (i % 10 == 3)
            runs[nruns++] = (odb_walk_opts_t){ .limit = 200, .hydrate = true };
        if (i % 10 == 4)
            runs[nruns++] = (odb_walk_opts_t){ .limit = 1, .hydrate = true };
        if (i % 4 == 1)
            runs[nruns++] = (odb_walk_opts_t){ .limit = 11, .hydrate = false };
        for (size_t k = 0; k < nruns; k++) {
            char source[16] = "";
            walks++;
            if (odb_check_user(w->pg, w->c, user, &runs[k], source, err, sizeof err) != 0) {
                if (failed < ODB_MAX_PRINTED)
                    fprintf(stderr, "ORACLE MISMATCH [%s, seed %" PRIu64 "] %s\n", phase,
                            w->seed, err);
                failed++;
                continue;
            }
            if (k == 0 && first_source && strcmp(source, first_source) != 0) {
                /* Only a non-empty timeline has a feed to rebuild. */
                odb_posts_t want = { 0 };
                if (odb_pg_timeline(w->pg, user, &want, err, sizeof err) == 0 && want.n > 0) {
                    if (failed < ODB_MAX_PRINTED)
                        fprintf(stderr, "SOURCE MISMATCH [%s, seed %" PRIu64 "] user %" PRId64
                            ": first page source \"%s\", expected \"%s\"\n", phase, w->seed,
                            user, source, first_source);
                    failed++;
                }
                odb_posts_free(&want);
            }
        }
    }
    fprintf(stderr, "oracle [%s, seed %" PRIu64 "]: %zu users, %zu walks, %zu failed, %lld ms\n",
            phase, w->seed, w->nusers + nextra, walks, failed, odb_now_ms() - t0);
    return failed;
}

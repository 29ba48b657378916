/* PostgreSQL pool: libpq's asynchronous API driven by the libuv loop. The
 * contract is in pg.h; this comment is about how it is kept.
 *
 * A connection moves through
 *
 *   DOWN --timer--> [RESOLVING] --> CONNECTING --PQconnectPoll OK--> PREPARING
 *        --all prepared--> IDLE <--> BUSY
 *
 * and from any state back to DOWN on a failure, where its timer waits out a
 * backoff before the next attempt. The one timer per connection serves
 * whatever the state waits on: the backoff (DOWN), the connect timeout
 * (CONNECTING, PREPARING: preparing is part of connecting) or the running
 * query's deadline (BUSY). The pool has one more timer, `qtimer`, for the
 * wait queue: it fires at the deadline of the queue's head (every query gets
 * the same timeout, so the head always expires first).
 *
 * Names. libpq would resolve a host= name with a blocking getaddrinfo in
 * PQconnectStart, on the loop's thread. When the conninfo has names
 * (pg_hosts.h), every attempt first resolves each of them on the thread
 * pool (RESOLVING: util/resolve.h; no timer runs, a lookup ends on its own),
 * then hands libpq the addresses as hostaddr= beside host=, so libpq never
 * looks anything up. A conninfo without names goes to libpq as it is.
 *
 * Re-entrancy. A callback may issue queries or close the pool. So callbacks
 * run only once the connection and the pool are consistent, and the code
 * returns right after one (or checks `closing`). And no pg_query_* function
 * ever calls a callback: a query refused at the call (a bad call, not
 * connected, the queue full, the pool closing) or that fails while it is
 * being sent is parked on the `done` list, and the `defer` idle handle
 * completes it on the next loop iteration. An idle handle rather than a zero
 * timer: libuv 1.44 runs a timer re-armed from its own callback again in the
 * same pass, so a caller that retries on failure would never leave it.
 *
 * Sockets. libpq may close its socket and open another, often with the same
 * fd number, while connecting (next address, SSL refused). An epoll
 * registration belongs to the old socket, so the poll handle is stopped
 * before every PQconnectPoll and started again on PQsocket afterwards, and
 * replaced when the number changes. libpq also closes the socket itself when
 * it sees the connection fail; the handle is then closed before anything
 * else can open a file that would reuse the number. */
#include "store/pg/pg.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/num.h"
#include "util/resolve.h"
#include "store/pg/pg_hosts.h"

#define PG_DEFAULT_TIMEOUT_MS   5000u
#define PG_DEFAULT_MAX_QUEUED   1024u
#define PG_DEFAULT_RETRY_MIN_MS 100u
#define PG_DEFAULT_RETRY_MAX_MS 5000u
/* A connection lost sooner than this after it came up counts as a failed
 * attempt, so that a server that accepts and then drops us is retried with a
 * growing backoff instead of in a tight loop. */
#define PG_STABLE_MS            10000u
/* At most one warning per this interval and pool during a retry storm; the
 * next one says how many were suppressed. */
#define PG_LOG_INTERVAL_MS      10000u
#define PG_MSG_MAX              512

#define PG_STMT_ADHOC PGQ__COUNT    /* pg_query_sql*: histogram label "adhoc" */

#define PG_METRICS(ACTION) \
    ACTION(pg_queries_total, METRIC_COUNTER, "PostgreSQL queries requested, including ones refused for lack of a connection") \
    ACTION(pg_errors_total, METRIC_COUNTER, "PostgreSQL queries that did not succeed: server errors, refusals, lost connections and timeouts") \
    ACTION(pg_timeouts_total, METRIC_COUNTER, "PostgreSQL queries that failed because their deadline passed, queued or running") \
    ACTION(pg_reconnects_total, METRIC_COUNTER, "PostgreSQL connection attempts after a failure or a lost connection") \
    ACTION(pg_connections, METRIC_GAUGE, "PostgreSQL connections up with every statement prepared")

typedef struct { PG_METRICS(METRIC_FIELD) } pg_metrics_t;

/* Shared by every pool: the registry holds one series per name anyway. */
static pg_metrics_t pg_metrics;
static metric_t *pg_duration[PGQ__COUNT + 1];

typedef struct pg_req {
    list_t link;                /* in the queue, the done list or a local list */
    int stmt;                   /* pg_stmt_t, or PG_STMT_ADHOC */
    char *sql;                  /* ad-hoc statement, NULL for a prepared one */
    int nparams;
    char **values;              /* copies: the caller's may be gone when it runs */
    int *lengths;
    int *formats;
    int result_format;
    pg_result_fn *cb;
    void *privdata;
    uint64_t deadline;          /* uv_now() milliseconds */
    uint64_t started_ns;        /* uv_hrtime(), for the duration histogram */
    int send_failures;
    int refused;                /* failed at the call: never sent, no duration */
    pg_status_t status;         /* while parked on the done list */
    char *errmsg;               /* likewise */
} pg_req_t;

/* A FIFO of requests that knows its length (for max_queued and logs). */
typedef struct {
    list_t reqs;                /* pg_req_t.link */
    unsigned n;
} req_list_t;

typedef enum {
    CONN_DOWN,
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_PREPARING,
    CONN_IDLE,
    CONN_BUSY,
} conn_state_t;

struct pg_conn;

/* One host name being looked up for a connection attempt. */
typedef struct {
    struct pg_conn *c;
    resolve_t *r;               /* NULL when done or not needed */
} pg_lookup_t;

typedef struct pg_conn {
    pg_pool_t *pool;
    int index;
    conn_state_t state;
    PGconn *pg;
    uv_poll_t *poll;            /* NULL when no socket is watched */
    int poll_fd;
    int poll_events;            /* events the handle is started with, 0 = stopped */
    uv_timer_t timer;
    int flushing;               /* PQflush returned 1: output still queued */
    int prep_next;              /* next pg_queries[] entry to prepare */
    pg_req_t *req;              /* running query (BUSY) */
    PGresult *result;           /* its result, kept until libpq says it is done */
    unsigned failures;          /* consecutive failed attempts, for the logs */
    int first_done;             /* its first connection attempt has ended */
    backoff_t backoff;          /* reconnect delays (retry_min_ms .. retry_max_ms) */
    uint64_t up_since;
    pg_lookup_t *lookups;       /* per pool->hosts entry (RESOLVING) */
    resolve_result_t *results;  /* their results */
    size_t lookups_left;
} pg_conn_t;

/* A token bucket: bursts of `burst` lines (one event touching every
 * connection), then one line per PG_LOG_INTERVAL_MS. */
typedef struct {
    uint64_t last;              /* when tokens were last refilled */
    unsigned tokens;
    unsigned burst;
    unsigned suppressed;
} ratelimit_t;

struct pg_pool {
    uv_loop_t *loop;
    char *conninfo;
    char *name;
    int size;
    unsigned timeout_ms;
    unsigned max_queued;
    unsigned retry_min_ms;
    unsigned retry_max_ms;
    pg_conn_t *conns;
    int nready;
    int first_pending;          /* connections whose first attempt is under way */
    int next_conn;              /* round robin over idle connections */
    req_list_t queue;           /* waiting for a connection, FIFO */
    req_list_t done;            /* failed before the call returned: completed from defer */
    uv_timer_t qtimer;
    uv_idle_t defer;
    int closing;
    int nhandles;               /* open or closing handles; freed at 0 once closing */
    ratelimit_t warn_limit;
    ratelimit_t info_limit;
    pg_hosts_t hosts;           /* the conninfo's names (hosts.nlookups 0: none) */
    char last_error[PG_MSG_MAX];    /* why the last attempt failed; "" once one is up */
    char refusal[PG_MSG_MAX + 64];  /* "not connected: <last_error>" */
};

/* --- small helpers -------------------------------------------------------- */

static void req_list_init(req_list_t *l)
{
    list_init(&l->reqs);
    l->n = 0;
}

static void req_push(req_list_t *l, pg_req_t *r)
{
    list_insert_tail(&l->reqs, &r->link);
    l->n++;
}

static void req_push_front(req_list_t *l, pg_req_t *r)
{
    list_insert_head(&l->reqs, &r->link);
    l->n++;
}

/* The oldest request, or NULL; req_pop also takes it off the list. */
static pg_req_t *req_peek(const req_list_t *l)
{
    list_t *node = list_first(&l->reqs);
    return node ? list_entry(node, pg_req_t, link) : NULL;
}

static pg_req_t *req_pop(req_list_t *l)
{
    pg_req_t *r = req_peek(l);
    if (r) {
        list_remove(&r->link);
        l->n--;
    }
    return r;
}

/* Moves every request of src to the end of dst; src ends empty. */
static void req_move_all(req_list_t *dst, req_list_t *src)
{
    list_splice_tail(&dst->reqs, &src->reqs);
    dst->n += src->n;
    src->n = 0;
}

/* Copies a libpq message as one line: libpq ends lines with "\n" and
 * indents hints with "\t", which would break logs and RPC error strings. */
static void msg_copy(char *out, size_t n, const char *msg)
{
    if (!msg || !*msg)
        msg = "unknown error";
    size_t j = 0;
    for (const char *p = msg; *p && j + 1 < n; p++) {
        char ch = *p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p;
        if (ch == ' ' && (j == 0 || out[j - 1] == ' '))
            continue;
        out[j++] = ch;
    }
    while (j > 0 && out[j - 1] == ' ')
        j--;
    out[j] = '\0';
}

static const char *str_or(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

/* Logs through a limiter: the first lines of a storm go out, then at most
 * one per PG_LOG_INTERVAL_MS, saying how many were dropped. */
static void pool_log(pg_pool_t *pool, log_level_t level, ratelimit_t *rl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void pool_log(pg_pool_t *pool, log_level_t level, ratelimit_t *rl, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    uint64_t now = uv_now(pool->loop);
    uint64_t refill = (now - rl->last) / PG_LOG_INTERVAL_MS;
    if (refill) {
        rl->tokens = refill >= rl->burst - rl->tokens ? rl->burst : rl->tokens + (unsigned)refill;
        rl->last = now;
    }
    if (rl->tokens == 0) {
        rl->suppressed++;
        return;
    }
    rl->tokens--;
    char msg[PG_MSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rl->suppressed)
        log_write(level, "pg", "%s: %s (%u similar messages suppressed)", pool->name, msg,
                  rl->suppressed);
    else
        log_write(level, "pg", "%s: %s", pool->name, msg);
    rl->suppressed = 0;
}

static void metrics_setup(void)
{
#define METRICS_TARGET (&pg_metrics)
    PG_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET
    metric_family_t *f = metrics_family("feedcache_pg_query_duration_seconds",
        "PostgreSQL query time from request to answer, queueing included, by statement",
        METRIC_HISTOGRAM, NULL, 0);
    const char *names[] = { "query" };
    for (int i = 0; i <= PGQ__COUNT; i++) {
        /* The label is the statement's name without its fc_ prefix. */
        const char *values[] = { i < PGQ__COUNT ? pg_queries[i].name + 3 : "adhoc" };
        pg_duration[i] = metrics_series(f, 1, names, values);
    }
}

/* --- requests --------------------------------------------------------------- */

static void req_free(pg_req_t *r)
{
    free(r->errmsg);
    free(r);
}

/* One allocation holds the request and copies of the SQL and parameters,
 * which refusal() has checked (a binary value has a length). */
static pg_req_t *req_new(pg_pool_t *pool, int stmt, const char *sql, int nparams,
                         const char *const *values, const int *lengths, const int *formats,
                         int result_format, pg_result_fn *cb, void *privdata)
{
    size_t data = sql ? strlen(sql) + 1 : 0;
    for (int i = 0; i < nparams; i++) {
        if (!values || !values[i])
            continue;
        data += (formats && formats[i] ? (size_t)lengths[i] : strlen(values[i])) + 1;
    }
    size_t n = (size_t)nparams;
    size_t size = sizeof(pg_req_t) + n * sizeof(char *) + 2 * n * sizeof(int) + data;
    pg_req_t *r = fc_xcalloc(1, size);
    char *p = (char *)(r + 1);
    r->values = (char **)p;
    p += n * sizeof(char *);
    r->lengths = (int *)p;
    p += n * sizeof(int);
    r->formats = (int *)p;
    p += n * sizeof(int);
    for (int i = 0; i < nparams; i++) {
        r->formats[i] = formats ? formats[i] : 0;
        if (!values || !values[i])
            continue;
        size_t len = r->formats[i] ? (size_t)lengths[i] : strlen(values[i]);
        memcpy(p, values[i], len);
        p[len] = '\0';
        r->values[i] = p;
        r->lengths[i] = (int)len;
        p += len + 1;
    }
    if (sql) {
        r->sql = p;
        memcpy(p, sql, strlen(sql) + 1);
    }
    r->stmt = stmt;
    r->nparams = nparams;
    r->result_format = result_format ? 1 : 0;
    r->cb = cb;
    r->privdata = privdata;
    r->deadline = uv_now(pool->loop) + pool->timeout_ms;
    r->started_ns = uv_hrtime();
    return r;
}

/* Runs the callback and frees the request and the result. */
static void req_finish(pg_req_t *r, pg_status_t status, PGresult *res, const char *msg)
{
    if (status != PG_OK)
        metric_inc(pg_metrics.pg_errors_total);
    if (status != PG_UNAVAILABLE && !r->refused)
        metric_observe(pg_duration[r->stmt], (double)(uv_hrtime() - r->started_ns) / 1e9);
    if (r->cb)
        r->cb(status, status == PG_OK ? res : NULL, status == PG_OK ? NULL : msg, r->privdata);
    PQclear(res);
    req_free(r);
}

static void qtimer_arm(pg_pool_t *pool);
static void on_defer(uv_idle_t *h);

/* Completes r from the loop later: for failures found inside a pg_query_*
 * call. While closing, the idle handle is closed: pg_pool_close or the
 * pool's last close callback completes it. */
static void req_park(pg_pool_t *pool, pg_req_t *r, pg_status_t status, const char *msg)
{
    r->status = status;
    r->errmsg = fc_xstrdup(msg);
    req_push(&pool->done, r);
    if (!pool->closing)
        uv_idle_start(&pool->defer, on_defer);
}

static void on_defer(uv_idle_t *h)
{
    pg_pool_t *pool = h->data;
    /* Only those parked before this turn: a callback that queries again and
     * is refused again is answered on the next iteration, not in this loop. */
    for (unsigned n = pool->done.n; n > 0; n--) {
        pg_req_t *r = req_pop(&pool->done);
        if (!r)
            break;
        req_finish(r, r->status, NULL, r->errmsg);
        if (pool->closing)
            return;
    }
    if (pool->done.n == 0)
        uv_idle_stop(h);
}

/* --- handles ------------------------------------------------------------------- */

static void pool_free(pg_pool_t *pool)
{
    /* Queries made after pg_pool_close: answered now, the pool's last moment.
     * (A callback that queries again on every failure would keep this loop
     * going: give up on a closing pool.) */
    pg_req_t *r;
    while ((r = req_pop(&pool->done)) != NULL)
        req_finish(r, r->status, NULL, r->errmsg);
    for (int i = 0; i < pool->size; i++) {
        free(pool->conns[i].lookups);
        free(pool->conns[i].results);
    }
    pg_hosts_free(&pool->hosts);
    free(pool->conns);
    free(pool->conninfo);
    free(pool->name);
    free(pool);
}

static void handle_closed(pg_pool_t *pool)
{
    if (--pool->nhandles == 0 && pool->closing)
        pool_free(pool);
}

static void on_idle_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void on_poll_closed(uv_handle_t *h)
{
    pg_pool_t *pool = ((pg_conn_t *)h->data)->pool;
    free(h);
    handle_closed(pool);
}

static void conn_close_poll(pg_conn_t *c)
{
    if (c->poll) {
        /* uv_close stops the watcher (and drops the epoll registration) now. */
        uv_close((uv_handle_t *)c->poll, on_poll_closed);
        c->poll = NULL;
        c->poll_events = 0;
    }
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watches libpq's current socket for `events`. Returns 0 or a libuv error. */
static int conn_watch(pg_conn_t *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return UV_EBADF;
    if (c->poll && c->poll_fd != fd)
        conn_close_poll(c);
    if (!c->poll) {
        uv_poll_t *p = fc_xmalloc(sizeof *p);
        int rc = uv_poll_init(c->pool->loop, p, fd);
        if (rc) {
            free(p);
            return rc;
        }
        p->data = c;
        c->poll = p;
        c->poll_fd = fd;
        c->poll_events = 0;
        c->pool->nhandles++;
    }
    if (c->poll_events != events) {
        int rc = uv_poll_start(c->poll, events, on_poll);
        if (rc)
            return rc;
        c->poll_events = events;
    }
    return 0;
}

/* --- connection life ------------------------------------------------------ */

static void conn_start(pg_conn_t *c);
static void dispatch(pg_pool_t *pool);

/* Closes the connection and returns its running request, if any, without
 * calling anything: the caller decides what becomes of the request. */
static pg_req_t *conn_teardown(pg_conn_t *c)
{
    pg_pool_t *pool = c->pool;
    for (size_t i = 0; c->lookups && i < pool->hosts.nhosts; i++) {
        resolve_cancel(c->lookups[i].r);
        c->lookups[i].r = NULL;
    }
    c->lookups_left = 0;
    conn_close_poll(c);   /* before PQfinish closes the socket */
    uv_timer_stop(&c->timer);
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    PQclear(c->result);
    c->result = NULL;
    c->flushing = 0;
    if (c->state == CONN_IDLE || c->state == CONN_BUSY) {
        pool->nready--;
        metric_gauge_add(pg_metrics.pg_connections, -1);
    }
    c->state = CONN_DOWN;
    pg_req_t *r = c->req;
    c->req = NULL;
    return r;
}

static void on_conn_timer(uv_timer_t *t);

/* Until every connection's first attempt has ended, "no connection up" only
 * means "not yet": a query waits for the pool's first connection (within
 * its deadline) instead of failing, since callers send as soon as the
 * service answers ping. Once every first attempt has failed, PostgreSQL is
 * known to be down and queries fail fast. */
static void first_attempt_done(pg_conn_t *c)
{
    if (!c->first_done) {
        c->first_done = 1;
        c->pool->first_pending--;
    }
}

static int known_down(const pg_pool_t *pool)
{
    return pool->nready == 0 && pool->first_pending == 0;
}

static void conn_schedule_retry(pg_conn_t *c)
{
    uv_timer_start(&c->timer, on_conn_timer, backoff_next(&c->backoff), 0);
}

/* Takes a failed or lost connection down and schedules the next attempt.
 * Returns the running request, for the caller to finish or park. */
static pg_req_t *conn_down(pg_conn_t *c, const char *why)
{
    pg_pool_t *pool = c->pool;
    first_attempt_done(c);
    snprintf(pool->last_error, sizeof pool->last_error, "%s", why);
    int was_up = c->state == CONN_IDLE || c->state == CONN_BUSY;
    if (was_up) {
        if (uv_now(pool->loop) - c->up_since < PG_STABLE_MS) {
            c->failures++;
        } else {
            c->failures = 0;
            backoff_reset(&c->backoff);
        }
        pool_log(pool, LOG_WARN, &pool->warn_limit, "conn %d lost: %s", c->index, why);
    } else {
        c->failures++;
        pool_log(pool, LOG_WARN, &pool->warn_limit, "conn %d: connect failed (attempt %u): %s",
                 c->index, c->failures, why);
    }
    pg_req_t *r = conn_teardown(c);
    if (was_up && pool->nready == 0)
        pool_log(pool, LOG_WARN, &pool->warn_limit, "no connection up");
    conn_schedule_retry(c);
    /* With nothing up, the queue fails now rather than at its deadlines. */
    qtimer_arm(pool);
    return r;
}

/* conn_down from a loop callback: the running request fails with `status`.
 * Return right after: the callback may have closed the pool. */
static void conn_fail(pg_conn_t *c, pg_status_t status, const char *why)
{
    char msg[PG_MSG_MAX];
    msg_copy(msg, sizeof msg, why);   /* why may live in the PGconn */
    pg_req_t *r = conn_down(c, msg);
    if (r)
        req_finish(r, status, NULL, msg);
}

static void conn_ready(pg_conn_t *c)
{
    pg_pool_t *pool = c->pool;
    first_attempt_done(c);
    uv_timer_stop(&c->timer);
    c->state = CONN_IDLE;
    c->up_since = uv_now(pool->loop);
    pool->nready++;
    pool->last_error[0] = '\0';
    metric_gauge_add(pg_metrics.pg_connections, 1);
    /* Worth an info line: the pool coming up, or a connection recovering. */
    if (pool->nready == 1 || c->failures)
        pool_log(pool, LOG_INFO, &pool->info_limit, "conn %d up (%s:%s/%s%s%s), %d of %d up",
                 c->index, str_or(PQhost(c->pg), "?"), str_or(PQport(c->pg), "?"),
                 str_or(PQdb(c->pg), "?"), pool->hosts.nlookups ? " via " : "",
                 pool->hosts.nlookups ? str_or(PQhostaddr(c->pg), "?") : "", pool->nready,
                 pool->size);
    else
        log_debug("pg", "%s: conn %d up, %d of %d up", pool->name, c->index, pool->nready,
                  pool->size);
    int rc = conn_watch(c, UV_READABLE);
    if (rc) {
        conn_fail(c, PG_UNAVAILABLE, uv_strerror(rc));
        return;
    }
    dispatch(pool);
}

/* Sends the connection's next PREPARE; when none is left, it is ready. */
static void conn_prepare_next(pg_conn_t *c)
{
    if (c->prep_next >= PGQ__COUNT) {
        conn_ready(c);
        return;
    }
    const pg_query_def_t *q = &pg_queries[c->prep_next];
    if (!PQsendPrepare(c->pg, q->name, q->sql, q->nparams, NULL)) {
        conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(c->pg));
        return;
    }
    int f = PQflush(c->pg);
    if (f < 0) {
        conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(c->pg));
        return;
    }
    c->flushing = f;
    int rc = conn_watch(c, UV_READABLE | (f ? UV_WRITABLE : 0));
    if (rc)
        conn_fail(c, PG_UNAVAILABLE, uv_strerror(rc));
}

static void conn_connected(pg_conn_t *c)
{
    if (PQsetnonblocking(c->pg, 1) != 0) {
        conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(c->pg));
        return;
    }
    c->state = CONN_PREPARING;
    c->prep_next = 0;
    conn_prepare_next(c);
}

/* One step of the connect handshake, on socket readiness. */
static void conn_connect_step(pg_conn_t *c)
{
    /* The socket may be replaced inside PQconnectPoll: stop watching it. */
    if (c->poll && c->poll_events) {
        uv_poll_stop(c->poll);
        c->poll_events = 0;
    }
    int rc;
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_OK:
        conn_connected(c);
        return;
    case PGRES_POLLING_READING:
        rc = conn_watch(c, UV_READABLE);
        break;
    case PGRES_POLLING_WRITING:
        rc = conn_watch(c, UV_WRITABLE);
        break;
    default:
        conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(c->pg));
        return;
    }
    if (rc)
        conn_fail(c, PG_UNAVAILABLE, uv_strerror(rc));
}

/* Server notices and warnings (and a FATAL that arrives while idle) go to
 * our log instead of libpq's default, a raw fprintf to stderr. */
static void on_notice(void *arg, const char *message)
{
    pg_pool_t *pool = arg;
    char msg[PG_MSG_MAX];
    msg_copy(msg, sizeof msg, message);
    pool_log(pool, LOG_WARN, &pool->warn_limit, "server says: %s", msg);
}

/* Hands the connection to libpq: keys/vals with expand_dbname as given. */
static void conn_start_libpq(pg_conn_t *c, const char *const *keys, const char *const *vals,
                             int expand)
{
    pg_pool_t *pool = c->pool;
    c->state = CONN_CONNECTING;
    c->pg = PQconnectStartParams(keys, vals, expand);
    if (!c->pg) {
        conn_fail(c, PG_UNAVAILABLE, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(c->pg));
        return;
    }
    PQsetNoticeProcessor(c->pg, on_notice, pool);
    /* libpq ignores connect_timeout in this mode; this timer is the timeout,
     * and it covers preparing the statements too. */
    uv_timer_start(&c->timer, on_conn_timer, pool->timeout_ms, 0);
    /* Before the first PQconnectPoll, libpq's rule is: wait for writable. */
    int rc = conn_watch(c, UV_WRITABLE);
    if (rc)
        conn_fail(c, PG_UNAVAILABLE, uv_strerror(rc));
}

/* Every name of this attempt is looked up: connect to what resolved. */
static void conn_resolved(pg_conn_t *c)
{
    pg_pool_t *pool = c->pool;
    pg_hosts_params_t p;
    if (pg_hosts_params(&pool->hosts, c->results, "feedcached", &p) != 0) {
        /* Not one name resolved: the first reason stands for all. */
        const char *why = "cannot resolve the host names";
        for (size_t i = 0; i < pool->hosts.nhosts; i++)
            if (pool->hosts.hosts[i].lookup && !c->results[i].ok) {
                why = c->results[i].why;
                break;
            }
        conn_fail(c, PG_UNAVAILABLE, why);
        return;
    }
    for (size_t i = 0; i < pool->hosts.nhosts; i++)
        if (pool->hosts.hosts[i].lookup && !c->results[i].ok)
            log_debug("pg", "%s: conn %d: %s (trying the other hosts)", pool->name, c->index,
                      c->results[i].why);
    conn_start_libpq(c, p.keys, p.vals, 0);
    pg_hosts_params_free(&p);
}

static void on_resolved(const resolve_result_t *res, void *arg)
{
    pg_lookup_t *lk = arg;
    pg_conn_t *c = lk->c;
    lk->r = NULL;
    c->results[lk - c->lookups] = *res;
    if (--c->lookups_left == 0 && c->state == CONN_RESOLVING)
        conn_resolved(c);
}

/* A connection attempt: straight to libpq, or first a fresh lookup of every
 * name in the conninfo (each attempt resolves again, so a name moved by a
 * failover is followed). */
static void conn_start(pg_conn_t *c)
{
    pg_pool_t *pool = c->pool;
    if (pool->hosts.nlookups == 0) {
        const char *keys[] = { "dbname", "fallback_application_name", NULL };
        const char *vals[] = { pool->conninfo, "feedcached", NULL };
        conn_start_libpq(c, keys, vals, 1);
        return;
    }
    c->state = CONN_RESOLVING;
    c->lookups_left = pool->hosts.nlookups;
    for (size_t i = 0; i < pool->hosts.nhosts; i++) {
        memset(&c->results[i], 0, sizeof c->results[i]);
        if (pool->hosts.hosts[i].lookup)
            c->lookups[i].r = resolve_start(pool->loop, pool->hosts.hosts[i].host, on_resolved,
                                            &c->lookups[i]);
    }
}

static void on_conn_timer(uv_timer_t *t)
{
    pg_conn_t *c = container_of(t, pg_conn_t, timer);
    char msg[PG_MSG_MAX];
    switch (c->state) {
    case CONN_DOWN:
        metric_inc(pg_metrics.pg_reconnects_total);
        conn_start(c);
        break;
    case CONN_CONNECTING:
    case CONN_PREPARING:
        snprintf(msg, sizeof msg, "timed out after %u ms", c->pool->timeout_ms);
        conn_fail(c, PG_UNAVAILABLE, msg);
        break;
    case CONN_BUSY:
        /* The only way to stop a running statement without waiting on the
         * server is to drop the connection; the server notices and aborts. */
        metric_inc(pg_metrics.pg_timeouts_total);
        snprintf(msg, sizeof msg, "query timed out after %u ms", c->pool->timeout_ms);
        conn_fail(c, PG_UNAVAILABLE, msg);
        break;
    case CONN_IDLE:
    case CONN_RESOLVING:        /* no timer runs while resolving */
        break;
    }
}

/* --- results ----------------------------------------------------------------- */

/* Maps an error result to a status, writes the message, and says whether the
 * connection is finished (FATAL: the server closes it next). */
static pg_status_t classify_error(const PGresult *res, char *msg, size_t n, int *drop)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    *drop = 0;
    if (!state) {
        /* Made by libpq, not the server: the connection failed under us. */
        msg_copy(msg, n, PQresultErrorMessage(res));
        *drop = 1;
        return PG_UNAVAILABLE;
    }
    char tmp[PG_MSG_MAX - 32];   /* room for the SQLSTATE suffix */
    msg_copy(tmp, sizeof tmp, primary ? primary : PQresultErrorMessage(res));
    snprintf(msg, n, "%s (SQLSTATE %s)", tmp, state);
    if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0)) {
        *drop = 1;
        return PG_UNAVAILABLE;
    }
    /* 08 connection exception, 53 insufficient resources, 57 operator
     * intervention (shutdown, cancel), 58 system error: the statement was
     * fine, the server could not run it now. */
    if (!strncmp(state, "08", 2) || !strncmp(state, "53", 2) || !strncmp(state, "57", 2) ||
        !strncmp(state, "58", 2))
        return PG_UNAVAILABLE;
    return PG_ERROR;
}

/* libpq has delivered every result of the command in flight. */
static void conn_command_done(pg_conn_t *c)
{
    pg_pool_t *pool = c->pool;
    PGresult *res = c->result;
    c->result = NULL;
    char msg[PG_MSG_MAX] = "";

    if (c->state == CONN_PREPARING) {
        const pg_query_def_t *q = &pg_queries[c->prep_next];
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            char why[PG_MSG_MAX - 64];
            msg_copy(why, sizeof why, res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
            snprintf(msg, sizeof msg, "preparing %s failed: %s", q->name, why);
            PQclear(res);
            conn_fail(c, PG_UNAVAILABLE, msg);
            return;
        }
        PQclear(res);
        c->prep_next++;
        conn_prepare_next(c);
        return;
    }

    pg_status_t status = PG_OK;
    int drop = 0;
    if (!res) {
        msg_copy(msg, sizeof msg, PQerrorMessage(c->pg));
        status = PG_UNAVAILABLE;
        drop = 1;
    } else {
        switch (PQresultStatus(res)) {
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            break;
        default:
            status = classify_error(res, msg, sizeof msg, &drop);
        }
    }
    if (drop || PQstatus(c->pg) == CONNECTION_BAD) {
        PQclear(res);
        conn_fail(c, PG_UNAVAILABLE, msg);
        return;
    }
    pg_req_t *r = c->req;
    c->req = NULL;
    c->state = CONN_IDLE;
    uv_timer_stop(&c->timer);
    int rc = conn_watch(c, UV_READABLE);
    req_finish(r, status, res, msg);
    if (pool->closing)
        return;
    if (rc && c->state == CONN_IDLE) {
        conn_fail(c, PG_UNAVAILABLE, uv_strerror(rc));
        return;
    }
    dispatch(pool);
}

/* Socket readiness on a connected connection (PREPARING, IDLE, BUSY). */
static void conn_io(pg_conn_t *c, int events)
{
    PGconn *pg = c->pg;
    if ((events & UV_READABLE) && !PQconsumeInput(pg)) {
        conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(pg));
        return;
    }
    /* Output left over from a send: writable, or readable (libpq's rule:
     * consume input, then flush again). */
    if (c->flushing) {
        int f = PQflush(pg);
        if (f < 0) {
            conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(pg));
            return;
        }
        c->flushing = f;
    }
    if (c->state == CONN_IDLE) {
        /* Nothing is expected: parse what came (notices, a FATAL before a
         * shutdown) and notice a closed connection now, not at the next query. */
        PQisBusy(pg);
        PGnotify *n;
        while ((n = PQnotifies(pg)) != NULL)
            PQfreemem(n);
        if (PQstatus(pg) == CONNECTION_BAD)
            conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(pg));
        return;
    }
    while (!PQisBusy(pg)) {
        PGresult *res = PQgetResult(pg);
        if (!res) {
            conn_command_done(c);
            return;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            /* Only an ad-hoc statement can get here; the connection is stuck
             * in COPY mode, so it goes. */
            PQclear(res);
            conn_fail(c, PG_ERROR, "COPY is not supported");
            return;
        }
        /* One statement gives one result; should there be more, an error
         * wins over a success. */
        if (!c->result) {
            c->result = res;
        } else if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) &&
                   PQresultStatus(c->result) != PGRES_FATAL_ERROR) {
            PQclear(c->result);
            c->result = res;
        } else {
            PQclear(res);
        }
    }
    if (PQstatus(pg) == CONNECTION_BAD) {
        conn_fail(c, PG_UNAVAILABLE, PQerrorMessage(pg));
        return;
    }
    int rc = conn_watch(c, UV_READABLE | (c->flushing ? UV_WRITABLE : 0));
    if (rc)
        conn_fail(c, PG_UNAVAILABLE, uv_strerror(rc));
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    pg_conn_t *c = h->data;
    if (status < 0) {
        /* libuv has stopped the handle. Let libpq meet the error itself
         * (calling it as if the socket were ready) so it reports it. */
        c->poll_events = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    if (c->state == CONN_CONNECTING)
        conn_connect_step(c);
    else if (c->state != CONN_DOWN)
        conn_io(c, events);
}

/* --- dispatch ---------------------------------------------------------------- */

static pg_conn_t *idle_conn(pg_pool_t *pool)
{
    for (int i = 0; i < pool->size; i++) {
        pg_conn_t *c = &pool->conns[(pool->next_conn + i) % pool->size];
        if (c->state == CONN_IDLE) {
            pool->next_conn = (c->index + 1) % pool->size;
            return c;
        }
    }
    return NULL;
}

/* Sends r on the idle connection c. Calls no callback (pg_query_* may be on the
 * stack): a request that could not be sent goes back to the head of the
 * queue, once, since nothing reached the server; one that may have been
 * partly sent is parked as failed. */
static void conn_send(pg_conn_t *c, pg_req_t *r)
{
    pg_pool_t *pool = c->pool;
    char msg[PG_MSG_MAX];
    int ok = r->sql
        ? PQsendQueryParams(c->pg, r->sql, r->nparams, NULL, (const char *const *)r->values,
                            r->lengths, r->formats, r->result_format)
        : PQsendQueryPrepared(c->pg, pg_queries[r->stmt].name, r->nparams,
                              (const char *const *)r->values, r->lengths, r->formats,
                              r->result_format);
    if (!ok) {
        msg_copy(msg, sizeof msg, PQerrorMessage(c->pg));
        conn_down(c, msg);
        if (++r->send_failures >= 2)
            req_park(pool, r, PG_UNAVAILABLE, msg);
        else
            req_push_front(&pool->queue, r);
        return;
    }
    c->req = r;
    c->state = CONN_BUSY;
    uint64_t now = uv_now(pool->loop);
    uv_timer_start(&c->timer, on_conn_timer, r->deadline > now ? r->deadline - now : 0, 0);
    int f = PQflush(c->pg);
    int rc = 0;
    if (f >= 0) {
        c->flushing = f;
        rc = conn_watch(c, UV_READABLE | (f ? UV_WRITABLE : 0));
    }
    if (f < 0 || rc) {
        msg_copy(msg, sizeof msg, f < 0 ? PQerrorMessage(c->pg) : uv_strerror(rc));
        req_park(pool, conn_down(c, msg), PG_UNAVAILABLE, msg);
    }
}

/* Hands queued requests to idle connections. */
static void dispatch(pg_pool_t *pool)
{
    uint64_t now = uv_now(pool->loop);
    while (pool->queue.n > 0 && !pool->closing) {
        pg_conn_t *c = idle_conn(pool);
        if (!c)
            break;
        pg_req_t *r = req_pop(&pool->queue);
        if (r->deadline <= now) {
            metric_inc(pg_metrics.pg_timeouts_total);
            req_park(pool, r, PG_UNAVAILABLE, "timed out waiting for a PostgreSQL connection");
            continue;
        }
        conn_send(c, r);
    }
    qtimer_arm(pool);
}

static void on_qtimer(uv_timer_t *t)
{
    pg_pool_t *pool = t->data;
    pg_req_t *r;
    uint64_t now = uv_now(pool->loop);
    while ((r = req_peek(&pool->queue)) != NULL && (known_down(pool) || r->deadline <= now)) {
        req_pop(&pool->queue);
        int expired = r->deadline <= now;
        if (expired)
            metric_inc(pg_metrics.pg_timeouts_total);
        req_finish(r, PG_UNAVAILABLE, NULL,
                   expired ? "timed out waiting for a PostgreSQL connection"
                           : "no PostgreSQL connection");
        if (pool->closing)
            return;
    }
    qtimer_arm(pool);
}

static void qtimer_arm(pg_pool_t *pool)
{
    if (pool->closing)
        return;
    if (pool->queue.n > 0 && known_down(pool)) {
        uv_timer_start(&pool->qtimer, on_qtimer, 0, 0);
    } else if (pool->queue.n > 0) {
        uint64_t now = uv_now(pool->loop);
        uint64_t d = req_peek(&pool->queue)->deadline;
        uv_timer_start(&pool->qtimer, on_qtimer, d > now ? d - now : 0, 0);
    } else {
        uv_timer_stop(&pool->qtimer);
    }
}

/* --- public ----------------------------------------------------------------- */

pg_pool_t *pg_pool_create(uv_loop_t *loop, const char *conninfo, const pg_pool_options_t *opts)
{
    pg_pool_options_t o = opts ? *opts : (pg_pool_options_t){ 0 };
    pg_pool_t *pool = fc_xcalloc(1, sizeof *pool);
    pool->loop = loop;
    pool->conninfo = fc_xstrdup(conninfo ? conninfo : "");
    pool->name = fc_xstrdup(o.name && *o.name ? o.name : "pg");
    pool->size = o.size >= 1 ? o.size : 1;
    pool->first_pending = pool->size;
    pool->timeout_ms = o.timeout_ms ? o.timeout_ms : PG_DEFAULT_TIMEOUT_MS;
    pool->max_queued = o.max_queued ? o.max_queued : PG_DEFAULT_MAX_QUEUED;
    pool->retry_min_ms = o.retry_min_ms ? o.retry_min_ms : PG_DEFAULT_RETRY_MIN_MS;
    pool->retry_max_ms = o.retry_max_ms ? o.retry_max_ms : PG_DEFAULT_RETRY_MAX_MS;
    if (pool->retry_max_ms < pool->retry_min_ms)
        pool->retry_max_ms = pool->retry_min_ms;
    pool->warn_limit = (ratelimit_t){ .last = uv_now(loop), .burst = (unsigned)pool->size + 2 };
    pool->warn_limit.tokens = pool->warn_limit.burst;
    pool->info_limit = pool->warn_limit;
    metrics_setup();
    char why[PG_MSG_MAX];
    if (pg_hosts_parse(&pool->hosts, pool->conninfo, getenv("PGHOST"), getenv("PGHOSTADDR"),
                       getenv("PGPORT"), why, sizeof why) != 0) {
        /* libpq will refuse it too, with the same reason, at every attempt. */
        pg_hosts_free(&pool->hosts);
    }

    uv_timer_init(loop, &pool->qtimer);
    pool->qtimer.data = pool;
    uv_idle_init(loop, &pool->defer);
    pool->defer.data = pool;
    pool->nhandles = 2;
    req_list_init(&pool->queue);
    req_list_init(&pool->done);
    pool->conns = fc_xcalloc((size_t)pool->size, sizeof *pool->conns);
    for (int i = 0; i < pool->size; i++) {
        pg_conn_t *c = &pool->conns[i];
        c->pool = pool;
        c->index = i;
        backoff_init(&c->backoff, pool->retry_min_ms, pool->retry_max_ms);
        uv_timer_init(loop, &c->timer);
        c->timer.data = pool;
        pool->nhandles++;
        if (pool->hosts.nlookups) {
            c->lookups = fc_xcalloc(pool->hosts.nhosts, sizeof *c->lookups);
            c->results = fc_xcalloc(pool->hosts.nhosts, sizeof *c->results);
            for (size_t k = 0; k < pool->hosts.nhosts; k++)
                c->lookups[k].c = c;
        }
    }
    log_info("pg", "%s: %d connection(s), timeout %u ms", pool->name, pool->size,
             pool->timeout_ms);
    for (int i = 0; i < pool->size; i++)
        conn_start(&pool->conns[i]);
    return pool;
}

int pg_pool_ready(const pg_pool_t *pool)
{
    return pool && !pool->closing ? pool->nready : 0;
}

bool pg_pool_settled(const pg_pool_t *pool)
{
    return !pool || pool->first_pending == 0;
}

unsigned pg_pool_queued(const pg_pool_t *pool)
{
    return pool ? pool->queue.n : 0;
}

/* Why a request cannot be queued now, or NULL when it can; *status says how
 * it fails. stmt is a pg_stmt_t, or PG_STMT_ADHOC with sql. */
static const char *refusal(pg_pool_t *pool, int stmt, const char *sql, int nparams,
                           const char *const *values, const int *lengths, const int *formats,
                           pg_status_t *status)
{
    *status = PG_ERROR;
    if (nparams < 0 || nparams > 65535 || (nparams > 0 && !values))
        return "bad query parameters";
    for (int i = 0; formats && i < nparams; i++)
        if (formats[i] && values[i] && (!lengths || lengths[i] < 0))
            return "bad query parameters: a binary value needs a length";
    if (stmt == PG_STMT_ADHOC && !sql)
        return "bad call: no SQL";
    if (!sql && (stmt < 0 || stmt >= PGQ__COUNT || nparams != pg_queries[stmt].nparams)) {
        log_error("pg", "%s: bad call for statement %d with %d parameter(s)",
                  pool->name, stmt, nparams);
        return "bad call: unknown statement or wrong parameter count";
    }
    *status = PG_UNAVAILABLE;
    if (pool->closing)
        return "PostgreSQL pool closing";
    if (known_down(pool)) {
        if (!pool->last_error[0])
            return "PostgreSQL is not connected";
        snprintf(pool->refusal, sizeof pool->refusal, "PostgreSQL is not connected: %s",
                 pool->last_error);
        return pool->refusal;
    }
    /* Every connection busy and the queue full: shed load now. */
    if (pool->queue.n >= pool->max_queued && !idle_conn(pool))
        return "PostgreSQL queue is full";
    return NULL;
}

/* Every pg_query_* call ends here, "always call back": the request is
 * queued, or, when it cannot be, parked on the done list with the reason,
 * and cb runs from the loop either way. */
static void submit(pg_pool_t *pool, int stmt, const char *sql, int nparams,
                   const char *const *values, const int *lengths, const int *formats,
                   int result_format, pg_result_fn *cb, void *privdata)
{
    metric_inc(pg_metrics.pg_queries_total);
    pg_status_t status;
    const char *why = refusal(pool, stmt, sql, nparams, values, lengths, formats, &status);
    if (why) {
        /* Nothing to copy, and stmt may not index the duration table. */
        pg_req_t *r = req_new(pool, PG_STMT_ADHOC, NULL, 0, NULL, NULL, NULL, 0, cb, privdata);
        r->refused = 1;
        req_park(pool, r, status, why);
        return;
    }
    req_push(&pool->queue, req_new(pool, stmt, sql, nparams, values, lengths, formats,
                                   result_format, cb, privdata));
    dispatch(pool);
}

/* Parameters of a statement, -1 for a statement not in the table. */
static int stmt_nparams(pg_stmt_t stmt)
{
    return (int)stmt >= 0 && stmt < PGQ__COUNT ? pg_queries[stmt].nparams : -1;
}

void pg_query_i64(pg_pool_t *pool, pg_stmt_t stmt, const int64_t *params, pg_result_fn *cb,
                  void *privdata)
{
    if (!pool) {
        log_error("pg", "pg_query_i64 without a pool: callback dropped");
        return;
    }
    int n = stmt_nparams(stmt);
    char text[PG_MAX_PARAMS][FC_I64_CHARS];
    const char *values[PG_MAX_PARAMS];
    int ok = n >= 0 && (n == 0 || params);
    for (int i = 0; ok && i < n; i++) {
        fc_i64_format(text[i], params[i]);
        values[i] = text[i];
    }
    /* A bad call (unknown statement, NULL params) is refused as PG_ERROR. */
    submit(pool, (int)stmt, NULL, n < 0 ? 0 : n, ok ? values : NULL, NULL, NULL, 0, cb,
           privdata);
}

void pg_query_ids(pg_pool_t *pool, pg_stmt_t stmt, const int64_t *ids, size_t nids,
                  const int64_t *rest, pg_result_fn *cb, void *privdata)
{
    if (!pool) {
        log_error("pg", "pg_query_ids without a pool: callback dropped");
        return;
    }
    int n = stmt_nparams(stmt);
    int ok = n >= 1 && (ids || nids == 0) && (n == 1 || rest);
    /* $1 as an array literal, "{1,2,3}": the statements cast it ($1::int8[]). */
    buf_t arr;
    buf_init(&arr);
    char text[PG_MAX_PARAMS][FC_I64_CHARS];
    const char *values[PG_MAX_PARAMS];
    if (ok) {
        char id[FC_I64_CHARS];
        buf_reserve(&arr, nids * FC_I64_CHARS + 2);
        buf_append(&arr, "{", 1);
        for (size_t i = 0; i < nids; i++) {
            if (i)
                buf_append(&arr, ",", 1);
            buf_append(&arr, id, fc_i64_format(id, ids[i]));
        }
        buf_append(&arr, "}", 1);
        values[0] = arr.data;
        for (int i = 1; i < n; i++) {
            fc_i64_format(text[i], rest[i - 1]);
            values[i] = text[i];
        }
    }
    /* A statement without parameters asked for 1 is refused as a bad call. */
    submit(pool, (int)stmt, NULL, n < 1 ? 1 : n, ok ? values : NULL, NULL, NULL, 0, cb,
           privdata);
    buf_free(&arr);
}

void pg_query_sql_params(pg_pool_t *pool, const char *sql, int nparams,
                         const char *const *values, const int *lengths, const int *formats,
                         int result_format, pg_result_fn *cb, void *privdata)
{
    if (!pool) {
        log_error("pg", "pg_query_sql without a pool: callback dropped");
        return;
    }
    submit(pool, PG_STMT_ADHOC, sql, nparams, values, lengths, formats, result_format, cb,
           privdata);
}

void pg_query_sql(pg_pool_t *pool, const char *sql, pg_result_fn *cb, void *privdata)
{
    pg_query_sql_params(pool, sql, 0, NULL, NULL, NULL, 0, cb, privdata);
}

int pg_conninfo_check(const char *conninfo, char *err, size_t errlen)
{
    if (!conninfo)
        conninfo = "";
    /* libpq's expand_dbname rule, as pg_pool_create uses it: a string with
     * no '=' that is not a URI is just a database name. */
    if (!strchr(conninfo, '=') && strncmp(conninfo, "postgresql://", 13) != 0 &&
        strncmp(conninfo, "postgres://", 11) != 0)
        return 0;
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    if (opts) {
        PQconninfoFree(opts);
        return 0;
    }
    if (err && errlen)
        msg_copy(err, errlen, msg ? msg : "out of memory");
    PQfreemem(msg);
    return -1;
}

void pg_pool_close(pg_pool_t *pool)
{
    if (!pool || pool->closing)
        return;
    pool->closing = 1;
    log_info("pg", "%s: closing (%u queued)", pool->name, pool->queue.n);

    /* Detach everything first, then call back: a callback sees a closed pool. */
    req_list_t failed, done;
    req_list_init(&failed);
    req_list_init(&done);
    for (int i = 0; i < pool->size; i++) {
        pg_conn_t *c = &pool->conns[i];
        pg_req_t *r = conn_teardown(c);
        if (r)
            req_push(&failed, r);
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    }
    req_move_all(&failed, &pool->queue);
    req_move_all(&done, &pool->done);
    uv_close((uv_handle_t *)&pool->qtimer, on_timer_closed);
    uv_close((uv_handle_t *)&pool->defer, on_idle_closed);

    pg_req_t *r;
    while ((r = req_pop(&done)) != NULL)
        req_finish(r, r->status, NULL, r->errmsg);
    while ((r = req_pop(&failed)) != NULL)
        req_finish(r, PG_UNAVAILABLE, NULL, "PostgreSQL pool closing");
}

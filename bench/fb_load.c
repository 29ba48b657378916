/* The load of feedbench: worker threads, each driving its share of the
 * connections with the blocking client (one fc_client_t per connection).
 *
 * Closed loop: every connection keeps --depth operations in flight; an
 * operation's latency runs from just before it was started (for a publish,
 * before its PostgreSQL INSERT) to its answer.
 *
 * Open loop (--rate R): every connection has a fixed schedule of R/conns
 * operations per second, and an operation's latency runs from its
 * *scheduled* time, not from when it was actually sent: when the service
 * (or this generator) falls behind, the queueing shows up in the
 * percentiles instead of being hidden (no coordinated omission). Sends more
 * than 1 ms behind schedule are counted as late. With --drop, an operation
 * that falls due while its connection already has --max-inflight in flight
 * is not sent but counted as dropped (a client with a bounded queue), so the
 * offered rate stays what was asked for; without it, it waits (the schedule
 * slips, and its latency still counts from its scheduled time).
 *
 * Phases (--phases, fb_phase.h): the rate changes at each phase boundary
 * without a pause; answers and drops are counted per phase as well.
 *
 * Errors are never retried: an OVERLOADED answer is counted as shed, so
 * that goodput (successful operations per second) stays honest.
 *
 * Waiting: a thread drains whatever answers are already there (one poll()
 * over its connections, then reads on the ready ones), then blocks on the
 * connection with the oldest operation in flight, so an answer is taken as
 * soon as it arrives. In open loop it blocks at most until
 * the next scheduled send; as the client's timeouts are whole milliseconds,
 * an operation due within the next millisecond is sent at once, and then its
 * latency counts from when it was actually sent (never before it was).
 *
 * What an operation sends (the timeline API's way: PostgreSQL first):
 *   read      timeline.get {user_id, limit, hydrate}
 *   read-cold timeline.invalidate {user_id}, then timeline.get on the same
 *             connection (requests are processed in arrival order): the get
 *             rebuilds the feed. Only the get's latency is recorded.
 *   publish   INSERT INTO posts (all publishes a thread starts at once in
 *             one statement), then post.publish {id, author_id, created_at,
 *             body}; with --insert-only the INSERT alone, its latency to
 *             the INSERT's end (the caller's own write, without feedcache)
 *   follow    INSERT INTO follows ... ON CONFLICT DO NOTHING, then follow
 *             {follower_id, followee_id}; the follower is drawn like a
 *             reader (--dist), the followee uniformly
 *   unfollow  DELETE FROM follows of one existing edge of a follower drawn
 *             like a reader (--dist): the edge to the first followee at or
 *             after a uniformly random id, wrapping around (two index-only
 *             lookups on the primary key); then unfollow {follower_id,
 *             followee_id}. A follower with no edge left sends nothing and
 *             counts as unfollow_none.
 * A thread's PostgreSQL writes of one batch go in one round trip: the
 * DELETE first (so an unfollow never takes an edge that a follow of the
 * same batch inserts: its RPC could then overtake the follow's), then the
 * INSERTs. Another thread's follow of the same edge can still race with an
 * unfollow; the daemon's state may then differ from PostgreSQL's for that
 * edge, which does not matter to what is measured. */
#include "feedbench.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "bench_rand.h"
#include "feedcache/client.h"
#include "util/buf.h"

#define FL_INVALIDATE OP__COUNT     /* a flight whose answer is only checked */
#define ISSUE_MAX 256               /* operations started in one go */
#define LATE_S 0.001
#define EARLY_S 0.001               /* open loop: send this much early rather than sleep */
#define CONNECT_TIMEOUT_MS 5000
#define DRAIN_S 10.0                /* after the window: wait this long for answers */

typedef struct {
    uint32_t msgid;
    uint8_t op;
    double t0;
    double sent;                /* when the request was sent (after a publish's INSERT) */
} flight_t;

typedef struct {
    fc_client_t *c;
    flight_t *fl;
    int nfl, cap;
    int nops;                   /* flights that are operations (not invalidates) */
    double next_send;           /* open loop */
    double spread;              /* open loop: its offset, a fraction of the interval */
} conn_t;

typedef struct {
    uint8_t op;
    bool skip;                  /* unfollow: no edge to remove, nothing is sent */
    int64_t a, b;               /* read: user; publish: id, author; (un)follow: follower,
                                 * followee (unfollow: before the DELETE, where the search
                                 * for an edge starts) */
    int64_t ts;
    size_t body_off, body_len;
    double t0;
} op_t;

typedef struct {
    struct fb_load *l;
    int id;
    conn_t *conns;
    int nconns;
    rng_t rng;
    PGconn *pg;
    fc_params_t p;
    buf_t sql, body;
    op_t ops[ISSUE_MAX];
    bool exhausted;             /* --requests reached */
    fb_result_t res;
    pthread_t th;
} worker_t;

struct fb_load {
    const fb_opts_t *o;
    worker_t *w;
    int nw;
    pthread_barrier_t start;
    double t0, t1;
    zipf_t zipf;
    atomic_int_fast64_t next_post_id;
    atomic_int_fast64_t issued;
};

double fb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t fb_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fb_result_init(fb_result_t *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < OP__COUNT; i++)
        hist_init(&r->hist[i]);
    hist_init(&r->pg_hist);
    hist_init(&r->publish_rpc);
    for (int i = 0; i < FB_MAX_PHASES; i++)
        fb_phase_res_init(&r->phase[i]);
}

void fb_result_error(fb_result_t *r, const char *fmt, ...)
{
    if (r->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first_error, sizeof r->first_error, fmt, ap);
    va_end(ap);
}

static void sleep_until(double t)
{
    struct timespec ts;
    double now = fb_now();
    if (t <= now)
        return;
    double d = t - now;
    ts.tv_sec = (time_t)d;
    ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

/* ---- choosing users ----------------------------------------------------- */

/* Claims one operation of --requests; false once they are all taken. */
static bool claim(worker_t *w, int64_t *seq)
{
    const fb_opts_t *o = w->l->o;
    int64_t n = atomic_fetch_add(&w->l->issued, 1);
    *seq = n;
    if (o->requests > 0 && n >= o->requests) {
        w->exhausted = true;
        return false;
    }
    return true;
}

static int64_t pick_user(worker_t *w, int64_t seq)
{
    const fb_opts_t *o = w->l->o;
    switch (o->dist) {
    case DIST_ZIPF:
        return 1 + zipf_draw(&w->l->zipf, &w->rng);
    case DIST_SEQ:
        return seq % o->users + 1;
    default:
        return 1 + (int64_t)rng_below(&w->rng, (uint64_t)o->users);
    }
}

static fb_op_t pick_op(worker_t *w)
{
    const fb_opts_t *o = w->l->o;
    switch (o->workload) {
    case WL_PUBLISH:
        return OP_PUBLISH;
    case WL_MIXED: {
        int r = (int)rng_below(&w->rng, 100);
        if (r < o->pct_publish)
            return OP_PUBLISH;
        if (r < o->pct_publish + o->pct_follow)
            return OP_FOLLOW;
        if (r < o->pct_publish + o->pct_follow + o->pct_unfollow)
            return OP_UNFOLLOW;
        return OP_READ;
    }
    default:
        return OP_READ;
    }
}

/* ---- flights -------------------------------------------------------------- */

static void flight_add(conn_t *cn, uint32_t msgid, uint8_t op, double t0)
{
    if (cn->nfl == cn->cap) {
        cn->cap = cn->cap ? 2 * cn->cap : 64;
        cn->fl = fc_xrealloc(cn->fl, (size_t)cn->cap * sizeof *cn->fl);
    }
    cn->fl[cn->nfl++] = (flight_t){ msgid, op, t0, fb_now() };
    if (op != FL_INVALIDATE)
        cn->nops++;
}

/* Removes the flight of msgid into *out; -1 when there is none. */
static int flight_take(conn_t *cn, uint32_t msgid, flight_t *out)
{
    /* Answers mostly come in order: the oldest flights are at the front
     * until swaps mix them, so this finds them early. */
    for (int i = 0; i < cn->nfl; i++) {
        if (cn->fl[i].msgid != msgid)
            continue;
        *out = cn->fl[i];
        cn->fl[i] = cn->fl[--cn->nfl];
        if (out->op != FL_INVALIDATE)
            cn->nops--;
        return 0;
    }
    return -1;
}

static double oldest(const conn_t *cn)
{
    double t = INFINITY;
    for (int i = 0; i < cn->nfl; i++)
        if (cn->fl[i].t0 < t)
            t = cn->fl[i].t0;
    return t;
}

/* ---- starting operations ---------------------------------------------------- */

static int fail(worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(worker_t *w, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fb_result_error(&w->res, "%s", msg);
    w->res.failed = true;
    return -1;
}

/* Gives the edges a DELETE ... RETURNING removed to the unfollows of
 * ops, by follower (each unfollow starts out skipped). */
static void assign_unfollows(worker_t *w, int n, const PGresult *r)
{
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t follower = strtoll(PQgetvalue(r, row, 0), NULL, 10);
        int64_t followee = strtoll(PQgetvalue(r, row, 1), NULL, 10);
        for (int i = 0; i < n; i++) {
            op_t *op = &w->ops[i];
            if (op->op == OP_UNFOLLOW && op->skip && op->a == follower) {
                op->b = followee;
                op->skip = false;
                break;
            }
        }
    }
}

/* The PostgreSQL side of the publishes, follows and unfollows among ops:
 * one round trip for all of them (up to three statements in one simple
 * query; see the top of the file for their order). */
static int write_pg(worker_t *w, int n)
{
    buf_t *q = &w->sql;
    buf_reset(q);
    int posts = 0, follows = 0, unfollows = 0;
    for (int i = 0; i < n; i++) {
        const op_t *op = &w->ops[i];
        if (op->op != OP_UNFOLLOW)
            continue;
        buf_puts(q, unfollows++ ? "," :
                 "DELETE FROM follows f USING (SELECT DISTINCT v.u, coalesce("
                 "(SELECT min(x.followee_id) FROM follows x WHERE x.follower_id = v.u"
                 " AND x.followee_id >= v.t), "
                 "(SELECT min(x.followee_id) FROM follows x WHERE x.follower_id = v.u)) AS e "
                 "FROM (VALUES ");
        buf_printf(q, "(%" PRId64 "::int8,%" PRId64 "::int8)", op->a, op->b);
    }
    if (unfollows)
        buf_puts(q, ") v(u, t)) p WHERE f.follower_id = p.u AND f.followee_id = p.e"
                    " RETURNING f.follower_id, f.followee_id;\n");
    for (int i = 0; i < n; i++) {
        const op_t *op = &w->ops[i];
        if (op->op != OP_PUBLISH)
            continue;
        buf_puts(q, posts++ ? ",\n" : "INSERT INTO posts (id, author_id, created_at, body) VALUES ");
        buf_printf(q, "(%" PRId64 ",%" PRId64 ",'epoch'::timestamptz + %" PRId64
                      " * interval '1 millisecond','",
                   op->a, op->b, op->ts);
        buf_append(q, w->body.data + op->body_off, op->body_len);
        buf_puts(q, "')");
    }
    if (posts)
        buf_puts(q, ";\n");
    for (int i = 0; i < n; i++) {
        const op_t *op = &w->ops[i];
        if (op->op != OP_FOLLOW)
            continue;
        buf_puts(q, follows++ ? "," : "INSERT INTO follows (follower_id, followee_id) VALUES ");
        buf_printf(q, "(%" PRId64 ",%" PRId64 ")", op->a, op->b);
    }
    if (follows)
        buf_puts(q, " ON CONFLICT DO NOTHING;");
    if (!posts && !follows && !unfollows)
        return 0;
    double t = fb_now();
    /* The statements run as one transaction. Two threads' DELETEs and
     * INSERTs of the same edges can deadlock (rarely: it takes crossed
     * edges in both batches); PostgreSQL then aborts one, which is tried
     * again, as an application would. */
    for (int attempt = 1;; attempt++) {
        for (int i = 0; i < n; i++)
            if (w->ops[i].op == OP_UNFOLLOW)
                w->ops[i].skip = true;
        if (!PQsendQuery(w->pg, q->data))
            return fail(w, "PostgreSQL: %s", PQerrorMessage(w->pg));
        /* One result per statement; the DELETE's rows name the edges. */
        char err[256] = "";
        bool retry = false;
        PGresult *r;
        while ((r = PQgetResult(w->pg)) != NULL) {
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_TUPLES_OK) {
                assign_unfollows(w, n, r);
            } else if (st != PGRES_COMMAND_OK && !err[0]) {
                const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                retry = state && (!strcmp(state, "40P01") || !strcmp(state, "40001"));
                snprintf(err, sizeof err, "%s", PQresultErrorMessage(r));
            }
            PQclear(r);
        }
        if (!err[0])
            break;
        if (!retry || attempt >= 3)
            return fail(w, "PostgreSQL: %s", err);
    }
    hist_record(&w->res.pg_hist, (uint64_t)((fb_now() - t) * 1e9));
    return 0;
}

/* Corked, a send only queues bytes; FC_ETIMEDOUT would also leave the
 * request queued. Anything else means the connection is gone. */
static bool sent_ok(fc_client_t *c, const char *method, const fc_params_t *p, uint32_t *id)
{
    int rc = fc_client_send(c, method, p, id);
    return rc == FC_OK || rc == FC_ETIMEDOUT;
}

static int send_op(worker_t *w, conn_t *cn, const op_t *op)
{
    const fb_opts_t *o = w->l->o;
    fc_params_t *p = &w->p;
    uint32_t id;
    fc_params_reset(p);
    switch (op->op) {
    case OP_READ:
        if (o->workload == WL_READ_COLD) {
            fc_params_int(p, "user_id", op->a);
            if (!sent_ok(cn->c, "timeline.invalidate", p, &id))
                goto failed;
            flight_add(cn, id, FL_INVALIDATE, op->t0);
            fc_params_reset(p);
        }
        fc_params_int(p, "user_id", op->a);
        fc_params_int(p, "limit", o->limit);
        fc_params_bool(p, "hydrate", o->hydrate);
        if (!sent_ok(cn->c, "timeline.get", p, &id))
            goto failed;
        break;
    case OP_PUBLISH: {
        fc_params_int(p, "id", op->a);
        fc_params_int(p, "author_id", op->b);
        fc_params_int(p, "created_at", op->ts);
        msgpack_packer *pk = fc_params_value(p, "body");
        msgpack_pack_str(pk, op->body_len);
        msgpack_pack_str_body(pk, w->body.data + op->body_off, op->body_len);
        if (!sent_ok(cn->c, "post.publish", p, &id))
            goto failed;
        break;
    }
    default:
        fc_params_int(p, "follower_id", op->a);
        fc_params_int(p, "followee_id", op->b);
        if (!sent_ok(cn->c, op->op == OP_UNFOLLOW ? "unfollow" : "follow", p, &id))
            goto failed;
        break;
    }
    flight_add(cn, id, op->op, op->t0);
    return 0;
failed:
    return fail(w, "send to %s: %s", fc_client_addr(cn->c), fc_client_error(cn->c));
}

/* Starts n operations on cn with start times t0[i] (fewer once --requests
 * runs out). Returns how many were started, or -1. */
static int issue(worker_t *w, conn_t *cn, int n, const double *t0)
{
    const fb_opts_t *o = w->l->o;
    bool writes = false;
    buf_reset(&w->body);
    int k = 0;
    for (; k < n; k++) {
        int64_t seq;
        if (!claim(w, &seq))
            break;
        op_t *op = &w->ops[k];
        op->op = (uint8_t)pick_op(w);
        op->skip = false;
        op->t0 = t0[k];
        switch (op->op) {
        case OP_READ:
            op->a = pick_user(w, seq);
            break;
        case OP_PUBLISH:
            op->a = atomic_fetch_add(&w->l->next_post_id, 1);
            op->b = pick_user(w, seq);
            op->ts = fb_wall_ms();
            op->body_off = w->body.len;
            rng_body(&w->rng, &w->body);
            op->body_len = w->body.len - op->body_off;
            writes = true;
            break;
        default:        /* follow, unfollow */
            op->a = pick_user(w, seq);
            do
                op->b = 1 + (int64_t)rng_below(&w->rng, (uint64_t)o->users);
            while (op->b == op->a && o->users > 1 && op->op == OP_FOLLOW);
            writes = true;
            break;
        }
    }
    if (writes && write_pg(w, k) != 0)
        return -1;
    double written = fb_now();
    for (int i = 0; i < k; i++) {
        const op_t *op = &w->ops[i];
        if (op->op == OP_PUBLISH && o->insert_only) {
            /* Done with its INSERT: recorded like an answer (not sent). */
            if (written >= w->l->t0 && written < w->l->t1)
                hist_record(&w->res.hist[OP_PUBLISH],
                            written > op->t0 ? (uint64_t)((written - op->t0) * 1e9) : 0);
            continue;
        }
        if (op->skip) {
            if (op->t0 >= w->l->t0 && op->t0 < w->l->t1)
                w->res.unfollow_none++;
            continue;
        }
        if (send_op(w, cn, op) != 0)
            return -1;
        w->res.sent++;
    }
    return k;
}

/* ---- answers ---------------------------------------------------------------- */

static void check_read(worker_t *w, const fc_response_t *r)
{
    const msgpack_object *posts = fc_obj_get(&r->result, "posts");
    if (posts && posts->type == MSGPACK_OBJECT_ARRAY)
        w->res.posts += posts->via.array.size;
    const msgpack_object *src = fc_obj_get(&r->result, "source");
    if (fc_obj_str_eq(src, "cache"))
        w->res.src_cache++;
    else if (fc_obj_str_eq(src, "rebuilt"))
        w->res.src_rebuilt++;
    else
        w->res.src_db++;
    bool degraded = false;
    if (fc_obj_bool(fc_obj_get(&r->result, "degraded"), &degraded) == 0 && degraded)
        w->res.degraded++;
}

/* The phase holding t, or NULL (no phases, or t outside the window). */
static fb_phase_res_t *phase_res(worker_t *w, double t)
{
    const fb_phases_t *p = &w->l->o->phases;
    int i = p->n ? fb_phases_at(p, w->l->t0, t) : -1;
    return i >= 0 && i < p->n ? &w->res.phase[i] : NULL;
}

/* When the phase holding t (in the window) started. */
static double phase_start(worker_t *w, double t)
{
    const fb_phases_t *p = &w->l->o->phases;
    return fb_phases_start(p, w->l->t0, fb_phases_at(p, w->l->t0, t));
}

static int take(worker_t *w, conn_t *cn, fc_response_t *r, double now)
{
    struct fb_load *l = w->l;
    flight_t f;
    if (flight_take(cn, r->msgid, &f) != 0)
        return fail(w, "answer for unknown msgid %u", (unsigned)r->msgid);
    fb_op_t op = f.op == FL_INVALIDATE ? OP_READ : (fb_op_t)f.op;
    bool in_window = now >= l->t0 && now < l->t1;
    fb_phase_res_t *ph = phase_res(w, now);
    if (!r->ok) {
        w->res.errors[op]++;
        fb_result_error(&w->res, "%s: %s", r->code[0] ? r->code : "error", r->message);
        fb_code_t code = fb_code_of(r->code);
        if (in_window)
            w->res.codes[code]++;
        if (ph) {
            ph->codes[code]++;
            fb_phase_res_failed(ph, now - phase_start(w, now));
        }
        return 0;
    }
    if (f.op == FL_INVALIDATE)
        return 0;
    uint64_t lat_ns = now > f.t0 ? (uint64_t)((now - f.t0) * 1e9) : 0;
    fb_phase_res_t *due = phase_res(w, f.t0);
    if (due) {
        double into = f.t0 - phase_start(w, f.t0);    /* s into its phase */
        hist_record(&due->served, lat_ns);
        if (into < FB_PHASE_ONSET_S)
            hist_record(&due->onset, lat_ns);
        if (into < FB_PHASE_EARLY_S)
            due->early_ok++;
        else
            hist_record(&due->settled, lat_ns);
    }
    if (ph)
        ph->ok++;
    if (!in_window)
        return 0;
    hist_record(&w->res.hist[op], lat_ns);
    if (op == OP_READ) {
        check_read(w, r);
    } else if (op == OP_PUBLISH) {
        hist_record(&w->res.publish_rpc, now > f.sent ? (uint64_t)((now - f.sent) * 1e9) : 0);
        if (fc_obj_str_eq(fc_obj_get(&r->result, "mode"), "celebrity"))
            w->res.mode_celebrity++;
        else
            w->res.mode_fanout++;
    }
    return 0;
}

/* Receives one answer within timeout_ms. 1: got one; 0: none yet; -1. */
static int recv_one(worker_t *w, conn_t *cn, int timeout_ms)
{
    fc_response_t r;
    fc_client_set_timeout(cn->c, timeout_ms);
    int rc = fc_client_recv(cn->c, &r);
    if (rc == FC_ETIMEDOUT)
        return 0;
    if (rc != FC_OK)
        return fail(w, "%s: %s", fc_client_addr(cn->c), fc_client_error(cn->c));
    rc = take(w, cn, &r, fb_now());
    fc_response_free(&r);
    return rc < 0 ? -1 : 1;
}

/* Takes every answer that is already there: one poll() over the
 * connections with operations in flight, then reads on the ready ones
 * only. A poll of each connection in turn, most of them finding nothing,
 * was ~1.3 system calls per request at 4x overload, and feedbench then
 * used more of the two CPUs than in the capacity run it is compared with
 * (0.61 cores against 0.42; 0.50 with this). Returns how many, or -1. */
static int drain_ready(worker_t *w)
{
    struct pollfd pfd[w->nconns];
    int idx[w->nconns], n = 0, got = 0;
    for (int i = 0; i < w->nconns; i++) {
        if (w->conns[i].nfl > 0) {
            pfd[n] = (struct pollfd){ .fd = fc_client_fd(w->conns[i].c), .events = POLLIN };
            idx[n++] = i;
        }
    }
    if (n == 0)
        return 0;
    int ready = poll(pfd, (nfds_t)n, 0);
    if (ready < 0)
        return errno == EINTR ? 0 : fail(w, "poll: %s", strerror(errno));
    for (int k = 0; k < n && ready > 0; k++) {
        if (!pfd[k].revents)
            continue;
        ready--;
        conn_t *cn = &w->conns[idx[k]];
        while (cn->nfl > 0) {
            int rc = recv_one(w, cn, 0);
            if (rc < 0)
                return -1;
            if (rc == 0)
                break;
            got++;
        }
    }
    return got;
}

/* The connection whose operation in flight is oldest: the thread blocks
 * on it alone until its next send is due. Waking for an answer on any
 * connection instead sent the next operations in smaller batches, one
 * send each (a third more sends at 4x overload), which cost more than the
 * polls it saved. */
static conn_t *oldest_conn(worker_t *w)
{
    conn_t *best = NULL;
    double t = INFINITY;
    for (int i = 0; i < w->nconns; i++) {
        double o = oldest(&w->conns[i]);
        if (w->conns[i].nfl > 0 && o <= t) {
            t = o;
            best = &w->conns[i];
        }
    }
    return best;
}

/* ---- the thread ---------------------------------------------------------------- */

/* The open-loop rate at time t: per phase with --phases. */
static double rate_at(worker_t *w, double t)
{
    const fb_opts_t *o = w->l->o;
    return o->phases.n ? fb_phases_rate(&o->phases, w->l->t0, t) : o->rate;
}

/* The send after cn's current one. Each connection keeps its offset within
 * the interval (cn->spread) from one phase to the next: stepping by the
 * old interval into a phase with a longer one would leave every
 * connection's next send within one short interval of the phase's start,
 * so that all of them would send in step for the rest of the run (after a
 * 4x phase, 32 connections sent together every 5 ms at 0.5x: bursts of 32
 * reads the unloaded phase before had never seen). */
static double next_send_after(worker_t *w, const conn_t *cn)
{
    const fb_opts_t *o = w->l->o;
    double next = cn->next_send + o->conns / rate_at(w, cn->next_send);
    if (!o->phases.n)
        return next;
    int from = fb_phases_at(&o->phases, w->l->t0, cn->next_send);
    int to = fb_phases_at(&o->phases, w->l->t0, next);
    if (to == from || to >= o->phases.n)
        return next;
    double start = fb_phases_start(&o->phases, w->l->t0, to);
    return start + cn->spread * o->conns / rate_at(w, start);
}

/* An open-loop operation fell due at t: sent, or dropped at the cap. */
static void count_due(worker_t *w, double t, bool dropped)
{
    fb_phase_res_t *ph = phase_res(w, t);
    if (!ph)
        return;
    double offset = t - phase_start(w, t);
    ph->scheduled++;
    if (offset < FB_PHASE_EARLY_S)
        ph->early_due++;
    if (dropped) {
        ph->dropped++;
        fb_phase_res_failed(ph, offset);
    }
}

/* Starts what is due on every connection. -1 on failure. */
static int issue_due(worker_t *w, double now)
{
    const fb_opts_t *o = w->l->o;
    double t0[ISSUE_MAX];
    for (int i = 0; i < w->nconns && !w->exhausted; i++) {
        conn_t *cn = &w->conns[i];
        int n = 0;
        if (o->rate > 0) {
            while (cn->next_send <= now + EARLY_S && n < ISSUE_MAX) {
                bool full = cn->nops + n >= o->max_inflight;
                if (full && !o->drop)
                    break;
                /* Late: from the scheduled time. Early: from now. */
                double due = cn->next_send > now ? now : cn->next_send;
                bool in_window = due >= w->l->t0 && due < w->l->t1;
                if (!full && now - cn->next_send > LATE_S && in_window)
                    w->res.late++;
                if (full && in_window)
                    w->res.dropped++;
                count_due(w, due, full);
                if (!full)
                    t0[n++] = due;
                cn->next_send = next_send_after(w, cn);
            }
        } else {
            int want = o->depth - cn->nops;
            for (; n < want && n < ISSUE_MAX; n++)
                t0[n] = now;
        }
        if (n > 0) {
            if (issue(w, cn, n, t0) < 0)
                return -1;
            fc_client_set_timeout(cn->c, 0);
            int rc = fc_client_flush(cn->c);
            if (rc != FC_OK && rc != FC_ETIMEDOUT)
                return fail(w, "%s: %s", fc_client_addr(cn->c), fc_client_error(cn->c));
        }
    }
    return 0;
}

static void run(worker_t *w)
{
    const fb_opts_t *o = w->l->o;
    double t1 = w->l->t1;
    double stop_at = 0;
    for (;;) {
        double now = fb_now();
        bool stopping = now >= t1 || w->exhausted;
        if (!stopping && issue_due(w, now) != 0)
            return;
        int inflight = 0;
        for (int i = 0; i < w->nconns; i++)
            inflight += w->conns[i].nops;
        if (stopping && stop_at == 0)
            stop_at = now;
        if (stopping && inflight == 0)
            return;
        if (stopping && now >= stop_at + DRAIN_S) {
            fail(w, "%d operations got no answer within %.0f s after the run", inflight, DRAIN_S);
            return;
        }
        int got = drain_ready(w);
        if (got < 0)
            return;
        if (got > 0)
            continue;
        now = fb_now();
        conn_t *cn = oldest_conn(w);
        if (o->rate <= 0 || stopping) {
            if (cn && recv_one(w, cn, 100) < 0)
                return;
            continue;
        }
        double next = INFINITY;
        for (int i = 0; i < w->nconns; i++)
            if (w->conns[i].next_send < next)
                next = w->conns[i].next_send;
        if (next > t1)
            next = t1;
        /* Wake no later than when the next send becomes due (EARLY_S
         * before its time): whole ms, rounded up, stays within that. */
        double wait = next - EARLY_S - now;
        if (wait <= 0)
            continue;
        if (cn) {
            if (recv_one(w, cn, (int)ceil(wait * 1000)) < 0)
                return;
        } else {
            sleep_until(next - EARLY_S);
        }
    }
}

fc_client_t *fb_connect(const fb_opts_t *o, int timeout_ms, char *err, size_t errlen)
{
    fc_client_t *c = fc_client_connect(o->addr, timeout_ms, err, errlen);
    if (c && o->token_file && fc_client_auth_file(c, o->token_file, NULL, 0) != FC_OK) {
        snprintf(err, errlen, "%s: %s", o->addr, fc_client_error(c));
        fc_client_close(c);
        c = NULL;
    }
    return c;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    const fb_opts_t *o = w->l->o;
    char err[512];
    bool ok = true;
    for (int i = 0; i < w->nconns && ok; i++) {
        w->conns[i].c = fb_connect(o, CONNECT_TIMEOUT_MS, err, sizeof err);
        if (!w->conns[i].c) {
            fail(w, "%s", err);
            ok = false;
        } else {
            fc_client_set_cork(w->conns[i].c, true);
        }
    }
    bool writes = o->workload == WL_PUBLISH ||
                  (o->workload == WL_MIXED &&
                   o->pct_publish + o->pct_follow + o->pct_unfollow > 0);
    if (ok && writes) {
        w->pg = PQconnectdb(o->pg);
        if (PQstatus(w->pg) != CONNECTION_OK) {
            fail(w, "PostgreSQL: %s", PQerrorMessage(w->pg));
            ok = false;
        } else {
            PQclear(PQexec(w->pg, "SET synchronous_commit = off"));
        }
    }
    /* Twice: all connected; then the window is set. */
    pthread_barrier_wait(&w->l->start);
    pthread_barrier_wait(&w->l->start);
    if (w->l->t0 < 0)
        ok = false;     /* some thread failed to connect: the run is off */
    if (ok) {
        double start = fb_now();
        for (int i = 0; i < w->nconns; i++) {
            conn_t *cn = &w->conns[i];
            if (o->rate > 0) {
                /* Each connection's schedule is offset, so that sends are
                 * spread evenly over the interval. */
                int total = o->conns;
                int index = w->id + i * w->l->nw;
                double interval = (double)total / rate_at(w, start);
                cn->spread = (double)index / total;
                cn->next_send = start + interval * cn->spread;
            }
        }
        run(w);
    }
    for (int i = 0; i < w->nconns; i++) {
        if (w->conns[i].c)
            fc_client_close(w->conns[i].c);
        free(w->conns[i].fl);
    }
    if (w->pg)
        PQfinish(w->pg);
    return NULL;
}

fb_load_t *fb_load_start(const fb_opts_t *o, int64_t first_post_id, double *t0, double *t1,
                         char *err, size_t errlen)
{
    fb_load_t *l = fc_xcalloc(1, sizeof *l);
    l->o = o;
    l->nw = o->threads < o->conns ? o->threads : o->conns;
    l->w = fc_xcalloc((size_t)l->nw, sizeof *l->w);
    atomic_init(&l->next_post_id, first_post_id);
    atomic_init(&l->issued, 0);
    if (o->dist == DIST_ZIPF)
        zipf_init(&l->zipf, o->users, o->zipf);
    pthread_barrier_init(&l->start, NULL, (unsigned)l->nw + 1);
    for (int i = 0; i < l->nw; i++) {
        worker_t *w = &l->w[i];
        w->l = l;
        w->id = i;
        /* Connection k belongs to thread k % threads. */
        w->nconns = o->conns / l->nw + (i < o->conns % l->nw);
        w->conns = fc_xcalloc((size_t)w->nconns, sizeof *w->conns);
        w->rng.s = o->seed * 1000003u + (uint64_t)i * 7919u + 1;
        fc_params_init(&w->p);
        buf_init(&w->sql);
        buf_init(&w->body);
        fb_result_init(&w->res);
        pthread_create(&w->th, NULL, worker_main, w);
    }
    pthread_barrier_wait(&l->start);
    bool failed = false;
    for (int i = 0; i < l->nw; i++)
        if (l->w[i].res.failed) {
            snprintf(err, errlen, "%s", l->w[i].res.first_error);
            failed = true;
            break;
        }
    double now = fb_now();
    if (failed) {
        l->t0 = -1;
        l->t1 = -1;
    } else if (o->requests > 0) {
        l->t0 = now;
        l->t1 = INFINITY;
    } else {
        l->t0 = now + o->warmup;
        l->t1 = l->t0 + (o->phases.n ? fb_phases_total(&o->phases) : o->duration);
    }
    pthread_barrier_wait(&l->start);
    *t0 = l->t0;
    *t1 = l->t1;
    if (failed) {
        fb_result_t scratch;
        fb_load_join(l, &scratch);
        return NULL;
    }
    return l;
}

void fb_load_join(fb_load_t *l, fb_result_t *res)
{
    fb_result_init(res);
    for (int i = 0; i < l->nw; i++) {
        worker_t *w = &l->w[i];
        pthread_join(w->th, NULL);
        for (int k = 0; k < OP__COUNT; k++) {
            hist_add(&res->hist[k], &w->res.hist[k]);
            res->errors[k] += w->res.errors[k];
        }
        hist_add(&res->pg_hist, &w->res.pg_hist);
        hist_add(&res->publish_rpc, &w->res.publish_rpc);
        res->sent += w->res.sent;
        res->src_cache += w->res.src_cache;
        res->src_rebuilt += w->res.src_rebuilt;
        res->src_db += w->res.src_db;
        res->degraded += w->res.degraded;
        res->posts += w->res.posts;
        res->mode_fanout += w->res.mode_fanout;
        res->mode_celebrity += w->res.mode_celebrity;
        res->unfollow_none += w->res.unfollow_none;
        res->late += w->res.late;
        res->dropped += w->res.dropped;
        for (int c = 0; c < FB_CODE__COUNT; c++)
            res->codes[c] += w->res.codes[c];
        for (int p = 0; p < l->o->phases.n; p++)
            fb_phase_res_add(&res->phase[p], &w->res.phase[p]);
        res->failed |= w->res.failed;
        if (w->res.first_error[0])
            fb_result_error(res, "%s", w->res.first_error);
        fc_params_free(&w->p);
        buf_free(&w->sql);
        buf_free(&w->body);
        free(w->conns);
    }
    pthread_barrier_destroy(&l->start);
    if (l->o->dist == DIST_ZIPF)
        zipf_free(&l->zipf);
    free(l->w);
    free(l);
}

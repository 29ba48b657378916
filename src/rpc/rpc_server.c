#include "rpc/rpc_server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "rpc/rpc_admit.h"
#include "rpc/rpc_budget.h"
#include "rpc/rpc_frame.h"
#include "util/buf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/unix_sock.h"

#define RPC_READ_SIZE 65536
/* A connection's output buffer up to this size is kept for its next
 * replies once written; a larger one (a burst) is freed. */
#define RPC_OUT_KEEP 65536
/* TCP keepalive on accepted connections: first probe after this many idle
 * seconds, so that a peer that vanished (no FIN, no RST) is found out. */
#define RPC_KEEPALIVE_S 60
/* The idle sweep runs this often at most, and at least every 5 s. */
#define RPC_IDLE_SWEEP_MIN_MS 100
#define RPC_IDLE_SWEEP_MAX_MS 5000
/* retry_after_ms given to requests that arrive during shutdown. */
#define RPC_SHUTDOWN_RETRY_MS 1000
/* While requests are being shed as a matter of course (rpc_admit_shedding:
 * not after one shed burst, for reading in batches makes the next burst
 * larger, and at light load a limit met by bursts of rate x this interval
 * would keep shedding), a connection is read at most once per this many ms: what its client sent meanwhile waits
 * in the socket and is then read, answered or shed in one go (one read and
 * one write instead of one each per request), and the replies from Redis
 * of the calls in progress come first. Measured in bench/run.sh's overload
 * phases (same capacity, back to back): 0 ms served 7,296-7,750 reads/s at
 * 4x load, 5 ms 8,661-9,354, 10 ms 8,875-9,107 but 15% less at 1.5x. */
#define RPC_OVERLOAD_READ_MS 5
/* ...but once 1/RPC_EARLY_RESUME_DIV of the limit is free, a batched
 * connection is read at once (batch_resume_early). */
#define RPC_EARLY_RESUME_DIV 2
/* While most of what is offered is shed (rpc_admit_shedding_most: twice
 * what is served or more), a connection written less than this many ms ago
 * is written again only at the next write tick, this long after the first
 * connection began to wait: its answers gather meanwhile. Under such
 * overload every served answer was a write of its own (measured at 4x:
 * 24,700 writes/s to 32 connections for 26,000 reads/s, 4.5 KB each), and
 * a loopback write pays for the reader's side too (its delivery and
 * wake-up); the shed answers' CPU is taken from the reads. Measured with
 * bench/run.sh --quick --only overload-ab against 5bd3ac4, 7 pairs (3 of
 * them applying it whenever requests were shed as a matter of course):
 * goodput at 4x 52-104%, mean 87%, against 65-95%, mean 79%, higher in 5
 * pairs; the load generator's CPU 0.44-0.47 cores against 0.50-0.56; the
 * 4x p50 about 1 ms later, the p99 the same (8.9-9.9 ms against 7.6-9.8 in
 * the last 4 pairs). At 1.5x, where a third is shed, latency weighs more
 * and answers are written at once. */
#define RPC_OVERLOAD_WRITE_MS 3

#define RPC_METRICS(ACTION) \
    ACTION(rpc_connections, METRIC_GAUGE, "open RPC connections") \
    ACTION(rpc_connections_total, METRIC_COUNTER, "RPC connections accepted") \
    ACTION(rpc_connections_rejected_total, METRIC_COUNTER, \
           "RPC connections closed at accept because max_connections was reached") \
    ACTION(rpc_protocol_errors_total, METRIC_COUNTER, \
           "RPC connections closed for a malformed or oversized frame") \
    ACTION(rpc_inflight, METRIC_GAUGE, "RPC calls being processed") \
    ACTION(rpc_concurrency_limit, METRIC_GAUGE, \
           "RPC calls that may be in progress at once now (adaptive unless admission=fixed); " \
           "control calls (ping, stats, auth, ops) are not counted") \
    ACTION(rpc_latency_normal_seconds, METRIC_GAUGE, \
           "the call latency the adaptive limit takes as normal (no queueing)") \
    ACTION(rpc_stall_seconds, METRIC_GAUGE, \
           "the longest time lately (1-2 s) that calls were in progress with none ending, " \
           "at most 0.1; lengthens how long a burst is held and a request may wait " \
           "before it is shed") \
    ACTION(rpc_connections_paused, METRIC_GAUGE, \
           "RPC connections not read because their output and calls passed max_output, " \
           "or because they hold half of a busy adaptive concurrency limit") \
    ACTION(rpc_connections_held, METRIC_GAUGE, \
           "RPC connections not read because their next call would pass the concurrency " \
           "limit during a burst (held instead of shed; see docs/OPERATIONS.md)") \
    ACTION(rpc_holds_total, METRIC_COUNTER, \
           "times a connection was held at a full concurrency limit instead of being shed") \
    ACTION(rpc_connections_idle_closed_total, METRIC_COUNTER, \
           "RPC connections closed after idle_timeout with nothing in flight") \
    ACTION(rpc_connections_slow_closed_total, METRIC_COUNTER, \
           "RPC connections closed because the client did not read its responses " \
           "(unsent output past max_output_hard, or not drained for idle_timeout)")

typedef struct { RPC_METRICS(METRIC_FIELD) } rpc_metrics_t;

/* Per method (and one extra slot for unknown names): requests by code, and
 * the duration histogram. */
typedef struct {
    metric_t *requests[RPC_CODE__COUNT];
    metric_t *duration;
    size_t name_len;             /* strlen of the method's name (find_method) */
} rpc_method_metrics_t;

typedef struct rpc_conn rpc_conn_t;

struct rpc_server {
    uv_loop_t *loop;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } listener;
    bool listening;
    bool is_unix;
    char unix_path[108];
    rpc_server_options_t opts;
    rpc_method_metrics_t *method_metrics;   /* opts.nmethods + 1 */
    rpc_metrics_t m;

    rpc_budget_t budget;         /* per connection: max_output, max_output_hard */
    rpc_admit_t admit;           /* which calls may start (rpc_admit.h) */
    metric_t *shed[RPC_ADMIT__COUNT];
    uint64_t shed_logged_ns;     /* when the last "shedding" line was asked for */
    uint64_t shed_unlogged;      /* sheds since */
    metric_t *queue_seconds;
    uv_timer_t idle_sweep;       /* closes idle and stuck connections */
    uint64_t sweep_every_ms;     /* its period */
    uv_timer_t batch_timer;      /* resumes the connections in `batched` */
    list_t batched;              /* read stopped until the next batch (rpc_conn_t.batch_link) */
    uv_timer_t hold_timer;       /* when the oldest hold passes its bound: an
                                  * overload; every held connection goes on */
    list_t held;                 /* held at a full limit, oldest first (rpc_conn_t.hold_link) */
    size_t nheld;
    uv_check_t flush_check;      /* writes what the iteration produced */
    uv_idle_t flush_idle;        /* keeps the poll from blocking while dirty */
    rpc_conn_t *dirty;           /* connections with unsent output */
    uv_timer_t write_tick;       /* writes the connections in `gathering` */
    list_t gathering;            /* output waits for the tick (rpc_conn_t.gather_link) */
    bool write_now;              /* closing: no more gathering */

    list_t conns;                /* all open connections (rpc_conn_t.link) */
    size_t nconns;
    size_t npaused;              /* connections stopped by their budget */
    size_t nalloc;               /* connection objects not yet freed */
    size_t inflight;
    unsigned next_conn_id;

    bool draining;
    void (*on_drained)(void *);
    void *on_drained_arg;
    bool closing;
    int handles_open;            /* listener, check, idle, idle_sweep, three timers */
    list_t calls;                /* in-flight calls, for abort (rpc_call_t.link) */
    msgpack_sbuffer discard;     /* replies nobody will read */
};

struct rpc_conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    rpc_server_t *server;
    unsigned id;
    rpc_framer_t framer;
    buf_t out;                   /* responses not yet given to libuv */
    size_t inflight;             /* calls not yet answered */
    size_t admitted;             /* of which counted by the admission */
    uint64_t last_active_ms;     /* uv_now of the last read, write or answer */
    uint64_t read_ns;            /* uv_hrtime of the last read: its frames' arrival */
    size_t reply_estimate;       /* bytes a call in flight is charged (rpc_budget.h) */
    int refs;                    /* 1 while the handle is open, + 1 per call */
    bool closing;
    bool reading;
    bool paused;                 /* stopped by the budget (not before the first read) */
    bool batched;                /* stopped until batch_due_ms (overload) */
    uint64_t batch_due_ms;       /* uv_now when it is read again */
    list_t batch_link;           /* in the server's batched */
    bool held;                   /* in the server's held (not read) */
    uint64_t hold_since_ns;      /* uv_hrtime when its hold began; 0: none */
    size_t shed_first;           /* calls to shed before admitting any (rpc_admit_shed_first) */
    list_t hold_link;
    bool is_dirty;
    bool gathering;              /* its output waits for the write tick */
    list_t gather_link;          /* in the server's gathering */
    uint64_t wrote_ms;           /* uv_now of its last write to the socket */
    bool resume_pending;         /* buffered frames wait for processing */
    bool close_when_flushed;     /* rpc_call_close_conn: no more reading */
    int role;                    /* rpc_call_set_role (authentication) */
    unsigned auth_failures;
    rpc_conn_t *dirty_next;
    list_t link;                 /* in the server's conns */
};

struct rpc_call {
    rpc_conn_t *conn;            /* NULL once answered by abort */
    int64_t msgid;
    bool notification;
    bool answered;               /* early, by rpc_server_abort_inflight */
    size_t method_index;         /* opts.nmethods for unknown */
    bool admitted;               /* counted by the admission (rpc_admit_done due) */
    size_t admit_place;          /* calls admitted in progress when it started */
    rpc_code_t code;             /* as answered */
    size_t out_mark;             /* c->out.len when its reply began */
    uint64_t start_ns;
    msgpack_packer pk;
    list_t link;                 /* in the server's calls */
};

typedef struct {
    uv_write_t req;
    rpc_conn_t *conn;
    char *data;
    size_t len;
} rpc_write_t;

static void conn_close(rpc_conn_t *c);
static void conn_close_slow(rpc_conn_t *c, const char *why);
static void conn_maybe_resume(rpc_conn_t *c);
static void batch_resume_early(rpc_server_t *s);
static void hold_resume_next(rpc_server_t *s);
static bool conn_hold(rpc_conn_t *c);
static void hold_leave(rpc_conn_t *c);
static void conn_pause(rpc_conn_t *c);
static void process_frames(rpc_conn_t *c);
static void on_flush_idle(uv_idle_t *h);
static void conn_release(rpc_conn_t *c);
static void server_maybe_free(rpc_server_t *s);

/* ---- output ------------------------------------------------------------ */

static int buf_packer_write(void *data, const char *bytes, size_t len)
{
    buf_append((buf_t *)data, bytes, len);
    return 0;
}

static void mark_dirty(rpc_conn_t *c)
{
    if (c->is_dirty)
        return;
    rpc_server_t *s = c->server;
    c->is_dirty = true;
    c->dirty_next = s->dirty;
    s->dirty = c;
    c->refs++;                       /* the dirty list holds a reference */
    if (!s->closing)
        uv_idle_start(&s->flush_idle, on_flush_idle);
}

static void on_write(uv_write_t *req, int status)
{
    rpc_write_t *w = container_of(req, rpc_write_t, req);
    rpc_conn_t *c = w->conn;
    free(w->data);
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->closing) {
        log_debug("rpc", "conn %u: write failed: %s", c->id, uv_strerror(status));
        conn_close(c);
    } else if (c->close_when_flushed && uv_stream_get_write_queue_size(&c->h.stream) == 0 && c->out.len == 0) {
        conn_close(c);
    } else {
        if (status == 0)
            c->last_active_ms = uv_now(c->server->loop);    /* the client reads */
        conn_maybe_resume(c);
    }
    conn_release(c);
}

static void conn_flush(rpc_conn_t *c)
{
    if (!c->closing && c->close_when_flushed && c->out.len == 0 && uv_stream_get_write_queue_size(&c->h.stream) == 0)
        conn_close(c);
    if (c->closing || c->out.len == 0)
        return;
    /* Straight to the socket when nothing is queued before it: uv_write
     * would also write at once, but then re-arms the socket's poll (an
     * epoll_ctl per write). Only what the kernel does not take is queued. */
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write(&c->h.stream, &b, 1);
    if (n < 0 && n != UV_EAGAIN) {
        log_debug("rpc", "conn %u: write failed: %s", c->id, uv_strerror(n));
        conn_close(c);
        return;
    }
    if (n > 0) {
        c->last_active_ms = uv_now(c->server->loop);    /* the client reads */
        c->wrote_ms = c->last_active_ms;
        buf_consume(&c->out, (size_t)n);
    }
    if (c->out.len == 0) {
        if (c->out.cap > RPC_OUT_KEEP)
            buf_free(&c->out);        /* a burst's buffer is not kept for good */
        if (c->close_when_flushed && uv_stream_get_write_queue_size(&c->h.stream) == 0)
            conn_close(c);
        else
            conn_maybe_resume(c);
        return;
    }
    rpc_write_t *w = fc_xmalloc(sizeof *w);
    w->conn = c;
    w->data = c->out.data;            /* the write owns the bytes now */
    w->len = c->out.len;
    buf_init(&c->out);
    b = uv_buf_init(w->data, (unsigned)w->len);
    c->refs++;
    int rc = uv_write(&w->req, &c->h.stream, &b, 1, on_write);
    if (rc < 0) {
        c->refs--;
        free(w->data);
        free(w);
        log_debug("rpc", "conn %u: write failed: %s", c->id, uv_strerror(rc));
        conn_close(c);
    }
}

/* Output produced for the client and not yet taken by the kernel: libuv
 * writes at once what the socket accepts and queues the rest. */
static size_t conn_unsent(const rpc_conn_t *c)
{
    if (c->closing)
        return 0;
    return c->out.len + uv_stream_get_write_queue_size(&c->h.stream);
}

/* After a flush, what is still unsent waits for the client to read. */
static void conn_check_hard_limit(rpc_conn_t *c)
{
    size_t unsent = conn_unsent(c);
    if (!c->closing && rpc_budget_over_hard(&c->server->budget, unsent)) {
        char why[160];
        snprintf(why, sizeof why, "%zu bytes of responses unsent, over max_output_hard (%zu)",
                 unsent, c->server->budget.hard);
        conn_close_slow(c, why);
    }
}

/* The write tick: every connection whose output gathered is written. */
static void on_write_tick(uv_timer_t *t)
{
    rpc_server_t *s = t->data;
    while (!list_empty(&s->gathering)) {
        rpc_conn_t *c = list_entry(list_first(&s->gathering), rpc_conn_t, gather_link);
        list_remove(&c->gather_link);
        c->gathering = false;
        mark_dirty(c);
        conn_release(c);         /* the gathering list's reference */
    }
}

/* Whether c's output waits for the next write tick rather than being
 * written now (RPC_OVERLOAD_WRITE_MS). */
static bool conn_gather(rpc_conn_t *c)
{
    rpc_server_t *s = c->server;
    if (c->gathering)
        return true;
    if (s->write_now || s->closing || c->closing || c->close_when_flushed || c->out.len == 0 ||
        c->out.len >= RPC_OUT_KEEP || uv_now(s->loop) >= c->wrote_ms + RPC_OVERLOAD_WRITE_MS ||
        !rpc_admit_shedding_most(&s->admit, uv_hrtime()))
        return false;
    c->gathering = true;
    c->refs++;
    if (list_empty(&s->gathering))
        uv_timer_start(&s->write_tick, on_write_tick, RPC_OVERLOAD_WRITE_MS, 0);
    list_insert_tail(&s->gathering, &c->gather_link);
    return true;
}

static void flush_all(rpc_server_t *s)
{
    while (s->dirty) {
        rpc_conn_t *c = s->dirty;
        s->dirty = c->dirty_next;
        c->is_dirty = false;
        if (c->resume_pending && !c->closing) {
            /* Frames that arrived while the connection was paused. This may
             * mark it dirty again; the loop then comes back to it. */
            c->resume_pending = false;
            process_frames(c);
        }
        if (conn_gather(c)) {
            conn_release(c);     /* the dirty list's reference */
            continue;
        }
        conn_flush(c);
        conn_check_hard_limit(c);
        conn_release(c);
    }
    uv_idle_stop(&s->flush_idle);
}

static void on_flush_check(uv_check_t *h)
{
    flush_all(container_of(h, rpc_server_t, flush_check));
}

static void on_flush_idle(uv_idle_t *h)
{
    /* Only here so that the poll phase does not block while output waits;
     * the check handle does the writing. */
    (void)h;
}

/* ---- calls ------------------------------------------------------------- */

static buf_t *call_output(rpc_call_t *call)
{
    rpc_conn_t *c = call->conn;
    if (!c || call->notification || c->closing)
        return NULL;
    return &c->out;
}

static void call_account(rpc_call_t *call, rpc_code_t code)
{
    rpc_conn_t *c = call->conn;
    rpc_server_t *s = c->server;
    rpc_method_metrics_t *mm = &s->method_metrics[call->method_index];
    call->code = code;
    metric_inc(mm->requests[code]);
    metric_observe(mm->duration, (double)(uv_hrtime() - call->start_ns) / 1e9);
}

/* Ends a call after its reply was packed: accounting, output, release. */
static void call_finish(rpc_call_t *call)
{
    rpc_conn_t *c = call->conn;
    rpc_server_t *s = c->server;
    list_remove(&call->link);
    s->inflight--;
    c->inflight--;
    if (call->admitted) {
        c->admitted--;
        /* A fast failure (backend down) or a shed further in says nothing
         * about how long work takes; neither does a call cut short. */
        uint64_t now = uv_hrtime();
        bool measured = !call->answered && call->code != RPC_UNAVAILABLE &&
                        call->code != RPC_OVERLOADED;
        if (rpc_admit_done(&s->admit, now, now - call->start_ns, call->admit_place, measured)) {
            metric_set(s->m.rpc_concurrency_limit, (double)rpc_admit_limit(&s->admit));
            metric_set(s->m.rpc_latency_normal_seconds, rpc_admit_normal_seconds(&s->admit));
            metric_set(s->m.rpc_stall_seconds, (double)rpc_admit_stall_ns(&s->admit, now) / 1e9);
        }
    }
    c->last_active_ms = uv_now(s->loop);
    if (call->out_mark != SIZE_MAX && c->out.len >= call->out_mark)
        c->reply_estimate = rpc_budget_estimate(c->reply_estimate, c->out.len - call->out_mark);
    metric_set(s->m.rpc_inflight, (double)s->inflight);
    if (!call->notification && !c->closing)
        mark_dirty(c);
    conn_maybe_resume(c);
    if (call->admitted) {
        hold_resume_next(s);
        batch_resume_early(s);
    }
    /* Decided before the release: releasing the last connection of a
     * closed server frees the server. */
    void (*drained)(void *) = NULL;
    void *drained_arg = NULL;
    if (s->draining && s->inflight == 0 && s->on_drained) {
        drained = s->on_drained;
        drained_arg = s->on_drained_arg;
        s->on_drained = NULL;
    }
    free(call);
    conn_release(c);
    if (drained)
        drained(drained_arg);
}

msgpack_packer *rpc_reply_begin(rpc_call_t *call)
{
    buf_t *out = call->answered ? NULL : call_output(call);
    if (out) {
        call->out_mark = out->len;
        msgpack_packer_init(&call->pk, out, buf_packer_write);
    } else {
        msgpack_sbuffer_clear(&call->conn->server->discard);
        msgpack_packer_init(&call->pk, &call->conn->server->discard, msgpack_sbuffer_write);
    }
    rpc_pack_result_header(&call->pk, call->msgid);
    return &call->pk;
}

void rpc_reply_end(rpc_call_t *call)
{
    if (!call->answered)
        call_account(call, RPC_OK);
    call_finish(call);
}

static void reply_error_text(rpc_call_t *call, rpc_code_t code, int64_t retry_after_ms,
                             const char *msg)
{
    if (!call->answered) {
        buf_t *out = call_output(call);
        if (out) {
            msgpack_packer pk;
            call->out_mark = out->len;
            msgpack_packer_init(&pk, out, buf_packer_write);
            rpc_pack_error(&pk, call->msgid, code, msg, retry_after_ms);
        }
        call_account(call, code);
    }
    call_finish(call);
}

void rpc_reply_error(rpc_call_t *call, rpc_code_t code, int64_t retry_after_ms,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_error_text(call, code, retry_after_ms, msg);
}

bool rpc_call_is_notification(const rpc_call_t *call)
{
    return call->notification;
}

unsigned rpc_call_conn_id(const rpc_call_t *call)
{
    return call->conn->id;
}

void *rpc_call_gate_ctx(const rpc_call_t *call)
{
    return call->conn->server->opts.gate_ctx;
}

int rpc_call_role(const rpc_call_t *call)
{
    return call->conn->role;
}

void rpc_call_set_role(rpc_call_t *call, int role)
{
    call->conn->role = role;
}

unsigned rpc_call_auth_failed(rpc_call_t *call)
{
    return ++call->conn->auth_failures;
}

void rpc_call_close_conn(rpc_call_t *call)
{
    rpc_conn_t *c = call->conn;
    if (!c || c->closing || c->close_when_flushed)
        return;
    c->close_when_flushed = true;
    conn_pause(c);
    mark_dirty(c);          /* conn_flush closes it once the output is out */
}

const char *rpc_call_method(const rpc_call_t *call)
{
    const rpc_server_t *s = call->conn->server;
    return call->method_index < s->opts.nmethods ? s->opts.methods[call->method_index].name
                                                 : "unknown";
}

void rpc_server_abort_inflight(rpc_server_t *s)
{
    /* Answer now; the handlers still own their calls and will end them
     * later, when their replies are dropped. */
    list_foreach(pos, &s->calls) {
        rpc_call_t *call = list_entry(pos, rpc_call_t, link);
        if (call->answered)
            continue;
        buf_t *out = call_output(call);
        if (out) {
            msgpack_packer pk;
            msgpack_packer_init(&pk, out, buf_packer_write);
            rpc_pack_error(&pk, call->msgid, RPC_UNAVAILABLE, "shutting down",
                           RPC_SHUTDOWN_RETRY_MS);
            mark_dirty(call->conn);
        }
        call_account(call, RPC_UNAVAILABLE);
        call->answered = true;
    }
    flush_all(s);
}

/* ---- dispatch ---------------------------------------------------------- */

static size_t find_method(const rpc_server_t *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->opts.nmethods; i++) {
        if (s->method_metrics[i].name_len == len &&
            memcmp(s->opts.methods[i].name, name, len) == 0)
            return i;
    }
    return s->opts.nmethods;
}

/* What a shed call is told, by reason. Fixed texts: a shed costs
 * microseconds, and formatting the counts into each (vsnprintf) was a
 * tenth of a shed's instructions; /metrics has the limit and the calls in
 * progress. */
static const char *const shed_texts[RPC_ADMIT__COUNT] = {
    [RPC_ADMIT_SHED_QUEUE] = "overloaded: the request waited too long for its turn",
    [RPC_ADMIT_SHED_LIMIT] = "overloaded: the limit of requests in progress is reached",
    [RPC_ADMIT_SHED_RESERVE] = "overloaded: this connection has requests in progress, and the "
                               "rest of the limit is kept for other connections",
    [RPC_ADMIT_SHED_NEWER] = "overloaded: the room left went to newer requests of this connection",
};

/* At most one "shedding" line is asked of the log per this long, each
 * with the count of sheds since the last: under overload a line per shed,
 * even one the log's rate limit then drops, cost a lock and a clock read
 * each (log_write). The log's default limit (LOG_BURST_DEFAULT lines per
 * LOG_INTERVAL_MS_DEFAULT) lets all of these through, so the counts add up. */
#define SHED_LOG_EVERY_NS (UINT64_C(1000000) * LOG_INTERVAL_MS_DEFAULT / LOG_BURST_DEFAULT)

/* Sheds the call with OVERLOADED when the admission says so. */
static bool admission_sheds(rpc_server_t *s, rpc_conn_t *c, rpc_call_t *call)
{
    uint64_t queued = call->start_ns > c->read_ns ? call->start_ns - c->read_ns : 0;
    metric_observe(s->queue_seconds, (double)queued / 1e9);
    rpc_admit_result_t r;
    if (c->shed_first > 0) {
        c->shed_first--;
        r = rpc_admit_supersede(&s->admit, call->start_ns);
    } else {
        r = rpc_admit_try(&s->admit, call->start_ns, queued, c->admitted, &call->admit_place);
    }
    if (r == RPC_ADMIT_OK) {
        call->admitted = true;
        c->admitted++;
        return false;
    }
    metric_inc(s->shed[r]);
    s->shed_unlogged++;
    if (s->shed_logged_ns == 0 || call->start_ns - s->shed_logged_ns >= SHED_LOG_EVERY_NS) {
        log_warn("rpc", "overloaded: shedding requests, %" PRIu64 " since the last such line "
                        "(limit %zu, %zu in progress)",
                 s->shed_unlogged, rpc_admit_limit(&s->admit), s->admit.inflight);
        s->shed_logged_ns = call->start_ns;
        s->shed_unlogged = 0;
    }
    reply_error_text(call, RPC_OVERLOADED, rpc_admit_retry_after_ms(&s->admit, call->start_ns),
                     shed_texts[r]);
    return true;
}

static void dispatch(rpc_conn_t *c, const rpc_msg_t *msg)
{
    rpc_server_t *s = c->server;
    char why[256];
    rpc_code_t denied = RPC_OK;
    rpc_call_t *call = fc_xcalloc(1, sizeof *call);
    call->conn = c;
    call->msgid = msg->msgid;
    call->notification = msg->notification;
    call->start_ns = uv_hrtime();
    call->out_mark = SIZE_MAX;      /* no reply packed yet */
    call->method_index = msg->kind == RPC_MSG_BAD_REQUEST
                             ? s->opts.nmethods
                             : find_method(s, msg->method, msg->method_len);
    list_insert_head(&s->calls, &call->link);
    s->inflight++;
    c->inflight++;
    c->refs++;
    metric_set(s->m.rpc_inflight, (double)s->inflight);

    if (msg->kind == RPC_MSG_BAD_REQUEST) {
        reply_error_text(call, RPC_BAD_REQUEST, -1, msg->why);
    } else if (s->opts.gate &&
               (denied = s->opts.gate(s->opts.gate_ctx, c->role, msg->method, msg->method_len,
                                      call->method_index < s->opts.nmethods, why,
                                      sizeof why)) != RPC_OK) {
        reply_error_text(call, denied, -1, why);
    } else if (call->method_index == s->opts.nmethods) {
        /* Unknown method: NOT_FOUND; for a notification, silently ignored. */
        rpc_reply_error(call, RPC_NOT_FOUND, -1, "unknown method '%.*s'",
                        (int)(msg->method_len > 64 ? 64 : msg->method_len), msg->method);
    } else if (s->draining) {
        rpc_reply_error(call, RPC_UNAVAILABLE, RPC_SHUTDOWN_RETRY_MS, "shutting down");
    } else if (!(s->opts.methods[call->method_index].flags & RPC_METHOD_UNLIMITED) &&
               admission_sheds(s, c, call)) {
        /* answered */
    } else {
        s->opts.methods[call->method_index].handler(call, msg->args, s->opts.ctx);
    }
}

/* ---- connections ------------------------------------------------------- */

static void conn_free(rpc_conn_t *c)
{
    rpc_server_t *s = c->server;
    rpc_framer_free(&c->framer);
    buf_free(&c->out);
    free(c);
    s->nalloc--;
    server_maybe_free(s);
}

static void conn_release(rpc_conn_t *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_release(container_of(h, rpc_conn_t, h.handle));
}

static void conn_set_paused(rpc_conn_t *c, bool paused)
{
    if (c->paused == paused)
        return;
    c->paused = paused;
    rpc_metrics_t *m = &c->server->m;
    c->server->npaused += paused ? 1 : -1;
    metric_set(m->rpc_connections_paused, (double)c->server->npaused);
}

static void conn_close(rpc_conn_t *c)
{
    if (c->closing)
        return;
    rpc_server_t *s = c->server;
    c->closing = true;
    conn_set_paused(c, false);
    if (c->batched) {
        c->batched = false;
        list_remove(&c->batch_link);
    }
    if (c->held)
        hold_leave(c);
    if (c->gathering) {
        c->gathering = false;
        list_remove(&c->gather_link);
        c->refs--;               /* the handle's reference outlives this */
    }
    list_remove(&c->link);
    s->nconns--;
    metric_set(s->m.rpc_connections, (double)s->nconns);
    buf_free(&c->out);
    uv_close(&c->h.handle, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    rpc_conn_t *c = container_of(h, rpc_conn_t, h.handle);
    size_t got;
    char *space = rpc_framer_space(&c->framer, RPC_READ_SIZE, &got);
    *b = uv_buf_init(space, (unsigned)got);
}

/* Whether the connection may start one more call: its output budget, and
 * its share of a busy limit (paused like one past its budget, resumed as
 * its own calls end in call_finish). */
static bool conn_may_start(const rpc_conn_t *c)
{
    return rpc_budget_may_start(&c->server->budget, conn_unsent(c), c->inflight,
                                c->reply_estimate) &&
           !rpc_admit_conn_should_wait(&c->server->admit, c->admitted);
}

static void conn_pause(rpc_conn_t *c)
{
    if (c->reading && !c->closing) {
        uv_read_stop(&c->h.stream);
        c->reading = false;
        conn_set_paused(c, true);
    }
}

/* The client does not read what it asked for: closing frees its output
 * and drops the replies of its calls still in flight. */
static void conn_close_slow(rpc_conn_t *c, const char *why)
{
    log_warn("rpc", "conn %u: closing a slow reader: %s", c->id, why);
    metric_inc(c->server->m.rpc_connections_slow_closed_total);
    conn_close(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);

static void conn_maybe_resume(rpc_conn_t *c)
{
    if (c->reading || c->closing || c->close_when_flushed || c->batched || c->held)
        return;
    if (!rpc_budget_may_resume(&c->server->budget, conn_unsent(c), c->inflight,
                               c->reply_estimate) ||
        rpc_admit_conn_should_wait(&c->server->admit, c->admitted))
        return;
    if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0) {
        c->reading = true;
        conn_set_paused(c, false);
    }
    if (rpc_framer_pending(&c->framer) > 0) {
        /* Never process frames from here: we may be inside a handler. */
        c->resume_pending = true;
        mark_dirty(c);
    }
}

static void protocol_error(rpc_conn_t *c, const char *why)
{
    log_warn("rpc", "conn %u: closing: %s", c->id, why);
    metric_inc(c->server->m.rpc_protocol_errors_total);
    conn_close(c);
}

static void process_frames(rpc_conn_t *c)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    c->refs++;                 /* handlers may close the connection */
    /* Newest first (rpc_admit_room): the backlog is only counted under
     * overload. */
    rpc_admit_t *a = &c->server->admit;
    uint64_t now = uv_hrtime();
    c->shed_first = 0;
    if (!c->held && rpc_admit_newest_first(a, now))
        c->shed_first = rpc_admit_shed_first(a, now, c->admitted,
                                             rpc_framer_count(&c->framer, SIZE_MAX));
    while (!c->closing && !c->close_when_flushed) {
        if (!conn_may_start(c)) {
            conn_pause(c);
            break;            /* the rest stays buffered until we resume */
        }
        if (rpc_framer_pending(&c->framer) > 0 && conn_hold(c))
            break;            /* likewise, until a slot frees */
        rpc_frame_result_t r = rpc_framer_next(&c->framer, &u);
        if (r == RPC_FRAME_NEED_MORE)
            break;
        if (r == RPC_FRAME_TOO_BIG) {
            char why[96];
            snprintf(why, sizeof why, "frame larger than max_frame (%zu bytes)",
                     c->server->opts.max_frame);
            protocol_error(c, why);
            break;
        }
        if (r == RPC_FRAME_BAD) {
            protocol_error(c, "malformed msgpack");
            break;
        }
        rpc_msg_t msg;
        rpc_msg_classify(&u.data, &msg);
        if (msg.kind == RPC_MSG_INVALID) {
            protocol_error(c, msg.why);
            break;
        }
        dispatch(c, &msg);
    }
    /* A hold is over when the connection's backlog is: one that got a call
     * dispatched and is held again keeps its hold's start, and with it its
     * place at the head of the held list and the bound. Were it to queue
     * again as a new hold, the held connections would take turns, none
     * would ever wait out the bound, and the calls behind each one's first
     * would wait as long as the overload lasted: measured at the onset of
     * bench/run.sh's 1.5x phase (2026-12-05), every read due in the first
     * 120 ms was held and served, up to 64 ms late, until the queue-time
     * rule shed. */
    if (!c->held)
        c->hold_since_ns = 0;
    if (!c->closing)
        rpc_framer_trim(&c->framer);
    msgpack_unpacked_destroy(&u);
    conn_release(c);
}

/* Takes c out of the batched list and reads it again (if its budget
 * allows). */
static void batch_leave(rpc_conn_t *c)
{
    list_remove(&c->batch_link);
    c->batched = false;
    conn_maybe_resume(c);
}

/* Resumes the batched connections whose interval is over (the list is in
 * the order they were stopped, so by due time) and waits for the next. */
static void on_batch_timer(uv_timer_t *t)
{
    rpc_server_t *s = t->data;
    uint64_t now = uv_now(s->loop);
    while (!list_empty(&s->batched)) {
        rpc_conn_t *c = list_entry(list_first(&s->batched), rpc_conn_t, batch_link);
        if (c->batch_due_ms > now) {
            uv_timer_start(&s->batch_timer, on_batch_timer, c->batch_due_ms - now, 0);
            return;
        }
        batch_leave(c);
    }
}

/* A slot freed while batched connections wait: once half of the limit
 * is free, the connection stopped longest ago is read now rather than at
 * its batch time. Batching saves a read per request while every slot is
 * busy; waiting for the batch timer while slots stand idle would cap
 * goodput at what the limit serves in RPC_OVERLOAD_READ_MS. Measured in
 * the faults suite's overload test (16,384 in flight), a limit of 64
 * served 12,700-13,200 reads/s before this and 16,500-21,000 after; at
 * 128, 19,900 before and 21,400-21,800 after (same quiet hour).
 * How early (2026-12-06, the binaries alternated, bench/RESULTS.md):
 * reading a connection as soon as 1/8 or 1/16 of the limit was free
 * served less than at 1/4 (bench/run.sh --quick, 4x load: 56-63% and
 * 36-69% of capacity against 68-92% in the same rounds). At 1/2, the
 * faults test's first attempts reached 81-101% of its reference against
 * 64-84% at 1/4, and the bench's 4x phase did better in 5 rounds of 6;
 * reading early only once no call is in progress, the faults test fell
 * to 64-65%. */
static void batch_resume_early(rpc_server_t *s)
{
    size_t limit = rpc_admit_limit(&s->admit);
    if (list_empty(&s->batched) || s->closing ||
        s->admit.inflight + limit / RPC_EARLY_RESUME_DIV > limit)
        return;
    batch_leave(list_entry(list_first(&s->batched), rpc_conn_t, batch_link));
}

/* ---- bursts held rather than shed (rpc_admit_may_hold) ------------------ */

static void hold_set_count(rpc_server_t *s, int delta)
{
    s->nheld += (size_t)delta;
    metric_set(s->m.rpc_connections_held, (double)s->nheld);
}

static void on_hold_timer(uv_timer_t *t);

static void hold_arm_timer(rpc_server_t *s)
{
    if (list_empty(&s->held) || s->closing) {
        uv_timer_stop(&s->hold_timer);
        return;
    }
    rpc_conn_t *first = list_entry(list_first(&s->held), rpc_conn_t, hold_link);
    uint64_t now = uv_hrtime();
    uint64_t due = first->hold_since_ns + rpc_admit_hold_max_ns(&s->admit, now);
    uint64_t ms = due > now ? (due - now + 999999) / 1000000 : 0;
    uv_timer_start(&s->hold_timer, on_hold_timer, ms, 0);
}

/* Holds c if its next call would be shed and a hold is allowed now: its
 * reading stops and its frames stay buffered; it is read again when a slot
 * frees (hold_resume_next) or, once the hold's bound has passed, to be shed
 * (on_hold_timer). Kept in order of hold_since_ns, so that a connection
 * resumed and held again keeps its place. */
static bool conn_hold(rpc_conn_t *c)
{
    rpc_server_t *s = c->server;
    if (c->held)
        return true;   /* already (reached again through the flush's resume_pending) */
    if (s->closing || !rpc_admit_would_shed(&s->admit, c->admitted))
        return false;
    uint64_t now = uv_hrtime();
    uint64_t oldest = list_empty(&s->held)
                          ? 0 : list_entry(list_first(&s->held), rpc_conn_t, hold_link)->hold_since_ns;
    if (!rpc_admit_may_hold(&s->admit, now, c->hold_since_ns, oldest))
        return false;
    rpc_admit_note_hold(&s->admit, now);
    if (c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = false;
    }
    if (c->hold_since_ns == 0) {
        c->hold_since_ns = now;
        metric_inc(s->m.rpc_holds_total);
        list_insert_tail(&s->held, &c->hold_link);
    } else {
        list_t *pos = s->held.next;
        while (pos != &s->held &&
               list_entry(pos, rpc_conn_t, hold_link)->hold_since_ns <= c->hold_since_ns)
            pos = pos->next;
        list_insert_tail(pos, &c->hold_link);   /* before pos */
    }
    c->held = true;
    hold_set_count(s, 1);
    if (list_first(&s->held) == &c->hold_link)
        hold_arm_timer(s);
    return true;
}

/* Takes c out of the held list and reads it again: its buffered frames are
 * processed from the flush (never from inside a handler). */
static void hold_leave(rpc_conn_t *c)
{
    rpc_server_t *s = c->server;
    bool was_first = list_first(&s->held) == &c->hold_link;
    list_remove(&c->hold_link);
    c->held = false;
    hold_set_count(s, -1);
    if (was_first)
        hold_arm_timer(s);
    conn_maybe_resume(c);
}

/* A slot freed: the connection held longest goes on. */
static void hold_resume_next(rpc_server_t *s)
{
    if (!list_empty(&s->held) && !s->closing)
        hold_leave(list_entry(list_first(&s->held), rpc_conn_t, hold_link));
}

/* The oldest hold ran past its bound: this is no burst but an overload,
 * or a stall longer than the bound. Every held connection goes on now, to
 * be admitted or shed as the overload's rules say (a connection whose own
 * hold ran out is not held again; sustained shedding ends holding until
 * the overload is over, rpc_admit_may_hold):
 * calls held longer would only be served late, at the p99's expense
 * (measured at the onset of bench/run.sh's 1.5x phase: ~5 ms more when the
 * younger holds waited out their own bound). */
static void on_hold_timer(uv_timer_t *t)
{
    rpc_server_t *s = t->data;
    if (list_empty(&s->held))
        return;
    rpc_conn_t *first = list_entry(list_first(&s->held), rpc_conn_t, hold_link);
    uint64_t now = uv_hrtime();
    if (now - first->hold_since_ns < rpc_admit_hold_max_ns(&s->admit, now)) {
        hold_arm_timer(s);       /* the bound moved with the normal latency or a stall */
        return;
    }
    rpc_admit_note_overload(&s->admit, now);   /* background work keeps yielding */
    while (!list_empty(&s->held))
        hold_leave(list_entry(list_first(&s->held), rpc_conn_t, hold_link));
}

/* Under overload, stops reading c until the next batch (RPC_OVERLOAD_READ_MS). */
static void conn_batch(rpc_conn_t *c)
{
    rpc_server_t *s = c->server;
    if (!c->reading || c->closing || s->closing || !rpc_admit_shedding(&s->admit, c->read_ns))
        return;
    uv_read_stop(&c->h.stream);
    c->reading = false;
    c->batched = true;
    c->batch_due_ms = uv_now(s->loop) + RPC_OVERLOAD_READ_MS;
    list_insert_tail(&s->batched, &c->batch_link);
    if (!uv_is_active((uv_handle_t *)&s->batch_timer))
        uv_timer_start(&s->batch_timer, on_batch_timer, RPC_OVERLOAD_READ_MS, 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    rpc_conn_t *c = container_of(stream, rpc_conn_t, h.stream);
    if (nread < 0) {
        if (nread != UV_EOF)
            log_debug("rpc", "conn %u: read: %s", c->id, uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    rpc_framer_commit(&c->framer, (size_t)nread);
    c->last_active_ms = uv_now(c->server->loop);
    c->read_ns = uv_hrtime();
    process_frames(c);
    conn_batch(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    rpc_server_t *s = listener->data;
    if (status < 0) {
        log_warn("rpc", "accept: %s", uv_strerror(status));
        return;
    }
    rpc_conn_t *c = fc_xcalloc(1, sizeof *c);
    c->server = s;
    c->refs = 1;
    c->id = ++s->next_conn_id;
    c->reply_estimate = RPC_BUDGET_CALL_INITIAL;
    s->nalloc++;
    rpc_framer_init(&c->framer, s->opts.max_frame);
    buf_init(&c->out);
    if (s->is_unix)
        uv_pipe_init(s->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(s->loop, &c->h.tcp);
    if (uv_accept(listener, &c->h.stream) != 0) {
        c->closing = true;
        uv_close(&c->h.handle, on_conn_closed);
        return;
    }
    list_insert_head(&s->conns, &c->link);
    s->nconns++;
    metric_inc(s->m.rpc_connections_total);
    metric_set(s->m.rpc_connections, (double)s->nconns);
    if (s->nconns > s->opts.max_connections) {
        log_warn("rpc", "max_connections (%u) reached: closing a new connection",
                 s->opts.max_connections);
        metric_inc(s->m.rpc_connections_rejected_total);
        conn_close(c);
        return;
    }
    if (!s->is_unix) {
        uv_tcp_nodelay(&c->h.tcp, 1);
        uv_tcp_keepalive(&c->h.tcp, 1, RPC_KEEPALIVE_S);
    }
    c->last_active_ms = uv_now(s->loop);
    conn_maybe_resume(c);
}

/* ---- idle and stuck connections ------------------------------------------ */

/* A connection with no call in flight that received nothing, wrote nothing
 * and answered nothing for idle_timeout is closed. One whose responses wait
 * unsent all that time is a reader that stopped reading: counted as slow. */
static void on_idle_sweep(uv_timer_t *t)
{
    rpc_server_t *s = t->data;
    uint64_t now = uv_now(s->loop);
    list_t *pos = s->conns.next;
    while (pos != &s->conns) {
        rpc_conn_t *c = list_entry(pos, rpc_conn_t, link);
        pos = pos->next;           /* closing removes c from the list */
        if (c->inflight == 0 && now - c->last_active_ms >= s->sweep_every_ms)
            rpc_framer_release(&c->framer);   /* quiet for a sweep: no input buffer */
        if (s->opts.idle_timeout_ms == 0 || c->inflight > 0 ||
            now - c->last_active_ms < s->opts.idle_timeout_ms)
            continue;
        size_t unsent = conn_unsent(c);
        if (unsent > 0) {
            char why[160];
            snprintf(why, sizeof why, "%zu bytes of responses not read for idle_timeout (%u s)",
                     unsent, s->opts.idle_timeout_ms / 1000);
            conn_close_slow(c, why);
        } else {
            log_debug("rpc", "conn %u: closing: idle for %u ms", c->id, s->opts.idle_timeout_ms);
            metric_inc(s->m.rpc_connections_idle_closed_total);
            conn_close(c);
        }
    }
}

static void idle_sweep_start(rpc_server_t *s)
{
    uv_timer_init(s->loop, &s->idle_sweep);
    s->idle_sweep.data = s;
    /* Without idle_timeout the sweep still gives quiet connections' input
     * buffers back. */
    uint64_t every = s->opts.idle_timeout_ms ? s->opts.idle_timeout_ms / 10 : RPC_IDLE_SWEEP_MAX_MS;
    if (every < RPC_IDLE_SWEEP_MIN_MS)
        every = RPC_IDLE_SWEEP_MIN_MS;
    if (every > RPC_IDLE_SWEEP_MAX_MS)
        every = RPC_IDLE_SWEEP_MAX_MS;
    s->sweep_every_ms = every;
    uv_timer_start(&s->idle_sweep, on_idle_sweep, every, every);
    uv_unref((uv_handle_t *)&s->idle_sweep);
}

/* ---- server ------------------------------------------------------------ */

static void register_metrics(rpc_server_t *s)
{
#define METRICS_TARGET (&s->m)
    RPC_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET
    metric_family_t *req = metrics_family("feedcache_rpc_requests_total",
                                          "RPC requests answered, by method and code",
                                          METRIC_COUNTER, NULL, 0);
    metric_family_t *dur = metrics_family("feedcache_rpc_duration_seconds",
                                          "RPC request duration, receipt to reply, by method",
                                          METRIC_HISTOGRAM, NULL, 0);
    s->method_metrics = fc_xcalloc(s->opts.nmethods + 1, sizeof *s->method_metrics);
    for (size_t i = 0; i <= s->opts.nmethods; i++) {
        const char *method = i < s->opts.nmethods ? s->opts.methods[i].name : "unknown";
        const char *names[] = { "method", "code" };
        for (int code = 0; code < RPC_CODE__COUNT; code++) {
            const char *values[] = { method, rpc_code_name((rpc_code_t)code) };
            s->method_metrics[i].requests[code] = metrics_series(req, 2, names, values);
        }
        s->method_metrics[i].duration = metrics_series(dur, 1, names, &method);
        s->method_metrics[i].name_len = strlen(method);
    }
    metric_family_t *shed = metrics_family(
        "feedcache_rpc_shed_total",
        "RPC requests answered OVERLOADED at admission, before any work, by reason: "
        "concurrency_limit (calls in progress at the limit), reserve (in its last "
        "eighth, kept for connections with nothing in progress), queue_time (waited too long "
        "for their turn) or newer_first (the oldest of a backlog read at once, the room left "
        "going to its newest)",
        METRIC_COUNTER, NULL, 0);
    const char *reason_name[] = { "reason" };
    const char *reasons[RPC_ADMIT__COUNT] = {
        [RPC_ADMIT_SHED_QUEUE] = "queue_time",
        [RPC_ADMIT_SHED_LIMIT] = "concurrency_limit",
        [RPC_ADMIT_SHED_RESERVE] = "reserve",
        [RPC_ADMIT_SHED_NEWER] = "newer_first",
    };
    for (int r = RPC_ADMIT_SHED_QUEUE; r < RPC_ADMIT__COUNT; r++)
        s->shed[r] = metrics_series(shed, 1, reason_name, &reasons[r]);
    s->queue_seconds = metrics_simple(
        "feedcache_rpc_queue_seconds",
        "time a request waited in feedcached between being read and its admission "
        "(its connection paused by its output budget, say)",
        METRIC_HISTOGRAM);
    metric_set(s->m.rpc_concurrency_limit, (double)rpc_admit_limit(&s->admit));
}

static void on_server_handle_closed(uv_handle_t *h)
{
    rpc_server_t *s = h->data;
    s->handles_open--;
    server_maybe_free(s);
}

static void server_maybe_free(rpc_server_t *s)
{
    /* Connections still waiting for close callbacks or holding calls call
     * back here when they are freed (conn_free). */
    if (!s->closing || s->handles_open > 0 || s->nalloc > 0)
        return;
    msgpack_sbuffer_destroy(&s->discard);
    free(s->method_metrics);
    free(s);
}

int rpc_server_check_address(const addr_t *addr, char *err, size_t errlen)
{
    if (addr->is_unix && unix_sock_probe(addr->path) == UNIX_SOCK_LIVE) {
        snprintf(err, errlen, "cannot listen on unix:%s: another process is listening on it",
                 addr->path);
        return -1;
    }
    return 0;
}

/* Binds the unix listener. A socket file left by a process that died is
 * replaced; one a live process accepts on is not (binding over it would
 * silently take its clients): that fails with UV_EADDRINUSE. */
static int bind_unix(rpc_server_t *s, const char *path)
{
    int rc = uv_pipe_bind(&s->listener.pipe, path);
    if (rc == UV_EADDRINUSE) {
        unix_sock_state_t st = unix_sock_probe(path);
        if (st == UNIX_SOCK_STALE) {
            log_info("rpc", "removing stale socket %s", path);
            unlink(path);
            rc = uv_pipe_bind(&s->listener.pipe, path);
        } else {
            log_error("rpc", "unix socket %s is %s: not replacing it", path,
                      unix_sock_state_name(st));
        }
    }
    if (rc == 0)
        snprintf(s->unix_path, sizeof s->unix_path, "%s", path);  /* ours to unlink */
    return rc;
}

rpc_server_t *rpc_server_start(uv_loop_t *loop, const addr_t *addr,
                               const rpc_server_options_t *opts, char *err, size_t errlen)
{
    rpc_server_t *s = fc_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->opts = *opts;
    s->budget.soft = opts->max_output;
    rpc_admit_init(&s->admit, opts->adaptive_limit, opts->max_inflight ? opts->max_inflight
                                                                        : SIZE_MAX);
    /* A hard limit below the soft one would close clients that read. */
    s->budget.hard = opts->max_output_hard && opts->max_output_hard < opts->max_output
                         ? opts->max_output : opts->max_output_hard;
    s->is_unix = addr->is_unix;
    list_init(&s->conns);
    list_init(&s->calls);
    list_init(&s->batched);
    list_init(&s->held);
    list_init(&s->gathering);
    msgpack_sbuffer_init(&s->discard);
    int rc;
    if (addr->is_unix) {
        uv_pipe_init(loop, &s->listener.pipe, 0);
        rc = bind_unix(s, addr->path);
    } else {
        uv_tcp_init(loop, &s->listener.tcp);
        struct sockaddr_storage ss;
        rc = uv_ip4_addr(addr->host, addr->port, (struct sockaddr_in *)&ss);
        if (rc != 0)
            rc = uv_ip6_addr(addr->host, addr->port, (struct sockaddr_in6 *)&ss);
        if (rc != 0 && strcmp(addr->host, "localhost") == 0)
            rc = uv_ip4_addr("127.0.0.1", addr->port, (struct sockaddr_in *)&ss);
        if (rc == 0)
            rc = uv_tcp_bind(&s->listener.tcp, (const struct sockaddr *)&ss, 0);
    }
    s->listener.handle.data = s;
    if (rc == 0)
        rc = uv_listen(&s->listener.stream, 1024, on_connection);
    if (rc != 0) {
        char a[300];
        addr_format(addr, a, sizeof a);
        snprintf(err, errlen, "cannot listen on %s: %s%s", a, uv_strerror(rc),
                 addr->is_unix && rc == UV_EADDRINUSE
                     ? " (another process is listening on it)" : "");
        if (s->unix_path[0])
            unlink(s->unix_path);    /* bound, but could not listen */
        s->closing = true;
        s->handles_open = 1;
        s->listener.handle.data = s;
        uv_close(&s->listener.handle, on_server_handle_closed);
        /* Freed from the loop when the handle is closed. */
        return NULL;
    }
    s->listening = true;
    uv_check_init(loop, &s->flush_check);
    uv_idle_init(loop, &s->flush_idle);
    s->flush_check.data = s;
    s->flush_idle.data = s;
    uv_check_start(&s->flush_check, on_flush_check);
    uv_unref((uv_handle_t *)&s->flush_check);
    idle_sweep_start(s);
    uv_timer_init(loop, &s->batch_timer);
    s->batch_timer.data = s;
    uv_unref((uv_handle_t *)&s->batch_timer);
    uv_timer_init(loop, &s->hold_timer);
    s->hold_timer.data = s;
    uv_unref((uv_handle_t *)&s->hold_timer);
    uv_timer_init(loop, &s->write_tick);
    s->write_tick.data = s;
    uv_unref((uv_handle_t *)&s->write_tick);
    s->handles_open = 7;
    register_metrics(s);
    return s;
}

void rpc_server_drain(rpc_server_t *s, void (*on_drained)(void *), void *arg)
{
    if (!s->draining) {
        s->draining = true;
        if (s->listening) {
            s->listening = false;
            uv_close(&s->listener.handle, on_server_handle_closed);
            if (s->unix_path[0])
                unlink(s->unix_path);
        }
    }
    s->on_drained = on_drained;
    s->on_drained_arg = arg;
    if (s->inflight == 0 && on_drained) {
        s->on_drained = NULL;
        on_drained(arg);
    }
}

void rpc_server_close(rpc_server_t *s)
{
    rpc_server_abort_inflight(s);
    s->write_now = true;
    on_write_tick(&s->write_tick);
    flush_all(s);
    s->closing = true;
    s->draining = true;
    s->on_drained = NULL;
    if (s->listening) {
        s->listening = false;
        uv_close(&s->listener.handle, on_server_handle_closed);
        if (s->unix_path[0])
            unlink(s->unix_path);
    }
    uv_check_stop(&s->flush_check);
    uv_idle_stop(&s->flush_idle);
    uv_timer_stop(&s->idle_sweep);
    uv_timer_stop(&s->batch_timer);
    uv_close((uv_handle_t *)&s->batch_timer, on_server_handle_closed);
    uv_timer_stop(&s->hold_timer);
    uv_close((uv_handle_t *)&s->hold_timer, on_server_handle_closed);
    uv_timer_stop(&s->write_tick);
    uv_close((uv_handle_t *)&s->write_tick, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->idle_sweep, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->flush_check, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->flush_idle, on_server_handle_closed);
    while (!list_empty(&s->conns))
        conn_close(list_entry(list_first(&s->conns), rpc_conn_t, link));
}

bool rpc_server_overloaded(const rpc_server_t *s)
{
    return rpc_admit_overloaded(&s->admit, uv_hrtime());
}

bool rpc_server_busy(const rpc_server_t *s)
{
    return rpc_admit_busy(&s->admit, uv_hrtime());
}

size_t rpc_server_inflight(const rpc_server_t *s)
{
    return s->inflight;
}

size_t rpc_server_connections(const rpc_server_t *s)
{
    return s->nconns;
}

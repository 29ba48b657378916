/* The msgpack-RPC server: connections on the libuv loop (TCP or unix
 * socket), framing, dispatch through a method table, and replies.
 *
 * Requests on one connection are dispatched in arrival order; a handler may
 * answer at once or later (after Redis or PostgreSQL replied), so responses
 * may leave out of order. Every call must be answered exactly once, with
 * rpc_reply_begin/rpc_reply_end or rpc_reply_error, even if its connection
 * has gone (the reply is then dropped) and even for notifications (whose
 * reply is dropped too).
 *
 * Responses produced during one loop iteration are written together (a
 * uv_check flush), so pipelined clients get few, large writes. Each
 * connection has a budget (rpc_budget.h): past max_output (unsent output
 * plus calls in flight) it stops being read and its buffered requests wait;
 * it resumes as the client catches up; past max_output_hard of unsent
 * output it is closed. A connection with nothing in flight that shows no
 * activity for idle_timeout is closed. TCP connections get keepalive.
 *
 * Admission (rpc_admit.h) decides before a handler runs whether the call
 * may start: calls past the adaptive concurrency limit, or that waited too
 * long for their turn, are answered OVERLOADED at once, so overload costs
 * microseconds per shed call instead of queueing in the backends. */
#ifndef FC_RPC_RPC_SERVER_H
#define FC_RPC_RPC_SERVER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "rpc/rpc_msg.h"
#include "util/addr.h"

typedef struct rpc_server rpc_server_t;
typedef struct rpc_call rpc_call_t;

/* args is the map of named arguments, or NULL when params was []. It is
 * valid only until the handler returns: copy what an async handler keeps. */
typedef void rpc_handler_fn(rpc_call_t *call, const msgpack_object *args, void *ctx);

/* Control calls (ping, stats, auth, operations): cheap or rare, and wanted
 * most when the service is overloaded, so admission never sheds them. */
#define RPC_METHOD_UNLIMITED 1u

typedef struct {
    const char *name;
    rpc_handler_fn *handler;
    unsigned flags;                /* RPC_METHOD_* */
} rpc_method_t;

/* Authorization (rpc_auth.h): whether a connection whose role is `role`
 * (0 until rpc_call_set_role) may call method; known says whether the
 * method is in the table. Returns RPC_OK, or the error code to answer with
 * why. */
typedef rpc_code_t rpc_gate_fn(void *ctx, int role, const char *method, size_t len, bool known,
                               char *why, size_t whylen);

typedef struct {
    size_t max_frame;
    size_t max_output;             /* soft: unsent output + calls in flight (rpc_budget.h) */
    size_t max_output_hard;        /* unsent output beyond it closes; 0 = never */
    unsigned idle_timeout_ms;      /* nothing in flight, nothing received: close; 0 = never */
    unsigned max_connections;
    size_t max_inflight;           /* the concurrency limit (fixed) or its ceiling (adaptive);
                                      beyond: OVERLOADED with retry_after_ms; 0 = no ceiling */
    bool adaptive_limit;           /* rpc_admit.h */
    const rpc_method_t *methods;   /* must outlive the server */
    size_t nmethods;
    void *ctx;                     /* passed to every handler */
    rpc_gate_fn *gate;             /* NULL: every method is open */
    void *gate_ctx;                /* for gate; rpc_call_gate_ctx() */
} rpc_server_options_t;

/* Fails (-1, reason in err) when addr is a unix socket another process is
 * listening on. rpc_server_start refuses it too; this lets start-up fail
 * before anything else is started. A stale socket file passes. */
int rpc_server_check_address(const addr_t *addr, char *err, size_t errlen);

/* A unix socket file is replaced only when stale (nobody accepts on it). */
rpc_server_t *rpc_server_start(uv_loop_t *loop, const addr_t *addr,
                               const rpc_server_options_t *opts, char *err, size_t errlen);

/* Stops accepting connections; requests that arrive from now on get
 * UNAVAILABLE with retry_after_ms. on_drained runs (from the loop) once no
 * call is in flight. */
void rpc_server_drain(rpc_server_t *s, void (*on_drained)(void *arg), void *arg);

/* Answers every call still in flight with UNAVAILABLE now (their handlers'
 * later replies are dropped). For the shutdown deadline. */
void rpc_server_abort_inflight(rpc_server_t *s);

/* Flushes what can be flushed and closes every connection; frees the server
 * once its handles are closed. Calls still in flight are answered first. */
void rpc_server_close(rpc_server_t *s);

size_t rpc_server_inflight(const rpc_server_t *s);
/* Whether admission shed a call within the last moment (rpc_admit.h):
 * the fan-out yields while it did. */
bool rpc_server_overloaded(const rpc_server_t *s);
/* ...or held one (rpc_admit_busy): warming yields then too. The fan-out
 * does not: holds come with short bursts (a shared machine's stalls make
 * them every few hundred ms at half capacity), and the fan-out has the
 * contract's 1 s to keep, which yielding for 250 ms after each would
 * spend. */
bool rpc_server_busy(const rpc_server_t *s);
size_t rpc_server_connections(const rpc_server_t *s);

/* --- answering a call --------------------------------------------------- */

/* Returns a packer positioned after [1, msgid, nil, : pack exactly one
 * result object, then call rpc_reply_end. No other reply may be started in
 * between. */
msgpack_packer *rpc_reply_begin(rpc_call_t *call);
void rpc_reply_end(rpc_call_t *call);

void rpc_reply_error(rpc_call_t *call, rpc_code_t code, int64_t retry_after_ms,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

bool rpc_call_is_notification(const rpc_call_t *call);
/* A number identifying the call's connection: use it as the Redis pool's
 * affinity so one connection's commands stay in order. */
unsigned rpc_call_conn_id(const rpc_call_t *call);
const char *rpc_call_method(const rpc_call_t *call);

/* --- per-connection authentication state (rpc_auth.c) -------------------- */
void *rpc_call_gate_ctx(const rpc_call_t *call);
int rpc_call_role(const rpc_call_t *call);
void rpc_call_set_role(rpc_call_t *call, int role);
/* Counts a failed auth on the call's connection; returns the count so far. */
unsigned rpc_call_auth_failed(rpc_call_t *call);
/* Stops reading the call's connection and closes it once the replies
 * queued so far (this call's included) are written. */
void rpc_call_close_conn(rpc_call_t *call);

#endif

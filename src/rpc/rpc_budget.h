/* What one RPC connection may cost: a budget of unsent output plus calls in
 * flight (docs/PROTOCOL.md, "Backpressure and limits"). Pure logic, no I/O.
 *
 * A call in flight is charged the connection's estimated reply size (at
 * least RPC_BUDGET_CALL_MIN bytes), for the reply it will add; unsent output
 * is what was produced for the client and not yet taken by the kernel. Past
 * the soft limit the connection stops being read and its buffered requests
 * stop being started; it resumes below half of it. Past the hard limit
 * (unsent output alone: replies already made) the client is taken for one
 * that does not read and the connection is closed, as Redis's
 * client-output-buffer-limit does. A client that pipelines without reading
 * thus costs about twice the soft limit, whatever the size of its replies. */
#ifndef FC_RPC_RPC_BUDGET_H
#define FC_RPC_RPC_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

/* Least a call in flight is charged (small replies: pings, writes). */
#define RPC_BUDGET_CALL_MIN 4096
/* The estimate a connection starts with, before any reply was measured:
 * a new client's first pipeline of large pages cannot run far past the
 * soft limit before its replies are known. */
#define RPC_BUDGET_CALL_INITIAL 65536
/* Calls in flight per connection at most, whatever the soft limit. */
#define RPC_BUDGET_MAX_CALLS 1024

typedef struct {
    size_t soft;        /* max_output */
    size_t hard;        /* max_output_hard; 0: never close */
} rpc_budget_t;

/* unsent + call_cost per call in flight, saturating. */
size_t rpc_budget_cost(size_t unsent, size_t calls, size_t call_cost);

/* Another call may be started (and the connection read). */
bool rpc_budget_may_start(const rpc_budget_t *b, size_t unsent, size_t calls, size_t call_cost);
/* A paused connection may be read again: at most half the soft limit. */
bool rpc_budget_may_resume(const rpc_budget_t *b, size_t unsent, size_t calls,
                           size_t call_cost);
/* The client does not read: close the connection. */
bool rpc_budget_over_hard(const rpc_budget_t *b, size_t unsent);

/* The next estimate of a reply's size after one of reply_bytes: follows a
 * larger reply at once, a smaller one slowly (an eighth of the gap), and
 * never goes below RPC_BUDGET_CALL_MIN. Start from RPC_BUDGET_CALL_INITIAL. */
size_t rpc_budget_estimate(size_t estimate, size_t reply_bytes);

#endif

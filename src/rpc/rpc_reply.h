/* One reply helper per error code, so that a code always goes out with the
 * same retry hint: UNAVAILABLE and OVERLOADED tell the caller when to try
 * again, RPC_RETRY_AFTER_MS jittered by +-50% so that callers turned away
 * together do not all come back together; BAD_REQUEST, NOT_FOUND and
 * INTERNAL carry none, since retrying the same call would fail the same way.
 * (The server answers OVERLOADED for max_inflight itself, rpc_server.c.)
 * docs/PROTOCOL.md lists the codes. */
#ifndef FC_RPC_RPC_REPLY_H
#define FC_RPC_RPC_REPLY_H

#include "rpc/rpc_server.h"

/* How long a caller should wait before retrying after UNAVAILABLE. */
#define RPC_RETRY_AFTER_MS 1000

/* The success reply of the methods that return nothing else: {"ok": true}. */
void rpc_reply_ok(rpc_call_t *call);

void rpc_reply_unavailable(rpc_call_t *call, const char *why);
void rpc_reply_overloaded(rpc_call_t *call, const char *why);

/* RPC_RETRY_AFTER_MS with its jitter (what the two above send). */
int64_t rpc_retry_after_ms(void);
void rpc_reply_internal(rpc_call_t *call, const char *why);
void rpc_reply_bad_request(rpc_call_t *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rpc_reply_not_found(rpc_call_t *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

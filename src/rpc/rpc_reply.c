#include "rpc/rpc_reply.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "rpc/rpc_msg.h"
#include "util/rng.h"

/* Error messages are one line for a human: this bounds them. */
#define RPC_REPLY_MSG_MAX 512

static void reply_v(rpc_call_t *call, rpc_code_t code, int64_t retry_ms, const char *fmt,
                    va_list ap)
{
    char msg[RPC_REPLY_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    rpc_reply_error(call, code, retry_ms, "%s", msg);
}

int64_t rpc_retry_after_ms(void)
{
    /* One generator for the loop's thread: replies are only sent from it. */
    static rng_t rng;
    static bool seeded;
    if (!seeded) {
        rng_seed(&rng);
        seeded = true;
    }
    return RPC_RETRY_AFTER_MS / 2 + (int64_t)rng_below(&rng, RPC_RETRY_AFTER_MS + 1);
}

void rpc_reply_ok(rpc_call_t *call)
{
    msgpack_packer *pk = rpc_reply_begin(call);
    msgpack_pack_map(pk, 1);
    rpc_pack_cstr(pk, "ok");
    msgpack_pack_true(pk);
    rpc_reply_end(call);
}

void rpc_reply_unavailable(rpc_call_t *call, const char *why)
{
    rpc_reply_error(call, RPC_UNAVAILABLE, rpc_retry_after_ms(), "%s", why);
}

void rpc_reply_overloaded(rpc_call_t *call, const char *why)
{
    rpc_reply_error(call, RPC_OVERLOADED, rpc_retry_after_ms(), "%s", why);
}

void rpc_reply_internal(rpc_call_t *call, const char *why)
{
    rpc_reply_error(call, RPC_INTERNAL, -1, "%s", why);
}

void rpc_reply_bad_request(rpc_call_t *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_v(call, RPC_BAD_REQUEST, -1, fmt, ap);
    va_end(ap);
}

void rpc_reply_not_found(rpc_call_t *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_v(call, RPC_NOT_FOUND, -1, fmt, ap);
    va_end(ap);
}

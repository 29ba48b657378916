/* RPC methods of the daemon. The feed engine's methods join this table as
 * they are built; each handler lives with its module. */
#include <msgpack.h>

#include "feed/feed_metrics.h"
#include "feedcached/service.h"
#include "rpc/rpc_msg.h"

static void method_ping(rpc_call_t *call, const msgpack_object *args, void *ctx)
{
    msgpack_packer *pk = rpc_reply_begin(call);
    rpc_pack_cstr(pk, "pong");
    rpc_reply_end(call);
}

static void method_stats(rpc_call_t *call, const msgpack_object *args, void *ctx)
{
    msgpack_packer *pk = rpc_reply_begin(call);
    feed_metrics_pack_stats(pk);
    rpc_reply_end(call);
}

const rpc_method_t service_methods[] = {
    { "ping", method_ping },
    { "stats", method_stats },
};
const size_t service_nmethods = sizeof service_methods / sizeof service_methods[0];

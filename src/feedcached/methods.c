/* RPC methods of the daemon: one table; each handler lives with its module.
 * The handlers' ctx is the feed engine. */
#include <msgpack.h>

#include "feed/feed_methods.h"
#include "feed/feed_metrics.h"
#include "feedcached/service.h"
#include "rpc/rpc_auth.h"
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
    { "ping", method_ping, RPC_METHOD_UNLIMITED },
    { "stats", method_stats, RPC_METHOD_UNLIMITED },
    { "auth", rpc_auth_method, RPC_METHOD_UNLIMITED },
    { "post.publish", feed_method_publish, 0 },
    { "post.update", feed_method_update, 0 },
    { "post.delete", feed_method_delete, 0 },
    { "follow", feed_method_follow, 0 },
    { "unfollow", feed_method_unfollow, 0 },
    { "timeline.get", feed_method_timeline_get, 0 },
    { "timeline.invalidate", feed_method_invalidate, 0 },
    { "warm", feed_method_warm, RPC_METHOD_UNLIMITED },
    { "warm.status", feed_method_warm_status, RPC_METHOD_UNLIMITED },
    { "fanout.dead_letters", feed_method_fanout_dead_letters, RPC_METHOD_UNLIMITED },
    { "fanout.retry", feed_method_fanout_retry, RPC_METHOD_UNLIMITED },
};
const size_t service_nmethods = sizeof service_methods / sizeof service_methods[0];

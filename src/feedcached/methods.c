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
    { "ping", method_ping },
    { "stats", method_stats },
    { "auth", rpc_auth_method },
    { "post.publish", feed_method_publish },
    { "post.update", feed_method_update },
    { "post.delete", feed_method_delete },
    { "follow", feed_method_follow },
    { "unfollow", feed_method_unfollow },
    { "timeline.get", feed_method_timeline_get },
    { "timeline.invalidate", feed_method_invalidate },
    { "warm", feed_method_warm },
    { "warm.status", feed_method_warm_status },
    { "fanout.dead_letters", feed_method_fanout_dead_letters },
    { "fanout.retry", feed_method_fanout_retry },
};
const size_t service_nmethods = sizeof service_methods / sizeof service_methods[0];

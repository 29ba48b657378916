/* RPC handlers of the feed engine: argument checks (BAD_REQUEST naming the
 * field), then the engine. ctx is the feed_engine_t. */
#ifndef FC_FEED_FEED_METHODS_H
#define FC_FEED_FEED_METHODS_H

#include "rpc/rpc_server.h"

void feed_method_publish(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_update(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_delete(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_follow(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_unfollow(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_timeline_get(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_invalidate(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_warm(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_warm_status(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_fanout_dead_letters(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_fanout_retry(rpc_call_t *call, const msgpack_object *args, void *engine);

#endif

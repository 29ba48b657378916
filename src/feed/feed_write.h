/* The write methods: post.publish, post.update, post.delete,
 * timeline.invalidate (docs/PROTOCOL.md, "Methods"; follow and unfollow are
 * in feed_follow.h). Each answers its call (for a notification the answer
 * is dropped). */
#ifndef FC_FEED_FEED_WRITE_H
#define FC_FEED_FEED_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/feed_engine.h"
#include "rpc/rpc_server.h"

typedef struct {
    int64_t id;
    int64_t author_id;
    int64_t created_at;
    const char *body;          /* NULL when absent; copied */
    size_t body_len;
} feed_post_t;

void feed_publish(feed_engine_t *e, rpc_call_t *call, const feed_post_t *post);
void feed_post_update(feed_engine_t *e, rpc_call_t *call, int64_t id, const char *body,
                      size_t body_len);
void feed_post_delete(feed_engine_t *e, rpc_call_t *call, int64_t id, int64_t author_id);
void feed_invalidate(feed_engine_t *e, rpc_call_t *call, int64_t user_id);

#endif

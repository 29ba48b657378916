/* timeline.get (docs/PROTOCOL.md, "What timeline.get returns"): a page of a home
 * timeline, from Redis when it can, else from PostgreSQL. */
#ifndef FC_FEED_FEED_READ_H
#define FC_FEED_FEED_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "feed/feed_engine.h"
#include "feed/feed_merge.h"
#include "rpc/rpc_server.h"

typedef struct {
    int64_t user_id;
    int64_t limit;
    bool has_cursor;
    feed_key_t after;          /* the previous page's last post */
    bool hydrate;
} feed_read_req_t;

/* Answers call with {"posts", "next_cursor", "source", "degraded"} or an
 * error. */
void feed_timeline_get(feed_engine_t *e, rpc_call_t *call, const feed_read_req_t *req);

#endif

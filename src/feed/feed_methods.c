#include "feed/feed_methods.h"

#include <string.h>

#include "feed/feed_cursor.h"
#include "feed/feed_read.h"
#include "feed/feed_write.h"

/* Bodies are bounded by max_frame already; this bounds one post's body. */
#define FEED_BODY_MAX (1024 * 1024)
#define FEED_LIMIT_DEFAULT 20
#define FEED_LIMIT_MAX 200
/* created_at must be a non-negative epoch millisecond: feeds keep negative
 * scores for their own bookkeeping. */
#define FEED_TS_MAX INT64_C(253402300799999)

/* A required positive int64 id. Returns 0, or answers BAD_REQUEST and -1. */
static int need_id(rpc_call_t *call, const msgpack_object *args, const char *key, int64_t *out)
{
    char err[160];
    int rc = rpc_arg_int(args, key, 1, INT64_MAX, out, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc == 0)
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s: required", key);
    else
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", err);
    return -1;
}

void feed_method_publish(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    feed_post_t post;
    memset(&post, 0, sizeof post);
    if (need_id(call, args, "id", &post.id) || need_id(call, args, "author_id", &post.author_id))
        return;
    char err[160];
    int rc = rpc_arg_int(args, "created_at", 0, FEED_TS_MAX, &post.created_at, err, sizeof err);
    if (rc != 1) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", rc == 0 ? "created_at: required" : err);
        return;
    }
    if (rpc_arg_str(args, "body", FEED_BODY_MAX, &post.body, &post.body_len, err, sizeof err) < 0) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", err);
        return;
    }
    feed_publish(engine, call, &post);
}

void feed_method_update(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    int64_t id;
    if (need_id(call, args, "id", &id))
        return;
    const char *body;
    size_t len;
    char err[160];
    int rc = rpc_arg_str(args, "body", FEED_BODY_MAX, &body, &len, err, sizeof err);
    if (rc != 1) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", rc == 0 ? "body: required" : err);
        return;
    }
    feed_post_update(engine, call, id, body, len);
}

void feed_method_delete(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    int64_t id, author;
    if (need_id(call, args, "id", &id) || need_id(call, args, "author_id", &author))
        return;
    feed_post_delete(engine, call, id, author);
}

static int follow_args(rpc_call_t *call, const msgpack_object *args, int64_t *follower,
                       int64_t *followee)
{
    return need_id(call, args, "follower_id", follower) ||
           need_id(call, args, "followee_id", followee);
}

void feed_method_follow(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    int64_t follower, followee;
    if (follow_args(call, args, &follower, &followee) == 0)
        feed_follow(engine, call, follower, followee);
}

void feed_method_unfollow(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    int64_t follower, followee;
    if (follow_args(call, args, &follower, &followee) == 0)
        feed_unfollow(engine, call, follower, followee);
}

void feed_method_invalidate(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    int64_t user;
    if (need_id(call, args, "user_id", &user) == 0)
        feed_invalidate(engine, call, user);
}

void feed_method_timeline_get(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    feed_read_req_t req;
    memset(&req, 0, sizeof req);
    if (need_id(call, args, "user_id", &req.user_id))
        return;
    char err[160];
    req.limit = FEED_LIMIT_DEFAULT;
    if (rpc_arg_int(args, "limit", 1, FEED_LIMIT_MAX, &req.limit, err, sizeof err) < 0) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", err);
        return;
    }
    req.hydrate = true;
    if (rpc_arg_bool(args, "hydrate", &req.hydrate, err, sizeof err) < 0) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", err);
        return;
    }
    const char *cursor;
    size_t len;
    int rc = rpc_arg_str(args, "cursor", FEED_CURSOR_MAX, &cursor, &len, err, sizeof err);
    if (rc < 0) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", err);
        return;
    }
    if (rc == 1) {
        feed_cursor_t c;
        if (feed_cursor_decode(cursor, len, &c) != 0) {
            rpc_reply_error(call, RPC_BAD_REQUEST, -1, "cursor: malformed");
            return;
        }
        if (c.user_id != req.user_id) {
            rpc_reply_error(call, RPC_BAD_REQUEST, -1, "cursor: made for another user");
            return;
        }
        req.has_cursor = true;
        req.after = (feed_key_t){ c.ts, c.id };
    }
    feed_timeline_get(engine, call, &req);
}

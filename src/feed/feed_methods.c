/* Every method's arguments are checked here, before any work: a bad one
 * gets BAD_REQUEST naming the field. Then the module that does the work. */
#include "feed/feed_methods.h"

#include <stdlib.h>
#include <string.h>

#include "feed/feed_cursor.h"
#include "feed/feed_dead.h"
#include "feed/feed_follow.h"
#include "feed/feed_read.h"
#include "feed/feed_warm.h"
#include "feed/feed_warm_job.h"
#include "feed/feed_write.h"
#include "rpc/rpc_reply.h"
#include "store/redis/rds_keys.h"
#include "util/buf.h"

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
        rpc_reply_bad_request(call, "%s: required", key);
    else
        rpc_reply_bad_request(call, "%s", err);
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
        rpc_reply_bad_request(call, "%s", rc == 0 ? "created_at: required" : err);
        return;
    }
    if (rpc_arg_str(args, "body", FEED_BODY_MAX, &post.body, &post.body_len, err, sizeof err) < 0) {
        rpc_reply_bad_request(call, "%s", err);
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
        rpc_reply_bad_request(call, "%s", rc == 0 ? "body: required" : err);
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
        rpc_reply_bad_request(call, "%s", err);
        return;
    }
    req.hydrate = true;
    if (rpc_arg_bool(args, "hydrate", &req.hydrate, err, sizeof err) < 0) {
        rpc_reply_bad_request(call, "%s", err);
        return;
    }
    const char *cursor;
    size_t len;
    int rc = rpc_arg_str(args, "cursor", FEED_CURSOR_MAX, &cursor, &len, err, sizeof err);
    if (rc < 0) {
        rpc_reply_bad_request(call, "%s", err);
        return;
    }
    if (rc == 1) {
        feed_cursor_t c;
        if (feed_cursor_decode(cursor, len, &c) != 0) {
            rpc_reply_bad_request(call, "cursor: malformed");
            return;
        }
        if (c.user_id != req.user_id) {
            rpc_reply_bad_request(call, "cursor: made for another user");
            return;
        }
        req.has_cursor = true;
        req.after = (feed_key_t){ c.ts, c.id };
    }
    feed_timeline_get(engine, call, &req);
}

/* ---- warm, warm.status ------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* user_ids: an array of positive int64 ids. Returns 0 with the distinct ids
 * (sorted) in *out (free it), or -1 with the reason in err. */
static int parse_user_ids(const msgpack_object *v, int64_t **out, size_t *n, char *err,
                          size_t errlen)
{
    if (v->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, errlen, "user_ids: must be an array of user ids");
        return -1;
    }
    uint32_t size = v->via.array.size;
    int64_t *ids = fc_xmalloc((size ? size : 1) * sizeof *ids);
    for (uint32_t i = 0; i < size; i++) {
        const msgpack_object *o = &v->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 < 1 ||
            o->via.u64 > INT64_MAX) {
            snprintf(err, errlen, "user_ids[%u]: must be a positive integer id", i);
            free(ids);
            return -1;
        }
        ids[i] = (int64_t)o->via.u64;
    }
    qsort(ids, size, sizeof *ids, cmp_id);
    size_t k = 0;
    for (uint32_t i = 0; i < size; i++)
        if (k == 0 || ids[k - 1] != ids[i])
            ids[k++] = ids[i];
    *out = ids;
    *n = k;
    return 0;
}

void feed_method_warm(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    feed_warm_req_t req;
    memset(&req, 0, sizeof req);
    char err[160];
    const msgpack_object *ids_arg = rpc_arg(args, "user_ids");
    int rc = rpc_arg_int(args, "active_within_s", 1, INT64_MAX, &req.active_within_s, err,
                         sizeof err);
    if (rc < 0) {
        rpc_reply_bad_request(call, "%s", err);
        return;
    }
    if ((ids_arg != NULL) == (rc == 1)) {
        rpc_reply_bad_request(call, "user_ids, active_within_s: %s",
                              ids_arg ? "give only one of them" : "one of them is required");
        return;
    }
    req.by_activity = rc == 1;
    int rr = rpc_arg_number(args, "rate", &req.rate, err, sizeof err);
    if (rr < 0 || (rr == 1 && !(req.rate > 0))) {
        rpc_reply_bad_request(call, "%s", rr < 0 ? err : "rate: must be > 0");
        return;
    }
    req.has_rate = rr == 1;
    int64_t *ids = NULL;
    if (ids_arg && parse_user_ids(ids_arg, &ids, &req.nusers, err, sizeof err) != 0) {
        rpc_reply_bad_request(call, "%s", err);
        return;
    }
    req.users = ids;
    feed_warm_create(engine, call, &req);
    free(ids);
}

void feed_method_warm_status(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    char err[160];
    const char *job;
    size_t len;
    int rc = rpc_arg_str(args, "job", 1024, &job, &len, err, sizeof err);
    if (rc != 1) {
        rpc_reply_bad_request(call, "%s", rc == 0 ? "job: required" : err);
        return;
    }
    char id[RDS_KEY_JOB_MAX + 1], key[RDS_KEY_MAX];
    bool valid = false;
    if (len <= RDS_KEY_JOB_MAX && !memchr(job, '\0', len)) {
        memcpy(id, job, len);
        id[len] = '\0';
        valid = rds_key_warm(key, sizeof key, ((feed_engine_t *)engine)->prefix, id) > 0;
    }
    if (!valid) {
        /* Not a shape a job id can have: no such job. */
        rpc_reply_not_found(call, "job: no warm job '%.*s'", (int)(len > 64 ? 64 : len), job);
        return;
    }
    /* A job of this instance answers from memory: always current. */
    const feed_warm_job_t *st = feed_warm_find(engine, id);
    if (st) {
        feed_warm_job_pack_status(rpc_reply_begin(call), st);
        rpc_reply_end(call);
        return;
    }
    feed_warm_job_fetch_status(engine, call, id);
}

/* ---- fanout.dead_letters, fanout.retry (extensions) --------------------- */

/* An optional stream id argument. Returns 1 with a NUL-terminated copy in
 * out, 0 when absent, or -1 after answering BAD_REQUEST. */
static int dead_id_arg(rpc_call_t *call, const msgpack_object *args, const char *key,
                       char out[FEED_DEAD_ID_MAX + 1])
{
    char err[160];
    const char *s;
    size_t len;
    int rc = rpc_arg_str(args, key, 1024, &s, &len, err, sizeof err);
    if (rc < 0) {
        rpc_reply_bad_request(call, "%s", err);
        return -1;
    }
    if (rc == 0)
        return 0;
    if (!feed_dead_id_ok(s, len)) {
        rpc_reply_bad_request(call, "%s: must be a dead letter id such as 1700000000000-0 or "
                              "3/1700000000000-0 (shard 3)", key);
        return -1;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 1;
}

void feed_method_fanout_dead_letters(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    char err[160], after[FEED_DEAD_ID_MAX + 1];
    int64_t limit = 100;
    if (rpc_arg_int(args, "limit", 1, FEED_DEAD_LIST_MAX, &limit, err, sizeof err) < 0) {
        rpc_reply_bad_request(call, "%s", err);
        return;
    }
    int rc = dead_id_arg(call, args, "after", after);
    if (rc >= 0)
        feed_dead_list(engine, call, rc == 1 ? after : NULL, limit);
}

void feed_method_fanout_retry(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    char err[160], id[FEED_DEAD_ID_MAX + 1];
    bool all = false;
    if (rpc_arg_bool(args, "all", &all, err, sizeof err) < 0) {
        rpc_reply_bad_request(call, "%s", err);
        return;
    }
    int rc = dead_id_arg(call, args, "id", id);
    if (rc < 0)
        return;
    if ((rc == 1) == all) {
        rpc_reply_bad_request(call, "id, all: %s",
                              all ? "give only one of them" : "one of them is required");
        return;
    }
    feed_dead_retry(engine, call, all ? NULL : id);
}

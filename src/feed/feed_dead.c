#include "feed/feed_dead.h"

#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_scripts.h"
#include "rpc/rpc_msg.h"
#include "rpc/rpc_reply.h"
#include "store/redis/rds_batch.h"

bool feed_dead_id_ok(const char *s, size_t len)
{
    if (len == 0 || len > FEED_DEAD_ID_MAX)
        return false;
    size_t i = 0, digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (digits == 0 || digits > 20 || i == len || s[i] != '-')
        return false;
    size_t seq = 0;
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        seq++;
    return i == len && seq > 0 && seq <= 20;
}

typedef struct {
    rpc_call_t *call;
    rds_batch_t *batch;
    int64_t limit;
} dead_req_t;

static void req_free(dead_req_t *q)
{
    rds_batch_free(q->batch);
    free(q);
}

static dead_req_t *req_new(feed_engine_t *e, rpc_call_t *call)
{
    dead_req_t *q = fc_xcalloc(1, sizeof *q);
    q->call = call;
    q->batch = rds_batch_new(e->redis, rpc_call_conn_id(call));
    return q;
}

/* The first value of field `name` in a [field, value, ...] reply. */
static const redisReply *field(const redisReply *fields, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == n && memcmp(k->str, name, n) == 0)
            return fields->element[i + 1];
    }
    return NULL;
}

static void pack_str_field(msgpack_packer *pk, const redisReply *v)
{
    if (v && v->type == REDIS_REPLY_STRING) {
        msgpack_pack_str(pk, v->len);
        msgpack_pack_str_body(pk, v->str, v->len);
    } else {
        msgpack_pack_nil(pk);
    }
}

static void pack_int_field(msgpack_packer *pk, const redisReply *v)
{
    int64_t n;
    if (v && rds_reply_int(v, &n) == 0)
        msgpack_pack_int64(pk, n);
    else
        msgpack_pack_nil(pk);
}

/* entry: [id, [field, value...]]; the job's own fields follow the four
 * pairs the dead-letter script puts first. */
static void pack_dead_letter(msgpack_packer *pk, const redisReply *entry)
{
    const redisReply *fields = entry->element[1];
    const redisReply *own = NULL;
    redisReply rest;
    if (fields->type == REDIS_REPLY_ARRAY && fields->elements >= 8) {
        rest = *fields;
        rest.elements = fields->elements - 8;
        rest.element = fields->element + 8;
        own = &rest;
    }
    bool ok = fields->type == REDIS_REPLY_ARRAY;
    msgpack_pack_map(pk, 8);
    rpc_pack_cstr(pk, "id");
    pack_str_field(pk, entry->element[0]);
    rpc_pack_cstr(pk, "job");
    pack_str_field(pk, ok ? field(fields, "job") : NULL);
    rpc_pack_cstr(pk, "type");
    pack_str_field(pk, own ? field(own, "t") : NULL);
    rpc_pack_cstr(pk, "post");
    pack_int_field(pk, own ? field(own, "p") : NULL);
    rpc_pack_cstr(pk, "author");
    pack_int_field(pk, own ? field(own, "a") : NULL);
    rpc_pack_cstr(pk, "attempts");
    pack_int_field(pk, ok ? field(fields, "attempts") : NULL);
    rpc_pack_cstr(pk, "reason");
    pack_str_field(pk, ok ? field(fields, "reason") : NULL);
    rpc_pack_cstr(pk, "at_ms");
    pack_int_field(pk, ok ? field(fields, "at") : NULL);
}

static bool entry_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
           e->element[0]->type == REDIS_REPLY_STRING;
}

static void on_list(rds_batch_t *b, void *arg)
{
    dead_req_t *q = arg;
    const redisReply *len = rds_batch_reply(b, 0), *range = rds_batch_reply(b, 1);
    if (!len || !range || len->type != REDIS_REPLY_INTEGER ||
        range->type != REDIS_REPLY_ARRAY) {
        if (range && range->type == REDIS_REPLY_ERROR)
            rpc_reply_bad_request(q->call, "after: %s", range->str);
        else
            rpc_reply_unavailable(q->call, "Redis is unavailable");
        req_free(q);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < range->elements; i++)
        n += entry_ok(range->element[i]);
    msgpack_packer *pk = rpc_reply_begin(q->call);
    msgpack_pack_map(pk, 3);
    rpc_pack_cstr(pk, "total");
    msgpack_pack_int64(pk, len->integer);
    rpc_pack_cstr(pk, "dead_letters");
    msgpack_pack_array(pk, (uint32_t)n);
    const redisReply *last = NULL;
    for (size_t i = 0; i < range->elements; i++) {
        if (!entry_ok(range->element[i]))
            continue;
        pack_dead_letter(pk, range->element[i]);
        last = range->element[i]->element[0];
    }
    rpc_pack_cstr(pk, "next");
    if (last && (int64_t)range->elements >= q->limit)
        pack_str_field(pk, last);
    else
        msgpack_pack_nil(pk);
    rpc_reply_end(q->call);
    req_free(q);
}

void feed_dead_list(feed_engine_t *e, rpc_call_t *call, const char *after, int64_t limit)
{
    char key[RDS_KEY_MAX];
    rds_key_fanout_dead(key, sizeof key, e->prefix);
    dead_req_t *q = req_new(e, call);
    q->limit = limit;
    rds_args_t a;
    rds_args_init(&a);
    rds_args_str(&a, "XLEN");
    rds_args_str(&a, key);
    rds_batch_add(q->batch, &a);
    rds_args_reset(&a);
    rds_args_str(&a, "XRANGE");
    rds_args_str(&a, key);
    if (after)
        rds_args_addf(&a, "(%s", after);
    else
        rds_args_str(&a, "-");
    rds_args_str(&a, "+");
    rds_args_str(&a, "COUNT");
    rds_args_int(&a, limit);
    rds_batch_add(q->batch, &a);
    rds_args_free(&a);
    rds_batch_wait(q->batch, on_list, q);
}

static void on_retry(rds_batch_t *b, void *arg)
{
    dead_req_t *q = arg;
    const redisReply *n = rds_batch_reply(b, 0), *left = rds_batch_reply(b, 1);
    if (!n || !left || n->type != REDIS_REPLY_INTEGER || left->type != REDIS_REPLY_INTEGER) {
        rpc_reply_unavailable(q->call, "Redis is unavailable");
    } else if (q->limit == 1 && n->integer == 0) {
        rpc_reply_not_found(q->call, "id: no such dead letter");
    } else {
        msgpack_packer *pk = rpc_reply_begin(q->call);
        msgpack_pack_map(pk, 2);
        rpc_pack_cstr(pk, "requeued");
        msgpack_pack_int64(pk, n->integer);
        rpc_pack_cstr(pk, "remaining");
        msgpack_pack_int64(pk, left->integer);
        rpc_reply_end(q->call);
    }
    req_free(q);
}

void feed_dead_retry(feed_engine_t *e, rpc_call_t *call, const char *id)
{
    char stream[RDS_KEY_MAX], dead[RDS_KEY_MAX];
    rds_key_fanout(stream, sizeof stream, e->prefix);
    rds_key_fanout_dead(dead, sizeof dead, e->prefix);
    dead_req_t *q = req_new(e, call);
    q->limit = id ? 1 : FEED_DEAD_REQUEUE_MAX;
    rds_args_t a;
    rds_args_init(&a);
    feed_args_eval(&a, feed_script_fanout_requeue, 2);
    rds_args_str(&a, stream);
    rds_args_str(&a, dead);
    rds_args_int(&a, feed_now_ms());
    rds_args_int(&a, q->limit);
    rds_args_str(&a, id ? id : "");
    rds_batch_add(q->batch, &a);
    rds_args_reset(&a);
    rds_args_str(&a, "XLEN");
    rds_args_str(&a, dead);
    rds_batch_add(q->batch, &a);
    rds_args_free(&a);
    rds_batch_wait(q->batch, on_retry, q);
}

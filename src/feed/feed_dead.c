#include "feed/feed_dead.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_scripts.h"
#include "feed/feed_shard.h"
#include "rpc/rpc_msg.h"
#include "rpc/rpc_reply.h"
#include "store/redis/rds_batch.h"

/* DIGITS-DIGITS, each part 1..20 digits. */
static bool stream_id_ok(const char *s, size_t len)
{
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

bool feed_dead_id_parse(const char *s, size_t len, unsigned *shard, size_t *id_off)
{
    if (len == 0 || len > FEED_DEAD_ID_MAX)
        return false;
    unsigned sh = 0;
    size_t off = 0;
    const char *slash = memchr(s, '/', len);
    if (slash) {
        size_t n = (size_t)(slash - s);
        if (n == 0 || n > 2 || s[0] == '0')
            return false;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            sh = sh * 10 + (unsigned)(s[i] - '0');
        }
        if (sh >= FEED_SHARDS_MAX)
            return false;
        off = n + 1;
    }
    if (!stream_id_ok(s + off, len - off))
        return false;
    if (shard)
        *shard = sh;
    if (id_off)
        *id_off = off;
    return true;
}

bool feed_dead_id_ok(const char *s, size_t len)
{
    return feed_dead_id_parse(s, len, NULL, NULL);
}

typedef struct {
    rpc_call_t *call;
    rds_batch_t *batch;
    int64_t limit;
    unsigned nshards;          /* the engine's fan-out shards */
    unsigned first;            /* list: the shard of the first range */
    unsigned nscripts;         /* retry: requeue scripts sent (one per shard, or one) */
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
    q->nshards = e->fanout_shards;
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

/* A dead letter's id: its stream id, after "I/" for shard I > 0. */
static void pack_dead_id(msgpack_packer *pk, const redisReply *id, unsigned shard)
{
    char buf[FEED_DEAD_ID_MAX + 16];
    int n = shard ? snprintf(buf, sizeof buf, "%u/%.*s", shard, (int)id->len, id->str)
                  : snprintf(buf, sizeof buf, "%.*s", (int)id->len, id->str);
    if (n < 0 || (size_t)n >= sizeof buf)
        n = 0;
    msgpack_pack_str(pk, (size_t)n);
    msgpack_pack_str_body(pk, buf, (size_t)n);
}

/* entry: [id, [field, value...]]; the job's own fields follow the four
 * pairs the dead-letter script puts first. */
static void pack_dead_letter(msgpack_packer *pk, const redisReply *entry, unsigned shard)
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
    pack_dead_id(pk, entry->element[0], shard);
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

/* Replies: XLEN of every shard's dead-letter stream, then XRANGE of shards
 * q->first..nshards-1. Dead letters are taken shard by shard up to limit. */
static void on_list(rds_batch_t *b, void *arg)
{
    dead_req_t *q = arg;
    int64_t total = 0;
    for (unsigned i = 0; i < q->nshards; i++) {
        const redisReply *len = rds_batch_reply(b, i);
        if (!len || len->type != REDIS_REPLY_INTEGER) {
            rpc_reply_unavailable(q->call, "Redis is unavailable");
            req_free(q);
            return;
        }
        total += len->integer;
    }
    size_t nranges = rds_batch_count(b) - q->nshards;
    for (size_t i = 0; i < nranges; i++) {
        const redisReply *range = rds_batch_reply(b, q->nshards + i);
        if (!range || range->type != REDIS_REPLY_ARRAY) {
            if (range && range->type == REDIS_REPLY_ERROR)
                rpc_reply_bad_request(q->call, "after: %s", range->str);
            else
                rpc_reply_unavailable(q->call, "Redis is unavailable");
            req_free(q);
            return;
        }
    }
    int64_t n = 0;
    for (size_t i = 0; i < nranges; i++) {
        const redisReply *range = rds_batch_reply(b, q->nshards + i);
        for (size_t k = 0; k < range->elements && n < q->limit; k++)
            n += entry_ok(range->element[k]);
    }
    msgpack_packer *pk = rpc_reply_begin(q->call);
    msgpack_pack_map(pk, 3);
    rpc_pack_cstr(pk, "total");
    msgpack_pack_int64(pk, total);
    rpc_pack_cstr(pk, "dead_letters");
    msgpack_pack_array(pk, (uint32_t)n);
    const redisReply *last = NULL;
    unsigned last_shard = 0;
    int64_t packed = 0;
    for (size_t i = 0; i < nranges && packed < n; i++) {
        const redisReply *range = rds_batch_reply(b, q->nshards + i);
        for (size_t k = 0; k < range->elements && packed < n; k++) {
            if (!entry_ok(range->element[k]))
                continue;
            pack_dead_letter(pk, range->element[k], q->first + (unsigned)i);
            last = range->element[k]->element[0];
            last_shard = q->first + (unsigned)i;
            packed++;
        }
    }
    rpc_pack_cstr(pk, "next");
    if (last && n >= q->limit)
        pack_dead_id(pk, last, last_shard);
    else
        msgpack_pack_nil(pk);
    rpc_reply_end(q->call);
    req_free(q);
}

void feed_dead_list(feed_engine_t *e, rpc_call_t *call, const char *after, int64_t limit)
{
    char key[RDS_KEY_MAX];
    unsigned after_shard = 0;
    size_t off = 0;
    if (after && !feed_dead_id_parse(after, strlen(after), &after_shard, &off))
        after = NULL;               /* checked by the caller */
    dead_req_t *q = req_new(e, call);
    q->limit = limit;
    q->first = after ? after_shard : 0;
    rds_args_t a;
    rds_args_init(&a);
    for (unsigned s = 0; s < q->nshards; s++) {
        rds_args_reset(&a);
        rds_args_str(&a, "XLEN");
        rds_key_fanout_dead(key, sizeof key, e->prefix, s);
        rds_args_str(&a, key);
        rds_batch_add(q->batch, &a);
    }
    /* Every shard from the cursor's on may be needed to fill a page: one
     * range each, in one round trip (on a cluster, to their nodes). */
    for (unsigned s = q->first; s < q->nshards; s++) {
        rds_args_reset(&a);
        rds_args_str(&a, "XRANGE");
        rds_key_fanout_dead(key, sizeof key, e->prefix, s);
        rds_args_str(&a, key);
        if (after && s == after_shard)
            rds_args_addf(&a, "(%s", after + off);
        else
            rds_args_str(&a, "-");
        rds_args_str(&a, "+");
        rds_args_str(&a, "COUNT");
        rds_args_int(&a, limit);
        rds_batch_add(q->batch, &a);
    }
    rds_args_free(&a);
    rds_batch_wait(q->batch, on_list, q);
}

/* Replies: q->nscripts FANOUT_REQUEUE counts, then XLEN of every shard's
 * dead-letter stream. */
static void on_retry(rds_batch_t *b, void *arg)
{
    dead_req_t *q = arg;
    int64_t requeued = 0, left = 0;
    bool ok = true;
    for (size_t i = 0; i < rds_batch_count(b); i++) {
        const redisReply *r = rds_batch_reply(b, i);
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            ok = false;
            break;
        }
        if (i < q->nscripts)
            requeued += r->integer;
        else
            left += r->integer;
    }
    if (!ok) {
        rpc_reply_unavailable(q->call, "Redis is unavailable");
    } else if (q->limit == 1 && requeued == 0) {
        rpc_reply_not_found(q->call, "id: no such dead letter");
    } else {
        msgpack_packer *pk = rpc_reply_begin(q->call);
        msgpack_pack_map(pk, 2);
        rpc_pack_cstr(pk, "requeued");
        msgpack_pack_int64(pk, requeued);
        rpc_pack_cstr(pk, "remaining");
        msgpack_pack_int64(pk, left);
        rpc_reply_end(q->call);
    }
    req_free(q);
}

/* FANOUT_REQUEUE of shard s: `count` dead letters, or the one with stream id
 * `id`. The job goes back on its own shard's stream (one slot). */
static void add_requeue(dead_req_t *q, feed_engine_t *e, rds_args_t *a, unsigned s,
                        int64_t count, const char *id)
{
    char stream[RDS_KEY_MAX], dead[RDS_KEY_MAX];
    rds_key_fanout(stream, sizeof stream, e->prefix, s);
    rds_key_fanout_dead(dead, sizeof dead, e->prefix, s);
    feed_args_eval(a, feed_script_fanout_requeue, 2);
    rds_args_str(a, stream);
    rds_args_str(a, dead);
    rds_args_int(a, feed_now_ms());
    rds_args_int(a, count);
    rds_args_str(a, id ? id : "");
    rds_batch_add(q->batch, a);
    q->nscripts++;
}

void feed_dead_retry(feed_engine_t *e, rpc_call_t *call, const char *id)
{
    unsigned shard = 0;
    size_t off = 0;
    if (id && !feed_dead_id_parse(id, strlen(id), &shard, &off)) {
        rpc_reply_bad_request(call, "id: not a dead letter id");
        return;
    }
    if (id && shard >= e->fanout_shards) {
        /* Requeued there, no worker would read it (fanout_shards is lower
         * now): docs/OPERATIONS.md says how to drain such a shard. */
        rpc_reply_bad_request(call, "id: shard %u is not consumed (fanout_shards is %u)", shard,
                              e->fanout_shards);
        return;
    }
    dead_req_t *q = req_new(e, call);
    q->limit = id ? 1 : FEED_DEAD_REQUEUE_MAX;
    rds_args_t a;
    rds_args_init(&a);
    if (id) {
        add_requeue(q, e, &a, shard, 1, id + off);
    } else {
        /* An equal share per shard: about FEED_DEAD_REQUEUE_MAX per call. */
        int64_t share = (FEED_DEAD_REQUEUE_MAX + q->nshards - 1) / q->nshards;
        for (unsigned s = 0; s < q->nshards; s++)
            add_requeue(q, e, &a, s, share, NULL);
    }
    char dead[RDS_KEY_MAX];
    for (unsigned s = 0; s < q->nshards; s++) {
        rds_args_reset(&a);
        rds_args_str(&a, "XLEN");
        rds_key_fanout_dead(dead, sizeof dead, e->prefix, s);
        rds_args_str(&a, dead);
        rds_batch_add(q->batch, &a);
    }
    rds_args_free(&a);
    rds_batch_wait(q->batch, on_retry, q);
}

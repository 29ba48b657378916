#include "store/redis/rds_batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

/* ---- replies ----------------------------------------------------------- */

int rds_reply_int(const redisReply *r, int64_t *out)
{
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < 24) {
        char tmp[24], *end;
        memcpy(tmp, r->str, r->len);
        tmp[r->len] = '\0';
        errno = 0;
        long long v = strtoll(tmp, &end, 10);
        if (errno || *end)
            return -1;
        *out = v;
        return 0;
    }
    return -1;
}

/* ---- batch ------------------------------------------------------------- */

typedef struct {
    rds_batch_t *batch;
    size_t index;
    uint64_t generation;
} rds_slot_t;

struct rds_batch {
    rds_pool_t *pool;
    unsigned affinity;
    redisReply **replies;
    size_t n, cap;
    size_t outstanding;
    int failed;
    rds_batch_fn *cb;
    void *arg;
    uint64_t generation;      /* bumps on clear: late replies of old commands are ignored */
    int freed_pending;        /* rds_batch_free while commands are outstanding */
    uv_idle_t *defer;         /* completes a batch whose commands all failed at once */
};

rds_batch_t *rds_batch_new(rds_pool_t *pool, unsigned affinity)
{
    rds_batch_t *b = fc_xcalloc(1, sizeof *b);
    b->pool = pool;
    b->affinity = affinity;
    return b;
}

static void batch_destroy(rds_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->replies[i])
            rds_reply_free(b->replies[i]);
    free(b->replies);
    free(b);
}

static void batch_maybe_complete(rds_batch_t *b)
{
    if (b->outstanding > 0 || !b->cb)
        return;
    rds_batch_fn *cb = b->cb;
    b->cb = NULL;
    cb(b, b->arg);
}

static void on_batch_reply(redisReply *reply, void *privdata)
{
    rds_slot_t *slot = privdata;
    rds_batch_t *b = slot->batch;
    size_t i = slot->index;
    uint64_t gen = slot->generation;
    free(slot);
    b->outstanding--;
    if (b->freed_pending) {
        if (b->outstanding == 0)
            batch_destroy(b);
        return;
    }
    if (gen != b->generation)
        return;
    if (reply) {
        rds_reply_keep(reply);        /* no copy: the batch owns it now */
        b->replies[i] = reply;
    } else {
        b->failed = 1;
    }
    batch_maybe_complete(b);
}

size_t rds_batch_add(rds_batch_t *b, rds_args_t *args)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->replies = fc_xrealloc(b->replies, b->cap * sizeof *b->replies);
    }
    size_t i = b->n++;
    b->replies[i] = NULL;
    rds_slot_t *slot = fc_xmalloc(sizeof *slot);
    slot->batch = b;
    slot->index = i;
    slot->generation = b->generation;
    if (!b->pool) {
        /* No pool to defer to (Redis not configured): failed now. */
        free(slot);
        b->failed = 1;
        return i;
    }
    /* A command that cannot be sent comes back as NULL from the loop, like
     * one that lost its connection: one path for both. */
    b->outstanding++;
    rds_send(b->pool, b->affinity, args, on_batch_reply, slot);
    return i;
}

static void on_defer_closed(uv_handle_t *h)
{
    free(h);
}

static void on_defer(uv_idle_t *h)
{
    rds_batch_t *b = h->data;
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, on_defer_closed);
    b->defer = NULL;
    batch_maybe_complete(b);
}

void rds_batch_wait(rds_batch_t *b, rds_batch_fn *cb, void *arg)
{
    b->cb = cb;
    b->arg = arg;
    if (b->outstanding == 0) {
        /* Nothing in flight (an empty batch, or no pool): still complete
         * from the loop, never from inside the caller. */
        b->defer = fc_xmalloc(sizeof *b->defer);
        uv_idle_init(b->pool ? rds_pool_loop(b->pool) : uv_default_loop(), b->defer);
        b->defer->data = b;
        uv_idle_start(b->defer, on_defer);
    }
}

size_t rds_batch_count(const rds_batch_t *b)
{
    return b->n;
}

const redisReply *rds_batch_reply(const rds_batch_t *b, size_t i)
{
    return i < b->n ? b->replies[i] : NULL;
}

int rds_batch_failed(const rds_batch_t *b)
{
    return b->failed;
}

void rds_batch_clear(rds_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->replies[i])
            rds_reply_free(b->replies[i]);
    b->n = 0;
    b->failed = 0;
    b->generation++;
}

void rds_batch_free(rds_batch_t *b)
{
    if (!b)
        return;
    if (b->defer) {
        uv_idle_stop(b->defer);
        uv_close((uv_handle_t *)b->defer, on_defer_closed);
        b->defer = NULL;
    }
    b->cb = NULL;
    if (b->outstanding > 0) {
        b->freed_pending = 1;
        return;
    }
    batch_destroy(b);
}

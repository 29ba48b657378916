#include "feed/feed_hydrate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_metrics.h"
#include "feed/feed_postval.h"
#include "feed/feed_scripts.h"
#include "feed/feed_slots.h"
#include "util/log.h"
#include "util/num.h"

/* Keys per MGET on a single Redis: a page is at most a few dozen posts;
 * warming's longer lists are split so that no command blocks Redis long. */
#define HYDRATE_MGET_MAX 128

typedef struct {
    feed_engine_t *e;
    unsigned affinity;
    feed_hpost_t *posts;
    size_t n;
    buf_t *bodies;             /* the caller's, or NULL */
    bool counted;
    feed_hydrate_fn *cb;
    void *arg;
    pg_pool_t *pool;           /* where the misses were looked up */
    rds_batch_t *batch;
    rds_args_t args;
    buf_t value;               /* a write-back's value */
    size_t *order;             /* posts in the order the MGETs ask for them */
    size_t *first;             /* per MGET: its first place in order; one more at the end */
} hydrate_t;

static void hydrate_end(hydrate_t *h, int status, bool pg_used)
{
    feed_hydrate_fn *cb = h->cb;
    void *arg = h->arg;
    rds_batch_free(h->batch);
    rds_args_free(&h->args);
    buf_free(&h->value);
    free(h->order);
    free(h->first);
    free(h);
    cb(status, pg_used, arg);
}

/* Write-back of a post read from PostgreSQL. Fire and forget, on the
 * caller's connection so that its next read sees it. */
static void fill_post(hydrate_t *h, const feed_hpost_t *p, const char *body, size_t body_len)
{
    buf_reset(&h->value);
    if (p->deleted)
        buf_puts(&h->value, FEED_POSTVAL_TOMBSTONE);
    else
        feed_postval_post(&h->value, p->author_id, body, body_len);
    feed_args_eval(&h->args, feed_script_post_fill, 1);
    rds_args_key(&h->args, rds_key_post, h->e->prefix, p->id);
    rds_args_int(&h->args, h->e->post_ttl_s);
    rds_args_add(&h->args, h->value.data, h->value.len);
    rds_send(h->e->redis, h->affinity, &h->args, NULL, NULL);
}

static void on_rows(pg_status_t status, PGresult *res, const char *errmsg, void *arg);

static void take_body(feed_hpost_t *p, buf_t *bodies, const char *body, size_t len)
{
    p->body_off = bodies->len;
    p->body_len = len;
    buf_append(bodies, body, len);
}

/* Looks the posts still missing up on pool. */
static void query_misses(hydrate_t *h, pg_pool_t *pool)
{
    int64_t *ids = fc_xmalloc((h->n ? h->n : 1) * sizeof *ids);
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (!h->posts[i].found && !h->posts[i].deleted)
            ids[n++] = h->posts[i].id;
    h->pool = pool;
    pg_query_ids(pool, PGQ_posts_by_ids, ids, n, NULL, on_rows, h);
    free(ids);
}

static void on_rows(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    hydrate_t *h = arg;
    bool replica = h->pool != h->e->pg;
    if (status != PG_OK) {
        if (replica) {
            /* The replica failed: the primary has the same rows. */
            log_warn("feed", "post lookup on the read replica failed: %s; asking the primary",
                     errmsg ? errmsg : "?");
            query_misses(h, h->e->pg);
            return;
        }
        log_warn("feed", "post lookup failed: %s", errmsg ? errmsg : "?");
        hydrate_end(h, -1, true);
        return;
    }
    int rows = PQntuples(res);
    bool missing = false;
    for (size_t i = 0; i < h->n; i++) {
        feed_hpost_t *p = &h->posts[i];
        if (p->found || p->deleted)
            continue;
        /* Not in PostgreSQL at all: gone. Unless only the replica was asked:
         * a post younger than its replication lag is not there yet. */
        p->deleted = !replica;
        for (int row = 0; row < rows; row++) {
            if (fc_i64(PQgetvalue(res, row, 0)) != p->id)
                continue;
            p->found = true;
            p->author_id = fc_i64(PQgetvalue(res, row, 1));
            p->ts = fc_i64(PQgetvalue(res, row, 2));
            p->deleted = PQgetvalue(res, row, 4)[0] == 't';
            const char *body = PQgetvalue(res, row, 3);
            size_t len = (size_t)PQgetlength(res, row, 3);
            if (h->bodies && !p->deleted)
                take_body(p, h->bodies, body, len);
            fill_post(h, p, body, len);
            break;
        }
        missing |= !p->found && !p->deleted;
    }
    if (missing) {
        query_misses(h, h->e->pg);     /* only after the replica: see above */
        return;
    }
    hydrate_end(h, 0, true);
}

bool feed_hydrate_take(feed_hpost_t *p, const char *value, size_t len, buf_t *bodies)
{
    feed_postval_t v = value ? feed_postval_parse(value, len)
                             : (feed_postval_t){ .kind = FEED_POSTVAL_MISS };
    p->deleted = v.kind == FEED_POSTVAL_DELETED;
    p->found = v.kind == FEED_POSTVAL_POST;
    if (p->found) {
        p->author_id = v.author_id;
        if (bodies)
            take_body(p, bodies, v.body, v.body_len);
    }
    return p->found || p->deleted;
}

static void on_values(rds_batch_t *b, void *arg)
{
    hydrate_t *h = arg;
    size_t misses = 0;
    size_t commands = rds_batch_count(b);
    for (size_t c = 0; c < commands; c++) {
        const redisReply *r = rds_batch_reply(b, c);
        size_t from = h->first[c], n = h->first[c + 1] - from;
        bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == n;
        for (size_t j = 0; j < n; j++) {
            feed_hpost_t *p = &h->posts[h->order[from + j]];
            const redisReply *e = ok ? r->element[j] : NULL;
            bool string = e && e->type == REDIS_REPLY_STRING;
            bool hit = feed_hydrate_take(p, string ? e->str : NULL, string ? e->len : 0,
                                         h->bodies);
            if (h->counted)
                metric_inc(hit ? feed_metrics.post_hits : feed_metrics.post_misses);
            misses += !hit;
        }
    }
    if (misses == 0) {
        hydrate_end(h, 0, false);
        return;
    }
    if (feed_engine_pg_saturated(h->e)) {
        /* Served without those posts (degraded) rather than queued. */
        metric_inc(feed_metrics.pg_fallbacks_shed_total);
        hydrate_end(h, -1, false);
        return;
    }
    query_misses(h, feed_engine_pg_lagging(h->e));
}

/* Groups the posts not known yet into MGETs (returns how many posts): one per HYDRATE_MGET_MAX posts on a single
 * Redis; on a cluster one per slot (a multi-key command must stay in one
 * slot), which for a page is about one per post. */
static size_t plan_gets(hydrate_t *h)
{
    h->order = fc_xmalloc((h->n ? h->n : 1) * sizeof *h->order);
    h->first = fc_xmalloc((h->n + 1) * sizeof *h->first);
    size_t n = 0;              /* the posts not known yet (feed_hydrate_take) */
    for (size_t i = 0; i < h->n; i++)
        if (!h->posts[i].found && !h->posts[i].deleted)
            h->order[n++] = i;
    unsigned *slots = fc_xcalloc(n ? n : 1, sizeof *slots);
    if (rds_pool_is_cluster(h->e->redis)) {
        int64_t *ids = fc_xmalloc((n ? n : 1) * sizeof *ids);
        size_t *at = fc_xmalloc((n ? n : 1) * sizeof *at);
        for (size_t k = 0; k < n; k++)
            ids[k] = h->posts[h->order[k]].id;
        feed_slots_order(ids, at, slots, n, h->e->prefix, rds_key_post);
        for (size_t k = 0; k < n; k++)
            at[k] = h->order[at[k]];
        memcpy(h->order, at, n * sizeof *at);
        free(at);
        free(ids);
    }
    size_t c = 0;
    for (size_t k = 0; k < n; k += feed_slots_run(slots + k, n - k, HYDRATE_MGET_MAX))
        h->first[c++] = k;
    h->first[c] = n;
    free(slots);
    return n;
}

void feed_hydrate(feed_engine_t *e, unsigned affinity, feed_hpost_t *posts, size_t n,
                  buf_t *bodies, unsigned flags, feed_hydrate_fn *cb, void *arg)
{
    hydrate_t *h = fc_xcalloc(1, sizeof *h);
    h->e = e;
    h->affinity = affinity;
    h->posts = posts;
    h->n = n;
    h->bodies = bodies;
    h->counted = !(flags & FEED_HYDRATE_UNCOUNTED);
    h->cb = cb;
    h->arg = arg;
    h->batch = rds_batch_new(e->redis, affinity);
    rds_args_init(&h->args);
    buf_init(&h->value);
    size_t todo = plan_gets(h);
    for (size_t c = 0; h->first[c] < todo; c++) {
        rds_args_reset(&h->args);
        rds_args_str(&h->args, "MGET");
        for (size_t k = h->first[c]; k < h->first[c + 1]; k++)
            rds_args_key(&h->args, rds_key_post, e->prefix, posts[h->order[k]].id);
        rds_batch_add(h->batch, &h->args);
    }
    rds_batch_wait(h->batch, on_values, h);
}

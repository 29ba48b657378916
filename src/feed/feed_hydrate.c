#include "feed/feed_hydrate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_metrics.h"
#include "feed/feed_scripts.h"
#include "util/log.h"
#include "util/num.h"

typedef struct {
    feed_engine_t *e;
    unsigned affinity;
    feed_hpost_t *posts;
    size_t n;
    bool bodies;
    bool counted;
    feed_hydrate_fn *cb;
    void *arg;
    pg_pool_t *pool;           /* where the misses were looked up */
    rds_batch_t *batch;
    rds_args_t args;
} hydrate_t;

static void hydrate_end(hydrate_t *h, int status, bool pg_used)
{
    feed_hydrate_fn *cb = h->cb;
    void *arg = h->arg;
    rds_batch_free(h->batch);
    rds_args_free(&h->args);
    free(h);
    cb(status, pg_used, arg);
}

/* Write-back of a post read from PostgreSQL. Fire and forget, on the
 * caller's connection so that its next read sees it. */
static void fill_post(hydrate_t *h, const feed_hpost_t *p, const char *body, size_t body_len)
{
    feed_args_eval(&h->args, feed_script_post_fill, 1);
    rds_args_key(&h->args, rds_key_post, h->e->prefix, p->id);
    rds_args_int(&h->args, h->e->post_ttl_s);
    rds_args_str(&h->args, "a");
    rds_args_int(&h->args, p->author_id);
    if (p->deleted) {
        rds_args_str(&h->args, "d");
        rds_args_str(&h->args, "1");
    } else {
        rds_args_str(&h->args, "b");
        rds_args_add(&h->args, body, body_len);
    }
    rds_send(h->e->redis, h->affinity, &h->args, NULL, NULL);
}

static void on_rows(pg_status_t status, PGresult *res, const char *errmsg, void *arg);

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
                p->body = fc_xstrndup(body, len);
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

static bool field_is(const redisReply *r, const char *s)
{
    return r && r->type == REDIS_REPLY_STRING && strcmp(r->str, s) == 0;
}

static void on_hashes(rds_batch_t *b, void *arg)
{
    hydrate_t *h = arg;
    size_t misses = 0;
    int64_t *miss_ids = fc_xmalloc((h->n ? h->n : 1) * sizeof *miss_ids);
    for (size_t i = 0; i < h->n; i++) {
        feed_hpost_t *p = &h->posts[i];
        const redisReply *r = rds_batch_reply(b, i);
        /* HMGET a d [b]: a hash without 'a' was only touched by an update;
         * a hash without the body we need is read again too. (Not 't': the
         * created_at comes with the entry, from the feed's score.) */
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
            p->deleted = field_is(r->element[1], "1");
            if (r->element[0]->type == REDIS_REPLY_STRING) {
                p->author_id = fc_i64(r->element[0]->str);
                p->found = p->author_id > 0;
                if (p->found && h->bodies) {
                    const redisReply *body = r->elements >= 3 ? r->element[2] : NULL;
                    if (body && body->type == REDIS_REPLY_STRING)
                        p->body = fc_xstrndup(body->str, body->len);
                    else
                        p->found = false;
                }
            }
        }
        bool hit = p->found || p->deleted;
        if (h->counted)
            metric_inc(hit ? feed_metrics.post_hits : feed_metrics.post_misses);
        if (!hit)
            miss_ids[misses++] = p->id;
    }
    if (misses == 0) {
        free(miss_ids);
        hydrate_end(h, 0, false);
        return;
    }
    if (feed_engine_pg_saturated(h->e)) {
        /* Served without those posts (degraded) rather than queued. */
        metric_inc(feed_metrics.pg_fallbacks_shed_total);
        free(miss_ids);
        hydrate_end(h, -1, false);
        return;
    }
    free(miss_ids);
    query_misses(h, feed_engine_pg_lagging(h->e));
}

void feed_hydrate(feed_engine_t *e, unsigned affinity, feed_hpost_t *posts, size_t n,
                  unsigned flags, feed_hydrate_fn *cb, void *arg)
{
    bool bodies = flags & FEED_HYDRATE_BODIES;
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
    for (size_t i = 0; i < n; i++) {
        rds_args_reset(&h->args);
        rds_args_str(&h->args, "HMGET");
        rds_args_key(&h->args, rds_key_post, e->prefix, posts[i].id);
        rds_args_str(&h->args, "a");
        rds_args_str(&h->args, "d");
        if (bodies)
            rds_args_str(&h->args, "b");
        rds_batch_add(h->batch, &h->args);
    }
    rds_batch_wait(h->batch, on_hashes, h);
}

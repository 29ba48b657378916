#include "feedcached/health.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/list.h"

typedef enum {
    PROBE_SKIPPED,      /* no pool to check */
    PROBE_PENDING,
    PROBE_OK,
    PROBE_FAILED,
} probe_state_t;

typedef struct {
    probe_state_t state;
    char why[160];
} probe_t;

typedef struct check check_t;

struct health {
    uv_loop_t *loop;
    rds_pool_t *redis;
    pg_pool_t *pg;
    unsigned timeout_ms;
    rds_args_t ping;            /* PING, built once */
    list_t checks;              /* not yet answered (check_t.link) */
};

/* One check. It lives until it has answered AND every party that holds a
 * pointer to it is done: the Redis callback, the PostgreSQL callback and the
 * timer's close callback each hold a reference. That is what makes a reply
 * arriving after the timeout (or after health_destroy) safe. */
struct check {
    health_t *health;           /* NULL once answered */
    http_health_done_fn *done;
    void *ctx;
    uv_timer_t timer;
    int refs;
    probe_t redis;
    probe_t pg;
    int redis_was_ready;        /* Redis had a connection when PING was sent */
    list_t link;                /* in health->checks until answered */
};

static void check_unref(check_t *c)
{
    if (--c->refs == 0)
        free(c);
}

static void timer_closed(uv_handle_t *h)
{
    check_unref(h->data);
}

static void probe_fail(probe_t *p, const char *why)
{
    p->state = PROBE_FAILED;
    /* Keep the reason on one line: libpq's messages end with a newline. */
    size_t n = 0;
    for (const char *s = why; *s && n + 1 < sizeof p->why; s++)
        p->why[n++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
    while (n > 0 && p->why[n - 1] == ' ')
        n--;
    p->why[n] = '\0';
}

/* Sends the answer (once) and lets go of the timer. why_all, when set,
 * replaces the per-backend reasons. */
static void check_answer(check_t *c, const char *why_all)
{
    health_t *h = c->health;
    if (!h)
        return;
    c->health = NULL;
    list_remove(&c->link);

    buf_t reason;
    buf_init(&reason);
    const struct { const char *name; probe_t *p; } probes[] = {
        { "redis", &c->redis }, { "pg", &c->pg },
    };
    for (size_t i = 0; i < 2; i++) {
        if (probes[i].p->state != PROBE_FAILED)
            continue;
        if (reason.len)
            buf_puts(&reason, "; ");
        buf_printf(&reason, "%s: %s", probes[i].name, probes[i].p->why);
    }
    if (why_all) {
        buf_reset(&reason);
        buf_puts(&reason, why_all);
    }
    int healthy = reason.len == 0;
    /* c stays valid through done: the timer's reference is dropped only by
     * its close callback, from the loop. */
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
    c->done(c->ctx, healthy, healthy ? "ok" : reason.data);
    buf_free(&reason);
}

static void check_maybe_answer(check_t *c)
{
    if (c->redis.state != PROBE_PENDING && c->pg.state != PROBE_PENDING)
        check_answer(c, NULL);
}

/* One master answered. On a cluster that is not enough: every slot needs
 * a master with a ready connection (a failover under way, a node down),
 * or reads of some users fail. */
static void redis_ponged(check_t *c)
{
    rds_pool_t *redis = c->health->redis;
    if (rds_pool_is_cluster(redis) && rds_pool_ready(redis) == 0) {
        char why[sizeof c->redis.why];
        snprintf(why, sizeof why, "cluster: %s", rds_pool_last_error(redis));
        probe_fail(&c->redis, why);
        return;
    }
    c->redis.state = PROBE_OK;
}

static void redis_replied(struct redisReply *reply, void *privdata)
{
    check_t *c = privdata;
    if (c->health && c->redis.state == PROBE_PENDING) {
        if (!reply && c->redis_was_ready) {
            probe_fail(&c->redis, "no reply (connection lost)");
        } else if (!reply) {
            /* Say why: refused, timed out, or a name that does not resolve. */
            const char *last = rds_pool_last_error(c->health->redis);
            char why[sizeof c->redis.why];
            snprintf(why, sizeof why, "not connected%s%s", *last ? ": " : "", last);
            probe_fail(&c->redis, why);
        }
        else if (reply->type == REDIS_REPLY_ERROR)
            probe_fail(&c->redis, reply->str ? reply->str : "error reply");
        else if (reply->type == REDIS_REPLY_STATUS && reply->str &&
                 strcmp(reply->str, "PONG") == 0)
            redis_ponged(c);
        else
            probe_fail(&c->redis, "unexpected reply to PING");
        check_maybe_answer(c);
    }
    check_unref(c);
}

static void pg_replied(pg_status_t status, PGresult *res, const char *errmsg, void *privdata)
{
    check_t *c = privdata;
    if (c->health && c->pg.state == PROBE_PENDING) {
        if (status == PG_OK)
            c->pg.state = PROBE_OK;
        else
            probe_fail(&c->pg, errmsg && *errmsg ? errmsg
                               : status == PG_UNAVAILABLE ? "unavailable" : "error");
        check_maybe_answer(c);
    }
    check_unref(c);
}

static void check_timed_out(uv_timer_t *t)
{
    check_t *c = t->data;
    char why[64];
    snprintf(why, sizeof why, "timed out after %u ms", c->health ? c->health->timeout_ms : 0);
    if (c->redis.state == PROBE_PENDING)
        probe_fail(&c->redis, why);
    if (c->pg.state == PROBE_PENDING)
        probe_fail(&c->pg, why);
    check_answer(c, NULL);
}

health_t *health_create(uv_loop_t *loop, rds_pool_t *redis, pg_pool_t *pg, unsigned timeout_ms)
{
    health_t *h = fc_xcalloc(1, sizeof *h);
    h->loop = loop;
    h->redis = redis;
    h->pg = pg;
    h->timeout_ms = timeout_ms ? timeout_ms : 1;
    rds_args_init(&h->ping);
    rds_args_str(&h->ping, "PING");
    list_init(&h->checks);
    return h;
}

void health_check(void *health, http_health_done_fn *done, void *ctx)
{
    health_t *h = health;
    check_t *c = fc_xcalloc(1, sizeof *c);
    c->health = h;
    c->done = done;
    c->ctx = ctx;
    uv_timer_init(h->loop, &c->timer);
    c->timer.data = c;
    c->refs = 1;                 /* the timer */
    list_insert_head(&h->checks, &c->link);

    /* Both probes go out before either can answer: the pools never call
     * back from inside the call, and always call back (with a failure when
     * not connected), each dropping the reference it was given. */
    c->redis.state = PROBE_SKIPPED;
    if (h->redis) {
        c->redis.state = PROBE_PENDING;
        c->redis_was_ready = rds_pool_ready(h->redis) > 0;
        c->refs++;
        rds_send(h->redis, 0, &h->ping, redis_replied, c);
    }
    c->pg.state = PROBE_SKIPPED;
    if (h->pg) {
        c->pg.state = PROBE_PENDING;
        c->refs++;
        pg_query_i64(h->pg, PGQ_ping, NULL, pg_replied, c);
    }
    if (c->redis.state == PROBE_PENDING || c->pg.state == PROBE_PENDING)
        uv_timer_start(&c->timer, check_timed_out, h->timeout_ms, 0);
    else
        check_answer(c, NULL);
}

void health_destroy(health_t *h)
{
    if (!h)
        return;
    /* The pools' late replies find c->health NULL and only drop their
     * reference, so h can go now. */
    while (!list_empty(&h->checks))   /* check_answer unlinks it */
        check_answer(list_entry(list_first(&h->checks), check_t, link), "shutting down");
    rds_args_free(&h->ping);
    free(h);
}

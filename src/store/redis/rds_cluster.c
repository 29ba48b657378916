/* The Redis Cluster router (see rds_cluster.h for what it does).
 *
 * Every command is wrapped in a cl_cmd_t that keeps its RESP bytes, so a
 * redirect or a retry resends exactly what the caller built. A wrapper is
 * either handed to a node (counted in `inflight`) or parked (waiting for
 * the first map or for a retry time): the parked list is walked by the
 * `wake` timer, started only while something is parked.
 *
 * Nodes are entries of a table that only grows (at most
 * RDS_CLUSTER_MAX_NODES addresses); the slot map holds indexes into it. A
 * node whose address stops serving slots keeps its entry; its pool is
 * closed once idle and created again if the address comes back.
 *
 * Lifetime: rds_cluster_close closes the node pools (their outstanding
 * commands call back NULL through on_node_reply) and the router's own
 * handles; the router is freed once both handles are closed and no node
 * holds a command of ours (`inflight` 0), whichever comes last. */
#include "store/redis/rds_cluster.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "metrics/metrics.h"
#include "store/redis/rds_node.h"
#include "store/redis/rds_slots.h"
#include "util/list.h"
#include "util/log.h"
#include "util/num.h"

#define RDS_CLUSTER_MAX_NODES 256
#define RDS_CLUSTER_MAX_REDIRECTS 5
#define RDS_CLUSTER_REFRESH_EVERY_MS 5000
/* Refreshes asked for by redirects or failures: at most this often. */
#define RDS_CLUSTER_REFRESH_MIN_GAP_MS 100
#define RDS_CLUSTER_RETRY_FIRST_MS 20
#define RDS_CLUSTER_RETRY_MAX_MS 500
/* A pool of a node that no longer serves slots is closed after this long. */
#define RDS_CLUSTER_RETIRE_AFTER_MS 10000
#define RDS_CLUSTER_HOUSEKEEPING_MS 250

static const char ASKING_RESP[] = "*1\r\n$6\r\nASKING\r\n";
static const char SLOTS_RESP[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";

#define CL_METRICS(ACTION) \
    ACTION(redis_cluster_refreshes_total, METRIC_COUNTER, \
           "Redis Cluster slot map refreshes (CLUSTER SLOTS) that succeeded") \
    ACTION(redis_cluster_retries_total, METRIC_COUNTER, \
           "Redis Cluster commands resent after TRYAGAIN or CLUSTERDOWN") \
    ACTION(redis_cluster_masters, METRIC_GAUGE, \
           "Redis Cluster masters in the current slot map")

typedef struct { CL_METRICS(METRIC_FIELD) } cl_metrics_t;
static cl_metrics_t cl_metrics;
static metric_t *metric_moved, *metric_ask;

typedef struct {
    char host[256];
    int port;
    rds_node_t *pool;           /* NULL when closed (or never opened) */
    bool master;                /* serves slots in the current map */
    uint64_t idle_since_ms;     /* when it stopped being a master */
} cl_node_t;

typedef struct {
    rds_cluster_t *cl;
    list_t link;                /* in cl->parked while parked */
    rds_reply_fn *cb;
    void *privdata;
    unsigned affinity;
    int slot;                   /* -1: keyless, any master */
    int node;                   /* the node it was last sent to */
    int ask_node;               /* >= 0: send ASKING + command there */
    int redirects;
    int retries;
    bool fail;                  /* parked only to call back NULL from the loop */
    uint64_t since_ms;
    uint64_t retry_at_ms;       /* parked: not before; 0 waits for the map */
    size_t len;
    char resp[];
} cl_cmd_t;

struct rds_cluster {
    rds_kind_t kind;            /* RDS_KIND_CLUSTER, first: see rds_node.h */
    uv_loop_t *loop;
    rds_url_t url;
    rds_pool_options_t opts;
    char name[64];
    unsigned timeout_ms;
    cl_node_t *nodes[RDS_CLUSTER_MAX_NODES];
    int nnodes;
    int16_t owner[RDS_SLOTS];   /* node index, -1: no master known */
    bool map_known;
    int masters;
    int pending;                /* user commands without their callback yet */
    int inflight;               /* our commands a node holds (the refresh too) */
    list_t parked;
    uv_timer_t wake;            /* parked commands: retries, map waits, failures */
    uv_timer_t housekeeping;    /* periodic refresh, retiring idle pools */
    bool refreshing;
    bool refresh_wanted;
    uint64_t last_refresh_ms;   /* when the last refresh was sent */
    int refresh_failures;       /* in a row */
    int next_seed;
    int next_any;               /* round robin for keyless commands */
    int refresh_node;           /* whom the refresh under way asked */
    int covered;                /* slots with a master in the map */
    bool closing;
    bool wake_closing;
    int open_handles;
    char last_error[256];       /* why the last refresh failed */
    char why[320];              /* rds_cluster_last_error's answer */
};

static void dispatch(cl_cmd_t *c);
static void refresh_now(rds_cluster_t *cl);
static void want_refresh(rds_cluster_t *cl);

/* --- nodes -------------------------------------------------------------- */

static int node_index(rds_cluster_t *cl, const char *host, int port)
{
    for (int i = 0; i < cl->nnodes; i++)
        if (cl->nodes[i]->port == port && strcmp(cl->nodes[i]->host, host) == 0)
            return i;
    int slot = -1;
    if (cl->nnodes < RDS_CLUSTER_MAX_NODES) {
        slot = cl->nnodes++;
        cl->nodes[slot] = fc_xcalloc(1, sizeof *cl->nodes[slot]);
    } else {
        /* Full (addresses churned for a long time): reuse a closed entry
         * that the map does not point at. */
        for (int i = 0; i < cl->nnodes && slot < 0; i++)
            if (!cl->nodes[i]->pool && !cl->nodes[i]->master)
                slot = i;
        if (slot < 0)
            return -1;
    }
    cl_node_t *n = cl->nodes[slot];
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->master = false;
    n->idle_since_ms = uv_now(cl->loop);
    return slot;
}

static rds_node_t *node_pool(rds_cluster_t *cl, int i)
{
    cl_node_t *n = cl->nodes[i];
    if (!n->pool) {
        rds_url_t u = cl->url;
        u.is_cluster = 0;
        u.nseeds = 0;
        snprintf(u.host, sizeof u.host, "%s", n->host);
        u.port = n->port;
        n->pool = rds_node_create(cl->loop, &u, &cl->opts);
    }
    return n->pool;
}

/* --- ending ---------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *handle);

/* Closing: the wake timer closes once nothing is parked or held by a node;
 * the router is freed once its handles are closed and nothing is held. */
static void maybe_end(rds_cluster_t *cl)
{
    if (!cl->closing)
        return;
    if (!cl->wake_closing && cl->inflight == 0 && list_empty(&cl->parked)) {
        cl->wake_closing = true;
        uv_close((uv_handle_t *)&cl->wake, on_handle_closed);
    }
    if (cl->open_handles == 0 && cl->inflight == 0) {
        for (int i = 0; i < cl->nnodes; i++)
            free(cl->nodes[i]);
        free(cl);
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    rds_cluster_t *cl = handle->data;
    cl->open_handles--;
    maybe_end(cl);
}

/* Calls the caller back; the callback may send or close the router (which
 * stays allocated: freeing needs a close callback from the loop). */
static void finish(cl_cmd_t *c, redisReply *reply)
{
    rds_cluster_t *cl = c->cl;
    rds_reply_fn *cb = c->cb;
    void *pd = c->privdata;
    cl->pending--;
    free(c);
    if (cb)
        cb(reply, pd);
}

/* --- parking ------------------------------------------------------------- */

static void on_wake(uv_timer_t *timer);

static void arm_wake(rds_cluster_t *cl, uint64_t delay)
{
    if (cl->wake_closing)
        return;
    if (!uv_is_active((uv_handle_t *)&cl->wake) || uv_timer_get_due_in(&cl->wake) > delay)
        uv_timer_start(&cl->wake, on_wake, delay, 0);
}

/* retry_at_ms 0: until the first slot map arrives. */
static void park(cl_cmd_t *c, uint64_t retry_at_ms)
{
    rds_cluster_t *cl = c->cl;
    if (cl->wake_closing) {
        /* Sent while the closed router waits to be freed: nothing is left
         * to call back from later. */
        finish(c, NULL);
        return;
    }
    c->retry_at_ms = retry_at_ms;
    list_insert_tail(&cl->parked, &c->link);
    uint64_t now = uv_now(cl->loop);
    if (c->fail)
        arm_wake(cl, 0);
    else if (retry_at_ms == 0)
        arm_wake(cl, c->since_ms + cl->timeout_ms > now ? c->since_ms + cl->timeout_ms - now : 0);
    else
        arm_wake(cl, retry_at_ms > now ? retry_at_ms - now : 0);
}

static void park_failure(cl_cmd_t *c)
{
    c->fail = true;
    park(c, 0);
}

static void on_wake(uv_timer_t *timer)
{
    rds_cluster_t *cl = timer->data;
    uint64_t now = uv_now(cl->loop);
    list_t todo;
    list_init(&todo);
    list_splice_tail(&todo, &cl->parked);
    list_t *node;
    while ((node = list_pop_head(&todo)) != NULL) {
        cl_cmd_t *c = list_entry(node, cl_cmd_t, link);
        if (c->fail || cl->closing || now - c->since_ms >= cl->timeout_ms)
            finish(c, NULL);
        else if (c->retry_at_ms == 0 ? cl->map_known : c->retry_at_ms <= now)
            dispatch(c);
        else
            park(c, c->retry_at_ms);
    }
    maybe_end(cl);
}

/* --- sending --------------------------------------------------------------- */

/* A master for a keyless command: one with a ready connection, in turn. */
static int any_master(rds_cluster_t *cl)
{
    int fallback = -1;
    for (int k = 0; k < cl->nnodes; k++) {
        int i = (cl->next_any + k) % cl->nnodes;
        cl_node_t *n = cl->nodes[i];
        if (!n->master)
            continue;
        if (n->pool && rds_node_ready(n->pool) > 0) {
            cl->next_any = i + 1;
            return i;
        }
        if (fallback < 0)
            fallback = i;
    }
    return fallback;
}

/* Every seed (and known master) has failed to give a map: Redis is known
 * down, commands fail at once instead of waiting. */
static bool map_unreachable(const rds_cluster_t *cl)
{
    return !cl->map_known && cl->refresh_failures >= cl->url.nseeds;
}

static void on_node_reply(redisReply *reply, void *arg);

static void dispatch(cl_cmd_t *c)
{
    rds_cluster_t *cl = c->cl;
    if (cl->closing) {
        park_failure(c);
        return;
    }
    int idx;
    if (c->ask_node >= 0) {
        idx = c->ask_node;
    } else if (!cl->map_known) {
        if (map_unreachable(cl)) {
            park_failure(c);
        } else {
            want_refresh(cl);
            park(c, 0);
        }
        return;
    } else if (c->slot >= 0) {
        idx = cl->owner[c->slot];
        if (idx < 0) {
            /* No master serves the slot (a failover under way): ask again
             * for the map and retry shortly, within the deadline. */
            want_refresh(cl);
            park(c, uv_now(cl->loop) + RDS_CLUSTER_RETRY_MAX_MS / 5);
            return;
        }
    } else {
        idx = any_master(cl);
    }
    rds_node_t *pool = idx >= 0 ? node_pool(cl, idx) : NULL;
    if (!pool) {
        park_failure(c);
        return;
    }
    c->node = idx;
    if (c->ask_node >= 0) {
        /* Same affinity, sent back to back: the same connection, in order. */
        rds_node_send(pool, c->affinity, ASKING_RESP, sizeof ASKING_RESP - 1, NULL, NULL);
        c->ask_node = -1;
    }
    cl->inflight++;
    rds_node_send(pool, c->affinity, c->resp, c->len, on_node_reply, c);
}

/* Handles a redirect or a retryable error; true when c went on its way
 * (resent or parked) instead of to the caller. */
static bool follow(cl_cmd_t *c, const redisReply *reply)
{
    rds_cluster_t *cl = c->cl;
    rds_redirect_t rd;
    rds_redirect_kind_t kind = rds_redirect_parse(reply->str, reply->len, &rd);
    if (kind != RDS_REDIRECT_NONE) {
        if (c->redirects >= RDS_CLUSTER_MAX_REDIRECTS)
            return false;
        if (!rd.host[0])
            snprintf(rd.host, sizeof rd.host, "%s", cl->nodes[c->node]->host);
        int idx = node_index(cl, rd.host, rd.port);
        if (idx < 0)
            return false;
        c->redirects++;
        if (kind == RDS_REDIRECT_MOVED) {
            metric_inc(metric_moved);
            cl->owner[rd.slot] = (int16_t)idx;
            want_refresh(cl);
        } else {
            metric_inc(metric_ask);
            c->ask_node = idx;
        }
        dispatch(c);
        return true;
    }
    uint64_t now = uv_now(cl->loop);
    if (!rds_slots_retryable_error(reply->str, reply->len) ||
        now - c->since_ms >= cl->timeout_ms)
        return false;
    unsigned delay = RDS_CLUSTER_RETRY_FIRST_MS << (c->retries < 5 ? c->retries : 5);
    if (delay > RDS_CLUSTER_RETRY_MAX_MS)
        delay = RDS_CLUSTER_RETRY_MAX_MS;
    c->retries++;
    metric_inc(cl_metrics.redis_cluster_retries_total);
    if (strncmp(reply->str, "CLUSTERDOWN", 11) == 0)
        want_refresh(cl);
    park(c, now + delay);
    return true;
}

static void on_node_reply(redisReply *reply, void *arg)
{
    cl_cmd_t *c = arg;
    rds_cluster_t *cl = c->cl;
    bool handled = false;
    if (!cl->closing) {
        if (!reply)
            want_refresh(cl);   /* a node lost: a failover may be under way */
        else if (reply->type == REDIS_REPLY_ERROR)
            handled = follow(c, reply);
    }
    if (!handled)
        finish(c, reply);
    /* Counted down only now: a close from inside the callback must not
     * free the router under us. */
    cl->inflight--;
    maybe_end(cl);
}

void rds_cluster_send(rds_cluster_t *cl, unsigned affinity, rds_args_t *args, rds_reply_fn *cb,
                      void *privdata)
{
    bool empty = !args || args->argc == 0;
    const buf_t *resp = empty ? NULL : rds_args_resp(args);
    size_t len = resp ? resp->len : 0;
    cl_cmd_t *c = fc_xmalloc(sizeof *c + len);
    memset(c, 0, sizeof *c);
    c->cl = cl;
    c->cb = cb;
    c->privdata = privdata;
    c->affinity = affinity;
    c->ask_node = -1;
    c->node = -1;
    c->since_ms = uv_now(cl->loop);
    c->len = len;
    if (len)
        memcpy(c->resp, resp->data, len);
    cl->pending++;
    if (empty) {
        park_failure(c);
        return;
    }
    c->slot = args->route_slot1 > 0 ? args->route_slot1 - 1
                                    : rds_slots_of_command(args->argc, rds_args_argv(args),
                                                           rds_args_lens(args));
    dispatch(c);
}

/* --- refresh -------------------------------------------------------------- */

static void want_refresh(rds_cluster_t *cl)
{
    cl->refresh_wanted = true;
    if (cl->closing || cl->refreshing)
        return;
    if (!cl->map_known ||
        uv_now(cl->loop) - cl->last_refresh_ms >= RDS_CLUSTER_REFRESH_MIN_GAP_MS)
        refresh_now(cl);
    /* else the housekeeping timer sends it */
}

static void apply_map(rds_cluster_t *cl, const rds_slot_range_t *ranges, int n)
{
    static int16_t owner[RDS_SLOTS];
    for (int s = 0; s < RDS_SLOTS; s++)
        owner[s] = -1;
    bool master[RDS_CLUSTER_MAX_NODES] = { false };
    for (int i = 0; i < n; i++) {
        int idx = node_index(cl, ranges[i].host, ranges[i].port);
        if (idx < 0)
            continue;
        master[idx] = true;
        for (int s = ranges[i].start; s <= ranges[i].end; s++)
            owner[s] = (int16_t)idx;
    }
    int covered = 0, masters = 0;
    for (int s = 0; s < RDS_SLOTS; s++)
        covered += owner[s] >= 0;
    uint64_t now = uv_now(cl->loop);
    int moved = 0;
    for (int s = 0; s < RDS_SLOTS; s++)
        moved += owner[s] != cl->owner[s];
    /* New or lost masters and uncovered slots are news; slots moving
     * between the same masters (a resharding, one slot at a time) are not. */
    bool news = !cl->map_known || covered != cl->covered;
    for (int i = 0; i < cl->nnodes; i++) {
        cl_node_t *node = cl->nodes[i];
        news |= node->master != master[i];
        if (node->master && !master[i])
            node->idle_since_ms = now;
        node->master = master[i];
        masters += master[i];
        if (master[i])
            node_pool(cl, i);       /* connecting before the first command */
    }
    memcpy(cl->owner, owner, sizeof owner);
    cl->masters = masters;
    cl->covered = covered;
    metric_set(cl_metrics.redis_cluster_masters, masters);
    if (!news && moved > 0) {
        log_debug("rds", "%s: slot map: %d slots moved", cl->name, moved);
    } else if (news) {
        if (covered < RDS_SLOTS)
            log_warn("rds", "%s: slot map: %d masters, %d of %d slots served", cl->name, masters,
                     covered, RDS_SLOTS);
        else
            log_info("rds", "%s: slot map: %d masters serve all %d slots", cl->name, masters,
                     RDS_SLOTS);
    }
    cl->map_known = true;
}

static void on_slots_reply(redisReply *reply, void *arg)
{
    rds_cluster_t *cl = arg;
    int asked = cl->refresh_node;
    cl->refreshing = false;
    if (!cl->closing) {
        size_t cap = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements ? reply->elements : 1;
        rds_slot_range_t *ranges = fc_xmalloc(cap * sizeof *ranges);
        char err[200] = "no reply";
        int n = reply ? rds_slots_parse(reply, cl->nodes[asked]->host, ranges, cap, err,
                                        sizeof err)
                      : -1;
        if (n > 0) {
            cl->refresh_failures = 0;
            cl->last_error[0] = '\0';
            metric_inc(cl_metrics.redis_cluster_refreshes_total);
            apply_map(cl, ranges, n);
            if (!list_empty(&cl->parked))
                arm_wake(cl, 0);    /* commands that waited for the map go now */
        } else {
            if (n == 0)
                snprintf(err, sizeof err, "CLUSTER SLOTS: no slots assigned");
            cl->refresh_failures++;
            cl->refresh_wanted = true;
            snprintf(cl->last_error, sizeof cl->last_error, "%.200s:%d: %s",
                     cl->nodes[asked]->host, cl->nodes[asked]->port, err);
            log_debug("rds", "%s: slot map refresh failed: %s", cl->name, cl->last_error);
            if (map_unreachable(cl) && !list_empty(&cl->parked)) {
                /* Every seed failed: what waited for the map fails now. */
                list_foreach(pos, &cl->parked) {
                    cl_cmd_t *c = list_entry(pos, cl_cmd_t, link);
                    if (c->retry_at_ms == 0)
                        c->fail = true;
                }
                arm_wake(cl, 0);
            } else if (!cl->map_known) {
                refresh_now(cl);    /* the next seed at once */
            }
        }
        free(ranges);
    }
    cl->inflight--;
    maybe_end(cl);
}

/* Whom to ask: a master with a ready connection (in turn); after a failed
 * refresh, or with no map yet, the known masters and the seeds in turn. */
static int refresh_target(rds_cluster_t *cl)
{
    if (cl->map_known && cl->refresh_failures == 0) {
        int i = any_master(cl);
        if (i >= 0 && cl->nodes[i]->pool && rds_node_ready(cl->nodes[i]->pool) > 0)
            return i;
    }
    int candidates = cl->masters + cl->url.nseeds;
    if (candidates == 0)
        return -1;
    int pick = cl->next_seed++ % candidates;
    if (pick < cl->masters) {
        int seen = 0;
        for (int i = 0; i < cl->nnodes; i++)
            if (cl->nodes[i]->master && seen++ == pick)
                return i;
        return -1;
    }
    const rds_url_seed_t *s = &cl->url.seeds[pick - cl->masters];
    return node_index(cl, s->host, s->port);
}

static void refresh_now(rds_cluster_t *cl)
{
    if (cl->closing || cl->refreshing)
        return;
    int i = refresh_target(cl);
    rds_node_t *pool = i >= 0 ? node_pool(cl, i) : NULL;
    if (!pool)
        return;
    cl->refreshing = true;
    cl->refresh_wanted = false;
    cl->refresh_node = i;
    cl->last_refresh_ms = uv_now(cl->loop);
    cl->inflight++;
    rds_node_send(pool, 0, SLOTS_RESP, sizeof SLOTS_RESP - 1, on_slots_reply, cl);
}

static void on_housekeeping(uv_timer_t *timer)
{
    rds_cluster_t *cl = timer->data;
    uint64_t now = uv_now(cl->loop);
    if (!cl->refreshing) {
        uint64_t gap = RDS_CLUSTER_REFRESH_MIN_GAP_MS;
        if (cl->refresh_failures > 0)
            gap = (uint64_t)RDS_CLUSTER_REFRESH_MIN_GAP_MS
                  << (cl->refresh_failures < 4 ? cl->refresh_failures : 4);
        uint64_t since = now - cl->last_refresh_ms;
        if ((cl->refresh_wanted && since >= gap) || since >= RDS_CLUSTER_REFRESH_EVERY_MS)
            refresh_now(cl);
    }
    for (int i = 0; i < cl->nnodes; i++) {
        cl_node_t *n = cl->nodes[i];
        if (n->pool && !n->master && now - n->idle_since_ms >= RDS_CLUSTER_RETIRE_AFTER_MS &&
            rds_node_pending(n->pool) == 0 && !(cl->refreshing && cl->refresh_node == i)) {
            log_info("rds", "%s: %s:%d serves no slots: its connections are closed", cl->name,
                     n->host, n->port);
            rds_node_close(n->pool);
            n->pool = NULL;
        }
    }
}

/* --- public API --------------------------------------------------------- */

void rds_cluster_register_metrics(void)
{
#define METRICS_TARGET (&cl_metrics)
    CL_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET
    metric_family_t *redirects = metrics_family(
        "feedcache_redis_redirects_total",
        "Redis Cluster redirects followed, by kind: moved (the slot has a new master) or ask "
        "(the key is being migrated)", METRIC_COUNTER, NULL, 0);
    const char *kind[] = { "kind" };
    const char *moved[] = { "moved" }, *ask[] = { "ask" };
    metric_moved = metrics_series(redirects, 1, kind, moved);
    metric_ask = metrics_series(redirects, 1, kind, ask);
}

rds_cluster_t *rds_cluster_create(uv_loop_t *loop, const rds_url_t *url,
                                  const rds_pool_options_t *opts)
{
    const char *name = opts && opts->name && *opts->name ? opts->name : "redis";
    if (!loop || !url || !opts || !url->is_cluster || url->nseeds < 1 || opts->size < 1) {
        log_error("rds", "%s: invalid cluster options", name);
        return NULL;
    }
    rds_cluster_register_metrics();

    rds_cluster_t *cl = fc_xcalloc(1, sizeof *cl);
    cl->kind = RDS_KIND_CLUSTER;
    cl->loop = loop;
    cl->url = *url;
    cl->opts = *opts;
    cl->opts.name = cl->name;
    snprintf(cl->name, sizeof cl->name, "%s", name);
    cl->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 1000;
    for (int s = 0; s < RDS_SLOTS; s++)
        cl->owner[s] = -1;
    list_init(&cl->parked);
    uv_timer_init(loop, &cl->wake);
    cl->wake.data = cl;
    uv_timer_init(loop, &cl->housekeeping);
    cl->housekeeping.data = cl;
    cl->open_handles = 2;
    uv_timer_start(&cl->housekeeping, on_housekeeping, RDS_CLUSTER_HOUSEKEEPING_MS,
                   RDS_CLUSTER_HOUSEKEEPING_MS);
    log_info("rds", "%s: Redis Cluster from %d seed node%s (%s:%d first), %d connections per "
             "master", cl->name, url->nseeds, url->nseeds == 1 ? "" : "s", url->seeds[0].host,
             url->seeds[0].port, opts->size);
    refresh_now(cl);
    return cl;
}

int rds_cluster_ready(const rds_cluster_t *cl)
{
    if (!cl->map_known || cl->covered < RDS_SLOTS)
        return 0;
    int sum = 0;
    for (int i = 0; i < cl->nnodes; i++) {
        const cl_node_t *n = cl->nodes[i];
        if (!n->master)
            continue;
        int r = n->pool ? rds_node_ready(n->pool) : 0;
        if (r == 0)
            return 0;
        sum += r;
    }
    return sum;
}

bool rds_cluster_settled(const rds_cluster_t *cl)
{
    if (!cl->map_known)
        return map_unreachable(cl);
    for (int i = 0; i < cl->nnodes; i++) {
        const cl_node_t *n = cl->nodes[i];
        if (n->master && n->pool && !rds_node_settled(n->pool))
            return false;
    }
    return true;
}

const char *rds_cluster_last_error(rds_cluster_t *cl)
{
    cl->why[0] = '\0';
    if (!cl->map_known) {
        snprintf(cl->why, sizeof cl->why, "no slot map yet%s%s", cl->last_error[0] ? ": " : "",
                 cl->last_error);
    } else if (cl->covered < RDS_SLOTS) {
        snprintf(cl->why, sizeof cl->why, "%d of %d slots have no master", RDS_SLOTS - cl->covered,
                 RDS_SLOTS);
    } else {
        for (int i = 0; i < cl->nnodes; i++) {
            const cl_node_t *n = cl->nodes[i];
            if (n->master && (!n->pool || rds_node_ready(n->pool) == 0)) {
                const char *e = n->pool ? rds_node_last_error(n->pool) : "";
                snprintf(cl->why, sizeof cl->why, "master %.200s:%d: %s", n->host, n->port,
                         e[0] ? e : "not connected");
                break;
            }
        }
    }
    return cl->why;
}

int rds_cluster_pending(const rds_cluster_t *cl)
{
    return cl->pending;
}

const char *rds_cluster_epoch(const rds_cluster_t *cl, int slot)
{
    int idx = slot >= 0 && slot < RDS_SLOTS ? cl->owner[slot] : -1;
    const rds_node_t *pool = idx >= 0 ? cl->nodes[idx]->pool : NULL;
    return pool ? rds_node_epoch(pool) : "";
}

uv_loop_t *rds_cluster_loop(const rds_cluster_t *cl)
{
    return cl->loop;
}

void rds_cluster_close(rds_cluster_t *cl)
{
    if (!cl || cl->closing)
        return;
    cl->closing = true;
    log_info("rds", "%s: closing the cluster router (%d commands outstanding)", cl->name,
             cl->pending);
    /* Parked commands get NULL now; those a node holds get it from the
     * node's close (through on_node_reply). */
    list_t todo;
    list_init(&todo);
    list_splice_tail(&todo, &cl->parked);
    list_t *node;
    while ((node = list_pop_head(&todo)) != NULL)
        finish(list_entry(node, cl_cmd_t, link), NULL);
    for (int i = 0; i < cl->nnodes; i++) {
        rds_node_t *pool = cl->nodes[i]->pool;
        cl->nodes[i]->pool = NULL;
        if (pool)
            rds_node_close(pool);
    }
    uv_close((uv_handle_t *)&cl->housekeeping, on_handle_closed);
    maybe_end(cl);
}

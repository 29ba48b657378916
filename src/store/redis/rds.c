/* The Redis pool callers use (rds.h) is one of two things: one server's
 * connection pool (rds_node.c) for redis:// and unix:// URLs, or the
 * cluster router (rds_cluster.c) for redis-cluster:// ones. Both structs
 * start with their rds_kind_t, which is how a call finds its way; an
 * rds_pool_t is never allocated on its own, so its lifetime is exactly the
 * node's or the router's. */
#include "store/redis/rds.h"

#include "store/redis/rds_cluster.h"
#include "store/redis/rds_keys.h"
#include "store/redis/rds_node.h"
#include "util/log.h"

static rds_cluster_t *as_cluster(const rds_pool_t *pool)
{
    return pool && *(const rds_kind_t *)(const void *)pool == RDS_KIND_CLUSTER
               ? (rds_cluster_t *)(void *)pool
               : NULL;
}

static rds_node_t *as_node(const rds_pool_t *pool)
{
    return pool && *(const rds_kind_t *)(const void *)pool == RDS_KIND_NODE
               ? (rds_node_t *)(void *)pool
               : NULL;
}

rds_pool_t *rds_pool_create(uv_loop_t *loop, const rds_url_t *url, const rds_pool_options_t *opts)
{
    if (!url) {
        log_error("rds", "pool: no URL");
        return NULL;
    }
    rds_cluster_register_metrics();
    if (url->is_cluster)
        return (rds_pool_t *)(void *)rds_cluster_create(loop, url, opts);
    return (rds_pool_t *)(void *)rds_node_create(loop, url, opts);
}

int rds_pool_ready(const rds_pool_t *pool)
{
    rds_cluster_t *cl = as_cluster(pool);
    rds_node_t *node = as_node(pool);
    return cl ? rds_cluster_ready(cl) : node ? rds_node_ready(node) : 0;
}

bool rds_pool_settled(const rds_pool_t *pool)
{
    rds_cluster_t *cl = as_cluster(pool);
    rds_node_t *node = as_node(pool);
    return cl ? rds_cluster_settled(cl) : node ? rds_node_settled(node) : true;
}

const char *rds_pool_last_error(const rds_pool_t *pool)
{
    rds_cluster_t *cl = as_cluster(pool);
    rds_node_t *node = as_node(pool);
    return cl ? rds_cluster_last_error(cl) : node ? rds_node_last_error(node) : "";
}

int rds_pool_pending(const rds_pool_t *pool)
{
    rds_cluster_t *cl = as_cluster(pool);
    rds_node_t *node = as_node(pool);
    return cl ? rds_cluster_pending(cl) : node ? rds_node_pending(node) : 0;
}

const char *rds_pool_epoch(const rds_pool_t *pool, const char *key, size_t len)
{
    rds_cluster_t *cl = as_cluster(pool);
    rds_node_t *node = as_node(pool);
    return cl ? rds_cluster_epoch(cl, (int)rds_key_slot(key, len)) : node ? rds_node_epoch(node) : "";
}

bool rds_pool_is_cluster(const rds_pool_t *pool)
{
    return as_cluster(pool) != NULL;
}

uv_loop_t *rds_pool_loop(const rds_pool_t *pool)
{
    rds_cluster_t *cl = as_cluster(pool);
    return cl ? rds_cluster_loop(cl) : rds_node_loop(as_node(pool));
}

void rds_send(rds_pool_t *pool, unsigned affinity, rds_args_t *args, rds_reply_fn *cb,
              void *privdata)
{
    rds_cluster_t *cl = as_cluster(pool);
    rds_node_t *node = as_node(pool);
    if (cl) {
        rds_cluster_send(cl, affinity, args, cb, privdata);
    } else if (!node) {
        /* Nowhere to run the callback from: a bug in the caller. */
        log_error("rds", "rds_send without a pool: callback dropped");
    } else if (!args || args->argc == 0) {
        rds_node_send(node, affinity, NULL, 0, cb, privdata);
    } else {
        const buf_t *resp = rds_args_resp(args);
        rds_node_send(node, affinity, resp->data, resp->len, cb, privdata);
    }
}

void rds_pool_close(rds_pool_t *pool)
{
    rds_cluster_t *cl = as_cluster(pool);
    if (cl)
        rds_cluster_close(cl);
    else if (pool)
        rds_node_close(as_node(pool));
}

/* The Redis Cluster router behind a redis-cluster:// pool (rds.h).
 *
 * It keeps the slot map (which master serves each of the 16384 slots,
 * from CLUSTER SLOTS) and one connection pool per master (rds_node.h). A
 * command goes to the master of its key's slot (rds_slots.h); the reply
 * is handled before the caller sees it:
 *   MOVED        the slot has a new owner: the map is updated for it, a
 *                full refresh is asked for, the command is resent there;
 *   ASK          the key is being migrated: ASKING + the command, once,
 *                to the importing node (the map does not change);
 *   TRYAGAIN,    resent after a short pause (20 ms, doubling, at most
 *   CLUSTERDOWN  500 ms) while the command is younger than timeout_ms;
 *                CLUSTERDOWN also asks for a refresh;
 *   no reply     (a node lost or timed out) reaches the caller as NULL,
 *                as on a single Redis (a write is never sent twice by the
 *                router when it may have been applied); a refresh is
 *                asked for, so a failover is followed within moments.
 * A command is redirected at most 5 times. The map is refreshed every
 * 5 s too, which finds masters added or removed; pools of nodes that no
 * longer serve slots are closed once idle.
 *
 * Until the first map is known, commands wait for it (up to timeout_ms);
 * when every seed has failed to give one, they fail at once, as a single
 * Redis known to be down. Commands of different nodes never wait for each
 * other: a slow or dead node costs only the commands sent to it. */
#ifndef FC_STORE_REDIS_RDS_CLUSTER_H
#define FC_STORE_REDIS_RDS_CLUSTER_H

#include <stdbool.h>
#include <uv.h>

#include "store/redis/rds_args.h"
#include "store/redis/rds_types.h"
#include "store/redis/rds_url.h"

typedef struct rds_cluster rds_cluster_t;

/* Registers the router's metric families (idempotent). Every pool does,
 * so /metrics has the same families with or without a cluster. */
void rds_cluster_register_metrics(void);

/* url->is_cluster; opts as for rds_pool_create (size: connections per
 * master). NULL (logged) for bad options. */
rds_cluster_t *rds_cluster_create(uv_loop_t *loop, const rds_url_t *url,
                                  const rds_pool_options_t *opts);

/* As rds_send. args are encoded before this returns. */
void rds_cluster_send(rds_cluster_t *cl, unsigned affinity, rds_args_t *args, rds_reply_fn *cb,
                      void *privdata);

/* Ready connections over all masters, or 0 while any slot has no master
 * with a ready connection (or no map is known). */
int rds_cluster_ready(const rds_cluster_t *cl);
/* As rds_pool_settled: a slot map arrived and every master's connections
 * have had their first attempt, or every seed has failed once. */
bool rds_cluster_settled(const rds_cluster_t *cl);
/* Why rds_cluster_ready is 0 ("" when it is not). */
const char *rds_cluster_last_error(rds_cluster_t *cl);
int rds_cluster_pending(const rds_cluster_t *cl);
uv_loop_t *rds_cluster_loop(const rds_cluster_t *cl);
/* The epoch (rds_node_epoch) of the master serving slot, "" when unknown. */
const char *rds_cluster_epoch(const rds_cluster_t *cl, int slot);
void rds_cluster_close(rds_cluster_t *cl);

#endif

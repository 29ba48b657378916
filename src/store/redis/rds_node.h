/* The connection pool of one Redis server: what rds.h promises (always
 * call back, later, from the loop; reconnects with backoff; waiting during
 * the first connect; timeouts on silence), for one host:port or unix
 * socket. rds.c hands every command of a redis:// pool to one node;
 * rds_cluster.c keeps one node per cluster master.
 *
 * Commands arrive RESP-encoded (rds_args_resp): the cluster router keeps
 * those bytes to resend a command after a redirect. */
#ifndef FC_STORE_REDIS_RDS_NODE_H
#define FC_STORE_REDIS_RDS_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "store/redis/rds_args.h"
#include "store/redis/rds_types.h"
#include "store/redis/rds_url.h"

typedef struct rds_node rds_node_t;

/* The first member of struct rds_node and of struct rds_cluster: an
 * rds_pool_t is one or the other, and rds.c tells which by it. */
typedef enum { RDS_KIND_NODE = 0x6e6f6465, RDS_KIND_CLUSTER = 0x636c7573 } rds_kind_t;

/* As rds_pool_create, for the one server of url (not a cluster URL). */
rds_node_t *rds_node_create(uv_loop_t *loop, const rds_url_t *url, const rds_pool_options_t *opts);

int rds_node_ready(const rds_node_t *node);
/* As rds_pool_settled: every connection's first attempt has ended. */
bool rds_node_settled(const rds_node_t *node);
const char *rds_node_last_error(const rds_node_t *node);
int rds_node_pending(const rds_node_t *node);
uv_loop_t *rds_node_loop(const rds_node_t *node);

/* Sends resp[0..len) (one command, RESP-encoded; copied before this
 * returns) on the connection for affinity; cb as for rds_send. len 0
 * fails the command (NULL, from the loop). Commands sent one after the
 * other with the same affinity go out in order on one connection (what
 * ASKING + command needs), while it stays up. */
void rds_node_send(rds_node_t *node, unsigned affinity, const char *resp, size_t len,
                   rds_reply_fn *cb, void *privdata);

/* The first RDS_EPOCH_LEN characters of the server's replication id
 * (INFO replication master_replid), "" until known. It changes when a
 * replica is promoted, so writes the old master had not replicated may be
 * missing: see rds_pool_epoch. */
const char *rds_node_epoch(const rds_node_t *node);

void rds_node_close(rds_node_t *node);

#endif

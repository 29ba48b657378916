/* What the Redis pool (rds.h) and the parts behind it (rds_node.h, one
 * server; rds_cluster.h, the cluster router) share: the reply callback, the
 * pool options, the epoch length, reply keeping. Its own header so that
 * rds.c can include those parts without their including rds.h back. */
#ifndef FC_STORE_REDIS_RDS_TYPES_H
#define FC_STORE_REDIS_RDS_TYPES_H

struct redisReply;

typedef void rds_reply_fn(struct redisReply *reply, void *privdata);

typedef struct {
    int size;                  /* connections, >= 1 */
    unsigned timeout_ms;       /* command timeout; also the connect timeout; 0: 1000 */
    const char *name;          /* for logs, e.g. "redis" or "redis-fanout" */
} rds_pool_options_t;

/* Characters of a master's replication id that make its epoch
 * (rds_pool_epoch). */
#define RDS_EPOCH_LEN 16

/* From inside a reply callback: keep `reply` past the callback (hiredis
 * would free it when the callback returns). Free it later with
 * rds_reply_free (never freeReplyObject: a reply and all its elements live
 * in one arena, see rds_node.c). */
void rds_reply_keep(struct redisReply *reply);
void rds_reply_free(struct redisReply *reply);

#endif

/* A batch of Redis commands sent together (pipelined on one connection) and
 * completed together: one callback once every reply is in.
 *
 * hiredis 0.14 frees a reply as soon as its callback returns; the batch
 * keeps each one (rds_reply_keep) until the batch is cleared or freed.
 *
 * Commands are built with rds_args_t (rds_args.h, included here for the
 * callers that build through this header); hiredis formats a command at
 * once, so args can be reset right after rds_batch_add. */
#ifndef FC_STORE_REDIS_RDS_BATCH_H
#define FC_STORE_REDIS_RDS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "store/redis/rds.h"
#include "store/redis/rds_args.h"
#include "util/buf.h"

typedef struct rds_batch rds_batch_t;
typedef void rds_batch_fn(rds_batch_t *batch, void *arg);

rds_batch_t *rds_batch_new(rds_pool_t *pool, unsigned affinity);

/* Queues a command; returns its index. Commands are sent at once (hiredis
 * writes everything queued in this loop iteration in one go) through
 * rds_send, so one the pool cannot send (no connection) fails like one that
 * lost its connection: reply NULL, from the loop. */
size_t rds_batch_add(rds_batch_t *b, rds_args_t *args);

/* Calls cb once every command queued so far has its reply (possibly from the
 * loop later, never before this returns). After the callback the batch may be
 * reused (add + wait again) or freed. */
void rds_batch_wait(rds_batch_t *b, rds_batch_fn *cb, void *arg);

size_t rds_batch_count(const rds_batch_t *b);
/* The reply of command i, or NULL when it failed without one. */
const redisReply *rds_batch_reply(const rds_batch_t *b, size_t i);
/* True when any command got no reply (connection lost, timeout, not
 * connected). Known for sure once the batch's callback runs: a command the
 * pool could not send fails from the loop, not inside rds_batch_add. */
int rds_batch_failed(const rds_batch_t *b);
/* Drops the replies (and commands) so the batch can be reused. */
void rds_batch_clear(rds_batch_t *b);
void rds_batch_free(rds_batch_t *b);

/* Reply helpers: an integer reply's value, or a bulk string as int64. */
int rds_reply_int(const redisReply *r, int64_t *out);

#endif

/* A Redis command's arguments, built one at a time: the one way to build a
 * command, so that nobody counts lengths by hand.
 *
 *   rds_args_t a;
 *   rds_args_init(&a);
 *   rds_args_str(&a, "ZADD");
 *   rds_args_key(&a, rds_key_feed, prefix, user_id);
 *   rds_args_int(&a, created_ms);
 *   rds_args_int(&a, post_id);
 *   rds_send(pool, affinity, &a, on_reply, ctx);   (or rds_batch_add)
 *   rds_args_reset(&a);                            (reuse) ... rds_args_free(&a);
 *
 * The builder owns copies of the bytes (binary safe: rds_args_add takes a
 * length). Sending formats the command at once, so the args may be reset or
 * freed right after rds_send / rds_batch_add returns. */
#ifndef FC_STORE_REDIS_RDS_ARGS_H
#define FC_STORE_REDIS_RDS_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct {
    buf_t bytes;           /* all argument bytes, back to back */
    size_t *offsets;
    size_t *lens;
    const char **argv;     /* filled by rds_args_argv */
    int argc, cap;
    int route_slot1;       /* 1 + the slot set by rds_args_route_like; 0: none */
} rds_args_t;

void rds_args_init(rds_args_t *a);
/* Drops the arguments, keeps the memory for the next command. */
void rds_args_reset(rds_args_t *a);
void rds_args_free(rds_args_t *a);

void rds_args_add(rds_args_t *a, const char *s, size_t len);
void rds_args_str(rds_args_t *a, const char *s);
/* Integers (ids, scores, counts, TTLs) in decimal. */
void rds_args_int(rds_args_t *a, int64_t v);
/* A key from a builder of store/redis/rds_keys.h, e.g.
 * rds_args_key(a, rds_key_post, prefix, post_id). A key that does not fit
 * (an invalid prefix) is added as "" rather than truncated. */
void rds_args_key(rds_args_t *a, size_t (*build)(char *, size_t, const char *, int64_t),
                  const char *prefix, int64_t id);
void rds_args_addf(rds_args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* On a Redis Cluster, sends this keyless command (WAIT) to the master
 * serving `key`, so that together with a command on that key sent just
 * before with the same affinity it lands on the same connection. Ignored
 * on a single Redis (one server). Cleared by rds_args_reset. */
void rds_args_route_like(rds_args_t *a, const char *key, size_t len);

/* argv/argvlen views, valid until the next add or reset. */
const char *const *rds_args_argv(rds_args_t *a);
const size_t *rds_args_lens(const rds_args_t *a);

/* The command in RESP (the Redis protocol's request encoding), in a buffer
 * of the module that the next call overwrites: copy it before encoding
 * another. */
const buf_t *rds_args_resp(rds_args_t *args);

#endif

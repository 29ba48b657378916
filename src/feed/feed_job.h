/* The fan-out job: what post.publish and post.delete queue on the durable
 * stream PREFIX{fanout}, and the fan-out worker reads back. One format, one
 * file. A job is a stream entry with the fields
 *   t    type: "p" push a post, "m" push a celebrity marker, "d" delete a post
 *   p    post id
 *   a    author id (> 0)
 *   ts   the post's created_at, epoch ms ("p" and "m"; 0 for "d")
 *   pub  when it was queued, epoch ms (fan-out lag)
 * Encoding and decoding are pure; the worker and the writers do the I/O. */
#ifndef FC_FEED_FEED_JOB_H
#define FC_FEED_FEED_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "store/redis/rds_batch.h"

typedef enum {
    FEED_JOB_POST = 'p',       /* push post into the author's and followers' feeds */
    FEED_JOB_MARK = 'm',       /* push the celebrity marker c:<author> into them */
    FEED_JOB_DELETE = 'd',     /* remove post from them */
} feed_job_type_t;

typedef struct {
    feed_job_type_t type;
    int64_t post;
    int64_t author;
    int64_t ts;
    int64_t pub;
} feed_job_t;

/* A field/value pair of a stream entry as read back (not NUL-terminated). */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} feed_job_field_t;

/* Appends the job's field/value pairs to args (after "XADD key *"). */
void feed_job_encode(const feed_job_t *job, rds_args_t *args);

/* Reads a job from an entry's fields. Unknown fields are ignored (a newer
 * writer may add some). Returns 0, or -1 when the entry is not a job: an
 * unknown type, a missing or non-numeric field, an id out of range. */
int feed_job_decode(feed_job_t *job, const feed_job_field_t *fields, size_t nfields);

#endif

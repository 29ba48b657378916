/* A post's cached value: one Redis string per post (`pc:{P}`), so that a
 * page's posts come back in one MGET instead of one HMGET each (issue 12:
 * a third of the Redis CPU of a cached read, and two fifths of a post's
 * memory, went to the per-post hashes). The value is one of:
 *
 *   "p<author>:<body>"  the post (author in decimal, the body's bytes as
 *                       they are, possibly empty);
 *   "d"                 a tombstone: the post is deleted. Readers skip it,
 *                       and neither a write-back nor an update revives it;
 *   "u<body>"           only post.update wrote it (the post was not cached):
 *                       readers count it as a miss and fill the author from
 *                       PostgreSQL, keeping this newer body (POST_FILL).
 *
 * Pure: parsing and encoding only; the scripts that merge values are in
 * feed_scripts.h (POST_FILL, POST_UPDATE). */
#ifndef FC_FEED_FEED_POSTVAL_H
#define FC_FEED_FEED_POSTVAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum {
    FEED_POSTVAL_MISS = 0,     /* no value, or one this version does not read */
    FEED_POSTVAL_POST,
    FEED_POSTVAL_DELETED,
    FEED_POSTVAL_UPDATED,      /* "u<body>": a miss, whose body is newer than PostgreSQL's */
} feed_postval_kind_t;

typedef struct {
    feed_postval_kind_t kind;
    int64_t author_id;         /* POST: > 0 */
    const char *body;          /* POST, UPDATED: inside the parsed value */
    size_t body_len;
} feed_postval_t;

/* Parses a value of len bytes (v may be NULL: no value). Anything that is
 * not one of the forms above, or a post whose author is not a positive
 * 64-bit decimal, is a MISS. */
feed_postval_t feed_postval_parse(const char *v, size_t len);

/* Appends "p<author>:<body>" to out. */
void feed_postval_post(buf_t *out, int64_t author_id, const char *body, size_t body_len);

/* The tombstone. */
#define FEED_POSTVAL_TOMBSTONE "d"

#endif

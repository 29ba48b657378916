/* A growable byte buffer: the one way this project builds strings and
 * output that do not have a fixed size. Allocation failure aborts (see
 * fc_xmalloc): a cache that cannot allocate a few bytes cannot do anything
 * useful, and checking every append would hide the logic. */
#ifndef FC_UTIL_BUF_H
#define FC_UTIL_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct {
    char *data;   /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
} buf_t;

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reset(buf_t *b);
void buf_reserve(buf_t *b, size_t extra);
/* buf_reserve's slow path: grows the buffer. */
void buf_grow(buf_t *b, size_t extra);

/* Inline: a page read makes about a thousand appends of a few bytes (RESP
 * pieces, msgpack tokens), and a call plus a reserve check each was 10% of
 * feedcached's instructions on cached reads (callgrind). */
static inline void buf_append(buf_t *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap)
        buf_grow(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (a consumed prefix of a queue). */
void buf_consume(buf_t *b, size_t n);

void *fc_xmalloc(size_t n);
void *fc_xcalloc(size_t n, size_t size);
void *fc_xrealloc(void *p, size_t n);
char *fc_xstrdup(const char *s);
char *fc_xstrndup(const char *s, size_t n);

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

#endif

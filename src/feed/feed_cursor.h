/* The timeline.get cursor (docs/PROTOCOL.md, "What timeline.get returns"): an opaque, keyset-based
 * position in one user's home timeline. It names the last post of the page
 * it came with; the next page holds the posts strictly after that one in the
 * timeline order, (created_at, id) descending.
 *
 * Wire form (40 characters, URL- and JSON-safe):
 *
 *     "1." base64url-nopad( user_id | ts | id | check )
 *
 * user_id, ts and id are big-endian int64; check is a big-endian CRC-32
 * over a fixed salt and those 24 bytes. The check catches corruption and
 * casual hand-editing: every change of a single character is rejected (see
 * feed_cursor.c). It is not a signature, and need not be: a client that
 * forges a cursor for its own user only picks a position in a timeline it
 * may read anyway, and the caller rejects a cursor whose user_id is not the
 * requester's. The "1." version prefix lets a later format coexist with this
 * one; cursors in clients' hands stay valid across restarts and deploys, so
 * the format must not change silently (the unit test pins a known answer).
 *
 * Pure functions: no allocation, no global state. */
#ifndef FC_FEED_FEED_CURSOR_H
#define FC_FEED_FEED_CURSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t user_id;   /* whose timeline: the caller compares it with the request */
    int64_t ts;        /* created_at (ms) of the page's last post */
    int64_t id;        /* id of the page's last post */
} feed_cursor_t;

/* A buffer of this many bytes always holds an encoded cursor and its NUL;
 * decode rejects anything this long or longer without looking at it. */
#define FEED_CURSOR_MAX 64
/* The exact length of a version-1 cursor: "1." + 38 base64url characters. */
#define FEED_CURSOR_LEN 40

/* Writes the cursor into out (cap bytes, NUL included) and returns its length
 * (FEED_CURSOR_LEN); returns 0 with out set to "" (when cap > 0) if it does
 * not fit. The same cursor always encodes to the same string. */
size_t feed_cursor_encode(const feed_cursor_t *c, char *out, size_t cap);

/* Parses len bytes of s (no NUL needed). Returns 0 and fills *out, or -1
 * (leaving *out untouched) when s is NULL, empty, len >= FEED_CURSOR_MAX, of
 * the wrong length or version, holds a character outside base64url, has
 * non-zero padding bits, or fails the check value. */
int feed_cursor_decode(const char *s, size_t len, feed_cursor_t *out);

#endif

/* Framing of msgpack messages on a byte stream, safe against hostile input.
 *
 * msgpack-c's streaming unpacker trusts declared lengths: an array32 header
 * makes it reserve n * sizeof(msgpack_object) before any element arrives (a
 * 5-byte frame can ask for ~100 GB). So bytes are first walked by a small
 * resumable scanner that only reads headers: it finds where a message ends,
 * refuses a message that would exceed max_frame as soon as its headers say
 * so (before the body arrives, so nothing is allocated for it), refuses
 * nesting deeper than RPC_FRAME_MAX_DEPTH and the reserved byte 0xc1. Only a
 * complete, size-checked message is handed to msgpack_unpack_next.
 *
 * The scanner keeps its position, so a frame trickled in byte by byte is
 * scanned once in total, not once per read. */
#ifndef FC_RPC_RPC_FRAME_H
#define FC_RPC_RPC_FRAME_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define RPC_FRAME_MAX_DEPTH 16

typedef enum {
    RPC_FRAME_NEED_MORE = 0,   /* no complete message buffered yet */
    RPC_FRAME_OK = 1,          /* *out holds the next message */
    RPC_FRAME_TOO_BIG = -1,    /* the message exceeds max_frame: close */
    RPC_FRAME_BAD = -2,        /* not msgpack (or nested too deep): close */
} rpc_frame_result_t;

/* Resumable header scanner over one message. */
typedef struct {
    size_t pos;                              /* end of the last whole element */
    int depth;                               /* open containers */
    int started;                             /* the top-level header was read */
    uint64_t remaining[RPC_FRAME_MAX_DEPTH]; /* elements left per container */
} rpc_scan_t;

/* Scans data[0..len) from where the last call stopped. On RPC_FRAME_OK,
 * *frame_len is the length of the complete message. */
rpc_frame_result_t rpc_scan(rpc_scan_t *s, const uint8_t *data, size_t len, size_t max_frame,
                            size_t *frame_len);

typedef struct {
    buf_t in;            /* received bytes; [start, in.len) not yet framed */
    size_t start;
    size_t max_frame;
    rpc_scan_t scan;
} rpc_framer_t;

void rpc_framer_init(rpc_framer_t *f, size_t max_frame);
void rpc_framer_free(rpc_framer_t *f);

/* Space to read into directly (at least `want` bytes), then commit the bytes
 * read. Keeps the read path free of an extra copy. */
char *rpc_framer_space(rpc_framer_t *f, size_t want, size_t *got);
void rpc_framer_commit(rpc_framer_t *f, size_t n);
/* Copies bytes in (tests, and callers without a read buffer of their own). */
void rpc_framer_feed(rpc_framer_t *f, const void *data, size_t len);

/* Extracts the next message into *out (msgpack_unpacked_init'ed by the
 * caller, who destroys it after the last message): the objects of each
 * message live in out's zone, which the next call clears. */
rpc_frame_result_t rpc_framer_next(rpc_framer_t *f, msgpack_unpacked *out);

/* Bytes buffered but not yet returned as messages. */
size_t rpc_framer_pending(const rpc_framer_t *f);

/* How many complete messages are buffered, counted up to max: their
 * headers are walked (as rpc_framer_next will walk them again), nothing
 * is unpacked or changed. Stops at an incomplete or bad message, which
 * rpc_framer_next then reports. */
size_t rpc_framer_count(const rpc_framer_t *f, size_t max);

/* Input buffers kept between reads at most: a buffer grown for a large frame
 * is given back once that frame was handled. */
#define RPC_FRAMER_KEEP (128 * 1024)

/* Gives memory back between reads: shrinks a buffer that grew past
 * RPC_FRAMER_KEEP once what is pending fits in it (or frees it when
 * nothing is), and keeps a smaller one for the next read: allocating and
 * freeing 64 KiB per read cost a busy connection more than parsing. */
void rpc_framer_trim(rpc_framer_t *f);

/* Frees the buffer when nothing is pending: an idle connection holds none
 * (the server calls this for connections that went quiet). */
void rpc_framer_release(rpc_framer_t *f);

/* Bytes allocated for input (for tests and sizing). */
size_t rpc_framer_capacity(const rpc_framer_t *f);

#endif

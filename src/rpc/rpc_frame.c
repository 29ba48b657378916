#include "rpc/rpc_frame.h"

#include <stdlib.h>
#include <string.h>

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Header layout of the element starting with byte b: how many header bytes
 * (including b), how many bytes of the header hold a length (and where), a
 * fixed payload size, and whether it opens a container. */
typedef struct {
    uint8_t hdr;        /* header bytes, including the type byte */
    uint8_t len_bytes;  /* bytes of big-endian length/count after the type byte */
    uint8_t fixed;      /* payload size when len_bytes == 0 and not a container */
    uint8_t container;  /* 0 no, 1 array, 2 map */
    int8_t fix_count;   /* count in the type byte (fixarray/fixmap/fixstr), else -1 */
} elem_t;

static int classify(uint8_t b, elem_t *e)
{
    memset(e, 0, sizeof *e);
    e->hdr = 1;
    e->fix_count = -1;
    if (b <= 0x7f || b >= 0xe0)
        return 0;                                   /* fixint */
    if (b <= 0x8f) { e->container = 2; e->fix_count = b & 0x0f; return 0; }
    if (b <= 0x9f) { e->container = 1; e->fix_count = b & 0x0f; return 0; }
    if (b <= 0xbf) { e->fix_count = b & 0x1f; return 0; }   /* fixstr: payload */
    switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return 0;
    case 0xc4: case 0xd9: e->hdr = 2; e->len_bytes = 1; return 0;
    case 0xc5: case 0xda: e->hdr = 3; e->len_bytes = 2; return 0;
    case 0xc6: case 0xdb: e->hdr = 5; e->len_bytes = 4; return 0;
    case 0xc7: e->hdr = 3; e->len_bytes = 1; return 0;   /* ext8: len, type */
    case 0xc8: e->hdr = 4; e->len_bytes = 2; return 0;
    case 0xc9: e->hdr = 6; e->len_bytes = 4; return 0;
    case 0xca: e->fixed = 4; return 0;
    case 0xcb: e->fixed = 8; return 0;
    case 0xcc: case 0xd0: e->fixed = 1; return 0;
    case 0xcd: case 0xd1: e->fixed = 2; return 0;
    case 0xce: case 0xd2: e->fixed = 4; return 0;
    case 0xcf: case 0xd3: e->fixed = 8; return 0;
    case 0xd4: e->fixed = 2; return 0;                   /* fixext: type + data */
    case 0xd5: e->fixed = 3; return 0;
    case 0xd6: e->fixed = 5; return 0;
    case 0xd7: e->fixed = 9; return 0;
    case 0xd8: e->fixed = 17; return 0;
    case 0xdc: e->container = 1; e->hdr = 3; e->len_bytes = 2; return 0;
    case 0xdd: e->container = 1; e->hdr = 5; e->len_bytes = 4; return 0;
    case 0xde: e->container = 2; e->hdr = 3; e->len_bytes = 2; return 0;
    case 0xdf: e->container = 2; e->hdr = 5; e->len_bytes = 4; return 0;
    default: return -1;                                  /* 0xc1: never used */
    }
}

rpc_frame_result_t rpc_scan(rpc_scan_t *s, const uint8_t *data, size_t len, size_t max_frame,
                            size_t *frame_len)
{
    for (;;) {
        if (s->started && s->depth == 0) {
            *frame_len = s->pos;
            return RPC_FRAME_OK;
        }
        if (s->pos >= len)
            return s->pos >= max_frame ? RPC_FRAME_TOO_BIG : RPC_FRAME_NEED_MORE;
        elem_t e;
        if (classify(data[s->pos], &e) != 0)
            return RPC_FRAME_BAD;
        if (s->pos + e.hdr > max_frame)
            return RPC_FRAME_TOO_BIG;
        if (s->pos + e.hdr > len)
            return RPC_FRAME_NEED_MORE;
        uint64_t n;                 /* payload bytes, or element count */
        if (e.fix_count >= 0)
            n = (uint64_t)e.fix_count;
        else if (e.len_bytes)
            n = be(data + s->pos + 1, e.len_bytes);
        else
            n = e.fixed;
        if (e.container) {
            /* Every element takes at least one byte: a count above the
             * frame limit can never fit. */
            uint64_t children = e.container == 2 ? 2 * n : n;
            if (children > max_frame - (s->pos + e.hdr))
                return RPC_FRAME_TOO_BIG;
            s->pos += e.hdr;
            s->started = 1;
            if (children > 0) {
                if (s->depth >= RPC_FRAME_MAX_DEPTH)
                    return RPC_FRAME_BAD;
                s->remaining[s->depth++] = children;
                continue;
            }
        } else {
            if (n > max_frame - (s->pos + e.hdr))
                return RPC_FRAME_TOO_BIG;
            if (s->pos + e.hdr + n > len)
                return RPC_FRAME_NEED_MORE;
            s->pos += e.hdr + n;
            s->started = 1;
        }
        /* A whole element ended: count it against the open containers; a
         * container that completes is itself one element of its parent. */
        while (s->depth > 0) {
            if (--s->remaining[s->depth - 1] > 0)
                break;
            s->depth--;
        }
    }
}

void rpc_framer_init(rpc_framer_t *f, size_t max_frame)
{
    buf_init(&f->in);
    f->start = 0;
    f->max_frame = max_frame;
    memset(&f->scan, 0, sizeof f->scan);
}

void rpc_framer_free(rpc_framer_t *f)
{
    buf_free(&f->in);
}

/* Drops the bytes of messages already returned, so the buffer only ever
 * holds one partial message plus one read. */
static void compact(rpc_framer_t *f)
{
    if (f->start == 0)
        return;
    buf_consume(&f->in, f->start);
    f->start = 0;
}

char *rpc_framer_space(rpc_framer_t *f, size_t want, size_t *got)
{
    compact(f);
    buf_reserve(&f->in, want);
    *got = f->in.cap - f->in.len - 1;
    return f->in.data + f->in.len;
}

void rpc_framer_commit(rpc_framer_t *f, size_t n)
{
    f->in.len += n;
    f->in.data[f->in.len] = '\0';
}

void rpc_framer_feed(rpc_framer_t *f, const void *data, size_t len)
{
    compact(f);
    buf_append(&f->in, data, len);
}

size_t rpc_framer_pending(const rpc_framer_t *f)
{
    return f->in.len - f->start;
}

size_t rpc_framer_count(const rpc_framer_t *f, size_t max)
{
    rpc_scan_t scan = f->scan;   /* the first message may be partly walked */
    size_t off = f->start, n = 0, frame_len;
    while (n < max && off < f->in.len &&
           rpc_scan(&scan, (const uint8_t *)f->in.data + off, f->in.len - off, f->max_frame,
                    &frame_len) == RPC_FRAME_OK) {
        n++;
        off += frame_len;
        memset(&scan, 0, sizeof scan);
    }
    return n;
}

void rpc_framer_trim(rpc_framer_t *f)
{
    if (rpc_framer_pending(f) == 0) {
        if (f->in.cap > RPC_FRAMER_KEEP)
            buf_free(&f->in);
        else
            buf_reset(&f->in);
        f->start = 0;
        return;
    }
    if (f->in.cap <= RPC_FRAMER_KEEP)
        return;
    compact(f);
    if (f->in.len + 1 > RPC_FRAMER_KEEP / 2)
        return;                    /* still holds most of a large frame */
    f->in.data = fc_xrealloc(f->in.data, RPC_FRAMER_KEEP);
    f->in.cap = RPC_FRAMER_KEEP;
}

void rpc_framer_release(rpc_framer_t *f)
{
    if (rpc_framer_pending(f) == 0) {
        buf_free(&f->in);
        f->start = 0;
    }
}

size_t rpc_framer_capacity(const rpc_framer_t *f)
{
    return f->in.cap;
}

rpc_frame_result_t rpc_framer_next(rpc_framer_t *f, msgpack_unpacked *out)
{
    if (rpc_framer_pending(f) == 0)
        return RPC_FRAME_NEED_MORE;
    const uint8_t *data = (const uint8_t *)f->in.data + f->start;
    size_t frame_len;
    rpc_frame_result_t r = rpc_scan(&f->scan, data, rpc_framer_pending(f), f->max_frame,
                                    &frame_len);
    if (r != RPC_FRAME_OK)
        return r;
    /* One zone for every message of the caller's loop, cleared for each:
     * msgpack_unpack_next frees the last message's zone and mallocs a new
     * one of MSGPACK_ZONE_CHUNK_SIZE per message, a size that made glibc
     * consolidate its fastbins each time (under overload a fifth of a shed
     * request's instructions were the allocator's, callgrind). */
    if (out->zone)
        msgpack_zone_clear(out->zone);
    else if (!(out->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)))
        abort();
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack((const char *)data, frame_len, &off, out->zone,
                                              &out->data);
    memset(&f->scan, 0, sizeof f->scan);
    f->start += frame_len;
    if (ur != MSGPACK_UNPACK_SUCCESS || off != frame_len)
        return RPC_FRAME_BAD;
    return RPC_FRAME_OK;
}

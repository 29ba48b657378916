/* Unit tests for msgpack framing on a byte stream (src/rpc/rpc_frame.c).
 *
 * The scanner is the only thing between a hostile client and msgpack-c's
 * unpacker, which trusts declared lengths. So beyond "frames come out
 * whole", these tests check that every msgpack type is framed to exactly the
 * length msgpack-c itself consumes, that declared sizes are judged from the
 * headers alone (before a body arrives), and that the max_frame and depth
 * limits sit exactly where the header says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <msgpack.h>

#include "rpc/rpc_frame.h"

#define MAX_FRAME_DEFAULT 1048576

/* ---- helpers ---------------------------------------------------------- */

/* Scans data[0..len) with a fresh scanner. */
static rpc_frame_result_t scan_once(const uint8_t *data, size_t len, size_t max_frame,
                                    size_t *frame_len)
{
    rpc_scan_t s;
    memset(&s, 0, sizeof s);
    *frame_len = (size_t)-1;
    return rpc_scan(&s, data, len, max_frame, frame_len);
}

/* Packs a typical request: [0, msgid, "timeline.get", [{"user_id": 42,
 * "cursor": bin, "hydrate": true, "rate": 1.5, "x": ext}]] */
static void pack_request(msgpack_sbuffer *sb, uint32_t msgid)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_uint32(&pk, msgid);
    msgpack_pack_str(&pk, 12);
    msgpack_pack_str_body(&pk, "timeline.get", 12);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 5);
    msgpack_pack_str(&pk, 7);
    msgpack_pack_str_body(&pk, "user_id", 7);
    msgpack_pack_int64(&pk, 42);
    msgpack_pack_str(&pk, 6);
    msgpack_pack_str_body(&pk, "cursor", 6);
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "\x00\x01\x02", 3);
    msgpack_pack_str(&pk, 7);
    msgpack_pack_str_body(&pk, "hydrate", 7);
    msgpack_pack_true(&pk);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "rate", 4);
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "x", 1);
    msgpack_pack_ext(&pk, 4, 7);
    msgpack_pack_ext_body(&pk, "abcd", 4);
}

/* The msgid of a request object [0, msgid, ...]. */
static uint64_t msgid_of(const msgpack_object *o)
{
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_true(o->via.array.size >= 2);
    assert_int_equal(o->via.array.ptr[1].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    return o->via.array.ptr[1].via.u64;
}

/* ---- every msgpack type frames to its exact length -------------------- */

typedef struct {
    const char *name;
    const char *bytes;
    size_t len;
} sample_t;

#define S(name, lit) { name, lit, sizeof(lit) - 1 }

static const sample_t samples[] = {
    S("positive fixint 0", "\x00"),
    S("positive fixint 127", "\x7f"),
    S("negative fixint -32", "\xe0"),
    S("negative fixint -1", "\xff"),
    S("uint8", "\xcc\xff"),
    S("uint16", "\xcd\xff\xff"),
    S("uint32", "\xce\xff\xff\xff\xff"),
    S("uint64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
    S("int8", "\xd0\x80"),
    S("int16", "\xd1\x80\x00"),
    S("int32", "\xd2\x80\x00\x00\x00"),
    S("int64", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    S("float32", "\xca\x3f\xc0\x00\x00"),
    S("float64", "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"),
    S("nil", "\xc0"),
    S("false", "\xc2"),
    S("true", "\xc3"),
    S("fixstr empty", "\xa0"),
    S("fixstr 3", "\xa3" "abc"),
    S("fixstr 31", "\xbf" "0123456789012345678901234567890"),
    S("str8 empty", "\xd9\x00"),
    S("str8 3", "\xd9\x03" "abc"),
    S("str16 3", "\xda\x00\x03" "abc"),
    S("str32 3", "\xdb\x00\x00\x00\x03" "abc"),
    S("bin8 empty", "\xc4\x00"),
    S("bin8 2", "\xc4\x02\x00\xff"),
    S("bin16 2", "\xc5\x00\x02\x00\xff"),
    S("bin32 2", "\xc6\x00\x00\x00\x02\x00\xff"),
    S("fixext1", "\xd4\x01\xaa"),
    S("fixext2", "\xd5\x01\xaa\xbb"),
    S("fixext4", "\xd6\x01" "abcd"),
    S("fixext8", "\xd7\x01" "abcdefgh"),
    S("fixext16", "\xd8\x01" "abcdefghijklmnop"),
    S("ext8 empty", "\xc7\x00\x05"),
    S("ext8 3", "\xc7\x03\x05" "abc"),
    S("ext16 3", "\xc8\x00\x03\x05" "abc"),
    S("ext32 3", "\xc9\x00\x00\x00\x03\x05" "abc"),
    S("fixarray empty", "\x90"),
    S("fixmap empty", "\x80"),
    S("array16 empty", "\xdc\x00\x00"),
    S("array32 empty", "\xdd\x00\x00\x00\x00"),
    S("map16 empty", "\xde\x00\x00"),
    S("map32 empty", "\xdf\x00\x00\x00\x00"),
    S("fixarray 3", "\x93\x01\xc0\xa1x"),
    S("fixarray 15", "\x9f\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"),
    S("fixmap 2", "\x82\xa1k\x01\xa1v\xc3"),
    S("array16 3", "\xdc\x00\x03\x01\x02\x03"),
    S("array32 2", "\xdd\x00\x00\x00\x02\xc0\xc2"),
    S("map16 1", "\xde\x00\x01\xa1k\xc0"),
    S("map32 1", "\xdf\x00\x00\x00\x01\xa1k\xc0"),
    S("nested arrays", "\x92\x91\x91\x90\x93\x90\x80\xc0"),
    S("map with container keys and values",
      "\x82\x91\x01\x81\xa1" "a" "\x92\xc0\xc3\x80\xdc\x00\x01\xd9\x02zz"),
    S("request", "\x94\x00\x07\xa4ping\x91\x80"),
    S("request with bin method", "\x94\x00\xce\x00\x01\x00\x00\xc4\x04ping\x90"),
    S("array of every scalar",
      "\xdc\x00\x0a\x05\xe5\xd0\x80\xcd\x01\x00\xca\x00\x00\x00\x00\xc0\xc2\xa1s\xc4\x01\x00\xd4\x01\x02"),
};

/* Each sample, followed by a trailing byte that belongs to the next frame,
 * frames to exactly its own length, agreeing with msgpack-c. */
static void every_type_frames_to_exact_length(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const sample_t *smp = &samples[i];
        uint8_t buf[256];
        assert_true(smp->len + 1 <= sizeof buf);
        memcpy(buf, smp->bytes, smp->len);
        buf[smp->len] = 0xc0;   /* start of the next frame */

        /* msgpack-c's own idea of the element's length. */
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        msgpack_unpack_return ur = msgpack_unpack_next(&up, (const char *)buf, smp->len + 1, &off);
        msgpack_unpacked_destroy(&up);
        if (ur != MSGPACK_UNPACK_SUCCESS || off != smp->len)
            fail_msg("sample '%s' is not a %zu-byte msgpack element (msgpack-c: %d, %zu)",
                     smp->name, smp->len, (int)ur, off);

        size_t flen;
        rpc_frame_result_t r = scan_once(buf, smp->len + 1, MAX_FRAME_DEFAULT, &flen);
        if (r != RPC_FRAME_OK || flen != smp->len)
            fail_msg("sample '%s': scan gave %d len %zu, expected OK len %zu", smp->name, (int)r,
                     flen, smp->len);
        /* Without the trailing byte too. */
        r = scan_once(buf, smp->len, MAX_FRAME_DEFAULT, &flen);
        if (r != RPC_FRAME_OK || flen != smp->len)
            fail_msg("sample '%s' alone: scan gave %d len %zu", smp->name, (int)r, flen);
    }
}

/* Every proper prefix of every sample is NEED_MORE, with a fresh scanner
 * and with one resumed across growing lengths. */
static void truncated_frames_need_more(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const sample_t *smp = &samples[i];
        const uint8_t *b = (const uint8_t *)smp->bytes;
        for (size_t k = 0; k < smp->len; k++) {
            size_t flen;
            rpc_frame_result_t r = scan_once(b, k, MAX_FRAME_DEFAULT, &flen);
            if (r != RPC_FRAME_NEED_MORE)
                fail_msg("sample '%s' cut to %zu of %zu bytes: scan gave %d", smp->name, k,
                         smp->len, (int)r);
        }
        rpc_scan_t s;
        memset(&s, 0, sizeof s);
        size_t flen = 0;
        for (size_t k = 0; k < smp->len; k++)
            if (rpc_scan(&s, b, k, MAX_FRAME_DEFAULT, &flen) != RPC_FRAME_NEED_MORE)
                fail_msg("sample '%s' resumed at %zu bytes: not NEED_MORE", smp->name, k);
        assert_int_equal(rpc_scan(&s, b, smp->len, MAX_FRAME_DEFAULT, &flen), RPC_FRAME_OK);
        assert_int_equal(flen, smp->len);
    }
}

/* Large elements built by msgpack-c's packer, which picks the widest
 * formats (str32, bin32, array32, map32, ext32) for them. */
static void large_elements_frame_to_exact_length(void **state)
{
    (void)state;
    enum { BIG = 70000 };
    char *body = calloc(1, BIG);
    assert_non_null(body);
    for (int kind = 0; kind < 7; kind++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        switch (kind) {
        case 0: msgpack_pack_str(&pk, BIG); msgpack_pack_str_body(&pk, body, BIG); break;
        case 1: msgpack_pack_bin(&pk, BIG); msgpack_pack_bin_body(&pk, body, BIG); break;
        case 2: msgpack_pack_ext(&pk, BIG, 3); msgpack_pack_ext_body(&pk, body, BIG); break;
        case 3:
            msgpack_pack_array(&pk, BIG);
            for (int i = 0; i < BIG; i++)
                msgpack_pack_int(&pk, i);
            break;
        case 4:
            msgpack_pack_map(&pk, BIG);
            for (int i = 0; i < BIG; i++) {
                msgpack_pack_int(&pk, i);
                msgpack_pack_nil(&pk);
            }
            break;
        case 5: msgpack_pack_str(&pk, 300); msgpack_pack_str_body(&pk, body, 300); break;
        case 6:
            msgpack_pack_array(&pk, 1000);
            for (int i = 0; i < 1000; i++) {
                msgpack_pack_bin(&pk, 200);
                msgpack_pack_bin_body(&pk, body, 200);
            }
            break;
        }
        size_t flen;
        assert_int_equal(scan_once((const uint8_t *)sb.data, sb.size, MAX_FRAME_DEFAULT, &flen),
                         RPC_FRAME_OK);
        assert_int_equal(flen, sb.size);
        assert_int_equal(scan_once((const uint8_t *)sb.data, sb.size - 1, MAX_FRAME_DEFAULT, &flen),
                         RPC_FRAME_NEED_MORE);
        msgpack_sbuffer_destroy(&sb);
    }
    free(body);
}

/* ---- the framer: streams of bytes ------------------------------------- */

/* A request fed one byte at a time yields exactly one message, only after
 * its last byte. */
static void byte_by_byte_yields_one_message_at_the_end(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 7);
    rpc_framer_t f;
    rpc_framer_init(&f, MAX_FRAME_DEFAULT);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    int messages = 0;
    for (size_t i = 0; i < sb.size; i++) {
        rpc_framer_feed(&f, sb.data + i, 1);
        rpc_frame_result_t r = rpc_framer_next(&f, &up);
        if (i + 1 < sb.size) {
            if (r != RPC_FRAME_NEED_MORE)
                fail_msg("after byte %zu of %zu: %d, expected NEED_MORE", i + 1, sb.size, (int)r);
            assert_int_equal(rpc_framer_pending(&f), i + 1);
        } else {
            assert_int_equal(r, RPC_FRAME_OK);
            messages++;
            assert_int_equal(msgid_of(&up.data), 7);
        }
    }
    assert_int_equal(messages, 1);
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);
    assert_int_equal(rpc_framer_pending(&f), 0);
    msgpack_unpacked_destroy(&up);
    rpc_framer_free(&f);
    msgpack_sbuffer_destroy(&sb);
}

/* Several frames in one feed come out whole, in order; a trailing partial
 * frame stays buffered until its rest arrives. */
static void several_frames_in_one_feed_in_order(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t id = 1; id <= 5; id++)
        pack_request(&sb, id);
    size_t five = sb.size;
    pack_request(&sb, 6);
    size_t one = sb.size - five;

    rpc_framer_t f;
    rpc_framer_init(&f, MAX_FRAME_DEFAULT);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    rpc_framer_feed(&f, sb.data, five + 3);   /* five frames and 3 bytes of the sixth */
    for (uint64_t id = 1; id <= 5; id++) {
        assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_OK);
        assert_int_equal(msgid_of(&up.data), id);
    }
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);
    assert_int_equal(rpc_framer_pending(&f), 3);
    rpc_framer_feed(&f, sb.data + five + 3, one - 3);
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_OK);
    assert_int_equal(msgid_of(&up.data), 6);
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);
    assert_int_equal(rpc_framer_pending(&f), 0);
    msgpack_unpacked_destroy(&up);
    rpc_framer_free(&f);
    msgpack_sbuffer_destroy(&sb);
}

/* rpc_framer_count: whole frames only, up to max, nothing consumed, and the
 * same count when the first frame was partly walked by rpc_framer_next. */
static void count_sees_whole_frames_only(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t id = 1; id <= 4; id++)
        pack_request(&sb, id);
    size_t one = sb.size / 4;

    rpc_framer_t f;
    rpc_framer_init(&f, MAX_FRAME_DEFAULT);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(rpc_framer_count(&f, SIZE_MAX), 0);
    rpc_framer_feed(&f, sb.data, one - 1);          /* a frame but one byte */
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);   /* walked in part */
    assert_int_equal(rpc_framer_count(&f, SIZE_MAX), 0);
    rpc_framer_feed(&f, sb.data + one - 1, 3 * one + 1 - 5);   /* 3 frames, 5 bytes short of 4 */
    assert_int_equal(rpc_framer_count(&f, SIZE_MAX), 3);
    assert_int_equal(rpc_framer_count(&f, 2), 2);
    assert_int_equal(rpc_framer_count(&f, 0), 0);
    assert_int_equal(rpc_framer_pending(&f), 4 * one - 5);
    /* Counting changed nothing: the frames still come out in order. */
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_OK);
        assert_int_equal(msgid_of(&up.data), id);
        assert_int_equal(rpc_framer_count(&f, SIZE_MAX), 3 - id);
    }
    rpc_framer_feed(&f, sb.data + 4 * one - 5, 5);
    assert_int_equal(rpc_framer_count(&f, SIZE_MAX), 1);
    /* A bad frame after a good one: counted up to it. */
    static const uint8_t bad = 0xc1;
    rpc_framer_feed(&f, &bad, 1);
    assert_int_equal(rpc_framer_count(&f, SIZE_MAX), 1);
    msgpack_unpacked_destroy(&up);
    rpc_framer_free(&f);
    msgpack_sbuffer_destroy(&sb);
}

/* Two frames back to back, split into two feeds at every possible position,
 * come out as the same two objects. */
static void split_at_every_position(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 100);
    size_t first = sb.size;
    pack_request(&sb, 200);

    msgpack_unpacked ref1, ref2;
    msgpack_unpacked_init(&ref1);
    msgpack_unpacked_init(&ref2);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&ref1, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, first);
    assert_int_equal(msgpack_unpack_next(&ref2, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, sb.size);

    for (size_t k = 0; k <= sb.size; k++) {
        rpc_framer_t f;
        rpc_framer_init(&f, MAX_FRAME_DEFAULT);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        int got = 0;
        rpc_framer_feed(&f, sb.data, k);
        rpc_frame_result_t r;
        while ((r = rpc_framer_next(&f, &up)) == RPC_FRAME_OK) {
            assert_true(msgpack_object_equal(up.data, got == 0 ? ref1.data : ref2.data));
            got++;
        }
        assert_int_equal(r, RPC_FRAME_NEED_MORE);
        if (got != (k >= sb.size ? 2 : k >= first ? 1 : 0))
            fail_msg("split at %zu: %d messages before the rest arrived", k, got);
        rpc_framer_feed(&f, sb.data + k, sb.size - k);
        while ((r = rpc_framer_next(&f, &up)) == RPC_FRAME_OK) {
            assert_true(got < 2);
            assert_true(msgpack_object_equal(up.data, got == 0 ? ref1.data : ref2.data));
            got++;
        }
        assert_int_equal(r, RPC_FRAME_NEED_MORE);
        if (got != 2)
            fail_msg("split at %zu: %d messages in total", k, got);
        assert_int_equal(rpc_framer_pending(&f), 0);
        msgpack_unpacked_destroy(&up);
        rpc_framer_free(&f);
    }
    msgpack_unpacked_destroy(&ref1);
    msgpack_unpacked_destroy(&ref2);
    msgpack_sbuffer_destroy(&sb);
}

/* The zero-copy read path: space + commit, in uneven chunks. */
static void space_and_commit(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 11);
    pack_request(&sb, 12);
    pack_request(&sb, 13);
    rpc_framer_t f;
    rpc_framer_init(&f, MAX_FRAME_DEFAULT);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    uint64_t expect = 11;
    size_t fed = 0, chunk = 1;
    while (fed < sb.size) {
        size_t got;
        char *p = rpc_framer_space(&f, chunk, &got);
        assert_non_null(p);
        assert_true(got >= chunk);
        size_t n = sb.size - fed < chunk ? sb.size - fed : chunk;
        memcpy(p, sb.data + fed, n);
        rpc_framer_commit(&f, n);
        fed += n;
        chunk = chunk * 3 % 17 + 1;
        while (rpc_framer_next(&f, &up) == RPC_FRAME_OK)
            assert_int_equal(msgid_of(&up.data), expect++);
    }
    assert_int_equal(expect, 14);
    assert_int_equal(rpc_framer_pending(&f), 0);
    msgpack_unpacked_destroy(&up);
    rpc_framer_free(&f);
    msgpack_sbuffer_destroy(&sb);
}

/* max_frame bounds each frame, not the bytes buffered: three frames that
 * each fit, arriving together, all come out. */
static void max_frame_is_per_frame(void **state)
{
    (void)state;
    static const uint8_t frame[] = { 0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x90 };
    rpc_framer_t f;
    rpc_framer_init(&f, sizeof frame);
    for (int i = 0; i < 3; i++)
        rpc_framer_feed(&f, frame, sizeof frame);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_OK);
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);
    msgpack_unpacked_destroy(&up);
    rpc_framer_free(&f);
}

/* ---- hostile input ---------------------------------------------------- */

/* 5-byte headers declaring ~4 billion elements or ~4 GB: TOO_BIG from the
 * header alone. With fewer than 5 bytes the size is not known yet. */
static void huge_declared_sizes_are_too_big_from_the_header(void **state)
{
    (void)state;
    static const uint8_t hdrs[][6] = {
        { 0xdd, 0xff, 0xff, 0xff, 0xff },   /* array32, 4294967295 elements */
        { 0xdf, 0xff, 0xff, 0xff, 0xff },   /* map32, 4294967295 pairs */
        { 0xdf, 0x80, 0x00, 0x00, 0x00 },   /* map32, 2^31 pairs (2^32 elements) */
        { 0xdb, 0xff, 0xff, 0xff, 0xff },   /* str32, 4 GB */
        { 0xc6, 0xff, 0xff, 0xff, 0xff },   /* bin32, 4 GB */
        { 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01 }, /* ext32, 4 GB (6-byte header) */
        { 0xdc, 0xff, 0xff },               /* array16, 65535 (> max_frame below) */
    };
    static const size_t hlen[] = { 5, 5, 5, 5, 5, 6, 3 };
    for (size_t i = 0; i < sizeof hlen / sizeof hlen[0]; i++) {
        size_t max = i == 6 ? 1000 : MAX_FRAME_DEFAULT;
        size_t flen;
        for (size_t k = 0; k < hlen[i]; k++)
            assert_int_equal(scan_once(hdrs[i], k, max, &flen), RPC_FRAME_NEED_MORE);
        if (scan_once(hdrs[i], hlen[i], max, &flen) != RPC_FRAME_TOO_BIG)
            fail_msg("header %zu: not TOO_BIG from its %zu header bytes", i, hlen[i]);

        /* Nested one level down, too. */
        uint8_t nested[8] = { 0x91 };
        memcpy(nested + 1, hdrs[i], hlen[i]);
        if (scan_once(nested, hlen[i] + 1, max, &flen) != RPC_FRAME_TOO_BIG)
            fail_msg("header %zu inside an array: not TOO_BIG", i);

        /* Through the framer: nothing is allocated for the declared size
         * (run under valgrind: a reservation of n * sizeof(msgpack_object)
         * would be ~100 GB and fail). */
        rpc_framer_t f;
        rpc_framer_init(&f, max);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        rpc_framer_feed(&f, hdrs[i], hlen[i]);
        assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_TOO_BIG);
        msgpack_unpacked_destroy(&up);
        rpc_framer_free(&f);
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A str32/bin32 whose declared size makes the frame exactly max_frame is
 * accepted (NEED_MORE until its body arrives, then OK); one byte more is
 * TOO_BIG from the header. */
static void declared_size_just_fits_or_is_one_over(void **state)
{
    (void)state;
    enum { MAX = 1000 };
    static const uint8_t types[] = { 0xdb, 0xc6 };
    for (size_t t = 0; t < 2; t++) {
        uint8_t *frame = calloc(1, MAX + 1);
        assert_non_null(frame);
        frame[0] = types[t];
        put_be32(frame + 1, MAX - 5);   /* 5 + 995 = 1000 bytes */
        size_t flen;
        assert_int_equal(scan_once(frame, 5, MAX, &flen), RPC_FRAME_NEED_MORE);
        assert_int_equal(scan_once(frame, MAX - 1, MAX, &flen), RPC_FRAME_NEED_MORE);
        assert_int_equal(scan_once(frame, MAX, MAX, &flen), RPC_FRAME_OK);
        assert_int_equal(flen, MAX);

        rpc_framer_t f;
        rpc_framer_init(&f, MAX);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        rpc_framer_feed(&f, frame, 5);
        assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);
        rpc_framer_feed(&f, frame + 5, MAX - 5);
        assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_OK);
        if (t == 0) {
            assert_int_equal(up.data.type, MSGPACK_OBJECT_STR);
            assert_int_equal(up.data.via.str.size, MAX - 5);
        } else {
            assert_int_equal(up.data.type, MSGPACK_OBJECT_BIN);
            assert_int_equal(up.data.via.bin.size, MAX - 5);
        }
        msgpack_unpacked_destroy(&up);
        rpc_framer_free(&f);

        put_be32(frame + 1, MAX - 4);   /* 1001 bytes */
        assert_int_equal(scan_once(frame, 5, MAX, &flen), RPC_FRAME_TOO_BIG);
        free(frame);
    }
}

/* The same limits for containers (each element takes at least one byte)
 * and for fixed-size scalars. */
static void container_and_scalar_limits(void **state)
{
    (void)state;
    enum { MAX = 1000 };
    uint8_t *frame = malloc(MAX + 1);
    assert_non_null(frame);
    memset(frame, 0xc0, MAX + 1);
    size_t flen;

    /* array32 of 995 nils = 1000 bytes: fits. */
    frame[0] = 0xdd;
    put_be32(frame + 1, MAX - 5);
    assert_int_equal(scan_once(frame, 5, MAX, &flen), RPC_FRAME_NEED_MORE);
    assert_int_equal(scan_once(frame, MAX, MAX, &flen), RPC_FRAME_OK);
    assert_int_equal(flen, MAX);
    /* 996 nils: can never fit, known from the header. */
    put_be32(frame + 1, MAX - 4);
    assert_int_equal(scan_once(frame, 5, MAX, &flen), RPC_FRAME_TOO_BIG);

    /* map32 of 497 pairs of nils = 5 + 994 = 999 bytes fits; 498 pairs
     * (1001 bytes) does not. */
    frame[0] = 0xdf;
    put_be32(frame + 1, 497);
    assert_int_equal(scan_once(frame, MAX, MAX, &flen), RPC_FRAME_OK);
    assert_int_equal(flen, 999);
    put_be32(frame + 1, 498);
    assert_int_equal(scan_once(frame, 5, MAX, &flen), RPC_FRAME_TOO_BIG);

    /* float64 is 9 bytes. */
    static const uint8_t dbl[] = { 0xcb, 0, 0, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(scan_once(dbl, sizeof dbl, 9, &flen), RPC_FRAME_OK);
    assert_int_equal(scan_once(dbl, 1, 8, &flen), RPC_FRAME_TOO_BIG);

    /* Elements that each fit but add up to more than max_frame: TOO_BIG
     * as soon as the element crossing the limit starts, not NEED_MORE. */
    static const uint8_t two_strs[] = { 0x92, 0xa5, 'a', 'b', 'c', 'd', 'e',
                                        0xa5, 'a', 'b', 'c', 'd', 'e' };
    assert_int_equal(scan_once(two_strs, sizeof two_strs, 13, &flen), RPC_FRAME_OK);
    assert_int_equal(scan_once(two_strs, 8, 12, &flen), RPC_FRAME_TOO_BIG);
    /* [[nil, nil], nil, nil] is 6 bytes; no header alone exceeds 5, but
     * once 5 bytes are in and the frame is not complete, it cannot fit. */
    static const uint8_t nils[] = { 0x93, 0x92, 0xc0, 0xc0, 0xc0, 0xc0 };
    assert_int_equal(scan_once(nils, sizeof nils, 6, &flen), RPC_FRAME_OK);
    assert_int_equal(flen, 6);
    assert_int_equal(scan_once(nils, 4, 5, &flen), RPC_FRAME_NEED_MORE);
    assert_int_equal(scan_once(nils, 5, 5, &flen), RPC_FRAME_TOO_BIG);
    assert_int_equal(scan_once(nils, 6, 5, &flen), RPC_FRAME_TOO_BIG);
    free(frame);
}

/* Nesting: RPC_FRAME_MAX_DEPTH levels are accepted (and unpacked), one
 * more is BAD, for arrays and for maps. */
static void nesting_depth_limit(void **state)
{
    (void)state;
    uint8_t buf[4 * (RPC_FRAME_MAX_DEPTH + 2)];
    size_t flen;
    for (int depth = RPC_FRAME_MAX_DEPTH; depth <= RPC_FRAME_MAX_DEPTH + 1; depth++) {
        /* depth arrays: [[[...[nil]...]]] */
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            buf[n++] = 0x91;
        buf[n++] = 0xc0;
        rpc_frame_result_t want = depth <= RPC_FRAME_MAX_DEPTH ? RPC_FRAME_OK : RPC_FRAME_BAD;
        if (scan_once(buf, n, MAX_FRAME_DEFAULT, &flen) != want)
            fail_msg("%d nested arrays: expected %d", depth, (int)want);

        rpc_framer_t f;
        rpc_framer_init(&f, MAX_FRAME_DEFAULT);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        rpc_framer_feed(&f, buf, n);
        assert_int_equal(rpc_framer_next(&f, &up), want);
        msgpack_unpacked_destroy(&up);
        rpc_framer_free(&f);

        /* depth maps: {"k": {"k": ... {"k": nil}}} */
        n = 0;
        for (int i = 0; i < depth; i++) {
            buf[n++] = 0x81;
            buf[n++] = 0xa1;
            buf[n++] = 'k';
        }
        buf[n++] = 0xc0;
        if (scan_once(buf, n, MAX_FRAME_DEFAULT, &flen) != want)
            fail_msg("%d nested maps: expected %d", depth, (int)want);
    }
    /* Deep nesting is refused as soon as the level that is too deep opens,
     * before the rest of the message arrives. */
    memset(buf, 0x91, RPC_FRAME_MAX_DEPTH + 1);
    assert_int_equal(scan_once(buf, RPC_FRAME_MAX_DEPTH + 1, MAX_FRAME_DEFAULT, &flen),
                     RPC_FRAME_BAD);
    /* Many siblings at a modest depth are fine (depth counts open levels). */
    static const uint8_t wide[] = { 0x93, 0x91, 0x91, 0xc0, 0x91, 0x91, 0xc0, 0x91, 0x91, 0xc0 };
    assert_int_equal(scan_once(wide, sizeof wide, MAX_FRAME_DEFAULT, &flen), RPC_FRAME_OK);
    assert_int_equal(flen, sizeof wide);
}

/* 0xc1 is never used by msgpack: BAD wherever it appears. */
static void reserved_byte_is_bad(void **state)
{
    (void)state;
    static const uint8_t top[] = { 0xc1 };
    static const uint8_t in_array[] = { 0x92, 0x01, 0xc1 };
    static const uint8_t as_key[] = { 0x81, 0xc1, 0x01 };
    static const uint8_t as_value[] = { 0x94, 0x00, 0x01, 0xa1, 'x', 0x91, 0x81, 0xa1, 'k', 0xc1 };
    size_t flen;
    assert_int_equal(scan_once(top, sizeof top, MAX_FRAME_DEFAULT, &flen), RPC_FRAME_BAD);
    assert_int_equal(scan_once(in_array, sizeof in_array, MAX_FRAME_DEFAULT, &flen),
                     RPC_FRAME_BAD);
    assert_int_equal(scan_once(as_key, sizeof as_key, MAX_FRAME_DEFAULT, &flen), RPC_FRAME_BAD);
    assert_int_equal(scan_once(as_value, sizeof as_value, MAX_FRAME_DEFAULT, &flen),
                     RPC_FRAME_BAD);

    /* Through the framer, after a good frame: the good one still comes out. */
    rpc_framer_t f;
    rpc_framer_init(&f, MAX_FRAME_DEFAULT);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    static const uint8_t good_then_bad[] = { 0x91, 0x2a, 0xc1 };
    rpc_framer_feed(&f, good_then_bad, sizeof good_then_bad);
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_OK);
    assert_int_equal(up.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(up.data.via.array.ptr[0].via.u64, 42);
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_BAD);
    msgpack_unpacked_destroy(&up);
    rpc_framer_free(&f);
}

/* An array of 100,000 nils trickled one byte at a time completes (the
 * scanner resumes where it stopped instead of rescanning the prefix). */
static void long_trickled_frame_completes(void **state)
{
    (void)state;
    enum { N = 100000 };
    rpc_framer_t f;
    rpc_framer_init(&f, MAX_FRAME_DEFAULT);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    uint8_t hdr[5] = { 0xdd };
    put_be32(hdr + 1, N);
    for (int i = 0; i < 5; i++) {
        rpc_framer_feed(&f, hdr + i, 1);
        assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);
    }
    static const uint8_t nil = 0xc0;
    for (int i = 0; i < N; i++) {
        rpc_framer_feed(&f, &nil, 1);
        rpc_frame_result_t r = rpc_framer_next(&f, &up);
        if (r != (i + 1 < N ? RPC_FRAME_NEED_MORE : RPC_FRAME_OK))
            fail_msg("after nil %d: %d", i + 1, (int)r);
    }
    assert_int_equal(up.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(up.data.via.array.size, N);
    assert_int_equal(up.data.via.array.ptr[N - 1].type, MSGPACK_OBJECT_NIL);
    assert_int_equal(rpc_framer_pending(&f), 0);
    msgpack_unpacked_destroy(&up);
    rpc_framer_free(&f);
}

/* An empty framer, and a framer fed nothing, have nothing to give. */
static void empty_input_needs_more(void **state)
{
    (void)state;
    rpc_framer_t f;
    rpc_framer_init(&f, MAX_FRAME_DEFAULT);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);
    rpc_framer_feed(&f, "", 0);
    assert_int_equal(rpc_framer_next(&f, &up), RPC_FRAME_NEED_MORE);
    assert_int_equal(rpc_framer_pending(&f), 0);
    size_t flen;
    assert_int_equal(scan_once((const uint8_t *)"", 0, MAX_FRAME_DEFAULT, &flen),
                     RPC_FRAME_NEED_MORE);
    msgpack_unpacked_destroy(&up);
    rpc_framer_free(&f);
}

/* rpc_framer_trim: a buffer grown for a large frame shrinks back once what
 * is pending fits in RPC_FRAMER_KEEP; with nothing pending it is kept for
 * the next read; rpc_framer_release frees it then (and only then). */
static void trim_gives_memory_back(void **state)
{
    (void)state;
    rpc_framer_t f;
    rpc_framer_init(&f, 4 << 20);
    /* A 1 MiB bin frame, then 3 bytes of the next frame. */
    size_t big = 1 << 20;
    char *frame = calloc(1, big + 5);
    frame[0] = (char)0xc6;
    frame[1] = 0; frame[2] = 0x10; frame[3] = 0; frame[4] = 0;
    rpc_framer_feed(&f, frame, big + 5);
    rpc_framer_feed(&f, "\x93\x02\xa1", 3);
    free(frame);
    assert_true(rpc_framer_capacity(&f) > big);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(rpc_framer_next(&f, &u), RPC_FRAME_OK);
    rpc_framer_trim(&f);
    assert_int_equal(rpc_framer_capacity(&f), RPC_FRAMER_KEEP);
    assert_int_equal(rpc_framer_pending(&f), 3);
    rpc_framer_release(&f);                  /* something is pending: kept */
    assert_int_equal(rpc_framer_capacity(&f), RPC_FRAMER_KEEP);
    rpc_framer_feed(&f, "x\x90", 2);       /* [2, "x", []] completes */
    assert_int_equal(rpc_framer_next(&f, &u), RPC_FRAME_OK);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, 3);
    rpc_framer_trim(&f);
    assert_int_equal(rpc_framer_capacity(&f), RPC_FRAMER_KEEP);
    assert_int_equal(rpc_framer_pending(&f), 0);
    rpc_framer_release(&f);
    assert_int_equal(rpc_framer_capacity(&f), 0);
    assert_int_equal(rpc_framer_next(&f, &u), RPC_FRAME_NEED_MORE);
    msgpack_unpacked_destroy(&u);
    rpc_framer_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_frames_to_exact_length),
        cmocka_unit_test(truncated_frames_need_more),
        cmocka_unit_test(large_elements_frame_to_exact_length),
        cmocka_unit_test(byte_by_byte_yields_one_message_at_the_end),
        cmocka_unit_test(several_frames_in_one_feed_in_order),
        cmocka_unit_test(count_sees_whole_frames_only),
        cmocka_unit_test(split_at_every_position),
        cmocka_unit_test(space_and_commit),
        cmocka_unit_test(max_frame_is_per_frame),
        cmocka_unit_test(huge_declared_sizes_are_too_big_from_the_header),
        cmocka_unit_test(declared_size_just_fits_or_is_one_over),
        cmocka_unit_test(container_and_scalar_limits),
        cmocka_unit_test(nesting_depth_limit),
        cmocka_unit_test(reserved_byte_is_bad),
        cmocka_unit_test(long_trickled_frame_completes),
        cmocka_unit_test(empty_input_needs_more),
        cmocka_unit_test(trim_gives_memory_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

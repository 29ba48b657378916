/* Fuzz target: the msgpack-RPC input path of a connection, as
 * src/rpc/rpc_server.c drives it (process_frames): the frame scanner and
 * framer (rpc_frame), envelope classification (rpc_msg_classify), and every
 * argument getter over whatever args map the envelope holds.
 *
 * The input is the byte stream a client sends. It is framed three ways:
 *   - all at once, max_frame 1 MiB (the default);
 *   - one byte at a time, max_frame 1 MiB: the scanner is resumable, so the
 *     frames, their lengths and the final verdict must be exactly those of
 *     the first way (checked);
 *   - all at once with a small max_frame, for the TOO_BIG paths.
 * Each complete message is classified and its args probed with the getters;
 * an error response for it is packed and must unpack as one message. */
#include <math.h>
#include <string.h>

#include <msgpack.h>

#include "fuzz.h"
#include "rpc/rpc_frame.h"
#include "rpc/rpc_msg.h"

#define BIG_FRAME 1048576
#define SMALL_FRAME 64
#define MAX_EVENTS 4096

/* What one way of framing saw: per message its length and kind, then how
 * the stream ended (NEED_MORE, TOO_BIG or BAD). */
typedef struct {
    size_t n;
    struct {
        int result;
        size_t len;
        int kind;
    } ev[MAX_EVENTS];
} trace_t;

/* The argument names the methods read (src/feed/feed_methods.c), plus
 * edge cases: the empty name and a prefix of a real one. */
static const char *const known_keys[] = {
    "user_id", "author_id", "follower_id", "followee_id", "id", "created_at", "body",
    "cursor", "limit", "hydrate", "after", "all", "rate", "active_within_s", "job",
    "user_ids", "", "user",
};

static void check_err(int rc, const char *err)
{
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc < 0)
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', 128) != NULL);
}

/* Every getter, for one key, with a few ranges and length limits. */
static void probe_key(const msgpack_object *args, const char *key)
{
    char err[128];
    const msgpack_object *v = rpc_arg(args, key);
    if (v)
        FUZZ_CHECK(v->type != MSGPACK_OBJECT_NIL);

    static const int64_t ranges[][2] = {
        { INT64_MIN, INT64_MAX }, { 1, INT64_MAX }, { 0, 1000 }, { -5, 5 },
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        int64_t x = 0;
        err[0] = '\0';
        int rc = rpc_arg_int(args, key, ranges[i][0], ranges[i][1], &x, err, sizeof err);
        check_err(rc, err);
        FUZZ_CHECK(rc != 0 || !v);
        if (rc == 1)
            FUZZ_CHECK(x >= ranges[i][0] && x <= ranges[i][1]);
    }

    static const size_t limits[] = { 0, 1, 64, 65536, (size_t)-1 };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        const char *s = NULL;
        size_t len = 0;
        err[0] = '\0';
        int rc = rpc_arg_str(args, key, limits[i], &s, &len, err, sizeof err);
        check_err(rc, err);
        if (rc == 1) {
            FUZZ_CHECK(len <= limits[i]);
            FUZZ_CHECK(s != NULL || len == 0);
            /* Points into the message: every byte must be readable. */
            volatile uint8_t sum = 0;
            for (size_t j = 0; j < len; j++)
                sum = (uint8_t)(sum + (uint8_t)s[j]);
            (void)sum;
        }
    }

    bool b = false;
    err[0] = '\0';
    check_err(rpc_arg_bool(args, key, &b, err, sizeof err), err);

    double d = 0;
    err[0] = '\0';
    int rc = rpc_arg_number(args, key, &d, err, sizeof err);
    check_err(rc, err);
    if (rc == 1)
        FUZZ_CHECK(isfinite(d));
}

/* The getters over an args map: the daemon's names and every name the
 * map itself holds (as a C string, when it has no NUL inside). */
static void probe_args(const msgpack_object *args)
{
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
        probe_key(args, known_keys[i]);
    if (!args || args->type != MSGPACK_OBJECT_MAP)
        return;
    for (uint32_t i = 0; i < args->via.map.size && i < 64; i++) {
        const msgpack_object *k = &args->via.map.ptr[i].key;
        const char *p;
        size_t n;
        if (k->type == MSGPACK_OBJECT_STR) {
            p = k->via.str.ptr;
            n = k->via.str.size;
        } else if (k->type == MSGPACK_OBJECT_BIN) {
            p = k->via.bin.ptr;
            n = k->via.bin.size;
        } else {
            continue;
        }
        if (n > 256 || (n > 0 && memchr(p, '\0', n)))
            continue;
        char key[257];
        if (n > 0)           /* p may be NULL for an empty str (msgpack-c) */
            memcpy(key, p, n);
        key[n] = '\0';
        probe_key(args, key);
    }
}

/* What the server does with one message; returns its kind. */
static int handle(const msgpack_object *obj)
{
    rpc_msg_t m;
    rpc_msg_classify(obj, &m);
    FUZZ_CHECK(m.kind >= RPC_MSG_REQUEST && m.kind <= RPC_MSG_INVALID);
    FUZZ_CHECK(memchr(m.why, '\0', sizeof m.why) != NULL);
    if (m.kind == RPC_MSG_REQUEST || m.kind == RPC_MSG_NOTIFICATION) {
        FUZZ_CHECK(m.method != NULL || m.method_len == 0);
        FUZZ_CHECK(!m.args || m.args->type == MSGPACK_OBJECT_MAP);
        if (m.kind == RPC_MSG_REQUEST)
            FUZZ_CHECK(m.msgid >= 0 && m.msgid <= UINT32_MAX);
        probe_args(m.args);
    } else {
        FUZZ_CHECK(m.why[0] != '\0');
    }
    /* A map at the top level: probe it directly, so maps need no envelope. */
    if (obj->type == MSGPACK_OBJECT_MAP)
        probe_args(obj);

    if (m.kind != RPC_MSG_INVALID) {
        /* The answer to it must be one well-formed message. */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        rpc_pack_error(&pk, m.msgid, RPC_BAD_REQUEST, m.why[0] ? m.why : "x",
                       m.msgid & 1 ? 100 : -1);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        FUZZ_CHECK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
        FUZZ_CHECK(off == sb.size);
        msgpack_unpacked_destroy(&u);
        msgpack_sbuffer_destroy(&sb);
    }
    return (int)m.kind;
}

static void record(trace_t *t, int result, size_t len, int kind)
{
    if (t->n < MAX_EVENTS) {     /* a longer stream is compared up to here */
        t->ev[t->n].result = result;
        t->ev[t->n].len = len;
        t->ev[t->n].kind = kind;
    }
    t->n++;
}

/* Takes messages out until the framer wants more or fails; returns 0 to go
 * on reading, -1 when the connection would be closed. */
static int drain(rpc_framer_t *f, trace_t *t)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = 0;
    /* rpc_framer_count (the server's look-ahead, newest first) counts the
     * whole messages that rpc_framer_next then returns: all of them when it
     * ends wanting more, at least those before a failure. */
    size_t whole = rpc_framer_count(f, SIZE_MAX), taken = 0;
    for (;;) {
        size_t before = rpc_framer_pending(f);
        rpc_frame_result_t r = rpc_framer_next(f, &u);
        if (r == RPC_FRAME_NEED_MORE) {
            FUZZ_CHECK(taken == whole);
            break;
        }
        if (r == RPC_FRAME_OK)
            taken++;
        FUZZ_CHECK(taken <= whole);
        if (r != RPC_FRAME_OK) {
            FUZZ_CHECK(r == RPC_FRAME_TOO_BIG || r == RPC_FRAME_BAD);
            record(t, r, 0, -1);
            rc = -1;
            break;
        }
        size_t len = before - rpc_framer_pending(f);
        FUZZ_CHECK(len > 0 && len <= f->max_frame);
        int kind = handle(&u.data);
        record(t, r, len, kind);
        if (kind == RPC_MSG_INVALID) {
            rc = -1;         /* the server closes here */
            break;
        }
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

static void run(const uint8_t *data, size_t size, size_t max_frame, size_t step, trace_t *t)
{
    rpc_framer_t f;
    rpc_framer_init(&f, max_frame);
    t->n = 0;
    size_t off = 0;
    int closed = 0;
    while (off < size && !closed) {
        size_t n = size - off < step ? size - off : step;
        if (off % 2 == 0) {
            rpc_framer_feed(&f, data + off, n);
        } else {
            /* The server's way: read straight into the framer's buffer. */
            size_t got;
            char *space = rpc_framer_space(&f, n, &got);
            FUZZ_CHECK(got >= n);
            memcpy(space, data + off, n);
            rpc_framer_commit(&f, n);
        }
        off += n;
        closed = drain(&f, t) != 0;
    }
    if (!closed)
        record(t, RPC_FRAME_NEED_MORE, rpc_framer_pending(&f), -1);
    rpc_framer_free(&f);
}

static trace_t whole, bytewise, small;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, BIG_FRAME, size ? size : 1, &whole);
    run(data, size, BIG_FRAME, 1, &bytewise);
    FUZZ_CHECK(whole.n == bytewise.n);
    for (size_t i = 0; i < whole.n && i < MAX_EVENTS; i++) {
        FUZZ_CHECK(whole.ev[i].result == bytewise.ev[i].result);
        FUZZ_CHECK(whole.ev[i].len == bytewise.ev[i].len);
        FUZZ_CHECK(whole.ev[i].kind == bytewise.ev[i].kind);
    }
    run(data, size, SMALL_FRAME, size ? size : 1, &small);
    return 0;
}

/* Unit tests for msgpack-RPC envelopes (src/rpc/rpc_msg.c): classifying
 * requests and notifications (docs/PROTOCOL.md, "Transport and framing"),
 * reading named arguments, and packing responses that a msgpack-RPC client
 * can read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <msgpack.h>

#include "rpc/rpc_msg.h"

/* ---- helpers: build an object with msgpack-c's packer ----------------- */

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
} mp_t;

static msgpack_packer *mp_begin(mp_t *m)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
    msgpack_unpacked_init(&m->up);
    return &m->pk;
}

/* Unpacks what was packed: exactly one object. */
static const msgpack_object *mp_obj(mp_t *m)
{
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&m->up, m->sb.data, m->sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, m->sb.size);
    return &m->up.data;
}

static void mp_end(mp_t *m)
{
    msgpack_unpacked_destroy(&m->up);
    msgpack_sbuffer_destroy(&m->sb);
}

static void pstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pbin(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, s, n);
}

static int method_is(const rpc_msg_t *m, const char *name)
{
    return m->method && m->method_len == strlen(name) && memcmp(m->method, name, m->method_len) == 0;
}

/* Classifies [0, msgid, "ping", params] where params is packed by a
 * callback-free switch (keeps each test a few lines). */
enum { P_EMPTY, P_EMPTY_MAP, P_NIL, P_MAP, P_NOT_ARRAY_MAP, P_NOT_ARRAY_NIL, P_NOT_ARRAY_INT,
       P_TWO_INTS, P_ONE_INT, P_TWO_MAPS, P_ONE_STR, P_MAP_AND_NIL };

static void pack_params(msgpack_packer *pk, int kind)
{
    switch (kind) {
    case P_EMPTY: msgpack_pack_array(pk, 0); break;
    case P_EMPTY_MAP: msgpack_pack_array(pk, 1); msgpack_pack_map(pk, 0); break;
    case P_NIL: msgpack_pack_array(pk, 1); msgpack_pack_nil(pk); break;
    case P_MAP:
        msgpack_pack_array(pk, 1);
        msgpack_pack_map(pk, 2);
        pstr(pk, "user_id");
        msgpack_pack_int64(pk, 42);
        pstr(pk, "limit");
        msgpack_pack_int(pk, 5);
        break;
    case P_NOT_ARRAY_MAP: msgpack_pack_map(pk, 0); break;
    case P_NOT_ARRAY_NIL: msgpack_pack_nil(pk); break;
    case P_NOT_ARRAY_INT: msgpack_pack_int(pk, 1); break;
    case P_TWO_INTS: msgpack_pack_array(pk, 2); msgpack_pack_int(pk, 1); msgpack_pack_int(pk, 2); break;
    case P_ONE_INT: msgpack_pack_array(pk, 1); msgpack_pack_int(pk, 1); break;
    case P_TWO_MAPS: msgpack_pack_array(pk, 2); msgpack_pack_map(pk, 0); msgpack_pack_map(pk, 0); break;
    case P_ONE_STR: msgpack_pack_array(pk, 1); pstr(pk, "x"); break;
    case P_MAP_AND_NIL: msgpack_pack_array(pk, 2); msgpack_pack_map(pk, 0); msgpack_pack_nil(pk); break;
    }
}

static void classify_request(uint32_t msgid, int params, rpc_msg_t *out)
{
    mp_t m;
    msgpack_packer *pk = mp_begin(&m);
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 0);
    msgpack_pack_uint32(pk, msgid);
    pstr(pk, "ping");
    pack_params(pk, params);
    rpc_msg_classify(mp_obj(&m), out);
    /* args point into the unpacked zone: the callers here only look at
     * kind/msgid/why and whether args is NULL. */
    mp_end(&m);
}

/* ---- requests --------------------------------------------------------- */

static void request_with_str_method(void **state)
{
    (void)state;
    mp_t m;
    msgpack_packer *pk = mp_begin(&m);
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 0);
    msgpack_pack_uint32(pk, 7);
    pstr(pk, "timeline.get");
    pack_params(pk, P_MAP);
    rpc_msg_t r;
    rpc_msg_classify(mp_obj(&m), &r);
    assert_int_equal(r.kind, RPC_MSG_REQUEST);
    assert_int_equal(r.msgid, 7);
    assert_true(method_is(&r, "timeline.get"));
    assert_non_null(r.args);
    assert_int_equal(r.args->type, MSGPACK_OBJECT_MAP);
    int64_t v = 0;
    char err[128] = "";
    assert_int_equal(rpc_arg_int(r.args, "user_id", 1, INT64_MAX, &v, err, sizeof err), 1);
    assert_int_equal(v, 42);
    assert_int_equal(rpc_arg_int(r.args, "limit", 1, 200, &v, err, sizeof err), 1);
    assert_int_equal(v, 5);
    mp_end(&m);
}

static void request_with_bin_method(void **state)
{
    (void)state;
    mp_t m;
    msgpack_packer *pk = mp_begin(&m);
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 0);
    msgpack_pack_uint32(pk, 8);
    pbin(pk, "post.publish");
    pack_params(pk, P_EMPTY);
    rpc_msg_t r;
    rpc_msg_classify(mp_obj(&m), &r);
    assert_int_equal(r.kind, RPC_MSG_REQUEST);
    assert_int_equal(r.msgid, 8);
    assert_true(method_is(&r, "post.publish"));
    assert_null(r.args);
    mp_end(&m);
}

/* params [], [{}], [nil] and [{...}] are all valid; [] and [nil] mean no
 * arguments (args NULL), [{}] an empty map. */
static void request_params_forms(void **state)
{
    (void)state;
    rpc_msg_t r;
    classify_request(1, P_EMPTY, &r);
    assert_int_equal(r.kind, RPC_MSG_REQUEST);
    assert_null(r.args);
    classify_request(2, P_EMPTY_MAP, &r);
    assert_int_equal(r.kind, RPC_MSG_REQUEST);
    assert_non_null(r.args);
    classify_request(3, P_NIL, &r);
    assert_int_equal(r.kind, RPC_MSG_REQUEST);
    assert_null(r.args);
    classify_request(4, P_MAP, &r);
    assert_int_equal(r.kind, RPC_MSG_REQUEST);
    assert_non_null(r.args);
    assert_int_equal(r.msgid, 4);
}

/* msgid is an unsigned 32-bit integer: 0 and 2^32-1 are valid. */
static void request_msgid_bounds(void **state)
{
    (void)state;
    rpc_msg_t r;
    classify_request(0, P_EMPTY, &r);
    assert_int_equal(r.kind, RPC_MSG_REQUEST);
    assert_int_equal(r.msgid, 0);
    classify_request(UINT32_MAX, P_EMPTY, &r);
    assert_int_equal(r.kind, RPC_MSG_REQUEST);
    assert_int_equal(r.msgid, (int64_t)UINT32_MAX);
}

/* Wrong params: BAD_REQUEST for that msgid, the reason names params. */
static void request_bad_params(void **state)
{
    (void)state;
    static const int bad[] = { P_NOT_ARRAY_MAP, P_NOT_ARRAY_NIL, P_NOT_ARRAY_INT, P_TWO_INTS,
                               P_ONE_INT, P_TWO_MAPS, P_ONE_STR, P_MAP_AND_NIL };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rpc_msg_t r;
        classify_request(900 + (uint32_t)i, bad[i], &r);
        if (r.kind != RPC_MSG_BAD_REQUEST)
            fail_msg("params form %d: kind %d, expected BAD_REQUEST", bad[i], (int)r.kind);
        assert_int_equal(r.msgid, 900 + (int64_t)i);
        assert_non_null(strstr(r.why, "params"));
    }
}

/* method not a string: BAD_REQUEST naming method. */
static void request_method_not_a_string(void **state)
{
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        mp_t m;
        msgpack_packer *pk = mp_begin(&m);
        msgpack_pack_array(pk, 4);
        msgpack_pack_int(pk, 0);
        msgpack_pack_uint32(pk, 55);
        switch (kind) {
        case 0: msgpack_pack_int(pk, 3); break;
        case 1: msgpack_pack_nil(pk); break;
        case 2: msgpack_pack_array(pk, 0); break;
        case 3: msgpack_pack_true(pk); break;
        }
        msgpack_pack_array(pk, 0);
        rpc_msg_t r;
        rpc_msg_classify(mp_obj(&m), &r);
        assert_int_equal(r.kind, RPC_MSG_BAD_REQUEST);
        assert_int_equal(r.msgid, 55);
        assert_non_null(strstr(r.why, "method"));
        mp_end(&m);
    }
}

/* [0, msgid], [0, msgid, method] and 5-element requests: BAD_REQUEST
 * keeping the msgid. */
static void request_wrong_length(void **state)
{
    (void)state;
    for (uint32_t n = 2; n <= 6; n++) {
        if (n == 4)
            continue;
        mp_t m;
        msgpack_packer *pk = mp_begin(&m);
        msgpack_pack_array(pk, n);
        msgpack_pack_int(pk, 0);
        msgpack_pack_uint32(pk, 1000 + n);
        if (n > 2)
            pstr(pk, "ping");
        if (n > 3)
            msgpack_pack_array(pk, 0);
        for (uint32_t i = 4; i < n; i++)
            msgpack_pack_nil(pk);
        rpc_msg_t r;
        rpc_msg_classify(mp_obj(&m), &r);
        if (r.kind != RPC_MSG_BAD_REQUEST)
            fail_msg("request of %u elements: kind %d", n, (int)r.kind);
        assert_int_equal(r.msgid, 1000 + n);
        assert_true(r.why[0] != '\0');
        mp_end(&m);
    }
}

/* msgid negative or above 2^32-1: BAD_REQUEST, echoing the msgid. */
static void request_msgid_out_of_range(void **state)
{
    (void)state;
    static const int64_t ids[] = { -1, -4294967296LL, 4294967296LL, INT64_MAX };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        mp_t m;
        msgpack_packer *pk = mp_begin(&m);
        msgpack_pack_array(pk, 4);
        msgpack_pack_int(pk, 0);
        msgpack_pack_int64(pk, ids[i]);
        pstr(pk, "ping");
        msgpack_pack_array(pk, 0);
        rpc_msg_t r;
        rpc_msg_classify(mp_obj(&m), &r);
        assert_int_equal(r.kind, RPC_MSG_BAD_REQUEST);
        assert_int_equal(r.msgid, ids[i]);
        assert_non_null(strstr(r.why, "msgid"));
        mp_end(&m);
    }
}

/* Not a request at all: INVALID (the connection is closed). */
static void invalid_messages(void **state)
{
    (void)state;
    for (int kind = 0; kind < 15; kind++) {
        mp_t m;
        msgpack_packer *pk = mp_begin(&m);
        switch (kind) {
        case 0: msgpack_pack_map(pk, 1); pstr(pk, "a"); msgpack_pack_int(pk, 1); break;
        case 1: pstr(pk, "ping"); break;
        case 2: msgpack_pack_nil(pk); break;
        case 3: msgpack_pack_array(pk, 0); break;
        case 4: msgpack_pack_array(pk, 1); msgpack_pack_int(pk, 0); break;   /* [0] */
        case 5:   /* msgid a string */
            msgpack_pack_array(pk, 4); msgpack_pack_int(pk, 0); pstr(pk, "7");
            pstr(pk, "ping"); msgpack_pack_array(pk, 0); break;
        case 6:   /* msgid nil */
            msgpack_pack_array(pk, 4); msgpack_pack_int(pk, 0); msgpack_pack_nil(pk);
            pstr(pk, "ping"); msgpack_pack_array(pk, 0); break;
        case 7:   /* msgid a float */
            msgpack_pack_array(pk, 4); msgpack_pack_int(pk, 0); msgpack_pack_double(pk, 7.0);
            pstr(pk, "ping"); msgpack_pack_array(pk, 0); break;
        case 8:   /* a response */
            msgpack_pack_array(pk, 4); msgpack_pack_int(pk, 1); msgpack_pack_int(pk, 7);
            msgpack_pack_nil(pk); pstr(pk, "pong"); break;
        case 9:   /* unknown type 3 */
            msgpack_pack_array(pk, 4); msgpack_pack_int(pk, 3); msgpack_pack_int(pk, 7);
            pstr(pk, "ping"); msgpack_pack_array(pk, 0); break;
        case 10:  /* type -1 */
            msgpack_pack_array(pk, 4); msgpack_pack_int(pk, -1); msgpack_pack_int(pk, 7);
            pstr(pk, "ping"); msgpack_pack_array(pk, 0); break;
        case 11:  /* type a string */
            msgpack_pack_array(pk, 4); pstr(pk, "0"); msgpack_pack_int(pk, 7);
            pstr(pk, "ping"); msgpack_pack_array(pk, 0); break;
        case 12:  /* type a boolean (booleans are not integers) */
            msgpack_pack_array(pk, 4); msgpack_pack_false(pk); msgpack_pack_int(pk, 7);
            pstr(pk, "ping"); msgpack_pack_array(pk, 0); break;
        case 13:  /* msgid a boolean */
            msgpack_pack_array(pk, 4); msgpack_pack_int(pk, 0); msgpack_pack_true(pk);
            pstr(pk, "ping"); msgpack_pack_array(pk, 0); break;
        case 14:  /* type 1 shaped like a notification */
            msgpack_pack_array(pk, 3); msgpack_pack_int(pk, 1); pstr(pk, "ping");
            msgpack_pack_array(pk, 0); break;
        }
        rpc_msg_t r;
        rpc_msg_classify(mp_obj(&m), &r);
        if (r.kind != RPC_MSG_INVALID)
            fail_msg("case %d: kind %d, expected INVALID", kind, (int)r.kind);
        assert_true(r.why[0] != '\0');
        mp_end(&m);
    }
}

/* ---- notifications ---------------------------------------------------- */

static void notifications_valid(void **state)
{
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        mp_t m;
        msgpack_packer *pk = mp_begin(&m);
        msgpack_pack_array(pk, 3);
        msgpack_pack_int(pk, 2);
        if (kind == 1)
            pbin(pk, "timeline.invalidate");
        else
            pstr(pk, "timeline.invalidate");
        switch (kind) {
        case 0: case 1:
            msgpack_pack_array(pk, 1);
            msgpack_pack_map(pk, 1);
            pstr(pk, "user_id");
            msgpack_pack_int(pk, 9);
            break;
        case 2: pack_params(pk, P_EMPTY); break;
        case 3: pack_params(pk, P_NIL); break;
        }
        rpc_msg_t r;
        rpc_msg_classify(mp_obj(&m), &r);
        assert_int_equal(r.kind, RPC_MSG_NOTIFICATION);
        assert_true(method_is(&r, "timeline.invalidate"));
        if (kind <= 1) {
            int64_t v = 0;
            char err[64];
            assert_non_null(r.args);
            assert_int_equal(rpc_arg_int(r.args, "user_id", 1, INT64_MAX, &v, err, sizeof err), 1);
            assert_int_equal(v, 9);
        } else {
            assert_null(r.args);
        }
        mp_end(&m);
    }
}

/* [2, method, params] with params other than [] or [map] (positional, as
 * `[2, "nvim_set_client_info", [name, version, ...]]`, or not an array) is
 * still a notification: BAD_REQUEST, never answered, never INVALID. */
static void notifications_with_other_params(void **state)
{
    (void)state;
    for (int kind = 0; kind < 5; kind++) {
        mp_t m;
        msgpack_packer *pk = mp_begin(&m);
        msgpack_pack_array(pk, 3);
        msgpack_pack_int(pk, 2);
        if (kind == 0) {
            pbin(pk, "nvim_set_client_info");
            msgpack_pack_array(pk, 5);
            pstr(pk, "client"); msgpack_pack_map(pk, 0); pstr(pk, "remote");
            msgpack_pack_map(pk, 0); msgpack_pack_map(pk, 0);
        } else {
            pstr(pk, "nvim_set_client_info");
            pack_params(pk, kind == 1 ? P_TWO_INTS : kind == 2 ? P_TWO_MAPS
                            : kind == 3 ? P_NOT_ARRAY_MAP : P_ONE_STR);
        }
        rpc_msg_t r;
        rpc_msg_classify(mp_obj(&m), &r);
        if (r.kind != RPC_MSG_BAD_REQUEST)
            fail_msg("case %d: kind %d, expected BAD_REQUEST", kind, (int)r.kind);
        assert_true(r.notification);
        assert_true(method_is(&r, "nvim_set_client_info"));
        assert_true(r.why[0] != '\0');
        mp_end(&m);
    }
}

/* A malformed notification has no msgid to answer: INVALID. */
static void notifications_invalid(void **state)
{
    (void)state;
    for (int kind = 0; kind < 6; kind++) {
        mp_t m;
        msgpack_packer *pk = mp_begin(&m);
        switch (kind) {
        case 0: msgpack_pack_array(pk, 2); msgpack_pack_int(pk, 2); pstr(pk, "x"); break;
        case 1:
            msgpack_pack_array(pk, 3); msgpack_pack_int(pk, 2); msgpack_pack_int(pk, 5);
            msgpack_pack_array(pk, 0); break;
        case 2:
            msgpack_pack_array(pk, 3); msgpack_pack_int(pk, 2); msgpack_pack_nil(pk);
            msgpack_pack_array(pk, 0); break;
        case 3:
            msgpack_pack_array(pk, 3); msgpack_pack_int(pk, 2); msgpack_pack_array(pk, 0);
            pack_params(pk, P_TWO_INTS); break;
        case 4:
            msgpack_pack_array(pk, 4); msgpack_pack_int(pk, 2); pstr(pk, "x");
            msgpack_pack_array(pk, 0); msgpack_pack_nil(pk); break;
        case 5: msgpack_pack_array(pk, 1); msgpack_pack_int(pk, 2); break;
        }
        rpc_msg_t r;
        rpc_msg_classify(mp_obj(&m), &r);
        if (r.kind != RPC_MSG_INVALID)
            fail_msg("case %d: kind %d, expected INVALID", kind, (int)r.kind);
        assert_true(r.why[0] != '\0');
        mp_end(&m);
    }
}

/* ---- named arguments -------------------------------------------------- */

/* A map with one key per argument type the tests need. */
static const msgpack_object *pack_args(mp_t *m)
{
    msgpack_packer *pk = mp_begin(m);
    msgpack_pack_map(pk, 14);
    pstr(pk, "id"); msgpack_pack_int64(pk, 123);
    pstr(pk, "nil"); msgpack_pack_nil(pk);
    pstr(pk, "flag"); msgpack_pack_true(pk);
    pstr(pk, "neg"); msgpack_pack_int64(pk, -5);
    pstr(pk, "huge"); msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1);
    pstr(pk, "max"); msgpack_pack_int64(pk, INT64_MAX);
    pstr(pk, "min"); msgpack_pack_int64(pk, INT64_MIN);
    pstr(pk, "text"); pstr(pk, "hello");
    pbin(pk, "binkey"); pbin(pk, "bytes");   /* key and value both bin */
    pstr(pk, "f64"); msgpack_pack_double(pk, 0.5);
    pstr(pk, "f32"); msgpack_pack_float(pk, 0.25f);
    pstr(pk, "list"); msgpack_pack_array(pk, 0);
    pstr(pk, "dup"); msgpack_pack_int(pk, 1);
    pstr(pk, "dup"); msgpack_pack_int(pk, 2);
    return mp_obj(m);
}

static void arg_int(void **state)
{
    (void)state;
    mp_t m;
    const msgpack_object *a = pack_args(&m);
    char err[128];
    int64_t v = -99;

    assert_int_equal(rpc_arg_int(a, "id", 1, INT64_MAX, &v, err, sizeof err), 1);
    assert_int_equal(v, 123);

    /* Absent, and nil (same as absent): 0, *out untouched. */
    v = -99;
    assert_int_equal(rpc_arg_int(a, "absent", 1, 10, &v, err, sizeof err), 0);
    assert_int_equal(rpc_arg_int(a, "nil", 1, 10, &v, err, sizeof err), 0);
    assert_int_equal(rpc_arg_int(a, "i", 1, 10, &v, err, sizeof err), 0);   /* prefix of "id" */
    assert_int_equal(rpc_arg_int(NULL, "id", 1, 10, &v, err, sizeof err), 0);
    assert_int_equal(v, -99);

    /* Booleans are not integers; nor are strings, floats or arrays. */
    static const char *const not_ints[] = { "flag", "text", "f64", "list", "binkey" };
    for (size_t i = 0; i < sizeof not_ints / sizeof not_ints[0]; i++) {
        err[0] = '\0';
        assert_int_equal(rpc_arg_int(a, not_ints[i], INT64_MIN, INT64_MAX, &v, err, sizeof err), -1);
        assert_non_null(strstr(err, not_ints[i]));
    }
    assert_int_equal(v, -99);

    /* Out of range names the field. */
    err[0] = '\0';
    assert_int_equal(rpc_arg_int(a, "id", 1, 100, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "id"));
    err[0] = '\0';
    assert_int_equal(rpc_arg_int(a, "id", 124, 200, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "id"));
    err[0] = '\0';
    assert_int_equal(rpc_arg_int(a, "neg", 1, INT64_MAX, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "neg"));
    assert_int_equal(rpc_arg_int(a, "neg", -5, -5, &v, err, sizeof err), 1);
    assert_int_equal(v, -5);

    /* A uint64 above INT64_MAX is out of range even for the widest range. */
    err[0] = '\0';
    v = -99;
    assert_int_equal(rpc_arg_int(a, "huge", INT64_MIN, INT64_MAX, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "huge"));
    assert_int_equal(v, -99);

    /* The int64 extremes themselves are fine. */
    assert_int_equal(rpc_arg_int(a, "max", INT64_MIN, INT64_MAX, &v, err, sizeof err), 1);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(rpc_arg_int(a, "min", INT64_MIN, INT64_MAX, &v, err, sizeof err), 1);
    assert_int_equal(v, INT64_MIN);

    /* A repeated key: the last one wins. */
    assert_int_equal(rpc_arg_int(a, "dup", 0, 10, &v, err, sizeof err), 1);
    assert_int_equal(v, 2);
    mp_end(&m);
}

static void arg_bool(void **state)
{
    (void)state;
    mp_t m;
    const msgpack_object *a = pack_args(&m);
    char err[128];
    bool b = false;
    assert_int_equal(rpc_arg_bool(a, "flag", &b, err, sizeof err), 1);
    assert_true(b);
    assert_int_equal(rpc_arg_bool(a, "nil", &b, err, sizeof err), 0);
    assert_int_equal(rpc_arg_bool(a, "absent", &b, err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(rpc_arg_bool(a, "id", &b, err, sizeof err), -1);   /* 1 is not true */
    assert_non_null(strstr(err, "id"));
    mp_end(&m);
}

/* Strings: str or bin, bounded length, keys may be bin too. */
static void arg_str(void **state)
{
    (void)state;
    mp_t m;
    const msgpack_object *a = pack_args(&m);
    char err[128];
    const char *s = NULL;
    size_t len = 0;
    assert_int_equal(rpc_arg_str(a, "text", 100, &s, &len, err, sizeof err), 1);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "hello", 5);
    assert_int_equal(rpc_arg_str(a, "binkey", 100, &s, &len, err, sizeof err), 1);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "bytes", 5);
    /* Exactly max_len is fine, one over names the field. */
    assert_int_equal(rpc_arg_str(a, "text", 5, &s, &len, err, sizeof err), 1);
    err[0] = '\0';
    assert_int_equal(rpc_arg_str(a, "text", 4, &s, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "text"));
    err[0] = '\0';
    assert_int_equal(rpc_arg_str(a, "id", 100, &s, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "id"));
    assert_int_equal(rpc_arg_str(a, "nil", 100, &s, &len, err, sizeof err), 0);
    assert_int_equal(rpc_arg_str(a, "absent", 100, &s, &len, err, sizeof err), 0);
    mp_end(&m);
}

static void arg_number(void **state)
{
    (void)state;
    mp_t m;
    const msgpack_object *a = pack_args(&m);
    char err[128];
    double d = -1;
    assert_int_equal(rpc_arg_number(a, "id", &d, err, sizeof err), 1);
    assert_true(d == 123.0);
    assert_int_equal(rpc_arg_number(a, "neg", &d, err, sizeof err), 1);
    assert_true(d == -5.0);
    assert_int_equal(rpc_arg_number(a, "f64", &d, err, sizeof err), 1);
    assert_true(d == 0.5);
    assert_int_equal(rpc_arg_number(a, "f32", &d, err, sizeof err), 1);
    assert_true(d == 0.25);
    assert_int_equal(rpc_arg_number(a, "huge", &d, err, sizeof err), 1);
    assert_true(d == 9223372036854775808.0);
    d = -1;
    assert_int_equal(rpc_arg_number(a, "nil", &d, err, sizeof err), 0);
    assert_int_equal(rpc_arg_number(a, "absent", &d, err, sizeof err), 0);
    assert_true(d == -1);
    static const char *const not_numbers[] = { "flag", "text", "list" };
    for (size_t i = 0; i < 3; i++) {
        err[0] = '\0';
        assert_int_equal(rpc_arg_number(a, not_numbers[i], &d, err, sizeof err), -1);
        assert_non_null(strstr(err, not_numbers[i]));
    }
    mp_end(&m);
}

/* rpc_arg on something that is not a map finds nothing. */
/* Found by fuzz_rpc (tests/fuzz): msgpack-c 4.0 unpacks an empty str with a
 * NULL pointer (an empty bin keeps one). rpc_arg then passed NULL to
 * memcmp when asked for the key "" (UBSan: null pointer passed as argument
 * 1), and rpc_arg_str / the method name handed NULL to callers that copy
 * it (post.update with body ""). Empty names and values must come out as a
 * valid, empty string. */
static void empty_str_is_not_null(void **state)
{
    mp_t m;
    msgpack_packer *pk = mp_begin(&m);
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 0);
    msgpack_pack_int(pk, 7);
    pstr(pk, "");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 3);
    pstr(pk, "");
    msgpack_pack_int(pk, 5);
    pstr(pk, "body");
    pstr(pk, "");
    pstr(pk, "cursor");
    pbin(pk, "");
    const msgpack_object *o = mp_obj(&m);
    /* What msgpack-c does, which the fix works around. */
    assert_null(o->via.array.ptr[2].via.str.ptr);

    rpc_msg_t msg;
    rpc_msg_classify(o, &msg);
    assert_int_equal(msg.kind, RPC_MSG_REQUEST);
    assert_non_null(msg.method);
    assert_int_equal(msg.method_len, 0);

    const msgpack_object *v = rpc_arg(msg.args, "");
    assert_non_null(v);
    assert_int_equal(v->via.u64, 5);

    char err[128];
    const char *body = NULL, *cursor = NULL;
    size_t len = 99;
    assert_int_equal(rpc_arg_str(msg.args, "body", 100, &body, &len, err, sizeof err), 1);
    assert_non_null(body);
    assert_int_equal(len, 0);
    len = 99;
    assert_int_equal(rpc_arg_str(msg.args, "cursor", 100, &cursor, &len, err, sizeof err), 1);
    assert_non_null(cursor);
    assert_int_equal(len, 0);
    mp_end(&m);
}

static void arg_on_non_map(void **state)
{
    (void)state;
    mp_t m;
    msgpack_packer *pk = mp_begin(&m);
    msgpack_pack_array(pk, 2);
    pstr(pk, "id");
    msgpack_pack_int(pk, 1);
    assert_null(rpc_arg(mp_obj(&m), "id"));
    mp_end(&m);
}

/* ---- packing responses ------------------------------------------------ */

/* The value of key k in map o, or NULL. */
static const msgpack_object *map_get(const msgpack_object *o, const char *k)
{
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *key = &o->via.map.ptr[i].key;
        assert_int_equal(key->type, MSGPACK_OBJECT_STR);
        if (key->via.str.size == strlen(k) && memcmp(key->via.str.ptr, k, key->via.str.size) == 0)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

static void assert_str(const msgpack_object *o, const char *s)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, strlen(s));
    assert_memory_equal(o->via.str.ptr, s, strlen(s));
}

/* Unpacks a response: checks [1, msgid, error, result] and returns it. */
static const msgpack_object *response(mp_t *m, int64_t msgid)
{
    const msgpack_object *o = mp_obj(m);
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, 4);
    const msgpack_object *a = o->via.array.ptr;
    assert_int_equal(a[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(a[0].via.u64, 1);
    if (msgid >= 0) {
        assert_int_equal(a[1].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
        assert_int_equal(a[1].via.u64, (uint64_t)msgid);
    } else {
        assert_int_equal(a[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
        assert_int_equal(a[1].via.i64, msgid);
    }
    return o;
}

static void pack_error_roundtrip(void **state)
{
    (void)state;
    /* With retry_after_ms. */
    mp_t m;
    msgpack_packer *pk = mp_begin(&m);
    rpc_pack_error(pk, 4294967295LL, RPC_OVERLOADED, "load shed", 250);
    const msgpack_object *o = response(&m, 4294967295LL);
    const msgpack_object *err = &o->via.array.ptr[2];
    assert_int_equal(err->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(err->via.map.size, 3);
    assert_str(map_get(err, "code"), "OVERLOADED");
    assert_str(map_get(err, "message"), "load shed");
    const msgpack_object *retry = map_get(err, "retry_after_ms");
    assert_non_null(retry);
    assert_int_equal(retry->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(retry->via.u64, 250);
    assert_int_equal(o->via.array.ptr[3].type, MSGPACK_OBJECT_NIL);
    mp_end(&m);

    /* Without (retry_after_ms < 0), msgid 0, every code. */
    for (int c = RPC_BAD_REQUEST; c < RPC_CODE__COUNT; c++) {
        pk = mp_begin(&m);
        rpc_pack_error(pk, 0, (rpc_code_t)c, "why", -1);
        o = response(&m, 0);
        err = &o->via.array.ptr[2];
        assert_int_equal(err->via.map.size, 2);
        assert_str(map_get(err, "code"), rpc_code_name((rpc_code_t)c));
        assert_str(map_get(err, "message"), "why");
        assert_null(map_get(err, "retry_after_ms"));
        assert_int_equal(o->via.array.ptr[3].type, MSGPACK_OBJECT_NIL);
        mp_end(&m);
    }

    /* retry_after_ms 0 is present; an out-of-range msgid is echoed. */
    pk = mp_begin(&m);
    rpc_pack_error(pk, -1, RPC_BAD_REQUEST, "msgid: must be an unsigned 32-bit integer", 0);
    o = response(&m, -1);
    err = &o->via.array.ptr[2];
    assert_str(map_get(err, "code"), "BAD_REQUEST");
    assert_non_null(map_get(err, "retry_after_ms"));
    assert_int_equal(map_get(err, "retry_after_ms")->via.u64, 0);
    mp_end(&m);

    pk = mp_begin(&m);
    rpc_pack_error(pk, 4294967296LL, RPC_BAD_REQUEST, "msgid: too big", -1);
    o = response(&m, 4294967296LL);
    assert_str(map_get(&o->via.array.ptr[2], "code"), "BAD_REQUEST");
    mp_end(&m);
}

static void pack_result_header_roundtrip(void **state)
{
    (void)state;
    mp_t m;
    msgpack_packer *pk = mp_begin(&m);
    rpc_pack_result_header(pk, 42);
    rpc_pack_cstr(pk, "pong");
    const msgpack_object *o = response(&m, 42);
    assert_int_equal(o->via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
    assert_str(&o->via.array.ptr[3], "pong");
    mp_end(&m);

    pk = mp_begin(&m);
    rpc_pack_result_header(pk, 4294967295LL);
    msgpack_pack_map(pk, 1);
    rpc_pack_cstr(pk, "ok");
    msgpack_pack_true(pk);
    o = response(&m, 4294967295LL);
    assert_int_equal(o->via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
    const msgpack_object *ok = map_get(&o->via.array.ptr[3], "ok");
    assert_non_null(ok);
    assert_int_equal(ok->type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(ok->via.boolean);
    mp_end(&m);

    /* An empty C string packs as an empty str. */
    pk = mp_begin(&m);
    rpc_pack_cstr(pk, "");
    assert_str(mp_obj(&m), "");
    mp_end(&m);
}

static void code_names(void **state)
{
    (void)state;
    assert_string_equal(rpc_code_name(RPC_OK), "OK");
    assert_string_equal(rpc_code_name(RPC_BAD_REQUEST), "BAD_REQUEST");
    assert_string_equal(rpc_code_name(RPC_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(rpc_code_name(RPC_OVERLOADED), "OVERLOADED");
    assert_string_equal(rpc_code_name(RPC_UNAVAILABLE), "UNAVAILABLE");
    assert_string_equal(rpc_code_name(RPC_INTERNAL), "INTERNAL");
    assert_string_equal(rpc_code_name(RPC_UNAUTHORIZED), "UNAUTHORIZED");
    assert_string_equal(rpc_code_name(RPC_FORBIDDEN), "FORBIDDEN");
    /* Out of range never gives NULL. */
    assert_string_equal(rpc_code_name(RPC_CODE__COUNT), "INTERNAL");
    assert_string_equal(rpc_code_name((rpc_code_t)1000), "INTERNAL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_with_str_method),
        cmocka_unit_test(request_with_bin_method),
        cmocka_unit_test(request_params_forms),
        cmocka_unit_test(request_msgid_bounds),
        cmocka_unit_test(request_bad_params),
        cmocka_unit_test(request_method_not_a_string),
        cmocka_unit_test(request_wrong_length),
        cmocka_unit_test(request_msgid_out_of_range),
        cmocka_unit_test(invalid_messages),
        cmocka_unit_test(notifications_valid),
        cmocka_unit_test(notifications_with_other_params),
        cmocka_unit_test(notifications_invalid),
        cmocka_unit_test(arg_int),
        cmocka_unit_test(arg_bool),
        cmocka_unit_test(arg_str),
        cmocka_unit_test(arg_number),
        cmocka_unit_test(empty_str_is_not_null),
        cmocka_unit_test(arg_on_non_map),
        cmocka_unit_test(pack_error_roundtrip),
        cmocka_unit_test(pack_result_header_roundtrip),
        cmocka_unit_test(code_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

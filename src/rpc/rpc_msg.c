#include "rpc/rpc_msg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[RPC_CODE__COUNT] = {
    [RPC_OK] = "OK",
    [RPC_BAD_REQUEST] = "BAD_REQUEST",
    [RPC_NOT_FOUND] = "NOT_FOUND",
    [RPC_OVERLOADED] = "OVERLOADED",
    [RPC_UNAVAILABLE] = "UNAVAILABLE",
    [RPC_INTERNAL] = "INTERNAL",
    [RPC_UNAUTHORIZED] = "UNAUTHORIZED",
    [RPC_FORBIDDEN] = "FORBIDDEN",
};

const char *rpc_code_name(rpc_code_t code)
{
    return code < RPC_CODE__COUNT ? code_names[code] : "INTERNAL";
}

static int is_int(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static int64_t as_int64(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return o->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)o->via.u64;
    return o->via.i64;
}

/* A str or bin as pointer and length. msgpack-c 4.0 unpacks an empty str
 * with a NULL pointer: give callers "" instead, so that they may pass the
 * pointer to memcmp/memcpy (found by tests/fuzz/fuzz_rpc). */
static int get_name(const msgpack_object *o, const char **name, size_t *len)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        *name = o->via.str.ptr;
        *len = o->via.str.size;
    } else if (o->type == MSGPACK_OBJECT_BIN) {
        *name = o->via.bin.ptr;
        *len = o->via.bin.size;
    } else {
        return -1;
    }
    if (!*name)
        *name = "";
    return 0;
}

/* params must be [] or [map] ([nil] counts as []). */
static int get_args(const msgpack_object *params, const msgpack_object **args, char *why,
                    size_t whylen)
{
    *args = NULL;
    if (params->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, whylen, "params: must be an array");
        return -1;
    }
    if (params->via.array.size == 0)
        return 0;
    const msgpack_object *first = &params->via.array.ptr[0];
    if (params->via.array.size > 1 ||
        (first->type != MSGPACK_OBJECT_MAP && first->type != MSGPACK_OBJECT_NIL)) {
        snprintf(why, whylen, "params: must be [] or [ {named arguments} ]");
        return -1;
    }
    if (first->type == MSGPACK_OBJECT_MAP)
        *args = first;
    return 0;
}

void rpc_msg_classify(const msgpack_object *obj, rpc_msg_t *m)
{
    memset(m, 0, sizeof *m);
    m->kind = RPC_MSG_INVALID;
    if (obj->type != MSGPACK_OBJECT_ARRAY || obj->via.array.size == 0) {
        snprintf(m->why, sizeof m->why, "not a msgpack-RPC message (expected an array)");
        return;
    }
    const msgpack_object *a = obj->via.array.ptr;
    uint32_t n = obj->via.array.size;
    if (!is_int(&a[0])) {
        snprintf(m->why, sizeof m->why, "message type is not an integer");
        return;
    }
    int64_t type = as_int64(&a[0]);
    if (type == 0) {
        if (n < 2 || !is_int(&a[1])) {
            snprintf(m->why, sizeof m->why, "request without an integer msgid");
            return;
        }
        m->msgid = as_int64(&a[1]);
        m->kind = RPC_MSG_BAD_REQUEST;
        if (a[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER || a[1].via.u64 > UINT32_MAX) {
            snprintf(m->why, sizeof m->why, "msgid: must be an unsigned 32-bit integer");
            return;
        }
        if (n != 4) {
            snprintf(m->why, sizeof m->why, "request: must be [0, msgid, method, params]");
            return;
        }
        if (get_name(&a[2], &m->method, &m->method_len) != 0) {
            snprintf(m->why, sizeof m->why, "method: must be a string");
            return;
        }
        if (get_args(&a[3], &m->args, m->why, sizeof m->why) != 0)
            return;
        m->kind = RPC_MSG_REQUEST;
        return;
    }
    if (type == 2) {
        if (n != 3 || get_name(&a[1], &m->method, &m->method_len) != 0) {
            snprintf(m->why, sizeof m->why, "notification: must be [2, method, params]");
            return;
        }
        /* Well-formed msgpack-RPC whatever its params (clients announce
         * themselves with positional ones): never a reason to close. */
        m->notification = true;
        m->kind = get_args(&a[2], &m->args, m->why, sizeof m->why) == 0 ? RPC_MSG_NOTIFICATION
                                                                        : RPC_MSG_BAD_REQUEST;
        return;
    }
    snprintf(m->why, sizeof m->why, "message type %lld is not a request or notification",
             (long long)type);
}

const msgpack_object *rpc_arg(const msgpack_object *args, const char *key)
{
    if (!args || args->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    /* The last occurrence wins, as in most msgpack decoders. */
    const msgpack_object *found = NULL;
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        const msgpack_object_kv *kv = &args->via.map.ptr[i];
        const char *name;
        size_t len;
        if (get_name(&kv->key, &name, &len) == 0 && len == klen && memcmp(name, key, klen) == 0)
            found = &kv->val;
    }
    if (found && found->type == MSGPACK_OBJECT_NIL)
        return NULL;
    return found;
}

int rpc_arg_int(const msgpack_object *args, const char *key, int64_t min, int64_t max,
                int64_t *out, char *err, size_t errlen)
{
    const msgpack_object *v = rpc_arg(args, key);
    if (!v)
        return 0;
    if (!is_int(v)) {
        snprintf(err, errlen, "%s: must be an integer", key);
        return -1;
    }
    int over = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > INT64_MAX;
    int64_t x = as_int64(v);
    if (over || x < min || x > max) {
        snprintf(err, errlen, "%s: must be in %lld..%lld", key, (long long)min, (long long)max);
        return -1;
    }
    *out = x;
    return 1;
}

int rpc_arg_bool(const msgpack_object *args, const char *key, bool *out, char *err, size_t errlen)
{
    const msgpack_object *v = rpc_arg(args, key);
    if (!v)
        return 0;
    if (v->type != MSGPACK_OBJECT_BOOLEAN) {
        snprintf(err, errlen, "%s: must be a boolean", key);
        return -1;
    }
    *out = v->via.boolean;
    return 1;
}

int rpc_arg_str(const msgpack_object *args, const char *key, size_t max_len, const char **out,
                size_t *len, char *err, size_t errlen)
{
    const msgpack_object *v = rpc_arg(args, key);
    if (!v)
        return 0;
    if (get_name(v, out, len) != 0) {
        snprintf(err, errlen, "%s: must be a string", key);
        return -1;
    }
    if (*len > max_len) {
        snprintf(err, errlen, "%s: longer than %zu bytes", key, max_len);
        return -1;
    }
    return 1;
}

int rpc_arg_number(const msgpack_object *args, const char *key, double *out, char *err,
                   size_t errlen)
{
    const msgpack_object *v = rpc_arg(args, key);
    if (!v)
        return 0;
    if (is_int(v))
        *out = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)v->via.u64 : (double)v->via.i64;
    else if ((v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64) &&
             isfinite(v->via.f64))
        *out = v->via.f64;
    else {
        snprintf(err, errlen, "%s: must be a finite number", key);
        return -1;
    }
    return 1;
}

void rpc_pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_msgid(msgpack_packer *pk, int64_t msgid)
{
    if (msgid >= 0)
        msgpack_pack_uint64(pk, (uint64_t)msgid);
    else
        msgpack_pack_int64(pk, msgid);
}

void rpc_pack_result_header(msgpack_packer *pk, int64_t msgid)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 1);
    pack_msgid(pk, msgid);
    msgpack_pack_nil(pk);
}

void rpc_pack_error(msgpack_packer *pk, int64_t msgid, rpc_code_t code, const char *message,
                    int64_t retry_after_ms)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 1);
    pack_msgid(pk, msgid);
    msgpack_pack_map(pk, retry_after_ms >= 0 ? 3 : 2);
    rpc_pack_cstr(pk, "code");
    rpc_pack_cstr(pk, rpc_code_name(code));
    rpc_pack_cstr(pk, "message");
    rpc_pack_cstr(pk, message);
    if (retry_after_ms >= 0) {
        rpc_pack_cstr(pk, "retry_after_ms");
        msgpack_pack_int64(pk, retry_after_ms);
    }
    msgpack_pack_nil(pk);
}

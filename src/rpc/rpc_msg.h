/* msgpack-RPC envelopes (docs/PROTOCOL.md, "Transport and framing" and
 * "Errors"): classifying an incoming message, reading named arguments, and
 * packing responses. Pure logic, no I/O.
 *
 *   request       [0, msgid, method, params]
 *   response      [1, msgid, error, result]
 *   notification  [2, method, params]
 * params is [] or [ {named arguments} ]. Method names may be str or bin.
 * A notification is [2, method, params] whatever its params: one with other
 * params (e.g. positional, [name, version]) is classified RPC_MSG_BAD_REQUEST
 * with notification set, so that an unknown method is ignored and a known
 * one is refused without an answer, never by closing the connection. */
#ifndef FC_RPC_RPC_MSG_H
#define FC_RPC_RPC_MSG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    RPC_OK = 0,
    RPC_BAD_REQUEST,
    RPC_NOT_FOUND,
    RPC_OVERLOADED,
    RPC_UNAVAILABLE,
    RPC_INTERNAL,
    RPC_UNAUTHORIZED,       /* authentication required or failed */
    RPC_FORBIDDEN,          /* the connection's role may not call the method */
    RPC_CODE__COUNT
} rpc_code_t;

const char *rpc_code_name(rpc_code_t code);

typedef enum {
    RPC_MSG_REQUEST,        /* msgid, method, args valid */
    RPC_MSG_NOTIFICATION,   /* method, args valid */
    RPC_MSG_BAD_REQUEST,    /* a type-0 array with an integer msgid, but not a valid
                               request: answer BAD_REQUEST (why) for msgid; or a
                               notification whose params are not [] or [map] */
    RPC_MSG_INVALID,        /* not a request at all: close the connection (why) */
} rpc_msg_kind_t;

typedef struct {
    rpc_msg_kind_t kind;
    bool notification;      /* [2, method, params]: never answered */
    int64_t msgid;          /* as received (echoed back even when out of range) */
    const char *method;     /* not NUL-terminated */
    size_t method_len;
    const msgpack_object *args;   /* the map of named arguments, or NULL for [] */
    char why[128];
} rpc_msg_t;

void rpc_msg_classify(const msgpack_object *obj, rpc_msg_t *out);

/* Named arguments. Each getter returns 1 when the key is present (and not
 * nil) with the right type and range, 0 when absent or nil, and -1 with a
 * message naming the field in err when present but wrong. */
const msgpack_object *rpc_arg(const msgpack_object *args, const char *key);
int rpc_arg_int(const msgpack_object *args, const char *key, int64_t min, int64_t max,
                int64_t *out, char *err, size_t errlen);
int rpc_arg_bool(const msgpack_object *args, const char *key, bool *out, char *err, size_t errlen);
/* Strings accept msgpack str or bin; *out points into the message (to ""
 * when the string is empty: never NULL). */
int rpc_arg_str(const msgpack_object *args, const char *key, size_t max_len, const char **out,
                size_t *len, char *err, size_t errlen);
int rpc_arg_number(const msgpack_object *args, const char *key, double *out, char *err,
                   size_t errlen);

/* Packs [1, msgid, nil, ...]: the caller packs the result next. */
void rpc_pack_result_header(msgpack_packer *pk, int64_t msgid);
/* Packs a whole error response; retry_after_ms < 0 leaves the key out. */
void rpc_pack_error(msgpack_packer *pk, int64_t msgid, rpc_code_t code, const char *message,
                    int64_t retry_after_ms);

/* msgpack_pack_str + body in one call. */
void rpc_pack_cstr(msgpack_packer *pk, const char *s);

#endif

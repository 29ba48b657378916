/* feedcache client: blocking msgpack-RPC over TCP or a unix socket.
 *
 * Used by feedcachectl, feedbench and the integration tests. One fc_client_t
 * is one connection; it is not thread-safe (use one per thread).
 *
 * Wire format (docs/PROTOCOL.md, "Transport and framing"): requests
 * `[0, msgid, method, params]`, notifications `[2, method, params]`,
 * responses `[1, msgid, error, result]`. `params` is `[{named args}]`, or
 * `[]` when no argument was added.
 *
 * Pipelining: fc_client_send() any number of requests, then fc_client_recv()
 * their responses in whatever order the server finishes them, matching on
 * msgid. fc_client_call() is send + wait for that msgid; responses to other
 * requests that arrive meanwhile are kept and returned by later recv calls.
 *
 * Every operation waits at most the client's timeout (fc_client_set_timeout;
 * initially the connect timeout). Functions returning int give FC_OK (0) or
 * one of the negative FC_E* codes below, with a readable reason in
 * fc_client_error(). After FC_EIO, FC_ECLOSED or FC_EPROTO the connection is
 * unusable: close it. FC_ETIMEDOUT leaves it usable (a late response will
 * still be delivered by the next recv).
 *
 * Out of memory aborts, as everywhere in feedcache. */
#ifndef FEEDCACHE_CLIENT_H
#define FEEDCACHE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

enum {
    FC_OK        =  0,
    FC_EIO       = -1,  /* socket error */
    FC_ETIMEDOUT = -2,  /* nothing within the timeout */
    FC_ECLOSED   = -3,  /* the server closed the connection (EOF, reset, EPIPE) */
    FC_EPROTO    = -4,  /* the server sent something that is not a response */
    FC_EARG      = -5,  /* bad argument (e.g. empty method name) */
    FC_EAUTH     = -6,  /* fc_client_auth*: the server refused the token, or
                           the token file is unreadable or empty */
};

/* Largest response accepted; anything bigger is FC_EPROTO. */
#define FC_CLIENT_MAX_RESPONSE ((size_t)64 << 20)

typedef struct fc_client fc_client_t;

/* The library's version, e.g. "0.1.0" (the feedcache release it is part
 * of; the soname's number changes only when the ABI breaks). */
const char *fc_client_version(void);

/* --- params: the one map of named arguments ------------------------------
 * fc_params_t p; fc_params_init(&p);
 * fc_params_int(&p, "user_id", 42); fc_params_bool(&p, "hydrate", false);
 * fc_client_call(c, "timeline.get", &p, &resp); fc_params_free(&p);
 * Keys are not checked for duplicates. A NULL params means `[]`. */
typedef struct {
    msgpack_sbuffer buf;   /* packed key/value pairs, in order added */
    msgpack_packer pk;
    uint32_t n;            /* pairs in buf */
} fc_params_t;

void fc_params_init(fc_params_t *p);
void fc_params_free(fc_params_t *p);
void fc_params_reset(fc_params_t *p);     /* drop every pair, keep the memory */
void fc_params_int(fc_params_t *p, const char *key, int64_t v);
void fc_params_str(fc_params_t *p, const char *key, const char *v);
void fc_params_bool(fc_params_t *p, const char *key, bool v);
void fc_params_nil(fc_params_t *p, const char *key);
void fc_params_double(fc_params_t *p, const char *key, double v);
void fc_params_int_array(fc_params_t *p, const char *key, const int64_t *v, size_t n);
/* Packs key and returns the packer: the caller packs exactly one value. */
msgpack_packer *fc_params_value(fc_params_t *p, const char *key);

/* --- responses ------------------------------------------------------------ */
typedef struct {
    uint32_t msgid;
    bool ok;                   /* error was nil */
    char code[32];             /* error code ("NOT_FOUND"...), "" when ok or absent */
    char message[256];         /* error message (truncated), "" when ok */
    int64_t retry_after_ms;    /* from the error map; -1 when absent */
    msgpack_object error;      /* the raw error (nil when ok) */
    msgpack_object result;     /* the raw result (nil on error) */
    msgpack_zone *zone;        /* private: owns error/result memory */
} fc_response_t;

/* Frees what result and error point into. Safe on a zeroed response and
 * twice in a row. */
void fc_response_free(fc_response_t *r);

/* --- connection ----------------------------------------------------------- */

/* addr is `HOST:PORT` (numeric address or a name such as localhost),
 * `[IPV6]:PORT` or `unix:/path`. Returns NULL with a reason in err. */
fc_client_t *fc_client_connect(const char *addr, int timeout_ms, char *err, size_t errlen);
void fc_client_close(fc_client_t *c);

/* Per-operation timeout in ms; < 0 waits forever. */
void fc_client_set_timeout(fc_client_t *c, int timeout_ms);
const char *fc_client_error(const fc_client_t *c);
/* The address as given to connect. */
const char *fc_client_addr(const fc_client_t *c);
/* The connection's socket, for a caller that waits on many connections
 * with its own poll() or event loop (and never reads or writes it itself).
 * Responses may already be buffered when it does not poll readable: after
 * a wake-up, take them with fc_client_recv at timeout 0 until FC_ETIMEDOUT,
 * and poll only then. -1 once the connection has failed. */
int fc_client_fd(const fc_client_t *c);

/* Sends a request; *msgid (if not NULL) receives its id. Ids count up from 1.
 * On FC_ETIMEDOUT the request stays queued and goes out with the next flush,
 * send or recv (frames are never cut short). */
int fc_client_send(fc_client_t *c, const char *method, const fc_params_t *params,
                   uint32_t *msgid);
int fc_client_notify(fc_client_t *c, const char *method, const fc_params_t *params);
/* The next response for any msgid. On FC_OK the caller frees resp. */
int fc_client_recv(fc_client_t *c, fc_response_t *resp);
/* send + recv of that msgid. FC_OK means a response arrived: check resp->ok. */
int fc_client_call(fc_client_t *c, const char *method, const fc_params_t *params,
                   fc_response_t *resp);
/* Writes bytes as they are (tests: hand-made and hostile frames). */
int fc_client_send_raw(fc_client_t *c, const void *bytes, size_t len);

/* --- authentication (docs/PROTOCOL.md, "Authentication") ---------------
 * When feedcached has auth_tokens_file set, call one of these right after
 * connecting: only ping and auth answer before. Both return FC_OK (the
 * connection now has the token's role), FC_EAUTH (refused: the reason is in
 * fc_client_error(), which never contains the token; three refusals close
 * the connection) or a transport error. role (may be NULL) receives "read",
 * "write" or "admin". */
int fc_client_auth(fc_client_t *c, const char *token, char *role, size_t rolelen);
/* Reads the token from a file (fc_token_read) and authenticates with it. */
int fc_client_auth_file(fc_client_t *c, const char *path, char *role, size_t rolelen);

/* Reads a client token file: its first line that is not blank and does not
 * start with '#' holds the token, alone or as `ROLE TOKEN` (a line copied
 * from the server's auth_tokens_file). White space around it is dropped.
 * Returns 0 with the token in out (NUL-terminated), or -1 with a reason
 * (that does not quote the file) in err. */
int fc_token_read(const char *path, char *out, size_t cap, char *err, size_t errlen);

/* Corking: while on, send/notify/send_raw only queue bytes; they are written
 * by fc_client_flush(), before any recv or call, or with the next send after
 * cork is turned off. Lets a pipelining caller put many requests in one
 * write. */
void fc_client_set_cork(fc_client_t *c, bool on);
int fc_client_flush(fc_client_t *c);

/* --- reading results -------------------------------------------------------
 * All accept NULL (so lookups chain) and return -1 / NULL / false on a
 * missing value or a wrong type. Map keys may be str or bin. */
const msgpack_object *fc_obj_get(const msgpack_object *map, const char *key);
int fc_obj_int(const msgpack_object *o, int64_t *out);     /* msgpack integers only */
int fc_obj_bool(const msgpack_object *o, bool *out);
int fc_obj_double(const msgpack_object *o, double *out);   /* float or integer */
int fc_obj_str(const msgpack_object *o, const char **s, size_t *len); /* str only, not NUL-terminated */
bool fc_obj_str_eq(const msgpack_object *o, const char *s);
char *fc_obj_strdup(const msgpack_object *o);               /* malloc'd copy, NULL if not str */

#endif

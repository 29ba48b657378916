#include "rpc/rpc_auth.h"

#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "rpc/rpc_auth_tokens.h"
#include "rpc/rpc_reply.h"
#include "util/buf.h"
#include "util/log.h"

#define RPC_AUTH_METRICS(ACTION) \
    ACTION(rpc_auth_failures_total, METRIC_COUNTER, \
           "failed auth calls (unknown token, or no token)")

typedef struct { RPC_AUTH_METRICS(METRIC_FIELD) } rpc_auth_metrics_t;

struct rpc_auth {
    char *path;              /* NULL: authentication off */
    rpc_tokens_t tokens;
    rpc_auth_metrics_t m;
};

static void log_counts(const rpc_auth_t *a, const char *what)
{
    size_t n[RPC_ROLE_ADMIN + 1] = { 0 };
    for (size_t i = 0; i < a->tokens.n; i++)
        n[a->tokens.v[i].role]++;
    log_info("auth", "%s %s: %zu tokens (read %zu, write %zu, admin %zu)", what, a->path,
             a->tokens.n, n[RPC_ROLE_READ], n[RPC_ROLE_WRITE], n[RPC_ROLE_ADMIN]);
}

rpc_auth_t *rpc_auth_create(const char *path, char *err, size_t errlen)
{
    rpc_auth_t *a = fc_xcalloc(1, sizeof *a);
    if (path && *path) {
        if (rpc_tokens_load(path, &a->tokens, err, errlen) != 0) {
            free(a);
            return NULL;
        }
        a->path = fc_xstrdup(path);
        log_counts(a, "loaded");
    }
#define METRICS_TARGET (&a->m)
    RPC_AUTH_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET
    return a;
}

void rpc_auth_free(rpc_auth_t *a)
{
    if (!a)
        return;
    rpc_tokens_free(&a->tokens);
    free(a->path);
    free(a);
}

bool rpc_auth_enabled(const rpc_auth_t *a)
{
    return a && a->path;
}

int rpc_auth_reload(rpc_auth_t *a)
{
    if (!rpc_auth_enabled(a)) {
        log_info("auth", "no auth_tokens_file set: nothing to reload");
        return 0;
    }
    return rpc_auth_reload_path(a, a->path);
}

int rpc_auth_reload_path(rpc_auth_t *a, const char *path)
{
    if (!rpc_auth_enabled(a) || !path || !*path) {
        log_error("auth", "authentication cannot be turned on or off without a restart");
        return -1;
    }
    rpc_tokens_t fresh;
    char err[512];
    if (rpc_tokens_load(path, &fresh, err, sizeof err) != 0) {
        log_error("auth", "reload of auth_tokens_file failed, keeping the %zu tokens in use: %s",
                  a->tokens.n, err);
        return -1;
    }
    rpc_tokens_free(&a->tokens);
    a->tokens = fresh;
    if (strcmp(path, a->path) != 0) {
        free(a->path);
        a->path = fc_xstrdup(path);
    }
    log_counts(a, "reloaded");
    return 0;
}

rpc_code_t rpc_auth_gate(void *ctx, int role, const char *method, size_t len, bool known,
                         char *why, size_t whylen)
{
    const rpc_auth_t *a = ctx;
    if (!rpc_auth_enabled(a))
        return RPC_OK;
    return rpc_role_gate((rpc_role_t)role, method, len, known, why, whylen);
}

static void auth_failed(rpc_auth_t *a, rpc_call_t *call, rpc_code_t code, const char *why)
{
    metric_inc(a->m.rpc_auth_failures_total);
    unsigned n = rpc_call_auth_failed(call);
    log_info("auth", "conn %u: auth failed (%u of %d): %s", rpc_call_conn_id(call), n,
             RPC_AUTH_MAX_FAILURES, why);
    if (n >= RPC_AUTH_MAX_FAILURES) {
        log_warn("auth", "conn %u: closing after %u failed auth calls", rpc_call_conn_id(call), n);
        rpc_call_close_conn(call);
    }
    rpc_reply_error(call, code, -1, "%s", why);
}

void rpc_auth_method(rpc_call_t *call, const msgpack_object *args, void *ctx)
{
    rpc_auth_t *a = rpc_call_gate_ctx(call);
    const char *token;
    size_t len;
    char err[128];
    int got = rpc_arg_str(args, "token", RPC_TOKEN_MAX, &token, &len, err, sizeof err);
    if (got <= 0) {
        /* Never echo a token: rpc_arg_str's messages name the field only. */
        auth_failed(a, call, RPC_BAD_REQUEST, got == 0 ? "token: required" : err);
        return;
    }
    rpc_role_t role = RPC_ROLE_ADMIN;
    if (rpc_auth_enabled(a)) {
        role = rpc_tokens_find(&a->tokens, token, len);
        if (role == RPC_ROLE_NONE) {
            auth_failed(a, call, RPC_UNAUTHORIZED, "unknown token");
            return;
        }
    }
    rpc_call_set_role(call, (int)role);
    msgpack_packer *pk = rpc_reply_begin(call);
    msgpack_pack_map(pk, 1);
    rpc_pack_cstr(pk, "role");
    rpc_pack_cstr(pk, rpc_role_name(role));
    rpc_reply_end(call);
}

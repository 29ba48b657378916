/* Authentication of RPC connections (docs/PROTOCOL.md, "Authentication"):
 * the tokens of `auth_tokens_file`, the `auth` method, and the gate the
 * server asks before dispatching a call (rpc_server_options_t.gate).
 *
 * With no file, authentication is off: every method is open and `auth`
 * accepts any token as admin. With a file, a connection starts with no
 * role: only ping and auth answer, everything else is UNAUTHORIZED
 * (notifications are dropped); `auth {token}` gives it the token's role,
 * which then gates methods (FORBIDDEN). A failed auth leaves the role as it
 * was; the third failed auth on a connection closes it after its answer.
 * Failures count in feedcache_rpc_auth_failures_total. rpc_auth_reload
 * (SIGHUP) swaps in the file's new tokens, or keeps the old ones when the
 * file is bad; connections already authenticated keep their role. Tokens
 * never reach a log or an error message. */
#ifndef FC_RPC_RPC_AUTH_H
#define FC_RPC_RPC_AUTH_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "rpc/rpc_server.h"

/* Failed auth calls on one connection after which it is closed. */
#define RPC_AUTH_MAX_FAILURES 3

typedef struct rpc_auth rpc_auth_t;

/* path NULL or "": authentication off. Registers the metric. Returns NULL
 * with `PATH:N: reason` in err when the file is bad. */
rpc_auth_t *rpc_auth_create(const char *path, char *err, size_t errlen);
void rpc_auth_free(rpc_auth_t *a);

bool rpc_auth_enabled(const rpc_auth_t *a);

/* Re-reads the file. Returns 0 (new tokens in use, logged with their count
 * per role) or -1 (old tokens kept; the reason is logged). */
int rpc_auth_reload(rpc_auth_t *a);

/* As rpc_auth_reload, from another file (auth_tokens_file changed in the
 * config file): on success it becomes the file; on failure the old file
 * and its tokens stay. Authentication must be on already (path non-empty):
 * turning it on or off is left to a restart, since connections open now
 * were accepted under the other rule. */
int rpc_auth_reload_path(rpc_auth_t *a, const char *path);

/* rpc_gate_fn for rpc_server_options_t.gate, with the rpc_auth_t as ctx. */
rpc_code_t rpc_auth_gate(void *ctx, int role, const char *method, size_t len, bool known,
                         char *why, size_t whylen);

/* The `auth` method: params {token}; result {"role": "read"|"write"|"admin"}.
 * Takes the rpc_auth_t from rpc_call_gate_ctx(call); ctx is unused. */
void rpc_auth_method(rpc_call_t *call, const msgpack_object *args, void *ctx);

#endif

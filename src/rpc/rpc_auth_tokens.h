/* Authentication data, pure logic (docs/PROTOCOL.md, "Authentication"):
 * roles, which role each method needs, the `auth_tokens_file` format, and
 * the token lookup. No I/O except rpc_tokens_load reading the file.
 *
 * The file holds one `ROLE TOKEN` per line: ROLE is read, write or admin;
 * TOKEN is 1..RPC_TOKEN_MAX printable non-blank ASCII bytes. Blank lines and
 * lines starting with `#` are ignored; white space around the fields is
 * too. A token may appear once. A file without tokens is refused (it would
 * lock every caller out). Error messages name the line, never its text:
 * tokens must not reach a log.
 *
 * Roles are ordered: admin may call all that write may, write all that read
 * may. Methods not listed in rpc_role_for_method need admin, so a new
 * method is closed until someone opens it. */
#ifndef FC_RPC_RPC_AUTH_TOKENS_H
#define FC_RPC_RPC_AUTH_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "rpc/rpc_msg.h"

#define RPC_TOKEN_MAX 256

typedef enum {
    RPC_ROLE_NONE = 0,      /* not authenticated */
    RPC_ROLE_READ,
    RPC_ROLE_WRITE,
    RPC_ROLE_ADMIN,
} rpc_role_t;

/* "none", "read", "write", "admin". */
const char *rpc_role_name(rpc_role_t role);

/* The least role that may call method: RPC_ROLE_NONE for ping and auth
 * (callable before auth), read for timeline.get, stats, warm.status, write
 * for post.*, follow, unfollow, timeline.invalidate, admin for the rest. */
rpc_role_t rpc_role_for_method(const char *method, size_t len);

/* Whether a connection with role `have` may call method: RPC_OK,
 * RPC_UNAUTHORIZED (not authenticated, and the method needs a role) or
 * RPC_FORBIDDEN (known method beyond the role). An unknown method is
 * RPC_OK once authenticated, so that the caller answers NOT_FOUND. why
 * gets a one-line message for the error. */
rpc_code_t rpc_role_gate(rpc_role_t have, const char *method, size_t len, bool known,
                         char *why, size_t whylen);

typedef struct {
    rpc_role_t role;
    size_t len;
    unsigned char token[RPC_TOKEN_MAX];   /* zero-padded */
} rpc_token_t;

typedef struct {
    rpc_token_t *v;
    size_t n;
} rpc_tokens_t;

/* Parses the text of a tokens file into *out (which it initialises).
 * Returns 0, or -1 with `line N: reason` (or `no tokens`) in err and *out
 * empty. */
int rpc_tokens_parse(const char *text, size_t len, rpc_tokens_t *out, char *err, size_t errlen);

/* Reads and parses path. On -1, err is `PATH: reason` or `PATH:N: reason`. */
int rpc_tokens_load(const char *path, rpc_tokens_t *out, char *err, size_t errlen);

/* The role of token, or RPC_ROLE_NONE when no entry matches. Its running
 * time does not depend on the bytes of token or of the entries (every
 * entry is compared over RPC_TOKEN_MAX bytes, without an early exit). */
rpc_role_t rpc_tokens_find(const rpc_tokens_t *t, const char *token, size_t len);

/* Wipes the tokens and frees them; *t is empty afterwards. */
void rpc_tokens_free(rpc_tokens_t *t);

#endif

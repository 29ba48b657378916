#include "rpc/rpc_auth_tokens.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"

/* A tokens file larger than this is not a tokens file. */
#define RPC_TOKENS_FILE_MAX (1u << 20)

static const char *const role_names[] = {
    [RPC_ROLE_NONE] = "none",
    [RPC_ROLE_READ] = "read",
    [RPC_ROLE_WRITE] = "write",
    [RPC_ROLE_ADMIN] = "admin",
};

const char *rpc_role_name(rpc_role_t role)
{
    return role <= RPC_ROLE_ADMIN ? role_names[role] : "none";
}

static bool name_is(const char *s, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(s, name, len) == 0;
}

rpc_role_t rpc_role_for_method(const char *m, size_t len)
{
    static const char *const open[] = { "ping", "auth" };
    static const char *const read[] = { "timeline.get", "stats", "warm.status" };
    static const char *const write[] = { "follow", "unfollow", "timeline.invalidate" };
    for (size_t i = 0; i < sizeof open / sizeof *open; i++)
        if (name_is(m, len, open[i]))
            return RPC_ROLE_NONE;
    for (size_t i = 0; i < sizeof read / sizeof *read; i++)
        if (name_is(m, len, read[i]))
            return RPC_ROLE_READ;
    for (size_t i = 0; i < sizeof write / sizeof *write; i++)
        if (name_is(m, len, write[i]))
            return RPC_ROLE_WRITE;
    if (len > 5 && memcmp(m, "post.", 5) == 0)
        return RPC_ROLE_WRITE;
    return RPC_ROLE_ADMIN;
}

rpc_code_t rpc_role_gate(rpc_role_t have, const char *method, size_t len, bool known,
                         char *why, size_t whylen)
{
    rpc_role_t need = rpc_role_for_method(method, len);
    if (need == RPC_ROLE_NONE)
        return RPC_OK;
    if (have == RPC_ROLE_NONE) {
        snprintf(why, whylen, "authentication required: call auth first");
        return RPC_UNAUTHORIZED;
    }
    if (known && have < need) {
        snprintf(why, whylen, "role '%s' may not call '%.*s' (needs '%s')", rpc_role_name(have),
                 (int)(len > 64 ? 64 : len), method, rpc_role_name(need));
        return RPC_FORBIDDEN;
    }
    return RPC_OK;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The next field of [*p, end): skips blanks, returns its start and length
 * (0 at the end of the line). */
static size_t next_field(const char **p, const char *end, const char **field)
{
    while (*p < end && is_blank(**p))
        (*p)++;
    *field = *p;
    while (*p < end && !is_blank(**p))
        (*p)++;
    return (size_t)(*p - *field);
}

static void tokens_add(rpc_tokens_t *t, rpc_role_t role, const char *tok, size_t len)
{
    t->v = fc_xrealloc(t->v, (t->n + 1) * sizeof *t->v);
    rpc_token_t *e = &t->v[t->n++];
    memset(e, 0, sizeof *e);
    e->role = role;
    e->len = len;
    memcpy(e->token, tok, len);
}

int rpc_tokens_parse(const char *text, size_t len, rpc_tokens_t *out, char *err, size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    const char *p = text, *end = text + len;
    int lineno = 0;
    /* The line each token came from, to name a repeat. */
    int *lines = NULL;
    while (p < end) {
        lineno++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *role_s, *tok, *extra;
        size_t role_n = next_field(&p, eol, &role_s);
        if (role_n == 0 || role_s[0] == '#') {
            p = eol + (eol < end);
            continue;
        }
        size_t tok_n = next_field(&p, eol, &tok);
        size_t extra_n = next_field(&p, eol, &extra);
        p = eol + (eol < end);
        rpc_role_t role = RPC_ROLE_NONE;
        if (name_is(role_s, role_n, "read"))
            role = RPC_ROLE_READ;
        else if (name_is(role_s, role_n, "write"))
            role = RPC_ROLE_WRITE;
        else if (name_is(role_s, role_n, "admin"))
            role = RPC_ROLE_ADMIN;
        const char *bad = NULL;
        if (tok_n == 0 || extra_n != 0)
            bad = "expected 'ROLE TOKEN'";
        else if (role == RPC_ROLE_NONE)
            bad = "unknown role (expected read, write or admin)";
        else if (tok_n > RPC_TOKEN_MAX)
            bad = "token longer than 256 bytes";
        for (size_t i = 0; !bad && i < tok_n; i++)
            if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e)
                bad = "token has a byte that is not printable ASCII";
        if (bad) {
            snprintf(err, errlen, "line %d: %s", lineno, bad);
            goto fail;
        }
        for (size_t i = 0; i < out->n; i++) {
            if (out->v[i].len == tok_n && memcmp(out->v[i].token, tok, tok_n) == 0) {
                snprintf(err, errlen, "line %d: the token of line %d again", lineno, lines[i]);
                goto fail;
            }
        }
        tokens_add(out, role, tok, tok_n);
        lines = fc_xrealloc(lines, out->n * sizeof *lines);
        lines[out->n - 1] = lineno;
    }
    free(lines);
    if (out->n == 0) {
        snprintf(err, errlen, "no tokens");
        return -1;
    }
    return 0;
fail:
    free(lines);
    rpc_tokens_free(out);
    return -1;
}

int rpc_tokens_load(const char *path, rpc_tokens_t *out, char *err, size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf_t b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= RPC_TOKENS_FILE_MAX)
        buf_append(&b, chunk, n);
    int rc = 0;
    if (ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = -1;
    } else if (b.len > RPC_TOKENS_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, RPC_TOKENS_FILE_MAX);
        rc = -1;
    } else {
        char why[256];
        if (rpc_tokens_parse(b.data ? b.data : "", b.len, out, why, sizeof why) != 0) {
            /* "line N: ..." becomes "PATH:N: ..." */
            if (strncmp(why, "line ", 5) == 0)
                snprintf(err, errlen, "%s:%s", path, why + 5);
            else
                snprintf(err, errlen, "%s: %s", path, why);
            rc = -1;
        }
    }
    fclose(f);
    if (b.data)
        memset(b.data, 0, b.cap);
    buf_free(&b);
    memset(chunk, 0, sizeof chunk);
    return rc;
}

rpc_role_t rpc_tokens_find(const rpc_tokens_t *t, const char *token, size_t len)
{
    unsigned char given[RPC_TOKEN_MAX];
    memset(given, 0, sizeof given);
    /* A longer token matches nothing; it is still compared in full time. */
    size_t too_long = len > RPC_TOKEN_MAX;
    memcpy(given, token, too_long ? RPC_TOKEN_MAX : len);
    unsigned role = RPC_ROLE_NONE;
    for (size_t i = 0; i < t->n; i++) {
        const rpc_token_t *e = &t->v[i];
        unsigned diff = 0;
        for (size_t k = 0; k < RPC_TOKEN_MAX; k++)
            diff |= (unsigned)(e->token[k] ^ given[k]);
        diff |= (unsigned)(e->len ^ len);
        diff |= (unsigned)too_long;
        /* eq is 1 when diff == 0 (0 - 1 wraps to all ones), else 0: no
         * branch on the bytes. */
        unsigned eq = (unsigned)((((uint64_t)diff) - 1) >> 63);
        role |= (unsigned)e->role & (0u - eq);
    }
    memset(given, 0, sizeof given);
    return (rpc_role_t)role;
}

void rpc_tokens_free(rpc_tokens_t *t)
{
    if (t->v)
        memset(t->v, 0, t->n * sizeof *t->v);
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

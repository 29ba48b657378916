/* Unit tests for src/rpc/rpc_auth_tokens.c: the auth_tokens_file format,
 * the role each method needs (docs/PROTOCOL.md, "Authentication"), the
 * gate, and the token lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/rpc_auth_tokens.h"

static int parse(const char *text, rpc_tokens_t *t, char *err)
{
    return rpc_tokens_parse(text, strlen(text), t, err, 256);
}

static rpc_role_t find(const rpc_tokens_t *t, const char *tok)
{
    return rpc_tokens_find(t, tok, strlen(tok));
}

static void parse_good(void **state)
{
    (void)state;
    rpc_tokens_t t;
    char err[256] = "";
    const char *text = "# tokens\n"
                       "\n"
                       "read   r-token-1\n"
                       "  write\tw-token-2  \r\n"
                       "   # indented comment\n"
                       "admin a-token-3";          /* no final newline */
    assert_int_equal(parse(text, &t, err), 0);
    assert_int_equal(t.n, 3);
    assert_int_equal(find(&t, "r-token-1"), RPC_ROLE_READ);
    assert_int_equal(find(&t, "w-token-2"), RPC_ROLE_WRITE);
    assert_int_equal(find(&t, "a-token-3"), RPC_ROLE_ADMIN);
    assert_int_equal(find(&t, "a-token-"), RPC_ROLE_NONE);      /* a prefix */
    assert_int_equal(find(&t, "a-token-33"), RPC_ROLE_NONE);    /* longer */
    assert_int_equal(find(&t, ""), RPC_ROLE_NONE);
    assert_int_equal(find(&t, "read"), RPC_ROLE_NONE);
    /* An embedded NUL does not end the comparison early. */
    assert_int_equal(rpc_tokens_find(&t, "r-token-1\0x", 11), RPC_ROLE_NONE);
    rpc_tokens_free(&t);
    assert_int_equal(t.n, 0);
    assert_null(t.v);
}

static void parse_long_token(void **state)
{
    (void)state;
    char text[600], tok[300];
    memset(tok, 'x', RPC_TOKEN_MAX);
    tok[RPC_TOKEN_MAX] = '\0';
    snprintf(text, sizeof text, "admin %s\n", tok);
    rpc_tokens_t t;
    char err[256];
    assert_int_equal(parse(text, &t, err), 0);
    assert_int_equal(find(&t, tok), RPC_ROLE_ADMIN);
    char longer[400];
    memset(longer, 'x', 300);
    longer[300] = '\0';
    assert_int_equal(find(&t, longer), RPC_ROLE_NONE);
    rpc_tokens_free(&t);

    memset(tok, 'x', RPC_TOKEN_MAX + 1);
    tok[RPC_TOKEN_MAX + 1] = '\0';
    snprintf(text, sizeof text, "admin %s\n", tok);
    assert_int_equal(parse(text, &t, err), -1);
    assert_string_equal(err, "line 1: token longer than 256 bytes");
}

/* Each bad line is refused with its line number, and the message never
 * quotes the line (it may hold a secret). */
static void parse_bad(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *err;
    } cases[] = {
        { "read secret1\nroot secret2\n", "line 2: unknown role (expected read, write or admin)" },
        { "secret1\n", "line 1: expected 'ROLE TOKEN'" },
        { "read\n", "line 1: expected 'ROLE TOKEN'" },
        { "\n\nadmin secret1 secret2\n", "line 3: expected 'ROLE TOKEN'" },
        { "READ secret1\n", "line 1: unknown role (expected read, write or admin)" },
        { "read secret1\nwrite secret1\n", "line 2: the token of line 1 again" },
        { "read sec\x01ret\n", "line 1: token has a byte that is not printable ASCII" },
        { "read s\xc3\xa9" "cret\n", "line 1: token has a byte that is not printable ASCII" },
        { "", "no tokens" },
        { "# only comments\n\n   \n", "no tokens" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rpc_tokens_t t;
        char err[256] = "";
        assert_int_equal(parse(cases[i].text, &t, err), -1);
        assert_string_equal(err, cases[i].err);
        assert_int_equal(t.n, 0);
        assert_null(strstr(err, "secret"));
    }
}

static void load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/fc-test-tokens-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "write w1\nadmin\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    rpc_tokens_t t;
    char err[512];
    assert_int_equal(rpc_tokens_load(path, &t, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s:2: expected 'ROLE TOKEN'", path);
    assert_string_equal(err, want);

    FILE *f = fopen(path, "w");
    fputs("write w1\nadmin a1\n", f);
    fclose(f);
    assert_int_equal(rpc_tokens_load(path, &t, err, sizeof err), 0);
    assert_int_equal(t.n, 2);
    assert_int_equal(find(&t, "a1"), RPC_ROLE_ADMIN);
    rpc_tokens_free(&t);
    unlink(path);

    assert_int_equal(rpc_tokens_load(path, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
}

static void method_roles(void **state)
{
    (void)state;
#define NEED(m, r) assert_int_equal(rpc_role_for_method(m, strlen(m)), r)
    NEED("ping", RPC_ROLE_NONE);
    NEED("auth", RPC_ROLE_NONE);
    NEED("timeline.get", RPC_ROLE_READ);
    NEED("stats", RPC_ROLE_READ);
    NEED("warm.status", RPC_ROLE_READ);
    NEED("post.publish", RPC_ROLE_WRITE);
    NEED("post.update", RPC_ROLE_WRITE);
    NEED("post.delete", RPC_ROLE_WRITE);
    NEED("follow", RPC_ROLE_WRITE);
    NEED("unfollow", RPC_ROLE_WRITE);
    NEED("timeline.invalidate", RPC_ROLE_WRITE);
    NEED("warm", RPC_ROLE_ADMIN);
    NEED("fanout.dead_letters", RPC_ROLE_ADMIN);
    NEED("fanout.retry", RPC_ROLE_ADMIN);
    NEED("something.new", RPC_ROLE_ADMIN);   /* closed by default */
    NEED("post.", RPC_ROLE_ADMIN);
    NEED("pingx", RPC_ROLE_ADMIN);
    NEED("", RPC_ROLE_ADMIN);
#undef NEED
    assert_string_equal(rpc_role_name(RPC_ROLE_READ), "read");
    assert_string_equal(rpc_role_name(RPC_ROLE_WRITE), "write");
    assert_string_equal(rpc_role_name(RPC_ROLE_ADMIN), "admin");
    assert_string_equal(rpc_role_name(RPC_ROLE_NONE), "none");
}

static void gate(void **state)
{
    (void)state;
    char why[256];
#define GATE(have, m, known) rpc_role_gate(have, m, strlen(m), known, why, sizeof why)
    assert_int_equal(GATE(RPC_ROLE_NONE, "ping", true), RPC_OK);
    assert_int_equal(GATE(RPC_ROLE_NONE, "auth", true), RPC_OK);
    assert_int_equal(GATE(RPC_ROLE_NONE, "timeline.get", true), RPC_UNAUTHORIZED);
    assert_string_equal(why, "authentication required: call auth first");
    assert_int_equal(GATE(RPC_ROLE_NONE, "nope", false), RPC_UNAUTHORIZED);
    assert_int_equal(GATE(RPC_ROLE_READ, "timeline.get", true), RPC_OK);
    assert_int_equal(GATE(RPC_ROLE_READ, "stats", true), RPC_OK);
    assert_int_equal(GATE(RPC_ROLE_READ, "post.publish", true), RPC_FORBIDDEN);
    assert_string_equal(why, "role 'read' may not call 'post.publish' (needs 'write')");
    assert_int_equal(GATE(RPC_ROLE_READ, "nope", false), RPC_OK);     /* NOT_FOUND later */
    assert_int_equal(GATE(RPC_ROLE_WRITE, "follow", true), RPC_OK);
    assert_int_equal(GATE(RPC_ROLE_WRITE, "timeline.get", true), RPC_OK);
    assert_int_equal(GATE(RPC_ROLE_WRITE, "warm", true), RPC_FORBIDDEN);
    assert_int_equal(GATE(RPC_ROLE_WRITE, "fanout.retry", true), RPC_FORBIDDEN);
    assert_int_equal(GATE(RPC_ROLE_ADMIN, "warm", true), RPC_OK);
    assert_int_equal(GATE(RPC_ROLE_ADMIN, "post.delete", true), RPC_OK);
#undef GATE
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_good),
        cmocka_unit_test(parse_long_token),
        cmocka_unit_test(parse_bad),
        cmocka_unit_test(load_file),
        cmocka_unit_test(method_roles),
        cmocka_unit_test(gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

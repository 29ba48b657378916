/* Unit tests for the asynchronous resolver (src/util/resolve.c): numeric
 * hosts, a name from /etc/hosts (localhost), a name that does not resolve
 * (.invalid, RFC 6761), the callback never running before resolve_start
 * returns, and cancellation. The loop is private; no servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/resolve.h"

typedef struct {
    int calls;
    resolve_result_t res;
} got_t;

static void on_result(const resolve_result_t *res, void *arg)
{
    got_t *g = arg;
    g->calls++;
    g->res = *res;
}

static void numeric(void **state)
{
    (void)state;
    assert_true(resolve_is_numeric("127.0.0.1"));
    assert_true(resolve_is_numeric("::1"));
    assert_true(resolve_is_numeric("2001:db8::7"));
    assert_false(resolve_is_numeric("localhost"));
    assert_false(resolve_is_numeric("256.0.0.1"));
    assert_false(resolve_is_numeric("redis"));
    assert_false(resolve_is_numeric(""));
    assert_false(resolve_is_numeric(NULL));
}

static void localhost_resolves(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    got_t g = { 0 };
    resolve_start(&loop, "localhost", on_result, &g);
    assert_int_equal(g.calls, 0);                 /* never before it returns */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g.calls, 1);
    assert_true(g.res.ok);
    assert_true(g.res.naddrs >= 1);
    int has_v4 = 0;
    for (size_t i = 0; i < g.res.naddrs; i++) {
        assert_true(resolve_is_numeric(g.res.addrs[i]));
        has_v4 |= strcmp(g.res.addrs[i], "127.0.0.1") == 0;
    }
    assert_true(has_v4);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void unknown_name_fails(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    got_t g = { 0 };
    resolve_start(&loop, "no-such-host.invalid", on_result, &g);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g.calls, 1);
    assert_false(g.res.ok);
    assert_int_equal(g.res.naddrs, 0);
    assert_non_null(strstr(g.res.why, "cannot resolve 'no-such-host.invalid'"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void cancelled_never_calls_back(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    got_t g[16];
    memset(g, 0, sizeof g);
    resolve_t *r[16];
    for (int i = 0; i < 16; i++)
        r[i] = resolve_start(&loop, "localhost", on_result, &g[i]);
    for (int i = 0; i < 16; i += 2)
        resolve_cancel(r[i]);
    resolve_cancel(NULL);                         /* harmless */
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 16; i++)
        assert_int_equal(g[i].calls, i % 2 ? 1 : 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Callers of one name share a lookup; cancelling every waiter and asking
 * again at once must still call back (the cancelled lookup is not joined). */
static void shared_and_cancel_then_ask_again(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* Keep the thread pool's threads busy, so that the lookups below wait
     * in its queue and uv_cancel can take them back. */
    got_t busy[8], g = { 0 };
    memset(busy, 0, sizeof busy);
    char name[32];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "busy-%d.invalid", i);
        resolve_start(&loop, name, on_result, &busy[i]);
    }
    resolve_t *a = resolve_start(&loop, "localhost", on_result, &g);
    resolve_t *b = resolve_start(&loop, "localhost", on_result, &g);
    resolve_cancel(a);
    resolve_cancel(b);
    resolve_start(&loop, "localhost", on_result, &g);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g.calls, 1);
    assert_true(g.res.ok);
    for (int i = 0; i < 8; i++)
        assert_int_equal(busy[i].calls, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    /* The fault build's hooks must not leak in from the environment. */
    unsetenv("FC_FAULT_RESOLVE_HOSTS");
    unsetenv("FC_FAULT_RESOLVE_DELAY_MS");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numeric),
        cmocka_unit_test(localhost_resolves),
        cmocka_unit_test(unknown_name_fails),
        cmocka_unit_test(cancelled_never_calls_back),
        cmocka_unit_test(shared_and_cancel_then_ask_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

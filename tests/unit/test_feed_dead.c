/* feed_dead_id_ok: what fanout.dead_letters and fanout.retry accept as a
 * stream entry id before it reaches XRANGE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "feed/feed_dead.h"

static bool ok(const char *s)
{
    return feed_dead_id_ok(s, strlen(s));
}

static void ids(void **state)
{
    (void)state;
    assert_true(ok("1700000000000-0"));
    assert_true(ok("0-1"));
    assert_true(ok("18446744073709551615-18446744073709551615"));
    assert_false(ok(""));
    assert_false(ok("-"));
    assert_false(ok("1-"));
    assert_false(ok("-1"));
    assert_false(ok("1700000000000"));
    assert_false(ok("1-2-3"));
    assert_false(ok("1a-2"));
    assert_false(ok("+"));
    assert_false(ok("(1-2"));
    assert_false(ok("1 -2"));
    assert_false(ok("123456789012345678901-0"));   /* 21 digits */
    /* Not NUL-terminated: only len bytes count. */
    assert_true(feed_dead_id_ok("12-34xyz", 5));
    assert_false(feed_dead_id_ok("12-34", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

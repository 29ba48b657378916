/* feed_dead_id_ok, feed_dead_id_parse: what fanout.dead_letters and
 * fanout.retry accept as a dead letter's id (a stream entry id, after "I/"
 * for shard I > 0) before it reaches XRANGE. */
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
    /* Shards: I/ID for shard I in 1..63; shard 0 has no prefix. */
    unsigned shard = 99;
    size_t off = 99;
    assert_true(feed_dead_id_parse("1700000000000-0", 15, &shard, &off));
    assert_int_equal(shard, 0);
    assert_int_equal(off, 0);
    assert_true(feed_dead_id_parse("3/1700000000000-7", 17, &shard, &off));
    assert_int_equal(shard, 3);
    assert_int_equal(off, 2);
    assert_true(feed_dead_id_parse("63/1-2", 6, &shard, &off));
    assert_int_equal(shard, 63);
    assert_int_equal(off, 3);
    assert_true(ok("63/18446744073709551615-18446744073709551615"));   /* the longest */
    assert_false(ok("64/1-2"));
    assert_false(ok("0/1-2"));
    assert_false(ok("03/1-2"));
    assert_false(ok("/1-2"));
    assert_false(ok("3/"));
    assert_false(ok("3/4/1-2"));
    assert_false(ok("a/1-2"));
    assert_false(ok("100/1-2"));
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

/* feed_postval: the forms of a post's cached value, and everything else
 * read as a miss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "feed/feed_postval.h"

static feed_postval_t parse(const char *s)
{
    return feed_postval_parse(s, s ? strlen(s) : 0);
}

static void post_round_trip(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b);
    feed_postval_post(&b, 9223372036854775807LL, "a:b\0c", 5);
    feed_postval_t v = feed_postval_parse(b.data, b.len);
    assert_int_equal(v.kind, FEED_POSTVAL_POST);
    assert_true(v.author_id == 9223372036854775807LL);
    assert_int_equal(v.body_len, 5);
    assert_memory_equal(v.body, "a:b\0c", 5);
    buf_reset(&b);
    feed_postval_post(&b, 42, "", 0);
    v = feed_postval_parse(b.data, b.len);
    assert_int_equal(v.kind, FEED_POSTVAL_POST);
    assert_int_equal(v.author_id, 42);
    assert_int_equal(v.body_len, 0);
    buf_free(&b);
}

static void tombstone_and_update(void **state)
{
    (void)state;
    assert_int_equal(parse(FEED_POSTVAL_TOMBSTONE).kind, FEED_POSTVAL_DELETED);
    feed_postval_t v = parse("unew body");
    assert_int_equal(v.kind, FEED_POSTVAL_UPDATED);
    assert_int_equal(v.body_len, 8);
    assert_memory_equal(v.body, "new body", 8);
    assert_int_equal(parse("u").kind, FEED_POSTVAL_UPDATED);
}

static void misses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "x", "dd", "p", "p:", "p5", "p5x:", "p0:body", "p-5:body", "pa:body",
        "p9223372036854775808:body",        /* past int64 */
        "p000000000000000000001:b",         /* 21 digits */
        "1:body",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i]).kind != FEED_POSTVAL_MISS)
            fail_msg("'%s' parsed as kind %d", bad[i], parse(bad[i]).kind);
    assert_int_equal(feed_postval_parse(NULL, 0).kind, FEED_POSTVAL_MISS);
    /* A post whose author has leading zeros, but fits: read as it is. */
    assert_int_equal(parse("p007:x").author_id, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(post_round_trip),
        cmocka_unit_test(tombstone_and_update),
        cmocka_unit_test(misses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

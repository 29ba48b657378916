/* Unit tests for the Redis key builders (rds_keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "store/redis/rds_keys.h"

static void every_key_has_its_shape(void **state)
{
    (void)state;
    char k[RDS_KEY_MAX];
    assert_int_equal(rds_key_feed(k, sizeof k, "fc:", 42), strlen("fc:home:{42}"));
    assert_string_equal(k, "fc:home:{42}");
    rds_key_posts(k, sizeof k, "fc:", 7);
    assert_string_equal(k, "fc:posts:{7}");
    rds_key_rebuild_tmp(k, sizeof k, "fc:", 7, "1f3a");
    assert_string_equal(k, "fc:rebuild:{7}:1f3a");
    /* A token that would move the hash tag, or none, builds no key. */
    assert_int_equal(rds_key_rebuild_tmp(k, sizeof k, "fc:", 7, "a}b"), 0);
    assert_string_equal(k, "");
    assert_int_equal(rds_key_rebuild_tmp(k, sizeof k, "fc:", 7, ""), 0);
    rds_key_post(k, sizeof k, "fc:", 123456789012345678LL);
    assert_string_equal(k, "fc:pc:{123456789012345678}");
    rds_key_unfollowed(k, sizeof k, "fc:", 42);
    assert_string_equal(k, "fc:unf:{42}");
    rds_key_fcount(k, sizeof k, "fc:", 9);
    assert_string_equal(k, "fc:fcount:{9}");
    assert_int_equal(rds_key_celebrities(k, sizeof k, "fc:"), strlen("fc:{celebrities}"));
    assert_string_equal(k, "fc:{celebrities}");
    assert_int_equal(rds_key_celebrities_marked(k, sizeof k, "fc:"),
                     strlen("fc:marked:{celebrities}"));
    assert_string_equal(k, "fc:marked:{celebrities}");
    assert_int_equal(rds_key_fanout(k, sizeof k, "fc:", 0), strlen("fc:{fanout}"));
    assert_string_equal(k, "fc:{fanout}");
    assert_int_equal(rds_key_fanout_dead(k, sizeof k, "fc:", 0), strlen("fc:{fanout}:dead"));
    assert_string_equal(k, "fc:{fanout}:dead");
    rds_key_fanout_progress(k, sizeof k, "fc:", 0);
    assert_string_equal(k, "fc:{fanout}:progress");
    rds_key_warm(k, sizeof k, "fc:", "w-1a2b");
    assert_string_equal(k, "fc:warm:{w-1a2b}");
}

static void prefix_is_used_verbatim(void **state)
{
    (void)state;
    char k[RDS_KEY_MAX];
    rds_key_feed(k, sizeof k, "staging:fc:", 1);
    assert_string_equal(k, "staging:fc:home:{1}");
    rds_key_feed(k, sizeof k, "x", INT64_MAX);
    assert_string_equal(k, "xhome:{9223372036854775807}");
}

static void longest_keys_fit_key_max(void **state)
{
    (void)state;
    char prefix[RDS_KEY_PREFIX_MAX + 1], job[RDS_KEY_JOB_MAX + 1], k[RDS_KEY_MAX];
    memset(prefix, 'p', RDS_KEY_PREFIX_MAX);
    prefix[RDS_KEY_PREFIX_MAX] = '\0';
    memset(job, 'j', RDS_KEY_JOB_MAX);
    job[RDS_KEY_JOB_MAX] = '\0';
    assert_true(rds_key_unfollowed(k, sizeof k, prefix, INT64_MIN) > 0);
    assert_true(rds_key_celebrities(k, sizeof k, prefix) > 0);
    assert_true(rds_key_warm(k, sizeof k, prefix, job) > 0);
    assert_int_equal(strlen(k), RDS_KEY_PREFIX_MAX + strlen("warm:{}") + RDS_KEY_JOB_MAX);
}

static void too_small_buffer_gives_empty_key(void **state)
{
    (void)state;
    char k[12];
    /* "fc:home:{42}" needs 13 bytes with the NUL. */
    memset(k, 'z', sizeof k);
    assert_int_equal(rds_key_feed(k, sizeof k, "fc:", 42), 0);
    assert_string_equal(k, "");
    char k13[13];
    assert_int_equal(rds_key_feed(k13, sizeof k13, "fc:", 42), 12);
    assert_int_equal(rds_key_feed(NULL, 0, "fc:", 42), 0);
}

static void invalid_prefix_or_job_gives_empty_key(void **state)
{
    (void)state;
    char k[RDS_KEY_MAX];
    assert_int_equal(rds_key_feed(k, sizeof k, "", 1), 0);
    assert_int_equal(rds_key_feed(k, sizeof k, NULL, 1), 0);
    assert_int_equal(rds_key_feed(k, sizeof k, "fc{x}:", 1), 0);
    assert_string_equal(k, "");
    assert_int_equal(rds_key_feed(k, sizeof k, "f c:", 1), 0);
    char longp[RDS_KEY_PREFIX_MAX + 2];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(rds_key_feed(k, sizeof k, longp, 1), 0);
    assert_int_equal(rds_key_warm(k, sizeof k, "fc:", ""), 0);
    assert_int_equal(rds_key_warm(k, sizeof k, "fc:", NULL), 0);
    assert_int_equal(rds_key_warm(k, sizeof k, "fc:", "a}b"), 0);
    assert_int_equal(rds_key_warm(k, sizeof k, "fc:", "a b"), 0);
}

static void prefix_check_explains(void **state)
{
    (void)state;
    char err[200];
    assert_int_equal(rds_key_prefix_check("fc:", err, sizeof err), 0);
    assert_int_equal(rds_key_prefix_check("", err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(rds_key_prefix_check("a{b", err, sizeof err), -1);
    assert_non_null(strstr(err, "hash tag"));
    char longp[RDS_KEY_PREFIX_MAX + 2];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(rds_key_prefix_check(longp, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 64"));
    longp[RDS_KEY_PREFIX_MAX] = '\0';
    assert_int_equal(rds_key_prefix_check(longp, err, sizeof err), 0);
}

static unsigned slot_of(const char *k)
{
    return rds_key_slot(k, strlen(k));
}

static void slots_follow_the_hash_tag(void **state)
{
    (void)state;
    /* Reference values from Redis (CLUSTER KEYSLOT). */
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("123456789"), 12739);   /* CRC16/XMODEM check value 0x31C3 */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    assert_int_equal(slot_of("foo{}{bar}"), slot_of("foo{}{bar}"));
    assert_int_not_equal(slot_of("foo{}{bar}"), slot_of("bar"));   /* empty tag: whole key */
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));

    /* Every key of one user lands in one slot, whatever the prefix. */
    char a[RDS_KEY_MAX], b[RDS_KEY_MAX], c[RDS_KEY_MAX], d[RDS_KEY_MAX];
    size_t la = rds_key_feed(a, sizeof a, "fc:", 4242);
    size_t lb = rds_key_unfollowed(b, sizeof b, "other:", 4242);
    size_t lc = rds_key_fcount(c, sizeof c, "fc:", 4242);
    size_t ld = rds_key_posts(d, sizeof d, "fc:", 4242);
    assert_int_equal(rds_key_slot(a, la), rds_key_slot(b, lb));
    assert_int_equal(rds_key_slot(a, la), rds_key_slot(c, lc));
    assert_int_equal(rds_key_slot(a, la), rds_key_slot(d, ld));
    ld = rds_key_rebuild_tmp(d, sizeof d, "fc:", 4242, "ffffffffffffffff");
    assert_int_equal(rds_key_slot(a, la), rds_key_slot(d, ld));
    assert_int_equal(rds_key_slot(a, la), slot_of("4242"));
    size_t lf = rds_key_fanout(a, sizeof a, "fc:", 0);
    assert_int_equal(rds_key_slot(a, lf), slot_of("fanout"));
    /* The dead-letter stream and the progress hash share the stream's slot:
     * one script moves a job between them. */
    lf = rds_key_fanout_dead(a, sizeof a, "fc:", 0);
    assert_int_equal(rds_key_slot(a, lf), slot_of("fanout"));
    lf = rds_key_fanout_progress(a, sizeof a, "fc:", 0);
    assert_int_equal(rds_key_slot(a, lf), slot_of("fanout"));
    /* Shards > 0: a tag of their own, shared by their three keys; the
     * default cluster shard count lands on eight different slots. */
    unsigned seen[8];
    for (unsigned sh = 1; sh < 8; sh++) {
        lf = rds_key_fanout(a, sizeof a, "fc:", sh);
        char tag[32];
        snprintf(tag, sizeof tag, "fanout:%u", sh);
        assert_int_equal(rds_key_slot(a, lf), slot_of(tag));
        seen[sh] = rds_key_slot(a, lf);
        for (unsigned o = 0; o < sh; o++)
            assert_int_not_equal(seen[sh], o ? seen[o] : slot_of("fanout"));
        lf = rds_key_fanout_dead(a, sizeof a, "fc:", sh);
        assert_int_equal(rds_key_slot(a, lf), seen[sh]);
        lf = rds_key_fanout_progress(a, sizeof a, "fc:", sh);
        assert_int_equal(rds_key_slot(a, lf), seen[sh]);
    }
    rds_key_fanout_dead(a, sizeof a, "fc:", 3);
    assert_string_equal(a, "fc:{fanout:3}:dead");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_key_has_its_shape),
        cmocka_unit_test(prefix_is_used_verbatim),
        cmocka_unit_test(longest_keys_fit_key_max),
        cmocka_unit_test(too_small_buffer_gives_empty_key),
        cmocka_unit_test(invalid_prefix_or_job_gives_empty_key),
        cmocka_unit_test(prefix_check_explains),
        cmocka_unit_test(slots_follow_the_hash_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

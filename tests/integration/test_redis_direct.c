/* The tests' own Redis helper (redis_direct.h), against the server or the
 * cluster named by FEEDCACHE_TEST_REDIS_URL: the other integration tests
 * trust it to see every key, so it gets checked first.
 *
 *   slots_match_redis      rdirect_slot against known values and, on a
 *                          cluster, against CLUSTER KEYSLOT for 500 keys
 *   keys_everywhere        2,000 keys with distinct hash tags (so, on a
 *                          cluster, on every master) written pipelined,
 *                          read back one by one and pipelined; on a
 *                          cluster each master holds some
 *   flushdb_empties_all    rdirect_flushdb leaves none of them */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_direct.h"

#define NKEYS 2000

static char prefix[64];

static rdirect_t *open_or_fail(void)
{
    char err[512];
    rdirect_t *r = rdirect_open_env(err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    return r;
}

static void slots_match_redis(void **state)
{
    (void)state;
    /* Values from the Redis Cluster specification and CLUSTER KEYSLOT. */
    assert_int_equal(rdirect_slot("foo", 3), 12182);
    assert_int_equal(rdirect_slot("somekey", 7), 11058);
    assert_int_equal(rdirect_slot("{user1000}.following", 20), rdirect_slot("user1000", 8));
    assert_int_equal(rdirect_slot("foo{{bar}}zap", 13), rdirect_slot("{bar", 4));
    assert_int_equal(rdirect_slot("fc:home:{42}", 12), rdirect_slot("42", 2));

    rdirect_t *r = open_or_fail();
    if (!rdirect_is_cluster(r)) {
        rdirect_close(r);
        return;      /* CLUSTER KEYSLOT needs a cluster; the constants above hold */
    }
    for (int i = 0; i < 500; i++) {
        char key[64];
        int n = i % 3 == 0 ? snprintf(key, sizeof key, "%shome:{%d}", prefix, i * 7919)
              : i % 3 == 1 ? snprintf(key, sizeof key, "plain-%d-key", i)
                           : snprintf(key, sizeof key, "a{}b{%d}c", i);
        redisReply *rep = rdirect_command(r, "CLUSTER KEYSLOT %s", key);
        assert_non_null(rep);
        assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
        if ((unsigned)rep->integer != rdirect_slot(key, (size_t)n))
            fail_msg("slot of '%s': Redis says %lld, rdirect_slot %u", key, rep->integer,
                     rdirect_slot(key, (size_t)n));
        freeReplyObject(rep);
    }
    rdirect_close(r);
}

static void key_of(char *out, size_t cap, int i)
{
    snprintf(out, cap, "%srd:{%d}", prefix, i);
}

static void keys_everywhere(void **state)
{
    (void)state;
    rdirect_t *r = open_or_fail();
    char key[96];
    for (int i = 0; i < NKEYS; i++) {
        key_of(key, sizeof key, i);
        assert_int_equal(rdirect_append(r, "SET %s v%d", key, i), REDIS_OK);
    }
    for (int i = 0; i < NKEYS; i++) {
        redisReply *rep;
        if (rdirect_get_reply(r, &rep) != REDIS_OK)
            fail_msg("SET %d: %s", i, rdirect_error(r));
        assert_int_equal(rep->type, REDIS_REPLY_STATUS);
        freeReplyObject(rep);
    }
    for (int i = 0; i < NKEYS; i += 7) {
        key_of(key, sizeof key, i);
        redisReply *rep = rdirect_command(r, "GET %s", key);
        if (!rep)
            fail_msg("GET %s: %s", key, rdirect_error(r));
        char want[32];
        snprintf(want, sizeof want, "v%d", i);
        assert_int_equal(rep->type, REDIS_REPLY_STRING);
        assert_string_equal(rep->str, want);
        freeReplyObject(rep);
    }
    for (int i = 0; i < NKEYS; i++) {
        key_of(key, sizeof key, i);
        rdirect_append(r, "GET %s", key);
    }
    for (int i = 0; i < NKEYS; i++) {
        redisReply *rep;
        assert_int_equal(rdirect_get_reply(r, &rep), REDIS_OK);
        char want[32];
        snprintf(want, sizeof want, "v%d", i);
        assert_int_equal(rep->type, REDIS_REPLY_STRING);
        assert_string_equal(rep->str, want);
        freeReplyObject(rep);
    }
    if (rdirect_is_cluster(r)) {
        /* Every master got a share: the commands really were routed. */
        char addr[3][300];
        unsigned slots[3] = { 0, 5500, 11000 };
        for (int m = 0; m < 3; m++)
            assert_int_equal(rdirect_slot_master(r, slots[m], addr[m], sizeof addr[m]), 0);
        assert_true(strcmp(addr[0], addr[1]) != 0 || strcmp(addr[1], addr[2]) != 0);
        long long hits = rdirect_info_sum(r, "keyspace_hits");
        assert_true(hits >= NKEYS);
    }
    rdirect_close(r);
}

static void flushdb_empties_all(void **state)
{
    (void)state;
    rdirect_t *r = open_or_fail();
    char key[96], err[512];
    if (rdirect_flushdb(r, err, sizeof err) != 0)
        fail_msg("%s", err);
    size_t left = 0;
    for (int i = 0; i < NKEYS; i++) {
        key_of(key, sizeof key, i);
        rdirect_append(r, "EXISTS %s", key);
    }
    for (int i = 0; i < NKEYS; i++) {
        redisReply *rep;
        assert_int_equal(rdirect_get_reply(r, &rep), REDIS_OK);
        left += rep->integer != 0;
        freeReplyObject(rep);
    }
    rdirect_close(r);
    assert_int_equal(left, 0);
}

int main(void)
{
    snprintf(prefix, sizeof prefix, "fcrd%d:", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slots_match_redis),
        cmocka_unit_test(keys_everywhere),
        cmocka_unit_test(flushdb_empties_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the Redis argument builder (store/redis/rds_args.h) and the
 * integer formatting it shares with the PostgreSQL pool (util/num.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/redis/rds_args.h"
#include "store/redis/rds_keys.h"
#include "util/num.h"

static void assert_arg(rds_args_t *a, int i, const char *want, size_t len)
{
    assert_true(i < a->argc);
    assert_int_equal(rds_args_lens(a)[i], len);
    assert_memory_equal(rds_args_argv(a)[i], want, len);
}

static void builds_strings_bytes_and_ints(void **state)
{
    (void)state;
    rds_args_t a;
    rds_args_init(&a);
    rds_args_str(&a, "SET");
    rds_args_add(&a, "k\0ey", 4);
    rds_args_int(&a, -42);
    rds_args_addf(&a, "%s-%d", "x", 7);
    assert_int_equal(a.argc, 4);
    assert_arg(&a, 0, "SET", 3);
    assert_arg(&a, 1, "k\0ey", 4);
    assert_arg(&a, 2, "-42", 3);
    assert_arg(&a, 3, "x-7", 3);

    /* Reset keeps nothing but the memory. */
    rds_args_reset(&a);
    assert_int_equal(a.argc, 0);
    rds_args_str(&a, "PING");
    assert_int_equal(a.argc, 1);
    assert_arg(&a, 0, "PING", 4);
    rds_args_free(&a);
}

static void many_and_long_arguments_survive_growth(void **state)
{
    (void)state;
    rds_args_t a;
    rds_args_init(&a);
    char big[1000];
    memset(big, 'b', sizeof big);
    for (int i = 0; i < 300; i++) {
        if (i % 3 == 0)
            rds_args_add(&a, big, (size_t)i);
        else
            rds_args_int(&a, i);
    }
    rds_args_addf(&a, "%.*s", 600, big);   /* longer than addf's stack buffer */
    assert_int_equal(a.argc, 301);
    for (int i = 0; i < 300; i++) {
        char n[24];
        if (i % 3 == 0)
            assert_arg(&a, i, big, (size_t)i);
        else
            assert_arg(&a, i, n, (size_t)snprintf(n, sizeof n, "%d", i));
    }
    assert_arg(&a, 300, big, 600);
    rds_args_free(&a);
}

static void keys_come_from_the_key_builders(void **state)
{
    (void)state;
    rds_args_t a;
    rds_args_init(&a);
    rds_args_key(&a, rds_key_feed, "fc:", 42);
    rds_args_key(&a, rds_key_post, "app:", -1);
    rds_args_key(&a, rds_key_feed, "bad{prefix", 1);   /* invalid: "" */
    char want[RDS_KEY_MAX];
    size_t n = rds_key_feed(want, sizeof want, "fc:", 42);
    assert_true(n > 0);
    assert_arg(&a, 0, want, n);
    n = rds_key_post(want, sizeof want, "app:", -1);
    assert_arg(&a, 1, want, n);
    assert_int_equal(rds_args_lens(&a)[2], 0);
    rds_args_free(&a);
}

static void int64_formatting_round_trips(void **state)
{
    (void)state;
    const int64_t v[] = { 0, 1, -1, 9, 10, -10, 99, 100, 1700000000123LL, INT32_MAX,
                          INT32_MIN, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char got[FC_I64_CHARS], want[32];
        size_t n = fc_i64_format(got, v[i]);
        int wn = snprintf(want, sizeof want, "%lld", (long long)v[i]);
        assert_int_equal(n, (size_t)wn);
        assert_string_equal(got, want);
        if (v[i] != INT64_MIN)   /* fc_i64 does not claim INT64_MIN */
            assert_true(fc_i64(got) == v[i]);
    }
    char s[FC_I64_CHARS];
    assert_int_equal(fc_i64_format(s, INT64_MIN), FC_I64_CHARS - 1);
}

static void route_like_pins_a_keyless_command_to_a_key_slot(void **state)
{
    (void)state;
    rds_args_t a;
    rds_args_init(&a);
    assert_int_equal(a.route_slot1, 0);
    rds_args_str(&a, "WAIT");
    rds_args_route_like(&a, "fc:{fanout}", 11);
    assert_int_equal(a.route_slot1, 1 + (int)rds_key_slot("fanout", 6));
    rds_args_reset(&a);
    assert_int_equal(a.route_slot1, 0);
    rds_args_free(&a);
}

/* The RESP of a command, checked against one built here the slow way:
 * lengths of every digit count (0, 1 and 2 digits take a fast path; 100
 * and up the general one), binary bytes, many arguments. */
static void resp_matches_the_protocol(void **state)
{
    (void)state;
    static const size_t lens[] = { 0, 1, 9, 10, 42, 99, 100, 101, 999, 1000, 12345 };
    const size_t nlens = sizeof lens / sizeof lens[0];
    rds_args_t a;
    rds_args_init(&a);
    char *big = malloc(12345);
    assert_non_null(big);
    for (size_t i = 0; i < 12345; i++)
        big[i] = (char)(i % 7 == 0 ? '\0' : i % 5 == 0 ? '\r' : 'a' + (int)(i % 26));
    for (int round = 0; round < 2; round++) {        /* the buffer is reused */
        rds_args_reset(&a);
        buf_t want;
        buf_init(&want);
        size_t argc = nlens * (size_t)(round + 1);
        buf_printf(&want, "*%zu\r\n", argc);
        for (size_t k = 0; k < argc; k++) {
            size_t n = lens[k % nlens];
            rds_args_add(&a, big, n);
            buf_printf(&want, "$%zu\r\n", n);
            buf_append(&want, big, n);
            buf_append(&want, "\r\n", 2);
        }
        const buf_t *got = rds_args_resp(&a);
        assert_int_equal(got->len, want.len);
        assert_memory_equal(got->data, want.data, want.len);
        assert_int_equal(got->data[got->len], '\0');
        buf_free(&want);
    }
    rds_args_reset(&a);                               /* no arguments at all */
    const buf_t *none = rds_args_resp(&a);
    assert_int_equal(none->len, 4);
    assert_memory_equal(none->data, "*0\r\n", 4);
    free(big);
    rds_args_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(route_like_pins_a_keyless_command_to_a_key_slot),
        cmocka_unit_test(builds_strings_bytes_and_ints),
        cmocka_unit_test(many_and_long_arguments_survive_growth),
        cmocka_unit_test(keys_come_from_the_key_builders),
        cmocka_unit_test(int64_formatting_round_trips),
        cmocka_unit_test(resp_matches_the_protocol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

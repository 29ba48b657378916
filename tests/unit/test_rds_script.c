/* Unit tests for scripts by digest (store/redis/rds_script.h): what
 * rds_args_eval writes, how the node pool recognises it in RESP, and the
 * EVAL it sends instead on a connection that does not have the script. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "store/redis/rds_args.h"
#include "store/redis/rds_script.h"

static const char script_one[] = "return 1";
static const char script_keys[] = "return {KEYS[1], ARGV[1]}";

static void assert_arg(rds_args_t *a, int i, const char *want)
{
    assert_true(i < a->argc);
    assert_int_equal(rds_args_lens(a)[i], strlen(want));
    assert_memory_equal(rds_args_argv(a)[i], want, strlen(want));
}

static void args_name_the_script_by_digest(void **state)
{
    (void)state;
    rds_args_t a;
    rds_args_init(&a);
    rds_args_eval(&a, script_one, 0);
    assert_int_equal(a.argc, 3);
    assert_arg(&a, 0, "EVALSHA");
    assert_arg(&a, 1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    assert_arg(&a, 2, "0");
    /* Registered once, by pointer: the same index every time. */
    int i = rds_script_register(script_one);
    assert_true(i >= 0);
    assert_int_equal(rds_script_register(script_one), i);
    assert_string_equal(rds_script_sha(i), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    assert_int_not_equal(rds_script_register(script_keys), i);
    assert_string_equal(rds_script_sha(-1), "");
    rds_args_free(&a);
}

static void resp_round_trip(void **state)
{
    (void)state;
    rds_args_t a;
    rds_args_init(&a);
    rds_args_eval(&a, script_keys, 1);
    rds_args_str(&a, "fc:k");
    rds_args_str(&a, "v\r\nx");       /* binary safe: CRLF inside an argument */
    const buf_t *resp = rds_args_resp(&a);
    size_t rest = 0;
    int i = rds_script_of_resp(resp->data, resp->len, &rest);
    assert_int_equal(i, rds_script_register(script_keys));
    /* rest: numkeys onwards. */
    assert_memory_equal(resp->data + rest, "$1\r\n1\r\n", 7);

    const buf_t *eval = rds_script_eval_resp(i, resp->data, resp->len, rest);
    rds_args_t want;
    rds_args_init(&want);
    rds_args_str(&want, "EVAL");
    rds_args_str(&want, script_keys);
    rds_args_str(&want, "1");
    rds_args_str(&want, "fc:k");
    rds_args_str(&want, "v\r\nx");
    const buf_t *w = rds_args_resp(&want);   /* (overwrites resp: read it no more) */
    assert_int_equal(eval->len, w->len);
    assert_memory_equal(eval->data, w->data, w->len);
    rds_args_free(&want);
    rds_args_free(&a);
}

/* Everything that is not an EVALSHA of a registered script is sent as it
 * is: other commands, an EVAL, an unknown digest, lowercase, truncations. */
static void other_commands_are_not_scripts(void **state)
{
    (void)state;
    size_t rest = 12345;
    const char *cases[] = {
        "*1\r\n$4\r\nPING\r\n",
        "*3\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n0\r\n",
        "*3\r\n$7\r\nEVALSHA\r\n$40\r\n0000000000000000000000000000000000000000\r\n$1\r\n0\r\n",
        "*3\r\n$7\r\nevalsha\r\n$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n$1\r\n0\r\n",
        "*3\r\n$7\r\nEVALSHA\r\n$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8d",
        "*3\r\n$7\r\nEVALSHA\r\n$39\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8d\r\n",
        "*\r\n$7\r\nEVALSHA\r\n$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n",
        "",
        "*",
    };
    rds_script_register(script_one);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        assert_int_equal(rds_script_of_resp(cases[k], strlen(cases[k]), &rest), -1);
    assert_int_equal(rest, 12345);
    const char *ok =
        "*3\r\n$7\r\nEVALSHA\r\n$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n$1\r\n0\r\n";
    assert_int_equal(rds_script_of_resp(ok, strlen(ok), &rest), rds_script_register(script_one));
}

/* Past RDS_SCRIPT_MAX scripts, the next goes by EVAL with its text. */
static void a_full_registry_falls_back_to_eval(void **state)
{
    (void)state;
    static char texts[RDS_SCRIPT_MAX + 1][24];
    int last = -1;
    for (int k = 0; k <= RDS_SCRIPT_MAX; k++) {
        snprintf(texts[k], sizeof texts[k], "return %d", k + 1000);
        last = rds_script_register(texts[k]);
    }
    assert_int_equal(last, -1);
    rds_args_t a;
    rds_args_init(&a);
    rds_args_eval(&a, texts[RDS_SCRIPT_MAX], 2);
    assert_arg(&a, 0, "EVAL");
    assert_arg(&a, 1, texts[RDS_SCRIPT_MAX]);
    assert_arg(&a, 2, "2");
    /* Those registered before still go by digest. */
    rds_args_eval(&a, script_one, 0);
    assert_arg(&a, 0, "EVALSHA");
    rds_args_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(args_name_the_script_by_digest),
        cmocka_unit_test(resp_round_trip),
        cmocka_unit_test(other_commands_are_not_scripts),
        cmocka_unit_test(a_full_registry_falls_back_to_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

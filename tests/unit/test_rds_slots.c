/* Unit tests for the pure Redis Cluster logic (store/redis/rds_slots.h):
 * the slot a command is routed by, CLUSTER SLOTS parsing, MOVED/ASK. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "store/redis/rds_args.h"
#include "store/redis/rds_keys.h"
#include "store/redis/rds_slots.h"

/* The slot of the command given as space-separated words. */
static int slot_of(const char *words)
{
    rds_args_t a;
    rds_args_init(&a);
    char copy[256];
    snprintf(copy, sizeof copy, "%s", words);
    for (char *w = strtok(copy, " "); w; w = strtok(NULL, " "))
        rds_args_str(&a, w);
    int slot = rds_slots_of_command(a.argc, rds_args_argv(&a), rds_args_lens(&a));
    rds_args_free(&a);
    return slot;
}

static int key_slot(const char *key)
{
    return (int)rds_key_slot(key, strlen(key));
}

static void routes_by_the_first_key_of_each_command_shape(void **state)
{
    (void)state;
    /* The value Redis documents for CLUSTER KEYSLOT foo. */
    assert_int_equal(slot_of("GET foo"), 12182);
    assert_int_equal(slot_of("get foo"), 12182);
    assert_int_equal(slot_of("ZADD fc:home:{42} 1 2"), key_slot("42"));
    assert_int_equal(slot_of("EVAL return 2 fc:home:{7} fc:unf:{7} x"), key_slot("7"));
    assert_int_equal(slot_of("evalsha abc 1 fc:posts:{9}"), key_slot("9"));
    assert_int_equal(slot_of("XREADGROUP GROUP g c COUNT 10 BLOCK 100 STREAMS fc:{fanout} >"),
                     key_slot("fanout"));
    assert_int_equal(slot_of("XGROUP CREATE fc:{fanout}:dead g $ MKSTREAM"), key_slot("fanout"));
    assert_int_equal(slot_of("XINFO CONSUMERS fc:{fanout:3} g"), key_slot("fanout:3"));
    assert_int_equal(slot_of("XADD fc:{fanout} * p 1"), key_slot("fanout"));
}

static void keyless_commands_have_no_slot(void **state)
{
    (void)state;
    assert_int_equal(slot_of("PING"), -1);
    assert_int_equal(slot_of("CONFIG GET zset-max-listpack-entries"), -1);
    assert_int_equal(slot_of("CLUSTER SLOTS"), -1);
    assert_int_equal(slot_of("EVAL return 0"), -1);
    assert_int_equal(slot_of("EVAL return 0 x"), -1);       /* numkeys not a number */
    assert_int_equal(slot_of("XREADGROUP GROUP g c COUNT 1"), -1);   /* no STREAMS */
    assert_int_equal(slot_of("WAIT 1 100"), -1);
    assert_int_equal(rds_slots_of_command(0, NULL, NULL), -1);
}

/* A reply as hiredis would build it from RESP bytes. */
static redisReply *reply_from(const char *resp)
{
    redisReader *r = redisReaderCreate();
    assert_int_equal(redisReaderFeed(r, resp, strlen(resp)), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(r);
    return reply;
}

static void parses_cluster_slots_masters_only(void **state)
{
    (void)state;
    /* Two ranges; the second's master has an empty host (the node we asked)
     * and a replica, which is ignored. */
    redisReply *reply = reply_from(
        "*2\r\n"
        "*3\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n"
        "*4\r\n:5461\r\n:16383\r\n*2\r\n$0\r\n\r\n:7002\r\n"
        "*2\r\n$9\r\n127.0.0.1\r\n:7005\r\n");
    rds_slot_range_t out[4];
    char err[128];
    int n = rds_slots_parse(reply, "10.0.0.9", out, 4, err, sizeof err);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].start, 0);
    assert_int_equal(out[0].end, 5460);
    assert_string_equal(out[0].host, "127.0.0.1");
    assert_int_equal(out[0].port, 7001);
    assert_int_equal(out[1].start, 5461);
    assert_int_equal(out[1].end, 16383);
    assert_string_equal(out[1].host, "10.0.0.9");
    assert_int_equal(out[1].port, 7002);
    /* Too small an output array is an error, not a silent cut. */
    assert_int_equal(rds_slots_parse(reply, "h", out, 1, err, sizeof err), -1);
    freeReplyObject(reply);
}

static void rejects_cluster_slots_of_another_shape(void **state)
{
    (void)state;
    rds_slot_range_t out[4];
    char err[128];
    const char *bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        "*1\r\n*2\r\n:0\r\n:10\r\n",                                   /* no master */
        "*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n",          /* end < start */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",       /* slot out of range */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n",            /* port 0 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        redisReply *reply = reply_from(bad[i]);
        err[0] = '\0';
        assert_int_equal(rds_slots_parse(reply, "h", out, 4, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        freeReplyObject(reply);
    }
    assert_int_equal(rds_slots_parse(NULL, "h", out, 4, err, sizeof err), -1);
}

static void parses_moved_and_ask(void **state)
{
    (void)state;
    rds_redirect_t r;
    const char *m = "MOVED 3999 127.0.0.1:6381";
    assert_int_equal(rds_redirect_parse(m, strlen(m), &r), RDS_REDIRECT_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);
    const char *a = "ASK 16383 [::1]:7000";
    assert_int_equal(rds_redirect_parse(a, strlen(a), &r), RDS_REDIRECT_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 7000);
    const char *v6 = "ASK 1 ::1:7000";     /* unbracketed: the port follows the last ':' */
    assert_int_equal(rds_redirect_parse(v6, strlen(v6), &r), RDS_REDIRECT_ASK);
    assert_string_equal(r.host, "::1");
    const char *nohost = "MOVED 5 :7001";   /* the node does not know its address */
    assert_int_equal(rds_redirect_parse(nohost, strlen(nohost), &r), RDS_REDIRECT_MOVED);
    assert_string_equal(r.host, "");
    assert_int_equal(r.port, 7001);
}

static void other_errors_are_not_redirects(void **state)
{
    (void)state;
    rds_redirect_t r;
    const char *bad[] = {
        "ERR wrong number of arguments", "MOVED", "MOVED x 1.2.3.4:1", "MOVED 16384 h:1",
        "MOVED 1 h", "MOVED 1 h:0", "MOVED 1 h:70000", "ASK 1 h:1x", "MOVED -1 h:1",
        "CROSSSLOT Keys in request don't hash to the same slot",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rds_redirect_parse(bad[i], strlen(bad[i]), &r), RDS_REDIRECT_NONE);
}

static void tryagain_and_clusterdown_are_retried(void **state)
{
    (void)state;
    const char *yes[] = { "TRYAGAIN Multiple keys request during rehashing of slot",
                          "CLUSTERDOWN The cluster is down" };
    const char *no[] = { "CROSSSLOT Keys in request don't hash to the same slot", "ERR x",
                         "MOVED 1 h:1" };
    for (size_t i = 0; i < 2; i++)
        assert_true(rds_slots_retryable_error(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < 3; i++)
        assert_false(rds_slots_retryable_error(no[i], strlen(no[i])));
}

static void server_state_errors_are_transient(void **state)
{
    (void)state;
    const char *yes[] = { "LOADING Redis is loading the dataset in memory",
                          "BUSY Redis is busy running a script.",
                          "OOM command not allowed when used memory > 'maxmemory'.",
                          "READONLY You can't write against a read only replica.",
                          "NOREPLICAS Not enough good replicas to write.",
                          "CLUSTERDOWN The cluster is down", "TRYAGAIN x", "NOAUTH x",
                          "MOVED 1 h:1", "BUSY" };
    const char *no[] = { "WRONGTYPE Operation against a key holding the wrong kind of value",
                         "ERR user_script:12: Script attempted to access nonexistent global",
                         "BUSYGROUP Consumer Group name already exists", "CROSSSLOT x", "",
                         "OOMX" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(rds_error_is_transient(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(rds_error_is_transient(no[i], strlen(no[i])));
}

static void reads_a_field_of_info(void **state)
{
    (void)state;
    const char *info = "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                       "master_replid:5c2ab1e4f0d3a9b8c7d6e5f4a3b2c1d0e9f8a7b6\r\n"
                       "master_replid2:0000000000000000000000000000000000000000\r\n";
    char out[17];
    assert_int_equal(rds_info_field(info, strlen(info), "master_replid", out, sizeof out), 0);
    assert_string_equal(out, "5c2ab1e4f0d3a9b8");          /* cut to the buffer */
    assert_int_equal(rds_info_field(info, strlen(info), "role", out, sizeof out), 0);
    assert_string_equal(out, "master");
    /* A prefix of another field's name is not that field. */
    assert_int_equal(rds_info_field(info, strlen(info), "master", out, sizeof out), -1);
    assert_int_equal(rds_info_field(info, strlen(info), "nope", out, sizeof out), -1);
    const char *empty = "master_replid:\r\n";
    assert_int_equal(rds_info_field(empty, strlen(empty), "master_replid", out, sizeof out), -1);
    /* The last line needs no line end. */
    const char *last = "a:1\nmaster_replid:abc";
    assert_int_equal(rds_info_field(last, strlen(last), "master_replid", out, sizeof out), 0);
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_by_the_first_key_of_each_command_shape),
        cmocka_unit_test(keyless_commands_have_no_slot),
        cmocka_unit_test(parses_cluster_slots_masters_only),
        cmocka_unit_test(rejects_cluster_slots_of_another_shape),
        cmocka_unit_test(parses_moved_and_ask),
        cmocka_unit_test(other_errors_are_not_redirects),
        cmocka_unit_test(tryagain_and_clusterdown_are_retried),
        cmocka_unit_test(server_state_errors_are_transient),
        cmocka_unit_test(reads_a_field_of_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

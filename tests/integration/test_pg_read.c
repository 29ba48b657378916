/* pg_read: a read replica for pages past the cache and post cache misses.
 *
 * The "replica" is a second database on the test server holding the same
 * graph with different bodies, and without the newest post (as if it had
 * not replicated yet), so each answer shows where it came from. Pages of
 * one post, feed_max 3:
 *   P4, P3   the feed is rebuilt from the primary (the three newest posts);
 *            their bodies are cache misses, looked up on the replica: P3
 *            comes from there, P4 is not there and comes from the primary
 *            ("not found on the replica is looked up on the primary before
 *            it is skipped");
 *   P1       a page wholly below the cached window: the replica;
 * (P2, the oldest cached entry, may come either way.) With pg_read pointing
 * at a dead port, everything comes from the primary. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "harness.h"
#include "small_graph.h"

static char primary_db[64], replica_db[64];
static char primary_conninfo[512], replica_conninfo[512];

static int group_setup(void **state)
{
    (void)state;
    if (!getenv("FEEDCACHE_TEST_PG")) {
        fprintf(stderr, "FEEDCACHE_TEST_PG not set\n");
        return -1;
    }
    PGconn *admin = small_graph_connect(getenv("FEEDCACHE_TEST_PG"));
    snprintf(primary_db, sizeof primary_db, "fc_pgread_primary_%d", (int)getpid());
    snprintf(replica_db, sizeof replica_db, "fc_pgread_replica_%d", (int)getpid());
    small_graph_create(admin, primary_db, primary_conninfo, sizeof primary_conninfo, "primary",
                       true);
    small_graph_create(admin, replica_db, replica_conninfo, sizeof replica_conninfo, "replica",
                       false);
    PQfinish(admin);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PGconn *admin = small_graph_connect(getenv("FEEDCACHE_TEST_PG"));
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", primary_db);
    small_graph_exec(admin, sql);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", replica_db);
    small_graph_exec(admin, sql);
    PQfinish(admin);
    return 0;
}

/* timeline.get of user 1, one post; "" cursor: the first page. Writes the
 * bodies in order, comma-separated, into out and the next cursor. */
static void page(fc_client_t *c, const char *cursor, char *out, size_t cap, char *next,
                 size_t next_cap)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", 1);
    fc_params_int(&p, "limit", 1);
    if (cursor[0])
        fc_params_str(&p, "cursor", cursor);
    fc_response_t r;
    assert_int_equal(fc_client_call(c, "timeline.get", &p, &r), FC_OK);
    fc_params_free(&p);
    if (!r.ok)
        fail_msg("timeline.get: %s %s", r.code, r.message);
    const msgpack_object *posts = fc_obj_get(&r.result, "posts");
    assert_non_null(posts);
    assert_int_equal(posts->type, MSGPACK_OBJECT_ARRAY);
    out[0] = '\0';
    for (uint32_t i = 0; i < posts->via.array.size; i++) {
        const char *body;
        size_t len;
        assert_int_equal(fc_obj_str(fc_obj_get(&posts->via.array.ptr[i], "body"), &body, &len), 0);
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%.*s", i ? "," : "", (int)len, body);
    }
    next[0] = '\0';
    const char *cur;
    size_t cur_len;
    if (fc_obj_str(fc_obj_get(&r.result, "next_cursor"), &cur, &cur_len) == 0)
        snprintf(next, next_cap, "%.*s", (int)cur_len, cur);
    fc_response_free(&r);
}

/* Every page, one post each, to the end: the bodies, comma-separated. */
static void read_all(fc_client_t *c, char *out, size_t cap)
{
    char cursor[256] = "", next[256], body[256];
    out[0] = '\0';
    for (int i = 0; i < 10; i++) {
        page(c, cursor, body, sizeof body, next, sizeof next);
        size_t used = strlen(out);
        if (body[0])
            snprintf(out + used, cap - used, "%s%s", used ? "," : "", body);
        if (!next[0])
            return;
        snprintf(cursor, sizeof cursor, "%s", next);
    }
    fail_msg("more than 10 pages: %s", out);
}

static harness_daemon_t *start(const char *pg_read, const char *prefix, fc_client_t **c)
{
    const char *extra[] = { "--pg", primary_conninfo, "--pg-read", pg_read, "--feed-max", "3",
                            "--key-prefix", prefix, NULL };
    char err[512];
    harness_daemon_t *d = harness_daemon_start(extra, err, sizeof err);
    if (!d)
        fail_msg("feedcached did not start: %s", err);
    *c = harness_connect(d, 10000, err, sizeof err);
    if (!*c)
        fail_msg("connect: %s", err);
    return d;
}

static void replica_serves_what_may_lag(void **state)
{
    (void)state;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "pgr%d.a:", (int)getpid());
    fc_client_t *c;
    harness_daemon_t *d = start(replica_conninfo, prefix, &c);
    /* Wait for the replica pool to connect: until then the primary serves. */
    for (int i = 0; i < 100; i++) {
        char *log = harness_daemon_log(d);
        bool up = strstr(log, "pg-read: conn") != NULL;
        free(log);
        if (up)
            break;
        usleep(50 * 1000);
    }
    char all[1024];
    read_all(c, all, sizeof all);
    if (strncmp(all, "p4-primary,p3-replica,", 22) != 0 || !strstr(all, ",p1-replica") ||
        (strcmp(all + 22, "p2-primary,p1-replica") != 0 &&
         strcmp(all + 22, "p2-replica,p1-replica") != 0))
        fail_msg("bodies in order: %s", all);
    fc_client_close(c);
    assert_int_equal(harness_daemon_finish(d, true), 0);
}

static void dead_replica_falls_back_to_the_primary(void **state)
{
    (void)state;
    char prefix[64], dead[600];
    snprintf(prefix, sizeof prefix, "pgr%d.b:", (int)getpid());
    snprintf(dead, sizeof dead, "host=127.0.0.1 port=%d dbname=%s connect_timeout=1",
             harness_free_port(), replica_db);
    fc_client_t *c;
    harness_daemon_t *d = start(dead, prefix, &c);
    char all[1024];
    read_all(c, all, sizeof all);
    assert_string_equal(all, "p4-primary,p3-primary,p2-primary,p1-primary");
    fc_client_close(c);
    assert_int_equal(harness_daemon_finish(d, true), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replica_serves_what_may_lag),
        cmocka_unit_test(dead_replica_falls_back_to_the_primary),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* Fault test: ready, but not serving (issue 10, item 1).
 *
 *   startup_slow_postgres   PostgreSQL is paused (SIGSTOP: it accepts TCP
 *        connections in the kernel but answers nothing) while feedcached
 *        starts, so the pool's first connection attempts are still under
 *        way when ping answers. A cold timeline.get (the feed must be
 *        rebuilt from PostgreSQL) sent right then, and PostgreSQL resumed
 *        300 ms later: the read must succeed, not get UNAVAILABLE
 *        (fail-fast is only for a backend known to be down). Redis is up,
 *        and a request to it sent before its first connection is up waits
 *        too (tests/integration/test_rds.c, first_connect_waits).
 *
 * Own Redis + PostgreSQL (faults.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

#define USER 2
#define BASE_MS INT64_C(1700000000000)

static void startup_slow_postgres(void **state)
{
    faults_t *f = *state;
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM generate_series(1, 3) g");
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) VALUES (%d, 1)", USER);
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 100 + g, 1, "
                  "'epoch'::timestamptz + (%" PRId64 " + g) * interval '1 millisecond', 'p' "
                  "FROM generate_series(1, 5) g", BASE_MS);

    faults_pg_pause(&f->s);
    char err[8192];
    fc_client_t *c = NULL;
    /* The pool's connect timeout is pg_timeout_ms: longer than the pause. */
    const char *const flags[] = { "--pg-timeout-ms", "5000", NULL };
    harness_daemon_t *d = faults_daemon_start(flags, &c, err, sizeof err);
    if (!d) {
        faults_pg_resume(&f->s);
        fail_msg("cannot start feedcached: %s", err);
    }
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", USER);
    uint32_t msgid;
    int rc = fc_client_send(c, "timeline.get", &p, &msgid);
    fc_params_free(&p);
    assert_int_equal(rc, FC_OK);
    assert_int_equal(fc_client_flush(c), FC_OK);
    faults_sleep_ms(300);
    long long resumed = faults_now_ms();
    faults_pg_resume(&f->s);
    fc_response_t r;
    assert_int_equal(fc_client_recv(c, &r), FC_OK);
    long long took = faults_now_ms() - resumed;
    bool ok = r.ok;
    char code[32], message[256];
    snprintf(code, sizeof code, "%s", r.code);
    snprintf(message, sizeof message, "%s", r.message);
    const msgpack_object *posts = fc_obj_get(&r.result, "posts");
    size_t nposts = posts && posts->type == MSGPACK_OBJECT_ARRAY ? posts->via.array.size : 0;
    fc_response_free(&r);
    printf("timeline.get sent while PostgreSQL's first connections were pending: %s (%zu posts), "
           "answered %lld ms after PostgreSQL resumed\n", ok ? "ok" : code, nposts, took);
    fc_client_close(c);
    f->d = d;                         /* the teardown stops it */
    if (!ok) {
        harness_daemon_dump_log(d, "start-up");
        fail_msg("a request during PostgreSQL's first connection attempts got %s: %s", code,
                 message);
    }
    assert_int_equal(nposts, 5);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(startup_slow_postgres, faults_setup, faults_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}

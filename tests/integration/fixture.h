/* The fixture of the integration tests that check the feed engine against
 * PostgreSQL (test_oracle.c, test_concurrency.c, test_warm.c).
 *
 * Per test program (cmocka group): a private PostgreSQL database and Redis
 * db (odb_env_setup). Per test: emptied tables, an emptied Redis db, a
 * PostgreSQL connection and a Redis connection to them, and, unless the
 * test starts its own, a fresh feedcached with its own key prefix and a
 * client connected to it. The teardown stops the daemon and fails when it
 * did not end cleanly (harness_daemon_finish), printing its log when the
 * test body did not reach its end.
 *
 * A test program fills a fixture_conf_t, calls fixture_group_setup() from its
 * group setup and passes the fixture_* functions to cmocka:
 *
 *   static int group_setup(void **state) { return fixture_group_setup(&conf); }
 *   cmocka_unit_test_setup_teardown(my_test, fixture_setup, fixture_teardown)
 *   cmocka_run_group_tests(tests, group_setup, fixture_group_teardown)
 *
 * Failures are printed to stderr as "<program>: <reason>". */
#ifndef FC_TESTS_FIXTURE_H
#define FC_TESTS_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "feedcache/client.h"
#include "harness.h"
#include "oracle_db.h"

/* The RPC timeout of the fixture's clients (connect and calls). */
#define FIXTURE_TIMEOUT_MS 10000

typedef struct {
    const char *program;            /* "test_oracle": starts every message */
    const char *db_tag;             /* the database is <db_tag>_<pid> */
    int redis_db;                   /* a Redis db of its own (db 0 on a cluster) */
    const char *key_prefix;         /* daemons get --key-prefix <key_prefix><pid>.<n>: */
    const char *const *daemon_args; /* flags for every daemon, NULL-terminated; may be NULL */
} fixture_conf_t;

typedef struct {
    harness_daemon_t *d;      /* NULL until fixture_start */
    fc_client_t *c;           /* connected to d */
    PGconn *pg;               /* the test's database */
    rdirect_t *r;             /* the test's Redis db, or the cluster */
    char prefix[64];          /* d's key prefix (fixture_next_prefix) */
    bool finished;            /* set by the test as its last step */
} fixture_t;

/* FEEDCACHE_ORACLE_SEED when set, else fallback. */
uint64_t fixture_seed(uint64_t fallback);

/* Group setup: keeps conf (which must outlive the group) and creates the
 * database and Redis db. 0, or -1 after printing why. */
int fixture_group_setup(const fixture_conf_t *conf);
/* Group teardown (cmocka-shaped): drops them. */
int fixture_group_teardown(void **state);

/* The group's database and Redis db (after fixture_group_setup). */
const odb_env_t *fixture_env(void);

/* A fixture_t in *state with emptied tables and Redis db, and connections
 * to both; no daemon. */
int fixture_setup_data(void **state);
/* fixture_setup_data, then fixture_start(f, NULL). */
int fixture_setup(void **state);
/* Closes and frees what the fixture holds; -1 when its daemon did not end
 * cleanly. */
int fixture_teardown(void **state);

/* A new key prefix, unused by any daemon of this process, in f->prefix. */
void fixture_next_prefix(fixture_t *f);

/* feedcached with the conf's daemon_args, --key-prefix prefix and extra
 * (NULL-terminated, may be NULL), and a client connected to it in *c (with
 * FIXTURE_TIMEOUT_MS). NULL after printing why (and the daemon's log when
 * it started but does not answer). Stop it with harness_daemon_finish. */
harness_daemon_t *fixture_daemon_start(const char *prefix, const char *const *extra,
                                       fc_client_t **c);

/* The test's daemon: fixture_next_prefix, then fixture_daemon_start into
 * f->d and f->c. 0 or -1. */
int fixture_start(fixture_t *f, const char *const *extra);

#endif

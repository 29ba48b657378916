/* The fixture of the feed-engine integration tests (see fixture.h). */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_DAEMON_ARGS 32

static const fixture_conf_t *conf;
static odb_env_t env;
static int daemons_started;

uint64_t fixture_seed(uint64_t fallback)
{
    const char *s = getenv("FEEDCACHE_ORACLE_SEED");
    return s && *s ? strtoull(s, NULL, 10) : fallback;
}

int fixture_group_setup(const fixture_conf_t *c)
{
    char err[4096];
    conf = c;
    if (odb_env_setup(&env, conf->db_tag, conf->redis_db, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", conf->program, err);
        return -1;
    }
    return 0;
}

int fixture_group_teardown(void **state)
{
    odb_env_teardown(&env);
    return 0;
}

const odb_env_t *fixture_env(void)
{
    return &env;
}

int fixture_setup_data(void **state)
{
    char err[4096];
    fixture_t *f = calloc(1, sizeof *f);
    *state = f;
    if (!f)
        return -1;
    f->pg = odb_pg_connect(&env, err, sizeof err);
    if (!f->pg || odb_pg_truncate(f->pg, err, sizeof err) != 0 ||
        odb_redis_flushdb(&env, err, sizeof err) != 0 ||
        !(f->r = odb_redis_connect(&env, err, sizeof err))) {
        fprintf(stderr, "%s: %s\n", conf->program, err);
        return -1;
    }
    return 0;
}

int fixture_setup(void **state)
{
    if (fixture_setup_data(state) != 0)
        return -1;
    return fixture_start(*state, NULL);
}

int fixture_teardown(void **state)
{
    fixture_t *f = *state;
    int rc = 0;
    if (!f)
        return 0;
    if (f->c)
        fc_client_close(f->c);
    if (f->d)
        rc = harness_daemon_finish(f->d, f->finished);
    if (f->r)
        rdirect_close(f->r);
    if (f->pg)
        PQfinish(f->pg);
    free(f);
    return rc;
}

void fixture_next_prefix(fixture_t *f)
{
    snprintf(f->prefix, sizeof f->prefix, "%s%d.%d:", conf->key_prefix, (int)getpid(),
             ++daemons_started);
}

/* Appends the NULL-terminated list to argv (MAX_DAEMON_ARGS slots and a
 * NULL); false when it does not fit. */
static bool push_args(const char **argv, size_t *n, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++) {
        if (*n == MAX_DAEMON_ARGS)
            return false;
        argv[(*n)++] = list[i];
    }
    argv[*n] = NULL;
    return true;
}

harness_daemon_t *fixture_daemon_start(const char *prefix, const char *const *extra,
                                       fc_client_t **c)
{
    char err[4096];
    const char *argv[MAX_DAEMON_ARGS + 1];
    const char *const key_prefix[] = { "--key-prefix", prefix, NULL };
    size_t n = 0;
    if (!push_args(argv, &n, conf->daemon_args) || !push_args(argv, &n, key_prefix) ||
        !push_args(argv, &n, extra)) {
        fprintf(stderr, "%s: more than %d feedcached flags\n", conf->program, MAX_DAEMON_ARGS);
        return NULL;
    }
    harness_daemon_t *d = harness_daemon_start(argv, err, sizeof err);
    if (!d) {
        fprintf(stderr, "%s: cannot start feedcached: %s\n", conf->program, err);
        return NULL;
    }
    *c = harness_connect(d, FIXTURE_TIMEOUT_MS, err, sizeof err);
    if (!*c) {
        fprintf(stderr, "%s: %s\n", conf->program, err);
        harness_daemon_dump_log(d, "connect failed");
        harness_daemon_free(d);
        return NULL;
    }
    fc_client_set_timeout(*c, FIXTURE_TIMEOUT_MS);
    return d;
}

int fixture_start(fixture_t *f, const char *const *extra)
{
    fixture_next_prefix(f);
    f->d = fixture_daemon_start(f->prefix, extra, &f->c);
    return f->d ? 0 : -1;
}

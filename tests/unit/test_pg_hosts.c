/* Unit tests for the PostgreSQL host rewriting (src/store/pg/pg_hosts.c):
 * which host= entries need a lookup, and the host=/hostaddr=/port= lists
 * handed to libpq once the lookups are done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "store/pg/pg_hosts.h"

static void parse_ok(pg_hosts_t *h, const char *conninfo, const char *env_host)
{
    char err[256] = "";
    int rc = pg_hosts_parse(h, conninfo, env_host, NULL, NULL, err, sizeof err);
    if (rc != 0)
        print_error("'%s': %s\n", conninfo, err);
    assert_int_equal(rc, 0);
}

/* A lookup result with the given addresses (none: did not resolve). */
static resolve_result_t found(const char *a, const char *b)
{
    resolve_result_t r;
    memset(&r, 0, sizeof r);
    if (a)
        snprintf(r.addrs[r.naddrs++], RESOLVE_ADDR_LEN, "%s", a);
    if (b)
        snprintf(r.addrs[r.naddrs++], RESOLVE_ADDR_LEN, "%s", b);
    r.ok = r.naddrs > 0;
    if (!r.ok)
        snprintf(r.why, sizeof r.why, "cannot resolve");
    return r;
}

/* The value params gives key, or NULL when it has none. */
static const char *param(const pg_hosts_params_t *p, const char *key)
{
    for (size_t i = 0; p->keys[i]; i++)
        if (strcmp(p->keys[i], key) == 0)
            return p->vals[i];
    return NULL;
}

static void nothing_to_resolve(void **state)
{
    (void)state;
    const char *cases[] = {
        "host=127.0.0.1 port=5432 dbname=feedcache",
        "host=::1 dbname=x",
        "host=/var/run/postgresql dbname=x",
        "host=@abstract dbname=x",
        "dbname=feedcache",
        "feedcache",
        "",
        "host=db.example hostaddr=10.0.0.5 dbname=x",      /* the user's hostaddr is kept */
        "postgresql://127.0.0.1:5432/feedcache",
        "host=a,b port=1,2,3",                              /* libpq refuses it itself */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pg_hosts_t h;
        parse_ok(&h, cases[i], NULL);
        if (h.nlookups != 0)
            print_error("'%s' wants %zu lookups\n", cases[i], h.nlookups);
        assert_int_equal(h.nlookups, 0);
        pg_hosts_free(&h);
    }
}

static void one_name(void **state)
{
    (void)state;
    pg_hosts_t h;
    parse_ok(&h, "host=fc-pg.test port=5433 user=feedcache password='a b' dbname=feedcache "
                 "sslmode=disable", NULL);
    assert_int_equal(h.nhosts, 1);
    assert_int_equal(h.nlookups, 1);
    assert_true(h.hosts[0].lookup);
    resolve_result_t res[1] = { found("10.1.2.3", NULL) };
    pg_hosts_params_t p;
    assert_int_equal(pg_hosts_params(&h, res, "feedcached", &p), 0);
    assert_string_equal(param(&p, "host"), "fc-pg.test");        /* kept for TLS, .pgpass */
    assert_string_equal(param(&p, "hostaddr"), "10.1.2.3");
    assert_string_equal(param(&p, "port"), "5433");
    assert_string_equal(param(&p, "user"), "feedcache");
    assert_string_equal(param(&p, "password"), "a b");
    assert_string_equal(param(&p, "dbname"), "feedcache");
    assert_string_equal(param(&p, "sslmode"), "disable");
    assert_string_equal(param(&p, "fallback_application_name"), "feedcached");
    pg_hosts_params_free(&p);
    pg_hosts_free(&h);
}

/* Every address of a name is tried: host=a,a hostaddr=IP1,IP2 (IPv6 too). */
static void several_addresses(void **state)
{
    (void)state;
    pg_hosts_t h;
    parse_ok(&h, "postgresql://u@db.internal:6000/app?application_name=me", NULL);
    assert_int_equal(h.nlookups, 1);
    resolve_result_t res[1] = { found("::1", "127.0.0.1") };
    pg_hosts_params_t p;
    assert_int_equal(pg_hosts_params(&h, res, "feedcached", &p), 0);
    assert_string_equal(param(&p, "host"), "db.internal,db.internal");
    assert_string_equal(param(&p, "hostaddr"), "::1,127.0.0.1");
    assert_string_equal(param(&p, "port"), "6000");              /* one port: for all */
    assert_string_equal(param(&p, "user"), "u");
    assert_string_equal(param(&p, "dbname"), "app");
    assert_string_equal(param(&p, "application_name"), "me");
    pg_hosts_params_free(&p);
    pg_hosts_free(&h);
}

/* Multi-host with target_session_attrs: names, numbers and sockets mixed;
 * a port list stays parallel; a name that did not resolve is left out. */
static void multi_host(void **state)
{
    (void)state;
    pg_hosts_t h;
    parse_ok(&h, "host=primary.db,10.0.0.9,/tmp,replica.db port=5432,5433,5434,5435 "
                 "target_session_attrs=read-write dbname=x", NULL);
    assert_int_equal(h.nhosts, 4);
    assert_int_equal(h.nlookups, 2);
    assert_true(h.hosts[0].lookup);
    assert_false(h.hosts[1].lookup);
    assert_false(h.hosts[2].lookup);
    assert_true(h.hosts[3].lookup);
    resolve_result_t res[4] = { found("10.0.0.1", "10.0.0.2"), found(NULL, NULL),
                                found(NULL, NULL), found("10.0.0.4", NULL) };
    pg_hosts_params_t p;
    assert_int_equal(pg_hosts_params(&h, res, NULL, &p), 0);
    assert_string_equal(param(&p, "host"), "primary.db,primary.db,10.0.0.9,/tmp,replica.db");
    assert_string_equal(param(&p, "hostaddr"), "10.0.0.1,10.0.0.2,,,10.0.0.4");
    assert_string_equal(param(&p, "port"), "5432,5432,5433,5434,5435");
    assert_string_equal(param(&p, "target_session_attrs"), "read-write");
    assert_null(param(&p, "fallback_application_name"));
    pg_hosts_params_free(&p);

    res[0] = found(NULL, NULL);                                  /* primary.db is gone */
    assert_int_equal(pg_hosts_params(&h, res, NULL, &p), 0);
    assert_string_equal(param(&p, "host"), "10.0.0.9,/tmp,replica.db");
    assert_string_equal(param(&p, "hostaddr"), ",,10.0.0.4");
    assert_string_equal(param(&p, "port"), "5433,5434,5435");
    pg_hosts_params_free(&p);
    pg_hosts_free(&h);
}

/* Only names, none resolved: nothing to connect to. */
static void nothing_resolved(void **state)
{
    (void)state;
    pg_hosts_t h;
    parse_ok(&h, "host=a.test,b.test dbname=x", NULL);
    assert_int_equal(h.nlookups, 2);
    resolve_result_t res[2] = { found(NULL, NULL), found(NULL, NULL) };
    pg_hosts_params_t p;
    assert_int_equal(pg_hosts_params(&h, res, NULL, &p), -1);
    pg_hosts_free(&h);
}

/* Without host= in the conninfo, PGHOST/PGPORT count, as in libpq;
 * PGHOSTADDR means the user chose the address. */
static void environment(void **state)
{
    (void)state;
    pg_hosts_t h;
    char err[128];
    assert_int_equal(pg_hosts_parse(&h, "feedcache", "pg.svc", NULL, "6432", err, sizeof err), 0);
    assert_int_equal(h.nlookups, 1);
    resolve_result_t res[1] = { found("192.0.2.7", NULL) };
    pg_hosts_params_t p;
    assert_int_equal(pg_hosts_params(&h, res, "feedcached", &p), 0);
    assert_string_equal(param(&p, "dbname"), "feedcache");
    assert_string_equal(param(&p, "host"), "pg.svc");
    assert_string_equal(param(&p, "hostaddr"), "192.0.2.7");
    assert_string_equal(param(&p, "port"), "6432");
    pg_hosts_params_free(&p);
    pg_hosts_free(&h);

    assert_int_equal(pg_hosts_parse(&h, "dbname=x", "pg.svc", "192.0.2.8", NULL, err,
                                    sizeof err), 0);
    assert_int_equal(h.nlookups, 0);
    pg_hosts_free(&h);

    /* The conninfo's host wins over PGHOST. */
    assert_int_equal(pg_hosts_parse(&h, "host=127.0.0.1", "pg.svc", NULL, NULL, err,
                                    sizeof err), 0);
    assert_int_equal(h.nlookups, 0);
    pg_hosts_free(&h);

    /* A bare database name with a quote survives the round trip. */
    assert_int_equal(pg_hosts_parse(&h, "it's", "pg.svc", NULL, NULL, err, sizeof err), 0);
    res[0] = found("192.0.2.9", NULL);
    assert_int_equal(pg_hosts_params(&h, res, NULL, &p), 0);
    assert_string_equal(param(&p, "dbname"), "it's");
    assert_null(param(&p, "port"));
    pg_hosts_params_free(&p);
    pg_hosts_free(&h);
}

static void bad_conninfo(void **state)
{
    (void)state;
    pg_hosts_t h;
    char err[256] = "";
    assert_int_equal(pg_hosts_parse(&h, "host=a nosuchkey=1", NULL, NULL, NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "nosuchkey"));
    pg_hosts_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_to_resolve),
        cmocka_unit_test(one_name),
        cmocka_unit_test(several_addresses),
        cmocka_unit_test(multi_host),
        cmocka_unit_test(nothing_resolved),
        cmocka_unit_test(environment),
        cmocka_unit_test(bad_conninfo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

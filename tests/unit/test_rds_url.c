/* Unit tests for Redis URL parsing (rds_url_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "store/redis/rds_url.h"

static rds_url_t parse_ok(const char *s)
{
    rds_url_t u;
    char err[256] = "";
    int rc = rds_url_parse(s, &u, err, sizeof err);
    if (rc != 0)
        print_error("unexpected failure for '%s': %s\n", s, err);
    assert_int_equal(rc, 0);
    return u;
}

/* Fails, and the error text contains `want`. */
static void parse_bad(const char *s, const char *want)
{
    rds_url_t u;
    char err[256] = "";
    int rc = rds_url_parse(s, &u, err, sizeof err);
    if (rc == 0)
        print_error("'%s' was accepted\n", s ? s : "(null)");
    assert_int_equal(rc, -1);
    if (!strstr(err, want))
        print_error("'%s': error '%s' lacks '%s'\n", s ? s : "(null)", err, want);
    assert_non_null(strstr(err, want));
}

static void full_form(void **state)
{
    (void)state;
    rds_url_t u = parse_ok("redis://:s3cret@127.0.0.1:6380/3");
    assert_int_equal(u.is_unix, 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.password, "s3cret");
    assert_int_equal(u.db, 3);
}

static void defaults(void **state)
{
    (void)state;
    rds_url_t u = parse_ok("redis://127.0.0.1");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");

    u = parse_ok("redis://127.0.0.1:6379/0");   /* the documented default setting */
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);

    u = parse_ok("redis://localhost/");         /* a lone slash: db 0 */
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.db, 0);

    u = parse_ok("redis://10.0.0.7/12");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 12);
}

static void user_and_password(void **state)
{
    (void)state;
    rds_url_t u = parse_ok("redis://app:pw@127.0.0.1:7000");
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.port, 7000);
    u = parse_ok("redis://:pw@127.0.0.1");
    assert_string_equal(u.user, "");
    u = parse_ok("redis://a%40pp:pw@127.0.0.1");
    assert_string_equal(u.user, "a@pp");
    u = parse_ok("unix:///tmp/r.sock?user=app&password=pw");
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "pw");

    /* The last '@' ends the user info: '@' and '/' may be in a password. */
    u = parse_ok("redis://:p@ss/w0rd@127.0.0.1/2");
    assert_string_equal(u.password, "p@ss/w0rd");
    assert_int_equal(u.db, 2);

    u = parse_ok("redis://:a%20b%3a%40@127.0.0.1");
    assert_string_equal(u.password, "a b:@");

    /* 255 bytes fit. */
    char url[400], pw[256];
    memset(pw, 'x', 255);
    pw[255] = '\0';
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1", pw);
    u = parse_ok(url);
    assert_string_equal(u.password, pw);
}

static void ipv6(void **state)
{
    (void)state;
    rds_url_t u = parse_ok("redis://[::1]:6390/1");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 1);
    u = parse_ok("redis://[fe80::1]");
    assert_int_equal(u.port, 6379);
}

static void unix_socket(void **state)
{
    (void)state;
    rds_url_t u = parse_ok("unix:///run/redis/redis.sock");
    assert_int_equal(u.is_unix, 1);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(u.db, 0);

    u = parse_ok("unix:///tmp/r.sock?db=5");
    assert_string_equal(u.path, "/tmp/r.sock");
    assert_int_equal(u.db, 5);

    u = parse_ok("unix:///tmp/r.sock?db=2&password=x%26y");
    assert_int_equal(u.db, 2);
    assert_string_equal(u.password, "x&y");
}

static void bad_scheme(void **state)
{
    (void)state;
    parse_bad("http://127.0.0.1:6379", "expected redis://");
    parse_bad("127.0.0.1:6379", "expected redis://");
    parse_bad("redis:/127.0.0.1", "expected redis://");
    parse_bad("REDIS://127.0.0.1", "expected redis://");
    parse_bad("", "expected redis://");
    parse_bad(NULL, "no Redis URL");
    parse_bad("rediss://127.0.0.1", "TLS");
}

static void bad_port(void **state)
{
    (void)state;
    parse_bad("redis://127.0.0.1:", "bad port");
    parse_bad("redis://127.0.0.1:0", "bad port");
    parse_bad("redis://127.0.0.1:65536", "bad port");
    parse_bad("redis://127.0.0.1:99999999999", "bad port");
    parse_bad("redis://127.0.0.1:-1", "bad port");
    parse_bad("redis://127.0.0.1:+80", "bad port");
    parse_bad("redis://127.0.0.1:63a9", "bad port");
    parse_bad("redis://127.0.0.1:6379:1", "bad port");
    parse_bad("redis://[::1]6379", "unexpected");
}

static void bad_db(void **state)
{
    (void)state;
    parse_bad("redis://127.0.0.1:6379/x", "bad database");
    parse_bad("redis://127.0.0.1:6379/-1", "bad database");
    parse_bad("redis://127.0.0.1:6379/1/2", "bad database");
    parse_bad("redis://127.0.0.1:6379/99999999999", "bad database");
    parse_bad("redis://127.0.0.1:6379/3?x=1", "bad database");
    parse_bad("unix:///tmp/r.sock?db=", "unknown parameter");
    parse_bad("unix:///tmp/r.sock?db=abc", "bad database");
    parse_bad("unix:///tmp/r.sock?db=1x", "bad database");
    parse_bad("unix:///tmp/r.sock?timeout=3", "unknown parameter");
}

/* Names are resolved by the pool without blocking (util/resolve.h). */
static void host_names(void **state)
{
    (void)state;
    rds_url_t u = parse_ok("redis://redis:6379/0");
    assert_string_equal(u.host, "redis");
    assert_int_equal(u.port, 6379);
    u = parse_ok("redis://:pw@fc-redis.test:7000/2");
    assert_string_equal(u.host, "fc-redis.test");
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.db, 2);
    u = parse_ok("redis://feedcache_redis_1");          /* a Compose v1 container name */
    assert_string_equal(u.host, "feedcache_redis_1");
    u = parse_ok("redis://my-cache.abc123.use1.cache.amazonaws.com:6379");
    assert_string_equal(u.host, "my-cache.abc123.use1.cache.amazonaws.com");
    u = parse_ok("redis://1redis.example");
    assert_string_equal(u.host, "1redis.example");
    u = parse_ok("redis://localhost");
    assert_string_equal(u.host, "localhost");
}

static void bad_host(void **state)
{
    (void)state;
    parse_bad("redis://", "empty host");
    parse_bad("redis://:6379", "empty host");
    parse_bad("redis://:pw@:6379", "empty host");
    parse_bad("redis:///3", "empty host");
    parse_bad("redis://[]:6379", "empty host");
    parse_bad("redis://[::1:6379", "missing ']'");
    parse_bad("redis://256.1.1.1", "bad host");          /* looks numeric: no DNS */
    parse_bad("redis://1.2.3", "bad host");
    parse_bad("redis://[127.0.0.1]", "bad host");
    parse_bad("redis://[redis]:6379", "bad host");
    parse_bad("redis://-redis:6379", "bad host");
    parse_bad("redis://.redis:6379", "bad host");
    parse_bad("redis://re!dis:6379", "bad host");
    parse_bad("redis://re%41dis:6379", "bad host");
    parse_bad("redis://127.0.0.1 :6379", "space or control");
    parse_bad("redis://127.0.0.1\n", "space or control");
    char url[400];
    char host[300];
    memset(host, 'a', 299);
    host[299] = '\0';
    snprintf(url, sizeof url, "redis://%s:6379", host);
    parse_bad(url, "host longer");
}

static void bad_password(void **state)
{
    (void)state;
    char url[400], pw[257];
    memset(pw, 'x', 256);
    pw[256] = '\0';
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1", pw);
    parse_bad(url, "password longer than 255");
    parse_bad("redis://justuser@127.0.0.1", "user info without ':'");
    parse_bad("redis://:bad%zzescape@127.0.0.1", "%-escape");
    parse_bad("redis://:trailing%4@127.0.0.1", "%-escape");
    parse_bad("redis://:nul%00@127.0.0.1", "NUL");
    parse_bad("unix:///tmp/r.sock?password=a%2", "%-escape");
}

static void bad_unix(void **state)
{
    (void)state;
    parse_bad("unix://", "absolute");
    parse_bad("unix://tmp/r.sock", "absolute");
    char url[300], path[200];
    memset(path, 'p', 199);
    path[0] = '/';
    path[199] = '\0';
    snprintf(url, sizeof url, "unix://%s", path);
    parse_bad(url, "path longer");
}

static void cluster_seeds(void **state)
{
    (void)state;
    rds_url_t u = parse_ok("redis-cluster://127.0.0.1:7001");
    assert_int_equal(u.is_cluster, 1);
    assert_int_equal(u.nseeds, 1);
    assert_string_equal(u.seeds[0].host, "127.0.0.1");
    assert_int_equal(u.seeds[0].port, 7001);
    assert_string_equal(u.host, "127.0.0.1");   /* the first seed, for logs */
    assert_int_equal(u.port, 7001);

    u = parse_ok("redis-cluster://app:p%40ss,w@redis-0:7001,[::1]:7002,redis-2/0");
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "p@ss,w");   /* a ',' before the '@' is the password's */
    assert_int_equal(u.nseeds, 3);
    assert_string_equal(u.seeds[0].host, "redis-0");
    assert_string_equal(u.seeds[1].host, "::1");
    assert_int_equal(u.seeds[1].port, 7002);
    assert_string_equal(u.seeds[2].host, "redis-2");
    assert_int_equal(u.seeds[2].port, 6379);
    assert_int_equal(u.db, 0);

    /* A plain URL is not a cluster. */
    assert_int_equal(parse_ok("redis://127.0.0.1:6379").is_cluster, 0);
}

static void bad_cluster(void **state)
{
    (void)state;
    parse_bad("redis-cluster://", "empty host");
    parse_bad("redis-cluster://h:1,", "empty host");
    parse_bad("redis-cluster://h:1,,h:2", "empty host");
    parse_bad("redis-cluster://h:0", "bad port");
    parse_bad("redis-cluster://h:1/3", "only database 0");
    parse_bad("redis-cluster://h:1?x", "unexpected");
    parse_bad("redis-cluster://bad host:1", "space");
    char many[512] = "redis-cluster://";
    for (int i = 0; i < 17; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sh%d:1", i ? "," : "", i);
    parse_bad(many, "more than 16 seed nodes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_form),
        cmocka_unit_test(defaults),
        cmocka_unit_test(user_and_password),
        cmocka_unit_test(ipv6),
        cmocka_unit_test(unix_socket),
        cmocka_unit_test(bad_scheme),
        cmocka_unit_test(bad_port),
        cmocka_unit_test(bad_db),
        cmocka_unit_test(host_names),
        cmocka_unit_test(bad_host),
        cmocka_unit_test(bad_password),
        cmocka_unit_test(bad_unix),
        cmocka_unit_test(cluster_seeds),
        cmocka_unit_test(bad_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

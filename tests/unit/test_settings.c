/* Unit tests for settings (src/config/settings.c) against docs/PROTOCOL.md,
 * "Settings": defaults, the three ways to give a setting (flag, environment,
 * config file), their precedence, and start-up refusing unknown keys and bad
 * values with a message naming the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/settings.h"
#include "fc_version.h"

/* ---- helpers ---------------------------------------------------------- */

#define MAX_ARGS 32

/* One settings_load call: argv (without argv[0]) and envp as
 * NULL-terminated lists; --help/--version output is captured. */
typedef struct {
    settings_t s;
    settings_result_t rc;
    char err[1024];
    char *out;          /* what was written to the FILE* */
    size_t outlen;
} load_t;

static void load(load_t *l, const char *const *args, const char *const *env)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"feedcached";
    for (; args && *args; args++) {
        assert_true(argc <= MAX_ARGS);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    char *envp[MAX_ARGS + 1];
    int n = 0;
    for (; env && *env; env++) {
        assert_true(n < MAX_ARGS);
        envp[n++] = (char *)*env;
    }
    envp[n] = NULL;

    memset(l, 0, sizeof *l);
    FILE *out = open_memstream(&l->out, &l->outlen);
    assert_non_null(out);
    l->rc = settings_load(&l->s, argc, argv, envp, out, l->err, sizeof l->err);
    fclose(out);
}

static void unload(load_t *l)
{
    settings_free(&l->s);
    free(l->out);
}

/* Writes text to a new temporary file; path receives its name. */
static void write_file(char *path, size_t cap, const char *text)
{
    snprintf(path, cap, "/tmp/feedcache-test-settings-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* Expects SETTINGS_BAD with err containing every given substring. */
static void expect_bad(const char *const *args, const char *const *env, const char *want1,
                       const char *want2)
{
    load_t l;
    load(&l, args, env);
    if (l.rc != SETTINGS_BAD)
        fail_msg("args '%s %s %s': rc %d, expected SETTINGS_BAD", args && args[0] ? args[0] : "",
                 args && args[0] && args[1] ? args[1] : "", env && env[0] ? env[0] : "",
                 (int)l.rc);
    if (want1 && !strstr(l.err, want1))
        fail_msg("error '%s' does not name '%s'", l.err, want1);
    if (want2 && !strstr(l.err, want2))
        fail_msg("error '%s' does not name '%s'", l.err, want2);
    unload(&l);
}

/* ---- defaults --------------------------------------------------------- */

static void assert_contract_defaults(const settings_t *s)
{
    assert_string_equal(s->listen, "127.0.0.1:7400");
    assert_string_equal(s->metrics_listen, "127.0.0.1:9464");
    assert_string_equal(s->redis, "redis://127.0.0.1:6379/0");
    assert_string_equal(s->pg, "dbname=feedcache");
    assert_int_equal(s->celebrity_threshold, 10000);
    assert_int_equal(s->feed_max, 800);
    assert_int_equal(s->feed_ttl, 300);
    assert_int_equal(s->post_ttl, 3600);
    assert_string_equal(s->key_prefix, "fc:");
    assert_int_equal(s->max_frame, 1048576);
    assert_string_equal(s->log_level, "info");
    assert_string_equal(s->log_format, "text");
}

static void defaults_match_contract(void **state)
{
    (void)state;
    load_t l;
    load(&l, NULL, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_contract_defaults(&l.s);
    assert_int_equal(l.outlen, 0);
    unload(&l);

    settings_t s;
    settings_defaults(&s);
    assert_contract_defaults(&s);
    settings_free(&s);
}

/* ---- flags ------------------------------------------------------------ */

static void flag_forms(void **state)
{
    (void)state;
    static const char *const args[] = {
        "--feed-ttl", "301",
        "--post-ttl=3601",
        "--feed-max", "100000",
        "--celebrity-threshold=1",
        "--key-prefix", "app:",
        "--listen=127.0.0.1:7500",
        "--metrics-listen", "off",
        "--redis", "redis://127.0.0.1:6380/2",
        "--pg=host=/tmp dbname=x",          /* the value may hold '=' */
        "--max-frame", "2048",
        "--log-level=debug",
        NULL,
    };
    load_t l;
    load(&l, args, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.feed_ttl, 301);
    assert_int_equal(l.s.post_ttl, 3601);
    assert_int_equal(l.s.feed_max, 100000);
    assert_int_equal(l.s.celebrity_threshold, 1);
    assert_string_equal(l.s.key_prefix, "app:");
    assert_string_equal(l.s.listen, "127.0.0.1:7500");
    assert_string_equal(l.s.metrics_listen, "off");
    assert_string_equal(l.s.redis, "redis://127.0.0.1:6380/2");
    assert_string_equal(l.s.pg, "host=/tmp dbname=x");
    assert_int_equal(l.s.max_frame, 2048);
    assert_string_equal(l.s.log_level, "debug");
    unload(&l);

    /* A repeated flag: the last one wins. */
    static const char *const twice[] = { "--feed-ttl", "5", "--feed-ttl=6", NULL };
    load(&l, twice, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.feed_ttl, 6);
    unload(&l);
}

static void unknown_flag_is_bad(void **state)
{
    (void)state;
    expect_bad((const char *const[]){ "--bogus", "1", NULL }, NULL, "--bogus", NULL);
    expect_bad((const char *const[]){ "--bogus=1", NULL }, NULL, "--bogus", NULL);
    expect_bad((const char *const[]){ "--feed-ttl", "5", "--fed-ttl", "5", NULL }, NULL,
               "--fed-ttl", NULL);
    /* Not a flag at all. */
    expect_bad((const char *const[]){ "stray", NULL }, NULL, "stray", NULL);
    expect_bad((const char *const[]){ "-x", NULL }, NULL, "-x", NULL);
}

static void flag_missing_value_is_bad(void **state)
{
    (void)state;
    expect_bad((const char *const[]){ "--feed-ttl", NULL }, NULL, "--feed-ttl", NULL);
    expect_bad((const char *const[]){ "--log-level", "debug", "--key-prefix", NULL }, NULL,
               "--key-prefix", NULL);
    expect_bad((const char *const[]){ "--config", NULL }, NULL, "--config", NULL);
}

/* ---- bad values ------------------------------------------------------- */

static char long_prefix[66];

typedef struct {
    const char *key;      /* the setting's name */
    const char *flag;
    const char *value;
} bad_t;

static const bad_t bad_values[] = {
    { "feed_max", "--feed-max", "0" },
    { "feed_max", "--feed-max", "100001" },
    { "feed_max", "--feed-max", "abc" },
    { "feed_max", "--feed-max", "" },
    { "feed_ttl", "--feed-ttl", "0" },
    { "feed_ttl", "--feed-ttl", "-300" },
    { "post_ttl", "--post-ttl", "0" },
    { "celebrity_threshold", "--celebrity-threshold", "-1" },
    { "celebrity_threshold", "--celebrity-threshold", "abc" },
    { "celebrity_threshold", "--celebrity-threshold", "1e3" },
    { "celebrity_threshold", "--celebrity-threshold", "0" },
    { "celebrity_threshold", "--celebrity-threshold", "10k" },
    { "celebrity_threshold", "--celebrity-threshold", "99999999999999999999999" },
    { "key_prefix", "--key-prefix", long_prefix },   /* 65 characters */
    { "key_prefix", "--key-prefix", "" },
    { "log_level", "--log-level", "loud" },
    { "log_level", "--log-level", "" },
    { "log_format", "--log-format", "xml" },
    { "log_format", "--log-format", "JSON" },
    { "log_format", "--log-format", "" },
    { "listen", "--listen", "127.0.0.1" },
    { "listen", "--listen", "127.0.0.1:" },
    { "listen", "--listen", "127.0.0.1:0" },
    { "listen", "--listen", "127.0.0.1:65536" },
    { "listen", "--listen", "unix:" },
    { "metrics_listen", "--metrics-listen", "nowhere" },
    { "redis", "--redis", "http://x" },
    { "redis", "--redis", "" },
    { "max_frame", "--max-frame", "0" },
    { "max_frame", "--max-frame", "abc" },
    { "max_frame", "--max-frame", "-1" },
    { "instance_id", "--instance-id", "has space" },
    { "instance_id", "--instance-id", "tab\there" },
    { "fanout_shards", "--fanout-shards", "65" },
};

static void init_long_prefix(void)
{
    memset(long_prefix, 'p', 65);
    long_prefix[65] = '\0';
}

/* Each bad value, as `--flag VALUE`, `--flag=VALUE`, a file line and
 * through settings_set: BAD, naming the key. */
static void bad_values_name_the_key(void **state)
{
    (void)state;
    init_long_prefix();
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        const bad_t *b = &bad_values[i];
        expect_bad((const char *const[]){ b->flag, b->value, NULL }, NULL, b->key, NULL);

        char inline_flag[128];
        snprintf(inline_flag, sizeof inline_flag, "%s=%s", b->flag, b->value);
        expect_bad((const char *const[]){ inline_flag, NULL }, NULL, b->key, NULL);

        char path[64], text[256];
        snprintf(text, sizeof text, "# line 1\n%s = \"%s\"\n", b->key, b->value);
        write_file(path, sizeof path, text);
        expect_bad((const char *const[]){ "--config", path, NULL }, NULL, b->key, ":2");
        unlink(path);

        settings_t s;
        settings_defaults(&s);
        char err[512] = "";
        if (settings_set(&s, b->key, b->value, err, sizeof err) != -1)
            fail_msg("settings_set(%s, '%s') accepted", b->key, b->value);
        if (!strstr(err, b->key))
            fail_msg("settings_set(%s, '%s'): error '%s' does not name the key", b->key,
                     b->value, err);
        /* The refused value left the old one in place. */
        assert_contract_defaults(&s);
        settings_free(&s);
    }
}

/* The edges of each range are accepted. */
/* redis_wait_timeout_ms must stay below redis_timeout_ms once replicas
 * are waited for (a longer WAIT would look like a dead connection). */
static void wait_timeout_below_redis_timeout(void **state)
{
    (void)state;
    const char *bad[] = { "--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "1000",
                          "--redis-timeout-ms", "1000", NULL };
    expect_bad(bad, NULL, "redis_wait_timeout_ms", "redis_timeout_ms");
    const char *env_bad[] = { "FEEDCACHE_REDIS_WAIT_REPLICAS=2",
                              "FEEDCACHE_REDIS_WAIT_TIMEOUT_MS=5000", NULL };
    expect_bad(NULL, env_bad, "redis_wait_timeout_ms", "below");
    /* Without replicas to wait for, the timeout is not used: accepted. */
    const char *unused[] = { "--redis-wait-timeout-ms", "5000", NULL };
    load_t l;
    load(&l, unused, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.redis_wait_replicas, 0);
    unload(&l);
    const char *ok[] = { "--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "999",
                         "--redis-timeout-ms", "1000", NULL };
    load(&l, ok, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.redis_wait_timeout_ms, 999);
    unload(&l);
}

static void boundary_values_accepted(void **state)
{
    (void)state;
    char prefix64[65];
    memset(prefix64, 'k', 64);
    prefix64[64] = '\0';
    const char *const args[] = {
        "--feed-max", "1", "--feed-ttl", "1", "--post-ttl", "1", "--celebrity-threshold", "1",
        "--key-prefix", prefix64, "--listen", "unix:/tmp/feedcache.sock", NULL,
    };
    load_t l;
    load(&l, args, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.feed_max, 1);
    assert_int_equal(l.s.feed_ttl, 1);
    assert_int_equal(l.s.post_ttl, 1);
    assert_int_equal(l.s.celebrity_threshold, 1);
    assert_string_equal(l.s.key_prefix, prefix64);
    assert_string_equal(l.s.listen, "unix:/tmp/feedcache.sock");
    unload(&l);

    static const char *const levels[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++) {
        load(&l, (const char *const[]){ "--log-level", levels[i], NULL }, NULL);
        assert_int_equal(l.rc, SETTINGS_OK);
        assert_string_equal(l.s.log_level, levels[i]);
        unload(&l);
    }
    static const char *const formats[] = { "text", "json" };
    for (int i = 0; i < 2; i++) {
        load(&l, (const char *const[]){ "--log-format", formats[i], NULL }, NULL);
        assert_int_equal(l.rc, SETTINGS_OK);
        assert_string_equal(l.s.log_format, formats[i]);
        unload(&l);
    }
}

/* The table walk the SIGHUP reload uses: every key, its value as text, and
 * which keys are reloadable (each a real key, listed in --help). */
static void table_walk_and_reloadable(void **state)
{
    (void)state;
    load_t l;
    load(&l, (const char *const[]){ "--feed-ttl", "42", "--log-format", "json", NULL }, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    size_t n = settings_count(), seen = 0;
    assert_true(n > 30);
    char text[256];
    for (size_t i = 0; i < n; i++) {
        const char *key = settings_key(i);
        assert_non_null(key);
        settings_text(&l.s, i, text, sizeof text);
        if (strcmp(key, "feed_ttl") == 0) {
            assert_string_equal(text, "42");
            seen++;
        } else if (strcmp(key, "log_format") == 0) {
            assert_string_equal(text, "json");
            seen++;
        } else if (strcmp(key, "key_prefix") == 0) {
            assert_string_equal(text, "fc:");
            seen++;
        } else if (strcmp(key, "auth_tokens_file") == 0) {
            assert_string_equal(text, "");
            seen++;
        }
    }
    assert_int_equal(seen, 4);
    assert_null(settings_key(n));
    unload(&l);

    int reloadable = 0;
    for (size_t i = 0; i < n; i++)
        reloadable += settings_reloadable(settings_key(i));
    assert_int_equal(reloadable, 3);
    assert_true(settings_reloadable("log_level"));
    assert_true(settings_reloadable("log_format"));
    assert_true(settings_reloadable("auth_tokens_file"));
    assert_false(settings_reloadable("redis"));
    assert_false(settings_reloadable("nope"));

    load(&l, (const char *const[]){ "--help", NULL }, NULL);
    assert_int_equal(l.rc, SETTINGS_EXIT);
    assert_non_null(strstr(l.out, "applies log_level, log_format and auth_tokens_file"));
    unload(&l);
}

static void settings_set_unknown_key(void **state)
{
    (void)state;
    settings_t s;
    settings_defaults(&s);
    char err[256] = "";
    assert_int_equal(settings_set(&s, "no_such_key", "1", err, sizeof err), -1);
    assert_non_null(strstr(err, "no_such_key"));
    assert_int_equal(settings_set(&s, "feed_ttl", "77", err, sizeof err), 0);
    assert_int_equal(s.feed_ttl, 77);
    assert_int_equal(settings_set(&s, "pg", "dbname=other", err, sizeof err), 0);
    assert_string_equal(s.pg, "dbname=other");
    settings_free(&s);
}

/* ---- environment ------------------------------------------------------ */

static void env_forms(void **state)
{
    (void)state;
    static const char *const env[] = {
        "PATH=/usr/bin",
        "FEEDCACHE_FEED_TTL=42",
        "FEEDCACHE_KEY_PREFIX=env:",
        "FEEDCACHE_PG=host=/tmp dbname=e",
        "FEEDCACHE_CELEBRITY_THRESHOLD=7",
        "FEEDCACHE_LOG_LEVEL=warn",
        NULL,
    };
    load_t l;
    load(&l, NULL, env);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.feed_ttl, 42);
    assert_string_equal(l.s.key_prefix, "env:");
    assert_string_equal(l.s.pg, "host=/tmp dbname=e");
    assert_int_equal(l.s.celebrity_threshold, 7);
    assert_string_equal(l.s.log_level, "warn");
    assert_int_equal(l.s.post_ttl, 3600);
    unload(&l);
}

/* Runs a load with stderr redirected to a temporary file; returns what was
 * written to stderr (free it). */
static char *load_capturing_stderr(load_t *l, const char *const *args, const char *const *env)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    load(l, args, env);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fseek(tmp, 0, SEEK_END);
    long n = ftell(tmp);
    assert_true(n >= 0);
    rewind(tmp);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return text;
}

/* Other tools share the prefix: an unknown FEEDCACHE_* variable is a
 * warning on stderr, not an error. */
static void unknown_env_is_a_warning(void **state)
{
    (void)state;
    load_t l;
    char *log = load_capturing_stderr(&l, NULL,
                                      (const char *const[]){ "FEEDCACHE_FOO=1",
                                                             "FEEDCACHE_FEED_TTL=9", NULL });
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.feed_ttl, 9);
    if (!strstr(log, "FEEDCACHE_FOO"))
        fail_msg("no warning naming FEEDCACHE_FOO on stderr (got '%s')", log);
    free(log);
    unload(&l);
}

static void bad_env_value_names_the_variable(void **state)
{
    (void)state;
    expect_bad(NULL, (const char *const[]){ "FEEDCACHE_FEED_TTL=0", NULL },
               "FEEDCACHE_FEED_TTL", NULL);
    expect_bad(NULL, (const char *const[]){ "FEEDCACHE_LOG_LEVEL=loud", NULL },
               "FEEDCACHE_LOG_LEVEL", NULL);
    expect_bad(NULL, (const char *const[]){ "FEEDCACHE_LISTEN=nowhere", NULL },
               "FEEDCACHE_LISTEN", NULL);
}

/* ---- config file ------------------------------------------------------ */

static const char config_text[] =
    "# feedcache test configuration\n"
    "\n"
    "   # an indented comment\n"
    "feed_ttl = 111\n"
    "post_ttl=222\n"
    "feed_max\t=\t333   \n"
    "   celebrity_threshold   =   444\n"
    "key_prefix = \"quoted#value:\"\n"
    "pg = \"host=/tmp dbname='feed cache'\"\n"
    "listen = 127.0.0.1:7401\n"
    "feed_max = 334\n"                 /* repeated: the last wins */
    "log_level = warn\r\n"             /* CRLF line ending */
    "\n";

static void assert_config_applied(const settings_t *s)
{
    assert_int_equal(s->feed_ttl, 111);
    assert_int_equal(s->post_ttl, 222);
    assert_int_equal(s->feed_max, 334);
    assert_int_equal(s->celebrity_threshold, 444);
    assert_string_equal(s->key_prefix, "quoted#value:");
    assert_string_equal(s->pg, "host=/tmp dbname='feed cache'");
    assert_string_equal(s->listen, "127.0.0.1:7401");
    assert_string_equal(s->log_level, "warn");
    assert_int_equal(s->max_frame, 1048576);   /* untouched */
}

static void config_file_via_flag(void **state)
{
    (void)state;
    char path[64];
    write_file(path, sizeof path, config_text);
    load_t l;
    load(&l, (const char *const[]){ "--config", path, NULL }, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_config_applied(&l.s);
    unload(&l);

    char flag[128];
    snprintf(flag, sizeof flag, "--config=%s", path);
    load(&l, (const char *const[]){ flag, NULL }, NULL);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_config_applied(&l.s);
    unload(&l);
    unlink(path);
}

static void config_file_via_env(void **state)
{
    (void)state;
    char path[64], var[128];
    write_file(path, sizeof path, config_text);
    snprintf(var, sizeof var, "FEEDCACHE_CONFIG=%s", path);
    load_t l;
    load(&l, NULL, (const char *const[]){ var, NULL });
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_config_applied(&l.s);
    unload(&l);
    unlink(path);
}

/* --config names the file even when FEEDCACHE_CONFIG names another. */
static void config_flag_beats_config_env(void **state)
{
    (void)state;
    char flag_path[64], env_path[64], var[128];
    write_file(flag_path, sizeof flag_path, "feed_ttl = 5\n");
    write_file(env_path, sizeof env_path, "feed_ttl = 6\npost_ttl = 7\n");
    snprintf(var, sizeof var, "FEEDCACHE_CONFIG=%s", env_path);
    load_t l;
    load(&l, (const char *const[]){ "--config", flag_path, NULL },
         (const char *const[]){ var, NULL });
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.feed_ttl, 5);
    assert_int_equal(l.s.post_ttl, 3600);
    unload(&l);
    unlink(flag_path);
    unlink(env_path);
}

/* flag > environment > file > default, all four layers at once, whatever
 * the order of the flags. */
static void precedence_all_four_layers(void **state)
{
    (void)state;
    char path[64];
    write_file(path, sizeof path,
               "feed_ttl = 10\n"
               "post_ttl = 20\n"
               "feed_max = 30\n");
    const char *const env[] = { "FEEDCACHE_POST_TTL=21", "FEEDCACHE_FEED_MAX=31", NULL };
    const char *const args[] = { "--feed-max", "32", "--config", path, NULL };
    load_t l;
    load(&l, args, env);
    assert_int_equal(l.rc, SETTINGS_OK);
    assert_int_equal(l.s.celebrity_threshold, 10000);   /* default */
    assert_int_equal(l.s.feed_ttl, 10);                 /* file */
    assert_int_equal(l.s.post_ttl, 21);                 /* environment over file */
    assert_int_equal(l.s.feed_max, 32);                 /* flag over both */
    unload(&l);
    unlink(path);
}

static void unknown_key_in_file_names_key_and_line(void **state)
{
    (void)state;
    char path[64];
    write_file(path, sizeof path,
               "# comment\n"
               "feed_ttl = 10\n"
               "bogus_key = 1\n"
               "post_ttl = 20\n");
    expect_bad((const char *const[]){ "--config", path, NULL }, NULL, "bogus_key", ":3");
    expect_bad((const char *const[]){ "--config", path, NULL }, NULL, path, NULL);
    unlink(path);
}

/* A bad value in the file stops start-up even when a flag would override
 * it (docs/PROTOCOL.md, "Settings": a bad value in a flag or the file stops
 * start-up). */
static void bad_value_in_file_is_bad_even_if_overridden(void **state)
{
    (void)state;
    char path[64];
    write_file(path, sizeof path, "feed_ttl = 10\nfeed_max = 0\n");
    expect_bad((const char *const[]){ "--config", path, "--feed-max", "5", NULL }, NULL,
               "feed_max", ":2");
    unlink(path);
}

static void malformed_config_line(void **state)
{
    (void)state;
    char path[64];
    write_file(path, sizeof path, "feed_ttl = 10\n\njust some words\n");
    expect_bad((const char *const[]){ "--config", path, NULL }, NULL, ":3", NULL);
    unlink(path);

    /* An empty quoted value is an empty value. */
    write_file(path, sizeof path, "key_prefix = \"\"\n");
    expect_bad((const char *const[]){ "--config", path, NULL }, NULL, "key_prefix", ":1");
    unlink(path);
}

static void missing_config_file_is_bad(void **state)
{
    (void)state;
    const char *path = "/tmp/feedcache-test-no-such-file.conf";
    unlink(path);
    expect_bad((const char *const[]){ "--config", path, NULL }, NULL, path, NULL);
    char var[128];
    snprintf(var, sizeof var, "FEEDCACHE_CONFIG=%s", path);
    expect_bad(NULL, (const char *const[]){ var, NULL }, path, NULL);
}

/* ---- --help and --version --------------------------------------------- */

static void help_and_version_exit(void **state)
{
    (void)state;
    load_t l;
    load(&l, (const char *const[]){ "--help", NULL }, NULL);
    assert_int_equal(l.rc, SETTINGS_EXIT);
    assert_non_null(l.out);
    static const char *const flags[] = {
        "--listen", "--metrics-listen", "--redis", "--pg", "--celebrity-threshold",
        "--feed-max", "--feed-ttl", "--post-ttl", "--key-prefix", "--max-frame",
        "--log-level", "--config", "--help", "--version",
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(l.out, flags[i]))
            fail_msg("--help does not mention %s", flags[i]);
    assert_non_null(strstr(l.out, "[127.0.0.1:7400]"));   /* defaults shown */
    unload(&l);

    /* --help wins over other (even bad) flags. */
    load(&l, (const char *const[]){ "--feed-max", "0", "--help", NULL }, NULL);
    assert_int_equal(l.rc, SETTINGS_EXIT);
    assert_true(l.outlen > 0);
    unload(&l);

    load(&l, (const char *const[]){ "--version", NULL }, NULL);
    assert_int_equal(l.rc, SETTINGS_EXIT);
    assert_non_null(l.out);
    assert_non_null(strstr(l.out, FC_VERSION));
    unload(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_match_contract),
        cmocka_unit_test(flag_forms),
        cmocka_unit_test(unknown_flag_is_bad),
        cmocka_unit_test(flag_missing_value_is_bad),
        cmocka_unit_test(bad_values_name_the_key),
        cmocka_unit_test(table_walk_and_reloadable),
        cmocka_unit_test(wait_timeout_below_redis_timeout),
        cmocka_unit_test(boundary_values_accepted),
        cmocka_unit_test(settings_set_unknown_key),
        cmocka_unit_test(env_forms),
        cmocka_unit_test(unknown_env_is_a_warning),
        cmocka_unit_test(bad_env_value_names_the_variable),
        cmocka_unit_test(config_file_via_flag),
        cmocka_unit_test(config_file_via_env),
        cmocka_unit_test(config_flag_beats_config_env),
        cmocka_unit_test(precedence_all_four_layers),
        cmocka_unit_test(unknown_key_in_file_names_key_and_line),
        cmocka_unit_test(bad_value_in_file_is_bad_even_if_overridden),
        cmocka_unit_test(malformed_config_line),
        cmocka_unit_test(missing_config_file_is_bad),
        cmocka_unit_test(help_and_version_exit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

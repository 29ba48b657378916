/* Integration tests of feedcachectl (the binary in $FEEDCACHECTL) against a
 * real feedcached: every subcommand's --help and exit codes (0 success,
 * 1 service error / unreachable / failed job, 2 usage), the stats table and
 * its --json (valid JSON, checked with python3's json module), timeline
 * pages and cursors, invalidate, and warm: by ids, by activity, from a file,
 * --no-follow then --job, plain progress lines when stdout is not a
 * terminal, a progress bar when it is (through script(1), when installed),
 * and a failed job (its daemon stopped) exiting 1 with the reason.
 *
 * Own PostgreSQL database fc_ctl_<pid>, own Redis db 11.
 * FEEDCACHE_TEST_FILTER=ctl_warm runs one test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "oracle_db.h"

#define REDIS_DB 11
#define TIMEOUT_MS 10000

static odb_env_t env;
static harness_daemon_t *daemon_a;
static char prefix[64];
static char tmpdir[64];
static PGconn *pg;
static bool all_passed = true;

typedef struct {
    int status;          /* exit status, or -1 */
    char *out, *err;     /* stdout and stderr (malloc'd) */
} run_t;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    buf_t b;
    buf_init(&b);
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_append(&b, chunk, n);
        fclose(f);
    }
    buf_puts(&b, "");
    return b.data;
}

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Runs `$FEEDCACHECTL --addr ADDR ARGS` (ARGS is shell text) with stdin from
 * /dev/null and stdout/stderr captured. addr NULL: no --addr. */
static void run_ctl(run_t *r, const char *addr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void run_ctl(run_t *r, const char *addr, const char *fmt, ...)
{
    char args[2048], cmd[4096], out[128], err[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/out", tmpdir);
    snprintf(err, sizeof err, "%s/err", tmpdir);
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' %s%s %s <'/dev/null' >'%s' 2>'%s'",
             getenv("FEEDCACHECTL"), addr ? "--addr " : "", addr ? addr : "", args, out, err);
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r->out = slurp(out);
    r->err = slurp(err);
}

static void expect_status(run_t *r, int want, const char *what)
{
    if (r->status != want)
        fail_msg("feedcachectl %s: exit %d, expected %d\n--- stdout:\n%s--- stderr:\n%s", what,
                 r->status, want, r->out, r->err);
}

static void expect_in(const char *text, const char *needle, const char *what)
{
    if (!strstr(text, needle))
        fail_msg("feedcachectl %s: output lacks '%s':\n%s", what, needle, text);
}

/* The captured stdout parses as JSON (python3's json module). */
static void expect_json(const char *what)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys; json.load(sys.stdin)' <'%s/out' 2>'%s/json.err'",
             tmpdir, tmpdir);
    int st = system(cmd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char path[128];
        snprintf(path, sizeof path, "%s/out", tmpdir);
        char *out = slurp(path);
        fail_msg("feedcachectl %s: stdout is not valid JSON:\n%s", what, out);
    }
}

static int count_lines_with(const char *text, const char *a, const char *b)
{
    int n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(len < sizeof tmp ? len : sizeof tmp - 1), line);
        if (strstr(tmp, a) && (!b || strstr(tmp, b)))
            n++;
        line += len + (end ? 1 : 0);
    }
    return n;
}

/* The job id from "warm job ID started: N users". */
static void job_of(const char *out, char job[64])
{
    const char *p = strstr(out, "warm job ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "warm job %63s started:", job), 1);
}

/* --- fixture ---------------------------------------------------------------------- */

static void exec_sql(const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fprintf(stderr, "test_ctl: SQL failed: %s", PQerrorMessage(pg));
    PQclear(res);
}

static int group_setup(void **state)
{
    char err[4096];
    if (!getenv("FEEDCACHECTL")) {
        fprintf(stderr, "test_ctl: FEEDCACHECTL must name the feedcachectl binary\n");
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fc-test-ctl.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    if (odb_env_setup(&env, "fc_ctl", REDIS_DB, err, sizeof err) != 0) {
        fprintf(stderr, "test_ctl: %s\n", err);
        return -1;
    }
    pg = odb_pg_connect(&env, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "test_ctl: %s\n", err);
        return -1;
    }
    exec_sql("INSERT INTO users (id, handle, last_active_at) SELECT g, 'u' || g, "
             "CASE WHEN g <= 12 THEN now() - g * interval '1 minute' END "
             "FROM generate_series(1, 40) g");
    exec_sql("INSERT INTO follows (follower_id, followee_id) SELECT f, 1 + (f * 3 + k) % 40 "
             "FROM generate_series(1, 40) f, generate_series(1, 4) k "
             "WHERE f <> 1 + (f * 3 + k) % 40 ON CONFLICT DO NOTHING");
    exec_sql("INSERT INTO posts (id, author_id, created_at, body) SELECT 9000 + p, 1 + p % 40, "
             "'epoch'::timestamptz + (1700000000000 + p * 1000) * interval '1 millisecond', "
             "E'line one\\nline \"two\" ' || repeat('x', p % 150) FROM generate_series(1, 600) p");
    snprintf(prefix, sizeof prefix, "fcctl%d:", (int)getpid());
    const char *const extra[] = { "--key-prefix", prefix, NULL };
    daemon_a = harness_daemon_start(extra, err, sizeof err);
    if (!daemon_a) {
        fprintf(stderr, "test_ctl: cannot start feedcached: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    int rc = 0;
    if (daemon_a) {
        if (!harness_daemon_alive(daemon_a) || harness_daemon_stop(daemon_a, 10000) != 0) {
            fprintf(stderr, "test_ctl: feedcached died or did not exit 0 on SIGTERM\n");
            rc = -1;
        }
        if (rc != 0 || !all_passed)
            harness_daemon_dump_log(daemon_a, "test_ctl");
        harness_daemon_free(daemon_a);
    }
    if (pg)
        PQfinish(pg);
    odb_env_teardown(&env);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        rc = -1;
    return rc;
}

static int setup(void **state)
{
    *state = NULL;
    return 0;
}

static int teardown(void **state)
{
    /* A test that did not reach its end left *state NULL. */
    if (!*state)
        all_passed = false;
    return 0;
}

/* --- tests -------------------------------------------------------------------------- */

static void ctl_help_and_usage(void **state)
{
    run_t r;
    run_ctl(&r, NULL, "--help");
    expect_status(&r, 0, "--help");
    expect_in(r.out, "Exit status", "--help");
    static const char *const cmds[] = { "ping", "stats", "warm", "timeline", "invalidate" };
    for (size_t i = 0; i < 5; i++) {
        expect_in(r.out, cmds[i], "--help");
    }
    run_free(&r);
    for (size_t i = 0; i < 5; i++) {
        run_ctl(&r, NULL, "%s --help", cmds[i]);
        expect_status(&r, 0, cmds[i]);
        expect_in(r.out, "Usage: feedcachectl", cmds[i]);
        expect_in(r.out, "Exit status", cmds[i]);
        run_free(&r);
    }
    /* Usage errors: 2, with a message and a pointer to --help. */
    static const char *const bad[] = {
        "", "nosuch", "--nosuch ping", "--addr", "--addr nohostport ping", "--timeout 0 ping",
        "ping extra", "stats --nosuch", "timeline", "timeline abc", "timeline 0",
        "timeline -4", "timeline 1 2", "timeline 1 --limit 0", "timeline 1 --limit 201",
        "timeline 1 --limit x", "timeline 1 --cursor", "invalidate", "invalidate x",
        "invalidate 1 2", "warm", "warm --users 1 --active-within 1d",
        "warm --active-within 7x", "warm --active-within 0s", "warm --active-within 1h30",
        "warm --active-within ''", "warm --users 1,x", "warm --users 0", "warm --users 1 --rate 0",
        "warm --users 1 --rate -2", "warm --users 1 --rate abc", "warm --users-file /nonexistent",
        "warm --job abc --rate 5", "warm --users 1 --bogus",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_ctl(&r, daemon_a->addr, "%s", bad[i]);
        expect_status(&r, 2, bad[i]);
        if (!strstr(r.err, "feedcachectl: "))
            fail_msg("feedcachectl %s: no message on stderr", bad[i]);
        run_free(&r);
    }
    *state = (void *)1;
}

static void ctl_unreachable(void **state)
{
    int port = harness_free_port();
    assert_true(port > 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    static const char *const cmds[] = { "ping", "stats", "stats --json", "timeline 1",
                                        "invalidate 1", "warm --users 1,2",
                                        "warm --active-within 7d" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run_t r;
        run_ctl(&r, addr, "--timeout 2000 %s", cmds[i]);
        expect_status(&r, 1, cmds[i]);
        expect_in(r.err, addr, cmds[i]);
        run_free(&r);
    }
    *state = (void *)1;
}

static void ctl_ping_stats(void **state)
{
    run_t r;
    run_ctl(&r, daemon_a->addr, "ping");
    expect_status(&r, 0, "ping");
    assert_string_equal(r.out, "pong\n");
    run_free(&r);

    /* Some reads first, so that the ratios have something to show. */
    for (int u = 1; u <= 3; u++) {
        run_ctl(&r, daemon_a->addr, "timeline %d", u);
        expect_status(&r, 0, "timeline");
        run_free(&r);
        run_ctl(&r, daemon_a->addr, "timeline %d", u);
        run_free(&r);
    }
    run_ctl(&r, daemon_a->addr, "stats");
    expect_status(&r, 0, "stats");
    printf("--- feedcachectl stats:\n%s", r.out);
    expect_in(r.out, "feed cache hit ratio", "stats");
    expect_in(r.out, "post cache hit ratio", "stats");
    expect_in(r.out, "fan-out lag", "stats");
    expect_in(r.out, "fan-out queue depth", "stats");
    expect_in(r.out, "feed rebuilds", "stats");
    expect_in(r.out, "PostgreSQL fallbacks", "stats");
    expect_in(r.out, "50.0 %", "stats");       /* 3 misses then 3 hits */
    run_free(&r);

    run_ctl(&r, daemon_a->addr, "stats --json");
    expect_status(&r, 0, "stats --json");
    expect_json("stats --json");
    static const char *const keys[] = { "\"feed_cache_hits\":3", "\"feed_cache_misses\":3",
                                        "\"post_cache_hits\"", "\"post_cache_misses\"",
                                        "\"feed_rebuilds\":3", "\"pg_fallbacks\"",
                                        "\"fanout_posts\"", "\"fanout_deliveries\"",
                                        "\"fanout_queue_depth\"" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        expect_in(r.out, keys[i], "stats --json");
    run_free(&r);
    *state = (void *)1;
}

static void ctl_timeline_invalidate(void **state)
{
    run_t r;
    run_ctl(&r, daemon_a->addr, "timeline 7 --limit 3");
    expect_status(&r, 0, "timeline 7 --limit 3");
    expect_in(r.out, "user 7: 3 posts (source ", "timeline");
    expect_in(r.out, "line one\\nline \\\"two\\\"", "timeline (escaped body)");
    expect_in(r.out, "next page: --cursor ", "timeline");
    char cursor[256];
    const char *p = strstr(r.out, "--cursor ");
    assert_int_equal(sscanf(p, "--cursor %255s", cursor), 1);
    run_free(&r);

    run_ctl(&r, daemon_a->addr, "timeline 7 --limit 3 --cursor '%s' --no-hydrate", cursor);
    expect_status(&r, 0, "timeline --cursor");
    expect_in(r.out, "user 7: 3 posts (source cache)", "timeline --cursor");
    assert_null(strstr(r.out, "line one"));
    run_free(&r);

    run_ctl(&r, daemon_a->addr, "timeline 7 --limit 200 --json");
    expect_status(&r, 0, "timeline --json");
    expect_json("timeline --json");
    expect_in(r.out, "\"posts\":[", "timeline --json");
    expect_in(r.out, "\"next_cursor\":null", "timeline --json");
    run_free(&r);

    /* The service refuses a malformed cursor: exit 1 with its message. */
    run_ctl(&r, daemon_a->addr, "timeline 7 --cursor garbage");
    expect_status(&r, 1, "timeline --cursor garbage");
    expect_in(r.err, "BAD_REQUEST", "timeline --cursor garbage");
    expect_in(r.err, "cursor", "timeline --cursor garbage");
    run_free(&r);

    run_ctl(&r, daemon_a->addr, "invalidate 7");
    expect_status(&r, 0, "invalidate 7");
    expect_in(r.out, "user 7", "invalidate");
    run_free(&r);
    run_ctl(&r, daemon_a->addr, "timeline 7 --limit 1");
    expect_status(&r, 0, "timeline after invalidate");
    expect_in(r.out, "(source rebuilt)", "timeline after invalidate");
    run_free(&r);
    *state = (void *)1;
}

static void ctl_warm(void **state)
{
    run_t r;
    char job[64];
    run_ctl(&r, daemon_a->addr, "warm --users 1,2,3,2");
    expect_status(&r, 0, "warm --users");
    expect_in(r.out, "started: 3 users", "warm --users");
    expect_in(r.out, "finished: 3 users", "warm --users");
    run_free(&r);

    run_ctl(&r, daemon_a->addr, "warm --active-within 1h");
    expect_status(&r, 0, "warm --active-within 1h");
    expect_in(r.out, "started: 12 users", "warm --active-within");
    expect_in(r.out, "finished: 12 users", "warm --active-within");
    run_free(&r);

    char path[128];
    snprintf(path, sizeof path, "%s/ids", tmpdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("# users to warm\n20, 21\n22\t23 # trailing comment\n\n24\n", fp);
    fclose(fp);
    run_ctl(&r, daemon_a->addr, "warm --users-file '%s' --users 25", path);
    expect_status(&r, 0, "warm --users-file");
    expect_in(r.out, "finished: 6 users", "warm --users-file");
    run_free(&r);

    /* --no-follow, then --job follows it; an unknown job exits 1. */
    run_ctl(&r, daemon_a->addr, "warm --users 30,31 --no-follow");
    expect_status(&r, 0, "warm --no-follow");
    job_of(r.out, job);
    assert_null(strstr(r.out, "finished"));
    run_free(&r);
    run_ctl(&r, daemon_a->addr, "warm --job %s", job);
    expect_status(&r, 0, "warm --job");
    expect_in(r.out, "finished: 2 users", "warm --job");
    run_free(&r);
    run_ctl(&r, daemon_a->addr, "warm --job 0000000000000000");
    expect_status(&r, 1, "warm --job unknown");
    expect_in(r.err, "is gone", "warm --job unknown");
    run_free(&r);

    /* Not a terminal: plain progress lines every few seconds. 30 users at
     * 4 users/s: about 7 s. */
    run_ctl(&r, daemon_a->addr,
            "warm --users 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,"
            "26,27,28,29,30 --rate 4");
    expect_status(&r, 0, "warm (plain progress)");
    printf("--- feedcachectl warm, not a terminal:\n%s", r.out);
    if (count_lines_with(r.out, ": running ", "users/s") < 2)
        fail_msg("expected at least two progress lines:\n%s", r.out);
    assert_null(strchr(r.out, '\r'));
    expect_in(r.out, "finished: 30 users", "warm (plain progress)");
    run_free(&r);
    *state = (void *)1;
}

static void ctl_warm_tty(void **state)
{
    if (system("command -v script >/dev/null 2>&1") != 0) {
        printf("script(1) not installed: the progress bar is not checked\n");
        *state = (void *)1;
        return;
    }
    /* script(1) gives feedcachectl a terminal and logs what it wrote. */
    run_t r;
    char cmd[1024], log[128];
    snprintf(log, sizeof log, "%s/tty.log", tmpdir);
    snprintf(cmd, sizeof cmd,
             "timeout 60 script -qefc \"'%s' --addr %s warm --users 1,2,3,4,5,6,7,8 --rate 4\" "
             "'%s' >/dev/null 2>&1", getenv("FEEDCACHECTL"), daemon_a->addr, log);
    int st = system(cmd);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(log);
    r.err = NULL;
    if (r.status != 0)
        fail_msg("warm on a terminal: exit %d\n%s", r.status, r.out);
    expect_in(r.out, "\r[", "warm on a terminal");
    expect_in(r.out, "#", "warm on a terminal");
    expect_in(r.out, "users/s  ETA", "warm on a terminal");
    expect_in(r.out, "finished: 8 users", "warm on a terminal");
    run_free(&r);
    *state = (void *)1;
}

/* A job whose daemon stops is marked failed ("shutdown"); following it
 * through another instance exits 1 with that reason. */
static void ctl_warm_failed(void **state)
{
    char err[4096];
    const char *const extra[] = { "--key-prefix", prefix, NULL };
    harness_daemon_t *b = harness_daemon_start(extra, err, sizeof err);
    if (!b)
        fail_msg("cannot start a second feedcached: %s", err);
    run_t r;
    char job[64];
    run_ctl(&r, b->addr, "warm --users 1,2,3,4,5,6,7,8,9,10 --rate 1 --no-follow");
    expect_status(&r, 0, "warm --no-follow on B");
    job_of(r.out, job);
    run_free(&r);
    assert_int_equal(harness_daemon_stop(b, 10000), 0);
    harness_daemon_free(b);

    run_ctl(&r, daemon_a->addr, "warm --job %s", job);
    expect_status(&r, 1, "warm --job (failed)");
    expect_in(r.err, "failed", "warm --job (failed)");
    expect_in(r.err, "shutdown", "warm --job (failed)");
    run_free(&r);
    *state = (void *)1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ctl_help_and_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(ctl_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(ctl_ping_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(ctl_timeline_invalidate, setup, teardown),
        cmocka_unit_test_setup_teardown(ctl_warm, setup, teardown),
        cmocka_unit_test_setup_teardown(ctl_warm_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(ctl_warm_failed, setup, teardown),
    };
    const char *filter = getenv("FEEDCACHE_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

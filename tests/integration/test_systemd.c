/* feedcached under systemd's notification protocol (src/feedcached/systemd.h,
 * reload.h), with a socket the test binds itself as $NOTIFY_SOCKET:
 *
 *   ready_watchdog_reload_stopping   against the test Redis and PostgreSQL:
 *        READY=1 once ping answers, with connections of both backends ready
 *        (the first attempts ended before it); WATCHDOG=1 at half of
 *        $WATCHDOG_USEC; SIGHUP after the config file changed: RELOADING=1,
 *        READY=1, a log line naming each reloadable setting that changed
 *        and a warning naming the one that needs a restart; a config file
 *        that no longer loads: nothing changes, the log says so; SIGTERM:
 *        STOPPING=1 and exit 0.
 *   ready_with_backends_down         Redis and PostgreSQL on ports nobody
 *        listens on: READY=1 still comes (the first attempts failed: the
 *        backends are known down), saying 0 connections ready.
 *   tokens_file_renamed_on_reload    auth_tokens_file changed to another
 *        file in the config: after SIGHUP the new file's token works and
 *        the old one no longer does; removing the setting (turning
 *        authentication off) is refused until a restart, with a warning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Binds an abstract datagram socket and points $NOTIFY_SOCKET at it. */
static int notify_listen(const char *tag)
{
    char name[108];
    snprintf(name, sizeof name, "@fc-itest-%s-%d", tag, (int)getpid());
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    size_t len = strlen(name);
    memcpy(sun.sun_path, name, len);
    sun.sun_path[0] = '\0';
    assert_int_equal(bind(fd, (struct sockaddr *)&sun,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
    setenv("NOTIFY_SOCKET", name, 1);
    return fd;
}

/* Waits up to timeout_ms for a datagram containing want (other ones, such
 * as WATCHDOG=1, are skipped). Copies the matching datagram into out.
 * Returns 0, or -1 on timeout. */
static int wait_for(int fd, const char *want, int timeout_ms, char *out, size_t cap)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            return -1;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = recv(fd, out, cap - 1, 0);
        if (n < 0)
            continue;
        out[n] = '\0';
        if (strstr(out, want))
            return 0;
    }
}

static bool log_waits_for(harness_daemon_t *d, const char *needle, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    do {
        char *log = harness_daemon_log(d);
        bool found = strstr(log, needle) != NULL;
        free(log);
        if (found)
            return true;
        usleep(20000);
    } while (now_ms() < deadline);
    return false;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* "redis N connection(s) ready, pg M" of the READY=1 status. */
static void ready_counts(const char *status, int *redis, int *pg)
{
    const char *r = strstr(status, "redis ");
    const char *p = strstr(status, ", pg ");
    assert_non_null(r);
    assert_non_null(p);
    *redis = atoi(r + 6);
    *pg = atoi(p + 5);
}

static void ready_watchdog_reload_stopping(void **state)
{
    (void)state;
    int fd = notify_listen("sd");
    setenv("WATCHDOG_USEC", "400000", 1);     /* WATCHDOG=1 every 200 ms */
    char conf[] = "/tmp/fc-itest-sd-XXXXXX";
    int cfd = mkstemp(conf);
    assert_true(cfd >= 0);
    close(cfd);
    write_file(conf, "log_level = info\n");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "sdtest%d:", (int)getpid());

    char err[1024];
    const char *extra[] = { "--config", conf, "--key-prefix", prefix, NULL };
    harness_daemon_t *d = harness_daemon_start(extra, err, sizeof err);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    if (!d)
        fail_msg("%s", err);

    char msg[1024];
    if (wait_for(fd, "READY=1", 10000, msg, sizeof msg) != 0) {
        harness_daemon_dump_log(d, "no READY=1");
        fail_msg("no READY=1 within 10 s");
    }
    /* The backends' first attempts ended before READY: with both up, their
     * connections are ready by then. */
    int redis = -1, pg = -1;
    ready_counts(msg, &redis, &pg);
    assert_true(redis > 0);
    assert_true(pg > 0);
    assert_non_null(strstr(msg, d->addr));

    /* The watchdog: two pings within a second (every 200 ms). */
    assert_int_equal(wait_for(fd, "WATCHDOG=1", 1000, msg, sizeof msg), 0);
    assert_int_equal(wait_for(fd, "WATCHDOG=1", 1000, msg, sizeof msg), 0);

    /* SIGHUP with two reloadable changes and one that needs a restart. */
    write_file(conf, "log_level = debug\nlog_format = json\npg_pool = 2\n");
    assert_int_equal(harness_daemon_signal(d, SIGHUP), 0);
    assert_int_equal(wait_for(fd, "RELOADING=1", 5000, msg, sizeof msg), 0);
    assert_int_equal(wait_for(fd, "READY=1", 5000, msg, sizeof msg), 0);
    assert_true(log_waits_for(d, "reload: log_level info -> debug, log_format text -> json", 5000));
    assert_true(log_waits_for(d, "only a restart applies them (the values in use stay): pg_pool",
                              5000));
    /* From now on the log is JSON. */
    assert_true(log_waits_for(d, "{\"ts\":\"", 5000));

    /* A file that no longer loads: nothing changes, and the log says why. */
    write_file(conf, "log_level = loud\n");
    assert_int_equal(harness_daemon_signal(d, SIGHUP), 0);
    assert_true(log_waits_for(d, "every setting stays as it is", 5000));
    assert_true(log_waits_for(d, "log_level: 'loud' is not one of", 5000));
    fc_client_t *c = harness_connect(d, 2000, err, sizeof err);
    assert_non_null(c);
    fc_response_t r = { 0 };
    assert_int_equal(fc_client_call(c, "ping", NULL, &r), FC_OK);
    assert_true(r.ok);
    fc_response_free(&r);
    fc_client_close(c);

    assert_int_equal(harness_daemon_signal(d, SIGTERM), 0);
    assert_int_equal(wait_for(fd, "STOPPING=1", 5000, msg, sizeof msg), 0);
    if (harness_daemon_wait(d, 10000) != 0) {
        harness_daemon_dump_log(d, "SIGTERM");
        fail_msg("feedcached did not exit 0 within 10 s of SIGTERM");
    }
    harness_daemon_free(d);
    unlink(conf);
    close(fd);
}

static void ready_with_backends_down(void **state)
{
    (void)state;
    int fd = notify_listen("down");
    int rport = harness_free_port(), pport = harness_free_port();
    assert_true(rport > 0 && pport > 0);
    char redis[64], pg[96];
    snprintf(redis, sizeof redis, "redis://127.0.0.1:%d/0", rport);
    snprintf(pg, sizeof pg, "host=127.0.0.1 port=%d dbname=feedcache", pport);
    const char *extra[] = { "--redis", redis, "--pg", pg, NULL };
    char err[1024];
    harness_daemon_t *d = harness_daemon_start(extra, err, sizeof err);
    unsetenv("NOTIFY_SOCKET");
    if (!d)
        fail_msg("%s", err);
    char msg[1024];
    if (wait_for(fd, "READY=1", 10000, msg, sizeof msg) != 0) {
        harness_daemon_dump_log(d, "no READY=1");
        fail_msg("no READY=1 within 10 s with the backends down");
    }
    int r = -1, p = -1;
    ready_counts(msg, &r, &p);
    assert_int_equal(r, 0);
    assert_int_equal(p, 0);
    assert_int_equal(harness_daemon_finish(d, true), 0);
    close(fd);
}

/* auth with token on a new connection: the role, or "" when refused. */
static void auth_role(const harness_daemon_t *d, const char *token, char *role, size_t cap)
{
    char err[512];
    fc_client_t *c = harness_connect(d, 2000, err, sizeof err);
    assert_non_null(c);
    role[0] = '\0';
    if (fc_client_auth(c, token, role, cap) != FC_OK)
        role[0] = '\0';
    fc_client_close(c);
}

static void tokens_file_renamed_on_reload(void **state)
{
    (void)state;
    char a[] = "/tmp/fc-itest-tokA-XXXXXX", b[] = "/tmp/fc-itest-tokB-XXXXXX";
    char conf[] = "/tmp/fc-itest-sdconf-XXXXXX";
    int fds[3] = { mkstemp(a), mkstemp(b), mkstemp(conf) };
    for (int i = 0; i < 3; i++) {
        assert_true(fds[i] >= 0);
        close(fds[i]);
    }
    write_file(a, "admin token-of-file-a-0123456789\n");
    write_file(b, "admin token-of-file-b-0123456789\n");
    char line[128];
    snprintf(line, sizeof line, "auth_tokens_file = %s\n", a);
    write_file(conf, line);

    const char *extra[] = { "--config", conf, NULL };
    char err[1024], role[16];
    harness_daemon_t *d = harness_daemon_start(extra, err, sizeof err);
    if (!d)
        fail_msg("%s", err);
    auth_role(d, "token-of-file-a-0123456789", role, sizeof role);
    assert_string_equal(role, "admin");

    snprintf(line, sizeof line, "auth_tokens_file = %s\n", b);
    write_file(conf, line);
    assert_int_equal(harness_daemon_signal(d, SIGHUP), 0);
    char want[256];
    snprintf(want, sizeof want, "reload: auth_tokens_file %s -> %s", a, b);
    assert_true(log_waits_for(d, want, 5000));
    auth_role(d, "token-of-file-b-0123456789", role, sizeof role);
    assert_string_equal(role, "admin");
    auth_role(d, "token-of-file-a-0123456789", role, sizeof role);
    assert_string_equal(role, "");

    /* Off needs a restart: the file in use stays, so does its token. */
    write_file(conf, "# no auth_tokens_file\n");
    assert_int_equal(harness_daemon_signal(d, SIGHUP), 0);
    assert_true(log_waits_for(d, "auth_tokens_file (turning authentication off)", 5000));
    auth_role(d, "token-of-file-b-0123456789", role, sizeof role);
    assert_string_equal(role, "admin");

    assert_int_equal(harness_daemon_finish(d, true), 0);
    unlink(a);
    unlink(b);
    unlink(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ready_watchdog_reload_stopping),
        cmocka_unit_test(ready_with_backends_down),
        cmocka_unit_test(tokens_file_renamed_on_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* util/notify: datagrams reach a socket the test binds itself (a path and
 * an abstract name), bad names are refused, a full receiver never blocks
 * the sender, and $WATCHDOG_USEC / $WATCHDOG_PID give the ping interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/notify.h"

/* Binds an AF_UNIX datagram socket to name (a path, or '@' + abstract). */
static int bind_dgram(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    size_t len = strlen(name);
    assert_true(len < sizeof sun.sun_path);
    memcpy(sun.sun_path, name, len);
    socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '@')
        sun.sun_path[0] = '\0';
    else
        addrlen++;
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, addrlen), 0);
    return fd;
}

/* The next datagram on fd (waits at most a second), NUL-terminated. */
static void recv_one(int fd, char *out, size_t cap)
{
    struct timeval tv = { .tv_sec = 1 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, out, cap - 1, 0);
    assert_true(n >= 0);
    out[n] = '\0';
}

static void sends_to_a_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/fc-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/notify.sock", dir);
    int fd = bind_dgram(path);

    char err[256] = "", got[256];
    assert_int_equal(notify_send(path, "READY=1\nSTATUS=serving", err, sizeof err), 0);
    recv_one(fd, got, sizeof got);
    assert_string_equal(got, "READY=1\nSTATUS=serving");
    assert_int_equal(notify_send(path, "WATCHDOG=1", err, sizeof err), 0);
    recv_one(fd, got, sizeof got);
    assert_string_equal(got, "WATCHDOG=1");

    close(fd);
    unlink(path);
    rmdir(dir);
    /* Nobody listening any more: an error that names the socket. */
    assert_int_equal(notify_send(path, "STOPPING=1", err, sizeof err), -1);
    assert_non_null(strstr(err, path));
}

static void sends_to_an_abstract_name(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "@fc-notify-test-%d", (int)getpid());
    int fd = bind_dgram(name);
    char err[256] = "", got[256];
    assert_int_equal(notify_send(name, "STOPPING=1", err, sizeof err), 0);
    recv_one(fd, got, sizeof got);
    assert_string_equal(got, "STOPPING=1");
    close(fd);
}

static void bad_names_are_refused(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(notify_send(NULL, "READY=1", err, sizeof err), -1);
    assert_int_equal(notify_send("", "READY=1", err, sizeof err), -1);
    assert_int_equal(notify_send("relative/path", "READY=1", err, sizeof err), -1);
    assert_non_null(strstr(err, "relative/path"));
    assert_int_equal(notify_send("vsock:2:1234", "READY=1", err, sizeof err), -1);
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[0] = '/';
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(notify_send(longname, "READY=1", err, sizeof err), -1);
    assert_non_null(strstr(err, "too long"));
}

/* A receiver that never reads fills its queue (net.unix.max_dgram_qlen):
 * the sender gets an error instead of waiting. The test would hang on a
 * blocking send. */
static void a_full_receiver_does_not_block(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "@fc-notify-full-%d", (int)getpid());
    int fd = bind_dgram(name);
    char err[256];
    int failed = 0;
    for (int i = 0; i < 5000 && !failed; i++)
        if (notify_send(name, "WATCHDOG=1", err, sizeof err) != 0)
            failed = 1;
    assert_true(failed);
    assert_non_null(strstr(err, strerror(EAGAIN)));
    close(fd);
}

static void watchdog_interval(void **state)
{
    (void)state;
    pid_t me = 1234;
    assert_int_equal(notify_watchdog_ms(NULL, NULL, me), 0);
    assert_int_equal(notify_watchdog_ms("", NULL, me), 0);
    assert_int_equal(notify_watchdog_ms("0", NULL, me), 0);
    assert_int_equal(notify_watchdog_ms("-5", NULL, me), 0);
    assert_int_equal(notify_watchdog_ms("30s", NULL, me), 0);
    assert_int_equal(notify_watchdog_ms("99999999999999999999999", NULL, me), 0);
    /* Half the period. */
    assert_int_equal(notify_watchdog_ms("30000000", NULL, me), 15000);
    assert_int_equal(notify_watchdog_ms("30000000", "", me), 15000);
    assert_int_equal(notify_watchdog_ms("30000000", "1234", me), 15000);
    /* Meant for another process (inherited): none for us. */
    assert_int_equal(notify_watchdog_ms("30000000", "999", me), 0);
    assert_int_equal(notify_watchdog_ms("30000000", "x", me), 0);
    /* Never 0 for a real watchdog, however short. */
    assert_int_equal(notify_watchdog_ms("1", NULL, me), 1);
    assert_int_equal(notify_watchdog_ms("3000", NULL, me), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sends_to_a_path),
        cmocka_unit_test(sends_to_an_abstract_name),
        cmocka_unit_test(bad_names_are_refused),
        cmocka_unit_test(a_full_receiver_does_not_block),
        cmocka_unit_test(watchdog_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

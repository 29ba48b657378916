#include "util/notify.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send(const char *socket_name, const char *state, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    size_t len = socket_name ? strlen(socket_name) : 0;
    if (len == 0 || (socket_name[0] != '/' && socket_name[0] != '@')) {
        snprintf(err, errlen, "NOTIFY_SOCKET '%s' is not a path or an @abstract name",
                 socket_name ? socket_name : "");
        return -1;
    }
    if (len > sizeof sun.sun_path - (socket_name[0] == '/')) {
        snprintf(err, errlen, "NOTIFY_SOCKET is too long (%zu bytes)", len);
        return -1;
    }
    memcpy(sun.sun_path, socket_name, len);
    if (sun.sun_path[0] == '@')
        sun.sun_path[0] = '\0';
    /* An abstract name's length is part of the name: no trailing NUL. */
    socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                    (socket_name[0] == '/'));

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    ssize_t n = sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
                       (const struct sockaddr *)&sun, addrlen);
    int saved = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "send to %s: %s", socket_name, strerror(saved));
        return -1;
    }
    return 0;
}

/* A positive whole decimal number, or 0. */
static uint64_t parse_positive(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    return errno == ERANGE ? 0 : (uint64_t)v;
}

uint64_t notify_watchdog_ms(const char *watchdog_usec, const char *watchdog_pid, pid_t self)
{
    uint64_t usec = parse_positive(watchdog_usec);
    if (usec == 0)
        return 0;
    if (watchdog_pid && *watchdog_pid && parse_positive(watchdog_pid) != (uint64_t)self)
        return 0;
    uint64_t ms = usec / 2000;
    return ms > 0 ? ms : 1;
}

/* Connecting with a deadline: a non-blocking connect() and poll(), trying
 * each address a name resolves to until one answers. */
#include "client/client_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/addr.h"

/* Starts a non-blocking connect and waits for it. Returns the fd or -1 with
 * a reason in err. */
static int connect_one(int family, const struct sockaddr *sa, socklen_t salen,
                       int64_t deadline, char *err, size_t errlen)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    for (;;) {
        if (connect(fd, sa, salen) == 0)
            return fd;
        /* A unix socket whose backlog is full says EAGAIN and does not
         * queue us: try again until the deadline. */
        if (errno == EAGAIN && family == AF_UNIX && fc__remaining_ms(deadline) != 0) {
            usleep(10000);
            continue;
        }
        break;
    }
    /* EINTR: the connect goes on in the background, as for EINPROGRESS. */
    if (errno != EINPROGRESS && errno != EINTR) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int n;
    do
        n = poll(&pfd, 1, fc__remaining_ms(deadline));
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        if (n == 0)
            snprintf(err, errlen, "connect timed out");
        else
            snprintf(err, errlen, "poll: %s", strerror(errno));
        close(fd);
        return -1;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        snprintf(err, errlen, "%s", strerror(soerr ? soerr : errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_addr(const addr_t *a, int64_t deadline, char *err, size_t errlen)
{
    if (a->is_unix) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
        return connect_one(AF_UNIX, (struct sockaddr *)&sun, sizeof sun, deadline, err, errlen);
    }
    char port[8];
    snprintf(port, sizeof port, "%d", a->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res;
    int gai = getaddrinfo(a->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", a->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline, err, errlen);
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        /* Requests are small and the caller waits for each answer. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int fc__connect(const char *addr, int timeout_ms, char *err, size_t errlen)
{
    addr_t a;
    char why[512];
    if (addr_parse(addr, &a, why, sizeof why) != 0) {
        snprintf(err, errlen, "bad address '%s': %s", addr, why);
        return -1;
    }
    int fd = connect_addr(&a, fc__deadline_after(timeout_ms), why, sizeof why);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect: %s", why);
    return fd;
}

#include "util/unix_sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

unix_sock_state_t unix_sock_probe(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? UNIX_SOCK_ABSENT : UNIX_SOCK_OTHER;
    if (!S_ISSOCK(st.st_mode))
        return UNIX_SOCK_OTHER;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return UNIX_SOCK_OTHER;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    unix_sock_state_t r;
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
        r = UNIX_SOCK_LIVE;
    else if (errno == ECONNREFUSED)
        r = UNIX_SOCK_STALE;
    else if (errno == EAGAIN)
        r = UNIX_SOCK_LIVE;          /* listening, backlog full */
    else
        r = UNIX_SOCK_OTHER;
    close(fd);
    return r;
}

const char *unix_sock_state_name(unix_sock_state_t st)
{
    switch (st) {
    case UNIX_SOCK_ABSENT: return "absent";
    case UNIX_SOCK_STALE: return "stale";
    case UNIX_SOCK_LIVE: return "in use by a running process";
    default: return "not a socket";
    }
}

/* Unix socket files: telling a stale one (left by a process that died) from
 * one a live process listens on, so that a listener replaces only the first.
 * Binding over a live socket would silently steal it: the old process keeps
 * running but no new client ever reaches it. */
#ifndef FC_UTIL_UNIX_SOCK_H
#define FC_UTIL_UNIX_SOCK_H

typedef enum {
    UNIX_SOCK_ABSENT = 0,   /* nothing at path */
    UNIX_SOCK_STALE,        /* a socket file nobody accepts on: may be removed */
    UNIX_SOCK_LIVE,         /* a process accepts connections on it: leave it */
    UNIX_SOCK_OTHER,        /* not a socket, or cannot tell: leave it */
} unix_sock_state_t;

/* Probes path by connecting to it (and closing at once). */
unix_sock_state_t unix_sock_probe(const char *path);

const char *unix_sock_state_name(unix_sock_state_t st);

#endif

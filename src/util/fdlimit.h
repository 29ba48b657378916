/* The descriptor limit (RLIMIT_NOFILE) and how many connections fit in it.
 * Every RPC connection holds a descriptor; so do backend connections (and
 * their reconnects), the listeners, the loop and log files. Running out
 * makes accept() fail and, worse, Redis and PostgreSQL reconnects fail. */
#ifndef FC_UTIL_FDLIMIT_H
#define FC_UTIL_FDLIMIT_H

typedef struct {
    unsigned long before;   /* soft limit at start */
    unsigned long now;      /* soft limit in force (the hard limit, if raising worked) */
    unsigned long hard;
} fdlimit_t;

/* Raises the soft RLIMIT_NOFILE to the hard limit. Returns 0, or -1 when
 * the limits cannot be read (out is then zeroed). */
int fdlimit_raise(fdlimit_t *out);

/* Connections that fit when `reserve` descriptors are kept for everything
 * else: min(wanted, limit - reserve), and at least 1. Pure. */
unsigned fdlimit_max_connections(unsigned long limit, unsigned long reserve, unsigned wanted);

#endif

/* Host names to addresses without blocking the loop.
 *
 * resolve_start looks a name up on libuv's thread pool (getaddrinfo in a
 * uv_work_t, as uv_getaddrinfo does) and calls back once, later, from the
 * loop, with every distinct address (IPv4 and IPv6, in the resolver's
 * order, at most RESOLVE_MAX_ADDRS) as numeric text, or with a reason. It
 * never calls back before it returns, and never fails by return value: a
 * name that does not resolve reaches the callback like any other failure.
 *
 * Callers asking for a name that is being looked up already (same loop)
 * share that lookup: one thread per name, however many connections wait.
 *
 * resolve_cancel(r): the callback will not run, and r is freed. A lookup
 * nobody waits for any more is dropped if it has not started, else it
 * finishes in its thread and is discarded; the loop stays alive until then.
 *
 * Callers connect to numeric hosts directly (resolve_is_numeric) and resolve
 * again before every connection attempt, so a name that moves is followed.
 *
 * Test hooks (builds with -Dfault_hooks=true only, util/fault.h): the
 * environment variable FC_FAULT_RESOLVE_DELAY_MS makes every lookup sleep
 * that long in its worker thread (a slow DNS server), and
 * FC_FAULT_RESOLVE_HOSTS names a hosts-format file ("ADDRESS NAME..."
 * lines, re-read on every lookup) that replaces the system resolver: a name
 * it does not list does not resolve. */
#ifndef FC_UTIL_RESOLVE_H
#define FC_UTIL_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define RESOLVE_MAX_ADDRS 8
#define RESOLVE_ADDR_LEN 46          /* INET6_ADDRSTRLEN */

typedef struct {
    int ok;                          /* 1: naddrs >= 1; 0: why says what went wrong */
    size_t naddrs;
    char addrs[RESOLVE_MAX_ADDRS][RESOLVE_ADDR_LEN];
    char why[160];                   /* e.g. "cannot resolve 'redis': Name or service not known" */
} resolve_result_t;

typedef void resolve_fn(const resolve_result_t *res, void *arg);

typedef struct resolve resolve_t;

/* True for an IPv4 or IPv6 literal (no lookup needed). */
bool resolve_is_numeric(const char *host);

/* Starts looking host up; cb runs exactly once from the loop unless the
 * lookup is cancelled first. Never returns NULL (out of memory aborts). */
resolve_t *resolve_start(uv_loop_t *loop, const char *host, resolve_fn *cb, void *arg);

/* The callback of r will not run. r must not be used afterwards. */
void resolve_cancel(resolve_t *r);

#endif

/* Private to the client library. */
#ifndef FC_CLIENT_INT_H
#define FC_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* msgpack_sbuffer_write that aborts when realloc fails (feedcache treats
 * out-of-memory as fatal), so packing never fails half-way. The packer
 * write callback of the params builder and the output queue. */
int fc__sbuffer_write(void *sbuf, const char *buf, size_t len);

/* Connects a non-blocking socket to addr (see fc_client_connect) within
 * timeout_ms (< 0: no limit). Returns the fd, or -1 with a reason in err. */
int fc__connect(const char *addr, int timeout_ms, char *err, size_t errlen);

/* Monotonic milliseconds: every wait in the library runs to a deadline
 * (-1 meaning none) so that one operation never exceeds its timeout. */
static inline int64_t fc__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t fc__deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : fc__now_ms() + timeout_ms;
}

/* The poll() timeout left until deadline: -1 (none), else >= 0. */
static inline int fc__remaining_ms(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - fc__now_ms();
    return left <= 0 ? 0 : (int)(left > 1000000000 ? 1000000000 : left);
}

#endif

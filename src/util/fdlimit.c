#include "util/fdlimit.h"

#include <string.h>
#include <sys/resource.h>

#define FDLIMIT_UNLIMITED_TARGET 1048576

int fdlimit_raise(fdlimit_t *out)
{
    memset(out, 0, sizeof *out);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    out->before = out->now = (unsigned long)rl.rlim_cur;
    out->hard = (unsigned long)rl.rlim_max;
    /* Linux refuses more than fs.nr_open (1048576 by default), even when
     * the hard limit says unlimited. */
    rlim_t target = rl.rlim_max == RLIM_INFINITY ? FDLIMIT_UNLIMITED_TARGET : rl.rlim_max;
    if (rl.rlim_cur < target) {
        struct rlimit want = { .rlim_cur = target, .rlim_max = rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            out->now = (unsigned long)target;
    }
    return 0;
}

unsigned fdlimit_max_connections(unsigned long limit, unsigned long reserve, unsigned wanted)
{
    if (limit <= reserve)
        return 1;
    unsigned long fit = limit - reserve;
    return fit < wanted ? (unsigned)fit : wanted;
}

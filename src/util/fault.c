#include "util/fault.h"

#ifdef FC_FAULT_HOOKS

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fault_point(const char *name)
{
    const char *armed = getenv("FC_FAULT");
    if (!armed || strcmp(armed, name) != 0)
        return;
    fprintf(stderr, "fault point %s: exiting with %d (FC_FAULT)\n", name, FAULT_EXIT_CODE);
    fflush(stderr);
    _exit(FAULT_EXIT_CODE);
}

unsigned fault_resolve_delay_ms(void)
{
    const char *v = getenv("FC_FAULT_RESOLVE_DELAY_MS");
    if (!v || !*v)
        return 0;
    char *end;
    unsigned long ms = strtoul(v, &end, 10);
    return *end || ms > 600000 ? 0 : (unsigned)ms;
}

const char *fault_resolve_hosts(void)
{
    const char *v = getenv("FC_FAULT_RESOLVE_HOSTS");
    return v && *v ? v : NULL;
}

#endif

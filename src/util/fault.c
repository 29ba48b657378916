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

#endif

/* Fault points: named places where a test can make feedcached crash, to
 * prove that what the code does next survives a crash at exactly that
 * moment (the fault suite, tests/faults/).
 *
 * Compiled in only with `meson setup -Dfault_hooks=true` (scripts/test.sh
 * builds its trees that way); otherwise fault_point() is a constant false
 * and the compiler drops the branch. A point fires when the environment
 * variable FC_FAULT holds its name; it then ends the process at once with
 * FAULT_EXIT_CODE, without any cleanup, as a kill -9 would. */
#ifndef FC_UTIL_FAULT_H
#define FC_UTIL_FAULT_H

#include <stdbool.h>

#define FAULT_EXIT_CODE 86

#ifdef FC_FAULT_HOOKS
/* Ends the process when FC_FAULT names this point; returns otherwise. */
void fault_point(const char *name);
#else
static inline void fault_point(const char *name)
{
    (void)name;
}
#endif

#endif

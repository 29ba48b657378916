/* Fault points: named places where a test can make feedcached crash, to
 * prove that what the code does next survives a crash at exactly that
 * moment (the fault suite, tests/faults/).
 *
 * Compiled in only with `meson setup -Dfault_hooks=true` (scripts/test.sh
 * builds its trees that way); otherwise fault_point() is a constant false
 * and the compiler drops the branch. A point fires when the environment
 * variable FC_FAULT holds its name; it then ends the process at once with
 * FAULT_EXIT_CODE, without any cleanup, as a kill -9 would.
 *
 * The same builds have two resolver hooks (util/resolve.h), read on every
 * lookup, in the resolver's worker thread:
 *   FC_FAULT_RESOLVE_DELAY_MS=N   every lookup takes N ms longer (slow DNS);
 *   FC_FAULT_RESOLVE_HOSTS=FILE   a hosts-format file replaces the system
 *                                 resolver (names it lacks do not resolve). */
#ifndef FC_UTIL_FAULT_H
#define FC_UTIL_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#define FAULT_EXIT_CODE 86

#ifdef FC_FAULT_HOOKS
/* Ends the process when FC_FAULT names this point; returns otherwise. */
void fault_point(const char *name);
/* FC_FAULT_RESOLVE_DELAY_MS (0 when unset or not a number). */
unsigned fault_resolve_delay_ms(void);
/* FC_FAULT_RESOLVE_HOSTS, or NULL when unset or empty. */
const char *fault_resolve_hosts(void);
#else
static inline void fault_point(const char *name)
{
    (void)name;
}
static inline unsigned fault_resolve_delay_ms(void)
{
    return 0;
}
static inline const char *fault_resolve_hosts(void)
{
    return NULL;
}
#endif

#endif

/* Decimal integers from replies (Redis bulk strings, PostgreSQL text):
 * a plain loop, since glibc's locale-aware strtoll was a visible share of a
 * cached read's CPU time. */
#ifndef FC_UTIL_NUM_H
#define FC_UTIL_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses an optional '-' and decimal digits up to the first other
 * character (or NUL). No overflow check: inputs are ids and scores the
 * service wrote itself. Returns 0 for an empty string. */
static inline int64_t fc_i64(const char *s)
{
    int neg = *s == '-';
    s += neg;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return neg ? -(int64_t)v : (int64_t)v;
}

#endif

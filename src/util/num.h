/* Decimal integers from replies (Redis bulk strings, PostgreSQL text) and
 * into commands and query parameters: plain loops, since glibc's
 * locale-aware strtoll was a visible share of a cached read's CPU time. */
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

/* Bytes that always hold a formatted int64: "-9223372036854775808" + NUL. */
#define FC_I64_CHARS 21

/* Writes v in decimal into out (NUL-terminated) and returns its length: the
 * inverse of fc_i64, without printf (the commands and query parameters of a
 * request format several ids each). */
static inline size_t fc_i64_format(char out[FC_I64_CHARS], int64_t v)
{
    char tmp[FC_I64_CHARS];
    size_t i = sizeof tmp;
    /* Negate in unsigned arithmetic: -INT64_MIN does not fit an int64_t. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    size_t n = sizeof tmp - i;
    for (size_t k = 0; k < n; k++)
        out[k] = tmp[i + k];
    out[n] = '\0';
    return n;
}

#endif

/* Values on feedcachectl's command lines: ids, integers, durations and id
 * lists. Strict: "12x", "-3" and "" are refused with a message, never
 * guessed at. */
#include "ctl/ctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A whole decimal number in 0..INT64_MAX, digits only. */
static int parse_digits(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int ctl_parse_id(const ctl_command_t *cmd, const char *what, const char *s, int64_t *out)
{
    if (parse_digits(s, strlen(s), out) != 0 || *out < 1)
        return ctl_usage_error(cmd->name, "bad %s '%s': expected a positive integer id", what, s);
    return 0;
}

int ctl_parse_int(const ctl_command_t *cmd, const char *what, const char *s, int64_t min,
                  int64_t max, int64_t *out)
{
    if (parse_digits(s, strlen(s), out) != 0 || *out < min || *out > max)
        return ctl_usage_error(cmd->name, "bad %s '%s': expected an integer %lld..%lld", what, s,
                               (long long)min, (long long)max);
    return 0;
}

int ctl_parse_duration(const char *s, int64_t *seconds)
{
    int64_t total = 0;
    const char *p = s;
    if (!*p)
        return -1;
    while (*p) {
        size_t n = 0;
        while (isdigit((unsigned char)p[n]))
            n++;
        int64_t v;
        if (parse_digits(p, n, &v) != 0)
            return -1;
        p += n;
        int64_t unit = 1;
        switch (*p) {
        case 's': unit = 1; p++; break;
        case 'm': unit = 60; p++; break;
        case 'h': unit = 3600; p++; break;
        case 'd': unit = 86400; p++; break;
        case 'w': unit = 604800; p++; break;
        case '\0':
            if (p - n != s)
                return -1;      /* "1h30": the unit of the last number is missing */
            break;
        default:
            return -1;
        }
        if (v > (INT64_MAX - total) / unit)
            return -1;
        total += v * unit;
    }
    if (total < 1)
        return -1;
    *seconds = total;
    return 0;
}

int ctl_parse_ids(const char *text, int64_t **ids, size_t *n, size_t *cap, char *err,
                  size_t errlen)
{
    const char *p = text;
    while (*p) {
        if (*p == '#') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (*p == ',' || isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        size_t len = strcspn(p, ", \t\r\n#");
        int64_t v;
        if (parse_digits(p, len, &v) != 0 || v < 1) {
            snprintf(err, errlen, "'%.*s' is not a positive integer id",
                     (int)(len > 40 ? 40 : len), p);
            return -1;
        }
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 256;
            *ids = fc_xrealloc(*ids, *cap * sizeof **ids);
        }
        (*ids)[(*n)++] = v;
        p += len;
    }
    return 0;
}

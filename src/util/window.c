#include "util/window.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int parse_hhmm(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
        s[3] > '9' || s[4] < '0' || s[4] > '9')
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return -1;
    *out = h * 60 + m;
    return 0;
}

int window_parse(const char *s, window_t *w, char *err, size_t errlen)
{
    w->start_min = w->end_min = -1;
    if (!s || !*s)
        return 0;
    window_t p;
    if (strlen(s) != 11 || s[5] != '-' || parse_hhmm(s, &p.start_min) != 0 ||
        parse_hhmm(s + 6, &p.end_min) != 0) {
        snprintf(err, errlen, "'%s' is not HH:MM-HH:MM (local time, e.g. 02:00-05:00), "
                 "or empty for always", s);
        return -1;
    }
    if (p.start_min == p.end_min) {
        snprintf(err, errlen, "'%s' is an empty window (start equals end); "
                 "leave it empty for always", s);
        return -1;
    }
    *w = p;
    return 0;
}

bool window_contains(const window_t *w, int m)
{
    if (w->start_min < 0)
        return true;
    if (w->start_min < w->end_min)
        return m >= w->start_min && m < w->end_min;
    return m >= w->start_min || m < w->end_min;      /* wraps midnight */
}

bool window_contains_now(const window_t *w)
{
    if (w->start_min < 0)
        return true;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    return window_contains(w, tm.tm_hour * 60 + tm.tm_min);
}

/* A daily time window "HH:MM-HH:MM" in local time, such as an off-peak
 * window for background work. It may wrap midnight (22:00-04:00); start
 * equal to end is refused as ambiguous; "" means always. Pure. */
#ifndef FC_UTIL_WINDOW_H
#define FC_UTIL_WINDOW_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int start_min;      /* minutes since midnight, 0..1439; -1: always */
    int end_min;        /* exclusive; -1: always */
} window_t;

/* Parses s ("" or NULL: always). Returns 0, or -1 with a reason in err
 * (err does not repeat the setting's name). */
int window_parse(const char *s, window_t *w, char *err, size_t errlen);

/* Whether minute-of-day m (0..1439) lies in [start, end), wrapping midnight. */
bool window_contains(const window_t *w, int m);

/* Whether the current local time lies in the window. */
bool window_contains_now(const window_t *w);

#endif

/* Rate limits for log lines: a storm of the same warning (one per failed
 * request under overload, say) must not bury everything else or cost the
 * loop its time.
 *
 * A "kind" is a call site: the format string's address. Each kind may write
 * `burst` lines per window of `interval_ms`; later lines of that window are
 * counted, not written. The first line of a kind after its window ended
 * opens a new window and carries the count ("N similar lines suppressed");
 * log_limit_expired reports the counts of kinds that went quiet.
 *
 * Pure logic with the time passed in, so it is tested without a clock;
 * log.c holds the process-wide instance. */
#ifndef FC_UTIL_LOG_LIMIT_H
#define FC_UTIL_LOG_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define LOG_LIMIT_SLOTS 128

typedef struct {
    const void *kind;            /* NULL: free */
    const char *module;
    uint64_t window_start_ms;
    unsigned lines;              /* written in this window */
    uint64_t suppressed;         /* counted in this window */
} log_limit_slot_t;

typedef struct {
    unsigned burst;              /* lines per window, >= 1 */
    uint64_t interval_ms;
    uint64_t total_suppressed;   /* since start, for a metric or a test */
    log_limit_slot_t slots[LOG_LIMIT_SLOTS];
} log_limit_t;

void log_limit_init(log_limit_t *l, unsigned burst, uint64_t interval_ms);

/* Whether a line of `kind` may be written at now_ms. When it may,
 * *suppressed is the count of lines of that kind dropped in its previous
 * window (0 when none), to be mentioned in the line. */
bool log_limit_admit(log_limit_t *l, const void *kind, const char *module, uint64_t now_ms,
                     uint64_t *suppressed);

/* Calls report for every kind whose window ended with lines suppressed and
 * forgets them; returns how many were reported. */
typedef void log_limit_report_fn(const char *module, const void *kind, uint64_t suppressed,
                                 uint64_t window_ms, void *arg);
int log_limit_expired(log_limit_t *l, uint64_t now_ms, log_limit_report_fn *report, void *arg);

#endif

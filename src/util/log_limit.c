#include "util/log_limit.h"

#include <string.h>

/* Probe this many slots from a kind's hash before evicting: kinds are call
 * sites, a few dozen at most, so the table is mostly empty. */
#define LOG_LIMIT_PROBE 8

void log_limit_init(log_limit_t *l, unsigned burst, uint64_t interval_ms)
{
    memset(l, 0, sizeof *l);
    l->burst = burst ? burst : 1;
    l->interval_ms = interval_ms;
}

static unsigned slot_hash(const void *kind)
{
    uint64_t x = (uint64_t)(uintptr_t)kind;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (unsigned)(x % LOG_LIMIT_SLOTS);
}

/* The kind's slot, or a free one, or the one whose window is oldest
 * (evicted: its count is lost, which only under-reports). */
static log_limit_slot_t *find_slot(log_limit_t *l, const void *kind)
{
    unsigned h = slot_hash(kind);
    log_limit_slot_t *oldest = NULL, *free_slot = NULL;
    for (unsigned i = 0; i < LOG_LIMIT_PROBE; i++) {
        log_limit_slot_t *s = &l->slots[(h + i) % LOG_LIMIT_SLOTS];
        if (s->kind == kind)
            return s;
        if (!s->kind && !free_slot)
            free_slot = s;
        if (s->kind && (!oldest || s->window_start_ms < oldest->window_start_ms))
            oldest = s;
    }
    log_limit_slot_t *s = free_slot ? free_slot : oldest;
    memset(s, 0, sizeof *s);
    return s;
}

bool log_limit_admit(log_limit_t *l, const void *kind, const char *module, uint64_t now_ms,
                     uint64_t *suppressed)
{
    *suppressed = 0;
    log_limit_slot_t *s = find_slot(l, kind);
    if (!s->kind || now_ms - s->window_start_ms >= l->interval_ms) {
        *suppressed = s->kind ? s->suppressed : 0;
        s->kind = kind;
        s->module = module;
        s->window_start_ms = now_ms;
        s->lines = 1;
        s->suppressed = 0;
        return true;
    }
    if (s->lines < l->burst) {
        s->lines++;
        return true;
    }
    s->suppressed++;
    l->total_suppressed++;
    return false;
}

int log_limit_expired(log_limit_t *l, uint64_t now_ms, log_limit_report_fn *report, void *arg)
{
    int n = 0;
    for (unsigned i = 0; i < LOG_LIMIT_SLOTS; i++) {
        log_limit_slot_t *s = &l->slots[i];
        if (!s->kind || now_ms - s->window_start_ms < l->interval_ms)
            continue;
        if (s->suppressed > 0) {
            report(s->module, s->kind, s->suppressed, now_ms - s->window_start_ms, arg);
            n++;
        }
        memset(s, 0, sizeof *s);
    }
    return n;
}

/* Phases of an open-loop run (feedbench --phases R1:S1,R2:S2,...): the
 * measured window is cut into back-to-back phases, each with its own
 * offered rate, with no pause between them, so that a spike and the
 * recovery after it are measured as one client sees them (the service's
 * backlog of one phase is still there when the next one starts).
 *
 * Attribution: goodput and errors count answers in the phase in which
 * they arrive (what the service delivered, or refused, during it); the
 * latency of served operations, drops by the client (--drop) and the
 * recovery figures (served, of those due in the first FB_PHASE_EARLY_S)
 * count operations in the phase in which they were *due*, so that a read
 * sent during a spike and answered after it counts for the spike. Pure
 * logic, no I/O. */
#ifndef FC_BENCH_FB_PHASE_H
#define FC_BENCH_FB_PHASE_H

#include <stdint.h>

#include "fb_hist.h"

#define FB_MAX_PHASES 8
/* "Served within 2 s" of issue 15: the recovery window of a phase. */
#define FB_PHASE_EARLY_S 2.0
/* A phase's onset: where a change of load shows first (the reads due in
 * the first 120 ms of an overload were all served, up to 64 ms late, while
 * a bug kept feedcached holding them; 3% of the phase, they set its p99). */
#define FB_PHASE_ONSET_S 0.25

/* RPC error codes, counted apart: OVERLOADED is load shedding (the caller
 * should back off), UNAVAILABLE claims a backend is down. */
typedef enum { FB_CODE_OVERLOADED, FB_CODE_UNAVAILABLE, FB_CODE_OTHER, FB_CODE__COUNT } fb_code_t;

typedef struct {
    int n;
    double rate[FB_MAX_PHASES];     /* operations/s offered */
    double secs[FB_MAX_PHASES];
} fb_phases_t;

/* What happened in one phase (one thread's share; merged with add). */
typedef struct {
    hist_t served;                  /* latency of successful operations due in it */
    hist_t settled;                 /* of those, due after its first FB_PHASE_EARLY_S */
    hist_t onset;                   /* of those, due in its first FB_PHASE_ONSET_S */
    uint64_t ok;                    /* successful answers that arrived in it */
    uint64_t codes[FB_CODE__COUNT]; /* error answers that arrived in it */
    uint64_t scheduled;             /* operations due in it (sent or dropped) */
    uint64_t dropped;               /* due in it, not sent: the connection was at its cap */
    uint64_t early_due, early_ok;   /* due in its first FB_PHASE_EARLY_S; of them succeeded */
    double last_fail;               /* seconds from its start to its last error or drop; -1 */
} fb_phase_res_t;

/* "R:S,R:S,...": rates > 0 and seconds > 0, at most FB_MAX_PHASES. 0, or
 * -1 when malformed. */
int fb_phases_parse(const char *s, fb_phases_t *p);
double fb_phases_total(const fb_phases_t *p);
/* The phase holding t in a window that starts at t0: -1 before t0, n at or
 * after its end. */
int fb_phases_at(const fb_phases_t *p, double t0, double t);
/* When phase i starts (i == n: the window's end). */
double fb_phases_start(const fb_phases_t *p, double t0, int i);
/* The rate offered at t: the first phase's before the window (warm-up),
 * the last one's after it. */
double fb_phases_rate(const fb_phases_t *p, double t0, double t);

fb_code_t fb_code_of(const char *code);
const char *fb_code_name(fb_code_t c);

void fb_phase_res_init(fb_phase_res_t *r);
void fb_phase_res_add(fb_phase_res_t *into, const fb_phase_res_t *from);
/* A failure (error answer or drop) at offset seconds into its phase. */
void fb_phase_res_failed(fb_phase_res_t *r, double offset);

#endif

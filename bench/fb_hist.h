/* A log-linear latency histogram in the style of HdrHistogram, with two
 * significant decimal digits: values below 256 are exact, and above that
 * every power of two is split into 128 linear sub-buckets, so a recorded
 * value is known within 1/128 (< 0.8%). Values are nanoseconds; up to
 * 2^40 ns (18 minutes) is kept, larger ones count as that.
 *
 * One histogram per thread and operation; merged at the end (hist_add), so
 * recording is a couple of instructions and takes no lock. */
#ifndef FC_BENCH_FB_HIST_H
#define FC_BENCH_FB_HIST_H

#include <stdint.h>

#define HIST_SUB 128                    /* sub-buckets per power of two */
#define HIST_MAX_SHIFT 33               /* 2^(7+33) = 2^40 ns */
#define HIST_BUCKETS (2 * HIST_SUB + HIST_MAX_SHIFT * HIST_SUB)

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max;                  /* exact, ns */
    double sum;                         /* ns, for the mean */
} hist_t;

void hist_init(hist_t *h);
void hist_record(hist_t *h, uint64_t ns);
void hist_add(hist_t *into, const hist_t *from);
/* The value at percentile p (0..100): the highest value equivalent to the
 * bucket holding the ceil(p% of total)-th smallest recording, clamped to
 * [min, max]. 0 when empty. */
uint64_t hist_percentile(const hist_t *h, double p);
double hist_mean(const hist_t *h);

#endif

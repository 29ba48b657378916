/* Metrics: counters, gauges and histograms, rendered as Prometheus text 0.0.4.
 *
 * Everything runs on the one libuv loop, so values are plain integers and
 * doubles with no atomics. A family is a metric name with its help, type and
 * (for histograms) bucket bounds; a series is one set of label values in a
 * family. Series are created at start-up or on first use and live until
 * metrics_teardown(): callers keep the metric_t pointer and bump it directly.
 *
 * Modules declare their unlabelled metrics in one X-macro table next to the
 * code that counts them (see METRIC_TABLE_* below), so that a metric is
 * listed once and the struct, the registration and the output follow. */
#ifndef FC_METRICS_METRICS_H
#define FC_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum {
    METRIC_COUNTER,
    METRIC_GAUGE,
    METRIC_HISTOGRAM,
} metric_type_t;

typedef struct metric_family metric_family_t;

typedef struct metric {
    metric_family_t *family;
    char *labels;             /* rendered `k="v",k2="v2"`, "" when none */
    uint64_t count;           /* counter value; histogram observation count */
    double value;             /* gauge value; histogram sum */
    uint64_t *buckets;        /* histogram: per-bucket (non-cumulative) counts */
    struct metric *next;
} metric_t;

/* Latency buckets in seconds, 100 µs .. 10 s. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

/* Returns the family `name`, creating it on first call. A second call with
 * the same name returns the existing family (type and help must agree). */
metric_family_t *metrics_family(const char *name, const char *help, metric_type_t type,
                                const double *bounds, size_t nbounds);

/* The series with these label values (names and values paired), created on
 * first use. Values are escaped as the text format requires. */
metric_t *metrics_series(metric_family_t *family, size_t nlabels,
                         const char *const *names, const char *const *values);

/* Shorthand for an unlabelled metric. */
metric_t *metrics_simple(const char *name, const char *help, metric_type_t type);

static inline void metric_inc(metric_t *m) { m->count++; }
static inline void metric_add(metric_t *m, uint64_t n) { m->count += n; }
static inline void metric_set(metric_t *m, double v) { m->value = v; }
static inline void metric_gauge_add(metric_t *m, double d) { m->value += d; }
void metric_observe(metric_t *m, double v);

/* Appends the whole registry in text format 0.0.4, families in registration
 * order. Runs the render hooks first. */
void metrics_render(buf_t *out);

/* A function metrics_render calls before it renders, to bring a computed
 * value up to date (e.g. a maximum since the last scrape, then reset). At
 * most METRICS_MAX_HOOKS; metrics_teardown forgets them. */
#define METRICS_MAX_HOOKS 4
typedef void metrics_hook_fn(void *arg);
void metrics_on_render(metrics_hook_fn *fn, void *arg);

/* Escapes a label value into out (backslash, double quote, newline). */
void metrics_escape_label(buf_t *out, const char *value);

/* Frees every family and series; pointers held by callers become invalid. */
void metrics_teardown(void);

/* --- X-macro helpers -----------------------------------------------------
 * A module lists its unlabelled metrics once:
 *   #define RDS_METRICS(ACTION) \
 *       ACTION(redis_commands_total, METRIC_COUNTER, "Redis commands sent")
 *   typedef struct { RDS_METRICS(METRIC_FIELD) } rds_metrics_t;
 * and registers them all with
 *   #define METRICS_TARGET (&rds_metrics)
 *   RDS_METRICS(METRIC_REGISTER)
 * which names each one feedcache_<field>. */
#define METRIC_FIELD(name, type, help) metric_t *name;
#define METRIC_REGISTER(name, type, help) \
    (METRICS_TARGET)->name = metrics_simple("feedcache_" #name, help, type);

#endif

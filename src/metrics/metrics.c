#include "metrics/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric_family {
    char *name;
    char *help;
    metric_type_t type;
    double *bounds;           /* histogram upper bounds, ascending, +Inf implied */
    size_t nbounds;
    metric_t *series;         /* in creation order */
    metric_t **series_tail;
    metric_family_t *next;
};

const double metrics_latency_buckets[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t metrics_latency_nbuckets =
    sizeof metrics_latency_buckets / sizeof metrics_latency_buckets[0];

static metric_family_t *families;
static metric_family_t **families_tail = &families;

static struct {
    metrics_hook_fn *fn;
    void *arg;
} hooks[METRICS_MAX_HOOKS];
static size_t nhooks;

void metrics_on_render(metrics_hook_fn *fn, void *arg)
{
    if (nhooks < METRICS_MAX_HOOKS) {
        hooks[nhooks].fn = fn;
        hooks[nhooks++].arg = arg;
    }
}

static const char *type_name(metric_type_t t)
{
    switch (t) {
    case METRIC_COUNTER: return "counter";
    case METRIC_GAUGE: return "gauge";
    case METRIC_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

metric_family_t *metrics_family(const char *name, const char *help, metric_type_t type,
                                const double *bounds, size_t nbounds)
{
    for (metric_family_t *f = families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    metric_family_t *f = fc_xcalloc(1, sizeof *f);
    f->name = fc_xstrdup(name);
    f->help = fc_xstrdup(help);
    f->type = type;
    if (type == METRIC_HISTOGRAM) {
        if (!bounds) {
            bounds = metrics_latency_buckets;
            nbounds = metrics_latency_nbuckets;
        }
        f->bounds = fc_xmalloc(nbounds * sizeof *f->bounds);
        memcpy(f->bounds, bounds, nbounds * sizeof *f->bounds);
        f->nbounds = nbounds;
    }
    f->series_tail = &f->series;
    *families_tail = f;
    families_tail = &f->next;
    return f;
}

void metrics_escape_label(buf_t *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        switch (*p) {
        case '\\': buf_puts(out, "\\\\"); break;
        case '"': buf_puts(out, "\\\""); break;
        case '\n': buf_puts(out, "\\n"); break;
        default: buf_append(out, p, 1);
        }
    }
}

metric_t *metrics_series(metric_family_t *f, size_t nlabels,
                         const char *const *names, const char *const *values)
{
    buf_t labels;
    buf_init(&labels);
    buf_reserve(&labels, 0);
    for (size_t i = 0; i < nlabels; i++) {
        if (i)
            buf_puts(&labels, ",");
        buf_printf(&labels, "%s=\"", names[i]);
        metrics_escape_label(&labels, values[i]);
        buf_puts(&labels, "\"");
    }
    for (metric_t *m = f->series; m; m = m->next) {
        if (strcmp(m->labels, labels.data) == 0) {
            buf_free(&labels);
            return m;
        }
    }
    metric_t *m = fc_xcalloc(1, sizeof *m);
    m->family = f;
    m->labels = labels.data;   /* ownership moves to the series */
    if (f->type == METRIC_HISTOGRAM)
        m->buckets = fc_xcalloc(f->nbounds + 1, sizeof *m->buckets);
    *f->series_tail = m;
    f->series_tail = &m->next;
    return m;
}

metric_t *metrics_simple(const char *name, const char *help, metric_type_t type)
{
    return metrics_series(metrics_family(name, help, type, NULL, 0), 0, NULL, NULL);
}

void metric_observe(metric_t *m, double v)
{
    metric_family_t *f = m->family;
    size_t i = 0;
    /* A linear scan: 16 bounds, cheaper than a branchy binary search. */
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    m->buckets[i]++;
    m->count++;
    m->value += v;
}

static void render_double(buf_t *out, double v)
{
    if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        buf_puts(out, "NaN");
    else if (v == (double)(int64_t)v && fabs(v) < 1e15)
        buf_printf(out, "%lld", (long long)v);
    else {
        /* The shortest form that reads back as the same double: 0.0001
         * rather than 0.00010000000000000000479. */
        char tmp[32];
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        buf_puts(out, tmp);
    }
}

/* Writes `name{labels[,extra]} ` with braces only when there is a label. */
static void render_name(buf_t *out, const char *name, const char *suffix,
                        const char *labels, const char *extra)
{
    buf_puts(out, name);
    buf_puts(out, suffix);
    int has_labels = labels[0] != '\0';
    if (has_labels || extra) {
        buf_puts(out, "{");
        buf_puts(out, labels);
        if (extra) {
            if (has_labels)
                buf_puts(out, ",");
            buf_puts(out, extra);
        }
        buf_puts(out, "}");
    }
    buf_puts(out, " ");
}

static void render_help(buf_t *out, const char *help)
{
    /* HELP text escapes only backslash and newline. */
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_puts(out, "\\\\");
        else if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_append(out, p, 1);
    }
}

void metrics_render(buf_t *out)
{
    for (size_t i = 0; i < nhooks; i++)
        hooks[i].fn(hooks[i].arg);
    for (metric_family_t *f = families; f; f = f->next) {
        buf_printf(out, "# HELP %s ", f->name);
        render_help(out, f->help);
        buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
        for (metric_t *m = f->series; m; m = m->next) {
            switch (f->type) {
            case METRIC_COUNTER:
                render_name(out, f->name, "", m->labels, NULL);
                buf_printf(out, "%llu\n", (unsigned long long)m->count);
                break;
            case METRIC_GAUGE:
                render_name(out, f->name, "", m->labels, NULL);
                render_double(out, m->value);
                buf_puts(out, "\n");
                break;
            case METRIC_HISTOGRAM: {
                uint64_t cumulative = 0;
                char le[64];
                for (size_t i = 0; i <= f->nbounds; i++) {
                    cumulative += m->buckets[i];
                    if (i < f->nbounds) {
                        buf_t b;
                        buf_init(&b);
                        render_double(&b, f->bounds[i]);
                        snprintf(le, sizeof le, "le=\"%s\"", b.data);
                        buf_free(&b);
                    } else {
                        snprintf(le, sizeof le, "le=\"+Inf\"");
                    }
                    render_name(out, f->name, "_bucket", m->labels, le);
                    buf_printf(out, "%llu\n", (unsigned long long)cumulative);
                }
                render_name(out, f->name, "_sum", m->labels, NULL);
                render_double(out, m->value);
                buf_puts(out, "\n");
                render_name(out, f->name, "_count", m->labels, NULL);
                buf_printf(out, "%llu\n", (unsigned long long)m->count);
                break;
            }
            }
        }
    }
}

void metrics_teardown(void)
{
    nhooks = 0;
    metric_family_t *f = families;
    while (f) {
        metric_family_t *next_f = f->next;
        metric_t *m = f->series;
        while (m) {
            metric_t *next_m = m->next;
            free(m->labels);
            free(m->buckets);
            free(m);
            m = next_m;
        }
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
        f = next_f;
    }
    families = NULL;
    families_tail = &families;
}

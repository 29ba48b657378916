/* Unit tests for the metrics registry and its text rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/metrics.h"

static int teardown(void **state)
{
    (void)state;
    metrics_teardown();
    return 0;
}

static char *render(buf_t *b)
{
    buf_init(b);
    metrics_render(b);
    return b->data ? b->data : "";
}

static void counter_renders_help_type_and_value(void **state)
{
    (void)state;
    metric_t *m = metrics_simple("feedcache_x_total", "things counted", METRIC_COUNTER);
    metric_inc(m);
    metric_add(m, 41);
    buf_t b;
    const char *text = render(&b);
    assert_non_null(strstr(text, "# HELP feedcache_x_total things counted\n"));
    assert_non_null(strstr(text, "# TYPE feedcache_x_total counter\n"));
    assert_non_null(strstr(text, "\nfeedcache_x_total 42\n"));
    buf_free(&b);
}

static void same_labels_give_same_series(void **state)
{
    (void)state;
    metric_family_t *f = metrics_family("feedcache_req_total", "reqs", METRIC_COUNTER, NULL, 0);
    const char *names[] = { "method", "code" };
    const char *v1[] = { "ping", "OK" };
    const char *v2[] = { "ping", "INTERNAL" };
    metric_t *a = metrics_series(f, 2, names, v1);
    metric_t *b = metrics_series(f, 2, names, v1);
    metric_t *c = metrics_series(f, 2, names, v2);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    metric_inc(a);
    metric_inc(b);
    buf_t out;
    const char *text = render(&out);
    assert_non_null(strstr(text, "feedcache_req_total{method=\"ping\",code=\"OK\"} 2\n"));
    assert_non_null(strstr(text, "feedcache_req_total{method=\"ping\",code=\"INTERNAL\"} 0\n"));
    /* The family header appears once. */
    const char *first = strstr(text, "# TYPE feedcache_req_total");
    assert_null(strstr(first + 1, "# TYPE feedcache_req_total"));
    buf_free(&out);
}

static void label_values_are_escaped(void **state)
{
    (void)state;
    metric_family_t *f = metrics_family("feedcache_esc", "e", METRIC_GAUGE, NULL, 0);
    const char *names[] = { "v" };
    const char *vals[] = { "a\"b\\c\nd" };
    metric_set(metrics_series(f, 1, names, vals), 1.5);
    buf_t out;
    const char *text = render(&out);
    assert_non_null(strstr(text, "feedcache_esc{v=\"a\\\"b\\\\c\\nd\"} 1.5\n"));
    buf_free(&out);
}

static void histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    const double bounds[] = { 0.001, 0.01, 0.1 };
    metric_family_t *f = metrics_family("feedcache_lat_seconds", "latency", METRIC_HISTOGRAM,
                                        bounds, 3);
    const char *names[] = { "method" };
    const char *vals[] = { "ping" };
    metric_t *h = metrics_series(f, 1, names, vals);
    metric_observe(h, 0.0005);   /* <= 0.001 */
    metric_observe(h, 0.001);    /* le is inclusive */
    metric_observe(h, 0.05);     /* <= 0.1 */
    metric_observe(h, 3);        /* +Inf only */
    buf_t out;
    const char *text = render(&out);
    assert_non_null(strstr(text, "feedcache_lat_seconds_bucket{method=\"ping\",le=\"0.001\"} 2\n"));
    assert_non_null(strstr(text, "feedcache_lat_seconds_bucket{method=\"ping\",le=\"0.01\"} 2\n"));
    assert_non_null(strstr(text, "feedcache_lat_seconds_bucket{method=\"ping\",le=\"0.1\"} 3\n"));
    assert_non_null(strstr(text, "feedcache_lat_seconds_bucket{method=\"ping\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "feedcache_lat_seconds_count{method=\"ping\"} 4\n"));
    assert_non_null(strstr(text, "feedcache_lat_seconds_sum{method=\"ping\"} 3.0515\n"));
    buf_free(&out);
}

static void unlabelled_histogram_has_only_le(void **state)
{
    (void)state;
    metric_t *h = metrics_simple("feedcache_lag_seconds", "lag", METRIC_HISTOGRAM);
    metric_observe(h, 0.0001);
    buf_t out;
    const char *text = render(&out);
    assert_non_null(strstr(text, "feedcache_lag_seconds_bucket{le=\"0.0001\"} 1\n"));
    assert_non_null(strstr(text, "feedcache_lag_seconds_count 1\n"));
    buf_free(&out);
}

#define FAKE_METRICS(ACTION) \
    ACTION(fake_a_total, METRIC_COUNTER, "a") \
    ACTION(fake_depth, METRIC_GAUGE, "depth")

typedef struct { FAKE_METRICS(METRIC_FIELD) } fake_metrics_t;

static void xmacro_table_registers_with_prefix(void **state)
{
    (void)state;
    fake_metrics_t fm;
#define METRICS_TARGET (&fm)
    FAKE_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET
    metric_inc(fm.fake_a_total);
    metric_set(fm.fake_depth, 7);
    buf_t out;
    const char *text = render(&out);
    assert_non_null(strstr(text, "\nfeedcache_fake_a_total 1\n"));
    assert_non_null(strstr(text, "\nfeedcache_fake_depth 7\n"));
    assert_non_null(strstr(text, "# TYPE feedcache_fake_depth gauge\n"));
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(counter_renders_help_type_and_value, teardown),
        cmocka_unit_test_teardown(same_labels_give_same_series, teardown),
        cmocka_unit_test_teardown(label_values_are_escaped, teardown),
        cmocka_unit_test_teardown(histogram_buckets_are_cumulative, teardown),
        cmocka_unit_test_teardown(unlabelled_histogram_has_only_le, teardown),
        cmocka_unit_test_teardown(xmacro_table_registers_with_prefix, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

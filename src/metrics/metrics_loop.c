/* Longest loop iteration (contract in metrics_loop.h). */
#include "metrics/metrics_loop.h"

#include <stdint.h>

#include "metrics/metrics.h"

static struct {
    uv_loop_t *loop;
    uv_prepare_t prepare;
    int running;
    uint64_t last_ns;           /* uv_hrtime() at the previous prepare, 0 before the first */
    uint64_t last_idle_ns;      /* uv_metrics_idle_time() then */
    uint64_t max_ns;            /* since the last render */
    metric_t *gauge;
} lag;

static void on_prepare(uv_prepare_t *h)
{
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(lag.loop);
    if (lag.last_ns) {
        uint64_t span = now - lag.last_ns;
        uint64_t idled = idle - lag.last_idle_ns;
        uint64_t busy = span > idled ? span - idled : 0;
        if (busy > lag.max_ns)
            lag.max_ns = busy;
    }
    lag.last_ns = now;
    lag.last_idle_ns = idle;
}

static void on_render(void *arg)
{
    lag.gauge->value = (double)lag.max_ns / 1e9;
    lag.max_ns = 0;
}

void metrics_loop_start(uv_loop_t *loop)
{
    lag.loop = loop;
    lag.last_ns = 0;
    lag.max_ns = 0;
    uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    lag.gauge = metrics_simple("feedcache_loop_iteration_max_seconds",
        "Longest event loop iteration since the previous scrape (time not spent waiting for I/O): "
        "how long every connection may have waited for the loop", METRIC_GAUGE);
    metrics_on_render(on_render, NULL);
    uv_prepare_init(loop, &lag.prepare);
    uv_prepare_start(&lag.prepare, on_prepare);
    uv_unref((uv_handle_t *)&lag.prepare);
    lag.running = 1;
}

double metrics_loop_max_seconds(void)
{
    return (double)lag.max_ns / 1e9;
}

void metrics_loop_stop(void)
{
    if (!lag.running)
        return;
    lag.running = 0;
    uv_close((uv_handle_t *)&lag.prepare, NULL);
}

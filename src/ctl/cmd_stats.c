/* feedcachectl stats: the service's counters as a table an operator reads
 * at a glance (hit ratios as percentages, fan-out lag and queue, rebuilds,
 * PostgreSQL fallbacks), or the raw map as JSON for machines. */
#include "ctl/ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The keys the table interprets; anything else is listed as it is. */
static const char *const known_keys[] = {
    "feed_cache_hits", "feed_cache_misses", "post_cache_hits", "post_cache_misses",
    "feed_rebuilds", "pg_fallbacks", "fanout_posts", "fanout_deliveries",
    "fanout_queue_depth", "fanout_lag_ms_total",
};

static bool stat_int(const msgpack_object *map, const char *key, int64_t *out)
{
    return fc_obj_int(fc_obj_get(map, key), out) == 0;
}

static void row(const char *label, const char *value, const char *detail)
{
    printf("  %-24s %12s%s%s\n", label, value, detail[0] ? "   " : "", detail);
}

static void ratio_row(const msgpack_object *map, const char *label, const char *hits_key,
                      const char *misses_key)
{
    int64_t hits, misses;
    char value[32], detail[96];
    if (!stat_int(map, hits_key, &hits) || !stat_int(map, misses_key, &misses)) {
        row(label, "?", "(not reported)");
        return;
    }
    if (hits + misses == 0) {
        snprintf(value, sizeof value, "-");
        snprintf(detail, sizeof detail, "(no reads yet)");
    } else {
        snprintf(value, sizeof value, "%.1f %%", 100.0 * (double)hits / (double)(hits + misses));
        snprintf(detail, sizeof detail, "(%" PRId64 " hits, %" PRId64 " misses)", hits, misses);
    }
    row(label, value, detail);
}

static void int_row(const msgpack_object *map, const char *label, const char *key,
                    const char *detail)
{
    int64_t v;
    char value[32];
    if (stat_int(map, key, &v))
        snprintf(value, sizeof value, "%" PRId64, v);
    else
        snprintf(value, sizeof value, "?");
    row(label, value, detail);
}

static void print_table(const char *addr, const msgpack_object *map)
{
    printf("feedcached %s\n", addr);
    ratio_row(map, "feed cache hit ratio", "feed_cache_hits", "feed_cache_misses");
    ratio_row(map, "post cache hit ratio", "post_cache_hits", "post_cache_misses");

    int64_t posts, lag_ms;
    char value[32], detail[96];
    if (stat_int(map, "fanout_posts", &posts) && stat_int(map, "fanout_lag_ms_total", &lag_ms) &&
        posts > 0) {
        snprintf(value, sizeof value, "%.1f ms", (double)lag_ms / (double)posts);
        snprintf(detail, sizeof detail, "(mean over %" PRId64 " posts fanned out)", posts);
    } else {
        snprintf(value, sizeof value, "-");
        snprintf(detail, sizeof detail, "(no post fanned out yet)");
    }
    row("fan-out lag", value, detail);
    int_row(map, "fan-out queue depth", "fanout_queue_depth", "(jobs queued, not yet done)");
    int_row(map, "fan-out deliveries", "fanout_deliveries", "(post ids pushed into feeds)");
    int_row(map, "feed rebuilds", "feed_rebuilds", "(home feeds rebuilt from PostgreSQL)");
    int_row(map, "PostgreSQL fallbacks", "pg_fallbacks", "(reads that needed PostgreSQL)");

    /* Counters this version does not know: shown raw, so nothing is hidden. */
    bool header = false;
    buf_t b;
    buf_init(&b);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        bool known = false;
        for (size_t k = 0; k < sizeof known_keys / sizeof known_keys[0]; k++)
            known |= fc_obj_str_eq(&kv->key, known_keys[k]);
        if (known)
            continue;
        if (!header) {
            puts("other counters:");
            header = true;
        }
        buf_reset(&b);
        ctl_json(&b, &kv->key);
        buf_puts(&b, "  ");
        ctl_json(&b, &kv->val);
        printf("  %s\n", b.data);
    }
    buf_free(&b);
}

static int stats_run(ctl_opts_t *opts, int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        int st = ctl_common_arg(opts, &ctl_cmd_stats, argc, argv, &i);
        if (st == CTL_ARG_TAKEN)
            continue;
        if (st != CTL_ARG_UNKNOWN)
            return st;
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
            continue;
        }
        return ctl_bad_arg(&ctl_cmd_stats, argv[i]);
    }
    fc_client_t *c = ctl_connect(opts);
    if (!c)
        return CTL_FAIL;
    fc_response_t r;
    int rc = ctl_call(opts, c, "stats", NULL, &r);
    if (rc == CTL_OK) {
        if (r.result.type != MSGPACK_OBJECT_MAP) {
            fprintf(stderr, "feedcachectl: %s: stats: expected a map, got msgpack type %d\n",
                    opts->addr, (int)r.result.type);
            rc = CTL_FAIL;
        } else {
            ctl_sort_map(&r.result);
            if (json)
                ctl_print_json(&r.result);
            else
                print_table(opts->addr, &r.result);
        }
        fc_response_free(&r);
    }
    fc_client_close(c);
    return rc;
}

const ctl_command_t ctl_cmd_stats = {
    .name = "stats",
    .summary = "show hit ratios, fan-out lag and queue, rebuilds, PostgreSQL fallbacks",
    .usage =
        "Usage: feedcachectl [--addr ADDR] [--timeout MS] stats [--json]\n"
        "\n"
        "Prints the counters of the stats method as a table: the hit ratios of\n"
        "the feed and post caches (hits / (hits + misses), as percentages), the\n"
        "mean fan-out lag (publish answered -> last delivery), the fan-out\n"
        "queue depth and deliveries, feed rebuilds and PostgreSQL fallbacks.\n"
        "Counters the table does not know are listed after it. The counters\n"
        "count since feedcached started.\n"
        "\n"
        "Options:\n"
        "  --json    print the raw stats map as one JSON object (keys sorted)\n"
        "\n"
        "Exit status 0 on success, 1 when feedcached cannot be reached or\n"
        "answers an error, 2 on a usage error.\n",
    .run = stats_run,
};

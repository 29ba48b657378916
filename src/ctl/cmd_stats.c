/* feedcachectl stats: the service's counters, as a table or JSON. */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

/* Prints `key  value` lines with the values aligned. Integer values print
 * as they are; anything else in its JSON form. */
static void print_table(const msgpack_object *map)
{
    int width = 0;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && (int)k->via.str.size > width)
            width = (int)k->via.str.size;
    }
    buf_t b;
    buf_init(&b);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        buf_reset(&b);
        if (kv->key.type == MSGPACK_OBJECT_STR)
            buf_printf(&b, "%-*.*s", width, (int)kv->key.via.str.size, kv->key.via.str.ptr);
        else
            ctl_json(&b, &kv->key);
        buf_puts(&b, "  ");
        ctl_json(&b, &kv->val);
        puts(b.data);
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
            if (json) {
                buf_t b;
                buf_init(&b);
                ctl_json(&b, &r.result);
                puts(b.data);
                buf_free(&b);
            } else {
                print_table(&r.result);
            }
        }
        fc_response_free(&r);
    }
    fc_client_close(c);
    return rc;
}

const ctl_command_t ctl_cmd_stats = {
    .name = "stats",
    .summary = "show the service's counters",
    .usage =
        "Usage: feedcachectl [--addr ADDR] [--timeout MS] stats [--json]\n"
        "\n"
        "Prints the counters of the stats method, one 'name  value' line each,\n"
        "sorted by name.\n"
        "\n"
        "Options:\n"
        "  --json    print one JSON object instead\n"
        "\n"
        "Exit status 0 on success, 1 when feedcached cannot be reached or\n"
        "answers an error, 2 on a usage error.\n",
    .run = stats_run,
};

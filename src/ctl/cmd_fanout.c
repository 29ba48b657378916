/* feedcachectl fanout: the fan-out queue's dead letters. `dead-letters`
 * lists them (fanout.dead_letters, all pages), `retry` requeues one or all
 * of them (fanout.retry) once the cause is fixed. */
#include "ctl/ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PAGE 500

static void print_str(const msgpack_object *o, int width)
{
    const char *s;
    size_t n;
    if (fc_obj_str(o, &s, &n) == 0)
        printf("%-*.*s", width, (int)n, s);
    else
        printf("%-*s", width, "-");
}

static void print_int(const msgpack_object *o, int width)
{
    int64_t v;
    if (fc_obj_int(o, &v) == 0)
        printf("%-*" PRId64, width, v);
    else
        printf("%-*s", width, "-");
}

static void print_when(const msgpack_object *o)
{
    int64_t ms;
    if (fc_obj_int(o, &ms) != 0) {
        printf("-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s", buf);
}

static int list_run(ctl_opts_t *opts, fc_client_t *c, bool json)
{
    fc_params_t p;
    fc_params_init(&p);
    char after[64] = "";
    int64_t total = 0, shown = 0;
    int rc = CTL_OK;
    for (;;) {
        fc_params_reset(&p);
        fc_params_int(&p, "limit", PAGE);
        if (after[0])
            fc_params_str(&p, "after", after);
        fc_response_t r;
        rc = ctl_call(opts, c, "fanout.dead_letters", &p, &r);
        if (rc != CTL_OK)
            break;
        const msgpack_object *list = fc_obj_get(&r.result, "dead_letters");
        if (!list || list->type != MSGPACK_OBJECT_ARRAY ||
            fc_obj_int(fc_obj_get(&r.result, "total"), &total) != 0) {
            fprintf(stderr, "feedcachectl: %s: fanout.dead_letters: unexpected answer\n",
                    opts->addr);
            fc_response_free(&r);
            rc = CTL_FAIL;
            break;
        }
        if (!json && shown == 0 && list->via.array.size > 0)
            printf("%-22s %-4s %-20s %-20s %-8s %-20s %s\n", "ID", "TYPE", "POST", "AUTHOR",
                   "ATTEMPTS", "WHEN (UTC)", "REASON");
        for (uint32_t i = 0; i < list->via.array.size; i++) {
            const msgpack_object *d = &list->via.array.ptr[i];
            if (json) {
                ctl_print_json(d);
            } else {
                print_str(fc_obj_get(d, "id"), 22);
                putchar(' ');
                print_str(fc_obj_get(d, "type"), 4);
                putchar(' ');
                print_int(fc_obj_get(d, "post"), 20);
                putchar(' ');
                print_int(fc_obj_get(d, "author"), 20);
                putchar(' ');
                print_int(fc_obj_get(d, "attempts"), 8);
                putchar(' ');
                print_when(fc_obj_get(d, "at_ms"));
                putchar(' ');
                print_str(fc_obj_get(d, "reason"), 0);
                putchar('\n');
            }
            shown++;
        }
        const char *next;
        size_t n;
        bool more = fc_obj_str(fc_obj_get(&r.result, "next"), &next, &n) == 0 &&
                    n < sizeof after && list->via.array.size > 0;
        if (more) {
            memcpy(after, next, n);
            after[n] = '\0';
        }
        fc_response_free(&r);
        if (!more)
            break;
    }
    if (rc == CTL_OK && !json)
        printf("%" PRId64 " dead letter%s\n", shown, shown == 1 ? "" : "s");
    fc_params_free(&p);
    return rc;
}

static int retry_run(ctl_opts_t *opts, fc_client_t *c, const char *id)
{
    fc_params_t p;
    fc_params_init(&p);
    if (id)
        fc_params_str(&p, "id", id);
    else
        fc_params_bool(&p, "all", true);
    int64_t requeued = 0, target = -1;
    int rc;
    for (;;) {
        fc_response_t r;
        rc = ctl_call(opts, c, "fanout.retry", &p, &r);
        if (rc != CTL_OK)
            break;
        int64_t n = 0, left = 0;
        if (fc_obj_int(fc_obj_get(&r.result, "requeued"), &n) != 0 ||
            fc_obj_int(fc_obj_get(&r.result, "remaining"), &left) != 0) {
            fprintf(stderr, "feedcachectl: %s: fanout.retry: unexpected answer\n", opts->addr);
            fc_response_free(&r);
            rc = CTL_FAIL;
            break;
        }
        fc_response_free(&r);
        requeued += n;
        if (target < 0)
            target = n + left;
        /* --all goes on in batches until what was there at the start is
         * requeued (a job that fails at once may come back meanwhile). */
        if (id || n == 0 || left == 0 || requeued >= target)
            break;
    }
    if (rc == CTL_OK)
        printf("requeued %" PRId64 " dead letter%s\n", requeued, requeued == 1 ? "" : "s");
    fc_params_free(&p);
    return rc;
}

static int fanout_run(ctl_opts_t *opts, int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_cmd_fanout;
    const char *sub = NULL, *job = NULL;
    bool all = false, json = false;
    for (int i = 1; i < argc; i++) {
        int st = ctl_common_arg(opts, cmd, argc, argv, &i);
        if (st == CTL_ARG_TAKEN)
            continue;
        if (st != CTL_ARG_UNKNOWN)
            return st;
        if (strcmp(argv[i], "--all") == 0 && sub && strcmp(sub, "retry") == 0) {
            all = true;
        } else if (strcmp(argv[i], "--json") == 0 && sub && strcmp(sub, "dead-letters") == 0) {
            json = true;
        } else if (argv[i][0] == '-') {
            return ctl_bad_arg(cmd, argv[i]);
        } else if (!sub) {
            sub = argv[i];
            if (strcmp(sub, "dead-letters") != 0 && strcmp(sub, "retry") != 0)
                return ctl_usage_error("fanout", "unknown subcommand '%s' "
                                       "(dead-letters or retry)", sub);
        } else if (strcmp(sub, "retry") == 0 && !job) {
            job = argv[i];
        } else {
            return ctl_bad_arg(cmd, argv[i]);
        }
    }
    if (!sub)
        return ctl_usage_error("fanout", "missing subcommand (dead-letters or retry)");
    if (strcmp(sub, "retry") == 0 && (job != NULL) == all)
        return ctl_usage_error("fanout", "retry: give a dead-letter ID or --all");
    fc_client_t *c = ctl_connect(opts);
    if (!c)
        return CTL_FAIL;
    int rc = strcmp(sub, "retry") == 0 ? retry_run(opts, c, job) : list_run(opts, c, json);
    fc_client_close(c);
    return rc;
}

const ctl_command_t ctl_cmd_fanout = {
    .name = "fanout",
    .summary = "list or requeue fan-out jobs in the dead-letter stream",
    .usage =
        "Usage: feedcachectl [--addr ADDR] [--timeout MS] fanout dead-letters [--json]\n"
        "       feedcachectl [--addr ADDR] [--timeout MS] fanout retry (ID | --all)\n"
        "\n"
        "A fan-out job that failed fanout_max_attempts times, or that is not a\n"
        "job at all (malformed), is moved to the dead-letter stream instead of\n"
        "being retried forever (docs/OPERATIONS.md, \"Dead letters\").\n"
        "\n"
        "  dead-letters   lists them, oldest first: ID (the dead letter's id), type\n"
        "                 (p post, m celebrity marker, d delete), post, author,\n"
        "                 attempts, when it was moved (UTC) and why; --json prints\n"
        "                 one JSON object per line instead\n"
        "  retry ID       requeues that dead letter as a new job (fresh attempts)\n"
        "                 and removes it from the dead-letter stream\n"
        "  retry --all    requeues every dead letter\n"
        "\n"
        "Fix the cause first (the reason column says what failed): a job that\n"
        "fails again comes back after fanout_max_attempts attempts.\n"
        "\n"
        "Exit status 0 on success, 1 when feedcached cannot be reached or\n"
        "answers an error (NOT_FOUND: no such dead letter), 2 on a usage error.\n",
    .run = fanout_run,
};

/* feedcachectl timeline USER: one page of a home timeline, for debugging
 * (what does user 42 see, and where did it come from?). */
#include "ctl/ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BODY_SHOWN 100      /* bytes of a body printed in the table */

/* created_at (ms since the epoch) as 2024-06-01T12:34:56.789Z. */
static void format_ms(int64_t ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(out, cap, "%" PRId64 " ms", ms);
        return;
    }
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", day, frac);
}

/* A body on one line: quoted, control characters escaped, cut at a UTF-8
 * character boundary after BODY_SHOWN bytes. */
static void format_body(buf_t *b, const char *s, size_t n)
{
    size_t shown = n;
    if (shown > BODY_SHOWN) {
        shown = BODY_SHOWN;
        while (shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
            shown--;
    }
    buf_puts(b, "\"");
    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n')
            buf_puts(b, "\\n");
        else if (ch == '"' || ch == '\\')
            buf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            buf_printf(b, "\\x%02x", ch);
        else
            buf_append(b, &s[i], 1);
    }
    buf_puts(b, shown < n ? "\"..." : "\"");
}

static void print_page(int64_t user, const msgpack_object *res)
{
    const msgpack_object *posts = fc_obj_get(res, "posts");
    const msgpack_object *cursor = fc_obj_get(res, "next_cursor");
    const char *source = "?";
    size_t source_len = 1;
    fc_obj_str(fc_obj_get(res, "source"), &source, &source_len);
    bool degraded = false;
    fc_obj_bool(fc_obj_get(res, "degraded"), &degraded);
    uint32_t n = posts && posts->type == MSGPACK_OBJECT_ARRAY ? posts->via.array.size : 0;
    printf("user %" PRId64 ": %u post%s (source %.*s)%s\n", user, n, n == 1 ? "" : "s",
           (int)source_len, source,
           degraded ? " DEGRADED: a backend was unavailable, posts may be missing" : "");
    buf_t b;
    buf_init(&b);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *p = &posts->via.array.ptr[i];
        int64_t id = 0, author = 0, ts = 0;
        fc_obj_int(fc_obj_get(p, "id"), &id);
        fc_obj_int(fc_obj_get(p, "author_id"), &author);
        fc_obj_int(fc_obj_get(p, "created_at"), &ts);
        char when[48];
        format_ms(ts, when, sizeof when);
        buf_reset(&b);
        buf_printf(&b, "  %s  post %-20" PRId64 " by %-10" PRId64, when, id, author);
        const char *body;
        size_t len;
        if (fc_obj_str(fc_obj_get(p, "body"), &body, &len) == 0) {
            buf_puts(&b, "  ");
            format_body(&b, body, len);
        }
        puts(b.data);
    }
    buf_free(&b);
    const char *c;
    size_t clen;
    if (fc_obj_str(cursor, &c, &clen) == 0)
        printf("next page: --cursor %.*s\n", (int)clen, c);
    else
        puts("(last page)");
}

static int timeline_run(ctl_opts_t *opts, int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_cmd_timeline;
    const char *user_arg = NULL, *cursor = NULL, *v;
    int64_t limit = 0;
    bool json = false, hydrate = true;
    for (int i = 1; i < argc; i++) {
        int st = ctl_common_arg(opts, cmd, argc, argv, &i);
        if (st == CTL_ARG_TAKEN)
            continue;
        if (st != CTL_ARG_UNKNOWN)
            return st;
        if ((st = ctl_opt_value(cmd, argc, argv, &i, "--limit", &v)) != 0) {
            if (st != 1 || ctl_parse_int(cmd, "--limit", v, 1, 200, &limit) != 0)
                return CTL_USAGE;
        } else if ((st = ctl_opt_value(cmd, argc, argv, &i, "--cursor", &v)) != 0) {
            if (st != 1)
                return CTL_USAGE;
            cursor = v;
        } else if (strcmp(argv[i], "--no-hydrate") == 0) {
            hydrate = false;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] != '-' && !user_arg) {
            user_arg = argv[i];
        } else {
            return ctl_bad_arg(cmd, argv[i]);
        }
    }
    if (!user_arg)
        return ctl_usage_error(cmd->name, "missing USER (a user id)");
    int64_t user;
    if (ctl_parse_id(cmd, "USER", user_arg, &user) != 0)
        return CTL_USAGE;

    fc_client_t *c = ctl_connect(opts);
    if (!c)
        return CTL_FAIL;
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", user);
    if (limit)
        fc_params_int(&p, "limit", limit);
    if (cursor)
        fc_params_str(&p, "cursor", cursor);
    if (!hydrate)
        fc_params_bool(&p, "hydrate", false);
    fc_response_t r;
    int rc = ctl_call(opts, c, "timeline.get", &p, &r);
    if (rc == CTL_OK) {
        if (r.result.type != MSGPACK_OBJECT_MAP) {
            fprintf(stderr, "feedcachectl: %s: timeline.get: expected a map\n", opts->addr);
            rc = CTL_FAIL;
        } else if (json) {
            ctl_print_json(&r.result);
        } else {
            print_page(user, &r.result);
        }
        fc_response_free(&r);
    }
    fc_params_free(&p);
    fc_client_close(c);
    return rc;
}

const ctl_command_t ctl_cmd_timeline = {
    .name = "timeline",
    .summary = "print one page of a user's home timeline (debugging)",
    .usage =
        "Usage: feedcachectl [--addr ADDR] [--timeout MS] timeline USER [--limit N]\n"
        "                    [--cursor C] [--no-hydrate] [--json]\n"
        "\n"
        "Calls timeline.get for USER (a user id) and prints the page: one line per\n"
        "post (created_at in UTC, id, author, the start of the body), where the\n"
        "page came from (source cache, rebuilt or db), and the cursor of the next\n"
        "page. Reading a timeline counts as a read: it may rebuild the feed and\n"
        "slides its TTL.\n"
        "\n"
        "Options:\n"
        "  --limit N      posts per page, 1..200 (default: the service's, 20)\n"
        "  --cursor C     the page after cursor C (printed by the previous page)\n"
        "  --no-hydrate   ids, authors and times only (no post bodies)\n"
        "  --json         print the raw result as one JSON object\n"
        "\n"
        "Exit status 0 on success, 1 when feedcached cannot be reached or\n"
        "answers an error (e.g. a malformed cursor), 2 on a usage error.\n",
    .run = timeline_run,
};

/* feedcachectl ping: is the service there? */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

static int ping_run(ctl_opts_t *opts, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int st = ctl_common_arg(opts, &ctl_cmd_ping, argc, argv, &i);
        if (st == CTL_ARG_TAKEN)
            continue;
        if (st != CTL_ARG_UNKNOWN)
            return st;
        return ctl_bad_arg(&ctl_cmd_ping, argv[i]);
    }
    fc_client_t *c = ctl_connect(opts);
    if (!c)
        return CTL_FAIL;
    fc_response_t r;
    int rc = ctl_call(opts, c, "ping", NULL, &r);
    if (rc == CTL_OK) {
        if (fc_obj_str_eq(&r.result, "pong")) {
            puts("pong");
        } else {
            buf_t b;
            buf_init(&b);
            ctl_json(&b, &r.result);
            fprintf(stderr, "feedcachectl: %s: ping: unexpected answer %s\n", opts->addr, b.data);
            buf_free(&b);
            rc = CTL_FAIL;
        }
        fc_response_free(&r);
    }
    fc_client_close(c);
    return rc;
}

const ctl_command_t ctl_cmd_ping = {
    .name = "ping",
    .summary = "check that feedcached answers (prints pong)",
    .usage =
        "Usage: feedcachectl [--addr ADDR] [--timeout MS] ping\n"
        "\n"
        "Sends the ping method and prints 'pong' when feedcached answers.\n"
        "Exit status 0 when it does, 1 when it cannot be reached or answers\n"
        "an error, 2 on a usage error.\n",
    .run = ping_run,
};

/* feedcachectl invalidate USER: drop a home feed so the next read rebuilds
 * it from PostgreSQL (after fixing data by hand, say). */
#include "ctl/ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int invalidate_run(ctl_opts_t *opts, int argc, char **argv)
{
    const char *user_arg = NULL;
    for (int i = 1; i < argc; i++) {
        int st = ctl_common_arg(opts, &ctl_cmd_invalidate, argc, argv, &i);
        if (st == CTL_ARG_TAKEN)
            continue;
        if (st != CTL_ARG_UNKNOWN)
            return st;
        if (argv[i][0] == '-' || user_arg)
            return ctl_bad_arg(&ctl_cmd_invalidate, argv[i]);
        user_arg = argv[i];
    }
    if (!user_arg)
        return ctl_usage_error("invalidate", "missing USER (a user id)");
    int64_t user;
    if (ctl_parse_id(&ctl_cmd_invalidate, "USER", user_arg, &user) != 0)
        return CTL_USAGE;

    fc_client_t *c = ctl_connect(opts);
    if (!c)
        return CTL_FAIL;
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", user);
    fc_response_t r;
    int rc = ctl_call(opts, c, "timeline.invalidate", &p, &r);
    if (rc == CTL_OK) {
        printf("invalidated: the next read of user %" PRId64 " rebuilds the feed from PostgreSQL\n",
               user);
        fc_response_free(&r);
    }
    fc_params_free(&p);
    fc_client_close(c);
    return rc;
}

const ctl_command_t ctl_cmd_invalidate = {
    .name = "invalidate",
    .summary = "drop a user's cached home feed (the next read rebuilds it)",
    .usage =
        "Usage: feedcachectl [--addr ADDR] [--timeout MS] invalidate USER\n"
        "\n"
        "Calls timeline.invalidate for USER (a user id): the cached home feed is\n"
        "dropped and the next read rebuilds it from PostgreSQL.\n"
        "\n"
        "Exit status 0 on success, 1 when feedcached cannot be reached or\n"
        "answers an error, 2 on a usage error.\n",
    .run = invalidate_run,
};

/* What every feedcachectl command shares: option parsing, connecting,
 * calling and reporting errors the same way. */
#include "ctl/ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/addr.h"

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("feedcachectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'feedcachectl %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return CTL_USAGE;
}

/* Matches `--name VALUE` and `--name=VALUE`. Returns 1 and sets *val (NULL
 * when the value is missing), or 0 when argv[*i] is another argument. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

int ctl_opt_value(const ctl_command_t *cmd, int argc, char **argv, int *i, const char *name,
                  const char **val)
{
    if (!take_value(argc, argv, i, name, val))
        return 0;
    if (!*val)
        return ctl_usage_error(cmd->name, "option '%s' needs a value", name);
    return 1;
}

int ctl_global_option(ctl_opts_t *opts, int argc, char **argv, int *i, const char *cmd)
{
    const char *v;
    if (take_value(argc, argv, i, "--addr", &v)) {
        if (!v || !*v)
            return ctl_usage_error(cmd, "option '--addr' needs a value (HOST:PORT or unix:/path)");
        addr_t a;
        char why[128];
        if (addr_parse(v, &a, why, sizeof why) != 0)
            return ctl_usage_error(cmd, "bad --addr '%s': %s", v, why);
        opts->addr = v;
        return 1;
    }
    if (take_value(argc, argv, i, "--token-file", &v)) {
        if (!v || !*v)
            return ctl_usage_error(cmd, "option '--token-file' needs a value (a file)");
        opts->token_file = v;
        return 1;
    }
    if (take_value(argc, argv, i, "--timeout", &v)) {
        if (!v)
            return ctl_usage_error(cmd, "option '--timeout' needs a value (milliseconds)");
        char *end;
        errno = 0;
        long ms = strtol(v, &end, 10);
        if (errno || end == v || *end || ms < 1 || ms > 3600000)
            return ctl_usage_error(cmd, "bad --timeout '%s': expected milliseconds, 1..3600000", v);
        opts->timeout_ms = (int)ms;
        return 1;
    }
    return 0;
}

int ctl_common_arg(ctl_opts_t *opts, const ctl_command_t *cmd, int argc, char **argv, int *i)
{
    if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) {
        fputs(cmd->usage, stdout);
        return CTL_OK;
    }
    int g = ctl_global_option(opts, argc, argv, i, cmd->name);
    return g == 1 ? CTL_ARG_TAKEN : g == 0 ? CTL_ARG_UNKNOWN : g;
}

int ctl_bad_arg(const ctl_command_t *cmd, const char *arg)
{
    if (arg[0] == '-' && arg[1] != '\0')
        return ctl_usage_error(cmd->name, "unknown option '%s'", arg);
    return ctl_usage_error(cmd->name, "unexpected argument '%s'", arg);
}

fc_client_t *ctl_connect_quiet(const ctl_opts_t *opts, char *err, size_t errlen)
{
    fc_client_t *c = fc_client_connect(opts->addr, opts->timeout_ms, err, errlen);
    if (c && opts->token_file && fc_client_auth_file(c, opts->token_file, NULL, 0) != FC_OK) {
        snprintf(err, errlen, "%s", fc_client_error(c));
        fc_client_close(c);
        c = NULL;
    }
    return c;
}

fc_client_t *ctl_connect(const ctl_opts_t *opts)
{
    char err[512];
    fc_client_t *c = ctl_connect_quiet(opts, err, sizeof err);
    if (!c)
        fprintf(stderr, "feedcachectl: %s: %s\n", opts->addr, err);
    return c;
}

int ctl_call(const ctl_opts_t *opts, fc_client_t *c, const char *method,
             const fc_params_t *params, fc_response_t *resp)
{
    int rc = fc_client_call(c, method, params, resp);
    if (rc != FC_OK) {
        fprintf(stderr, "feedcachectl: %s: %s: %s\n", opts->addr, method, fc_client_error(c));
        fc_response_free(resp);
        return CTL_FAIL;
    }
    if (!resp->ok) {
        fprintf(stderr, "feedcachectl: %s: %s: %s%s%s", opts->addr, method,
                resp->code[0] ? resp->code : "error", resp->message[0] ? ": " : "",
                resp->message);
        if (resp->retry_after_ms >= 0)
            fprintf(stderr, " (retry after %lld ms)", (long long)resp->retry_after_ms);
        fputc('\n', stderr);
        fc_response_free(resp);
        return CTL_FAIL;
    }
    return CTL_OK;
}

/* Orders keys as byte strings, shorter first on a common prefix; str and
 * bin keys compare alike; other key types go last, in their order. */
static int key_cmp(const void *a, const void *b)
{
    const msgpack_object *ka = &((const msgpack_object_kv *)a)->key;
    const msgpack_object *kb = &((const msgpack_object_kv *)b)->key;
    bool sa = ka->type == MSGPACK_OBJECT_STR || ka->type == MSGPACK_OBJECT_BIN;
    bool sb = kb->type == MSGPACK_OBJECT_STR || kb->type == MSGPACK_OBJECT_BIN;
    if (sa != sb)
        return sa ? -1 : 1;
    if (!sa)
        return 0;
    /* str and bin share the layout of their {size, ptr} union member. */
    uint32_t na = ka->via.str.size, nb = kb->via.str.size;
    int c = memcmp(ka->via.str.ptr, kb->via.str.ptr, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

void ctl_sort_map(msgpack_object *map)
{
    if (map->type == MSGPACK_OBJECT_MAP && map->via.map.size > 1)
        qsort(map->via.map.ptr, map->via.map.size, sizeof *map->via.map.ptr, key_cmp);
}

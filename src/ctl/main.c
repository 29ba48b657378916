/* feedcachectl: global options, then one subcommand from the table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "fc_version.h"
#include "util/addr.h"

#define DEFAULT_ADDR "127.0.0.1:7400"
#define DEFAULT_TIMEOUT_MS 5000

/* Every subcommand, in --help order. */
static const ctl_command_t *const commands[] = {
    &ctl_cmd_ping,
    &ctl_cmd_stats,
    &ctl_cmd_warm,
    &ctl_cmd_timeline,
    &ctl_cmd_invalidate,
    &ctl_cmd_fanout,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_help(void)
{
    fputs("Usage: feedcachectl [--addr ADDR] [--timeout MS] [--token-file FILE] COMMAND [ARGS]\n"
          "\n"
          "Operator tool for feedcached.\n"
          "\n"
          "Options:\n"
          "  --addr ADDR    feedcached RPC address, HOST:PORT or unix:/path\n"
          "                 (default: $FEEDCACHE_ADDR, else " DEFAULT_ADDR ")\n"
          "  --timeout MS   connect and per-request timeout in milliseconds (default 5000)\n"
          "  --token-file FILE\n"
          "                 authenticate with the token in FILE (the token alone, or a\n"
          "                 'ROLE TOKEN' line) when feedcached has auth_tokens_file set\n"
          "                 (default: $FEEDCACHE_TOKEN_FILE, else none)\n"
          "  -h, --help     show this help\n"
          "  -V, --version  show the version\n"
          "\n"
          "Commands:\n", stdout);
    for (size_t i = 0; i < NCOMMANDS; i++)
        printf("  %-13s  %s\n", commands[i]->name, commands[i]->summary);
    fputs("\n"
          "Run 'feedcachectl COMMAND --help' for a command's options.\n"
          "\n"
          "Exit status:\n"
          "  0  success (warm: the job finished)\n"
          "  1  feedcached answered with an error, or could not be reached;\n"
          "     warm: the job failed or disappeared (the reason is printed)\n"
          "  2  usage error (unknown command or option, bad value)\n", stdout);
}

int main(int argc, char **argv)
{
    ctl_opts_t opts = { .addr = NULL, .timeout_ms = DEFAULT_TIMEOUT_MS };
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help();
            return CTL_OK;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("feedcachectl %s\n", FC_VERSION);
            return CTL_OK;
        }
        int g = ctl_global_option(&opts, argc, argv, &i, NULL);
        if (g == CTL_USAGE)
            return g;
        if (g == 0)
            return ctl_usage_error(NULL, "unknown option '%s'", argv[i]);
    }
    if (!opts.addr) {
        const char *env = getenv("FEEDCACHE_ADDR");
        addr_t a;
        char why[128];
        if (env && *env && addr_parse(env, &a, why, sizeof why) != 0)
            return ctl_usage_error(NULL, "bad FEEDCACHE_ADDR '%s': %s", env, why);
        opts.addr = env && *env ? env : DEFAULT_ADDR;
    }
    if (!opts.token_file) {
        const char *env = getenv("FEEDCACHE_TOKEN_FILE");
        opts.token_file = env && *env ? env : NULL;
    }
    if (i == argc) {
        buf_t names;
        buf_init(&names);
        for (size_t k = 0; k < NCOMMANDS; k++)
            buf_printf(&names, "%s%s", k ? ", " : "", commands[k]->name);
        ctl_usage_error(NULL, "missing COMMAND (one of: %s)", names.data);
        buf_free(&names);
        return CTL_USAGE;
    }
    for (size_t k = 0; k < NCOMMANDS; k++)
        if (strcmp(argv[i], commands[k]->name) == 0)
            return commands[k]->run(&opts, argc - i, argv + i);
    return ctl_usage_error(NULL, "unknown command '%s'", argv[i]);
}

/* feedcachectl: the operator CLI. One file per command (cmd_*.c), each
 * defining a ctl_command_t; main.c lists them in one table, which drives
 * dispatch and the command list in --help. Adding a command is a new file,
 * one table entry and one meson line. */
#ifndef FC_CTL_CTL_H
#define FC_CTL_CTL_H

#include <stdbool.h>

#include "feedcache/client.h"
#include "util/buf.h"

/* Exit statuses, documented in --help. */
enum {
    CTL_OK    = 0,  /* done */
    CTL_FAIL  = 1,  /* the service answered an error or could not be reached */
    CTL_USAGE = 2,  /* bad command line */
};

typedef struct {
    const char *addr;     /* --addr, FEEDCACHE_ADDR, or the default */
    int timeout_ms;       /* --timeout */
} ctl_opts_t;

typedef struct {
    const char *name;
    const char *summary;  /* one line for the command list */
    const char *usage;    /* the whole `COMMAND --help` text */
    /* argv[0] is the command name. Returns a CTL_* status. */
    int (*run)(ctl_opts_t *opts, int argc, char **argv);
} ctl_command_t;

/* --- helpers for commands (ctl_util.c) --------------------------------- */

/* Prints `feedcachectl: MESSAGE` and a pointer to COMMAND --help; returns
 * CTL_USAGE. cmd may be NULL for the global options. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Takes a global option (--addr, --timeout, either `--x V` or `--x=V`) at
 * argv[*i], advancing *i past its value. Returns 1 when taken, 0 when
 * argv[*i] is not a global option, CTL_USAGE (after printing why) on a bad
 * or missing value. Commands call it so global options may follow them. */
int ctl_global_option(ctl_opts_t *opts, int argc, char **argv, int *i, const char *cmd);

/* Results of ctl_common_arg besides a CTL_* exit status. */
enum {
    CTL_ARG_TAKEN   = -1,  /* argv[*i] (and its value) consumed: continue */
    CTL_ARG_UNKNOWN = -2,  /* not a common argument: the command's own? */
};

/* Handles what every command accepts at argv[*i]: -h/--help (prints
 * cmd->usage, returns CTL_OK: exit now) and the global options (returns
 * CTL_ARG_TAKEN, or CTL_USAGE on a bad value: exit now). */
int ctl_common_arg(ctl_opts_t *opts, const ctl_command_t *cmd, int argc, char **argv, int *i);

/* The usage error for an argument nobody took. Returns CTL_USAGE. */
int ctl_bad_arg(const ctl_command_t *cmd, const char *arg);

/* Connects, or prints `feedcachectl: ADDR: reason` and returns NULL. */
fc_client_t *ctl_connect(const ctl_opts_t *opts);

/* Calls method; on a transport failure or an error answer prints
 * `feedcachectl: ADDR: reason` and returns CTL_FAIL (resp freed). On CTL_OK
 * the caller frees resp. */
int ctl_call(const ctl_opts_t *opts, fc_client_t *c, const char *method,
             const fc_params_t *params, fc_response_t *resp);

/* Sorts a map's pairs by key bytes, in place (for stable output). */
void ctl_sort_map(msgpack_object *map);

/* Appends o as JSON. bin renders as a string; float NaN/inf as null. */
void ctl_json(buf_t *out, const msgpack_object *o);

extern const ctl_command_t ctl_cmd_ping;
extern const ctl_command_t ctl_cmd_stats;

#endif

/* feedcachectl: the operator CLI. One file per command (cmd_*.c), each
 * defining a ctl_command_t; main.c lists them in one table, which drives
 * dispatch and the command list in --help. Adding a command is a new file,
 * one table entry and one meson line. */
#ifndef FC_CTL_CTL_H
#define FC_CTL_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "feedcache/client.h"
#include "util/buf.h"

/* Exit statuses, documented in --help. */
enum {
    CTL_OK    = 0,  /* done (warm: the job finished) */
    CTL_FAIL  = 1,  /* the service answered an error or could not be reached;
                       warm: the job failed */
    CTL_USAGE = 2,  /* bad command line */
};

typedef struct {
    const char *addr;     /* --addr, FEEDCACHE_ADDR, or the default */
    int timeout_ms;       /* --timeout */
    const char *token_file;   /* --token-file, FEEDCACHE_TOKEN_FILE, or NULL */
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

/* Takes a global option (--addr, --timeout, --token-file, either `--x V` or `--x=V`) at
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

/* Connects and, with a token file, authenticates; or prints
 * `feedcachectl: ADDR: reason` and returns NULL. */
fc_client_t *ctl_connect(const ctl_opts_t *opts);
/* The same without printing: NULL with the reason in err. */
fc_client_t *ctl_connect_quiet(const ctl_opts_t *opts, char *err, size_t errlen);

/* Calls method; on a transport failure or an error answer prints
 * `feedcachectl: ADDR: reason` and returns CTL_FAIL (resp freed). On CTL_OK
 * the caller frees resp. */
int ctl_call(const ctl_opts_t *opts, fc_client_t *c, const char *method,
             const fc_params_t *params, fc_response_t *resp);

/* Sorts a map's pairs by key bytes, in place (for stable output). */
void ctl_sort_map(msgpack_object *map);

/* Appends o as JSON. bin renders as a string; float NaN/inf as null. */
void ctl_json(buf_t *out, const msgpack_object *o);
/* Prints o as one line of JSON on stdout. */
void ctl_print_json(const msgpack_object *o);

/* --- argument parsing (ctl_args.c) -------------------------------------- */

/* Matches `--name VALUE` and `--name=VALUE` at argv[*i]. Returns 1 and sets
 * *val (advancing *i past a separate value), 0 when argv[*i] is another
 * argument, or CTL_USAGE (after printing why) when the value is missing. */
int ctl_opt_value(const ctl_command_t *cmd, int argc, char **argv, int *i, const char *name,
                  const char **val);
/* A positive int64 id (a user). Returns 0, or prints why and returns CTL_USAGE. */
int ctl_parse_id(const ctl_command_t *cmd, const char *what, const char *s, int64_t *out);
/* An integer in min..max. Returns 0, or prints why and returns CTL_USAGE. */
int ctl_parse_int(const ctl_command_t *cmd, const char *what, const char *s, int64_t min,
                  int64_t max, int64_t *out);
/* A duration: one or more NUMBER UNIT pairs (s, m, h, d, w), e.g. 7d, 12h,
 * 1h30m, 3600s; a bare number is seconds. Returns 0 with whole seconds, or -1. */
int ctl_parse_duration(const char *s, int64_t *seconds);
/* Appends the ids in text (separated by commas, blanks or newlines; '#'
 * starts a comment to the end of the line) to *ids. Returns 0, or -1 with
 * the offending token in err. */
int ctl_parse_ids(const char *text, int64_t **ids, size_t *n, size_t *cap, char *err,
                  size_t errlen);

extern const ctl_command_t ctl_cmd_ping;
extern const ctl_command_t ctl_cmd_stats;
extern const ctl_command_t ctl_cmd_warm;
extern const ctl_command_t ctl_cmd_timeline;
extern const ctl_command_t ctl_cmd_invalidate;
extern const ctl_command_t ctl_cmd_fanout;

#endif

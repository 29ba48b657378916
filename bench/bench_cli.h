/* Command-line helpers shared by the bench programs (feedbench, graphgen,
 * ping_bench): an option's value, numbers within a range, and the usage
 * errors (exit status 2). Each program keeps its own usage() text and its
 * loop over argv, which reads:
 *
 *   for (int i = 1; i < argc; i++) {
 *       const char *a = argv[i], *v = cli_value(argc, argv, i);
 *       if (cli_is_help(a)) {
 *           usage(stdout);
 *           return 0;
 *       } else if (!strcmp(a, "--users")) {
 *           if (cli_i64(v, 1, 1000000, &users))
 *               return cli_bad("prog", a, v);
 *       } else {
 *           return cli_unknown("prog", a);
 *       }
 *       i++;                       // the value was used
 *   } */
#ifndef FC_BENCH_BENCH_CLI_H
#define FC_BENCH_BENCH_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* The argument after argv[i] (the option's value), or NULL at the end. */
const char *cli_value(int argc, char **argv, int i);

/* --help or -h. */
bool cli_is_help(const char *arg);

/* "PROG: bad value for OPT: 'V' (see --help)" on stderr ("(missing)" when
 * v is NULL); returns 2, the usage-error exit status. */
int cli_bad(const char *prog, const char *opt, const char *v);

/* "PROG: unknown option 'OPT' (see --help)" on stderr; returns 2. */
int cli_unknown(const char *prog, const char *opt);

/* v as a decimal integer / a real number within [min, max] into *out: 0,
 * or -1 (and *out untouched) when v is NULL, empty, has trailing text,
 * overflows or is out of range. */
int cli_i64(const char *v, int64_t min, int64_t max, int64_t *out);
int cli_int(const char *v, int min, int max, int *out);
int cli_double(const char *v, double min, double max, double *out);

#endif

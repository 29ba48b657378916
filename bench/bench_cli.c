/* Command-line helpers of the bench programs (see bench_cli.h). */
#include "bench_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_value(int argc, char **argv, int i)
{
    return i + 1 < argc ? argv[i + 1] : NULL;
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cli_bad(const char *prog, const char *opt, const char *v)
{
    fprintf(stderr, "%s: bad value for %s: '%s' (see --help)\n", prog, opt, v ? v : "(missing)");
    return 2;
}

int cli_unknown(const char *prog, const char *opt)
{
    fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, opt);
    return 2;
}

int cli_i64(const char *v, int64_t min, int64_t max, int64_t *out)
{
    if (!v || !*v)
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int cli_int(const char *v, int min, int max, int *out)
{
    int64_t n;
    if (cli_i64(v, min, max, &n) != 0)
        return -1;
    *out = (int)n;
    return 0;
}

int cli_double(const char *v, double min, double max, double *out)
{
    if (!v || !*v)
        return -1;
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d >= min && d <= max))
        return -1;
    *out = d;
    return 0;
}

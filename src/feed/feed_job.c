#include "feed/feed_job.h"

#include <stdbool.h>
#include <string.h>

void feed_job_encode(const feed_job_t *job, rds_args_t *a)
{
    char type[2] = { (char)job->type, '\0' };
    rds_args_str(a, "t");
    rds_args_str(a, type);
    rds_args_str(a, "p");
    rds_args_int(a, job->post);
    rds_args_str(a, "a");
    rds_args_int(a, job->author);
    rds_args_str(a, "ts");
    rds_args_int(a, job->ts);
    rds_args_str(a, "pub");
    rds_args_int(a, job->pub);
}

/* A decimal int64 (optional '-'), the whole value and nothing else. */
static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = len > 0 && s[0] == '-';
    i += neg;
    if (i == len || len - i > 19)
        return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static bool name_is(const feed_job_field_t *f, const char *name)
{
    return f->name_len == strlen(name) && memcmp(f->name, name, f->name_len) == 0;
}

int feed_job_decode(feed_job_t *job, const feed_job_field_t *fields, size_t nfields)
{
    enum { HAVE_T = 1, HAVE_P = 2, HAVE_A = 4, HAVE_TS = 8, HAVE_PUB = 16 };
    unsigned have = 0;
    memset(job, 0, sizeof *job);
    for (size_t i = 0; i < nfields; i++) {
        const feed_job_field_t *f = &fields[i];
        bool ok = true;
        if (name_is(f, "t")) {
            ok = f->value_len == 1 && (f->value[0] == FEED_JOB_POST ||
                                       f->value[0] == FEED_JOB_MARK ||
                                       f->value[0] == FEED_JOB_DELETE);
            if (ok)
                job->type = (feed_job_type_t)f->value[0];
            have |= HAVE_T;
        } else if (name_is(f, "p")) {
            ok = parse_i64(f->value, f->value_len, &job->post);
            have |= HAVE_P;
        } else if (name_is(f, "a")) {
            ok = parse_i64(f->value, f->value_len, &job->author);
            have |= HAVE_A;
        } else if (name_is(f, "ts")) {
            ok = parse_i64(f->value, f->value_len, &job->ts);
            have |= HAVE_TS;
        } else if (name_is(f, "pub")) {
            ok = parse_i64(f->value, f->value_len, &job->pub);
            have |= HAVE_PUB;
        }
        if (!ok)
            return -1;
    }
    if (have != (HAVE_T | HAVE_P | HAVE_A | HAVE_TS | HAVE_PUB) || job->author <= 0 ||
        job->post < 0 || job->ts < 0)
        return -1;
    return 0;
}

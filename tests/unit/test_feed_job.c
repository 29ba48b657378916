/* Unit tests for the fan-out job wire format (feed_job).
 *
 * Encoding goes through a real rds_args_t (what feed_write hands to XADD);
 * decoding is fed the field/value pairs as the worker gets them back from
 * XREADGROUP: lengths given, values not NUL-terminated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "feed/feed_job.h"

#define MAXF 16

/* A decoded job's fields, copied out of rds_args_t into buffers that end
 * exactly at the value (no NUL after it), so a decoder reading past a
 * value's length is caught by ASan and valgrind. */
typedef struct {
    feed_job_field_t f[MAXF];
    char *mem[2 * MAXF];
    size_t n, nmem;
} fields_t;

static const char *copy_exact(fields_t *fs, const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, s, len);
    fs->mem[fs->nmem++] = p;
    return p;
}

static void add(fields_t *fs, const char *name, const char *value)
{
    assert_true(fs->n < MAXF);
    size_t nl = strlen(name), vl = strlen(value);
    fs->f[fs->n++] = (feed_job_field_t){ copy_exact(fs, name, nl), nl,
                                         copy_exact(fs, value, vl), vl };
}

static void fields_free(fields_t *fs)
{
    for (size_t i = 0; i < fs->nmem; i++)
        free(fs->mem[i]);
    memset(fs, 0, sizeof *fs);
}

/* Encodes job and turns the argv into field/value pairs. */
static void encode(const feed_job_t *job, fields_t *fs)
{
    rds_args_t a;
    rds_args_init(&a);
    feed_job_encode(job, &a);
    const char *const *argv = rds_args_argv(&a);
    const size_t *lens = rds_args_lens(&a);
    assert_int_equal(a.argc, 10);       /* t, p, a, ts, pub */
    memset(fs, 0, sizeof *fs);
    for (int i = 0; i < a.argc; i += 2) {
        fs->f[fs->n++] = (feed_job_field_t){
            copy_exact(fs, argv[i], lens[i]), lens[i],
            copy_exact(fs, argv[i + 1], lens[i + 1]), lens[i + 1] };
    }
    rds_args_free(&a);
}

static int decode(const fields_t *fs, feed_job_t *out)
{
    return feed_job_decode(out, fs->f, fs->n);
}

static void round_trip(feed_job_type_t type, int64_t post, int64_t author, int64_t ts,
                       int64_t pub)
{
    feed_job_t job = { type, post, author, ts, pub }, d;
    fields_t fs;
    encode(&job, &fs);
    memset(&d, 0x5a, sizeof d);
    assert_int_equal(decode(&fs, &d), 0);
    assert_int_equal(d.type, type);
    assert_true(d.post == post);
    assert_true(d.author == author);
    assert_true(d.ts == ts);
    assert_true(d.pub == pub);
    fields_free(&fs);
}

/* The bytes on the stream: changing them strands the jobs already queued
 * when a new version is deployed. */
static void encoding_pins_the_wire_format(void **state)
{
    (void)state;
    feed_job_t job = { FEED_JOB_POST, 9001, 42, 1700000000123LL, 1700000000456LL };
    rds_args_t a;
    rds_args_init(&a);
    rds_args_str(&a, "XADD");           /* the caller's prefix stays in front */
    feed_job_encode(&job, &a);
    static const char *const want[] = { "XADD", "t", "p", "p", "9001", "a", "42",
                                        "ts", "1700000000123", "pub", "1700000000456" };
    const char *const *argv = rds_args_argv(&a);
    const size_t *lens = rds_args_lens(&a);
    assert_int_equal(a.argc, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < a.argc; i++) {
        assert_int_equal(lens[i], strlen(want[i]));
        assert_memory_equal(argv[i], want[i], lens[i]);
    }
    rds_args_free(&a);
}

static void round_trips_every_type(void **state)
{
    (void)state;
    static const feed_job_type_t types[] = { FEED_JOB_POST, FEED_JOB_MARK, FEED_JOB_DELETE };
    for (size_t i = 0; i < 3; i++) {
        round_trip(types[i], 1, 1, 1, 1);
        round_trip(types[i], 9001, 42, 1700000000123LL, 1700000000456LL);
        round_trip(types[i], 0, 1, 0, 0);                     /* zero post, ts, pub */
        round_trip(types[i], 1234567890123456789LL, 987654321098765432LL,
                   1700000000123LL, 1700000000999LL);         /* large ids */
        round_trip(types[i], INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX);
        round_trip(types[i], INT64_MAX - 1, 1, 0, INT64_MAX - 1);
    }
    /* pub has no range check: a clock before the epoch still decodes. */
    round_trip(FEED_JOB_POST, 5, 6, 7, -1);
}

/* A valid job by hand, one field left out or replaced. */
static const char *const good[][2] = {
    { "t", "p" }, { "p", "100" }, { "a", "7" }, { "ts", "1700000000000" }, { "pub", "1700000000001" },
};
#define NGOOD (sizeof good / sizeof good[0])

/* Decodes the good job with field `which` given `value` (NULL: left out). */
static int decode_with(size_t which, const char *value)
{
    fields_t fs;
    memset(&fs, 0, sizeof fs);
    for (size_t i = 0; i < NGOOD; i++) {
        if (i != which)
            add(&fs, good[i][0], good[i][1]);
        else if (value)
            add(&fs, good[i][0], value);
    }
    feed_job_t d;
    int rc = decode(&fs, &d);
    fields_free(&fs);
    return rc;
}

static void hand_made_job_decodes(void **state)
{
    (void)state;
    fields_t fs;
    memset(&fs, 0, sizeof fs);
    for (size_t i = 0; i < NGOOD; i++)
        add(&fs, good[i][0], good[i][1]);
    feed_job_t d;
    assert_int_equal(decode(&fs, &d), 0);
    assert_int_equal(d.type, FEED_JOB_POST);
    assert_true(d.post == 100 && d.author == 7 && d.ts == 1700000000000LL &&
                d.pub == 1700000000001LL);
    fields_free(&fs);
    /* decode_with itself accepts a valid value, so its -1s below mean something. */
    for (size_t i = 0; i < NGOOD; i++)
        assert_int_equal(decode_with(i, good[i][1]), 0);
    assert_int_equal(decode_with(0, "m"), 0);
    assert_int_equal(decode_with(0, "d"), 0);
}

static void bad_types_are_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = { "", "x", "P", "M", "D", "pp", "pm", "p ", " p", "0",
                                       "post" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (decode_with(0, bad[i]) != -1)
            fail_msg("type '%s' accepted", bad[i]);
    /* A NUL byte is not a type either, nor 'p' followed by one. */
    fields_t fs;
    memset(&fs, 0, sizeof fs);
    for (size_t i = 1; i < NGOOD; i++)
        add(&fs, good[i][0], good[i][1]);
    fs.f[fs.n++] = (feed_job_field_t){ "t", 1, "\0", 1 };
    feed_job_t d;
    assert_int_equal(decode(&fs, &d), -1);
    fs.f[fs.n - 1] = (feed_job_field_t){ "t", 1, "p\0", 2 };
    assert_int_equal(decode(&fs, &d), -1);
    fs.f[fs.n - 1] = (feed_job_field_t){ "t", 1, "p", 1 };
    assert_int_equal(decode(&fs, &d), 0);
    fields_free(&fs);
}

static void each_missing_field_is_rejected(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGOOD; i++)
        if (decode_with(i, NULL) != -1)
            fail_msg("job without '%s' accepted", good[i][0]);
    feed_job_t d;
    assert_int_equal(feed_job_decode(&d, NULL, 0), -1);
}

static void bad_numbers_are_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                         /* empty */
        "-",                        /* sign only */
        "abc", "12a", "1 ", " 1", "1.0", "1e3", "0x10", "+5", "--1", "1-", "\xd9\xa1",   /* Arabic-Indic one */
        "9223372036854775808",      /* INT64_MAX + 1 */
        "9999999999999999999",      /* 19 digits, > INT64_MAX */
        "18446744073709551616",     /* 2^64: 20 digits */
        "99999999999999999999",     /* 20 digits */
        "123456789012345678901234567890",
    };
    /* Every numeric field: p, a, ts, pub. */
    for (size_t which = 1; which < NGOOD; which++)
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
            if (decode_with(which, bad[k]) != -1)
                fail_msg("'%s' = '%s' accepted", good[which][0], bad[k]);
    /* The largest value that fits still decodes in each of them. */
    for (size_t which = 1; which < NGOOD; which++)
        assert_int_equal(decode_with(which, "9223372036854775807"), 0);
    /* Leading zeros are fine up to 19 digits (the writer never sends them). */
    assert_int_equal(decode_with(1, "0000000000000000042"), 0);

    /* The value is exactly value_len bytes: digits after it do not count,
     * and a NUL inside it is garbage. */
    fields_t fs;
    memset(&fs, 0, sizeof fs);
    add(&fs, "t", "p");
    add(&fs, "a", "7");
    add(&fs, "ts", "0");
    add(&fs, "pub", "0");
    fs.f[fs.n++] = (feed_job_field_t){ "p", 1, "12345", 2 };
    feed_job_t d;
    assert_int_equal(decode(&fs, &d), 0);
    assert_true(d.post == 12);
    fs.f[fs.n - 1] = (feed_job_field_t){ "p", 1, "12\0" "3", 4 };
    assert_int_equal(decode(&fs, &d), -1);
    fields_free(&fs);
}

static void out_of_range_ids_are_rejected(void **state)
{
    (void)state;
    /* author must be > 0 */
    assert_int_equal(decode_with(2, "0"), -1);
    assert_int_equal(decode_with(2, "-0"), -1);
    assert_int_equal(decode_with(2, "-1"), -1);
    assert_int_equal(decode_with(2, "-9223372036854775807"), -1);
    assert_int_equal(decode_with(2, "1"), 0);
    /* post and ts must be >= 0 */
    assert_int_equal(decode_with(1, "-1"), -1);
    assert_int_equal(decode_with(1, "-9223372036854775807"), -1);
    assert_int_equal(decode_with(1, "0"), 0);
    assert_int_equal(decode_with(3, "-1"), -1);
    assert_int_equal(decode_with(3, "-1700000000000"), -1);
    assert_int_equal(decode_with(3, "0"), 0);
    assert_int_equal(decode_with(3, "-0"), 0);
    /* INT64_MIN does not parse at all (its magnitude is > INT64_MAX). */
    assert_int_equal(decode_with(4, "-9223372036854775808"), -1);
    assert_int_equal(decode_with(4, "-9223372036854775807"), 0);
}

static void unknown_fields_are_ignored_and_order_does_not_matter(void **state)
{
    (void)state;
    fields_t fs;
    memset(&fs, 0, sizeof fs);
    /* Reverse order, with fields a newer writer might add in between; names
     * that merely start like known ones are not them. */
    add(&fs, "trace", "not-a-number");
    add(&fs, "pub", "1700000000001");
    add(&fs, "pp", "x");
    add(&fs, "ts", "1700000000000");
    add(&fs, "", "");
    add(&fs, "a", "7");
    add(&fs, "T", "zz");
    add(&fs, "p", "100");
    add(&fs, "tss", "-5");
    add(&fs, "t", "d");
    add(&fs, "A", "-1");
    feed_job_t d;
    assert_int_equal(decode(&fs, &d), 0);
    assert_int_equal(d.type, FEED_JOB_DELETE);
    assert_true(d.post == 100 && d.author == 7 && d.ts == 1700000000000LL &&
                d.pub == 1700000000001LL);
    fields_free(&fs);

    /* Every rotation of the five fields decodes to the same job. */
    for (size_t r = 0; r < NGOOD; r++) {
        memset(&fs, 0, sizeof fs);
        for (size_t i = 0; i < NGOOD; i++)
            add(&fs, good[(i + r) % NGOOD][0], good[(i + r) % NGOOD][1]);
        memset(&d, 0, sizeof d);
        assert_int_equal(decode(&fs, &d), 0);
        assert_true(d.type == FEED_JOB_POST && d.post == 100 && d.author == 7 &&
                    d.ts == 1700000000000LL && d.pub == 1700000000001LL);
        fields_free(&fs);
    }
}

/* Not a promise of the header, what the code does: a repeated field
 * overwrites the earlier one (last wins), but every occurrence must be
 * valid, so a bad value anywhere rejects the job. */
static void a_repeated_field_last_wins(void **state)
{
    (void)state;
    fields_t fs;
    memset(&fs, 0, sizeof fs);
    for (size_t i = 0; i < NGOOD; i++)
        add(&fs, good[i][0], good[i][1]);
    add(&fs, "p", "200");
    add(&fs, "t", "m");
    feed_job_t d;
    assert_int_equal(decode(&fs, &d), 0);
    assert_true(d.post == 200);
    assert_int_equal(d.type, FEED_JOB_MARK);
    fields_free(&fs);

    /* A bad earlier copy is not rescued by a good later one ... */
    memset(&fs, 0, sizeof fs);
    add(&fs, "p", "x");
    for (size_t i = 0; i < NGOOD; i++)
        add(&fs, good[i][0], good[i][1]);
    assert_int_equal(decode(&fs, &d), -1);
    fields_free(&fs);
    /* ... nor a good earlier copy by a bad later one. */
    memset(&fs, 0, sizeof fs);
    for (size_t i = 0; i < NGOOD; i++)
        add(&fs, good[i][0], good[i][1]);
    add(&fs, "t", "x");
    assert_int_equal(decode(&fs, &d), -1);
    fields_free(&fs);
    /* The range checks look at the last value only. */
    memset(&fs, 0, sizeof fs);
    add(&fs, "a", "-3");
    for (size_t i = 0; i < NGOOD; i++)
        add(&fs, good[i][0], good[i][1]);
    assert_int_equal(decode(&fs, &d), 0);
    assert_true(d.author == 7);
    fields_free(&fs);
    memset(&fs, 0, sizeof fs);
    for (size_t i = 0; i < NGOOD; i++)
        add(&fs, good[i][0], good[i][1]);
    add(&fs, "a", "-3");
    assert_int_equal(decode(&fs, &d), -1);
    fields_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encoding_pins_the_wire_format),
        cmocka_unit_test(round_trips_every_type),
        cmocka_unit_test(hand_made_job_decodes),
        cmocka_unit_test(bad_types_are_rejected),
        cmocka_unit_test(each_missing_field_is_rejected),
        cmocka_unit_test(bad_numbers_are_rejected),
        cmocka_unit_test(out_of_range_ids_are_rejected),
        cmocka_unit_test(unknown_fields_are_ignored_and_order_does_not_matter),
        cmocka_unit_test(a_repeated_field_last_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

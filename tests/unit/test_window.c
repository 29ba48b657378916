/* Unit tests for the daily time window (window). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "util/window.h"

#define DAY 1440

static window_t parse_ok(const char *s)
{
    window_t w = { 123, 456 };
    char err[256] = "untouched";
    if (window_parse(s, &w, err, sizeof err) != 0)
        fail_msg("'%s' refused: %s", s ? s : "(null)", err);
    return w;
}

/* The window contains exactly the minutes in [lo, hi) (and, when lo2 < hi2,
 * those in [lo2, hi2)), nothing else of the day. */
static void expect_minutes(const window_t *w, int lo, int hi, int lo2, int hi2)
{
    for (int m = 0; m < DAY; m++) {
        bool want = (m >= lo && m < hi) || (m >= lo2 && m < hi2);
        if (window_contains(w, m) != want)
            fail_msg("minute %d: contains is %d, want %d", m, !want, want);
    }
}

static void empty_and_null_mean_always(void **state)
{
    (void)state;
    window_t w = parse_ok("");
    assert_int_equal(w.start_min, -1);
    assert_int_equal(w.end_min, -1);
    expect_minutes(&w, 0, DAY, 0, 0);
    assert_true(window_contains_now(&w));
    w = parse_ok(NULL);
    assert_int_equal(w.start_min, -1);
    assert_int_equal(w.end_min, -1);
    expect_minutes(&w, 0, DAY, 0, 0);
    assert_true(window_contains_now(&w));
}

static void plain_window(void **state)
{
    (void)state;
    window_t w = parse_ok("02:00-05:00");
    assert_int_equal(w.start_min, 120);
    assert_int_equal(w.end_min, 300);
    assert_false(window_contains(&w, 119));
    assert_true(window_contains(&w, 120));
    assert_true(window_contains(&w, 299));
    assert_false(window_contains(&w, 300));
    expect_minutes(&w, 120, 300, 0, 0);
    /* Minutes count too, not just hours. */
    w = parse_ok("09:15-17:45");
    assert_int_equal(w.start_min, 9 * 60 + 15);
    assert_int_equal(w.end_min, 17 * 60 + 45);
    expect_minutes(&w, 555, 1065, 0, 0);
}

static void window_wrapping_midnight(void **state)
{
    (void)state;
    window_t w = parse_ok("22:00-04:00");
    assert_int_equal(w.start_min, 1320);
    assert_int_equal(w.end_min, 240);
    assert_true(window_contains(&w, 1320));
    assert_true(window_contains(&w, 1439));
    assert_true(window_contains(&w, 0));
    assert_true(window_contains(&w, 239));
    assert_false(window_contains(&w, 240));
    assert_false(window_contains(&w, 1319));
    expect_minutes(&w, 1320, DAY, 0, 240);
}

static void edges_of_the_day(void **state)
{
    (void)state;
    window_t w = parse_ok("00:00-23:59");
    assert_int_equal(w.start_min, 0);
    assert_int_equal(w.end_min, 1439);
    expect_minutes(&w, 0, 1439, 0, 0);          /* all but 23:59 */
    w = parse_ok("23:59-00:00");
    assert_int_equal(w.start_min, 1439);
    assert_int_equal(w.end_min, 0);
    expect_minutes(&w, 1439, DAY, 0, 0);        /* only 23:59 */
    w = parse_ok("00:00-00:01");
    expect_minutes(&w, 0, 1, 0, 0);             /* only 00:00 */
    w = parse_ok("23:00-00:00");
    expect_minutes(&w, 1380, DAY, 0, 0);        /* end 00:00 is midnight */
    w = parse_ok("23:59-23:58");
    expect_minutes(&w, 1439, DAY, 0, 1438);     /* all but 23:58 */
}

static void bad_windows_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "24:00-01:00", "01:00-24:00", "99:00-01:00",   /* hour out of range */
        "01:60-02:00", "01:00-02:60", "01:99-02:00",   /* minute out of range */
        "1:00-02:00", "01:00-2:00", "01:0-02:00",      /* missing digits */
        "01:00-02:00x", "x01:00-02:00", "01:00-02:00 ", " 01:00-02:00",
        "01:00-02:00\n", "01:00-02:000",               /* extra characters */
        "01:00 02:00", "01:00_02:00", "01:00--2:00",   /* separator */
        "01.00-02.00", "0100-0200", "01:00-",          /* shape */
        "01:00-01:00", "00:00-00:00", "23:59-23:59",   /* empty window */
        "aa:bb-cc:dd", "0a:00-02:00", "01:00-02:0b",   /* not digits */
        "+1:00-02:00", "-1:00-02:00", "01:00-+2:00",
        " ", "-", "always",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        window_t w = { 60, 120 };       /* a previous value must not survive */
        char err[256];
        memset(err, 0, sizeof err);
        if (window_parse(bad[i], &w, err, sizeof err) != -1)
            fail_msg("'%s' accepted as %d-%d", bad[i], w.start_min, w.end_min);
        if (w.start_min != -1 || w.end_min != -1)
            fail_msg("'%s' left the window at %d-%d", bad[i], w.start_min, w.end_min);
        if (err[0] == '\0')
            fail_msg("'%s' refused without a reason", bad[i]);
    }
    /* The reasons say what was wrong. */
    window_t w;
    char err[256];
    assert_int_equal(window_parse("01:00-01:00", &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty window"));
    assert_non_null(strstr(err, "01:00-01:00"));
    assert_int_equal(window_parse("01:60-02:00", &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "HH:MM-HH:MM"));
    assert_non_null(strstr(err, "01:60-02:00"));
}

/* A short err buffer gets a truncated, terminated reason and nothing past it. */
static void short_error_buffer_is_respected(void **state)
{
    (void)state;
    char err[16];
    memset(err, 'z', sizeof err);
    window_t w;
    assert_int_equal(window_parse("aa:bb-cc:dd", &w, err, 8), -1);
    assert_int_equal(strlen(err), 7);
    for (size_t i = 8; i < sizeof err; i++)
        assert_int_equal(err[i], 'z');
}

/* Of a window and its complement, exactly one contains the current minute
 * (retried if the clock crosses a minute between the calls). */
static void contains_now_agrees_with_contains(void **state)
{
    (void)state;
    for (int tries = 0; tries < 5; tries++) {
        time_t t0 = time(NULL);
        struct tm tm;
        localtime_r(&t0, &tm);
        int now = tm.tm_hour * 60 + tm.tm_min;
        window_t here = { now, (now + 1) % DAY }, other = { (now + 1) % DAY, now };
        bool a = window_contains_now(&here), b = window_contains_now(&other);
        time_t t1 = time(NULL);
        localtime_r(&t1, &tm);
        if (tm.tm_hour * 60 + tm.tm_min != now)
            continue;
        assert_true(a);
        assert_false(b);
        return;
    }
    fail_msg("the clock kept crossing minutes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_and_null_mean_always),
        cmocka_unit_test(plain_window),
        cmocka_unit_test(window_wrapping_midnight),
        cmocka_unit_test(edges_of_the_day),
        cmocka_unit_test(bad_windows_are_refused),
        cmocka_unit_test(short_error_buffer_is_respected),
        cmocka_unit_test(contains_now_agrees_with_contains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

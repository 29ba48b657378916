/* util/log_json: RFC 8259 escaping of log strings (quotes, backslashes,
 * control characters, invalid UTF-8), truncation at character boundaries,
 * and whole lines: keys, optional fields, one '\n' at the end only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/log_json.h"

static void expect_escape(const char *in, size_t len, const char *want)
{
    char out[256];
    size_t used = 0;
    size_t n = log_json_escape(out, sizeof out, in, len, &used);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(used, len);
}
#define ESC(in, want) expect_escape(in, sizeof(in) - 1, want)

static void plain_text_is_unchanged(void **state)
{
    (void)state;
    ESC("", "");
    ESC("rds: reconnecting in 250 ms", "rds: reconnecting in 250 ms");
    ESC("a/b 'c' ~ \x7f", "a/b 'c' ~ \x7f");        /* '/' and DEL need no escape */
}

static void quotes_and_backslashes(void **state)
{
    (void)state;
    ESC("say \"hi\"", "say \\\"hi\\\"");
    ESC("C:\\path\\", "C:\\\\path\\\\");
    ESC("\\\"", "\\\\\\\"");
}

static void control_characters(void **state)
{
    (void)state;
    ESC("a\nb\r\tc", "a\\nb\\r\\tc");
    ESC("\b\f", "\\b\\f");
    ESC("\v", "\\u000b");                             /* no short form in JSON */
    ESC("\x01\x1f", "\\u0001\\u001f");
    ESC("x\x1by", "x\\u001by");                       /* a terminal escape */
    /* An embedded NUL is a character like the others when len says so. */
    expect_escape("a\0b", 3, "a\\u0000b");
}

static void valid_utf8_passes_through(void **state)
{
    (void)state;
    ESC("caf\xc3\xa9", "caf\xc3\xa9");                /* U+00E9 */
    ESC("\xe2\x82\xac", "\xe2\x82\xac");              /* U+20AC */
    ESC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");      /* U+1F600 */
    ESC("\xef\xbf\xbf", "\xef\xbf\xbf");              /* U+FFFF */
    ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");      /* U+10FFFF, the last */
}

static void invalid_utf8_becomes_replacement(void **state)
{
    (void)state;
    ESC("\x80", "\\ufffd");                           /* stray continuation */
    ESC("a\xff" "b", "a\\ufffdb");
    ESC("\xc0\xaf", "\\ufffd\\ufffd");                /* overlong '/' */
    ESC("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd");     /* overlong, 3 bytes */
    ESC("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd");     /* a surrogate, U+D800 */
    ESC("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");  /* past U+10FFFF */
    ESC("\xc3", "\\ufffd");                           /* cut short by the end */
    ESC("\xe2\x82" "x", "\\ufffd\\ufffdx");           /* cut short by a letter */
    ESC("\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");
}

static void truncation_keeps_whole_characters(void **state)
{
    (void)state;
    char out[8];
    size_t used;
    /* "ab" fits; the 2-byte escape of '"' would need 2 more and the NUL. */
    size_t n = log_json_escape(out, 4, "ab\"c", 4, &used);
    assert_string_equal(out, "ab");
    assert_int_equal(n, 2);
    assert_int_equal(used, 2);
    /* A UTF-8 sequence is never split. */
    n = log_json_escape(out, 5, "ab\xe2\x82\xac", 5, &used);
    assert_string_equal(out, "ab");
    assert_int_equal(used, 2);
    /* Nor is a \u escape. */
    n = log_json_escape(out, 7, "a\x01", 2, &used);
    assert_string_equal(out, "a");
    assert_int_equal(used, 1);
    /* cap 1: only the NUL. */
    n = log_json_escape(out, 1, "abc", 3, &used);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    assert_int_equal(used, 0);
}

static void whole_line(void **state)
{
    (void)state;
    char line[LOG_JSON_LINE_MAX];
    size_t n = log_json_line(line, sizeof line, "2026-11-28T02:00:00.123Z", "warn", "rds",
                             "lost \"conn\"\n2", 0);
    assert_string_equal(line, "{\"ts\":\"2026-11-28T02:00:00.123Z\",\"level\":\"warn\","
                              "\"module\":\"rds\",\"msg\":\"lost \\\"conn\\\"\\n2\"}\n");
    assert_int_equal(n, strlen(line));

    n = log_json_line(line, sizeof line, "T", "info", "auth", "x", 42);
    assert_string_equal(line, "{\"ts\":\"T\",\"level\":\"info\",\"module\":\"auth\","
                              "\"msg\":\"x\",\"suppressed\":42}\n");
}

static void long_message_is_truncated_and_marked(void **state)
{
    (void)state;
    /* Every byte escapes to 6: the line cannot hold it all. */
    static char msg[4000];
    memset(msg, 0x01, sizeof msg - 1);
    char line[LOG_JSON_LINE_MAX];
    size_t n = log_json_line(line, sizeof line, "T", "error", "main", msg, 7);
    assert_true(n < sizeof line);
    assert_int_equal(strlen(line), n);
    const char *tail = "\",\"suppressed\":7,\"truncated\":true}\n";
    assert_true(n > strlen(tail));
    assert_string_equal(line + n - strlen(tail), tail);
    /* Only whole escapes before the closing quote. */
    const char *end = line + n - strlen(tail);
    assert_memory_equal(end - 6, "\\u0001", 6);
    /* One line: no raw newline but the last. */
    assert_ptr_equal(memchr(line, '\n', n), line + n - 1);
}

static void small_buffer_still_closes_the_object(void **state)
{
    (void)state;
    char line[512];
    char msg[1024];
    memset(msg, 'a', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    size_t n = log_json_line(line, sizeof line, "2026-11-28T02:00:00.123Z", "debug",
                             "a-module-name-that-is-far-too-long-for-a-log-line-of-feedcache-0123456789",
                             msg, UINT64_MAX);
    assert_int_equal(strlen(line), n);
    assert_true(n < sizeof line);
    const char *tail = "\",\"suppressed\":18446744073709551615,\"truncated\":true}\n";
    assert_string_equal(line + n - strlen(tail), tail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_text_is_unchanged),
        cmocka_unit_test(quotes_and_backslashes),
        cmocka_unit_test(control_characters),
        cmocka_unit_test(valid_utf8_passes_through),
        cmocka_unit_test(invalid_utf8_becomes_replacement),
        cmocka_unit_test(truncation_keeps_whole_characters),
        cmocka_unit_test(whole_line),
        cmocka_unit_test(long_message_is_truncated_and_marked),
        cmocka_unit_test(small_buffer_still_closes_the_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for listen/connect addresses (src/util/addr.c): HOST:PORT,
 * [IPV6]:PORT and unix:/path, what is refused, and that addr_format gives
 * back text addr_parse reads as the same address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/addr.h"

static void parses_host_and_port(void **state)
{
    (void)state;
    addr_t a;
    char err[256] = "";
    assert_int_equal(addr_parse("127.0.0.1:7400", &a, err, sizeof err), 0);
    assert_false(a.is_unix);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 7400);
    assert_string_equal(a.path, "");

    assert_int_equal(addr_parse("localhost:1", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "localhost");
    assert_int_equal(a.port, 1);

    assert_int_equal(addr_parse("0.0.0.0:65535", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "0.0.0.0");
    assert_int_equal(a.port, 65535);
}

static void parses_bracketed_ipv6(void **state)
{
    (void)state;
    addr_t a;
    char err[256] = "";
    assert_int_equal(addr_parse("[::1]:7400", &a, err, sizeof err), 0);
    assert_false(a.is_unix);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 7400);

    assert_int_equal(addr_parse("[fe80::1:2]:80", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "fe80::1:2");
    assert_int_equal(a.port, 80);
}

static void parses_unix_path(void **state)
{
    (void)state;
    addr_t a;
    char err[256] = "";
    assert_int_equal(addr_parse("unix:/run/feedcache.sock", &a, err, sizeof err), 0);
    assert_true(a.is_unix);
    assert_string_equal(a.path, "/run/feedcache.sock");
    assert_string_equal(a.host, "");
    assert_int_equal(a.port, 0);

    /* The longest path sun_path holds (107 bytes + NUL) is accepted. */
    char s[5 + 108 + 1];
    memcpy(s, "unix:/", 6);
    memset(s + 6, 'p', 106);
    s[5 + 107] = '\0';
    assert_int_equal(strlen(s + 5), 107);
    assert_int_equal(addr_parse(s, &a, err, sizeof err), 0);
    assert_int_equal(strlen(a.path), 107);
}

/* Every refused input gives -1 and a reason. */
static void refuses_bad_input(void **state)
{
    (void)state;
    char overlong_path[5 + 108 + 1];
    memcpy(overlong_path, "unix:/", 6);
    memset(overlong_path + 6, 'p', 107);          /* a 108-byte path */
    overlong_path[5 + 108] = '\0';
    char overlong_host[256 + 7];
    memset(overlong_host, 'h', 256);                /* a 256-byte host */
    memcpy(overlong_host + 256, ":7400", 6);

    const char *const bad[] = {
        "127.0.0.1:0",          /* port 0 */
        "127.0.0.1:65536",      /* port too big */
        "127.0.0.1:99999999999999999999",
        "127.0.0.1:-1",
        "127.0.0.1:abc",
        "127.0.0.1:80x",
        "127.0.0.1:",           /* empty port */
        "127.0.0.1",            /* no port */
        "localhost",
        ":7400",                /* empty host */
        "",
        "[::1]",                /* IPv6 without port */
        "[::1]:",
        "[::1]7400",
        "[::1:7400",            /* unclosed bracket */
        "[]:7400",
        "unix:",                /* empty unix path */
        overlong_path,
        overlong_host,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        addr_t a;
        char err[256] = "";
        if (addr_parse(bad[i], &a, err, sizeof err) != -1)
            fail_msg("'%s' was accepted (host '%s', port %d)", bad[i], a.host, a.port);
        if (err[0] == '\0')
            fail_msg("'%s' refused without a reason", bad[i]);
    }
}

/* A port is digits only: signs and white space are not part of HOST:PORT
 * (and would not survive addr_format unchanged). */
static void port_is_digits_only(void **state)
{
    (void)state;
    const char *const bad[] = {
        "127.0.0.1:+80",
        "127.0.0.1: 80",
        "127.0.0.1:80 ",
        "127.0.0.1:\t80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        addr_t a;
        char err[256] = "";
        if (addr_parse(bad[i], &a, err, sizeof err) != -1)
            fail_msg("'%s' was accepted as port %d", bad[i], a.port);
    }
}

/* format(parse(s)) == s for canonical forms, and parse(format(a)) == a. */
static void format_round_trips(void **state)
{
    (void)state;
    const char *const forms[] = {
        "127.0.0.1:7400",
        "localhost:1",
        "0.0.0.0:65535",
        "[::1]:7400",
        "[fe80::1:2]:80",
        "unix:/run/feedcache.sock",
        "unix:relative.sock",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        addr_t a, b;
        char err[256] = "", text[512];
        assert_int_equal(addr_parse(forms[i], &a, err, sizeof err), 0);
        addr_format(&a, text, sizeof text);
        assert_string_equal(text, forms[i]);
        assert_int_equal(addr_parse(text, &b, err, sizeof err), 0);
        assert_int_equal(a.is_unix, b.is_unix);
        assert_string_equal(a.host, b.host);
        assert_int_equal(a.port, b.port);
        assert_string_equal(a.path, b.path);
    }
}

/* addr_format never writes past outlen and always terminates. */
static void format_truncates_safely(void **state)
{
    (void)state;
    addr_t a;
    char err[256];
    assert_int_equal(addr_parse("127.0.0.1:7400", &a, err, sizeof err), 0);
    char out[8];
    memset(out, 'X', sizeof out);
    addr_format(&a, out, 6);
    assert_string_equal(out, "127.0");
    assert_int_equal(out[6], 'X');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_host_and_port),
        cmocka_unit_test(parses_bracketed_ipv6),
        cmocka_unit_test(parses_unix_path),
        cmocka_unit_test(refuses_bad_input),
        cmocka_unit_test(port_is_digits_only),
        cmocka_unit_test(format_round_trips),
        cmocka_unit_test(format_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

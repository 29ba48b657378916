/* Unit tests for SHA-1 (util/sha1.h): the FIPS 180 vectors, lengths around
 * the padding's block boundaries (digests from Python's hashlib and
 * sha1sum), and the digest Redis gives a script (SCRIPT LOAD "return 1"
 * answers e0e1f9fa...; integration tests compare with a live Redis too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/sha1.h"

static void assert_sha(const void *data, size_t len, const char *want)
{
    char hex[SHA1_HEX_LEN + 1];
    sha1_hex(data, len, hex);
    assert_string_equal(hex, want);
}

static void fips_vectors(void **state)
{
    (void)state;
    assert_sha("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_sha("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_sha(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    assert_sha(a, n, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(a);
}

/* Byte i is (7i + 3) mod 256: the lengths where the padding takes one or
 * two blocks (55, 56), and whole blocks. */
static void block_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t len;
        const char *sha;
    } cases[] = {
        { 55, "ddf57317ef34bfee3b6df83d359098930eb278bc" },
        { 56, "a0d492bb0fc889d0eca3bc137066ab6f4f74f369" },
        { 57, "11a02dcf95859677a62e75024067c22b165d890f" },
        { 63, "c55856749bef509bdfe6bfebfc7bf4e793e82132" },
        { 64, "bede92be29c3874e1b54ddc77988d606fc857a8e" },
        { 65, "b05a80522b053d6dc7e0a517d0e70212c7dad11f" },
        { 119, "504e27376a6e0f0dba8295b85cb25dc4dfa17d23" },
        { 120, "82134b02fb3f702491be9bed581eeab59334acb2" },
        { 128, "a09133e6730ffe899efb70204cb5646cd5dc24ee" },
    };
    unsigned char buf[128];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)((i * 7 + 3) & 0xff);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_sha(buf, cases[i].len, cases[i].sha);
}

static void redis_script_digest(void **state)
{
    (void)state;
    assert_sha("return 1", 8, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    uint8_t raw[SHA1_LEN];
    sha1("abc", 3, raw);
    assert_int_equal(raw[0], 0xa9);
    assert_int_equal(raw[19], 0x9d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fips_vectors),
        cmocka_unit_test(block_boundaries),
        cmocka_unit_test(redis_script_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

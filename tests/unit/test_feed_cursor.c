/* Unit tests for the timeline cursor (feed_cursor). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "feed/feed_cursor.h"

/* xorshift64*: a fixed seed keeps every run identical. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void encode_ok(const feed_cursor_t *c, char out[FEED_CURSOR_MAX])
{
    assert_int_equal(feed_cursor_encode(c, out, FEED_CURSOR_MAX), FEED_CURSOR_LEN);
    assert_int_equal(strlen(out), FEED_CURSOR_LEN);
}

static void round_trip(int64_t user, int64_t ts, int64_t id)
{
    feed_cursor_t c = { user, ts, id }, d = { 0, 0, 0 };
    char s[FEED_CURSOR_MAX];
    encode_ok(&c, s);
    assert_int_equal(feed_cursor_decode(s, strlen(s), &d), 0);
    assert_true(d.user_id == user && d.ts == ts && d.id == id);
}

static void round_trips_extremes_and_random(void **state)
{
    (void)state;
    static const int64_t v[] = { 0, 1, -1, 9, 10, 100, 255, 256, INT32_MAX, INT32_MIN,
                                 1700000000123LL, INT64_MAX, INT64_MIN, INT64_MAX - 1,
                                 INT64_MIN + 1 };
    size_t nv = sizeof v / sizeof v[0];
    for (size_t a = 0; a < nv; a++)
        for (size_t b = 0; b < nv; b++)
            for (size_t c = 0; c < nv; c++)
                round_trip(v[a], v[b], v[c]);
    for (int i = 0; i < 20000; i++)
        round_trip((int64_t)rng(), (int64_t)rng(), (int64_t)rng());
}

/* Cursors in clients' hands must survive deploys: these strings were
 * computed independently (Python: struct.pack('>qqq'), zlib.crc32 over the
 * salt and the data, base64.urlsafe_b64encode without '='). */
static void known_answers_pin_the_format(void **state)
{
    (void)state;
    char s[FEED_CURSOR_MAX];
    feed_cursor_t c = { 42, 1700000000123LL, 9001 };
    encode_ok(&c, s);
    assert_string_equal(s, "1.AAAAAAAAACoAAAGLz-VoewAAAAAAACMp_TGbQg");
    feed_cursor_t x = { -1, INT64_MIN, INT64_MAX };
    encode_ok(&x, s);
    assert_string_equal(s, "1.__________-AAAAAAAAAAH__________5CmK0A");

    feed_cursor_t d;
    assert_int_equal(feed_cursor_decode("1.AAAAAAAAACoAAAGLz-VoewAAAAAAACMp_TGbQg",
                                        FEED_CURSOR_LEN, &d), 0);
    assert_true(d.user_id == 42 && d.ts == 1700000000123LL && d.id == 9001);
}

static void output_is_stable_and_url_safe(void **state)
{
    (void)state;
    feed_cursor_t c = { 7, 123456789, 987654321 };
    char a[FEED_CURSOR_MAX], b[FEED_CURSOR_MAX];
    encode_ok(&c, a);
    encode_ok(&c, b);
    assert_string_equal(a, b);
    assert_memory_equal(a, "1.", 2);
    for (size_t i = 2; i < FEED_CURSOR_LEN; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789-_", a[i]));
    /* Each field matters: a cursor of another user differs. */
    feed_cursor_t other = c;
    other.user_id = 8;
    encode_ok(&other, b);
    assert_string_not_equal(a, b);
}

static void small_buffer_gives_empty_string(void **state)
{
    (void)state;
    feed_cursor_t c = { 1, 2, 3 };
    char s[FEED_CURSOR_LEN];   /* one byte short for the NUL */
    memset(s, 'z', sizeof s);
    assert_int_equal(feed_cursor_encode(&c, s, sizeof s), 0);
    assert_string_equal(s, "");
    assert_int_equal(feed_cursor_encode(&c, NULL, 0), 0);
    char t[FEED_CURSOR_LEN + 1];
    assert_int_equal(feed_cursor_encode(&c, t, sizeof t), FEED_CURSOR_LEN);
}

/* Every single-byte substitution, all 255 other byte values at each of the
 * 40 positions, must be rejected (feed_cursor.c explains why this holds for
 * all of them, not just most), and must leave the output untouched. */
static void every_single_character_change_is_rejected(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        feed_cursor_t c = { (int64_t)rng(), (int64_t)rng(), (int64_t)rng() };
        if (round == 0)
            c = (feed_cursor_t){ 0, 0, 0 };
        char s[FEED_CURSOR_MAX];
        encode_ok(&c, s);
        for (size_t i = 0; i < FEED_CURSOR_LEN; i++) {
            for (int v = 0; v < 256; v++) {
                if ((char)v == s[i])
                    continue;
                char m[FEED_CURSOR_MAX];
                memcpy(m, s, sizeof m);
                m[i] = (char)v;
                feed_cursor_t d = { 11, 22, 33 };
                if (feed_cursor_decode(m, FEED_CURSOR_LEN, &d) != -1)
                    fail_msg("accepted %s (position %zu changed to 0x%02x)", m, i, v);
                assert_true(d.user_id == 11 && d.ts == 22 && d.id == 33);
            }
        }
    }
}

static void truncations_and_extra_characters_are_rejected(void **state)
{
    (void)state;
    feed_cursor_t c = { 5, 6, 7 }, d;
    char s[FEED_CURSOR_MAX];
    encode_ok(&c, s);
    for (size_t len = 0; len < FEED_CURSOR_LEN; len++) {
        assert_int_equal(feed_cursor_decode(s, len, &d), -1);
        /* A suffix too: dropping the front is not a cursor either. */
        assert_int_equal(feed_cursor_decode(s + FEED_CURSOR_LEN - len, len, &d), -1);
    }
    char longer[2 * FEED_CURSOR_MAX];
    memset(longer, 'A', sizeof longer);
    memcpy(longer, s, FEED_CURSOR_LEN);
    for (size_t len = FEED_CURSOR_LEN + 1; len <= sizeof longer; len++)
        assert_int_equal(feed_cursor_decode(longer, len, &d), -1);
    /* Appending a character that base64 would treat as padding or noise. */
    static const char extra[] = "=A_ .\n";
    for (size_t k = 0; k < sizeof extra - 1; k++) {
        char t[FEED_CURSOR_MAX];
        memcpy(t, s, FEED_CURSOR_LEN);
        t[FEED_CURSOR_LEN] = extra[k];
        assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN + 1, &d), -1);
    }
    /* Bytes after len are not looked at: a valid cursor inside a bigger
     * buffer decodes. */
    assert_int_equal(feed_cursor_decode(longer, FEED_CURSOR_LEN, &d), 0);
    assert_true(d.user_id == 5 && d.ts == 6 && d.id == 7);
}

static void malformed_inputs_are_rejected(void **state)
{
    (void)state;
    feed_cursor_t c = { 5, 6, 7 }, d;
    char s[FEED_CURSOR_MAX];
    encode_ok(&c, s);
    assert_int_equal(feed_cursor_decode(NULL, 0, &d), -1);
    assert_int_equal(feed_cursor_decode(NULL, FEED_CURSOR_LEN, &d), -1);
    assert_int_equal(feed_cursor_decode("", 0, &d), -1);

    /* Other versions, same body. */
    char t[FEED_CURSOR_MAX];
    memcpy(t, s, sizeof t);
    t[0] = '2';
    assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN, &d), -1);
    memcpy(t, s, sizeof t);
    t[1] = '-';
    assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN, &d), -1);

    /* Standard base64 ('+', '/') instead of base64url, and padding. */
    memcpy(t, s, sizeof t);
    t[10] = '+';
    assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN, &d), -1);
    t[10] = '/';
    assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN, &d), -1);
    memcpy(t, s, sizeof t);
    t[FEED_CURSOR_LEN - 1] = '=';
    assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN, &d), -1);

    /* An embedded NUL within len. */
    memcpy(t, s, sizeof t);
    t[20] = '\0';
    assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN, &d), -1);

    /* Hand-made: right shape, any check value but the right one. */
    assert_int_equal(feed_cursor_decode("1.AAAAAAAAACoAAAGLz-VoewAAAAAAACMpAAAAAA",
                                        FEED_CURSOR_LEN, &d), -1);
}

/* Random strings of the right shape: the check must turn them all away
 * (each would pass by chance with probability 2^-32; the seed is fixed,
 * so a run is repeatable). */
static void random_well_formed_strings_are_rejected(void **state)
{
    (void)state;
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    feed_cursor_t d;
    for (int i = 0; i < 50000; i++) {
        char t[FEED_CURSOR_LEN];
        t[0] = '1';
        t[1] = '.';
        for (size_t k = 2; k < FEED_CURSOR_LEN; k++)
            t[k] = alpha[rng() % 64];
        t[FEED_CURSOR_LEN - 1] = alpha[(rng() % 4) << 4];   /* zero padding bits */
        assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN, &d), -1);
    }
}

/* Two valid cursors spliced together (front of one, back of another) are
 * not a valid cursor. */
static void spliced_cursors_are_rejected(void **state)
{
    (void)state;
    feed_cursor_t a = { 1, 1700000000000LL, 100 }, b = { 2, 1700000000001LL, 200 }, d;
    char sa[FEED_CURSOR_MAX], sb[FEED_CURSOR_MAX];
    encode_ok(&a, sa);
    encode_ok(&b, sb);
    for (size_t cut = 3; cut < FEED_CURSOR_LEN; cut++) {
        char t[FEED_CURSOR_MAX];
        memcpy(t, sa, cut);
        memcpy(t + cut, sb + cut, FEED_CURSOR_LEN - cut);
        if (memcmp(t, sa, FEED_CURSOR_LEN) == 0 || memcmp(t, sb, FEED_CURSOR_LEN) == 0)
            continue;
        assert_int_equal(feed_cursor_decode(t, FEED_CURSOR_LEN, &d), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips_extremes_and_random),
        cmocka_unit_test(known_answers_pin_the_format),
        cmocka_unit_test(output_is_stable_and_url_safe),
        cmocka_unit_test(small_buffer_gives_empty_string),
        cmocka_unit_test(every_single_character_change_is_rejected),
        cmocka_unit_test(truncations_and_extra_characters_are_rejected),
        cmocka_unit_test(malformed_inputs_are_rejected),
        cmocka_unit_test(random_well_formed_strings_are_rejected),
        cmocka_unit_test(spliced_cursors_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

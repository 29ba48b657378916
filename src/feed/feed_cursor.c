/* Timeline cursor encoding: see feed_cursor.h for the format.
 *
 * Why every single-character change is rejected, not just most of them:
 * - a character outside the alphabet, or in the version prefix, fails the
 *   syntax checks;
 * - the 24 data bytes are exactly 32 base64 characters (192 bits), so a
 *   changed character alters either data bits or check bits, never both;
 * - changed data bits form an error burst of at most 6 bits, and CRC-32
 *   detects every burst of up to 32 bits (the salt does not matter: CRC is
 *   affine, so the difference depends only on the error); changed check
 *   bits make the stored value differ from the computed one;
 * - the last character carries 2 bits of the check and 4 padding bits,
 *   which must be zero, so there is exactly one spelling of each cursor. */
#include "feed/feed_cursor.h"

#include <string.h>

#define RAW_LEN 28          /* 3 x int64 + uint32 check */
#define DATA_LEN 24
#define VERSION "1."
#define VERSION_LEN 2
#define B64_LEN 38          /* 9 groups of 4 for 27 bytes, 2 for the last byte */

/* Part of the check so that a cursor of another program using the same
 * layout and plain CRC-32 is not accepted by chance. */
static const char salt[] = "feedcache/timeline-cursor/v1";

static const char b64_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* CRC-32 (IEEE 802.3, reflected, as in zlib), bitwise: a cursor is 52
 * bytes of input, too few to justify a table. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t cursor_check(const unsigned char data[DATA_LEN])
{
    uint32_t crc = crc32_update(0, (const unsigned char *)salt, sizeof salt - 1);
    return crc32_update(crc, data, DATA_LEN);
}

static void put_be64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static int64_t get_be64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    /* Two's complement conversion without implementation-defined behaviour. */
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Value of a base64url character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Encodes RAW_LEN bytes into B64_LEN characters (no padding, no NUL). */
static void b64_encode(const unsigned char raw[RAW_LEN], char out[B64_LEN])
{
    size_t o = 0, i = 0;
    for (; i + 3 <= RAW_LEN; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    /* RAW_LEN % 3 == 1: one byte left, two characters, 4 zero padding bits. */
    out[o++] = b64_alphabet[raw[i] >> 2];
    out[o++] = b64_alphabet[(raw[i] & 3) << 4];
}

/* Inverse of b64_encode; -1 on a bad character or non-zero padding bits. */
static int b64_decode(const char in[B64_LEN], unsigned char raw[RAW_LEN])
{
    int v[B64_LEN];
    for (size_t k = 0; k < B64_LEN; k++)
        if ((v[k] = b64_value((unsigned char)in[k])) < 0)
            return -1;
    size_t o = 0, k = 0;
    for (; o + 3 <= RAW_LEN; o += 3, k += 4) {
        uint32_t w = (uint32_t)v[k] << 18 | (uint32_t)v[k + 1] << 12 |
                     (uint32_t)v[k + 2] << 6 | (uint32_t)v[k + 3];
        raw[o] = (unsigned char)(w >> 16);
        raw[o + 1] = (unsigned char)(w >> 8);
        raw[o + 2] = (unsigned char)w;
    }
    if (v[k + 1] & 15)
        return -1;
    raw[o] = (unsigned char)(v[k] << 2 | v[k + 1] >> 4);
    return 0;
}

size_t feed_cursor_encode(const feed_cursor_t *c, char *out, size_t cap)
{
    if (cap > 0)
        out[0] = '\0';
    if (!c || cap < FEED_CURSOR_LEN + 1)
        return 0;
    unsigned char raw[RAW_LEN];
    put_be64(raw, c->user_id);
    put_be64(raw + 8, c->ts);
    put_be64(raw + 16, c->id);
    put_be32(raw + DATA_LEN, cursor_check(raw));
    memcpy(out, VERSION, VERSION_LEN);
    b64_encode(raw, out + VERSION_LEN);
    out[FEED_CURSOR_LEN] = '\0';
    return FEED_CURSOR_LEN;
}

int feed_cursor_decode(const char *s, size_t len, feed_cursor_t *out)
{
    /* The length tests come first so that nothing longer than a cursor is
     * ever scanned, whatever a client sends. */
    if (!s || len == 0 || len >= FEED_CURSOR_MAX || len != FEED_CURSOR_LEN)
        return -1;
    if (memcmp(s, VERSION, VERSION_LEN) != 0)
        return -1;
    unsigned char raw[RAW_LEN];
    if (b64_decode(s + VERSION_LEN, raw) < 0)
        return -1;
    if (get_be32(raw + DATA_LEN) != cursor_check(raw))
        return -1;
    out->user_id = get_be64(raw);
    out->ts = get_be64(raw + 8);
    out->id = get_be64(raw + 16);
    return 0;
}

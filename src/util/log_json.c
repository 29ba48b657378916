#include "util/log_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Bytes after the message: `"`, `,"suppressed":` and 20 digits,
 * `,"truncated":true`, `}\n` and the NUL, rounded up. */
#define TAIL_RESERVE 64
/* Module names are short words; a longer one is cut, not the message. */
#define MODULE_MAX 64

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when the bytes there
 * are not one: a stray continuation byte, an overlong form, a surrogate, a
 * code point past U+10FFFF, or a sequence cut short by the end. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;     /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;                      /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F;                      /* surrogates U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;                      /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F;                      /* past U+10FFFF */
    } else {
        return 0;                           /* 0x80..0xC1, 0xF5..0xFF */
    }
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

size_t log_json_escape(char *out, size_t cap, const char *s, size_t len, size_t *consumed)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, i = 0;
    while (i < len) {
        char esc[8];
        const char *piece;
        size_t plen, take;
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            piece = esc, plen = 2, take = 1;
        } else if (c < 0x20) {
            static const char shorts[] = "btn\0fr";   /* \b \t \n (\v has none) \f \r */
            if (c >= '\b' && c <= '\r' && shorts[c - '\b']) {
                esc[0] = '\\';
                esc[1] = shorts[c - '\b'];
                plen = 2;
            } else {
                plen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
            }
            piece = esc, take = 1;
        } else {
            size_t seq = utf8_seq(p + i, len - i);
            if (seq == 0)
                piece = "\\ufffd", plen = 6, take = 1;
            else
                piece = (const char *)p + i, plen = seq, take = seq;
        }
        if (o + plen >= cap)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
        i += take;
    }
    if (cap > 0)
        out[o] = '\0';
    if (consumed)
        *consumed = i;
    return o;
}

/* Appends a literal; the caller has checked the room (the keys are fixed). */
static size_t put(char *out, size_t cap, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    if (n + l >= cap)
        return n;
    memcpy(out + n, lit, l + 1);
    return n + l;
}

size_t log_json_line(char *out, size_t cap, const char *ts, const char *level,
                     const char *module, const char *msg, uint64_t suppressed)
{
    size_t n = 0;
    n = put(out, cap, n, "{\"ts\":\"");
    n += log_json_escape(out + n, 40, ts, strlen(ts), NULL);
    n = put(out, cap, n, "\",\"level\":\"");
    n += log_json_escape(out + n, 16, level, strlen(level), NULL);
    n = put(out, cap, n, "\",\"module\":\"");
    n += log_json_escape(out + n, MODULE_MAX, module, strlen(module), NULL);
    n = put(out, cap, n, "\",\"msg\":\"");
    size_t mlen = strlen(msg), used = 0;
    if (n + TAIL_RESERVE < cap)
        n += log_json_escape(out + n, cap - n - TAIL_RESERVE, msg, mlen, &used);
    n = put(out, cap, n, "\"");
    if (suppressed > 0) {
        char num[48];
        snprintf(num, sizeof num, ",\"suppressed\":%" PRIu64, suppressed);
        n = put(out, cap, n, num);
    }
    if (used < mlen)
        n = put(out, cap, n, ",\"truncated\":true");
    return put(out, cap, n, "}\n");
}

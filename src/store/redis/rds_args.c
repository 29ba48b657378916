#include "store/redis/rds_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/redis/rds_keys.h"
#include "util/num.h"

void rds_args_init(rds_args_t *a)
{
    memset(a, 0, sizeof *a);
    buf_init(&a->bytes);
}

void rds_args_reset(rds_args_t *a)
{
    buf_reset(&a->bytes);
    a->argc = 0;
    a->route_slot1 = 0;
}

void rds_args_route_like(rds_args_t *a, const char *key, size_t len)
{
    a->route_slot1 = 1 + (int)rds_key_slot(key, len);
}

void rds_args_free(rds_args_t *a)
{
    buf_free(&a->bytes);
    free(a->offsets);
    free(a->lens);
    free(a->argv);
    memset(a, 0, sizeof *a);
}

void rds_args_add(rds_args_t *a, const char *s, size_t len)
{
    if (a->argc == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->offsets = fc_xrealloc(a->offsets, (size_t)a->cap * sizeof *a->offsets);
        a->lens = fc_xrealloc(a->lens, (size_t)a->cap * sizeof *a->lens);
        a->argv = fc_xrealloc(a->argv, (size_t)a->cap * sizeof *a->argv);
    }
    /* Offsets, not pointers: the byte buffer moves as it grows. */
    a->offsets[a->argc] = a->bytes.len;
    a->lens[a->argc] = len;
    buf_append(&a->bytes, s, len);
    a->argc++;
}

void rds_args_str(rds_args_t *a, const char *s)
{
    rds_args_add(a, s, strlen(s));
}

void rds_args_int(rds_args_t *a, int64_t v)
{
    char tmp[FC_I64_CHARS];
    rds_args_add(a, tmp, fc_i64_format(tmp, v));
}

void rds_args_key(rds_args_t *a, size_t (*build)(char *, size_t, const char *, int64_t),
                  const char *prefix, int64_t id)
{
    char key[RDS_KEY_MAX];
    rds_args_add(a, key, build(key, sizeof key, prefix, id));
}

void rds_args_addf(rds_args_t *a, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof tmp) {
        char *big = fc_xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        rds_args_add(a, big, (size_t)n);
        free(big);
        return;
    }
    rds_args_add(a, tmp, (size_t)n);
}

const char *const *rds_args_argv(rds_args_t *a)
{
    for (int i = 0; i < a->argc; i++)
        a->argv[i] = a->bytes.data + a->offsets[i];
    return a->argv;
}

const size_t *rds_args_lens(const rds_args_t *a)
{
    return a->lens;
}

/* The most a "<prefix><n>\r\n" header takes: a prefix, 20 digits, CRLF. */
#define RESP_HEADER_MAX 23

/* Writes "<prefix><n>\r\n" at p without printf; returns the end. */
static char *resp_header(char *p, char prefix, size_t n)
{
    *p++ = prefix;
    if (n < 100) {              /* nearly every header: short arguments */
        if (n >= 10)
            *p++ = (char)('0' + n / 10);
        *p++ = (char)('0' + n % 10);
    } else {
        char tmp[RESP_HEADER_MAX];
        size_t i = sizeof tmp;
        do {
            tmp[--i] = (char)('0' + n % 10);
            n /= 10;
        } while (n);
        memcpy(p, tmp + i, sizeof tmp - i);
        p += sizeof tmp - i;
    }
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* The command in RESP, written here rather than by hiredis's
 * redisFormatSdsCommandArgv, whose sdscatfmt per argument showed up as the
 * biggest single cost of a cached read in the profile. One buffer, reused:
 * the node pool copies the command (into hiredis's output buffer, or into
 * the command's wait record). */
const buf_t *rds_args_resp(rds_args_t *args)
{
    static buf_t resp;
    buf_reset(&resp);
    /* One reservation for the worst case, then plain stores. */
    size_t most = RESP_HEADER_MAX + (size_t)args->argc * (RESP_HEADER_MAX + 2) + args->bytes.len;
    buf_reserve(&resp, most);
    char *p = resp.data;
    p = resp_header(p, '*', (size_t)args->argc);
    for (int i = 0; i < args->argc; i++) {
        p = resp_header(p, '$', args->lens[i]);
        memcpy(p, args->bytes.data + args->offsets[i], args->lens[i]);
        p += args->lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    resp.len = (size_t)(p - resp.data);
    resp.data[resp.len] = '\0';
    return &resp;
}

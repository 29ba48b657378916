/* Redis Cluster slot logic: see rds_slots.h. */
#include "store/redis/rds_slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/redis/rds_keys.h"

static int is(const char *arg, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(arg, name, len) == 0;
}

/* A small non-negative decimal argument (numkeys), else -1. */
static long small_uint(const char *s, size_t len)
{
    if (len == 0 || len > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* The index of the command's first key argument, or -1. */
static int key_index(int argc, const char *const *argv, const size_t *lens)
{
    const char *cmd = argv[0];
    size_t n = lens[0];
    if (is(cmd, n, "EVAL") || is(cmd, n, "EVALSHA") || is(cmd, n, "EVAL_RO") ||
        is(cmd, n, "EVALSHA_RO") || is(cmd, n, "FCALL") || is(cmd, n, "FCALL_RO")) {
        if (argc < 4)
            return -1;
        return small_uint(argv[2], lens[2]) > 0 ? 3 : -1;
    }
    if (is(cmd, n, "XREAD") || is(cmd, n, "XREADGROUP")) {
        for (int i = 1; i + 1 < argc; i++)
            if (is(argv[i], lens[i], "STREAMS"))
                return i + 1;
        return -1;
    }
    if (is(cmd, n, "XGROUP") || is(cmd, n, "XINFO") || is(cmd, n, "OBJECT") ||
        is(cmd, n, "MEMORY"))
        return argc > 2 ? 2 : -1;
    static const char *const keyless[] = {
        "PING", "INFO", "CONFIG", "CLUSTER", "SCRIPT", "WAIT", "ASKING", "READONLY",
        "AUTH", "SELECT", "DBSIZE", "FLUSHDB", "FLUSHALL", "TIME", "COMMAND", "CLIENT",
        "HELLO", "ECHO", "FUNCTION", "LATENCY", "SLOWLOG", "ROLE", "LASTSAVE",
    };
    for (size_t i = 0; i < sizeof keyless / sizeof keyless[0]; i++)
        if (is(cmd, n, keyless[i]))
            return -1;
    return argc > 1 ? 1 : -1;
}

int rds_slots_of_command(int argc, const char *const *argv, const size_t *lens)
{
    if (argc < 1)
        return -1;
    int k = key_index(argc, argv, lens);
    return k < 0 ? -1 : (int)rds_key_slot(argv[k], lens[k]);
}

static int reply_int(const redisReply *r, long long *out)
{
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return -1;
    *out = r->integer;
    return 0;
}

int rds_slots_parse(const redisReply *reply, const char *asked_host, rds_slot_range_t *out,
                    size_t cap, char *err, size_t errlen)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "CLUSTER SLOTS: %s",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "not an array");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        long long start, end, port;
        /* [start, end, [host, port, id, ...], replicas...] */
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            reply_int(e->element[0], &start) != 0 || reply_int(e->element[1], &end) != 0 ||
            start < 0 || end < start || end >= RDS_SLOTS) {
            snprintf(err, errlen, "CLUSTER SLOTS: entry %zu is not [start, end, master...]", i);
            return -1;
        }
        const redisReply *m = e->element[2];
        if (!m || m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
            m->element[0]->type != REDIS_REPLY_STRING ||
            reply_int(m->element[1], &port) != 0 || port < 1 || port > 65535) {
            snprintf(err, errlen, "CLUSTER SLOTS: entry %zu has no master host and port", i);
            return -1;
        }
        if (n == cap) {
            snprintf(err, errlen, "CLUSTER SLOTS: more than %zu ranges", cap);
            return -1;
        }
        const char *host = m->element[0]->str;
        /* "" (or "?" from old versions): the node does not know the address
         * it is reached at; it is the one we asked. */
        if (host[0] == '\0' || strcmp(host, "?") == 0)
            host = asked_host;
        rds_slot_range_t *r = &out[n++];
        r->start = (int)start;
        r->end = (int)end;
        snprintf(r->host, sizeof r->host, "%s", host);
        r->port = (int)port;
    }
    return (int)n;
}

rds_redirect_kind_t rds_redirect_parse(const char *str, size_t len, rds_redirect_t *out)
{
    memset(out, 0, sizeof *out);
    char text[320];
    if (!str || len >= sizeof text)
        return RDS_REDIRECT_NONE;
    memcpy(text, str, len);
    text[len] = '\0';
    rds_redirect_kind_t kind;
    const char *p;
    if (strncmp(text, "MOVED ", 6) == 0) {
        kind = RDS_REDIRECT_MOVED;
        p = text + 6;
    } else if (strncmp(text, "ASK ", 4) == 0) {
        kind = RDS_REDIRECT_ASK;
        p = text + 4;
    } else {
        return RDS_REDIRECT_NONE;
    }
    char *end;
    long slot = strtol(p, &end, 10);
    if (end == p || *end != ' ' || slot < 0 || slot >= RDS_SLOTS)
        return RDS_REDIRECT_NONE;
    const char *addr = end + 1;
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return RDS_REDIRECT_NONE;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return RDS_REDIRECT_NONE;
    const char *host = addr;
    size_t hostlen = (size_t)(colon - addr);
    if (hostlen >= 2 && host[0] == '[' && host[hostlen - 1] == ']') {
        host++;
        hostlen -= 2;
    }
    if (hostlen >= sizeof out->host)
        return RDS_REDIRECT_NONE;
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    out->kind = kind;
    out->slot = (int)slot;
    out->port = (int)port;
    return kind;
}

int rds_slots_retryable_error(const char *str, size_t len)
{
    return (len >= 8 && strncmp(str, "TRYAGAIN", 8) == 0) ||
           (len >= 11 && strncmp(str, "CLUSTERDOWN", 11) == 0);
}

int rds_error_is_transient(const char *str, size_t len)
{
    static const char *const prefixes[] = { "LOADING",    "BUSY",      "OOM",     "READONLY",
                                            "MASTERDOWN", "NOREPLICAS", "MISCONF", "TRYAGAIN",
                                            "CLUSTERDOWN", "NOAUTH",   "WRONGPASS", "NOPERM",
                                            "MOVED",      "ASK" };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        /* The whole first word: "BUSYGROUP" is not "BUSY". */
        if (len >= n && strncmp(str, prefixes[i], n) == 0 && (len == n || str[n] == ' '))
            return 1;
    }
    return 0;
}

int rds_info_field(const char *info, size_t len, const char *field, char *out, size_t cap)
{
    size_t flen = strlen(field);
    const char *end = info + len;
    for (const char *line = info; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *stop = nl ? nl : end;
        if ((size_t)(stop - line) > flen && memcmp(line, field, flen) == 0 && line[flen] == ':') {
            const char *v = line + flen + 1;
            size_t n = (size_t)(stop - v);
            while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
                n--;
            if (n == 0 || cap == 0)
                return -1;
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
        line = nl ? nl + 1 : end;
    }
    return -1;
}

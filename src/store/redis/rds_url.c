/* Redis URL parsing.
 *
 * Accepted forms (what the `redis` setting documents):
 *   redis://host                     port 6379, db 0
 *   redis://host:port[/db]           a trailing "/" alone means db 0
 *   redis://:password@host:port/db   password only (Redis < 6 style)
 *   redis://user:password@host...    an ACL user: AUTH user password (Redis 6+)
 *   redis://[::1]:port               IPv6 literal in brackets
 *   unix:///abs/path[?db=N][&user=U][&password=P]
 *   redis-cluster://[user:password@]host:port[,host:port...]
 *                                    seed nodes of a Redis Cluster
 *
 * The host is a numeric IP address or a DNS name. Names are resolved by the
 * pool (util/resolve.h: on the thread pool, again before every connect),
 * never here and never by hiredis, whose getaddrinfo() would block the loop.
 * Only the name's spelling is checked here: whether it resolves is a
 * question for connect time (a name that does not resolve is a backend
 * that is down, not a bad setting).
 *
 * The user-info part ends at the LAST '@', so a password may contain '@' or
 * '/' as long as it has no '%'; "%XX" escapes are decoded as in any URL. */
#include "store/redis/rds_url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes s[0..n) with %XX escapes into out (cap bytes with the NUL);
 * what names the part in errors ("user", "password"). */
static int decode_escaped(const char *s, size_t n, char *out, size_t cap, const char *what,
                          char *err, size_t errlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int h = i + 2 < n ? hexval(s[i + 1]) : -1;
            int l = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                snprintf(err, errlen, "bad %%-escape in %s (expected %%XX)", what);
                return -1;
            }
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == '\0') {
            snprintf(err, errlen, "%s contains a NUL byte", what);
            return -1;
        }
        if (o + 1 >= cap) {
            snprintf(err, errlen, "%s longer than %zu bytes", what, cap - 1);
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Non-negative decimal without sign, spaces or overflow. */
static int parse_uint(const char *s, size_t n, long max, long *out)
{
    if (n == 0 || n > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_db(const char *s, size_t n, int *db, char *err, size_t errlen)
{
    long v;
    if (parse_uint(s, n, INT_MAX, &v) != 0) {
        snprintf(err, errlen, "bad database number '%.*s' (expected 0 or a positive integer)",
                 (int)(n > 32 ? 32 : n), s);
        return -1;
    }
    *db = (int)v;
    return 0;
}

/* A bracketed host is an IPv6 literal. Otherwise: all digits and dots is
 * an IPv4 literal (so a typo like 256.1.1.1 is not sent to DNS), anything
 * else a host name of letters, digits, '-', '_' and '.', at most 253 bytes,
 * not starting with '-' or '.'. ('_' is not legal in DNS but Compose
 * service names may use it, and /etc/hosts does.) */
static int host_is_allowed(const char *host, int bracketed)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (bracketed)
        return inet_pton(AF_INET6, host, buf) == 1;
    if (strspn(host, "0123456789.") == strlen(host))
        return inet_pton(AF_INET, host, buf) == 1;
    if (strlen(host) > 253 || host[0] == '-' || host[0] == '.')
        return 0;
    for (const char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    return 1;
}

/* User info: everything before the last '@' (a password may contain '@'
 * or '/'); *rest moves past it. */
static int parse_userinfo(const char **rest, rds_url_t *out, char *err, size_t errlen)
{
    const char *at = strrchr(*rest, '@');
    if (!at)
        return 0;
    const char *colon = memchr(*rest, ':', (size_t)(at - *rest));
    if (!colon) {
        snprintf(err, errlen, "user info without ':' (write redis://:PASSWORD@HOST)");
        return -1;
    }
    if (decode_escaped(*rest, (size_t)(colon - *rest), out->user, sizeof out->user, "user",
                       err, errlen) != 0 ||
        decode_escaped(colon + 1, (size_t)(at - colon - 1), out->password,
                       sizeof out->password, "password", err, errlen) != 0)
        return -1;
    *rest = at + 1;
    return 0;
}

/* HOST[:PORT] where HOST is [v6], an IPv4 address or a name; *pp moves
 * past it, to the first of `stops` or the end. */
static int parse_host_port(const char **pp, const char *stops, char *host, size_t cap,
                           int *port, char *err, size_t errlen)
{
    const char *p = *pp;
    const char *start;
    size_t hostlen;
    int bracketed = 0;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close) {
            snprintf(err, errlen, "missing ']' after IPv6 address");
            return -1;
        }
        start = p + 1;
        hostlen = (size_t)(close - start);
        p = close + 1;
        bracketed = 1;
    } else {
        char set[16];
        snprintf(set, sizeof set, ":%s", stops);
        start = p;
        hostlen = strcspn(p, set);
        p += hostlen;
    }
    if (hostlen == 0) {
        snprintf(err, errlen, "empty host");
        return -1;
    }
    if (hostlen >= cap) {
        snprintf(err, errlen, "host longer than %zu bytes", cap - 1);
        return -1;
    }
    memcpy(host, start, hostlen);
    host[hostlen] = '\0';
    if (!host_is_allowed(host, bracketed)) {
        snprintf(err, errlen, "bad host '%.64s' (expected an IP address, [IPv6] or a host "
                 "name of letters, digits, '-', '_' and '.')", host);
        return -1;
    }
    *port = 6379;
    if (*p == ':') {
        p++;
        size_t n = strcspn(p, stops);
        long v;
        if (parse_uint(p, n, 65535, &v) != 0 || v < 1) {
            snprintf(err, errlen, "bad port '%.*s' (1..65535)", (int)(n > 16 ? 16 : n), p);
            return -1;
        }
        *port = (int)v;
        p += n;
    }
    *pp = p;
    return 0;
}

static int parse_tcp(const char *rest, rds_url_t *out, char *err, size_t errlen)
{
    if (parse_userinfo(&rest, out, err, errlen) != 0)
        return -1;
    const char *p = rest;
    if (parse_host_port(&p, "/?#", out->host, sizeof out->host, &out->port, err, errlen) != 0)
        return -1;
    if (*p == '/') {
        p++;
        size_t n = strlen(p);
        if (n > 0 && parse_db(p, n, &out->db, err, errlen) != 0)
            return -1;
        p += n;
    }
    if (*p) {
        snprintf(err, errlen, "unexpected '%.32s' after host and port", p);
        return -1;
    }
    return 0;
}

/* redis-cluster://[user:password@]host:port[,host:port...]: the seed nodes
 * the slot map is first asked from. A cluster has only database 0, so a
 * "/0" is tolerated and any other database refused. */
static int parse_cluster(const char *rest, rds_url_t *out, char *err, size_t errlen)
{
    if (parse_userinfo(&rest, out, err, errlen) != 0)
        return -1;
    out->is_cluster = 1;
    const char *p = rest;
    for (;;) {
        if (out->nseeds == RDS_URL_MAX_SEEDS) {
            snprintf(err, errlen, "more than %d seed nodes", RDS_URL_MAX_SEEDS);
            return -1;
        }
        rds_url_seed_t *seed = &out->seeds[out->nseeds];
        if (parse_host_port(&p, ",/?#", seed->host, sizeof seed->host, &seed->port, err,
                            errlen) != 0)
            return -1;
        out->nseeds++;
        if (*p != ',')
            break;
        p++;
    }
    if (*p == '/') {
        p++;
        size_t n = strlen(p);
        int db = 0;
        if (n > 0 && parse_db(p, n, &db, err, errlen) != 0)
            return -1;
        if (db != 0) {
            snprintf(err, errlen, "a Redis Cluster has only database 0 (got /%d)", db);
            return -1;
        }
        p += n;
    }
    if (*p) {
        snprintf(err, errlen, "unexpected '%.32s' after the seed nodes", p);
        return -1;
    }
    snprintf(out->host, sizeof out->host, "%s", out->seeds[0].host);
    out->port = out->seeds[0].port;
    return 0;
}

static int parse_unix(const char *rest, rds_url_t *out, char *err, size_t errlen)
{
    if (rest[0] != '/') {
        snprintf(err, errlen, "unix socket path must be absolute (unix:///path)");
        return -1;
    }
    size_t n = strcspn(rest, "?");
    if (n >= sizeof out->path) {
        snprintf(err, errlen, "unix socket path longer than %zu bytes", sizeof out->path - 1);
        return -1;
    }
    memcpy(out->path, rest, n);
    out->path[n] = '\0';
    out->is_unix = 1;

    const char *q = rest + n;
    if (*q == '\0')
        return 0;
    q++;   /* '?' */
    while (*q) {
        size_t len = strcspn(q, "&");
        if (len > 3 && strncmp(q, "db=", 3) == 0) {
            if (parse_db(q + 3, len - 3, &out->db, err, errlen) != 0)
                return -1;
        } else if (len >= 9 && strncmp(q, "password=", 9) == 0) {
            if (decode_escaped(q + 9, len - 9, out->password, sizeof out->password, "password",
                               err, errlen) != 0)
                return -1;
        } else if (len >= 5 && strncmp(q, "user=", 5) == 0) {
            if (decode_escaped(q + 5, len - 5, out->user, sizeof out->user, "user", err,
                               errlen) != 0)
                return -1;
        } else {
            snprintf(err, errlen,
                     "unknown parameter '%.*s' (expected db=N, user=U or password=P)",
                     (int)(len > 32 ? 32 : len), q);
            return -1;
        }
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}

int rds_url_parse(const char *url, rds_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!url) {
        snprintf(err, errlen, "no Redis URL");
        return -1;
    }
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen, "Redis URL contains a space or control character");
            return -1;
        }
    }
    if (strncmp(url, "redis://", 8) == 0)
        return parse_tcp(url + 8, out, err, errlen);
    if (strncmp(url, "unix://", 7) == 0)
        return parse_unix(url + 7, out, err, errlen);
    if (strncmp(url, "redis-cluster://", 16) == 0)
        return parse_cluster(url + 16, out, err, errlen);
    if (strncmp(url, "rediss://", 9) == 0) {
        snprintf(err, errlen, "TLS (rediss://) is not supported");
        return -1;
    }
    snprintf(err, errlen, "expected redis://[:password@]host:port[/db], unix:///path[?db=N] or "
             "redis-cluster://[user:password@]host:port[,host:port...]");
    return -1;
}

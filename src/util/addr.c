#include "util/addr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, int *port)
{
    if (!*s)
        return -1;
    /* Digits only: strtol would also take a sign and leading blanks. */
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int addr_parse(const char *s, addr_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strncmp(s, "unix:", 5) == 0) {
        const char *path = s + 5;
        if (!*path) {
            snprintf(err, errlen, "empty unix socket path");
            return -1;
        }
        if (strlen(path) >= sizeof out->path) {
            snprintf(err, errlen, "unix socket path longer than %zu bytes", sizeof out->path - 1);
            return -1;
        }
        out->is_unix = 1;
        strcpy(out->path, path);
        return 0;
    }
    const char *host = s, *colon;
    size_t hostlen;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "expected [IPV6]:PORT");
            return -1;
        }
        host = s + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(err, errlen, "expected HOST:PORT or unix:/path");
            return -1;
        }
        hostlen = (size_t)(colon - s);
    }
    if (hostlen == 0 || hostlen >= sizeof out->host) {
        snprintf(err, errlen, "bad host in '%s'", s);
        return -1;
    }
    if (parse_port(colon + 1, &out->port) != 0) {
        snprintf(err, errlen, "bad port in '%s' (1..65535)", s);
        return -1;
    }
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    return 0;
}

void addr_format(const addr_t *a, char *out, size_t outlen)
{
    if (a->is_unix)
        snprintf(out, outlen, "unix:%s", a->path);
    else if (strchr(a->host, ':'))
        snprintf(out, outlen, "[%s]:%d", a->host, a->port);
    else
        snprintf(out, outlen, "%s:%d", a->host, a->port);
}

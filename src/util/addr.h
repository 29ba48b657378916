/* Listen and connect addresses: `HOST:PORT`, `[IPV6]:PORT` or `unix:/path`. */
#ifndef FC_UTIL_ADDR_H
#define FC_UTIL_ADDR_H

#include <stddef.h>

typedef struct {
    int is_unix;
    char host[256];      /* numeric IP or host name; empty for unix */
    int port;            /* 1..65535; 0 for unix */
    char path[108];      /* unix socket path (sun_path size) */
} addr_t;

/* Parses s. Returns 0, or -1 with a reason in err. */
int addr_parse(const char *s, addr_t *out, char *err, size_t errlen);

/* Renders an address back to the text form addr_parse takes. */
void addr_format(const addr_t *a, char *out, size_t outlen);

#endif

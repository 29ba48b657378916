/* Fuzz target: Redis URL parsing (src/store/redis/rds_url.c). The input is
 * the URL (a C string: cut at the first NUL, as the setting would be). On
 * success the result must be usable as documented in rds_url.h: one server,
 * a unix socket, or the seed nodes of a cluster. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store/redis/rds_url.h"

/* What the pool will be given: a numeric address, or a name for the
 * resolver (no spaces, '/', '@', ':' or '%'). */
static void check_host_port(const char *host, size_t cap, int port)
{
    FUZZ_CHECK(port >= 1 && port <= 65535);
    FUZZ_CHECK(host[0] != '\0' && memchr(host, '\0', cap) != NULL);
    unsigned char ip[16];
    FUZZ_CHECK(inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1 ||
               (strlen(host) <= 253 &&
                strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789-_.") == strlen(host)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy: ASan sees a read past the terminator. */
    char *url = malloc(size + 1);
    FUZZ_CHECK(url != NULL);
    memcpy(url, data, size);
    url[size] = '\0';

    rds_url_t u;
    char err[256];
    err[0] = '\0';
    int rc = rds_url_parse(url, &u, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
    } else {
        FUZZ_CHECK(memchr(u.password, '\0', sizeof u.password) != NULL);
        FUZZ_CHECK(u.db >= 0);
        if (u.is_unix) {
            FUZZ_CHECK(strncmp(url, "unix://", 7) == 0);
            FUZZ_CHECK(u.path[0] == '/' && memchr(u.path, '\0', sizeof u.path) != NULL);
        } else if (u.is_cluster) {
            /* Seed nodes: each one usable, the first one also as host and
             * port (rds_url.h); a cluster has db 0 only. */
            FUZZ_CHECK(strncmp(url, "redis-cluster://", 16) == 0);
            FUZZ_CHECK(u.nseeds >= 1 && u.nseeds <= RDS_URL_MAX_SEEDS);
            FUZZ_CHECK(u.db == 0);
            for (int i = 0; i < u.nseeds; i++)
                check_host_port(u.seeds[i].host, sizeof u.seeds[i].host, u.seeds[i].port);
            FUZZ_CHECK(strcmp(u.host, u.seeds[0].host) == 0 && u.port == u.seeds[0].port);
        } else {
            FUZZ_CHECK(strncmp(url, "redis://", 8) == 0);
            check_host_port(u.host, sizeof u.host, u.port);
        }
    }
    free(url);
    return 0;
}

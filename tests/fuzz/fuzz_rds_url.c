/* Fuzz target: Redis URL parsing (src/store/redis/rds_url.c). The input is
 * the URL (a C string: cut at the first NUL, as the setting would be). On
 * success the result must be usable as documented in rds_url.h. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store/redis/rds_url.h"

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
        } else {
            FUZZ_CHECK(strncmp(url, "redis://", 8) == 0);
            FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
            FUZZ_CHECK(u.host[0] != '\0' && memchr(u.host, '\0', sizeof u.host) != NULL);
            /* What the pool will be given: a numeric address, or a name
             * for the resolver (no spaces, '/', '@', ':' or '%'). */
            unsigned char ip[16];
            FUZZ_CHECK(inet_pton(AF_INET, u.host, ip) == 1 ||
                       inet_pton(AF_INET6, u.host, ip) == 1 ||
                       (strlen(u.host) <= 253 &&
                        strspn(u.host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789-_.") == strlen(u.host)));
        }
    }
    free(url);
    return 0;
}

/* Redis URLs: redis://[[user]:password@]host:port[/db],
 * unix:///path[?db=N] and redis-cluster://[user:password@]host:port[,...]
 * (the seed nodes of a Redis Cluster: is_cluster, seeds; host and port are
 * then the first seed's).
 *
 * Also accepted: no port (6379), `user:password@` (an ACL user: AUTH user
 * password; without a user, AUTH password logs in as `default`), `[IPv6]`
 * hosts, %XX escapes in the user and the password, and
 * `unix:///path?db=N&user=U&password=P`. The host is an IP address or a
 * host name; names are resolved by the pool, without blocking the loop.
 * See rds_url.c. */
#ifndef FC_STORE_REDIS_RDS_URL_H
#define FC_STORE_REDIS_RDS_URL_H

#include <stddef.h>

#define RDS_URL_MAX_SEEDS 16

typedef struct {
    char host[256];
    int port;
} rds_url_seed_t;

typedef struct {
    int is_unix;
    int is_cluster;
    char host[256];
    int port;              /* default 6379 when the URL has none */
    char path[108];
    char user[128];        /* ACL user; empty: `default` */
    char password[256];    /* empty when none */
    int db;                /* 0..; default 0 */
    int nseeds;            /* is_cluster: seeds[0..nseeds) */
    rds_url_seed_t seeds[RDS_URL_MAX_SEEDS];
} rds_url_t;

/* Returns 0, or -1 with a reason naming what is wrong in err. */
int rds_url_parse(const char *url, rds_url_t *out, char *err, size_t errlen);

#endif

/* Synchronous Redis for the tests, on one server or on a Redis Cluster.
 *
 * Tests read and plant keys behind feedcached's back (a feed's members, a
 * stream's length, a placeholder), and empty Redis between tests. On a
 * cluster a key lives on the master that owns its hash slot, so a plain
 * hiredis connection to one node answers MOVED for two thirds of the keys.
 * This helper takes the same URL as feedcached:
 *
 *   redis://[[user]:password@]host:port[/db], unix:///path[?db=N]
 *       one connection (AUTH, SELECT db); commands go straight to it
 *   redis-cluster://[[user]:password@]host:port[,host:port...]
 *       the seed nodes; the slot map comes from CLUSTER SLOTS, and every
 *       command goes to the master owning the slot of its key, following
 *       MOVED (the map is reloaded) and ASK (ASKING first), and retrying
 *       TRYAGAIN, CLUSTERDOWN, LOADING and lost connections for up to
 *       RDIRECT_RETRY_MS (a resharding or a failover in progress)
 *
 * The key of a command is its first argument (argv[1]), which holds for
 * every command the tests send to keys (GET, ZADD, ZSCORE, XADD, XLEN,
 * HGET, DEL of keys sharing one hash tag, ...). Commands named in
 * rdirect_keyless (INFO, PING, DBSIZE, CONFIG, ...) go to one master; use
 * rdirect_flushdb and rdirect_info_sum for what concerns every master.
 *
 * Replies are hiredis replies (free with freeReplyObject). A NULL reply
 * means no answer (connection lost, gave up retrying): rdirect_error says
 * why. Error replies other than the redirections above are returned as they
 * are, for the test to judge. Not thread-safe: one rdirect_t per thread. */
#ifndef FC_TESTS_REDIS_DIRECT_H
#define FC_TESTS_REDIS_DIRECT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* Home feeds (PREFIXhome:{U}) are newest first: an entry's score is
 * RDIRECT_HOME_BASE - created_at (docs/DATA_MODEL.md, "Home feed"). Spelled
 * out here as a tool outside the service would. */
#define RDIRECT_HOME_BASE INT64_C(9007199254740992)

/* How long one command keeps following redirections and retrying. */
#define RDIRECT_RETRY_MS 10000

typedef struct rdirect rdirect_t;

/* True for a redis-cluster:// URL. */
bool rdirect_url_is_cluster(const char *url);

/* Connects (to every seed in turn, for a cluster, until one answers
 * CLUSTER SLOTS). NULL with the reason in err. */
rdirect_t *rdirect_open(const char *url, char *err, size_t errlen);
/* rdirect_open(FEEDCACHE_TEST_REDIS_URL). */
rdirect_t *rdirect_open_env(char *err, size_t errlen);
void rdirect_close(rdirect_t *r);

bool rdirect_is_cluster(const rdirect_t *r);
/* Why the last call failed. */
const char *rdirect_error(const rdirect_t *r);

/* The hash slot of a key (CRC16 of its {hash tag} or of the whole key,
 * modulo 16384), as CLUSTER KEYSLOT computes it. */
unsigned rdirect_slot(const char *key, size_t len);

/* One command, printf-style as redisCommand. */
redisReply *rdirect_command(rdirect_t *r, const char *fmt, ...);
redisReply *rdirect_vcommand(rdirect_t *r, const char *fmt, va_list ap);

/* Pipelining, as redisAppendCommand / redisGetReply: appended commands are
 * sent together (per node) at the first rdirect_get_reply, and their
 * replies come back in the order of the appends. REDIS_OK or REDIS_ERR. */
int rdirect_append(rdirect_t *r, const char *fmt, ...);
int rdirect_get_reply(rdirect_t *r, redisReply **reply);

/* FLUSHDB of the URL's db, or of every master of the cluster. 0 or -1. */
int rdirect_flushdb(rdirect_t *r, char *err, size_t errlen);
/* A keyless command without arguments that answers OK (FLUSHDB, "SCRIPT
 * FLUSH") on the server, or on every master of the cluster. 0 or -1. */
int rdirect_each_master(rdirect_t *r, const char *command, char *err, size_t errlen);
/* The sum of an integer INFO field (e.g. "total_commands_processed") over
 * the server, or over every master; -1 when some master does not say. */
long long rdirect_info_sum(rdirect_t *r, const char *field);

/* The master serving a slot now ("host:port" in addr), after reloading
 * the slot map. 0, or -1 when no master serves it. */
int rdirect_slot_master(rdirect_t *r, unsigned slot, char *addr, size_t addrlen);

#endif

/* Redis Cluster, the pure part: which slot a command goes to, what a
 * CLUSTER SLOTS reply says, what a MOVED/ASK error says. No I/O: the router
 * (rds_cluster.c) acts on the answers.
 *
 * A cluster has 16384 slots; a key's slot is CRC16 of its {hash tag}
 * (rds_key_slot). The master owning a slot serves every command on it;
 * during a migration it answers "ASK slot host:port" for keys already
 * moved, and after one "MOVED slot host:port". */
#ifndef FC_STORE_REDIS_RDS_SLOTS_H
#define FC_STORE_REDIS_RDS_SLOTS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#define RDS_SLOTS 16384

/* The slot of the command's first key, or -1 when it has none (PING,
 * CONFIG, CLUSTER, EVAL with 0 keys...). Which argument is the key:
 * argv[1] for ordinary commands; the first after numkeys for EVAL/EVALSHA;
 * the first after STREAMS for XREAD/XREADGROUP; argv[2] for XGROUP and
 * XINFO. Only the first key counts: feedcache never sends a command whose
 * keys span slots (a cluster would answer CROSSSLOT). */
int rds_slots_of_command(int argc, const char *const *argv, const size_t *lens);

typedef struct {
    int start, end;          /* inclusive */
    char host[256];
    int port;
} rds_slot_range_t;

/* Parses a CLUSTER SLOTS reply into out (at most cap ranges), the master
 * of each range only. A master with an empty host ("the address you used")
 * gets asked_host. Returns the number of ranges, or -1 with the reason in
 * err for a reply of another shape. */
int rds_slots_parse(const redisReply *reply, const char *asked_host, rds_slot_range_t *out,
                    size_t cap, char *err, size_t errlen);

typedef enum { RDS_REDIRECT_NONE, RDS_REDIRECT_MOVED, RDS_REDIRECT_ASK } rds_redirect_kind_t;

typedef struct {
    rds_redirect_kind_t kind;
    int slot;
    char host[256];          /* "" when the node did not say (use its own) */
    int port;
} rds_redirect_t;

/* "MOVED 3999 127.0.0.1:6381" / "ASK 3999 [::1]:6381" / "ASK 3999 ::1:6381"
 * (the port after the last ':'). Returns the kind; NONE for any other
 * error text or a malformed redirect. */
rds_redirect_kind_t rds_redirect_parse(const char *str, size_t len, rds_redirect_t *out);

/* Errors after which the same command is sent again after a short pause:
 * TRYAGAIN (a multi-key command during a migration) and CLUSTERDOWN (no
 * master serves the slot for now, e.g. during a failover). */
int rds_slots_retryable_error(const char *str, size_t len);

/* Errors that come from the server's state rather than from the command:
 * the same command may well succeed later (LOADING, BUSY, OOM, READONLY,
 * MASTERDOWN, NOREPLICAS, MISCONF, TRYAGAIN, CLUSTERDOWN, NOAUTH, WRONGPASS,
 * NOPERM, and redirects). Anything else (WRONGTYPE, a script's ERR) says the
 * command itself cannot succeed as long as the data stays as it is. */
int rds_error_is_transient(const char *str, size_t len);

/* The value of `field` in an INFO reply ("field:value\r\n" lines), cut to
 * cap - 1 bytes, into out. 0, or -1 when the field is absent or empty. */
int rds_info_field(const char *info, size_t len, const char *field, char *out, size_t cap);

#endif

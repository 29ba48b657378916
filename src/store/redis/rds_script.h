/* Lua scripts sent by their SHA-1 (EVALSHA) instead of their text.
 *
 * EVAL carries the whole script (FEED_PUSH is about 1.1 KB) and Redis
 * hashes the text on every call to find its compiled function: measured,
 * that made small calls cost Redis about twice the CPU per delivery of
 * large ones (src/feed/feed_fanout.h, FANOUT_CHUNK). EVALSHA names the
 * script by its digest, but fails (NOSCRIPT) when the server does not have
 * it: its script cache is per server, filled by EVAL or SCRIPT LOAD, and
 * emptied by SCRIPT FLUSH and restarts (Redis 7.0 never evicts it
 * otherwise).
 *
 * So a caller builds the call with rds_args_eval, which writes
 * EVALSHA <sha> <nkeys>, and the node pool (rds_node.c) makes it safe, per
 * connection (a reconnect may be to another server, and on a cluster each
 * master has its own cache):
 *   - a connection has a set of scripts known loaded, empty when it
 *     connects; a script joins it when a call of it on that connection got
 *     a reply that is not an error (an EVAL loads the script before it
 *     runs, and Redis answers one connection in order);
 *   - a call of a script the connection does not know yet goes out as
 *     EVAL <text> (the same bytes otherwise), so no extra command is ever
 *     put in front of it (ASKING + command stays a pair on a cluster);
 *   - an EVALSHA answered NOSCRIPT (an operator flushed the cache) empties
 *     the connection's set and is sent again at once as EVAL on the same
 *     connection; the caller sees only the second reply. The script did not
 *     run the first time, so it runs exactly once, but after whatever was
 *     pipelined behind it on that connection (docs/OPERATIONS.md, "Redis
 *     script cache").
 * The store layer knows no script: a caller's text is registered on first
 * use. The registry is global and, like the pools, for the loop's thread. */
#ifndef FC_STORE_REDIS_RDS_SCRIPT_H
#define FC_STORE_REDIS_RDS_SCRIPT_H

#include <stddef.h>

#include "store/redis/rds_args.h"
#include "util/buf.h"
#include "util/sha1.h"

/* Scripts the registry holds; a connection's set is a 64-bit mask. */
#define RDS_SCRIPT_MAX 64

/* Starts args over as a call of the Lua script `text` with nkeys keys (the
 * caller appends the keys, then the arguments): EVALSHA <sha> <nkeys>.
 * text must be a string that lives as long as the process (a constant):
 * the registry keeps and is keyed by the pointer, and hashes the text once.
 * With RDS_SCRIPT_MAX scripts registered already, a new one goes by EVAL
 * <text> on every call (logged once). */
void rds_args_eval(rds_args_t *a, const char *text, int nkeys);

/* The registered script of `text` (registering it), or -1 when the registry
 * is full. Its digest is rds_script_sha(index). */
int rds_script_register(const char *text);
const char *rds_script_sha(int index);

/* For the node pool. When resp[0..len) is an EVALSHA of a registered
 * script (as rds_args_eval writes it), returns the script's index and sets
 * *rest to the offset of the bytes after the digest (numkeys, keys,
 * arguments); -1 for anything else, which is sent as it is. */
int rds_script_of_resp(const char *resp, size_t len, size_t *rest);

/* The same command as EVAL <text>: resp's header and resp[rest..len)
 * around the script's text, in a buffer of the module that the next call
 * overwrites. */
const buf_t *rds_script_eval_resp(int index, const char *resp, size_t len, size_t rest);

#endif

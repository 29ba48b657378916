/* Settings: one table drives flags, FEEDCACHE_* environment variables, the
 * config file, defaults, validation and --help (docs/PROTOCOL.md, "Settings").
 *
 * Every setting has one name used three ways: flag `--feed-ttl 300` (or
 * `--feed-ttl=300`), file line `feed_ttl = 300`, environment
 * `FEEDCACHE_FEED_TTL=300`. Precedence: flag > environment > file > default.
 *
 * SETTING(name, type, default, min, max, check, help)
 *   type STR:  min/max bound the length in bytes
 *   type UINT: min/max bound the value
 *   check:     settings_check_<check>() in settings.c validates the text
 *              beyond type and range (none: nothing more to check) */
#ifndef FC_CONFIG_SETTINGS_H
#define FC_CONFIG_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FC_SETTINGS(SETTING) \
    SETTING(listen,              STR,  "127.0.0.1:7400", 1, 255, listen, \
            "RPC address: HOST:PORT or unix:/path") \
    SETTING(metrics_listen,      STR,  "127.0.0.1:9464", 1, 255, metrics_listen, \
            "HTTP address for /metrics and /healthz: HOST:PORT, unix:/path, or off") \
    SETTING(redis,               STR,  "redis://127.0.0.1:6379/0", 1, 1023, redis_url, \
            "Redis URL: redis://[:password@]host:port[/db] or unix:///path[?db=N]; " \
            "host may be a name (resolved off the event loop, on every reconnect)") \
    SETTING(pg,                  STR,  "dbname=feedcache", 1, 4095, pg_conninfo, \
            "PostgreSQL libpq connection string; host= may be a name (resolved off the loop)") \
    SETTING(pg_read,             STR,  "", 0, 4095, pg_conninfo_or_empty, \
            "libpq connection string of a PostgreSQL read replica for pages past the cache " \
            "and post cache misses (rebuilds and follower counts stay on pg); empty: none") \
    SETTING(celebrity_threshold, UINT, "10000", 1, INT64_MAX, none, \
            "followers at which an author's posts are merged at read time, not fanned out") \
    SETTING(celebrity_cache_ms,  UINT, "250", 0, 1000, none, \
            "milliseconds a celebrity's newest posts, read from Redis, are reused by this " \
            "instance's reads (its own publishes and deletes show at once; others' within " \
            "this); 0: every read asks Redis") \
    SETTING(feed_max,            UINT, "800", 1, 100000, none, \
            "entries kept per home feed and per author's recent-posts set") \
    SETTING(feed_ttl,            UINT, "300", 1, 315360000, none, \
            "seconds a home feed lives after its last read or warm (sliding)") \
    SETTING(post_ttl,            UINT, "3600", 1, 315360000, none, \
            "seconds a cached post lives") \
    SETTING(key_prefix,          STR,  "fc:", 1, 64, key_prefix, \
            "prefix of every Redis key the service writes") \
    SETTING(max_frame,           UINT, "1048576", 16, 1073741824, none, \
            "largest request frame in bytes") \
    SETTING(log_level,           STR,  "info", 1, 5, log_level, \
            "debug, info, warn or error; reloaded on SIGHUP") \
    SETTING(log_format,          STR,  "text", 1, 4, log_format, \
            "text (one line per event) or json (one object per line: ts, level, module, " \
            "msg, and suppressed or truncated when set); reloaded on SIGHUP") \
    SETTING(auth_tokens_file,    STR,  "", 0, 4095, auth_tokens_file, \
            "file of 'ROLE TOKEN' lines (read, write, admin); when set, callers must auth " \
            "first; re-read on SIGHUP. Empty: no authentication") \
    SETTING(redis_pool,          UINT, "2", 1, 64, none, \
            "Redis connections in the command pool") \
    SETTING(redis_timeout_ms,    UINT, "1000", 10, 600000, none, \
            "Redis command and connect timeout in milliseconds") \
    SETTING(redis_wait_replicas, UINT, "0", 0, 16, none, \
            "replicas that must have a published post's writes (Redis WAIT) before " \
            "post.publish answers, so that a failover cannot lose the post; fewer within " \
            "redis_wait_timeout_ms: UNAVAILABLE (a retry is safe). 0: do not wait") \
    SETTING(redis_wait_timeout_ms, UINT, "100", 1, 60000, none, \
            "how long post.publish waits for redis_wait_replicas; below redis_timeout_ms " \
            "(commands behind the WAIT on its connection wait as long)") \
    SETTING(pg_pool,             UINT, "4", 1, 64, none, \
            "PostgreSQL connections in the pool") \
    SETTING(pg_timeout_ms,       UINT, "2000", 10, 600000, none, \
            "PostgreSQL query and connect timeout in milliseconds") \
    SETTING(max_connections,     UINT, "10000", 1, 1000000, none, \
            "RPC connections accepted at once; more are closed on accept") \
    SETTING(max_inflight,        UINT, "50000", 1, 10000000, none, \
            "RPC calls in progress at once at most (admission=fixed: the limit; adaptive: " \
            "its ceiling); beyond, requests get OVERLOADED") \
    SETTING(admission,           STR,  "adaptive", 1, 16, admission, \
            "adaptive: the limit of calls in progress follows their latency (overload is " \
            "shed at once, before it queues); fixed: the limit is max_inflight") \
    SETTING(max_output,          UINT, "1048576", 4096, 1073741824, none, \
            "per connection: unsent response bytes plus 4096 per call in flight, past " \
            "which it stops being read and its requests wait") \
    SETTING(max_output_hard,     UINT, "16777216", 0, 4294967296, none, \
            "per connection: unsent response bytes past which the client is taken for " \
            "one that does not read and the connection is closed; 0: never") \
    SETTING(idle_timeout,        UINT, "300", 0, 2592000, none, \
            "seconds an RPC connection with nothing in flight may go without a request " \
            "(or, with responses waiting, without reading any); then it is closed; 0: never") \
    SETTING(shutdown_timeout_ms, UINT, "8000", 100, 9500, none, \
            "on SIGTERM, how long in-flight requests may take before they get UNAVAILABLE") \
    SETTING(fanout_queue_max,    UINT, "1000000", 1, INT64_MAX, none, \
            "fan-out jobs queued; past it post.publish answers OVERLOADED") \
    SETTING(max_rebuilds,        UINT, "0", 0, 100000, none, \
            "home feed rebuilds in flight at once; past it reads are shed; 0: 2 x pg_pool") \
    SETTING(warm_rate,           UINT, "200", 1, 1000000, none, \
            "users per second a warm job rebuilds when the warm call gives no rate") \
    SETTING(warm_window,         STR,  "", 0, 11, window, \
            "off-peak window for warm jobs, HH:MM-HH:MM local time (may wrap midnight); " \
            "empty: any time") \
    SETTING(instance_id,         STR,  "", 0, 200, instance_id, \
            "this instance's name among several sharing one Redis: its fan-out consumer " \
            "name, unique per live instance (printable, no space). Empty: hostname:pid") \
    SETTING(fanout_shards,       UINT, "0", 0, 64, none, \
            "streams the fan-out queue is split into (each in its own Redis Cluster slot; " \
            "every instance consumes all; use one value for all instances); 0: auto, 1 on " \
            "a single Redis, 8 on a cluster") \
    SETTING(fanout_max_attempts, UINT, "8", 1, 1000, none, \
            "attempts after which a failing fan-out job moves to the dead-letter stream") \
    SETTING(fanout_claim_idle_ms, UINT, "30000", 300, 86400000, none, \
            "ms after which another worker takes over a fan-out job whose worker stopped " \
            "heartbeating (running jobs heartbeat every third of it)") \
    SETTING(fanout_retry_min_ms, UINT, "500", 10, 600000, none, \
            "first delay before a failed fan-out job is retried") \
    SETTING(fanout_retry_max_ms, UINT, "10000", 10, 3600000, none, \
            "longest delay between retries of failed fan-out jobs (the delay doubles, " \
            "with jitter, while jobs keep failing)")

typedef struct {
#define SETTING_FIELD_STR(name) char *name;
#define SETTING_FIELD_UINT(name) uint64_t name;
#define SETTING_FIELD(name, type, def, min, max, check, help) SETTING_FIELD_##type(name)
    FC_SETTINGS(SETTING_FIELD)
#undef SETTING_FIELD
#undef SETTING_FIELD_STR
#undef SETTING_FIELD_UINT
} settings_t;

typedef enum {
    SETTINGS_OK = 0,        /* run */
    SETTINGS_EXIT = 1,      /* --help or --version printed: exit 0 */
    SETTINGS_BAD = 2,       /* error message in err: exit 2 */
} settings_result_t;

/* Loads defaults, then the config file (--config FILE or FEEDCACHE_CONFIG),
 * then FEEDCACHE_* variables from envp, then flags from argv. Unknown
 * FEEDCACHE_* variables are logged as warnings and ignored. On SETTINGS_BAD
 * err names the key (and where it came from). --help/--version print to out.
 * settings_free() must be called in every case. */
settings_result_t settings_load(settings_t *s, int argc, char **argv, char **envp,
                                FILE *out, char *err, size_t errlen);

/* Sets one setting by key name from text, validating it. Returns 0 or -1
 * with a reason in err. Used by the loader and by tests. */
int settings_set(settings_t *s, const char *key, const char *value, char *err, size_t errlen);

/* The table, for code that walks every setting (the SIGHUP reload compares
 * the settings in use with the ones it reads again). i < settings_count(). */
size_t settings_count(void);
const char *settings_key(size_t i);
/* Setting i of s as text, as a flag would give it (cut to cap - 1). */
void settings_text(const settings_t *s, size_t i, char *out, size_t cap);

/* True for the settings a SIGHUP applies without a restart: log_level,
 * log_format, auth_tokens_file (src/feedcached/reload.c applies them;
 * --help and docs/OPERATIONS.md, "Reload", list them). */
bool settings_reloadable(const char *key);

void settings_defaults(settings_t *s);
void settings_free(settings_t *s);
void settings_print_help(FILE *out, const char *progname);

#endif

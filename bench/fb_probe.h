/* feedbench's view of the system under test, sampled before and after a
 * measured window: CPU time of feedcached (/proc/PID/stat), Redis INFO
 * (commands processed, CPU, memory), the daemon's `stats` counters and the
 * histograms of its /metrics page. Every probe is optional: a missing
 * address or pid leaves that part unset (ok = false). */
#ifndef FC_BENCH_FB_PROBE_H
#define FC_BENCH_FB_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "feedcache/client.h"

#define PROBE_MAX_BUCKETS 40
#define PROBE_MAX_CMDS 96               /* INFO commandstats entries kept */

/* One Prometheus histogram series: cumulative counts per upper bound. */
typedef struct {
    bool ok;
    int n;
    double le[PROBE_MAX_BUCKETS];       /* the last one is +Inf */
    double cum[PROBE_MAX_BUCKETS];
    double sum, count;
} probe_hist_t;

typedef struct {
    bool ok;
    int64_t pid;
    double cpu_s;                       /* used_cpu_user + used_cpu_sys */
    uint64_t commands;                  /* total_commands_processed */
    uint64_t reads;                     /* total_reads_processed: read events, one per
                                         * pipeline that arrives in one piece */
    uint64_t used_memory;
    /* INFO commandstats: calls per command, those made inside scripts
     * included (Redis counts a redis.call() as a call of its command), and
     * the microseconds spent in them. A script's usec includes those of the
     * commands it called, which are counted under their own names too. */
    int ncmds;
    char cmd_name[PROBE_MAX_CMDS][32];  /* "zadd", "config|set"... */
    uint64_t cmd_calls[PROBE_MAX_CMDS];
    uint64_t cmd_usec[PROBE_MAX_CMDS];
} probe_redis_t;

typedef struct {
    bool ok;
    int64_t feed_cache_hits, feed_cache_misses, post_cache_hits, post_cache_misses;
    int64_t feed_rebuilds, pg_fallbacks, fanout_posts, fanout_deliveries, fanout_queue_depth;
} probe_stats_t;

/* feedcache_follow_updates_total{op,path}: how a follow or unfollow left
 * the follower's cached feed (issue 14). */
typedef enum { PROBE_FU_FOLLOW, PROBE_FU_UNFOLLOW, PROBE_FU__OPS } probe_fu_op_t;
typedef enum {
    PROBE_FU_IN_PLACE, PROBE_FU_REBUILD, PROBE_FU_NO_FEED, PROBE_FU_CELEBRITY, PROBE_FU__PATHS
} probe_fu_path_t;

typedef struct {
    double t;                           /* monotonic seconds when taken */
    double daemon_cpu_s;                /* < 0: unknown */
    double daemon_wait_s;               /* probe_proc_cpu_wait; < 0: unknown */
    double redis_wait_s;                /* likewise, of Redis (a local one) */
    double pressure_s;                  /* probe_cpu_pressure; < 0: unknown */
    double machine_busy_s;              /* probe_machine_busy; < 0: unknown */
    probe_redis_t redis;
    probe_stats_t stats;
    probe_hist_t lag, rebuild, read_rpc;
    /* Counters of /metrics, summed over their series; < 0: not on the page. */
    double rebuilds_total;              /* feedcache_feed_rebuilds_total */
    double pg_queries_total;            /* feedcache_pg_queries_total */
    double celeb_merges_total;          /* feedcache_celebrity_merges_total */
    double celeb_cache_hits_total;      /* feedcache_celebrity_cache_hits_total */
    double follow_updates[PROBE_FU__OPS][PROBE_FU__PATHS];
} probe_snap_t;

extern const char *const probe_fu_op_names[PROBE_FU__OPS];
extern const char *const probe_fu_path_names[PROBE_FU__PATHS];

typedef struct {
    int pid;                            /* feedcached; 0: none */
    const char *redis;                  /* HOST:PORT or NULL */
    const char *metrics;                /* HOST:PORT or NULL */
    fc_client_t *rpc;                   /* for `stats`, or NULL */
} probe_cfg_t;

/* Takes every probe the configuration allows. Failures are reported on
 * stderr once per kind and leave that part unset. */
void probe_take(const probe_cfg_t *cfg, probe_snap_t *s);

/* CPU seconds (user + system) of a process, or -1. */
double probe_proc_cpu(int pid);

/* The pid of the Redis at hostport when it runs on this machine (its CPU
 * can then be read from /proc), else 0. */
int probe_redis_local_pid(const char *hostport);

/* Seconds the threads of a process have spent runnable but waiting for a
 * CPU (the second field of /proc/PID/task/TID/schedstat), or -1. On this
 * shared 2-CPU machine that is where a latency tail can go without any
 * process being slow: each ran, but late. */
double probe_proc_cpu_wait(int pid);

/* The machine's CPU pressure: seconds during which some runnable task
 * waited for a CPU (/proc/pressure/cpu, "some" total), or -1. Over a
 * window, its rate is the share of the time a wake-up could be late. */
double probe_cpu_pressure(void);

/* CPU seconds the whole machine has spent busy, every CPU and every
 * process (/proc/stat: all but idle and iowait), or -1. Over a window, the
 * cores in use: less what feedcached, Redis and the load generator used,
 * PostgreSQL's share and the kernel's own. */
double probe_machine_busy(void);

/* Quantile q (0..1) of the observations between two samples of a
 * histogram, interpolated linearly within the bucket as Prometheus'
 * histogram_quantile does. Returns -1 when there were none; *count gets
 * how many there were. */
double probe_hist_quantile(const probe_hist_t *before, const probe_hist_t *after, double q,
                           double *count);

/* The sum of the series of counter `name` in a Prometheus text page whose
 * labels contain `match` (every series if NULL), or -1 when there is none. */
double probe_counter(const char *page, const char *name, const char *match);

/* Admission (issue 15) from /metrics at one moment: requests shed by
 * reason (feedcache_rpc_shed_total{reason}), bursts held instead of shed
 * (feedcache_rpc_holds_total) and the concurrency limit (the gauge); each
 * -1 when not on the page. */
typedef enum {
    PROBE_SHED_QUEUE, PROBE_SHED_LIMIT, PROBE_SHED_RESERVE, PROBE_SHED_NEWER, PROBE_SHED__REASONS
} probe_shed_t;
extern const char *const probe_shed_names[PROBE_SHED__REASONS];
typedef struct {
    double shed[PROBE_SHED__REASONS];
    double holds;
    double limit;
} probe_admit_t;

/* Fills a (all -1 first); -1 when /metrics could not be read. */
int probe_admission(const char *metrics, probe_admit_t *a);

/* Calls of command `name` in a commandstats sample (0 when absent). */
uint64_t probe_cmd_calls(const probe_redis_t *r, const char *name);
/* A command's usec in r (0 when absent). */
uint64_t probe_cmd_usec(const probe_redis_t *r, const char *name);

/* Numeric value of `key:value` in a Redis INFO text, or -1. */
double probe_info_value(const char *info, const char *key);

#endif

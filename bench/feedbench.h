/* feedbench: the load generator of the benchmark suite (bench/README.md).
 *
 *   feedbench.c  command line, the measured window, probes, the report
 *   fb_load.c    the load: worker threads driving connections, closed or
 *                open loop, and what each workload sends
 *   fb_probe.c   CPU, Redis INFO, stats and /metrics samples
 *   fb_hist.c    the latency histogram */
#ifndef FC_BENCH_FEEDBENCH_H
#define FC_BENCH_FEEDBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fb_hist.h"
#include "fb_phase.h"
#include "feedcache/client.h"

typedef enum {
    WL_READ,          /* timeline.get of cached feeds */
    WL_READ_COLD,     /* timeline.invalidate + timeline.get: the rebuild path */
    WL_PUBLISH,       /* INSERT INTO posts, then post.publish (fan-out) */
    WL_MIXED,         /* reads, publishes, follows and unfollows by --mix */
    WL_WARM,          /* every user read once, in id order */
    WL_CELEBS,        /* one post by every celebrity (flags them as such) */
} fb_workload_t;

typedef enum { DIST_UNIFORM, DIST_ZIPF, DIST_SEQ } fb_dist_t;

/* The operations whose latency is recorded. */
typedef enum { OP_READ, OP_PUBLISH, OP_FOLLOW, OP_UNFOLLOW, OP__COUNT } fb_op_t;

typedef struct {
    const char *addr;          /* feedcached RPC */
    const char *token_file;    /* auth token (fc_token_read), or NULL */
    const char *pg;            /* libpq conninfo (publish, mixed, celebs) */
    const char *redis;         /* HOST:PORT for INFO, or NULL */
    const char *metrics;       /* HOST:PORT of /metrics, or NULL */
    const char *report;        /* key=value lines appended here, or NULL */
    const char *label;         /* prefix of the report keys */
    fb_workload_t workload;
    fb_dist_t dist;
    double zipf;
    int conns;
    int threads;
    int depth;                 /* operations in flight per connection (closed loop) */
    double rate;               /* total operations/s (open loop); 0: closed loop */
    double duration;           /* measured seconds */
    double warmup;             /* seconds of load before the window */
    double drain_timeout;      /* publish: seconds to wait for the fan-out queue */
    int64_t users;             /* user ids 1..users */
    int64_t requests;          /* stop after this many operations (0: by time) */
    int limit;
    bool hydrate;
    int pct_publish, pct_follow, pct_unfollow;  /* mixed; the rest are reads */
    int pid;                   /* feedcached, for CPU time; 0: none */
    int64_t celebrity_threshold;  /* celebs */
    uint64_t seed;
    int max_inflight;          /* per connection, open loop */
    bool drop;                 /* open loop: drop (count) what is due at max_inflight */
    bool insert_only;          /* publishes are their INSERT alone: no post.publish */
    fb_phases_t phases;        /* open loop in phases (--phases); n == 0: one rate */
    const char *daemon_log;    /* feedcached's log: lines written per phase, or NULL */
} fb_opts_t;

typedef struct {
    hist_t hist[OP__COUNT];    /* latencies recorded in the window, ns */
    hist_t pg_hist;            /* PostgreSQL INSERT round trips, ns */
    hist_t publish_rpc;        /* post.publish alone: from its send (after the INSERT) to
                                * its answer, ns */
    uint64_t errors[OP__COUNT];
    uint64_t sent;             /* operations started, window or not */
    uint64_t src_cache, src_rebuilt, src_db, degraded, posts;  /* reads in the window */
    uint64_t mode_fanout, mode_celebrity;                      /* publishes in the window */
    uint64_t unfollow_none;    /* unfollows due in the window that found no edge left (not sent) */
    uint64_t late;             /* open loop: sent more than 1 ms after their time */
    uint64_t codes[FB_CODE__COUNT];  /* error answers in the window, by code */
    uint64_t dropped;          /* open loop --drop: due in the window, not sent */
    fb_phase_res_t phase[FB_MAX_PHASES];  /* --phases */
    bool failed;               /* a connection or PostgreSQL failed: see first_error */
    char first_error[300];
} fb_result_t;

typedef struct fb_load fb_load_t;

/* Starts the workers; returns once every connection is up, with the
 * measured window [*t0, *t1) in monotonic seconds (t1 is infinite when
 * the load is a number of requests). NULL with a reason in err. */
fb_load_t *fb_load_start(const fb_opts_t *o, int64_t first_post_id, double *t0, double *t1,
                         char *err, size_t errlen);
/* Waits for the workers and merges their results into res. */
void fb_load_join(fb_load_t *l, fb_result_t *res);

/* Connects to o->addr and authenticates with o->token_file when set.
 * NULL with a reason in err. */
fc_client_t *fb_connect(const fb_opts_t *o, int timeout_ms, char *err, size_t errlen);

double fb_now(void);               /* monotonic seconds */
int64_t fb_wall_ms(void);          /* wall clock, ms since the epoch */
void fb_result_init(fb_result_t *r);
void fb_result_error(fb_result_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

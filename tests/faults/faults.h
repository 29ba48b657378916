/* Shared helpers of the fault suite (tests/faults/, meson suite "faults").
 *
 * Fault tests stop, pause and restart backends, so every test runs its own
 * throwaway Redis and PostgreSQL pair (scripts/services.sh start <private
 * dir>), never the shared servers of the other suites. faults_setup() starts
 * the pair and points harness_daemon_start() at it (FEEDCACHE_TEST_PG,
 * FEEDCACHE_TEST_REDIS_URL); faults_teardown() resumes anything paused,
 * stops the daemon and the pair (by PID, through services.sh stop).
 *
 * The pair's database is "feedcache" with sql/schema.sql applied; Redis db 0.
 * Daemons get --key-prefix FAULTS_PREFIX.
 *
 * Helpers that must succeed fail the running cmocka test (fail_msg) with a
 * readable reason; the teardown still runs. */
#ifndef FC_TESTS_FAULTS_H
#define FC_TESTS_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "feedcache/client.h"
#include "harness.h"

struct CMUnitTest;

#define FAULTS_PREFIX "ft:"
#define FAULTS_RPC_TIMEOUT_MS 15000
#define FAULTS_MAX_PAUSED 512

typedef struct {
    char dir[128];              /* the services.sh state dir */
    char pg_root[256];          /* PG_ROOT (data in pg_root/data) */
    int redis_port, pg_port;
    char redis_url[160];
    char pg_conninfo[256];
    pid_t paused[FAULTS_MAX_PAUSED];   /* PostgreSQL processes we SIGSTOPped */
    size_t npaused;
    bool pg_stopped;            /* faults_pg_stop without faults_pg_start */
    bool started;
} faults_services_t;

/* The per-test state of a fault test. */
typedef struct {
    faults_services_t s;
    harness_daemon_t *d;        /* the test's daemon, NULL when none */
    fc_client_t *c;             /* connected to d */
    PGconn *pg;                 /* the pair's database (closed while it is paused) */
    redisContext *r;            /* the pair's Redis */
    bool finished;              /* set by the test as its last step */
} faults_t;

/* cmocka setup/teardown: a fresh pair, connections to it, no daemon. */
int faults_setup(void **state);
int faults_teardown(void **state);

/* --- the private pair --------------------------------------------------- */

int faults_services_start(faults_services_t *s, char *err, size_t errlen);
void faults_services_stop(faults_services_t *s);

pid_t faults_redis_pid(const faults_services_t *s);
pid_t faults_pg_pid(const faults_services_t *s);   /* the postmaster */

/* SIGSTOP the postmaster and every child of it (each by PID); resume sends
 * SIGCONT to the same PIDs. Clients stay connected and hang. */
void faults_pg_pause(faults_services_t *s);
void faults_pg_resume(faults_services_t *s);
/* A fast shutdown (SIGINT to the postmaster by PID), waiting until it is
 * gone; start runs pg_ctl start on the same data dir and port. */
void faults_pg_stop(faults_services_t *s);
void faults_pg_start(faults_services_t *s);

/* SIGKILL Redis by PID (no save: it runs with --save ''), wait until gone. */
void faults_redis_kill(faults_services_t *s);
/* Start Redis again, empty, on the same port with services.sh's options. */
void faults_redis_start(faults_services_t *s);
/* Both, back to back. */
void faults_redis_restart_empty(faults_services_t *s);

/* --- processes and counters ---------------------------------------------- */

/* FEEDCACHE_SOURCE_ROOT (meson sets it), else ".". */
const char *faults_source_root(void);
/* Prints a file (a server log) to stderr. */
void faults_dump_file(const char *path);
/* The value of KEY=VALUE (VALUE possibly in single or double quotes) in a
 * shell assignment file such as the services dir's env. */
bool faults_read_assignment(const char *path, const char *key, char *out, size_t cap);
/* The number in a pid file, or -1. */
pid_t faults_read_pid_file(const char *path);
/* Waits until pid is gone (or a zombie); false after timeout_ms. */
bool faults_wait_gone(pid_t pid, int timeout_ms);

/* utime + stime of /proc/PID/stat in ms, or -1. */
long long faults_cpu_ms(pid_t pid);
/* An integer field of INFO (e.g. "total_commands_processed",
 * "instantaneous_ops_per_sec") on a fresh connection to the pair's Redis;
 * -1 when unavailable. */
long long faults_redis_info(const faults_services_t *s, const char *field);
/* A value of /metrics: the first line starting with `series` followed by a
 * space. NAN when the series is absent; fails the test when /metrics does
 * not answer. */
double faults_metric(const harness_daemon_t *d, const char *series);
/* One integer of `stats`. */
int64_t faults_stat(fc_client_t *c, const char *key);

/* --- feedcached ------------------------------------------------------------ */

/* feedcached with --key-prefix FAULTS_PREFIX, --log-level info and extra
 * (NULL-terminated, may be NULL); c gets a client with FAULTS_RPC_TIMEOUT_MS.
 * NULL with the reason (and the daemon's log) in err. */
harness_daemon_t *faults_daemon_start(const char *const *extra, fc_client_t **c,
                                      char *err, size_t errlen);
/* The same, failing the test on error, into f->d and f->c. */
void faults_start(faults_t *f, const char *const *extra);
/* SIGTERM; returns the exit status (-1 when still running after
 * timeout_ms, then SIGKILLed) and the time it took in *took_ms. */
int faults_sigterm(harness_daemon_t *d, int timeout_ms, long long *took_ms);
/* Closes f->c and SIGTERMs f->d: fails the test unless it exits 0 within
 * 10 s (printing its log). f->d, f->c become NULL. */
void faults_stop_daemon(faults_t *f);

/* --- data ----------------------------------------------------------------- */

/* Runs SQL (no parameters) on f->pg; fails the test on error. */
void faults_sql(faults_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t faults_sql_int(faults_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Closes and reopens f->pg (after PostgreSQL was paused or restarted). */
void faults_pg_reconnect(faults_t *f);
/* A post row in PostgreSQL (body "post <id>"). */
void faults_insert_post(faults_t *f, int64_t id, int64_t author, int64_t created_ms);

/* The key PREFIX<kind>{id}, e.g. faults_key(buf, "home:", 7). */
const char *faults_key(char *out, size_t cap, const char *kind, int64_t id);

/* post.publish with body "post <id>": the raw response in *r (free it).
 * Fails the test only when no answer arrives. */
void faults_publish(fc_client_t *c, int64_t id, int64_t author, int64_t created_ms,
                    fc_response_t *r);
/* post.publish that must succeed; returns its mode ("fanout"/"celebrity")
 * in mode. */
void faults_publish_ok(fc_client_t *c, int64_t id, int64_t author, int64_t created_ms,
                       char mode[16]);
/* timeline.get (hydrated) of the first page: 0 and the ids in ids[0..*n)
 * (at most cap), or -1 with the error code and message in err. source
 * (16 bytes, may be NULL) gets the page's source. */
int faults_read(fc_client_t *c, int64_t user, int limit, int64_t *ids, size_t cap, size_t *n,
                char *source, char *err, size_t errlen);
bool faults_ids_have(const int64_t *ids, size_t n, int64_t id);

/* The member `post` is in the Redis feed of `user` (the zset itself, not a
 * read: a read could rebuild and hide a lost delivery). */
bool faults_feed_has(redisContext *r, int64_t user, int64_t post);
bool faults_feed_exists(redisContext *r, int64_t user);
/* How many of users[0..n) have `post` in their Redis feed (pipelined). */
size_t faults_count_deliveries(redisContext *r, const int64_t *users, size_t n, int64_t post);
/* Waits until every post of posts[0..np) is in every feed of users[0..nu);
 * returns the number of (feed, post) pairs still missing at the deadline and
 * describes the first one in err. */
size_t faults_wait_delivered(redisContext *r, const int64_t *users, size_t nu,
                             const int64_t *posts, size_t np, int timeout_ms,
                             char *err, size_t errlen);
/* Entries of the fan-out stream of type t ('p', 'm', 'd') for post (any
 * post when post is 0). */
size_t faults_stream_jobs(redisContext *r, char type, int64_t post);
/* XLEN of the fan-out stream. */
long long faults_stream_len(redisContext *r);
/* Waits until stats says fanout_queue_depth 0 and the counters stopped. */
void faults_wait_settled(fc_client_t *c, int timeout_ms);

long long faults_now_ms(void);
void faults_sleep_ms(int ms);

/* A fan-out world: users 1..nfollowers+1, author `author` followed by
 * users 2..nfollowers+1, five old posts of the author (bodies "post <id>");
 * every user's feed read once (so it exists, ids in feeds[0..nfollowers]);
 * then post 2000 published so that the author's follower count is cached
 * (later publishes need no SQL). Returns that publish's mode in mode. */
void faults_seed_fanout(faults_t *f, int64_t author, int nfollowers, int64_t base_ms,
                        int64_t *feeds, char mode[16]);

/* main() of a fault program: runs tests, or the one FEEDCACHE_TEST_FILTER
 * names (each meson test runs one). */
int faults_run(const struct CMUnitTest *tests, size_t n);

#endif

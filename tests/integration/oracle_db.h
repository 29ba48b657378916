/* Shared helpers of the integration tests that check the feed engine against
 * PostgreSQL (test_oracle.c, test_concurrency.c, test_warm.c, test_ctl.c;
 * fixture.h builds their per-test fixture on them): a private PostgreSQL
 * database and Redis db per test program, the timeline API's writes
 * (PostgreSQL commit first, then the RPC), a random social graph, and the
 * oracle itself: the SQL definition of a home timeline (docs/PROTOCOL.md,
 * "What timeline.get returns") compared with a full walk of
 * `timeline.get`.
 *
 * Everything returns 0 / -1 with a readable reason in err and never aborts
 * (except on out of memory), so that the tests decide how to fail and can
 * print the seed. A PGconn or fc_client_t is used by one thread at a time. */
#ifndef FC_TESTS_ORACLE_DB_H
#define FC_TESTS_ORACLE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "feedcache/client.h"
#include "redis_direct.h"

/* --- PRNG (splitmix64: small, seedable, same sequence everywhere) -------- */

typedef struct {
    uint64_t s;
} odb_rng_t;

void odb_rng_seed(odb_rng_t *r, uint64_t seed);
uint64_t odb_rng_next(odb_rng_t *r);
uint64_t odb_rng_below(odb_rng_t *r, uint64_t n);     /* 0..n-1; 0 when n == 0 */
bool odb_rng_chance(odb_rng_t *r, unsigned percent);  /* true with that probability */
/* A positive id whose decimal length is spread over 1..19 digits, so that
 * string order and numeric order disagree (9, 10, 100, ..., > 2^53). */
int64_t odb_rng_id(odb_rng_t *r);

long long odb_now_ms(void);   /* monotonic */
void odb_sleep_ms(int ms);

/* --- the test's own database and Redis db --------------------------------- */

typedef struct {
    char dbname[64];          /* <tag>_<pid> */
    char admin_conninfo[1024];/* FEEDCACHE_TEST_PG as given */
    char conninfo[1100];      /* the same with dbname=<dbname> */
    char redis_url[512];      /* redis://127.0.0.1:P/<db>, or the cluster's URL */
    int redis_port;           /* 0 on a cluster */
    int redis_db;             /* 0 on a cluster */
    bool redis_cluster;       /* FEEDCACHE_TEST_REDIS_URL is redis-cluster:// */
    bool created;
} odb_env_t;

/* Creates database <tag>_<pid> from FEEDCACHE_TEST_PG and applies
 * sql/schema.sql (found through FEEDCACHE_SOURCE_ROOT, MESON_SOURCE_ROOT, or
 * upwards from the executable). Empties Redis db `redis_db` of the server on
 * FEEDCACHE_TEST_REDIS_PORT; when FEEDCACHE_TEST_REDIS_URL names a cluster
 * (redis-cluster://), redis_db is ignored and every master is emptied
 * instead (a cluster has db 0 only). Then points harness_daemon_start() at both by
 * overwriting FEEDCACHE_TEST_PG and FEEDCACHE_TEST_REDIS_URL in this
 * process's environment. */
int odb_env_setup(odb_env_t *e, const char *tag, int redis_db, char *err, size_t errlen);
/* Empties the Redis db, drops the database (WITH (FORCE): stop the daemon
 * first anyway) and restores the environment. Safe on a failed setup.
 * (Setup drops databases of earlier runs that were killed.) */
void odb_env_teardown(odb_env_t *e);
/* A connection to the test's Redis db, or cluster (rdirect_close it), or
 * NULL. */
rdirect_t *odb_redis_connect(const odb_env_t *e, char *err, size_t errlen);
/* FLUSHDB of the test's Redis db, or of every master (a cold start for the
 * daemon). */
int odb_redis_flushdb(const odb_env_t *e, char *err, size_t errlen);
/* SCRIPT FLUSH of the server, or of every master: the daemon's EVALSHAs
 * get NOSCRIPT until it sends each script again. */
int odb_redis_script_flush(const odb_env_t *e, char *err, size_t errlen);
/* TRUNCATE users, follows, posts. */
int odb_pg_truncate(PGconn *pg, char *err, size_t errlen);
PGconn *odb_pg_connect(const odb_env_t *e, char *err, size_t errlen);

/* --- posts ---------------------------------------------------------------- */

typedef struct {
    int64_t id;
    int64_t author_id;
    int64_t created_ms;
    char *body;          /* malloc'd; NULL when absent */
    size_t body_len;
    size_t nkeys;        /* keys in the post map (walks only) */
} odb_post_t;

typedef struct {
    odb_post_t *v;
    size_t n, cap;
} odb_posts_t;

void odb_posts_push(odb_posts_t *ps, const odb_post_t *p);   /* copies body */
void odb_posts_free(odb_posts_t *ps);
bool odb_posts_has(const odb_posts_t *ps, int64_t id);

/* --- PostgreSQL writes (each one committed when it returns 0) ------------- */

int odb_pg_add_user(PGconn *pg, int64_t id, char *err, size_t errlen);
int odb_pg_follow(PGconn *pg, int64_t follower, int64_t followee, char *err, size_t errlen);
int odb_pg_unfollow(PGconn *pg, int64_t follower, int64_t followee, char *err, size_t errlen);
/* Returns 1 (nothing inserted) when the id is taken. */
int odb_pg_insert_post(PGconn *pg, const odb_post_t *p, char *err, size_t errlen);
int odb_pg_delete_post(PGconn *pg, int64_t id, char *err, size_t errlen);
int odb_pg_update_body(PGconn *pg, int64_t id, const char *body, char *err, size_t errlen);
int odb_pg_follower_count(PGconn *pg, int64_t author, int64_t *out, char *err, size_t errlen);

/* The oracle: the home timeline of `user` by the contract's definition,
 *   SELECT ... FROM posts WHERE deleted_at IS NULL AND (author_id = $U OR
 *   author_id IN (SELECT followee_id FROM follows WHERE follower_id = $U))
 *   ORDER BY created_at DESC, id DESC
 * with bodies. Appends to out. */
int odb_pg_timeline(PGconn *pg, int64_t user, odb_posts_t *out, char *err, size_t errlen);

/* --- RPC -------------------------------------------------------------------- */

/* Calls method and requires a successful answer; *r (if not NULL) keeps the
 * response for the caller to read and free. */
int odb_call(fc_client_t *c, const char *method, const fc_params_t *p, fc_response_t *r,
             char *err, size_t errlen);
/* post.publish with id, author_id, created_at and body (when with_body).
 * As a notification when notify (mode is then ""), else mode receives the
 * answer's "fanout" / "celebrity" and the result shape is checked. */
int odb_rpc_publish(fc_client_t *c, const odb_post_t *p, bool with_body, bool notify,
                    char mode[16], char *err, size_t errlen);
int odb_rpc_update(fc_client_t *c, int64_t id, const char *body, char *err, size_t errlen);
int odb_rpc_delete(fc_client_t *c, int64_t id, int64_t author, char *err, size_t errlen);
int odb_rpc_follow(fc_client_t *c, int64_t follower, int64_t followee, char *err, size_t errlen);
int odb_rpc_unfollow(fc_client_t *c, int64_t follower, int64_t followee, char *err, size_t errlen);
int odb_rpc_invalidate(fc_client_t *c, int64_t user, char *err, size_t errlen);
/* One integer of `stats`. */
int odb_rpc_stat(fc_client_t *c, const char *key, int64_t *out, char *err, size_t errlen);
/* Waits until fan-out has settled: fanout_queue_depth 0 and the fan-out
 * counters unchanged over several polls, then a little longer. */
int odb_wait_settled(fc_client_t *c, int timeout_ms, char *err, size_t errlen);

/* --- walking a timeline ------------------------------------------------------ */

typedef struct {
    int limit;
    bool hydrate;
    /* Data changes during the walk (concurrency test): a page reached
     * through a cursor may then be empty. */
    bool data_may_change;
    /* Start from this cursor instead of the first page (NULL: first page). */
    const char *cursor;
} odb_walk_opts_t;

typedef struct {
    odb_posts_t posts;        /* in the order received */
    size_t pages;
    char first_source[16];    /* source of the first page */
    char *first_cursor;       /* next_cursor of the first page, or NULL */
} odb_walk_t;

/* timeline.get from the first page, following next_cursor until nil. Checks
 * every page against the contract's shape: a map with a posts array of at
 * most `limit` maps (id, author_id, created_at integers; body a string when
 * hydrating; exactly those three keys when not), next_cursor str or nil,
 * source cache/rebuilt/db, degraded false; a page reached through a cursor
 * is not empty (unless data_may_change); no post twice; strictly descending
 * (created_at, id). Fails on the first violation, keeping what was read. */
int odb_walk(fc_client_t *c, int64_t user, const odb_walk_opts_t *o, odb_walk_t *w,
             char *err, size_t errlen);
void odb_walk_free(odb_walk_t *w);

/* Compares a walk with the oracle: the same ids in the same order, and the
 * same author_id, created_at and (when hydrating) body. err gets the first
 * mismatch: position, both ids with their neighbours, both lengths. */
int odb_compare(const odb_posts_t *want, const odb_posts_t *got, bool hydrate,
                char *err, size_t errlen);

/* odb_walk + odb_pg_timeline + odb_compare for one user. first_source (if
 * not NULL, 16 bytes) receives the first page's source. */
int odb_check_user(PGconn *pg, fc_client_t *c, int64_t user, const odb_walk_opts_t *o,
                   char *first_source, char *err, size_t errlen);

/* --- a random world: users, a skewed follow graph, posts ----------------------
 * Single-threaded bookkeeping of what was written (PostgreSQL stays the
 * oracle); every change goes to PostgreSQL first, then over RPC. */

typedef struct {
    odb_post_t post;
    bool deleted;
} odb_wpost_t;

typedef struct {
    odb_rng_t rng;
    uint64_t seed;
    PGconn *pg;
    fc_client_t *c;
    int64_t celebrity_threshold;   /* as given to the daemon */
    size_t nusers;
    int64_t *users;
    bool *follows;                 /* [i * nusers + j]: users[i] follows users[j] */
    odb_wpost_t *posts;
    size_t nposts, posts_cap;
    int64_t clock_ms;              /* created_at of the newest post so far */
    size_t published_fanout, published_celebrity, published_notify;
} odb_world_t;

void odb_world_init(odb_world_t *w, PGconn *pg, fc_client_t *c, uint64_t seed,
                    int64_t celebrity_threshold);
void odb_world_free(odb_world_t *w);
/* n users with random distinct ids, in PostgreSQL only (no RPC exists). */
int odb_world_add_users(odb_world_t *w, size_t n, char *err, size_t errlen);
/* About per_user follows each, followees drawn with a power law over a
 * random popularity order; users listed in `skip` (indexes) follow nobody. */
int odb_world_random_follows(odb_world_t *w, size_t per_user, const size_t *skip, size_t nskip,
                             char *err, size_t errlen);
int odb_world_follow(odb_world_t *w, size_t i, size_t j, char *err, size_t errlen);
int odb_world_unfollow(odb_world_t *w, size_t i, size_t j, char *err, size_t errlen);
bool odb_world_follows(const odb_world_t *w, size_t i, size_t j);
size_t odb_world_followers(const odb_world_t *w, size_t j);
/* The index of the user with the most followers. */
size_t odb_world_most_followed(const odb_world_t *w);

enum {
    ODB_PUB_RANDOM = 0,      /* body, notification and created_at by chance */
    ODB_PUB_PLAIN = 1,       /* request with body, newest created_at */
};
/* Publishes a new post by users[author]: created_at advances by 0 ms often
 * (ties), sometimes goes back in time; body sometimes left to PostgreSQL;
 * sometimes a notification. For a request, checks the answer's mode against
 * the follower count (celebrity iff followers >= threshold). Returns the
 * post's index in w->posts through idx (if not NULL). */
int odb_world_publish(odb_world_t *w, size_t author, int how, size_t *idx,
                      char *err, size_t errlen);
/* The index of a random post not deleted; -1 when there is none. */
int odb_world_random_live(odb_world_t *w, size_t *idx);
/* The index of the user with that id; w->nusers when none. */
size_t odb_world_user_index(const odb_world_t *w, int64_t id);
/* Deletes w->posts[idx] / gives it a new body (PostgreSQL, then RPC). */
int odb_world_delete(odb_world_t *w, size_t idx, char *err, size_t errlen);
int odb_world_edit(odb_world_t *w, size_t idx, char *err, size_t errlen);

/* The oracle for everyone: every user's timeline, plus `extra` user ids
 * (e.g. one unknown to PostgreSQL), walked with limit 7 and bodies; also
 * limit 200 and limit 1 for a few users, and hydrate=false (limit 11) for
 * every fourth. When first_source is not NULL, the first walk of each user
 * whose timeline is not empty must report that source ("rebuilt" after a
 * cold start). Prints every failure to stderr with the phase and the seed;
 * returns the number of failed walks. */
size_t odb_world_check_all(odb_world_t *w, const char *phase, const int64_t *extra,
                           size_t nextra, const char *first_source);

/* Random UTF-8 text (sometimes empty, sometimes long); malloc'd. */
char *odb_random_body(odb_rng_t *r);

#endif

/* A warm job's state: what it is (id, counts, state, error), the users it
 * still has to warm (a FIFO of ids), and its record in Redis,
 * PREFIXwarm:{JOB} (hash: done, total, state, started_ms, updated_ms,
 * error), which is what warm.status reads on any instance. The record's TTL
 * is refreshed while the job runs (the job of a crashed process disappears
 * FEED_WARM_KEEP_S later) and set to FEED_WARM_KEEP_S when it ends.
 * feed_warm.c schedules jobs; this file only keeps and publishes their
 * state. */
#ifndef FC_FEED_FEED_WARM_JOB_H
#define FC_FEED_FEED_WARM_JOB_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/feed_engine.h"
#include "rpc/rpc_server.h"

#define FEED_WARM_KEEP_S 3600       /* record TTL: while running (refreshed) and after */
#define FEED_WARM_PROGRESS_MS 500   /* progress writes at most this often */
#define FEED_WARM_HEARTBEAT_MS 60000 /* a quiet job still refreshes its record */
/* A running or paused record not refreshed for this long belongs to an
 * instance that died: warm.status reports it failed. Three heartbeats, so
 * a busy loop or clocks a minute apart across instances do not trip it. */
#define FEED_WARM_ORPHAN_MS (3 * FEED_WARM_HEARTBEAT_MS)
#define FEED_WARM_ID_HEX 16

typedef enum {
    FEED_WARM_RUNNING,
    FEED_WARM_PAUSED,            /* outside warm_window */
    FEED_WARM_FINISHED,
    FEED_WARM_FAILED,
} feed_warm_state_t;

typedef struct {
    int64_t id;
    int attempts;                /* failed attempts so far */
} feed_warm_item_t;

typedef struct feed_warm_job feed_warm_job_t;

/* A write of the record came back (ok: Redis took it). */
typedef void feed_warm_written_fn(feed_warm_job_t *st, bool ok);

struct feed_warm_job {
    feed_engine_t *e;
    char id[FEED_WARM_ID_HEX + 1];
    unsigned affinity;           /* Redis connection for the record: writes stay ordered */
    feed_warm_state_t state;
    char error[200];
    int64_t total, done, skipped;
    int64_t started_ms, updated_ms;

    /* users still to warm */
    feed_warm_item_t *queue;
    size_t qhead, qlen, qcap;

    /* the record in Redis: one write at a time, so a later state never
     * lands before an earlier one */
    feed_warm_written_fn *written;
    bool write_inflight, write_dirty, write_failed_logged;
    uint64_t written_ns;
    int64_t written_done;
    feed_warm_state_t written_state;
};

/* Sets up a running job with a fresh random id; written is called after
 * each write of its record. */
void feed_warm_job_init(feed_warm_job_t *st, feed_engine_t *e, feed_warm_written_fn *written);
void feed_warm_job_release(feed_warm_job_t *st);

const char *feed_warm_state_name(feed_warm_state_t state);
bool feed_warm_job_ended(const feed_warm_job_t *st);

size_t feed_warm_job_queued(const feed_warm_job_t *st);
void feed_warm_job_push(feed_warm_job_t *st, int64_t id, int attempts);
feed_warm_item_t feed_warm_job_pop(feed_warm_job_t *st);

/* Writes the record (HSET + EXPIRE) unless a write is in flight, in which
 * case the newer state is remembered for feed_warm_job_flush. Returns true
 * when a write started (written will be called for it). */
bool feed_warm_job_write(feed_warm_job_t *st);
/* After a write came back: writes the state that came meanwhile, if any.
 * Returns true when a write started. */
bool feed_warm_job_flush(feed_warm_job_t *st);
/* Progress goes out when the state changed, else at most every
 * FEED_WARM_PROGRESS_MS, and at least every FEED_WARM_HEARTBEAT_MS (the
 * TTL). Returns true when a write started. */
bool feed_warm_job_maybe_write(feed_warm_job_t *st, uint64_t now_ns);

/* Packs warm.status's result for a job of this instance (always current). */
void feed_warm_job_pack_status(msgpack_packer *pk, const feed_warm_job_t *st);

/* True when a record in state `state` last written at updated_ms (epoch
 * ms) is an orphan at now_ms: running or paused, and older than
 * FEED_WARM_ORPHAN_MS. */
bool feed_warm_job_orphaned(const char *state, int64_t updated_ms, int64_t now_ms);

/* Answers warm.status for job id from its record in Redis (a job of
 * another instance, or one that ended): NOT_FOUND when there is none; a
 * job whose instance died (feed_warm_job_orphaned) is reported failed. */
void feed_warm_job_fetch_status(feed_engine_t *e, rpc_call_t *call, const char *id);

#endif

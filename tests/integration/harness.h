/* Integration-test harness: runs feedcached as a child process on free
 * loopback ports, waits until it answers ping, stops it and reports how it
 * ended, plus a minimal HTTP client for /metrics and /healthz.
 *
 * Environment:
 *   FEEDCACHED                 path of the feedcached binary (required)
 *   FEEDCACHE_TEST_REDIS_URL   passed as --redis when set
 *   FEEDCACHE_TEST_PG          passed as --pg when set
 *   FEEDCACHED_WRAPPER         optional command prefix, split on spaces,
 *                              e.g. "valgrind -q --error-exitcode=99";
 *                              start-up waits then allow 6x longer
 *   FEEDCACHE_TEST_KEEP_LOGS   when set, daemon logs are not deleted
 *
 * The daemon's stdout and stderr go to a temp file: harness_daemon_log()
 * returns it, harness_daemon_dump_log() prints it (do that when a test
 * fails). The daemon gets PR_SET_PDEATHSIG, so a crashed test leaves no
 * daemon behind. Functions return NULL / -1 with a reason in err, and never
 * abort, so tests decide how to fail. */
#ifndef FC_TESTS_HARNESS_H
#define FC_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "feedcache/client.h"
#include "util/buf.h"

typedef struct {
    pid_t pid;
    char addr[160];           /* RPC address, as given to --listen */
    char metrics_addr[160];   /* HTTP address, "" when --metrics-listen off */
    char log_path[64];        /* the daemon's stdout + stderr */
    bool exited;              /* reaped: status is valid */
    int status;               /* exit code, or 128 + signal number */
} harness_daemon_t;

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int harness_free_port(void);

/* Starts feedcached with
 *   --listen 127.0.0.1:P --metrics-listen 127.0.0.1:M
 *   --redis $FEEDCACHE_TEST_REDIS_URL --pg $FEEDCACHE_TEST_PG  EXTRA...
 * (extra is NULL-terminated, may be NULL). When extra holds --listen or
 * --metrics-listen, that one replaces the harness's own. Waits up to 10 s
 * for ping to answer "pong"; if feedcached exits first, err says with what
 * status and holds the end of its log. Retries with new ports when the
 * picked ones were taken meanwhile. */
harness_daemon_t *harness_daemon_start(const char *const *extra, char *err, size_t errlen);

/* True while the process runs (reaps it, setting status, once it exits). */
bool harness_daemon_alive(harness_daemon_t *d);

int harness_daemon_signal(harness_daemon_t *d, int sig);

/* Waits up to timeout_ms for the process to exit. Returns its status (exit
 * code, or 128 + signal) or -1 when it is still running. */
int harness_daemon_wait(harness_daemon_t *d, int timeout_ms);

/* SIGTERM, then harness_daemon_wait(timeout_ms); on timeout SIGKILL and
 * returns -1. Returns the status otherwise. */
int harness_daemon_stop(harness_daemon_t *d, int timeout_ms);

/* Resident set size in KiB (VmRSS of /proc/PID/status), or -1. */
long harness_daemon_rss_kb(const harness_daemon_t *d);

/* The daemon's log so far (malloc'd, NUL-terminated; "" when empty). */
char *harness_daemon_log(const harness_daemon_t *d);

/* Prints the log to stderr framed with `why` (e.g. the failing test). */
void harness_daemon_dump_log(const harness_daemon_t *d, const char *why);

/* Kills the daemon if still running (SIGKILL), removes its log unless
 * FEEDCACHE_TEST_KEEP_LOGS is set, frees d. NULL is fine. */
void harness_daemon_free(harness_daemon_t *d);

/* The end of a test's daemon: stops it with SIGTERM and frees it. Returns
 * -1 (after saying why) when it died during the test or did not exit 0
 * within 10 s; prints its log then, and also when the test did not finish. */
int harness_daemon_finish(harness_daemon_t *d, bool test_finished);

/* A client connected to the daemon, or NULL with a reason in err. */
fc_client_t *harness_connect(const harness_daemon_t *d, int timeout_ms, char *err, size_t errlen);

/* --- HTTP ----------------------------------------------------------------- */

typedef struct {
    int status;      /* e.g. 200 */
    buf_t headers;   /* raw header block, lines as received */
    buf_t body;      /* de-chunked; empty for HEAD */
} harness_http_t;

/* One HTTP/1.1 request with Connection: close to addr (HOST:PORT); reads
 * to EOF. Returns 0 (then free with harness_http_free) or -1 with err. */
int harness_http(const char *addr, const char *method, const char *path, int timeout_ms,
                 harness_http_t *out, char *err, size_t errlen);
void harness_http_free(harness_http_t *h);

/* The value of an unlabelled series on addr's /metrics; -1 when it is not
 * there, -2 when /metrics could not be fetched (err says why). */
double harness_metric(const char *addr, const char *name, char *err, size_t errlen);

#endif

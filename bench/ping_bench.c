/* ping_bench: RPC throughput of feedcached on ping, the cheapest method, so
 * the number is the ceiling of the framing + dispatch path.
 *
 *   ping_bench [--addr ADDR] [--depth N] [--seconds S] [--conns 1,8]
 *
 * For each entry of --conns, that many threads each open one connection
 * and keep between N/2 and N pings in flight for S seconds (they send N/2
 * in one write whenever N/2 have come back), then it prints requests/s.
 * Every answer is checked to be "pong". Exit status 1 on any failure. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_cli.h"
#include "feedcache/client.h"

#define PROG "ping_bench"
#define MAX_CONNS 256

typedef struct {
    const char *addr;
    int depth;
    pthread_barrier_t *start;
    double t_end;              /* monotonic seconds at which to stop sending */
    unsigned long long done;   /* pongs received before t_end */
    char err[512];
} worker_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Receives one response and checks it is a pong. */
static int take_pong(fc_client_t *c, worker_t *w)
{
    fc_response_t r;
    int rc = fc_client_recv(c, &r);
    if (rc != FC_OK) {
        snprintf(w->err, sizeof w->err, "recv: %s", fc_client_error(c));
        return -1;
    }
    bool ok = r.ok && fc_obj_str_eq(&r.result, "pong");
    if (!ok)
        snprintf(w->err, sizeof w->err, "ping answered %s: %s", r.code[0] ? r.code : "not pong",
                 r.message);
    fc_response_free(&r);
    return ok ? 0 : -1;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char err[512];
    fc_client_t *c = fc_client_connect(w->addr, 5000, err, sizeof err);
    /* Twice: all connected; then the main thread has set t_end. */
    pthread_barrier_wait(w->start);
    pthread_barrier_wait(w->start);
    if (!c) {
        snprintf(w->err, sizeof w->err, "%s", err);
        return NULL;
    }
    fc_client_set_cork(c, true);
    int half = w->depth / 2 > 0 ? w->depth / 2 : 1;
    int inflight = 0;
    for (; inflight < w->depth; inflight++)
        if (fc_client_send(c, "ping", NULL, NULL) != FC_OK)
            goto fail;
    while (now_s() < w->t_end) {
        for (int i = 0; i < half; i++, inflight--) {
            if (take_pong(c, w) != 0)
                goto out;
            w->done++;
        }
        for (int i = 0; i < half; i++, inflight++)
            if (fc_client_send(c, "ping", NULL, NULL) != FC_OK)
                goto fail;
    }
    /* Drain what is still in flight; those answers are not counted. */
    while (inflight-- > 0)
        if (take_pong(c, w) != 0)
            goto out;
    goto out;
fail:
    snprintf(w->err, sizeof w->err, "send: %s", fc_client_error(c));
out:
    fc_client_close(c);
    return NULL;
}

/* One run with n connections. Returns requests/s, or -1 on failure. */
static double run(const char *addr, int n, int depth, double seconds)
{
    worker_t *w = calloc((size_t)n, sizeof *w);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        w[i] = (worker_t){ .addr = addr, .depth = depth, .start = &start };
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    /* The clock starts once every worker is connected. */
    pthread_barrier_wait(&start);
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        w[i].t_end = t0 + seconds;
    pthread_barrier_wait(&start);
    unsigned long long total = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        total += w[i].done;
        if (w[i].err[0]) {
            fprintf(stderr, "ping_bench: connection %d to %s: %s\n", i + 1, addr, w[i].err);
            failed = 1;
        }
    }
    double elapsed = now_s() - t0;
    pthread_barrier_destroy(&start);
    free(w);
    free(th);
    if (failed)
        return -1;
    double rate = (double)total / (elapsed < seconds ? elapsed : seconds);
    printf("%5d  %12llu  %7.2f  %10.0f\n", n, total, seconds, rate);
    fflush(stdout);
    return rate;
}

static void usage(FILE *to)
{
    fputs("Usage: ping_bench [--addr ADDR] [--depth N] [--seconds S] [--conns LIST]\n"
          "  --addr ADDR   feedcached RPC address (default $FEEDCACHE_ADDR, else 127.0.0.1:7400)\n"
          "  --depth N     pings in flight per connection, 2..4096 (default 64)\n"
          "  --seconds S   length of each run (default 3)\n"
          "  --conns LIST  comma-separated connection counts, one run each (default 1,8)\n"
          "Exit status: 0 ok, 1 a connection failed or got a wrong answer, 2 usage error.\n", to);
}

/* A bad value: the error, then the usage. */
static int bad(const char *opt, const char *v)
{
    cli_bad(PROG, opt, v);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *addr = getenv("FEEDCACHE_ADDR") && *getenv("FEEDCACHE_ADDR")
                     ? getenv("FEEDCACHE_ADDR") : "127.0.0.1:7400";
    int depth = 64;
    double seconds = 3;
    const char *conns = "1,8";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = cli_value(argc, argv, i);
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--addr")) {
            if (!v)
                return bad(a, v);
            addr = v;
        } else if (!strcmp(a, "--depth")) {
            if (cli_int(v, 2, 4096, &depth))
                return bad(a, v);
        } else if (!strcmp(a, "--seconds")) {
            if (cli_double(v, 0, 3600, &seconds) || seconds == 0)
                return bad(a, v);
        } else if (!strcmp(a, "--conns")) {
            if (!v)
                return bad(a, v);
            conns = v;
        } else {
            cli_unknown(PROG, a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    /* Validate the whole list before the first run. */
    for (const char *p = conns; *p;) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p || n < 1 || n > MAX_CONNS || (*end && *end != ','))
            return bad("--conns", conns);
        p = *end ? end + 1 : end;
    }
    printf("ping_bench: %s, %d in flight per connection, %.1f s per run\n", addr, depth, seconds);
    printf("conns      requests  seconds       req/s\n");
    int rc = 0;
    for (const char *p = conns; *p;) {
        char *end;
        int n = (int)strtol(p, &end, 10);
        if (run(addr, n, depth, seconds) < 0)
            rc = 1;
        p = *end ? end + 1 : end;
    }
    return rc;
}

/* Asynchronous name resolution (contract in resolve.h).
 *
 * Why uv_queue_work and not uv_getaddrinfo: both run getaddrinfo on the
 * same thread pool; the work request lets the test hooks of util/fault.h
 * (a slow resolver, a private hosts file) run in the worker thread, exactly
 * where a slow DNS server would block, so the tests exercise the code path
 * production uses. The worker only touches its own lookup_t.
 *
 * Lookups are shared: every caller that asks for a name while a lookup of
 * that name is in flight (on the same loop) waits for that one instead of
 * starting another. A pool whose connections all reconnect at once thus
 * costs one lookup, not one per connection; with a slow DNS server that
 * matters, since each lookup holds one of the thread pool's few threads
 * (UV_THREADPOOL_SIZE, 4 by default). The result is still fresh: the
 * lookup started after the name was last asked for by anyone who has it.
 * The in-flight table is only touched from the loop's thread. */
#include "util/resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/buf.h"
#include "util/fault.h"
#include "util/list.h"

/* One getaddrinfo in flight, with every caller waiting for it. */
typedef struct {
    uv_work_t work;
    uv_loop_t *loop;
    char host[256];
    resolve_result_t res;            /* written by the worker, read after it */
    list_t waiters;                  /* resolve_t.link */
    list_t link;                     /* in `inflight` until done */
} lookup_t;

struct resolve {
    lookup_t *lk;
    resolve_fn *cb;
    void *arg;
    list_t link;                     /* in lk->waiters */
};

static list_t inflight = { &inflight, &inflight };

bool resolve_is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return host && (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1);
}

/* Adds addr unless it is there already (getaddrinfo may repeat one). */
static void add_addr(resolve_result_t *res, const char *addr)
{
    for (size_t i = 0; i < res->naddrs; i++)
        if (strcmp(res->addrs[i], addr) == 0)
            return;
    if (res->naddrs < RESOLVE_MAX_ADDRS)
        snprintf(res->addrs[res->naddrs++], RESOLVE_ADDR_LEN, "%s", addr);
}

static void lookup_system(lookup_t *r)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(r->host, NULL, &hints, &ai);
    if (rc != 0) {
        snprintf(r->res.why, sizeof r->res.why, "cannot resolve '%.64s': %s", r->host,
                 gai_strerror(rc));
        return;
    }
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        char text[RESOLVE_ADDR_LEN];
        const void *a = p->ai_family == AF_INET
            ? (const void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
        if ((p->ai_family == AF_INET || p->ai_family == AF_INET6) &&
            inet_ntop(p->ai_family, a, text, sizeof text))
            add_addr(&r->res, text);
    }
    freeaddrinfo(ai);
    if (r->res.naddrs == 0)
        snprintf(r->res.why, sizeof r->res.why, "cannot resolve '%.64s': no IPv4 or IPv6 address",
                 r->host);
}

/* The test hook's hosts file: "ADDRESS NAME [NAME...]" lines, '#' comments.
 * Every line naming host adds its address, in file order. */
static void lookup_file(lookup_t *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(r->res.why, sizeof r->res.why, "cannot resolve '%.64s': cannot open %.64s",
                 r->host, path);
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *save = NULL;
        char *addr = strtok_r(line, " \t\r\n", &save);
        if (!addr || addr[0] == '#' || !resolve_is_numeric(addr))
            continue;
        for (char *name; (name = strtok_r(NULL, " \t\r\n", &save)) != NULL;)
            if (strcmp(name, r->host) == 0)
                add_addr(&r->res, addr);
    }
    fclose(f);
    if (r->res.naddrs == 0)
        snprintf(r->res.why, sizeof r->res.why,
                 "cannot resolve '%.64s': Name or service not known (test hosts file)", r->host);
}

static void on_work(uv_work_t *w)
{
    lookup_t *r = container_of(w, lookup_t, work);
    unsigned delay = fault_resolve_delay_ms();
    if (delay)
        uv_sleep(delay);
    const char *hosts = fault_resolve_hosts();
    if (hosts)
        lookup_file(r, hosts);
    else
        lookup_system(r);
    r->res.ok = r->res.naddrs > 0;
}

static void on_done(uv_work_t *w, int status)
{
    lookup_t *lk = container_of(w, lookup_t, work);
    /* Out of the table first: a callback asking for the same name again
     * gets a new lookup, not this finished one. */
    list_remove(&lk->link);
    list_t *node;
    /* One waiter at a time: a callback may cancel other waiters. */
    while ((node = list_pop_head(&lk->waiters)) != NULL) {
        resolve_t *r = list_entry(node, resolve_t, link);
        resolve_fn *cb = r->cb;
        void *arg = r->arg;
        free(r);
        if (status == 0)
            cb(&lk->res, arg);
    }
    free(lk);
}

resolve_t *resolve_start(uv_loop_t *loop, const char *host, resolve_fn *cb, void *arg)
{
    if (!host)
        host = "";
    lookup_t *lk = NULL;
    list_foreach(pos, &inflight) {
        lookup_t *l = list_entry(pos, lookup_t, link);
        if (l->loop == loop && strcmp(l->host, host) == 0) {
            lk = l;
            break;
        }
    }
    if (!lk) {
        lk = fc_xcalloc(1, sizeof *lk);
        lk->loop = loop;
        snprintf(lk->host, sizeof lk->host, "%s", host);
        list_init(&lk->waiters);
        list_insert_tail(&inflight, &lk->link);
        /* uv_queue_work fails only for a NULL callback, never passed here. */
        uv_queue_work(loop, &lk->work, on_work, on_done);
    }
    resolve_t *r = fc_xcalloc(1, sizeof *r);
    r->lk = lk;
    r->cb = cb;
    r->arg = arg;
    list_insert_tail(&lk->waiters, &r->link);
    return r;
}

void resolve_cancel(resolve_t *r)
{
    if (!r)
        return;
    lookup_t *lk = r->lk;
    list_remove(&r->link);
    free(r);
    /* Nobody waits any more: drop the lookup if it has no thread yet
     * (uv_cancel fails once it runs). on_done frees it either way. */
    if (list_empty(&lk->waiters) && uv_cancel((uv_req_t *)&lk->work) == 0)
        list_remove(&lk->link);     /* cancelled: nobody may join it now */
}

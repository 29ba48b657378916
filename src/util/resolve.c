/* Asynchronous name resolution (contract in resolve.h).
 *
 * Why uv_queue_work and not uv_getaddrinfo: both run getaddrinfo on the
 * same thread pool; the work request lets the test hooks of util/fault.h
 * (a slow resolver, a private hosts file) run in the worker thread, exactly
 * where a slow DNS server would block, so the tests exercise the code path
 * production uses. The worker only touches its own resolve_t. */
#include "util/resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/buf.h"
#include "util/fault.h"

struct resolve {
    uv_work_t work;
    resolve_fn *cb;
    void *arg;
    int cancelled;
    char host[256];
    resolve_result_t res;            /* written by the worker, read after it */
};

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

static void lookup_system(struct resolve *r)
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
static void lookup_file(struct resolve *r, const char *path)
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
    struct resolve *r = container_of(w, struct resolve, work);
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
    struct resolve *r = container_of(w, struct resolve, work);
    if (!r->cancelled && status == 0)
        r->cb(&r->res, r->arg);
    free(r);
}

resolve_t *resolve_start(uv_loop_t *loop, const char *host, resolve_fn *cb, void *arg)
{
    struct resolve *r = fc_xcalloc(1, sizeof *r);
    r->cb = cb;
    r->arg = arg;
    snprintf(r->host, sizeof r->host, "%s", host ? host : "");
    /* uv_queue_work fails only for a NULL callback, which this never passes. */
    uv_queue_work(loop, &r->work, on_work, on_done);
    return r;
}

void resolve_cancel(resolve_t *r)
{
    if (!r)
        return;
    r->cancelled = 1;
    /* Succeeds only while the lookup waits for a thread; on_done frees r
     * either way. */
    uv_cancel((uv_req_t *)&r->work);
}

/* PostgreSQL host lists (contract in pg_hosts.h). */
#include "store/pg/pg_hosts.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Splits a comma list as libpq does (no quoting inside the list). */
static char **split(const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **out = fc_xcalloc(cap, sizeof *out);
    *n = 0;
    for (const char *p = s;;) {
        size_t len = strcspn(p, ",");
        char *e = fc_xmalloc(len + 1);
        memcpy(e, p, len);
        e[len] = '\0';
        out[(*n)++] = e;
        if (!p[len])
            break;
        p += len + 1;
    }
    return out;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        free(l[i]);
    free(l);
}

static const char *opt_val(const PQconninfoOption *opts, const char *key)
{
    for (const PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return o->val;
    return NULL;
}

/* libpq's rule (expand_dbname): no '=' and not a URI is a database name. */
static bool is_bare_dbname(const char *s)
{
    return !strchr(s, '=') && strncmp(s, "postgresql://", 13) != 0 &&
           strncmp(s, "postgres://", 11) != 0;
}

static bool needs_lookup(const char *host)
{
    return host[0] && host[0] != '/' && host[0] != '@' && !resolve_is_numeric(host);
}

int pg_hosts_parse(pg_hosts_t *h, const char *conninfo, const char *env_host,
                   const char *env_hostaddr, const char *env_port, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    if (!conninfo)
        conninfo = "";
    char *msg = NULL;
    if (is_bare_dbname(conninfo)) {
        /* dbname='NAME', quoted as libpq reads values. */
        buf_t b;
        buf_init(&b);
        buf_puts(&b, "dbname='");
        for (const char *p = conninfo; *p; p++) {
            if (*p == '\'' || *p == '\\')
                buf_append(&b, "\\", 1);
            buf_append(&b, p, 1);
        }
        buf_puts(&b, "'");
        h->opts = PQconninfoParse(conninfo[0] ? b.data : "", &msg);
        buf_free(&b);
    } else {
        h->opts = PQconninfoParse(conninfo, &msg);
    }
    if (!h->opts) {
        snprintf(err, errlen, "%s", msg ? msg : "out of memory");
        PQfreemem(msg);
        return -1;
    }
    const char *hostaddr = opt_val(h->opts, "hostaddr");
    const char *host = opt_val(h->opts, "host");
    const char *port = opt_val(h->opts, "port");
    if ((hostaddr && *hostaddr) || (!hostaddr && env_hostaddr && *env_hostaddr))
        return 0;                           /* the user's addresses: nothing to do */
    if (!host || !*host)
        host = env_host;
    if (!port || !*port)
        port = env_port;
    if (!host || !*host)
        return 0;                           /* libpq's default: a unix socket */
    char **hosts = split(host, &h->nhosts);
    h->hosts = fc_xcalloc(h->nhosts, sizeof *h->hosts);
    for (size_t i = 0; i < h->nhosts; i++) {
        h->hosts[i].host = hosts[i];
        h->hosts[i].lookup = needs_lookup(hosts[i]);
        h->nlookups += h->hosts[i].lookup;
    }
    free(hosts);
    if (port && *port)
        h->ports = split(port, &h->nports);
    /* A port list libpq would refuse: leave the conninfo to libpq, which
     * says so before it resolves anything. */
    if (h->nports > 1 && h->nports != h->nhosts)
        h->nlookups = 0;
    return 0;
}

static void join_add(buf_t *b, const char *s)
{
    if (b->len)
        buf_append(b, ",", 1);
    buf_puts(b, s);
}

int pg_hosts_params(const pg_hosts_t *h, const resolve_result_t *res, const char *app,
                    pg_hosts_params_t *out)
{
    memset(out, 0, sizeof *out);
    buf_t host, addr, port;
    buf_init(&host);
    buf_init(&addr);
    buf_init(&port);
    size_t entries = 0;
    for (size_t i = 0; i < h->nhosts; i++) {
        size_t n = h->hosts[i].lookup ? res[i].naddrs : 1;
        if (h->hosts[i].lookup && !res[i].ok)
            n = 0;
        for (size_t k = 0; k < n; k++) {
            /* join_add skips the comma before the first entry only, so
             * empty entries (libpq's default, "use host") still count. */
            if (entries) {
                buf_append(&host, ",", 1);
                buf_append(&addr, ",", 1);
                if (h->nports > 1)
                    buf_append(&port, ",", 1);
            }
            buf_puts(&host, h->hosts[i].host);
            if (h->hosts[i].lookup)
                buf_puts(&addr, res[i].addrs[k]);
            if (h->nports > 1)
                buf_puts(&port, h->ports[i]);
            entries++;
        }
    }
    if (entries == 0) {
        buf_free(&host);
        buf_free(&addr);
        buf_free(&port);
        return -1;
    }
    if (h->nports == 1)
        join_add(&port, h->ports[0]);
    out->host = fc_xstrdup(host.data ? host.data : "");
    out->hostaddr = fc_xstrdup(addr.data ? addr.data : "");
    out->port = h->nports ? fc_xstrdup(port.data ? port.data : "") : NULL;
    buf_free(&host);
    buf_free(&addr);
    buf_free(&port);

    size_t nopts = 0;
    for (const PQconninfoOption *o = h->opts; o->keyword; o++)
        nopts++;
    out->keys = fc_xcalloc(nopts + 5, sizeof *out->keys);
    out->vals = fc_xcalloc(nopts + 5, sizeof *out->vals);
    size_t k = 0;
    bool has_app = false;
    for (const PQconninfoOption *o = h->opts; o->keyword; o++) {
        if (!o->val || !strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr") ||
            !strcmp(o->keyword, "port"))
            continue;
        has_app |= strcmp(o->keyword, "fallback_application_name") == 0;
        out->keys[k] = o->keyword;
        out->vals[k++] = o->val;
    }
    out->keys[k] = "host";
    out->vals[k++] = out->host;
    out->keys[k] = "hostaddr";
    out->vals[k++] = out->hostaddr;
    if (out->port) {
        out->keys[k] = "port";
        out->vals[k++] = out->port;
    }
    if (!has_app && app) {
        out->keys[k] = "fallback_application_name";
        out->vals[k++] = app;
    }
    return 0;
}

void pg_hosts_params_free(pg_hosts_params_t *p)
{
    free(p->keys);
    free(p->vals);
    free(p->host);
    free(p->hostaddr);
    free(p->port);
    memset(p, 0, sizeof *p);
}

void pg_hosts_free(pg_hosts_t *h)
{
    if (h->opts)
        PQconninfoFree(h->opts);
    for (size_t i = 0; i < h->nhosts; i++)
        free(h->hosts[i].host);
    free(h->hosts);
    free_list(h->ports, h->nports);
    memset(h, 0, sizeof *h);
}

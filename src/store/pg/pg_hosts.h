/* PostgreSQL host names, resolved by us instead of by libpq (pure: no I/O).
 *
 * libpq resolves host= names with a blocking getaddrinfo inside
 * PQconnectStart/PQconnectPoll, on the loop's thread. So the pool resolves
 * them first (util/resolve.h) and hands libpq the addresses as hostaddr=,
 * keeping host= for TLS certificate checks and .pgpass. This module does the
 * bookkeeping on both sides of the lookups:
 *
 *   pg_hosts_parse   which entries of host= need a lookup: a name does; a
 *                    unix socket directory ('/' or '@' first), a numeric
 *                    address or an empty entry (libpq's default) does not.
 *                    Nothing is rewritten (nlookups 0) when hostaddr= is
 *                    given (in the conninfo or PGHOSTADDR): the user chose.
 *   pg_hosts_params  the keyword/value arrays for PQconnectStartParams
 *                    (expand_dbname 0) once the lookups are done: every
 *                    option of the conninfo as given, with host=, hostaddr=
 *                    and port= rewritten as parallel lists. A name with
 *                    several addresses becomes several entries (host=a,a
 *                    hostaddr=IP1,IP2), so libpq tries each in turn and
 *                    target_session_attrs still picks among all of them; a
 *                    name that did not resolve is left out.
 *
 * host= and port= come from the conninfo, else from PGHOST/PGPORT (passed in
 * by the caller), as libpq itself would take them. */
#ifndef FC_STORE_PG_PG_HOSTS_H
#define FC_STORE_PG_PG_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "util/resolve.h"

typedef struct {
    char *host;                 /* one entry of host= ("" is libpq's default) */
    bool lookup;                /* a name: resolve it */
} pg_host_t;

typedef struct {
    PQconninfoOption *opts;     /* the parsed conninfo, NULL when nlookups is 0 */
    size_t nhosts;
    pg_host_t *hosts;
    size_t nports;              /* entries of port=: 0, 1 (for all) or nhosts */
    char **ports;
    size_t nlookups;            /* hosts with lookup set; 0: use the conninfo as it is */
} pg_hosts_t;

typedef struct {
    const char **keys;          /* NULL-terminated, for PQconnectStartParams */
    const char **vals;
    char *host, *hostaddr, *port;   /* the rewritten lists (vals point here) */
} pg_hosts_params_t;

/* Reads conninfo (key=value pairs, a postgresql:// URI, or a bare database
 * name) and the PGHOST, PGHOSTADDR, PGPORT values (NULL when unset).
 * Returns 0 (h->nlookups may be 0), or -1 with libpq's reason in err when it
 * does not parse. Free h with pg_hosts_free either way. */
int pg_hosts_parse(pg_hosts_t *h, const char *conninfo, const char *env_host,
                   const char *env_hostaddr, const char *env_port, char *err, size_t errlen);

/* res[i] is the lookup of hosts[i] (read only where lookup is set). Returns
 * 0 with out filled (free with pg_hosts_params_free), or -1 when no host is
 * left because no lookup succeeded. fallback_application_name is set to
 * app when the conninfo has none (app may be NULL). */
int pg_hosts_params(const pg_hosts_t *h, const resolve_result_t *res, const char *app,
                    pg_hosts_params_t *out);

void pg_hosts_params_free(pg_hosts_params_t *p);
void pg_hosts_free(pg_hosts_t *h);

#endif

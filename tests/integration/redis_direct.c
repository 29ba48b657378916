/* Synchronous Redis for the tests, on one server or a cluster (see
 * redis_direct.h). */
#include "redis_direct.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/redis/rds_keys.h"
#include "store/redis/rds_slots.h"
#include "store/redis/rds_url.h"

#define NSLOTS RDS_SLOTS
#define MAX_NODES 32
#define CONNECT_TIMEOUT_MS 2000
#define COMMAND_TIMEOUT_MS 5000
#define RETRY_PAUSE_MS 50

typedef struct {
    char host[256];
    int port;
    redisContext *ctx;     /* NULL until first used, or after an I/O error */
} node_t;

/* A command formatted by hiredis, waiting in the pipeline or running. */
typedef struct {
    char *cmd;
    size_t len;
    unsigned slot;
    bool keyless;
    redisReply *reply;     /* once answered */
    char *error;           /* when there is no reply */
} pending_t;

struct rdirect {
    bool cluster;
    rds_url_t url;                 /* auth and db (host/port of the first seed) */
    node_t nodes[MAX_NODES];
    size_t nnodes;
    short owner[NSLOTS];           /* node index per slot, -1 when unknown */
    pending_t *queue;              /* appended, not yet handed out */
    size_t nqueue, qcap, qnext;
    bool qsent;
    char err[512];
};

static void set_err(rdirect_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(rdirect_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- slots ------------------------------------------------------------------ */

/* The product's slot function: test_redis_direct checks it against
 * CLUSTER KEYSLOT on a real cluster. */
unsigned rdirect_slot(const char *key, size_t len)
{
    return rds_key_slot(key, len);
}

/* --- a formatted command: its name and key -------------------------------- */

/* The n-th bulk string of a RESP array "*N\r\n$L\r\nARG\r\n...". */
static bool resp_arg(const char *cmd, size_t len, size_t n, const char **arg, size_t *arglen)
{
    const char *p = memchr(cmd, '\n', len);
    const char *end = cmd + len;
    for (size_t i = 0; p && p + 1 < end; i++) {
        p++;
        if (*p != '$')
            return false;
        char *after;
        long l = strtol(p + 1, &after, 10);
        if (l < 0 || after + 2 > end)
            return false;
        const char *data = after + 2;
        if (data + l > end)
            return false;
        if (i == n) {
            *arg = data;
            *arglen = (size_t)l;
            return true;
        }
        p = data + l + 1;      /* the '\n' after the argument */
        if (p >= end)
            return false;
    }
    return false;
}

/* Routes like feedcached does (rds_slots_of_command), from the arguments
 * of the formatted command. */
static void classify(pending_t *pc)
{
    enum { MAX_ROUTING_ARGS = 64 };
    const char *argv[MAX_ROUTING_ARGS];
    size_t lens[MAX_ROUTING_ARGS];
    int argc = 0;
    while (argc < MAX_ROUTING_ARGS && resp_arg(pc->cmd, pc->len, (size_t)argc, &argv[argc],
                                               &lens[argc]))
        argc++;
    int slot = rds_slots_of_command(argc, argv, lens);
    pc->keyless = slot < 0;
    pc->slot = slot < 0 ? 0 : (unsigned)slot;
}

/* --- nodes ------------------------------------------------------------------- */

static int node_index(rdirect_t *r, const char *host, int port)
{
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].port == port && strcmp(r->nodes[i].host, host) == 0)
            return (int)i;
    if (r->nnodes == MAX_NODES)
        return -1;
    node_t *n = &r->nodes[r->nnodes];
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->ctx = NULL;
    return (int)r->nnodes++;
}

static void node_drop(node_t *n)
{
    if (n->ctx)
        redisFree(n->ctx);
    n->ctx = NULL;
}

/* A reply that must not be an error; consumed. */
static int expect_ok(rdirect_t *r, redisContext *c, redisReply *rep, const char *what)
{
    int rc = 0;
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        set_err(r, "%s failed: %s", what, rep ? rep->str : c->errstr);
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

/* Connects (AUTH, SELECT), or NULL with r->err. */
static redisContext *connect_to(rdirect_t *r, const char *host, int port, const char *path)
{
    struct timeval ct = { CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000 };
    struct timeval tv = { COMMAND_TIMEOUT_MS / 1000, (COMMAND_TIMEOUT_MS % 1000) * 1000 };
    redisContext *c = path ? redisConnectUnixWithTimeout(path, ct)
                           : redisConnectWithTimeout(host, port, ct);
    if (!c || c->err) {
        if (path)
            set_err(r, "cannot connect to Redis %s: %s", path, c ? c->errstr : "out of memory");
        else
            set_err(r, "cannot connect to Redis %s:%d: %s", host, port,
                    c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (r->url.password[0]) {
        redisReply *rep = r->url.user[0]
            ? redisCommand(c, "AUTH %s %s", r->url.user, r->url.password)
            : redisCommand(c, "AUTH %s", r->url.password);
        if (expect_ok(r, c, rep, "AUTH") != 0) {
            redisFree(c);
            return NULL;
        }
    }
    if (!r->cluster && r->url.db != 0 &&
        expect_ok(r, c, redisCommand(c, "SELECT %d", r->url.db), "SELECT") != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static redisContext *node_ctx(rdirect_t *r, int i)
{
    node_t *n = &r->nodes[i];
    if (!n->ctx)
        n->ctx = connect_to(r, n->host, n->port, r->cluster || !r->url.is_unix ? NULL : r->url.path);
    return n->ctx;
}

/* Reloads the slot map from the first node that answers CLUSTER SLOTS:
 *   [[from, to, [host, port, id], replica...], ...] */
static int load_slots(rdirect_t *r)
{
    char why[512] = "no node known";
    for (size_t k = 0; k < r->nnodes; k++) {
        redisContext *c = node_ctx(r, (int)k);
        if (!c) {
            snprintf(why, sizeof why, "%s", r->err);
            continue;
        }
        redisReply *rep = redisCommand(c, "CLUSTER SLOTS");
        if (!rep) {
            snprintf(why, sizeof why, "CLUSTER SLOTS on %s:%d: %s", r->nodes[k].host,
                     r->nodes[k].port, c->errstr);
            node_drop(&r->nodes[k]);
            continue;
        }
        if (rep->type != REDIS_REPLY_ARRAY) {
            snprintf(why, sizeof why, "CLUSTER SLOTS on %s:%d: %s", r->nodes[k].host,
                     r->nodes[k].port, rep->type == REDIS_REPLY_ERROR ? rep->str : "not an array");
            freeReplyObject(rep);
            continue;
        }
        rds_slot_range_t *ranges = calloc(rep->elements ? rep->elements : 1, sizeof *ranges);
        int n = rds_slots_parse(rep, r->nodes[k].host, ranges, rep->elements, why, sizeof why);
        if (n < 0) {
            free(ranges);
            freeReplyObject(rep);
            continue;
        }
        for (size_t s = 0; s < NSLOTS; s++)
            r->owner[s] = -1;
        for (int e = 0; e < n; e++) {
            int idx = node_index(r, ranges[e].host, ranges[e].port);
            for (int s = ranges[e].start; s <= ranges[e].end && idx >= 0; s++)
                r->owner[s] = (short)idx;
        }
        free(ranges);
        freeReplyObject(rep);
        return 0;
    }
    set_err(r, "cannot load the slot map: %s", why);
    return -1;
}

/* The node for a command: the slot's master, or (keyless) any master. */
static int target_of(rdirect_t *r, const pending_t *pc)
{
    if (!r->cluster)
        return 0;
    if (!pc->keyless)
        return r->owner[pc->slot];
    for (size_t s = 0; s < NSLOTS; s++)
        if (r->owner[s] >= 0)
            return r->owner[s];
    return -1;
}

/* The node index a MOVED or ASK error points at (rds_redirect_parse), -1
 * when it is neither; from is the node that answered (its host when the
 * redirect names none). */
static int redirect_target(rdirect_t *r, const redisReply *rep, int from,
                           rds_redirect_kind_t *kind)
{
    rds_redirect_t rd;
    *kind = rds_redirect_parse(rep->str, rep->len, &rd);
    if (*kind == RDS_REDIRECT_NONE)
        return -1;
    return node_index(r, rd.host[0] ? rd.host : r->nodes[from].host, rd.port);
}

/* Errors that go away by themselves: a redirect, a migration or failover
 * under way (rds_slots_retryable_error), a node still loading. */
static bool transient(const redisReply *rep)
{
    rds_redirect_t rd;
    return rds_redirect_parse(rep->str, rep->len, &rd) != RDS_REDIRECT_NONE ||
           rds_slots_retryable_error(rep->str, rep->len) ||
           strncmp(rep->str, "LOADING", 7) == 0 || strncmp(rep->str, "MASTERDOWN", 10) == 0;
}

/* Runs one command to its end: follows MOVED and ASK, waits out TRYAGAIN,
 * CLUSTERDOWN, LOADING, MASTERDOWN and lost connections for up to
 * RDIRECT_RETRY_MS. Sets pc->reply, or pc->error. */
static void run_one(rdirect_t *r, pending_t *pc)
{
    long long deadline = now_ms() + RDIRECT_RETRY_MS;
    int node = -1, ask = -1, tries = 0;
    char last[512] = "";
    for (;; tries++) {
        if (tries > 0 && now_ms() >= deadline) {
            pc->error = strdup(last);
            return;
        }
        node = ask >= 0 ? ask : node >= 0 ? node : target_of(r, pc);
        if (node < 0) {
            if (load_slots(r) != 0)
                snprintf(last, sizeof last, "%s", r->err);
            node = target_of(r, pc);
            if (node < 0) {
                if (!last[0])
                    snprintf(last, sizeof last, "no master serves slot %u", pc->slot);
                sleep_ms(RETRY_PAUSE_MS);
                continue;
            }
        }
        redisContext *c = node_ctx(r, node);
        if (!c && !r->cluster) {
            pc->error = strdup(r->err);     /* one server: the test sees it */
            return;
        }
        if (!c) {
            snprintf(last, sizeof last, "%s", r->err);
            node = ask = -1;
            load_slots(r);
            sleep_ms(RETRY_PAUSE_MS);
            continue;
        }
        bool asking = ask >= 0;
        ask = -1;
        if (asking)
            redisAppendCommand(c, "ASKING");
        redisAppendFormattedCommand(c, pc->cmd, pc->len);
        redisReply *rep = NULL;
        if (asking) {
            redisReply *ok = NULL;
            if (redisGetReply(c, (void **)&ok) == REDIS_OK)
                freeReplyObject(ok);
        }
        if (redisGetReply(c, (void **)&rep) != REDIS_OK) {
            snprintf(last, sizeof last, "%s:%d: %s", r->nodes[node].host, r->nodes[node].port,
                     c->errstr);
            node_drop(&r->nodes[node]);
            if (!r->cluster) {
                /* One server: nothing to fail over to; the test sees it. */
                pc->error = strdup(last);
                return;
            }
            node = -1;
            load_slots(r);
            sleep_ms(RETRY_PAUSE_MS);
            continue;
        }
        if (!r->cluster || rep->type != REDIS_REPLY_ERROR) {
            pc->reply = rep;
            return;
        }
        snprintf(last, sizeof last, "%s:%d: %s", r->nodes[node].host, r->nodes[node].port,
                 rep->str);
        rds_redirect_kind_t kind;
        int target = redirect_target(r, rep, node, &kind);
        if (kind == RDS_REDIRECT_MOVED) {
            node = target;
            load_slots(r);        /* the slot moved: others may have too */
        } else if (kind == RDS_REDIRECT_ASK) {
            ask = target;
        } else if (transient(rep)) {
            node = -1;
            sleep_ms(RETRY_PAUSE_MS);
            load_slots(r);
        } else {
            pc->reply = rep;      /* a real error: the test judges it */
            return;
        }
        freeReplyObject(rep);
    }
}

/* --- the pipeline ----------------------------------------------------------- */

static void pending_free(pending_t *pc)
{
    redisFreeCommand(pc->cmd);
    if (pc->reply)
        freeReplyObject(pc->reply);
    free(pc->error);
    memset(pc, 0, sizeof *pc);
}

static void queue_reset(rdirect_t *r)
{
    for (size_t i = 0; i < r->nqueue; i++)
        pending_free(&r->queue[i]);
    r->nqueue = r->qnext = 0;
    r->qsent = false;
}

/* Sends the queue: per node, every command of that node in one write,
 * then its replies; a redirected or failed one is run again alone. */
static void queue_send(rdirect_t *r)
{
    if (r->cluster && load_slots(r) != 0) {
        for (size_t i = 0; i < r->nqueue; i++)
            run_one(r, &r->queue[i]);
        return;
    }
    bool *sent = calloc(r->nqueue ? r->nqueue : 1, sizeof *sent);
    for (size_t i = 0; i < r->nqueue; i++) {
        int node = target_of(r, &r->queue[i]);
        if (sent[i] || node < 0)
            continue;
        redisContext *c = node_ctx(r, node);
        if (!c)
            continue;
        size_t n = 0;
        for (size_t k = i; k < r->nqueue; k++)
            if (!sent[k] && target_of(r, &r->queue[k]) == node) {
                redisAppendFormattedCommand(c, r->queue[k].cmd, r->queue[k].len);
                n++;
            }
        bool broken = false;
        for (size_t k = i; k < r->nqueue && n > 0; k++) {
            if (sent[k] || target_of(r, &r->queue[k]) != node)
                continue;
            n--;
            sent[k] = true;
            redisReply *rep = NULL;
            if (broken || redisGetReply(c, (void **)&rep) != REDIS_OK) {
                broken = true;     /* the rest of this node's are run alone */
                continue;
            }
            if (r->cluster && rep->type == REDIS_REPLY_ERROR && transient(rep)) {
                freeReplyObject(rep);
                continue;
            }
            r->queue[k].reply = rep;
        }
        if (broken)
            node_drop(&r->nodes[node]);
    }
    free(sent);
    for (size_t i = 0; i < r->nqueue; i++)
        if (!r->queue[i].reply)
            run_one(r, &r->queue[i]);
}

static int enqueue(rdirect_t *r, char *cmd, int len)
{
    if (len < 0) {
        set_err(r, "cannot format the command");
        return REDIS_ERR;
    }
    if (r->qsent)
        queue_reset(r);      /* an earlier batch that was not read to its end */
    if (r->nqueue == r->qcap) {
        r->qcap = r->qcap ? r->qcap * 2 : 64;
        r->queue = realloc(r->queue, r->qcap * sizeof *r->queue);
        if (!r->queue)
            abort();
    }
    pending_t *pc = &r->queue[r->nqueue++];
    memset(pc, 0, sizeof *pc);
    pc->cmd = cmd;
    pc->len = (size_t)len;
    classify(pc);
    return REDIS_OK;
}

int rdirect_append(rdirect_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    return enqueue(r, cmd, len);
}

int rdirect_get_reply(rdirect_t *r, redisReply **reply)
{
    *reply = NULL;
    if (r->qnext >= r->nqueue) {
        set_err(r, "rdirect_get_reply without a command appended");
        return REDIS_ERR;
    }
    if (!r->qsent) {
        queue_send(r);
        r->qsent = true;
    }
    pending_t *pc = &r->queue[r->qnext++];
    int rc = REDIS_OK;
    if (pc->reply) {
        *reply = pc->reply;
        pc->reply = NULL;
    } else {
        set_err(r, "%s", pc->error ? pc->error : "no reply");
        rc = REDIS_ERR;
    }
    if (r->qnext == r->nqueue)
        queue_reset(r);
    return rc;
}

redisReply *rdirect_vcommand(rdirect_t *r, const char *fmt, va_list ap)
{
    pending_t pc = { 0 };
    int len = redisvFormatCommand(&pc.cmd, fmt, ap);
    if (len < 0) {
        set_err(r, "cannot format the command");
        return NULL;
    }
    pc.len = (size_t)len;
    classify(&pc);
    run_one(r, &pc);
    redisReply *rep = pc.reply;
    pc.reply = NULL;
    if (!rep)
        set_err(r, "%s", pc.error ? pc.error : "no reply");
    pending_free(&pc);
    return rep;
}

redisReply *rdirect_command(rdirect_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = rdirect_vcommand(r, fmt, ap);
    va_end(ap);
    return rep;
}

/* --- opening ------------------------------------------------------------------- */

bool rdirect_url_is_cluster(const char *url)
{
    return url && strncmp(url, "redis-cluster://", 16) == 0;
}

/* The seeds of a redis-cluster:// URL, parsed as feedcached parses it. */
static int parse_cluster_url(rdirect_t *r, const char *url)
{
    char why[256];
    if (rds_url_parse(url, &r->url, why, sizeof why) != 0) {
        set_err(r, "bad Redis URL '%s': %s", url, why);
        return -1;
    }
    for (int i = 0; i < r->url.nseeds; i++) {
        if (node_index(r, r->url.seeds[i].host, r->url.seeds[i].port) < 0) {
            set_err(r, "more than %d seeds", MAX_NODES);
            return -1;
        }
    }
    return 0;
}

rdirect_t *rdirect_open(const char *url, char *err, size_t errlen)
{
    rdirect_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    for (size_t s = 0; s < NSLOTS; s++)
        r->owner[s] = -1;
    r->cluster = rdirect_url_is_cluster(url);
    int rc;
    if (r->cluster) {
        rc = parse_cluster_url(r, url);
        if (rc == 0)
            rc = load_slots(r);
    } else {
        char why[256];
        rc = rds_url_parse(url, &r->url, why, sizeof why);
        if (rc != 0) {
            set_err(r, "bad Redis URL '%s': %s", url, why);
        } else {
            node_index(r, r->url.host, r->url.port);
            rc = node_ctx(r, 0) ? 0 : -1;
        }
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s", r->err);
        rdirect_close(r);
        return NULL;
    }
    return r;
}

rdirect_t *rdirect_open_env(char *err, size_t errlen)
{
    const char *url = getenv("FEEDCACHE_TEST_REDIS_URL");
    if (!url || !*url) {
        snprintf(err, errlen, "FEEDCACHE_TEST_REDIS_URL is not set (scripts/services.sh start "
                 "DIR, then source DIR/env)");
        return NULL;
    }
    return rdirect_open(url, err, errlen);
}

void rdirect_close(rdirect_t *r)
{
    if (!r)
        return;
    queue_reset(r);
    free(r->queue);
    for (size_t i = 0; i < r->nnodes; i++)
        node_drop(&r->nodes[i]);
    free(r);
}

bool rdirect_is_cluster(const rdirect_t *r)
{
    return r->cluster;
}

const char *rdirect_error(const rdirect_t *r)
{
    return r->err;
}

/* --- every master --------------------------------------------------------------- */

/* The indexes of the nodes serving slots (every master), at most MAX_NODES;
 * just node 0 on one server. */
static size_t masters(rdirect_t *r, int *out)
{
    if (!r->cluster) {
        out[0] = 0;
        return 1;
    }
    bool seen[MAX_NODES] = { false };
    size_t n = 0;
    for (size_t s = 0; s < NSLOTS; s++) {
        int o = r->owner[s];
        if (o >= 0 && !seen[o]) {
            seen[o] = true;
            out[n++] = o;
        }
    }
    return n;
}

int rdirect_each_master(rdirect_t *r, const char *command, char *err, size_t errlen)
{
    if (r->cluster && load_slots(r) != 0) {
        snprintf(err, errlen, "%s", r->err);
        return -1;
    }
    int idx[MAX_NODES];
    size_t n = masters(r, idx);
    for (size_t i = 0; i < n; i++) {
        redisContext *c = node_ctx(r, idx[i]);
        redisReply *rep = c ? redisCommand(c, command) : NULL;
        if (!c || expect_ok(r, c, rep, command) != 0) {
            snprintf(err, errlen, "Redis %s:%d: %s", r->nodes[idx[i]].host, r->nodes[idx[i]].port,
                     r->err);
            node_drop(&r->nodes[idx[i]]);
            return -1;
        }
    }
    return 0;
}

int rdirect_flushdb(rdirect_t *r, char *err, size_t errlen)
{
    return rdirect_each_master(r, "FLUSHDB", err, errlen);
}

long long rdirect_info_sum(rdirect_t *r, const char *field)
{
    if (r->cluster && load_slots(r) != 0)
        return -1;
    int idx[MAX_NODES];
    size_t n = masters(r, idx);
    long long sum = 0;
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\n%s:", field);
    for (size_t i = 0; i < n; i++) {
        redisContext *c = node_ctx(r, idx[i]);
        redisReply *rep = c ? redisCommand(c, "INFO") : NULL;
        const char *p = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, pattern) : NULL;
        if (!p) {
            set_err(r, "INFO %s: not answered by %s:%d", field, r->nodes[idx[i]].host,
                    r->nodes[idx[i]].port);
            freeReplyObject(rep);
            return -1;
        }
        sum += strtoll(p + strlen(pattern), NULL, 10);
        freeReplyObject(rep);
    }
    return sum;
}

int rdirect_slot_master(rdirect_t *r, unsigned slot, char *addr, size_t addrlen)
{
    if (!r->cluster) {
        snprintf(addr, addrlen, "%s:%d", r->nodes[0].host, r->nodes[0].port);
        return 0;
    }
    if (load_slots(r) != 0 || slot >= NSLOTS || r->owner[slot] < 0)
        return -1;
    const node_t *n = &r->nodes[r->owner[slot]];
    snprintf(addr, addrlen, "%s:%d", n->host, n->port);
    return 0;
}

/* The Redis Cluster fault tests' world (see faults_cluster.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "faults_cluster.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "oracle_db.h"

/* --- setup ------------------------------------------------------------------ */

int fcl_setup(void **state)
{
    fcl_t *cl = calloc(1, sizeof *cl);
    *state = cl;
    if (!cl)
        return -1;
    /* services.sh starts the cluster beside the pair; its stop stops both. */
    setenv("FC_CLUSTER", "1", 1);
    void *fs = NULL;
    int rc = faults_setup(&fs);
    unsetenv("FC_CLUSTER");
    cl->f = fs;
    if (rc != 0)
        return -1;
    char env[256], ports[256];
    snprintf(env, sizeof env, "%s/env", cl->f->s.dir);
    if (!faults_read_assignment(env, "FEEDCACHE_TEST_REDIS_CLUSTER_URL", cl->url, sizeof cl->url) ||
        !faults_read_assignment(env, "FEEDCACHE_TEST_REDIS_CLUSTER_PORTS", ports, sizeof ports) ||
        sscanf(ports, "%d %d %d %d %d %d", &cl->ports[0], &cl->ports[1], &cl->ports[2],
               &cl->ports[3], &cl->ports[4], &cl->ports[5]) != FCL_NODES) {
        fprintf(stderr, "faults: no cluster in %s\n", env);
        return -1;
    }
    setenv("FEEDCACHE_TEST_REDIS_URL", cl->url, 1);
    char err[512];
    cl->rd = rdirect_open(cl->url, err, sizeof err);
    if (!cl->rd) {
        fprintf(stderr, "faults: %s\n", err);
        return -1;
    }
    return 0;
}

int fcl_teardown(void **state)
{
    fcl_t *cl = *state;
    if (!cl)
        return 0;
    int rc = 0;
    for (size_t i = 0; i < sizeof cl->more / sizeof cl->more[0]; i++) {
        if (cl->more_c[i])
            fc_client_close(cl->more_c[i]);
        if (cl->more[i] && harness_daemon_finish(cl->more[i], cl->f && cl->f->finished) != 0)
            rc = -1;
    }
    rdirect_close(cl->rd);
    void *fs = cl->f;
    if (fs && faults_teardown(&fs) != 0)
        rc = -1;
    free(cl);
    return rc;
}

/* --- the cluster ------------------------------------------------------------- */

static redisContext *node_connect(int port)
{
    struct timeval tv = { .tv_sec = 2 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* One line of CLUSTER NODES:
 *   <id> <ip:port@bus> <flags> <master|-> <ping> <pong> <epoch> <link> <slot>... */
static bool parse_node(char *line, fcl_node_t *n)
{
    memset(n, 0, sizeof *n);
    char *save = NULL;
    int k = 0;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save), k++) {
        if (k == 0) {
            snprintf(n->id, sizeof n->id, "%s", t);
        } else if (k == 1) {
            const char *colon = strrchr(t, ':');
            n->port = colon ? atoi(colon + 1) : 0;
        } else if (k == 2) {
            n->master = strstr(t, "master") != NULL;
            n->failed = strstr(t, "fail") != NULL;
        } else if (k == 3) {
            if (strcmp(t, "-") != 0)
                snprintf(n->master_id, sizeof n->master_id, "%s", t);
        } else if (k >= 8 && t[0] != '[') {
            /* Slots: "0-5460" or "5461"; "[slot->-id]" while migrating. */
            int a, b;
            if (sscanf(t, "%d-%d", &a, &b) == 2)
                n->slots += b - a + 1;
            else
                n->slots += 1;
        }
    }
    return k >= 8 && n->port > 0;
}

size_t fcl_nodes(const fcl_t *cl, int port, fcl_node_t *out, size_t cap)
{
    (void)cl;
    redisContext *c = node_connect(port);
    if (!c)
        return 0;
    redisReply *rep = redisCommand(c, "CLUSTER NODES");
    size_t n = 0;
    if (rep && rep->type == REDIS_REPLY_STRING) {
        char *save = NULL;
        for (char *line = strtok_r(rep->str, "\n", &save); line && n < cap;
             line = strtok_r(NULL, "\n", &save)) {
            char copy[4096];
            snprintf(copy, sizeof copy, "%s", line);
            copy[strcspn(copy, "\r")] = '\0';
            if (parse_node(copy, &out[n]))
                n++;
        }
    }
    freeReplyObject(rep);
    redisFree(c);
    return n;
}

size_t fcl_view(const fcl_t *cl, fcl_node_t *out, size_t cap)
{
    for (int i = 0; i < FCL_NODES; i++) {
        pid_t pid = fcl_node_pid(cl, cl->ports[i]);
        if (pid <= 0 || kill(pid, 0) != 0)
            continue;
        size_t n = fcl_nodes(cl, cl->ports[i], out, cap);
        if (n > 0)
            return n;
    }
    fail_msg("no cluster node answers CLUSTER NODES");
    return 0;
}

int fcl_master_of_slot(fcl_t *cl, unsigned slot)
{
    char addr[300];
    if (rdirect_slot_master(cl->rd, slot, addr, sizeof addr) != 0)
        fail_msg("no master serves slot %u: %s", slot, rdirect_error(cl->rd));
    const char *colon = strrchr(addr, ':');
    return colon ? atoi(colon + 1) : -1;
}

static const fcl_node_t *by_port(const fcl_node_t *v, size_t n, int port)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].port == port)
            return &v[i];
    return NULL;
}

int fcl_replica_of(const fcl_t *cl, int master_port)
{
    fcl_node_t v[16];
    size_t n = fcl_view(cl, v, 16);
    const fcl_node_t *m = by_port(v, n, master_port);
    if (!m || !m->master)
        fail_msg("127.0.0.1:%d is not a master", master_port);
    for (size_t i = 0; i < n; i++)
        if (!v[i].master && !v[i].failed && strcmp(v[i].master_id, m->id) == 0)
            return v[i].port;
    fail_msg("the master 127.0.0.1:%d has no replica", master_port);
    return -1;
}

pid_t fcl_node_pid(const fcl_t *cl, int port)
{
    char path[256];
    snprintf(path, sizeof path, "%s/cluster/%d/redis.pid", cl->f->s.dir, port);
    return faults_read_pid_file(path);
}

void fcl_reshard(fcl_t *cl, int from_port, int to_port, int n)
{
    fcl_node_t v[16];
    size_t nv = fcl_view(cl, v, 16);
    const fcl_node_t *from = by_port(v, nv, from_port), *to = by_port(v, nv, to_port);
    if (!from || !to || !from->master || !to->master)
        fail_msg("reshard: 127.0.0.1:%d and 127.0.0.1:%d must both be masters", from_port,
                 to_port);
    int before = to->slots;
    char log[256], cmd[1024];
    snprintf(log, sizeof log, "%s/reshard.log", cl->f->s.dir);
    /* --cluster-pipeline: keys moved per MIGRATE; the default (10) would
     * make a reshard of our few thousand keys take longer than the test. */
    snprintf(cmd, sizeof cmd, "redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s "
             "--cluster-to %s --cluster-slots %d --cluster-yes --cluster-timeout 10000 "
             "--cluster-pipeline 100 >'%s' 2>&1", from_port, from->id, to->id, n, log);
    long long t0 = faults_now_ms();
    int st = system(cmd);
    if (st != 0) {
        faults_dump_file(log);
        fail_msg("redis-cli --cluster reshard %d slots %d -> %d failed (status %d)", n,
                 from_port, to_port, st);
    }
    nv = fcl_nodes(cl, to_port, v, 16);
    to = by_port(v, nv, to_port);
    if (!to || to->slots != before + n) {
        faults_dump_file(log);
        fail_msg("reshard: 127.0.0.1:%d serves %d slots, expected %d + %d", to_port,
                 to ? to->slots : -1, before, n);
    }
    /* The other nodes learn the new owners by gossip: redis-cli refuses to
     * reshard again until every node agrees, and so would the next step. */
    long long agreed = fcl_wait_ok(cl, 10000);
    fprintf(stderr, "reshard: %d slots 127.0.0.1:%d -> 127.0.0.1:%d in %lld ms (every node "
            "agreeing %lld ms later)\n", n, from_port, to_port, faults_now_ms() - t0 - agreed,
            agreed);
}

static bool node_is_master(int port)
{
    redisContext *c = node_connect(port);
    if (!c)
        return false;
    redisReply *rep = redisCommand(c, "ROLE");
    bool m = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
             rep->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(rep->element[0]->str, "master") == 0;
    freeReplyObject(rep);
    redisFree(c);
    return m;
}

void fcl_failover(fcl_t *cl, int replica_port)
{
    redisContext *c = node_connect(replica_port);
    if (!c)
        fail_msg("failover: 127.0.0.1:%d does not answer", replica_port);
    redisReply *rep = redisCommand(c, "CLUSTER FAILOVER");
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        fail_msg("CLUSTER FAILOVER on 127.0.0.1:%d: %s", replica_port, rep ? rep->str : c->errstr);
    freeReplyObject(rep);
    redisFree(c);
    long long t0 = faults_now_ms();
    while (!node_is_master(replica_port)) {
        if (faults_now_ms() - t0 > 10000)
            fail_msg("failover: 127.0.0.1:%d is not a master 10 s after CLUSTER FAILOVER",
                     replica_port);
        faults_sleep_ms(20);
    }
    fprintf(stderr, "failover: 127.0.0.1:%d is a master after %lld ms\n", replica_port,
            faults_now_ms() - t0);
    fcl_wait_ok(cl, 10000);
}

void fcl_kill(fcl_t *cl, int port)
{
    pid_t pid = fcl_node_pid(cl, port);
    if (pid <= 0 || kill(pid, SIGKILL) != 0)
        fail_msg("no cluster node to kill on port %d", port);
    if (!faults_wait_gone(pid, 10000))
        fail_msg("cluster node %d (pid %d) did not die", port, (int)pid);
}

static bool node_ok(int port)
{
    redisContext *c = node_connect(port);
    if (!c)
        return false;
    redisReply *rep = redisCommand(c, "CLUSTER INFO");
    bool ok = rep && rep->type == REDIS_REPLY_STRING &&
              strstr(rep->str, "cluster_state:ok") && strstr(rep->str, "cluster_slots_ok:16384");
    freeReplyObject(rep);
    redisFree(c);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Who serves which slots, as the node on `port` sees it: its CLUSTER NODES
 * reduced to "<master id> <slot ranges>" lines, sorted (flags such as
 * "myself" differ from node to node, the slot map must not). */
static bool slot_map_of(int port, char *out, size_t cap)
{
    redisContext *c = node_connect(port);
    if (!c)
        return false;
    redisReply *rep = redisCommand(c, "CLUSTER NODES");
    redisFree(c);
    if (!rep || rep->type != REDIS_REPLY_STRING) {
        freeReplyObject(rep);
        return false;
    }
    char *lines[64];
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(rep->str, "\n", &save); line && n < 64;
         line = strtok_r(NULL, "\n", &save)) {
        char *tok[64], *s2 = NULL;
        int k = 0;
        for (char *t = strtok_r(line, " \r", &s2); t && k < 64; t = strtok_r(NULL, " \r", &s2))
            tok[k++] = t;
        if (k < 9 || !strstr(tok[2], "master") || strstr(tok[2], "fail"))
            continue;
        char buf[2048];
        size_t len = (size_t)snprintf(buf, sizeof buf, "%s", tok[0]);
        for (int i = 8; i < k && len < sizeof buf; i++)
            if (tok[i][0] != '[')
                len += (size_t)snprintf(buf + len, sizeof buf - len, " %s", tok[i]);
        lines[n++] = strdup(buf);
    }
    freeReplyObject(rep);
    qsort(lines, n, sizeof *lines, cmp_str);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s\n", lines[i]);
        free(lines[i]);
    }
    return n > 0;
}

long long fcl_wait_ok(const fcl_t *cl, int timeout_ms)
{
    long long t0 = faults_now_ms();
    char first[8192], other[8192];
    for (;;) {
        bool all = true, have_first = false;
        for (int i = 0; i < FCL_NODES && all; i++) {
            pid_t pid = fcl_node_pid(cl, cl->ports[i]);
            if (pid <= 0 || kill(pid, 0) != 0)
                continue;
            all = node_ok(cl->ports[i]);
            if (all && !have_first)
                all = have_first = slot_map_of(cl->ports[i], first, sizeof first);
            else if (all)
                all = slot_map_of(cl->ports[i], other, sizeof other) && strcmp(first, other) == 0;
        }
        if (all)
            return faults_now_ms() - t0;
        if (faults_now_ms() - t0 > timeout_ms)
            fail_msg("the cluster is not ok (cluster_state ok, all slots served, every node "
                     "agreeing on the slot map) within %d ms", timeout_ms);
        faults_sleep_ms(50);
    }
}

/* --- the world ----------------------------------------------------------------- */

void fcl_world(fcl_t *cl, fc_client_t *c, int nusers, int nauthors, int per_user, int old_posts,
               int64_t base_ms)
{
    faults_t *f = cl->f;
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM generate_series(1, %d) g",
               nusers);
    for (int k = 0; k < per_user; k++)
        faults_sql(f, "INSERT INTO follows (follower_id, followee_id) SELECT g, "
                      "1 + ((g * 7 + %d * 13) %% %d) FROM generate_series(1, %d) g "
                      "WHERE 1 + ((g * 7 + %d * 13) %% %d) <> g ON CONFLICT DO NOTHING",
                   k, nauthors, nusers, k, nauthors);
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 1000000 + g, "
                  "1 + (g %% %d), 'epoch'::timestamptz + (%" PRId64 " - 1000000 + g) * "
                  "interval '1 millisecond', 'post ' || (1000000 + g) FROM generate_series(0, %d) g",
               nauthors, base_ms, nauthors * old_posts - 1);
    long long t0 = faults_now_ms();
    char err[512];
    for (int u = 1; u <= nusers; u++) {
        int64_t ids[8];
        size_t n;
        if (faults_read(c, u, 5, ids, 8, &n, NULL, err, sizeof err) != 0)
            fail_msg("first read of user %d: %s", u, err);
    }
    fprintf(stderr, "world: %d users, %d authors, %d follows each, %d old posts each; "
            "every feed built in %lld ms\n", nusers, nauthors, per_user, old_posts,
            faults_now_ms() - t0);
}

size_t fcl_check_all(fcl_t *cl, fc_client_t *c, int nusers, const char *phase)
{
    const odb_walk_opts_t opts = { .limit = 50, .hydrate = true };
    size_t bad = 0;
    long long t0 = faults_now_ms();
    char err[8192];
    for (int u = 1; u <= nusers; u++) {
        if (odb_check_user(cl->f->pg, c, u, &opts, NULL, err, sizeof err) == 0)
            continue;
        if (bad < 5)
            fprintf(stderr, "ORACLE MISMATCH [%s] %s\n", phase, err);
        bad++;
    }
    fprintf(stderr, "oracle [%s]: %d users, %zu differ, %lld ms\n", phase, nusers, bad,
            faults_now_ms() - t0);
    return bad;
}

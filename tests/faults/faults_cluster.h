/* The Redis Cluster fault tests' world (test_cluster_*.c): faults.h's
 * private PostgreSQL, plus a private Redis Cluster of 3 masters and 3
 * replicas (FC_CLUSTER=1 scripts/services.sh start <dir>), which the tests
 * reshard, fail over and kill nodes of while feedcached serves traffic.
 *
 * fcl_setup() points harness_daemon_start() at the cluster
 * (FEEDCACHE_TEST_REDIS_URL=redis-cluster://...), so faults_start() and
 * faults_daemon_start() run feedcached on it; fcl_teardown() stops the
 * daemons and every server by PID (services.sh stop), also after a failure.
 *
 * The tests run traffic (faults_traffic.h) while they do that, then compare
 * every timeline with PostgreSQL (the oracle of tests/integration/oracle_db.h). */
#ifndef FC_TESTS_FAULTS_CLUSTER_H
#define FC_TESTS_FAULTS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "faults.h"
#include "faults_traffic.h"
#include "redis_direct.h"

#define FCL_NODES 6

typedef struct {
    faults_t *f;               /* PostgreSQL (f->pg), the daemon f->d / f->c */
    char url[512];             /* redis-cluster://seed,seed,seed */
    int ports[FCL_NODES];
    rdirect_t *rd;             /* routed, for looking behind the daemons' backs */
    harness_daemon_t *more[4]; /* further daemons (stopped by the teardown) */
    fc_client_t *more_c[4];
} fcl_t;

/* cmocka setup/teardown: PostgreSQL + the cluster, no daemon. */
int fcl_setup(void **state);
int fcl_teardown(void **state);

/* --- the cluster ------------------------------------------------------------ */

typedef struct {
    char id[48];
    int port;
    bool master;
    bool failed;               /* flagged fail or fail? */
    char master_id[48];        /* a replica's master, "" for a master */
    int slots;                 /* slots it serves (masters) */
} fcl_node_t;

/* The cluster as the node on `port` sees it (CLUSTER NODES); the count, or
 * 0 when that node does not answer. */
size_t fcl_nodes(const fcl_t *cl, int port, fcl_node_t *out, size_t cap);
/* The same from the first live node; fails the test when none answers. */
size_t fcl_view(const fcl_t *cl, fcl_node_t *out, size_t cap);
/* The port of the master serving `slot` now; fails the test when none. */
int fcl_master_of_slot(fcl_t *cl, unsigned slot);
/* A replica of the master on `port`; fails the test when it has none. */
int fcl_replica_of(const fcl_t *cl, int master_port);
/* The node's redis-server process (by its pid file). */
pid_t fcl_node_pid(const fcl_t *cl, int port);

/* redis-cli --cluster reshard of n slots from one master to another;
 * fails the test unless it exits 0 and the target then serves n more;
 * returns once every node agrees on the new slot map (fcl_wait_ok). */
void fcl_reshard(fcl_t *cl, int from_port, int to_port, int n);
/* CLUSTER FAILOVER on a replica; fails the test unless it is a master
 * within 10 s and the cluster is ok again. */
void fcl_failover(fcl_t *cl, int replica_port);
/* SIGKILL of a node by PID, waiting until it is gone. */
void fcl_kill(fcl_t *cl, int port);
/* Waits until every live node says cluster_state:ok, all 16384 slots are
 * served, and the nodes agree on which master serves which; returns how
 * long that took, fails the test after timeout_ms. */
long long fcl_wait_ok(const fcl_t *cl, int timeout_ms);

/* --- a world on the cluster, and the oracle ------------------------------- */

/* Users 1..nusers; authors are users 1..nauthors; user u follows `per_user`
 * authors spread by u; each author has `old_posts` posts before base_ms
 * (ids 1,000,000 + ...). Then every user's timeline is read once through c
 * (so every home feed exists) and must succeed. */
void fcl_world(fcl_t *cl, fc_client_t *c, int nusers, int nauthors, int per_user, int old_posts,
               int64_t base_ms);

/* Every timeline of users 1..nusers walked through c and compared with
 * PostgreSQL (odb_check_user); prints the first mismatches; the count of
 * users whose walk differs. */
size_t fcl_check_all(fcl_t *cl, fc_client_t *c, int nusers, const char *phase);

#endif

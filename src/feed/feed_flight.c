#include "feed/feed_flight.h"

#include <stdlib.h>

typedef struct waiter {
    feed_rebuild_fn *cb;
    void *arg;
    struct waiter *next;
} waiter_t;

struct feed_flight {
    feed_flight_kind_t kind;
    int64_t id;
    waiter_t *waiters;
    waiter_t **tail;
    feed_flight_t *next;
};

static size_t bucket(feed_flight_kind_t kind, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ULL ^ (uint64_t)kind;
    return (size_t)(h >> 54) % FEED_FLIGHT_BUCKETS;
}

void feed_flight_init(feed_engine_t *e)
{
    e->flights = fc_xcalloc(FEED_FLIGHT_BUCKETS, sizeof *e->flights);
}

void feed_flight_free(feed_engine_t *e)
{
    if (!e->flights)
        return;
    for (size_t i = 0; i < FEED_FLIGHT_BUCKETS; i++) {
        feed_flight_t *f = e->flights[i];
        while (f) {
            feed_flight_t *next = f->next;
            for (waiter_t *w = f->waiters, *wn; w; w = wn) {
                wn = w->next;
                free(w);
            }
            free(f);
            f = next;
        }
    }
    free(e->flights);
    e->flights = NULL;
}

int feed_flight_join(feed_engine_t *e, feed_flight_kind_t kind, int64_t id, feed_rebuild_fn *cb,
                     void *arg)
{
    size_t b = bucket(kind, id);
    waiter_t *w = fc_xmalloc(sizeof *w);
    w->cb = cb;
    w->arg = arg;
    w->next = NULL;
    for (feed_flight_t *f = e->flights[b]; f; f = f->next) {
        if (f->kind == kind && f->id == id) {
            *f->tail = w;
            f->tail = &w->next;
            return 0;
        }
    }
    feed_flight_t *f = fc_xcalloc(1, sizeof *f);
    f->kind = kind;
    f->id = id;
    f->waiters = w;
    f->tail = &w->next;
    f->next = e->flights[b];
    e->flights[b] = f;
    return 1;
}

void feed_flight_finish(feed_engine_t *e, feed_flight_kind_t kind, int64_t id,
                        feed_rebuild_status_t status)
{
    size_t b = bucket(kind, id);
    feed_flight_t **pp = &e->flights[b];
    while (*pp && !((*pp)->kind == kind && (*pp)->id == id))
        pp = &(*pp)->next;
    feed_flight_t *f = *pp;
    if (!f)
        return;
    *pp = f->next;              /* unlinked first: a waiter may start a new flight */
    waiter_t *w = f->waiters;
    free(f);
    while (w) {
        waiter_t *next = w->next;
        w->cb(status, w->arg);
        free(w);
        w = next;
    }
}

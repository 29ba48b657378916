#include "feed/feed_flight.h"

#include <stdlib.h>

#include "util/buf.h"

typedef struct waiter {
    feed_flight_fn *cb;
    void *arg;
    struct waiter *next;
} waiter_t;

typedef struct flight {
    feed_flight_kind_t kind;
    int64_t id;
    waiter_t *waiters;
    waiter_t **tail;
    struct flight *next;
} flight_t;

struct feed_flights {
    flight_t *buckets[FEED_FLIGHT_BUCKETS];
};

static size_t bucket(feed_flight_kind_t kind, int64_t id)
{
    /* The kind goes in before the multiply, so that it reaches the top bits. */
    uint64_t h = ((uint64_t)id * 2 + (uint64_t)kind) * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 54) % FEED_FLIGHT_BUCKETS;
}

feed_flights_t *feed_flights_new(void)
{
    return fc_xcalloc(1, sizeof(feed_flights_t));
}

void feed_flights_free(feed_flights_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < FEED_FLIGHT_BUCKETS; i++) {
        flight_t *f = t->buckets[i];
        while (f) {
            flight_t *next = f->next;
            for (waiter_t *w = f->waiters, *wn; w; w = wn) {
                wn = w->next;
                free(w);
            }
            free(f);
            f = next;
        }
    }
    free(t);
}

bool feed_flight_running(const feed_flights_t *t, feed_flight_kind_t kind, int64_t id)
{
    for (const flight_t *f = t->buckets[bucket(kind, id)]; f; f = f->next)
        if (f->kind == kind && f->id == id)
            return true;
    return false;
}

int feed_flight_join(feed_flights_t *t, feed_flight_kind_t kind, int64_t id, feed_flight_fn *cb,
                     void *arg)
{
    size_t b = bucket(kind, id);
    waiter_t *w = fc_xmalloc(sizeof *w);
    w->cb = cb;
    w->arg = arg;
    w->next = NULL;
    for (flight_t *f = t->buckets[b]; f; f = f->next) {
        if (f->kind == kind && f->id == id) {
            *f->tail = w;
            f->tail = &w->next;
            return 0;
        }
    }
    flight_t *f = fc_xcalloc(1, sizeof *f);
    f->kind = kind;
    f->id = id;
    f->waiters = w;
    f->tail = &w->next;
    f->next = t->buckets[b];
    t->buckets[b] = f;
    return 1;
}

void feed_flight_finish(feed_flights_t *t, feed_flight_kind_t kind, int64_t id, int status)
{
    flight_t **pp = &t->buckets[bucket(kind, id)];
    while (*pp && !((*pp)->kind == kind && (*pp)->id == id))
        pp = &(*pp)->next;
    flight_t *f = *pp;
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

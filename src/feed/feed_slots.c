#include "feed/feed_slots.h"

#include <stdlib.h>

#include "store/redis/rds_keys.h"
#include "util/buf.h"

typedef struct {
    unsigned slot;
    int64_t id;
    size_t index;              /* the id's place in the caller's list */
} slot_id_t;

static int by_slot(const void *pa, const void *pb)
{
    const slot_id_t *a = pa, *b = pb;
    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* ids[0..n) with their slots, ordered by (slot, id, index); n > 0. */
static slot_id_t *sorted_by_slot(const int64_t *ids, size_t n, const char *prefix,
                                 feed_key_fn *key)
{
    slot_id_t *v = fc_xmalloc(n * sizeof *v);
    char k[RDS_KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t len = key(k, sizeof k, prefix, ids[i]);
        v[i] = (slot_id_t){ len ? rds_key_slot(k, len) : 0, ids[i], i };
    }
    qsort(v, n, sizeof *v, by_slot);
    return v;
}

void feed_slots_sort(int64_t *ids, unsigned *slots, size_t n, const char *prefix,
                     feed_key_fn *key)
{
    if (n == 0)
        return;
    slot_id_t *v = sorted_by_slot(ids, n, prefix, key);
    for (size_t i = 0; i < n; i++) {
        ids[i] = v[i].id;
        slots[i] = v[i].slot;
    }
    free(v);
}

void feed_slots_order(const int64_t *ids, size_t *order, unsigned *slots, size_t n,
                      const char *prefix, feed_key_fn *key)
{
    if (n == 0)
        return;
    slot_id_t *v = sorted_by_slot(ids, n, prefix, key);
    for (size_t i = 0; i < n; i++) {
        order[i] = v[i].index;
        slots[i] = v[i].slot;
    }
    free(v);
}

size_t feed_slots_run(const unsigned *slots, size_t n, size_t max)
{
    size_t i = 0;
    while (i < n && i < max && slots[i] == slots[0])
        i++;
    return i;
}

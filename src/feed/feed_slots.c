#include "feed/feed_slots.h"

#include <stdlib.h>

#include "store/redis/rds_keys.h"
#include "util/buf.h"

typedef struct {
    unsigned slot;
    int64_t id;
} slot_id_t;

static int by_slot(const void *pa, const void *pb)
{
    const slot_id_t *a = pa, *b = pb;
    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

void feed_slots_sort(int64_t *ids, unsigned *slots, size_t n, const char *prefix,
                     feed_key_fn *key)
{
    if (n == 0)
        return;
    slot_id_t *v = fc_xmalloc(n * sizeof *v);
    char k[RDS_KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t len = key(k, sizeof k, prefix, ids[i]);
        v[i] = (slot_id_t){ len ? rds_key_slot(k, len) : 0, ids[i] };
    }
    qsort(v, n, sizeof *v, by_slot);
    for (size_t i = 0; i < n; i++) {
        ids[i] = v[i].id;
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

#include "feed/feed_celebs.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct {
    int64_t author;              /* 0: empty */
    int64_t stored_ms;
    uint64_t forgot;             /* the epoch of the slot's last forget */
    bool whole;                  /* items are the whole set */
    bool partial;
    feed_key_t floor;
    feed_item_t *items;          /* newest first */
    size_t n;
} slot_t;

struct feed_celebs {
    int64_t fresh_ms;
    uint64_t epoch;
    slot_t *slots;               /* FEED_CELEBS_SLOTS, allocated on the first store */
};

feed_celebs_t *feed_celebs_new(int64_t fresh_ms)
{
    feed_celebs_t *c = fc_xcalloc(1, sizeof *c);
    c->fresh_ms = fresh_ms;
    return c;
}

void feed_celebs_free(feed_celebs_t *c)
{
    if (!c)
        return;
    if (c->slots)
        for (size_t i = 0; i < FEED_CELEBS_SLOTS; i++)
            free(c->slots[i].items);
    free(c->slots);
    free(c);
}

uint64_t feed_celebs_epoch(const feed_celebs_t *c)
{
    return c->epoch;
}

static slot_t *slot_of(const feed_celebs_t *c, int64_t author)
{
    uint64_t h = (uint64_t)author * 0x9E3779B97F4A7C15ULL;
    return &c->slots[(h >> 52) % FEED_CELEBS_SLOTS];
}

void feed_celebs_store(feed_celebs_t *c, int64_t author, int64_t now_ms, uint64_t epoch,
                       const feed_item_t *items, size_t n, bool whole, bool partial,
                       feed_key_t floor)
{
    if (c->fresh_ms <= 0 || author == 0)
        return;
    if (!c->slots)
        c->slots = fc_xcalloc(FEED_CELEBS_SLOTS, sizeof *c->slots);
    slot_t *s = slot_of(c, author);
    if (s->forgot > epoch)
        return;                  /* read before a write of this instance landed */
    s->items = fc_xrealloc(s->items, (n ? n : 1) * sizeof *s->items);
    memcpy(s->items, items, n * sizeof *items);
    feed_items_sort(s->items, n);
    if (n > FEED_CELEBS_ITEMS_MAX) {
        /* The newest ones; the window is then cut like a LIMIT. */
        n = FEED_CELEBS_ITEMS_MAX;
        whole = false;
        s->items = fc_xrealloc(s->items, n * sizeof *s->items);
    }
    s->n = n;
    s->author = author;
    s->stored_ms = now_ms;
    s->whole = whole;
    s->partial = partial;
    s->floor = floor;
}

/* The fresh window of author that serves a read after `after` with at
 * least `window` entries (or all of the set), and where the entries after
 * the cursor start in it; NULL when there is none. */
static const slot_t *serving(const feed_celebs_t *c, int64_t author, int64_t now_ms,
                             const feed_key_t *after, int64_t window, size_t *first)
{
    if (!c->slots || author == 0)
        return NULL;
    const slot_t *s = slot_of(c, author);
    if (s->author != author || now_ms - s->stored_ms >= c->fresh_ms || now_ms < s->stored_ms)
        return NULL;
    size_t i = 0;
    if (after)
        while (i < s->n && feed_key_cmp(feed_item_key(&s->items[i]), *after) >= 0)
            i++;
    if (!s->whole && (int64_t)(s->n - i) < window)
        return NULL;             /* too short for this read: Redis has more */
    *first = i;
    return s;
}

bool feed_celebs_covers(const feed_celebs_t *c, int64_t author, int64_t now_ms,
                        const feed_key_t *after, int64_t window)
{
    size_t first;
    return serving(c, author, now_ms, after, window, &first) != NULL;
}

bool feed_celebs_serve(const feed_celebs_t *c, int64_t author, int64_t now_ms,
                       const feed_key_t *after, int64_t window, feed_source_t *out, bool *full)
{
    size_t first = 0;
    const slot_t *s = serving(c, author, now_ms, after, window, &first);
    if (!s)
        return false;
    size_t n = s->n - first;
    out->items = fc_xmalloc((n ? n : 1) * sizeof *out->items);
    memcpy(out->items, s->items + first, n * sizeof *out->items);
    out->n = n;
    feed_source_prepare(out, after, !s->whole, s->partial, s->floor);
    *full = !s->whole;
    return true;
}

void feed_celebs_forget(feed_celebs_t *c, int64_t author)
{
    c->epoch++;
    if (!c->slots)
        return;
    slot_t *s = slot_of(c, author);
    s->forgot = c->epoch;
    if (s->author == author)
        s->author = 0;
}

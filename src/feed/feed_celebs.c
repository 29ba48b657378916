#include "feed/feed_celebs.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct {
    int64_t author;              /* 0: empty */
    int64_t stored_ms;
    int64_t refresh_ms;          /* when a read claimed its refresh; INT64_MIN: none */
    bool whole;                  /* items are the whole set */
    bool partial;
    feed_key_t floor;
    feed_item_t *items;          /* newest first */
    size_t n;
} slot_t;

/* FEED_CELEBS_WAYS slots that an author's hash picks; the author may hold
 * any of them. */
typedef struct {
    uint64_t forgot;             /* the epoch of the set's last forget */
    slot_t way[FEED_CELEBS_WAYS];
} set_t;

#define SETS (FEED_CELEBS_SLOTS / FEED_CELEBS_WAYS)

struct feed_celebs {
    int64_t fresh_ms;
    uint64_t epoch;
    set_t *sets;                 /* SETS, allocated on the first store */
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
    if (c->sets)
        for (size_t i = 0; i < SETS; i++)
            for (size_t w = 0; w < FEED_CELEBS_WAYS; w++)
                free(c->sets[i].way[w].items);
    free(c->sets);
    free(c);
}

uint64_t feed_celebs_epoch(const feed_celebs_t *c)
{
    return c->epoch;
}

static set_t *set_of(const feed_celebs_t *c, int64_t author)
{
    uint64_t h = (uint64_t)author * 0x9E3779B97F4A7C15ULL;
    return &c->sets[(h >> 52) % SETS];
}

static slot_t *way_of(set_t *set, int64_t author)
{
    for (size_t w = 0; w < FEED_CELEBS_WAYS; w++)
        if (set->way[w].author == author)
            return &set->way[w];
    return NULL;
}

/* Where author's window goes: its own slot, else an empty one, else the
 * one stored longest ago (the stalest, or the first to go stale). */
static slot_t *way_for(set_t *set, int64_t author)
{
    slot_t *s = way_of(set, author);
    if (s)
        return s;
    s = &set->way[0];
    for (size_t w = 0; w < FEED_CELEBS_WAYS; w++) {
        slot_t *t = &set->way[w];
        if (t->author == 0)
            return t;
        if (t->stored_ms < s->stored_ms)
            s = t;
    }
    return s;
}

void feed_celebs_store(feed_celebs_t *c, int64_t author, int64_t now_ms, uint64_t epoch,
                       const feed_item_t *items, size_t n, bool whole, bool partial,
                       feed_key_t floor)
{
    if (c->fresh_ms <= 0 || author == 0)
        return;
    if (!c->sets)
        c->sets = fc_xcalloc(SETS, sizeof *c->sets);
    set_t *set = set_of(c, author);
    if (set->forgot > epoch)
        return;                  /* read before a write of this instance landed */
    slot_t *s = way_for(set, author);
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
    s->refresh_ms = INT64_MIN;
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
    if (!c->sets || author == 0)
        return NULL;
    const slot_t *s = way_of(set_of(c, author), author);
    if (!s || now_ms - s->stored_ms >= c->fresh_ms || now_ms < s->stored_ms)
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

bool feed_celebs_refresh_due(feed_celebs_t *c, int64_t author, int64_t now_ms)
{
    if (!c->sets || author == 0)
        return false;
    slot_t *s = way_of(set_of(c, author), author);
    if (!s || now_ms < s->stored_ms)
        return false;
    int64_t quarter = c->fresh_ms / 4;
    if (now_ms - s->stored_ms < c->fresh_ms - quarter)
        return false;            /* young enough: nobody fetches it */
    if (s->refresh_ms != INT64_MIN && now_ms - s->refresh_ms < quarter)
        return false;            /* another read is fetching it */
    s->refresh_ms = now_ms;
    return true;
}

void feed_celebs_forget(feed_celebs_t *c, int64_t author)
{
    c->epoch++;
    if (!c->sets)
        return;
    set_t *set = set_of(c, author);
    set->forgot = c->epoch;
    slot_t *s = way_of(set, author);
    if (s)
        s->author = 0;
}

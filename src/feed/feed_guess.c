#include "feed/feed_guess.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct {
    int64_t user_id;             /* 0: empty */
    uint64_t stored;             /* the cache's store count at this user's last store */
    uint32_t n, cap;
    uint32_t window;             /* feed_guess_window */
    int64_t ttl_until;           /* feed_guess_ttl_until */
    int64_t *celebs;             /* sorted */
    uint32_t npage, page_cap;
    int64_t *page;               /* feed_guess_page */
} slot_t;

typedef struct {
    slot_t way[FEED_GUESS_WAYS];
} set_t;

struct feed_guess {
    uint64_t stores;
    set_t *sets;                 /* FEED_GUESS_SETS, allocated on the first store */
};

feed_guess_t *feed_guess_new(void)
{
    return fc_xcalloc(1, sizeof(feed_guess_t));
}

void feed_guess_free(feed_guess_t *g)
{
    if (!g)
        return;
    if (g->sets)
        for (size_t i = 0; i < FEED_GUESS_SETS; i++)
            for (size_t w = 0; w < FEED_GUESS_WAYS; w++) {
                free(g->sets[i].way[w].celebs);
                free(g->sets[i].way[w].page);
            }
    free(g->sets);
    free(g);
}

static set_t *set_of(const feed_guess_t *g, int64_t user)
{
    uint64_t h = (uint64_t)user * 0x9E3779B97F4A7C15ULL;
    return &g->sets[(h >> 48) % FEED_GUESS_SETS];
}

/* user's slot, or NULL when user holds none (nothing stored yet, user 0,
 * or other users took it over). */
static slot_t *slot_for(const feed_guess_t *g, int64_t user)
{
    if (!g->sets || user == 0)
        return NULL;
    set_t *set = set_of(g, user);
    for (size_t w = 0; w < FEED_GUESS_WAYS; w++)
        if (set->way[w].user_id == user)
            return &set->way[w];
    return NULL;
}

/* Where user goes: its own slot, else an empty one, else the one whose
 * user stored longest ago (the reader least recently seen: every read
 * stores). One pass over the set. */
static slot_t *slot_to_take(feed_guess_t *g, int64_t user)
{
    set_t *set = set_of(g, user);
    slot_t *take = &set->way[0];
    for (size_t w = 0; w < FEED_GUESS_WAYS; w++) {
        slot_t *t = &set->way[w];
        if (t->user_id == user)
            return t;
        if (take->user_id != 0 && (t->user_id == 0 || t->stored < take->stored))
            take = t;
    }
    return take;
}

size_t feed_guess_get(const feed_guess_t *g, int64_t user, const int64_t **celebs)
{
    const slot_t *s = slot_for(g, user);
    *celebs = s ? s->celebs : NULL;
    return s ? s->n : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void feed_guess_store(feed_guess_t *g, int64_t user, int64_t *celebs, size_t n)
{
    if (n)
        qsort(celebs, n, sizeof *celebs, cmp_i64);
    if (user == 0)
        return;                  /* 0 marks an empty slot */
    if (!g->sets)
        g->sets = fc_xcalloc(FEED_GUESS_SETS, sizeof *g->sets);
    if (n > FEED_GUESS_MAX) {
        /* Too many to guess: always a second round trip. */
        slot_t *own = slot_for(g, user);
        if (own)
            own->user_id = 0;
        return;
    }
    slot_t *s = slot_to_take(g, user);
    if (n > s->cap) {
        s->cap = (uint32_t)n;
        s->celebs = fc_xrealloc(s->celebs, n * sizeof *s->celebs);
    }
    if (s->user_id != user) {
        s->window = 0;
        s->ttl_until = 0;
        s->npage = 0;
    }
    s->user_id = user;
    s->stored = ++g->stores;
    s->n = (uint32_t)n;
    if (n)
        memcpy(s->celebs, celebs, n * sizeof *celebs);
}

size_t feed_guess_window(const feed_guess_t *g, int64_t user)
{
    const slot_t *s = slot_for(g, user);
    return s ? s->window : 0;
}

void feed_guess_set_window(feed_guess_t *g, int64_t user, size_t most)
{
    slot_t *s = slot_for(g, user);
    if (s)
        s->window = most > UINT32_MAX ? UINT32_MAX : (uint32_t)most;
}

int64_t feed_guess_ttl_until(const feed_guess_t *g, int64_t user)
{
    const slot_t *s = slot_for(g, user);
    return s ? s->ttl_until : 0;
}

void feed_guess_set_ttl_until(feed_guess_t *g, int64_t user, int64_t until_ms)
{
    slot_t *s = slot_for(g, user);
    if (s)
        s->ttl_until = until_ms;
}

size_t feed_guess_page(const feed_guess_t *g, int64_t user, const int64_t **ids)
{
    const slot_t *s = slot_for(g, user);
    *ids = s && s->npage ? s->page : NULL;
    return s ? s->npage : 0;
}

void feed_guess_set_page(feed_guess_t *g, int64_t user, const int64_t *ids, size_t n)
{
    slot_t *s = slot_for(g, user);
    if (!s)
        return;
    if (n > FEED_GUESS_PAGE_MAX)
        n = 0;
    if (n > s->page_cap) {
        s->page_cap = (uint32_t)n;
        s->page = fc_xrealloc(s->page, n * sizeof *s->page);
    }
    s->npage = (uint32_t)n;
    if (n)
        memcpy(s->page, ids, n * sizeof *ids);
}

#include "feed/feed_guess.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct {
    int64_t user_id;             /* 0: empty */
    uint32_t n, cap;
    uint32_t window;             /* feed_guess_window */
    int64_t ttl_until;           /* feed_guess_ttl_until */
    int64_t *celebs;             /* sorted */
} slot_t;

struct feed_guess {
    slot_t *slots;               /* FEED_GUESS_SLOTS, allocated on the first store */
};

feed_guess_t *feed_guess_new(void)
{
    return fc_xcalloc(1, sizeof(feed_guess_t));
}

void feed_guess_free(feed_guess_t *g)
{
    if (!g)
        return;
    if (g->slots)
        for (size_t i = 0; i < FEED_GUESS_SLOTS; i++)
            free(g->slots[i].celebs);
    free(g->slots);
    free(g);
}

static size_t slot_of(int64_t user)
{
    uint64_t h = (uint64_t)user * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 48) % FEED_GUESS_SLOTS;
}

/* user's slot, or NULL when user holds none (nothing stored yet, user 0,
 * or another user took it over). */
static slot_t *slot_for(const feed_guess_t *g, int64_t user)
{
    if (!g->slots || user == 0)
        return NULL;
    slot_t *s = &g->slots[slot_of(user)];
    return s->user_id == user ? s : NULL;
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
    if (!g->slots)
        g->slots = fc_xcalloc(FEED_GUESS_SLOTS, sizeof *g->slots);
    slot_t *s = &g->slots[slot_of(user)];
    if (n > FEED_GUESS_MAX) {
        s->user_id = 0;          /* too many to guess: always a second round trip */
        return;
    }
    if (n > s->cap) {
        s->cap = (uint32_t)n;
        s->celebs = fc_xrealloc(s->celebs, n * sizeof *s->celebs);
    }
    if (s->user_id != user) {
        s->window = 0;
        s->ttl_until = 0;
    }
    s->user_id = user;
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

#include "fb_phase.h"

#include <stdlib.h>
#include <string.h>

int fb_phases_parse(const char *s, fb_phases_t *p)
{
    memset(p, 0, sizeof *p);
    while (s && *s) {
        char *end;
        double rate = strtod(s, &end);
        if (end == s || *end != ':' || !(rate > 0) || p->n == FB_MAX_PHASES)
            return -1;
        s = end + 1;
        double secs = strtod(s, &end);
        if (end == s || (*end && *end != ',') || !(secs > 0))
            return -1;
        p->rate[p->n] = rate;
        p->secs[p->n++] = secs;
        s = *end ? end + 1 : end;
        if (*end && !*s)
            return -1;          /* a trailing comma */
    }
    return p->n > 0 ? 0 : -1;
}

double fb_phases_total(const fb_phases_t *p)
{
    double t = 0;
    for (int i = 0; i < p->n; i++)
        t += p->secs[i];
    return t;
}

double fb_phases_start(const fb_phases_t *p, double t0, int i)
{
    for (int k = 0; k < i && k < p->n; k++)
        t0 += p->secs[k];
    return t0;
}

int fb_phases_at(const fb_phases_t *p, double t0, double t)
{
    if (t < t0)
        return -1;
    for (int i = 0; i < p->n; i++) {
        t0 += p->secs[i];
        if (t < t0)
            return i;
    }
    return p->n;
}

double fb_phases_rate(const fb_phases_t *p, double t0, double t)
{
    int i = fb_phases_at(p, t0, t);
    return p->rate[i < 0 ? 0 : i >= p->n ? p->n - 1 : i];
}

fb_code_t fb_code_of(const char *code)
{
    if (!strcmp(code, "OVERLOADED"))
        return FB_CODE_OVERLOADED;
    if (!strcmp(code, "UNAVAILABLE"))
        return FB_CODE_UNAVAILABLE;
    return FB_CODE_OTHER;
}

const char *fb_code_name(fb_code_t c)
{
    static const char *const names[FB_CODE__COUNT] = {
        [FB_CODE_OVERLOADED] = "overloaded", [FB_CODE_UNAVAILABLE] = "unavailable",
        [FB_CODE_OTHER] = "other_errors",
    };
    return names[c];
}

void fb_phase_res_init(fb_phase_res_t *r)
{
    memset(r, 0, sizeof *r);
    hist_init(&r->served);
    hist_init(&r->settled);
    hist_init(&r->onset);
    r->last_fail = -1;
}

void fb_phase_res_add(fb_phase_res_t *into, const fb_phase_res_t *from)
{
    hist_add(&into->served, &from->served);
    hist_add(&into->settled, &from->settled);
    hist_add(&into->onset, &from->onset);
    for (int c = 0; c < FB_CODE__COUNT; c++)
        into->codes[c] += from->codes[c];
    into->ok += from->ok;
    into->scheduled += from->scheduled;
    into->dropped += from->dropped;
    into->early_due += from->early_due;
    into->early_ok += from->early_ok;
    if (from->last_fail > into->last_fail)
        into->last_fail = from->last_fail;
}

void fb_phase_res_failed(fb_phase_res_t *r, double offset)
{
    if (offset > r->last_fail)
        r->last_fail = offset;
}

#include "feed/feed_postval.h"

#include <inttypes.h>
#include <stdio.h>

feed_postval_t feed_postval_parse(const char *v, size_t len)
{
    feed_postval_t p = { .kind = FEED_POSTVAL_MISS };
    if (!v || len == 0)
        return p;
    if (v[0] == 'd') {
        if (len == 1)
            p.kind = FEED_POSTVAL_DELETED;
        return p;
    }
    if (v[0] == 'u') {
        p.kind = FEED_POSTVAL_UPDATED;
        p.body = v + 1;
        p.body_len = len - 1;
        return p;
    }
    if (v[0] != 'p')
        return p;
    size_t i = 1;
    uint64_t author = 0;
    while (i < len && v[i] >= '0' && v[i] <= '9') {
        unsigned d = (unsigned)(v[i] - '0');
        if (author > ((uint64_t)INT64_MAX - d) / 10)
            return p;                      /* past int64: not ours */
        author = author * 10 + d;
        i++;
    }
    if (i == 1 || i > 20 || i >= len || v[i] != ':' || author == 0)
        return p;
    p.kind = FEED_POSTVAL_POST;
    p.author_id = (int64_t)author;
    p.body = v + i + 1;
    p.body_len = len - i - 1;
    return p;
}

void feed_postval_post(buf_t *out, int64_t author_id, const char *body, size_t body_len)
{
    buf_printf(out, "p%" PRId64 ":", author_id);
    buf_append(out, body, body_len);
}

/* The params builder: named arguments packed as they are added, so sending
 * only has to prepend `[` and the map header (the pair count is known then). */
#include "feedcache/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

int fc__sbuffer_write(void *sbuf, const char *buf, size_t len)
{
    if (msgpack_sbuffer_write(sbuf, buf, len) != 0) {
        fputs("feedcache: out of memory\n", stderr);
        abort();
    }
    return 0;
}

void fc_params_init(fc_params_t *p)
{
    msgpack_sbuffer_init(&p->buf);
    msgpack_packer_init(&p->pk, &p->buf, fc__sbuffer_write);
    p->n = 0;
}

void fc_params_free(fc_params_t *p)
{
    msgpack_sbuffer_destroy(&p->buf);
    fc_params_init(p);
}

void fc_params_reset(fc_params_t *p)
{
    msgpack_sbuffer_clear(&p->buf);
    p->n = 0;
}

msgpack_packer *fc_params_value(fc_params_t *p, const char *key)
{
    msgpack_pack_str_with_body(&p->pk, key, strlen(key));
    p->n++;
    return &p->pk;
}

void fc_params_int(fc_params_t *p, const char *key, int64_t v)
{
    msgpack_pack_int64(fc_params_value(p, key), v);
}

void fc_params_str(fc_params_t *p, const char *key, const char *v)
{
    msgpack_pack_str_with_body(fc_params_value(p, key), v, strlen(v));
}

void fc_params_bool(fc_params_t *p, const char *key, bool v)
{
    msgpack_packer *pk = fc_params_value(p, key);
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void fc_params_nil(fc_params_t *p, const char *key)
{
    msgpack_pack_nil(fc_params_value(p, key));
}

void fc_params_double(fc_params_t *p, const char *key, double v)
{
    msgpack_pack_double(fc_params_value(p, key), v);
}

void fc_params_int_array(fc_params_t *p, const char *key, const int64_t *v, size_t n)
{
    msgpack_packer *pk = fc_params_value(p, key);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_int64(pk, v[i]);
}

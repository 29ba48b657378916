/* Typed access to decoded msgpack values. Every getter takes NULL so that
 * `fc_obj_int(fc_obj_get(map, "done"), &v)` needs one check, not two. */
#include "feedcache/client.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

const msgpack_object *fc_obj_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        /* Keys as bin too: the contract lets peers send names as bin. */
        if ((k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
             memcmp(k->via.str.ptr, key, klen) == 0) ||
            (k->type == MSGPACK_OBJECT_BIN && k->via.bin.size == klen &&
             memcmp(k->via.bin.ptr, key, klen) == 0))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

int fc_obj_int(const msgpack_object *o, int64_t *out)
{
    if (!o)
        return -1;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT64_MAX)
            return -1;
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    return -1;
}

int fc_obj_bool(const msgpack_object *o, bool *out)
{
    if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    *out = o->via.boolean;
    return 0;
}

int fc_obj_double(const msgpack_object *o, double *out)
{
    if (!o)
        return -1;
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = o->via.f64;
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)o->via.u64;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)o->via.i64;
        return 0;
    default:
        return -1;
    }
}

int fc_obj_str(const msgpack_object *o, const char **s, size_t *len)
{
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return -1;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

bool fc_obj_str_eq(const msgpack_object *o, const char *s)
{
    const char *p;
    size_t n;
    return fc_obj_str(o, &p, &n) == 0 && n == strlen(s) && memcmp(p, s, n) == 0;
}

char *fc_obj_strdup(const msgpack_object *o)
{
    const char *p;
    size_t n;
    if (fc_obj_str(o, &p, &n) != 0)
        return NULL;
    return fc_xstrndup(p, n);
}

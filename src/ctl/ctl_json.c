/* msgpack -> JSON for `--json` output. */
#include "ctl/ctl.h"

#include <math.h>
#include <stdio.h>

static void json_string(buf_t *out, const char *s, size_t n)
{
    buf_puts(out, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"':  buf_puts(out, "\\\""); break;
        case '\\': buf_puts(out, "\\\\"); break;
        case '\n': buf_puts(out, "\\n"); break;
        case '\r': buf_puts(out, "\\r"); break;
        case '\t': buf_puts(out, "\\t"); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                buf_printf(out, "\\u%04x", ch);
            else
                buf_append(out, &s[i], 1);
        }
    }
    buf_puts(out, "\"");
}

void ctl_json(buf_t *out, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        buf_puts(out, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        buf_puts(out, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        buf_printf(out, "%llu", (unsigned long long)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        buf_printf(out, "%lld", (long long)o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        /* JSON has no NaN or infinity. */
        if (isfinite(o->via.f64))
            buf_printf(out, "%.17g", o->via.f64);
        else
            buf_puts(out, "null");
        break;
    case MSGPACK_OBJECT_STR:
        json_string(out, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        json_string(out, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        buf_puts(out, "[");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                buf_puts(out, ",");
            ctl_json(out, &o->via.array.ptr[i]);
        }
        buf_puts(out, "]");
        break;
    case MSGPACK_OBJECT_MAP:
        buf_puts(out, "{");
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (i)
                buf_puts(out, ",");
            if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
                ctl_json(out, k);
            } else {
                /* JSON keys are strings: quote the key's JSON form. */
                buf_t tmp;
                buf_init(&tmp);
                ctl_json(&tmp, k);
                json_string(out, tmp.data ? tmp.data : "", tmp.len);
                buf_free(&tmp);
            }
            buf_puts(out, ":");
            ctl_json(out, &o->via.map.ptr[i].val);
        }
        buf_puts(out, "}");
        break;
    default:
        buf_puts(out, "null");   /* ext types have no JSON form */
        break;
    }
}

void ctl_print_json(const msgpack_object *o)
{
    buf_t b;
    buf_init(&b);
    ctl_json(&b, o);
    puts(b.data);
    buf_free(&b);
}

/* Fuzz target: the HTTP request reader (src/http/http_reader.c), driven as
 * src/http/http_server.c drives it: bytes accumulate in a buffer, the
 * reader is fed what is buffered, what it used is consumed, a complete
 * request is answered before the next is looked at, an error closes.
 *
 * The input is what a client sends, fed two ways: all at once, and in
 * 7-byte reads. Both must see the same requests (method, path, keep-alive)
 * in the same order, up to the first error of either: where the header
 * limit strikes may differ slightly, as header bytes are counted per parser
 * callback (http_reader.c, on_header_data). */
#include <string.h>

#include "fuzz.h"
#include "http/http_reader.h"
#include "util/buf.h"

#define MAX_REQUESTS 1024
#define MAX_PATH 128

typedef struct {
    size_t n;
    int error;                  /* 0, or the status of the error that closed */
    struct {
        unsigned method;
        int keep_alive;
        size_t path_len;
        char path[MAX_PATH];    /* a prefix, for the comparison */
    } req[MAX_REQUESTS];
} trace_t;

static void record(trace_t *t, const http_reader_t *r)
{
    FUZZ_CHECK(r->path.data != NULL);
    FUZZ_CHECK(r->path.data[r->path.len] == '\0');
    FUZZ_CHECK(r->path.len > 0);
    FUZZ_CHECK(r->keep_alive == 0 || r->keep_alive == 1);
    if (t->n < MAX_REQUESTS) {
        t->req[t->n].method = r->method;
        t->req[t->n].keep_alive = r->keep_alive;
        t->req[t->n].path_len = r->path.len;
        size_t n = r->path.len < MAX_PATH ? r->path.len : MAX_PATH;
        memset(t->req[t->n].path, 0, MAX_PATH);
        memcpy(t->req[t->n].path, r->path.data, n);
    }
    t->n++;
}

static void run(const uint8_t *data, size_t size, size_t step, trace_t *t)
{
    http_reader_t r;
    http_reader_init(&r);
    buf_t in;
    buf_init(&in);
    t->n = 0;
    t->error = 0;
    size_t off = 0;
    while (off < size && !t->error) {
        size_t n = size - off < step ? size - off : step;
        buf_append(&in, data + off, n);
        off += n;
        /* http_server.c, conn_process: */
        while (in.len > 0) {
            size_t used = (size_t)-1;
            http_read_t rc = http_reader_feed(&r, in.data, in.len, &used);
            FUZZ_CHECK(used <= in.len);
            buf_consume(&in, used);
            if (rc == HTTP_READ_MORE)
                break;
            if (rc == HTTP_READ_ERROR) {
                FUZZ_CHECK(r.error_status == 400 || r.error_status == 413 ||
                           r.error_status == 431);
                FUZZ_CHECK(r.error != NULL);
                t->error = (int)r.error_status;
                break;
            }
            FUZZ_CHECK(rc == HTTP_READ_REQUEST);
            record(t, &r);
        }
    }
    /* A failed reader stays failed. */
    if (t->error) {
        size_t used = 1;
        FUZZ_CHECK(http_reader_feed(&r, "GET / HTTP/1.1\r\n\r\n", 18, &used) == HTTP_READ_ERROR);
        FUZZ_CHECK(used == 0);
    }
    buf_free(&in);
    http_reader_free(&r);
}

static trace_t whole, chunked;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, size ? size : 1, &whole);
    run(data, size, 7, &chunked);
    size_t n = whole.n < chunked.n ? whole.n : chunked.n;
    if (!whole.error && !chunked.error)
        FUZZ_CHECK(whole.n == chunked.n);
    for (size_t i = 0; i < n && i < MAX_REQUESTS; i++) {
        FUZZ_CHECK(whole.req[i].method == chunked.req[i].method);
        FUZZ_CHECK(whole.req[i].keep_alive == chunked.req[i].keep_alive);
        FUZZ_CHECK(whole.req[i].path_len == chunked.req[i].path_len);
        FUZZ_CHECK(memcmp(whole.req[i].path, chunked.req[i].path, MAX_PATH) == 0);
    }
    return 0;
}

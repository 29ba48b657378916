/* Incoming HTTP/1.x requests on one connection, framed by http-parser.
 *
 * The reader turns a byte stream into whole requests, one at a time: it
 * pauses the parser at the end of each request, so the caller answers that
 * request before the next one (pipelined behind it) is even looked at, and
 * responses go out in request order. It keeps only what the endpoint needs:
 * method, path (query string and fragment stripped) and whether the
 * connection may stay open. Bodies are counted and dropped.
 *
 * Limits protect the daemon from a misbehaving client: the request line plus
 * headers may hold HTTP_MAX_HEADER_BYTES of names, values and target, a body
 * HTTP_MAX_BODY_BYTES. Past a limit, or on anything http-parser rejects, the
 * reader reports an error with the status to answer before closing. */
#ifndef FC_HTTP_HTTP_READER_H
#define FC_HTTP_HTTP_READER_H

#include <stddef.h>

#include <http_parser.h>

#include "util/buf.h"

#define HTTP_MAX_HEADER_BYTES 8192
#define HTTP_MAX_BODY_BYTES 8192

typedef enum {
    HTTP_READ_MORE,       /* everything given was consumed; no complete request yet */
    HTTP_READ_REQUEST,    /* a request is complete: see method/path/keep_alive */
    HTTP_READ_ERROR,      /* malformed or too large: answer error_status, then close */
} http_read_t;

typedef struct {
    http_parser parser;
    buf_t target;            /* raw request target of the request being read */
    size_t header_bytes;     /* target + header names and values so far */
    size_t body_bytes;
    int complete;            /* set by the parser callback at the end of a request */
    int failed;              /* a callback refused the request (error_status says why) */

    /* After HTTP_READ_REQUEST, valid until the next http_reader_feed: */
    unsigned method;         /* enum http_method (HTTP_GET, HTTP_HEAD, ...) */
    buf_t path;              /* NUL-terminated, without query string or fragment */
    int keep_alive;          /* 0: answer with Connection: close and close */

    /* After HTTP_READ_ERROR: */
    unsigned error_status;   /* 400, 413 or 431 */
    const char *error;       /* what was wrong, for the log */
} http_reader_t;

void http_reader_init(http_reader_t *r);
void http_reader_free(http_reader_t *r);

/* Parses from data[0..len). Stops after one complete request; *used is the
 * number of bytes consumed (the rest belongs to later requests: feed it
 * again after answering). After HTTP_READ_ERROR the reader stays failed. */
http_read_t http_reader_feed(http_reader_t *r, const char *data, size_t len, size_t *used);

#endif

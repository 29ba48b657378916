#include "http/http_reader.h"

#include <string.h>

static http_reader_t *reader_of(http_parser *p)
{
    return p->data;
}

/* Refuses the request: the callback's non-zero return makes http-parser stop
 * with HPE_CB_*, and feed reports our status instead of a generic 400. */
static int refuse(http_reader_t *r, unsigned status, const char *why)
{
    r->failed = 1;
    r->error_status = status;
    r->error = why;
    return -1;
}

static int count_header(http_reader_t *r, size_t len)
{
    r->header_bytes += len;
    if (r->header_bytes > HTTP_MAX_HEADER_BYTES)
        return refuse(r, 431, "request headers too large");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    http_reader_t *r = reader_of(p);
    buf_reset(&r->target);
    r->header_bytes = 0;
    r->body_bytes = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    http_reader_t *r = reader_of(p);
    if (count_header(r, len) != 0)
        return -1;
    buf_append(&r->target, at, len);
    return 0;
}

static int on_header_data(http_parser *p, const char *at, size_t len)
{
    /* Names and values are not kept (nothing here needs them; the parser
     * itself tracks Connection, Content-Length and Transfer-Encoding), only
     * counted. The ": " and CRLF around them are counted too, roughly. */
    return count_header(reader_of(p), len + 2);
}

static int on_headers_complete(http_parser *p)
{
    http_reader_t *r = reader_of(p);
    /* content_length is ULLONG_MAX when the header is absent. */
    if (!(p->flags & F_CHUNKED) && p->content_length != (uint64_t)-1 &&
        p->content_length > HTTP_MAX_BODY_BYTES)
        return refuse(r, 413, "request body too large");
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    http_reader_t *r = reader_of(p);
    r->body_bytes += len;
    if (r->body_bytes > HTTP_MAX_BODY_BYTES)
        return refuse(r, 413, "request body too large");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_reader_t *r = reader_of(p);
    r->complete = 1;
    r->method = p->method;
    /* Only meaningful inside this callback (see http_parser.h). */
    r->keep_alive = http_should_keep_alive(p);
    /* Pausing makes http_parser_execute return right after this request,
     * leaving pipelined bytes unconsumed for the next feed. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_data,
    .on_header_value = on_header_data,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_reader_init(http_reader_t *r)
{
    memset(r, 0, sizeof *r);
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    buf_init(&r->target);
    buf_init(&r->path);
}

void http_reader_free(http_reader_t *r)
{
    buf_free(&r->target);
    buf_free(&r->path);
}

static http_read_t fail(http_reader_t *r, unsigned status, const char *why)
{
    if (!r->failed) {
        r->failed = 1;
        r->error_status = status;
        r->error = why;
    }
    return HTTP_READ_ERROR;
}

/* Extracts the path of the request target: origin form (`/metrics?x=1`) or
 * absolute form (`http://host/metrics`), which HTTP/1.1 servers must accept. */
static int take_path(http_reader_t *r)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    buf_reset(&r->path);
    if (http_parser_parse_url(r->target.data ? r->target.data : "", r->target.len,
                              r->method == HTTP_CONNECT, &u) != 0)
        return -1;
    if (u.field_set & (1 << UF_PATH))
        buf_append(&r->path, r->target.data + u.field_data[UF_PATH].off,
                   u.field_data[UF_PATH].len);
    else
        buf_append(&r->path, "/", 1);
    return 0;
}

http_read_t http_reader_feed(http_reader_t *r, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (r->failed)
        return HTTP_READ_ERROR;
    if (len == 0)
        return HTTP_READ_MORE;   /* len 0 would mean EOF to http-parser */
    size_t n = http_parser_execute(&r->parser, &settings, data, len);
    *used = n;
    if (r->complete) {
        r->complete = 0;
        http_parser_pause(&r->parser, 0);
        /* Upgrade (or CONNECT): what follows is another protocol, which this
         * endpoint does not speak; answer this request and close. */
        if (r->parser.upgrade)
            r->keep_alive = 0;
        if (take_path(r) != 0)
            return fail(r, 400, "malformed request target");
        return HTTP_READ_REQUEST;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (r->failed)
        return HTTP_READ_ERROR;
    if (e != HPE_OK)
        return fail(r, e == HPE_HEADER_OVERFLOW ? 431 : 400, http_errno_description(e));
    return HTTP_READ_MORE;
}

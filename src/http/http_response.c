#include "http/http_response.h"

#include <string.h>

#include <http_parser.h>

http_route_t http_route(unsigned method, const char *path)
{
    http_route_t route;
    if (strcmp(path, "/metrics") == 0)
        route = HTTP_ROUTE_METRICS;
    else if (strcmp(path, "/healthz") == 0)
        route = HTTP_ROUTE_HEALTHZ;
    else
        return HTTP_ROUTE_NOT_FOUND;
    if (method != HTTP_GET && method != HTTP_HEAD)
        return HTTP_ROUTE_BAD_METHOD;
    return route;
}

const char *http_route_label(http_route_t route)
{
    switch (route) {
    case HTTP_ROUTE_METRICS: return "/metrics";
    case HTTP_ROUTE_HEALTHZ: return "/healthz";
    case HTTP_ROUTE_NOT_FOUND:
    case HTTP_ROUTE_BAD_METHOD: break;
    }
    return "other";
}

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return "Unknown";
}

void http_response_write(buf_t *out, unsigned status, const char *content_type,
                         const char *extra_headers, const char *body, size_t len,
                         int head_only, int keep_alive)
{
    buf_printf(out, "HTTP/1.1 %u %s\r\n", status, reason_phrase(status));
    buf_printf(out, "Content-Type: %s\r\n", content_type);
    buf_printf(out, "Content-Length: %zu\r\n", len);
    /* Health and metrics must never come from a cache in between. */
    buf_puts(out, "Cache-Control: no-store\r\n");
    buf_puts(out, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    if (extra_headers)
        buf_puts(out, extra_headers);
    buf_puts(out, "\r\n");
    if (!head_only && len)
        buf_append(out, body, len);
}

void http_response_line(buf_t *out, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    /* Trailing newlines (libpq ends its messages with one) are dropped,
     * not turned into spaces. */
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    buf_reserve(out, n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char c = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
        buf_append(out, &c, 1);
    }
    buf_append(out, "\n", 1);
}

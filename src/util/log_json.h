/* JSON log lines (log_format = json): one object per line,
 *
 *   {"ts":"2026-11-28T02:00:00.123Z","level":"warn","module":"rds","msg":"...","suppressed":3}
 *
 * with `suppressed` only when the rate limit held lines back (log_limit.h)
 * and `"truncated":true` only when the message did not fit. A log shipper
 * must be able to parse every line whatever a message holds, so strings are
 * escaped per RFC 8259: `"` and `\` and every control character, and bytes
 * that are not valid UTF-8 become U+FFFD (messages may quote what a client
 * sent). Truncation never cuts an escape or a UTF-8 sequence in two.
 *
 * Pure: no clock, no I/O (log.c supplies the time and writes the line). */
#ifndef FC_UTIL_LOG_JSON_H
#define FC_UTIL_LOG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room a line may take: a 1 KiB message escaped six-fold, plus the keys. */
#define LOG_JSON_LINE_MAX 8192

/* Writes s[0..len) JSON-escaped (without the quotes) into out, at most
 * cap - 1 bytes and NUL-terminated (cap >= 1). Stops before the first
 * character whose escaped form would not fit. Returns the bytes written;
 * *consumed (may be NULL) receives how many bytes of s they stand for, so
 * *consumed < len means truncated. */
size_t log_json_escape(char *out, size_t cap, const char *s, size_t len, size_t *consumed);

/* Writes one whole line, ending in '\n', into out (cap >= 512: the keys,
 * the time, the level and the module, cut to 63 bytes, always fit; the
 * message is cut to what is left). Returns
 * its length without the NUL. ts is written as it is (the caller's
 * ISO 8601 UTC time); level and module are escaped like msg. */
size_t log_json_line(char *out, size_t cap, const char *ts, const char *level,
                     const char *module, const char *msg, uint64_t suppressed);

#endif

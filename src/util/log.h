/* Leveled logging: one line per event, to stderr.
 *
 * Lines look like `2026-11-28T02:00:00.123Z warn  rds: reconnecting in 250 ms`
 * (log_format text), or are one JSON object each (log_format json:
 * log_json.h). The level is a process-wide setting (log_level); messages
 * below it cost one comparison. Both may change at run time (SIGHUP). */
#ifndef FC_UTIL_LOG_H
#define FC_UTIL_LOG_H

typedef enum {
    LOG_DEBUG = 0,
    LOG_INFO  = 1,
    LOG_WARN  = 2,
    LOG_ERROR = 3,
} log_level_t;

#include <stdint.h>

typedef enum {
    LOG_FORMAT_TEXT = 0,
    LOG_FORMAT_JSON = 1,
} log_format_t;

#define LOG_BURST_DEFAULT 5
#define LOG_INTERVAL_MS_DEFAULT 10000

extern log_level_t log_threshold;

/* Returns 0 and sets *out for "debug", "info", "warn", "error"; -1 otherwise. */
int log_level_parse(const char *name, log_level_t *out);
const char *log_level_name(log_level_t level);
void log_set_level(log_level_t level);

/* Returns 0 and sets *out for "text", "json"; -1 otherwise. */
int log_format_parse(const char *name, log_format_t *out);
const char *log_format_name(log_format_t format);
void log_set_format(log_format_t format);

/* burst lines per interval_ms for each call site; 0 turns the limit off. */
void log_set_rate_limit(unsigned burst, unsigned interval_ms);
/* Lines suppressed since start. */
uint64_t log_suppressed_total(void);
/* Writes one line per call site whose window ended with lines suppressed
 * (call it periodically: a site that went quiet would never report). */
void log_flush_suppressed(void);

void log_write(log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) do { if (log_threshold <= LOG_DEBUG) log_write(LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define log_info(mod, ...)  do { if (log_threshold <= LOG_INFO)  log_write(LOG_INFO,  mod, __VA_ARGS__); } while (0)
#define log_warn(mod, ...)  do { if (log_threshold <= LOG_WARN)  log_write(LOG_WARN,  mod, __VA_ARGS__); } while (0)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)

#endif

#include "util/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "util/log_json.h"
#include "util/log_limit.h"

log_level_t log_threshold = LOG_INFO;
/* Atomic: SIGHUP may switch it on the loop while other threads log. */
static atomic_int log_format = LOG_FORMAT_TEXT;

/* Lines of one call site per window (log_limit.h); debug lines are not
 * limited (they are off in production and wanted whole when on). The
 * mutex: bench and test programs log from threads too. */
static log_limit_t limit = { .burst = LOG_BURST_DEFAULT, .interval_ms = LOG_INTERVAL_MS_DEFAULT };
static bool limit_on = true;
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_level_parse(const char *name, log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(log_level_t level)
{
    return level >= LOG_DEBUG && level <= LOG_ERROR ? level_names[level] : "?";
}

void log_set_level(log_level_t level)
{
    log_threshold = level;
}

static const char *const format_names[] = { "text", "json" };

int log_format_parse(const char *name, log_format_t *out)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (log_format_t)i;
            return 0;
        }
    }
    return -1;
}

const char *log_format_name(log_format_t format)
{
    return format == LOG_FORMAT_JSON ? "json" : "text";
}

void log_set_format(log_format_t format)
{
    atomic_store_explicit(&log_format, (int)format, memory_order_relaxed);
}

void log_set_rate_limit(unsigned burst, unsigned interval_ms)
{
    pthread_mutex_lock(&limit_lock);
    limit_on = burst > 0 && interval_ms > 0;
    log_limit_init(&limit, burst, interval_ms);
    pthread_mutex_unlock(&limit_lock);
}

uint64_t log_suppressed_total(void)
{
    pthread_mutex_lock(&limit_lock);
    uint64_t n = limit.total_suppressed;
    pthread_mutex_unlock(&limit_lock);
    return n;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_line(log_level_t level, const char *module, uint64_t suppressed,
                       const char *fmt, va_list ap)
{
    char ts[64];    /* gcc counts an int year as 11 digits */
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000));
    char msg[1024];
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        return;

    if (atomic_load_explicit(&log_format, memory_order_relaxed) == LOG_FORMAT_JSON) {
        /* Escaping keeps it one line whatever msg holds (log_json.h). */
        char json[LOG_JSON_LINE_MAX];
        size_t jn = log_json_line(json, sizeof json, ts, log_level_name(level), module, msg,
                                  suppressed);
        fwrite(json, 1, jn, stderr);
        return;
    }

    char line[1024];
    int n = snprintf(line, sizeof line, "%s %-5s %s: %s", ts, log_level_name(level), module, msg);
    if (suppressed > 0 && n > 0 && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n,
                      " (and %" PRIu64 " similar lines suppressed before this one)", suppressed);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    /* One event, one line: embedded newlines would break log shippers. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n] = '\n';
    fwrite(line, 1, (size_t)n + 1, stderr);
}

void log_write(log_level_t level, const char *module, const char *fmt, ...)
{
    uint64_t suppressed = 0;
    if (level > LOG_DEBUG) {
        pthread_mutex_lock(&limit_lock);
        bool admit = !limit_on ||
                     log_limit_admit(&limit, fmt, module, monotonic_ms(), &suppressed);
        pthread_mutex_unlock(&limit_lock);
        if (!admit)
            return;
    }
    va_list ap;
    va_start(ap, fmt);
    write_line(level, module, suppressed, fmt, ap);
    va_end(ap);
}

static void report_quiet(const char *module, const void *kind, uint64_t suppressed,
                         uint64_t window_ms, void *arg)
{
    (void)arg;
    /* The format string itself names the kind, conversions and all: many
     * formats start with one ("%s: ..."), so cutting at the first would
     * leave nothing to recognise. */
    const char *fmt = kind;
    size_t len = strlen(fmt);
    log_write(LOG_WARN, module, "%" PRIu64 " lines like \"%.*s%s\" suppressed in the last %" PRIu64 " s",
              suppressed, (int)(len > 80 ? 80 : len), fmt, len > 80 ? "..." : "", window_ms / 1000);
}

void log_flush_suppressed(void)
{
    /* Reported after the lock is dropped: report_quiet logs. */
    log_limit_t expired;
    pthread_mutex_lock(&limit_lock);
    uint64_t now = monotonic_ms();
    memcpy(&expired, &limit, sizeof expired);
    for (unsigned i = 0; i < LOG_LIMIT_SLOTS; i++)
        if (limit.slots[i].kind && now - limit.slots[i].window_start_ms >= limit.interval_ms)
            memset(&limit.slots[i], 0, sizeof limit.slots[i]);
    pthread_mutex_unlock(&limit_lock);
    log_limit_expired(&expired, now, report_quiet, NULL);
}

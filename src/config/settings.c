#include "config/settings.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fc_version.h"
#include "rpc/rpc_auth_tokens.h"
#include "store/pg/pg.h"
#include "store/redis/rds_keys.h"
#include "store/redis/rds_url.h"
#include "util/addr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/window.h"

typedef enum { TYPE_STR, TYPE_UINT } setting_type_t;

/* A check column: 0 when value is acceptable, else -1 with the reason in
 * why (the caller prefixes the setting's name). */
typedef int setting_check_fn(const char *value, char *why, size_t whylen);

/* ---- the check column's functions ----------------------------------------- */

static int settings_check_none(const char *value, char *why, size_t whylen)
{
    return 0;
}

static int settings_check_listen(const char *value, char *why, size_t whylen)
{
    addr_t a;
    if (addr_parse(value, &a, why, whylen) != 0)
        return -1;
    /* The servers bind numeric addresses (no blocking resolver on the loop):
     * refuse a host name here, with the key named, not at bind. */
    struct in6_addr ip;
    if (!a.is_unix && strcmp(a.host, "localhost") != 0 && inet_pton(AF_INET, a.host, &ip) != 1 &&
        inet_pton(AF_INET6, a.host, &ip) != 1) {
        snprintf(why, whylen, "'%s' is not a numeric IP address (or localhost)", a.host);
        return -1;
    }
    return 0;
}

static int settings_check_metrics_listen(const char *value, char *why, size_t whylen)
{
    return strcmp(value, "off") == 0 ? 0 : settings_check_listen(value, why, whylen);
}

static int settings_check_redis_url(const char *value, char *why, size_t whylen)
{
    rds_url_t u;
    return rds_url_parse(value, &u, why, whylen);
}

static int settings_check_pg_conninfo(const char *value, char *why, size_t whylen)
{
    return pg_conninfo_check(value, why, whylen);
}

static int settings_check_pg_conninfo_or_empty(const char *value, char *why, size_t whylen)
{
    return value[0] ? settings_check_pg_conninfo(value, why, whylen) : 0;
}

static int settings_check_key_prefix(const char *value, char *why, size_t whylen)
{
    return rds_key_prefix_check(value, why, whylen);
}

static int settings_check_log_level(const char *value, char *why, size_t whylen)
{
    log_level_t level;
    if (log_level_parse(value, &level) == 0)
        return 0;
    snprintf(why, whylen, "'%s' is not one of debug, info, warn, error", value);
    return -1;
}

static int settings_check_log_format(const char *value, char *why, size_t whylen)
{
    log_format_t format;
    if (log_format_parse(value, &format) == 0)
        return 0;
    snprintf(why, whylen, "'%s' is not one of text, json", value);
    return -1;
}

static int settings_check_admission(const char *value, char *why, size_t whylen)
{
    if (strcmp(value, "adaptive") == 0 || strcmp(value, "fixed") == 0)
        return 0;
    snprintf(why, whylen, "'%s' is not one of adaptive, fixed", value);
    return -1;
}

/* The file must parse now: a bad tokens file stops start-up (exit 2) with
 * the line named; its text is never shown (it holds secrets). */
static int settings_check_auth_tokens_file(const char *value, char *why, size_t whylen)
{
    if (!*value)
        return 0;
    rpc_tokens_t t;
    if (rpc_tokens_load(value, &t, why, whylen) != 0)
        return -1;
    rpc_tokens_free(&t);
    return 0;
}

/* A consumer name shows in logs, XINFO and feedcachectl: printable ASCII,
 * no space (so it is one word in every log line). */
static int settings_check_instance_id(const char *value, char *why, size_t whylen)
{
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c >= 0x7f) {
            snprintf(why, whylen, "only printable characters without spaces");
            return -1;
        }
    }
    return 0;
}

static int settings_check_window(const char *value, char *why, size_t whylen)
{
    window_t w;
    return window_parse(value, &w, why, whylen);
}

/* ---- the table ---------------------------------------------------------------- */

typedef struct {
    const char *name;
    setting_type_t type;
    const char *def;
    uint64_t min, max;
    setting_check_fn *check;
    const char *help;
    size_t offset;
} setting_def_t;

static const setting_def_t setting_defs[] = {
#define SETTING_ROW(name, type, def, min, max, check, help) \
    { #name, TYPE_##type, def, (uint64_t)(min), (uint64_t)(max), settings_check_##check, help, \
      offsetof(settings_t, name) },
    FC_SETTINGS(SETTING_ROW)
#undef SETTING_ROW
};
#define NSETTINGS (sizeof setting_defs / sizeof setting_defs[0])

static const setting_def_t *find_def(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(setting_defs[i].name, key) == 0)
            return &setting_defs[i];
    return NULL;
}

int settings_set(settings_t *s, const char *key, const char *value, char *err, size_t errlen)
{
    const setting_def_t *d = find_def(key);
    if (!d) {
        snprintf(err, errlen, "unknown setting '%s'", key);
        return -1;
    }
    char *field = (char *)s + d->offset;
    if (d->type == TYPE_STR) {
        size_t len = strlen(value);
        if (len < d->min || len > d->max) {
            snprintf(err, errlen, "%s: length must be %llu..%llu characters", key,
                     (unsigned long long)d->min, (unsigned long long)d->max);
            return -1;
        }
        char why[256];
        if (d->check(value, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: %s", key, why);
            return -1;
        }
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = fc_xstrdup(value);
        return 0;
    }
    /* Whole decimal numbers only: "1e3", "-1", " 5" and "5s" are refused
     * rather than guessed at. */
    const char *p = value;
    if (!*p) {
        snprintf(err, errlen, "%s: empty value (expected an integer %llu..%llu)", key,
                 (unsigned long long)d->min, (unsigned long long)d->max);
        return -1;
    }
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            snprintf(err, errlen, "%s: '%s' is not a whole number (expected %llu..%llu)", key,
                     value, (unsigned long long)d->min, (unsigned long long)d->max);
            return -1;
        }
    }
    errno = 0;
    unsigned long long v = strtoull(value, NULL, 10);
    if (errno == ERANGE || v < d->min || v > d->max) {
        snprintf(err, errlen, "%s: %s is out of range %llu..%llu", key, value,
                 (unsigned long long)d->min, (unsigned long long)d->max);
        return -1;
    }
    memcpy(field, &(uint64_t){ v }, sizeof(uint64_t));
    return 0;
}

size_t settings_count(void)
{
    return NSETTINGS;
}

const char *settings_key(size_t i)
{
    return i < NSETTINGS ? setting_defs[i].name : NULL;
}

void settings_text(const settings_t *s, size_t i, char *out, size_t cap)
{
    if (i >= NSETTINGS) {
        snprintf(out, cap, "%s", "");
        return;
    }
    const char *field = (const char *)s + setting_defs[i].offset;
    if (setting_defs[i].type == TYPE_STR) {
        const char *const *slot = (const char *const *)(const void *)field;
        snprintf(out, cap, "%s", *slot ? *slot : "");
    } else {
        uint64_t v;
        memcpy(&v, field, sizeof v);
        snprintf(out, cap, "%" PRIu64, v);
    }
}

/* What a SIGHUP applies; everything else is read at start only. */
static const char *const reloadable[] = { "log_level", "log_format", "auth_tokens_file" };
#define NRELOADABLE (sizeof reloadable / sizeof reloadable[0])

bool settings_reloadable(const char *key)
{
    for (size_t i = 0; i < NRELOADABLE; i++)
        if (strcmp(reloadable[i], key) == 0)
            return true;
    return false;
}

void settings_defaults(settings_t *s)
{
    memset(s, 0, sizeof *s);
    char err[256];
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings_set(s, setting_defs[i].name, setting_defs[i].def, err, sizeof err) != 0) {
            /* A bad default is a programming error caught by the unit tests. */
            fprintf(stderr, "feedcache: bad default: %s\n", err);
            abort();
        }
    }
}

void settings_free(settings_t *s)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (setting_defs[i].type == TYPE_STR) {
            char **slot = (char **)(void *)((char *)s + setting_defs[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

void settings_print_help(FILE *out, const char *progname)
{
    fprintf(out,
            "Usage: %s [--config FILE] [--SETTING VALUE ...]\n"
            "\n"
            "feedcached keeps social home timelines hot in Redis (see README.md).\n"
            "Every setting can be given as a flag (--feed-ttl 300), a config file line\n"
            "(feed_ttl = 300) or an environment variable (FEEDCACHE_FEED_TTL=300).\n"
            "Precedence: flag > environment > file > default. The file is named by\n"
            "--config FILE or FEEDCACHE_CONFIG.\n"
            "\n"
            "Settings [default]:\n",
            progname);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_def_t *d = &setting_defs[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", d->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "  %-24s %s [%s]\n", flag, d->help, d->def);
    }
    fprintf(out,
            "\n"
            "  --config FILE            read settings from FILE\n"
            "  --help                   show this help and exit\n"
            "  --version                show the version and exit\n"
            "\n"
            "On SIGHUP feedcached reads its settings again (file, environment, flags)\n"
            "and applies");
    for (size_t i = 0; i < NRELOADABLE; i++)
        fprintf(out, "%s%s", i == 0 ? " " : i + 1 == NRELOADABLE ? " and " : ", ", reloadable[i]);
    fprintf(out,
            " (re-reading the tokens);\n"
            "the other settings need a restart. It logs what changed.\n"
            "\n"
            "Exit status: 0 after a clean shutdown, 1 on a runtime failure,\n"
            "2 on a bad or unknown setting.\n");
}

/* Strips leading and trailing white space in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_file(settings_t *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "config: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    char why[512];
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        char *l = trim(line);
        if (*l == '\0' || *l == '#')
            continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            snprintf(err, errlen, "config %s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(l);
        char *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        if (settings_set(s, key, value, why, sizeof why) != 0) {
            snprintf(err, errlen, "config %s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* FEEDCACHE_FEED_TTL -> feed_ttl; returns 0 when it names a setting. */
static int env_to_key(const char *name, size_t namelen, char *key, size_t keycap)
{
    static const char prefix[] = "FEEDCACHE_";
    if (namelen <= sizeof prefix - 1 || strncmp(name, prefix, sizeof prefix - 1) != 0)
        return -1;
    size_t n = namelen - (sizeof prefix - 1);
    if (n >= keycap)
        return -1;
    for (size_t i = 0; i < n; i++)
        key[i] = (char)tolower((unsigned char)name[sizeof prefix - 1 + i]);
    key[n] = '\0';
    return 0;
}

static int load_env(settings_t *s, char **envp, char *err, size_t errlen)
{
    char why[512];
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, "FEEDCACHE_", 10) != 0)
            continue;
        char key[64];
        size_t namelen = (size_t)(eq - *e);
        if (namelen == 16 && strncmp(*e, "FEEDCACHE_CONFIG", 16) == 0)
            continue;
        if (env_to_key(*e, namelen, key, sizeof key) != 0 || !find_def(key)) {
            /* Other tools (feedcachectl, tests) share the prefix. */
            log_warn("settings", "ignoring unknown environment variable %.*s", (int)namelen, *e);
            continue;
        }
        if (settings_set(s, key, eq + 1, why, sizeof why) != 0) {
            snprintf(err, errlen, "environment %.*s: %s", (int)namelen, *e, why);
            return -1;
        }
    }
    return 0;
}

/* "--feed-ttl" -> "feed_ttl" (returns NULL if not a --flag). */
static const char *flag_to_key(const char *arg, char *key, size_t keycap, const char **inline_value)
{
    if (strncmp(arg, "--", 2) != 0 || !arg[2])
        return NULL;
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    if (n >= keycap)
        n = keycap - 1;
    for (size_t i = 0; i < n; i++)
        key[i] = name[i] == '-' ? '_' : name[i];
    key[n] = '\0';
    *inline_value = eq ? eq + 1 : NULL;
    return key;
}

/* Rules between settings, checked once all are known. */
static settings_result_t settings_check_together(const settings_t *s, char *err, size_t errlen)
{
    if (s->redis_wait_replicas > 0 && s->redis_wait_timeout_ms >= s->redis_timeout_ms) {
        snprintf(err, errlen, "redis_wait_timeout_ms (%" PRIu64 ") must be below "
                 "redis_timeout_ms (%" PRIu64 "): a WAIT that long would look like a dead "
                 "connection", (uint64_t)s->redis_wait_timeout_ms, (uint64_t)s->redis_timeout_ms);
        return SETTINGS_BAD;
    }
    return SETTINGS_OK;
}

settings_result_t settings_load(settings_t *s, int argc, char **argv, char **envp,
                                FILE *out, char *err, size_t errlen)
{
    settings_defaults(s);
    const char *progname = argc > 0 ? argv[0] : "feedcached";
    const char *config = NULL;

    /* First pass: help, version and the config file, which must be read
     * before the environment and the other flags that override it. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            settings_print_help(out, progname);
            return SETTINGS_EXIT;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            fprintf(out, "feedcached %s\n", FC_VERSION);
            return SETTINGS_EXIT;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "flag --config needs a value");
                return SETTINGS_BAD;
            }
            config = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config = argv[i] + 9;
        }
    }
    if (!config) {
        for (char **e = envp; e && *e; e++)
            if (strncmp(*e, "FEEDCACHE_CONFIG=", 17) == 0)
                config = *e + 17;
    }
    if (config && load_file(s, config, err, errlen) != 0)
        return SETTINGS_BAD;
    if (load_env(s, envp, err, errlen) != 0)
        return SETTINGS_BAD;

    char why[512];
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(arg, "--config=", 9) == 0)
            continue;
        char key[64];
        const char *value;
        if (!flag_to_key(arg, key, sizeof key, &value)) {
            snprintf(err, errlen, "unexpected argument '%s' (settings are flags: --NAME VALUE)", arg);
            return SETTINGS_BAD;
        }
        if (!find_def(key)) {
            snprintf(err, errlen, "unknown flag %.*s", (int)strcspn(arg, "="), arg);
            return SETTINGS_BAD;
        }
        if (!value) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "flag %s needs a value", arg);
                return SETTINGS_BAD;
            }
            value = argv[++i];
        }
        if (settings_set(s, key, value, why, sizeof why) != 0) {
            snprintf(err, errlen, "flag %.*s: %s", (int)strcspn(arg, "="), arg, why);
            return SETTINGS_BAD;
        }
    }
    return settings_check_together(s, err, errlen);
}

#include "feedcached/reload.h"

#include <stdio.h>
#include <string.h>

#include "rpc/rpc_auth.h"
#include "util/buf.h"
#include "util/log.h"

extern char **environ;

/* Applies one reloadable setting whose value changed from old to new.
 * Returns 0 when it is now in force, -1 when it is kept (and why is logged
 * or added to restart). */
static int apply(service_t *svc, const char *key, const char *old, const char *new,
                 buf_t *restart)
{
    if (strcmp(key, "log_level") == 0) {
        log_level_t level;
        if (log_level_parse(new, &level) != 0)
            return -1;      /* settings_load checked it: not reached */
        log_set_level(level);
        return 0;
    }
    if (strcmp(key, "log_format") == 0) {
        log_format_t format;
        if (log_format_parse(new, &format) != 0)
            return -1;
        log_set_format(format);
        return 0;
    }
    if (strcmp(key, "auth_tokens_file") == 0) {
        if (!*old || !*new) {
            buf_printf(restart, "%sauth_tokens_file (turning authentication %s)",
                       restart->len ? ", " : "", *new ? "on" : "off");
            return -1;
        }
        return rpc_auth_reload_path(svc->auth, new);
    }
    return -1;
}

void reload_run(service_t *svc)
{
    settings_t fresh;
    char err[1024] = "";
    settings_result_t r = settings_load(&fresh, svc->argc, svc->argv, environ, stdout, err,
                                        sizeof err);
    if (r != SETTINGS_OK) {
        log_error("main", "reload: %s: every setting stays as it is", err);
        settings_free(&fresh);
        /* The tokens file alone is still re-read: rotating a token must
         * not depend on the rest of the configuration. */
        if (rpc_auth_enabled(svc->auth))
            rpc_auth_reload(svc->auth);
        return;
    }

    buf_t changed, restart;
    buf_init(&changed);
    buf_init(&restart);
    bool tokens_read = false;
    char old[4096], new[4096], why[512];
    for (size_t i = 0; i < settings_count(); i++) {
        const char *key = settings_key(i);
        settings_text(&svc->settings, i, old, sizeof old);
        settings_text(&fresh, i, new, sizeof new);
        if (strcmp(old, new) == 0)
            continue;
        if (!settings_reloadable(key)) {
            buf_printf(&restart, "%s%s", restart.len ? ", " : "", key);
            continue;
        }
        if (strcmp(key, "auth_tokens_file") == 0 && *old && *new)
            tokens_read = true;     /* the new file is read: applied, or its error logged */
        if (apply(svc, key, old, new, &restart) != 0)
            continue;
        buf_printf(&changed, "%s%s %s -> %s", changed.len ? ", " : "", key,
                   *old ? old : "(empty)", new);
        if (settings_set(&svc->settings, key, new, why, sizeof why) != 0)
            log_error("main", "reload: %s", why);     /* it loaded a moment ago */
    }
    settings_free(&fresh);

    /* Same file name (or none): its tokens are read again all the same. */
    if (!tokens_read && rpc_auth_enabled(svc->auth))
        rpc_auth_reload(svc->auth);

    if (changed.len)
        log_info("main", "reload: %s", changed.data);
    else
        log_info("main", "reload: no reloadable setting changed (log_level, log_format, "
                 "auth_tokens_file)");
    if (restart.len)
        log_warn("main", "reload: changed, but only a restart applies them (the values in "
                 "use stay): %s", restart.data);
    buf_free(&changed);
    buf_free(&restart);
}

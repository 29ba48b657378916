/* SIGHUP: feedcached reads its settings again, the way it read them at
 * start (config file, the environment it started with, its flags: the same
 * precedence), and applies those that can change under a running service:
 * log_level, log_format and auth_tokens_file (settings_reloadable()). The
 * tokens file is re-read even when its name did not change: that is how a
 * token is rotated (docs/OPERATIONS.md, "Authentication").
 *
 * One info line names what changed (`reload: log_level info -> debug`), or
 * says that nothing did; a warning names the settings that changed but
 * only take effect at a restart (names only: values such as `redis` may
 * hold passwords). A config file that no longer loads changes nothing but
 * the tokens, and says why. Turning authentication on or off (an empty
 * auth_tokens_file becoming a path, or the reverse) needs a restart too:
 * connections open now were accepted under the other rule. */
#ifndef FC_FEEDCACHED_RELOAD_H
#define FC_FEEDCACHED_RELOAD_H

#include "feedcached/service.h"

/* Runs on the loop (the SIGHUP handler). Uses svc->argc/argv and the
 * process environment. */
void reload_run(service_t *svc);

#endif

/* Fuzz target: the settings config file (src/config/settings.c, load_file
 * and every setting's validation behind settings_set), through the public
 * entry point the daemon uses: settings_load(--config FILE).
 *
 * The input is the file's contents. It is written to a memfd and named as
 * /proc/self/fd/N, so nothing touches the disk and settings.c needs no
 * test-only entry point. No environment, no other flags. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/settings.h"
#include "fuzz.h"
#include "util/log.h"

static int memfd = -1;
static char path[64];

static void setup(void)
{
    /* Unknown keys and the like are errors, not warnings; keep the log for
     * the errors that would be real ones. */
    log_set_level(LOG_ERROR);
    memfd = memfd_create("fuzz_settings", 0);
    FUZZ_CHECK(memfd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
}

static void write_all(const uint8_t *data, size_t size)
{
    FUZZ_CHECK(ftruncate(memfd, 0) == 0);
    size_t off = 0;
    while (off < size) {
        ssize_t n = pwrite(memfd, data + off, size - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        FUZZ_CHECK(n > 0);
        off += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memfd < 0)
        setup();
    write_all(data, size);

    char *argv[] = { (char *)"feedcached", (char *)"--config", path, NULL };
    char *envp[] = { NULL };
    char err[1024];
    err[0] = '\0';
    settings_t s;
    settings_result_t rc = settings_load(&s, 3, argv, envp, stdout, err, sizeof err);
    FUZZ_CHECK(rc == SETTINGS_OK || rc == SETTINGS_BAD);
    if (rc == SETTINGS_BAD) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
        /* It names the file and the line. */
        FUZZ_CHECK(strncmp(err, "config ", 7) == 0);
    } else {
        /* Every string setting is set; the ranges of the table hold. */
        FUZZ_CHECK(s.listen && s.metrics_listen && s.redis && s.pg && s.key_prefix &&
                   s.log_level && s.log_format && s.warm_window);
        FUZZ_CHECK(strcmp(s.log_format, "text") == 0 || strcmp(s.log_format, "json") == 0);
        FUZZ_CHECK(s.feed_max >= 1 && s.feed_max <= 100000);
        FUZZ_CHECK(s.max_frame >= 16 && s.max_frame <= 1073741824);
        FUZZ_CHECK(strlen(s.redis) >= 1 && strlen(s.redis) <= 1023);
        FUZZ_CHECK(strlen(s.key_prefix) >= 1 && strlen(s.key_prefix) <= 64);
    }
    settings_free(&s);
    return 0;
}

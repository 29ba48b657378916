/* Runs files through LLVMFuzzerTestOneInput once each, without libFuzzer:
 * the fuzz_replay_<target> unit tests replay a target's corpus in the
 * regular (gcc, ASan, valgrind) builds. Arguments are files or directories
 * (every regular file directly inside). Exits non-zero when there is
 * nothing to replay; a failing input aborts, with its name printed first. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/buf.h"

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    buf_t b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        perror(path);
        buf_free(&b);
        return -1;
    }
    /* Printed before the run: an input that aborts is named in the log. */
    fprintf(stderr, "replay %s (%zu bytes)\n", path, b.len);
    /* A copy of exactly the input's size, so ASan catches a read past it. */
    uint8_t *data = fc_xmalloc(b.len ? b.len : 1);
    memcpy(data, b.data ? b.data : "", b.len);
    LLVMFuzzerTestOneInput(data, b.len);
    free(data);
    buf_free(&b);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays the regular files of dir in name order; returns how many. */
static int replay_dir(const char *dir, int *failed)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        (*failed)++;
        return 0;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            names = fc_xrealloc(names, cap * sizeof *names);
        }
        buf_t p;
        buf_init(&p);
        buf_printf(&p, "%s/%s", dir, e->d_name);
        names[count++] = p.data;
    }
    closedir(d);
    qsort(names, count, sizeof *names, cmp_names);
    int done = 0;
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(names[i]) != 0)
                (*failed)++;
            else
                done++;
        }
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    int done = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            failed++;
        } else if (S_ISDIR(st.st_mode)) {
            done += replay_dir(argv[i], &failed);
        } else if (replay_file(argv[i]) == 0) {
            done++;
        } else {
            failed++;
        }
    }
    printf("%d inputs replayed, %d unreadable\n", done, failed);
    return failed || done == 0 ? 1 : 0;
}

/* The libFuzzer entry points every fuzz_<target>.c defines (and
 * replay_main.c calls without libFuzzer). */
#ifndef FC_TESTS_FUZZ_FUZZ_H
#define FC_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: report and abort, so that libFuzzer keeps the input
 * and the replay test fails. Unlike assert(), never compiled out. */
#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) \
            fuzz_fail(__FILE__, __LINE__, #cond); \
    } while (0)

__attribute__((noreturn)) static inline void fuzz_fail(const char *file, int line,
                                                       const char *what)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    abort();
}

#endif

/*
 * What the fuzz targets share: the libFuzzer entry point they define, and
 * PROPERTY(), which reports a violated property together with the input
 * that broke it and aborts, so that libFuzzer saves the input as a crash
 * and the replay driver's test fails.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The one function a fuzz target defines; libFuzzer or tests/fuzz/replay.c calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input being checked, set by the target on entry so a report can show it. */
static const uint8_t *fuzz_input;
static size_t fuzz_input_size;

static inline void fuzz_begin(const uint8_t *data, size_t size)
{
    fuzz_input = data;
    fuzz_input_size = size;
}

/* Print which property failed, why, and the input in hex (xxd -r -p turns it back into a file). */
__attribute__((noreturn, format(printf, 2, 3))) static inline void fuzz_fail(const char *property,
                                                                             const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fuzz: property violated: %s\nfuzz: ", property);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nfuzz: input (%zu bytes, hex): ", fuzz_input_size);
    for (size_t i = 0; i < fuzz_input_size; i++)
        fprintf(stderr, "%02x", fuzz_input[i]);
    fputc('\n', stderr);
    abort();
}

/* Abort with a report unless @p cond holds; the rest is a printf-style detail. */
#define PROPERTY(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(#cond, __VA_ARGS__);                                                         \
    } while (0)

#endif

/*
 * Minimal helpers for test programs: checks that count failures and report
 * file and line, and a private temporary directory removed at exit.
 * A test's main() ends with `return test_exit();` (0 pass, 1 fail).
 * Exit codes follow Automake: 77 skip, 99 harness error.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long got_ = (long long)(got), want_ = (long long)(want);                              \
        test_checks++;                                                                             \
        if (got_ != want_) {                                                                       \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, #got, got_,  \
                    want_);                                                                        \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *got_ = (got), *want_ = (want);                                                 \
        test_checks++;                                                                             \
        if (strcmp(got_, want_) != 0) {                                                            \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #got,    \
                    got_, want_);                                                                  \
        }                                                                                          \
    } while (0)

/* Abort the test as a harness error (exit 99) when setup fails. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: setup failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(99);                                                                              \
        }                                                                                          \
    } while (0)

static char test_dir[256];

static void test_dir_remove(void)
{
    char cmd[300];

    if (test_dir[0] && getenv("TEST_KEEP") == NULL) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", test_dir);
    }
}

/* A fresh directory for this test (under $TMPDIR or /tmp), removed at exit. */
static inline const char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");

    if (!test_dir[0]) {
        snprintf(test_dir, sizeof test_dir, "%s/ep-test-XXXXXX", base ? base : "/tmp");
        REQUIRE(mkdtemp(test_dir) != NULL);
        atexit(test_dir_remove);
    }
    return test_dir;
}

static inline int test_exit(void)
{
    fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#endif

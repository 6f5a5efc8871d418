/*
 * The replay driver: runs a fuzz target without libFuzzer, so that every
 * build's `make check` exercises its properties. It feeds the target every
 * file of the seed corpus (or of the files and directories named on the
 * command line), then a fixed number of pseudo-random mutations of them
 * from a fixed seed, so a run is deterministic and quick.
 *
 *   replay_host                      the corpus in $top_srcdir/tests/fuzz/corpus/host
 *   replay_host crash-1234 dir/      those files, and the files in dir/
 *
 * FUZZ_REPLAY_RUNS (default 20000) and FUZZ_REPLAY_SEED (default 1) change
 * the mutations. A violated property aborts in the target with a report;
 * a crash or a sanitizer report also names the input that caused it here.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET names the target's corpus folder"
#endif

#ifdef FUZZ_REPLAY_DEFAULT_RUNS
#define DEFAULT_RUNS FUZZ_REPLAY_DEFAULT_RUNS /* a slower target (fuzz_api) runs fewer */
#else
#define DEFAULT_RUNS 20000
#endif
/* Mutants stay below this size: a little over the longest raw host accepted (4 * 254). */
#define MUTANT_MAX 1100

struct input {
    char *name;
    uint8_t *data;
    size_t size;
};

static struct input *inputs;
static size_t ninputs, inputs_cap;

/* What is being run now, for the report written when the process dies. */
static const char *current_name;
static long current_mutation = -1;
static const uint8_t *current_data;
static size_t current_size;
static unsigned long long seed = 1;

/* Sanitizer runtimes call this before they exit on a report (a weak symbol: absent otherwise). */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* Write with no stdio, so it can run from a signal handler. */
static void say(const char *s)
{
    size_t len = strlen(s);

    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void say_number(unsigned long long v)
{
    char buf[24];
    size_t i = sizeof buf - 1;

    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    say(buf + i);
}

/* Name the input that was running, and show it in hex (xxd -r -p makes a file of it again). */
static void report_current(void)
{
    static const char hex[] = "0123456789abcdef";

    if (current_name == NULL)
        return;
    say("replay: the failing input is ");
    if (current_mutation >= 0) {
        say("mutation ");
        say_number((unsigned long long)current_mutation);
        say(" (FUZZ_REPLAY_SEED=");
        say_number(seed);
        say(") of ");
    }
    say(current_name);
    say("\nreplay: input (");
    say_number(current_size);
    say(" bytes, hex): ");
    for (size_t i = 0; i < current_size; i++) {
        char pair[3] = {hex[current_data[i] >> 4], hex[current_data[i] & 15], '\0'};
        say(pair);
    }
    say("\n");
}

static void on_fatal_signal(int sig)
{
    report_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void add_input(const char *name, uint8_t *data, size_t size)
{
    if (ninputs == inputs_cap) {
        inputs_cap = inputs_cap ? 2 * inputs_cap : 64;
        inputs = realloc(inputs, inputs_cap * sizeof *inputs);
        if (inputs == NULL) {
            fprintf(stderr, "replay: out of memory\n");
            exit(99);
        }
    }
    inputs[ninputs].name = strdup(name);
    inputs[ninputs].data = data;
    inputs[ninputs].size = size;
    if (inputs[ninputs].name == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        exit(99);
    }
    ninputs++;
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, n;

    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        exit(99);
    }
    do {
        if (size == cap) {
            cap = cap ? 2 * cap : 4096;
            data = realloc(data, cap);
            if (data == NULL) {
                fprintf(stderr, "replay: out of memory reading %s\n", path);
                exit(99);
            }
        }
        n = fread(data + size, 1, cap - size, f);
        size += n;
    } while (n > 0);
    if (ferror(f)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        exit(99);
    }
    fclose(f);
    add_input(path, data, size);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or every regular file of a directory in name order (the order mutations depend on). */
static void load_path(const char *path)
{
    struct stat st;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *dir;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        exit(99);
    }
    if (!S_ISDIR(st.st_mode)) {
        load_file(path);
        return;
    }
    dir = opendir(path);
    if (dir == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        exit(99);
    }
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
        }
        if (names == NULL || asprintf(&names[n], "%s/%s", path, e->d_name) < 0) {
            fprintf(stderr, "replay: out of memory\n");
            exit(99);
        }
        n++;
    }
    closedir(dir);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            load_file(names[i]);
        free(names[i]);
    }
    free(names);
}

/* splitmix64: a small generator whose sequence is the same on every machine. */
static unsigned long long rng_state;

static unsigned long long rng(void)
{
    unsigned long long z = (rng_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return n ? (size_t)(rng() % n) : 0;
}

/*
 * Bytes that mean something to host and rule parsers, and UTF-8 lead and
 * continuation bytes, so mutations reach the branches beyond the first
 * check more often than random bytes would.
 */
static const uint8_t interesting[] = {'.', '-',  '_', '%',  ':',  '[',  ']',  '*',  '~',  '@',
                                      '/', '\\', '#', '?',  'x',  'n',  '0',  '9',  'A',  'f',
                                      ' ', '\n', 0,   0x7f, 0xc3, 0xa4, 0xe2, 0x80, 0x8b, 0xff};

/*
 * Apply one to four random edits to @p buf (@p size bytes, room for
 * MUTANT_MAX): flip a bit, set a byte, insert or delete bytes, repeat a
 * chunk, splice in part of another input, or cut the end.
 */
static size_t mutate(uint8_t *buf, size_t size)
{
    size_t edits = 1 + below(4);

    for (size_t e = 0; e < edits; e++) {
        size_t pos = below(size + 1), len;
        const struct input *other;

        switch (below(8)) {
        case 0:
            if (size > 0)
                buf[below(size)] ^= (uint8_t)(1u << below(8));
            break;
        case 1:
            if (size > 0)
                buf[below(size)] = interesting[below(sizeof interesting)];
            break;
        case 2:
            if (size > 0)
                buf[below(size)] = (uint8_t)rng();
            break;
        case 3:
            if (size < MUTANT_MAX) {
                memmove(buf + pos + 1, buf + pos, size - pos);
                buf[pos] = interesting[below(sizeof interesting)];
                size++;
            }
            break;
        case 4:
            if (size > 0) {
                pos = below(size);
                len = 1 + below(size - pos < 8 ? size - pos : 8);
                memmove(buf + pos, buf + pos + len, size - pos - len);
                size -= len;
            }
            break;
        case 5:
            /* Repeat a chunk: long labels, long hosts, many dots. */
            if (size > 0) {
                size_t from = below(size);
                len = 1 + below(size - from);
                for (size_t r = 1 + below(8); r > 0 && size + len <= MUTANT_MAX; r--) {
                    memmove(buf + pos + len, buf + pos, size - pos);
                    memmove(buf + pos, buf + (from < pos ? from : from + len), len);
                    size += len;
                }
            }
            break;
        case 6:
            other = &inputs[below(ninputs)];
            if (other->size > 0) {
                size_t from = below(other->size);
                len = 1 + below(other->size - from);
                if (len > MUTANT_MAX - pos)
                    len = MUTANT_MAX - pos;
                memcpy(buf + pos, other->data + from, len);
                if (pos + len > size)
                    size = pos + len;
            }
            break;
        default:
            size = pos;
            break;
        }
    }
    return size;
}

/* Run the target on an exact-size heap copy, so ASan sees any read past the end. */
static void run_one(const char *name, long mutation, const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);

    if (copy == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        exit(99);
    }
    memcpy(copy, data, size);
    current_name = name;
    current_mutation = mutation;
    current_data = copy;
    current_size = size;
    LLVMFuzzerTestOneInput(copy, size);
    current_name = NULL;
    free(copy);
}

int main(int argc, char **argv)
{
    const char *top = getenv("top_srcdir"), *env;
    uint8_t *buf;
    long runs = DEFAULT_RUNS;
    char *corpus;

    if ((env = getenv("FUZZ_REPLAY_RUNS")) != NULL)
        runs = strtol(env, NULL, 10);
    if ((env = getenv("FUZZ_REPLAY_SEED")) != NULL)
        seed = strtoull(env, NULL, 10);
    signal(SIGABRT, on_fatal_signal);
    signal(SIGSEGV, on_fatal_signal);
    signal(SIGBUS, on_fatal_signal);
    signal(SIGFPE, on_fatal_signal);
    signal(SIGILL, on_fatal_signal);
    if (__sanitizer_set_death_callback != NULL)
        __sanitizer_set_death_callback(report_current);

    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            load_path(argv[i]);
    } else {
        if (asprintf(&corpus, "%s/tests/fuzz/corpus/%s", top ? top : ".", FUZZ_TARGET) < 0)
            return 99;
        load_path(corpus);
        free(corpus);
    }
    if (ninputs == 0) {
        fprintf(stderr, "replay: no inputs to run\n");
        return 99;
    }

    for (size_t i = 0; i < ninputs; i++)
        run_one(inputs[i].name, -1, inputs[i].data, inputs[i].size);

    buf = malloc(MUTANT_MAX);
    if (buf == NULL)
        return 99;
    rng_state = seed;
    for (long m = 0; m < runs; m++) {
        const struct input *base = &inputs[below(ninputs)];
        size_t size = base->size < MUTANT_MAX ? base->size : MUTANT_MAX;

        memcpy(buf, base->data, size);
        size = mutate(buf, size);
        run_one(base->name, m, buf, size);
    }
    printf("replay %s: %zu corpus inputs and %ld mutations (seed %llu) hold every property\n",
           FUZZ_TARGET, ninputs, runs, seed);
    free(buf);
    for (size_t i = 0; i < ninputs; i++) {
        free(inputs[i].name);
        free(inputs[i].data);
    }
    free(inputs);
    return 0;
}

/*
 * The record batcher (policy/recorder.h): a discovery is written at once
 * and never counted twice; notes spread over threads and processes give
 * exact counts with the right allowed/denied split; a flush that fails
 * (out of memory, a full map) keeps its counts pending and a later flush
 * writes them exactly once.
 */
#include <lmdb.h>
#include <pthread.h>
#include <sys/wait.h>

#include "policy/recorder.h"
#include "tests/store/storetest.h"

#define PROCS   3
#define THREADS 4
#define NOTES   3000 /* per thread */
#define HOSTS   20

static uint64_t count_of(struct ep_store *s, const char *project, const char *host)
{
    struct ep_seen seen;

    return seen_get(s, project, host, &seen) ? seen.count : 0;
}

static void test_discovery_counted_once(void)
{
    struct ep_store *s = store_open_dir(store_dir("once"), 0);
    struct ep_recorder *rec;
    struct ep_seen seen;

    REQUIRE(ep_recorder_new(s, 0, &rec) == 0);
    CHECK_INT(ep_recorder_note(rec, "p", "new.example.com", EP_VERDICT_DENY), 0);
    /* Written at once, before any flush. */
    CHECK(seen_get(s, "p", "new.example.com", &seen));
    CHECK_INT(seen.count, 1);
    CHECK_INT(seen.denied, 1);
    CHECK_INT(seen.last_verdict, EP_VERDICT_DENY);
    for (int i = 0; i < 4; i++)
        CHECK_INT(ep_recorder_note(rec, "p", "new.example.com", EP_VERDICT_ALLOW), 0);
    CHECK_INT(count_of(s, "p", "new.example.com"), 1);
    CHECK_INT(ep_recorder_flush(rec), 0);
    CHECK(seen_get(s, "p", "new.example.com", &seen));
    CHECK_INT(seen.count, 5);
    CHECK_INT(seen.allowed, 4);
    CHECK_INT(seen.denied, 1);
    CHECK_INT(seen.last_verdict, EP_VERDICT_ALLOW);
    CHECK_INT(ep_recorder_flush(rec), 0);
    CHECK_INT(count_of(s, "p", "new.example.com"), 5);
    /* The same host for another project is another pair. */
    CHECK_INT(ep_recorder_note(rec, "q", "new.example.com", EP_VERDICT_ALLOW), 0);
    CHECK_INT(count_of(s, "q", "new.example.com"), 1);
    CHECK_INT(ep_recorder_note(rec, "", "x.example.com", EP_VERDICT_ALLOW), EP_E_INVAL);
    CHECK_INT(ep_recorder_note(rec, "p", "", EP_VERDICT_ALLOW), EP_E_INVAL);
    /* Free flushes what is pending. */
    CHECK_INT(ep_recorder_note(rec, "q", "new.example.com", EP_VERDICT_ALLOW), 0);
    ep_recorder_free(rec);
    CHECK_INT(count_of(s, "q", "new.example.com"), 2);
    ep_recorder_free(NULL);
    ep_store_close(s);
}

struct worker {
    struct ep_recorder *rec;
    int id;
    int failures;
};

/* Note i goes to host i % HOSTS; every third note is a denial. */
static void *note_thread(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < NOTES; i++) {
        char host[64];

        snprintf(host, sizeof host, "h%d.example.com", i % HOSTS);
        if (ep_recorder_note(w->rec, "proj", host,
                             i % 3 == 0 ? EP_VERDICT_DENY : EP_VERDICT_ALLOW) != 0)
            w->failures++;
    }
    return NULL;
}

static int recording_process(const char *dir)
{
    struct ep_store *s = store_open_dir(dir, 0);
    struct worker w[THREADS];
    pthread_t t[THREADS];
    int failures = 0;

    REQUIRE(ep_recorder_new(s, 5, &w[0].rec) == 0);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.rec = w[0].rec, .id = i};
        REQUIRE(pthread_create(&t[i], NULL, note_thread, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += w[i].failures;
    }
    ep_recorder_free(w[0].rec);
    ep_store_close(s);
    return failures ? 1 : 0;
}

static void test_exact_counts(void)
{
    const char *dir = store_dir("exact");
    struct ep_store *s;
    pid_t pids[PROCS];
    int status;
    uint64_t per_host = (uint64_t)PROCS * THREADS * NOTES / HOSTS, total = 0;

    ep_store_close(store_open_dir(dir, 0));
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        REQUIRE(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(recording_process(dir));
    }
    for (int i = 0; i < PROCS; i++) {
        REQUIRE(waitpid(pids[i], &status, 0) == pids[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    s = store_open_dir(dir, 0);
    for (int h = 0; h < HOSTS; h++) {
        char host[64];
        struct ep_seen seen;
        uint64_t denied = 0;

        /* Host h gets notes i = h, h + HOSTS, ...; those with i % 3 == 0 are denials. */
        for (int i = h; i < NOTES; i += HOSTS)
            denied += i % 3 == 0;
        denied *= PROCS * THREADS;
        snprintf(host, sizeof host, "h%d.example.com", h);
        CHECK(seen_get(s, "proj", host, &seen));
        CHECK_INT(seen.count, per_host);
        CHECK_INT(seen.denied, denied);
        CHECK_INT(seen.allowed, per_host - denied);
        total += seen.count;
    }
    CHECK_INT(total, (uint64_t)PROCS * THREADS * NOTES);
    ep_store_close(s);
}

/* A flush that cannot allocate keeps everything pending. */
static void test_flush_nomem(void)
{
    struct ep_store *s = store_open_dir(store_dir("nomem"), 0);
    struct ep_recorder *rec;

    REQUIRE(ep_recorder_new(s, 0, &rec) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(ep_recorder_note(rec, "p", "a.example.com", EP_VERDICT_ALLOW), 0);
    ep_alloc_fail_after(0);
    CHECK_INT(ep_recorder_flush(rec), EP_E_NOMEM);
    ep_alloc_fail_after(-1);
    CHECK_INT(count_of(s, "p", "a.example.com"), 1);
    CHECK_INT(ep_recorder_flush(rec), 0);
    CHECK_INT(count_of(s, "p", "a.example.com"), 3);
    ep_recorder_free(rec);
    ep_store_close(s);
}

/*
 * A full map, made the way it happens in production: a reader that stays
 * open pins every page written since it began, so repeated writes fill the
 * map. The discovery write and the flush then fail with MDB_MAP_FULL and
 * keep their counts; once the reader is gone, one flush writes them
 * exactly once.
 */
static void test_flush_map_full(void)
{
    struct ep_store *s = store_open_dir(store_dir("full"), 256 * 1024);
    struct ep_seen_delta junk = {"junk", "filler.example.com", 1, 0, 1, 1, EP_VERDICT_ALLOW};
    struct ep_store_read *pin;
    struct ep_recorder *rec;
    struct ep_seen seen;
    int rc = 0;

    REQUIRE(ep_recorder_new(s, 0, &rec) == 0);
    CHECK_INT(ep_recorder_note(rec, "p", "kept.example.com", EP_VERDICT_DENY), 0);
    CHECK_INT(ep_recorder_note(rec, "p", "kept.example.com", EP_VERDICT_ALLOW), 0);

    REQUIRE(ep_store_read_begin(s, &pin) == 0);
    for (int i = 0; rc == 0 && i < 100000; i++)
        rc = ep_store_seen_add(s, &junk, 1);
    REQUIRE(rc == MDB_MAP_FULL);

    CHECK_INT(ep_recorder_note(rec, "p", "new.example.com", EP_VERDICT_DENY), MDB_MAP_FULL);
    CHECK_INT(ep_recorder_note(rec, "p", "new.example.com", EP_VERDICT_ALLOW), 0);
    CHECK_INT(ep_recorder_flush(rec), MDB_MAP_FULL);
    CHECK_INT(ep_recorder_flush(rec), MDB_MAP_FULL);
    CHECK_INT(count_of(s, "p", "kept.example.com"), 1);
    CHECK(!seen_get(s, "p", "new.example.com", &seen));

    ep_store_read_end(pin);
    CHECK_INT(ep_recorder_flush(rec), 0);
    CHECK(seen_get(s, "p", "kept.example.com", &seen));
    CHECK_INT(seen.count, 2);
    CHECK_INT(seen.allowed, 1);
    CHECK(seen_get(s, "p", "new.example.com", &seen));
    CHECK_INT(seen.count, 2);
    CHECK_INT(seen.denied, 1);
    CHECK_INT(seen.allowed, 1);
    CHECK_INT(ep_recorder_flush(rec), 0);
    CHECK_INT(count_of(s, "p", "new.example.com"), 2);
    ep_recorder_free(rec);
    ep_store_close(s);
}

int main(void)
{
    test_discovery_counted_once();
    test_exact_counts();
    test_flush_nomem();
    test_flush_map_full();
    return test_exit();
}

/*
 * The record batcher of recorder.h. A hash table (open addressing, linear
 * probing, pointers to heap entries so an entry never moves) holds every
 * (project, host) this recorder knows and the counts noted since the last
 * flush. A pair's first request is written at once and only later requests
 * are summed, so every request is written exactly once.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "policy/recorder.h"

#define TABLE_MIN 256

struct pair {
    uint64_t hash;
    bool discovering; /* its first request is being written right now */
    uint64_t allowed, denied;
    int64_t first_seen, last_seen;
    uint32_t last_verdict;
    char *host; /* points into key, after the project id and its NUL */
    char key[]; /* project id NUL host NUL */
};

struct ep_recorder {
    struct ep_store *store;
    pthread_mutex_t lock;       /* the table and the pending counts */
    pthread_mutex_t flush_lock; /* one flush at a time; only a flush removes pairs */
    struct pair **slots;
    size_t cap, count;
    bool forget; /* the table is full: the next flush forgets idle pairs */
    bool kick;   /* wake the flush thread before its interval ends */
    /* When the oldest count pending now was noted (monotonic µs), 0 when none is. */
    int64_t pending_since_us;
    _Atomic(struct ep_counters *) counters;

    unsigned interval_ms;
    bool thread_running, stop;
    pthread_t thread;
    pthread_cond_t wake;
};

static int64_t monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ep_recorder_set_counters(struct ep_recorder *rec, struct ep_counters *counters)
{
    atomic_store(&rec->counters, counters);
}

/* A count is pending from now on, unless an older one already is. The caller holds the lock. */
static void pending_from(struct ep_recorder *rec, int64_t now_us)
{
    if (rec->pending_since_us == 0 || now_us < rec->pending_since_us)
        rec->pending_since_us = now_us;
}

static uint64_t pair_hash(const char *id, const char *host)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = host; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static struct pair **slot_find(struct pair **slots, size_t cap, uint64_t hash, const char *id,
                               const char *host)
{
    for (size_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct pair *p = slots[i];

        if (!p || (p->hash == hash && strcmp(p->key, id) == 0 && strcmp(p->host, host) == 0))
            return &slots[i];
    }
}

/* Rebuild the table with @p cap slots, dropping the pairs @p keep refuses (and freeing them). */
static int table_rebuild(struct ep_recorder *rec, size_t cap, bool (*keep)(const struct pair *))
{
    struct pair **slots = ep_calloc(cap, sizeof *slots);

    if (!slots)
        return EP_E_NOMEM;
    rec->count = 0;
    for (size_t i = 0; i < rec->cap; i++) {
        struct pair *p = rec->slots[i];

        if (!p)
            continue;
        if (keep && !keep(p)) {
            ep_free(p);
            continue;
        }
        *slot_find(slots, cap, p->hash, p->key, p->host) = p;
        rec->count++;
    }
    ep_free(rec->slots);
    rec->slots = slots;
    rec->cap = cap;
    return 0;
}

static bool pair_busy(const struct pair *p)
{
    return p->discovering || p->allowed || p->denied;
}

static void pending_add(struct pair *p, uint64_t allowed, uint64_t denied, int64_t first,
                        int64_t last, uint32_t verdict)
{
    if (!p->allowed && !p->denied) {
        p->first_seen = first;
        p->last_seen = last;
        p->last_verdict = verdict;
    } else {
        if (first < p->first_seen)
            p->first_seen = first;
        if (last >= p->last_seen) {
            p->last_seen = last;
            p->last_verdict = verdict;
        }
    }
    p->allowed += allowed;
    p->denied += denied;
}

/*
 * Remember a new pair; NULL when the table is full (the flush thread is
 * woken to forget idle pairs) or memory is short. Such a request is still
 * written at once, only not remembered; if that write fails too, it is
 * the one case where a count is lost, and the error is returned.
 * The caller holds the lock.
 */
static struct pair *pair_insert(struct ep_recorder *rec, uint64_t hash, const char *id, size_t ilen,
                                const char *host, size_t hlen)
{
    struct pair *p;

    if (rec->count >= EP_RECORDER_MAX_PAIRS) {
        rec->forget = true;
        rec->kick = true;
        if (rec->thread_running)
            pthread_cond_signal(&rec->wake);
        return NULL;
    }
    if ((rec->count + 1) * 2 > rec->cap && table_rebuild(rec, rec->cap * 2, NULL) != 0)
        return NULL;
    p = ep_calloc(1, sizeof *p + ilen + hlen + 2);
    if (!p)
        return NULL;
    p->hash = hash;
    memcpy(p->key, id, ilen + 1);
    p->host = p->key + ilen + 1;
    memcpy(p->host, host, hlen + 1);
    *slot_find(rec->slots, rec->cap, hash, id, host) = p;
    rec->count++;
    return p;
}

/*
 * A known pair only adds to its pending counts. A new pair is remembered
 * (marked as being discovered), and its request written at once outside
 * the lock; requests for it that arrive meanwhile go to the pending counts,
 * so none is written twice. A failed discovery write becomes pending.
 */
int ep_recorder_note(struct ep_recorder *rec, const char *project_id, const char *host,
                     enum ep_verdict verdict)
{
    size_t ilen = strlen(project_id), hlen = strlen(host);
    uint64_t allowed = verdict == EP_VERDICT_ALLOW, denied = !allowed;
    int64_t now = (int64_t)time(NULL);
    uint64_t hash = pair_hash(project_id, host);
    struct ep_seen_delta d;
    struct pair *p;
    int rc;

    if (ilen == 0 || ilen > EP_ID_MAX || hlen == 0 || hlen > EP_HOST_MAX)
        return EP_E_INVAL;
    pthread_mutex_lock(&rec->lock);
    p = *slot_find(rec->slots, rec->cap, hash, project_id, host);
    if (p) {
        pending_add(p, allowed, denied, now, now, verdict);
        pending_from(rec, monotonic_us());
        pthread_mutex_unlock(&rec->lock);
        return 0;
    }
    p = pair_insert(rec, hash, project_id, ilen, host, hlen);
    if (p)
        p->discovering = true;
    pthread_mutex_unlock(&rec->lock);

    d.project_id = project_id;
    d.host = host;
    d.allowed = allowed;
    d.denied = denied;
    d.first_seen = d.last_seen = now;
    d.last_verdict = verdict;
    rc = ep_store_seen_add(rec->store, &d, 1);

    if (p) {
        pthread_mutex_lock(&rec->lock);
        p->discovering = false;
        if (rc) {
            pending_add(p, allowed, denied, now, now, verdict);
            pending_from(rec, monotonic_us());
        }
        pthread_mutex_unlock(&rec->lock);
    }
    if (rc == 0)
        ep_counters_add(atomic_load(&rec->counters), EP_COUNTER_RECORDER_DISCOVERIES, 1);
    return rc;
}

/*
 * Take every pending count out of the table, write them in one
 * transaction, and put them back if the write fails. Only a flush removes
 * pairs, and flushes are serialised, so the pairs behind the deltas stay
 * valid while the table lock is dropped for the write.
 */
int ep_recorder_flush(struct ep_recorder *rec)
{
    struct ep_seen_delta *deltas = NULL;
    struct pair **pairs = NULL;
    struct ep_counters *counters = atomic_load(&rec->counters);
    size_t n = 0, want = 0;
    int64_t since = 0;
    int rc = 0;

    pthread_mutex_lock(&rec->flush_lock);
    pthread_mutex_lock(&rec->lock);
    for (size_t i = 0; i < rec->cap; i++)
        if (rec->slots[i] && (rec->slots[i]->allowed || rec->slots[i]->denied))
            want++;
    if (want) {
        deltas = ep_malloc(want * sizeof *deltas);
        pairs = ep_malloc(want * sizeof *pairs);
        if (!deltas || !pairs) {
            pthread_mutex_unlock(&rec->lock);
            rc = EP_E_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < rec->cap && n < want; i++) {
        struct pair *p = rec->slots[i];

        if (!p || (!p->allowed && !p->denied))
            continue;
        pairs[n] = p;
        deltas[n] = (struct ep_seen_delta){
            .project_id = p->key,
            .host = p->host,
            .allowed = p->allowed,
            .denied = p->denied,
            .first_seen = p->first_seen,
            .last_seen = p->last_seen,
            .last_verdict = p->last_verdict,
        };
        p->allowed = p->denied = 0;
        n++;
    }
    since = rec->pending_since_us;
    rec->pending_since_us = 0;
    pthread_mutex_unlock(&rec->lock);

    if (n) {
        rc = ep_store_seen_add(rec->store, deltas, n);
        ep_counters_add(counters,
                        rc ? EP_COUNTER_RECORDER_FLUSH_ERRORS : EP_COUNTER_RECORDER_FLUSHES, 1);
        if (rc == 0 && since != 0)
            ep_counters_add_lag(counters, (uint64_t)(monotonic_us() - since));
    }

    pthread_mutex_lock(&rec->lock);
    if (rc) {
        if (since != 0)
            pending_from(rec, since);
        for (size_t i = 0; i < n; i++)
            pending_add(pairs[i], deltas[i].allowed, deltas[i].denied, deltas[i].first_seen,
                        deltas[i].last_seen, deltas[i].last_verdict);
    } else if (rec->forget) {
        /* Past the bound: forget every pair with nothing pending. */
        if (table_rebuild(rec, rec->cap, pair_busy) == 0)
            rec->forget = false;
    }
    pthread_mutex_unlock(&rec->lock);
out:
    pthread_mutex_unlock(&rec->flush_lock);
    ep_free(deltas);
    ep_free(pairs);
    return rc;
}

/* The flush thread: flush every interval, or at once when woken to forget or stop. */
static void *flush_thread(void *arg)
{
    struct ep_recorder *rec = arg;
    struct timespec deadline;

    pthread_mutex_lock(&rec->lock);
    while (!rec->stop) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += rec->interval_ms / 1000;
        deadline.tv_nsec += (long)(rec->interval_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!rec->stop && !rec->kick &&
               pthread_cond_timedwait(&rec->wake, &rec->lock, &deadline) != ETIMEDOUT)
            ;
        if (rec->stop)
            break;
        rec->kick = false;
        pthread_mutex_unlock(&rec->lock);
        /* A failed flush keeps its counts pending; the next interval retries. */
        ep_recorder_flush(rec);
        pthread_mutex_lock(&rec->lock);
    }
    pthread_mutex_unlock(&rec->lock);
    return NULL;
}

int ep_recorder_new(struct ep_store *store, unsigned interval_ms, struct ep_recorder **out)
{
    struct ep_recorder *rec = ep_calloc(1, sizeof *rec);
    pthread_condattr_t attr;
    int rc = 0;

    *out = NULL;
    if (!rec)
        return EP_E_NOMEM;
    rec->store = store;
    atomic_init(&rec->counters, NULL);
    rec->interval_ms = interval_ms;
    rec->cap = TABLE_MIN;
    rec->slots = ep_calloc(rec->cap, sizeof *rec->slots);
    if (!rec->slots) {
        ep_free(rec);
        return EP_E_NOMEM;
    }
    pthread_mutex_init(&rec->lock, NULL);
    pthread_mutex_init(&rec->flush_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rec->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (interval_ms > 0) {
        rc = pthread_create(&rec->thread, NULL, flush_thread, rec);
        rec->thread_running = rc == 0;
    }
    if (rc) {
        ep_recorder_free(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

void ep_recorder_free(struct ep_recorder *rec)
{
    if (!rec)
        return;
    if (rec->thread_running) {
        pthread_mutex_lock(&rec->lock);
        rec->stop = true;
        pthread_cond_signal(&rec->wake);
        pthread_mutex_unlock(&rec->lock);
        pthread_join(rec->thread, NULL);
    }
    ep_recorder_flush(rec);
    for (size_t i = 0; i < rec->cap; i++)
        ep_free(rec->slots[i]);
    ep_free(rec->slots);
    pthread_cond_destroy(&rec->wake);
    pthread_mutex_destroy(&rec->flush_lock);
    pthread_mutex_destroy(&rec->lock);
    ep_free(rec);
}

/*
 * Per-client limits (limits.h): a token bucket for the query rate, and for
 * the names a set of 64-bit hashes of the names asked since the client's
 * minute began, cleared when a new minute begins. Two names with the same
 * hash count as one: a tunnel cannot choose its names to collide without
 * knowing the per-process seed.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/limits.h"

#define LIMITS_PROBE 8
#define MINUTE_MS    60000

struct client_slot {
    bool used;
    uint64_t key;      /* hash of the client's address text */
    int64_t last_ms;   /* last query */
    double tokens;     /* the bucket */
    int64_t minute_ms; /* when this minute began */
    unsigned names;    /* distinct names this minute */
    uint64_t *set;     /* open-addressed set of name hashes, set_size slots, 0 = empty */
};

struct dns_limits {
    struct dns_limits_options opts;
    unsigned set_size; /* a power of two, at least twice the cap */
    uint64_t seed;
    pthread_mutex_t lock;
    struct client_slot slot[DNS_LIMITS_CLIENTS];
};

/* FNV-1a over @p s, started from @p seed; never 0 (0 marks a free set slot). */
static uint64_t hash_text(uint64_t seed, const char *s)
{
    uint64_t h = 1469598103934665603ull ^ seed;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h != 0 ? h : 1;
}

int dns_limits_new(const struct dns_limits_options *opts, struct dns_limits **out)
{
    struct dns_limits *lim;
    struct timespec ts;

    *out = NULL;
    if (opts->rate > DNS_LIMITS_RATE_MAX || opts->burst > DNS_LIMITS_RATE_MAX ||
        opts->names_per_minute > DNS_LIMITS_NAMES_MAX)
        return EINVAL;
    lim = calloc(1, sizeof *lim);
    if (lim == NULL)
        return ENOMEM;
    lim->opts = *opts;
    if (lim->opts.burst == 0)
        lim->opts.burst = lim->opts.rate;
    lim->set_size = 16;
    while (lim->set_size < 2u * opts->names_per_minute)
        lim->set_size *= 2;
    clock_gettime(CLOCK_REALTIME, &ts);
    lim->seed = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)ts.tv_sec;
    pthread_mutex_init(&lim->lock, NULL);
    *out = lim;
    return 0;
}

/* The slot of client @p key: its own, a free one, or the one seen longest ago (reset). */
static struct client_slot *find_slot(struct dns_limits *lim, uint64_t key, int64_t now_ms)
{
    struct client_slot *oldest = NULL;
    unsigned base = (unsigned)(key % DNS_LIMITS_CLIENTS);

    for (unsigned i = 0; i < LIMITS_PROBE; i++) {
        struct client_slot *s = &lim->slot[(base + i) % DNS_LIMITS_CLIENTS];
        if (s->used && s->key == key)
            return s;
        if (!s->used) {
            oldest = s;
            break;
        }
        if (oldest == NULL || s->last_ms < oldest->last_ms)
            oldest = s;
    }
    oldest->used = true;
    oldest->key = key;
    oldest->last_ms = now_ms;
    oldest->tokens = lim->opts.burst;
    oldest->minute_ms = now_ms;
    oldest->names = 0;
    if (oldest->set != NULL)
        memset(oldest->set, 0, lim->set_size * sizeof *oldest->set);
    return oldest;
}

/*
 * Whether name hash @p h is in @p s's set, and where it would go: true
 * when it is there; false with *@p at the free slot for it.
 */
static bool set_find(const struct dns_limits *lim, const struct client_slot *s, uint64_t h,
                     unsigned *at)
{
    unsigned mask = lim->set_size - 1, i = (unsigned)h & mask;

    while (s->set[i] != 0) {
        if (s->set[i] == h)
            return true;
        i = (i + 1) & mask;
    }
    *at = i;
    return false;
}

enum dns_limit_verdict dns_limits_check(struct dns_limits *lim, const char *client,
                                        const char *name, int64_t now_ms)
{
    enum dns_limit_verdict v = DNS_LIMIT_PASS;
    uint64_t h = 0;
    unsigned at = 0;
    bool new_name = false;
    struct client_slot *s;

    pthread_mutex_lock(&lim->lock);
    s = find_slot(lim, hash_text(lim->seed, client), now_ms);
    if (lim->opts.rate > 0) {
        s->tokens += (double)(now_ms - s->last_ms) * lim->opts.rate / 1000.0;
        if (s->tokens > lim->opts.burst)
            s->tokens = lim->opts.burst;
    }
    s->last_ms = now_ms;
    if (lim->opts.rate > 0 && s->tokens < 1.0) {
        v = DNS_LIMIT_RATE;
        goto out;
    }
    if (lim->opts.names_per_minute > 0) {
        if (now_ms - s->minute_ms >= MINUTE_MS) {
            s->minute_ms = now_ms;
            s->names = 0;
            if (s->set != NULL)
                memset(s->set, 0, lim->set_size * sizeof *s->set);
        }
        if (s->set == NULL)
            s->set = calloc(lim->set_size, sizeof *s->set);
        if (s->set == NULL) {
            /* No memory for the set: count the name as new (the cap errs on the safe side). */
            new_name = true;
        } else {
            h = hash_text(lim->seed ^ 0x9e3779b97f4a7c15ull, name);
            new_name = !set_find(lim, s, h, &at);
        }
        if (new_name && s->names >= lim->opts.names_per_minute) {
            v = DNS_LIMIT_NAMES;
            goto out;
        }
        if (new_name) {
            s->names++;
            if (s->set != NULL)
                s->set[at] = h;
        }
    }
    if (lim->opts.rate > 0)
        s->tokens -= 1.0;
out:
    pthread_mutex_unlock(&lim->lock);
    return v;
}

void dns_limits_free(struct dns_limits *lim)
{
    if (lim == NULL)
        return;
    for (unsigned i = 0; i < DNS_LIMITS_CLIENTS; i++)
        free(lim->slot[i].set);
    pthread_mutex_destroy(&lim->lock);
    free(lim);
}

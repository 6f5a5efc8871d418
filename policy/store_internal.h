/*
 * Private to the store (store.c, store_match.c and capture_store.c, and
 * the store tests that look inside); nothing else includes it. The handle,
 * its pooled reads and caches, and the helpers those files share. The
 * public interface is store.h.
 */
#ifndef EP_STORE_INTERNAL_H
#define EP_STORE_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <lmdb.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/covers.h"
#include "policy/store.h"

/* Profiles whose compiled regex rules the handle keeps at once. */
#define REGEX_CACHE_MAX 32
/* A rules key: profile NUL, the rule's key of covers.h, and room for a NUL. */
#define RULE_KEY_MAX (EP_PROFILE_MAX + 1 + EP_RULE_KEY_MAX + 1)
/* Most base-domain rules a pooled read copies into memory. */
#define BASE_COPY_MAX 1024
/*
 * Key filters (see "key filters" in store_match.c): a profile of at least
 * FILTER_MIN_RULES rules gets one, FILTER_BITS_PER_RULE bits a rule
 * (1.25 MB for 1,000,000 rules); a handle keeps at most FILTER_CACHE_MAX
 * of them and at most its key_filter_memory bytes together (16 MiB by
 * default), or none with no_key_filter.
 */
#define FILTER_MIN_RULES     4096
#define FILTER_MAX_RULES     (16u << 20)
#define FILTER_CACHE_MAX     8
#define FILTER_BITS_PER_RULE 10

/* One base-domain rule copied out of the store: its key (after the profile) and mask. */
struct base_entry {
    uint32_t off; /* into base_copy.keys */
    uint16_t len;
    uint8_t mask;
};

/*
 * The base profile of one generation, copied into a pooled read so that
 * the base check of every decision is a few binary searches in memory
 * instead of B-tree lookups. Host and ip: keys only; regex rules stay in
 * the regex cache. A base profile of more than BASE_COPY_MAX rules is not
 * copied (too_big) and is searched in the tree like any profile.
 */
struct base_copy {
    bool valid; /* filled for `generation` */
    bool too_big;
    bool regex; /* the profile has regex rules */
    uint64_t generation;
    size_t txnid; /* the last snapshot seen at `generation`: no need to look again */
    size_t n, cap;
    struct base_entry *entries; /* in the tree's key order */
    char *keys;
    size_t keys_len, keys_cap;
};

struct ep_store_read {
    struct ep_store *store;
    MDB_txn *txn;
    MDB_cursor *rules; /* read cursor on `rules`, renewed lazily with the txn */
    bool rules_live;   /* the cursor belongs to the current renewal */
    struct base_copy base;
    /* Whether `profile` has regex rules, as of snapshot `txnid` (0: not known). */
    struct {
        char profile[EP_PROFILE_MAX + 1];
        size_t txnid;
        bool regex;
    } regex_hint;
    /* The row of `profile` in `profiles` as of snapshot `txnid` (0: not known). */
    struct {
        char profile[EP_PROFILE_MAX + 1];
        size_t txnid;
        uint64_t generation;
        uint32_t rules;
    } info_hint;
    struct ep_store_read *next;
};

/* The compiled regex rules of one profile at one generation. */
struct regex_set {
    char profile[EP_PROFILE_MAX + 1]; /* "" when the slot is free */
    uint64_t generation;
    size_t n;
    pcre2_code **codes;
    char **patterns;
    bool *jit;
};

/*
 * A blocked Bloom filter over the host and ip: keys (after the profile) of
 * one profile at one generation: a key sets one bit in each of the 8
 * words of one 64-byte block, so a test costs one cache line.
 */
struct key_filter {
    uint64_t nblocks;
    bool regex; /* the profile has regex rules */
    uint64_t (*blocks)[8];
};

/*
 * A slot of the handle's filter cache: the filter of `profile` at
 * `generation`, or (filter NULL, building) one thread building it.
 */
struct filter_slot {
    char profile[EP_PROFILE_MAX + 1]; /* "" when the slot is free */
    uint64_t generation;
    bool building;
    size_t bytes; /* counted in the handle's filter_used */
    struct key_filter *filter;
};

struct ep_store {
    MDB_env *env;
    MDB_dbi meta, projects, clients, profiles, rules, seen, audit;
    MDB_dbi conversations, llm_hosts, pending; /* schema 2: capture_store.c */
    bool read_only;
    /*
     * pool_lock guards the pool and the count of transactions in use, which
     * adopting a grown map (map_adopt) must see at zero; `idle` is
     * broadcast when that count drops to zero during a remap and when the
     * remap is over.
     */
    pthread_mutex_t pool_lock;
    pthread_cond_t idle;
    struct ep_store_read *pool; /* reset read transactions, ready to renew */
    unsigned pooled;
    unsigned active;    /* read and write transactions of this handle in use */
    bool remapping;     /* a thread waits for `active` to reach 0 to remap */
    uint64_t map_epoch; /* bumped by each remap */
    pthread_rwlock_t regex_lock;
    struct regex_set regex[REGEX_CACHE_MAX];
    unsigned regex_evict; /* next slot to reuse when all are taken */
    pthread_rwlock_t filter_lock;
    struct filter_slot filters[FILTER_CACHE_MAX];
    unsigned filter_evict;
    bool filter_off;      /* no key filters at all */
    size_t filter_budget; /* most bytes of the filters together */
    size_t filter_used;   /* bytes the slots hold or have reserved for a build */
};

/* An MDB_val over @p size bytes at @p data (inline: the match walk calls it per probe). */
static inline MDB_val store_mkval(const void *data, size_t size)
{
    MDB_val v = {.mv_size = size, .mv_data = (void *)data};
    return v;
}

/*
 * The helpers below are shared by store.c, store_match.c and
 * capture_store.c only: hidden, so no program or module linking the policy
 * core ever exports them.
 */
#define STORE_INTERNAL __attribute__((visibility("hidden")))

/* Read a fixed-size value; EP_E_NOTFOUND when absent, EP_E_CORRUPT on a size mismatch. */
STORE_INTERNAL int store_get_fixed(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, void *out,
                                   size_t size);
/* Copy @p src into @p dst, truncated to fit and NUL-terminated. */
STORE_INTERNAL void store_copy_str(char *dst, size_t dstsz, const char *src);
/* The read's cursor on `rules`, renewed with its transaction when needed. */
STORE_INTERNAL int store_rules_cursor(struct ep_store_read *rd, MDB_cursor **cur);
/* Free the compiled regexes of a regex cache slot and mark it free. */
STORE_INTERNAL void store_regex_set_clear(struct regex_set *set);
/* Free a key filter (NULL is fine). */
STORE_INTERNAL void store_filter_free(struct key_filter *f);
/*
 * Begin a pooled read with a cursor of its own on @p dbi (a walk over a
 * database); on failure nothing is left open and both results are NULL.
 */
STORE_INTERNAL int store_walk_begin(struct ep_store *s, MDB_dbi dbi, struct ep_store_read **rd,
                                    MDB_cursor **cur);
/* End a store_walk_begin() walk: close the cursor, end the read (NULL is fine); returns @p rc. */
STORE_INTERNAL int store_walk_end(struct ep_store_read *rd, MDB_cursor *cur, int rc);

/* Begin and end (commit when @p rc is 0) a write transaction of the handle. */
int store_write_begin(struct ep_store *s, MDB_txn **txn);
int store_write_end(struct ep_store *s, MDB_txn *txn, int rc);
/* capture_store.c: list the default LLM hosts (new store, upgrade to schema 2). */
int store_capture_seed(struct ep_store *s, MDB_txn *txn);
/* capture_store.c: delete every captured exchange of a project within @p txn. */
int store_capture_clear(struct ep_store *s, MDB_txn *txn, const char *project_id, uint64_t *n);

#endif

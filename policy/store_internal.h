/*
 * Private to the store's files (store_env.c, store_projects.c,
 * store_rules.c, store_match.c, store_seen.c, store_audit.c, store_accounts.c,
 * store_parts.c
 * and capture_store.c, and the store tests that look inside); nothing else
 * includes it. The handle, its pooled reads and caches, the helpers those
 * files share, and the parts of the schema (struct store_part): each part
 * brings its databases and hooks, and the open path and a project's
 * deletion walk the list of parts (store_parts.c) instead of calling any
 * part by name. The public interface is store.h.
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
#include <string.h>

#include "policy/covers.h"
#include "policy/store_env.h"

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
    /* Each part's databases (struct store_part), opened by ep_store_open(). */
    MDB_dbi meta;                              /* store_env.c */
    MDB_dbi projects, clients;                 /* store_projects.c */
    MDB_dbi profiles, rules;                   /* store_rules.c */
    MDB_dbi seen;                              /* store_seen.c */
    MDB_dbi audit;                             /* store_audit.c */
    MDB_dbi conversations, llm_hosts, pending; /* capture_store.c (schema 2) */
    MDB_dbi accounts, sessions;                /* store_accounts.c (schema 3) */
    MDB_dbi api_tokens, course_owners;         /* store_accounts.c (schema 3) */
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

/* Whether a fixed-size string field of a stored record holds its NUL. */
#define STORE_TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

/*
 * The helpers below are shared by the store's files only: hidden, so no
 * program or module linking the policy core ever exports them.
 */
#define STORE_INTERNAL __attribute__((visibility("hidden")))

/* ---- store_env.c: transactions, reads and records ---- */

/* Begin and end (commit when @p rc is 0, abort otherwise) a write transaction of the handle. */
STORE_INTERNAL int store_write_begin(struct ep_store *s, MDB_txn **txn);
STORE_INTERNAL int store_write_end(struct ep_store *s, MDB_txn *txn, int rc);
/*
 * Begin a pooled read with a cursor of its own on @p dbi (a walk over a
 * database); on failure nothing is left open and both results are NULL.
 */
STORE_INTERNAL int store_walk_begin(struct ep_store *s, MDB_dbi dbi, struct ep_store_read **rd,
                                    MDB_cursor **cur);
/* End a store_walk_begin() walk: close the cursor, end the read (NULL is fine); returns @p rc. */
STORE_INTERNAL int store_walk_end(struct ep_store_read *rd, MDB_cursor *cur, int rc);
/* The read's cursor on `rules`, renewed with its transaction when needed. */
STORE_INTERNAL int store_rules_cursor(struct ep_store_read *rd, MDB_cursor **cur);
/* The number of entries of @p dbi, from a pooled read. */
STORE_INTERNAL int store_count_entries(struct ep_store *s, MDB_dbi dbi, uint64_t *out);
/* Read a fixed-size value; EP_E_NOTFOUND when absent, EP_E_CORRUPT on a size mismatch. */
STORE_INTERNAL int store_get_fixed(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, void *out,
                                   size_t size);
/* Write a fixed-size value with mdb_put() @p flags; EP_E_EXISTS for MDB_KEYEXIST. */
STORE_INTERNAL int store_put_fixed(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
                                   const void *v, size_t size, unsigned flags);
/* Delete one key; EP_E_NOTFOUND when absent. */
STORE_INTERNAL int store_del_key(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen);
/* Delete every key of @p dbi that starts with @p prefix (0 when there is none). */
STORE_INTERNAL int store_del_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen);
/* Copy @p src into @p dst, truncated to fit and NUL-terminated. */
STORE_INTERNAL void store_copy_str(char *dst, size_t dstsz, const char *src);

/* ---- store_match.c: the handle's caches, freed by ep_store_close() ---- */

/* Free the compiled regexes of a regex cache slot and mark it free. */
STORE_INTERNAL void store_regex_set_clear(struct regex_set *set);
/* Free a key filter (NULL is fine). */
STORE_INTERNAL void store_filter_free(struct key_filter *f);

/* ---- store_rules.c ---- */

/* Make sure profile @p name has its row in `profiles` (an empty one, generation 0, if new). */
STORE_INTERNAL int store_profile_ensure(struct ep_store *s, MDB_txn *txn, const char *name);

/*
 * ---- store_cluster.c: the outbox (store_cluster.h), one entry per changed
 * key, added in the transaction of the change; nothing when the store has
 * no outbox ----
 */
/* Project @p id now has @p mode and @p profile; @p profile NULL: the project is gone. */
STORE_INTERNAL int store_outbox_project(struct ep_store *s, MDB_txn *txn, const char *id,
                                        uint32_t mode, const char *profile);
/* `rules` key @p key (profile NUL rule key) now has @p mask; 0: the key is gone. */
STORE_INTERNAL int store_outbox_rule(struct ep_store *s, MDB_txn *txn, const char *key, size_t klen,
                                     uint8_t mask);
STORE_INTERNAL int store_outbox_llm_host(struct ep_store *s, MDB_txn *txn, const char *host,
                                         bool present);
/*
 * A profile's rules are about to be replaced: queue a delete of each, and
 * *@p mark; after the new ones are written, store_outbox_rules_settle()
 * takes back the deletes of the keys that are there again.
 */
STORE_INTERNAL int store_outbox_rules_cleared(struct ep_store *s, MDB_txn *txn, const char *profile,
                                              uint64_t *mark);
STORE_INTERNAL int store_outbox_rules_settle(struct ep_store *s, MDB_txn *txn, uint64_t mark);

/* ---- the parts of the schema ---- */

/* One database of a part: its name in the environment and its member of struct ep_store. */
struct store_db {
    const char *name;
    size_t offset; /* offsetof(struct ep_store, <its MDB_dbi>) */
};

/*
 * A part of the store's schema: the databases it owns and what it does
 * when a store is made, upgraded or loses a project. ep_store_open() opens
 * every part's databases, in the order of store_parts[], then, in the one
 * write transaction that makes a new store, calls each part's create; in
 * the one that upgrades an older store, each part's upgrade with the
 * schema found. ep_store_project_delete() calls each part's clear. A hook
 * may be NULL (nothing to do). Each returns 0 or an error, which rolls
 * the whole transaction back.
 */
struct store_part {
    const struct store_db *dbs; /* ends with a NULL name */
    /* Fill the part of a new store (default content). */
    int (*create)(struct ep_store *s, MDB_txn *txn);
    /* Bring the part of a store of schema @p from up to EP_STORE_SCHEMA. */
    int (*upgrade)(struct ep_store *s, MDB_txn *txn, uint32_t from);
    /* Delete what the part keeps of project @p project_id. */
    int (*clear)(struct ep_store *s, MDB_txn *txn, const char *project_id);
};

/* Each part, defined in the file that owns its databases. */
STORE_INTERNAL extern const struct store_part store_part_projects; /* store_projects.c */
STORE_INTERNAL extern const struct store_part store_part_rules;    /* store_rules.c */
STORE_INTERNAL extern const struct store_part store_part_seen;     /* store_seen.c */
STORE_INTERNAL extern const struct store_part store_part_audit;    /* store_audit.c */
STORE_INTERNAL extern const struct store_part store_part_capture;  /* capture_store.c */
STORE_INTERNAL extern const struct store_part store_part_accounts; /* store_accounts.c */
/* The parts in the order they are opened, made and cleared, NULL-terminated (store_parts.c). */
STORE_INTERNAL extern const struct store_part *const store_parts[];

#endif

/*
 * The LMDB store shared by the ICAP children and egress-api: one
 * environment per handle, named databases with fixed value layouts (see
 * store.h), pooled read transactions and one short write transaction per
 * write function. The regex cache and the key filters of the decision path
 * live here too, because they belong to the handle.
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <arpa/inet.h>
#include <errno.h>
#include <lmdb.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/store.h"

/* Most reset read transactions a handle keeps for reuse. */
#define POOL_MAX 256
/* Profiles whose compiled regex rules the handle keeps at once. */
#define REGEX_CACHE_MAX 32
/* A rules key: profile NUL kind-marker rule. */
#define RULE_KEY_MAX (EP_PROFILE_MAX + 2 + EP_RULE_BUFSZ)
/* A seen key: project id NUL host. */
#define SEEN_KEY_MAX        (EP_ID_MAX + 1 + EP_HOST_BUFSZ)
#define AUDIT_KEY_SIZE      12
#define DEFAULT_MAP_SIZE    ((size_t)1 << 30)
#define DEFAULT_MAX_READERS 512
/* Most base-domain rules a pooled read copies into memory. */
#define BASE_COPY_MAX 1024
/*
 * Key filters (see "key filters" below): a profile of at least
 * FILTER_MIN_RULES rules gets one; a handle keeps at most FILTER_CACHE_MAX
 * of them, each FILTER_BITS_PER_RULE bits a rule, so at most
 * FILTER_CACHE_MAX * FILTER_MAX_RULES * FILTER_BITS_PER_RULE / 8 bytes
 * (8 * 1.2 MiB for profiles of 1,000,000 rules; 160 MiB at the cap).
 */
#define FILTER_MIN_RULES     4096
#define FILTER_MAX_RULES     (16u << 20)
#define FILTER_CACHE_MAX     8
#define FILTER_BITS_PER_RULE 10

/* The base domains a new store starts with (the reference system's six). */
static const char *const default_base_domains[] = {
    ".debian.org",   ".ubuntu.com",  ".nodesource.com",
    ".open-vsx.org", ".openvsx.org", ".eclipsecontent.org",
};

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
    struct key_filter *filter;
};

struct ep_store {
    MDB_env *env;
    MDB_dbi meta, projects, clients, profiles, rules, seen, audit;
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
};

const char *ep_mode_name(enum ep_mode mode)
{
    switch (mode) {
    case EP_MODE_NONE:
        return "none";
    case EP_MODE_SECURITY:
        return "security";
    case EP_MODE_LOGGING:
        return "logging";
    }
    return NULL;
}

int ep_mode_parse(const char *name, enum ep_mode *out)
{
    static const enum ep_mode modes[] = {EP_MODE_NONE, EP_MODE_SECURITY, EP_MODE_LOGGING};

    for (size_t i = 0; name && i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(name, ep_mode_name(modes[i])) == 0) {
            *out = modes[i];
            return 0;
        }
    return EP_E_INVAL;
}

const char *ep_status_name(enum ep_status status)
{
    switch (status) {
    case EP_STATUS_CREATED:
        return "created";
    case EP_STATUS_RUNNING:
        return "running";
    case EP_STATUS_STOPPED:
        return "stopped";
    case EP_STATUS_NOT_FOUND:
        return "not_found";
    }
    return "not_found";
}

/* ---- small helpers ---- */

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

int ep_project_id_validate(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > EP_ID_MAX)
        return EP_E_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
            return EP_E_INVAL;
    return 0;
}

static bool valid_id(const char *id)
{
    return ep_project_id_validate(id) == 0;
}

/* A rules profile: a valid profile name or the reserved base profile. */
static bool valid_rules_profile(const char *profile)
{
    return strcmp(profile, EP_PROFILE_BASE) == 0 || ep_profile_validate(profile) == 0;
}

/* Canonical IP text: what inet_ntop() writes back for it. */
static bool valid_ip(const char *ip)
{
    unsigned char addr[16];
    char back[INET6_ADDRSTRLEN];

    if (strlen(ip) > EP_IP_MAX)
        return false;
    if (inet_pton(AF_INET, ip, addr) == 1)
        return inet_ntop(AF_INET, addr, back, sizeof back) && strcmp(back, ip) == 0;
    if (inet_pton(AF_INET6, ip, addr) == 1)
        return inet_ntop(AF_INET6, addr, back, sizeof back) && strcmp(back, ip) == 0;
    return false;
}

static MDB_val mkval(const void *data, size_t size)
{
    MDB_val v = {.mv_size = size, .mv_data = (void *)data};
    return v;
}

/* Read a fixed-size value; EP_E_NOTFOUND when absent, EP_E_CORRUPT on a size mismatch. */
static int get_fixed(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, void *out, size_t size)
{
    MDB_val key = mkval(k, klen), val;
    int rc = mdb_get(txn, dbi, &key, &val);

    if (rc == MDB_NOTFOUND)
        return EP_E_NOTFOUND;
    if (rc)
        return rc;
    if (val.mv_size != size)
        return EP_E_CORRUPT;
    memcpy(out, val.mv_data, size);
    return 0;
}

static int put_fixed(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v,
                     size_t size, unsigned flags)
{
    MDB_val key = mkval(k, klen), val = mkval(v, size);
    int rc = mdb_put(txn, dbi, &key, &val, flags);

    return rc == MDB_KEYEXIST ? EP_E_EXISTS : rc;
}

static int del_key(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
    MDB_val key = mkval(k, klen);
    int rc = mdb_del(txn, dbi, &key, NULL);

    return rc == MDB_NOTFOUND ? EP_E_NOTFOUND : rc;
}

/* Delete every key of @p dbi that starts with @p prefix. */
static int del_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen)
{
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, dbi, &cur);

    while (rc == 0) {
        key = mkval(prefix, plen);
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc)
            break;
        if (key.mv_size < plen || memcmp(key.mv_data, prefix, plen) != 0)
            break;
        rc = mdb_cursor_del(cur, 0);
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- transactions in use, and adopting a map another process grew ---- */

/*
 * Transactions of any store this thread holds right now. A thread that
 * holds one must not wait for a remap (the remap waits for that very
 * transaction), so it gets MDB_MAP_RESIZED back instead.
 */
static _Thread_local unsigned thread_txns;

static void read_destroy(struct ep_store_read *rd);

/* Count one transaction in, under pool_lock; wait while a remap is under way. */
static uint64_t txn_enter_locked(struct ep_store *s)
{
    while (s->remapping && thread_txns == 0)
        pthread_cond_wait(&s->idle, &s->pool_lock);
    s->active++;
    thread_txns++;
    return s->map_epoch;
}

/* Count one transaction out, under pool_lock, waking a remap waiting for none. */
static void txn_leave_locked(struct ep_store *s)
{
    s->active--;
    thread_txns--;
    if (s->active == 0 && s->remapping)
        pthread_cond_broadcast(&s->idle);
}

static void txn_leave(struct ep_store *s)
{
    pthread_mutex_lock(&s->pool_lock);
    txn_leave_locked(s);
    pthread_mutex_unlock(&s->pool_lock);
}

/*
 * Another process grew the map beyond this handle's size and a
 * transaction began with MDB_MAP_RESIZED: adopt the size it committed
 * (mdb_env_set_mapsize with 0). LMDB requires that no transaction of this
 * process is in use while the map moves, so new ones wait and this waits
 * until every one in use has ended; the pooled (reset) reads are dropped
 * too. @p epoch is the map the failed transaction saw: when another thread
 * remapped since, there is nothing left to do. 0 means "begin again".
 */
static int map_adopt(struct ep_store *s, uint64_t epoch)
{
    struct ep_store_read *rd;
    int rc = 0;

    pthread_mutex_lock(&s->pool_lock);
    if (thread_txns > 0) {
        rc = MDB_MAP_RESIZED;
        goto out;
    }
    while (s->remapping)
        pthread_cond_wait(&s->idle, &s->pool_lock);
    if (s->map_epoch != epoch)
        goto out;
    s->remapping = true;
    while (s->active > 0)
        pthread_cond_wait(&s->idle, &s->pool_lock);
    while ((rd = s->pool)) {
        s->pool = rd->next;
        read_destroy(rd);
    }
    s->pooled = 0;
    rc = mdb_env_set_mapsize(s->env, 0);
    s->map_epoch++;
    s->remapping = false;
    pthread_cond_broadcast(&s->idle);
out:
    pthread_mutex_unlock(&s->pool_lock);
    return rc;
}

/* Begin a write transaction, adopting a grown map once if need be. */
static int write_begin(struct ep_store *s, MDB_txn **txn)
{
    uint64_t epoch;
    int rc;

    *txn = NULL;
    if (s->read_only)
        return EACCES;
    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&s->pool_lock);
        epoch = txn_enter_locked(s);
        pthread_mutex_unlock(&s->pool_lock);
        rc = mdb_txn_begin(s->env, NULL, 0, txn);
        if (rc == 0)
            return 0;
        *txn = NULL;
        txn_leave(s);
        if (rc != MDB_MAP_RESIZED || attempt > 0)
            return rc;
        rc = map_adopt(s, epoch);
        if (rc)
            return rc;
    }
}

/* Commit when @p rc is 0, abort otherwise; the result of the whole transaction. */
static int txn_finish(MDB_txn *txn, int rc)
{
    if (!txn)
        return rc;
    if (rc == 0)
        return mdb_txn_commit(txn);
    mdb_txn_abort(txn);
    return rc;
}

/* End a write_begin() transaction: commit when @p rc is 0, abort otherwise. */
static int write_end(struct ep_store *s, MDB_txn *txn, int rc)
{
    if (!txn)
        return rc;
    rc = txn_finish(txn, rc);
    txn_leave(s);
    return rc;
}

static void copy_str(char *dst, size_t dstsz, const char *src)
{
    size_t n = strnlen(src, dstsz - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * A clean copy of a caller's project (zero padding, so stored records do
 * not carry stack garbage), validated: every string terminated, a valid
 * id, profile (empty means "default"), IP and mode.
 */
static int project_clean(struct ep_project *dst, const struct ep_project *src)
{
    if (!TERMINATED(src->id) || !TERMINATED(src->name) || !TERMINATED(src->type) ||
        !TERMINATED(src->profile) || !TERMINATED(src->password_hash) || !TERMINATED(src->ip) ||
        !TERMINATED(src->container_id))
        return EP_E_INVAL;
    memset(dst, 0, sizeof *dst);
    copy_str(dst->id, sizeof dst->id, src->id);
    copy_str(dst->name, sizeof dst->name, src->name);
    copy_str(dst->type, sizeof dst->type, src->type);
    copy_str(dst->profile, sizeof dst->profile,
             src->profile[0] ? src->profile : EP_PROFILE_DEFAULT);
    copy_str(dst->password_hash, sizeof dst->password_hash, src->password_hash);
    copy_str(dst->ip, sizeof dst->ip, src->ip);
    copy_str(dst->container_id, sizeof dst->container_id, src->container_id);
    dst->created_at = src->created_at;
    dst->mode = src->mode;
    dst->status = src->status;
    dst->memory_bytes = src->memory_bytes;
    dst->nano_cpus = src->nano_cpus;
    if (!valid_id(dst->id) || ep_profile_validate(dst->profile) != 0 ||
        (dst->ip[0] && !valid_ip(dst->ip)) || ep_mode_name(dst->mode) == NULL ||
        dst->status > EP_STATUS_NOT_FOUND)
        return EP_E_INVAL;
    return 0;
}

/* ---- profiles and rules ---- */

/* Read the profile row, creating an empty one (generation 0) when absent. */
static int profile_ensure(struct ep_store *s, MDB_txn *txn, const char *name,
                          struct ep_profile_info *info)
{
    int rc = get_fixed(txn, s->profiles, name, strlen(name), info, sizeof *info);

    if (rc != EP_E_NOTFOUND)
        return rc;
    memset(info, 0, sizeof *info);
    copy_str(info->name, sizeof info->name, name);
    return put_fixed(txn, s->profiles, name, strlen(name), info, sizeof *info, 0);
}

static int profile_put(struct ep_store *s, MDB_txn *txn, const struct ep_profile_info *info)
{
    return put_fixed(txn, s->profiles, info->name, strlen(info->name), info, sizeof *info, 0);
}

/*
 * The rules key of @p rule in @p profile and the mask bit it owns: host
 * rules under their reversed host (one key per name for all three host
 * kinds), ip: rules under '#', regex rules under '~'. 0 for a malformed rule.
 */
static size_t rule_key(const char *profile, const struct ep_rule *rule, char *key, uint8_t *bit)
{
    size_t plen = strlen(profile), hlen;
    char *k = key + plen + 1;

    if (!memchr(rule->host, '\0', sizeof rule->host))
        return 0;
    hlen = strlen(rule->host);
    memcpy(key, profile, plen + 1);
    switch (rule->kind) {
    case EP_RULE_EXACT:
    case EP_RULE_SUFFIX:
    case EP_RULE_SUBDOMAINS:
        if (hlen == 0 || hlen > EP_HOST_MAX)
            return 0;
        ep_host_reverse(rule->host, k);
        break;
    case EP_RULE_IP:
    case EP_RULE_REGEX:
        if (hlen == 0 || hlen > (rule->kind == EP_RULE_IP ? EP_IP_MAX : EP_REGEX_MAX))
            return 0;
        k[0] = rule->kind == EP_RULE_IP ? '#' : '~';
        memcpy(k + 1, rule->host, hlen);
        hlen++;
        break;
    default:
        return 0;
    }
    *bit = (uint8_t)rule->kind;
    return plen + 1 + hlen;
}

static int get_mask(MDB_txn *txn, MDB_dbi dbi, const char *key, size_t klen, uint8_t *mask)
{
    int rc = get_fixed(txn, dbi, key, klen, mask, 1);

    if (rc == EP_E_NOTFOUND) {
        *mask = 0;
        return 0;
    }
    return rc;
}

/* Set @p rule's bit; *added says whether it was new. */
static int rule_put(struct ep_store *s, MDB_txn *txn, const char *profile,
                    const struct ep_rule *rule, bool *added)
{
    char key[RULE_KEY_MAX];
    uint8_t bit, mask;
    size_t klen = rule_key(profile, rule, key, &bit);
    int rc;

    *added = false;
    if (klen == 0)
        return EP_E_INVAL;
    rc = get_mask(txn, s->rules, key, klen, &mask);
    if (rc || (mask & bit))
        return rc;
    mask |= bit;
    rc = put_fixed(txn, s->rules, key, klen, &mask, 1, 0);
    *added = rc == 0;
    return rc;
}

/* Add @p n rules to @p profile within @p txn, bumping its generation once. */
static int rules_add_txn(struct ep_store *s, MDB_txn *txn, const char *profile,
                         const struct ep_rule *rules, size_t n, bool *added)
{
    struct ep_profile_info info;
    int rc = profile_ensure(s, txn, profile, &info);
    bool new_rule;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = rule_put(s, txn, profile, &rules[i], &new_rule);
        if (added)
            added[i] = new_rule;
        info.rules += new_rule;
    }
    if (rc == 0) {
        info.generation++;
        rc = profile_put(s, txn, &info);
    }
    return rc;
}

int ep_store_rule_add(struct ep_store *store, const char *profile, const struct ep_rule *rule,
                      bool *added)
{
    bool dummy;

    return ep_store_rules_add(store, profile, rule, 1, added ? added : &dummy);
}

int ep_store_rules_add(struct ep_store *store, const char *profile, const struct ep_rule *rules,
                       size_t n, bool *added)
{
    MDB_txn *txn = NULL;
    int rc;

    if (!valid_rules_profile(profile))
        return EP_E_INVAL;
    rc = write_begin(store, &txn);
    if (rc == 0)
        rc = rules_add_txn(store, txn, profile, rules, n, added);
    return write_end(store, txn, rc);
}

int ep_store_rule_remove(struct ep_store *store, const char *profile, const struct ep_rule *rule)
{
    MDB_txn *txn = NULL;
    struct ep_profile_info info;
    char key[RULE_KEY_MAX];
    uint8_t bit, mask;
    size_t klen;
    int rc;

    if (!valid_rules_profile(profile))
        return EP_E_INVAL;
    klen = rule_key(profile, rule, key, &bit);
    if (klen == 0)
        return EP_E_INVAL;
    rc = write_begin(store, &txn);
    if (rc)
        goto out;
    rc = get_fixed(txn, store->profiles, profile, strlen(profile), &info, sizeof info);
    if (rc)
        goto out;
    rc = get_mask(txn, store->rules, key, klen, &mask);
    if (rc == 0 && !(mask & bit))
        rc = EP_E_NOTFOUND;
    if (rc)
        goto out;
    mask &= (uint8_t)~bit;
    rc = mask ? put_fixed(txn, store->rules, key, klen, &mask, 1, 0)
              : del_key(txn, store->rules, key, klen);
    if (rc)
        goto out;
    if (info.rules > 0)
        info.rules--;
    info.generation++;
    rc = profile_put(store, txn, &info);
out:
    return write_end(store, txn, rc);
}

int ep_store_rules_replace(struct ep_store *store, const char *profile, const struct ep_rule *rules,
                           size_t n)
{
    MDB_txn *txn = NULL;
    struct ep_profile_info info;
    size_t plen = strlen(profile);
    int rc;

    if (!valid_rules_profile(profile))
        return EP_E_INVAL;
    rc = write_begin(store, &txn);
    if (rc)
        goto out;
    rc = profile_ensure(store, txn, profile, &info);
    if (rc)
        goto out;
    /* The profile name and its NUL are the prefix of all its rules. */
    rc = del_prefix(txn, store->rules, profile, plen + 1);
    if (rc)
        goto out;
    info.rules = 0;
    rc = profile_put(store, txn, &info);
    if (rc == 0)
        rc = rules_add_txn(store, txn, profile, rules, n, NULL);
out:
    return write_end(store, txn, rc);
}

/* ---- read transactions ---- */

static void read_destroy(struct ep_store_read *rd)
{
    if (rd->rules)
        mdb_cursor_close(rd->rules);
    if (rd->txn)
        mdb_txn_abort(rd->txn);
    ep_free(rd->base.entries);
    ep_free(rd->base.keys);
    ep_free(rd);
}

/* A read transaction (and its cursor on `rules`) for @p rd: the pooled one renewed, or a new one.
 */
static int read_start(struct ep_store *store, struct ep_store_read **rdp)
{
    struct ep_store_read *rd = *rdp;
    int rc;

    if (rd) {
        rc = mdb_txn_renew(rd->txn);
        if (rc == 0)
            rd->rules_live = false;
        return rc;
    }
    rd = ep_calloc(1, sizeof *rd);
    if (!rd)
        return EP_E_NOMEM;
    *rdp = rd;
    rd->store = store;
    rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &rd->txn);
    if (rc)
        return rc;
    rc = mdb_cursor_open(rd->txn, store->rules, &rd->rules);
    rd->rules_live = rc == 0;
    return rc;
}

/*
 * Take a reset read transaction from the pool and renew it, or begin a new
 * one when the pool is empty. The cursor on `rules` is renewed only when a
 * caller needs it. When another process grew the map (MDB_MAP_RESIZED),
 * the grown map is adopted and the read begun once more.
 */
int ep_store_read_begin(struct ep_store *store, struct ep_store_read **out)
{
    struct ep_store_read *rd;
    uint64_t epoch;
    int rc;

    *out = NULL;
    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&store->pool_lock);
        epoch = txn_enter_locked(store);
        rd = store->pool;
        if (rd) {
            store->pool = rd->next;
            store->pooled--;
        }
        pthread_mutex_unlock(&store->pool_lock);
        rc = read_start(store, &rd);
        if (rc == 0) {
            rd->next = NULL;
            *out = rd;
            return 0;
        }
        if (rd)
            read_destroy(rd);
        txn_leave(store);
        if (rc != MDB_MAP_RESIZED || attempt > 0)
            return rc;
        rc = map_adopt(store, epoch);
        if (rc)
            return rc;
    }
}

void ep_store_read_end(struct ep_store_read *rd)
{
    struct ep_store *store;

    if (!rd)
        return;
    store = rd->store;
    mdb_txn_reset(rd->txn);
    rd->rules_live = false;
    pthread_mutex_lock(&store->pool_lock);
    /* Dropped before it counts out, so a remap never runs beside its abort. */
    if (store->pooled < POOL_MAX && !store->remapping) {
        rd->next = store->pool;
        store->pool = rd;
        store->pooled++;
    } else {
        read_destroy(rd);
    }
    txn_leave_locked(store);
    pthread_mutex_unlock(&store->pool_lock);
}

static int rules_cursor(struct ep_store_read *rd, MDB_cursor **cur)
{
    int rc = 0;

    if (!rd->rules_live) {
        rc = mdb_cursor_renew(rd->txn, rd->rules);
        rd->rules_live = rc == 0;
    }
    *cur = rd->rules;
    return rc;
}

int ep_store_read_client(struct ep_store_read *rd, const char *ip, struct ep_client *out)
{
    size_t n = strlen(ip);
    int rc;

    if (n == 0 || n > EP_IP_MAX)
        return EP_E_NOTFOUND;
    rc = get_fixed(rd->txn, rd->store->clients, ip, n, out, sizeof *out);
    if (rc == 0 && (!TERMINATED(out->project_id) || !TERMINATED(out->profile)))
        rc = EP_E_CORRUPT;
    return rc;
}

/* ---- regex rules: compiled once per profile generation ---- */

static pthread_once_t match_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t match_key;

static void match_data_free(void *md)
{
    pcre2_match_data_free(md);
}

static void match_key_create(void)
{
    pthread_key_create(&match_key, match_data_free);
}

/* This thread's match data, created on its first regex match and reused. */
static pcre2_match_data *thread_match_data(void)
{
    pcre2_match_data *md;

    pthread_once(&match_key_once, match_key_create);
    md = pthread_getspecific(match_key);
    if (!md) {
        md = pcre2_match_data_create(1, NULL);
        if (md && pthread_setspecific(match_key, md) != 0) {
            pcre2_match_data_free(md);
            md = NULL;
        }
    }
    return md;
}

static void regex_set_clear(struct regex_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        pcre2_code_free(set->codes[i]);
        ep_free(set->patterns[i]);
    }
    ep_free(set->codes);
    ep_free(set->patterns);
    ep_free(set->jit);
    memset(set, 0, sizeof *set);
}

/* Append one compiled pattern; a pattern that no longer compiles is skipped. */
static int regex_set_add(struct regex_set *set, const char *pattern, size_t len)
{
    int errcode;
    PCRE2_SIZE erroffset;
    pcre2_code *code;
    void *p;

    code = pcre2_compile((PCRE2_SPTR)pattern, len,
                         PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_NO_AUTO_CAPTURE, &errcode,
                         &erroffset, NULL);
    if (!code)
        return 0;
    if (!(p = ep_realloc(set->codes, (set->n + 1) * sizeof *set->codes)))
        goto nomem;
    set->codes = p;
    if (!(p = ep_realloc(set->patterns, (set->n + 1) * sizeof *set->patterns)))
        goto nomem;
    set->patterns = p;
    if (!(p = ep_realloc(set->jit, (set->n + 1) * sizeof *set->jit)))
        goto nomem;
    set->jit = p;
    set->patterns[set->n] = ep_malloc(len + 1);
    if (!set->patterns[set->n])
        goto nomem;
    memcpy(set->patterns[set->n], pattern, len);
    set->patterns[set->n][len] = '\0';
    set->jit[set->n] = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    set->codes[set->n++] = code;
    return 0;
nomem:
    pcre2_code_free(code);
    return EP_E_NOMEM;
}

/* Compile every regex rule of @p profile as @p rd sees it into @p set. */
static int regex_set_load(struct regex_set *set, struct ep_store_read *rd, const char *profile,
                          uint64_t generation)
{
    char prefix[EP_PROFILE_MAX + 2];
    size_t plen = strlen(profile) + 2;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    regex_set_clear(set);
    memcpy(prefix, profile, plen - 2);
    prefix[plen - 2] = '\0';
    prefix[plen - 1] = '~';
    rc = rules_cursor(rd, &cur);
    key = mkval(prefix, plen);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size > plen && memcmp(key.mv_data, prefix, plen) == 0) {
        rc = regex_set_add(set, (const char *)key.mv_data + plen, key.mv_size - plen);
        if (rc == 0)
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc) {
        regex_set_clear(set);
        return rc;
    }
    copy_str(set->profile, sizeof set->profile, profile);
    set->generation = generation;
    return 0;
}

static int regex_set_run(const struct regex_set *set, const char *host, pcre2_match_data *md,
                         struct ep_rule *matched)
{
    size_t len = strlen(host);

    for (size_t i = 0; i < set->n; i++) {
        int rc = set->jit[i] ? pcre2_jit_match(set->codes[i], (PCRE2_SPTR)host, len, 0, 0, md, NULL)
                             : pcre2_match(set->codes[i], (PCRE2_SPTR)host, len, 0, 0, md, NULL);
        if (rc >= 0) {
            matched->kind = EP_RULE_REGEX;
            copy_str(matched->host, sizeof matched->host, set->patterns[i]);
            return 0;
        }
    }
    return EP_E_NOTFOUND;
}

static struct regex_set *regex_find(struct ep_store *s, const char *profile)
{
    for (unsigned i = 0; i < REGEX_CACHE_MAX; i++)
        if (strcmp(s->regex[i].profile, profile) == 0)
            return &s->regex[i];
    return NULL;
}

/*
 * Match @p host against the regex rules of @p profile. The compiled set is
 * looked up under the read lock; when it is missing or of another
 * generation than the one this transaction sees, it is rebuilt under the
 * write lock and used before the lock is dropped, so two threads on
 * different snapshots each match with their own generation.
 */
static int regex_match(struct ep_store_read *rd, const char *profile, const char *host,
                       struct ep_rule *matched)
{
    struct ep_store *s = rd->store;
    struct ep_profile_info info;
    pcre2_match_data *md = thread_match_data();
    struct regex_set *set;
    int rc;

    if (!md)
        return EP_E_NOMEM;
    rc = get_fixed(rd->txn, s->profiles, profile, strlen(profile), &info, sizeof info);
    if (rc == EP_E_NOTFOUND)
        info.generation = 0;
    else if (rc)
        return rc;
    pthread_rwlock_rdlock(&s->regex_lock);
    set = regex_find(s, profile);
    if (set && set->generation == info.generation) {
        rc = regex_set_run(set, host, md, matched);
        pthread_rwlock_unlock(&s->regex_lock);
        return rc;
    }
    pthread_rwlock_unlock(&s->regex_lock);

    pthread_rwlock_wrlock(&s->regex_lock);
    set = regex_find(s, profile);
    if (!set || set->generation != info.generation) {
        if (!set)
            set = regex_find(s, "");
        if (!set) {
            set = &s->regex[s->regex_evict];
            s->regex_evict = (s->regex_evict + 1) % REGEX_CACHE_MAX;
        }
        rc = regex_set_load(set, rd, profile, info.generation);
    }
    if (rc == 0)
        rc = regex_set_run(set, host, md, matched);
    pthread_rwlock_unlock(&s->regex_lock);
    return rc;
}

/* What a cursor positioning tells of a profile's regex rules. */
enum regex_hint { REGEX_UNKNOWN, REGEX_NONE, REGEX_SOME };

/*
 * The first key at or after a probe inside the profile whose keys start
 * with @p prefix (@p plen bytes, the NUL included), as MDB_SET_RANGE
 * returned it (@p rc): regex keys ('~') sort after every host and ip: key
 * of their profile, so landing past the profile means it has none.
 */
static enum regex_hint regex_hint_of(int rc, const MDB_val *k, const char *prefix, size_t plen)
{
    if (rc == MDB_NOTFOUND)
        return REGEX_NONE;
    if (rc || k->mv_size < plen || memcmp(k->mv_data, prefix, plen) != 0)
        return rc ? REGEX_UNKNOWN : REGEX_NONE;
    if (k->mv_size > plen && ((const char *)k->mv_data)[plen] == '~')
        return REGEX_SOME;
    return REGEX_UNKNOWN;
}

/* Does the profile of @p prefix have any regex rule? One cursor positioning, no allocation. */
static int has_regex(MDB_cursor *cur, const char *prefix, size_t plen, bool *yes)
{
    char probe[EP_PROFILE_MAX + 2];
    MDB_val k, v;
    int rc;

    memcpy(probe, prefix, plen);
    probe[plen] = '~';
    k = mkval(probe, plen + 1);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    *yes = regex_hint_of(rc, &k, prefix, plen) == REGEX_SOME;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static bool is_ip_literal(const char *host)
{
    unsigned char addr[16];

    if (strchr(host, ':'))
        return true;
    if (strspn(host, "0123456789.") != strlen(host))
        return false;
    return inet_pton(AF_INET, host, addr) == 1;
}

static void set_match(struct ep_rule *matched, enum ep_rule_kind kind, const char *host, size_t len)
{
    matched->kind = kind;
    memcpy(matched->host, host, len);
    matched->host[len] = '\0';
}

/* The mask of the key the cursor sits on; EP_E_CORRUPT for a value of another size. */
static int val_mask(const MDB_val *v, uint8_t *mask)
{
    if (v->mv_size != 1)
        return EP_E_CORRUPT;
    *mask = *(const uint8_t *)v->mv_data;
    return 0;
}

/*
 * The most specific host rule in the tree for the reversed host t (hlen
 * bytes) of the profile whose keys start with key[0..plen): t itself
 * (EXACT or SUFFIX), then its nearest ancestor holding SUBDOMAINS or
 * SUFFIX. @p key holds the prefix and t and is modified.
 *
 * Rather than one lookup per label, the walk asks the tree for the
 * greatest key below a bound (first t itself, then each candidate). An
 * ancestor is a prefix of t at a label boundary and sorts before t; if k
 * is the greatest key below the bound, every ancestor longer than the
 * longest one that is also a prefix of k would sort between k and the
 * bound, so none exists: that prefix is the only candidate left, and the
 * walk jumps straight to it. A host with no rule near it costs one or two
 * positionings instead of one per label; each positioning starts from the
 * cursor's page when the key falls within it. *hint receives what the
 * first positioning says of the profile's regex rules.
 */
static int host_walk(MDB_cursor *cur, char *key, size_t plen, size_t hlen, const char *host,
                     struct ep_rule *matched, enum regex_hint *hint)
{
    const char *t = key + plen;
    MDB_val k = mkval(key, plen + hlen), v;
    size_t bound = hlen, j;
    uint8_t mask;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    *hint = regex_hint_of(rc, &k, key, plen);
    if (rc == 0 && k.mv_size == plen + hlen && memcmp(k.mv_data, key, plen + hlen) == 0) {
        if ((rc = val_mask(&v, &mask)) != 0)
            return rc;
        if (mask & (EP_RULE_EXACT | EP_RULE_SUFFIX)) {
            set_match(matched, (mask & EP_RULE_EXACT) ? EP_RULE_EXACT : EP_RULE_SUFFIX, host, hlen);
            return 0;
        }
    }
    for (;;) {
        const char *kk, *dot;
        size_t kl, lcp = 0;

        /* Step to the greatest key below t[0..bound). */
        if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        else if (rc == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        if (rc == MDB_NOTFOUND)
            return EP_E_NOTFOUND;
        if (rc)
            return rc;
        if (k.mv_size < plen || memcmp(k.mv_data, key, plen) != 0)
            return EP_E_NOTFOUND; /* before the profile: no ancestor left */
        kk = (const char *)k.mv_data + plen;
        kl = k.mv_size - plen;
        while (lcp < kl && lcp < bound && kk[lcp] == t[lcp])
            lcp++;
        /* The longest ancestor that is a prefix of kk (lcp < bound, as kk < t[0..bound)). */
        dot = memrchr(t, '.', lcp < bound ? lcp + 1 : bound);
        if (!dot)
            return EP_E_NOTFOUND;
        j = (size_t)(dot - t);
        if (kl != j) {
            /* Position on the candidate itself, or just past where it would be. */
            k = mkval(key, plen + j);
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            bound = j;
            if (rc || k.mv_size != plen + j || memcmp(k.mv_data, key, plen + j) != 0)
                continue;
        }
        bound = j;
        if ((rc = val_mask(&v, &mask)) != 0)
            return rc;
        if (mask & (EP_RULE_SUBDOMAINS | EP_RULE_SUFFIX)) {
            set_match(matched, (mask & EP_RULE_SUBDOMAINS) ? EP_RULE_SUBDOMAINS : EP_RULE_SUFFIX,
                      host + hlen - j, j);
            return 0;
        }
    }
}

/* ---- the base profile, copied per read and generation ---- */

/* The base profile's row as this read sees it (generation 0 when it is missing). */
static int base_generation(struct ep_store_read *rd, uint64_t *generation)
{
    struct ep_profile_info info;
    int rc = get_fixed(rd->txn, rd->store->profiles, EP_PROFILE_BASE, strlen(EP_PROFILE_BASE),
                       &info, sizeof info);

    *generation = rc == 0 ? info.generation : 0;
    return rc == EP_E_NOTFOUND ? 0 : rc;
}

static int base_copy_add(struct base_copy *b, const char *k, size_t len, uint8_t mask)
{
    void *p;

    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;

        if (!(p = ep_realloc(b->entries, cap * sizeof *b->entries)))
            return EP_E_NOMEM;
        b->entries = p;
        b->cap = cap;
    }
    if (b->keys_len + len > b->keys_cap) {
        size_t cap = b->keys_cap ? b->keys_cap * 2 : 512;

        while (cap < b->keys_len + len)
            cap *= 2;
        if (!(p = ep_realloc(b->keys, cap)))
            return EP_E_NOMEM;
        b->keys = p;
        b->keys_cap = cap;
    }
    memcpy(b->keys + b->keys_len, k, len);
    b->entries[b->n++] =
        (struct base_entry){.off = (uint32_t)b->keys_len, .len = (uint16_t)len, .mask = mask};
    b->keys_len += len;
    return 0;
}

/* Copy the base profile's host and ip: keys as @p rd sees them (generation @p generation). */
static int base_copy_load(struct ep_store_read *rd, uint64_t generation)
{
    static const char prefix[] = EP_PROFILE_BASE; /* with its NUL */
    struct base_copy *b = &rd->base;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = rules_cursor(rd, &cur);

    b->valid = b->too_big = b->regex = false;
    b->n = b->keys_len = 0;
    k = mkval(prefix, sizeof prefix);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *kk = (const char *)k.mv_data + sizeof prefix;
        size_t kl = k.mv_size - sizeof prefix;
        uint8_t mask;

        if (k.mv_size <= sizeof prefix || memcmp(k.mv_data, prefix, sizeof prefix) != 0)
            break;
        if (kk[0] == '~') {
            b->regex = true;
            break; /* regex keys come last */
        }
        if (b->n == BASE_COPY_MAX) {
            b->too_big = true;
            break;
        }
        if ((rc = val_mask(&v, &mask)) != 0 || (rc = base_copy_add(b, kk, kl, mask)) != 0)
            return rc;
    }
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    b->generation = generation;
    b->valid = true;
    return 0;
}

/* The mask of key @p k in the base copy, 0 when absent; the tree's order (memcmp, then length). */
static uint8_t base_copy_mask(const struct base_copy *b, const char *k, size_t len)
{
    size_t lo = 0, hi = b->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct base_entry *e = &b->entries[mid];
        int c = memcmp(b->keys + e->off, k, e->len < len ? e->len : len);

        if (c == 0)
            c = e->len < len ? -1 : e->len > len;
        if (c == 0)
            return e->mask;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/*
 * The base profile's host or ip: rule for @p host from the read's copy,
 * refreshed when the profile's generation in this read differs from the
 * copy's. The generation is read only when the snapshot (LMDB's
 * transaction id, which any commit changes) is not the one the copy was
 * last found current in, so most decisions skip even that lookup.
 * *use_tree is set when the profile is too large to copy. *regex says
 * whether regex rules remain to be tried.
 */
static int base_match(struct ep_store_read *rd, const char *host, size_t hlen, bool ip,
                      struct ep_rule *matched, bool *use_tree, bool *regex)
{
    struct base_copy *b = &rd->base;
    char k[EP_RULE_BUFSZ + 1];
    size_t txnid = mdb_txn_id(rd->txn);
    uint64_t generation;
    uint8_t mask;
    int rc;

    *use_tree = *regex = false;
    if (!b->valid || b->txnid != txnid) {
        rc = base_generation(rd, &generation);
        if (rc == 0 && (!b->valid || b->generation != generation))
            rc = base_copy_load(rd, generation);
        if (rc)
            return rc;
        b->txnid = txnid;
    }
    if (b->too_big) {
        *use_tree = true;
        return 0;
    }
    *regex = b->regex;
    if (ip) {
        k[0] = '#';
        memcpy(k + 1, host, hlen);
        if (base_copy_mask(b, k, hlen + 1) & EP_RULE_IP) {
            set_match(matched, EP_RULE_IP, host, hlen);
            return 0;
        }
        return EP_E_NOTFOUND;
    }
    ep_host_reverse(host, k);
    mask = base_copy_mask(b, k, hlen);
    if (mask & (EP_RULE_EXACT | EP_RULE_SUFFIX)) {
        set_match(matched, (mask & EP_RULE_EXACT) ? EP_RULE_EXACT : EP_RULE_SUFFIX, host, hlen);
        return 0;
    }
    for (size_t len = hlen; len > 0;) {
        const char *dot = memrchr(k, '.', len);

        if (!dot)
            break;
        len = (size_t)(dot - k);
        mask = base_copy_mask(b, k, len);
        if (mask & (EP_RULE_SUBDOMAINS | EP_RULE_SUFFIX)) {
            set_match(matched, (mask & EP_RULE_SUBDOMAINS) ? EP_RULE_SUBDOMAINS : EP_RULE_SUFFIX,
                      host + hlen - len, len);
            return 0;
        }
    }
    return EP_E_NOTFOUND;
}

/* ---- key filters: a Bloom filter of a large profile's keys ---- */

/*
 * In a profile of a million rules, every positioning in the tree costs a
 * few cache misses, and a host that no rule names (the common denied
 * request) still needs one or two of them. A key filter per profile and
 * generation, kept in the handle, answers "no key of this name or of any
 * of its ancestors can exist" from one cache line per candidate, and the
 * tree is then left alone. A false positive only costs the usual walk, so
 * the answer never changes. A filter is built by one cursor pass inside
 * the read transaction of the decision that first needs it, so it holds
 * exactly that snapshot's keys, and it is used only by reads whose
 * snapshot shows the same generation; a newer generation replaces it.
 * Each process builds its own: the first decision on a profile of a
 * million rules after a change pays that pass (tens of milliseconds).
 */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t fnv_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

/* The block of the key whose FNV-1a state is @p state, chosen by one mix of it. */
static uint64_t *filter_block(const struct key_filter *f, uint64_t state)
{
    return f->blocks[(uint64_t)(((unsigned __int128)mix64(state) * f->nblocks) >> 64)];
}

/* The bits of that key in its block: one in each of the 8 words, 6 bits each of another mix. */
static uint64_t filter_bits(uint64_t state)
{
    return mix64(state ^ 0x9e3779b97f4a7c15ull);
}

/* Set the bits of a key; or, with @p set false, tell whether all of them are set. */
static bool filter_probe(uint64_t *block, uint64_t bits, bool set)
{
    bool all = true;

    for (int i = 0; i < 8; i++, bits >>= 6) {
        uint64_t bit = (uint64_t)1 << (bits & 63);

        if (!(block[i] & bit))
            all = false;
        if (set)
            block[i] |= bit;
    }
    return all;
}

/*
 * May the filter hold key t (@p tlen bytes) or, unless @p whole, one of its
 * prefixes that end before a '.' (the ancestors host_walk() looks for)?
 * The FNV-1a state of each prefix is the running state at its end, so all
 * candidates are hashed in one pass; their blocks are prefetched at once
 * and tested from the longest, which for an allowed host is usually the
 * host itself.
 */
static bool filter_test(const struct key_filter *f, const char *t, size_t tlen, bool whole)
{
    uint64_t *blocks[EP_HOST_MAX / 2 + 2], states[EP_HOST_MAX / 2 + 2], h = FNV_OFFSET;
    size_t n = 0;

    for (size_t i = 0; i < tlen; i++) {
        if (!whole && t[i] == '.') {
            if (n == EP_HOST_MAX / 2 + 1)
                return true; /* not a host name: let the walk answer */
            states[n++] = h;
        }
        h = fnv_step(h, (unsigned char)t[i]);
    }
    states[n++] = h;
    for (size_t i = 0; i < n; i++) {
        blocks[i] = filter_block(f, states[i]);
        __builtin_prefetch(blocks[i]);
    }
    while (n-- > 0)
        if (filter_probe(blocks[n], filter_bits(states[n]), false))
            return true;
    return false;
}

static void filter_free(struct key_filter *f)
{
    if (!f)
        return;
    ep_free(f->blocks);
    ep_free(f);
}

/*
 * Build the filter of the profile whose keys start with prefix[0..plen)
 * (the NUL included) from one pass of @p cur, sized for @p rules rules:
 * every host and ip: key goes in; regex keys only set `regex`.
 */
static int filter_build(MDB_cursor *cur, const char *prefix, size_t plen, uint32_t rules,
                        struct key_filter **out)
{
    struct key_filter *f;
    MDB_val k = mkval(prefix, plen), v;
    int rc;

    *out = NULL;
    f = ep_calloc(1, sizeof *f);
    if (!f)
        return EP_E_NOMEM;
    f->nblocks = ((uint64_t)rules * FILTER_BITS_PER_RULE + 511) / 512;
    f->blocks = ep_calloc(f->nblocks, sizeof *f->blocks);
    if (!f->blocks) {
        rc = EP_E_NOMEM;
        goto out;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *kk = k.mv_data;
        uint64_t h = FNV_OFFSET;

        if (k.mv_size < plen || memcmp(kk, prefix, plen) != 0)
            break;
        if (k.mv_size > plen && kk[plen] == '~') {
            f->regex = true;
            continue;
        }
        for (size_t i = plen; i < k.mv_size; i++)
            h = fnv_step(h, (unsigned char)kk[i]);
        filter_probe(filter_block(f, h), filter_bits(h), true);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    if (rc)
        filter_free(f);
    else
        *out = f;
    return rc;
}

/* The cache slot of @p profile, NULL when it has none. Under filter_lock. */
static struct filter_slot *filter_find(struct ep_store *s, const char *profile)
{
    for (unsigned i = 0; i < FILTER_CACHE_MAX; i++)
        if (strcmp(s->filters[i].profile, profile) == 0)
            return &s->filters[i];
    return NULL;
}

/* A slot to fill: a free one, else the next one not being built (round robin). Under the write
 * lock. */
static struct filter_slot *filter_claim(struct ep_store *s)
{
    struct filter_slot *slot = filter_find(s, "");

    for (unsigned i = 0; !slot && i < FILTER_CACHE_MAX; i++) {
        struct filter_slot *c = &s->filters[s->filter_evict];

        s->filter_evict = (s->filter_evict + 1) % FILTER_CACHE_MAX;
        if (!c->building)
            slot = c;
    }
    return slot;
}

/* The generation and rule count of @p profile as @p rd sees it, looked up once per snapshot. */
static int profile_row(struct ep_store_read *rd, const char *profile, uint64_t *generation,
                       uint32_t *rules)
{
    size_t txnid = mdb_txn_id(rd->txn);

    if (rd->info_hint.txnid != txnid || strcmp(rd->info_hint.profile, profile) != 0) {
        struct ep_profile_info info;
        int rc =
            get_fixed(rd->txn, rd->store->profiles, profile, strlen(profile), &info, sizeof info);

        if (rc == EP_E_NOTFOUND)
            info.generation = info.rules = 0;
        else if (rc)
            return rc;
        copy_str(rd->info_hint.profile, sizeof rd->info_hint.profile, profile);
        rd->info_hint.txnid = txnid;
        rd->info_hint.generation = info.generation;
        rd->info_hint.rules = info.rules;
    }
    *generation = rd->info_hint.generation;
    *rules = rd->info_hint.rules;
    return 0;
}

/* What the key filter says of a host's candidate keys. */
enum filter_verdict { FILTER_NONE, FILTER_MAYBE, FILTER_ABSENT };

/*
 * Ask the filter of the profile whose keys start with key[0..plen) (at the
 * generation this read sees) about key t = key + plen (@p tlen bytes; for
 * an ip: key only t itself, else also its ancestors). FILTER_NONE when the
 * profile is too small or too large for one or its filter is not there
 * yet; a missing filter is then built with @p cur (unless another thread
 * builds it, or a newer generation is cached) and installed for the next
 * decisions. On FILTER_ABSENT, *regex tells whether the profile has regex
 * rules. The filter is read under the read lock and only for the
 * generation it was built for; a failed build leaves the slot free and the
 * decision takes the usual walk.
 */
static int filter_check(struct ep_store_read *rd, MDB_cursor *cur, const char *key, size_t plen,
                        size_t tlen, bool whole, enum filter_verdict *verdict, bool *regex)
{
    struct ep_store *s = rd->store;
    struct filter_slot *slot;
    struct key_filter *f = NULL;
    uint64_t generation;
    uint32_t rules;
    int rc;

    *verdict = FILTER_NONE;
    rc = profile_row(rd, key, &generation, &rules);
    if (rc || rules < FILTER_MIN_RULES || rules > FILTER_MAX_RULES)
        return rc;
    pthread_rwlock_rdlock(&s->filter_lock);
    slot = filter_find(s, key);
    if (slot && slot->filter && slot->generation == generation) {
        *verdict =
            filter_test(slot->filter, key + plen, tlen, whole) ? FILTER_MAYBE : FILTER_ABSENT;
        *regex = slot->filter->regex;
        pthread_rwlock_unlock(&s->filter_lock);
        return 0;
    }
    pthread_rwlock_unlock(&s->filter_lock);

    pthread_rwlock_wrlock(&s->filter_lock);
    slot = filter_find(s, key);
    if (slot && slot->generation >= generation) {
        /* Built meanwhile, being built, or newer: this decision walks. */
        pthread_rwlock_unlock(&s->filter_lock);
        return 0;
    }
    if (!slot)
        slot = filter_claim(s);
    if (!slot) {
        pthread_rwlock_unlock(&s->filter_lock);
        return 0;
    }
    filter_free(slot->filter);
    slot->filter = NULL;
    copy_str(slot->profile, sizeof slot->profile, key);
    slot->generation = generation;
    slot->building = true;
    pthread_rwlock_unlock(&s->filter_lock);

    rc = filter_build(cur, key, plen, rules, &f);

    pthread_rwlock_wrlock(&s->filter_lock);
    /* Unless a newer generation took the slot over while this one was built. */
    if (slot->building && slot->generation == generation && strcmp(slot->profile, key) == 0) {
        slot->building = false;
        if (rc == 0) {
            slot->filter = f;
            f = NULL;
        } else {
            slot->profile[0] = '\0';
        }
    }
    pthread_rwlock_unlock(&s->filter_lock);
    filter_free(f);
    return 0;
}

/*
 * The host or ip: rule of the profile whose keys start with key[0..plen)
 * in the tree, for ep_store_read_match(); *hint is settled (from the
 * positioning, the key filter, the read's last answer for this profile
 * and snapshot, or one probe) and remembered when EP_E_NOTFOUND is
 * returned. When the profile's key filter shows that no candidate key can
 * exist, the tree is not searched at all.
 */
static int tree_match(struct ep_store_read *rd, MDB_cursor *cur, char *key, size_t plen,
                      const char *host, size_t hlen, bool ip, struct ep_rule *matched,
                      enum regex_hint *hint)
{
    char *k = key + plen;
    size_t txnid = mdb_txn_id(rd->txn);
    enum regex_hint seen = REGEX_UNKNOWN;
    enum filter_verdict verdict;
    bool regex = false;
    int rc;

    if (*hint == REGEX_UNKNOWN && rd->regex_hint.txnid == txnid &&
        strcmp(rd->regex_hint.profile, key) == 0)
        *hint = rd->regex_hint.regex ? REGEX_SOME : REGEX_NONE;
    if (ip) {
        k[0] = '#';
        memcpy(k + 1, host, hlen);
    } else {
        ep_host_reverse(host, k);
    }
    rc = filter_check(rd, cur, key, plen, ip ? 1 + hlen : hlen, ip, &verdict, &regex);
    if (rc)
        return rc;
    if (verdict == FILTER_ABSENT) {
        seen = regex ? REGEX_SOME : REGEX_NONE;
    } else if (ip) {
        MDB_val kv, v;
        uint8_t mask = 0;

        kv = mkval(key, plen + 1 + hlen);
        rc = mdb_cursor_get(cur, &kv, &v, MDB_SET_RANGE);
        seen = regex_hint_of(rc, &kv, key, plen);
        if (rc == 0 && kv.mv_size == plen + 1 + hlen && memcmp(kv.mv_data, key, kv.mv_size) == 0 &&
            (rc = val_mask(&v, &mask)) != 0)
            return rc;
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        if (mask & EP_RULE_IP) {
            set_match(matched, EP_RULE_IP, host, hlen);
            return 0;
        }
    } else {
        rc = host_walk(cur, key, plen, hlen, host, matched, &seen);
        if (rc != EP_E_NOTFOUND)
            return rc;
    }
    if (*hint == REGEX_UNKNOWN)
        *hint = seen;
    if (*hint == REGEX_UNKNOWN) {
        rc = has_regex(cur, key, plen, &regex);
        if (rc)
            return rc;
        *hint = regex ? REGEX_SOME : REGEX_NONE;
    }
    memcpy(rd->regex_hint.profile, key, plen);
    rd->regex_hint.txnid = txnid;
    rd->regex_hint.regex = *hint == REGEX_SOME;
    return EP_E_NOTFOUND;
}

/*
 * The rules lookup of the decision path. The base profile is matched from
 * the read's in-memory copy; any other profile (or a base profile too
 * large to copy) in the tree: for an IP literal its '#' key, for a name
 * host_walk(). Regex rules come last, and only when the profile has some:
 * the base copy knows, and for other profiles the walk's positioning or
 * the read's answer for the same profile and snapshot often tells; else
 * one probe does.
 */
int ep_store_read_match(struct ep_store_read *rd, const char *profile, const char *host,
                        struct ep_rule *matched)
{
    char key[RULE_KEY_MAX];
    MDB_cursor *cur;
    size_t plen = strlen(profile), hlen = strlen(host);
    enum regex_hint hint = REGEX_UNKNOWN;
    bool ip, use_tree = true, regex;
    int rc;

    if (plen == 0 || plen > EP_PROFILE_MAX || hlen == 0 || hlen > EP_HOST_MAX)
        return EP_E_INVAL;
    ip = is_ip_literal(host);
    if (strcmp(profile, EP_PROFILE_BASE) == 0) {
        rc = base_match(rd, host, hlen, ip, matched, &use_tree, &regex);
        if (rc != EP_E_NOTFOUND && (rc || !use_tree))
            return rc;
        if (!use_tree)
            hint = regex ? REGEX_SOME : REGEX_NONE;
    }
    if (use_tree) {
        memcpy(key, profile, plen + 1);
        rc = rules_cursor(rd, &cur);
        if (rc == 0)
            rc = tree_match(rd, cur, key, plen + 1, host, hlen, ip, matched, &hint);
        if (rc != EP_E_NOTFOUND)
            return rc;
    }
    return hint == REGEX_SOME ? regex_match(rd, profile, host, matched) : EP_E_NOTFOUND;
}

/* ---- open and close ---- */

static int open_dbis(struct ep_store *s, MDB_txn *txn, unsigned flags)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"meta", &s->meta},         {"projects", &s->projects}, {"clients", &s->clients},
        {"profiles", &s->profiles}, {"rules", &s->rules},       {"seen", &s->seen},
        {"audit", &s->audit},
    };
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < sizeof dbs / sizeof dbs[0]; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
    return rc;
}

/* Read the schema number: 0 and *found false when none is written yet. */
static int schema_read(struct ep_store *s, MDB_txn *txn, bool *found)
{
    uint32_t schema;
    int rc = get_fixed(txn, s->meta, "schema", 6, &schema, sizeof schema);

    *found = rc == 0;
    if (rc == EP_E_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    return schema == EP_STORE_SCHEMA ? 0 : EP_E_SCHEMA;
}

/* First use: schema number, the default base domains and the "default" profile. */
static int schema_create(struct ep_store *s, MDB_txn *txn)
{
    const size_t n = sizeof default_base_domains / sizeof default_base_domains[0];
    struct ep_rule rules[sizeof default_base_domains / sizeof default_base_domains[0]];
    struct ep_profile_info info;
    uint32_t schema = EP_STORE_SCHEMA;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ep_rule_parse(default_base_domains[i], &rules[i], NULL, 0);
    if (rc == 0)
        rc = rules_add_txn(s, txn, EP_PROFILE_BASE, rules, n, NULL);
    if (rc == 0)
        rc = profile_ensure(s, txn, EP_PROFILE_DEFAULT, &info);
    if (rc == 0)
        rc = put_fixed(txn, s->meta, "schema", 6, &schema, sizeof schema, 0);
    return rc;
}

/*
 * Open the databases and check the schema. A read transaction is tried
 * first so an existing store opens without taking the writer lock (every
 * c-icap child opens it); a new store is initialised in one write
 * transaction, which LMDB serialises between racing openers.
 */
static int schema_init(struct ep_store *s)
{
    MDB_txn *txn = NULL;
    bool found = false;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

    if (rc)
        return rc;
    rc = open_dbis(s, txn, 0);
    if (rc == 0)
        rc = schema_read(s, txn, &found);
    if (rc == 0 && found)
        return mdb_txn_commit(txn);
    mdb_txn_abort(txn);
    txn = NULL;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (s->read_only)
        return EP_E_SCHEMA;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    rc = open_dbis(s, txn, MDB_CREATE);
    if (rc == 0)
        rc = schema_read(s, txn, &found);
    if (rc == 0 && !found)
        rc = schema_create(s, txn);
    return txn_finish(txn, rc);
}

int ep_store_open(const char *dir, const struct ep_store_options *opts, struct ep_store **out)
{
    struct ep_store_options defaults = {0};
    struct ep_store *s;
    int rc, dead;

    *out = NULL;
    if (!opts)
        opts = &defaults;
    s = ep_calloc(1, sizeof *s);
    if (!s)
        return EP_E_NOMEM;
    s->read_only = opts->read_only;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    pthread_rwlock_init(&s->regex_lock, NULL);
    pthread_rwlock_init(&s->filter_lock, NULL);
    rc = mdb_env_create(&s->env);
    if (rc)
        goto out;
    rc = mdb_env_set_maxdbs(s->env, 8);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(s->env,
                                    opts->max_readers ? opts->max_readers : DEFAULT_MAX_READERS);
    if (rc == 0)
        rc = mdb_env_open(s->env, dir, MDB_NOTLS | (s->read_only ? MDB_RDONLY : 0), 0664);
    if (rc == 0)
        rc = mdb_reader_check(s->env, &dead);
    if (rc == 0)
        rc = schema_init(s);
out:
    if (rc) {
        ep_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void ep_store_close(struct ep_store *store)
{
    struct ep_store_read *rd;

    if (!store)
        return;
    while ((rd = store->pool)) {
        store->pool = rd->next;
        read_destroy(rd);
    }
    for (unsigned i = 0; i < REGEX_CACHE_MAX; i++)
        regex_set_clear(&store->regex[i]);
    for (unsigned i = 0; i < FILTER_CACHE_MAX; i++)
        filter_free(store->filters[i].filter);
    if (store->env)
        mdb_env_close(store->env);
    pthread_rwlock_destroy(&store->regex_lock);
    pthread_rwlock_destroy(&store->filter_lock);
    pthread_cond_destroy(&store->idle);
    pthread_mutex_destroy(&store->pool_lock);
    ep_free(store);
}

static int count_reader_line(const char *msg, void *ctx)
{
    const char *p = msg;

    while (*p == ' ')
        p++;
    if (*p >= '0' && *p <= '9')
        ++*(unsigned *)ctx;
    return 0;
}

int ep_store_readers_used(struct ep_store *store, unsigned *out)
{
    *out = 0;
    return mdb_reader_list(store->env, count_reader_line, out) < 0 ? EIO : 0;
}

/* ---- projects and clients ---- */

static int client_row_put(struct ep_store *s, MDB_txn *txn, const struct ep_project *p)
{
    struct ep_client row, old;
    int rc = get_fixed(txn, s->clients, p->ip, strlen(p->ip), &old, sizeof old);

    if (rc == 0 && strncmp(old.project_id, p->id, sizeof old.project_id) != 0)
        return EP_E_CONFLICT;
    if (rc && rc != EP_E_NOTFOUND)
        return rc;
    memset(&row, 0, sizeof row);
    copy_str(row.project_id, sizeof row.project_id, p->id);
    copy_str(row.profile, sizeof row.profile, p->profile);
    row.mode = p->mode;
    return put_fixed(txn, s->clients, p->ip, strlen(p->ip), &row, sizeof row, 0);
}

/* Remove the clients row of @p ip if it belongs to project @p id. */
static int client_row_del(struct ep_store *s, MDB_txn *txn, const char *ip, const char *id)
{
    struct ep_client old;
    int rc = get_fixed(txn, s->clients, ip, strlen(ip), &old, sizeof old);

    if (rc == EP_E_NOTFOUND)
        return 0;
    if (rc == 0 && strncmp(old.project_id, id, sizeof old.project_id) == 0)
        rc = del_key(txn, s->clients, ip, strlen(ip));
    return rc;
}

static int project_read(struct ep_store *s, MDB_txn *txn, const char *id, struct ep_project *out)
{
    if (!valid_id(id))
        return EP_E_INVAL;
    return get_fixed(txn, s->projects, id, strlen(id), out, sizeof *out);
}

int ep_store_project_create(struct ep_store *store, const struct ep_project *p,
                            unsigned max_projects)
{
    struct ep_project cp;
    struct ep_profile_info info;
    MDB_txn *txn = NULL;
    MDB_stat st;
    int rc = project_clean(&cp, p);

    if (rc)
        return rc;
    rc = write_begin(store, &txn);
    if (rc)
        goto out;
    if (max_projects > 0) {
        rc = mdb_stat(txn, store->projects, &st);
        if (rc == 0 && st.ms_entries >= max_projects)
            rc = EP_E_LIMIT;
        if (rc)
            goto out;
    }
    rc = put_fixed(txn, store->projects, cp.id, strlen(cp.id), &cp, sizeof cp, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = profile_ensure(store, txn, cp.profile, &info);
    if (rc == 0 && cp.ip[0])
        rc = client_row_put(store, txn, &cp);
out:
    return write_end(store, txn, rc);
}

int ep_store_project_get(struct ep_store *store, const char *id, struct ep_project *out)
{
    struct ep_store_read *rd;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = project_read(store, rd->txn, id, out);
    ep_store_read_end(rd);
    return rc;
}

int ep_store_project_update(struct ep_store *store, const struct ep_project *p)
{
    struct ep_project cp, old;
    struct ep_profile_info info;
    MDB_txn *txn = NULL;
    int rc = project_clean(&cp, p);

    if (rc)
        return rc;
    rc = write_begin(store, &txn);
    if (rc == 0)
        rc = project_read(store, txn, cp.id, &old);
    if (rc)
        goto out;
    copy_str(cp.ip, sizeof cp.ip, old.ip);
    rc = put_fixed(txn, store->projects, cp.id, strlen(cp.id), &cp, sizeof cp, 0);
    if (rc == 0)
        rc = profile_ensure(store, txn, cp.profile, &info);
    if (rc == 0 && cp.ip[0])
        rc = client_row_put(store, txn, &cp);
out:
    return write_end(store, txn, rc);
}

int ep_store_project_delete(struct ep_store *store, const char *id)
{
    struct ep_project old;
    char prefix[EP_ID_MAX + 1];
    MDB_txn *txn = NULL;
    int rc = write_begin(store, &txn);

    if (rc == 0)
        rc = project_read(store, txn, id, &old);
    if (rc)
        goto out;
    if (old.ip[0])
        rc = client_row_del(store, txn, old.ip, id);
    if (rc == 0) {
        memcpy(prefix, id, strlen(id) + 1);
        rc = del_prefix(txn, store->seen, prefix, strlen(id) + 1);
    }
    if (rc == 0)
        rc = del_key(txn, store->projects, id, strlen(id));
out:
    return write_end(store, txn, rc);
}

int ep_store_projects_list(struct ep_store *store, int (*fn)(void *ctx, const struct ep_project *p),
                           void *ctx)
{
    struct ep_store_read *rd;
    struct ep_project p;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = mdb_cursor_open(rd->txn, store->projects, &cur);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    while (rc == 0) {
        if (val.mv_size != sizeof p) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(&p, val.mv_data, sizeof p);
        rc = fn(ctx, &p);
        if (rc)
            goto out;
        rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    ep_store_read_end(rd);
    return rc;
}

int ep_store_client_map(struct ep_store *store, const char *ip, const char *id)
{
    struct ep_project p;
    MDB_txn *txn = NULL;
    int rc;

    if (!valid_ip(ip))
        return EP_E_INVAL;
    rc = write_begin(store, &txn);
    if (rc == 0)
        rc = project_read(store, txn, id, &p);
    if (rc)
        goto out;
    if (p.ip[0] && strcmp(p.ip, ip) != 0) {
        /* Check the new IP is free before dropping the old mapping. */
        struct ep_client held;

        rc = get_fixed(txn, store->clients, ip, strlen(ip), &held, sizeof held);
        if (rc == 0 && strncmp(held.project_id, id, sizeof held.project_id) != 0)
            rc = EP_E_CONFLICT;
        else if (rc == EP_E_NOTFOUND || rc == 0)
            rc = client_row_del(store, txn, p.ip, id);
        if (rc)
            goto out;
    }
    copy_str(p.ip, sizeof p.ip, ip);
    rc = client_row_put(store, txn, &p);
    if (rc == 0)
        rc = put_fixed(txn, store->projects, p.id, strlen(p.id), &p, sizeof p, 0);
out:
    return write_end(store, txn, rc);
}

int ep_store_client_unmap(struct ep_store *store, const char *id)
{
    struct ep_project p;
    MDB_txn *txn = NULL;
    int rc = write_begin(store, &txn);

    if (rc == 0)
        rc = project_read(store, txn, id, &p);
    if (rc || !p.ip[0])
        goto out;
    rc = client_row_del(store, txn, p.ip, id);
    p.ip[0] = '\0';
    if (rc == 0)
        rc = put_fixed(txn, store->projects, p.id, strlen(p.id), &p, sizeof p, 0);
out:
    return write_end(store, txn, rc);
}

/* ---- listing rules and profiles ---- */

/* Walk the rules of one profile, calling @p fn for those whose key marker is in @p kinds. */
static int rules_walk(MDB_cursor *cur, const char *profile, int phase,
                      int (*fn)(void *ctx, const struct ep_rule *r), void *ctx)
{
    size_t plen = strlen(profile) + 1;
    MDB_val key = mkval(profile, plen), val;
    int rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    struct ep_rule r;

    for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        const char *k = (const char *)key.mv_data + plen;
        size_t klen = key.mv_size - plen;
        char marker;
        uint8_t mask;

        if (key.mv_size <= plen || memcmp(key.mv_data, profile, plen) != 0)
            break;
        if (val.mv_size != 1 || klen >= sizeof r.host)
            return EP_E_CORRUPT;
        mask = *(const uint8_t *)val.mv_data;
        marker = k[0] == '#' || k[0] == '~' ? k[0] : 'h';
        if ((phase == 0 && marker != 'h') || (phase == 1 && marker != '#') ||
            (phase == 2 && marker != '~'))
            continue;
        memset(&r, 0, sizeof r);
        if (marker == 'h') {
            char reversed[EP_HOST_BUFSZ];

            if (klen > EP_HOST_MAX)
                return EP_E_CORRUPT;
            memcpy(reversed, k, klen);
            reversed[klen] = '\0';
            ep_host_reverse(reversed, r.host);
            for (int bit = EP_RULE_EXACT; bit <= EP_RULE_SUBDOMAINS; bit <<= 1) {
                if (!(mask & bit))
                    continue;
                r.kind = bit;
                if ((rc = fn(ctx, &r)) != 0)
                    return rc;
            }
            continue;
        }
        memcpy(r.host, k + 1, klen - 1);
        r.kind = marker == '#' ? EP_RULE_IP : EP_RULE_REGEX;
        if ((rc = fn(ctx, &r)) != 0)
            return rc;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int ep_store_rules_list(struct ep_store *store, const char *profile,
                        int (*fn)(void *ctx, const struct ep_rule *r), void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur = NULL;
    int rc;

    if (!valid_rules_profile(profile))
        return EP_E_INVAL;
    rc = ep_store_read_begin(store, &rd);
    if (rc)
        return rc;
    rc = mdb_cursor_open(rd->txn, store->rules, &cur);
    /* Host rules, then ip: rules, then regex rules. */
    for (int phase = 0; rc == 0 && phase < 3; phase++)
        rc = rules_walk(cur, profile, phase, fn, ctx);
    if (cur)
        mdb_cursor_close(cur);
    ep_store_read_end(rd);
    return rc;
}

int ep_store_profile_get(struct ep_store *store, const char *profile, struct ep_profile_info *out)
{
    struct ep_store_read *rd;
    int rc;

    if (!valid_rules_profile(profile))
        return EP_E_INVAL;
    rc = ep_store_read_begin(store, &rd);
    if (rc)
        return rc;
    rc = get_fixed(rd->txn, store->profiles, profile, strlen(profile), out, sizeof *out);
    ep_store_read_end(rd);
    return rc;
}

static int profile_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ep_profile_info *)a)->name,
                  ((const struct ep_profile_info *)b)->name);
}

/*
 * Profiles with their project counts: the profiles are read into an array
 * (sorted, as LMDB keeps them), then one pass over the projects counts
 * them by binary search.
 */
int ep_store_profiles_list(struct ep_store *store,
                           int (*fn)(void *ctx, const struct ep_profile_info *p), void *ctx)
{
    struct ep_profile_info *infos = NULL, key_info;
    struct ep_store_read *rd;
    struct ep_project p;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    MDB_stat st;
    size_t n = 0;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = mdb_stat(rd->txn, store->profiles, &st);
    if (rc)
        goto out;
    infos = ep_calloc(st.ms_entries + 1, sizeof *infos);
    if (!infos) {
        rc = EP_E_NOMEM;
        goto out;
    }
    rc = mdb_cursor_open(rd->txn, store->profiles, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && n < st.ms_entries;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (val.mv_size != sizeof *infos) {
            rc = EP_E_CORRUPT;
            goto out;
        }
        memcpy(&infos[n], val.mv_data, sizeof *infos);
        infos[n].projects = 0;
        if (strcmp(infos[n].name, EP_PROFILE_BASE) != 0)
            n++;
    }
    if (rc != MDB_NOTFOUND && rc != 0)
        goto out;
    mdb_cursor_close(cur);
    cur = NULL;
    rc = mdb_cursor_open(rd->txn, store->projects, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct ep_profile_info *hit;

        if (val.mv_size != sizeof p) {
            rc = EP_E_CORRUPT;
            goto out;
        }
        memcpy(&p, val.mv_data, sizeof p);
        copy_str(key_info.name, sizeof key_info.name, p.profile);
        hit = bsearch(&key_info, infos, n, sizeof *infos, profile_cmp);
        if (hit)
            hit->projects++;
    }
    if (rc != MDB_NOTFOUND)
        goto out;
    rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fn(ctx, &infos[i]);
out:
    if (cur)
        mdb_cursor_close(cur);
    ep_store_read_end(rd);
    ep_free(infos);
    return rc;
}

/* ---- seen records ---- */

static size_t seen_key(const char *project_id, const char *host, char *key)
{
    size_t ilen = strlen(project_id), hlen = strlen(host);

    if (!valid_id(project_id) || hlen == 0 || hlen > EP_HOST_MAX)
        return 0;
    memcpy(key, project_id, ilen + 1);
    memcpy(key + ilen + 1, host, hlen);
    return ilen + 1 + hlen;
}

int ep_store_seen_add(struct ep_store *store, const struct ep_seen_delta *d, size_t n)
{
    MDB_txn *txn = NULL;
    int rc = write_begin(store, &txn);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char key[SEEN_KEY_MAX];
        size_t klen = seen_key(d[i].project_id, d[i].host, key);
        struct ep_seen s;

        if (klen == 0) {
            rc = EP_E_INVAL;
            break;
        }
        rc = get_fixed(txn, store->seen, key, klen, &s, sizeof s);
        if (rc == EP_E_NOTFOUND) {
            memset(&s, 0, sizeof s);
            s.first_seen = d[i].first_seen;
            s.last_seen = d[i].last_seen;
            s.last_verdict = d[i].last_verdict;
            rc = 0;
        } else if (rc) {
            break;
        }
        s.allowed += d[i].allowed;
        s.denied += d[i].denied;
        s.count += d[i].allowed + d[i].denied;
        if (d[i].first_seen < s.first_seen)
            s.first_seen = d[i].first_seen;
        if (d[i].last_seen >= s.last_seen) {
            s.last_seen = d[i].last_seen;
            s.last_verdict = d[i].last_verdict;
        }
        rc = put_fixed(txn, store->seen, key, klen, &s, sizeof s, 0);
    }
    return write_end(store, txn, rc);
}

int ep_store_seen_list(struct ep_store *store, const char *project_id,
                       int (*fn)(void *ctx, const char *host, const struct ep_seen *s), void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur = NULL;
    size_t plen = strlen(project_id) + 1;
    MDB_val key, val;
    int rc;

    if (!valid_id(project_id))
        return EP_E_INVAL;
    rc = ep_store_read_begin(store, &rd);
    if (rc)
        return rc;
    rc = mdb_cursor_open(rd->txn, store->seen, &cur);
    key = mkval(project_id, plen);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char host[EP_HOST_BUFSZ];
        struct ep_seen s;

        if (key.mv_size <= plen || memcmp(key.mv_data, project_id, plen) != 0)
            break;
        if (val.mv_size != sizeof s || key.mv_size - plen > EP_HOST_MAX) {
            rc = EP_E_CORRUPT;
            goto out;
        }
        memcpy(&s, val.mv_data, sizeof s);
        memcpy(host, (const char *)key.mv_data + plen, key.mv_size - plen);
        host[key.mv_size - plen] = '\0';
        if ((rc = fn(ctx, host, &s)) != 0)
            goto out;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    ep_store_read_end(rd);
    return rc;
}

int ep_store_seen_total(struct ep_store *store, uint64_t *out)
{
    struct ep_store_read *rd;
    MDB_stat st;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = mdb_stat(rd->txn, store->seen, &st);
    if (rc == 0)
        *out = st.ms_entries;
    ep_store_read_end(rd);
    return rc;
}

int ep_store_seen_clear(struct ep_store *store, const char *project_id)
{
    MDB_txn *txn = NULL;
    int rc;

    if (!valid_id(project_id))
        return EP_E_INVAL;
    rc = write_begin(store, &txn);
    if (rc == 0)
        rc = del_prefix(txn, store->seen, project_id, strlen(project_id) + 1);
    return write_end(store, txn, rc);
}

/* ---- audit log ---- */

static void audit_key(uint64_t time_us, uint32_t seq, unsigned char *key)
{
    for (int i = 0; i < 8; i++)
        key[i] = (unsigned char)(time_us >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        key[8 + i] = (unsigned char)(seq >> (24 - 8 * i));
}

/*
 * Append one entry under (time, sequence): the sequence is one more than
 * the last entry of the same microsecond, found by positioning on the
 * first key of the next microsecond and stepping back.
 */
int ep_store_audit_append(struct ep_store *store, const struct ep_audit_entry *e)
{
    struct ep_audit_entry cp;
    unsigned char k[AUDIT_KEY_SIZE];
    MDB_cursor *cur = NULL;
    MDB_txn *txn = NULL;
    MDB_val key, val;
    uint32_t seq = 0;
    struct timespec ts;
    int rc;

    if (!TERMINATED(e->action) || !TERMINATED(e->target) || !TERMINATED(e->source) ||
        !TERMINATED(e->detail) || e->time_us < 0)
        return EP_E_INVAL;
    memset(&cp, 0, sizeof cp);
    cp.time_us = e->time_us;
    if (cp.time_us == 0) {
        clock_gettime(CLOCK_REALTIME, &ts);
        cp.time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    copy_str(cp.action, sizeof cp.action, e->action);
    copy_str(cp.target, sizeof cp.target, e->target);
    copy_str(cp.source, sizeof cp.source, e->source);
    copy_str(cp.detail, sizeof cp.detail, e->detail);

    rc = write_begin(store, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, store->audit, &cur);
    if (rc)
        goto out;
    audit_key((uint64_t)cp.time_us + 1, 0, k);
    key = mkval(k, sizeof k);
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
    if (rc == 0 && key.mv_size == AUDIT_KEY_SIZE) {
        unsigned char mine[AUDIT_KEY_SIZE];

        audit_key((uint64_t)cp.time_us, 0, mine);
        if (memcmp(key.mv_data, mine, 8) == 0) {
            const unsigned char *q = (const unsigned char *)key.mv_data + 8;

            seq = ((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]) + 1;
        }
    }
    if (rc && rc != MDB_NOTFOUND)
        goto out;
    audit_key((uint64_t)cp.time_us, seq, k);
    rc = put_fixed(txn, store->audit, k, sizeof k, &cp, sizeof cp, MDB_NOOVERWRITE);
out:
    if (cur)
        mdb_cursor_close(cur);
    return write_end(store, txn, rc);
}

int ep_store_audit_list(struct ep_store *store, size_t limit,
                        int (*fn)(void *ctx, const struct ep_audit_entry *e), void *ctx)
{
    struct ep_store_read *rd;
    struct ep_audit_entry e;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    size_t done = 0;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = mdb_cursor_open(rd->txn, store->audit, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_LAST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_PREV)) {
        if (limit && done == limit)
            break;
        if (val.mv_size != sizeof e) {
            rc = EP_E_CORRUPT;
            goto out;
        }
        memcpy(&e, val.mv_data, sizeof e);
        if ((rc = fn(ctx, &e)) != 0)
            goto out;
        done++;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    ep_store_read_end(rd);
    return rc;
}

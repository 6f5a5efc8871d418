/*
 * The read-side rule matching of the store (store_match.h):
 * ep_store_read_match() and what it alone uses, the per-handle regex
 * cache, the in-memory copy of the base profile per pooled read, and the
 * key filters of large profiles. The rules it matches are written by
 * store_rules.c; the handle and its structures are in store_internal.h.
 */
#include "config.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "policy/host.h"
#include "policy/store_internal.h"
#include "policy/store_match.h"
#include "policy/store_rules.h"

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

void store_regex_set_clear(struct regex_set *set)
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

    store_regex_set_clear(set);
    memcpy(prefix, profile, plen - 2);
    prefix[plen - 2] = '\0';
    prefix[plen - 1] = EP_KEY_MARK_REGEX;
    rc = store_rules_cursor(rd, &cur);
    key = store_mkval(prefix, plen);
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
        store_regex_set_clear(set);
        return rc;
    }
    store_copy_str(set->profile, sizeof set->profile, profile);
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
            store_copy_str(matched->host, sizeof matched->host, set->patterns[i]);
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
    rc = store_get_fixed(rd->txn, s->profiles, profile, strlen(profile), &info, sizeof info);
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
 * returned it (@p rc): regex keys sort after every host and ip: key of
 * their profile (covers.h), so landing past the profile means it has none.
 */
static enum regex_hint regex_hint_of(int rc, const MDB_val *k, const char *prefix, size_t plen)
{
    if (rc == MDB_NOTFOUND)
        return REGEX_NONE;
    if (rc || k->mv_size < plen || memcmp(k->mv_data, prefix, plen) != 0)
        return rc ? REGEX_UNKNOWN : REGEX_NONE;
    if (ep_rule_key_kinds((const char *)k->mv_data + plen, k->mv_size - plen) == EP_RULE_REGEX)
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
    probe[plen] = EP_KEY_MARK_REGEX;
    k = store_mkval(probe, plen + 1);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    *yes = regex_hint_of(rc, &k, prefix, plen) == REGEX_SOME;
    return rc == MDB_NOTFOUND ? 0 : rc;
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
 * bytes) of the profile whose keys start with key[0..plen): a kind that
 * covers t itself, then its nearest ancestor holding a kind that covers
 * the names below it (ep_covers_mask() decides both and picks the
 * narrowest). @p key holds the prefix and t and is modified. The prefix
 * is the profile's (with its NUL), or that and a port's (covers.h): the
 * walk never leaves the range of keys that begin with it.
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
 * first positioning says of the profile's regex rules (meaningful for the
 * profile's prefix alone).
 */
static int host_walk(MDB_cursor *cur, char *key, size_t plen, size_t hlen, const char *host,
                     struct ep_rule *matched, enum regex_hint *hint)
{
    const char *t = key + plen;
    MDB_val k = store_mkval(key, plen + hlen), v;
    size_t bound = hlen, j;
    enum ep_rule_kind kind;
    uint8_t mask;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    *hint = regex_hint_of(rc, &k, key, plen);
    if (rc == 0 && k.mv_size == plen + hlen && memcmp(k.mv_data, key, plen + hlen) == 0) {
        if ((rc = val_mask(&v, &mask)) != 0)
            return rc;
        if ((kind = ep_covers_mask(mask, EP_COVERS_SELF)) != 0) {
            set_match(matched, kind, host, hlen);
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
            k = store_mkval(key, plen + j);
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            bound = j;
            if (rc || k.mv_size != plen + j || memcmp(k.mv_data, key, plen + j) != 0)
                continue;
        }
        bound = j;
        if ((rc = val_mask(&v, &mask)) != 0)
            return rc;
        if ((kind = ep_covers_mask(mask, EP_COVERS_BELOW)) != 0) {
            set_match(matched, kind, host + hlen - j, j);
            return 0;
        }
    }
}

/* ---- the base profile, copied per read and generation ---- */

/* The base profile's row as this read sees it (generation 0 when it is missing). */
static int base_generation(struct ep_store_read *rd, uint64_t *generation)
{
    struct ep_profile_info info;
    int rc = store_get_fixed(rd->txn, rd->store->profiles, EP_PROFILE_BASE, strlen(EP_PROFILE_BASE),
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
    int rc = store_rules_cursor(rd, &cur);

    b->valid = b->too_big = b->regex = false;
    b->n = b->keys_len = 0;
    k = store_mkval(prefix, sizeof prefix);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *kk = (const char *)k.mv_data + sizeof prefix;
        size_t kl = k.mv_size - sizeof prefix;
        uint8_t mask;

        if (k.mv_size <= sizeof prefix || memcmp(k.mv_data, prefix, sizeof prefix) != 0)
            break;
        if (ep_rule_key_kinds(kk, kl) == EP_RULE_REGEX) {
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
 * The base profile's host or ip: rule for @p host on port @p port from the
 * read's copy, refreshed when the profile's generation in this read
 * differs from the copy's. The generation is read only when the snapshot
 * (LMDB's transaction id, which any commit changes) is not the one the
 * copy was last found current in, so most decisions skip even that
 * lookup. The keys looked up are those of covers.h: for a port other than
 * the web ports, after that port's prefix. *use_tree is set when the
 * profile is too large to copy. *regex says whether regex rules remain to
 * be tried.
 */
static int base_match(struct ep_store_read *rd, const char *host, size_t hlen, bool ip, int port,
                      struct ep_rule *matched, bool *use_tree, bool *regex)
{
    struct base_copy *b = &rd->base;
    char k[EP_RULE_KEY_MAX + 1], *t;
    size_t txnid = mdb_txn_id(rd->txn), pp;
    uint64_t generation;
    enum ep_rule_kind kind;
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
    pp = ep_rule_key_port_prefix(port, k);
    t = k + pp;
    if (ip) {
        t[0] = EP_KEY_MARK_IP;
        memcpy(t + 1, host, hlen);
        if (base_copy_mask(b, k, pp + 1 + hlen) & EP_RULE_IP) {
            set_match(matched, EP_RULE_IP, host, hlen);
            return 0;
        }
        return EP_E_NOTFOUND;
    }
    ep_host_reverse(host, t);
    if ((kind = ep_covers_mask(base_copy_mask(b, k, pp + hlen), EP_COVERS_SELF)) != 0) {
        set_match(matched, kind, host, hlen);
        return 0;
    }
    for (size_t len = hlen; len > 0;) {
        const char *dot = memrchr(t, '.', len);

        if (!dot)
            break;
        len = (size_t)(dot - t);
        if ((kind = ep_covers_mask(base_copy_mask(b, k, pp + len), EP_COVERS_BELOW)) != 0) {
            set_match(matched, kind, host + hlen - len, len);
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

void store_filter_free(struct key_filter *f)
{
    if (!f)
        return;
    ep_free(f->blocks);
    ep_free(f);
}

/* Blocks of 512 bits of the filter of a profile of @p rules rules. */
static uint64_t filter_nblocks(uint32_t rules)
{
    return ((uint64_t)rules * FILTER_BITS_PER_RULE + 511) / 512;
}

/* The memory that filter takes. */
static size_t filter_size(uint32_t rules)
{
    return sizeof(struct key_filter) + (size_t)filter_nblocks(rules) * 64;
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
    MDB_val k = store_mkval(prefix, plen), v;
    int rc;

    *out = NULL;
    f = ep_calloc(1, sizeof *f);
    if (!f)
        return EP_E_NOMEM;
    f->nblocks = filter_nblocks(rules);
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
        if (ep_rule_key_kinds(kk + plen, k.mv_size - plen) == EP_RULE_REGEX) {
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
        store_filter_free(f);
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

/* Empty a slot: its filter freed, its memory no longer counted. Under the write lock. */
static void filter_slot_clear(struct ep_store *s, struct filter_slot *slot)
{
    store_filter_free(slot->filter);
    s->filter_used -= slot->bytes;
    memset(slot, 0, sizeof *slot);
}

/*
 * A slot for a filter of @p bytes, its memory counted: a free slot, and
 * ready filters dropped (round robin) until one is free and the filters
 * fit in the handle's budget together; NULL when that cannot be (filters
 * being built hold the rest). Under the write lock.
 */
static struct filter_slot *filter_claim(struct ep_store *s, size_t bytes)
{
    struct filter_slot *slot = filter_find(s, "");

    for (unsigned i = 0;
         i < FILTER_CACHE_MAX && (!slot || s->filter_used + bytes > s->filter_budget); i++) {
        struct filter_slot *c = &s->filters[s->filter_evict];

        s->filter_evict = (s->filter_evict + 1) % FILTER_CACHE_MAX;
        if (c->building || c->profile[0] == '\0')
            continue;
        filter_slot_clear(s, c);
        if (!slot)
            slot = c;
    }
    if (!slot || s->filter_used + bytes > s->filter_budget)
        return NULL;
    slot->bytes = bytes;
    s->filter_used += bytes;
    return slot;
}

size_t ep_store_key_filter_bytes(struct ep_store *store)
{
    size_t bytes = 0;

    pthread_rwlock_rdlock(&store->filter_lock);
    for (unsigned i = 0; i < FILTER_CACHE_MAX; i++)
        if (store->filters[i].filter)
            bytes += store->filters[i].bytes;
    pthread_rwlock_unlock(&store->filter_lock);
    return bytes;
}

/* The generation and rule count of @p profile as @p rd sees it, looked up once per snapshot. */
static int profile_row(struct ep_store_read *rd, const char *profile, uint64_t *generation,
                       uint32_t *rules)
{
    size_t txnid = mdb_txn_id(rd->txn);

    if (rd->info_hint.txnid != txnid || strcmp(rd->info_hint.profile, profile) != 0) {
        struct ep_profile_info info;
        int rc = store_get_fixed(rd->txn, rd->store->profiles, profile, strlen(profile), &info,
                                 sizeof info);

        if (rc == EP_E_NOTFOUND)
            info.generation = info.rules = 0;
        else if (rc)
            return rc;
        store_copy_str(rd->info_hint.profile, sizeof rd->info_hint.profile, profile);
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
 * yet, or the handle has none (no_key_filter, or one would not fit in
 * key_filter_memory); a missing filter is then built with @p cur (unless
 * another thread builds it, or a newer generation is cached) and installed
 * for the next decisions, older filters dropped to make room. On FILTER_ABSENT, *regex tells
 * whether the profile has regex rules. The filter is read under the read lock and only for the
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
    if (s->filter_off)
        return 0;
    rc = profile_row(rd, key, &generation, &rules);
    if (rc || rules < FILTER_MIN_RULES || rules > FILTER_MAX_RULES ||
        filter_size(rules) > s->filter_budget)
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
    if (slot)
        filter_slot_clear(s, slot); /* an older generation's filter, or its build */
    slot = filter_claim(s, filter_size(rules));
    if (!slot) {
        pthread_rwlock_unlock(&s->filter_lock);
        return 0;
    }
    store_copy_str(slot->profile, sizeof slot->profile, key);
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
            filter_slot_clear(s, slot);
        }
    }
    pthread_rwlock_unlock(&s->filter_lock);
    store_filter_free(f);
    return 0;
}

/*
 * The host or ip: rule of the profile whose keys start with key[0..plen)
 * in the tree, for ep_store_read_match(), among the rules of port @p port
 * (those without a port for a web port, else the range of that port's
 * keys, after its prefix: covers.h); *hint is settled (from the
 * positioning, the key filter, the read's last answer for this profile
 * and snapshot, or one probe) and remembered when EP_E_NOTFOUND is
 * returned for a web port; for another port it is left alone (regex rules
 * cover the web ports only). When the profile's key filter shows that no
 * candidate key can exist, the tree is not searched at all.
 */
static int tree_match(struct ep_store_read *rd, MDB_cursor *cur, char *key, size_t plen,
                      const char *host, size_t hlen, bool ip, int port, struct ep_rule *matched,
                      enum regex_hint *hint)
{
    size_t pp = ep_rule_key_port_prefix(port, key + plen);
    char *k = key + plen + pp;
    size_t txnid = mdb_txn_id(rd->txn);
    enum regex_hint seen = REGEX_UNKNOWN;
    enum filter_verdict verdict;
    bool regex = false;
    int rc;

    if (*hint == REGEX_UNKNOWN && rd->regex_hint.txnid == txnid &&
        strcmp(rd->regex_hint.profile, key) == 0)
        *hint = rd->regex_hint.regex ? REGEX_SOME : REGEX_NONE;
    if (ip) {
        k[0] = EP_KEY_MARK_IP;
        memcpy(k + 1, host, hlen);
    } else {
        ep_host_reverse(host, k);
    }
    rc = filter_check(rd, cur, key, plen, pp + (ip ? 1 + hlen : hlen), ip, &verdict, &regex);
    if (rc)
        return rc;
    if (verdict == FILTER_ABSENT) {
        seen = regex ? REGEX_SOME : REGEX_NONE;
    } else if (ip) {
        size_t klen = plen + pp + 1 + hlen;
        MDB_val kv, v;
        uint8_t mask = 0;

        kv = store_mkval(key, klen);
        rc = mdb_cursor_get(cur, &kv, &v, MDB_SET_RANGE);
        seen = regex_hint_of(rc, &kv, key, plen);
        if (rc == 0 && kv.mv_size == klen && memcmp(kv.mv_data, key, klen) == 0 &&
            (rc = val_mask(&v, &mask)) != 0)
            return rc;
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        if (mask & EP_RULE_IP) {
            set_match(matched, EP_RULE_IP, host, hlen);
            return 0;
        }
    } else {
        /* Under a port's prefix the walk's hint says nothing of regexes: not used then. */
        rc = host_walk(cur, key, plen + pp, hlen, host, matched, &seen);
        if (rc != EP_E_NOTFOUND)
            return rc;
    }
    if (pp)
        return EP_E_NOTFOUND;
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
 * large to copy) in the tree: for an IP literal its ip: key, for a name
 * host_walk(), among the keys of the request's port (covers.h). Regex
 * rules come last, for the web ports only, and only when the profile has
 * some: the base copy knows, and for other profiles the walk's
 * positioning or the read's answer for the same profile and snapshot
 * often tells; else one probe does.
 */
int ep_store_read_match(struct ep_store_read *rd, const char *profile, const char *host, int port,
                        struct ep_rule *matched)
{
    char key[RULE_KEY_MAX];
    MDB_cursor *cur;
    size_t plen = strlen(profile), hlen = strlen(host);
    enum regex_hint hint = REGEX_UNKNOWN;
    bool ip, use_tree = true, regex = false, web = ep_covers_web_port(port);
    int rc;

    if (plen == 0 || plen > EP_PROFILE_MAX || hlen == 0 || hlen > EP_HOST_MAX || port < 0 ||
        port > 65535)
        return EP_E_INVAL;
    ip = ep_host_kind_of(host) != EP_HOST_NAME;
    if (strcmp(profile, EP_PROFILE_BASE) == 0) {
        rc = base_match(rd, host, hlen, ip, port, matched, &use_tree, &regex);
        if (rc != EP_E_NOTFOUND && (rc || !use_tree))
            goto out;
        if (!use_tree)
            hint = regex ? REGEX_SOME : REGEX_NONE;
    }
    if (use_tree) {
        memcpy(key, profile, plen + 1);
        rc = store_rules_cursor(rd, &cur);
        if (rc == 0)
            rc = tree_match(rd, cur, key, plen + 1, host, hlen, ip, port, matched, &hint);
        if (rc != EP_E_NOTFOUND)
            goto out;
    }
    rc = web && hint == REGEX_SOME ? regex_match(rd, profile, host, matched) : EP_E_NOTFOUND;
out:
    if (rc == 0)
        matched->port = web ? 0 : port;
    return rc;
}

/*
 * Profiles and their rules in the store (store_rules.h): the row of each
 * profile in `profiles` (its generation, bumped by every change to its
 * rules, and its count of rules), the rules' keys in `rules` (laid out by
 * covers.h), writes and the listing; and the rules part of a new store,
 * the default base domains and the "default" profile. Matching a request
 * against these rules is in store_match.c.
 */
#include "config.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/covers.h"
#include "policy/store_internal.h"
#include "policy/store_projects.h"
#include "policy/store_rules.h"

/* The base domains a new store starts with (the reference system's six). */
static const char *const default_base_domains[] = {
    ".debian.org",   ".ubuntu.com",  ".nodesource.com",
    ".open-vsx.org", ".openvsx.org", ".eclipsecontent.org",
};

/* A rules profile: a valid profile name or the reserved base profile. */
static bool valid_rules_profile(const char *profile)
{
    return strcmp(profile, EP_PROFILE_BASE) == 0 || ep_profile_validate(profile) == 0;
}

/* ---- profiles ---- */

/* Read the profile row, creating an empty one (generation 0) when absent. */
static int profile_ensure(struct ep_store *s, MDB_txn *txn, const char *name,
                          struct ep_profile_info *info)
{
    int rc = store_get_fixed(txn, s->profiles, name, strlen(name), info, sizeof *info);

    if (rc != EP_E_NOTFOUND)
        return rc;
    memset(info, 0, sizeof *info);
    store_copy_str(info->name, sizeof info->name, name);
    return store_put_fixed(txn, s->profiles, name, strlen(name), info, sizeof *info, 0);
}

int store_profile_ensure(struct ep_store *s, MDB_txn *txn, const char *name)
{
    struct ep_profile_info info;

    return profile_ensure(s, txn, name, &info);
}

static int profile_put(struct ep_store *s, MDB_txn *txn, const struct ep_profile_info *info)
{
    return store_put_fixed(txn, s->profiles, info->name, strlen(info->name), info, sizeof *info, 0);
}

/* ---- rule writes ---- */

/*
 * The rules key of @p rule in @p profile (the profile, its NUL, then the
 * rule's key of covers.h) and the mask bit it owns. 0 for a malformed rule.
 */
static size_t rule_key(const char *profile, const struct ep_rule *rule, char *key, uint8_t *bit)
{
    size_t plen = strlen(profile), klen = ep_rule_key(rule, key + plen + 1, bit);

    if (klen == 0)
        return 0;
    memcpy(key, profile, plen + 1);
    return plen + 1 + klen;
}

static int get_mask(MDB_txn *txn, MDB_dbi dbi, const char *key, size_t klen, uint8_t *mask)
{
    int rc = store_get_fixed(txn, dbi, key, klen, mask, 1);

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
    rc = store_put_fixed(txn, s->rules, key, klen, &mask, 1, 0);
    if (rc == 0)
        rc = store_outbox_rule(s, txn, key, klen, mask);
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
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = rules_add_txn(store, txn, profile, rules, n, added);
    return store_write_end(store, txn, rc);
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
    rc = store_write_begin(store, &txn);
    if (rc)
        goto out;
    rc = store_get_fixed(txn, store->profiles, profile, strlen(profile), &info, sizeof info);
    if (rc)
        goto out;
    rc = get_mask(txn, store->rules, key, klen, &mask);
    if (rc == 0 && !(mask & bit))
        rc = EP_E_NOTFOUND;
    if (rc)
        goto out;
    mask &= (uint8_t)~bit;
    rc = mask ? store_put_fixed(txn, store->rules, key, klen, &mask, 1, 0)
              : store_del_key(txn, store->rules, key, klen);
    if (rc == 0)
        rc = store_outbox_rule(store, txn, key, klen, mask);
    if (rc)
        goto out;
    if (info.rules > 0)
        info.rules--;
    info.generation++;
    rc = profile_put(store, txn, &info);
out:
    return store_write_end(store, txn, rc);
}

int ep_store_rules_replace(struct ep_store *store, const char *profile, const struct ep_rule *rules,
                           size_t n)
{
    MDB_txn *txn = NULL;
    struct ep_profile_info info;
    size_t plen = strlen(profile);
    uint64_t mark = 0;
    int rc;

    if (!valid_rules_profile(profile))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc)
        goto out;
    rc = profile_ensure(store, txn, profile, &info);
    if (rc == 0)
        rc = store_outbox_rules_cleared(store, txn, profile, &mark);
    if (rc)
        goto out;
    /* The profile name and its NUL are the prefix of all its rules. */
    rc = store_del_prefix(txn, store->rules, profile, plen + 1);
    if (rc)
        goto out;
    info.rules = 0;
    rc = profile_put(store, txn, &info);
    if (rc == 0)
        rc = rules_add_txn(store, txn, profile, rules, n, NULL);
    if (rc == 0)
        rc = store_outbox_rules_settle(store, txn, mark);
out:
    return store_write_end(store, txn, rc);
}

/* ---- listing rules and profiles ---- */

/*
 * The phases of a profile's listing: name rules, ip: rules and regex rules
 * without a port (the order of the stores written before ports existed),
 * then the rules with a port, by port (covers.h keys them).
 */
enum rules_phase { PHASE_NAMES, PHASE_IPS, PHASE_REGEXES, PHASE_PORTS, PHASE_COUNT };

/* Call @p fn for each kind set in the name key's @p mask, @p r holding its host and port. */
static int rules_walk_mask(struct ep_rule *r, uint8_t mask,
                           int (*fn)(void *ctx, const struct ep_rule *r), void *ctx)
{
    int rc;

    for (unsigned bit = 1; bit <= EP_RULE_NAME_KINDS; bit <<= 1) {
        if (!(mask & bit & EP_RULE_NAME_KINDS))
            continue;
        r->kind = bit;
        if ((rc = fn(ctx, r)) != 0)
            return rc;
    }
    return 0;
}

/*
 * Walk the rules of one profile, calling @p fn for those of one phase.
 * The rules with a port are one range of keys (EP_KEY_MARK_PORT), so that
 * phase starts there and ends after it.
 */
static int rules_walk(MDB_cursor *cur, const char *profile, enum rules_phase phase,
                      int (*fn)(void *ctx, const struct ep_rule *r), void *ctx)
{
    static const unsigned phase_kinds[] = {EP_RULE_NAME_KINDS, EP_RULE_IP, EP_RULE_REGEX,
                                           EP_RULE_NAME_KINDS | EP_RULE_IP};
    size_t plen = strlen(profile) + 1;
    char start[EP_PROFILE_MAX + 2];
    MDB_val key, val;
    struct ep_rule r;
    int rc;

    memcpy(start, profile, plen);
    start[plen] = EP_KEY_MARK_PORT;
    key = store_mkval(start, phase == PHASE_PORTS ? plen + 1 : plen);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        const char *k = (const char *)key.mv_data + plen;
        size_t klen = key.mv_size - plen, skip;
        unsigned kinds;
        uint8_t mask;
        int port;

        if (key.mv_size <= plen || memcmp(key.mv_data, profile, plen) != 0)
            break;
        if (val.mv_size != 1 || klen > EP_RULE_KEY_MAX)
            return EP_E_CORRUPT;
        skip = ep_rule_key_port(k, klen, &port);
        if (phase == PHASE_PORTS && skip == 0)
            break; /* past the range of the rules with a port */
        mask = *(const uint8_t *)val.mv_data;
        kinds = ep_rule_key_kinds(k, klen);
        if ((skip != 0) != (phase == PHASE_PORTS) || !(kinds & phase_kinds[phase]))
            continue;
        if (skip != 0 && (kinds == EP_RULE_REGEX || ep_covers_web_port(port)))
            return EP_E_CORRUPT; /* ep_rule_key() writes no such key */
        k += skip;
        klen -= skip;
        memset(&r, 0, sizeof r);
        r.port = port;
        if (kinds == EP_RULE_NAME_KINDS) {
            char reversed[EP_HOST_BUFSZ];

            if (klen > EP_HOST_MAX)
                return EP_E_CORRUPT;
            memcpy(reversed, k, klen);
            reversed[klen] = '\0';
            ep_host_reverse(reversed, r.host);
            if ((rc = rules_walk_mask(&r, mask, fn, ctx)) != 0)
                return rc;
            continue;
        }
        if (klen - 1 >= sizeof r.host)
            return EP_E_CORRUPT;
        memcpy(r.host, k + 1, klen - 1);
        r.kind = kinds;
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
    rc = store_walk_begin(store, store->rules, &rd, &cur);
    for (int phase = 0; rc == 0 && phase < PHASE_COUNT; phase++)
        rc = rules_walk(cur, profile, (enum rules_phase)phase, fn, ctx);
    return store_walk_end(rd, cur, rc);
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
    rc = store_get_fixed(rd->txn, store->profiles, profile, strlen(profile), out, sizeof *out);
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
    int rc = store_walk_begin(store, store->profiles, &rd, &cur);

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
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && n < st.ms_entries;
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
        store_copy_str(key_info.name, sizeof key_info.name, p.profile);
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
    rc = store_walk_end(rd, cur, rc);
    ep_free(infos);
    return rc;
}

/* ---- the rules part ---- */

/* A new store: the default base domains and the "default" profile. */
static int rules_create(struct ep_store *s, MDB_txn *txn)
{
    const size_t n = sizeof default_base_domains / sizeof default_base_domains[0];
    struct ep_rule rules[sizeof default_base_domains / sizeof default_base_domains[0]];
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ep_rule_parse(default_base_domains[i], &rules[i], NULL, 0);
    if (rc == 0)
        rc = rules_add_txn(s, txn, EP_PROFILE_BASE, rules, n, NULL);
    if (rc == 0)
        rc = store_profile_ensure(s, txn, EP_PROFILE_DEFAULT);
    return rc;
}

static const struct store_db rules_dbs[] = {
    {"profiles", offsetof(struct ep_store, profiles)},
    {"rules", offsetof(struct ep_store, rules)},
    {NULL, 0},
};

const struct store_part store_part_rules = {
    .dbs = rules_dbs,
    .create = rules_create,
};

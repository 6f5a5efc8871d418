/*
 * The LMDB store shared by the ICAP children and egress-api: one
 * environment per handle, named databases with fixed value layouts (see
 * store.h), pooled read transactions and one short write transaction per
 * write function. The rule matching of the decision path (regex cache,
 * base copy, key filters) is in store_match.c; the handle's structures,
 * shared by both, are in store_internal.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/store.h"
#include "policy/store_internal.h"

/* Most reset read transactions a handle keeps for reuse. */
#define POOL_MAX 256
/* A seen key: project id NUL host, with ":PORT" for a port other than 80 and 443. */
#define SEEN_KEY_MAX   (EP_ID_MAX + 1 + EP_HOST_PORT_BUFSZ)
#define AUDIT_KEY_SIZE 12

/* The base domains a new store starts with (the reference system's six). */
static const char *const default_base_domains[] = {
    ".debian.org",   ".ubuntu.com",  ".nodesource.com",
    ".open-vsx.org", ".openvsx.org", ".eclipsecontent.org",
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

/* Read a fixed-size value; EP_E_NOTFOUND when absent, EP_E_CORRUPT on a size mismatch. */
int store_get_fixed(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, void *out, size_t size)
{
    MDB_val key = store_mkval(k, klen), val;
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
    MDB_val key = store_mkval(k, klen), val = store_mkval(v, size);
    int rc = mdb_put(txn, dbi, &key, &val, flags);

    return rc == MDB_KEYEXIST ? EP_E_EXISTS : rc;
}

static int del_key(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
    MDB_val key = store_mkval(k, klen);
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
        key = store_mkval(prefix, plen);
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
int store_write_begin(struct ep_store *s, MDB_txn **txn)
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

/* End a store_write_begin() transaction: commit when @p rc is 0, abort otherwise. */
int store_write_end(struct ep_store *s, MDB_txn *txn, int rc)
{
    if (!txn)
        return rc;
    rc = txn_finish(txn, rc);
    txn_leave(s);
    return rc;
}

void store_copy_str(char *dst, size_t dstsz, const char *src)
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
    store_copy_str(dst->id, sizeof dst->id, src->id);
    store_copy_str(dst->name, sizeof dst->name, src->name);
    store_copy_str(dst->type, sizeof dst->type, src->type);
    store_copy_str(dst->profile, sizeof dst->profile,
                   src->profile[0] ? src->profile : EP_PROFILE_DEFAULT);
    store_copy_str(dst->password_hash, sizeof dst->password_hash, src->password_hash);
    store_copy_str(dst->ip, sizeof dst->ip, src->ip);
    store_copy_str(dst->container_id, sizeof dst->container_id, src->container_id);
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
    int rc = store_get_fixed(txn, s->profiles, name, strlen(name), info, sizeof *info);

    if (rc != EP_E_NOTFOUND)
        return rc;
    memset(info, 0, sizeof *info);
    store_copy_str(info->name, sizeof info->name, name);
    return put_fixed(txn, s->profiles, name, strlen(name), info, sizeof *info, 0);
}

static int profile_put(struct ep_store *s, MDB_txn *txn, const struct ep_profile_info *info)
{
    return put_fixed(txn, s->profiles, info->name, strlen(info->name), info, sizeof *info, 0);
}

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
    rc = mask ? put_fixed(txn, store->rules, key, klen, &mask, 1, 0)
              : del_key(txn, store->rules, key, klen);
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
    int rc;

    if (!valid_rules_profile(profile))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
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
    return store_write_end(store, txn, rc);
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

int store_rules_cursor(struct ep_store_read *rd, MDB_cursor **cur)
{
    int rc = 0;

    if (!rd->rules_live) {
        rc = mdb_cursor_renew(rd->txn, rd->rules);
        rd->rules_live = rc == 0;
    }
    *cur = rd->rules;
    return rc;
}

/* A walk's read and cursor: on failure nothing is left open (see store_internal.h). */
int store_walk_begin(struct ep_store *s, MDB_dbi dbi, struct ep_store_read **rd, MDB_cursor **cur)
{
    int rc = ep_store_read_begin(s, rd);

    *cur = NULL;
    if (rc == 0)
        rc = mdb_cursor_open((*rd)->txn, dbi, cur);
    if (rc) {
        ep_store_read_end(*rd);
        *rd = NULL;
        *cur = NULL;
    }
    return rc;
}

int store_walk_end(struct ep_store_read *rd, MDB_cursor *cur, int rc)
{
    if (cur)
        mdb_cursor_close(cur);
    ep_store_read_end(rd);
    return rc;
}

/* The number of entries of @p dbi, from a pooled read. */
static int count_entries(struct ep_store *store, MDB_dbi dbi, uint64_t *out)
{
    struct ep_store_read *rd;
    MDB_stat st;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = mdb_stat(rd->txn, dbi, &st);
    if (rc == 0)
        *out = st.ms_entries;
    ep_store_read_end(rd);
    return rc;
}

int ep_store_read_client(struct ep_store_read *rd, const char *ip, struct ep_client *out)
{
    size_t n = strlen(ip);
    int rc;

    if (n == 0 || n > EP_IP_MAX)
        return EP_E_NOTFOUND;
    rc = store_get_fixed(rd->txn, rd->store->clients, ip, n, out, sizeof *out);
    if (rc == 0 && (!TERMINATED(out->project_id) || !TERMINATED(out->profile)))
        rc = EP_E_CORRUPT;
    return rc;
}

/* ---- open and close ---- */

static int open_dbis(struct ep_store *s, MDB_txn *txn, unsigned flags)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"meta", &s->meta},           {"projects", &s->projects},
        {"clients", &s->clients},     {"profiles", &s->profiles},
        {"rules", &s->rules},         {"seen", &s->seen},
        {"audit", &s->audit},         {"conversations", &s->conversations},
        {"llm_hosts", &s->llm_hosts}, {"capture_pending", &s->pending},
    };
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < sizeof dbs / sizeof dbs[0]; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
    return rc;
}

/*
 * Read the schema number: 0 and *found false when none is written yet.
 * With @p old not NULL, a store of schema 1 (which this version upgrades)
 * is 0 with *old set instead of EP_E_SCHEMA.
 */
static int schema_read(struct ep_store *s, MDB_txn *txn, bool *found, bool *old)
{
    uint32_t schema;
    int rc = store_get_fixed(txn, s->meta, "schema", 6, &schema, sizeof schema);

    *found = rc == 0;
    if (rc == EP_E_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (old && schema == 1) {
        *old = true;
        return 0;
    }
    return schema == EP_STORE_SCHEMA ? 0 : EP_E_SCHEMA;
}

/*
 * Upgrade a schema 1 store: the conversations and llm_hosts databases are
 * new (open_dbis created them in this transaction), the LLM host list gets
 * its defaults and the schema number moves to 2. Nothing else changes, so
 * every project, rule, mapping and record stays.
 */
static int schema_upgrade(struct ep_store *s, MDB_txn *txn)
{
    uint32_t schema = EP_STORE_SCHEMA;
    int rc = store_capture_seed(s, txn);

    if (rc == 0)
        rc = put_fixed(txn, s->meta, "schema", 6, &schema, sizeof schema, 0);
    return rc;
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
        rc = store_capture_seed(s, txn);
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
    bool found = false, old = false;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

    if (rc)
        return rc;
    rc = open_dbis(s, txn, 0);
    if (rc == 0)
        rc = schema_read(s, txn, &found, NULL);
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
        rc = schema_read(s, txn, &found, &old);
    if (rc == 0 && !found)
        rc = schema_create(s, txn);
    if (rc == 0 && old)
        rc = schema_upgrade(s, txn);
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
    s->filter_off = opts->no_key_filter;
    s->filter_budget =
        opts->key_filter_memory ? opts->key_filter_memory : EP_STORE_DEFAULT_KEY_FILTER_MEMORY;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    pthread_rwlock_init(&s->regex_lock, NULL);
    pthread_rwlock_init(&s->filter_lock, NULL);
    rc = mdb_env_create(&s->env);
    if (rc)
        goto out;
    rc = mdb_env_set_maxdbs(s->env, 16);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env,
                                 opts->map_size ? opts->map_size : EP_STORE_DEFAULT_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(s->env, opts->max_readers ? opts->max_readers
                                                              : EP_STORE_DEFAULT_MAX_READERS);
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
        store_regex_set_clear(&store->regex[i]);
    for (unsigned i = 0; i < FILTER_CACHE_MAX; i++)
        store_filter_free(store->filters[i].filter);
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

int ep_store_generation(struct ep_store *store, uint64_t *out)
{
    MDB_envinfo info;
    int rc = mdb_env_info(store->env, &info);

    *out = rc == 0 ? (uint64_t)info.me_last_txnid : 0;
    return rc;
}

/* ---- projects and clients ---- */

static int client_row_put(struct ep_store *s, MDB_txn *txn, const struct ep_project *p)
{
    struct ep_client row, old;
    int rc = store_get_fixed(txn, s->clients, p->ip, strlen(p->ip), &old, sizeof old);

    if (rc == 0 && strncmp(old.project_id, p->id, sizeof old.project_id) != 0)
        return EP_E_CONFLICT;
    if (rc && rc != EP_E_NOTFOUND)
        return rc;
    memset(&row, 0, sizeof row);
    store_copy_str(row.project_id, sizeof row.project_id, p->id);
    store_copy_str(row.profile, sizeof row.profile, p->profile);
    row.mode = p->mode;
    return put_fixed(txn, s->clients, p->ip, strlen(p->ip), &row, sizeof row, 0);
}

/* Remove the clients row of @p ip if it belongs to project @p id. */
static int client_row_del(struct ep_store *s, MDB_txn *txn, const char *ip, const char *id)
{
    struct ep_client old;
    int rc = store_get_fixed(txn, s->clients, ip, strlen(ip), &old, sizeof old);

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
    return store_get_fixed(txn, s->projects, id, strlen(id), out, sizeof *out);
}

/*
 * Write the row of project @p p (@p flags MDB_NOOVERWRITE for a new one),
 * make sure its profile exists and map its client IP to it.
 */
static int project_put(struct ep_store *s, MDB_txn *txn, const struct ep_project *p, unsigned flags)
{
    struct ep_profile_info info;
    int rc = put_fixed(txn, s->projects, p->id, strlen(p->id), p, sizeof *p, flags);

    if (rc == 0)
        rc = profile_ensure(s, txn, p->profile, &info);
    if (rc == 0 && p->ip[0])
        rc = client_row_put(s, txn, p);
    return rc;
}

int ep_store_project_create(struct ep_store *store, const struct ep_project *p,
                            unsigned max_projects)
{
    struct ep_project cp;
    MDB_txn *txn = NULL;
    MDB_stat st;
    int rc = project_clean(&cp, p);

    if (rc)
        return rc;
    rc = store_write_begin(store, &txn);
    if (rc)
        goto out;
    if (max_projects > 0) {
        rc = mdb_stat(txn, store->projects, &st);
        if (rc == 0 && st.ms_entries >= max_projects)
            rc = EP_E_LIMIT;
        if (rc)
            goto out;
    }
    rc = project_put(store, txn, &cp, MDB_NOOVERWRITE);
out:
    return store_write_end(store, txn, rc);
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
    MDB_txn *txn = NULL;
    int rc = project_clean(&cp, p);

    if (rc)
        return rc;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = project_read(store, txn, cp.id, &old);
    if (rc)
        goto out;
    store_copy_str(cp.ip, sizeof cp.ip, old.ip);
    rc = project_put(store, txn, &cp, 0);
out:
    return store_write_end(store, txn, rc);
}

int ep_store_project_delete(struct ep_store *store, const char *id)
{
    struct ep_project old;
    char prefix[EP_ID_MAX + 1];
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

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
        rc = store_capture_clear(store, txn, id, NULL);
    if (rc == 0)
        rc = del_key(txn, store->projects, id, strlen(id));
out:
    return store_write_end(store, txn, rc);
}

int ep_store_projects_list(struct ep_store *store, int (*fn)(void *ctx, const struct ep_project *p),
                           void *ctx)
{
    return ep_store_projects_list_after(store, NULL, fn, ctx);
}

int ep_store_projects_count(struct ep_store *store, uint64_t *out)
{
    *out = 0;
    return count_entries(store, store->projects, out);
}

int ep_store_projects_list_after(struct ep_store *store, const char *after,
                                 int (*fn)(void *ctx, const struct ep_project *p), void *ctx)
{
    struct ep_store_read *rd;
    struct ep_project p;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = store_walk_begin(store, store->projects, &rd, &cur);

    if (rc)
        return rc;
    if (after) {
        /* The first key above @p after: position at it or past it, skip an exact match. */
        key = store_mkval(after, strlen(after));
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0 && key.mv_size == strlen(after) && memcmp(key.mv_data, after, key.mv_size) == 0)
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    } else {
        rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    }
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
    return store_walk_end(rd, cur, rc);
}

int ep_store_client_map(struct ep_store *store, const char *ip, const char *id)
{
    struct ep_project p;
    MDB_txn *txn = NULL;
    int rc;

    if (!valid_ip(ip))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = project_read(store, txn, id, &p);
    if (rc)
        goto out;
    if (p.ip[0] && strcmp(p.ip, ip) != 0) {
        /* Check the new IP is free before dropping the old mapping. */
        struct ep_client held;

        rc = store_get_fixed(txn, store->clients, ip, strlen(ip), &held, sizeof held);
        if (rc == 0 && strncmp(held.project_id, id, sizeof held.project_id) != 0)
            rc = EP_E_CONFLICT;
        else if (rc == EP_E_NOTFOUND || rc == 0)
            rc = client_row_del(store, txn, p.ip, id);
        if (rc)
            goto out;
    }
    store_copy_str(p.ip, sizeof p.ip, ip);
    rc = client_row_put(store, txn, &p);
    if (rc == 0)
        rc = put_fixed(txn, store->projects, p.id, strlen(p.id), &p, sizeof p, 0);
out:
    return store_write_end(store, txn, rc);
}

int ep_store_client_unmap(struct ep_store *store, const char *id)
{
    struct ep_project p;
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    if (rc == 0)
        rc = project_read(store, txn, id, &p);
    if (rc || !p.ip[0])
        goto out;
    rc = client_row_del(store, txn, p.ip, id);
    p.ip[0] = '\0';
    if (rc == 0)
        rc = put_fixed(txn, store->projects, p.id, strlen(p.id), &p, sizeof p, 0);
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

/* ---- seen records ---- */

static size_t seen_key(const char *project_id, const char *host, char *key)
{
    size_t ilen = strlen(project_id), hlen = strlen(host);

    if (!valid_id(project_id) || hlen == 0 || hlen > EP_HOST_PORT_MAX)
        return 0;
    memcpy(key, project_id, ilen + 1);
    memcpy(key + ilen + 1, host, hlen);
    return ilen + 1 + hlen;
}

int ep_store_seen_add(struct ep_store *store, const struct ep_seen_delta *d, size_t n)
{
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char key[SEEN_KEY_MAX];
        size_t klen = seen_key(d[i].project_id, d[i].host, key);
        struct ep_seen s;

        if (klen == 0) {
            rc = EP_E_INVAL;
            break;
        }
        rc = store_get_fixed(txn, store->seen, key, klen, &s, sizeof s);
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
    return store_write_end(store, txn, rc);
}

int ep_store_seen_list(struct ep_store *store, const char *project_id,
                       int (*fn)(void *ctx, const char *host, const struct ep_seen *s), void *ctx)
{
    return ep_store_seen_list_after(store, project_id, NULL, fn, ctx);
}

int ep_store_seen_list_after(struct ep_store *store, const char *project_id, const char *after,
                             int (*fn)(void *ctx, const char *host, const struct ep_seen *s),
                             void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur = NULL;
    size_t plen = strlen(project_id) + 1;
    char start[EP_ID_MAX + 1 + EP_HOST_PORT_BUFSZ];
    size_t slen = plen;
    MDB_val key, val;
    int rc;

    if (!valid_id(project_id) || (after && strlen(after) > EP_HOST_PORT_MAX))
        return EP_E_INVAL;
    memcpy(start, project_id, plen);
    if (after) {
        memcpy(start + plen, after, strlen(after));
        slen += strlen(after);
    }
    rc = store_walk_begin(store, store->seen, &rd, &cur);
    if (rc)
        return rc;
    key = store_mkval(start, slen);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char host[EP_HOST_PORT_BUFSZ];
        struct ep_seen s;

        if (key.mv_size <= plen || memcmp(key.mv_data, project_id, plen) != 0)
            break;
        if (after && key.mv_size == slen && memcmp(key.mv_data, start, slen) == 0)
            continue; /* strictly after */
        if (val.mv_size != sizeof s || key.mv_size - plen > EP_HOST_PORT_MAX) {
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
    return store_walk_end(rd, cur, rc);
}

int ep_store_seen_total(struct ep_store *store, uint64_t *out)
{
    return count_entries(store, store->seen, out);
}

int ep_store_seen_clear(struct ep_store *store, const char *project_id)
{
    MDB_txn *txn = NULL;
    int rc;

    if (!valid_id(project_id))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = del_prefix(txn, store->seen, project_id, strlen(project_id) + 1);
    return store_write_end(store, txn, rc);
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
    store_copy_str(cp.action, sizeof cp.action, e->action);
    store_copy_str(cp.target, sizeof cp.target, e->target);
    store_copy_str(cp.source, sizeof cp.source, e->source);
    store_copy_str(cp.detail, sizeof cp.detail, e->detail);

    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, store->audit, &cur);
    if (rc)
        goto out;
    audit_key((uint64_t)cp.time_us + 1, 0, k);
    key = store_mkval(k, sizeof k);
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
    return store_write_end(store, txn, rc);
}

int ep_store_audit_list(struct ep_store *store, size_t limit,
                        int (*fn)(void *ctx, const struct ep_audit_entry *e), void *ctx)
{
    struct ep_store_read *rd;
    struct ep_audit_entry e;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    size_t done = 0;
    int rc = store_walk_begin(store, store->audit, &rd, &cur);

    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_LAST); rc == 0;
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
    return store_walk_end(rd, cur, rc);
}

/*
 * The store's environment (store_env.h): open and close, the schema (its
 * number in `meta`, made or upgraded by walking the parts of
 * store_parts.c), transactions and the pooled reads, adopting a map
 * another process grew, and the record helpers every store file shares
 * (store_internal.h). What the databases hold is in the file of each part.
 */
#include "config.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "policy/store_env.h"
#include "policy/store_internal.h"

/* Most reset read transactions a handle keeps for reuse. */
#define POOL_MAX 256
/* The oldest schema this version upgrades (to EP_STORE_SCHEMA) instead of refusing. */
#define SCHEMA_OLDEST 1

/* ---- records ---- */

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

int store_put_fixed(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v,
                    size_t size, unsigned flags)
{
    MDB_val key = store_mkval(k, klen), val = store_mkval(v, size);
    int rc = mdb_put(txn, dbi, &key, &val, flags);

    return rc == MDB_KEYEXIST ? EP_E_EXISTS : rc;
}

int store_del_key(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
    MDB_val key = store_mkval(k, klen);
    int rc = mdb_del(txn, dbi, &key, NULL);

    return rc == MDB_NOTFOUND ? EP_E_NOTFOUND : rc;
}

int store_del_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen)
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

void store_copy_str(char *dst, size_t dstsz, const char *src)
{
    size_t n = strnlen(src, dstsz - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
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

int store_count_entries(struct ep_store *s, MDB_dbi dbi, uint64_t *out)
{
    struct ep_store_read *rd;
    MDB_stat st;
    int rc = ep_store_read_begin(s, &rd);

    if (rc)
        return rc;
    rc = mdb_stat(rd->txn, dbi, &st);
    if (rc == 0)
        *out = st.ms_entries;
    ep_store_read_end(rd);
    return rc;
}

/* ---- the schema: the parts' databases, made or upgraded in one transaction ---- */

/* Open `meta`, then every part's databases in the order of store_parts[]. */
static int open_dbis(struct ep_store *s, MDB_txn *txn, unsigned flags)
{
    int rc = mdb_dbi_open(txn, "meta", flags, &s->meta);

    for (size_t i = 0; rc == 0 && store_parts[i]; i++)
        for (const struct store_db *db = store_parts[i]->dbs; rc == 0 && db->name; db++)
            rc = mdb_dbi_open(txn, db->name, flags, (MDB_dbi *)((char *)s + db->offset));
    return rc;
}

/*
 * Read the schema number: 0 and *found false when none is written yet.
 * With @p old not NULL, a store of a schema this version upgrades is 0
 * with *old set to its number instead of EP_E_SCHEMA.
 */
static int schema_read(struct ep_store *s, MDB_txn *txn, bool *found, uint32_t *old)
{
    uint32_t schema;
    int rc = store_get_fixed(txn, s->meta, "schema", 6, &schema, sizeof schema);

    *found = rc == 0;
    if (rc == EP_E_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (old && schema >= SCHEMA_OLDEST && schema < EP_STORE_SCHEMA) {
        *old = schema;
        return 0;
    }
    return schema == EP_STORE_SCHEMA ? 0 : EP_E_SCHEMA;
}

static int schema_write(struct ep_store *s, MDB_txn *txn)
{
    uint32_t schema = EP_STORE_SCHEMA;

    return store_put_fixed(txn, s->meta, "schema", 6, &schema, sizeof schema, 0);
}

/*
 * First use: every part makes its default content (the base domains and
 * the "default" profile, the LLM host list), then the schema number.
 */
static int schema_create(struct ep_store *s, MDB_txn *txn)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && store_parts[i]; i++)
        if (store_parts[i]->create)
            rc = store_parts[i]->create(s, txn);
    return rc ? rc : schema_write(s, txn);
}

/*
 * Upgrade a store of schema @p from: the databases new since then were
 * made by open_dbis() in this transaction; every part brings its own up
 * to date, then the schema number moves. Nothing else changes, so every
 * project, rule, mapping and record stays.
 */
static int schema_upgrade(struct ep_store *s, MDB_txn *txn, uint32_t from)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && store_parts[i]; i++)
        if (store_parts[i]->upgrade)
            rc = store_parts[i]->upgrade(s, txn, from);
    return rc ? rc : schema_write(s, txn);
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
    uint32_t old = 0;
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
        rc = schema_upgrade(s, txn, old);
    return txn_finish(txn, rc);
}

/* ---- open and close ---- */

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
    rc = mdb_env_set_maxdbs(s->env, 32);
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

int ep_store_usage(struct ep_store *store, struct ep_store_usage *out)
{
    MDB_envinfo info;
    MDB_stat st;
    int rc;

    memset(out, 0, sizeof *out);
    rc = mdb_env_info(store->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(store->env, &st);
    if (rc == 0)
        rc = ep_store_readers_used(store, &out->readers_used);
    if (rc != 0)
        return rc;
    out->map_size = info.me_mapsize;
    out->map_used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    out->readers_max = info.me_maxreaders;
    return 0;
}

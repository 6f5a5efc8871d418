/*
 * The store's side of a cluster (store_cluster.h): the policy as keys of
 * etcd's keyspace, the outbox each change of the policy adds to in its own
 * transaction, and the sync a node applies. The outbox and the node's
 * revision live in `meta`:
 *
 *   "seq:outbox"          uint64, the last sequence number given
 *                         (present once the outbox is enabled)
 *   "outbox:" + BE seq    'P' key NUL value, or 'D' key
 *   "sync:revision"       int64, the etcd revision a node applied last
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "policy/error.h"
#include "policy/store_cluster.h"
#include "policy/store_internal.h"
#include "policy/store_projects.h"
#include "policy/store_rules.h"
#include "policy/store_seen.h"

#define SEQ_KEY      "seq:outbox"
#define ENTRY_PREFIX "outbox:"
#define ENTRY_PLEN   (sizeof ENTRY_PREFIX - 1)
#define ENTRY_KLEN   (ENTRY_PLEN + 8)
#define REV_KEY      "sync:revision"

#define P_PROJECT "project/"
#define P_RULE    "rule/"
#define P_LLM     "llm-host/"

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);

    return len >= plen && memcmp(s, prefix, plen) == 0;
}

static void entry_key(uint64_t seq, unsigned char *key)
{
    memcpy(key, ENTRY_PREFIX, ENTRY_PLEN);
    for (int i = 7; i >= 0; i--, seq >>= 8)
        key[ENTRY_PLEN + i] = (unsigned char)seq;
}

static uint64_t entry_seq(const MDB_val *key)
{
    const unsigned char *k = (const unsigned char *)key->mv_data + ENTRY_PLEN;
    uint64_t seq = 0;

    for (int i = 0; i < 8; i++)
        seq = seq << 8 | k[i];
    return seq;
}

/* ---- the outbox: one entry per changed key, in the change's transaction ---- */

/* Queue one put (@p value not NULL) or delete of relative key @p key, if the outbox is on. */
static int outbox_add(struct ep_store *s, MDB_txn *txn, const char *key, size_t klen,
                      const char *value)
{
    unsigned char ek[ENTRY_KLEN];
    char buf[1 + EP_CLUSTER_KEY_MAX + 1 + EP_CLUSTER_VALUE_MAX];
    size_t vlen = value ? strlen(value) : 0, len = 0;
    uint64_t seq;
    int rc = store_get_fixed(txn, s->meta, SEQ_KEY, strlen(SEQ_KEY), &seq, sizeof seq);

    if (rc == EP_E_NOTFOUND)
        return 0; /* not a cluster's store */
    if (rc)
        return rc;
    if (klen > EP_CLUSTER_KEY_MAX || vlen > EP_CLUSTER_VALUE_MAX)
        return EP_E_INVAL;
    buf[len++] = value ? 'P' : 'D';
    memcpy(buf + len, key, klen);
    len += klen;
    if (value) {
        buf[len++] = '\0';
        memcpy(buf + len, value, vlen);
        len += vlen;
    }
    seq++;
    entry_key(seq, ek);
    rc = store_put_fixed(txn, s->meta, ek, sizeof ek, buf, len, 0);
    if (rc == 0)
        rc = store_put_fixed(txn, s->meta, SEQ_KEY, strlen(SEQ_KEY), &seq, sizeof seq, 0);
    return rc;
}

/* "MODE PROFILE" of a project. */
static void project_value(uint32_t mode, const char *profile, char *out)
{
    const char *m = ep_mode_name((enum ep_mode)mode);

    snprintf(out, EP_CLUSTER_VALUE_MAX + 1, "%s %s", m ? m : "none", profile);
}

int store_outbox_project(struct ep_store *s, MDB_txn *txn, const char *id, uint32_t mode,
                         const char *profile)
{
    char key[EP_CLUSTER_KEY_MAX + 1], value[EP_CLUSTER_VALUE_MAX + 1];
    int klen = snprintf(key, sizeof key, P_PROJECT "%s", id);

    if (profile)
        project_value(mode, profile, value);
    return outbox_add(s, txn, key, (size_t)klen, profile ? value : NULL);
}

/* The relative key of the `rules` key @p k (profile NUL rule key) into @p out. */
static size_t rule_cluster_key(const char *k, size_t klen, char *out)
{
    size_t plen = strlen(P_RULE);

    if (plen + klen > EP_CLUSTER_KEY_MAX)
        return 0;
    memcpy(out, P_RULE, plen);
    memcpy(out + plen, k, klen);
    for (size_t i = plen; i < plen + klen; i++)
        if (out[i] == '\0') {
            out[i] = '/';
            break;
        }
    return plen + klen;
}

int store_outbox_rule(struct ep_store *s, MDB_txn *txn, const char *key, size_t klen, uint8_t mask)
{
    char ck[EP_CLUSTER_KEY_MAX], value[8];
    size_t cklen = rule_cluster_key(key, klen, ck);

    if (cklen == 0)
        return EP_E_INVAL;
    snprintf(value, sizeof value, "%u", (unsigned)mask);
    return outbox_add(s, txn, ck, cklen, mask ? value : NULL);
}

int store_outbox_llm_host(struct ep_store *s, MDB_txn *txn, const char *host, bool present)
{
    char key[EP_CLUSTER_KEY_MAX + 1];
    int klen = snprintf(key, sizeof key, P_LLM "%s", host);

    return outbox_add(s, txn, key, (size_t)klen, present ? "1" : NULL);
}

int store_outbox_rules_cleared(struct ep_store *s, MDB_txn *txn, const char *profile,
                               uint64_t *mark)
{
    size_t plen = strlen(profile) + 1;
    MDB_cursor *cur = NULL;
    MDB_val key = store_mkval(profile, plen), val;
    int rc = store_get_fixed(txn, s->meta, SEQ_KEY, strlen(SEQ_KEY), mark, sizeof *mark);

    if (rc)
        return rc == EP_E_NOTFOUND ? 0 : rc;
    rc = mdb_cursor_open(txn, s->rules, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size < plen || memcmp(key.mv_data, profile, plen) != 0)
            break;
        rc = store_outbox_rule(s, txn, key.mv_data, key.mv_size, 0);
        if (rc)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_outbox_rules_settle(struct ep_store *s, MDB_txn *txn, uint64_t mark)
{
    unsigned char ek[ENTRY_KLEN];
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc;

    if (mark == 0)
        return 0;
    entry_key(mark + 1, ek);
    key = store_mkval(ek, sizeof ek);
    rc = mdb_cursor_open(txn, s->meta, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        const char *v = val.mv_data;
        char rk[RULE_KEY_MAX];
        size_t plen = strlen(P_RULE), rlen = val.mv_size - 1 - plen;
        uint8_t mask;

        if (key.mv_size != ENTRY_KLEN || memcmp(key.mv_data, ENTRY_PREFIX, ENTRY_PLEN) != 0)
            break;
        if (v[0] != 'D' || !has_prefix(v + 1, val.mv_size - 1, P_RULE) || rlen >= sizeof rk)
            continue;
        /* Back to the store's key: the first '/' after the profile was its NUL. */
        memcpy(rk, v + 1 + plen, rlen);
        char *slash = memchr(rk, '/', rlen);
        if (!slash)
            continue;
        *slash = '\0';
        if (store_get_fixed(txn, s->rules, rk, rlen, &mask, 1) == 0)
            rc = mdb_cursor_del(cur, 0); /* the rule stays: no delete to publish */
        if (rc)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- export: the store's policy as keys ---- */

static int export_projects(MDB_txn *txn, MDB_dbi dbi,
                           int (*fn)(void *ctx, const struct ep_cluster_kv *kv), void *ctx)
{
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, dbi, &cur);

    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct ep_project p;
        char k[EP_CLUSTER_KEY_MAX + 1], v[EP_CLUSTER_VALUE_MAX + 1];
        struct ep_cluster_kv kv;

        if (val.mv_size != sizeof p) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(&p, val.mv_data, sizeof p);
        kv.key_len = (size_t)snprintf(k, sizeof k, P_PROJECT "%s", p.id);
        project_value(p.mode, p.profile, v);
        kv.key = k;
        kv.value = v;
        kv.value_len = strlen(v);
        if ((rc = fn(ctx, &kv)) != 0)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int export_rules(MDB_txn *txn, MDB_dbi dbi,
                        int (*fn)(void *ctx, const struct ep_cluster_kv *kv), void *ctx)
{
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, dbi, &cur);

    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char k[EP_CLUSTER_KEY_MAX], v[8];
        struct ep_cluster_kv kv;

        if (val.mv_size != 1) {
            rc = EP_E_CORRUPT;
            break;
        }
        kv.key_len = rule_cluster_key(key.mv_data, key.mv_size, k);
        if (kv.key_len == 0) {
            rc = EP_E_CORRUPT;
            break;
        }
        snprintf(v, sizeof v, "%u", (unsigned)*(const uint8_t *)val.mv_data);
        kv.key = k;
        kv.value = v;
        kv.value_len = strlen(v);
        if ((rc = fn(ctx, &kv)) != 0)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int export_llm_hosts(MDB_txn *txn, MDB_dbi dbi,
                            int (*fn)(void *ctx, const struct ep_cluster_kv *kv), void *ctx)
{
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, dbi, &cur);

    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char k[EP_CLUSTER_KEY_MAX + 1];
        struct ep_cluster_kv kv = {.key = k, .value = "1", .value_len = 1};

        if (key.mv_size > EP_HOST_MAX) {
            rc = EP_E_CORRUPT;
            break;
        }
        kv.key_len = (size_t)snprintf(k, sizeof k, P_LLM "%.*s", (int)key.mv_size,
                                      (const char *)key.mv_data);
        if ((rc = fn(ctx, &kv)) != 0)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int export_txn(struct ep_store *s, MDB_txn *txn,
                      int (*fn)(void *ctx, const struct ep_cluster_kv *kv), void *ctx)
{
    int rc = export_llm_hosts(txn, s->llm_hosts, fn, ctx);

    if (rc == 0)
        rc = export_projects(txn, s->projects, fn, ctx);
    if (rc == 0)
        rc = export_rules(txn, s->rules, fn, ctx);
    return rc;
}

int ep_store_cluster_export(struct ep_store *store,
                            int (*fn)(void *ctx, const struct ep_cluster_kv *kv), void *ctx)
{
    struct ep_store_read *rd;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = export_txn(store, rd->txn, fn, ctx);
    ep_store_read_end(rd);
    return rc;
}

/* ---- the outbox's public side ---- */

struct snapshot_ctx {
    struct ep_store *s;
    MDB_txn *txn;
};

static int snapshot_put(void *ctx, const struct ep_cluster_kv *kv)
{
    struct snapshot_ctx *c = ctx;
    char v[EP_CLUSTER_VALUE_MAX + 1];

    memcpy(v, kv->value, kv->value_len);
    v[kv->value_len] = '\0';
    return outbox_add(c->s, c->txn, kv->key, kv->key_len, v);
}

int ep_store_outbox_enable(struct ep_store *store)
{
    struct snapshot_ctx c = {.s = store};
    uint64_t seq = 0;
    int rc = store_write_begin(store, &c.txn);

    if (rc)
        goto out;
    rc = store_get_fixed(c.txn, store->meta, SEQ_KEY, strlen(SEQ_KEY), &seq, sizeof seq);
    if (rc != EP_E_NOTFOUND)
        goto out; /* enabled already, or an error */
    seq = 0;
    rc = store_put_fixed(c.txn, store->meta, SEQ_KEY, strlen(SEQ_KEY), &seq, sizeof seq, 0);
    if (rc == 0)
        rc = outbox_add(store, c.txn, "", 0, NULL); /* every key of the policy */
    if (rc == 0)
        rc = export_txn(store, c.txn, snapshot_put, &c);
out:
    return store_write_end(store, c.txn, rc);
}

int ep_store_outbox_enabled(struct ep_store *store, bool *out)
{
    struct ep_store_read *rd;
    uint64_t seq;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = store_get_fixed(rd->txn, store->meta, SEQ_KEY, strlen(SEQ_KEY), &seq, sizeof seq);
    ep_store_read_end(rd);
    *out = rc == 0;
    return rc == EP_E_NOTFOUND ? 0 : rc;
}

int ep_store_outbox_read(struct ep_store *store, size_t max,
                         int (*fn)(void *ctx, uint64_t seq, const struct ep_cluster_kv *kv),
                         void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur;
    MDB_val key = store_mkval(ENTRY_PREFIX, ENTRY_PLEN), val;
    size_t done = 0;
    int rc = store_walk_begin(store, store->meta, &rd, &cur);

    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && done < max;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), done++) {
        const char *v = val.mv_data, *nul;
        struct ep_cluster_kv kv = {0};

        if (key.mv_size != ENTRY_KLEN || memcmp(key.mv_data, ENTRY_PREFIX, ENTRY_PLEN) != 0)
            break;
        if (val.mv_size < 1 || (v[0] != 'P' && v[0] != 'D')) {
            rc = EP_E_CORRUPT;
            break;
        }
        kv.key = v + 1;
        kv.key_len = val.mv_size - 1;
        if (v[0] == 'P') {
            nul = memchr(kv.key, '\0', kv.key_len);
            if (!nul) {
                rc = EP_E_CORRUPT;
                break;
            }
            kv.key_len = (size_t)(nul - kv.key);
            kv.value = nul + 1;
            kv.value_len = val.mv_size - 1 - kv.key_len - 1;
        }
        if ((rc = fn(ctx, entry_seq(&key), &kv)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return store_walk_end(rd, cur, rc);
}

int ep_store_outbox_done(struct ep_store *store, uint64_t seq)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key = store_mkval(ENTRY_PREFIX, ENTRY_PLEN), val;
    int rc = store_write_begin(store, &txn);

    if (rc == 0)
        rc = mdb_cursor_open(txn, store->meta, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != ENTRY_KLEN || memcmp(key.mv_data, ENTRY_PREFIX, ENTRY_PLEN) != 0 ||
            entry_seq(&key) > seq)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return store_write_end(store, txn, rc);
}

int ep_store_outbox_count(struct ep_store *store, uint64_t *pending, uint64_t *last_seq)
{
    struct ep_store_read *rd;
    MDB_cursor *cur;
    MDB_val key = store_mkval(ENTRY_PREFIX, ENTRY_PLEN), val;
    uint64_t n = 0, seq = 0;
    int rc = store_walk_begin(store, store->meta, &rd, &cur);

    if (rc)
        return rc;
    rc = store_get_fixed(rd->txn, store->meta, SEQ_KEY, strlen(SEQ_KEY), &seq, sizeof seq);
    if (rc == EP_E_NOTFOUND)
        rc = 0;
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != ENTRY_KLEN || memcmp(key.mv_data, ENTRY_PREFIX, ENTRY_PLEN) != 0)
            break;
        n++;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    *pending = n;
    *last_seq = seq;
    return store_walk_end(rd, cur, rc);
}

/* ---- sync: a node's store made equal to the cluster's keys ---- */

static unsigned popcount8(uint8_t m)
{
    return (unsigned)__builtin_popcount(m);
}

/* Set (or with @p mask 0 delete) the rules key @p rk, keeping its profile's count and generation.
 */
static int sync_rule(struct ep_store *s, MDB_txn *txn, const char *rk, size_t rklen, uint8_t mask)
{
    struct ep_profile_info info;
    const char *profile = rk;
    uint8_t old = 0;
    int rc = store_get_fixed(txn, s->rules, rk, rklen, &old, 1);

    if (rc && rc != EP_E_NOTFOUND)
        return rc;
    if (old == mask)
        return 0;
    rc = store_profile_ensure(s, txn, profile);
    if (rc == 0)
        rc = store_get_fixed(txn, s->profiles, profile, strlen(profile), &info, sizeof info);
    if (rc == 0)
        rc = mask ? store_put_fixed(txn, s->rules, rk, rklen, &mask, 1, 0)
                  : store_del_key(txn, s->rules, rk, rklen);
    if (rc)
        return rc;
    info.rules = info.rules + popcount8(mask) >= popcount8(old)
                     ? info.rules + popcount8(mask) - popcount8(old)
                     : 0;
    info.generation++;
    return store_put_fixed(txn, s->profiles, profile, strlen(profile), &info, sizeof info, 0);
}

/* Keep the clients row of @p p (if mapped) in step with its mode and profile. */
static int sync_client_row(struct ep_store *s, MDB_txn *txn, const struct ep_project *p)
{
    struct ep_client row;

    if (!p->ip[0])
        return 0;
    memset(&row, 0, sizeof row);
    store_copy_str(row.project_id, sizeof row.project_id, p->id);
    store_copy_str(row.profile, sizeof row.profile, p->profile);
    row.mode = p->mode;
    return store_put_fixed(txn, s->clients, p->ip, strlen(p->ip), &row, sizeof row, 0);
}

static int sync_project_put(struct ep_store *s, MDB_txn *txn, const char *id, const char *value,
                            size_t vlen)
{
    char v[EP_CLUSTER_VALUE_MAX + 1], *space;
    struct ep_project p;
    enum ep_mode mode;
    int rc;

    if (vlen > EP_CLUSTER_VALUE_MAX || ep_project_id_validate(id) != 0)
        return EP_E_INVAL;
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    space = strchr(v, ' ');
    if (!space)
        return EP_E_INVAL;
    *space = '\0';
    if (ep_mode_parse(v, &mode) != 0 || ep_profile_validate(space + 1) != 0)
        return EP_E_INVAL;
    rc = store_get_fixed(txn, s->projects, id, strlen(id), &p, sizeof p);
    if (rc == EP_E_NOTFOUND) {
        memset(&p, 0, sizeof p);
        store_copy_str(p.id, sizeof p.id, id);
        store_copy_str(p.name, sizeof p.name, id);
        p.created_at = (int64_t)time(NULL);
        p.status = EP_STATUS_RUNNING;
        rc = 0;
    }
    if (rc)
        return rc;
    p.mode = (uint32_t)mode;
    store_copy_str(p.profile, sizeof p.profile, space + 1);
    rc = store_put_fixed(txn, s->projects, id, strlen(id), &p, sizeof p, 0);
    if (rc == 0)
        rc = store_profile_ensure(s, txn, p.profile);
    if (rc == 0)
        rc = sync_client_row(s, txn, &p);
    return rc;
}

/* A project gone from the cluster: its mapping, what every part keeps of it, its row. */
static int sync_project_del(struct ep_store *s, MDB_txn *txn, const char *id)
{
    struct ep_project p;
    int rc = store_get_fixed(txn, s->projects, id, strlen(id), &p, sizeof p);

    if (rc == EP_E_NOTFOUND)
        return 0;
    if (rc == 0 && p.ip[0])
        rc = store_del_key(txn, s->clients, p.ip, strlen(p.ip));
    if (rc == EP_E_NOTFOUND)
        rc = 0;
    for (size_t i = 0; rc == 0 && store_parts[i]; i++)
        if (store_parts[i]->clear)
            rc = store_parts[i]->clear(s, txn, id);
    if (rc == 0)
        rc = store_del_key(txn, s->projects, id, strlen(id));
    return rc;
}

/* Apply one put or delete; keys of kinds this version does not know are left alone. */
static int sync_one(struct ep_store *s, MDB_txn *txn, const struct ep_cluster_kv *kv)
{
    char k[EP_CLUSTER_KEY_MAX + 1];
    size_t plen;

    if (kv->key_len > EP_CLUSTER_KEY_MAX)
        return EP_E_INVAL;
    memcpy(k, kv->key, kv->key_len);
    k[kv->key_len] = '\0';
    if (has_prefix(k, kv->key_len, P_PROJECT)) {
        plen = strlen(P_PROJECT);
        return kv->value ? sync_project_put(s, txn, k + plen, kv->value, kv->value_len)
                         : sync_project_del(s, txn, k + plen);
    }
    if (has_prefix(k, kv->key_len, P_RULE)) {
        char *rk = k + strlen(P_RULE), *slash = strchr(rk, '/');
        size_t rklen = kv->key_len - strlen(P_RULE);
        unsigned long mask = 0;

        if (!slash || (size_t)(slash - rk) > EP_PROFILE_MAX)
            return EP_E_INVAL;
        *slash = '\0';
        if (kv->value) {
            char v[8] = "";

            if (kv->value_len >= sizeof v)
                return EP_E_INVAL;
            memcpy(v, kv->value, kv->value_len);
            v[kv->value_len] = '\0';
            mask = strtoul(v, NULL, 10);
            if (mask == 0 || mask > 255)
                return EP_E_INVAL;
        }
        return sync_rule(s, txn, rk, rklen, (uint8_t)mask);
    }
    if (has_prefix(k, kv->key_len, P_LLM)) {
        const unsigned char one = 1;
        const char *host = k + strlen(P_LLM);
        MDB_val key = store_mkval(host, strlen(host)), val = store_mkval(&one, 1);
        int rc = kv->value ? mdb_put(txn, s->llm_hosts, &key, &val, 0)
                           : mdb_del(txn, s->llm_hosts, &key, NULL);

        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    return 0;
}

static int revision_put(struct ep_store *s, MDB_txn *txn, int64_t revision)
{
    return store_put_fixed(txn, s->meta, REV_KEY, strlen(REV_KEY), &revision, sizeof revision, 0);
}

/* Compare a listed key with "project/" @p id, as etcd orders keys (bytes). */
static int kv_cmp_project(const struct ep_cluster_kv *kv, const char *id)
{
    char k[EP_CLUSTER_KEY_MAX + 1];
    size_t klen = (size_t)snprintf(k, sizeof k, P_PROJECT "%s", id), n;
    int c;

    n = kv->key_len < klen ? kv->key_len : klen;
    c = memcmp(kv->key, k, n);
    if (c)
        return c;
    return kv->key_len < klen ? -1 : kv->key_len > klen;
}

/* Whether project @p id is among the listed keys (sorted as etcd lists them). */
static bool listed(const struct ep_cluster_kv *kv, size_t n, const char *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = kv_cmp_project(&kv[mid], id);

        if (c == 0)
            return kv[mid].value != NULL;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Every profile's rules emptied (generation bumped, so no cache keeps the old ones). */
static int sync_rules_clear(struct ep_store *s, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_drop(txn, s->rules, 0);

    if (rc == 0)
        rc = mdb_cursor_open(txn, s->profiles, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct ep_profile_info info;

        if (val.mv_size != sizeof info) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(&info, val.mv_data, sizeof info);
        info.rules = 0;
        info.generation++;
        val = store_mkval(&info, sizeof info);
        if ((rc = mdb_cursor_put(cur, &key, &val, MDB_CURRENT)) != 0)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int ep_store_sync_load(struct ep_store *store, const struct ep_cluster_kv *kv, size_t n,
                       int64_t revision)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    char(*gone)[EP_ID_MAX + 1] = NULL;
    size_t ngone = 0, cap = 0;
    int rc = store_write_begin(store, &txn);

    if (rc)
        goto out;
    /* The projects the listing no longer has, collected first: deleting walks other databases. */
    rc = mdb_cursor_open(txn, store->projects, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char id[EP_ID_MAX + 1];

        if (key.mv_size > EP_ID_MAX) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(id, key.mv_data, key.mv_size);
        id[key.mv_size] = '\0';
        if (listed(kv, n, id))
            continue;
        if (ngone == cap) {
            void *more = ep_realloc(gone, (cap = cap ? cap * 2 : 16) * sizeof *gone);

            if (!more) {
                rc = EP_E_NOMEM;
                break;
            }
            gone = more;
        }
        memcpy(gone[ngone++], id, sizeof id);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        goto out;
    rc = 0;
    for (size_t i = 0; rc == 0 && i < ngone; i++)
        rc = sync_project_del(store, txn, gone[i]);
    if (rc == 0)
        rc = sync_rules_clear(store, txn);
    if (rc == 0)
        rc = mdb_drop(txn, store->llm_hosts, 0);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (kv[i].value)
            rc = sync_one(store, txn, &kv[i]);
    if (rc == 0)
        rc = revision_put(store, txn, revision);
out:
    ep_free(gone);
    return store_write_end(store, txn, rc);
}

int ep_store_sync_apply(struct ep_store *store, const struct ep_cluster_kv *kv, size_t n,
                        int64_t revision)
{
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = sync_one(store, txn, &kv[i]);
    if (rc == 0)
        rc = revision_put(store, txn, revision);
    return store_write_end(store, txn, rc);
}

int ep_store_sync_revision(struct ep_store *store, int64_t *out)
{
    struct ep_store_read *rd;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    *out = 0;
    rc = store_get_fixed(rd->txn, store->meta, REV_KEY, strlen(REV_KEY), out, sizeof *out);
    ep_store_read_end(rd);
    return rc == EP_E_NOTFOUND ? 0 : rc;
}

int ep_store_sync_seen(struct ep_store *store, const struct ep_seen_delta *d, size_t n)
{
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char key[EP_ID_MAX + 1 + EP_HOST_PORT_MAX + 1];
        size_t plen = strlen(d[i].project_id), hlen = strlen(d[i].host);
        struct ep_seen seen = {
            .count = d[i].allowed + d[i].denied,
            .allowed = d[i].allowed,
            .denied = d[i].denied,
            .first_seen = d[i].first_seen,
            .last_seen = d[i].last_seen,
            .last_verdict = d[i].last_verdict,
        };
        struct ep_project p;

        if (plen > EP_ID_MAX || hlen > EP_HOST_PORT_MAX)
            continue;
        rc = store_get_fixed(txn, store->projects, d[i].project_id, plen, &p, sizeof p);
        if (rc == EP_E_NOTFOUND) {
            rc = 0;
            continue;
        }
        memcpy(key, d[i].project_id, plen + 1);
        memcpy(key + plen + 1, d[i].host, hlen);
        if (rc == 0)
            rc = store_put_fixed(txn, store->seen, key, plen + 1 + hlen, &seen, sizeof seen, 0);
    }
    return store_write_end(store, txn, rc);
}

/*
 * The node's copy of the policy: list `PREFIX policy/` at revision R and
 * write it into the node's store in one transaction, then watch from
 * R+1 and apply each batch of events in one transaction. A store that
 * already holds a revision (the agent restarted) is watched on from it. A watch that
 * breaks is started again from the revision applied (after a backoff);
 * one whose revision was compacted away lists again. Whatever happens to
 * etcd, the store keeps the last policy applied: squid's side never
 * waits on the network (fail static).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "policy/store_cluster.h"

/* A listing or a batch, as relative keys for the store. */
struct kvs {
    struct ep_cluster_kv *kv;
    size_t n, cap;
    size_t skip; /* bytes of "PREFIX policy/" */
};

static int kvs_add(struct kvs *l, const struct ep_etcd_kv *e)
{
    struct ep_cluster_kv *kv;
    char *key, *value = NULL;

    if (e->key_len < l->skip)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        void *more = realloc(l->kv, cap * sizeof *l->kv);

        if (!more)
            return EP_E_NOMEM;
        l->kv = more;
        l->cap = cap;
    }
    key = malloc(e->key_len - l->skip + 1);
    if (e->value)
        value = malloc(e->value_len + 1);
    if (!key || (e->value && !value)) {
        free(key);
        free(value);
        return EP_E_NOMEM;
    }
    memcpy(key, e->key + l->skip, e->key_len - l->skip);
    key[e->key_len - l->skip] = '\0';
    kv = &l->kv[l->n++];
    kv->key = key;
    kv->key_len = e->key_len - l->skip;
    kv->value = value;
    kv->value_len = e->value_len;
    if (value) {
        memcpy(value, e->value, e->value_len);
        value[e->value_len] = '\0';
    }
    return 0;
}

static void kvs_clear(struct kvs *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->kv[i].key);
        free((char *)l->kv[i].value);
    }
    l->n = 0;
}

static int on_listed(void *ctx, const struct ep_etcd_kv *kv)
{
    return kvs_add(ctx, kv);
}

struct watch_ctx {
    struct node *n;
    struct kvs batch;
    int error;
    bool got; /* the watch delivered something: it was up */
};

/* One watched batch: applied in one transaction; a progress notification only moves the revision.
 */
static int on_events(void *ctx, const struct ep_etcd_kv *events, size_t count, int64_t revision)
{
    struct watch_ctx *w = ctx;
    int rc = 0;

    atomic_store(&w->n->connected, true);
    w->got = true;
    if (atomic_load(&w->n->stop))
        return 1;
    if (count == 0 && revision <= atomic_load(&w->n->revision))
        return 0;
    kvs_clear(&w->batch);
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = kvs_add(&w->batch, &events[i]);
    if (rc == 0)
        rc = ep_store_sync_apply(w->n->store, w->batch.kv, w->batch.n, revision);
    if (rc) {
        node_log("sync: applying %zu event(s) at revision %lld: %s", count, (long long)revision,
                 ep_strerror(rc));
        w->error = rc;
        return 1;
    }
    atomic_store(&w->n->revision, revision);
    return 0;
}

/* List the policy and load it; *@p revision the revision listed. */
static int list_and_load(struct node *n, struct ep_etcd *etcd, const char *prefix,
                         size_t prefix_len, int64_t *revision)
{
    struct kvs l = {.skip = prefix_len};
    int rc = ep_etcd_range_prefix(etcd, prefix, prefix_len, 0, on_listed, &l, revision);

    if (rc == 0)
        rc = ep_store_sync_load(n->store, l.kv, l.n, *revision);
    if (rc == 0)
        node_log("sync: listed %zu key(s) at revision %lld", l.n, (long long)*revision);
    kvs_clear(&l);
    free(l.kv);
    return rc;
}

void *node_sync_run(void *arg)
{
    struct node *n = arg;
    struct ep_etcd *etcd = NULL;
    struct watch_ctx w = {.n = n};
    char prefix[512];
    size_t plen = node_key(n, prefix, sizeof prefix, "policy/");
    bool listed = false;
    long backoff = 100;
    int rc;

    w.batch.skip = plen;
    if (ep_etcd_open(&n->etcd, &etcd) != 0) {
        node_log("sync: no etcd endpoint");
        return NULL;
    }
    /* A store synced before (a restart) goes on from its revision; a compacted one lists again. */
    int64_t had = 0;
    if (ep_store_sync_revision(n->store, &had) == 0 && had > 0) {
        atomic_store(&n->revision, had);
        listed = true;
        node_log("sync: the store holds revision %lld; watching from there", (long long)had);
    }
    while (!atomic_load(&n->stop)) {
        int64_t revision = 0;

        if (!listed) {
            rc = list_and_load(n, etcd, prefix, plen, &revision);
            if (rc) {
                node_log("sync: listing failed (%s); keeping the policy applied so far",
                         ep_etcd_strerror(rc));
                if (!node_nap(n, backoff))
                    break;
                backoff = backoff < 5000 ? backoff * 2 : 5000;
                continue;
            }
            atomic_store(&n->revision, revision);
            listed = true;
        }
        w.error = 0;
        w.got = false;
        rc = ep_etcd_watch(etcd, prefix, plen, atomic_load(&n->revision) + 1, n->silence, on_events,
                           &w);
        atomic_store(&n->connected, false);
        if (atomic_load(&n->stop))
            break;
        if (rc == EP_ETCD_E_COMPACTED) {
            node_log("sync: revision %lld is compacted away; listing again",
                     (long long)atomic_load(&n->revision) + 1);
            listed = false;
            continue;
        }
        if (w.error) {
            listed = false; /* the store refused a batch: start over from a listing */
        } else if (rc != EP_ETCD_E_STOPPED) {
            node_log("sync: watch ended (%s); again from revision %lld", ep_etcd_strerror(rc),
                     (long long)atomic_load(&n->revision) + 1);
        }
        if (!node_nap(n, backoff))
            break;
        backoff = backoff < 5000 ? backoff * 2 : 5000;
        if (w.got)
            backoff = 100;
    }
    kvs_clear(&w.batch);
    free(w.batch.kv);
    ep_etcd_close(etcd);
    return NULL;
}

/*
 * The publisher thread (publisher.h). It watches the store's generation
 * (a cheap read of the lock file) and, whenever entries wait, sends them
 * to etcd in batches: a batch ends before a key it already holds (etcd
 * refuses a transaction that names a key twice), and the delete of every
 * policy key that starts a new cluster goes alone.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cluster/publisher.h"
#include "policy/store_cluster.h"

#define SEQ_DIGITS 20

struct entry {
    uint64_t seq;
    char *key; /* full etcd key */
    size_t key_len;
    char *value; /* NULL: delete */
    size_t value_len;
    bool range; /* delete every policy key */
};

struct ep_publisher {
    struct ep_store *store;
    struct ep_publisher_options opts;
    char *prefix;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    struct ep_publisher_status status;
};

struct batch {
    struct ep_publisher *p;
    struct entry *e;
    size_t n, max;
    bool full;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void entry_free(struct entry *e)
{
    free(e->key);
    free(e->value);
}

/* Whether @p key is in the batch already. */
static bool batch_has(const struct batch *b, const char *key, size_t len)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->e[i].key_len == len && memcmp(b->e[i].key, key, len) == 0)
            return true;
    return false;
}

static int collect(void *ctx, uint64_t seq, const struct ep_cluster_kv *kv)
{
    struct batch *b = ctx;
    struct entry *e;
    size_t plen = strlen(b->p->prefix) + strlen("policy/");
    bool range = kv->key_len == 0 && !kv->value;

    if (b->n == b->max || (range && b->n > 0) || (b->n > 0 && b->e[0].range)) {
        b->full = true;
        return 1;
    }
    e = &b->e[b->n];
    memset(e, 0, sizeof *e);
    e->key = malloc(plen + kv->key_len + 1);
    if (!e->key)
        return EP_E_NOMEM;
    snprintf(e->key, plen + 1, "%spolicy/", b->p->prefix);
    memcpy(e->key + plen, kv->key, kv->key_len);
    e->key_len = plen + kv->key_len;
    e->key[e->key_len] = '\0';
    if (batch_has(b, e->key, e->key_len)) {
        free(e->key);
        b->full = true;
        return 1;
    }
    if (kv->value) {
        e->value = malloc(kv->value_len + 1);
        if (!e->value) {
            free(e->key);
            return EP_E_NOMEM;
        }
        memcpy(e->value, kv->value, kv->value_len);
        e->value_len = kv->value_len;
    }
    e->seq = seq;
    e->range = range;
    b->n++;
    return 0;
}

static void seq_text(uint64_t seq, char *out)
{
    snprintf(out, SEQ_DIGITS + 1, "%0*llu", SEQ_DIGITS, (unsigned long long)seq);
}

/* The etcd transaction of batch @p b: guarded by the sequence key, which it moves on. */
static json_t *batch_txn(const struct ep_publisher *p, const struct batch *b, const char *seq_key)
{
    char first[SEQ_DIGITS + 1], last[SEQ_DIGITS + 1];
    json_t *ops = json_array(), *txn;

    seq_text(b->e[0].seq, first);
    seq_text(b->e[b->n - 1].seq, last);
    for (size_t i = 0; i < b->n; i++) {
        const struct entry *e = &b->e[i];

        if (e->range)
            json_array_append_new(ops, json_pack("{s:{s:o, s:o}}", "request_delete_range", "key",
                                                 ep_etcd_b64(e->key, e->key_len), "range_end",
                                                 ep_etcd_prefix_end(e->key, e->key_len)));
        else if (e->value)
            json_array_append_new(ops, json_pack("{s:{s:o, s:o}}", "request_put", "key",
                                                 ep_etcd_b64(e->key, e->key_len), "value",
                                                 ep_etcd_b64(e->value, e->value_len)));
        else
            json_array_append_new(ops, json_pack("{s:{s:o}}", "request_delete_range", "key",
                                                 ep_etcd_b64(e->key, e->key_len)));
    }
    json_array_append_new(ops, json_pack("{s:{s:o, s:o}}", "request_put", "key",
                                         ep_etcd_b64(seq_key, strlen(seq_key)), "value",
                                         ep_etcd_b64(last, SEQ_DIGITS)));
    txn = json_pack("{s:[{s:o, s:s, s:s, s:o}], s:o, s:[{s:{s:o}}]}", "compare", "key",
                    ep_etcd_b64(seq_key, strlen(seq_key)), "target", "VALUE", "result", "LESS",
                    "value", ep_etcd_b64(first, SEQ_DIGITS), "success", ops, "failure",
                    "request_range", "key", ep_etcd_b64(seq_key, strlen(seq_key)));
    (void)p;
    return txn;
}

/* The sequence number etcd holds, from a range answer (a txn's failure branch or a get). */
static int seq_of_range(json_t *range, uint64_t *out)
{
    json_t *kv = json_array_get(json_object_get(range, "kvs"), 0);
    const char *v = json_string_value(json_object_get(kv, "value"));
    char *text;
    size_t len;
    int rc;

    *out = 0;
    if (!v)
        return EP_E_NOTFOUND;
    rc = ep_etcd_unb64(v, &text, &len);
    if (rc == 0) {
        *out = strtoull(text, NULL, 10);
        free(text);
    }
    return rc;
}

/*
 * Make sure the sequence key exists (a create-if-absent txn) and read
 * what it holds; refuse an etcd that holds more than this store ever gave.
 */
static int seq_init(struct ep_publisher *p, struct ep_etcd *etcd, const char *seq_key,
                    uint64_t *applied)
{
    char zero[SEQ_DIGITS + 1];
    json_t *txn, *reply = NULL;
    uint64_t pending, last;
    int rc;

    seq_text(0, zero);
    txn = json_pack("{s:[{s:o, s:s, s:s, s:I}], s:[{s:{s:o, s:o}}], s:[{s:{s:o}}]}", "compare",
                    "key", ep_etcd_b64(seq_key, strlen(seq_key)), "target", "CREATE", "result",
                    "EQUAL", "create_revision", (json_int_t)0, "success", "request_put", "key",
                    ep_etcd_b64(seq_key, strlen(seq_key)), "value", ep_etcd_b64(zero, SEQ_DIGITS),
                    "failure", "request_range", "key", ep_etcd_b64(seq_key, strlen(seq_key)));
    rc = txn ? ep_etcd_call(etcd, "/v3/kv/txn", txn, &reply) : EP_E_NOMEM;
    json_decref(txn);
    if (rc)
        return rc;
    *applied = 0;
    if (!json_is_true(json_object_get(reply, "succeeded")))
        rc = seq_of_range(json_object_get(json_array_get(json_object_get(reply, "responses"), 0),
                                          "response_range"),
                          applied);
    json_decref(reply);
    if (rc)
        return rc;
    rc = ep_store_outbox_count(p->store, &pending, &last);
    if (rc == 0 && *applied > last) {
        syslog(LOG_ERR,
               "publisher: etcd's %s is %llu, past the %llu changes this store ever made: "
               "it holds the policy of another egress-api store; not publishing",
               seq_key, (unsigned long long)*applied, (unsigned long long)last);
        return EP_ETCD_E_REFUSED;
    }
    return rc;
}

/* Send batch @p b; on success (or when etcd had it already) drop its entries from the outbox. */
static int batch_send(struct ep_publisher *p, struct ep_etcd *etcd, const struct batch *b,
                      const char *seq_key, uint64_t *applied, int64_t *revision)
{
    json_t *txn = batch_txn(p, b, seq_key), *reply = NULL;
    uint64_t last = b->e[b->n - 1].seq, held = 0;
    int rc = txn ? ep_etcd_call(etcd, "/v3/kv/txn", txn, &reply) : EP_E_NOMEM;

    json_decref(txn);
    if (rc)
        return rc;
    *revision = (int64_t)strtoll(
        json_string_value(json_object_get(json_object_get(reply, "header"), "revision")) ?: "0",
        NULL, 10);
    if (json_is_true(json_object_get(reply, "succeeded"))) {
        held = last;
    } else {
        rc = seq_of_range(json_object_get(json_array_get(json_object_get(reply, "responses"), 0),
                                          "response_range"),
                          &held);
        if (rc == 0 && held < b->e[0].seq)
            rc = EP_ETCD_E_REPLY; /* the guard failed for no reason we know */
    }
    json_decref(reply);
    if (rc)
        return rc;
    *applied = held;
    return ep_store_outbox_done(p->store, held < last ? held : last);
}

static void set_status(struct ep_publisher *p, int rc, uint64_t applied, int64_t revision)
{
    uint64_t pending = 0, last = 0;

    ep_store_outbox_count(p->store, &pending, &last);
    pthread_mutex_lock(&p->lock);
    if (rc == 0) {
        p->status.last_ok = now_s();
        if (applied)
            p->status.applied_seq = applied;
        if (revision)
            p->status.revision = revision;
    }
    p->status.last_error = rc;
    p->status.pending = pending;
    pthread_mutex_unlock(&p->lock);
}

/* Wait up to @p ms or until stopped; whether to go on. */
static bool nap(struct ep_publisher *p, long ms)
{
    struct timespec until;
    bool go;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    if (!p->stop)
        pthread_cond_timedwait(&p->wake, &p->lock, &until);
    go = !p->stop;
    pthread_mutex_unlock(&p->lock);
    return go;
}

static void *run(void *arg)
{
    struct ep_publisher *p = arg;
    struct ep_etcd *etcd = NULL;
    char *seq_key = NULL;
    struct batch b = {.p = p, .max = p->opts.batch};
    bool ready = false;
    long backoff = 100;
    uint64_t seen_gen = 0;
    int rc;

    b.e = calloc(b.max, sizeof *b.e);
    if (!b.e || asprintf(&seq_key, "%smeta/outbox-seq", p->prefix) < 0 ||
        ep_etcd_open(&p->opts.etcd, &etcd) != 0) {
        syslog(LOG_ERR, "publisher: cannot start (out of memory or no etcd endpoint)");
        goto out;
    }
    for (;;) {
        uint64_t applied = 0, gen = 0;
        int64_t revision = 0;

        if (!ready) {
            rc = seq_init(p, etcd, seq_key, &applied);
            if (rc == 0) {
                /* Entries etcd holds already (an answer lost before a restart). */
                rc = ep_store_outbox_done(p->store, applied);
                ready = rc == 0;
            }
            set_status(p, rc, applied, 0);
            if (rc) {
                if (!nap(p, backoff))
                    break;
                backoff = backoff < 2000 ? backoff * 2 : 2000;
                continue;
            }
        }
        b.n = 0;
        b.full = false;
        ep_store_generation(p->store, &gen);
        rc = ep_store_outbox_read(p->store, b.max, collect, &b);
        if (rc < 0 && rc != 1)
            syslog(LOG_ERR, "publisher: reading the outbox: %s", ep_strerror(rc));
        if (b.n == 0) {
            /* Nothing waits: look again when the store changes, or soon. */
            if (gen == seen_gen && !nap(p, 10))
                break;
            seen_gen = gen;
            pthread_mutex_lock(&p->lock);
            bool stop = p->stop;
            pthread_mutex_unlock(&p->lock);
            if (stop)
                break;
            continue;
        }
        rc = batch_send(p, etcd, &b, seq_key, &applied, &revision);
        for (size_t i = 0; i < b.n; i++)
            entry_free(&b.e[i]);
        set_status(p, rc, applied, revision);
        if (rc) {
            syslog(LOG_WARNING, "publisher: %zu change(s) wait for etcd: %s", b.n,
                   ep_etcd_strerror(rc));
            if (!nap(p, backoff))
                break;
            backoff = backoff < 2000 ? backoff * 2 : 2000;
            if (rc == EP_ETCD_E_REFUSED)
                ready = false;
            continue;
        }
        backoff = 100;
    }
out:
    free(b.e);
    free(seq_key);
    ep_etcd_close(etcd);
    return NULL;
}

int ep_publisher_start(struct ep_store *store, const struct ep_publisher_options *opts,
                       struct ep_publisher **out)
{
    struct ep_publisher *p;
    int rc = ep_store_outbox_enable(store);

    *out = NULL;
    if (rc)
        return rc;
    p = calloc(1, sizeof *p);
    if (!p)
        return EP_E_NOMEM;
    p->store = store;
    p->opts = *opts;
    p->prefix = strdup(opts->prefix ? opts->prefix : EP_CLUSTER_DEFAULT_PREFIX);
    if (p->opts.batch == 0 || p->opts.batch > 100000)
        p->opts.batch = EP_PUBLISHER_DEFAULT_BATCH;
    p->opts.prefix = p->prefix;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (!p->prefix || (rc = pthread_create(&p->thread, NULL, run, p)) != 0) {
        free(p->prefix);
        free(p);
        return rc ? rc : EP_E_NOMEM;
    }
    *out = p;
    return 0;
}

void ep_publisher_stop(struct ep_publisher *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->prefix);
    free(p);
}

void ep_publisher_status(struct ep_publisher *p, struct ep_publisher_status *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->status;
    pthread_mutex_unlock(&p->lock);
}

const struct ep_publisher_options *ep_publisher_options_of(struct ep_publisher *p)
{
    return &p->opts;
}

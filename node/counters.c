/*
 * The node's counters in etcd: for each seen record of the node's store
 * (what its squid decided, as the recorder wrote it), the key
 * `PREFIX counts/NODE/PROJECT/HOST` holds its cumulative value
 * "TOTAL ALLOWED DENIED FIRST LAST VERDICT", TOTAL in 20 digits. A push is
 * a set, never an increment: sent twice it still says the same, and
 * egress-api's sum over the nodes stays exact. A set is applied only
 * when the key is new or holds a smaller TOTAL (etcd compares values as
 * bytes, hence the digits), so an old push that reaches etcd late (held
 * up in a partition) never takes a count back.
 *
 * Each round sends the records changed since the last round that
 * succeeded (their last_seen is at or after its start, a second's overlap
 * sent twice at worst), in transactions of up to 100 puts.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/node.h"

#define PUTS_PER_TXN 100

struct round {
    struct node *n;
    struct ep_etcd *etcd;
    int64_t since;       /* records last seen at or after this */
    json_t *ops;         /* puts waiting to be sent */
    const char *project; /* the project being walked */
    size_t sent;
    int rc;
};

static int flush(struct round *r)
{
    json_t *txn, *reply = NULL;

    if (json_array_size(r->ops) == 0 || r->rc)
        return r->rc;
    txn = json_pack("{s:O}", "success", r->ops);
    r->rc = txn ? ep_etcd_call(r->etcd, "/v3/kv/txn", txn, &reply) : EP_E_NOMEM;
    json_decref(txn);
    json_decref(reply);
    if (r->rc == 0)
        r->sent += json_array_size(r->ops);
    json_array_clear(r->ops);
    return r->rc;
}

static int on_seen(void *ctx, const char *host, const struct ep_seen *s)
{
    struct round *r = ctx;
    char key[1024], value[128];
    size_t klen;
    int vlen;

    if (s->last_seen < r->since)
        return 0;
    klen = node_key(r->n, key, sizeof key, "counts/%s/%s/%s", r->n->name, r->project, host);
    vlen = snprintf(value, sizeof value, "%020llu %llu %llu %lld %lld %u",
                    (unsigned long long)(s->allowed + s->denied), (unsigned long long)s->allowed,
                    (unsigned long long)s->denied, (long long)s->first_seen,
                    (long long)s->last_seen, s->last_verdict);
    /* if the key is new: put; else if its value is smaller: put (a nested txn each). */
    json_array_append_new(
        r->ops,
        json_pack("{s:{s:[{s:o, s:s, s:s, s:I}], s:[{s:{s:o, s:o}}], s:[{s:{s:[{s:o, s:s, s:s, "
                  "s:o}], s:[{s:{s:o, s:o}}]}}]}}",
                  "request_txn", "compare", "key", ep_etcd_b64(key, klen), "target", "VERSION",
                  "result", "EQUAL", "version", (json_int_t)0, "success", "request_put", "key",
                  ep_etcd_b64(key, klen), "value", ep_etcd_b64(value, (size_t)vlen), "failure",
                  "request_txn", "compare", "key", ep_etcd_b64(key, klen), "target", "VALUE",
                  "result", "LESS", "value", ep_etcd_b64(value, (size_t)vlen), "success",
                  "request_put", "key", ep_etcd_b64(key, klen), "value",
                  ep_etcd_b64(value, (size_t)vlen)));
    if (json_array_size(r->ops) >= PUTS_PER_TXN)
        return flush(r);
    return 0;
}

struct ids {
    char (*id)[EP_ID_MAX + 1];
    size_t n;
};

static int on_project(void *ctx, const struct ep_project *p)
{
    struct ids *l = ctx;
    void *more = realloc(l->id, (l->n + 1) * sizeof *l->id);

    if (!more)
        return EP_E_NOMEM;
    l->id = more;
    memcpy(l->id[l->n++], p->id, sizeof p->id);
    return 0;
}

void *node_counters_run(void *arg)
{
    struct node *n = arg;
    struct round r = {.n = n};
    int last = 0;

    r.ops = json_array();
    if (!r.ops || ep_etcd_open(&n->etcd, &r.etcd) != 0) {
        node_log("counters: cannot start");
        json_decref(r.ops);
        return NULL;
    }
    while (node_nap(n, n->counters_every * 1000)) {
        int64_t started = (int64_t)time(NULL);
        struct ids projects = {0};

        r.rc = 0;
        r.sent = 0;
        json_array_clear(r.ops);
        ep_store_projects_list(n->store, on_project, &projects);
        for (size_t i = 0; r.rc == 0 && i < projects.n; i++) {
            r.project = projects.id[i];
            int rc = ep_store_seen_list(n->store, r.project, on_seen, &r);

            if (rc && !r.rc)
                r.rc = rc;
        }
        flush(&r);
        free(projects.id);
        if (r.rc == 0)
            r.since = started; /* else the next round sends these again */
        if (r.rc && r.rc != last)
            node_log("counters: push failed (%s); sent again next round", ep_etcd_strerror(r.rc));
        last = r.rc;
    }
    json_decref(r.ops);
    ep_etcd_close(r.etcd);
    return NULL;
}

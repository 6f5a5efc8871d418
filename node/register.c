/*
 * The node's registration and heartbeat. `PREFIX nodes/NAME` is held by a
 * lease of --ttl seconds, refreshed every third of it: it disappears when
 * the node stops refreshing (dead, or cut off). `PREFIX status/NAME`
 * holds the same JSON without a lease, so the API can still say when a
 * lost node was last heard of:
 *
 *   {"name": NAME, "revision": R, "heartbeat": UNIX-SECONDS,
 *    "connected": true, "workspaces": {"IP": "PROJECT", ...}}
 *
 * The workspaces are this node's mappings as its store holds them
 * (containers.c writes them), so what the API shows is what squid on this
 * node decides by.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/node.h"

static int add_workspace(void *ctx, const struct ep_project *p)
{
    if (p->ip[0])
        json_object_set_new(ctx, p->ip, json_string(p->id));
    return 0;
}

/* The node's JSON, as described above. */
static char *status_json(struct node *n)
{
    json_t *ws = json_object(), *j;
    char *text;

    ep_store_projects_list(n->store, add_workspace, ws);
    j = json_pack("{s:s, s:I, s:I, s:b, s:o}", "name", n->name, "revision",
                  (json_int_t)atomic_load(&n->revision), "heartbeat", (json_int_t)time(NULL),
                  "connected", atomic_load(&n->connected), "workspaces", ws);
    text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return text;
}

/* Put both keys; a new lease first when there is none. */
static int beat(struct node *n, struct ep_etcd *etcd)
{
    char key[512], *text;
    int64_t lease = atomic_load(&n->lease);
    size_t klen;
    int rc = 0;

    if (lease) {
        rc = ep_etcd_lease_keepalive(etcd, lease);
        if (rc == EP_E_NOTFOUND) {
            node_log("register: lease %llx expired; registering again", (unsigned long long)lease);
            lease = 0;
        } else if (rc) {
            return rc;
        }
    }
    if (!lease) {
        rc = ep_etcd_lease_grant(etcd, n->ttl, &lease);
        if (rc)
            return rc;
        atomic_store(&n->lease, lease);
        node_log("register: %s holds lease %llx (%ld s)", n->name, (unsigned long long)lease,
                 n->ttl);
    }
    text = status_json(n);
    if (!text)
        return EP_E_NOMEM;
    klen = node_key(n, key, sizeof key, "nodes/%s", n->name);
    rc = ep_etcd_put(etcd, key, klen, text, strlen(text), lease);
    if (rc == 0) {
        klen = node_key(n, key, sizeof key, "status/%s", n->name);
        rc = ep_etcd_put(etcd, key, klen, text, strlen(text), 0);
    }
    free(text);
    return rc;
}

void *node_register_run(void *arg)
{
    struct node *n = arg;
    struct ep_etcd *etcd = NULL;
    long every = n->ttl * 1000 / 3;
    int last = 0;

    if (ep_etcd_open(&n->etcd, &etcd) != 0) {
        node_log("register: no etcd endpoint");
        return NULL;
    }
    do {
        int rc = beat(n, etcd);

        if (rc && rc != last)
            node_log("register: heartbeat failed: %s", ep_etcd_strerror(rc));
        last = rc;
        /* The next beat after a third of the lease, or at once when a mapping changed. */
        for (long waited = 0; waited < every && !atomic_exchange(&n->mappings_changed, false);
             waited += 50)
            if (!node_nap(n, 50))
                break;
    } while (!atomic_load(&n->stop));
    if (atomic_load(&n->lease))
        ep_etcd_lease_revoke(etcd, atomic_load(&n->lease));
    ep_etcd_close(etcd);
    return NULL;
}

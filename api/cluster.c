/*
 * egress-api in cluster mode (cluster.h). The API keeps its own store and
 * answers from it as on a single host; the publisher carries every
 * acknowledged change to etcd behind it. The nodes' counters and
 * mappings come back the other way: every second the sum over the nodes
 * of `PREFIX counts/NODE/PROJECT/HOST` is written into the store's seen
 * records, values set rather than added, so a count sent twice or late is
 * still counted once; and the store's IP mappings are made those the live
 * nodes report.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/cluster.h"
#include "api/log.h"
#include "policy/store.h"
#include "policy/store_cluster.h"

struct api_cluster {
    struct ep_publisher *publisher;
    struct cluster_config cfg;
    struct ep_store *store;
    pthread_t summer;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
};

const char cluster_usage[] =
    "  --etcd URLS               cluster mode: publish the policy to these etcd\n"
    "                            endpoints (comma-separated; docs/cluster.md)\n"
    "  --etcd-prefix PREFIX      the keyspace's prefix (default " EP_CLUSTER_DEFAULT_PREFIX ")\n"
    "  --etcd-cacert FILE        CA of the etcd members (PEM)\n"
    "  --etcd-cert FILE          client certificate (PEM)\n"
    "  --etcd-key FILE           its private key (PEM)\n"
    "  --etcd-user USER          etcd user (password from --etcd-password-file)\n"
    "  --etcd-password-file FILE file holding that user's password\n"
    "  --etcd-batch N            changes per etcd transaction (default 127; at most\n"
    "                            etcd's --max-txn-ops minus one)\n";

int cluster_option(struct cluster_config *cfg, const char *name, const char *value)
{
    struct ep_etcd_options *e = &cfg->pub.etcd;

    if (strcmp(name, "etcd") == 0)
        e->endpoints = value;
    else if (strcmp(name, "etcd-prefix") == 0)
        cfg->pub.prefix = value;
    else if (strcmp(name, "etcd-cacert") == 0)
        e->cacert = value;
    else if (strcmp(name, "etcd-cert") == 0)
        e->cert = value;
    else if (strcmp(name, "etcd-key") == 0)
        e->key = value;
    else if (strcmp(name, "etcd-user") == 0)
        e->user = value;
    else if (strcmp(name, "etcd-password-file") == 0)
        cfg->password_file = value;
    else if (strcmp(name, "etcd-batch") == 0) {
        char *end;
        unsigned long n = strtoul(value, &end, 10);

        if (*value == '\0' || *end || n < 1 || n > 100000) {
            fprintf(stderr, "egress-api: --etcd-batch must be 1..100000, not \"%s\"\n", value);
            return -1;
        }
        cfg->pub.batch = n;
    }
    return 0;
}

/* ---- the counters' sum ---- */

struct count {
    char *project, *host;
    uint64_t allowed, denied;
    int64_t first, last;
    uint32_t verdict;
};

struct counts {
    struct count *c;
    size_t n, cap;
    size_t skip; /* bytes of "PREFIX counts/" */
    int64_t max_rev;
};

/* One node's counter: PREFIX counts/NODE/PROJECT/HOST = "TOTAL A D FIRST LAST VERDICT". */
static int on_count(void *ctx, const struct ep_etcd_kv *kv)
{
    struct counts *l = ctx;
    const char *k = kv->key + l->skip, *end = kv->key + kv->key_len;
    const char *s1 = memchr(k, '/', (size_t)(end - k)), *s2;
    struct count c = {0};
    unsigned long long total, a, d;
    long long f, t;
    unsigned v;
    char val[128];

    if (kv->value_len >= sizeof val || !s1 || !(s2 = memchr(s1 + 1, '/', (size_t)(end - s1 - 1))))
        return 0;
    memcpy(val, kv->value, kv->value_len);
    val[kv->value_len] = '\0';
    if (sscanf(val, "%llu %llu %llu %lld %lld %u", &total, &a, &d, &f, &t, &v) != 6)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        void *more = realloc(l->c, cap * sizeof *l->c);

        if (!more)
            return EP_E_NOMEM;
        l->c = more;
        l->cap = cap;
    }
    c.project = strndup(s1 + 1, (size_t)(s2 - s1 - 1));
    c.host = strndup(s2 + 1, (size_t)(end - s2 - 1));
    c.allowed = a;
    c.denied = d;
    c.first = f;
    c.last = t;
    c.verdict = v;
    if (!c.project || !c.host) {
        free(c.project);
        free(c.host);
        return EP_E_NOMEM;
    }
    l->c[l->n++] = c;
    if (kv->mod_revision > l->max_rev)
        l->max_rev = kv->mod_revision;
    return 0;
}

static int count_cmp(const void *a, const void *b)
{
    const struct count *x = a, *y = b;
    int c = strcmp(x->project, y->project);

    return c ? c : strcmp(x->host, y->host);
}

/* Sum the nodes' counters of each (project, host) and set them in the store. */
static int sum_once(struct api_cluster *cl, struct ep_etcd *etcd, int64_t *last_rev, size_t *last_n)
{
    char prefix[512];
    struct counts l = {0};
    struct ep_seen_delta *d = NULL;
    size_t nd = 0;
    int rc;

    l.skip = (size_t)snprintf(prefix, sizeof prefix, "%scounts/", cl->cfg.pub.prefix);
    rc = ep_etcd_range_prefix(etcd, prefix, l.skip, 0, on_count, &l, NULL);
    if (rc || (l.max_rev == *last_rev && l.n == *last_n))
        goto out;
    qsort(l.c, l.n, sizeof *l.c, count_cmp);
    d = calloc(l.n ? l.n : 1, sizeof *d);
    if (!d) {
        rc = EP_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        struct count *c = &l.c[i];

        if (nd > 0 && strcmp(d[nd - 1].project_id, c->project) == 0 &&
            strcmp(d[nd - 1].host, c->host) == 0) {
            struct ep_seen_delta *s = &d[nd - 1];

            s->allowed += c->allowed;
            s->denied += c->denied;
            if (c->first && (!s->first_seen || c->first < s->first_seen))
                s->first_seen = c->first;
            if (c->last >= s->last_seen) {
                s->last_seen = c->last;
                s->last_verdict = c->verdict;
            }
            continue;
        }
        d[nd++] = (struct ep_seen_delta){c->project, c->host, c->allowed, c->denied,
                                         c->first,   c->last, c->verdict};
    }
    rc = ep_store_sync_seen(cl->store, d, nd);
    if (rc == 0) {
        *last_rev = l.max_rev;
        *last_n = l.n;
    }
out:
    for (size_t i = 0; i < l.n; i++) {
        free(l.c[i].project);
        free(l.c[i].host);
    }
    free(l.c);
    free(d);
    return rc;
}

/* ---- the nodes' mappings, copied into the store ---- */

struct mappings {
    json_t *by_ip; /* IP -> project, from every live node */
    char (*gone)[EP_ID_MAX + 1];
    size_t ngone;
};

static int on_live_node(void *ctx, const struct ep_etcd_kv *kv)
{
    struct mappings *m = ctx;
    json_t *j = json_loadb(kv->value, kv->value_len, 0, NULL), *proj;
    const char *ip;

    json_object_foreach(json_object_get(j, "workspaces"), ip, proj)
    {
        json_object_set(m->by_ip, ip, proj);
    }
    json_decref(j);
    return 0;
}

/* Collect the projects mapped in the store that no live node reports at that address. */
static int find_gone(void *ctx, const struct ep_project *p)
{
    struct mappings *m = ctx;
    const char *holder = json_string_value(json_object_get(m->by_ip, p->ip));
    void *more;

    if (!p->ip[0] || (holder && strcmp(holder, p->id) == 0))
        return 0;
    more = realloc(m->gone, (m->ngone + 1) * sizeof *m->gone);
    if (!more)
        return EP_E_NOMEM;
    m->gone = more;
    memcpy(m->gone[m->ngone++], p->id, sizeof p->id);
    return 0;
}

/*
 * Make the store's IP mappings those the live nodes report: the capture
 * service next to the API (docs/cluster.md) and the project views read
 * them. A project no live node reports is unmapped first, so an address
 * that moved to another project is free for it.
 */
static int mappings_once(struct api_cluster *cl, struct ep_etcd *etcd)
{
    char prefix[512];
    struct mappings m = {.by_ip = json_object()};
    size_t skip = (size_t)snprintf(prefix, sizeof prefix, "%snodes/", cl->cfg.pub.prefix);
    const char *ip;
    json_t *proj;
    int rc =
        m.by_ip ? ep_etcd_range_prefix(etcd, prefix, skip, 0, on_live_node, &m, NULL) : EP_E_NOMEM;

    if (rc == 0)
        rc = ep_store_projects_list(cl->store, find_gone, &m);
    for (size_t i = 0; rc == 0 && i < m.ngone; i++)
        ep_store_client_unmap(cl->store, m.gone[i]);
    json_object_foreach(m.by_ip, ip, proj)
    {
        struct ep_project p;
        const char *id = json_string_value(proj);

        if (rc == 0 && id && ep_store_project_get(cl->store, id, &p) == 0 && strcmp(p.ip, ip) != 0)
            ep_store_client_map(cl->store, ip, id);
    }
    free(m.gone);
    json_decref(m.by_ip);
    return rc;
}

static void *summer_run(void *arg)
{
    struct api_cluster *cl = arg;
    struct ep_etcd *etcd = NULL;
    int64_t last_rev = -1;
    size_t last_n = 0;
    int last_rc = 0;

    if (ep_etcd_open(&cl->cfg.pub.etcd, &etcd) != 0)
        return NULL;
    pthread_mutex_lock(&cl->lock);
    while (!cl->stop) {
        struct timespec until;
        int rc;

        pthread_mutex_unlock(&cl->lock);
        rc = sum_once(cl, etcd, &last_rev, &last_n);
        if (rc == 0)
            rc = mappings_once(cl, etcd);
        if (rc && rc != last_rc)
            log_line("cluster: summing the nodes' counters: %s", ep_etcd_strerror(rc));
        last_rc = rc;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += cl->cfg.sum_every_ms / 1000;
        until.tv_nsec += (cl->cfg.sum_every_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&cl->lock);
        if (!cl->stop)
            pthread_cond_timedwait(&cl->wake, &cl->lock, &until);
    }
    pthread_mutex_unlock(&cl->lock);
    ep_etcd_close(etcd);
    return NULL;
}

/* ---- start and stop ---- */

int cluster_start(struct api_ctx *ctx, struct cluster_config *cfg)
{
    struct api_cluster *cl;
    int rc;

    if (!cfg->pub.etcd.endpoints)
        return 0;
    if (cfg->pub.etcd.user && !cfg->password_file) {
        fprintf(stderr, "egress-api: --etcd-user needs --etcd-password-file\n");
        return -1;
    }
    cl = calloc(1, sizeof *cl);
    if (!cl)
        return -1;
    cl->cfg = *cfg;
    if (!cl->cfg.pub.prefix)
        cl->cfg.pub.prefix = EP_CLUSTER_DEFAULT_PREFIX;
    if (cl->cfg.sum_every_ms <= 0)
        cl->cfg.sum_every_ms = 1000;
    if (cfg->password_file) {
        char buf[256] = "";
        FILE *f = fopen(cfg->password_file, "r");

        if (!f || !fgets(buf, sizeof buf, f)) {
            fprintf(stderr, "egress-api: cannot read --etcd-password-file %s\n",
                    cfg->password_file);
            if (f)
                fclose(f);
            free(cl);
            return -1;
        }
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        cl->cfg.pub.etcd.password = strdup(buf);
        memset(buf, 0, sizeof buf);
    }
    cl->store = ctx->store;
    pthread_mutex_init(&cl->lock, NULL);
    pthread_cond_init(&cl->wake, NULL);
    rc = ep_publisher_start(ctx->store, &cl->cfg.pub, &cl->publisher);
    if (rc) {
        fprintf(stderr, "egress-api: cannot start the publisher: %s\n", ep_strerror(rc));
        free(cl);
        return -1;
    }
    if (pthread_create(&cl->summer, NULL, summer_run, cl) != 0) {
        ep_publisher_stop(cl->publisher);
        free(cl);
        return -1;
    }
    ctx->cluster = cl;
    log_line("cluster: publishing to etcd %s under %s", cl->cfg.pub.etcd.endpoints,
             cl->cfg.pub.prefix);
    return 0;
}

void cluster_stop(struct api_ctx *ctx)
{
    struct api_cluster *cl = ctx->cluster;

    if (!cl)
        return;
    pthread_mutex_lock(&cl->lock);
    cl->stop = true;
    pthread_cond_broadcast(&cl->wake);
    pthread_mutex_unlock(&cl->lock);
    pthread_join(cl->summer, NULL);
    ep_publisher_stop(cl->publisher);
    free((char *)cl->cfg.pub.etcd.password);
    free(cl);
    ctx->cluster = NULL;
}

/* ---- GET /api/cluster ---- */

struct nodes_ctx {
    json_t *nodes; /* name -> node object */
    size_t skip;   /* bytes of "PREFIX status/" or "PREFIX nodes/" */
    bool alive;    /* reading nodes/ (leased) rather than status/ */
};

static int on_node(void *ctx, const struct ep_etcd_kv *kv)
{
    struct nodes_ctx *c = ctx;
    char name[256];
    json_t *j, *node;

    if (kv->key_len - c->skip >= sizeof name)
        return 0;
    memcpy(name, kv->key + c->skip, kv->key_len - c->skip);
    name[kv->key_len - c->skip] = '\0';
    if (c->alive) {
        node = json_object_get(c->nodes, name);
        if (node)
            json_object_set_new(node, "alive", json_true());
        return 0;
    }
    j = json_loadb(kv->value, kv->value_len, 0, NULL);
    if (json_is_object(j)) {
        json_object_set_new(j, "alive", json_false());
        json_object_set_new(c->nodes, name, j);
    } else {
        json_decref(j);
    }
    return 0;
}

/* The revision of the last policy change etcd holds: that of the outbox sequence key. */
static int64_t policy_revision(struct ep_etcd *etcd, const char *prefix)
{
    char key[512];
    int n = snprintf(key, sizeof key, "%smeta/outbox-seq", prefix);
    json_t *body = json_pack("{s:o, s:b}", "key", ep_etcd_b64(key, (size_t)n), "serializable", 1),
           *reply = NULL;
    int64_t rev = 0;

    if (body && ep_etcd_call(etcd, "/v3/kv/range", body, &reply) == 0) {
        json_t *kv = json_array_get(json_object_get(reply, "kvs"), 0);
        const char *r = json_string_value(json_object_get(kv, "mod_revision"));

        rev = r ? strtoll(r, NULL, 10) : 0;
    }
    json_decref(body);
    json_decref(reply);
    return rev;
}

void cluster_handle_get(struct http_request *r)
{
    struct api_cluster *cl = r->ctx->cluster;
    struct ep_publisher_status st;
    struct nodes_ctx nc = {0};
    struct ep_etcd *etcd = NULL;
    char prefix[512], when[32];
    json_t *out, *list, *node;
    const char *name;
    int64_t policy_rev = 0;
    int rc;

    if (!cl) {
        http_reply_json(r, 200, json_pack("{s:s, s:[]}", "mode", "single-host", "nodes"));
        return;
    }
    struct ep_etcd_options view = cl->cfg.pub.etcd;
    uint64_t last_seq = 0;

    /* The view reads a member's own copy, and soon gives up: it must answer during an outage. */
    view.serializable = true;
    view.timeout_ms = 1500;
    ep_publisher_status(cl->publisher, &st);
    ep_store_outbox_count(r->ctx->store, &st.pending, &last_seq);
    http_time_iso(st.last_ok, when);
    out = json_pack("{s:s, s:s, s:{s:I, s:I, s:I, s:s?, s:s?}}", "mode", "cluster", "etcd",
                    cl->cfg.pub.etcd.endpoints, "publisher", "pending", (json_int_t)st.pending,
                    "appliedSeq", (json_int_t)st.applied_seq, "revision", (json_int_t)st.revision,
                    "lastContact", st.last_ok ? when : NULL, "error",
                    st.last_error ? ep_etcd_strerror(st.last_error) : NULL);
    nc.nodes = json_object();
    rc = ep_etcd_open(&view, &etcd);
    if (rc == 0) {
        nc.skip = (size_t)snprintf(prefix, sizeof prefix, "%sstatus/", cl->cfg.pub.prefix);
        rc = ep_etcd_range_prefix(etcd, prefix, nc.skip, 0, on_node, &nc, NULL);
    }
    if (rc == 0) {
        nc.alive = true;
        nc.skip = (size_t)snprintf(prefix, sizeof prefix, "%snodes/", cl->cfg.pub.prefix);
        rc = ep_etcd_range_prefix(etcd, prefix, nc.skip, 0, on_node, &nc, NULL);
    }
    if (rc == 0)
        policy_rev = policy_revision(etcd, cl->cfg.pub.prefix);
    ep_etcd_close(etcd);
    json_object_set_new(out, "reachable", json_boolean(rc == 0));
    json_object_set_new(out, "policyRevision", json_integer(policy_rev));
    list = json_array();
    json_object_foreach(nc.nodes, name, node)
    {
        int64_t rev = json_integer_value(json_object_get(node, "revision"));
        int64_t beat = json_integer_value(json_object_get(node, "heartbeat"));
        json_t *ws = json_array(), *map = json_object_get(node, "workspaces"), *proj;
        const char *ip;

        json_object_foreach(map, ip, proj)
        {
            json_array_append_new(ws, json_pack("{s:s, s:O}", "ip", ip, "project", proj));
        }
        http_time_iso(beat, when);
        json_array_append_new(
            list,
            json_pack("{s:s, s:O, s:I, s:I, s:s, s:O?, s:o}", "name", name, "alive",
                      json_object_get(node, "alive"), "revision", (json_int_t)rev, "lag",
                      (json_int_t)(policy_rev > rev ? policy_rev - rev : 0), "lastHeartbeat", when,
                      "connected", json_object_get(node, "connected"), "workspaces", ws));
    }
    json_object_set_new(out, "nodes", list);
    json_decref(nc.nodes);
    http_reply_json(r, 200, out);
}

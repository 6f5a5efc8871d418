/*
 * Identity where the bridge is: this node's Docker engine says which
 * workspace container holds which IP. At start, every running container
 * with the project label is mapped and every mapping of the store that no
 * running container holds is dropped; then the engine's events stream
 * (GET /events, over its unix socket) maps a container on `start` and
 * unmaps it on `die`/`stop`/`destroy`, at once, so a reused IP never
 * carries the policy of the workspace that had it before. The mapping is
 * the container's address on the workspaces' network (--network).
 */
#include "config.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/node.h"

struct buf {
    char *data;
    size_t len, cap;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
    struct buf *b = ctx;
    size_t n = size * nmemb;

    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *more = realloc(b->data, cap);

        if (!more)
            return 0;
        b->data = more;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void engine_setup(CURL *curl, struct node *n, const char *path, struct buf *b)
{
    char url[1024];

    snprintf(url, sizeof url, "http://localhost%s", path);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, n->docker_socket);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
}

/* GET @p path of the engine as JSON (NULL on any failure). */
static json_t *engine_get(CURL *curl, struct node *n, const char *path)
{
    struct buf b = {0};
    long code = 0;
    json_t *j = NULL;

    engine_setup(curl, n, path, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200 && b.data)
        j = json_loads(b.data, 0, NULL);
    free(b.data);
    return j;
}

/* Container @p id's project (its label) and address on the workspaces' network. */
static int inspect(CURL *curl, struct node *n, const char *id, char *project, char *ip)
{
    char path[256];
    json_t *c, *labels, *net;
    const char *p, *a;
    int rc = EP_E_NOTFOUND;

    snprintf(path, sizeof path, "/containers/%s/json", id);
    c = engine_get(curl, n, path);
    if (!c)
        return EP_E_NOTFOUND;
    labels = json_object_get(json_object_get(c, "Config"), "Labels");
    p = json_string_value(json_object_get(labels, n->label));
    net = json_object_get(json_object_get(json_object_get(c, "NetworkSettings"), "Networks"),
                          n->network);
    a = json_string_value(json_object_get(net, "IPAddress"));
    if (p && a && *a && strlen(p) <= EP_ID_MAX && strlen(a) <= EP_IP_MAX &&
        json_is_true(json_object_get(json_object_get(c, "State"), "Running"))) {
        strcpy(project, p);
        strcpy(ip, a);
        rc = 0;
    }
    json_decref(c);
    return rc;
}

/*
 * Map @p ip to @p project: a holder the store still has for that IP (its
 * container's end not seen yet) loses it first. The project may not have
 * reached this node yet: try for a few seconds.
 */
static void map(struct node *n, const char *project, const char *ip)
{
    int rc;

    for (int tries = 0; tries < 50; tries++) {
        rc = ep_store_client_map(n->store, ip, project);
        if (rc == EP_E_CONFLICT) {
            struct ep_store_read *rd;
            struct ep_client held;

            if (ep_store_read_begin(n->store, &rd) == 0) {
                rc = ep_store_read_client(rd, ip, &held);
                ep_store_read_end(rd);
                if (rc == 0) {
                    node_log("containers: %s was still mapped to %s; unmapped", ip,
                             held.project_id);
                    ep_store_client_unmap(n->store, held.project_id);
                }
            }
            continue;
        }
        if (rc != EP_E_NOTFOUND || !node_nap(n, 100))
            break;
    }
    if (rc)
        node_log("containers: cannot map %s to %s: %s", ip, project, ep_strerror(rc));
    else
        node_log("containers: %s mapped to %s", ip, project);
    atomic_store(&n->mappings_changed, true);
}

static void unmap(struct node *n, const char *project)
{
    struct ep_project p;

    if (ep_store_project_get(n->store, project, &p) != 0 || !p.ip[0])
        return;
    if (ep_store_client_unmap(n->store, project) == 0)
        node_log("containers: %s unmapped from %s", p.ip, project);
    atomic_store(&n->mappings_changed, true);
}

/* Project ids: those running containers hold, and the mapped ones none holds. */
struct idlist {
    char (*ids)[EP_ID_MAX + 1];
    size_t n;
};

static void idlist_add(struct idlist *l, const char *id)
{
    void *more = realloc(l->ids, (l->n + 1) * sizeof *l->ids);

    if (!more)
        return;
    l->ids = more;
    snprintf(l->ids[l->n++], EP_ID_MAX + 1, "%s", id);
}

static bool idlist_has(const struct idlist *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ids[i], id) == 0)
            return true;
    return false;
}

struct reconcile_ctx {
    struct idlist running, stale;
};

static int find_stale(void *ctx, const struct ep_project *p)
{
    struct reconcile_ctx *r = ctx;

    if (p->ip[0] && !idlist_has(&r->running, p->id))
        idlist_add(&r->stale, p->id);
    return 0;
}

/* Map every running workspace container; unmap every mapping no running container holds. */
static int reconcile(CURL *curl, struct node *n)
{
    char path[512], *filter, *esc;
    struct reconcile_ctx r = {0};
    json_t *list;

    if (asprintf(&filter, "{\"label\":[\"%s\"],\"status\":[\"running\"]}", n->label) < 0)
        return EP_E_NOMEM;
    esc = curl_easy_escape(curl, filter, 0);
    free(filter);
    snprintf(path, sizeof path, "/containers/json?filters=%s", esc ? esc : "");
    curl_free(esc);
    list = engine_get(curl, n, path);
    if (!list)
        return EP_E_NOTFOUND;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(list, i), "Id"));
        char project[EP_ID_MAX + 1], ip[EP_IP_MAX + 1];

        if (id && inspect(curl, n, id, project, ip) == 0) {
            map(n, project, ip);
            idlist_add(&r.running, project);
        }
    }
    json_decref(list);
    ep_store_projects_list(n->store, find_stale, &r);
    for (size_t i = 0; i < r.stale.n; i++)
        unmap(n, r.stale.ids[i]);
    free(r.running.ids);
    free(r.stale.ids);
    return 0;
}

struct stream {
    struct buf in;
    struct node *n;
    CURL *inspector;
};

/* One event line: {"Type":"container","Action":"start","Actor":{"ID":...,"Attributes":{...}}}. */
static void on_event(struct stream *s, json_t *ev)
{
    const char *action = json_string_value(json_object_get(ev, "Action"));
    json_t *actor = json_object_get(ev, "Actor");
    const char *id = json_string_value(json_object_get(actor, "ID"));
    const char *project =
        json_string_value(json_object_get(json_object_get(actor, "Attributes"), s->n->label));
    char p[EP_ID_MAX + 1], ip[EP_IP_MAX + 1];

    if (!action || !id || !project)
        return;
    if (strcmp(action, "start") == 0) {
        if (inspect(s->inspector, s->n, id, p, ip) == 0)
            map(s->n, p, ip);
    } else if (strcmp(action, "die") == 0 || strcmp(action, "stop") == 0 ||
               strcmp(action, "kill") == 0 || strcmp(action, "destroy") == 0) {
        unmap(s->n, project);
    }
}

static size_t on_events(char *p, size_t size, size_t nmemb, void *ctx)
{
    struct stream *s = ctx;
    char *line, *nl;

    if (on_body(p, size, nmemb, &s->in) != size * nmemb)
        return 0;
    line = s->in.data;
    while ((nl = memchr(line, '\n', s->in.len - (size_t)(line - s->in.data)))) {
        json_t *ev = json_loadb(line, (size_t)(nl - line), 0, NULL);

        line = nl + 1;
        if (ev) {
            on_event(s, ev);
            json_decref(ev);
        }
    }
    s->in.len -= (size_t)(line - s->in.data);
    memmove(s->in.data, line, s->in.len);
    return atomic_load(&s->n->stop) ? 0 : size * nmemb;
}

static int progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct node *n = ctx;

    return atomic_load(&n->stop) ? 1 : 0;
}

void *node_containers_run(void *arg)
{
    struct node *n = arg;
    CURL *curl = curl_easy_init(), *inspector = curl_easy_init();
    long backoff = 200;

    if (!curl || !inspector) {
        node_log("containers: out of memory");
        goto out;
    }
    while (!atomic_load(&n->stop)) {
        struct stream s = {.n = n, .inspector = inspector};
        char path[512], *filter, *esc;
        time_t since = time(NULL);

        if (reconcile(inspector, n) != 0) {
            node_log("containers: engine at %s does not answer", n->docker_socket);
            if (!node_nap(n, backoff))
                break;
            backoff = backoff < 5000 ? backoff * 2 : 5000;
            continue;
        }
        backoff = 200;
        if (asprintf(&filter, "{\"type\":[\"container\"],\"label\":[\"%s\"]}", n->label) < 0)
            break;
        esc = curl_easy_escape(curl, filter, 0);
        free(filter);
        /* From just before the listing: an event in between is seen twice, never missed. */
        snprintf(path, sizeof path, "/events?since=%lld&filters=%s", (long long)since - 1,
                 esc ? esc : "");
        curl_free(esc);
        engine_setup(curl, n, path, &s.in);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_events);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, n);
        curl_easy_perform(curl);
        free(s.in.data);
        if (!atomic_load(&n->stop)) {
            node_log("containers: the engine's event stream ended; listing again");
            node_nap(n, backoff);
        }
    }
out:
    if (curl)
        curl_easy_cleanup(curl);
    if (inspector)
        curl_easy_cleanup(inspector);
    return NULL;
}

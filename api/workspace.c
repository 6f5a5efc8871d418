/*
 * Project lifecycle over the store and the container engine. The engine
 * is the authority on containers: each action asks it first and writes
 * the store only after it succeeded, so a failed engine call leaves the
 * store as it was. Actions on one project hold that project's stripe of
 * a small mutex array for their whole duration (engine calls included).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/log.h"
#include "api/workspace.h"

/*
 * Lifecycle actions on one project are serialised through one of these
 * mutexes, picked by a hash of the id. Two projects may share a stripe and
 * then wait for each other; with 64 stripes that is rare and harmless.
 */
#define LOCK_STRIPES 64

static pthread_mutex_t stripes[LOCK_STRIPES] = {[0 ... LOCK_STRIPES - 1] =
                                                    PTHREAD_MUTEX_INITIALIZER};

/* The stripe of @p id (FNV-1a). */
static pthread_mutex_t *stripe_of(const char *id)
{
    uint32_t h = 2166136261u;

    for (const unsigned char *c = (const unsigned char *)id; *c; c++)
        h = (h ^ *c) * 16777619u;
    return &stripes[h % LOCK_STRIPES];
}

static void lock_project(const char *id)
{
    pthread_mutex_lock(stripe_of(id));
}

static void unlock_project(const char *id)
{
    pthread_mutex_unlock(stripe_of(id));
}

/* Fill @p id with WORKSPACE_ID_LEN lowercase hex characters from the kernel's CSPRNG. */
static int random_id(char *id)
{
    unsigned char raw[WORKSPACE_ID_LEN / 2];
    size_t got = 0;

    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);

        if (n < 0)
            return EP_E_NOMEM;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* The stored status for what the engine reports of a container. */
static enum ep_status status_of(const struct engine_workspace *w)
{
    if (w->state == ENGINE_STATE_RUNNING)
        return EP_STATUS_RUNNING;
    return strcmp(w->status, "created") == 0 ? EP_STATUS_CREATED : EP_STATUS_STOPPED;
}

/*
 * Map the engine-given address @p ip to project @p id. The engine is the
 * authority on who holds an address now: if the store still gives it to
 * another project (one that stopped or vanished behind our back), that
 * stale mapping is dropped first.
 */
static int map_ip(struct api_ctx *ctx, const char *ip, const char *id)
{
    unsigned char addr[sizeof(struct in6_addr)];
    char canon[EP_IP_MAX + 1];
    struct ep_store_read *rd = NULL;
    struct ep_client holder;
    int err;

    if (inet_pton(AF_INET, ip, addr) == 1)
        inet_ntop(AF_INET, addr, canon, sizeof canon);
    else if (inet_pton(AF_INET6, ip, addr) == 1)
        inet_ntop(AF_INET6, addr, canon, sizeof canon);
    else {
        log_line("workspace %s: the engine gave the address \"%s\", which is not an IP", id, ip);
        return EP_E_INVAL;
    }
    err = ep_store_client_map(ctx->store, canon, id);
    if (err != EP_E_CONFLICT)
        return err;
    err = ep_store_read_begin(ctx->store, &rd);
    if (err == 0)
        err = ep_store_read_client(rd, canon, &holder);
    ep_store_read_end(rd);
    if (err)
        return err == EP_E_NOTFOUND ? ep_store_client_map(ctx->store, canon, id) : err;
    log_line("workspace %s: %s was still mapped to project %s; the engine gave it to %s now", id,
             canon, holder.project_id, id);
    err = ep_store_client_unmap(ctx->store, holder.project_id);
    if (err == 0 || err == EP_E_NOTFOUND)
        err = ep_store_client_map(ctx->store, canon, id);
    return err;
}

/*
 * An action was told the container of project @p id does not exist.
 * An inspect confirms it first, so a project is never marked not_found
 * while the engine still has its container; then status not_found, no IP
 * (the address may go to another workspace), the project stays.
 * ENGINE_E_NOTFOUND when it was gone; ENGINE_E_REFUSED when the engine
 * still has it or cannot tell (the action's message in @p errbuf stands).
 */
static int mark_not_found(struct api_ctx *ctx, const char *id, const char *errbuf)
{
    char why[ENGINE_ERRBUF_SIZE] = "";
    struct engine_workspace w;
    struct ep_project q;
    int rc;

    rc = engine_inspect(ctx->engine, id, &w, why);
    if (rc != ENGINE_E_NOTFOUND) {
        log_line("workspace %s: the engine said its container is gone (%s), but an inspect %s%s; "
                 "the project is left as it is",
                 id, errbuf ? errbuf : "",
                 rc == 0 ? "finds it" : "could not tell: ", rc == 0 ? "" : why);
        return ENGINE_E_REFUSED;
    }
    rc = ep_store_project_get(ctx->store, id, &q);
    if (rc == 0) {
        q.status = EP_STATUS_NOT_FOUND;
        q.container_id[0] = '\0';
        rc = ep_store_project_update(ctx->store, &q);
    }
    if (rc == 0)
        rc = ep_store_client_unmap(ctx->store, id);
    if (rc && rc != EP_E_NOTFOUND)
        log_line("workspace %s: recording that its container is gone: %s", id, ep_strerror(rc));
    else
        log_line("workspace %s: its container is gone; project marked not_found", id);
    return ENGINE_E_NOTFOUND;
}

/*
 * Store @p status for project @p id (reloaded under the caller's lock, so
 * nothing another action changed is overwritten) and read it back into @p p.
 */
static int store_status(struct api_ctx *ctx, struct ep_project *p, enum ep_status status)
{
    struct ep_project q;
    int err = ep_store_project_get(ctx->store, p->id, &q);

    if (err)
        return err;
    q.status = status;
    err = ep_store_project_update(ctx->store, &q);
    return err ? err : ep_store_project_get(ctx->store, p->id, p);
}

/* Counts the projects of a walk (the early limit check of workspace_create()). */
static int count_one(void *arg, const struct ep_project *p)
{
    (void)p;
    (*(unsigned *)arg)++;
    return 0;
}

/*
 * With an engine: pick a free id, create the container (the password only
 * goes into its auth file), then store the project; if the store refuses
 * (the project limit reached meanwhile, a full store) the container and
 * its volume are removed again. A limit already reached is refused before
 * any container is made.
 */
int workspace_create(struct api_ctx *ctx, struct ep_project *p, const char *password, char *errbuf)
{
    char container[ENGINE_CONTAINER_MAX + 1];
    struct ep_project existing;
    unsigned count = 0;
    int err = EP_E_EXISTS, rc;

    p->status = EP_STATUS_CREATED;
    p->ip[0] = '\0';
    p->container_id[0] = '\0';
    if (ctx->engine == NULL) {
        /* 48 random bits: a collision is rare, and retried rather than assumed away. */
        for (int attempt = 0; attempt < 5 && err == EP_E_EXISTS; attempt++) {
            err = random_id(p->id);
            if (err == 0)
                err = ep_store_project_create(ctx->store, p, ctx->cfg->max_projects);
        }
        return err;
    }
    if (ctx->cfg->max_projects > 0) {
        err = ep_store_projects_list(ctx->store, count_one, &count);
        if (err)
            return err;
        if (count >= ctx->cfg->max_projects)
            return EP_E_LIMIT;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        err = random_id(p->id);
        if (err)
            return err;
        err = ep_store_project_get(ctx->store, p->id, &existing);
        if (err == EP_E_NOTFOUND)
            break;
        if (err)
            return err;
        err = EP_E_EXISTS;
    }
    if (err != EP_E_NOTFOUND)
        return err;
    lock_project(p->id);
    rc = engine_create(ctx->engine, p->id, p->memory_bytes, p->nano_cpus, password, container,
                       errbuf);
    if (rc) {
        err = rc;
        goto out;
    }
    snprintf(p->container_id, sizeof p->container_id, "%s", container);
    err = ep_store_project_create(ctx->store, p, ctx->cfg->max_projects);
    if (err) {
        rc = engine_remove(ctx->engine, p->id, true, NULL);
        if (rc)
            log_line("workspace %s: removing the container after a failed store write: %s", p->id,
                     engine_strerror(rc));
        p->container_id[0] = '\0';
    }
out:
    unlock_project(p->id);
    return err;
}

/*
 * Start, then map the IP the engine reports. A workspace whose address
 * cannot be mapped would run unknown to the ICAP service (denied
 * everything or, worse, recorded nowhere): it is stopped again.
 */
int workspace_start(struct api_ctx *ctx, struct ep_project *p, char *errbuf)
{
    char ip[ENGINE_IP_MAX + 1] = "";
    int err = 0;

    lock_project(p->id);
    if (ctx->engine) {
        /* The CA files first (logging projects trust the capture CA, no other does). */
        err = engine_write_ca(ctx->engine, p->id, p->mode == EP_MODE_LOGGING, errbuf);
        if (err == 0)
            err = engine_start(ctx->engine, p->id, ip, errbuf);
        if (err == ENGINE_E_NOTFOUND)
            err = mark_not_found(ctx, p->id, errbuf);
        if (err)
            goto out;
        if (ip[0]) {
            err = map_ip(ctx, ip, p->id);
        } else {
            log_line("workspace %s: running without an address on the workspace network", p->id);
            err = ep_store_client_unmap(ctx->store, p->id);
        }
        if (err) {
            int rc = engine_stop(ctx->engine, p->id, NULL);

            if (rc)
                log_line("workspace %s: stopping it after a failed IP mapping: %s", p->id,
                         engine_strerror(rc));
            goto out;
        }
    }
    err = store_status(ctx, p, EP_STATUS_RUNNING);
out:
    unlock_project(p->id);
    return err;
}

/*
 * Stop, then drop the mapping: the address goes back to the engine's pool.
 * Without an engine the mapping was made by an admin for a host the API
 * does not run, so it stays.
 */
int workspace_stop(struct api_ctx *ctx, struct ep_project *p, char *errbuf)
{
    int err = 0;

    lock_project(p->id);
    if (ctx->engine) {
        err = engine_stop(ctx->engine, p->id, errbuf);
        if (err == ENGINE_E_NOTFOUND)
            err = mark_not_found(ctx, p->id, errbuf);
        if (err == 0)
            err = ep_store_client_unmap(ctx->store, p->id);
        if (err)
            goto out;
    }
    err = store_status(ctx, p, EP_STATUS_STOPPED);
out:
    unlock_project(p->id);
    return err;
}

/* The container first (a missing one is fine), then the project with its mapping and records. */
int workspace_delete(struct api_ctx *ctx, const struct ep_project *p, bool purge_volume,
                     char *errbuf)
{
    int err = 0;

    lock_project(p->id);
    if (ctx->engine) {
        err = engine_remove(ctx->engine, p->id, purge_volume, errbuf);
        if (err == ENGINE_E_NOTFOUND)
            err = 0;
        if (err)
            goto out;
    }
    err = ep_store_project_delete(ctx->store, p->id);
out:
    unlock_project(p->id);
    return err;
}

/*
 * The engine writes the auth file (restarting a running workspace); only
 * then is the hash stored, and the workspace's possibly new IP mapped.
 */
int workspace_set_password(struct api_ctx *ctx, struct ep_project *p, const char *password,
                           const char *hash, char *errbuf)
{
    char ip[ENGINE_IP_MAX + 1] = "";
    struct ep_project q;
    int err = 0;

    lock_project(p->id);
    if (ctx->engine) {
        err = engine_write_auth(ctx->engine, p->id, password, ip, errbuf);
        if (err == ENGINE_E_NOTFOUND)
            err = mark_not_found(ctx, p->id, errbuf);
        if (err)
            goto out;
    }
    err = ep_store_project_get(ctx->store, p->id, &q);
    if (err == 0) {
        snprintf(q.password_hash, sizeof q.password_hash, "%s", hash ? hash : "");
        err = ep_store_project_update(ctx->store, &q);
    }
    if (err) {
        if (ctx->engine)
            log_line("workspace %s: the auth file was written but the store refused the new "
                     "hash: %s",
                     p->id, ep_strerror(err));
        goto out;
    }
    if (ip[0]) {
        err = map_ip(ctx, ip, p->id);
        if (err)
            goto out;
    }
    err = ep_store_project_get(ctx->store, p->id, p);
out:
    unlock_project(p->id);
    return err;
}

int workspace_set_ip(struct api_ctx *ctx, struct ep_project *p, const char *ip)
{
    int err;

    lock_project(p->id);
    err =
        ip ? ep_store_client_map(ctx->store, ip, p->id) : ep_store_client_unmap(ctx->store, p->id);
    if (err == 0)
        err = ep_store_project_get(ctx->store, p->id, p);
    unlock_project(p->id);
    return err;
}

void workspace_lock(const char *id)
{
    lock_project(id);
}

void workspace_unlock(const char *id)
{
    unlock_project(id);
}

int workspace_set_mode(struct api_ctx *ctx, struct ep_project *p, enum ep_mode mode)
{
    struct ep_project q;
    int err;

    lock_project(p->id);
    err = ep_store_project_get(ctx->store, p->id, &q);
    if (err == 0) {
        q.mode = (uint32_t)mode;
        err = ep_store_project_update(ctx->store, &q);
    }
    /* The workspace's CA files follow the mode (new processes see them); its next start retries. */
    if (err == 0 && ctx->engine) {
        char why[ENGINE_ERRBUF_SIZE] = "";
        int rc = engine_write_ca(ctx->engine, p->id, mode == EP_MODE_LOGGING, why);

        if (rc && rc != ENGINE_E_NOTFOUND)
            log_line("workspace %s: writing the CA files for mode %s: %s (%s)", p->id,
                     ep_mode_name(mode), engine_strerror(rc), why);
    }
    if (err == 0)
        err = ep_store_project_get(ctx->store, p->id, p);
    unlock_project(p->id);
    return err;
}

struct workspace_states {
    struct engine_workspace *list; /* sorted by project id */
    size_t count;
};

static int by_project(const void *a, const void *b)
{
    const struct engine_workspace *x = a, *y = b;

    return strcmp(x->project_id, y->project_id);
}

/* The engine's entry for project @p id, or NULL. */
static const struct engine_workspace *states_find(const struct workspace_states *s, const char *id)
{
    struct engine_workspace key;

    if (s->count == 0)
        return NULL;
    snprintf(key.project_id, sizeof key.project_id, "%s", id);
    return bsearch(&key, s->list, s->count, sizeof *s->list, by_project);
}

/* One engine_list, sorted for lookups. Engine errors are returned, with @p errbuf filled. */
static int states_load(struct api_ctx *ctx, struct workspace_states **out, char *errbuf)
{
    struct workspace_states *s;
    int rc;

    *out = NULL;
    s = ep_calloc(1, sizeof *s);
    if (s == NULL)
        return ENOMEM;
    rc = engine_list(ctx->engine, &s->list, &s->count, errbuf);
    if (rc) {
        free(s);
        return rc;
    }
    if (s->count > 1)
        qsort(s->list, s->count, sizeof *s->list, by_project);
    *out = s;
    return 0;
}

void workspace_states_fetch(struct api_ctx *ctx, struct workspace_states **out)
{
    char errbuf[ENGINE_ERRBUF_SIZE] = "";
    int rc;

    *out = NULL;
    if (ctx->engine == NULL)
        return;
    rc = states_load(ctx, out, errbuf);
    if (rc)
        log_line("listing workspaces: %s (%s); showing the stored statuses", engine_strerror(rc),
                 errbuf);
}

void workspace_states_apply(const struct workspace_states *states, struct ep_project *p)
{
    const struct engine_workspace *w;

    if (states == NULL)
        return;
    w = states_find(states, p->id);
    if (w == NULL) {
        p->status = EP_STATUS_NOT_FOUND;
        return;
    }
    p->status = status_of(w);
    snprintf(p->container_id, sizeof p->container_id, "%s", w->container_id);
}

void workspace_states_free(struct workspace_states *states)
{
    if (states == NULL)
        return;
    engine_list_free(states->list);
    free(states);
}

void workspace_refresh(struct api_ctx *ctx, struct ep_project *p)
{
    char errbuf[ENGINE_ERRBUF_SIZE] = "";
    struct engine_workspace w;
    int rc;

    if (ctx->engine == NULL)
        return;
    rc = engine_inspect(ctx->engine, p->id, &w, errbuf);
    if (rc == ENGINE_E_NOTFOUND) {
        p->status = EP_STATUS_NOT_FOUND;
    } else if (rc) {
        log_line("workspace %s: %s (%s); showing the stored status", p->id, engine_strerror(rc),
                 errbuf);
    } else {
        p->status = status_of(&w);
        snprintf(p->container_id, sizeof p->container_id, "%s", w.container_id);
    }
}

/* The ids of every stored project, collected first: the walk's read txn must end before writes. */
struct id_list {
    char (*ids)[EP_ID_MAX + 1];
    size_t count, cap;
};

static int collect_id(void *arg, const struct ep_project *p)
{
    struct id_list *l = arg;

    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char(*grown)[EP_ID_MAX + 1] = ep_realloc(l->ids, cap * sizeof *l->ids);

        if (grown == NULL)
            return EP_E_NOMEM;
        l->ids = grown;
        l->cap = cap;
    }
    snprintf(l->ids[l->count++], EP_ID_MAX + 1, "%s", p->id);
    return 0;
}

/* Bring one project in line with the engine's entry @p w (NULL: no container). */
static int reconcile_one(struct api_ctx *ctx, const char *id, const struct engine_workspace *w)
{
    struct ep_project q;
    int err = ep_store_project_get(ctx->store, id, &q);

    if (err)
        return err;
    if (w == NULL) {
        if (q.status != EP_STATUS_NOT_FOUND)
            log_line("workspace %s: no container; project marked not_found", id);
        q.status = EP_STATUS_NOT_FOUND;
        q.container_id[0] = '\0';
    } else {
        q.status = status_of(w);
        snprintf(q.container_id, sizeof q.container_id, "%s", w->container_id);
    }
    err = ep_store_project_update(ctx->store, &q);
    if (err)
        return err;
    if (w && w->state == ENGINE_STATE_RUNNING && w->ip[0])
        return map_ip(ctx, w->ip, id);
    return ep_store_client_unmap(ctx->store, id);
}

/*
 * One engine_list, then each project in turn under its lock. A failure on
 * one project is logged and the others are still reconciled; the first
 * error is returned.
 */
int workspace_reconcile(struct api_ctx *ctx)
{
    char errbuf[ENGINE_ERRBUF_SIZE] = "";
    struct workspace_states *states = NULL;
    struct id_list ids = {0};
    unsigned running = 0, stopped = 0, missing = 0, orphans = 0;
    int first = 0, err;

    if (ctx->engine == NULL)
        return 0;
    err = states_load(ctx, &states, errbuf);
    if (err) {
        log_line("reconciling with the engine: %s (%s)", engine_strerror(err), errbuf);
        return err;
    }
    err = ep_store_projects_list(ctx->store, collect_id, &ids);
    if (err) {
        log_line("reconciling with the engine: listing projects: %s", ep_strerror(err));
        first = err;
        goto out;
    }
    for (size_t i = 0; i < ids.count; i++) {
        const struct engine_workspace *w = states_find(states, ids.ids[i]);

        lock_project(ids.ids[i]);
        err = reconcile_one(ctx, ids.ids[i], w);
        unlock_project(ids.ids[i]);
        if (err) {
            log_line("workspace %s: reconciling: %s", ids.ids[i], ep_strerror(err));
            if (first == 0)
                first = err;
        }
        if (w == NULL)
            missing++;
        else if (w->state == ENGINE_STATE_RUNNING)
            running++;
        else
            stopped++;
    }
    for (size_t i = 0; i < states->count; i++) {
        struct ep_project q;
        const char *id = states->list[i].project_id;

        if (ep_store_project_get(ctx->store, id, &q) == EP_E_NOTFOUND) {
            log_line("container workspace-%s carries our labels but project %s does not exist; "
                     "left alone",
                     id, id);
            orphans++;
        }
    }
    log_line("reconciled %zu projects with the engine: %u running, %u stopped, %u not_found; "
             "%u containers without a project",
             ids.count, running, stopped, missing, orphans);
out:
    free(ids.ids);
    workspace_states_free(states);
    return first;
}

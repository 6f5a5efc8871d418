/*
 * The swarm backend (ENGINE_KIND_SWARM): egress-api talks to a Docker
 * Swarm manager's engine, and every workspace is a one-replica service
 * `workspace-<id>` with the hardening of the single engine (engine.h,
 * "Swarm"). Start and stop scale the service to 1 and 0 and wait for its
 * task; the password file is a swarm secret, replaced (never edited: the
 * engine keeps secrets immutable) on every change.
 *
 * What the manager does not know: a swarm-scoped bridge's addresses are
 * given by each node's own engine, so the task list carries none. When
 * cfg.swarm_node_engines names the engine of the task's node, the address
 * (and the project directory's owner) is handled there, through the single
 * engine's plumbing; otherwise the address is "" and the node's egress-node
 * maps it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "api/engine_client.h"
#include "policy/error.h"

#define POLL_MS 100 /* how often a wait asks the manager about the tasks */

/* The engine of one node, as cfg.swarm_node_engines names it. */
struct swarm_node {
    char name[128];
    struct engine engine; /* the single engine's plumbing on that node's socket */
};

struct swarm {
    size_t count;
    struct swarm_node nodes[];
};

/* ---- the manager's answers ---- */

/* GET a JSON answer of the manager; 404 saying "not found" is ENGINE_E_NOTFOUND. */
static int manager_get(struct engine *e, const char *path, const char *what, json_t **root,
                       char *errbuf)
{
    struct response r;
    int rc = eng_request(e, "GET", path, true, NULL, 0, &r, errbuf);

    *root = NULL;
    if (rc == 0 && r.status == 404 && eng_message_says(&r, "not found")) {
        eng_message(&r, what, errbuf);
        rc = ENGINE_E_NOTFOUND;
    } else if (rc == 0 && r.status != 200) {
        eng_message(&r, what, errbuf);
        rc = ENGINE_E_REFUSED;
    } else if (rc == 0) {
        *root = json_loadb(r.data, r.len, 0, NULL);
        if (*root == NULL) {
            eng_errbuf_set(errbuf, "%s: the answer is not JSON", what);
            rc = ENGINE_E_PROTOCOL;
        }
    }
    eng_response_free(&r);
    return rc;
}

/* A query string's filters argument: {"KEY":["VALUE"]}, URL-escaped into @p out. */
static int filter_arg(const char *key, const char *value, char *out, size_t size)
{
    json_t *f = json_pack("{s:[s]}", key, value);
    char *text = f ? json_dumps(f, JSON_COMPACT) : NULL, *esc = NULL;
    int rc = ENOMEM;

    if (text != NULL)
        esc = curl_easy_escape(NULL, text, 0);
    if (esc != NULL && strlen(esc) < size) {
        snprintf(out, size, "%s", esc);
        rc = 0;
    }
    curl_free(esc);
    free(text);
    json_decref(f);
    return rc;
}

static int service_get(struct engine *e, const char *project_id, json_t **service, char *errbuf)
{
    char name[96], volume[96], path[160];

    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    snprintf(path, sizeof path, "/services/%s", name);
    return manager_get(e, path, "looking up the workspace service", service, errbuf);
}

/* The service's tasks the manager wants running (at most one: one replica). */
static int tasks_wanted(struct engine *e, const char *service_id, json_t **tasks, char *errbuf)
{
    char path[512], filter[256];
    json_t *all = NULL, *task;
    size_t i;
    int rc;

    *tasks = NULL;
    rc = filter_arg("service", service_id, filter, sizeof filter);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "/tasks?filters=%s", filter);
    rc = manager_get(e, path, "listing the workspace's tasks", &all, errbuf);
    if (rc != 0)
        return rc;
    *tasks = json_array();
    if (*tasks == NULL) {
        json_decref(all);
        return ENOMEM;
    }
    /* A stopped service's old tasks stay listed, desired "shutdown": leave them out. */
    json_array_foreach(all, i, task)
    {
        const char *want = json_string_value(json_object_get(task, "DesiredState"));

        if (want != NULL && strcmp(want, "running") == 0 && json_array_append(*tasks, task) != 0)
            rc = ENOMEM;
    }
    json_decref(all);
    if (rc != 0) {
        json_decref(*tasks);
        *tasks = NULL;
    }
    return rc;
}

static const char *task_state(json_t *task)
{
    const char *s = json_string_value(json_object_get(json_object_get(task, "Status"), "State"));

    return s ? s : "";
}

/* A task state from which it never runs: the start failed. */
static bool state_failed(const char *s)
{
    return strcmp(s, "failed") == 0 || strcmp(s, "rejected") == 0 || strcmp(s, "orphaned") == 0;
}

/* ---- the nodes' own engines ---- */

/* The name of the node @p node_id: its ENGINE_SWARM_NODE_LABEL label, else its hostname. */
static int node_name(struct engine *e, const char *node_id, char *name, size_t size, char *errbuf)
{
    json_t *node = NULL;
    char path[160];
    const char *s;
    int rc;

    snprintf(path, sizeof path, "/nodes/%s", node_id);
    rc = manager_get(e, path, "looking up the workspace's node", &node, errbuf);
    if (rc != 0)
        return rc;
    s = json_string_value(json_object_get(json_object_get(json_object_get(node, "Spec"), "Labels"),
                                          ENGINE_SWARM_NODE_LABEL));
    if (s == NULL)
        s = json_string_value(json_object_get(json_object_get(node, "Description"), "Hostname"));
    snprintf(name, size, "%s", s ? s : "");
    json_decref(node);
    return 0;
}

/* The engine of the node that runs @p task, or NULL when none is configured for it. */
static struct engine *task_node_engine(struct engine *e, json_t *task, char *errbuf)
{
    struct swarm *s = e->backend;
    const char *node_id = json_string_value(json_object_get(task, "NodeID"));
    char name[128];
    size_t i;

    if (s->count == 0 || node_id == NULL || node_name(e, node_id, name, sizeof name, errbuf) != 0)
        return NULL;
    for (i = 0; i < s->count; i++)
        if (strcmp(s->nodes[i].name, name) == 0)
            return &s->nodes[i].engine;
    return NULL;
}

/* The id of @p task's container, NULL while it has none. */
static const char *task_container(json_t *task)
{
    const char *id = json_string_value(json_object_get(
        json_object_get(json_object_get(task, "Status"), "ContainerStatus"), "ContainerID"));

    return id != NULL && id[0] != '\0' ? id : NULL;
}

/* The address of @p task's container on cfg.network, read on its node ("" when unknown). */
static void task_ip(struct engine *e, json_t *task, char ip[ENGINE_IP_MAX + 1])
{
    struct engine *node = task_node_engine(e, task, NULL);
    const char *container = task_container(task);
    json_t *root = NULL;
    char path[160];

    ip[0] = '\0';
    if (node == NULL || container == NULL)
        return;
    snprintf(path, sizeof path, "/containers/%s/json", container);
    if (eng_get_json(node, path, true, "inspecting the workspace container", &root, NULL) == 0)
        eng_ip_from_networks(
            e, json_object_get(json_object_get(root, "NetworkSettings"), "Networks"), ip);
    json_decref(root);
}

/* ---- waiting for the task ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until the service's wanted task runs (and, with @p secret_id, is one
 * made after the service got that secret); *@p running receives it. A task
 * that failed or was rejected ends the wait with its error.
 */
static int wait_running(struct engine *e, const char *service_id, const char *secret_id,
                        json_t **running, char *errbuf)
{
    long deadline = now_ms() + e->cfg.timeout_ms;
    json_t *tasks = NULL, *task;
    int rc;

    *running = NULL;
    for (;;) {
        size_t i;

        rc = tasks_wanted(e, service_id, &tasks, errbuf);
        if (rc != 0)
            return rc;
        json_array_foreach(tasks, i, task)
        {
            const char *state = task_state(task);
            json_t *secrets = json_object_get(
                json_object_get(json_object_get(task, "Spec"), "ContainerSpec"), "Secrets");
            const char *has =
                json_string_value(json_object_get(json_array_get(secrets, 0), "SecretID"));
            const char *err =
                json_string_value(json_object_get(json_object_get(task, "Status"), "Err"));

            if (secret_id != NULL && (has == NULL || strcmp(has, secret_id) != 0))
                continue;
            if (strcmp(state, "running") == 0) {
                *running = json_incref(task);
                json_decref(tasks);
                return 0;
            }
            /* No node may take it (constraints, resources): say so now, not at the deadline. */
            if (strcmp(state, "pending") == 0 && err != NULL && strstr(err, "no suitable node")) {
                eng_errbuf_set(errbuf, "the workspace's task cannot be placed: %s", err);
                json_decref(tasks);
                return ENGINE_E_REFUSED;
            }
            if (state_failed(state)) {
                eng_errbuf_set(errbuf, "the workspace's task %s: %s", state,
                               err ? err : "(no message)");
                rc = err && strstr(err, "network") && strstr(err, "not found")
                         ? eng_network_missing(e, NULL, NULL, errbuf)
                         : ENGINE_E_REFUSED;
                json_decref(tasks);
                return rc;
            }
        }
        json_decref(tasks);
        tasks = NULL;
        if (now_ms() > deadline) {
            eng_errbuf_set(errbuf, "the workspace's task did not run within %ld ms",
                           e->cfg.timeout_ms);
            return ENGINE_E_REFUSED;
        }
        sleep_ms(POLL_MS);
    }
}

/* Wait until no task of the service runs any more (after a scale to 0). */
static int wait_stopped(struct engine *e, const char *service_id, char *errbuf)
{
    long deadline = now_ms() + e->cfg.timeout_ms + (long)e->cfg.stop_timeout * 1000;
    char path[512], filter[256];
    json_t *tasks = NULL, *task;
    int rc;

    rc = filter_arg("service", service_id, filter, sizeof filter);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "/tasks?filters=%s", filter);
    for (;;) {
        bool live = false;
        size_t i;

        rc = manager_get(e, path, "listing the workspace's tasks", &tasks, errbuf);
        if (rc != 0)
            return rc;
        json_array_foreach(tasks, i, task)
        {
            const char *s = task_state(task);

            if (strcmp(s, "running") == 0 || strcmp(s, "starting") == 0 ||
                strcmp(s, "preparing") == 0 || strcmp(s, "ready") == 0 ||
                strcmp(s, "assigned") == 0 || strcmp(s, "accepted") == 0)
                live = true;
        }
        json_decref(tasks);
        if (!live)
            return 0;
        if (now_ms() > deadline) {
            eng_errbuf_set(errbuf, "the workspace's task did not end within %ld ms",
                           e->cfg.timeout_ms + (long)e->cfg.stop_timeout * 1000);
            return ENGINE_E_REFUSED;
        }
        sleep_ms(POLL_MS);
    }
}

/* ---- secrets ---- */

/* Labels every object of a project carries. */
static json_t *labels(const char *project_id)
{
    return json_pack("{s:s, s:s}", ENGINE_LABEL_PROJECT, project_id, ENGINE_LABEL_MANAGED_BY,
                     ENGINE_MANAGED_BY);
}

/*
 * A new secret holding the auth file for @p password, named
 * `workspace-<id>-auth-<time>` (the name must be new: secrets are never
 * edited). Its id and name go to @p id and @p name.
 */
static int secret_create(struct engine *e, const char *project_id, const char *password,
                         char id[128], char name[160], char *errbuf)
{
    struct response r = {0};
    struct timespec ts;
    char *content = NULL, *b64 = NULL;
    json_t *body = NULL, *answer = NULL;
    size_t len;
    int rc;

    id[0] = '\0';
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(name, 160, "workspace-%s-auth-%llx", project_id,
             (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
    content = eng_auth_content(password);
    if (content == NULL)
        return ENOMEM;
    len = strlen(content);
    b64 = ep_malloc(4 * ((len + 2) / 3) + 1);
    if (b64 == NULL) {
        rc = ENOMEM;
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)content, (int)len);
    body = json_pack("{s:s, s:s, s:o}", "Name", name, "Data", b64, "Labels", labels(project_id));
    rc = eng_post_json(e, "/secrets/create", body, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 201 && r.status != 200) {
        eng_message(&r, "creating the workspace's password secret", errbuf);
        rc = ENGINE_E_REFUSED;
        goto out;
    }
    answer = json_loadb(r.data, r.len, 0, NULL);
    if (json_string_value(json_object_get(answer, "ID")) == NULL) {
        eng_errbuf_set(errbuf, "creating the password secret: the answer has no id");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    snprintf(id, 128, "%s", json_string_value(json_object_get(answer, "ID")));
out:
    if (content != NULL)
        explicit_bzero(content, len);
    free(content);
    if (b64 != NULL)
        explicit_bzero(b64, strlen(b64));
    free(b64);
    json_decref(body); /* jansson's copy of the base64 text is freed unwiped */
    json_decref(answer);
    eng_response_free(&r);
    return rc;
}

static int secret_remove(struct engine *e, const char *id, char *errbuf)
{
    char path[192];

    snprintf(path, sizeof path, "/secrets/%s", id);
    return eng_request_status(e, "DELETE", path, 0, (const long[]){204, 200, 404, 0},
                              "removing a workspace's password secret", errbuf);
}

/* Remove every secret of @p project_id but @p keep (NULL: all of them). */
static int secrets_remove(struct engine *e, const char *project_id, const char *keep, char *errbuf)
{
    char label[160], filter[256], path[320];
    json_t *list = NULL, *item;
    size_t i;
    int rc;

    snprintf(label, sizeof label, "%s=%s", ENGINE_LABEL_PROJECT, project_id);
    rc = filter_arg("label", label, filter, sizeof filter);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "/secrets?filters=%s", filter);
    rc = manager_get(e, path, "listing the workspace's secrets", &list, errbuf);
    json_array_foreach(list, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "ID"));

        if (rc == 0 && id != NULL && (keep == NULL || strcmp(id, keep) != 0))
            rc = secret_remove(e, id, errbuf);
    }
    json_decref(list);
    return rc;
}

/* ---- the service ---- */

/* "1G" (digits and an optional k, m or g; checked by engine.c) in bytes. */
static json_int_t size_bytes(const char *s)
{
    char *end;
    unsigned long long n = strtoull(s, &end, 10);

    switch (*end) {
    case 'k':
    case 'K':
        return (json_int_t)(n << 10);
    case 'm':
    case 'M':
        return (json_int_t)(n << 20);
    case 'g':
    case 'G':
        return (json_int_t)(n << 30);
    default:
        return (json_int_t)n;
    }
}

/* The secret reference of the auth file: at cfg.auth_path, 0600, owned by uid:gid. */
static json_t *secret_ref(const struct engine *e, const char *id, const char *name)
{
    char uid[16], gid[16];

    snprintf(uid, sizeof uid, "%u", e->cfg.uid);
    snprintf(gid, sizeof gid, "%u", e->cfg.gid);
    return json_pack("[{s:{s:s, s:s, s:s, s:i}, s:s, s:s}]", "File", "Name", e->cfg.auth_path,
                     "UID", uid, "GID", gid, "Mode", 0600, "SecretID", id, "SecretName", name);
}

/*
 * The spec of POST /services/create: the single engine's hardening in a
 * swarm's words (see create_body() in engine_docker.c for why each item).
 * The tmpfs mount is noexec,nosuid,nodev by the engine's own default;
 * RestartPolicy on-failure (3 attempts) keeps a crashing workspace from
 * restarting for ever, and one that exits on its own stays stopped.
 */
static json_t *service_spec(const struct engine *e, const char *project_id, uint64_t memory,
                            uint64_t nano_cpus, const char *secret_id, const char *secret_name)
{
    const struct engine_config *c = &e->cfg;
    char name[96], volume[96];
    json_t *spec, *container, *env = eng_workspace_env(e), *caps = eng_string_array(c->cap_add);
    json_t *constraints = eng_string_array(c->swarm_constraints);
    json_t *secrets = secret_ref(e, secret_id, secret_name);

    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    if (env == NULL || caps == NULL || constraints == NULL || secrets == NULL) {
        json_decref(env);
        json_decref(caps);
        json_decref(constraints);
        json_decref(secrets);
        return NULL;
    }
    container = json_pack(
        "{s:s, s:s, s:o, s:o, s:[{s:s, s:s, s:s, s:{s:o}}, {s:s, s:s, s:{s:I}}], s:[s], s:o, "
        "s:o, s:I}",
        "Image", c->image, "User", e->user, "Env", env, "Labels", labels(project_id), "Mounts",
        "Type", "volume", "Source", volume, "Target", c->project_dir, "VolumeOptions", "Labels",
        labels(project_id), "Type", "tmpfs", "Target", "/tmp", "TmpfsOptions", "SizeBytes",
        size_bytes(c->tmp_size), "CapabilityDrop", "ALL", "CapabilityAdd", caps, "Secrets", secrets,
        "StopGracePeriod", (json_int_t)c->stop_timeout * 1000000000LL);
    if (container != NULL && c->command != NULL) {
        json_t *args = eng_string_array(c->command);

        if (args == NULL || json_object_set_new(container, "Args", args) != 0) {
            json_decref(container);
            container = NULL;
        }
    }
    if (container == NULL) {
        json_decref(constraints);
        return NULL;
    }
    spec = json_pack(
        "{s:s, s:o, s:{s:o, s:{s:{s:I, s:I, s:I}, s:{s:I}}, s:{s:s, s:i}, "
        "s:{s:o}, s:[{s:s}]}, s:{s:{s:i}}}",
        "Name", name, "Labels", labels(project_id), "TaskTemplate", "ContainerSpec", container,
        "Resources", "Limits", "NanoCPUs", (json_int_t)nano_cpus, "MemoryBytes", (json_int_t)memory,
        "Pids", (json_int_t)c->pids_limit, "Reservations", "MemoryBytes", (json_int_t)(memory / 2),
        "RestartPolicy", "Condition", "on-failure", "MaxAttempts", 3, "Placement", "Constraints",
        constraints, "Networks", "Target", c->network, "Mode", "Replicated", "Replicas", 0);
    return spec;
}

/*
 * POST /services/{id}/update with @p spec at the version read with it.
 * The engine refuses an update at an older version (someone else changed
 * the service meanwhile): that is ENGINE_E_REFUSED with its message.
 */
static int service_update(struct engine *e, json_t *service, json_t *spec, char *errbuf)
{
    struct response r = {0};
    char path[192];
    const char *id = json_string_value(json_object_get(service, "ID"));
    json_int_t version =
        json_integer_value(json_object_get(json_object_get(service, "Version"), "Index"));
    int rc;

    snprintf(path, sizeof path, "/services/%s/update?version=%lld", id ? id : "",
             (long long)version);
    rc = eng_post_json(e, path, spec, &r, errbuf);
    if (rc == 0 && r.status != 200) {
        eng_message(&r, "updating the workspace service", errbuf);
        rc = r.status == 404 && eng_message_says(&r, "not found") ? ENGINE_E_NOTFOUND
                                                                  : ENGINE_E_REFUSED;
    }
    eng_response_free(&r);
    return rc;
}

static json_int_t replicas_of(json_t *service)
{
    return json_integer_value(json_object_get(
        json_object_get(json_object_get(json_object_get(service, "Spec"), "Mode"), "Replicated"),
        "Replicas"));
}

/* Scale the service to @p replicas (nothing when it is there already). */
static int service_scale(struct engine *e, json_t *service, int replicas, char *errbuf)
{
    json_t *spec = json_deep_copy(json_object_get(service, "Spec"));
    int rc;

    if (replicas_of(service) == replicas) {
        json_decref(spec);
        return 0;
    }
    if (spec == NULL ||
        json_object_set_new(spec, "Mode",
                            json_pack("{s:{s:i}}", "Replicated", "Replicas", replicas)) != 0) {
        json_decref(spec);
        return ENOMEM;
    }
    rc = service_update(e, service, spec, errbuf);
    json_decref(spec);
    return rc;
}

/* ---- the operations ---- */

static int swarm_network_check(struct engine *e, char *errbuf)
{
    char path[256], *esc;
    json_t *net = NULL;
    const char *scope;
    int rc = eng_network_check(e, errbuf);

    if (rc != 0)
        return rc;
    esc = curl_easy_escape(NULL, e->cfg.network, 0);
    if (esc == NULL)
        return ENOMEM;
    snprintf(path, sizeof path, "/networks/%s", esc);
    curl_free(esc);
    rc = manager_get(e, path, "looking up the workspace network", &net, errbuf);
    scope = json_string_value(json_object_get(net, "Scope"));
    if (rc == 0 && (scope == NULL || strcmp(scope, "swarm") != 0)) {
        eng_errbuf_set(errbuf,
                       "the workspace network %s is %s-scoped: a swarm needs a swarm-scoped "
                       "network (on each node `docker network create --config-only --subnet "
                       "172.30.N.0/24 %s-cfg`, then on a manager `docker network create -d "
                       "bridge --scope swarm --config-from %s-cfg %s`; docs/cluster.md)",
                       e->cfg.network, scope ? scope : "(unknown)", e->cfg.network, e->cfg.network,
                       e->cfg.network);
        rc = ENGINE_E_NONETWORK;
    }
    json_decref(net);
    return rc;
}

static int swarm_create(struct engine *e, const char *project_id, uint64_t memory_bytes,
                        uint64_t nano_cpus, const char *password,
                        char container_id[ENGINE_CONTAINER_MAX + 1], char *errbuf)
{
    struct response r = {0};
    char secret_id[128], secret_name[160];
    json_t *spec = NULL, *answer = NULL;
    const char *id;
    int rc;

    rc = swarm_network_check(e, errbuf);
    if (rc != 0)
        return rc;
    rc = secret_create(e, project_id, password, secret_id, secret_name, errbuf);
    if (rc != 0)
        return rc;
    spec = service_spec(e, project_id, memory_bytes, nano_cpus, secret_id, secret_name);
    rc = eng_post_json(e, "/services/create", spec, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 201 && r.status != 200) {
        eng_message(&r, "creating the workspace service", errbuf);
        rc = r.status == 409 || eng_message_says(&r, "already exists") ? ENGINE_E_CONFLICT
             : eng_message_says_no_network(&r)                         ? eng_network_missing(e, &r,
                                                                                             "creating the "
                                                                                                                     "workspace service",
                                                                                             errbuf)
                                                                       : ENGINE_E_REFUSED;
        goto out;
    }
    answer = json_loadb(r.data, r.len, 0, NULL);
    id = json_string_value(json_object_get(answer, "ID"));
    if (id == NULL || strlen(id) > ENGINE_CONTAINER_MAX) {
        eng_errbuf_set(errbuf, "creating the workspace service: the answer has no id");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    snprintf(container_id, ENGINE_CONTAINER_MAX + 1, "%s", id);
out:
    /* A service made by this call has its secret; a refused one leaves it unused: gone. */
    if (rc != 0)
        secret_remove(e, secret_id, NULL);
    json_decref(answer);
    json_decref(spec);
    eng_response_free(&r);
    return rc;
}

/*
 * After the task runs: its address, read on its node, and the project
 * directory handed to uid:gid there (a fresh volume is root's), when the
 * node's engine is configured.
 */
static int task_ready(struct engine *e, json_t *task, char ip[ENGINE_IP_MAX + 1], char *errbuf)
{
    struct engine *node = task_node_engine(e, task, NULL);
    const char *container = task_container(task);
    int rc;

    ip[0] = '\0';
    if (node == NULL || container == NULL)
        return 0;
    rc = eng_project_dir_own(node, container, errbuf);
    if (rc == 0)
        task_ip(e, task, ip);
    return rc;
}

static int swarm_start(struct engine *e, const char *project_id, char ip[ENGINE_IP_MAX + 1],
                       char *errbuf)
{
    json_t *service = NULL, *task = NULL;
    int rc;

    rc = service_get(e, project_id, &service, errbuf);
    if (rc == 0)
        rc = service_scale(e, service, 1, errbuf);
    if (rc == 0)
        rc =
            wait_running(e, json_string_value(json_object_get(service, "ID")), NULL, &task, errbuf);
    if (rc == 0)
        rc = task_ready(e, task, ip, errbuf);
    /* A start that failed leaves no replica wanted, or it would start later on its own. */
    if (rc != 0 && service != NULL) {
        json_t *now = NULL;

        if (service_get(e, project_id, &now, NULL) == 0)
            service_scale(e, now, 0, NULL);
        json_decref(now);
    }
    json_decref(task);
    json_decref(service);
    return rc;
}

static int swarm_stop(struct engine *e, const char *project_id, char *errbuf)
{
    json_t *service = NULL;
    int rc;

    rc = service_get(e, project_id, &service, errbuf);
    if (rc == 0)
        rc = service_scale(e, service, 0, errbuf);
    if (rc == 0)
        rc = wait_stopped(e, json_string_value(json_object_get(service, "ID")), errbuf);
    json_decref(service);
    return rc;
}

/*
 * The volume of each configured node. The node removes the service's
 * containers shortly after the service: "in use" is waited out.
 */
static int volumes_purge(struct engine *e, const char *project_id, char *errbuf)
{
    struct swarm *s = e->backend;
    char name[96], volume[96], path[160];
    size_t i;
    int rc = 0;

    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    snprintf(path, sizeof path, "/volumes/%s", volume);
    for (i = 0; rc == 0 && i < s->count; i++) {
        long deadline = now_ms() + e->cfg.timeout_ms;
        struct response r;

        for (;;) {
            rc = eng_request(&s->nodes[i].engine, "DELETE", path, true, NULL, 0, &r, errbuf);
            if (rc != 0)
                break;
            if (r.status == 204 || r.status == 200 || eng_message_says(&r, "no such volume")) {
                eng_response_free(&r);
                break;
            }
            if (!eng_message_says(&r, "in use") || now_ms() > deadline) {
                eng_message(&r, "removing the workspace volume", errbuf);
                eng_response_free(&r);
                rc = ENGINE_E_REFUSED;
                break;
            }
            eng_response_free(&r);
            sleep_ms(POLL_MS);
        }
    }
    return rc;
}

static int swarm_remove(struct engine *e, const char *project_id, bool purge_volume, char *errbuf)
{
    char name[96], volume[96], path[160];
    struct response r;
    int rc, src;

    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    snprintf(path, sizeof path, "/services/%s", name);
    rc = eng_request(e, "DELETE", path, true, NULL, 0, &r, errbuf);
    if (rc != 0)
        return rc;
    if (r.status == 404 && eng_message_says(&r, "not found")) {
        rc = ENGINE_E_NOTFOUND;
        eng_errbuf_set(errbuf, "no service %s", name);
    } else if (r.status != 200 && r.status != 204) {
        eng_message(&r, "removing the workspace service", errbuf);
        rc = ENGINE_E_REFUSED;
    }
    eng_response_free(&r);
    if (rc != 0 && rc != ENGINE_E_NOTFOUND)
        return rc;
    src = secrets_remove(e, project_id, NULL, errbuf);
    if (src == 0 && purge_volume)
        src = volumes_purge(e, project_id, errbuf);
    return src != 0 ? src : rc;
}

/*
 * A new secret, the service moved to it (a running workspace gets a new
 * task, which reads it; its address may change), the old secrets removed.
 */
static int swarm_write_auth(struct engine *e, const char *project_id, const char *password,
                            char ip[ENGINE_IP_MAX + 1], char *errbuf)
{
    char secret_id[128] = "", secret_name[160];
    json_t *service = NULL, *spec = NULL, *task = NULL, *container;
    int rc;

    rc = service_get(e, project_id, &service, errbuf);
    if (rc != 0)
        return rc;
    rc = secret_create(e, project_id, password, secret_id, secret_name, errbuf);
    if (rc != 0)
        goto out;
    spec = json_deep_copy(json_object_get(service, "Spec"));
    container = json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec");
    if (container == NULL ||
        json_object_set_new(container, "Secrets", secret_ref(e, secret_id, secret_name)) != 0) {
        rc = spec == NULL ? ENOMEM : ENGINE_E_PROTOCOL;
        if (rc == ENGINE_E_PROTOCOL)
            eng_errbuf_set(errbuf, "the workspace service has no ContainerSpec");
        goto out;
    }
    rc = service_update(e, service, spec, errbuf);
    if (rc != 0)
        goto out;
    rc = secrets_remove(e, project_id, secret_id, errbuf);
    if (rc == 0 && replicas_of(service) > 0) {
        rc = wait_running(e, json_string_value(json_object_get(service, "ID")), secret_id, &task,
                          errbuf);
        if (rc == 0)
            rc = task_ready(e, task, ip, errbuf);
    }
    secret_id[0] = '\0'; /* in use by the service now, whatever happens next */
out:
    if (secret_id[0] != '\0')
        secret_remove(e, secret_id, NULL);
    json_decref(task);
    json_decref(spec);
    json_decref(service);
    return rc;
}

static int swarm_write_ca(struct engine *e, const char *project_id, bool capture, char *errbuf)
{
    (void)e;
    (void)project_id;
    (void)capture;
    eng_errbuf_set(errbuf, "capture is not available with --engine swarm");
    return ENGINE_E_INVAL;
}

/*
 * One workspace from its service and its tasks (all of them, any state);
 * its address from @p ips (container id → address, swarm_list()) or, when
 * NULL, asked of its node.
 */
static int workspace_of(struct engine *e, json_t *service, json_t *tasks, json_t *ips,
                        struct engine_workspace *w)
{
    const char *project = json_string_value(json_object_get(
        json_object_get(json_object_get(service, "Spec"), "Labels"), ENGINE_LABEL_PROJECT));
    const char *id = json_string_value(json_object_get(service, "ID"));
    json_t *task, *current = NULL;
    bool ever_ran = false;
    size_t i;

    if (!eng_project_id_valid(project) || id == NULL)
        return -1;
    memset(w, 0, sizeof *w);
    snprintf(w->project_id, sizeof w->project_id, "%s", project);
    snprintf(w->container_id, sizeof w->container_id, "%s", id);
    json_array_foreach(tasks, i, task)
    {
        const char *sid = json_string_value(json_object_get(task, "ServiceID"));
        const char *want = json_string_value(json_object_get(task, "DesiredState"));

        if (sid == NULL || strcmp(sid, id) != 0)
            continue;
        if (task_container(task) != NULL)
            ever_ran = true;
        if (want != NULL && strcmp(want, "running") == 0 &&
            (current == NULL || strcmp(task_state(task), "running") == 0))
            current = task;
    }
    /* No task wanted: "created" until a container was ever made for it, as on one engine. */
    if (current == NULL) {
        eng_state_from_status(w, ever_ran ? "stopped" : "created");
        return 0;
    }
    eng_state_from_status(w, task_state(current));
    if (w->state == ENGINE_STATE_RUNNING && ips == NULL)
        task_ip(e, current, w->ip);
    else if (w->state == ENGINE_STATE_RUNNING && task_container(current) != NULL)
        eng_copy_string(w->ip, sizeof w->ip, json_object_get(ips, task_container(current)));
    return 0;
}

/*
 * The addresses of our running containers on every configured node, one
 * call per node: container id → address. A node whose engine does not
 * answer adds none (its workspaces are listed without an address).
 */
static json_t *node_addresses(struct engine *e)
{
    struct swarm *s = e->backend;
    json_t *ips = json_object(), *containers, *item;
    char filter[256], path[320];
    size_t i, j;

    if (ips == NULL || filter_arg("label", ENGINE_LABEL_MANAGED_BY "=" ENGINE_MANAGED_BY, filter,
                                  sizeof filter) != 0) {
        json_decref(ips);
        return NULL;
    }
    snprintf(path, sizeof path, "/containers/json?filters=%s", filter);
    for (i = 0; i < s->count; i++) {
        if (eng_get_json(&s->nodes[i].engine, path, true, "listing workspace containers",
                         &containers, NULL) != 0)
            continue;
        json_array_foreach(containers, j, item)
        {
            const char *id = json_string_value(json_object_get(item, "Id"));
            char ip[ENGINE_IP_MAX + 1];

            eng_ip_from_networks(
                e, json_object_get(json_object_get(item, "NetworkSettings"), "Networks"), ip);
            if (id != NULL && ip[0] != '\0')
                json_object_set_new(ips, id, json_string(ip));
        }
        json_decref(containers);
    }
    return ips;
}

/* The tasks of service @p service_id, or of every service (NULL), whatever their state. */
static int tasks_all(struct engine *e, const char *service_id, json_t **tasks, char *errbuf)
{
    char filter[256], path[320] = "/tasks";
    int rc;

    if (service_id != NULL) {
        rc = filter_arg("service", service_id, filter, sizeof filter);
        if (rc != 0)
            return rc;
        snprintf(path, sizeof path, "/tasks?filters=%s", filter);
    }
    rc = manager_get(e, path, "listing the workspaces' tasks", tasks, errbuf);
    if (rc == 0 && !json_is_array(*tasks)) {
        eng_errbuf_set(errbuf, "listing the workspaces' tasks: the answer is not an array");
        json_decref(*tasks);
        *tasks = NULL;
        rc = ENGINE_E_PROTOCOL;
    }
    return rc;
}

static int swarm_inspect(struct engine *e, const char *project_id, struct engine_workspace *out,
                         char *errbuf)
{
    json_t *service = NULL, *tasks = NULL;
    int rc;

    rc = service_get(e, project_id, &service, errbuf);
    if (rc == 0)
        rc = tasks_all(e, json_string_value(json_object_get(service, "ID")), &tasks, errbuf);
    if (rc == 0 && workspace_of(e, service, tasks, NULL, out) != 0) {
        eng_errbuf_set(errbuf, "the service of %s carries no valid project label", project_id);
        rc = ENGINE_E_PROTOCOL;
    }
    json_decref(tasks);
    json_decref(service);
    return rc;
}

static int swarm_list(struct engine *e, struct engine_workspace **out, size_t *count, char *errbuf)
{
    struct engine_workspace *list = NULL;
    json_t *services = NULL, *tasks = NULL, *ips = NULL, *service;
    char filter[256], path[320];
    size_t i, n = 0;
    int rc;

    rc = filter_arg("label", ENGINE_LABEL_MANAGED_BY "=" ENGINE_MANAGED_BY, filter, sizeof filter);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "/services?filters=%s", filter);
    rc = manager_get(e, path, "listing workspace services", &services, errbuf);
    if (rc == 0)
        rc = tasks_all(e, NULL, &tasks, errbuf);
    if (rc == 0 && (!json_is_array(services) || !json_is_array(tasks))) {
        eng_errbuf_set(errbuf, "listing workspace services: the answer is not a JSON array");
        rc = ENGINE_E_PROTOCOL;
    }
    if (rc == 0 && json_array_size(services) > 0) {
        list = ep_calloc(json_array_size(services), sizeof *list);
        ips = node_addresses(e);
        if (list == NULL || ips == NULL)
            rc = ENOMEM;
    }
    json_array_foreach(services, i, service)
    {
        if (rc == 0 && workspace_of(e, service, tasks, ips, &list[n]) == 0)
            n++;
    }
    if (rc == 0 && n > 0) {
        *out = list;
        *count = n;
        list = NULL;
    }
    free(list);
    json_decref(ips);
    json_decref(tasks);
    json_decref(services);
    return rc;
}

/*
 * The manager must be one (a worker answers no service calls), capture is
 * refused, and every "NODE=SOCKET" of cfg.swarm_node_engines becomes a
 * single engine on that socket, speaking the manager's API version (one
 * swarm runs one engine version; a node that refuses it says so per call).
 */
static int swarm_open(struct engine *e, char *errbuf)
{
    const char *const *entries = e->cfg.swarm_node_engines;
    json_t *info = NULL;
    struct swarm *s;
    size_t i, n = 0;
    int rc;

    if (e->cfg.capture_ca_dir != NULL) {
        eng_errbuf_set(errbuf, "capture (--capture-ca-dir) is not available with the swarm "
                               "engine yet");
        return ENGINE_E_INVAL;
    }
    rc = manager_get(e, "/info", "GET /info", &info, errbuf);
    if (rc != 0)
        return rc;
    if (!json_is_true(json_object_get(json_object_get(info, "Swarm"), "ControlAvailable"))) {
        eng_errbuf_set(errbuf,
                       "the engine at %s is not a swarm manager (docker swarm init, or "
                       "give a manager's socket)",
                       e->cfg.socket_path);
        json_decref(info);
        return ENGINE_E_INVAL;
    }
    json_decref(info);
    while (entries != NULL && entries[n] != NULL)
        n++;
    s = ep_calloc(1, sizeof *s + n * sizeof s->nodes[0]);
    if (s == NULL)
        return ENOMEM;
    for (i = 0; i < n; i++) {
        const char *eq = strchr(entries[i], '=');
        struct swarm_node *node = &s->nodes[i];

        if (eq == NULL || eq == entries[i] || eq[1] != '/' ||
            (size_t)(eq - entries[i]) >= sizeof node->name) {
            eng_errbuf_set(errbuf, "swarm node engine \"%s\" is not NODE=/path/to/socket",
                           entries[i]);
            free(s);
            return ENGINE_E_INVAL;
        }
        snprintf(node->name, sizeof node->name, "%.*s", (int)(eq - entries[i]), entries[i]);
        node->engine = *e;
        node->engine.cfg.socket_path = eq + 1;
        node->engine.cfg.kind = ENGINE_KIND_DOCKER;
        node->engine.ops = &engine_docker_ops;
        node->engine.backend = NULL;
    }
    s->count = n;
    e->backend = s;
    return 0;
}

static void swarm_close(struct engine *e)
{
    free(e->backend);
    e->backend = NULL;
}

const struct engine_ops engine_swarm_ops = {
    .name = "swarm",
    .open = swarm_open,
    .close = swarm_close,
    .network_check = swarm_network_check,
    .create = swarm_create,
    .start = swarm_start,
    .stop = swarm_stop,
    .remove = swarm_remove,
    .write_auth = swarm_write_auth,
    .write_ca = swarm_write_ca,
    .inspect = swarm_inspect,
    .list = swarm_list,
};

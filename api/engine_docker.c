/*
 * The single-engine backend (ENGINE_KIND_DOCKER, the default): one dockerd,
 * or podman's compatible service, holds every workspace as a container
 * `workspace-<id>`. See engine.h for the contract; engine.c has checked the
 * project id and resolved the limits before any function here runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api/engine_client.h"
#include "policy/error.h"

/*
 * The body of POST /containers/create: every hardening item of DESIGN.md.
 * Capabilities: all are dropped and none added by default. code-server
 * runs as an unprivileged user and needs none; CHOWN, SETUID, SETGID,
 * DAC_OVERRIDE and FOWNER only matter to an entrypoint that starts as root
 * and drops privileges, which our user setting rules out. Dropping the
 * bounding set too means even `docker exec -u 0` gets no capability, and
 * NET_RAW/NET_ADMIN (forging another workspace's address) are refused by
 * config_check() if an operator tries to add them.
 */
static json_t *create_body(const struct engine *e, const char *project_id, const char *volume,
                           uint64_t memory, uint64_t nano_cpus)
{
    const struct engine_config *c = &e->cfg;
    json_t *body = NULL, *host, *env, *caps, *cmd, *mounts;
    char tmpfs[128];
    size_t i;
    int err = 0;

    snprintf(tmpfs, sizeof tmpfs, "size=%s,noexec,nosuid,nodev", c->tmp_size);
    env = eng_workspace_env(e);
    caps = eng_string_array(c->cap_add);
    mounts = json_pack("[{s:s, s:s, s:s}]", "Type", "volume", "Source", volume, "Target",
                       c->project_dir);
    if (env == NULL || caps == NULL || mounts == NULL) {
        json_decref(env);
        json_decref(caps);
        json_decref(mounts);
        return NULL;
    }
    host = json_pack("{s:[s], s:[s], s:o, s:{s:s}, s:o, s:I, s:I, s:I, s:I, s:I, s:s}",
                     "SecurityOpt", "no-new-privileges:true", "CapDrop", "ALL", "CapAdd", caps,
                     "Tmpfs", "/tmp", tmpfs, "Mounts", mounts, "NanoCpus", (json_int_t)nano_cpus,
                     "Memory", (json_int_t)memory, "MemorySwap", (json_int_t)memory,
                     "MemoryReservation", (json_int_t)(memory / 2), "PidsLimit",
                     (json_int_t)c->pids_limit, "NetworkMode", c->network);
    if (host == NULL) {
        json_decref(env);
        return NULL;
    }
    body = json_pack("{s:s, s:s, s:o, s:{s:s, s:s}, s:o}", "Image", c->image, "User", e->user,
                     "Env", env, "Labels", ENGINE_LABEL_PROJECT, project_id,
                     ENGINE_LABEL_MANAGED_BY, ENGINE_MANAGED_BY, "HostConfig", host);
    if (body == NULL)
        return NULL;
    if (c->command != NULL) {
        cmd = json_array();
        for (i = 0; cmd != NULL && c->command[i] != NULL && err == 0; i++)
            err = eng_array_add(cmd, c->command[i]);
        /* json_object_set_new takes cmd's reference even when it fails. */
        if (cmd == NULL || err != 0) {
            json_decref(cmd);
            json_decref(body);
            return NULL;
        }
        if (json_object_set_new(body, "Cmd", cmd) != 0) {
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

/*
 * Make sure the named volume exists; *created tells whether this call made
 * it (only then may a failed create remove it again).
 */
static int volume_ensure(struct engine *e, const char *project_id, const char *volume,
                         bool *created, char *errbuf)
{
    struct response r = {0};
    char path[256];
    json_t *body = NULL;
    int rc;

    *created = false;
    snprintf(path, sizeof path, "/volumes/%s", volume);
    rc = eng_request(e, "GET", path, true, NULL, 0, &r, errbuf);
    if (rc != 0 || r.status == 200)
        goto out;
    if (!eng_message_says(&r, "no such volume")) {
        eng_message(&r, "looking up the workspace volume", errbuf);
        rc = ENGINE_E_REFUSED;
        goto out;
    }
    eng_response_free(&r);
    body = json_pack("{s:s, s:{s:s, s:s}}", "Name", volume, "Labels", ENGINE_LABEL_PROJECT,
                     project_id, ENGINE_LABEL_MANAGED_BY, ENGINE_MANAGED_BY);
    rc = eng_post_json(e, "/volumes/create", body, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 201 && r.status != 200) {
        eng_message(&r, "creating the workspace volume", errbuf);
        rc = ENGINE_E_REFUSED;
        goto out;
    }
    *created = true;
out:
    json_decref(body);
    eng_response_free(&r);
    return rc;
}

/* Remove a volume; one the engine says does not exist is fine. */
static int volume_remove(struct engine *e, const char *volume, char *errbuf)
{
    struct response r;
    char path[256];
    int rc;

    snprintf(path, sizeof path, "/volumes/%s", volume);
    rc = eng_request(e, "DELETE", path, true, NULL, 0, &r, errbuf);
    if (rc == 0 && r.status != 204 && r.status != 200 && !eng_message_says(&r, "no such volume")) {
        eng_message(&r, "removing the workspace volume", errbuf);
        rc = ENGINE_E_REFUSED;
    }
    eng_response_free(&r);
    return rc;
}

/* Remove container @p name, running or not; 0, ENGINE_E_NOTFOUND or an error. */
static int container_remove(struct engine *e, const char *name, char *errbuf)
{
    char path[256];

    snprintf(path, sizeof path, "/containers/%s?force=true", name);
    return eng_request_status(e, "DELETE", path, 0, (const long[]){204, 200, 0},
                              "removing the workspace container", errbuf);
}

/*
 * engine_create: volume, container, project directory owner, auth file, in
 * that order; on failure undo in reverse. The rollback's own errors are
 * not reported over the first error (which is what the user must see),
 * but the container is removed before the volume so the volume is free.
 */
static int docker_create(struct engine *engine, const char *project_id, uint64_t memory_bytes,
                         uint64_t nano_cpus, const char *password,
                         char container_id[ENGINE_CONTAINER_MAX + 1], char *errbuf)
{
    struct response r = {0};
    char name[96], volume[96], path[160];
    json_t *body = NULL, *answer = NULL;
    bool volume_made = false, container_made = false;
    const char *id;
    int rc;

    container_id[0] = '\0';
    eng_names(project_id, name, sizeof name, volume, sizeof volume);

    /* Before anything is made: a container on a missing network would only fail at start. */
    rc = eng_network_check(engine, errbuf);
    if (rc != 0)
        goto out;
    rc = volume_ensure(engine, project_id, volume, &volume_made, errbuf);
    if (rc != 0)
        goto out;
    body = create_body(engine, project_id, volume, memory_bytes, nano_cpus);
    snprintf(path, sizeof path, "/containers/create?name=%s", name);
    rc = eng_post_json(engine, path, body, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 201 && eng_message_says_in_use(&r)) {
        eng_message(&r, "creating the workspace container", errbuf);
        rc = ENGINE_E_CONFLICT;
        goto out;
    }
    if (r.status != 201 && eng_message_says_no_network(&r)) {
        /* podman checks the network here (dockerd at start): removed since the check above. */
        rc = eng_network_missing(engine, &r, "creating the workspace container", errbuf);
        goto out;
    }
    if (r.status != 201) {
        eng_message(&r, "creating the workspace container", errbuf);
        rc = ENGINE_E_REFUSED;
        goto out;
    }
    container_made = true;
    answer = json_loadb(r.data, r.len, 0, NULL);
    id = json_string_value(json_object_get(answer, "Id"));
    if (id == NULL || strlen(id) > ENGINE_CONTAINER_MAX) {
        eng_errbuf_set(errbuf, "creating the workspace container: the answer has no container id");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    snprintf(container_id, ENGINE_CONTAINER_MAX + 1, "%s", id);
    rc = eng_project_dir_own(engine, name, errbuf);
    if (rc != 0)
        goto out;
    rc = eng_auth_upload(engine, name, password, errbuf);
out:
    if (rc != 0) {
        /* The container made here gone mid-way: the create failed, no project's container is. */
        if (rc == ENGINE_E_NOTFOUND)
            rc = ENGINE_E_REFUSED;
        if (container_made)
            container_remove(engine, name, NULL);
        if (volume_made)
            volume_remove(engine, volume, NULL);
        container_id[0] = '\0';
    }
    json_decref(answer);
    json_decref(body);
    eng_response_free(&r);
    return rc;
}

static int docker_inspect(struct engine *engine, const char *project_id,
                          struct engine_workspace *out, char *errbuf)
{
    struct response r;
    char name[96], volume[96], path[160];
    json_t *root = NULL, *state, *label;
    int rc;

    memset(out, 0, sizeof *out);
    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    snprintf(path, sizeof path, "/containers/%s/json", name);
    rc = eng_request(engine, "GET", path, true, NULL, 0, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 200) {
        rc = eng_container_error(engine, &r, "inspecting the workspace container", errbuf);
        goto out;
    }
    root = json_loadb(r.data, r.len, 0, NULL);
    state = json_object_get(root, "State");
    if (!json_is_object(state)) {
        eng_errbuf_set(errbuf, "inspecting the workspace container: no State in the answer");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    label = json_object_get(json_object_get(json_object_get(root, "Config"), "Labels"),
                            ENGINE_LABEL_PROJECT);
    eng_copy_string(out->project_id, sizeof out->project_id, label);
    if (out->project_id[0] == '\0')
        snprintf(out->project_id, sizeof out->project_id, "%s", project_id);
    eng_copy_string(out->container_id, sizeof out->container_id, json_object_get(root, "Id"));
    eng_state_from_status(out, json_string_value(json_object_get(state, "Status")));
    eng_ip_from_networks(
        engine, json_object_get(json_object_get(root, "NetworkSettings"), "Networks"), out->ip);
out:
    json_decref(root);
    eng_response_free(&r);
    return rc;
}

/* POST /containers/{name}/ACTION[?t=N]: 204 done, 304 already in that state. */
static int container_action(struct engine *e, const char *name, const char *action, bool timed,
                            const char *what, char *errbuf)
{
    char path[192];

    if (timed)
        snprintf(path, sizeof path, "/containers/%s/%s?t=%u", name, action, e->cfg.stop_timeout);
    else
        snprintf(path, sizeof path, "/containers/%s/%s", name, action);
    return eng_request_status(e, "POST", path, timed ? (long)e->cfg.stop_timeout * 1000 : 0,
                              (const long[]){204, 304, 200, 0}, what, errbuf);
}

/* After a start or restart: the workspace must be running and have its address. */
static int running_ip(struct engine *e, const char *project_id, char *ip, char *errbuf)
{
    struct engine_workspace w;
    int rc;

    rc = docker_inspect(e, project_id, &w, errbuf);
    if (rc != 0)
        return rc;
    if (w.state != ENGINE_STATE_RUNNING) {
        eng_errbuf_set(errbuf,
                       "the workspace container stopped right after starting (status %s); "
                       "see the engine's logs for it",
                       w.status);
        return ENGINE_E_REFUSED;
    }
    snprintf(ip, ENGINE_IP_MAX + 1, "%s", w.ip);
    return 0;
}

static int docker_start(struct engine *engine, const char *project_id, char ip[ENGINE_IP_MAX + 1],
                        char *errbuf)
{
    char name[96], volume[96];
    int rc;

    ip[0] = '\0';
    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    rc = container_action(engine, name, "start", false, "starting the workspace", errbuf);
    if (rc == 0)
        rc = running_ip(engine, project_id, ip, errbuf);
    return rc;
}

static int docker_stop(struct engine *engine, const char *project_id, char *errbuf)
{
    char name[96], volume[96];

    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    return container_action(engine, name, "stop", true, "stopping the workspace", errbuf);
}

static int docker_remove(struct engine *engine, const char *project_id, bool purge_volume,
                         char *errbuf)
{
    char name[96], volume[96];
    int rc, vrc;

    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    rc = container_remove(engine, name, errbuf);
    if (rc != 0 && rc != ENGINE_E_NOTFOUND)
        return rc;
    if (purge_volume) {
        vrc = volume_remove(engine, volume, errbuf);
        if (vrc != 0)
            return vrc;
    }
    if (rc == ENGINE_E_NOTFOUND)
        eng_errbuf_set(errbuf, "no container %s", name);
    return rc;
}

/*
 * The file goes in first (a stopped workspace reads it at its next start);
 * a running one is restarted so code-server reads it now, and may come
 * back with another address.
 */
static int docker_write_auth(struct engine *engine, const char *project_id, const char *password,
                             char ip[ENGINE_IP_MAX + 1], char *errbuf)
{
    struct engine_workspace w;
    char name[96], volume[96];
    int rc;

    ip[0] = '\0';
    rc = docker_inspect(engine, project_id, &w, errbuf);
    if (rc != 0)
        return rc;
    eng_names(project_id, name, sizeof name, volume, sizeof volume);
    rc = eng_auth_upload(engine, name, password, errbuf);
    if (rc != 0 || w.state != ENGINE_STATE_RUNNING)
        return rc;
    rc = container_action(engine, name, "restart", true, "restarting the workspace", errbuf);
    if (rc == 0)
        rc = running_ip(engine, project_id, ip, errbuf);
    return rc;
}

/*
 * GET /containers/json?all=true with a label filter: one call for every
 * workspace we manage. The filter is JSON in the query string.
 */
static int docker_list(struct engine *engine, struct engine_workspace **out, size_t *count,
                       char *errbuf)
{
    static const char filter[] =
        "{\"label\":[\"" ENGINE_LABEL_MANAGED_BY "=" ENGINE_MANAGED_BY "\"]}";
    struct engine_workspace *list = NULL, *w;
    json_t *root = NULL, *item;
    char path[256], *esc;
    size_t i, n = 0;
    int rc;

    *out = NULL;
    *count = 0;
    esc = curl_easy_escape(NULL, filter, 0);
    if (esc == NULL)
        return ENOMEM;
    snprintf(path, sizeof path, "/containers/json?all=true&filters=%s", esc);
    curl_free(esc);
    rc = eng_get_json(engine, path, true, "listing workspace containers", &root, errbuf);
    if (rc != 0)
        goto out;
    if (!json_is_array(root)) {
        eng_errbuf_set(errbuf, "listing workspace containers: the answer is not a JSON array");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    if (json_array_size(root) > 0) {
        list = ep_calloc(json_array_size(root), sizeof *list);
        if (list == NULL) {
            rc = ENOMEM;
            goto out;
        }
    }
    json_array_foreach(root, i, item)
    {
        const char *project = json_string_value(
            json_object_get(json_object_get(item, "Labels"), ENGINE_LABEL_PROJECT));

        if (!eng_project_id_valid(project))
            continue;
        w = &list[n++];
        snprintf(w->project_id, sizeof w->project_id, "%s", project);
        eng_copy_string(w->container_id, sizeof w->container_id, json_object_get(item, "Id"));
        eng_state_from_status(w, json_string_value(json_object_get(item, "State")));
        eng_ip_from_networks(
            engine, json_object_get(json_object_get(item, "NetworkSettings"), "Networks"), w->ip);
        /* A stopped container may still be listed with its last address. */
        if (w->state != ENGINE_STATE_RUNNING)
            w->ip[0] = '\0';
    }
    if (n == 0) {
        free(list);
        list = NULL;
    }
    *out = list;
    *count = n;
    list = NULL;
out:
    free(list);
    json_decref(root);
    return rc;
}

static int docker_write_ca(struct engine *engine, const char *project_id, bool capture,
                           char *errbuf)
{
    struct engine_tar_entry entries[3] = {{0}};
    char container[128], volume[128], *bundle = NULL, *extra = NULL;
    size_t bundle_len = 0, extra_len = 0;
    const char *dir = engine->cfg.capture_ca_dir;
    int rc;

    if (dir == NULL)
        return 0;
    eng_names(project_id, container, sizeof container, volume, sizeof volume);
    rc = eng_file_read(dir, capture ? "bundle.pem" : "system.pem", &bundle, &bundle_len, errbuf);
    if (rc == 0)
        rc = eng_file_read(dir, capture ? "ca.pem" : "system.pem", &extra, &extra_len, errbuf);
    if (rc != 0)
        goto out;
    entries[0] = (struct engine_tar_entry){.name = "egress-policy-ca", .mode = 0755, .is_dir = 1};
    entries[1] = (struct engine_tar_entry){
        .name = "egress-policy-ca/bundle.pem", .data = bundle, .size = bundle_len, .mode = 0644};
    entries[2] = (struct engine_tar_entry){
        .name = "egress-policy-ca/extra.pem", .data = extra, .size = extra_len, .mode = 0644};
    rc = eng_archive_put_n(engine, container, "/etc", entries, 3, "writing the CA files", errbuf);
out:
    free(bundle);
    free(extra);
    return rc;
}

const struct engine_ops engine_docker_ops = {
    .name = "docker",
    .network_check = eng_network_check,
    .create = docker_create,
    .start = docker_start,
    .stop = docker_stop,
    .remove = docker_remove,
    .write_auth = docker_write_auth,
    .write_ca = docker_write_ca,
    .inspect = docker_inspect,
    .list = docker_list,
};

/*
 * The container engine client's front: the configuration, the checks every
 * backend relies on (project id, memory and CPU limits), and the one
 * interface of engine.h, passed on to the backend engine_config.kind
 * chooses through its struct engine_ops (engine_client.h):
 * engine_docker.c (one engine, the default) or engine_swarm.c (a swarm).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api/engine_client.h"
#include "policy/error.h"

const char *engine_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case ENGINE_E_UNREACHABLE:
        return "the container engine is unreachable (is dockerd running, is the socket path "
               "right?)";
    case ENGINE_E_REFUSED:
        return "the container engine refused the request";
    case ENGINE_E_NOTFOUND:
        return "the workspace container does not exist";
    case ENGINE_E_CONFLICT:
        return "a workspace container of that name already exists";
    case ENGINE_E_VERSION:
        return "the container engine's API is older than " ENGINE_API_OLDEST;
    case ENGINE_E_PROTOCOL:
        return "the container engine sent an answer that could not be read";
    case ENGINE_E_LIMIT:
        return "memory or CPU limit above the server maximum";
    case ENGINE_E_INVAL:
        return "invalid project id or engine configuration";
    case ENGINE_E_NONETWORK:
        return "the workspace network does not exist on the container engine";
    default:
        return err > 0 ? strerror(err) : "unknown container engine error";
    }
}

void engine_config_defaults(struct engine_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->socket_path = ENGINE_DEFAULT_SOCKET;
    cfg->image = ENGINE_DEFAULT_IMAGE;
    cfg->network = ENGINE_DEFAULT_NETWORK;
    cfg->project_dir = "/home/coder/project";
    cfg->auth_path = "/home/coder/.code-server-auth";
    cfg->uid = 1000;
    cfg->gid = 1000;
    cfg->memory_default = ENGINE_DEFAULT_MEMORY;
    cfg->memory_max = ENGINE_DEFAULT_MEMORY_MAX;
    cfg->nano_cpus_default = ENGINE_DEFAULT_NANO_CPUS;
    cfg->nano_cpus_max = ENGINE_DEFAULT_NANO_CPUS_MAX;
    cfg->pids_limit = ENGINE_DEFAULT_PIDS_LIMIT;
    cfg->tmp_size = "1G";
    cfg->stop_timeout = ENGINE_DEFAULT_STOP_TIMEOUT;
    cfg->timeout_ms = 60000;
}

static bool cap_forbidden(const char *cap)
{
    static const char *const forbidden[] = {"ALL", "NET_RAW", "NET_ADMIN", "SYS_ADMIN", NULL};
    const char *name = strncasecmp(cap, "CAP_", 4) == 0 ? cap + 4 : cap;
    size_t i;

    for (i = 0; forbidden[i] != NULL; i++)
        if (strcasecmp(name, forbidden[i]) == 0)
            return true;
    return false;
}

/* Digits and an optional k, m or g suffix: what tmpfs and the engine both read as a size. */
static bool tmp_size_valid(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return n > 0 && (s[n] == '\0' || (strchr("kKmMgG", s[n]) && s[n + 1] == '\0'));
}

/* Refuse a configuration that would weaken the hardening or could not work. */
static int config_check(const struct engine_config *cfg, char *errbuf)
{
    size_t i;

    if (cfg->socket_path == NULL || cfg->image == NULL || cfg->image[0] == '\0' ||
        cfg->network == NULL || cfg->network[0] == '\0') {
        eng_errbuf_set(errbuf, "engine configuration: socket path, image and network are required");
        return ENGINE_E_INVAL;
    }
    if (cfg->project_dir == NULL || cfg->project_dir[0] != '/' || cfg->auth_path == NULL ||
        cfg->auth_path[0] != '/' || strrchr(cfg->auth_path, '/')[1] == '\0') {
        eng_errbuf_set(errbuf, "engine configuration: project directory and auth file must be "
                               "absolute paths");
        return ENGINE_E_INVAL;
    }
    if (cfg->tmp_size == NULL || !tmp_size_valid(cfg->tmp_size)) {
        eng_errbuf_set(errbuf,
                       "engine configuration: /tmp size \"%s\" is not digits with an "
                       "optional k, m or g",
                       cfg->tmp_size ? cfg->tmp_size : "");
        return ENGINE_E_INVAL;
    }
    if (cfg->memory_default == 0 || cfg->memory_default > cfg->memory_max ||
        cfg->nano_cpus_default == 0 || cfg->nano_cpus_default > cfg->nano_cpus_max ||
        cfg->pids_limit <= 0) {
        eng_errbuf_set(errbuf, "engine configuration: defaults must be positive and within the "
                               "maxima, and the pids limit positive");
        return ENGINE_E_INVAL;
    }
    /* env_add_both() builds "NAME=value" in a fixed buffer: refuse rather than cut. */
    if ((cfg->proxy_url != NULL && strlen(cfg->proxy_url) > 1024) ||
        (cfg->no_proxy != NULL && strlen(cfg->no_proxy) > 1024)) {
        eng_errbuf_set(errbuf, "engine configuration: proxy URL or NO_PROXY list over 1024 bytes");
        return ENGINE_E_INVAL;
    }
    for (i = 0; cfg->cap_add != NULL && cfg->cap_add[i] != NULL; i++)
        if (cap_forbidden(cfg->cap_add[i])) {
            eng_errbuf_set(errbuf,
                           "engine configuration: capability %s may not be given to a "
                           "workspace",
                           cfg->cap_add[i]);
            return ENGINE_E_INVAL;
        }
    if (cfg->kind != ENGINE_KIND_DOCKER && cfg->kind != ENGINE_KIND_SWARM) {
        eng_errbuf_set(errbuf, "engine configuration: unknown engine kind %d", (int)cfg->kind);
        return ENGINE_E_INVAL;
    }
    return 0;
}

int engine_open(const struct engine_config *cfg, struct engine **out, char *errbuf)
{
    struct engine *e = NULL;
    int rc;

    *out = NULL;
    rc = config_check(cfg, errbuf);
    if (rc != 0)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ENOMEM;
    e = ep_calloc(1, sizeof *e);
    if (e == NULL) {
        rc = ENOMEM;
        goto out;
    }
    e->cfg = *cfg;
    e->ops = cfg->kind == ENGINE_KIND_SWARM ? &engine_swarm_ops : &engine_docker_ops;
    snprintf(e->user, sizeof e->user, "%u:%u", cfg->uid, cfg->gid);
    rc = eng_version_negotiate(e, errbuf);
    if (rc == 0 && e->ops->open != NULL)
        rc = e->ops->open(e, errbuf);
out:
    if (rc != 0) {
        free(e);
        curl_global_cleanup();
        return rc;
    }
    *out = e;
    return 0;
}

void engine_close(struct engine *engine)
{
    if (engine == NULL)
        return;
    if (engine->ops->close != NULL)
        engine->ops->close(engine);
    free(engine);
    curl_global_cleanup();
}

const char *engine_api_version(const struct engine *engine)
{
    return engine->version;
}

const char *engine_kind_name(const struct engine *engine)
{
    return engine->ops->name;
}

/* Every project id reaches a backend valid: it becomes part of the engine's names. */
static int id_check(const char *project_id, char *errbuf)
{
    if (eng_project_id_valid(project_id))
        return 0;
    eng_errbuf_set(errbuf, "project id is not 1..%d of [A-Za-z0-9_.-]", ENGINE_ID_MAX);
    return ENGINE_E_INVAL;
}

int engine_network_check(struct engine *engine, char *errbuf)
{
    return engine->ops->network_check(engine, errbuf);
}

int engine_create(struct engine *engine, const char *project_id, uint64_t memory_bytes,
                  uint64_t nano_cpus, const char *password,
                  char container_id[ENGINE_CONTAINER_MAX + 1], char *errbuf)
{
    const struct engine_config *c = &engine->cfg;
    int rc;

    container_id[0] = '\0';
    rc = id_check(project_id, errbuf);
    if (rc != 0)
        return rc;
    if (memory_bytes == 0)
        memory_bytes = c->memory_default;
    if (nano_cpus == 0)
        nano_cpus = c->nano_cpus_default;
    if (memory_bytes > c->memory_max || nano_cpus > c->nano_cpus_max || memory_bytes > INT64_MAX ||
        nano_cpus > INT64_MAX) {
        eng_errbuf_set(errbuf, "memory %llu bytes / %llu nano-CPUs: the maxima are %llu / %llu",
                       (unsigned long long)memory_bytes, (unsigned long long)nano_cpus,
                       (unsigned long long)c->memory_max, (unsigned long long)c->nano_cpus_max);
        return ENGINE_E_LIMIT;
    }
    return engine->ops->create(engine, project_id, memory_bytes, nano_cpus, password, container_id,
                               errbuf);
}

int engine_start(struct engine *engine, const char *project_id, char ip[ENGINE_IP_MAX + 1],
                 char *errbuf)
{
    int rc = id_check(project_id, errbuf);

    ip[0] = '\0';
    return rc != 0 ? rc : engine->ops->start(engine, project_id, ip, errbuf);
}

int engine_stop(struct engine *engine, const char *project_id, char *errbuf)
{
    int rc = id_check(project_id, errbuf);

    return rc != 0 ? rc : engine->ops->stop(engine, project_id, errbuf);
}

int engine_remove(struct engine *engine, const char *project_id, bool purge_volume, char *errbuf)
{
    int rc = id_check(project_id, errbuf);

    return rc != 0 ? rc : engine->ops->remove(engine, project_id, purge_volume, errbuf);
}

int engine_write_auth(struct engine *engine, const char *project_id, const char *password,
                      char ip[ENGINE_IP_MAX + 1], char *errbuf)
{
    int rc = id_check(project_id, errbuf);

    ip[0] = '\0';
    return rc != 0 ? rc : engine->ops->write_auth(engine, project_id, password, ip, errbuf);
}

int engine_write_ca(struct engine *engine, const char *project_id, bool capture, char *errbuf)
{
    int rc;

    if (engine->cfg.capture_ca_dir == NULL)
        return 0;
    rc = id_check(project_id, errbuf);
    return rc != 0 ? rc : engine->ops->write_ca(engine, project_id, capture, errbuf);
}

int engine_inspect(struct engine *engine, const char *project_id, struct engine_workspace *out,
                   char *errbuf)
{
    int rc = id_check(project_id, errbuf);

    memset(out, 0, sizeof *out);
    return rc != 0 ? rc : engine->ops->inspect(engine, project_id, out, errbuf);
}

int engine_list(struct engine *engine, struct engine_workspace **out, size_t *count, char *errbuf)
{
    *out = NULL;
    *count = 0;
    return engine->ops->list(engine, out, count, errbuf);
}

void engine_list_free(struct engine_workspace *list)
{
    free(list);
}

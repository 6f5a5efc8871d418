/**
 * @file engine_client.h
 * @brief Inside the container engine client (not for callers of engine.h):
 * the Docker Engine API plumbing both backends share, and the table of
 * operations a backend fills.
 *
 * engine.c is the front: it checks the configuration and the project id,
 * resolves the memory and CPU defaults and limits, and calls the backend
 * chosen by engine_config.kind through struct engine_ops:
 * - engine_docker.c: one dockerd (or podman's service), one container per
 *   workspace (ENGINE_KIND_DOCKER, the default);
 * - engine_swarm.c: a Docker Swarm manager, one one-replica service per
 *   workspace (ENGINE_KIND_SWARM).
 * engine_client.c holds what they share: one HTTP request over the unix
 * socket (libcurl), the engine's error messages, the API version, archive
 * uploads into a container, the auth file's content, the environment of a
 * workspace.
 */
#ifndef API_ENGINE_CLIENT_H
#define API_ENGINE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api/engine.h"
#include "api/engine_tar.h"

/* Largest answer we read from the engine; a list of many containers fits. */
#define RESPONSE_MAX (32 * 1024 * 1024)

/** What a backend does; engine.c has checked the project id and the limits before each call. */
struct engine_ops {
    const char *name; /**< "docker", "swarm": for logs */
    /** Set up the backend's own state after the version is agreed (NULL: none). */
    int (*open)(struct engine *e, char *errbuf);
    /** Release what open() made (NULL: nothing). */
    void (*close)(struct engine *e);
    int (*network_check)(struct engine *e, char *errbuf);
    /** @p memory_bytes and @p nano_cpus are resolved and within the maxima here. */
    int (*create)(struct engine *e, const char *project_id, uint64_t memory_bytes,
                  uint64_t nano_cpus, const char *password,
                  char container_id[ENGINE_CONTAINER_MAX + 1], char *errbuf);
    int (*start)(struct engine *e, const char *project_id, char ip[ENGINE_IP_MAX + 1],
                 char *errbuf);
    int (*stop)(struct engine *e, const char *project_id, char *errbuf);
    int (*remove)(struct engine *e, const char *project_id, bool purge_volume, char *errbuf);
    int (*write_auth)(struct engine *e, const char *project_id, const char *password,
                      char ip[ENGINE_IP_MAX + 1], char *errbuf);
    int (*write_ca)(struct engine *e, const char *project_id, bool capture, char *errbuf);
    int (*inspect)(struct engine *e, const char *project_id, struct engine_workspace *out,
                   char *errbuf);
    int (*list)(struct engine *e, struct engine_workspace **out, size_t *count, char *errbuf);
};

extern const struct engine_ops engine_docker_ops;
extern const struct engine_ops engine_swarm_ops;

struct engine {
    struct engine_config cfg;
    char version[16]; /* agreed API version, "1.41" */
    char user[32];    /* "uid:gid" */
    const struct engine_ops *ops;
    void *backend; /* the backend's own state (engine_swarm.c: its node engines) */
};

/* One HTTP answer: status and body (NUL-terminated for convenience). */
struct response {
    long status;
    char *data;
    size_t len;
};

/* What to send: a body and its content type, or nothing. */
struct request_body {
    const char *type;
    const char *data;
    size_t len;
};

void eng_errbuf_set(char *errbuf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool eng_project_id_valid(const char *id);

/* The transport and the engine's answers (engine_client.c has the details of each). */
int eng_request(const struct engine *e, const char *method, const char *path, bool versioned,
                const struct request_body *body, long extra_timeout_ms, struct response *r,
                char *errbuf);
void eng_response_free(struct response *r);
void eng_message(const struct response *r, const char *what, char *errbuf);
bool eng_message_says(const struct response *r, const char *words);
bool eng_message_says_in_use(const struct response *r);
bool eng_message_says_no_network(const struct response *r);
int eng_network_missing(const struct engine *e, const struct response *r, const char *what,
                        char *errbuf);
int eng_container_error(const struct engine *e, const struct response *r, const char *what,
                        char *errbuf);
int eng_request_status(struct engine *e, const char *method, const char *path,
                       long extra_timeout_ms, const long *ok, const char *what, char *errbuf);
int eng_post_json(struct engine *e, const char *path, const json_t *body, struct response *r,
                  char *errbuf);
int eng_get_json(struct engine *e, const char *path, bool versioned, const char *what,
                 json_t **root, char *errbuf);
int eng_version_negotiate(struct engine *e, char *errbuf);
int eng_network_check(struct engine *e, char *errbuf);

/* Files into a workspace container, and what they hold. */
char *eng_auth_content(const char *password);
int eng_archive_put_n(struct engine *e, const char *name, const char *dir,
                      const struct engine_tar_entry *entry, size_t n, const char *what,
                      char *errbuf);
int eng_archive_put(struct engine *e, const char *name, const char *dir,
                    const struct engine_tar_entry *entry, const char *what, char *errbuf);
void eng_path_split(const char *path, char *dir, size_t dir_size, const char **base);
int eng_auth_upload(struct engine *e, const char *name, const char *password, char *errbuf);
int eng_file_read(const char *dir, const char *name, char **out, size_t *len, char *errbuf);
int eng_project_dir_own(struct engine *e, const char *name, char *errbuf);

/* JSON pieces of a workspace's definition and of the engine's answers. */
int eng_array_add(json_t *array, const char *s);
json_t *eng_workspace_env(const struct engine *e);
json_t *eng_string_array(const char *const *items);
void eng_copy_string(char *dst, size_t size, json_t *v);
void eng_ip_from_networks(const struct engine *e, json_t *networks, char *ip);
void eng_state_from_status(struct engine_workspace *w, const char *status);
void eng_names(const char *project_id, char *container, size_t csize, char *volume, size_t vsize);

#endif

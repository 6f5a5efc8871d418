/*
 * What every module of egress-api shares: the daemon's configuration and
 * its one context (the store handle and that configuration). The context
 * is built once by main.c and read by every request thread; nothing in it
 * changes after start.
 */
#ifndef API_API_H
#define API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/store.h"

/* Longest admin token accepted from a file or the environment. */
#define API_TOKEN_MAX 256
/* Bodies over this many bytes are refused with 413. */
#define API_BODY_MAX (1024 * 1024)

struct api_config {
    const char *db_dir;
    char listen_host[64];
    unsigned listen_port;
    char admin_token[API_TOKEN_MAX + 1];
    const char *base_domains_file;
    unsigned max_projects;   /* 0 = no limit */
    size_t map_size;         /* 0 = the store's default */
    unsigned max_readers;    /* 0 = the store's default */
    const char *cors_origin; /* NULL = no CORS header at all */
    enum ep_mode default_mode;
    char default_profile[EP_PROFILE_MAX + 1];
    unsigned bcrypt_cost;
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0 = no per-address limit */
    unsigned connection_timeout;     /* seconds: idle connections, and a whole request body */
    uint64_t max_memory_bytes;       /* largest memoryLimit a project may ask for */
    uint64_t max_nano_cpus;          /* largest cpuCores a project may ask for, in 1e-9 CPUs */
    unsigned session_lifetime;       /* seconds a browser session lasts at most */
    unsigned session_idle;           /* seconds without a request that end a session */
    bool secure_cookies;             /* --tls-proxy: the session cookie is Secure */
    char machine_label[80];          /* how the audit names the token file: "token NAME" */
};

struct engine;
struct api_cluster;

struct api_ctx {
    struct ep_store *store;
    const struct api_config *cfg;
    struct engine *engine;       /* the container engine (engine.h); NULL with --no-containers */
    struct api_cluster *cluster; /* cluster mode (cluster.h); NULL on a single host */
};

/* The daemon's version, as printed by --version and /api/health. */
const char *api_version(void);

#endif

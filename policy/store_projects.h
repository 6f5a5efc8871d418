/**
 * @file store_projects.h
 * @brief Projects (workspaces) and clients (IP → project) in the store.
 *
 * Part of the store's interface (store.h includes it). `projects` holds
 * one struct ep_project per id; `clients` one struct ep_client per mapped
 * IP, the row a decision reads, kept in step with the project's mode and
 * profile by every write here.
 */
#ifndef EP_STORE_PROJECTS_H
#define EP_STORE_PROJECTS_H

#include <stdint.h>

#include "policy/host.h"
#include "policy/rule.h"
#include "policy/store_env.h"

#define EP_ID_MAX        36  /**< project ids: 1..36 of [a-z0-9-] */
#define EP_NAME_MAX      400 /**< project name bytes (100 characters of UTF-8) */
#define EP_TYPE_MAX      32
#define EP_HASH_MAX      127 /**< a crypt(3) hash */
#define EP_CONTAINER_MAX 64

enum ep_mode { EP_MODE_NONE = 0, EP_MODE_SECURITY = 1, EP_MODE_LOGGING = 2 };

/** A project id: 1..EP_ID_MAX characters of [a-z0-9-]. 0 or EP_E_INVAL. */
int ep_project_id_validate(const char *id);

/** "none", "security", "logging"; NULL for a bad value. */
const char *ep_mode_name(enum ep_mode mode);
/** 0 and *out set, or EP_E_INVAL. */
int ep_mode_parse(const char *name, enum ep_mode *out);

/** Workspace (container) state as last seen by the API. */
enum ep_status {
    EP_STATUS_CREATED = 0,
    EP_STATUS_RUNNING = 1,
    EP_STATUS_STOPPED = 2,
    EP_STATUS_NOT_FOUND = 3,
};
/** "created", "running", "stopped", "not_found". */
const char *ep_status_name(enum ep_status status);

/** A project (workspace). Stored as is: fixed size, all strings NUL-terminated. */
struct ep_project {
    char id[EP_ID_MAX + 1];
    char name[EP_NAME_MAX + 1];
    char type[EP_TYPE_MAX + 1];
    char profile[EP_PROFILE_MAX + 1];
    char password_hash[EP_HASH_MAX + 1]; /**< "" when not protected */
    char ip[EP_IP_MAX + 1];              /**< "" when unmapped; mirrors `clients` */
    char container_id[EP_CONTAINER_MAX + 1];
    int64_t created_at;    /**< seconds since the epoch, UTC */
    uint32_t mode;         /**< enum ep_mode */
    uint32_t status;       /**< enum ep_status */
    uint64_t memory_bytes; /**< container memory limit, 0 = server default */
    uint64_t nano_cpus;    /**< container CPU limit, 0 = server default */
};

/** The hot-path row: what the ICAP service needs for one IP, no JSON, fixed size. */
struct ep_client {
    char project_id[EP_ID_MAX + 1];
    char profile[EP_PROFILE_MAX + 1];
    uint32_t mode; /**< enum ep_mode */
};

/** @name Projects @{ */
/**
 * Add @p p (id must be new). With @p max_projects > 0, refuses with
 * EP_E_LIMIT when that many projects exist already; the check and the
 * insert are one write transaction, so parallel creates never exceed it.
 * Creates the project's profile entry if it does not exist.
 */
int ep_store_project_create(struct ep_store *store, const struct ep_project *p,
                            unsigned max_projects);
int ep_store_project_get(struct ep_store *store, const char *id, struct ep_project *out);
/**
 * Replace the stored project with @p p (same id). Keeps `clients` in
 * step: a mode or profile change reaches the ICAP service with the commit.
 * The ip field is not changed here (see ep_store_client_map()).
 */
int ep_store_project_update(struct ep_store *store, const struct ep_project *p);
/**
 * Delete the project, its IP mapping and whatever every other part of the
 * store keeps of it (its seen records, its captured exchanges) in one
 * transaction.
 */
int ep_store_project_delete(struct ep_store *store, const char *id);
/**
 * Call @p fn for every project in id order, from one read transaction;
 * a non-zero return from @p fn stops the walk and is returned.
 */
int ep_store_projects_list(struct ep_store *store, int (*fn)(void *ctx, const struct ep_project *p),
                           void *ctx);
/** The same, starting with the first project whose id sorts after @p after (NULL: the first). */
int ep_store_projects_list_after(struct ep_store *store, const char *after,
                                 int (*fn)(void *ctx, const struct ep_project *p), void *ctx);
/** Number of projects, without reading them. */
int ep_store_projects_count(struct ep_store *store, uint64_t *out);
/** @} */

/** @name Clients (IP → project) @{ */
/**
 * Map canonical IP text @p ip to project @p id (and drop the project's
 * previous IP). EP_E_CONFLICT if another project holds @p ip,
 * EP_E_NOTFOUND if the project does not exist.
 */
int ep_store_client_map(struct ep_store *store, const char *ip, const char *id);
/** Remove the mapping of project @p id, if any (0 either way when the project exists). */
int ep_store_client_unmap(struct ep_store *store, const char *id);
/**
 * The `clients` row of canonical IP @p ip, in a decision's read
 * (store_env.h); EP_E_NOTFOUND when the IP is unmapped.
 */
int ep_store_read_client(struct ep_store_read *rd, const char *ip, struct ep_client *out);
/** @} */

#endif

/**
 * @file store.h
 * @brief The LMDB store shared by the ICAP children and egress-api.
 *
 * One environment (a directory), named databases, one fixed value layout
 * each, versioned by EP_STORE_SCHEMA in `meta`:
 *
 * | database | key                              | value                         |
 * |----------|----------------------------------|-------------------------------|
 * | meta     | "schema"                         | uint32 schema version         |
 * | projects | project id                       | struct ep_project             |
 * | clients  | canonical IP text                | struct ep_client (hot path)   |
 * | profiles | profile name                     | struct ep_profile_info        |
 * | rules    | profile NUL reversed-host        | uint8 mask of ep_rule_kind    |
 * |          | profile NUL "~" pattern          | (regex rules)                 |
 * |          | profile NUL "#" IP               | (ip: rules)                   |
 * |          | profile NUL ":" 5-digit port key | (rules with a port, covers.h) |
 * | seen     | project id NUL host[:port]       | struct ep_seen                |
 * | audit    | uint64 big-endian µs + seq       | struct ep_audit_entry text    |
 * | conversations, llm_hosts | see capture_store.h (schema 2) |                       |
 *
 * A store of schema 1 is upgraded to 2 by the first writer that opens it,
 * in one write transaction (new databases, default LLM hosts); a
 * read-only opener refuses it with EP_E_SCHEMA until then.
 *
 * Base domains are the rules of the reserved profile EP_PROFILE_BASE.
 *
 * Rules with a port (schema 2 still): their keys are a range of their own
 * (covers.h), so the keys of the rules without a port, and what they
 * mean, are those of every earlier store: no upgrade. A seen record of a
 * request to a port other than 80 and 443 is keyed by the host with that
 * port ("github.com:22", "[2001:db8::1]:22", ep_host_with_port()); one of
 * the web ports by the host alone, as before.
 *
 * @section caveats Caveats
 * - Open the store **after fork()**, in the process that uses it; an
 *   ep_store handle must never cross a fork. Close it before exit.
 * - The handle is thread-safe. Read transactions are pooled (MDB_NOTLS,
 *   reset/renew) and short; write transactions are serialised by LMDB
 *   across all processes, so every write function here is one short
 *   transaction, committed before it returns.
 * - A reader process killed mid-transaction leaves a stale reader slot;
 *   ep_store_open() runs mdb_reader_check() to clear them.
 * - MDB_MAP_FULL is returned as is (ep_strerror says so): the failed write
 *   is rolled back, everything committed before it stays.
 * - `maxreaders` must cover every thread of every process that reads at
 *   once (c-icap: MaxServers × ThreadsPerChild, plus egress-api's threads).
 *   The first opener of an environment fixes it for everyone.
 * - Processes may open the store with different map sizes; the largest
 *   one that wrote is committed in the environment. When another process
 *   has grown the data past this handle's map, LMDB refuses the next
 *   transaction with MDB_MAP_RESIZED; the handle then adopts the committed
 *   size (mdb_env_set_mapsize(env, 0)) and begins again, once. The remap
 *   needs every transaction of this process to have ended: new ones wait
 *   for it, and the pooled read transactions are dropped. A thread that
 *   still holds a transaction of its own gets MDB_MAP_RESIZED back instead
 *   of waiting for itself; its next call succeeds.
 * - A read taken with ep_store_read_begin() is ended by the thread that
 *   took it (the handle counts transactions per thread for the remap).
 */
#ifndef EP_STORE_H
#define EP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/error.h"
#include "policy/host.h"
#include "policy/rule.h"

#define EP_STORE_SCHEMA 2
/** Reserved profile holding the base domains (always allowed). */
#define EP_PROFILE_BASE    "@base"
#define EP_PROFILE_DEFAULT "default"

#define EP_ID_MAX        36  /**< project ids: 1..36 of [a-z0-9-] */
#define EP_NAME_MAX      400 /**< project name bytes (100 characters of UTF-8) */
#define EP_TYPE_MAX      32
#define EP_HASH_MAX      127 /**< a crypt(3) hash */
#define EP_IP_MAX        45  /**< INET6_ADDRSTRLEN - 1 */
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

struct ep_profile_info {
    char name[EP_PROFILE_MAX + 1];
    uint64_t generation; /**< bumped by every change to the profile's rules */
    uint32_t rules;      /**< number of rules */
    uint32_t projects;   /**< filled by ep_store_profiles_list() only */
};

/** What is known of one (project, host). Times are seconds since the epoch, UTC. */
struct ep_seen {
    uint64_t count; /**< requests seen, allowed + denied */
    uint64_t allowed;
    uint64_t denied;
    int64_t first_seen;
    int64_t last_seen;
    uint32_t last_verdict; /**< enum ep_verdict of decide.h */
};

/** One audit record. */
struct ep_audit_entry {
    int64_t time_us;            /**< microseconds since the epoch, UTC */
    char action[64];            /**< "project.create", "whitelist.replace", ... */
    char target[128];           /**< project id, profile, rule */
    char source[EP_IP_MAX + 1]; /**< the caller's address */
    char detail[256];           /**< free text, never a secret */
};

struct ep_store;

/**
 * @name Defaults of the store's options
 * The one place of each: the store, egress-api's options and the c-icap
 * module's directives read them.
 */
/** @{ */
#define EP_STORE_DEFAULT_MAP_SIZE    ((size_t)1 << 30) /**< 1 GiB */
#define EP_STORE_DEFAULT_MAX_READERS 512
/** Memory of a handle's key filters together (1.25 MB is one of 1,000,000 rules). */
#define EP_STORE_DEFAULT_KEY_FILTER_MEMORY ((size_t)16 << 20) /**< 16 MiB */
#define EP_STORE_DEFAULT_DIR               "/var/lib/egress-policy"
/** @} */

/**
 * @name Bounds of the store's options
 * The one set every program offers its users (policy/gate.h parses them
 * for the programs that decide).
 */
/** @{ */
#define EP_STORE_MAX_READERS_MIN       16u
#define EP_STORE_MAX_READERS_MAX       (1u << 20)
#define EP_STORE_MAP_SIZE_MIN          ((size_t)1 << 20)   /**< 1 MiB; the most is SIZE_MAX */
#define EP_STORE_KEY_FILTER_MEMORY_MIN ((size_t)64 << 10)  /**< 64 KiB */
#define EP_STORE_KEY_FILTER_MEMORY_MAX ((uint64_t)4 << 30) /**< 4 GiB */
/** @} */

struct ep_store_options {
    size_t map_size;      /**< bytes; 0 = EP_STORE_DEFAULT_MAP_SIZE */
    unsigned max_readers; /**< 0 = EP_STORE_DEFAULT_MAX_READERS */
    bool read_only;       /**< no schema creation; writes fail with EACCES */
    /**
     * No key filters: decisions on profiles of 4,096 rules or more search
     * the tree only (no memory per handle, no pass over a profile's keys
     * after each change; the same answers).
     */
    bool no_key_filter;
    /**
     * The most memory the key filters of this handle hold together, in
     * bytes (10 bits a rule of each large profile in use); 0 =
     * EP_STORE_DEFAULT_KEY_FILTER_MEMORY. Older filters are dropped to make
     * room; a profile whose filter alone would not fit gets none.
     */
    size_t key_filter_memory;
};

/**
 * Open (creating if needed) the store in directory @p dir, which must
 * exist. Creates the databases, writes the schema version and the default
 * base domains on first use; refuses a store of another schema with
 * EP_E_SCHEMA. Clears stale reader slots.
 * @param opts  NULL for defaults
 */
int ep_store_open(const char *dir, const struct ep_store_options *opts, struct ep_store **out);
/** Close the store. Every reader must have been released. NULL is fine. */
void ep_store_close(struct ep_store *store);
/**
 * Bytes the key filters of this handle hold right now (at most the
 * handle's key_filter_memory), for tests, benchmarks and metrics.
 */
size_t ep_store_key_filter_bytes(struct ep_store *store);
/** Number of reader slots in use right now (all processes), for tests and /api/health. */
int ep_store_readers_used(struct ep_store *store, unsigned *out);
/**
 * The id of the last committed write transaction of any process: it
 * changes with every change to the store, so it makes a cheap validator
 * (an ETag) for answers read from it. Reads only the lock file's header.
 */
int ep_store_generation(struct ep_store *store, uint64_t *out);

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
/** Delete the project, its IP mapping, its seen records and its captured exchanges in one
 * transaction. */
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
/** @} */

/** @name Rules (whitelists per profile; base domains are profile EP_PROFILE_BASE) @{ */
/** Add one rule; *@p added is false when it was there already. */
int ep_store_rule_add(struct ep_store *store, const char *profile, const struct ep_rule *rule,
                      bool *added);
/** Remove one rule; EP_E_NOTFOUND when absent. */
int ep_store_rule_remove(struct ep_store *store, const char *profile, const struct ep_rule *rule);
/**
 * Add @p n rules in one transaction; @p added (may be NULL) receives, per
 * rule, whether it was new.
 */
int ep_store_rules_add(struct ep_store *store, const char *profile, const struct ep_rule *rules,
                       size_t n, bool *added);
/** Replace every rule of @p profile with @p rules, in one transaction. */
int ep_store_rules_replace(struct ep_store *store, const char *profile, const struct ep_rule *rules,
                           size_t n);
/**
 * Call @p fn for each rule of @p profile: the rules without a port (host
 * rules in reversed-host order, then ip:, then regex), then those with a
 * port, by port.
 */
int ep_store_rules_list(struct ep_store *store, const char *profile,
                        int (*fn)(void *ctx, const struct ep_rule *r), void *ctx);
/** Profile info, EP_E_NOTFOUND if it has never been created. */
int ep_store_profile_get(struct ep_store *store, const char *profile, struct ep_profile_info *out);
/** Every profile but EP_PROFILE_BASE, with rule and project counts. */
int ep_store_profiles_list(struct ep_store *store,
                           int (*fn)(void *ctx, const struct ep_profile_info *p), void *ctx);
/** @} */

/** @name Seen records (what a workspace reached) @{ */
/** One pending change to a seen record, as the recorder batches them. */
struct ep_seen_delta {
    const char *project_id;
    const char *host;
    uint64_t allowed;
    uint64_t denied;
    int64_t first_seen; /**< time of the first request in this batch */
    int64_t last_seen;  /**< time of the last request in this batch */
    uint32_t last_verdict;
};
/**
 * Add @p n deltas to the seen records in one write transaction (creating
 * records as needed). A delta's host is a canonical host, or one with a
 * port as ep_host_with_port() writes it (at most EP_HOST_PORT_MAX bytes).
 */
int ep_store_seen_add(struct ep_store *store, const struct ep_seen_delta *d, size_t n);
/** Walk the seen records of one project in host order. */
int ep_store_seen_list(struct ep_store *store, const char *project_id,
                       int (*fn)(void *ctx, const char *host, const struct ep_seen *s), void *ctx);
/**
 * The same, starting with the first host that sorts after @p after (NULL:
 * the first): a page of a long list costs that page, not what precedes it.
 */
int ep_store_seen_list_after(struct ep_store *store, const char *project_id, const char *after,
                             int (*fn)(void *ctx, const char *host, const struct ep_seen *s),
                             void *ctx);
/** Number of seen records in the whole store (for /metrics). */
int ep_store_seen_total(struct ep_store *store, uint64_t *out);
/** Delete every seen record of one project. */
int ep_store_seen_clear(struct ep_store *store, const char *project_id);
/** @} */

/** @name Audit log @{ */
/** Append an entry; time_us 0 means now. */
int ep_store_audit_append(struct ep_store *store, const struct ep_audit_entry *e);
/** Walk entries newest first, at most @p limit (0 = all). */
int ep_store_audit_list(struct ep_store *store, size_t limit,
                        int (*fn)(void *ctx, const struct ep_audit_entry *e), void *ctx);
/** @} */

/** @name Decision support (for decide.c)
 * One pooled read transaction serves a whole decision: take it with
 * ep_store_read_begin(), give it back with ep_store_read_end() on every
 * path. Nothing here allocates once the pool and the regex cache are warm.
 * @{ */
struct ep_store_read;
/** Take a pooled read transaction, renewed so it sees the latest commit. */
int ep_store_read_begin(struct ep_store *store, struct ep_store_read **out);
/** Reset @p rd and keep it for the next caller. NULL is fine. */
void ep_store_read_end(struct ep_store_read *rd);
/** The `clients` row of canonical IP @p ip; EP_E_NOTFOUND when the IP is unmapped. */
int ep_store_read_client(struct ep_store_read *rd, const char *ip, struct ep_client *out);
/**
 * The most specific rule of @p profile covering a request to canonical
 * @p host on port @p port (covers.h: 0, 80 and 443 are the web ports): the
 * host itself, then each ancestor, ip: rules for IP literals, regex rules
 * last (compiled once per profile generation, cached in the store handle;
 * web ports only). For any other port only the rules naming that port are
 * looked at, in the same order and at the same cost (their keys are a
 * range of the profile laid out as the web ports' are). 0 with @p matched
 * filled (its port included), EP_E_NOTFOUND when no rule matches, or a
 * store error.
 *
 * Cost: the nearest ancestor is found by jumping between neighbouring
 * keys of the `rules` tree (typically one to three positionings, however
 * many labels the host has), and the regex step is skipped when the
 * profile has no regex rule. The base profile (EP_PROFILE_BASE) is
 * matched from a copy in memory kept by each pooled read and refreshed
 * when its generation in `profiles` changes, so a committed change still
 * applies to the next decision; a base profile of more than 1,024 rules
 * is searched in the tree instead.
 */
int ep_store_read_match(struct ep_store_read *rd, const char *profile, const char *host, int port,
                        struct ep_rule *matched);
/** @} */

#endif

/**
 * @file store_env.h
 * @brief The store's handle: open and close one LMDB environment, its
 * options, and the pooled read transactions a decision takes.
 *
 * Part of the store's interface (store.h includes it); the databases and
 * what each holds are listed in store.h.
 *
 * @section caveats Caveats
 * - Open the store **after fork()**, in the process that uses it; an
 *   ep_store handle must never cross a fork. Close it before exit.
 * - The handle is thread-safe. Read transactions are pooled (MDB_NOTLS,
 *   reset/renew) and short; write transactions are serialised by LMDB
 *   across all processes, so every write function of the store is one
 *   short transaction, committed before it returns.
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
#ifndef EP_STORE_ENV_H
#define EP_STORE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/error.h"

/** The schema this version writes and reads (a store of schema 1 or 2 is upgraded). */
#define EP_STORE_SCHEMA 3

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
/** Number of reader slots in use right now (all processes), for tests and /api/health. */
int ep_store_readers_used(struct ep_store *store, unsigned *out);
/**
 * The id of the last committed write transaction of any process: it
 * changes with every change to the store, so it makes a cheap validator
 * (an ETag) for answers read from it. Reads only the lock file's header.
 */
int ep_store_generation(struct ep_store *store, uint64_t *out);

/** How full the environment is, for the metrics (policy/metrics.h). */
struct ep_store_usage {
    uint64_t map_size;     /**< the map's size as this handle has it, bytes */
    uint64_t map_used;     /**< bytes up to the last page in use */
    unsigned readers_used; /**< reader slots in use now, all processes */
    unsigned readers_max;  /**< reader slots of the environment */
};
/** Fill @p out; reads the lock file's and the data file's headers only. */
int ep_store_usage(struct ep_store *store, struct ep_store_usage *out);

/** @name Reads for a decision
 * One pooled read transaction serves a whole decision: take it with
 * ep_store_read_begin(), give it back with ep_store_read_end() on every
 * path. Nothing here allocates once the pool is warm. What a read looks
 * up: ep_store_read_client() (store_projects.h), ep_store_read_match()
 * (store_match.h).
 * @{ */
struct ep_store_read;
/** Take a pooled read transaction, renewed so it sees the latest commit. */
int ep_store_read_begin(struct ep_store *store, struct ep_store_read **out);
/** Reset @p rd and keep it for the next caller. NULL is fine. */
void ep_store_read_end(struct ep_store_read *rd);
/** @} */

#endif

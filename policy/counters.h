/**
 * @file counters.h
 * @brief The proxy side's shared counters: one small file beside the
 * store that every process that decides adds to, and any program reads.
 *
 * squid runs several egress-acl helpers, c-icap several children with
 * many threads each; a count kept in one process is a fraction of the
 * whole. So each counter is one 64-bit slot of a file mapped shared
 * (MAP_SHARED) by every process, and every increment is one atomic add
 * on it: the sum over all processes is exact, with no lock, and a process
 * that dies (even kill -9) leaves nothing half-done. egress-api (or any
 * program: ep_counters_snapshot()) reads the slots and serves them
 * (policy/metrics.h renders them as Prometheus text).
 *
 * The file is `counters` in the store's directory (EP_COUNTERS_FILE):
 * per store, so per node. Whoever opens it first makes it with the
 * access of the store's data.mdb (its mode; its owner and group too when
 * that process runs as root), so every program that can open the store
 * (egress-acl as squid's proxy user, c-icap's children, egress-api) can
 * add to it; with no data.mdb yet, 0664 less the umask, as LMDB makes
 * its own files.
 * Counters persist across restarts (they only ever grow; Prometheus reads
 * a fresh file as a counter reset).
 *
 * The layout: a 64-byte header (magic "EPCOUNT\n", the layout number, the
 * number of slots) and EP_COUNTERS_SLOTS slots of uint64_t. New counters
 * take slots nobody used before and keep the layout number: older
 * programs neither write nor show them. Only a change of an existing
 * slot's meaning changes EP_COUNTERS_LAYOUT; the first writer of the new
 * layout then replaces the file (a new one renamed over it: every counter
 * starts at zero), and programs of the old layout still running add to
 * the old file, unseen, until they are restarted. A reader refuses a
 * layout it does not know (EP_E_SCHEMA).
 *
 * @section caveats Caveats
 * - ep_counters_open() may run before or after fork(); a mapping crosses
 *   fork() and stays shared, which is what the counters want.
 * - ep_counters_add() is async-signal-safe and thread-safe; NULL is fine
 *   (a program whose counters file did not open counts nothing).
 */
#ifndef EP_COUNTERS_H
#define EP_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/error.h"

/** The file's name in the store's directory. */
#define EP_COUNTERS_FILE "counters"
/** The layout number written in the header; see the file's caveats. */
#define EP_COUNTERS_LAYOUT 1
/** Slots in the file (4 KiB of counters). */
#define EP_COUNTERS_SLOTS 512

/** @name The slots of layout 1
 * Arrays are indexed by a front-end path (enum ep_gate_path, below
 * EP_COUNTERS_PATHS), a mode (enum ep_mode, or EP_COUNTERS_MODE_UNKNOWN
 * for a request of no project) and a verdict.
 * @{ */
#define EP_COUNTERS_PATHS        8 /**< room for front-end paths */
#define EP_COUNTERS_MODES        4 /**< none, security, logging, unknown */
#define EP_COUNTERS_MODE_UNKNOWN 3 /**< no project: unknown client, bad host, store missing */
/** Decisions: path x mode x (allowed, denied), slots 0..63. */
#define EP_COUNTER_DECISION(path, mode, denied)                                                    \
    ((unsigned)(path)*8u + (unsigned)(mode)*2u + ((denied) ? 1u : 0u))
#define EP_COUNTER_RECORDED(path)     (64u + (unsigned)(path)) /**< requests handed to the recorder */
#define EP_COUNTER_STORE_ERRORS(path) (72u + (unsigned)(path)) /**< errors counted by a gate */
#define EP_COUNTER_READERS_FULL(path) (80u + (unsigned)(path)) /**< of those, MDB_READERS_FULL */
/** Buckets of the recorder's flush lag, in µs ("le"); the last is +Inf. */
#define EP_COUNTERS_LAG_BUCKETS 12
/** @} */

/** The single counters, by slot. */
enum ep_counter {
    EP_COUNTER_RECORDER_DISCOVERIES = 88,  /**< first requests of a pair, written at once */
    EP_COUNTER_RECORDER_FLUSHES = 89,      /**< flushes that wrote pending counts */
    EP_COUNTER_RECORDER_FLUSH_ERRORS = 90, /**< flushes that failed (counts kept pending) */
    EP_COUNTER_RECORDER_LAG_SUM_US = 91,   /**< sum of the flushes' lags, µs */
    EP_COUNTER_RECORDER_LAG_BUCKET = 96,   /**< 96..107: flushes with a lag up to each bound */
    EP_COUNTER_CAPTURE_EXCHANGES = 112,    /**< exchanges stored in conversations */
    EP_COUNTER_CAPTURE_TRUNCATIONS = 113,  /**< halves whose body was cut at the cap */
    /** @name egress-dns's own counters @{ */
    EP_COUNTER_DNS_QUERIES = 120,           /**< queries read */
    EP_COUNTER_DNS_BLOCKED = 121,           /**< names the policy denied */
    EP_COUNTER_DNS_REFUSED = 122,           /**< queries refused: an unknown client */
    EP_COUNTER_DNS_RATE_LIMITED = 123,      /**< queries refused by the rate limit */
    EP_COUNTER_DNS_NAME_CAP = 124,          /**< times the distinct-name cap was hit */
    EP_COUNTER_DNS_UPSTREAM_FAILURES = 125, /**< upstream resolutions that failed */
    EP_COUNTER_DNS_ANSWERED = 126,          /**< answered as the upstream answered */
    EP_COUNTER_DNS_MALFORMED = 127,         /**< packets that were no readable query */
    /** @} */
};

/** The upper bounds of the lag buckets, µs (the last, UINT64_MAX, is +Inf). */
extern const uint64_t ep_counters_lag_bounds_us[EP_COUNTERS_LAG_BUCKETS];

struct ep_counters;

/**
 * Map the counters file of the store directory @p dir, creating it (or
 * replacing one of another layout) unless @p read_only.
 * @return 0 with *@p out set, EP_E_SCHEMA (read-only: a layout this
 *         program does not know), EP_E_NOMEM, or an errno (ENOENT: no file
 *         and @p read_only; EACCES).
 */
int ep_counters_open(const char *dir, bool read_only, struct ep_counters **out);

/** Unmap and free. NULL is fine. */
void ep_counters_close(struct ep_counters *c);

/** Add @p n to slot @p slot (atomic; below EP_COUNTERS_SLOTS). NULL or a read-only map: nothing. */
void ep_counters_add(struct ep_counters *c, unsigned slot, uint64_t n);

/**
 * Count one flush lag of @p lag_us µs: the slot of its bucket (the first
 * bound not below it; slots hold per-bucket counts, a reader sums them
 * up to "le") and the sum.
 */
void ep_counters_add_lag(struct ep_counters *c, uint64_t lag_us);

/** Copy every slot into @p out (EP_COUNTERS_SLOTS values), each read atomically. */
void ep_counters_snapshot(struct ep_counters *c, uint64_t out[EP_COUNTERS_SLOTS]);

#endif

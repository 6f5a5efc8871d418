/**
 * @file gate.h
 * @brief The one gate into the policy for every program that decides.
 *
 * srv_egress.so, srv_capture.so and egress-acl (and any plain C program
 * that decides: it needs no c-icap) go through a gate for what they used
 * to write each on their own:
 *
 * - **the store options**, with one set of bounds and defaults and one
 *   parser (ep_gate_option_set()), whatever the front end calls them
 *   (a c-icap directive, a command-line option);
 * - **the store**, opened lazily: at start and, while that fails, again
 *   at most once per interval, so a store that appears later or recovers
 *   is picked up without a restart; with the recorder started over it;
 * - **store errors**, counted and logged at most once per interval with
 *   the number of similar errors left out;
 * - **decide and record**: ep_decide(), the recorder, the counters and
 *   one log line per decision;
 * - **the reason text** "REASON; host=HOST; project=ID[; rule=RULE]" that
 *   squid logs and shows, whichever front end decided.
 *
 * A front end gives the gate two hooks: where a log line goes (c-icap's
 * debug log, stderr) and where a counter increment goes (c-icap's stat
 * counters); the gate keeps its own totals as well (ep_gate_counts()).
 * It also adds every count to the store's shared counters file
 * (policy/counters.h), opened with the store, under the front end's path
 * (ep_gate_options.path): decisions by path, mode and verdict, requests
 * recorded, errors and full reader tables by path, and the recorder's
 * flushes; a front end adds its own counters there with
 * ep_gate_counter_add() (the capture writer, egress-dns). All processes'
 * counts add up exactly there, which is what /metrics serves.
 *
 * @section caveats Caveats
 * - ep_gate_new() opens nothing: it may run before fork() (c-icap's
 *   post-init in the master). The store is opened by the first
 *   ep_gate_store() or ep_gate_decide() in the process that uses it, and
 *   ep_gate_close() closes it there; a gate must not cross a fork() while
 *   its store is open.
 * - Every function but ep_gate_new(), ep_gate_close() and ep_gate_free()
 *   is thread-safe. ep_gate_close() and ep_gate_free() run when no other
 *   thread uses the gate (c-icap: at child stop, after the worker
 *   threads are gone).
 * - Hooks are called from any thread that decides, and must not call the
 *   gate back.
 */
#ifndef EP_GATE_H
#define EP_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/counters.h"
#include "policy/decide.h"
#include "policy/store.h"

/** @name The gate's own option bounds (the store's are in store.h) @{ */
#define EP_GATE_PATH_MAX            4096 /**< buffer of a store path, NUL included */
#define EP_GATE_DEFAULT_INTERVAL_MS 1000 /**< the flush (and retry, and log) interval */
#define EP_GATE_INTERVAL_MIN_MS     10
#define EP_GATE_INTERVAL_MAX_MS     (3600u * 1000)
/** @} */

/** Room for a reason text (ep_gate_reason_text()), NUL included. */
#define EP_GATE_TEXT_BUFSZ (64 + EP_HOST_BUFSZ + EP_ID_MAX + EP_RULE_BUFSZ)

/** The front end a gate serves: the path label of its counters. */
enum ep_gate_path {
    EP_GATE_PATH_OTHER = 0, /**< a program that did not say (tests, tools) */
    EP_GATE_PATH_ACL,       /**< egress-acl, squid's external ACL helper */
    EP_GATE_PATH_ICAP,      /**< srv_egress.so, the ICAP decision */
    EP_GATE_PATH_DNS,       /**< egress-dns */
    EP_GATE_PATH_CAPTURE,   /**< srv_capture.so (decides nothing; its errors) */
    EP_GATE_PATHS,
};

/** "other", "acl", "icap", "dns", "capture" (the metrics' path label). */
const char *ep_gate_path_name(enum ep_gate_path path);

/** What a program that decides sets about the store and the decision. */
struct ep_gate_options {
    char database[EP_GATE_PATH_MAX]; /**< the store's directory, an absolute path */
    unsigned max_readers;            /**< LMDB reader slots if this process creates the store */
    size_t map_size;                 /**< LMDB map size in bytes */
    /**
     * How often the recorder flushes, the store is tried again while it
     * does not open, and a store error is logged at most.
     */
    unsigned interval_ms;
    bool unknown_allow;       /**< a client mapped to no project is allowed (not recorded) */
    bool no_key_filter;       /**< see ep_store_options */
    size_t key_filter_memory; /**< see ep_store_options */
    bool record;              /**< run a recorder: decisions that say so are recorded */
    bool log_decisions;       /**< one log line per decision (EP_GATE_LOG_DECISION) */
    enum ep_gate_path path;   /**< which front end counts (default EP_GATE_PATH_OTHER) */
};

/** The options a front end may let its user set, by what they mean. */
enum ep_gate_option {
    EP_GATE_OPT_DATABASE,          /**< an absolute directory path */
    EP_GATE_OPT_UNKNOWN_CLIENT,    /**< deny or allow */
    EP_GATE_OPT_INTERVAL,          /**< a duration, 10ms..3600s (a bare number: seconds) */
    EP_GATE_OPT_MAX_READERS,       /**< EP_STORE_MAX_READERS_MIN..EP_STORE_MAX_READERS_MAX */
    EP_GATE_OPT_MAP_SIZE,          /**< a size (policy/size.h), at least EP_STORE_MAP_SIZE_MIN */
    EP_GATE_OPT_KEY_FILTER,        /**< on or off */
    EP_GATE_OPT_KEY_FILTER_MEMORY, /**< a size, EP_STORE_KEY_FILTER_MEMORY_MIN.._MAX */
};

/**
 * Fill @p opts with the defaults: EP_STORE_DEFAULT_DIR, the store's
 * defaults of store.h, EP_GATE_DEFAULT_INTERVAL_MS, unknown clients
 * denied, key filters on, a recorder, no decision log.
 */
void ep_gate_options_default(struct ep_gate_options *opts);

/**
 * Set option @p opt of @p opts from the text @p value, as a user wrote it.
 * @param why if not NULL, receives on refusal a sentence saying what is
 *            wrong with @p value (at most @p whysz bytes); the caller
 *            prefixes the option's name as its users know it
 * @return 0, or EP_E_INVAL (@p opts unchanged).
 */
int ep_gate_option_set(struct ep_gate_options *opts, enum ep_gate_option opt, const char *value,
                       char *why, size_t whysz);

/** What a log line is about. */
enum ep_gate_log_kind {
    EP_GATE_LOG_ERROR = 1,    /**< a store error (rate-limited) */
    EP_GATE_LOG_DECISION = 2, /**< one decision (only with log_decisions) */
};

/** The gate's counters. */
enum ep_gate_counter {
    EP_GATE_ALLOWED = 0,
    EP_GATE_DENIED,
    EP_GATE_RECORDED,     /**< requests handed to the recorder */
    EP_GATE_ERRORS,       /**< store errors, logged or not */
    EP_GATE_READERS_FULL, /**< of the errors, a full reader table (an overload) */
    EP_GATE_COUNTERS,
};

/** Where the gate's log lines and counter increments go. Every member may be NULL. */
struct ep_gate_hooks {
    /** One line, without a newline or a program prefix. */
    void (*log)(void *ctx, enum ep_gate_log_kind kind, const char *line);
    /** Counter @p counter went up by one. */
    void (*count)(void *ctx, enum ep_gate_counter counter);
    void *ctx;
};

/** The totals of a gate's counters. */
struct ep_gate_counts {
    uint64_t allowed, denied, recorded, errors, readers_full;
};

struct ep_gate;

/**
 * A gate with a copy of @p opts and @p hooks (NULL: none). Opens nothing.
 * @return 0, EP_E_INVAL (an option out of its bounds) or EP_E_NOMEM.
 */
int ep_gate_new(const struct ep_gate_options *opts, const struct ep_gate_hooks *hooks,
                struct ep_gate **out);

/**
 * The store of this gate, opened (with the recorder) when it is not open
 * yet and the last attempt is an interval old.
 * @param what if not NULL: when this call tried to open the store and
 *             failed, the error is counted and logged as @p what
 *             (ep_gate_log_error()); a caller that counts every request
 *             the store was missing for passes NULL and logs itself
 * @return 0 with *@p out set, or the error of the last attempt to open it
 *         (*@p out NULL).
 */
int ep_gate_store(struct ep_gate *gate, const char *what, struct ep_store **out);

/**
 * Count store error @p err (and a full reader table apart) and log
 * "WHAT (store DIR): ERROR (N similar errors not logged)", at most once
 * per interval.
 */
void ep_gate_log_error(struct ep_gate *gate, const char *what, int err);

/** One request to decide, as a front end read it. */
struct ep_gate_request {
    const char *client_ip; /**< canonical IP text; NULL or "" = unknown client */
    const char *method;    /**< as sent (CONNECT matters to the intercept check) */
    /** The canonical host (host.h); NULL when the request named none that could be read. */
    const char *host;
    int port;       /**< the destination port (the request URL's); 0 = unknown */
    bool no_record; /**< decide without recording (a second look at a counted request) */
    /** It came through squid's intercepting http_port: the intercept check applies. */
    bool intercept;
    /** The Host header as sent (for the intercept check); NULL when there was none. */
    const char *host_header;
};

/** What the gate decided, and what to show and log. */
struct ep_gate_result {
    enum ep_verdict verdict;
    const char *reason;       /**< static: ep_reason_name(), "bad-host" or an intercept reason */
    enum ep_mode mode;        /**< the project's mode, NONE when unknown */
    bool recorded;            /**< handed to the recorder */
    char host[EP_HOST_BUFSZ]; /**< the canonical host, "invalid" when there was none */
    char project_id[EP_ID_MAX + 1]; /**< "" for an unknown client */
    char rule[EP_RULE_BUFSZ];       /**< the rule that allowed it, "" if none */
    char text[EP_GATE_TEXT_BUFSZ];  /**< the reason text (ep_gate_reason_text()) */
};

/**
 * Decide @p req: a request without a host is denied (bad-host); a store
 * that is not open denies it (store-error); else ep_decide() decides with
 * the gate's unknown-client choice. An intercepted request (@p
 * req->intercept) that fails ep_gate_intercept_check() is denied with
 * that reason whatever the rules say. The request is handed to the
 * recorder with the final verdict when the decision says so (and neither
 * the request nor the gate says no). Counts it allowed or denied, logs
 * one decision line when log_decisions is on ("allow|deny METHOD HOST
 * from CLIENT: TEXT", HOST with ":PORT" when the port is known). Always
 * fills @p out.
 * @return 0, or the store error the decision fell back on (already
 *         counted and logged).
 */
int ep_gate_decide(struct ep_gate *gate, const struct ep_gate_request *req,
                   struct ep_gate_result *out);

/**
 * The intercept check. On squid's intercepting http_port squid decides on
 * the request URL's host, but forwards an absolute-form request ("GET
 * http://name/") to the connection's original destination, and
 * host_verify_strict verifies only a Host header that is present. So an
 * intercepted request passes only when it is not CONNECT, carries a Host
 * header, and the Host header's host equals the request's @p req->host
 * (both canonical, host.h; a Host header that does not normalise is a
 * mismatch); when the Host header names a port and @p req->port is known
 * the two ports must be equal too.
 * @param reason receives, when it fails, "intercept-connect",
 *               "intercept-no-host" or "intercept-host-mismatch"
 * @return true when @p req passes (or is not intercepted).
 */
bool ep_gate_intercept_check(const struct ep_gate_request *req, const char **reason);

/**
 * Whether an ip: rule of the project of @p req->client_ip (its profile or
 * the base domains, in the decision's order; any mode) names the IP
 * literal @p req->host on @p req->port (a rule without a port: 80, 443 or
 * unknown; "ip:ADDR:PORT": that port): squid opens an internal
 * destination (link-local, RFC 1918, ...) only for such a rule. Fills @p out: EP_VERDICT_ALLOW with
 * reason "ip-rule" and the rule, or EP_VERDICT_DENY with "no-ip-rule",
 * "not-ip" (the host is a name), "unknown-client", "bad-host" or
 * "store-error". Never recorded, counted or logged as a decision; a store
 * error is counted and logged.
 * @return 0, or the store error.
 */
int ep_gate_ip_rule(struct ep_gate *gate, const struct ep_gate_request *req,
                    struct ep_gate_result *out);

/**
 * Add @p n to counter @p counter of the store's shared counters file
 * (policy/counters.h): how a front end counts what only it knows
 * (egress-dns: EP_COUNTER_DNS_*; the capture writer). Nothing while the
 * file is not open (the store never opened, or the file could not be
 * made: logged once). Thread-safe.
 */
void ep_gate_counter_add(struct ep_gate *gate, enum ep_counter counter, uint64_t n);

/** Copy this gate's counter totals into @p out. */
void ep_gate_counts(struct ep_gate *gate, struct ep_gate_counts *out);

/**
 * Write the one reason text "REASON; host=HOST; project=ID[; rule=RULE]"
 * into @p out (EP_GATE_TEXT_BUFSZ bytes): project "" is written "-", the
 * rule part is left out when @p rule is NULL or "". srv_egress sends it
 * in X-Egress-Reason, egress-acl in log= and message=.
 */
void ep_gate_reason_text(const char *reason, const char *host, const char *project_id,
                         const char *rule, char *out);

/**
 * Stop the recorder (its last flush writes every count), close the
 * store and unmap the counters file; the next ep_gate_store() may open
 * them again. NULL is fine.
 */
void ep_gate_close(struct ep_gate *gate);

/** ep_gate_close() and free. NULL is fine. */
void ep_gate_free(struct ep_gate *gate);

#endif

/**
 * @file capture_store.h
 * @brief Captured LLM API exchanges and the LLM host list, in the store.
 *
 * Two databases of the store (schema 2, see store.h):
 *
 * | database      | key                                 | value                    |
 * |---------------|-------------------------------------|--------------------------|
 * | conversations | project id NUL uint64 big-endian id | head + nine text fields  |
 * | llm_hosts     | canonical host                      | one byte (1)             |
 * | capture_pending | join key (squid's transaction id)  | project id, exchange     |
 *
 * An exchange id is the capture time in microseconds, bumped by one when
 * that key is taken, so a project's exchanges are in time order and the
 * oldest is the first key of its prefix. Id 0 of a project holds its
 * number of exchanges (uint64), which makes the cap one lookup. Bodies are stored decoded
 * (gzip/deflate/br removed) and at most the capture's size cap; headers
 * are stored only after ep_capture_redact_headers() removed every secret.
 *
 * @section caveats Caveats
 * - The text fields a list or get callback receives point into the
 *   store's map and are valid only during the callback.
 * - Limits (retention, per-project cap) are applied to the project of
 *   each ep_capture_put() in the same transaction; ep_capture_prune()
 *   applies them to every project (run it now and then).
 */
#ifndef EP_CAPTURE_STORE_H
#define EP_CAPTURE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/store.h"

/** @name Flags of a captured exchange @{ */
#define EP_CAPTURE_REQ_TRUNCATED  0x01u /**< request body over the cap: cut */
#define EP_CAPTURE_RESP_TRUNCATED 0x02u /**< response body over the cap: cut */
#define EP_CAPTURE_INCOMPLETE     0x04u /**< no response, or the stream was cut */
#define EP_CAPTURE_RAW            0x08u /**< a body of an unknown shape: stored as is */
#define EP_CAPTURE_STREAMED       0x10u /**< the response was Server-Sent Events */
#define EP_CAPTURE_UNDECODED      0x20u /**< a content coding could not be decoded */
/** @} */

/** A piece of text that need not be NUL-terminated. */
struct ep_capture_text {
    const char *p;
    size_t n;
};

/** One captured request/response exchange. */
struct ep_capture {
    uint64_t id;     /**< set by the store */
    int64_t time_us; /**< when the request was seen, µs since the epoch, UTC */
    uint32_t status; /**< HTTP status of the response, 0 when none */
    uint32_t flags;  /**< EP_CAPTURE_* */
    uint64_t input_tokens, output_tokens; /**< from the usage the API reported, 0 when none */
    uint64_t request_size, response_size; /**< body bytes seen, before any truncation */
    struct ep_capture_text host, method, path;
    struct ep_capture_text model;      /**< from the request or the response, may be empty */
    struct ep_capture_text first_user; /**< the first user message (shortened), may be empty */
    struct ep_capture_text request_headers, response_headers; /**< redacted, "Name: value\r\n"... */
    struct ep_capture_text request_body, response_body;
};

/** Limits applied when an exchange is stored and by ep_capture_prune(). */
struct ep_capture_limits {
    int64_t retention_s;  /**< exchanges older than this are deleted; 0 = kept */
    uint32_t project_max; /**< most exchanges kept per project (oldest go); 0 = no cap */
};

/**
 * Store exchange @p c of project @p project_id, then apply @p limits (may
 * be NULL) to that project, in one write transaction. *@p id (may be
 * NULL) receives the new id. EP_E_NOTFOUND when the project does not exist.
 */
int ep_capture_put(struct ep_store *store, const char *project_id, const struct ep_capture *c,
                   const struct ep_capture_limits *limits, uint64_t *id);
/**
 * Call @p fn for every exchange of @p project_id, oldest first, from one
 * read transaction; a non-zero return stops the walk and is returned.
 */
int ep_capture_list(struct ep_store *store, const char *project_id,
                    int (*fn)(void *ctx, const struct ep_capture *c), void *ctx);
/** Call @p fn for exchange @p id of @p project_id; EP_E_NOTFOUND when absent. */
int ep_capture_get(struct ep_store *store, const char *project_id, uint64_t id,
                   int (*fn)(void *ctx, const struct ep_capture *c), void *ctx);
/** Delete exchange @p id of @p project_id (EP_E_NOTFOUND when absent). */
int ep_capture_delete(struct ep_store *store, const char *project_id, uint64_t id);
/** Delete every exchange of @p project_id; *@p n (may be NULL) receives how many. */
int ep_capture_clear(struct ep_store *store, const char *project_id, uint64_t *n);
/**
 * Apply @p limits to every project at time @p now_us, and store request
 * halves older than EP_CAPTURE_PENDING_S as incomplete exchanges; *@p n
 * (may be NULL): how many exchanges went.
 */
int ep_capture_prune(struct ep_store *store, const struct ep_capture_limits *limits, int64_t now_us,
                     uint64_t *n);

/** @name Request halves waiting for their response
 * The capture service sees a request (ICAP REQMOD) and its response
 * (RESPMOD) as two transactions, possibly in two processes; the request
 * half waits in `capture_pending` under a key both know (squid's master
 * transaction id and the client address) until the response takes it.
 * @{ */
/** Seconds a request half waits; ep_capture_prune() then stores it alone, marked incomplete. */
#define EP_CAPTURE_PENDING_S 600
/** Keep the request half @p c of project @p project_id under @p key (replacing one there). */
int ep_capture_pending_put(struct ep_store *store, const char *key, const char *project_id,
                           const struct ep_capture *c);
/**
 * Call @p fn with the request half under @p key and delete it, in one
 * write transaction (so @p fn must not call the store). EP_E_NOTFOUND
 * when there is none; a non-zero return of @p fn keeps it and is returned.
 */
int ep_capture_pending_take(struct ep_store *store, const char *key,
                            int (*fn)(void *ctx, const char *project_id,
                                      const struct ep_capture *c),
                            void *ctx);

/** What one op of ep_capture_write() does. */
enum ep_capture_op_kind {
    EP_CAPTURE_OP_PENDING = 0, /**< keep request half @p c under @p key */
    EP_CAPTURE_OP_JOIN = 1,    /**< take the half under @p key, merge it with @p join, store */
    EP_CAPTURE_OP_PUT = 2,     /**< store exchange @p c as it is */
};

/** One op of a batch. */
struct ep_capture_op {
    enum ep_capture_op_kind kind;
    const char *project_id; /**< PENDING, PUT (JOIN: the half's own project) */
    const char *key;        /**< PENDING, JOIN */
    const struct ep_capture *c;
    /**
     * JOIN: fill @p out from the request half @p half (whose texts point
     * into the store and are valid during the call) and the response the
     * caller holds; the texts of @p out must stay valid until the batch
     * returns. A non-zero return skips the op with that result.
     */
    int (*join)(void *ctx, const struct ep_capture *half, struct ep_capture *out);
    void *ctx;
    int result; /**< set by ep_capture_write(): 0, EP_E_NOTFOUND (JOIN: no half yet; PUT:
                   no such project), EP_E_INVAL, or the batch's error */
};

/**
 * Apply @p n ops in one write transaction (request halves first, then the
 * rest in order), with @p limits applied to each stored exchange's
 * project. An op that fails with EP_E_NOTFOUND or EP_E_INVAL fails alone
 * (its result says so); any other error rolls the whole batch back, is
 * set as every op's result and returned. The capture service writes in
 * such batches: one commit (one fsync) for many exchanges.
 */
int ep_capture_write(struct ep_store *store, struct ep_capture_op *ops, size_t n,
                     const struct ep_capture_limits *limits);
/** @} */

/** @name Which traffic is captured @{ */
enum ep_capture_verdict {
    EP_CAPTURE_YES = 1,      /**< a logging workspace reaching a listed LLM host */
    EP_CAPTURE_NOT_LOGGING,  /**< the client is unknown or its project is not in logging mode */
    EP_CAPTURE_NOT_LLM_HOST, /**< the host is not on the LLM host list */
};
/** "capture", "not-logging", "not-llm-host". */
const char *ep_capture_verdict_name(enum ep_capture_verdict v);

/**
 * Whether the traffic of client @p client_ip (canonical IP text) to
 * canonical @p host is decrypted and captured: only a logging workspace
 * reaching a listed LLM host, never a security workspace. Both are read
 * in one snapshot. @p project_id (EP_ID_MAX + 1 bytes) receives the
 * client's project, "" when unknown. Returns 0 or a store error (then
 * *@p out is EP_CAPTURE_NOT_LOGGING: a store that fails never decrypts).
 * The squid helper's ssl_bump question and the capture service both ask
 * this.
 */
int ep_capture_decide(struct ep_store *store, const char *client_ip, const char *host,
                      enum ep_capture_verdict *out, char *project_id);
/** @} */

/** @name The LLM host list (names whose TLS is decrypted for logging workspaces) @{ */
/** Add a host (normalised first); *@p added false when it was there. */
int ep_capture_host_add(struct ep_store *store, const char *host, bool *added);
/** Remove a host (normalised first); EP_E_NOTFOUND when absent. */
int ep_capture_host_remove(struct ep_store *store, const char *host);
/** Call @p fn for each listed host in name order. */
int ep_capture_hosts_list(struct ep_store *store, int (*fn)(void *ctx, const char *host),
                          void *ctx);
/** @} */

#endif

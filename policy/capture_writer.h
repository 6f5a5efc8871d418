/**
 * @file capture_writer.h
 * @brief The capture's batch writer: finished halves of LLM exchanges,
 * written by one thread in one transaction per batch.
 *
 * The capture service sees an exchange as two ICAP transactions: the
 * request (REQMOD) and its response (RESPMOD), possibly in two processes.
 * Its request threads only hand each finished half to
 * ep_capture_writer_submit(), which decodes the body (gzip, deflate, br)
 * and queues it; the writer's thread writes everything queued, about
 * every 50 ms, in one ep_capture_write() transaction: request halves to
 * capture_pending, responses joined with their request half (merged,
 * parsed for the list's summary) into conversations. So storing never
 * delays the client, and a commit (an fsync) is shared by a batch instead
 * of costing three per exchange.
 *
 * A response whose request half is not in the store yet (another child's
 * batch) waits for later batches, at most 5 s, then is stored alone and
 * marked incomplete; at stop it is stored at once. At most 10,000 halves
 * wait; past that a new one is dropped (logged). Once a minute the writer
 * applies the retention and the per-project cap to the whole store
 * (ep_capture_prune()).
 *
 * The store comes from a gate (gate.h): opened when the gate can open it,
 * and every error (store, memory, a full queue) is counted and logged
 * through the gate's ep_gate_log_error().
 *
 * The recorder (recorder.h) has the same shape: start, submit (note),
 * flush, stop.
 *
 * @section caveats Caveats
 * - Start the writer in the process that writes (after fork()), and stop
 *   it before the gate is closed: its last batches need the store.
 * - Submit from any thread; start, flush and stop from one.
 */
#ifndef EP_CAPTURE_WRITER_H
#define EP_CAPTURE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/capture_store.h"
#include "policy/gate.h"

/** What the capture logs when a try to open the store fails (srv_capture and the writer). */
#define EP_CAPTURE_OPEN_FAILED "cannot open the store; nothing is captured until it opens"

/**
 * What the writer counts, through its hook and in the store's shared
 * counters (EP_COUNTER_CAPTURE_EXCHANGES, EP_COUNTER_CAPTURE_TRUNCATIONS,
 * through the gate; its errors are the gate's errors).
 */
enum ep_capture_writer_event {
    EP_CAPTURE_WRITER_STORED = 1, /**< an exchange was stored in conversations */
    EP_CAPTURE_WRITER_TRUNCATED,  /**< a submitted half's body was cut at max_body */
};

struct ep_capture_writer_options {
    struct ep_capture_limits limits; /**< applied to every stored exchange and by the prune */
    size_t max_body;                 /**< a decoded body is cut at this many bytes */
    /** Called from any thread for each event; may be NULL. */
    void (*count)(void *ctx, enum ep_capture_writer_event event);
    void *ctx;
};

/** One finished half of an exchange. */
struct ep_capture_half {
    bool response;       /**< the response (RESPMOD); else the request (REQMOD) */
    bool eof;            /**< its whole body arrived */
    bool truncated;      /**< its body was cut at the capture's cap */
    int64_t time_us;     /**< when it was seen, µs since the epoch, UTC */
    uint32_t status;     /**< the response's HTTP status, 0 for a request */
    uint64_t size;       /**< body bytes seen, before any cut */
    const char *project; /**< the client's project id */
    /** The join key of the two halves (squid's transaction id and the client), "" when none. */
    const char *key;
    const char *host, *method, *content_type;
    const char *coding; /**< the body's Content-Encoding, NULL or "" when none */
    char *path;         /**< redacted (ep_malloc'd), or NULL */
    char *headers;      /**< this side's headers, redacted (ep_malloc'd), or NULL */
    size_t headers_n;
    char *body; /**< the body as it came (ep_malloc'd), or NULL */
    size_t body_n;
};

struct ep_capture_writer;

/**
 * Start a writer (its thread) over the store of @p gate.
 * @return 0, EP_E_NOMEM, or the errno of a thread that did not start.
 */
int ep_capture_writer_start(struct ep_gate *gate, const struct ep_capture_writer_options *opts,
                            struct ep_capture_writer **out);

/**
 * Queue @p half for the next batch. Takes over its path, headers and body
 * (set to NULL here, freed even on failure). A request half without a key
 * is not queued: no response will ever find it.
 * @return 0, or EP_E_NOMEM / EP_E_LIMIT (a full queue): the half is lost,
 *         and that is logged.
 */
int ep_capture_writer_submit(struct ep_capture_writer *w, struct ep_capture_half *half);

/**
 * Write what is queued now, in this thread, as one batch; responses still
 * waiting for their request half go back to the queue.
 * @return 0, or the batch's store error (logged).
 */
int ep_capture_writer_flush(struct ep_capture_writer *w);

/** Write everything queued (waiting responses stored alone), end the thread, free. NULL is fine. */
void ep_capture_writer_stop(struct ep_capture_writer *w);

#endif

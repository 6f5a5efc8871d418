/**
 * @file recorder.h
 * @brief The record batcher: what a workspace reached, exact and cheap.
 *
 * A (project, host) this recorder has not seen yet is written at once, so
 * a discovery survives a crash of the process. Later requests for known
 * pairs are summed in memory and written by ep_recorder_flush() in one
 * write transaction; a background thread flushes every interval, and
 * ep_recorder_free() flushes once more. Counts are exact: every noted
 * request is added exactly once; a kill -9 loses at most the counts noted
 * since the last flush, never a discovered host.
 *
 * Memory is bounded: past EP_RECORDER_MAX_PAIRS known pairs the recorder
 * flushes and forgets them (the next request of a forgotten pair is a
 * "discovery" again, which costs a write but stays exact).
 */
#ifndef EP_RECORDER_H
#define EP_RECORDER_H

#include "policy/counters.h"
#include "policy/decide.h"
#include "policy/store.h"

#define EP_RECORDER_MAX_PAIRS 65536

struct ep_recorder;

/**
 * Create a recorder over @p store. With @p interval_ms > 0 a thread
 * flushes every @p interval_ms milliseconds; 0 means the caller flushes.
 */
int ep_recorder_new(struct ep_store *store, unsigned interval_ms, struct ep_recorder **out);

/**
 * Count this recorder's work in @p counters (policy/counters.h; NULL: no
 * more): discoveries written, flushes that wrote counts, failed flushes,
 * and each flush's lag (from the oldest count it wrote being noted to its
 * commit). The gate sets it right after ep_recorder_new().
 */
void ep_recorder_set_counters(struct ep_recorder *rec, struct ep_counters *counters);

/**
 * Note one request. Thread-safe. Returns 0, or the store error of an
 * immediate (discovery) write; the request is then kept as pending and
 * written with the next flush.
 */
int ep_recorder_note(struct ep_recorder *rec, const char *project_id, const char *host,
                     enum ep_verdict verdict);

/** Write every pending count in one transaction. On error nothing is lost: the counts stay pending.
 */
int ep_recorder_flush(struct ep_recorder *rec);

/** Stop the thread, flush, free. NULL is fine. */
void ep_recorder_free(struct ep_recorder *rec);

#endif

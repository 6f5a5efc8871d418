/**
 * @file store_seen.h
 * @brief Seen records: what each workspace reached, as the recorder
 * writes it and the review lists it.
 *
 * Part of the store's interface (store.h includes it). `seen` is keyed by
 * the project id, a NUL and the host: a canonical host for a request to
 * a web port (80 or 443), the host with its port for any other
 * ("github.com:22", "[2001:db8::1]:22", ep_host_with_port()).
 */
#ifndef EP_STORE_SEEN_H
#define EP_STORE_SEEN_H

#include <stddef.h>
#include <stdint.h>

#include "policy/host.h"
#include "policy/store_env.h"

/** What is known of one (project, host). Times are seconds since the epoch, UTC. */
struct ep_seen {
    uint64_t count; /**< requests seen, allowed + denied */
    uint64_t allowed;
    uint64_t denied;
    int64_t first_seen;
    int64_t last_seen;
    uint32_t last_verdict; /**< enum ep_verdict of decide.h */
};

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

#endif

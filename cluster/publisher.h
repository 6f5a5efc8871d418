/**
 * @file publisher.h
 * @brief egress-api's publisher: a thread that applies the store's outbox
 * (policy/store_cluster.h) to etcd, in order, each batch one etcd
 * transaction guarded by the sequence numbers it carries.
 *
 * The guard: `PREFIX meta/outbox-seq` holds the last sequence number
 * applied (20 decimal digits, so etcd's byte comparison is numeric). A
 * batch of entries FIRST..LAST is applied only if that value is less than
 * FIRST, and sets it to LAST in the same transaction; an answer lost on
 * the way back and the batch sent again finds the guard false, reads the
 * value and drops the entries it covers. So a retry never applies twice,
 * and while etcd cannot be reached or has no quorum the entries wait in
 * the store, acknowledged, until it can.
 */
#ifndef EP_PUBLISHER_H
#define EP_PUBLISHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/etcd.h"
#include "policy/store_env.h"

/** The keyspace's default prefix (docs/cluster.md). */
#define EP_CLUSTER_DEFAULT_PREFIX "/egress/v1/"
/** Outbox entries per etcd transaction (etcd's --max-txn-ops is 128 by default). */
#define EP_PUBLISHER_DEFAULT_BATCH 127

struct ep_publisher_options {
    struct ep_etcd_options etcd;
    const char *prefix; /**< NULL: EP_CLUSTER_DEFAULT_PREFIX */
    size_t batch;       /**< 0: EP_PUBLISHER_DEFAULT_BATCH */
};

/** What the publisher did last, for /api/cluster and /metrics. */
struct ep_publisher_status {
    uint64_t applied_seq; /**< last sequence number etcd holds */
    uint64_t pending;     /**< entries waiting in the store */
    int64_t revision;     /**< etcd revision of the last applied batch */
    int64_t last_ok;      /**< seconds since the epoch of the last good exchange with etcd */
    int last_error;       /**< 0, or the error of the last attempt */
};

struct ep_publisher;

/** Enable the store's outbox and start the thread. */
int ep_publisher_start(struct ep_store *store, const struct ep_publisher_options *opts,
                       struct ep_publisher **out);
/** Stop the thread (entries not yet applied stay in the store). NULL is fine. */
void ep_publisher_stop(struct ep_publisher *p);
void ep_publisher_status(struct ep_publisher *p, struct ep_publisher_status *out);
/** The options it was started with (an etcd handle for other threads of the API). */
const struct ep_publisher_options *ep_publisher_options_of(struct ep_publisher *p);

#endif

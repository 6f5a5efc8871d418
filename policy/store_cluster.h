/**
 * @file store_cluster.h
 * @brief The store's side of a cluster: the policy as keys and values of
 * etcd's keyspace, the outbox egress-api publishes from, and the sync an
 * egress-node applies into its own store.
 *
 * Part of the store's interface. docs/cluster.md lays out the keyspace;
 * the keys here are relative to its `policy/` prefix:
 *
 * | key                      | value                      | from                  |
 * |--------------------------|----------------------------|-----------------------|
 * | project/ID               | "MODE PROFILE"             | `projects`            |
 * | rule/PROFILE/KEY         | decimal mask of rule kinds | `rules` (KEY: covers.h) |
 * | llm-host/HOST            | "1"                        | `llm_hosts`           |
 *
 * Base domains are the rules of profile "@base". A rule's KEY is the
 * store's own key of covers.h (a reversed host, "#" IP, "~" pattern, a
 * port prefix), so a node writes the very bytes the API holds.
 *
 * **Outbox.** Once ep_store_outbox_enable() has run on a store, every
 * write of a project's mode or profile, a rule or an LLM host adds one
 * outbox entry per changed key in the same transaction as the change
 * (the store's own write functions do it, so every write path does).
 * Entries carry consecutive sequence numbers that are never reused; a
 * publisher reads them in order and drops them once applied. They live
 * in `meta` under "outbox" and an 8-byte big-endian sequence number.
 *
 * **Sync.** A node replaces its policy with a listing in one transaction
 * (ep_store_sync_load()) and applies each watched batch in one more
 * (ep_store_sync_apply()), recording the etcd revision with it.
 */
#ifndef EP_STORE_CLUSTER_H
#define EP_STORE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/store_env.h"

/** Longest relative key: "rule/" profile "/" rule key. */
#define EP_CLUSTER_KEY_MAX 640
/** Longest value ("MODE PROFILE"). */
#define EP_CLUSTER_VALUE_MAX 96

/** One key of the policy: a put (value set) or a delete (value NULL). */
struct ep_cluster_kv {
    const char *key; /**< relative to policy/; "" with value NULL: delete every key */
    size_t key_len;
    const char *value; /**< NULL for a delete */
    size_t value_len;
};

/** @name Outbox (egress-api) @{ */
/**
 * Start recording changes. The first time, in one transaction, queues a
 * delete of every policy key and a put of each key the store holds now,
 * so the cluster starts from exactly this store. Later calls do nothing.
 */
int ep_store_outbox_enable(struct ep_store *store);
/** Whether the store records changes (ep_store_outbox_enable() ran on it). */
int ep_store_outbox_enabled(struct ep_store *store, bool *out);
/**
 * Call @p fn with up to @p max entries in sequence order, from the
 * oldest; a non-zero return from @p fn stops the walk and is returned.
 */
int ep_store_outbox_read(struct ep_store *store, size_t max,
                         int (*fn)(void *ctx, uint64_t seq, const struct ep_cluster_kv *kv),
                         void *ctx);
/** Drop every entry up to and including @p seq (applied). */
int ep_store_outbox_done(struct ep_store *store, uint64_t seq);
/** Entries waiting, and the last sequence number ever given (0: none). */
int ep_store_outbox_count(struct ep_store *store, uint64_t *pending, uint64_t *last_seq);
/** @} */

/** @name Sync (egress-node) @{ */
/**
 * Make the policy of the store exactly @p n puts in @p kv (a listing at
 * @p revision), in one transaction: projects not listed are deleted with
 * what the store keeps of them, every profile's rules and the LLM host
 * list are replaced. IP mappings of projects that stay are kept.
 */
int ep_store_sync_load(struct ep_store *store, const struct ep_cluster_kv *kv, size_t n,
                       int64_t revision);
/** Apply @p n puts and deletes (a watched batch up to @p revision) in one transaction. */
int ep_store_sync_apply(struct ep_store *store, const struct ep_cluster_kv *kv, size_t n,
                        int64_t revision);
/** The revision of the last load or apply; 0 when none. */
int ep_store_sync_revision(struct ep_store *store, int64_t *out);
/**
 * Set @p n seen records to the values given (absolute, not added): the
 * API's sums of every node's counters. A record of a project the store
 * does not have is skipped.
 */
struct ep_seen_delta;
int ep_store_sync_seen(struct ep_store *store, const struct ep_seen_delta *d, size_t n);
/**
 * Call @p fn for each key of the store's policy as the table above
 * writes it (LLM hosts, projects, then rules, each in the store's key
 * order).
 */
int ep_store_cluster_export(struct ep_store *store,
                            int (*fn)(void *ctx, const struct ep_cluster_kv *kv), void *ctx);
/** @} */

#endif

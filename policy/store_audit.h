/**
 * @file store_audit.h
 * @brief The audit log: who changed what, kept in the store.
 *
 * Part of the store's interface (store.h includes it). `audit` is keyed
 * by the time in microseconds (uint64, big-endian) and a sequence number
 * within that microsecond, so its order is the order of the changes.
 */
#ifndef EP_STORE_AUDIT_H
#define EP_STORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "policy/host.h"
#include "policy/store_env.h"

/** One audit record. */
struct ep_audit_entry {
    int64_t time_us;            /**< microseconds since the epoch, UTC */
    char action[64];            /**< "project.create", "whitelist.replace", ... */
    char target[128];           /**< project id, profile, rule */
    char source[EP_IP_MAX + 1]; /**< the caller's address */
    char detail[256];           /**< free text, never a secret */
};

/** Append an entry; time_us 0 means now. */
int ep_store_audit_append(struct ep_store *store, const struct ep_audit_entry *e);
/** Walk entries newest first, at most @p limit (0 = all). */
int ep_store_audit_list(struct ep_store *store, size_t limit,
                        int (*fn)(void *ctx, const struct ep_audit_entry *e), void *ctx);

#endif

/**
 * @file store_match.h
 * @brief The store's rule matching for a decision: which rule of a
 * profile covers a request.
 *
 * Part of the store's interface (store.h includes it). It reads in a
 * decision's pooled read (store_env.h); the regex cache and the key
 * filters it keeps belong to the handle.
 */
#ifndef EP_STORE_MATCH_H
#define EP_STORE_MATCH_H

#include <stddef.h>

#include "policy/rule.h"
#include "policy/store_env.h"

/**
 * The most specific rule of @p profile covering a request to canonical
 * @p host on port @p port (covers.h: 0, 80 and 443 are the web ports): the
 * host itself, then each ancestor, ip: rules for IP literals, regex rules
 * last (compiled once per profile generation, cached in the store handle;
 * web ports only). For any other port only the rules naming that port are
 * looked at, in the same order and at the same cost (their keys are a
 * range of the profile laid out as the web ports' are). 0 with @p matched
 * filled (its port included), EP_E_NOTFOUND when no rule matches, or a
 * store error. Nothing here allocates once the pool and the regex cache
 * are warm.
 *
 * Cost: the nearest ancestor is found by jumping between neighbouring
 * keys of the `rules` tree (typically one to three positionings, however
 * many labels the host has), and the regex step is skipped when the
 * profile has no regex rule. The base profile (EP_PROFILE_BASE) is
 * matched from a copy in memory kept by each pooled read and refreshed
 * when its generation in `profiles` changes, so a committed change still
 * applies to the next decision; a base profile of more than 1,024 rules
 * is searched in the tree instead.
 */
int ep_store_read_match(struct ep_store_read *rd, const char *profile, const char *host, int port,
                        struct ep_rule *matched);

/**
 * Bytes the key filters of this handle hold right now (at most the
 * handle's key_filter_memory), for tests, benchmarks and metrics.
 */
size_t ep_store_key_filter_bytes(struct ep_store *store);

#endif

/**
 * @file store_rules.h
 * @brief Profiles and their rules (the whitelists) in the store.
 *
 * Part of the store's interface (store.h includes it). `profiles` holds
 * one struct ep_profile_info per profile; `rules` one key per rule name
 * (covers.h lays the keys out), its value the mask of the kinds set on it.
 * Base domains are the rules of the reserved profile EP_PROFILE_BASE
 * (rule.h); a new store starts with six of them and the empty profile
 * EP_PROFILE_DEFAULT.
 */
#ifndef EP_STORE_RULES_H
#define EP_STORE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/rule.h"
#include "policy/store_env.h"

struct ep_profile_info {
    char name[EP_PROFILE_MAX + 1];
    uint64_t generation; /**< bumped by every change to the profile's rules */
    uint32_t rules;      /**< number of rules */
    uint32_t projects;   /**< filled by ep_store_profiles_list() only */
};

/** @name Rules (whitelists per profile; base domains are profile EP_PROFILE_BASE) @{ */
/** Add one rule; *@p added is false when it was there already. */
int ep_store_rule_add(struct ep_store *store, const char *profile, const struct ep_rule *rule,
                      bool *added);
/** Remove one rule; EP_E_NOTFOUND when absent. */
int ep_store_rule_remove(struct ep_store *store, const char *profile, const struct ep_rule *rule);
/**
 * Add @p n rules in one transaction; @p added (may be NULL) receives, per
 * rule, whether it was new.
 */
int ep_store_rules_add(struct ep_store *store, const char *profile, const struct ep_rule *rules,
                       size_t n, bool *added);
/** Replace every rule of @p profile with @p rules, in one transaction. */
int ep_store_rules_replace(struct ep_store *store, const char *profile, const struct ep_rule *rules,
                           size_t n);
/**
 * Call @p fn for each rule of @p profile: the rules without a port (host
 * rules in reversed-host order, then ip:, then regex), then those with a
 * port, by port.
 */
int ep_store_rules_list(struct ep_store *store, const char *profile,
                        int (*fn)(void *ctx, const struct ep_rule *r), void *ctx);
/** Profile info, EP_E_NOTFOUND if it has never been created. */
int ep_store_profile_get(struct ep_store *store, const char *profile, struct ep_profile_info *out);
/** Every profile but EP_PROFILE_BASE, with rule and project counts. */
int ep_store_profiles_list(struct ep_store *store,
                           int (*fn)(void *ctx, const struct ep_profile_info *p), void *ctx);
/** @} */

#endif

/**
 * @file rule_set.h
 * @brief Rules in memory that answer "which of them already covers rule
 * R?" (ep_rule_covers_rule()) without a pass over all of them: the
 * promotion's "already covered" over a whitelist of any size.
 *
 * By covers.h, a rule on a name is covered only by the same rule, by a
 * rule on that name or on one of its ancestors, or by a regex rule; an ip:
 * rule only by itself or a regex rule (and only by rules of R's port, or
 * of none when R names none). So the rules on names and addresses are kept
 * sorted by host (then kind and port), and a query looks up R's host and
 * each ancestor, nearest first, then tries the regex rules in the order
 * they were added. ep_rule_covers_rule() decides every candidate: this
 * file only chooses which rules to ask.
 *
 * Caveat: not thread-safe; a query sorts what was added since the last one.
 */
#ifndef EP_RULE_SET_H
#define EP_RULE_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/rule.h"

/** A growable array of rules. */
struct ep_rule_list {
    struct ep_rule *v;
    size_t n, cap;
};

/** A rule set; zeroed is empty. Free with ep_rule_set_free(). */
struct ep_rule_set {
    struct ep_rule_list named; /**< name and ip: rules, sorted when @c sorted */
    struct ep_rule_list regex; /**< regex rules, in the order added */
    bool sorted;
};

/**
 * Add a copy of @p rule. @p set is a struct ep_rule_set, so that this is
 * also a callback for ep_store_rules_list(). 0 or EP_E_NOMEM.
 */
int ep_rule_set_add(void *set, const struct ep_rule *rule);

/**
 * The rule of @p set that covers @p rule: the same rule, then a rule on
 * its host or the nearest ancestor, then the first regex rule that does;
 * NULL when none does. The pointer is valid until the next add or free.
 */
const struct ep_rule *ep_rule_set_covering(struct ep_rule_set *set, const struct ep_rule *rule);

/** Free what @p set holds; it is empty again. */
void ep_rule_set_free(struct ep_rule_set *set);

#endif

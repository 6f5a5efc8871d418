/**
 * @file decide.h
 * @brief The decision: may this workspace reach this host?
 *
 * Order: the client's row (unknown → the caller's choice), base domains,
 * the project's profile rules (most specific first: the host itself, then
 * each ancestor; ip: rules for IP literals; regex rules last), and the mode
 * decides the rest:
 *
 * | mode     | allowed                     | recorded            |
 * |----------|-----------------------------|---------------------|
 * | security | base + profile rules        | allowed and denied  |
 * | logging  | everything                  | every host          |
 * | none     | everything                  | nothing             |
 *
 * Cost: one pooled read transaction, one `clients` get, the base domains
 * from an in-memory copy kept per generation, and for the profile one
 * cursor positioning plus one jump per ancestor that shares a prefix with
 * a neighbouring key (usually one or two B-tree descents, never a scan);
 * the regex step only when the profile has regex rules, compiled once per
 * profile generation and cached in the store handle.
 */
#ifndef EP_DECIDE_H
#define EP_DECIDE_H

#include <stdbool.h>

#include "policy/store.h"

enum ep_verdict { EP_VERDICT_ALLOW = 1, EP_VERDICT_DENY = 2 };

enum ep_reason {
    EP_REASON_BASE = 1,       /**< allowed: a base domain */
    EP_REASON_RULE,           /**< allowed: a rule of the profile */
    EP_REASON_MODE,           /**< allowed: logging or none mode */
    EP_REASON_NOT_LISTED,     /**< denied: security mode, no rule matched */
    EP_REASON_UNKNOWN_CLIENT, /**< the IP is mapped to no project */
    EP_REASON_STORE_ERROR,    /**< the store failed; see ep_decision.error */
};
/** "base-domain", "rule", "mode", "not-whitelisted", "unknown-client", "store-error". */
const char *ep_reason_name(enum ep_reason reason);

/** One request as the proxy saw it. @c host must be canonical (host.h). */
struct ep_request {
    const char *client_ip; /**< canonical IP text; NULL or "" = unknown client */
    const char *host;
    const char *method; /**< for logs; CONNECT and others decide alike */
    int port;           /**< for logs; 0 = none */
};

enum ep_decide_flags {
    EP_DECIDE_ALLOW_UNKNOWN = 1, /**< unknown clients are allowed (not recorded) */
};

struct ep_decision {
    enum ep_verdict verdict;
    enum ep_reason reason;
    enum ep_mode mode;              /**< the project's mode (NONE for unknown clients) */
    bool record;                    /**< the caller should record (project, host, verdict) */
    char project_id[EP_ID_MAX + 1]; /**< "" for unknown clients */
    char profile[EP_PROFILE_MAX + 1];
    char rule[EP_RULE_BUFSZ]; /**< the matching rule as written, "" if none */
    int error;                /**< the store error behind EP_REASON_STORE_ERROR */
};

/**
 * Decide @p req. Always fills @p out; returns 0, or the store error that
 * made it fall back (security mode and unknown mode deny, logging allows
 * with EP_REASON_STORE_ERROR; out->error holds the code). Safe from any
 * thread.
 */
int ep_decide(struct ep_store *store, const struct ep_request *req, unsigned flags,
              struct ep_decision *out);

/**
 * The rule that allows canonical @p host for profile @p profile, in the
 * decision's order: the base domains first, then the profile ("" or NULL:
 * none). Fills @p rule and @p reason (EP_REASON_BASE or EP_REASON_RULE);
 * EP_E_NOTFOUND when no rule allows it, or a store error. What the
 * decision asks, and what the API shows as a host's covering rule.
 */
int ep_decide_whitelist(struct ep_store_read *rd, const char *profile, const char *host,
                        struct ep_rule *rule, enum ep_reason *reason);

/**
 * The same decision for project @p project_id as if it asked for @p host
 * (the API's dry run). EP_E_NOTFOUND for an unknown project.
 */
int ep_decide_project(struct ep_store *store, const char *project_id, const char *host,
                      struct ep_decision *out);

#endif

/**
 * @file decide.h
 * @brief The decision: may this workspace reach this host on this port?
 *
 * Order: the client's row (unknown → the caller's choice), base domains,
 * the project's profile rules (most specific first: the host itself, then
 * each ancestor; ip: rules for IP literals; regex rules last), and the mode
 * decides the rest. A workspace reaches the web ports (80, 443, and 0 when
 * the proxy did not say) by its mode; any other port only through a rule
 * naming that port (covers.h), in every mode:
 *
 * | mode     | allowed on 80 and 443   | allowed on another port           | recorded            |
 * |----------|-------------------------|-----------------------------------|---------------------|
 * | security | base + profile rules    | base + profile rules of that port | allowed and denied  |
 * | logging  | everything              | base + profile rules of that port | every request       |
 * | none     | everything              | base + profile rules of that port | nothing             |
 *
 * A request to another port that no rule of its port covers is denied
 * with EP_REASON_PORT, and recorded (security and logging) as
 * "host:port" (ep_decision.record_host), so the teacher sees it and can
 * promote it into the rule of that port. If the store fails on such a
 * request it is denied in every mode (nothing could have allowed it).
 *
 * Cost: one pooled read transaction, one `clients` get, the base domains
 * from an in-memory copy kept per generation, and for the profile one
 * cursor positioning plus one jump per ancestor that shares a prefix with
 * a neighbouring key (usually one or two B-tree descents, never a scan);
 * the regex step only when the profile has regex rules, compiled once per
 * profile generation and cached in the store handle. Another port costs
 * the same lookups among that port's keys, and no regex step.
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
    EP_REASON_PORT,           /**< denied: a port other than 80 and 443 that no rule names */
};
/**
 * "base-domain", "rule", "mode", "not-whitelisted", "unknown-client",
 * "store-error", "port-not-allowed".
 */
const char *ep_reason_name(enum ep_reason reason);

/** One request as the proxy saw it. @c host must be canonical (host.h). */
struct ep_request {
    const char *client_ip; /**< canonical IP text; NULL or "" = unknown client */
    const char *host;
    const char *method; /**< for logs; CONNECT and others decide alike */
    int port;           /**< the destination port; 0 = unknown, decided as a web port */
};

enum ep_decide_flags {
    EP_DECIDE_ALLOW_UNKNOWN = 1, /**< unknown clients are allowed, on any port (not recorded) */
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
    /**
     * What the caller records (ep_recorder_note()) as the host: the
     * request's host, with ":PORT" for a port other than the web ports
     * ("github.com:22", "[2001:db8::1]:22"; ep_host_with_port()).
     */
    char record_host[EP_HOST_PORT_BUFSZ];
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
 * The rule that allows canonical @p host on port @p port (0: unknown, a
 * web port) for profile @p profile, in the decision's order: the base
 * domains first, then the profile ("" or NULL: none). Fills @p rule and
 * @p reason (EP_REASON_BASE or EP_REASON_RULE); EP_E_NOTFOUND when no rule
 * allows it, or a store error. What the decision asks, and what the API
 * shows as a host's covering rule.
 */
int ep_decide_whitelist(struct ep_store_read *rd, const char *profile, const char *host, int port,
                        struct ep_rule *rule, enum ep_reason *reason);

/**
 * The same decision for project @p project_id as if it asked for @p host
 * on port @p port (the API's dry run). EP_E_NOTFOUND for an unknown
 * project.
 */
int ep_decide_project(struct ep_store *store, const char *project_id, const char *host, int port,
                      struct ep_decision *out);

#endif

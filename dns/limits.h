/**
 * @file limits.h
 * @brief Per-client abuse limits of egress-dns: a query rate and a cap on
 * distinct names a minute.
 *
 * A DNS tunnel needs many queries, and every one of them carries data in
 * a name never asked before: a token bucket bounds the first, a count of
 * the distinct names a client asked in the current minute the second (a
 * name asked again costs nothing against the cap).
 *
 * Clients are kept in a table of fixed size (DNS_LIMITS_CLIENTS); when a
 * client finds no free slot near its own, it takes the slot of the client
 * seen longest ago, whose limits start again.
 *
 * Caveats: thread-safe (one mutex); no allocation after dns_limits_new()
 * but a client's name set, made the first time it asks a name.
 */
#ifndef DNS_LIMITS_H
#define DNS_LIMITS_H

#include <stdint.h>

#define DNS_LIMITS_CLIENTS   4096    /**< clients followed at once */
#define DNS_LIMITS_NAMES_MAX 1000000 /**< the largest cap on names a minute */
#define DNS_LIMITS_RATE_MAX  1000000 /**< the largest rate, queries a second */

/** The limits; 0 turns one off. */
struct dns_limits_options {
    unsigned rate;             /**< queries a second, sustained */
    unsigned burst;            /**< queries at once above the rate (0: the rate) */
    unsigned names_per_minute; /**< distinct names a minute */
};

enum dns_limit_verdict {
    DNS_LIMIT_PASS = 0,
    DNS_LIMIT_RATE,  /**< over the query rate */
    DNS_LIMIT_NAMES, /**< a new name over the cap of names this minute */
};

struct dns_limits;

/** A table with @p opts. 0, EINVAL (a value out of range) or ENOMEM. */
int dns_limits_new(const struct dns_limits_options *opts, struct dns_limits **out);

/**
 * Whether client @p client (its address as text) may ask @p name (any
 * text; compared as given) at @p now_ms (a monotonic clock): takes a
 * token from its bucket and notes the name in its minute. A refused query
 * takes no token and notes no name.
 */
enum dns_limit_verdict dns_limits_check(struct dns_limits *lim, const char *client,
                                        const char *name, int64_t now_ms);

void dns_limits_free(struct dns_limits *lim);

#endif

/**
 * @file resolver.h
 * @brief Where egress-dns gets its answers: libunbound, forwarding to
 * configured upstreams or recursing from the root, optionally validating
 * DNSSEC.
 *
 * Answers are cached by name, type and class for as long as their TTL
 * says (DNS_CACHE_ENTRIES at most): libunbound's own cache holds the
 * records, but its synchronous ub_resolve() sets up a worker for every
 * call (about 2 ms here), so repeated questions are answered from a copy
 * of the answer packet kept here. Neither cache ever sees a verdict: the
 * policy decides before the resolver is asked, so a policy change applies
 * to the next query whatever is cached.
 *
 * A resolver is a small interface (resolve, free) so the query path can
 * be driven without a network (the fuzz target gives it a resolver of its
 * own).
 *
 * Caveats: dns_resolver_resolve() is thread-safe (libunbound's ub_resolve()
 * is); create and free run with no other thread using it.
 */
#ifndef DNS_RESOLVER_H
#define DNS_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_UPSTREAMS_MAX 16

/** What an upstream answered. */
struct dns_upstream_answer {
    uint8_t *packet; /**< the answer in wire form (malloc'd), NULL when there is none */
    size_t len;
    bool secure;  /**< DNSSEC validated it */
    bool bogus;   /**< DNSSEC validation failed: not to be given out */
    unsigned age; /**< seconds it spent in the cache: subtract from its TTLs */
};

#define DNS_CACHE_ENTRIES 65536 /**< answers kept at most (a power of two) */

/** A resolver: one call per question. */
struct dns_resolver {
    /**
     * Resolve @p name (presentation form, as ldns writes it) of @p type and
     * @p rrclass into @p out. 0, or a nonzero error (nothing in @p out) that
     * @p why describes (static text).
     */
    int (*resolve)(struct dns_resolver *r, const char *name, int type, int rrclass,
                   struct dns_upstream_answer *out, const char **why);
    void (*free)(struct dns_resolver *r);
};

/** How the libunbound resolver is set up. */
struct dns_resolver_options {
    const char *upstream[DNS_UPSTREAMS_MAX]; /**< "ADDR" or "ADDR@PORT"; none: recursion */
    unsigned n_upstream;
    const char *trust_anchor_file; /**< a DNSSEC trust anchor file; NULL: no validation */
    /** libunbound options "NAME: VALUE" (unbound.conf(5) names), applied last. */
    const char *option[DNS_UPSTREAMS_MAX];
    unsigned n_option;
};

/**
 * A libunbound resolver. 0, or an error with @p why (at least 256 bytes)
 * saying which option failed and why.
 */
int dns_resolver_unbound_new(const struct dns_resolver_options *opts, struct dns_resolver **out,
                             char *why, size_t whysz);

/** Free what an answer holds. */
void dns_upstream_answer_clear(struct dns_upstream_answer *a);

#endif

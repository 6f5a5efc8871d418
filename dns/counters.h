/**
 * @file counters.h
 * @brief egress-dns's own counters, behind one function.
 *
 * Every event egress-dns counts goes through dns_count(), and nowhere
 * else: that one function is where the counters can be wired into shared
 * metrics. Decisions themselves also go through the policy gate, whose
 * counters (allowed, denied, recorded, store errors) see every name that
 * was decided.
 *
 * Caveats: thread-safe; the totals live for the whole process.
 */
#ifndef DNS_COUNTERS_H
#define DNS_COUNTERS_H

#include <stdint.h>

/** What egress-dns counts. */
enum dns_counter {
    DNS_COUNT_QUERIES = 0,   /**< every packet read that parsed as a query */
    DNS_COUNT_ANSWERED,      /**< answered with what the upstream said */
    DNS_COUNT_BLOCKED,       /**< answered NXDOMAIN by the policy */
    DNS_COUNT_REFUSED,       /**< answered REFUSED: an unknown client */
    DNS_COUNT_RATE_LIMITED,  /**< refused: the client's query rate was exceeded */
    DNS_COUNT_NAME_CAP,      /**< refused: the client's distinct names per minute were exceeded */
    DNS_COUNT_UPSTREAM_FAIL, /**< answered SERVFAIL: the resolver failed (or DNSSEC said bogus) */
    DNS_COUNT_MALFORMED, /**< a packet that was no readable query (FORMERR, NOTIMP or dropped) */
    DNS_COUNTERS,
};

struct ep_gate;

/**
 * From now on, also add every count to the shared counters file through
 * @p gate (ep_gate_counter_add(): what egress-api's /metrics serves, all
 * processes summed). Call once, before the serving threads start.
 */
void dns_count_attach(struct ep_gate *gate);

/** Counter @p counter went up by one (in the shared file too, once attached). */
void dns_count(enum dns_counter counter);

/** The total of counter @p counter so far. */
uint64_t dns_count_total(enum dns_counter counter);

/** Its name as logs show it: "queries", "answered", "blocked", ... */
const char *dns_count_name(enum dns_counter counter);

/**
 * Write every total on one line, "NAME=N NAME=N ...", into @p out (@p size
 * bytes, truncated if short).
 */
void dns_count_format(char *out, unsigned long size);

#endif

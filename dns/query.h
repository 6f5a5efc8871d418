/**
 * @file query.h
 * @brief egress-dns's query path: one DNS message in, one answer out.
 *
 * For each query: the client's address finds its project and mode through
 * the policy gate (policy/gate.h), which decides on the query name as it
 * decides on a request's host (the same normalisation, the same rules,
 * the same recording):
 *
 * | client / verdict          | answer                                              |
 * |---------------------------|-----------------------------------------------------|
 * | trusted (squid)           | resolved, no policy, not recorded                   |
 * | over its query rate       | REFUSED, EDE 18 "Prohibited" (rate limit)           |
 * | over its names a minute   | REFUSED, EDE 18 (name cap)                          |
 * | unknown                   | REFUSED, EDE 18                                     |
 * | allowed (any mode)        | the upstream's answer, CNAME chains included        |
 * | denied                    | NXDOMAIN, EDE 15 "Blocked" with the gate's reason   |
 *
 * A denied name is recorded as a denied host of the project (security
 * mode); in logging mode every name asked is recorded; in none mode
 * nothing is. The EDE text is "egress-policy: REASON; host=HOST;
 * project=ID" (the gate's reason text). Extended errors are sent only to a
 * client that sent EDNS.
 *
 * A message that is not a readable query is answered FORMERR (or NOTIMP
 * for another opcode) when its header can be read, and dropped otherwise,
 * as is anything with the QR bit set (never answer an answer).
 */
#ifndef DNS_QUERY_H
#define DNS_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/limits.h"
#include "dns/resolver.h"
#include "policy/gate.h"

#define DNS_TRUSTED_MAX 16
#define DNS_UDP_MAX     1232 /**< the largest UDP answer (the DNS flag day's size) */
#define DNS_TCP_MAX     65535

/** What every query is answered with; read-only once the server runs. */
struct dns_service {
    struct ep_gate *gate;
    struct dns_resolver *resolver;
    struct dns_limits *limits; /**< NULL: no limits */
    /** Canonical addresses (inet_ntop) of trusted clients: resolved without the policy. */
    char trusted[DNS_TRUSTED_MAX][46];
    unsigned n_trusted;
};

/** What happened to one query (for the caller's log and tests). */
struct dns_outcome {
    int rcode;                          /**< the answer's rcode; -1 when dropped */
    enum ep_verdict verdict;            /**< 0 when the policy was not asked */
    char text[EP_GATE_TEXT_BUFSZ + 16]; /**< the EDE text, "" when none */
};

/**
 * Answer @p len bytes of @p in, a DNS message from client @p client_ip
 * (canonical text) over UDP or TCP (@p tcp: answers up to 65,535 bytes,
 * else up to what the client's EDNS allows, at most DNS_UDP_MAX, or 512,
 * truncated with TC set beyond). @p now_ms is a monotonic clock (limits).
 * @return 0 with *@p out (malloc'd) and *@p outlen set, or -1 when
 *         nothing is to be sent. @p outcome, if not NULL, is filled.
 */
int dns_query_answer(const struct dns_service *svc, const char *client_ip, bool tcp,
                     const uint8_t *in, size_t len, int64_t now_ms, uint8_t **out, size_t *outlen,
                     struct dns_outcome *outcome);

#endif

/*
 * The query path (query.h): read the message with ldns, ask the limits
 * and the policy gate, and answer with ldns: a refusal or a block written
 * here, or the resolver's answer rewritten for the client (its id, its
 * question as it wrote it, 0x20 case included, its EDNS).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dns/counters.h"
#include "dns/query.h"
#include "policy/host.h"

#define EDE_BLOCKED     15 /* RFC 8914 */
#define EDE_PROHIBITED  18
#define EDE_BOGUS       6
#define EDE_TEXT_PREFIX "egress-policy: "

/* What the client asked, as read from its message. */
struct question {
    const ldns_pkt *pkt;
    const ldns_rr *rr; /* the one question */
    bool edns;         /* it sent an OPT record */
    bool dnssec_ok;    /* its DO bit */
    size_t limit;      /* the largest answer it takes */
};

/* The reply's header, question and EDNS as the client's query wants them. */
static void reply_setup(ldns_pkt *r, const struct question *q)
{
    ldns_pkt_set_id(r, ldns_pkt_id(q->pkt));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
    ldns_pkt_set_aa(r, false);
    ldns_pkt_set_tc(r, false);
    ldns_pkt_set_rd(r, ldns_pkt_rd(q->pkt));
    ldns_pkt_set_cd(r, ldns_pkt_cd(q->pkt));
    ldns_pkt_set_ra(r, true);
    ldns_rr_list_deep_free(ldns_pkt_question(r));
    ldns_pkt_set_question(r, ldns_rr_list_new());
    ldns_pkt_set_qdcount(r, 0);
    if (q->rr != NULL)
        ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(q->rr));
    /* The upstream's EDNS is not the client's: start again from the query. */
    ldns_rdf_deep_free(ldns_pkt_edns_data(r));
    ldns_pkt_set_edns_data(r, NULL);
    ldns_pkt_set_edns_option_list(r, NULL);
    ldns_pkt_set_edns_udp_size(r, q->edns ? DNS_UDP_MAX : 0);
    ldns_pkt_set_edns_extended_rcode(r, 0);
    ldns_pkt_set_edns_version(r, 0);
    ldns_pkt_set_edns_z(r, 0);
    ldns_pkt_set_edns_do(r, q->edns && q->dnssec_ok);
}

/* Attach Extended DNS Error @p code with @p text (RFC 8914), when the client speaks EDNS. */
static void reply_ede(ldns_pkt *r, const struct question *q, uint16_t code, const char *text)
{
    size_t tlen = strlen(text);
    uint8_t *data;
    ldns_edns_option_list *list;
    ldns_edns_option *opt;

    if (!q->edns)
        return;
    data = malloc(2 + tlen);
    if (data == NULL)
        return;
    data[0] = (uint8_t)(code >> 8);
    data[1] = (uint8_t)code;
    memcpy(data + 2, text, tlen);
    /* ldns_edns_new() takes the buffer. */
    opt = ldns_edns_new(LDNS_EDNS_EDE, 2 + tlen, data);
    list = ldns_edns_option_list_new();
    if (opt == NULL || list == NULL || !ldns_edns_option_list_push(list, opt)) {
        if (opt != NULL)
            ldns_edns_deep_free(opt);
        else
            free(data);
        ldns_edns_option_list_deep_free(list);
        return;
    }
    ldns_pkt_set_edns_option_list(r, list);
}

/*
 * ldns_pkt2wire() into a buffer of this thread's, kept for the next answer
 * (ldns_pkt2wire makes and frees one of 64 KiB for every packet), copied
 * out at its length. 0, or -1.
 */
static int pkt_to_wire(const ldns_pkt *p, uint8_t **out, size_t *outlen)
{
    static __thread ldns_buffer *buf;

    if (buf == NULL && (buf = ldns_buffer_new(LDNS_MAX_PACKETLEN)) == NULL)
        return -1;
    ldns_buffer_clear(buf);
    if (ldns_pkt2buffer_wire(buf, p) != LDNS_STATUS_OK)
        return -1;
    *outlen = ldns_buffer_position(buf);
    *out = malloc(*outlen);
    if (*out == NULL)
        return -1;
    memcpy(*out, ldns_buffer_begin(buf), *outlen);
    return 0;
}

/*
 * Write @p r for the client: when it is longer than the client takes,
 * again with only the question and TC set (the client asks again over
 * TCP). 0, or -1 when it cannot be written.
 */
static int reply_wire(ldns_pkt *r, const struct question *q, uint8_t **out, size_t *outlen)
{
    if (pkt_to_wire(r, out, outlen) != 0)
        return -1;
    if (*outlen <= q->limit)
        return 0;
    free(*out);
    *out = NULL;
    ldns_rr_list_deep_free(ldns_pkt_answer(r));
    ldns_rr_list_deep_free(ldns_pkt_authority(r));
    ldns_rr_list_deep_free(ldns_pkt_additional(r));
    ldns_pkt_set_answer(r, ldns_rr_list_new());
    ldns_pkt_set_authority(r, ldns_rr_list_new());
    ldns_pkt_set_additional(r, ldns_rr_list_new());
    ldns_pkt_set_ancount(r, 0);
    ldns_pkt_set_nscount(r, 0);
    ldns_pkt_set_arcount(r, 0);
    ldns_pkt_set_edns_option_list(r, NULL);
    ldns_pkt_set_tc(r, true);
    if (pkt_to_wire(r, out, outlen) != 0 || *outlen > q->limit) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* An answer made here: @p rcode, and an extended error when @p ede_text is not NULL. */
static int reply_own(const struct question *q, ldns_pkt_rcode rcode, uint16_t ede,
                     const char *ede_text, uint8_t **out, size_t *outlen)
{
    ldns_pkt *r = ldns_pkt_new();
    int rc;

    if (r == NULL)
        return -1;
    reply_setup(r, q);
    ldns_pkt_set_rcode(r, rcode);
    if (ede_text != NULL)
        reply_ede(r, q, ede, ede_text);
    rc = reply_wire(r, q, out, outlen);
    ldns_pkt_free(r);
    return rc;
}

/* Take @p age seconds off every record's TTL (an answer that waited in the cache). */
static void age_ttls(ldns_pkt *r, unsigned age)
{
    ldns_rr_list *lists[3] = {ldns_pkt_answer(r), ldns_pkt_authority(r), ldns_pkt_additional(r)};

    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < ldns_rr_list_rr_count(lists[l]); i++) {
            ldns_rr *rr = ldns_rr_list_rr(lists[l], i);
            uint32_t ttl = ldns_rr_ttl(rr);
            ldns_rr_set_ttl(rr, ttl > age ? ttl - age : 0);
        }
}

/*
 * Resolve @p name for the client and answer with what the upstream said,
 * rewritten for the client; SERVFAIL when the resolver fails or DNSSEC
 * says bogus.
 */
static int reply_resolved(const struct dns_service *svc, const struct question *q, const char *name,
                          uint8_t **out, size_t *outlen, struct dns_outcome *oc)
{
    struct dns_upstream_answer a;
    const char *why = "";
    ldns_pkt *r = NULL;
    int rc;

    rc = svc->resolver->resolve(svc->resolver, name, ldns_rr_get_type(q->rr),
                                ldns_rr_get_class(q->rr), &a, &why);
    if (rc == 0 && a.bogus) {
        dns_upstream_answer_clear(&a);
        dns_count(DNS_COUNT_UPSTREAM_FAIL);
        oc->rcode = LDNS_RCODE_SERVFAIL;
        return reply_own(q, LDNS_RCODE_SERVFAIL, EDE_BOGUS, EDE_TEXT_PREFIX "DNSSEC bogus", out,
                         outlen);
    }
    if (rc != 0 || ldns_wire2pkt(&r, a.packet, a.len) != LDNS_STATUS_OK) {
        if (rc == 0)
            dns_upstream_answer_clear(&a);
        dns_count(DNS_COUNT_UPSTREAM_FAIL);
        oc->rcode = LDNS_RCODE_SERVFAIL;
        return reply_own(q, LDNS_RCODE_SERVFAIL, 0, NULL, out, outlen);
    }
    reply_setup(r, q);
    ldns_pkt_set_ad(r, a.secure && (q->dnssec_ok || ldns_pkt_ad(q->pkt)));
    if (a.age > 0)
        age_ttls(r, a.age);
    dns_upstream_answer_clear(&a);
    oc->rcode = ldns_pkt_get_rcode(r);
    if (oc->rcode == LDNS_RCODE_SERVFAIL)
        dns_count(DNS_COUNT_UPSTREAM_FAIL);
    else
        dns_count(DNS_COUNT_ANSWERED);
    rc = reply_wire(r, q, out, outlen);
    ldns_pkt_free(r);
    return rc;
}

/*
 * The query name as a host text the policy can read: its labels joined
 * by '.', each label's bytes as they are (so a UTF-8 name is an IDN to
 * the policy, as in a Host header). False for a name no host can be: a
 * label holding '.', a NUL or another byte below '!' (it would read as
 * other labels or be cut short), or the root.
 */
static bool qname_host_text(const ldns_rdf *qname, char *text, size_t size)
{
    size_t n = ldns_dname_label_count(qname), used = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        ldns_rdf *label = ldns_dname_label(qname, (uint8_t)i);
        const uint8_t *d;
        size_t len;
        bool ok = label != NULL;

        if (ok) {
            d = ldns_rdf_data(label);
            len = d[0];
            ok = len > 0 && used + len + 2 <= size;
            for (size_t k = 1; ok && k <= len; k++)
                ok = d[k] > ' ' && d[k] != '.' && d[k] != 0x7f;
            if (ok) {
                if (i > 0)
                    text[used++] = '.';
                memcpy(text + used, d + 1, len);
                used += len;
            }
        }
        ldns_rdf_deep_free(label);
        if (!ok)
            return false;
    }
    text[used] = '\0';
    return true;
}

static bool is_trusted(const struct dns_service *svc, const char *client_ip)
{
    for (unsigned i = 0; i < svc->n_trusted; i++)
        if (strcmp(svc->trusted[i], client_ip) == 0)
            return true;
    return false;
}

/*
 * A message that is no query we answer: FORMERR (NOTIMP for another
 * opcode) with its id when its header reads as a query, else nothing.
 */
static int reply_unreadable(const uint8_t *in, size_t len, const ldns_pkt *parsed, uint8_t **out,
                            size_t *outlen, struct dns_outcome *oc)
{
    ldns_pkt *r;
    ldns_pkt_opcode opcode;
    int rc;

    dns_count(DNS_COUNT_MALFORMED);
    /* The header: id (2), flags (2): QR is the top bit, the opcode the next four. */
    if (len < LDNS_HEADER_SIZE || LDNS_QR_WIRE(in))
        return -1;
    opcode = (ldns_pkt_opcode)LDNS_OPCODE_WIRE(in);
    r = ldns_pkt_new();
    if (r == NULL)
        return -1;
    ldns_pkt_set_id(r, LDNS_ID_WIRE(in));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, opcode);
    ldns_pkt_set_rd(r, LDNS_RD_WIRE(in));
    ldns_pkt_set_rcode(r, parsed != NULL && opcode != LDNS_PACKET_QUERY ? LDNS_RCODE_NOTIMPL
                                                                        : LDNS_RCODE_FORMERR);
    oc->rcode = ldns_pkt_get_rcode(r);
    rc = pkt_to_wire(r, out, outlen);
    ldns_pkt_free(r);
    return rc;
}

int dns_query_answer(const struct dns_service *svc, const char *client_ip, bool tcp,
                     const uint8_t *in, size_t len, int64_t now_ms, uint8_t **out, size_t *outlen,
                     struct dns_outcome *outcome)
{
    struct dns_outcome local;
    struct dns_outcome *oc = outcome != NULL ? outcome : &local;
    struct question q = {0};
    ldns_pkt *pkt = NULL;
    char *presented = NULL;
    char name[EP_HOST_BUFSZ + 2], text[EP_HOST_BUFSZ + 2], host[EP_HOST_BUFSZ];
    struct ep_gate_request gr = {0};
    struct ep_gate_result res;
    bool host_ok = false;
    int rc = -1, port = 0;

    *out = NULL;
    *outlen = 0;
    memset(oc, 0, sizeof *oc);
    oc->rcode = -1;
    if (ldns_wire2pkt(&pkt, in, len) != LDNS_STATUS_OK || ldns_pkt_qr(pkt) ||
        ldns_pkt_get_opcode(pkt) != LDNS_PACKET_QUERY || ldns_pkt_qdcount(pkt) != 1 ||
        ldns_rr_list_rr_count(ldns_pkt_question(pkt)) != 1) {
        rc = reply_unreadable(in, len, pkt, out, outlen, oc);
        goto out;
    }
    dns_count(DNS_COUNT_QUERIES);
    q.pkt = pkt;
    q.rr = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
    q.edns = ldns_pkt_edns(pkt);
    q.dnssec_ok = ldns_pkt_edns_do(pkt);
    q.limit = tcp ? DNS_TCP_MAX : 512;
    if (!tcp && q.edns && ldns_pkt_edns_udp_size(pkt) > 512)
        q.limit =
            ldns_pkt_edns_udp_size(pkt) < DNS_UDP_MAX ? ldns_pkt_edns_udp_size(pkt) : DNS_UDP_MAX;

    if (qname_host_text(ldns_rr_owner(q.rr), text, sizeof text) &&
        ep_host_normalize(text, strlen(text), host, &port, NULL) == 0 && port == 0)
        host_ok = true;

    if (is_trusted(svc, client_ip)) {
        /* squid: it asks only for names it decided; resolved as asked. */
        presented = ldns_rdf2str(ldns_rr_owner(q.rr));
        if (presented == NULL)
            goto out;
        rc = reply_resolved(svc, &q, presented, out, outlen, oc);
        goto out;
    }

    if (svc->limits != NULL) {
        enum dns_limit_verdict lv =
            dns_limits_check(svc->limits, client_ip, host_ok ? host : "invalid", now_ms);
        if (lv != DNS_LIMIT_PASS) {
            dns_count(lv == DNS_LIMIT_RATE ? DNS_COUNT_RATE_LIMITED : DNS_COUNT_NAME_CAP);
            snprintf(oc->text, sizeof oc->text, EDE_TEXT_PREFIX "%s; client=%s",
                     lv == DNS_LIMIT_RATE ? "query rate limit" : "distinct names cap", client_ip);
            oc->rcode = LDNS_RCODE_REFUSED;
            rc = reply_own(&q, LDNS_RCODE_REFUSED, EDE_PROHIBITED, oc->text, out, outlen);
            goto out;
        }
    }

    gr.client_ip = client_ip;
    gr.method = "DNS";
    gr.host = host_ok ? host : NULL;
    gr.port = 0;
    ep_gate_decide(svc->gate, &gr, &res);
    oc->verdict = res.verdict;
    snprintf(oc->text, sizeof oc->text, EDE_TEXT_PREFIX "%s", res.text);
    if (strcmp(res.reason, ep_reason_name(EP_REASON_UNKNOWN_CLIENT)) == 0) {
        dns_count(DNS_COUNT_REFUSED);
        oc->rcode = LDNS_RCODE_REFUSED;
        rc = reply_own(&q, LDNS_RCODE_REFUSED, EDE_PROHIBITED, oc->text, out, outlen);
        goto out;
    }
    if (res.verdict != EP_VERDICT_ALLOW) {
        dns_count(DNS_COUNT_BLOCKED);
        oc->rcode = LDNS_RCODE_NXDOMAIN;
        rc = reply_own(&q, LDNS_RCODE_NXDOMAIN, EDE_BLOCKED, oc->text, out, outlen);
        goto out;
    }
    oc->text[0] = '\0';
    /* What was decided is what is resolved: the canonical name. */
    snprintf(name, sizeof name, "%s.", host);
    rc = reply_resolved(svc, &q, name, out, outlen, oc);
out:
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *outlen = 0;
        oc->rcode = -1;
    }
    free(presented);
    ldns_pkt_free(pkt);
    return rc;
}

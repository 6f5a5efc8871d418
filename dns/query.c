/*
 * The query path (query.h): read the message with ldns, ask the limits
 * and the policy gate, and answer in wire form: a refusal or a block
 * written here, or the resolver's answer with its header, question (the
 * client's as it wrote it, 0x20 case included), TTLs and EDNS patched for
 * the client. An answer that cannot be patched so (its question differs
 * from the client's in more than case) is parsed and written with ldns.
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

/*
 * An answer made here, written straight in wire form (RFC 1035 4.1, the
 * OPT record of RFC 6891): the header as reply_setup() sets it, with
 * @p rcode, the client's question, and for a client that sent EDNS an OPT
 * record carrying Extended DNS Error @p ede with @p ede_text (RFC 8914)
 * when that is not NULL. When that is longer than the client takes: again
 * without the extended error and with TC set, as reply_wire() does. 0, or
 * -1 when even that does not fit.
 */
static int reply_own(const struct question *q, ldns_pkt_rcode rcode, uint16_t ede,
                     const char *ede_text, uint8_t **out, size_t *outlen)
{
    const ldns_rdf *qname = ldns_rr_owner(q->rr);
    size_t qname_len = ldns_rdf_size(qname);
    bool with_ede = q->edns && ede_text != NULL, tc = false;
    size_t text_len = with_ede ? strlen(ede_text) : 0;
    size_t opt_data = with_ede ? 4 + 2 + text_len : 0; /* option code, length, info code, text */
    size_t opt_len = q->edns ? 11 + opt_data : 0;      /* root, type, class, TTL, rdlength */
    size_t len = LDNS_HEADER_SIZE + qname_len + 4 + opt_len;
    uint8_t *w, *p;

    if (len > q->limit) {
        with_ede = false;
        opt_data = 0;
        opt_len = q->edns ? 11 : 0;
        len = LDNS_HEADER_SIZE + qname_len + 4 + opt_len;
        tc = true;
        if (len > q->limit)
            return -1;
    }
    w = malloc(len);
    if (w == NULL)
        return -1;
    ldns_write_uint16(w, ldns_pkt_id(q->pkt));
    w[2] = LDNS_QR_MASK | (ldns_pkt_rd(q->pkt) ? LDNS_RD_MASK : 0) | (tc ? LDNS_TC_MASK : 0);
    w[3] = LDNS_RA_MASK | (ldns_pkt_cd(q->pkt) ? LDNS_CD_MASK : 0) | ((uint8_t)rcode & 0x0f);
    ldns_write_uint16(w + 4, 1);                /* QDCOUNT */
    ldns_write_uint16(w + 6, 0);                /* ANCOUNT */
    ldns_write_uint16(w + 8, 0);                /* NSCOUNT */
    ldns_write_uint16(w + 10, q->edns ? 1 : 0); /* ARCOUNT: the OPT record */
    p = w + LDNS_HEADER_SIZE;
    memcpy(p, ldns_rdf_data(qname), qname_len);
    p += qname_len;
    ldns_write_uint16(p, ldns_rr_get_type(q->rr));
    ldns_write_uint16(p + 2, ldns_rr_get_class(q->rr));
    p += 4;
    if (q->edns) {
        *p++ = 0; /* the root */
        ldns_write_uint16(p, LDNS_RR_TYPE_OPT);
        ldns_write_uint16(p + 2, DNS_UDP_MAX);                 /* the payload size we take */
        ldns_write_uint32(p + 4, q->dnssec_ok ? 0x8000u : 0u); /* extended rcode, version, DO */
        ldns_write_uint16(p + 8, (uint16_t)opt_data);
        p += 10;
        if (with_ede) {
            ldns_write_uint16(p, LDNS_EDNS_EDE);
            ldns_write_uint16(p + 2, (uint16_t)(2 + text_len));
            ldns_write_uint16(p + 4, ede);
            memcpy(p + 6, ede_text, text_len);
        }
    }
    *out = w;
    *outlen = len;
    return 0;
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
 * Step over the name at *@p pos of @p m (@p len bytes): labels, ended by
 * the root or by a compression pointer to an earlier offset. False when
 * it does not read so.
 */
static bool skip_name(const uint8_t *m, size_t len, size_t *pos)
{
    size_t at = *pos;

    while (at < len) {
        uint8_t c = m[at];
        if (c == 0) {
            *pos = at + 1;
            return true;
        }
        if ((c & 0xc0) == 0xc0) {
            if (at + 2 > len || (size_t)((c & 0x3f) << 8 | m[at + 1]) >= at)
                return false;
            *pos = at + 2;
            return true;
        }
        if ((c & 0xc0) != 0)
            return false;
        at += 1 + (size_t)c;
    }
    return false;
}

/*
 * Whether the @p len bytes of names @p a and @p b (labels, no pointer)
 * are the same name: they differ at most in the case of ASCII letters.
 */
static bool same_name(const uint8_t *a, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t x = a[i], y = b[i];
        if (x != y && !((x | 0x20) == (y | 0x20) && (x | 0x20) >= 'a' && (x | 0x20) <= 'z'))
            return false;
    }
    return true;
}

/*
 * The upstream's answer @p a rewritten for the client in its wire form,
 * with no parse: the header as reply_setup() sets it (the client's id, RD
 * and CD; AD when DNSSEC validated it and the client asked), the client's
 * question in place of the upstream's (its case: the records' names that
 * point to it read as the client wrote them), every record's TTL less the
 * answer's age, the upstream's OPT record replaced by one for the client
 * when it sent EDNS. Too long for the client: the header and question
 * with TC set, as reply_wire() does. False, with nothing made, when the
 * answer is not one this can rewrite (its question is not the client's
 * one question at the same length, as after an IDN's conversion, an OPT
 * record is not the last record, or it does not read): the caller parses
 * it then.
 */
static bool reply_from_wire(const struct question *q, const struct dns_upstream_answer *a,
                            uint8_t **out, size_t *outlen)
{
    const uint8_t *m = a->packet;
    const ldns_rdf *qname = ldns_rr_owner(q->rr);
    size_t qname_len = ldns_rdf_size(qname), pos = LDNS_HEADER_SIZE, records, end;
    unsigned counts[3], kept_additional = 0;
    bool ad = a->secure && (q->dnssec_ok || ldns_pkt_ad(q->pkt));
    uint8_t *w;

    if (a->len < LDNS_HEADER_SIZE || LDNS_QDCOUNT(m) != 1)
        return false;
    if (!skip_name(m, a->len, &pos) || pos != LDNS_HEADER_SIZE + qname_len || pos + 4 > a->len ||
        !same_name(m + LDNS_HEADER_SIZE, ldns_rdf_data(qname), qname_len))
        return false;
    records = pos + 4;
    counts[0] = LDNS_ANCOUNT(m);
    counts[1] = LDNS_NSCOUNT(m);
    counts[2] = LDNS_ARCOUNT(m);
    /* Where the records end: before the upstream's OPT record, which must come last. */
    end = records;
    for (int s = 0; s < 3; s++)
        for (unsigned i = 0; i < counts[s]; i++) {
            size_t at = end;
            uint16_t type;
            if (!skip_name(m, a->len, &at) || at + 10 > a->len)
                return false;
            type = ldns_read_uint16(m + at);
            at += 10 + ldns_read_uint16(m + at + 8);
            if (at > a->len)
                return false;
            if (type == LDNS_RR_TYPE_OPT) {
                if (s != 2 || i + 1 != counts[2])
                    return false;
                break;
            }
            if (s == 2)
                kept_additional++;
            end = at;
        }

    w = malloc(end + (q->edns ? 11 : 0));
    if (w == NULL)
        return false;
    memcpy(w, m, end);
    ldns_write_uint16(w, ldns_pkt_id(q->pkt));
    w[2] = LDNS_QR_MASK | (ldns_pkt_rd(q->pkt) ? LDNS_RD_MASK : 0);
    w[3] = LDNS_RA_MASK | (ad ? LDNS_AD_MASK : 0) | (ldns_pkt_cd(q->pkt) ? LDNS_CD_MASK : 0) |
           LDNS_RCODE_WIRE(m);
    memcpy(w + LDNS_HEADER_SIZE, ldns_rdf_data(qname), qname_len);
    ldns_write_uint16(w + LDNS_HEADER_SIZE + qname_len, ldns_rr_get_type(q->rr));
    ldns_write_uint16(w + LDNS_HEADER_SIZE + qname_len + 2, ldns_rr_get_class(q->rr));
    /* Age the records (the walk above read them all). */
    for (size_t at = records; a->age > 0 && at < end;) {
        uint32_t ttl;
        skip_name(w, end, &at);
        ttl = ldns_read_uint32(w + at + 4);
        ldns_write_uint32(w + at + 4, ttl > a->age ? ttl - a->age : 0);
        at += 10 + ldns_read_uint16(w + at + 8);
    }
    if (end + (q->edns ? 11 : 0) > q->limit) {
        end = records; /* the question only; the client asks again over TCP */
        w[2] |= LDNS_TC_MASK;
        counts[0] = counts[1] = kept_additional = 0;
    }
    ldns_write_uint16(w + LDNS_ANCOUNT_OFF, (uint16_t)counts[0]);
    ldns_write_uint16(w + LDNS_NSCOUNT_OFF, (uint16_t)counts[1]);
    ldns_write_uint16(w + LDNS_ARCOUNT_OFF, (uint16_t)(kept_additional + (q->edns ? 1 : 0)));
    if (q->edns) {
        w[end] = 0; /* the root */
        ldns_write_uint16(w + end + 1, LDNS_RR_TYPE_OPT);
        ldns_write_uint16(w + end + 3, DNS_UDP_MAX);
        ldns_write_uint32(w + end + 5, q->dnssec_ok ? 0x8000u : 0u);
        ldns_write_uint16(w + end + 9, 0);
        end += 11;
    }
    if (end > q->limit) {
        free(w);
        return false;
    }
    *out = w;
    *outlen = end;
    return true;
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
    if (rc == 0 && reply_from_wire(q, &a, out, outlen)) {
        oc->rcode = LDNS_RCODE_WIRE(a.packet);
        dns_upstream_answer_clear(&a);
        dns_count(oc->rcode == LDNS_RCODE_SERVFAIL ? DNS_COUNT_UPSTREAM_FAIL : DNS_COUNT_ANSWERED);
        return 0;
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
    /* The name's wire form: labels of a length byte and as many bytes, the root's length 0. */
    const uint8_t *d = ldns_rdf_data(qname), *end = d + ldns_rdf_size(qname);
    size_t used = 0;

    if (d >= end || d[0] == 0)
        return false;
    while (d < end && d[0] != 0) {
        size_t len = d[0];
        if (d + 1 + len > end || len > 63 || used + len + 2 > size)
            return false;
        for (size_t k = 1; k <= len; k++)
            if (d[k] <= ' ' || d[k] == '.' || d[k] == 0x7f)
                return false;
        if (used > 0)
            text[used++] = '.';
        memcpy(text + used, d + 1, len);
        used += len;
        d += 1 + len;
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
    bool host_ok = false, unknown;
    size_t host_len;
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
    unknown = strcmp(res.reason, ep_reason_name(EP_REASON_UNKNOWN_CLIENT)) == 0;
    if (unknown || res.verdict != EP_VERDICT_ALLOW)
        snprintf(oc->text, sizeof oc->text, EDE_TEXT_PREFIX "%s", res.text);
    if (unknown) {
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
    /* What was decided is what is resolved: the canonical name. */
    host_len = strlen(host);
    memcpy(name, host, host_len);
    memcpy(name + host_len, ".", 2);
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

/*
 * Fuzz target for egress-dns's query path (dns/query.h): one DNS message
 * from a client, through the limits and the policy gate over a real store,
 * to the answer written with ldns. The resolver is a stand-in that answers
 * every question with the same upstream packet (a CNAME and an A record
 * for another name), fails, or says DNSSEC bogus, so no network is used.
 *
 * An input is one byte of setup, then the message:
 *   bits 0-1  the client: 0 security (whitelist .allowed.test),
 *             1 logging, 2 unknown, 3 trusted (squid)
 *   bit 2     over TCP (else UDP)
 *   bit 3     the resolver fails
 *   bit 4     the resolver says bogus
 *
 * After each input:
 * - an answer, when there is one, parses with ldns, is a response (QR)
 *   with the query's id, and fits the transport (UDP: at most 1,232
 *   bytes; TCP: 65,535);
 * - a message with QR set is never answered;
 * - an unknown client never gets NOERROR;
 * - a blocked name (NXDOMAIN from the policy) carries no answer record;
 * - nothing the security client asks outside its whitelist is answered
 *   with records.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dns/query.h"
#include "policy/error.h"
#include "policy/rule.h"
#include "policy/store.h"
#include "tests/fuzz/fuzz.h"

static const char *const clients[4] = {"192.0.2.10", "192.0.2.11", "192.0.2.99", "127.0.0.1"};

static struct dns_service svc;
static uint8_t *canned;
static size_t canned_len;
static bool fail_next, bogus_next;

static int stand_in_resolve(struct dns_resolver *r, const char *name, int type, int rrclass,
                            struct dns_upstream_answer *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (fail_next) {
        *why = "stand-in failure";
        return 1;
    }
    out->packet = malloc(canned_len);
    if (out->packet == NULL)
        abort();
    memcpy(out->packet, canned, canned_len);
    out->len = canned_len;
    out->bogus = bogus_next;
    out->secure = !bogus_next;
    return 0;
}

/* Setup must work: say which step failed, and stop. */
static void need(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "fuzz_dns: setup: %s: %s\n", what, ep_strerror(rc));
        abort();
    }
}

static void stand_in_free(struct dns_resolver *r) {}

static struct dns_resolver stand_in = {.resolve = stand_in_resolve, .free = stand_in_free};

/* The upstream's answer the stand-in gives for every question. */
static void make_canned(void)
{
    ldns_pkt *p = ldns_pkt_new();
    ldns_rr *rr;

    if (p == NULL)
        abort();
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rd(p, true);
    ldns_pkt_set_ra(p, true);
    if (ldns_rr_new_question_frm_str(&rr, "www.allowed.test. IN A", NULL, NULL) != LDNS_STATUS_OK)
        abort();
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
    if (ldns_rr_new_frm_str(&rr, "www.allowed.test. 60 IN CNAME edge.allowed.test.", 0, NULL,
                            NULL) != LDNS_STATUS_OK)
        abort();
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    if (ldns_rr_new_frm_str(&rr, "edge.allowed.test. 60 IN A 198.51.100.11", 0, NULL, NULL) !=
        LDNS_STATUS_OK)
        abort();
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    if (ldns_pkt2wire(&canned, p, &canned_len) != LDNS_STATUS_OK)
        abort();
    ldns_pkt_free(p);
}

/* A store in a temporary directory with two projects and a whitelist; the gate over it. */
static void setup(void)
{
    static char dir[] = "/tmp/fuzz-dns-XXXXXX";
    struct ep_gate_options opts;
    struct dns_limits_options lim = {.rate = 0, .names_per_minute = 1000};
    struct ep_project p;
    struct ep_rule rule;
    struct ep_store *store;
    char why[256];

    need(mkdtemp(dir) == NULL, "mkdtemp");
    need(ep_store_open(dir, NULL, &store), "open the store");
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "sec");
    snprintf(p.name, sizeof p.name, "sec");
    snprintf(p.profile, sizeof p.profile, "sec-profile");
    p.mode = EP_MODE_SECURITY;
    need(ep_store_project_create(store, &p, 0), "create project sec");
    snprintf(p.id, sizeof p.id, "log");
    snprintf(p.name, sizeof p.name, "log");
    p.mode = EP_MODE_LOGGING;
    need(ep_store_project_create(store, &p, 0), "create project log");
    need(ep_store_client_map(store, clients[0], "sec"), "map sec");
    need(ep_store_client_map(store, clients[1], "log"), "map log");
    need(ep_rule_parse(".allowed.test", &rule, why, sizeof why), "parse the rule");
    need(ep_store_rules_replace(store, "sec-profile", &rule, 1), "replace the rules");
    ep_store_close(store);

    ep_gate_options_default(&opts);
    snprintf(opts.database, sizeof opts.database, "%s", dir);
    opts.record = false;
    need(ep_gate_new(&opts, NULL, &svc.gate), "make the gate");
    need(dns_limits_new(&lim, &svc.limits), "make the limits");
    svc.resolver = &stand_in;
    snprintf(svc.trusted[0], sizeof svc.trusted[0], "%s", clients[3]);
    svc.n_trusted = 1;
    make_canned();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int64_t now;
    struct dns_outcome oc;
    uint8_t *out = NULL;
    size_t outlen = 0;
    ldns_pkt *ans = NULL;
    unsigned client;
    bool tcp;
    int rc;

    fuzz_begin(data, size);
    if (svc.gate == NULL)
        setup();
    if (size < 1)
        return 0;
    client = data[0] & 3;
    tcp = (data[0] & 4) != 0;
    fail_next = (data[0] & 8) != 0;
    bogus_next = (data[0] & 16) != 0;
    data++;
    size--;

    rc = dns_query_answer(&svc, clients[client], tcp, data, size, now += 7, &out, &outlen, &oc);
    PROPERTY(rc == 0 || rc == -1, "returned %d", rc);
    if (rc != 0) {
        PROPERTY(out == NULL, "no answer, but a buffer");
        return 0;
    }
    PROPERTY(size >= 12, "answered a message of %zu bytes, shorter than a header", size);
    PROPERTY((data[2] & 0x80) == 0, "answered a response (QR set)");
    PROPERTY(outlen <= (tcp ? 65535u : DNS_UDP_MAX), "an answer of %zu bytes over %s", outlen,
             tcp ? "TCP" : "UDP");
    PROPERTY(ldns_wire2pkt(&ans, out, outlen) == LDNS_STATUS_OK, "the answer does not parse");
    PROPERTY(ldns_pkt_qr(ans), "the answer is not a response");
    PROPERTY(ldns_pkt_id(ans) == ((unsigned)data[0] << 8 | data[1]), "the answer's id differs");
    if (client == 2)
        PROPERTY(ldns_pkt_get_rcode(ans) != LDNS_RCODE_NOERROR, "an unknown client got NOERROR");
    if (oc.verdict == EP_VERDICT_DENY)
        PROPERTY(ldns_pkt_ancount(ans) == 0 && ldns_pkt_get_rcode(ans) != LDNS_RCODE_NOERROR,
                 "a blocked name got %u answer records, rcode %d", ldns_pkt_ancount(ans),
                 ldns_pkt_get_rcode(ans));
    if (client == 0 && ldns_pkt_ancount(ans) > 0)
        PROPERTY(oc.verdict == EP_VERDICT_ALLOW, "the security client got records unallowed");
    ldns_pkt_free(ans);
    free(out);
    return 0;
}

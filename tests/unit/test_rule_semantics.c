/*
 * What each rule kind matches (policy/rule.h, ep_rule_covers): for every
 * kind, hosts that must match and hosts that must not: apex, subdomain,
 * deep subdomain, sibling, look-alikes, case, trailing dot, IDN written
 * either way, percent-escapes, ports. Hosts are taken the way the ICAP
 * module takes them: through ep_host_from_request_target() first. A host
 * that does not normalise matches nothing.
 */
#include <string.h>

#include "policy/error.h"
#include "policy/covers.h"
#include "policy/rule.h"
#include "tests/lib/testutil.h"

struct semantics_case {
    const char *rule;
    const char *target; /* as a request would carry it */
    bool match;
};

static const struct semantics_case cases[] = {
    /* .example.com: the apex and every subdomain. */
    {".example.com", "example.com", true},
    {".example.com", "www.example.com", true},
    {".example.com", "a.b.c.example.com", true},
    {".example.com", "WWW.EXAMPLE.COM", true},
    {".example.com", "www.example.com.", true},
    {".example.com", "www.example.com:443", true},
    {".example.com", "http://user@www.ex%61mple.com:8080/x?y", true},
    {".example.com", "evilexample.com", false},
    {".example.com", "www.evilexample.com", false},
    {".example.com", "example.com.evil.com", false},
    {".example.com", "xample.com", false},
    {".example.com", "example.org", false},
    {".example.com", "com", false},
    {".example.com", "example.com..", false},
    {".example.com", "http://example.com%2f.evil.com/", false},
    {".example.com", "http://evil.com\\@example.com/", false},
    {".example.com", "http://example.com@evil.com/", false},
    /* *.example.com: subdomains only. */
    {"*.example.com", "example.com", false},
    {"*.example.com", "EXAMPLE.com.", false},
    {"*.example.com", "www.example.com", true},
    {"*.example.com", "Api.Example.Com.", true},
    {"*.example.com", "a.b.example.com", true},
    {"*.example.com", "evilexample.com", false},
    {"*.example.com", "x.evilexample.com", false},
    {"*.example.com", "www.example.com.evil.com", false},
    {"*.example.com", "other.com", false},
    /* api.example.com: that host only. */
    {"api.example.com", "api.example.com", true},
    {"api.example.com", "API.EXAMPLE.COM.", true},
    {"api.example.com", "api.example.com:443", true},
    {"api.example.com", "https://api.example.com/v1", true},
    {"api.example.com", "example.com", false},
    {"api.example.com", "x.api.example.com", false},
    {"api.example.com", "evilapi.example.com", false},
    {"api.example.com", "api.example.com.evil.com", false},
    {"api.example.com", "www.example.com", false},
    /* Regex: a full match of the canonical host. */
    {"~[a-z]+\\.example\\.com", "www.example.com", true},
    {"~[a-z]+\\.example\\.com", "WWW.example.com", true},
    {"~[a-z]+\\.example\\.com", "evilwww.example.com", true},
    {"~[a-z]+\\.example\\.com", "a.b.example.com", false},
    {"~[a-z]+\\.example\\.com", "example.com", false},
    {"~[a-z]+\\.example\\.com", "1.example.com", false},
    {"~[a-z]+\\.example\\.com", "www.example.com.evil.com", false},
    {"~[a-z]+\\.example\\.com", "www.example.community", false},
    {"~example", "example.com", false},
    {"~example", "example", true},
    {"~.*\\.example\\.com", "a.b.example.com", true},
    {"~.*\\.example\\.com", "example.com", false},
    {"~(www|api)\\.example\\.com", "api.example.com", true},
    {"~(www|api)\\.example\\.com", "apiXexample.com", false},
    {"~xn--bcher-kva\\.de", "bücher.de", true},
    /* IDN: rule and host in Unicode or punycode, either way round. */
    {".bücher.de", "bücher.de", true},
    {".bücher.de", "www.BÜCHER.de", true},
    {".bücher.de", "xn--bcher-kva.de", true},
    {".bücher.de", "http://b%C3%BCcher.de/", true},
    {".bücher.de", "bucher.de", false},
    {".bücher.de", "xn--bcher-kva.de.evil.com", false},
    {"xn--bcher-kva.de", "Bücher.de.", true},
    {"xn--bcher-kva.de", "www.bücher.de", false},
    {"*.Bücher.DE", "shop.bücher.de", true},
    {"*.Bücher.DE", "bücher.de", false},
    {"münchen.de", "XN--MNCHEN-3YA.DE", true},
    /* IP rules. */
    {"ip:1.2.3.4", "1.2.3.4", true},
    {"ip:1.2.3.4", "1.2.3.4:80", true},
    {"ip:1.2.3.4", "http://1.2.3.4/", true},
    {"ip:1.2.3.4", "1.2.3.5", false},
    {"ip:1.2.3.4", "4.3.2.1", false},
    {"ip:1.2.3.4", "01.2.3.4", false},
    {"ip:1.2.3.4", "1.2.3.4.example.com", false},
    {"ip:::1", "[::1]:443", true},
    {"ip:::1", "[0:0::1]", true},
    {"ip:::1", "http://[0000::0001]/", true},
    {"ip:::1", "[::2]", false},
    {"ip:2001:db8::1", "[2001:DB8:0:0:0:0:0:1]", true},
    /* Name rules never match an address and the reverse. */
    {".example.com", "1.2.3.4", false},
};

int main(void)
{
    size_t n = sizeof cases / sizeof cases[0];

    for (size_t i = 0; i < n; i++) {
        const struct semantics_case *c = &cases[i];
        struct ep_rule rule;
        char host[EP_HOST_BUFSZ], why[256];
        bool matched = false;

        REQUIRE(ep_rule_parse(c->rule, &rule, why, sizeof why) == 0);
        if (ep_host_from_request_target(c->target, strlen(c->target), host, NULL, NULL) == 0)
            matched = ep_rule_covers(&rule, host);
        test_checks++;
        if (matched != c->match) {
            test_failures++;
            fprintf(stderr, "rule \"%s\" %s \"%s\" (normalised \"%s\"), expected the opposite\n",
                    c->rule, matched ? "matches" : "does not match", c->target, host);
        }
    }
    /* Degenerate arguments match nothing. */
    struct ep_rule rule;
    REQUIRE(ep_rule_parse(".example.com", &rule, NULL, 0) == 0);
    CHECK(!ep_rule_covers(&rule, ""));
    CHECK(!ep_rule_covers(&rule, NULL));
    CHECK(!ep_rule_covers(NULL, "example.com"));
    /* A pattern with catastrophic backtracking stops at the match limit: no match, no hang. */
    REQUIRE(ep_rule_parse("~(a|aa)+(a|aa)+(a|aa)+", &rule, NULL, 0) == 0);
    char host[EP_HOST_BUFSZ];
    memset(host, 'a', 60);
    strcpy(host + 60, "c");
    CHECK(!ep_rule_covers(&rule, host));
    fprintf(stderr, "%zu semantics cases\n", n);
    return test_exit();
}

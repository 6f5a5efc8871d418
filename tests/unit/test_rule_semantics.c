/*
 * What each rule kind matches (policy/rule.h, ep_rule_covers): for every
 * kind, hosts that must match and hosts that must not: apex, subdomain,
 * deep subdomain, sibling, look-alikes, case, trailing dot, IDN written
 * either way, percent-escapes, ports. Hosts are taken the way the ICAP
 * module takes them: through ep_host_from_request_target() first, its
 * port with them. A host that does not normalise matches nothing.
 *
 * Then ports at random: rules of every kind with and without a port,
 * requests to every kind of host written in every way a request carries
 * a port; a rule must cover a request exactly when the same rule without
 * its port covers the host and the ports agree as rule.h says (no port:
 * 80, 443 or none; a port: that port alone), the reference written here
 * from the rule's text, not from covers.h.
 */
#include <arpa/inet.h>
#include <stdlib.h>
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
    {".example.com", "www.example.com:80", true},
    {".example.com", "http://user@www.ex%61mple.com/x?y", true},
    {".example.com", "http://user@www.ex%61mple.com:8080/x?y", false},
    {".example.com", "www.example.com:22", false},
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
    {"ip:1.2.3.4", "1.2.3.4:22", false},
    /* Name rules never match an address and the reverse. */
    {".example.com", "1.2.3.4", false},
    /* Rules with a port: that port only, never the web ports. */
    {"github.com:22", "github.com:22", true},
    {"github.com:22", "GitHub.com.:22", true},
    {"github.com:22", "github.com", false},
    {"github.com:22", "github.com:443", false},
    {"github.com:22", "github.com:80", false},
    {"github.com:22", "github.com:2222", false},
    {"github.com:22", "www.github.com:22", false},
    {".example.com:8080", "example.com:8080", true},
    {".example.com:8080", "a.b.example.com:8080", true},
    {".example.com:8080", "http://www.example.com:8080/x", true},
    {".example.com:8080", "www.example.com", false},
    {".example.com:8080", "www.example.com:8443", false},
    {".example.com:8080", "evilexample.com:8080", false},
    {"*.example.com:8443", "www.example.com:8443", true},
    {"*.example.com:8443", "example.com:8443", false},
    {"ip:10.0.0.5:8080", "10.0.0.5:8080", true},
    {"ip:10.0.0.5:8080", "10.0.0.5", false},
    {"ip:10.0.0.5:8080", "10.0.0.6:8080", false},
    {"ip:[2001:db8::1]:22", "[2001:db8:0::1]:22", true},
    {"ip:[2001:db8::1]:22", "[2001:db8::1]", false},
    {"ip:[2001:db8::1]:22", "[2001:db8::1]:443", false},
};

/* ---- ports at random ---- */

static unsigned seed = 4242;

static unsigned rnd(unsigned n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % n;
}

static const char *const rule_hosts[] = {
    "example.com",  ".example.com",   "*.example.com",          "www.example.com",
    "ip:192.0.2.7", "ip:2001:db8::7", "~[a-z]+\\.example\\.com"};
static const char *const request_hosts[] = {
    "example.com", "www.example.com", "a.www.example.com", "evilexample.com",
    "192.0.2.7",   "2001:db8::7",     "example.org"};
static const int ports[] = {0, 80, 443, 22, 8080, 65535, 1};

/* The reference: does a rule of port @p rule_port (0: written without one) reach @p port? */
static bool port_agrees(int rule_port, int port)
{
    if (rule_port == 0)
        return port == 0 || port == 80 || port == 443;
    return port == rule_port;
}

static bool is_address(const char *h)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1;
}

/* Write a request target for host @p h (canonical) on @p port in one of four spellings. */
static void spell_target(char *out, size_t outsz, const char *h, int port)
{
    bool v6 = strchr(h, ':') != NULL;
    const char *open = v6 ? "[" : "", *close = v6 ? "]" : "";

    switch (rnd(4)) {
    case 0: /* an authority as CONNECT writes it, or a Host header */
        if (port)
            snprintf(out, outsz, "%s%s%s:%d", open, h, close, port);
        else
            snprintf(out, outsz, "%s%s%s", open, h, close);
        break;
    case 1: /* an absolute URI */
        if (port)
            snprintf(out, outsz, "http://%s%s%s:%d/path", open, h, close, port);
        else
            snprintf(out, outsz, "http://%s%s%s/", open, h, close);
        break;
    case 2: /* upper case, and leading zeros in the port */
        snprintf(out, outsz, "%s%s%s", open, h, close);
        for (char *c = out; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
        if (port)
            snprintf(out + strlen(out), outsz - strlen(out), ":%05d", port);
        break;
    default: /* a trailing dot on a name */
        snprintf(out, outsz, "%s%s%s%s", open, h, is_address(h) ? "" : ".", close);
        if (port)
            snprintf(out + strlen(out), outsz - strlen(out), ":%d", port);
        break;
    }
}

static void check_random_ports(void)
{
    unsigned bad = 0;

    for (int round = 0; round < 20000; round++) {
        const char *rh = rule_hosts[rnd(sizeof rule_hosts / sizeof rule_hosts[0])];
        const char *qh = request_hosts[rnd(sizeof request_hosts / sizeof request_hosts[0])];
        int rule_port = rh[0] == '~' ? 0 : ports[rnd(sizeof ports / sizeof ports[0])];
        int port = ports[rnd(sizeof ports / sizeof ports[0])], got_port = -1;
        char text[EP_RULE_BUFSZ], target[EP_HOST_BUFSZ + 32], host[EP_HOST_BUFSZ];
        struct ep_rule rule, bare;
        bool v6 = strncmp(rh, "ip:", 3) == 0 && strchr(rh + 3, ':') != NULL;
        bool want, got;
        int rc;

        if (rule_port == 80 || rule_port == 443)
            rule_port = 0; /* refused by the grammar: test_rule checks that */
        if (rule_port)
            snprintf(text, sizeof text, "%s%s%s:%d", v6 ? "ip:[" : "", v6 ? rh + 3 : rh,
                     v6 ? "]" : "", rule_port);
        else
            snprintf(text, sizeof text, "%s", rh);
        rc = ep_rule_parse(text, &rule, NULL, 0);
        CHECK_INT(rc, 0);
        CHECK_INT(rule.port, rule_port);
        REQUIRE(ep_rule_parse(rh, &bare, NULL, 0) == 0);
        spell_target(target, sizeof target, qh, port);
        rc = ep_host_from_request_target(target, strlen(target), host, &got_port, NULL);
        CHECK_INT(rc, 0);
        CHECK_INT(got_port, port);
        if (rc != 0)
            continue;
        want = ep_rule_covers(&bare, host, 0) && port_agrees(rule_port, port);
        got = ep_rule_covers(&rule, host, got_port);
        test_checks++;
        if (want != got && bad++ < 10) {
            test_failures++;
            fprintf(stderr, "rule \"%s\" %s \"%s\", expected the opposite\n", text,
                    got ? "covers" : "does not cover", target);
        }
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    size_t n = sizeof cases / sizeof cases[0];

    for (size_t i = 0; i < n; i++) {
        const struct semantics_case *c = &cases[i];
        struct ep_rule rule;
        char host[EP_HOST_BUFSZ], why[256];
        bool matched = false;

        int port = 0;

        REQUIRE(ep_rule_parse(c->rule, &rule, why, sizeof why) == 0);
        if (ep_host_from_request_target(c->target, strlen(c->target), host, &port, NULL) == 0)
            matched = ep_rule_covers(&rule, host, port);
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
    CHECK(!ep_rule_covers(&rule, "", 0));
    CHECK(!ep_rule_covers(&rule, NULL, 0));
    CHECK(!ep_rule_covers(NULL, "example.com", 0));
    /* A pattern with catastrophic backtracking stops at the match limit: no match, no hang. */
    REQUIRE(ep_rule_parse("~(a|aa)+(a|aa)+(a|aa)+", &rule, NULL, 0) == 0);
    char host[EP_HOST_BUFSZ];
    memset(host, 'a', 60);
    strcpy(host + 60, "c");
    CHECK(!ep_rule_covers(&rule, host, 0));
    check_random_ports();
    fprintf(stderr, "%zu semantics cases\n", n);
    return test_exit();
}

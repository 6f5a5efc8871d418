/*
 * The one home of rule semantics (policy/covers.h): where a host stands
 * relative to a rule's name, which kind of a key's mask covers it, which
 * ports a rule covers, the reference ep_rule_covers(), rule-over-rule
 * coverage for promotion, and the store keys of rules. ep_rule_covers_rule()
 * is cross-checked against ep_rule_covers() over every pair of rules (each
 * without a port and with two ports) on a small set of names and every
 * request around them (each host on the web ports, on the rules' ports and
 * on others): "by covers rule" must hold exactly when no request is covered
 * by the rule and not by "by".
 */
#include <string.h>

#include "policy/covers.h"
#include "policy/error.h"
#include "policy/rule.h"
#include "tests/lib/testutil.h"

static void check_where(void)
{
    CHECK_INT(ep_covers_where("example.com", "example.com"), EP_COVERS_SELF);
    CHECK_INT(ep_covers_where("www.example.com", "example.com"), EP_COVERS_BELOW);
    CHECK_INT(ep_covers_where("a.b.example.com", "example.com"), EP_COVERS_BELOW);
    CHECK_INT(ep_covers_where("evilexample.com", "example.com"), EP_COVERS_NONE);
    CHECK_INT(ep_covers_where(".example.com", "example.com"), EP_COVERS_NONE);
    CHECK_INT(ep_covers_where("example.com", "www.example.com"), EP_COVERS_NONE);
    CHECK_INT(ep_covers_where("example.com.evil", "example.com"), EP_COVERS_NONE);
    CHECK_INT(ep_covers_where("com", "example.com"), EP_COVERS_NONE);
}

/* Every mask of name kinds at every position: the narrowest covering kind, or none. */
static void check_mask(void)
{
    for (unsigned mask = 0; mask <= EP_RULE_NAME_KINDS; mask++) {
        enum ep_rule_kind self = (mask & EP_RULE_EXACT)    ? EP_RULE_EXACT
                                 : (mask & EP_RULE_SUFFIX) ? EP_RULE_SUFFIX
                                                           : 0;
        enum ep_rule_kind below = (mask & EP_RULE_SUBDOMAINS) ? EP_RULE_SUBDOMAINS
                                  : (mask & EP_RULE_SUFFIX)   ? EP_RULE_SUFFIX
                                                              : 0;

        CHECK_INT(ep_covers_mask(mask, EP_COVERS_SELF), self);
        CHECK_INT(ep_covers_mask(mask, EP_COVERS_BELOW), below);
        CHECK_INT(ep_covers_mask(mask, EP_COVERS_NONE), 0);
        /* Bits of other kinds in a mask never make a name match. */
        CHECK_INT(ep_covers_mask(mask | EP_RULE_IP | EP_RULE_REGEX, EP_COVERS_SELF), self);
    }
}

struct pair_case {
    const char *by, *rule;
    bool covers;
};

static const struct pair_case pairs[] = {
    {".example.com", ".example.com", true},
    {".example.com", "example.com", true},
    {".example.com", "*.example.com", true},
    {".example.com", "www.example.com", true},
    {".example.com", ".www.example.com", true},
    {".example.com", "*.www.example.com", true},
    {".example.com", "example.org", false},
    {".example.com", "evilexample.com", false},
    {"*.example.com", "*.example.com", true},
    {"*.example.com", "www.example.com", true},
    {"*.example.com", ".www.example.com", true},
    {"*.example.com", "example.com", false},
    {"*.example.com", ".example.com", false},
    {"example.com", "example.com", true},
    {"example.com", ".example.com", false},
    {"example.com", "www.example.com", false},
    {"www.example.com", "example.com", false},
    {"ip:192.0.2.7", "ip:192.0.2.7", true},
    {"ip:192.0.2.7", "ip:192.0.2.8", false},
    {"~[a-z]+\\.example\\.com", "api.example.com", true},
    {"~[a-z]+\\.example\\.com", "api.example.org", false},
    {"~[a-z]+\\.example\\.com", ".api.example.com", false},
    {"~[a-z]+\\.example\\.com", "~[a-z]+\\.example\\.com", true},
    {"~[a-z]+\\.example\\.com", "~[a-z]+\\.example\\..*", false},
    /* Ports: only rules of the same port (or both of none) cover one another. */
    {"example.com:22", "example.com:22", true},
    {"example.com:22", "example.com", false},
    {"example.com", "example.com:22", false},
    {"example.com:22", "example.com:2222", false},
    {".example.com:22", "www.example.com:22", true},
    {".example.com:22", ".www.example.com:22", true},
    {".example.com:22", "example.com:22", true},
    {".example.com", "x.example.com:22", false},
    {".example.com:22", "x.example.com", false},
    {".example.com:22", "x.example.com:8080", false},
    {"*.example.com:22", "example.com:22", false},
    {"*.example.com:22", "www.example.com:22", true},
    {"ip:192.0.2.7:22", "ip:192.0.2.7:22", true},
    {"ip:192.0.2.7:22", "ip:192.0.2.7", false},
    {"ip:192.0.2.7", "ip:192.0.2.7:22", false},
    {"ip:[2001:db8::1]:22", "ip:[2001:db8::1]:22", true},
    {"~[a-z]+\\.example\\.com", "api.example.com:22", false},
};

static void check_pairs(void)
{
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        struct ep_rule by, rule;

        REQUIRE(ep_rule_parse(pairs[i].by, &by, NULL, 0) == 0);
        REQUIRE(ep_rule_parse(pairs[i].rule, &rule, NULL, 0) == 0);
        test_checks++;
        if (ep_rule_covers_rule(&by, &rule) != pairs[i].covers) {
            test_failures++;
            fprintf(stderr, "\"%s\" %s \"%s\", expected the opposite\n", pairs[i].by,
                    pairs[i].covers ? "does not cover" : "covers", pairs[i].rule);
        }
    }
    CHECK(!ep_rule_covers_rule(NULL, &(struct ep_rule){.kind = EP_RULE_EXACT, .host = "a.b"}));
}

/*
 * Names of the cross-check and hosts around them: each name, a child and
 * a grandchild of it, and look-alikes that share a suffix but not a label.
 */
static const char *const names[] = {"example.com", "www.example.com", "a.www.example.com",
                                    "example.org"};
static const char *const hosts[] = {"example.com",
                                    "www.example.com",
                                    "a.www.example.com",
                                    "b.a.www.example.com",
                                    "x.example.com",
                                    "x.www.example.com",
                                    "evilexample.com",
                                    "wwwexample.com",
                                    "example.org",
                                    "www.example.org",
                                    "com",
                                    "org",
                                    "x.a.www.example.com"};

/* The ports of the rules of the cross-check, and those requests go to. */
static const int rule_ports[] = {0, 22, 8080};
static const int request_ports[] = {0, 80, 443, 22, 8080, 9};

static void cross_check(void)
{
    static const enum ep_rule_kind kinds[] = {EP_RULE_EXACT, EP_RULE_SUFFIX, EP_RULE_SUBDOMAINS};
    size_t nn = sizeof names / sizeof names[0], nh = sizeof hosts / sizeof hosts[0];
    size_t nk = sizeof kinds / sizeof kinds[0], np = sizeof rule_ports / sizeof rule_ports[0];
    size_t nq = sizeof request_ports / sizeof request_ports[0];

    for (size_t a = 0; a < nn * nk * np; a++) {
        for (size_t b = 0; b < nn * nk * np; b++) {
            struct ep_rule by = {.kind = kinds[a % nk], .port = rule_ports[a / nk % np]};
            struct ep_rule rule = {.kind = kinds[b % nk], .port = rule_ports[b / nk % np]};
            bool want = true;

            strcpy(by.host, names[a / nk / np]);
            strcpy(rule.host, names[b / nk / np]);
            for (size_t h = 0; h < nh; h++)
                for (size_t q = 0; q < nq; q++)
                    if (ep_rule_covers(&rule, hosts[h], request_ports[q]) &&
                        !ep_rule_covers(&by, hosts[h], request_ports[q]))
                        want = false;
            test_checks++;
            if (ep_rule_covers_rule(&by, &rule) != want) {
                test_failures++;
                fprintf(stderr,
                        "kind %d \"%s\" port %d over kind %d \"%s\" port %d: covers_rule says "
                        "%d\n",
                        by.kind, by.host, by.port, rule.kind, rule.host, rule.port, !want);
            }
        }
    }
}

/* Which ports a rule covers: the web ports (and 0) without one, exactly its own with one. */
static void check_ports(void)
{
    for (int port = -1; port <= 65536; port++) {
        bool web = port == 0 || port == 80 || port == 443;

        CHECK(ep_covers_web_port(port) == web);
        CHECK(ep_covers_port(0, port) == web);
        CHECK(ep_covers_port(22, port) == (port == 22));
        CHECK(ep_covers_port(65535, port) == (port == 65535));
    }
}

/* ep_rule_covers by kind and position, and ep_rule_covers() agreeing with it. */
static void check_covers(void)
{
    struct ep_rule r;

    REQUIRE(ep_rule_parse("*.example.com", &r, NULL, 0) == 0);
    CHECK(!ep_rule_covers(&r, "example.com", 0));
    CHECK(ep_rule_covers(&r, "www.example.com", 0));
    CHECK(ep_rule_covers(&r, "www.example.com", 80));
    CHECK(ep_rule_covers(&r, "www.example.com", 443));
    CHECK(!ep_rule_covers(&r, "www.example.com", 22));
    CHECK(!ep_rule_covers(&r, "", 0));
    CHECK(!ep_rule_covers(&r, NULL, 0));
    REQUIRE(ep_rule_parse("ip:192.0.2.7", &r, NULL, 0) == 0);
    CHECK(ep_rule_covers(&r, "192.0.2.7", 443));
    CHECK(!ep_rule_covers(&r, "192.0.2.7", 8080));
    CHECK(!ep_rule_covers(&r, "192.0.2.70", 0));
    REQUIRE(ep_rule_parse("ip:192.0.2.7:8080", &r, NULL, 0) == 0);
    CHECK(ep_rule_covers(&r, "192.0.2.7", 8080));
    CHECK(!ep_rule_covers(&r, "192.0.2.7", 0));
    CHECK(!ep_rule_covers(&r, "192.0.2.7", 443));
    REQUIRE(ep_rule_parse("github.com:22", &r, NULL, 0) == 0);
    CHECK(ep_rule_covers(&r, "github.com", 22));
    CHECK(!ep_rule_covers(&r, "github.com", 0));
    CHECK(!ep_rule_covers(&r, "github.com", 80));
    CHECK(!ep_rule_covers(&r, "www.github.com", 22));
    for (size_t a = 0; a < sizeof names / sizeof names[0]; a++)
        for (unsigned kind = 1; kind <= EP_RULE_SUBDOMAINS; kind <<= 1)
            for (size_t h = 0; h < sizeof hosts / sizeof hosts[0]; h++)
                for (size_t q = 0; q < sizeof request_ports / sizeof request_ports[0]; q++) {
                    int port = request_ports[q];
                    struct ep_rule x = {.kind = (enum ep_rule_kind)kind, .port = 22};
                    bool at = (ep_covers_kinds(ep_covers_where(hosts[h], names[a])) & kind) != 0;

                    strcpy(x.host, names[a]);
                    CHECK(ep_rule_covers(&x, hosts[h], port) == (at && port == 22));
                    x.port = 0;
                    CHECK(ep_rule_covers(&x, hosts[h], port) ==
                          (at && (port == 0 || port == 80 || port == 443)));
                }
}

/* Keys: reversed names for every name kind, markers for ip: and regex, refusal of bad rules. */
static void check_keys(void)
{
    char key[EP_RULE_KEY_MAX + 1];
    struct ep_rule r;
    uint8_t bit = 0;
    size_t len;

    REQUIRE(ep_rule_parse("*.www.example.com", &r, NULL, 0) == 0);
    len = ep_rule_key(&r, key, &bit);
    CHECK_INT(len, strlen("com.example.www"));
    CHECK(memcmp(key, "com.example.www", len) == 0);
    CHECK_INT(bit, EP_RULE_SUBDOMAINS);
    CHECK_INT(ep_rule_key_kinds(key, len), EP_RULE_NAME_KINDS);

    REQUIRE(ep_rule_parse("ip:192.0.2.7", &r, NULL, 0) == 0);
    len = ep_rule_key(&r, key, &bit);
    CHECK_INT(len, 1 + strlen("192.0.2.7"));
    CHECK(key[0] == EP_KEY_MARK_IP && memcmp(key + 1, "192.0.2.7", len - 1) == 0);
    CHECK_INT(bit, EP_RULE_IP);
    CHECK_INT(ep_rule_key_kinds(key, len), EP_RULE_IP);

    REQUIRE(ep_rule_parse("~^a+\\.rx$", &r, NULL, 0) == 0);
    len = ep_rule_key(&r, key, &bit);
    CHECK(key[0] == EP_KEY_MARK_REGEX && memcmp(key + 1, "^a+\\.rx$", len - 1) == 0);
    CHECK_INT(bit, EP_RULE_REGEX);
    CHECK_INT(ep_rule_key_kinds(key, len), EP_RULE_REGEX);

    /* Regex keys sort after every name, ip: and port key of a profile. */
    CHECK((unsigned char)EP_KEY_MARK_REGEX > (unsigned char)'z');
    CHECK((unsigned char)EP_KEY_MARK_REGEX > (unsigned char)EP_KEY_MARK_IP);
    CHECK((unsigned char)EP_KEY_MARK_REGEX > (unsigned char)EP_KEY_MARK_PORT);

    /* A rule with a port: the port's prefix, then the key it has without one. */
    int port = -1;
    REQUIRE(ep_rule_parse(".www.example.com:22", &r, NULL, 0) == 0);
    len = ep_rule_key(&r, key, &bit);
    CHECK_INT(len, strlen(":00022com.example.www"));
    CHECK(memcmp(key, ":00022com.example.www", len) == 0);
    CHECK_INT(bit, EP_RULE_SUFFIX);
    CHECK_INT(ep_rule_key_kinds(key, len), EP_RULE_NAME_KINDS);
    CHECK_INT(ep_rule_key_port(key, len, &port), EP_KEY_PORT_LEN);
    CHECK_INT(port, 22);
    REQUIRE(ep_rule_parse("ip:[2001:db8::1]:65535", &r, NULL, 0) == 0);
    len = ep_rule_key(&r, key, &bit);
    CHECK_INT(len, strlen(":65535#2001:db8::1"));
    CHECK(memcmp(key, ":65535#2001:db8::1", len) == 0);
    CHECK_INT(bit, EP_RULE_IP);
    CHECK_INT(ep_rule_key_kinds(key, len), EP_RULE_IP);
    CHECK_INT(ep_rule_key_port(key, len, &port), EP_KEY_PORT_LEN);
    CHECK_INT(port, 65535);
    /* The longest key: a name of EP_HOST_MAX characters with a port. */
    memset(&r, 0, sizeof r);
    r.kind = EP_RULE_EXACT;
    r.port = 1;
    for (size_t i = 0; i < EP_HOST_MAX; i++)
        r.host[i] = i % 2 ? '.' : 'a';
    r.host[EP_HOST_MAX - 1] = 'a';
    CHECK_INT(ep_rule_key(&r, key, &bit), EP_RULE_KEY_MAX);
    CHECK(memcmp(key, ":00001", EP_KEY_PORT_LEN) == 0);
    /* Keys without a port say so. */
    CHECK_INT(ep_rule_key_port("com.example", 11, &port), 0);
    CHECK_INT(port, 0);
    /* The web ports have no prefix: their rules keep the keys of stores without ports. */
    CHECK_INT(ep_rule_key_port_prefix(0, key), 0);
    CHECK_INT(ep_rule_key_port_prefix(80, key), 0);
    CHECK_INT(ep_rule_key_port_prefix(443, key), 0);
    CHECK_INT(ep_rule_key_port_prefix(65536, key), 0);
    CHECK_INT(ep_rule_key_port_prefix(8080, key), EP_KEY_PORT_LEN);
    CHECK(memcmp(key, ":08080", EP_KEY_PORT_LEN) == 0);
    /* A port on a regex rule, or a web port's, is no key. */
    r = (struct ep_rule){.kind = EP_RULE_REGEX, .host = "^a$", .port = 22};
    CHECK_INT(ep_rule_key(&r, key, &bit), 0);
    r = (struct ep_rule){.kind = EP_RULE_EXACT, .host = "example.com", .port = 443};
    CHECK_INT(ep_rule_key(&r, key, &bit), 0);
    r.port = 70000;
    CHECK_INT(ep_rule_key(&r, key, &bit), 0);

    memset(&r, 0, sizeof r);
    r.kind = EP_RULE_EXACT;
    CHECK_INT(ep_rule_key(&r, key, &bit), 0); /* empty host */
    r.kind = (enum ep_rule_kind)64;
    strcpy(r.host, "example.com");
    CHECK_INT(ep_rule_key(&r, key, &bit), 0); /* no such kind */
    memset(r.host, 'a', sizeof r.host);
    r.kind = EP_RULE_EXACT;
    CHECK_INT(ep_rule_key(&r, key, &bit), 0); /* not NUL-terminated */
}

int main(void)
{
    check_where();
    check_mask();
    check_pairs();
    check_ports();
    cross_check();
    check_covers();
    check_keys();
    return test_exit();
}

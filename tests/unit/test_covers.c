/*
 * The one home of rule semantics (policy/covers.h): where a host stands
 * relative to a rule's name, which kind of a key's mask covers it, the
 * reference ep_rule_covers(), rule-over-rule coverage for promotion, and
 * the store keys of rules. ep_rule_covers_rule() is cross-checked against
 * ep_rule_covers() over every pair of rules on a small set of names and
 * every host around them: "by covers rule" must hold exactly when no host
 * is covered by the rule and not by "by".
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

static void cross_check(void)
{
    static const enum ep_rule_kind kinds[] = {EP_RULE_EXACT, EP_RULE_SUFFIX, EP_RULE_SUBDOMAINS};
    size_t nn = sizeof names / sizeof names[0], nh = sizeof hosts / sizeof hosts[0];
    size_t nk = sizeof kinds / sizeof kinds[0];

    for (size_t a = 0; a < nn * nk; a++) {
        for (size_t b = 0; b < nn * nk; b++) {
            struct ep_rule by = {.kind = kinds[a % nk]}, rule = {.kind = kinds[b % nk]};
            bool want = true;

            strcpy(by.host, names[a / nk]);
            strcpy(rule.host, names[b / nk]);
            for (size_t h = 0; h < nh; h++)
                if (ep_rule_covers(&rule, hosts[h]) && !ep_rule_covers(&by, hosts[h]))
                    want = false;
            test_checks++;
            if (ep_rule_covers_rule(&by, &rule) != want) {
                test_failures++;
                fprintf(stderr, "kind %d \"%s\" over kind %d \"%s\": covers_rule says %d\n",
                        by.kind, by.host, rule.kind, rule.host, !want);
            }
        }
    }
}

/* ep_rule_covers by kind and position, and ep_rule_covers() agreeing with it. */
static void check_covers(void)
{
    struct ep_rule r;

    REQUIRE(ep_rule_parse("*.example.com", &r, NULL, 0) == 0);
    CHECK(!ep_rule_covers(&r, "example.com"));
    CHECK(ep_rule_covers(&r, "www.example.com"));
    CHECK(!ep_rule_covers(&r, ""));
    CHECK(!ep_rule_covers(&r, NULL));
    REQUIRE(ep_rule_parse("ip:192.0.2.7", &r, NULL, 0) == 0);
    CHECK(ep_rule_covers(&r, "192.0.2.7"));
    CHECK(!ep_rule_covers(&r, "192.0.2.70"));
    for (size_t a = 0; a < sizeof names / sizeof names[0]; a++)
        for (unsigned kind = 1; kind <= EP_RULE_SUBDOMAINS; kind <<= 1)
            for (size_t h = 0; h < sizeof hosts / sizeof hosts[0]; h++) {
                struct ep_rule x = {.kind = (enum ep_rule_kind)kind};

                strcpy(x.host, names[a]);
                CHECK(ep_rule_covers(&x, hosts[h]) == ep_rule_covers(&x, hosts[h]));
                CHECK(ep_rule_covers(&x, hosts[h]) ==
                      ((ep_covers_kinds(ep_covers_where(hosts[h], names[a])) & kind) != 0));
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

    /* Regex keys sort after every name and ip: key of a profile. */
    CHECK((unsigned char)EP_KEY_MARK_REGEX > (unsigned char)'z');
    CHECK((unsigned char)EP_KEY_MARK_REGEX > (unsigned char)EP_KEY_MARK_IP);

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
    cross_check();
    check_covers();
    check_keys();
    return test_exit();
}

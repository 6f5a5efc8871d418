/*
 * Rule parsing (policy/rule.h): a table of hostile and ordinary rules,
 * each with the exact code it must return and, when accepted, its kind
 * and canonical written form (its port included); the reason sentence
 * for the refusals a user meets most; printing round trips; profile names;
 * the one order and identity of rules; the rule a promotion makes of a
 * recorded host (its port included) and why one is refused.
 */
#include <string.h>

#include "policy/error.h"
#include "policy/rule.h"
#include "tests/lib/testutil.h"

struct rule_case {
    const char *text;
    int rc;
    enum ep_rule_kind kind; /* when accepted */
    const char *written;    /* ep_rule_format() of the result */
};

#define OK(text, kind, written)                                                                    \
    {                                                                                              \
        text, 0, kind, written                                                                     \
    }
#define BAD(text, rc)                                                                              \
    {                                                                                              \
        text, rc, 0, NULL                                                                          \
    }

static const struct rule_case rule_cases[] = {
    /* Empty, whitespace, control characters, newlines. */
    BAD("", EP_E_HOST_EMPTY),
    BAD(" example.com", EP_E_HOST_CHAR),
    BAD("example.com ", EP_E_HOST_CHAR),
    BAD("exa mple.com", EP_E_HOST_CHAR),
    BAD("\texample.com", EP_E_HOST_CHAR),
    BAD("x.com\nhttp_access allow all", EP_E_HOST_CHAR),
    BAD("x.com\r", EP_E_HOST_CHAR),
    BAD("x\x01.com", EP_E_HOST_CHAR),
    BAD("x\x7f.com", EP_E_HOST_CHAR),
    BAD("~a\nb", EP_E_HOST_CHAR),
    BAD("~a b", EP_E_HOST_CHAR),
    BAD("ip:1.2.3.4\n", EP_E_HOST_CHAR),
    /* URLs. */
    BAD("http://x.com", EP_E_RULE_SCHEME),
    BAD("https://x.com/", EP_E_RULE_SCHEME),
    BAD("HTTP://X.COM", EP_E_RULE_SCHEME),
    BAD("x.com/path", EP_E_RULE_PATH),
    BAD("x.com?q", EP_E_RULE_PATH),
    BAD("x.com#f", EP_E_RULE_PATH),
    BAD("x.com\\a", EP_E_RULE_PATH),
    /* Ports: 1..65535 but the web ports, digits only, on name and ip: rules. */
    OK("github.com:22", EP_RULE_EXACT, "github.com:22"),
    OK("GitHub.COM.:22", EP_RULE_EXACT, "github.com:22"),
    OK(".example.com:8080", EP_RULE_SUFFIX, ".example.com:8080"),
    OK("*.example.com:8443", EP_RULE_SUBDOMAINS, "*.example.com:8443"),
    OK("x.com:1", EP_RULE_EXACT, "x.com:1"),
    OK("x.com:65535", EP_RULE_EXACT, "x.com:65535"),
    OK("x.com:0022", EP_RULE_EXACT, "x.com:22"),
    OK(".bücher.de:8080", EP_RULE_SUFFIX, ".xn--bcher-kva.de:8080"),
    OK("ip:10.0.0.5:8080", EP_RULE_IP, "ip:10.0.0.5:8080"),
    OK("ip:[2001:DB8::1]:22", EP_RULE_IP, "ip:[2001:db8::1]:22"),
    OK("ip:[10.0.0.5]:22", EP_RULE_IP, "ip:10.0.0.5:22"),
    OK("ip:2001:db8::1:22", EP_RULE_IP, "ip:2001:db8::1:22"), /* an address, without brackets */
    BAD("x.com:80", EP_E_RULE_PORT),
    BAD(".x.com:443", EP_E_RULE_PORT),
    BAD("x.com:0", EP_E_RULE_PORT),
    BAD("x.com:65536", EP_E_RULE_PORT),
    BAD("x.com:123456", EP_E_RULE_PORT),
    BAD("x.com:", EP_E_RULE_PORT),
    BAD("x.com:ssh", EP_E_RULE_PORT),
    BAD("x.com:-22", EP_E_RULE_PORT),
    BAD("x.com:+22", EP_E_RULE_PORT),
    BAD("x.com:22:22", EP_E_RULE_PORT),
    BAD(":22", EP_E_HOST_EMPTY),
    BAD("*.:22", EP_E_HOST_EMPTY),
    BAD("*.com:22", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("com:22", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("1.2.3.4:22", EP_E_RULE_IP),
    BAD("ip:1.2.3.4:443", EP_E_RULE_PORT),
    BAD("ip:1.2.3.4:", EP_E_RULE_PORT),
    BAD("ip:1.2.3.4:0", EP_E_RULE_PORT),
    BAD("ip:[2001:db8::1]:80", EP_E_RULE_PORT),
    BAD("ip:[2001:db8::1]x", EP_E_RULE_IP),
    BAD("ip:[2001:db8::1]:", EP_E_RULE_PORT),
    BAD("~^git\\.example\\.com$:22", EP_E_RULE_PORT),
    BAD("user@x.com", EP_E_HOST_CHAR),
    BAD("x%41.com", EP_E_HOST_CHAR),
    /* Public suffixes. */
    BAD("*.com", EP_E_RULE_PUBLIC_SUFFIX),
    BAD(".com", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("com", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("COM.", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("*.co.uk", EP_E_RULE_PUBLIC_SUFFIX),
    BAD(".co.uk", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("co.uk", EP_E_RULE_PUBLIC_SUFFIX),
    BAD(".github.io", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("*.github.io", EP_E_RULE_PUBLIC_SUFFIX),
    BAD(".s3.amazonaws.com", EP_E_RULE_PUBLIC_SUFFIX),
    BAD(".test", EP_E_RULE_PUBLIC_SUFFIX),
    BAD(".de", EP_E_RULE_PUBLIC_SUFFIX),
    BAD(".公司.cn", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("*.foo.ck", EP_E_RULE_PUBLIC_SUFFIX),
    BAD("gov.uk", EP_E_RULE_PUBLIC_SUFFIX),
    OK("www.gov.uk", EP_RULE_EXACT, "www.gov.uk"),
    OK("example.公司.cn", EP_RULE_EXACT, "example.xn--55qx5d.cn"),
    OK("github.io", EP_RULE_EXACT, "github.io"),
    OK("s3.amazonaws.com", EP_RULE_EXACT, "s3.amazonaws.com"),
    OK(".example.co.uk", EP_RULE_SUFFIX, ".example.co.uk"),
    OK("*.user.github.io", EP_RULE_SUBDOMAINS, "*.user.github.io"),
    OK("allowed.test", EP_RULE_EXACT, "allowed.test"),
    OK("localhost", EP_RULE_EXACT, "localhost"),
    /* Wildcards. */
    BAD("a*.com", EP_E_RULE_WILDCARD),
    BAD("*a.com", EP_E_RULE_WILDCARD),
    BAD("**.com", EP_E_RULE_WILDCARD),
    BAD("*", EP_E_RULE_WILDCARD),
    BAD("*.*.example.com", EP_E_RULE_WILDCARD),
    BAD("x.*.com", EP_E_RULE_WILDCARD),
    BAD(".*.example.com", EP_E_RULE_WILDCARD),
    BAD("example.*", EP_E_RULE_WILDCARD),
    BAD("*.", EP_E_HOST_EMPTY),
    /* Labels and lengths. */
    BAD(".", EP_E_HOST_EMPTY),
    BAD("..", EP_E_HOST_EMPTY),
    BAD("..example.com", EP_E_HOST_LABEL),
    BAD("a..b.com", EP_E_HOST_LABEL),
    BAD("example.com..", EP_E_HOST_LABEL),
    BAD("-a.com", EP_E_HOST_LABEL),
    BAD("a-.com", EP_E_HOST_LABEL),
    BAD("*.-a.com", EP_E_HOST_LABEL),
    BAD("xn--a.com", EP_E_HOST_IDN),
    BAD("a!.com", EP_E_HOST_CHAR),
    /* Regular expressions. */
    BAD("~(", EP_E_RULE_REGEX),
    BAD("~", EP_E_RULE_REGEX),
    BAD("~[a-", EP_E_RULE_REGEX),
    BAD("~a{2,1}", EP_E_RULE_REGEX),
    BAD("~bücher\\.de", EP_E_RULE_REGEX),
    OK("~[a-z]+\\.example\\.com", EP_RULE_REGEX, "~[a-z]+\\.example\\.com"),
    OK("~^(www|api)\\.example\\.com$", EP_RULE_REGEX, "~^(www|api)\\.example\\.com$"),
    /* An IPv6 pattern has colons and numbers: no port. */
    OK("~2001:db8::1", EP_RULE_REGEX, "~2001:db8::1"),
    OK("~a:b", EP_RULE_REGEX, "~a:b"),
    /* IP addresses. */
    OK("ip:1.2.3.4", EP_RULE_IP, "ip:1.2.3.4"),
    OK("IP:1.2.3.4", EP_RULE_IP, "ip:1.2.3.4"),
    OK("ip:::1", EP_RULE_IP, "ip:::1"),
    OK("ip:[2001:DB8:0::1]", EP_RULE_IP, "ip:2001:db8::1"),
    BAD("ip:999.1.1.1", EP_E_RULE_IP),
    BAD("ip:01.2.3.4", EP_E_RULE_IP),
    BAD("ip:1.2.3", EP_E_RULE_IP),
    BAD("ip:", EP_E_RULE_IP),
    BAD("ip:1.2.3.0/24", EP_E_RULE_IP),
    BAD("ip:example.com", EP_E_RULE_IP),
    BAD("ip:[::1", EP_E_RULE_IP),
    BAD("1.2.3.4", EP_E_RULE_IP),
    BAD(".1.2.3.4", EP_E_RULE_IP),
    BAD("*.1.2.3.4", EP_E_RULE_IP),
    BAD("1.2.3", EP_E_RULE_IP),
    BAD("::1", EP_E_RULE_IP),
    BAD("[::1]", EP_E_RULE_IP),
    /* Ordinary rules and their canonical forms. */
    OK("api.example.com", EP_RULE_EXACT, "api.example.com"),
    OK("API.Example.COM.", EP_RULE_EXACT, "api.example.com"),
    OK(".example.com", EP_RULE_SUFFIX, ".example.com"),
    OK("*.Example.COM", EP_RULE_SUBDOMAINS, "*.example.com"),
    OK("Bücher.DE", EP_RULE_EXACT, "xn--bcher-kva.de"),
    OK(".bücher.de", EP_RULE_SUFFIX, ".xn--bcher-kva.de"),
    OK("*.xn--bcher-kva.de", EP_RULE_SUBDOMAINS, "*.xn--bcher-kva.de"),
    OK("files.pythonhosted.org", EP_RULE_EXACT, "files.pythonhosted.org"),
    OK("_acme.example.com", EP_RULE_EXACT, "_acme.example.com"),
};

static void check_case(const struct rule_case *c)
{
    struct ep_rule rule;
    char why[256] = "unset", written[EP_RULE_BUFSZ] = "";
    int rc = ep_rule_parse(c->text, &rule, why, sizeof why);
    bool ok;

    if (rc == 0)
        ep_rule_format(&rule, written);
    ok = rc == c->rc && (rc != 0 || (rule.kind == c->kind && strcmp(written, c->written) == 0));
    /* Every refusal explains itself; every success leaves no stale reason. */
    ok = ok && (rc == 0 ? why[0] == '\0' : why[0] != '\0' && strcmp(why, "unset") != 0);
    test_checks++;
    if (!ok) {
        test_failures++;
        fprintf(stderr,
                "ep_rule_parse(\"%s\"): rc %d kind %d \"%s\" (%s), expected rc %d kind %d \"%s\"\n",
                c->text, rc, rc == 0 ? (int)rule.kind : 0, written, why, c->rc, c->kind,
                c->written ? c->written : "");
    }
    if (rc != 0)
        return;
    /* The printed form parses back to the same rule. */
    struct ep_rule again;
    CHECK_INT(ep_rule_parse(written, &again, NULL, 0), 0);
    CHECK_INT(again.kind, rule.kind);
    CHECK_STR(again.host, rule.host);
    CHECK_INT(again.port, rule.port);
}

/* The reasons users read: they name the rule and the problem. */
static void test_reasons(void)
{
    struct ep_rule rule;
    char why[256];

    CHECK_INT(ep_rule_parse("x.com\nhttp_access allow all", &rule, why, sizeof why),
              EP_E_HOST_CHAR);
    CHECK(strstr(why, "line break") != NULL);
    CHECK_INT(rule.kind, 0);
    CHECK_STR(rule.host, "");

    CHECK_INT(ep_rule_parse("~(", &rule, why, sizeof why), EP_E_RULE_REGEX);
    CHECK(strstr(why, "missing closing parenthesis") != NULL);
    CHECK(strstr(why, "offset 1") != NULL);

    CHECK_INT(ep_rule_parse("*.co.uk", &rule, why, sizeof why), EP_E_RULE_PUBLIC_SUFFIX);
    CHECK(strstr(why, "co.uk") != NULL);

    CHECK_INT(ep_rule_parse("1.2.3.4", &rule, why, sizeof why), EP_E_RULE_IP);
    CHECK(strstr(why, "ip:") != NULL);

    /* Ports: which rule, and what is wrong with its port. */
    CHECK_INT(ep_rule_parse("x.com:443", &rule, why, sizeof why), EP_E_RULE_PORT);
    CHECK(strstr(why, "\"x.com:443\"") != NULL);
    CHECK(strstr(why, "without a port") != NULL && strstr(why, "80 and 443") != NULL);
    CHECK_INT(ep_rule_parse("x.com:0", &rule, why, sizeof why), EP_E_RULE_PORT);
    CHECK(strstr(why, "1 to 65535") != NULL);
    CHECK_INT(ep_rule_parse("x.com:99999", &rule, why, sizeof why), EP_E_RULE_PORT);
    CHECK(strstr(why, "99999 is not a port") != NULL);
    CHECK_INT(ep_rule_parse("x.com:ssh", &rule, why, sizeof why), EP_E_RULE_PORT);
    CHECK(strstr(why, "\"ssh\" is not a number") != NULL);
    CHECK_INT(ep_rule_parse("x.com:", &rule, why, sizeof why), EP_E_RULE_PORT);
    CHECK(strstr(why, "no port") != NULL);
    CHECK_INT(ep_rule_parse("~^x\\.com$:22", &rule, why, sizeof why), EP_E_RULE_PORT);
    CHECK(strstr(why, "regex rule takes no port") != NULL);
    CHECK_INT(ep_rule_parse("ip:[::1]x", &rule, why, sizeof why), EP_E_RULE_IP);
    CHECK(strstr(why, "ip:[ADDRESS]:PORT") != NULL);
    CHECK_INT(ep_rule_parse("github.com:22", &rule, why, sizeof why), 0);
    CHECK_INT(rule.port, 22);
    CHECK_STR(rule.host, "github.com");

    CHECK_INT(ep_rule_parse("a..b.com", &rule, why, sizeof why), EP_E_HOST_LABEL);
    CHECK(strstr(why, "a..b.com") != NULL);

    /* A small buffer truncates the reason, never overflows it. */
    char tiny[8];
    CHECK_INT(ep_rule_parse("http://x.com", &rule, tiny, sizeof tiny), EP_E_RULE_SCHEME);
    CHECK_INT(strlen(tiny), 7);
    CHECK_INT(ep_rule_parse(NULL, &rule, why, sizeof why), EP_E_HOST_EMPTY);
    CHECK_INT(ep_rule_parse("x.com", NULL, why, sizeof why), EP_E_INVAL);
}

static void test_lengths(void)
{
    struct ep_rule rule;
    char text[600], written[EP_RULE_BUFSZ];

    /* A regex of exactly EP_REGEX_MAX characters is accepted, one more is not. */
    text[0] = '~';
    memset(text + 1, 'a', EP_REGEX_MAX);
    text[1 + EP_REGEX_MAX] = '\0';
    CHECK_INT(ep_rule_parse(text, &rule, NULL, 0), 0);
    ep_rule_format(&rule, written);
    CHECK_STR(written, text);
    memset(text + 1, 'a', 300);
    text[301] = '\0';
    CHECK_INT(ep_rule_parse(text, &rule, NULL, 0), EP_E_RULE_REGEX_LONG);

    /* A 253-character host as a wildcard rule prints in 255 characters and round-trips. */
    strcpy(text, "*.");
    for (int l = 0; l < 4; l++) {
        size_t at = strlen(text);

        memset(text + at, 'a' + l, l < 3 ? 63 : 61);
        text[at + (l < 3 ? 63 : 61)] = '\0';
        if (l < 3)
            strcat(text, ".");
    }
    CHECK_INT(ep_rule_parse(text, &rule, NULL, 0), 0);
    CHECK_INT(strlen(rule.host), 253);
    ep_rule_format(&rule, written);
    CHECK_STR(written, text);
    /* With the longest port it is the longest rule there is, EP_RULE_MAX characters. */
    strcat(text, ":65535");
    CHECK_INT(ep_rule_parse(text, &rule, NULL, 0), 0);
    CHECK_INT(rule.port, 65535);
    ep_rule_format(&rule, written);
    CHECK_STR(written, text);
    CHECK_INT(strlen(written), EP_RULE_MAX);
    text[strlen(text) - strlen(":65535")] = '\0';
    /* One more character is too long. */
    strcat(text, "x");
    CHECK_INT(ep_rule_parse(text, &rule, NULL, 0), EP_E_HOST_TOO_LONG);
    /* A 64-character label is refused. */
    memset(text, 'a', 64);
    strcpy(text + 64, ".com");
    CHECK_INT(ep_rule_parse(text, &rule, NULL, 0), EP_E_HOST_LABEL);
}

static void test_profiles(void)
{
    char name[EP_PROFILE_MAX + 2];

    CHECK_INT(ep_profile_validate("default"), 0);
    CHECK_INT(ep_profile_validate("course-101_a"), 0);
    CHECK_INT(ep_profile_validate("9lives"), 0);
    CHECK_INT(ep_profile_validate(""), EP_E_INVAL);
    CHECK_INT(ep_profile_validate(NULL), EP_E_INVAL);
    CHECK_INT(ep_profile_validate("-x"), EP_E_INVAL);
    CHECK_INT(ep_profile_validate("_x"), EP_E_INVAL);
    CHECK_INT(ep_profile_validate("Default"), EP_E_INVAL);
    CHECK_INT(ep_profile_validate("a b"), EP_E_INVAL);
    CHECK_INT(ep_profile_validate("a/../b"), EP_E_INVAL);
    CHECK_INT(ep_profile_validate("a\n"), EP_E_INVAL);
    memset(name, 'a', EP_PROFILE_MAX);
    name[EP_PROFILE_MAX] = '\0';
    CHECK_INT(ep_profile_validate(name), 0);
    name[EP_PROFILE_MAX] = 'a';
    name[EP_PROFILE_MAX + 1] = '\0';
    CHECK_INT(ep_profile_validate(name), EP_E_INVAL);
}

/* Parse @p text into @p r (the test's own rules must parse). */
static struct ep_rule parsed(const char *text)
{
    struct ep_rule r;

    REQUIRE(ep_rule_parse(text, &r, NULL, 0) == 0);
    return r;
}

/*
 * ep_rule_compare(): kind first, then host, then port, and 0 exactly for
 * the same rule; ep_rule_equal() agrees with it on every pair.
 */
static void test_order(void)
{
    /* In the one order: by kind (exact 1, suffix 2, subdomains 4, regex 8, ip 16), host, port. */
    static const char *const sorted[] = {
        "a.example.com",  "a.example.com:22",  "a.example.com:8080", "b.example.com",
        ".a.example.com", ".b.example.com:22", "*.a.example.com",    "~^a\\.example\\.com$",
        "ip:10.0.0.1",    "ip:10.0.0.1:22",    "ip:10.0.0.2",
    };
    const size_t n = sizeof sorted / sizeof sorted[0];
    struct ep_rule a, b;

    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c;

            a = parsed(sorted[i]);
            b = parsed(sorted[j]);
            c = ep_rule_compare(&a, &b);
            CHECK(i < j ? c < 0 : i > j ? c > 0 : c == 0);
            CHECK(ep_rule_equal(&a, &b) == (i == j));
        }
    /* The same rule however it was written. */
    a = parsed("GitHub.COM.:0022");
    b = parsed("github.com:22");
    CHECK(ep_rule_equal(&a, &b));
    CHECK_INT(ep_rule_compare(&a, &b), 0);
}

struct promoted_case {
    const char *recorded;
    enum ep_rule_kind form;
    int rc;
    const char *written; /* the rule made, or a part of the refusal's sentence */
};

static const struct promoted_case promoted_cases[] = {
    /* A host of the web ports makes the rule without a port, in each form. */
    {"github.com", EP_RULE_EXACT, 0, "github.com"},
    {"github.com", EP_RULE_SUFFIX, 0, ".github.com"},
    {"github.com", EP_RULE_SUBDOMAINS, 0, "*.github.com"},
    {"GitHub.com.", EP_RULE_EXACT, 0, "github.com"},
    {"github.com:443", EP_RULE_EXACT, 0, "github.com"},
    {"github.com:80", EP_RULE_SUFFIX, 0, ".github.com"},
    /* Any other port makes the rule of that port. */
    {"github.com:22", EP_RULE_EXACT, 0, "github.com:22"},
    {"example.com:8080", EP_RULE_SUFFIX, 0, ".example.com:8080"},
    {"example.com:8443", EP_RULE_SUBDOMAINS, 0, "*.example.com:8443"},
    {"bücher.de:8080", EP_RULE_EXACT, 0, "xn--bcher-kva.de:8080"},
    /* Addresses make ip: rules, an IPv6 one with its port in brackets. */
    {"192.0.2.7", EP_RULE_EXACT, 0, "ip:192.0.2.7"},
    {"192.0.2.7:8080", EP_RULE_EXACT, 0, "ip:192.0.2.7:8080"},
    {"[2001:db8::1]:22", EP_RULE_EXACT, 0, "ip:[2001:db8::1]:22"},
    {"[2001:db8::1]:443", EP_RULE_EXACT, 0, "ip:2001:db8::1"},
    {"2001:db8::1", EP_RULE_EXACT, 0, "ip:2001:db8::1"},
    /* Refusals, each with its sentence. */
    {"192.0.2.7", EP_RULE_SUFFIX, EP_E_RULE_IP, "only be promoted in the exact form"},
    {"[2001:db8::1]:22", EP_RULE_SUBDOMAINS, EP_E_RULE_IP, "only be promoted in the exact"},
    {"https://github.com/x", EP_RULE_EXACT, EP_E_RULE_SCHEME, "a URL, not a host"},
    {"com", EP_RULE_SUFFIX, EP_E_RULE_PUBLIC_SUFFIX, "\".com\""},
    {"co.uk:22", EP_RULE_SUBDOMAINS, EP_E_RULE_PUBLIC_SUFFIX, "*.co.uk:22"},
    {"github.com:0", EP_RULE_EXACT, EP_E_HOST_PORT, "port"},
    {"", EP_RULE_EXACT, EP_E_HOST_EMPTY, "empty"},
    {"github.com", EP_RULE_REGEX, EP_E_INVAL, "exact, suffix or subdomains"},
};

static void check_promoted(const struct promoted_case *c)
{
    struct ep_rule r;
    char why[256] = "x", text[EP_RULE_BUFSZ];
    int rc = ep_rule_promoted(c->recorded, strlen(c->recorded), c->form, &r, why, sizeof why);

    if (rc != c->rc) {
        fprintf(stderr, "promoting \"%s\" (form %d): %d (%s), expected %d\n", c->recorded,
                (int)c->form, rc, why, c->rc);
        CHECK_INT(rc, c->rc);
        return;
    }
    if (rc == 0) {
        ep_rule_format(&r, text);
        CHECK_STR(text, c->written);
        CHECK_STR(why, "");
        return;
    }
    if (strstr(why, c->written) == NULL)
        fprintf(stderr, "promoting \"%s\": \"%s\" does not say \"%s\"\n", c->recorded, why,
                c->written);
    CHECK(strstr(why, c->written) != NULL);
}

/*
 * ep_rule_format() reads a rule's host up to its NUL: a rule filled in
 * place (as the store's matcher fills one) may hold an older, longer host
 * after it, here an IPv6 address, which must not bracket an IPv4 one.
 */
static void test_format_after_nul(void)
{
    struct ep_rule r;
    char text[EP_RULE_BUFSZ];

    memset(&r, 0, sizeof r);
    strcpy(r.host, "2001:db8:aaaa:bbbb::1");
    strcpy(r.host, "192.0.2.7");
    r.kind = EP_RULE_IP;
    r.port = 2222;
    ep_rule_format(&r, text);
    CHECK_STR(text, "ip:192.0.2.7:2222");
}

/* The recorded host is read up to @p len, and a URL is one only before its first NUL. */
static void test_promoted_lengths(void)
{
    struct ep_rule r;
    char why[256];

    CHECK_INT(ep_rule_promoted("github.com:22 and more", 13, EP_RULE_EXACT, &r, why, sizeof why),
              0);
    CHECK_INT(r.port, 22);
    CHECK_STR(r.host, "github.com");
    CHECK_INT(ep_rule_promoted("x.com\0://y", 11, EP_RULE_EXACT, &r, why, sizeof why),
              EP_E_HOST_CHAR);
    /* No room for a sentence is fine. */
    CHECK_INT(ep_rule_promoted("192.0.2.7", 9, EP_RULE_SUFFIX, &r, NULL, 0), EP_E_RULE_IP);
}

int main(void)
{
    for (size_t i = 0; i < sizeof rule_cases / sizeof rule_cases[0]; i++)
        check_case(&rule_cases[i]);
    test_reasons();
    test_lengths();
    test_profiles();
    test_order();
    for (size_t i = 0; i < sizeof promoted_cases / sizeof promoted_cases[0]; i++)
        check_promoted(&promoted_cases[i]);
    test_promoted_lengths();
    test_format_after_nul();
    fprintf(stderr, "%zu rule cases\n", sizeof rule_cases / sizeof rule_cases[0]);
    return test_exit();
}

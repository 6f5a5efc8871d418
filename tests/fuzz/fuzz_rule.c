/*
 * Fuzz target for whitelist rules (policy/rule.h): the text an admin sends
 * to the API. The input, cut at its first NUL, goes through
 * ep_rule_parse(), and the answer is checked against what rule.h and
 * DESIGN.md promise:
 *
 * - a failure comes with a non-empty sentence in why, which stays inside
 *   whysz bytes and is NUL-terminated even when whysz is small;
 * - a parsed rule formats to text that parses back to the same rule (its
 *   port included), and formatting is then a fixed point;
 * - a rule's port is 0 or 1..65535 but never 80 or 443, and 0 for a regex;
 *   a rule covers its own host on its own port only (0, 80 and 443 when it
 *   has none);
 * - the host of a host or IP rule is canonical (ep_host_normalize() leaves
 *   it as it is, and it is a name for host rules, an address for ip:);
 *   no suffix or wildcard rule covers a public suffix, no exact rule names
 *   an ICANN one (libpsl decides);
 * - a host rule matches its own host where its kind says it should (exact
 *   and suffix: the host; suffix and subdomains: "a." + host), never the
 *   parent or a look-alike ("a" + host), and suffix = exact + subdomains
 *   on every candidate host;
 * - an exact rule's host written as a regex ("~api\.example\.com") parses
 *   and matches that host and nothing longer: regex rules are anchored at
 *   both ends;
 * - ASCII case never changes the answer for a host or ip: rule.
 */
#include "config.h"

#include <libpsl.h>
#include <stdbool.h>
#include <string.h>

#include "policy/error.h"
#include "policy/host.h"
#include "policy/covers.h"
#include "policy/rule.h"
#include "tests/fuzz/fuzz.h"

#define WHY_SIZE   256
#define WHY_SMALL  7
#define WHY_CANARY 32

/*
 * Parse @p text with a why buffer of @p whysz bytes followed by a canary,
 * and check that why is NUL-terminated inside whysz and not written past
 * it, and that a failure says why.
 */
static int parse_checked(const char *text, struct ep_rule *rule, size_t whysz, char *why_copy)
{
    char why[WHY_SIZE + WHY_CANARY];
    int rc;

    memset(why, 0x5a, sizeof why);
    rc = ep_rule_parse(text, rule, why, whysz);
    PROPERTY(memchr(why, '\0', whysz) != NULL, "why is not NUL-terminated within %zu bytes", whysz);
    for (size_t i = whysz; i < sizeof why; i++)
        PROPERTY(why[i] == 0x5a, "why was written at byte %zu, past whysz %zu", i, whysz);
    if (rc != 0) {
        PROPERTY(rc < 0, "\"%s\" failed with %d, not an EP_E_* code", text, rc);
        PROPERTY(ep_strerror(rc)[0] != '\0', "no sentence for error %d", rc);
        PROPERTY(whysz < 2 || why[0] != '\0', "\"%s\" failed with %d and an empty why", text, rc);
    }
    if (why_copy != NULL)
        memcpy(why_copy, why, WHY_SIZE);
    return rc;
}

static bool fits(const char *a, const char *b)
{
    return strlen(a) + strlen(b) <= EP_HOST_MAX;
}

/* The rule @p rule with its kind replaced: the three host kinds share one host. */
static bool matches_as(const struct ep_rule *rule, enum ep_rule_kind kind, const char *host)
{
    struct ep_rule other = *rule;

    other.kind = kind;
    return ep_rule_covers(&other, host, rule->port);
}

/* Matching semantics of a host rule (EXACT, SUFFIX or SUBDOMAINS) over canonical host h. */
static void check_host_semantics(const struct ep_rule *rule)
{
    const char *h = rule->host, *parent = strchr(h, '.');
    char sub[EP_HOST_BUFSZ + 2], deeper[EP_HOST_BUFSZ + 4], lookalike[EP_HOST_BUFSZ + 1];
    const char *candidates[5];
    size_t nc = 0;

    snprintf(sub, sizeof sub, "a.%s", h);
    snprintf(deeper, sizeof deeper, "b.a.%s", h);
    snprintf(lookalike, sizeof lookalike, "a%s", h);

    PROPERTY(ep_rule_covers(rule, h, rule->port) == (rule->kind != EP_RULE_SUBDOMAINS),
             "rule kind %d over \"%s\" %s its own host", (int)rule->kind, h,
             rule->kind == EP_RULE_SUBDOMAINS ? "matches" : "does not match");
    if (fits("a.", h))
        PROPERTY(ep_rule_covers(rule, sub, rule->port) == (rule->kind != EP_RULE_EXACT),
                 "rule kind %d over \"%s\" %s \"%s\"", (int)rule->kind, h,
                 rule->kind == EP_RULE_EXACT ? "matches" : "does not match", sub);
    if (fits("a", h))
        PROPERTY(!ep_rule_covers(rule, lookalike, rule->port),
                 "rule kind %d over \"%s\" matches \"%s\"", (int)rule->kind, h, lookalike);
    if (parent != NULL)
        PROPERTY(!ep_rule_covers(rule, parent + 1, rule->port),
                 "rule kind %d over \"%s\" matches its parent \"%s\"", (int)rule->kind, h,
                 parent + 1);

    /* suffix = exact + subdomains, and exact and subdomains never overlap. */
    candidates[nc++] = h;
    if (fits("a.", h))
        candidates[nc++] = sub;
    if (fits("b.a.", h))
        candidates[nc++] = deeper;
    if (fits("a", h))
        candidates[nc++] = lookalike;
    if (parent != NULL)
        candidates[nc++] = parent + 1;
    for (size_t i = 0; i < nc; i++) {
        bool exact = matches_as(rule, EP_RULE_EXACT, candidates[i]);
        bool subd = matches_as(rule, EP_RULE_SUBDOMAINS, candidates[i]);
        bool suffix = matches_as(rule, EP_RULE_SUFFIX, candidates[i]);

        PROPERTY(suffix == (exact || subd) && !(exact && subd),
                 "over \"%s\", \"%s\": exact %d, subdomains %d, suffix %d", h, candidates[i], exact,
                 subd, suffix);
    }
}

/* "~" + the host with its dots escaped must match the host and nothing around it. */
static void check_regex_anchored(const char *h)
{
    char text[EP_RULE_BUFSZ + EP_HOST_BUFSZ], longer[EP_HOST_BUFSZ + 2];
    struct ep_rule re;
    size_t n = 0;
    int rc;

    text[n++] = '~';
    for (const char *p = h; *p; p++) {
        if (*p == '.')
            text[n++] = '\\';
        text[n++] = *p;
    }
    text[n] = '\0';
    if (n - 1 > EP_REGEX_MAX)
        return;
    rc = parse_checked(text, &re, WHY_SIZE, NULL);
    PROPERTY(rc == 0 && re.kind == EP_RULE_REGEX, "the regex rule \"%s\" is refused (%d)", text,
             rc);
    PROPERTY(ep_rule_covers(&re, h, 0), "the regex rule \"%s\" does not match \"%s\"", text, h);
    snprintf(longer, sizeof longer, "a%s", h);
    PROPERTY(!ep_rule_covers(&re, longer, 0), "the regex rule \"%s\" matches \"%s\"", text, longer);
    snprintf(longer, sizeof longer, "%sa", h);
    PROPERTY(!ep_rule_covers(&re, longer, 0), "the regex rule \"%s\" matches \"%s\"", text, longer);
}

/* Everything a successfully parsed rule must satisfy. */
static void check_rule(const char *text, const struct ep_rule *rule)
{
    char written[EP_RULE_BUFSZ], again_written[EP_RULE_BUFSZ], canon[EP_HOST_BUFSZ];
    struct ep_rule again;
    enum ep_host_kind hkind;
    const psl_ctx_t *psl = psl_builtin();
    int port, rc;

    PROPERTY(rule->kind == EP_RULE_EXACT || rule->kind == EP_RULE_SUFFIX ||
                 rule->kind == EP_RULE_SUBDOMAINS || rule->kind == EP_RULE_REGEX ||
                 rule->kind == EP_RULE_IP,
             "\"%s\" parsed to unknown kind %d", text, (int)rule->kind);
    PROPERTY(rule->host[0] != '\0', "\"%s\" parsed to an empty host", text);
    PROPERTY(rule->port >= 0 && rule->port <= 65535 && rule->port != 80 && rule->port != 443 &&
                 (rule->kind != EP_RULE_REGEX || rule->port == 0),
             "\"%s\" parsed to kind %d with port %d", text, (int)rule->kind, rule->port);
    /* Its own host: never on another port than its own (the web ports when it has none). */
    PROPERTY(!ep_rule_covers(rule, rule->host, rule->port ? 80 : 22) &&
                 !ep_rule_covers(rule, rule->host, rule->port ? rule->port % 65535 + 1 : 8080),
             "\"%s\" covers its host on a port it does not name", text);

    /* Round trip through the written form. */
    ep_rule_format(rule, written);
    PROPERTY(strlen(written) <= EP_RULE_MAX, "\"%s\" formats to %zu characters", text,
             strlen(written));
    rc = parse_checked(written, &again, WHY_SIZE, NULL);
    PROPERTY(rc == 0 && again.kind == rule->kind && strcmp(again.host, rule->host) == 0 &&
                 again.port == rule->port,
             "\"%s\" formats to \"%s\", which parses to %d kind %d \"%s\" port %d", text, written,
             rc, (int)again.kind, again.host, again.port);
    ep_rule_format(&again, again_written);
    PROPERTY(strcmp(again_written, written) == 0, "\"%s\" formats to \"%s\", then to \"%s\"", text,
             written, again_written);

    if (rule->kind == EP_RULE_REGEX) {
        /* Matching compiles and runs the pattern under pcre2's limits. */
        (void)ep_rule_covers(rule, "example.com", 0);
        (void)ep_rule_covers(rule, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.example.co.uk", 443);
        return;
    }

    /* The host is canonical, of the kind the rule says. */
    rc = ep_host_normalize(rule->host, strlen(rule->host), canon, &port, &hkind);
    PROPERTY(rc == 0 && strcmp(canon, rule->host) == 0 && port == 0,
             "the host \"%s\" of rule \"%s\" is not canonical (%d, \"%s\")", rule->host, text, rc,
             canon);
    PROPERTY((rule->kind == EP_RULE_IP) == (hkind != EP_HOST_NAME),
             "rule \"%s\" of kind %d holds a host of kind %d", text, (int)rule->kind, (int)hkind);
    if (rule->kind == EP_RULE_IP) {
        PROPERTY(ep_rule_covers(rule, rule->host, rule->port),
                 "ip rule \"%s\" does not match \"%s\"", text, rule->host);
        return;
    }

    if (psl != NULL && rule->kind == EP_RULE_EXACT)
        PROPERTY(!psl_is_public_suffix2(psl, rule->host, PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE),
                 "exact rule \"%s\" names the public suffix \"%s\"", text, rule->host);
    if (psl != NULL && rule->kind != EP_RULE_EXACT)
        PROPERTY(!psl_is_public_suffix2(psl, rule->host, PSL_TYPE_ANY),
                 "rule \"%s\" covers the public suffix \"%s\"", text, rule->host);

    check_host_semantics(rule);
    if (rule->kind == EP_RULE_EXACT && rule->port == 0)
        check_regex_anchored(rule->host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[WHY_SIZE], small_why[WHY_SIZE];
    struct ep_rule rule, small_rule, upper_rule;
    char *text;
    int rc, small_rc, upper_rc;

    fuzz_begin(data, size);
    /* An exact-size, NUL-terminated copy, so a read past the end is caught by ASan. */
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    rc = parse_checked(text, &rule, WHY_SIZE, why);
    small_rc = parse_checked(text, &small_rule, WHY_SMALL, small_why);
    PROPERTY(small_rc == rc, "\"%s\" gives %d with a small why buffer, %d with a large one", text,
             small_rc, rc);
    if (rc == 0)
        check_rule(text, &rule);

    /* Host and ip: rules do not depend on ASCII case; regexes do. */
    if (text[0] != '~') {
        for (size_t i = 0; text[i]; i++)
            if (text[i] >= 'a' && text[i] <= 'z')
                text[i] = (char)(text[i] - 'a' + 'A');
        upper_rc = parse_checked(text, &upper_rule, WHY_SIZE, NULL);
        PROPERTY(upper_rc == rc, "\"%s\" gives %d, as written %d (%s)", text, upper_rc, rc, why);
        if (rc == 0)
            PROPERTY(upper_rule.kind == rule.kind && strcmp(upper_rule.host, rule.host) == 0 &&
                         upper_rule.port == rule.port,
                     "\"%s\" parses to kind %d \"%s\", as written to kind %d \"%s\"", text,
                     (int)upper_rule.kind, upper_rule.host, (int)rule.kind, rule.host);
    }
    free(text);
    return 0;
}

/*
 * The decision (policy/decide.h) against a real store: the mode table of
 * DESIGN.md, base domains, unknown clients with and without
 * EP_DECIDE_ALLOW_UNKNOWN, the most specific rule reported, regex rules
 * and their cache after a change, ip: rules, changes taking effect on the
 * next request, the API's dry run and the fallback on a store error; and
 * ports: in every mode a port other than 80 and 443 is reached only
 * through a rule of that port (base or profile), else denied as
 * "port-not-allowed" and recorded as host:port (security and logging).
 */
#include "tests/store/storetest.h"

static struct ep_store *store;

static struct ep_decision decide_port(const char *ip, const char *host, int port, unsigned flags,
                                      int want_rc)
{
    struct ep_request req = {.client_ip = ip, .host = host, .method = "CONNECT", .port = port};
    struct ep_decision d;

    CHECK_INT(ep_decide(store, &req, flags, &d), want_rc);
    return d;
}

static struct ep_decision decide_flags(const char *ip, const char *host, unsigned flags,
                                       int want_rc)
{
    return decide_port(ip, host, 80, flags, want_rc);
}

static struct ep_decision decide(const char *ip, const char *host)
{
    return decide_flags(ip, host, 0, 0);
}

/* One expected decision: verdict, reason and the rule reported. */
static void expect(const char *ip, const char *host, enum ep_verdict verdict, enum ep_reason reason,
                   const char *rule)
{
    struct ep_decision d = decide(ip, host);

    if (d.verdict != verdict || d.reason != reason || strcmp(d.rule, rule) != 0) {
        fprintf(stderr, "  for %s asking %s: got %s/%s/\"%s\"\n", ip, host,
                d.verdict == EP_VERDICT_ALLOW ? "allow" : "deny", ep_reason_name(d.reason), d.rule);
    }
    CHECK_INT(d.verdict, verdict);
    CHECK_INT(d.reason, reason);
    CHECK_STR(d.rule, rule);
}

static void test_mode_table(void)
{
    struct ep_decision d;

    /* security: whitelist and base allowed, the rest denied; both recorded. */
    d = decide("10.0.0.1", "api.example.com");
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_INT(d.reason, EP_REASON_RULE);
    CHECK_INT(d.mode, EP_MODE_SECURITY);
    CHECK(d.record);
    CHECK_STR(d.project_id, "sec");
    CHECK_STR(d.profile, "course");
    d = decide("10.0.0.1", "other.example.com");
    CHECK_INT(d.verdict, EP_VERDICT_DENY);
    CHECK_INT(d.reason, EP_REASON_NOT_LISTED);
    CHECK(d.record);
    CHECK_STR(d.rule, "");

    /* logging: everything allowed and recorded; a listed host still names its rule. */
    d = decide("10.0.0.2", "other.example.com");
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_INT(d.reason, EP_REASON_MODE);
    CHECK_INT(d.mode, EP_MODE_LOGGING);
    CHECK(d.record);
    expect("10.0.0.2", "api.example.com", EP_VERDICT_ALLOW, EP_REASON_RULE, "api.example.com");

    /* none: everything allowed, nothing recorded. */
    d = decide("10.0.0.3", "other.example.com");
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_INT(d.reason, EP_REASON_MODE);
    CHECK_INT(d.mode, EP_MODE_NONE);
    CHECK(!d.record);
}

static void test_base_and_unknown(void)
{
    struct ep_decision d;

    expect("10.0.0.1", "deb.debian.org", EP_VERDICT_ALLOW, EP_REASON_BASE, ".debian.org");
    expect("10.0.0.1", "debian.org", EP_VERDICT_ALLOW, EP_REASON_BASE, ".debian.org");
    expect("10.0.0.1", "open-vsx.org", EP_VERDICT_ALLOW, EP_REASON_BASE, ".open-vsx.org");
    expect("10.0.0.1", "notdebian.org", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    /* A project whose profile has no rules still gets the base domains. */
    expect("10.0.0.4", "archive.ubuntu.com", EP_VERDICT_ALLOW, EP_REASON_BASE, ".ubuntu.com");
    expect("10.0.0.4", "api.example.com", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");

    /* Unknown clients: denied, or allowed with the flag, never recorded. */
    d = decide("10.0.0.99", "api.example.com");
    CHECK_INT(d.verdict, EP_VERDICT_DENY);
    CHECK_INT(d.reason, EP_REASON_UNKNOWN_CLIENT);
    CHECK(!d.record);
    CHECK_STR(d.project_id, "");
    d = decide_flags("10.0.0.99", "deb.debian.org", 0, 0);
    CHECK_INT(d.verdict, EP_VERDICT_DENY);
    d = decide_flags("10.0.0.99", "api.example.com", EP_DECIDE_ALLOW_UNKNOWN, 0);
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_INT(d.reason, EP_REASON_UNKNOWN_CLIENT);
    CHECK(!d.record);
    d = decide_flags(NULL, "api.example.com", 0, 0);
    CHECK_INT(d.verdict, EP_VERDICT_DENY);
    CHECK_INT(d.reason, EP_REASON_UNKNOWN_CLIENT);
    d = decide_flags("", "api.example.com", EP_DECIDE_ALLOW_UNKNOWN, 0);
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
}

static void test_rule_kinds(void)
{
    const char *ip = "10.0.0.1";

    /* exact */
    expect(ip, "api.example.com", EP_VERDICT_ALLOW, EP_REASON_RULE, "api.example.com");
    expect(ip, "x.api.example.com", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    expect(ip, "example.com", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    /* .suffix: apex and subdomains, not a look-alike */
    expect(ip, "example.org", EP_VERDICT_ALLOW, EP_REASON_RULE, ".example.org");
    expect(ip, "a.b.example.org", EP_VERDICT_ALLOW, EP_REASON_RULE, ".example.org");
    expect(ip, "evilexample.org", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    expect(ip, "example.org.evil.test", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    /* *.sub: subdomains only */
    expect(ip, "example.net", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    expect(ip, "cdn.example.net", EP_VERDICT_ALLOW, EP_REASON_RULE, "*.example.net");
    expect(ip, "a.cdn.example.net", EP_VERDICT_ALLOW, EP_REASON_RULE, "*.example.net");
    /* Most specific first: the host's own rule, then the nearest ancestor. */
    expect(ip, "www.example.org", EP_VERDICT_ALLOW, EP_REASON_RULE, "www.example.org");
    expect(ip, "x.deep.example.org", EP_VERDICT_ALLOW, EP_REASON_RULE, ".deep.example.org");
    expect(ip, "deep.example.org", EP_VERDICT_ALLOW, EP_REASON_RULE, ".deep.example.org");
    expect(ip, "x.www.example.org", EP_VERDICT_ALLOW, EP_REASON_RULE, ".example.org");
    /* ip: rules match IP literals only by their own key */
    expect(ip, "192.0.2.7", EP_VERDICT_ALLOW, EP_REASON_RULE, "ip:192.0.2.7");
    expect(ip, "192.0.2.8", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    expect(ip, "2001:db8::7", EP_VERDICT_ALLOW, EP_REASON_RULE, "ip:2001:db8::7");
    expect(ip, "2001:db8::8", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    /* regex, anchored at both ends */
    expect(ip, "mirror7.regex.test", EP_VERDICT_ALLOW, EP_REASON_RULE,
           "~^mirror[0-9]+\\.regex\\.test$");
    expect(ip, "mirror.regex.test", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    expect(ip, "xmirror7.regex.test", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    expect(ip, "mirror7.regex.test.evil", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
}

/* One expected decision on @p port: verdict, reason, rule, whether and what it records. */
static void expect_port(const char *ip, const char *host, int port, enum ep_verdict verdict,
                        enum ep_reason reason, const char *rule, bool record,
                        const char *record_host)
{
    struct ep_decision d = decide_port(ip, host, port, 0, 0);

    if (d.verdict != verdict || d.reason != reason || strcmp(d.rule, rule) != 0 ||
        d.record != record || strcmp(d.record_host, record_host) != 0)
        fprintf(stderr, "  for %s asking %s port %d: got %s/%s/\"%s\", record %d \"%s\"\n", ip,
                host, port, d.verdict == EP_VERDICT_ALLOW ? "allow" : "deny",
                ep_reason_name(d.reason), d.rule, d.record, d.record_host);
    CHECK_INT(d.verdict, verdict);
    CHECK_INT(d.reason, reason);
    CHECK_STR(d.rule, rule);
    CHECK_INT(d.record, record);
    CHECK_STR(d.record_host, record_host);
}

/*
 * Ports in every mode: the web ports (0, 80, 443) as before; any other
 * port only by a rule of that port, else denied with EP_REASON_PORT, in
 * logging and none too; recorded as host:port where the mode records.
 */
static void test_ports(void)
{
    static const char *const ips[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3"}; /* sec, log, none */
    struct ep_rule rsync = rule_of(".mirror.test:873");
    struct ep_decision d;

    CHECK_INT(ep_store_rule_add(store, EP_PROFILE_BASE, &rsync, NULL), 0);
    for (int m = 0; m < 3; m++) {
        const char *ip = ips[m];
        bool record = m != 2, security = m == 0;

        /* A rule of the port allows it, and reports itself with its port. */
        expect_port(ip, "github.com", 22, EP_VERDICT_ALLOW, EP_REASON_RULE, "github.com:22", record,
                    "github.com:22");
        expect_port(ip, "a.b.example.org", 8080, EP_VERDICT_ALLOW, EP_REASON_RULE,
                    ".example.org:8080", record, "a.b.example.org:8080");
        expect_port(ip, "192.0.2.7", 2222, EP_VERDICT_ALLOW, EP_REASON_RULE, "ip:192.0.2.7:2222",
                    record, "192.0.2.7:2222");
        expect_port(ip, "2001:db8::7", 22, EP_VERDICT_ALLOW, EP_REASON_RULE, "ip:[2001:db8::7]:22",
                    record, "[2001:db8::7]:22");
        expect_port(ip, "rsync.mirror.test", 873, EP_VERDICT_ALLOW, EP_REASON_BASE,
                    ".mirror.test:873", record, "rsync.mirror.test:873");
        /* Another port, or a host of the web rules, or a regex's host: denied in every mode. */
        expect_port(ip, "github.com", 2222, EP_VERDICT_DENY, EP_REASON_PORT, "", record,
                    "github.com:2222");
        expect_port(ip, "www.github.com", 22, EP_VERDICT_DENY, EP_REASON_PORT, "", record,
                    "www.github.com:22");
        expect_port(ip, "api.example.com", 8080, EP_VERDICT_DENY, EP_REASON_PORT, "", record,
                    "api.example.com:8080");
        expect_port(ip, "a.b.example.org", 8443, EP_VERDICT_DENY, EP_REASON_PORT, "", record,
                    "a.b.example.org:8443");
        expect_port(ip, "192.0.2.7", 22, EP_VERDICT_DENY, EP_REASON_PORT, "", record,
                    "192.0.2.7:22");
        expect_port(ip, "2001:db8::7", 2222, EP_VERDICT_DENY, EP_REASON_PORT, "", record,
                    "[2001:db8::7]:2222");
        expect_port(ip, "mirror7.regex.test", 22, EP_VERDICT_DENY, EP_REASON_PORT, "", record,
                    "mirror7.regex.test:22");
        expect_port(ip, "deb.debian.org", 21, EP_VERDICT_DENY, EP_REASON_PORT, "", record,
                    "deb.debian.org:21");
        /* The web ports are decided as before, by the rules without a port and the mode. */
        for (int w = 0; w < 3; w++) {
            int port = (int[]){0, 80, 443}[w];

            expect_port(ip, "api.example.com", port, EP_VERDICT_ALLOW, EP_REASON_RULE,
                        "api.example.com", record, "api.example.com");
            expect_port(ip, "a.b.example.org", port, EP_VERDICT_ALLOW, EP_REASON_RULE,
                        ".example.org", record, "a.b.example.org");
            expect_port(ip, "github.com", port, security ? EP_VERDICT_DENY : EP_VERDICT_ALLOW,
                        security ? EP_REASON_NOT_LISTED : EP_REASON_MODE, "", record, "github.com");
            expect_port(
                ip, "rsync.mirror.test", port, security ? EP_VERDICT_DENY : EP_VERDICT_ALLOW,
                security ? EP_REASON_NOT_LISTED : EP_REASON_MODE, "", record, "rsync.mirror.test");
        }
    }
    /* The dry run knows the port. */
    CHECK_INT(ep_decide_project(store, "log", "github.com", 22, &d), 0);
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(d.rule, "github.com:22");
    CHECK_INT(ep_decide_project(store, "log", "github.com", 23, &d), 0);
    CHECK_INT(d.verdict, EP_VERDICT_DENY);
    CHECK_INT(d.reason, EP_REASON_PORT);
    CHECK_STR(d.record_host, "github.com:23");
    /* Unknown clients stay the caller's choice, on any port, and are never recorded. */
    d = decide_port("10.0.0.99", "github.com", 22, EP_DECIDE_ALLOW_UNKNOWN, 0);
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_INT(d.reason, EP_REASON_UNKNOWN_CLIENT);
    CHECK(!d.record);
    d = decide_port("10.0.0.99", "github.com", 22, 0, 0);
    CHECK_INT(d.verdict, EP_VERDICT_DENY);
    /* A store error on another port denies in every mode: only a rule could allow it. */
    for (int m = 0; m < 3; m++) {
        d = decide_port(ips[m], "", 22, 0, EP_E_INVAL);
        CHECK_INT(d.verdict, EP_VERDICT_DENY);
        CHECK_INT(d.reason, EP_REASON_STORE_ERROR);
        CHECK_INT(d.record, m != 2);
    }
    d = decide_port("10.0.0.2", "", 443, 0, EP_E_INVAL);
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(ep_reason_name(EP_REASON_PORT), "port-not-allowed");
    /* Removing the rule of the port closes it again. */
    CHECK_INT(ep_store_rule_remove(store, EP_PROFILE_BASE, &rsync), 0);
    expect_port("10.0.0.2", "rsync.mirror.test", 873, EP_VERDICT_DENY, EP_REASON_PORT, "", true,
                "rsync.mirror.test:873");
}

/* A change committed by anyone takes effect on the next decision, regex cache included. */
static void test_changes(void)
{
    static const char *const regex_v2[] = {"~^cdn[a-z]\\.regex\\.test$", "api.example.com", NULL};
    struct ep_rule r = rule_of("other.example.com");
    struct ep_project p;
    const char *ip = "10.0.0.1";

    expect(ip, "other.example.com", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    CHECK_INT(ep_store_rule_add(store, "course", &r, NULL), 0);
    expect(ip, "other.example.com", EP_VERDICT_ALLOW, EP_REASON_RULE, "other.example.com");
    CHECK_INT(ep_store_rule_remove(store, "course", &r), 0);
    expect(ip, "other.example.com", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");

    /* The compiled regex set follows the generation. */
    expect(ip, "mirror7.regex.test", EP_VERDICT_ALLOW, EP_REASON_RULE,
           "~^mirror[0-9]+\\.regex\\.test$");
    CHECK_INT(rules_set(store, "course", regex_v2), 0);
    expect(ip, "mirror7.regex.test", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    expect(ip, "cdnq.regex.test", EP_VERDICT_ALLOW, EP_REASON_RULE, "~^cdn[a-z]\\.regex\\.test$");
    r = rule_of("~^cdn[a-z]\\.regex\\.test$");
    CHECK_INT(ep_store_rule_remove(store, "course", &r), 0);
    expect(ip, "cdnq.regex.test", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    CHECK_INT(ep_store_rule_add(store, "course", &r, NULL), 0);
    expect(ip, "cdnq.regex.test", EP_VERDICT_ALLOW, EP_REASON_RULE, "~^cdn[a-z]\\.regex\\.test$");

    /* Base domains are rules of their own profile and change the same way. */
    r = rule_of(".pythonhosted.org");
    expect(ip, "files.pythonhosted.org", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    CHECK_INT(ep_store_rule_add(store, EP_PROFILE_BASE, &r, NULL), 0);
    expect(ip, "files.pythonhosted.org", EP_VERDICT_ALLOW, EP_REASON_BASE, ".pythonhosted.org");

    /* Mode and profile changes reach the next request. */
    CHECK_INT(ep_store_project_get(store, "sec", &p), 0);
    p.mode = EP_MODE_LOGGING;
    CHECK_INT(ep_store_project_update(store, &p), 0);
    expect(ip, "nothing.example.com", EP_VERDICT_ALLOW, EP_REASON_MODE, "");
    p.mode = EP_MODE_SECURITY;
    snprintf(p.profile, sizeof p.profile, "default");
    CHECK_INT(ep_store_project_update(store, &p), 0);
    expect(ip, "api.example.com", EP_VERDICT_DENY, EP_REASON_NOT_LISTED, "");
    /* Unmapping makes the IP an unknown client. */
    CHECK_INT(ep_store_client_unmap(store, "sec"), 0);
    expect(ip, "deb.debian.org", EP_VERDICT_DENY, EP_REASON_UNKNOWN_CLIENT, "");
}

static void test_dry_run_and_errors(void)
{
    struct ep_decision d;

    CHECK_INT(ep_decide_project(store, "log", "api.example.com", 0, &d), 0);
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(d.rule, "api.example.com");
    CHECK_INT(ep_decide_project(store, "plain", "api.example.com", 0, &d), 0);
    CHECK_INT(d.verdict, EP_VERDICT_DENY);
    CHECK_INT(d.reason, EP_REASON_NOT_LISTED);
    CHECK_INT(ep_decide_project(store, "nobody", "api.example.com", 0, &d), EP_E_NOTFOUND);

    /* A host the store cannot look up: security denies, logging allows, both say why. */
    d = decide_flags("10.0.0.4", "", 0, EP_E_INVAL);
    CHECK_INT(d.verdict, EP_VERDICT_DENY);
    CHECK_INT(d.reason, EP_REASON_STORE_ERROR);
    CHECK_INT(d.error, EP_E_INVAL);
    d = decide_flags("10.0.0.2", "", 0, EP_E_INVAL);
    CHECK_INT(d.verdict, EP_VERDICT_ALLOW);
    CHECK_INT(d.reason, EP_REASON_STORE_ERROR);
    CHECK_STR(ep_reason_name(EP_REASON_NOT_LISTED), "not-whitelisted");
    CHECK_STR(ep_reason_name(EP_REASON_STORE_ERROR), "store-error");
}

int main(void)
{
    static const char *const course[] = {
        "api.example.com",
        ".example.org",
        "*.example.net",
        "www.example.org",
        ".deep.example.org",
        "ip:192.0.2.7",
        "ip:2001:db8::7",
        "~^mirror[0-9]+\\.regex\\.test$",
        "github.com:22",
        ".example.org:8080",
        "ip:192.0.2.7:2222",
        "ip:[2001:db8::7]:22",
        NULL,
    };

    store = store_open_dir(store_dir("decide"), 0);
    REQUIRE(rules_set(store, "course", course) == 0);
    project_add(store, "sec", "course", EP_MODE_SECURITY, "10.0.0.1");
    project_add(store, "log", "course", EP_MODE_LOGGING, "10.0.0.2");
    project_add(store, "off", "course", EP_MODE_NONE, "10.0.0.3");
    project_add(store, "plain", "default", EP_MODE_SECURITY, "10.0.0.4");

    test_mode_table();
    test_base_and_unknown();
    test_rule_kinds();
    test_ports();
    test_changes();
    test_dry_run_and_errors();
    ep_store_close(store);
    return test_exit();
}

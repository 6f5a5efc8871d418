/*
 * Allocation failures (ep_alloc_fail_after) on the parsing paths. Regex
 * compilation allocates through ep_malloc: every allocation in turn is
 * made to fail, and each time the parser must give EP_E_NOMEM with a
 * reason and an empty rule, and matching must fail closed; the sanitizer
 * build checks nothing leaks on those paths. Host normalisation, rule
 * parsing without a regex and categories must not allocate through the
 * wrapper at all: they keep working with every allocation failing (the
 * hot path does not depend on the allocator).
 */
#include <stdbool.h>
#include <string.h>

#include "policy/category.h"
#include "policy/error.h"
#include "policy/host.h"
#include "policy/covers.h"
#include "policy/rule.h"
#include "tests/lib/testutil.h"

#define REGEX_RULE "~(www|api)\\.example\\.(com|org)"

static void test_regex_parse(void)
{
    struct ep_rule rule;
    char why[256];
    long n;
    int rc = -1;

    for (n = 0; n < 100; n++) {
        ep_alloc_fail_after(n);
        why[0] = '\0';
        rc = ep_rule_parse(REGEX_RULE, &rule, why, sizeof why);
        ep_alloc_fail_after(-1);
        if (rc == 0)
            break;
        CHECK_INT(rc, EP_E_NOMEM);
        CHECK(strstr(why, "memory") != NULL);
        CHECK_INT(rule.kind, 0);
        CHECK_STR(rule.host, "");
    }
    /* It needs at least one allocation, and succeeds once enough are allowed. */
    CHECK(n > 0);
    CHECK_INT(rc, 0);
    CHECK_STR(rule.host, REGEX_RULE + 1);

    /* A bad pattern with memory to spare is a regex error, not a memory error. */
    ep_alloc_fail_after(1000);
    CHECK_INT(ep_rule_parse("~(", &rule, why, sizeof why), EP_E_RULE_REGEX);
    ep_alloc_fail_after(-1);
}

static void test_regex_match(void)
{
    struct ep_rule rule;
    int failed_closed = 0;
    long n;
    bool matched = false;

    REQUIRE(ep_rule_parse(REGEX_RULE, &rule, NULL, 0) == 0);
    for (n = 0; n < 100; n++) {
        ep_alloc_fail_after(n);
        matched = ep_rule_covers(&rule, "api.example.org", 0);
        ep_alloc_fail_after(-1);
        if (matched)
            break;
        failed_closed++;
    }
    CHECK(failed_closed > 0);
    CHECK(matched);
    CHECK(ep_rule_covers(&rule, "www.example.com", 0));
    CHECK(!ep_rule_covers(&rule, "evil.example.com", 0));
}

static void test_no_wrapper_allocation(void)
{
    char out[EP_HOST_BUFSZ], why[256];
    struct ep_rule rule;
    int port;

    ep_alloc_fail_after(0);
    CHECK_INT(ep_host_normalize("WWW.Example.COM.:443", 20, out, &port, NULL), 0);
    CHECK_STR(out, "www.example.com");
    CHECK_INT(ep_host_from_request_target("http://u@ex%41mple.com/x", 24, out, NULL, NULL), 0);
    CHECK_STR(out, "example.com");
    CHECK_INT(ep_host_normalize("[::1]:8080", 10, out, NULL, NULL), 0);
    /* IDN goes through libidn2, which has its own allocator, not the wrapper. */
    CHECK_INT(ep_host_normalize("bücher.de", strlen("bücher.de"), out, NULL, NULL), 0);
    CHECK_STR(out, "xn--bcher-kva.de");
    CHECK_INT(ep_rule_parse(".Bücher.de", &rule, why, sizeof why), 0);
    CHECK_INT(ep_rule_parse("*.co.uk", &rule, why, sizeof why), EP_E_RULE_PUBLIC_SUFFIX);
    CHECK_INT(ep_rule_parse("ip:::1", &rule, why, sizeof why), 0);
    REQUIRE(ep_rule_parse(".example.com", &rule, why, sizeof why) == 0);
    CHECK(ep_rule_covers(&rule, "www.example.com", 0));
    CHECK_STR(ep_category_of("storage.googleapis.com"), "Cloud Storage");
    CHECK_INT(ep_registrable_domain("files.pythonhosted.org", out), 0);
    CHECK_STR(out, "pythonhosted.org");
    /* The wrapper itself does fail while armed. */
    CHECK(ep_malloc(16) == NULL);
    CHECK(ep_strdup("x") == NULL);
    ep_alloc_fail_after(-1);
    void *p = ep_malloc(16);
    CHECK(p != NULL);
    ep_free(p);
}

int main(void)
{
    test_regex_parse();
    test_regex_match();
    test_no_wrapper_allocation();
    return test_exit();
}

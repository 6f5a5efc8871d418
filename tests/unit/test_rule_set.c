/*
 * policy/rule_set.h: the "already covered" lookup over a set of rules.
 * Over random sets of rules on a few names (so that rules cover one
 * another often), with and without ports (so that a rule of one port is
 * often on the name of a rule of another), every query is checked against
 * a pass over the whole set with ep_rule_covers_rule(): a rule is found
 * exactly when some rule of the set covers it, what is found covers it,
 * the same rule is found first, and a name rule is found on the nearest
 * name that has one.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/covers.h"
#include "policy/error.h"
#include "policy/rule.h"
#include "policy/rule_set.h"
#include "tests/lib/testutil.h"

static const char *const rule_texts[] = {
    "example.com",          ".example.com",       "*.example.com",       "www.example.com",
    ".www.example.com",     "*.www.example.com",  "a.b.example.com",     ".b.example.com",
    "example.org",          ".example.org",       "*.example.org",       "api.example.org",
    "ip:192.0.2.1",         "ip:192.0.2.2",       "ip:2001:db8::1",      "~^api\\.example\\.com$",
    "~.*\\.example\\.org$", "~^192\\.0\\.2\\.1$", "example.com:22",      ".example.com:22",
    "*.example.com:22",     "www.example.com:22", ".www.example.com:22", ".example.com:8080",
    "www.example.com:8080", "api.example.org:22", "ip:192.0.2.1:22",     "ip:[2001:db8::1]:22",
    "ip:192.0.2.1:8080",
};
#define N_TEXTS (sizeof rule_texts / sizeof rule_texts[0])

static struct ep_rule rules[N_TEXTS];

/* Does any rule of @p in cover @p rule (the whole-set pass)? */
static bool covered_by_any(const bool *in, const struct ep_rule *rule)
{
    for (size_t i = 0; i < N_TEXTS; i++)
        if (in[i] && ep_rule_covers_rule(&rules[i], rule))
            return true;
    return false;
}

static bool same(const struct ep_rule *a, const struct ep_rule *b)
{
    return a->kind == b->kind && a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* How many labels @p name has ("a.b" has 2). */
static size_t labels(const char *name)
{
    size_t n = 1;

    for (; *name; name++)
        n += *name == '.';
    return n;
}

static void check_random_sets(void)
{
    srand(12345);
    for (int round = 0; round < 4000; round++) {
        struct ep_rule_set set = {0};
        bool in[N_TEXTS];

        for (size_t i = 0; i < N_TEXTS; i++) {
            in[i] = rand() % 3 == 0;
            if (in[i])
                CHECK_INT(ep_rule_set_add(&set, &rules[i]), 0);
        }
        for (size_t q = 0; q < N_TEXTS; q++) {
            const struct ep_rule *by = ep_rule_set_covering(&set, &rules[q]);

            CHECK(covered_by_any(in, &rules[q]) == (by != NULL));
            if (by == NULL)
                continue;
            CHECK(ep_rule_covers_rule(by, &rules[q]));
            if (in[q])
                CHECK(same(by, &rules[q]));
            /* No covering rule on a nearer name than the one found. */
            if (!in[q] && by->kind != EP_RULE_REGEX)
                for (size_t i = 0; i < N_TEXTS; i++)
                    if (in[i] && rules[i].kind != EP_RULE_REGEX &&
                        ep_rule_covers_rule(&rules[i], &rules[q]))
                        CHECK(labels(rules[i].host) <= labels(by->host));
        }
        ep_rule_set_free(&set);
        CHECK(set.named.n == 0 && set.regex.n == 0);
    }
}

/* Rules added after a query are found by the next one (the set sorts again). */
static void check_add_after_query(void)
{
    struct ep_rule_set set = {0};
    struct ep_rule www, suffix;

    CHECK_INT(ep_rule_parse("www.example.com", &www, NULL, 0), 0);
    CHECK_INT(ep_rule_parse(".example.com", &suffix, NULL, 0), 0);
    CHECK_INT(ep_rule_set_add(&set, &rules[8]), 0); /* example.org */
    CHECK(ep_rule_set_covering(&set, &www) == NULL);
    CHECK_INT(ep_rule_set_add(&set, &suffix), 0);
    CHECK(ep_rule_set_covering(&set, &www) != NULL);
    ep_rule_set_free(&set);
    CHECK(ep_rule_set_covering(&set, &www) == NULL);
}

int main(void)
{
    for (size_t i = 0; i < N_TEXTS; i++)
        CHECK_INT(ep_rule_parse(rule_texts[i], &rules[i], NULL, 0), 0);
    check_random_sets();
    check_add_after_query();
    return test_exit();
}

/*
 * The rules lookup of the decision path (ep_store_read_match) against a
 * plain reference that tries every rule: random whitelists over a small
 * alphabet of labels chosen to collide (siblings that sort between a host
 * and its ancestors, such as "example-foo" and "example0" beside
 * "example.x"), random hosts, rules added and removed between rounds. The
 * base profile is checked while it is small enough to be copied into
 * memory and again once it is too large and is searched in the tree; last
 * a profile large enough for a key filter (4,096 rules or more) is checked
 * over rounds that change it, so each round builds a new filter, with
 * hosts under a label no rule uses ("nx"), which the filter turns away;
 * and again with key filters turned off and with a memory budget too
 * small for its filter (no filter memory, the same answers), and with two
 * large profiles and room for one filter (each decision's profile gets it,
 * the other's is dropped). A quarter of the rules name a port (of three,
 * so one port's rules often sit on the names and ancestors of another's
 * and of the web ports'), and every host is asked on a random port: the
 * web ports, those of the rules, and one no rule names.
 */
#include <arpa/inet.h>
#include <stdlib.h>

#include "tests/store/storetest.h"

#define MAX_RULES 6000
/* The rule count from which store_match.c keeps a key filter for a profile. */
#define FILTER_MIN 4096
#define HOSTS      3000
/* Rules "course2" has beyond those of "course". */
#define EXTRA 3000
/* The regex rule of "course" (as stored: without the '~'). */
#define REGEX_RULE "^[a-z0-9.-]+\\.rx$"

static const char *const labels[] = {"a",   "b",  "a-b",     "a0",          "ab",       "x",
                                     "com", "co", "example", "example-foo", "example0", "z"};
#define NLABELS (sizeof labels / sizeof labels[0])

/* The ports rules name, and those requests go to (0, 80 and 443 are the web ports). */
static const int rule_ports[] = {22, 8080, 2222};
static const int request_ports[] = {0, 80, 443, 22, 8080, 2222, 9};

struct ruleset {
    struct ep_rule r[MAX_RULES];
    size_t n;
};

static struct ruleset base, prof;
/* The profile the store holds `prof` as (a copy of it is checked too). */
static const char *prof_name = "course";
static unsigned seed = 12345;
/* Most labels of a random host rule. */
static unsigned rule_depth = 3;

static unsigned rnd(unsigned n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % n;
}

/* A name of @p depth random labels. */
static void random_name(char *out, size_t outsz, unsigned depth)
{
    size_t o = 0;

    out[0] = '\0';
    for (unsigned i = 0; i < depth; i++)
        o += (size_t)snprintf(out + o, outsz - o, "%s%s", i ? "." : "", labels[rnd(NLABELS)]);
}

static void random_rule(struct ep_rule *r)
{
    static const enum ep_rule_kind kinds[] = {EP_RULE_EXACT, EP_RULE_SUFFIX, EP_RULE_SUBDOMAINS};
    unsigned pick = rnd(40);

    memset(r, 0, sizeof *r);
    if (rnd(4) == 0)
        r->port = rule_ports[rnd(sizeof rule_ports / sizeof rule_ports[0])];
    if (pick == 0) {
        r->kind = EP_RULE_IP;
        snprintf(r->host, sizeof r->host, "192.0.2.%u", rnd(8));
        return;
    }
    r->kind = kinds[pick % 3];
    random_name(r->host, sizeof r->host, 1 + rnd(rule_depth));
}

static bool same_rule(const struct ep_rule *a, const struct ep_rule *b)
{
    return a->kind == b->kind && a->port == b->port && strcmp(a->host, b->host) == 0;
}

static bool has_rule(const struct ruleset *set, enum ep_rule_kind kind, const char *host, int port)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->r[i].kind == kind && set->r[i].port == port && strcmp(set->r[i].host, host) == 0)
            return true;
    return false;
}

/*
 * The reference, among the rules of the request's port (those without a
 * port for 0, 80 and 443): the host's own EXACT, then SUFFIX rule; then
 * for each ancestor from the nearest its SUBDOMAINS, then SUFFIX rule; for
 * an IP literal its ip: rule; last, on the web ports only, the one regex
 * rule of "course", REGEX_RULE, which matches the names under "rx" (a
 * label no host rule uses).
 */
static int reference(const struct ruleset *set, const char *host, int port, struct ep_rule *out)
{
    size_t hlen = strlen(host);
    int p = port == 0 || port == 80 || port == 443 ? 0 : port;
    unsigned char addr[16];
    const char *a;

    memset(out, 0, sizeof *out);
    out->port = p;
    if (inet_pton(AF_INET, host, addr) == 1) {
        if (!has_rule(set, EP_RULE_IP, host, p))
            return EP_E_NOTFOUND;
        out->kind = EP_RULE_IP;
        snprintf(out->host, sizeof out->host, "%s", host);
        return 0;
    }
    if (has_rule(set, EP_RULE_EXACT, host, p) || has_rule(set, EP_RULE_SUFFIX, host, p)) {
        out->kind = has_rule(set, EP_RULE_EXACT, host, p) ? EP_RULE_EXACT : EP_RULE_SUFFIX;
        snprintf(out->host, sizeof out->host, "%s", host);
        return 0;
    }
    for (a = strchr(host, '.'); a; a = strchr(a + 1, '.')) {
        if (has_rule(set, EP_RULE_SUBDOMAINS, a + 1, p) ||
            has_rule(set, EP_RULE_SUFFIX, a + 1, p)) {
            out->kind =
                has_rule(set, EP_RULE_SUBDOMAINS, a + 1, p) ? EP_RULE_SUBDOMAINS : EP_RULE_SUFFIX;
            snprintf(out->host, sizeof out->host, "%s", a + 1);
            return 0;
        }
    }
    if (set == &prof && p == 0 && hlen > 3 && strcmp(host + hlen - 3, ".rx") == 0) {
        out->kind = EP_RULE_REGEX;
        snprintf(out->host, sizeof out->host, "%s", REGEX_RULE);
        return 0;
    }
    return EP_E_NOTFOUND;
}

/* Add @p n random rules to @p set and to @p profile in the store. */
static void grow(struct ep_store *s, const char *profile, struct ruleset *set, size_t n)
{
    for (size_t i = 0; i < n && set->n < MAX_RULES; i++) {
        struct ep_rule r;
        bool added;

        random_rule(&r);
        REQUIRE(ep_store_rule_add(s, profile, &r, &added) == 0);
        if (added)
            set->r[set->n++] = r;
        else
            REQUIRE(has_rule(set, r.kind, r.host, r.port));
    }
}

/* Remove @p n random rules of @p set from the store. */
static void shrink(struct ep_store *s, const char *profile, struct ruleset *set, size_t n)
{
    for (size_t i = 0; i < n && set->n > 0; i++) {
        size_t k = rnd((unsigned)set->n);

        REQUIRE(ep_store_rule_remove(s, profile, &set->r[k]) == 0);
        set->r[k] = set->r[--set->n];
    }
}

/* Put the label "nx", which no rule uses, in front of @p host. */
static void prepend_nx(char *host)
{
    memmove(host + 3, host, strlen(host) + 1); /* random hosts are far shorter than the buffer */
    memcpy(host, "nx.", 3);
}

/* Compare store and reference for HOSTS random hosts; one failure message per profile and round. */
static void check_round(struct ep_store *s, const char *what)
{
    unsigned bad = 0;

    for (unsigned i = 0; i < HOSTS; i++) {
        struct ep_store_read *rd = NULL;
        struct ep_rule want_b, want_p, got_b, got_p;
        char host[EP_HOST_BUFSZ];
        int rb, rp, gb, gp,
            port = request_ports[rnd(sizeof request_ports / sizeof request_ports[0])];

        if (rnd(30) == 0) {
            snprintf(host, sizeof host, "192.0.2.%u", rnd(10));
        } else {
            unsigned pick = rnd(20);

            random_name(host, sizeof host, 1 + rnd(5));
            if (pick < 2)
                strcat(host, ".rx");
            else if (pick < 4)
                strcat(host, ".nx");
            else if (pick < 6)
                prepend_nx(host); /* the host's own key absent, its ancestors perhaps not */
        }
        rb = reference(&base, host, port, &want_b);
        rp = reference(&prof, host, port, &want_p);
        REQUIRE(ep_store_read_begin(s, &rd) == 0);
        memset(&got_b, 0, sizeof got_b);
        memset(&got_p, 0, sizeof got_p);
        gb = ep_store_read_match(rd, EP_PROFILE_BASE, host, port, &got_b);
        gp = ep_store_read_match(rd, prof_name, host, port, &got_p);
        ep_store_read_end(rd);
        if (gb != rb || gp != rp || (rb == 0 && !same_rule(&got_b, &want_b)) ||
            (rp == 0 && !same_rule(&got_p, &want_p))) {
            if (bad++ == 0)
                fprintf(stderr,
                        "  %s: %s port %d: base got %d %d \"%s\" :%d want %d %d \"%s\" :%d; %s "
                        "got %d %d \"%s\" :%d want %d %d \"%s\" :%d\n",
                        what, host, port, gb, got_b.kind, got_b.host, got_b.port, rb, want_b.kind,
                        want_b.host, want_b.port, prof_name, gp, got_p.kind, got_p.host, got_p.port,
                        rp, want_p.kind, want_p.host, want_p.port);
        }
    }
    if (bad)
        fprintf(stderr, "  %s: %u of %u hosts looked up wrongly\n", what, bad, HOSTS);
    CHECK_INT(bad, 0);
}

int main(void)
{
    char dir[512];
    struct ep_store *s;
    struct ep_rule regex = {.kind = EP_RULE_REGEX, .host = REGEX_RULE};
    char what[64];

    snprintf(dir, sizeof dir, "%s", store_dir("match"));
    s = store_open_dir(dir, 0);
    /* Start from an empty base profile, so the reference knows all of it. */
    REQUIRE(ep_store_rules_replace(s, EP_PROFILE_BASE, NULL, 0) == 0);
    REQUIRE(ep_store_rules_replace(s, "course", &regex, 1) == 0);
    check_round(s, "empty");
    for (int round = 0; round < 8; round++) {
        grow(s, EP_PROFILE_BASE, &base, 12);
        grow(s, "course", &prof, 150);
        shrink(s, EP_PROFILE_BASE, &base, 3);
        shrink(s, "course", &prof, 40);
        snprintf(what, sizeof what, "small base, round %d", round);
        check_round(s, what);
    }
    /* A base profile too large to copy into memory is searched in the tree. */
    grow(s, EP_PROFILE_BASE, &base, 3000);
    for (int round = 0; round < 3; round++) {
        snprintf(what, sizeof what, "large base (%zu rules), round %d", base.n, round);
        check_round(s, what);
        shrink(s, EP_PROFILE_BASE, &base, 300);
        grow(s, "course", &prof, 100);
    }
    /* A profile with a key filter; each round changes it, so the next builds another. */
    rule_depth = 4;
    while (prof.n < FILTER_MIN + 200)
        grow(s, "course", &prof, 100);
    for (int round = 0; round < 4; round++) {
        struct ep_profile_info info;

        REQUIRE(ep_store_profile_get(s, "course", &info) == 0);
        CHECK(info.rules >= FILTER_MIN);
        snprintf(what, sizeof what, "filtered course (%u rules), round %d", info.rules, round);
        check_round(s, what);
        check_round(s, what);
        /* The filter is there, within the default budget. */
        CHECK(ep_store_key_filter_bytes(s) > 0);
        CHECK(ep_store_key_filter_bytes(s) <= EP_STORE_DEFAULT_KEY_FILTER_MEMORY);
        shrink(s, "course", &prof, 100);
        grow(s, "course", &prof, 200);
    }
    ep_store_close(s);

    /*
     * The same profile without key filters (the c-icap directive
     * egress.KeyFilter off), and with a budget too small for its filter:
     * the same answers, and no filter memory.
     */
    {
        const struct ep_store_options variants[] = {
            {.no_key_filter = true},
            {.key_filter_memory = 1024},
        };

        for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
            REQUIRE(ep_store_open(dir, &variants[v], &s) == 0);
            snprintf(what, sizeof what, "course without a filter (%s)",
                     v == 0 ? "off" : "over budget");
            check_round(s, what);
            CHECK_INT(ep_store_key_filter_bytes(s), 0);
            ep_store_close(s);
        }
    }

    /*
     * Two large profiles of different sizes and room for either filter but
     * not both: deciding on one drops the other's filter (the memory held
     * is the size of the one decided on last), and the answers stay
     * right. "course2" holds the rules of "course" and EXTRA rules under a
     * name no random host ends with.
     */
    {
        static struct ep_rule copy[MAX_RULES + EXTRA + 1];
        struct ep_store_options room = {0};
        size_t small, big, n = prof.n;

        memcpy(copy, prof.r, n * sizeof *copy);
        copy[n++] = regex;
        for (unsigned i = 0; i < EXTRA; i++, n++) {
            copy[n].kind = EP_RULE_EXACT;
            snprintf(copy[n].host, sizeof copy[n].host, "e%u.zzextra", i);
        }
        REQUIRE(ep_store_open(dir, NULL, &s) == 0);
        REQUIRE(ep_store_rules_replace(s, "course2", copy, n) == 0);
        prof_name = "course";
        check_round(s, "course, to size its filter");
        small = ep_store_key_filter_bytes(s);
        prof_name = "course2";
        check_round(s, "course2, to size its filter");
        big = ep_store_key_filter_bytes(s) - small;
        REQUIRE(small > 0 && big > small);
        ep_store_close(s);
        room.key_filter_memory = big + small / 2;
        REQUIRE(ep_store_open(dir, &room, &s) == 0);
        for (int round = 0; round < 4; round++) {
            prof_name = round % 2 ? "course2" : "course";
            snprintf(what, sizeof what, "%s, room for one filter, round %d", prof_name, round);
            check_round(s, what);
            CHECK_INT(ep_store_key_filter_bytes(s), round % 2 ? big : small);
        }
        ep_store_close(s);
    }
    return test_exit();
}

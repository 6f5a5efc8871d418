/*
 * What the store suite's programs share: a fresh store in its own
 * directory under the test's temporary directory, projects and rules made
 * in one line, and reading a seen record back.
 */
#ifndef STORETEST_H
#define STORETEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/decide.h"
#include "policy/store.h"
#include "tests/lib/testutil.h"

/* A new directory "NAME" under the test directory, for one environment. */
static inline const char *store_dir(const char *name)
{
    static char path[512];

    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    REQUIRE(mkdir(path, 0700) == 0);
    return path;
}

static inline struct ep_store *store_open_dir(const char *dir, size_t map_size)
{
    struct ep_store_options opts = {.map_size = map_size};
    struct ep_store *s = NULL;
    int rc = ep_store_open(dir, &opts, &s);

    if (rc)
        fprintf(stderr, "ep_store_open(%s): %s\n", dir, ep_strerror(rc));
    REQUIRE(rc == 0);
    return s;
}

static inline struct ep_project project_make(const char *id, const char *profile, enum ep_mode mode)
{
    struct ep_project p;

    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.name, sizeof p.name, "Project %s", id);
    snprintf(p.type, sizeof p.type, "python");
    snprintf(p.profile, sizeof p.profile, "%s", profile);
    p.mode = mode;
    p.created_at = 1700000000;
    return p;
}

/* Create a project and map @p ip (NULL: unmapped) to it; a harness error if that fails. */
static inline void project_add(struct ep_store *s, const char *id, const char *profile,
                               enum ep_mode mode, const char *ip)
{
    struct ep_project p = project_make(id, profile, mode);

    REQUIRE(ep_store_project_create(s, &p, 0) == 0);
    if (ip)
        REQUIRE(ep_store_client_map(s, ip, id) == 0);
}

static inline struct ep_rule rule_of(const char *text)
{
    struct ep_rule r;
    char why[256] = "";
    int rc = ep_rule_parse(text, &r, why, sizeof why);

    if (rc)
        fprintf(stderr, "rule %s: %s (%s)\n", text, ep_strerror(rc), why);
    REQUIRE(rc == 0);
    return r;
}

/* Replace the rules of @p profile with the NULL-terminated list @p texts. */
static inline int rules_set(struct ep_store *s, const char *profile, const char *const *texts)
{
    struct ep_rule rules[64];
    size_t n = 0;

    while (texts[n]) {
        REQUIRE(n < 64);
        rules[n] = rule_of(texts[n]);
        n++;
    }
    return ep_store_rules_replace(s, profile, rules, n);
}

struct seen_find {
    const char *host;
    bool found;
    struct ep_seen seen;
};

static inline int seen_find_cb(void *ctx, const char *host, const struct ep_seen *s)
{
    struct seen_find *f = ctx;

    if (strcmp(host, f->host) == 0) {
        f->found = true;
        f->seen = *s;
    }
    return 0;
}

/* The seen record of (project, host); false when there is none. */
static inline bool seen_get(struct ep_store *s, const char *project, const char *host,
                            struct ep_seen *out)
{
    struct seen_find f = {.host = host, .found = false, .seen = {0}};

    REQUIRE(ep_store_seen_list(s, project, seen_find_cb, &f) == 0);
    *out = f.seen; /* zero when not found */
    return f.found;
}

#endif

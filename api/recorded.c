/*
 * Recorded domains: what a workspace reached, as the ICAP service wrote it
 * to `seen`, grouped by category and by registrable domain; and promotion
 * of chosen hosts into a profile's whitelist.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/audit.h"
#include "api/jsonw.h"
#include "api/projects.h"
#include "api/recorded.h"
#include "policy/category.h"
#include "policy/decide.h"
#include "policy/host.h"
#include "policy/rule.h"

/* One recorded host, kept while the listing is written. */
struct seen_entry {
    char *host;
    char *group;
    int category; /* index into ep_category_names */
};

struct seen_ctx {
    struct jsonw *w;
    struct seen_entry *entries;
    size_t n;
    size_t cap;
};

static int category_index(const char *name)
{
    for (int i = 0; ep_category_names[i]; i++)
        if (strcmp(ep_category_names[i], name) == 0)
            return i;
    return 0;
}

/* Write one host's record into "domains" and keep what the two groupings need. */
static int add_seen(void *ctx, const char *host, const struct ep_seen *s)
{
    struct seen_ctx *sc = ctx;
    struct jsonw *w = sc->w;
    char first[32], last[32], group[EP_HOST_BUFSZ];
    const char *category = ep_category_of(host);
    struct seen_entry *e;

    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        struct seen_entry *grown = realloc(sc->entries, cap * sizeof *grown);

        if (grown == NULL)
            return EP_E_NOMEM;
        sc->entries = grown;
        sc->cap = cap;
    }
    if (ep_registrable_domain(host, group) != 0)
        snprintf(group, sizeof group, "%s", host);
    e = &sc->entries[sc->n];
    e->host = strdup(host);
    e->group = strdup(group);
    e->category = category_index(category);
    if (e->host == NULL || e->group == NULL) {
        free(e->host);
        free(e->group);
        return EP_E_NOMEM;
    }
    sc->n++;

    http_time_iso(s->first_seen, first);
    http_time_iso(s->last_seen, last);
    jsonw_key(w, host);
    jsonw_open(w, '{');
    jsonw_key(w, "count");
    jsonw_int(w, (int64_t)s->count);
    jsonw_key(w, "allowed");
    jsonw_int(w, (int64_t)s->allowed);
    jsonw_key(w, "denied");
    jsonw_int(w, (int64_t)s->denied);
    jsonw_key(w, "first_seen");
    jsonw_string(w, first);
    jsonw_key(w, "last_seen");
    jsonw_string(w, last);
    jsonw_key(w, "category");
    jsonw_string(w, category);
    jsonw_key(w, "lastVerdict");
    jsonw_string(w, s->last_verdict == EP_VERDICT_DENY ? "deny" : "allow");
    jsonw_close(w, '{');
    return w->failed ? EP_E_NOMEM : 0;
}

static int by_group(const void *a, const void *b)
{
    const struct seen_entry *x = *(struct seen_entry *const *)a,
                            *y = *(struct seen_entry *const *)b;
    int c = strcmp(x->group, y->group);

    return c ? c : strcmp(x->host, y->host);
}

/* "categorized" (every category, in display order) and "groups" (by registrable domain). */
static int write_groupings(struct seen_ctx *sc)
{
    struct jsonw *w = sc->w;
    struct seen_entry **order = calloc(sc->n + 1, sizeof *order);

    if (order == NULL)
        return EP_E_NOMEM;
    jsonw_key(w, "categorized");
    jsonw_open(w, '{');
    for (int c = 0; ep_category_names[c]; c++) {
        jsonw_key(w, ep_category_names[c]);
        jsonw_open(w, '[');
        for (size_t i = 0; i < sc->n; i++)
            if (sc->entries[i].category == c)
                jsonw_string(w, sc->entries[i].host);
        jsonw_close(w, '[');
    }
    jsonw_close(w, '{');

    for (size_t i = 0; i < sc->n; i++)
        order[i] = &sc->entries[i];
    qsort(order, sc->n, sizeof *order, by_group);
    jsonw_key(w, "groups");
    jsonw_open(w, '{');
    for (size_t i = 0; i < sc->n; i++) {
        if (i == 0 || strcmp(order[i]->group, order[i - 1]->group) != 0) {
            if (i)
                jsonw_close(w, '[');
            jsonw_key(w, order[i]->group);
            jsonw_open(w, '[');
        }
        jsonw_string(w, order[i]->host);
    }
    if (sc->n)
        jsonw_close(w, '[');
    jsonw_close(w, '{');
    free(order);
    return w->failed ? EP_E_NOMEM : 0;
}

/*
 * GET /api/projects/:id/recorded-domains: admin, anyone for an unprotected
 * workspace, the password (X-Project-Password) for a protected one. A
 * teacher's workspace may have recorded thousands of hosts, so the answer
 * is written as a stream.
 */
void recorded_handle_list(struct http_request *r)
{
    struct jsonw w;
    struct seen_ctx sc = {.w = &w};
    const char *password;
    struct ep_project p;
    char *text = NULL;
    int err;

    jsonw_init(&w);
    if (projects_password_arg(r, &password) < 0 || projects_load(r, &p, password) < 0 ||
        projects_authorize(r, &p, password) < 0)
        goto out;
    jsonw_open(&w, '{');
    jsonw_key(&w, "projectId");
    jsonw_string(&w, p.id);
    jsonw_key(&w, "domains");
    jsonw_open(&w, '{');
    err = ep_store_seen_list(r->ctx->store, p.id, add_seen, &sc);
    jsonw_close(&w, '{');
    if (err == 0)
        err = write_groupings(&sc);
    jsonw_key(&w, "totalDomains");
    jsonw_int(&w, (int64_t)sc.n);
    jsonw_close(&w, '{');
    text = jsonw_finish(&w);
    w.buf = NULL;
    if (err || text == NULL) {
        http_error_store(r, err ? err : EP_E_NOMEM, "recorded domains");
        goto out;
    }
    http_reply_json_text(r, 200, text);
    text = NULL;
out:
    free(text);
    free(w.buf);
    for (size_t i = 0; i < sc.n; i++) {
        free(sc.entries[i].host);
        free(sc.entries[i].group);
    }
    free(sc.entries);
}

void recorded_handle_clear(struct http_request *r)
{
    struct ep_project p;
    int err;

    if (projects_load(r, &p, NULL) < 0)
        return;
    err = ep_store_seen_clear(r->ctx->store, p.id);
    if (err) {
        http_error_store(r, err, "recorded domains");
        return;
    }
    audit_record(r, "recorded.clear", p.id, "%s", "");
    http_reply_json(r, 200,
                    json_pack("{s:b, s:s}", "success", 1, "message", "Recorded domains cleared"));
}

/* The rules already in force, as written, for "already covered" answers. */
struct rule_set {
    char **texts; /* sorted, host/ip rules */
    size_t n;
    size_t cap;
    struct ep_rule *regex;
    size_t n_regex;
    size_t cap_regex;
};

static int collect_rule(void *ctx, const struct ep_rule *rule)
{
    struct rule_set *rs = ctx;
    char text[EP_RULE_BUFSZ];

    if (rule->kind == EP_RULE_REGEX) {
        if (rs->n_regex == rs->cap_regex) {
            size_t cap = rs->cap_regex ? rs->cap_regex * 2 : 8;
            struct ep_rule *re = realloc(rs->regex, cap * sizeof *re);

            if (re == NULL)
                return EP_E_NOMEM;
            rs->regex = re;
            rs->cap_regex = cap;
        }
        rs->regex[rs->n_regex++] = *rule;
        return 0;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        char **t = realloc(rs->texts, cap * sizeof *t);

        if (t == NULL)
            return EP_E_NOMEM;
        rs->texts = t;
        rs->cap = cap;
    }
    ep_rule_format(rule, text);
    rs->texts[rs->n] = strdup(text);
    if (rs->texts[rs->n] == NULL)
        return EP_E_NOMEM;
    rs->n++;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool rule_set_has(const struct rule_set *rs, const char *text)
{
    return rs->n && bsearch(&text, rs->texts, rs->n, sizeof *rs->texts, str_cmp) != NULL;
}

static void rule_set_free(struct rule_set *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->texts[i]);
    free(rs->texts);
    free(rs->regex);
}

/*
 * The rule in @p rs that already gives what @p rule would (written into
 * @p by), or false. A suffix rule on the host or an ancestor covers every
 * form; a "*." rule on a strict ancestor covers every form; on the host
 * itself, the same rule covers it; regex rules cover an exact host they
 * match.
 */
static bool covered(const struct rule_set *rs, const struct ep_rule *rule, char *by)
{
    char text[EP_RULE_BUFSZ + 2];
    const char *a = rule->host;

    ep_rule_format(rule, text);
    if (rule_set_has(rs, text)) {
        snprintf(by, EP_RULE_BUFSZ, "%.*s", EP_RULE_MAX, text);
        return true;
    }
    if (rule->kind == EP_RULE_IP)
        return false;
    for (; a; a = strchr(a, '.') ? strchr(a, '.') + 1 : NULL) {
        snprintf(text, sizeof text, ".%s", a);
        if (rule_set_has(rs, text))
            goto found;
        snprintf(text, sizeof text, "*.%s", a);
        if (a != rule->host && rule_set_has(rs, text))
            goto found;
    }
    if (rule->kind == EP_RULE_EXACT) {
        for (size_t i = 0; i < rs->n_regex; i++) {
            if (ep_rule_matches(&rs->regex[i], rule->host)) {
                ep_rule_format(&rs->regex[i], by);
                return true;
            }
        }
    }
    return false;
found:
    snprintf(by, EP_RULE_BUFSZ, "%.*s", EP_RULE_MAX, text);
    return true;
}

/* The rule text that promotes canonical @p host in @p form. */
static void promoted_text(const char *host, enum ep_host_kind kind, const char *form, char *out)
{
    if (kind != EP_HOST_NAME)
        snprintf(out, EP_RULE_BUFSZ, "ip:%s", host);
    else if (strcmp(form, "suffix") == 0)
        snprintf(out, EP_RULE_BUFSZ, ".%s", host);
    else if (strcmp(form, "subdomains") == 0)
        snprintf(out, EP_RULE_BUFSZ, "*.%s", host);
    else
        snprintf(out, EP_RULE_BUFSZ, "%s", host);
}

/*
 * POST /api/projects/:id/recorded-domains/promote: turn hosts into rules
 * of a profile (the project's own unless named). Each host is reported as
 * added, already covered (and by which rule), or refused (and why).
 */
void recorded_handle_promote(struct http_request *r)
{
    const char *form = "exact", *profile_name = NULL;
    bool replace = false;
    struct rule_set rs = {0};
    struct ep_rule *rules = NULL;
    bool *added = NULL;
    json_t *domains, *v, *added_json = NULL, *covered_json = NULL, *refused_json = NULL;
    json_t **accepted_names = NULL;
    struct ep_project p;
    char profile[EP_PROFILE_MAX + 1];
    size_t n = 0, i;
    int err;

    if (http_field_array(r, "domains", true, &domains) < 0 ||
        http_field_string(r, "form", false, &form) < 0 ||
        http_field_string(r, "profile", false, &profile_name) < 0 ||
        http_field_bool(r, "replace", false, &replace) < 0)
        return;
    if (strcmp(form, "exact") != 0 && strcmp(form, "suffix") != 0 &&
        strcmp(form, "subdomains") != 0) {
        http_error(r, 400, "bad_field",
                   "field \"form\" must be \"exact\", \"suffix\" or \"subdomains\"");
        return;
    }
    if (profile_name && ep_profile_validate(profile_name) != 0) {
        http_error(r, 400, "bad_field", "field \"profile\" is not a valid profile name");
        return;
    }
    json_array_foreach(domains, i, v)
    {
        if (!json_is_string(v)) {
            http_error(r, 400, "bad_field", "field \"domains\" must hold strings (entry %zu)", i);
            return;
        }
    }
    if (projects_load(r, &p, NULL) < 0)
        return;
    snprintf(profile, sizeof profile, "%s", profile_name ? profile_name : p.profile);

    err = ep_store_rules_list(r->ctx->store, EP_PROFILE_BASE, collect_rule, &rs);
    if ((err == 0 || err == EP_E_NOTFOUND) && !replace)
        err = ep_store_rules_list(r->ctx->store, profile, collect_rule, &rs);
    if (err && err != EP_E_NOTFOUND)
        goto store_error;
    if (rs.n)
        qsort(rs.texts, rs.n, sizeof *rs.texts, str_cmp);

    rules = calloc(json_array_size(domains) + 1, sizeof *rules);
    accepted_names = calloc(json_array_size(domains) + 1, sizeof *accepted_names);
    added_json = json_array();
    covered_json = json_array();
    refused_json = json_array();
    if (rules == NULL || accepted_names == NULL) {
        err = EP_E_NOMEM;
        goto store_error;
    }
    json_array_foreach(domains, i, v)
    {
        const char *name = json_string_value(v);
        char host[EP_HOST_BUFSZ], text[EP_RULE_BUFSZ], why[256] = "", by[EP_RULE_BUFSZ];
        enum ep_host_kind kind;
        bool dup = false;

        err = ep_host_normalize(name, json_string_length(v), host, NULL, &kind);
        if (err == 0 && kind != EP_HOST_NAME && strcmp(form, "exact") != 0)
            snprintf(why, sizeof why, "an IP address can only be promoted in the exact form");
        if (err || why[0]) {
            json_array_append_new(refused_json, json_pack("{s:s, s:s}", "domain", name, "message",
                                                          why[0] ? why : ep_strerror(err)));
            continue;
        }
        promoted_text(host, kind, form, text);
        err = ep_rule_parse(text, &rules[n], why, sizeof why);
        if (err) {
            json_array_append_new(refused_json, json_pack("{s:s, s:s}", "domain", name, "message",
                                                          why[0] ? why : ep_strerror(err)));
            continue;
        }
        for (size_t j = 0; j < n && !dup; j++)
            dup = rules[j].kind == rules[n].kind && strcmp(rules[j].host, rules[n].host) == 0;
        if (dup)
            continue;
        if (covered(&rs, &rules[n], by)) {
            json_array_append_new(covered_json,
                                  json_pack("{s:s, s:s}", "domain", name, "rule", by));
            continue;
        }
        accepted_names[n] = v;
        n++;
    }
    err = 0;
    if (replace) {
        err = ep_store_rules_replace(r->ctx->store, profile, rules, n);
    } else if (n) {
        added = calloc(n, sizeof *added);
        err = added ? ep_store_rules_add(r->ctx->store, profile, rules, n, added) : EP_E_NOMEM;
    }
    if (err)
        goto store_error;
    for (i = 0; i < n; i++) {
        char text[EP_RULE_BUFSZ];

        ep_rule_format(&rules[i], text);
        if (replace || added[i])
            json_array_append_new(added_json, json_string(text));
        else
            json_array_append_new(
                covered_json, json_pack("{s:O, s:s}", "domain", accepted_names[i], "rule", text));
    }
    if (replace || json_array_size(added_json))
        audit_record(r, replace ? "whitelist.replace" : "whitelist.promote", profile,
                     "%zu rules from project %s", json_array_size(added_json), p.id);
    http_reply_json(r, 200,
                    json_pack("{s:b, s:s, s:s, s:s, s:b, s:O, s:O, s:O}", "success", 1, "projectId",
                              p.id, "profile", profile, "form", form, "replaced", replace, "added",
                              added_json, "covered", covered_json, "refused", refused_json));
    goto out;
store_error:
    http_error_store(r, err, "whitelist");
out:
    json_decref(added_json);
    json_decref(covered_json);
    json_decref(refused_json);
    free(accepted_names);
    free(added);
    free(rules);
    rule_set_free(&rs);
}

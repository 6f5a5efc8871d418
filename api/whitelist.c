/*
 * Whitelist endpoints. A list of rules is parsed whole before anything is
 * written: one bad rule refuses the request with the error of every bad
 * entry, so a profile is never left half-changed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/audit.h"
#include "api/scope.h"
#include "api/whitelist.h"

static int add_rule_text(void *ctx, const struct ep_rule *rule)
{
    char text[EP_RULE_BUFSZ];

    ep_rule_format(rule, text);
    return json_array_append_new(ctx, json_string(text)) ? EP_E_NOMEM : 0;
}

json_t *whitelist_rules_json(struct api_ctx *ctx, const char *profile, int *err)
{
    json_t *list = json_array();

    *err = list ? ep_store_rules_list(ctx->store, profile, add_rule_text, list) : EP_E_NOMEM;
    if (*err == EP_E_NOTFOUND)
        *err = 0; /* a profile nobody wrote to yet has no rules */
    if (*err) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* The profile named by @p name (or the default); -1 after answering 400. */
static int take_profile(struct http_request *r, const char *name, const char **out)
{
    if (name == NULL) {
        *out = r->ctx->cfg->default_profile;
        return 0;
    }
    if (ep_profile_validate(name) != 0) {
        http_error(r, 400, "bad_field",
                   "profile \"%s\" must be 1 to %d characters of a-z, 0-9, '_' or '-', starting "
                   "with a letter or digit",
                   name, EP_PROFILE_MAX);
        return -1;
    }
    *out = name;
    return 0;
}

/* ep_rule_compare() in the shape qsort() takes. */
static int rule_cmp(const void *a, const void *b)
{
    return ep_rule_compare(a, b);
}

/*
 * Parse every string of @p list into a new array of rules (sorted, without
 * duplicates). On any bad entry: answer 400 with {errors:[{index, rule,
 * message}]} and return -1.
 */
static int parse_rules(struct http_request *r, json_t *list, const char *field,
                       struct ep_rule **out, size_t *n_out)
{
    size_t n = json_array_size(list), kept = 0;
    struct ep_rule *rules = ep_calloc(n ? n : 1, sizeof *rules);
    json_t *errors = json_array();
    char why[256];
    size_t i;
    json_t *v;

    if (rules == NULL || errors == NULL) {
        free(rules);
        json_decref(errors);
        http_error(r, 500, "internal", "out of memory");
        return -1;
    }
    json_array_foreach(list, i, v)
    {
        const char *text = json_string_value(v);
        int err;

        if (text == NULL) {
            if (json_array_append_new(errors,
                                      json_pack("{s:I, s:n, s:s}", "index", (json_int_t)i, "rule",
                                                "message", "a rule must be a string")) != 0)
                goto nomem;
            continue;
        }
        why[0] = '\0';
        err = ep_rule_parse(text, &rules[i], why, sizeof why);
        if (err == EP_E_NOMEM)
            goto nomem;
        if (err && json_array_append_new(errors, json_pack("{s:I, s:s, s:s}", "index",
                                                           (json_int_t)i, "rule", text, "message",
                                                           why[0] ? why : ep_strerror(err))) != 0)
            goto nomem;
    }
    if (json_array_size(errors)) {
        char message[128];

        snprintf(message, sizeof message, "%zu of the %zu entries of \"%s\" are not valid rules",
                 json_array_size(errors), n, field);
        ep_free(rules);
        http_reply_json(r, 400,
                        json_pack("{s:s, s:s, s:o}", "error", "invalid_rules", "message", message,
                                  "errors", errors));
        return -1;
    }
    json_decref(errors);
    if (n) {
        qsort(rules, n, sizeof *rules, rule_cmp);
        for (i = 0; i < n; i++)
            if (kept == 0 || !ep_rule_equal(&rules[kept - 1], &rules[i]))
                rules[kept++] = rules[i];
    }
    *out = rules;
    *n_out = kept;
    return 0;
nomem:
    ep_free(rules);
    json_decref(errors);
    http_error(r, 500, "internal", "out of memory");
    return -1;
}

void whitelist_handle_get(struct http_request *r)
{
    const char *profile;
    json_t *domains, *base;
    int err;

    if (take_profile(r, http_query(r, "profile"), &profile) < 0)
        return;
    domains = whitelist_rules_json(r->ctx, profile, &err);
    base = err ? NULL : whitelist_rules_json(r->ctx, EP_PROFILE_BASE, &err);
    if (err) {
        json_decref(domains);
        http_error_store(r, err, "whitelist");
        return;
    }
    http_reply_json(r, 200,
                    json_pack("{s:b, s:s, s:o, s:o}", "success", 1, "profile", profile, "domains",
                              domains, "base", base));
}

/*
 * PUT /api/whitelist: the profile becomes exactly the given rules, all or
 * nothing. An empty list would wipe the profile: it needs "allowEmpty": true.
 * The answer has the reference's "success", "domainCount" and "domains".
 */
void whitelist_handle_replace(struct http_request *r)
{
    const char *name = NULL, *profile;
    struct ep_rule *rules = NULL;
    bool allow_empty = false;
    json_t *list;
    size_t n;
    int err;

    if (http_field_array(r, "domains", true, &list) < 0 ||
        http_field_string(r, "profile", false, &name) < 0 ||
        http_field_bool(r, "allowEmpty", false, &allow_empty) < 0 ||
        take_profile(r, name, &profile) < 0)
        return;
    if (json_array_size(list) == 0 && !allow_empty) {
        http_error(r, 400, "empty_replace",
                   "an empty \"domains\" would leave profile \"%s\" with no rules; send "
                   "\"allowEmpty\": true to empty it on purpose",
                   profile);
        return;
    }
    if (parse_rules(r, list, "domains", &rules, &n) < 0)
        return;
    err = ep_store_rules_replace(r->ctx->store, profile, rules, n);
    free(rules);
    if (err) {
        http_error_store(r, err, "whitelist");
        return;
    }
    audit_record(r, "whitelist.replace", profile, "%zu rules", n);
    list = whitelist_rules_json(r->ctx, profile, &err);
    if (err) {
        http_error_store(r, err, "whitelist");
        return;
    }
    /* "domainCount": the number of rules now, as the reference answered. */
    http_reply_json(r, 200,
                    json_pack("{s:b, s:s, s:I, s:o}", "success", 1, "profile", profile,
                              "domainCount", (json_int_t)json_array_size(list), "domains", list));
}

/* POST /api/whitelist/domains: {"domains": [...]} or {"domain": "..."}, optional "profile". */
void whitelist_handle_add(struct http_request *r)
{
    const char *name = NULL, *one = NULL, *profile;
    struct ep_rule *rules = NULL;
    json_t *list = NULL, *added_json, *existing_json, *single = NULL;
    bool *added = NULL;
    size_t n;
    int err;

    if (http_field_array(r, "domains", false, &list) < 0 ||
        http_field_string(r, "domain", false, &one) < 0 ||
        http_field_string(r, "profile", false, &name) < 0 || take_profile(r, name, &profile) < 0)
        return;
    if ((list == NULL) == (one == NULL)) {
        http_error(r, 400, "missing_field", "give \"domains\" (an array) or \"domain\" (a string)");
        return;
    }
    if (one) {
        single = json_pack("[s]", one);
        if (single == NULL) {
            http_error(r, 500, "internal", "out of memory");
            return;
        }
        list = single;
    }
    err = parse_rules(r, list, one ? "domain" : "domains", &rules, &n);
    json_decref(single);
    if (err < 0)
        return;
    added = ep_calloc(n ? n : 1, sizeof *added);
    err = added ? ep_store_rules_add(r->ctx->store, profile, rules, n, added) : EP_E_NOMEM;
    if (err) {
        free(rules);
        free(added);
        http_error_store(r, err, "whitelist");
        return;
    }
    added_json = json_array();
    existing_json = json_array();
    for (size_t i = 0; i < n && added_json && existing_json; i++) {
        char text[EP_RULE_BUFSZ];

        ep_rule_format(&rules[i], text);
        if (json_array_append_new(added[i] ? added_json : existing_json, json_string(text)) != 0) {
            /* Committed already; a 500 rather than a list missing some of it. */
            json_decref(added_json);
            added_json = NULL;
        }
    }
    if (json_array_size(added_json))
        audit_record(r, "whitelist.add", profile, "%zu rules", json_array_size(added_json));
    ep_free(rules);
    ep_free(added);
    http_reply_json(r, 200,
                    json_pack("{s:b, s:s, s:o, s:o}", "success", 1, "profile", profile, "added",
                              added_json, "existing", existing_json));
}

/* DELETE /api/whitelist/domains/RULE[?profile=P]: the rule is the rest of the path. */
void whitelist_handle_remove(struct http_request *r)
{
    const char *profile;
    struct ep_rule rule;
    char why[256] = "", text[EP_RULE_BUFSZ];
    int err;

    if (take_profile(r, http_query(r, "profile"), &profile) < 0)
        return;
    err = ep_rule_parse(r->tail, &rule, why, sizeof why);
    if (err) {
        http_error(r, 400, "bad_rule", "rule \"%s\": %s", r->tail, why[0] ? why : ep_strerror(err));
        return;
    }
    err = ep_store_rule_remove(r->ctx->store, profile, &rule);
    ep_rule_format(&rule, text);
    if (err == EP_E_NOTFOUND) {
        http_error(r, 404, "not_found", "profile \"%s\" has no rule \"%s\"", profile, text);
        return;
    }
    if (err) {
        http_error_store(r, err, "whitelist");
        return;
    }
    audit_record(r, "whitelist.remove", profile, "%s", text);
    http_reply_json(
        r, 200, json_pack("{s:b, s:s, s:s}", "success", 1, "profile", profile, "removed", text));
}

struct profiles_walk {
    const struct http_request *r;
    json_t *list;
};

/* One profile of the listing; a teacher's listing has only their courses. */
static int add_profile(void *ctx, const struct ep_profile_info *p)
{
    struct profiles_walk *w = ctx;

    if (!scope_course_visible(w->r, p->name))
        return 0;
    return json_array_append_new(w->list, json_pack("{s:s, s:I, s:I, s:I}", "name", p->name,
                                                    "rules", (json_int_t)p->rules, "projects",
                                                    (json_int_t)p->projects, "generation",
                                                    (json_int_t)p->generation))
               ? EP_E_NOMEM
               : 0;
}

void whitelist_handle_profiles(struct http_request *r)
{
    json_t *list = json_array();
    struct profiles_walk w = {.r = r, .list = list};
    int err = ep_store_profiles_list(r->ctx->store, add_profile, &w);

    if (err) {
        json_decref(list);
        http_error_store(r, err, "profiles");
        return;
    }
    http_reply_json(
        r, 200,
        json_pack("{s:o, s:I}", "profiles", list, "count", (json_int_t)json_array_size(list)));
}

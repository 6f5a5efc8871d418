/*
 * Recorded domains: what a workspace reached, as the ICAP service wrote it
 * to `seen`, grouped by category and by registrable domain; and promotion
 * of chosen hosts into a profile's whitelist. A host reached on a port
 * other than 80 and 443 is recorded with its port ("github.com:22"): it is
 * listed so, grouped and categorised by its host, and promoted into a rule
 * of that port.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/audit.h"
#include "api/log.h"
#include "api/projects.h"
#include "api/recorded.h"
#include "policy/category.h"
#include "policy/covers.h"
#include "policy/rule_set.h"
#include "policy/decide.h"
#include "policy/host.h"
#include "policy/rule.h"

/* Room for the category names (policy/category.h has 8). */
#define RECORDED_CATEGORIES_MAX 16

/*
 * The answer being built. "domains" can hold tens of thousands of hosts:
 * each record is dumped by jansson as soon as it is built into one memory
 * stream (building the whole tree first cost several times more, mostly in
 * malloc and free); the two groupings are small trees of host names.
 */
struct seen_ctx {
    FILE *domains;                 /* "host":{record},... */
    struct projects_cursor cursor; /* the page: hosts written, the last one */
    /* Per category: {"domain":"host",record members},... (the reference's objects). */
    FILE *categorized[RECORDED_CATEGORIES_MAX];
    char *categorized_text[RECORDED_CATEGORIES_MAX];
    size_t categorized_len[RECORDED_CATEGORIES_MAX];
    unsigned long categorized_count[RECORDED_CATEGORIES_MAX];
    json_t *groups;           /* registrable domain → [host] */
    const char *category;     /* ?category=: only this one, or NULL */
    bool denied_only;         /* ?denied=1: only hosts denied at least once */
    struct ep_store_read *rd; /* ?coverage=1: a read for the covering rule, or NULL */
    const char *profile;      /* whose rules cover (with rd) */
    /*
     * Reused for every host of the answer: one record object whose members
     * are replaced in place (no new object, keys or hash table per host),
     * and the strings every record shares, made once.
     */
    json_t *record;
    json_t *category_names[RECORDED_CATEGORIES_MAX];
    json_t *verdicts[2]; /* "allow", "deny" */
    json_t *from_profile, *from_base;
};

/*
 * ?coverage=1: the rule that already allows @p host on @p port, found as
 * the decision finds it (base domains first, then the profile), as "rule"
 * and "ruleFrom" ("base" or "profile"), both null when none does.
 */
static int add_coverage(struct seen_ctx *sc, const char *host, int port, json_t *record)
{
    struct ep_rule rule;
    char text[EP_RULE_BUFSZ];
    enum ep_reason reason;
    int rc = ep_decide_whitelist(sc->rd, sc->profile, host, port, &rule, &reason);
    json_t *from = reason == EP_REASON_BASE ? sc->from_base : sc->from_profile;

    if (rc == EP_E_NOTFOUND) {
        json_object_set_new_nocheck(record, "rule", json_null());
        json_object_set_new_nocheck(record, "ruleFrom", json_null());
        return 0;
    }
    if (rc)
        return rc;
    ep_rule_format(&rule, text);
    if (json_object_set_new_nocheck(record, "rule", json_string(text)) != 0 ||
        json_object_set_nocheck(record, "ruleFrom", from) != 0)
        return EP_E_NOMEM;
    return 0;
}

/* The index of @p category in ep_category_names (the last entry, "Other", when absent). */
static int category_index(const char *category)
{
    int c = 0;

    /* ep_category_of() answers with the table's own pointers: no string compare. */
    while (ep_category_names[c + 1] && ep_category_names[c] != category &&
           strcmp(ep_category_names[c], category) != 0)
        c++;
    return c;
}

/* Fill the shared record, strings and category streams of @p sc once per answer. */
static int seen_ctx_prepare(struct seen_ctx *sc)
{
    int bad = 0;

    sc->record = json_object();
    bad |= sc->record == NULL;
    for (int c = 0; ep_category_names[c]; c++)
        bad |= c >= RECORDED_CATEGORIES_MAX ||
               (sc->category_names[c] = json_string(ep_category_names[c])) == NULL ||
               (sc->categorized[c] =
                    open_memstream(&sc->categorized_text[c], &sc->categorized_len[c])) == NULL;
    bad |= (sc->verdicts[0] = json_string("allow")) == NULL;
    bad |= (sc->verdicts[1] = json_string("deny")) == NULL;
    bad |= (sc->from_profile = json_string("profile")) == NULL;
    bad |= (sc->from_base = json_string("base")) == NULL;
    return bad ? EP_E_NOMEM : 0;
}

/*
 * Close the category streams of @p sc (their text stays for the answer);
 * EP_E_NOMEM when one of them could not hold what was written.
 */
static int seen_ctx_close_categories(struct seen_ctx *sc)
{
    int rc = 0;

    for (int c = 0; c < RECORDED_CATEGORIES_MAX; c++) {
        if (sc->categorized[c] == NULL)
            continue;
        if (ferror(sc->categorized[c]))
            rc = EP_E_NOMEM;
        if (fclose(sc->categorized[c]) != 0)
            rc = EP_E_NOMEM;
        sc->categorized[c] = NULL;
    }
    return rc;
}

static void seen_ctx_release(struct seen_ctx *sc)
{
    seen_ctx_close_categories(sc);
    json_decref(sc->record);
    for (int c = 0; c < RECORDED_CATEGORIES_MAX; c++) {
        json_decref(sc->category_names[c]);
        free(sc->categorized_text[c]);
    }
    json_decref(sc->verdicts[0]);
    json_decref(sc->verdicts[1]);
    json_decref(sc->from_profile);
    json_decref(sc->from_base);
}

/*
 * The host and port of a seen record's key @p seen: "github.com:22" and
 * "[2001:db8::1]:22" (policy/host.h, ep_host_with_port()) are a host on
 * port 22; any other key (a web port's) is a host by itself, port 0.
 * @p host has EP_HOST_PORT_BUFSZ bytes.
 */
static void seen_split(const char *seen, char *host, int *port)
{
    size_t len = strlen(seen);

    *port = 0;
    if (strchr(seen, ':') != NULL && ep_host_normalize(seen, len, host, port, NULL) == 0)
        return;
    *port = 0;
    memcpy(host, seen, len + 1);
}

/*
 * A record of a host reached on another port than 80 and 443 says so:
 * "host" (its host alone) and "port"; a web port's record has neither, as
 * before ports were recorded. The record is shared: members of the last
 * one are removed.
 */
static int set_port_members(json_t *record, const char *host, int port)
{
    if (ep_covers_web_port(port)) {
        json_object_del(record, "host");
        json_object_del(record, "port");
        return 0;
    }
    if (json_object_set_new_nocheck(record, "host", json_string(host)) != 0 ||
        json_object_set_new_nocheck(record, "port", json_integer(port)) != 0)
        return EP_E_NOMEM;
    return 0;
}

/*
 * Write host @p name's @p record twice: into "domains" as "host":{record},
 * and into category @p c's list as the reference's object,
 * {"domain":"host", the record's members}. The record is dumped once.
 */
static int write_record(struct seen_ctx *sc, int c, json_t *name, json_t *record)
{
    char buf[4096], key[EP_HOST_PORT_BUFSZ * 6 + 4], *big = NULL;
    const char *text = buf;
    size_t n = json_dumpb(record, buf, sizeof buf, JSON_COMPACT);
    size_t k = json_dumpb(name, key, sizeof key, JSON_COMPACT | JSON_ENCODE_ANY);
    FILE *list = sc->categorized[c];
    int rc = EP_E_NOMEM;

    if (n == 0 || n > sizeof buf) {
        big = json_dumps(record, JSON_COMPACT);
        if (big == NULL)
            goto out;
        text = big;
        n = strlen(big);
    }
    /* A record always has members: "{" + at least one + "}". */
    if (k == 0 || k > sizeof key || n < 3)
        goto out;
    if (sc->cursor.count > 1)
        fputc(',', sc->domains);
    fwrite(key, 1, k, sc->domains);
    fputc(':', sc->domains);
    fwrite(text, 1, n, sc->domains);
    if (sc->categorized_count[c]++ > 0)
        fputc(',', list);
    fputs("{\"domain\":", list);
    fwrite(key, 1, k, list);
    fputc(',', list);
    fwrite(text + 1, 1, n - 1, list);
    rc = ferror(sc->domains) || ferror(list) ? EP_E_NOMEM : 0;
out:
    free(big);
    return rc;
}

/*
 * Add one host's record to "domains" and to its category, and the host to
 * its group. One JSON string of the host (with its port, if any) serves as the
 * key and in both groupings; the category and the group are those of the
 * host alone; the record is the shared one, its members replaced.
 */
static int add_seen(void *ctx, const char *seen, const struct ep_seen *s)
{
    struct seen_ctx *sc = ctx;
    char first[32], last[32], group[EP_HOST_PORT_BUFSZ], host[EP_HOST_PORT_BUFSZ];
    const char *category = NULL;
    json_t *members, *record = sc->record, *name = NULL;
    int rc, c, port;

    /* Hosts outside the page cost a count and the cheap tests, nothing more. */
    if (!projects_page_match(sc->cursor.page, seen) || (sc->denied_only && s->denied == 0))
        return 0;
    seen_split(seen, host, &port);
    if (sc->category) {
        category = ep_category_of(host);
        if (strcmp(sc->category, category) != 0)
            return 0;
    }
    rc = projects_cursor_next(&sc->cursor, seen);
    if (rc <= 0)
        return rc;
    rc = EP_E_NOMEM;
    if (category == NULL)
        category = ep_category_of(host);
    c = category_index(category);
    http_time_iso(s->first_seen, first);
    http_time_iso(s->last_seen, last);
    name = json_string(seen);
    if (name == NULL)
        goto out;
    if (json_object_set_new_nocheck(record, "count", json_integer((json_int_t)s->count)) ||
        json_object_set_new_nocheck(record, "allowed", json_integer((json_int_t)s->allowed)) ||
        json_object_set_new_nocheck(record, "denied", json_integer((json_int_t)s->denied)) ||
        json_object_set_new_nocheck(record, "first_seen", json_string(first)) ||
        json_object_set_new_nocheck(record, "last_seen", json_string(last)) ||
        json_object_set_nocheck(record, "category", sc->category_names[c]) ||
        json_object_set_nocheck(record, "lastVerdict",
                                sc->verdicts[s->last_verdict == EP_VERDICT_DENY]) ||
        set_port_members(record, host, port) != 0)
        goto out;
    if (sc->rd) {
        rc = add_coverage(sc, host, port, record);
        if (rc)
            goto out;
    }
    rc = write_record(sc, c, name, record);
    if (rc)
        goto out;
    rc = EP_E_NOMEM;
    if (ep_registrable_domain(host, group) != 0)
        snprintf(group, sizeof group, "%s", host);
    members = json_object_get(sc->groups, group);
    if (members == NULL) {
        members = json_array();
        if (json_object_set_new_nocheck(sc->groups, group, members) != 0)
            goto out;
    }
    rc = json_array_append(members, name) == 0 ? 0 : EP_E_NOMEM;
out:
    json_decref(name);
    return rc;
}

/*
 * The listing's optional arguments: paging and ?q= (projects.c), ?category=
 * (a category name), ?denied=1, ?coverage=1 with an optional ?profile=
 * (default the project's). -1 after answering 400 naming the argument.
 */
static int list_args(struct http_request *r, const struct ep_project *p, struct projects_page *page,
                     struct seen_ctx *sc)
{
    const char *category = http_query(r, "category"), *denied = http_query(r, "denied");
    const char *coverage = http_query(r, "coverage"), *profile = http_query(r, "profile");
    bool known = false;

    if (projects_page_args(r, page) < 0)
        return -1;
    sc->cursor.page = page;
    for (int c = 0; category && ep_category_names[c]; c++)
        known = known || strcmp(category, ep_category_names[c]) == 0;
    if (category && !known) {
        http_error(r, 400, "bad_field", "query argument \"category\": \"%s\" is not a category",
                   category);
        return -1;
    }
    sc->category = category;
    if (denied && strcmp(denied, "1") != 0 && strcmp(denied, "true") != 0) {
        http_error(r, 400, "bad_field", "query argument \"denied\" must be 1 or true");
        return -1;
    }
    sc->denied_only = denied != NULL;
    if (coverage && strcmp(coverage, "1") != 0 && strcmp(coverage, "true") != 0) {
        http_error(r, 400, "bad_field", "query argument \"coverage\" must be 1 or true");
        return -1;
    }
    if (profile && ep_profile_validate(profile) != 0) {
        http_error(r, 400, "bad_field", "query argument \"profile\": \"%s\" is not a profile name",
                   profile);
        return -1;
    }
    if (coverage)
        sc->profile = profile ? profile : p->profile;
    return 0;
}

/*
 * An unchanged poll: the validator is the store's generation (any write
 * changes it) and the arguments, so a repeated call answers 304 without
 * reading a single record. Checked after the caller was authorised.
 */
static bool list_not_modified(struct http_request *r, const struct ep_project *p)
{
    static const char *const args[] = {"limit",  "offset",   "q",       "after", "category",
                                       "denied", "coverage", "profile", NULL};
    char etag[48];

    projects_page_etag(r, 'r', http_fnv(HTTP_FNV_START, p->id, strlen(p->id)), args, etag,
                       sizeof etag);
    return etag[0] && http_not_modified(r, etag);
}

/*
 * "categorized" of the answer: every category in display order, empty ones
 * too (the review page lists them all), each a list of the reference's
 * {"domain": host, record members} objects, written as add_seen() built them.
 */
static int print_categorized(struct seen_ctx *sc, FILE *out)
{
    fputs(",\"categorized\":{", out);
    for (int c = 0; ep_category_names[c]; c++) {
        if (c > 0)
            fputc(',', out);
        if (http_json_append(out, json_incref(sc->category_names[c])) != 0)
            return EP_E_NOMEM;
        fputs(":[", out);
        fwrite(sc->categorized_text[c], 1, sc->categorized_len[c], out);
        fputc(']', out);
    }
    fputc('}', out);
    return ferror(out) ? EP_E_NOMEM : 0;
}

/*
 * GET /api/projects/:id/recorded-domains: admin, anyone for an unprotected
 * workspace, the password (X-Project-Password) for a protected one. Hosts
 * come in host order from one read transaction. The answer has the
 * reference's members ("success", "projectId", "ipAddress": the address
 * mapped to the project or null, "domains", "categorized" of objects,
 * "totalDomains") and ours ("groups", the paging members).
 */
void recorded_handle_list(struct http_request *r)
{
    struct seen_ctx sc = {.groups = json_object()};
    struct projects_page page;
    char *domains = NULL, *text = NULL;
    size_t domains_len = 0;
    struct ep_project p;
    FILE *out = NULL;
    size_t text_len = 0;
    int err = EP_E_NOMEM;

    if (projects_load_authorized(r, &p, NULL) < 0 || list_args(r, &p, &page, &sc) < 0 ||
        list_not_modified(r, &p))
        goto out;
    if (sc.profile) {
        err = ep_store_read_begin(r->ctx->store, &sc.rd);
        if (err)
            goto fail;
        err = EP_E_NOMEM;
    }
    sc.domains = open_memstream(&domains, &domains_len);
    if (sc.domains == NULL || sc.groups == NULL || seen_ctx_prepare(&sc) != 0)
        goto fail;
    err = ep_store_seen_list_after(r->ctx->store, p.id, page.after, add_seen, &sc);
    if (err == PROJECTS_LIST_STOP)
        err = 0;
    if (fclose(sc.domains) != 0 && err == 0)
        err = EP_E_NOMEM;
    sc.domains = NULL;
    if (seen_ctx_close_categories(&sc) != 0 && err == 0)
        err = EP_E_NOMEM;
    if (err)
        goto fail;

    err = EP_E_NOMEM;
    out = open_memstream(&text, &text_len);
    if (out == NULL)
        goto fail;
    fputs("{\"success\":true,\"projectId\":", out);
    if (http_json_append(out, json_string(p.id)) != 0)
        goto fail;
    fputs(",\"ipAddress\":", out);
    if (http_json_append(out, p.ip[0] ? json_string(p.ip) : json_null()) != 0)
        goto fail;
    fprintf(out, ",\"domains\":{%s}", domains);
    if (print_categorized(&sc, out) != 0)
        goto fail;
    fputs(",\"groups\":", out);
    if (http_json_append(out, json_incref(sc.groups)) != 0)
        goto fail;
    fprintf(out, ",\"totalDomains\":%lu", sc.cursor.count);
    if (page.on || sc.category || sc.denied_only)
        projects_cursor_print(&sc.cursor, out);
    fputc('}', out);
    if (fclose(out) != 0)
        goto fail_closed;
    http_reply_json_text(r, 200, text);
    text = NULL;
    goto out;
fail:
    if (out)
        fclose(out);
fail_closed:
    out = NULL;
    http_error_store(r, err, "recorded domains");
out:
    ep_store_read_end(sc.rd);
    if (sc.domains)
        fclose(sc.domains);
    free(domains);
    free(text);
    json_decref(sc.groups);
    seen_ctx_release(&sc);
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

/* What the caller asked of a promote. */
struct promote_args {
    json_t *domains;
    const char *form;       /* "exact", "suffix" or "subdomains" */
    enum ep_rule_kind kind; /* the rule kind of that form */
    const char *profile;    /* the profile named, or NULL for the project's */
    bool replace;
    bool allow_empty;
    bool dry_run; /* answer what the promote would do, write nothing */
};

/* Read and check the promote's body into @p a; -1 after answering 400 naming the field. */
static int promote_args_read(struct http_request *r, struct promote_args *a)
{
    json_t *v;
    size_t i;

    if (http_field_array(r, "domains", true, &a->domains) < 0 ||
        http_field_string(r, "form", false, &a->form) < 0 ||
        http_field_string(r, "profile", false, &a->profile) < 0 ||
        http_field_bool(r, "replace", false, &a->replace) < 0 ||
        http_field_bool(r, "allowEmpty", false, &a->allow_empty) < 0 ||
        http_field_bool(r, "dryRun", false, &a->dry_run) < 0)
        return -1;
    if (strcmp(a->form, "exact") == 0) {
        a->kind = EP_RULE_EXACT;
    } else if (strcmp(a->form, "suffix") == 0) {
        a->kind = EP_RULE_SUFFIX;
    } else if (strcmp(a->form, "subdomains") == 0) {
        a->kind = EP_RULE_SUBDOMAINS;
    } else {
        http_error(r, 400, "bad_field",
                   "field \"form\" must be \"exact\", \"suffix\" or \"subdomains\"");
        return -1;
    }
    if (a->profile && ep_profile_validate(a->profile) != 0) {
        http_error(r, 400, "bad_field", "field \"profile\" is not a valid profile name");
        return -1;
    }
    json_array_foreach(a->domains, i, v)
    {
        if (!json_is_string(v)) {
            http_error(r, 400, "bad_field", "field \"domains\" must hold strings (entry %zu)", i);
            return -1;
        }
    }
    return 0;
}

/*
 * The rules in force that can cover a promoted rule: the base domains,
 * and the profile's own unless they are being replaced.
 */
static int rule_set_collect(struct ep_store *store, const char *profile, bool replace,
                            struct ep_rule_set *rs)
{
    int err = ep_store_rules_list(store, EP_PROFILE_BASE, ep_rule_set_add, rs);

    if ((err == 0 || err == EP_E_NOTFOUND) && !replace)
        err = ep_store_rules_list(store, profile, ep_rule_set_add, rs);
    return err == EP_E_NOTFOUND ? 0 : err;
}

/*
 * A promote worked out before anything is written: the new rules (each
 * with the domain it came from) and the answer's three lists.
 */
struct promotion {
    struct ep_rule *rules;
    json_t **names; /* the domain of each rule, as sent */
    size_t n;
    json_t *added;   /* [rule text], filled once the rules are (or would be) written */
    json_t *covered; /* [{"domain", "rule"}] */
    json_t *refused; /* [{"domain", "message"}] */
};

static void promotion_free(struct promotion *pm)
{
    json_decref(pm->added);
    json_decref(pm->covered);
    json_decref(pm->refused);
    free(pm->names);
    free(pm->rules);
}

static int refuse(struct promotion *pm, const char *domain, const char *message)
{
    return json_array_append_new(pm->refused,
                                 json_pack("{s:s, s:s}", "domain", domain, "message", message)) == 0
               ? 0
               : EP_E_NOMEM;
}

/*
 * Judge domain @p v in form @p form: refused (and why), a repeat of an
 * earlier domain's rule (dropped), already covered by a rule of @p rs (and
 * which), or a new rule. 0 or EP_E_NOMEM.
 */
static int promotion_judge(struct promotion *pm, struct ep_rule_set *rs, json_t *v,
                           enum ep_rule_kind form)
{
    const char *domain = json_string_value(v);
    char text[EP_RULE_BUFSZ], why[256] = "";
    struct ep_rule *rule = &pm->rules[pm->n];
    const struct ep_rule *by;
    int err = ep_rule_promoted(domain, json_string_length(v), form, rule, why, sizeof why);

    if (err == EP_E_NOMEM)
        return err;
    if (err)
        return refuse(pm, domain, why[0] ? why : ep_strerror(err));
    for (size_t i = 0; i < pm->n; i++)
        if (ep_rule_equal(&pm->rules[i], rule))
            return 0;
    by = ep_rule_set_covering(rs, rule);
    if (by) {
        ep_rule_format(by, text);
        return json_array_append_new(pm->covered,
                                     json_pack("{s:s, s:s}", "domain", domain, "rule", text)) == 0
                   ? 0
                   : EP_E_NOMEM;
    }
    pm->names[pm->n++] = v;
    return 0;
}

/* Work out the promote of @p domains in form @p form against @p rs. 0 or EP_E_NOMEM. */
static int promotion_build(struct promotion *pm, struct ep_rule_set *rs, json_t *domains,
                           enum ep_rule_kind form)
{
    size_t i, size = json_array_size(domains);
    json_t *v;
    int err = 0;

    pm->rules = ep_calloc(size + 1, sizeof *pm->rules);
    pm->names = ep_calloc(size + 1, sizeof *pm->names);
    pm->added = json_array();
    pm->covered = json_array();
    pm->refused = json_array();
    if (pm->rules == NULL || pm->names == NULL || pm->added == NULL || pm->covered == NULL ||
        pm->refused == NULL)
        return EP_E_NOMEM;
    json_array_foreach(domains, i, v)
    {
        err = promotion_judge(pm, rs, v, form);
        if (err)
            break;
    }
    return err;
}

/*
 * Fill "added" with the rules written; a rule the store already held (a
 * concurrent promote added it meanwhile) goes to "covered", by itself.
 * @p added says which the store added; NULL: every one was, or would be.
 */
static int promotion_outcome(struct promotion *pm, const bool *added)
{
    char text[EP_RULE_BUFSZ];
    int err;

    for (size_t i = 0; i < pm->n; i++) {
        ep_rule_format(&pm->rules[i], text);
        if (added == NULL || added[i])
            err = json_array_append_new(pm->added, json_string(text));
        else
            err = json_array_append_new(
                pm->covered, json_pack("{s:O, s:s}", "domain", pm->names[i], "rule", text));
        if (err)
            return EP_E_NOMEM;
    }
    return 0;
}

/* The rules of a profile that a replace would remove: those not among the promotion's. */
struct removal {
    const struct promotion *pm;
    json_t *removed; /* [rule text] */
};

static int collect_removed(void *ctx, const struct ep_rule *rule)
{
    struct removal *rm = ctx;
    char text[EP_RULE_BUFSZ];

    for (size_t i = 0; i < rm->pm->n; i++)
        if (ep_rule_equal(&rm->pm->rules[i], rule))
            return 0;
    ep_rule_format(rule, text);
    return json_array_append_new(rm->removed, json_string(text)) == 0 ? 0 : EP_E_NOMEM;
}

/*
 * A dry run's "removed": what a replace of @p profile by @p pm's rules
 * would take away (nothing for an add). Reads, never writes.
 */
static int promotion_removed(struct ep_store *store, const char *profile,
                             const struct promotion *pm, bool replace, json_t **out)
{
    struct removal rm = {pm, json_array()};
    int err = 0;

    if (rm.removed == NULL)
        return EP_E_NOMEM;
    if (replace)
        err = ep_store_rules_list(store, profile, collect_removed, &rm);
    if (err && err != EP_E_NOTFOUND) {
        json_decref(rm.removed);
        return err;
    }
    *out = rm.removed;
    return 0;
}

/*
 * Write @p pm's rules into @p profile: in place of its rules, or beside
 * them; then *@p added (the caller frees it) says which the store added.
 */
static int promotion_write(struct ep_store *store, const char *profile, const struct promotion *pm,
                           bool replace, bool **added)
{
    if (replace)
        return ep_store_rules_replace(store, profile, pm->rules, pm->n);
    if (pm->n == 0)
        return 0;
    *added = ep_calloc(pm->n, sizeof **added);
    if (*added == NULL)
        return EP_E_NOMEM;
    return ep_store_rules_add(store, profile, pm->rules, pm->n, *added);
}

/*
 * POST /api/projects/:id/recorded-domains/promote: turn hosts into rules
 * of a profile (the project's own unless named). Each host is reported as
 * added, already covered (and by which rule), or refused (and why). A host
 * with a port other than 80 and 443, as recorded ("github.com:22"),
 * becomes a rule of that port.
 *
 * Adding is partial by nature: the good hosts are added, the refused ones
 * reported. Replacing is all or nothing: one refused host answers 400 with
 * every reason and changes nothing, and a replace that would leave the
 * profile without a rule needs "allowEmpty": true.
 *
 * "dryRun": true answers the same, 400s included, with "dryRun" and the
 * rules a replace would remove ("removed"), and writes nothing: the review
 * page shows it before a replace, so that what a rule means is decided
 * here and in the policy core alone.
 */
void recorded_handle_promote(struct http_request *r)
{
    struct promote_args a = {.form = "exact"};
    struct ep_rule_set rs = {0};
    struct promotion pm = {0};
    char profile[EP_PROFILE_MAX + 1];
    json_t *removed = NULL, *answer;
    struct ep_project p;
    bool *added = NULL;
    int err;

    if (promote_args_read(r, &a) < 0 || projects_load(r, &p, NULL) < 0)
        return;
    snprintf(profile, sizeof profile, "%s", a.profile ? a.profile : p.profile);
    err = rule_set_collect(r->ctx->store, profile, a.replace, &rs);
    if (err == 0)
        err = promotion_build(&pm, &rs, a.domains, a.kind);
    if (err)
        goto store_error;
    if (a.replace && json_array_size(pm.refused)) {
        http_reply_json(r, 400,
                        json_pack("{s:s, s:s, s:O}", "error", "invalid_domains", "message",
                                  "a replace is all or nothing: some domains cannot become rules, "
                                  "so nothing was changed",
                                  "refused", pm.refused));
        goto out;
    }
    if (a.replace && pm.n == 0 && !a.allow_empty) {
        http_error(r, 400, "empty_replace",
                   "this replace would leave profile \"%s\" with no rules; send "
                   "\"allowEmpty\": true to empty it on purpose",
                   profile);
        goto out;
    }
    if (a.dry_run)
        err = promotion_removed(r->ctx->store, profile, &pm, a.replace, &removed);
    else
        err = promotion_write(r->ctx->store, profile, &pm, a.replace, &added);
    if (err)
        goto store_error;
    if (promotion_outcome(&pm, added) != 0) {
        /* Committed already: say so rather than list a part of it. */
        if (!a.dry_run)
            log_line("promote into %s: committed, but out of memory for the answer", profile);
        err = EP_E_NOMEM;
        goto store_error;
    }
    if (!a.dry_run && (a.replace || json_array_size(pm.added)))
        audit_record(r, a.replace ? "whitelist.replace" : "whitelist.promote", profile,
                     "%zu rules from project %s", json_array_size(pm.added), p.id);
    answer = json_pack("{s:b, s:s, s:s, s:s, s:b, s:O, s:O, s:O}", "success", 1, "projectId", p.id,
                       "profile", profile, "form", a.form, "replaced", a.replace, "added", pm.added,
                       "covered", pm.covered, "refused", pm.refused);
    if (answer && a.dry_run &&
        (json_object_set_new_nocheck(answer, "dryRun", json_true()) != 0 ||
         json_object_set_new_nocheck(answer, "removed", json_incref(removed)) != 0)) {
        json_decref(answer);
        answer = NULL;
    }
    http_reply_json(r, 200, answer);
    goto out;
store_error:
    http_error_store(r, err, "whitelist");
out:
    json_decref(removed);
    free(added);
    promotion_free(&pm);
    ep_rule_set_free(&rs);
}

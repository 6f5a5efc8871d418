/*
 * Rule semantics in one place (see covers.h): which hosts and which rules
 * a rule covers, and the store keys of rules. The positional table itself
 * (ep_covers_kinds, ep_covers_mask) is inline in the header because the
 * decision path reads it per probe.
 */
#include "config.h"

#include <string.h>

#include "policy/covers.h"
#include "policy/error.h"
#include "policy/host.h"
#include "policy/rule_internal.h"
#include "policy/store.h"

enum ep_covers_at ep_covers_where(const char *host, const char *name)
{
    size_t hl = strlen(host), nl = strlen(name);

    if (hl == nl)
        return memcmp(host, name, nl) == 0 ? EP_COVERS_SELF : EP_COVERS_NONE;
    if (hl > nl + 1 && host[hl - nl - 1] == '.' && memcmp(host + hl - nl, name, nl) == 0)
        return EP_COVERS_BELOW;
    return EP_COVERS_NONE;
}

/*
 * Full match of a regex rule against @p host, compiled for this call.
 * Any failure (memory, match limit) is "no match": a whitelist that
 * cannot be evaluated lets nothing through.
 */
static bool regex_covers(const char *pattern, const char *host)
{
    pcre2_general_context *gctx = NULL;
    pcre2_match_context *mctx = NULL;
    pcre2_match_data *md = NULL;
    pcre2_code *code;
    bool matched = false;
    int err;

    code = rule_regex_compile(pattern, &gctx, &err, NULL, 0);
    if (code == NULL)
        return false;
    mctx = pcre2_match_context_create(gctx);
    md = pcre2_match_data_create_from_pattern(code, gctx);
    if (mctx == NULL || md == NULL)
        goto out;
    pcre2_set_match_limit(mctx, RULE_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, RULE_REGEX_DEPTH_LIMIT);
    matched = pcre2_match(code, (PCRE2_SPTR)host, strlen(host), 0, 0, md, mctx) >= 0;
out:
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
    pcre2_code_free(code);
    pcre2_general_context_free(gctx);
    return matched;
}

bool ep_rule_covers(const struct ep_rule *rule, const char *host)
{
    if (rule == NULL || host == NULL || host[0] == '\0')
        return false;
    if (rule->kind & EP_RULE_NAME_KINDS)
        return (ep_covers_kinds(ep_covers_where(host, rule->host)) & rule->kind) != 0;
    switch (rule->kind) {
    case EP_RULE_IP:
        return strcmp(host, rule->host) == 0;
    case EP_RULE_REGEX:
        return regex_covers(rule->host, host);
    default:
        return false;
    }
}

/*
 * A name rule covers the hosts at the positions ep_covers_kinds() gives
 * its kind: its name (SELF) and the names below it (BELOW). @p by covers
 * all of them when it covers the rule's name wherever the rule does, and,
 * if the rule covers names below its own, covers those too: they stand
 * below @p by's name when the rule's name is @p by's name or below it.
 */
bool ep_rule_covers_rule(const struct ep_rule *by, const struct ep_rule *rule)
{
    if (by == NULL || rule == NULL)
        return false;
    if ((by->kind & EP_RULE_NAME_KINDS) && (rule->kind & EP_RULE_NAME_KINDS)) {
        enum ep_covers_at at = ep_covers_where(rule->host, by->host);
        bool self = (ep_covers_kinds(EP_COVERS_SELF) & rule->kind) != 0;
        bool below = (ep_covers_kinds(EP_COVERS_BELOW) & rule->kind) != 0;

        if (at == EP_COVERS_NONE)
            return false;
        if (self && !(ep_covers_kinds(at) & by->kind))
            return false;
        return !below || (ep_covers_kinds(EP_COVERS_BELOW) & by->kind) != 0;
    }
    if (by->kind == EP_RULE_REGEX && rule->kind == EP_RULE_EXACT)
        return ep_rule_covers(by, rule->host);
    return by->kind == rule->kind && strcmp(by->host, rule->host) == 0;
}

size_t ep_rule_key(const struct ep_rule *rule, char *key, uint8_t *bit)
{
    size_t len, max;

    if (!memchr(rule->host, '\0', sizeof rule->host))
        return 0;
    len = strlen(rule->host);
    if (rule->kind & EP_RULE_NAME_KINDS) {
        if (len == 0 || len > EP_HOST_MAX)
            return 0;
        ep_host_reverse(rule->host, key);
    } else if (rule->kind == EP_RULE_IP || rule->kind == EP_RULE_REGEX) {
        max = rule->kind == EP_RULE_IP ? EP_IP_MAX : EP_REGEX_MAX;
        if (len == 0 || len > max)
            return 0;
        key[0] = rule->kind == EP_RULE_IP ? EP_KEY_MARK_IP : EP_KEY_MARK_REGEX;
        memcpy(key + 1, rule->host, len);
        len++;
    } else {
        return 0;
    }
    *bit = (uint8_t)rule->kind;
    return len;
}

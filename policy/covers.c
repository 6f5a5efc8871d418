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

bool ep_rule_covers(const struct ep_rule *rule, const char *host, int port)
{
    if (rule == NULL || host == NULL || host[0] == '\0' || !ep_covers_port(rule->port, port))
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
 * The ports first: a rule without a port covers the web ports, one with a
 * port that port alone, so @p by covers @p rule's ports exactly when both
 * name the same port or both none. Then the hosts: a name rule covers the
 * hosts at the positions ep_covers_kinds() gives its kind: its name (SELF)
 * and the names below it (BELOW). @p by covers all of them when it covers
 * the rule's name wherever the rule does, and, if the rule covers names
 * below its own, covers those too: they stand below @p by's name when the
 * rule's name is @p by's name or below it.
 */
bool ep_rule_covers_rule(const struct ep_rule *by, const struct ep_rule *rule)
{
    if (by == NULL || rule == NULL || by->port != rule->port)
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
        return ep_rule_covers(by, rule->host, rule->port);
    return ep_rule_equal(by, rule);
}

size_t ep_rule_key_port_prefix(int port, char *key)
{
    if (ep_covers_web_port(port) || port < 0 || port > 65535)
        return 0;
    key[0] = EP_KEY_MARK_PORT;
    for (int i = EP_KEY_PORT_DIGITS; i > 0; i--, port /= 10)
        key[i] = (char)('0' + port % 10);
    return EP_KEY_PORT_LEN;
}

/* The longest key of covers.h's layout must hold the longest regex rule's key too. */
_Static_assert(1 + EP_REGEX_MAX <= EP_RULE_KEY_MAX, "a regex key fits in EP_RULE_KEY_MAX");

size_t ep_rule_key(const struct ep_rule *rule, char *key, uint8_t *bit)
{
    size_t len, max, pre = 0;

    if (!memchr(rule->host, '\0', sizeof rule->host))
        return 0;
    if (rule->port != 0) {
        /* Only name and ip: rules take a port, and never a web port's. */
        if (!(rule->kind & (EP_RULE_NAME_KINDS | EP_RULE_IP)))
            return 0;
        pre = ep_rule_key_port_prefix(rule->port, key);
        if (pre == 0)
            return 0;
        key += pre;
    }
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
    return pre + len;
}

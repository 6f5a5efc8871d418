/**
 * @file rule.h
 * @brief Whitelist rules: parse, validate, print and match.
 *
 * | written           | kind               | matches                               |
 * |-------------------|--------------------|---------------------------------------|
 * | api.example.com   | EP_RULE_EXACT      | exactly that host                     |
 * | .example.com      | EP_RULE_SUFFIX     | example.com and every subdomain       |
 * | *.example.com     | EP_RULE_SUBDOMAINS | every subdomain, not example.com      |
 * | ~^[a-z]+\.ex\.com$ | EP_RULE_REGEX     | pcre2, anchored at both ends          |
 * | ip:192.0.2.7      | EP_RULE_IP         | that IP literal (v4 or v6)            |
 *
 * Hosts in rules are normalised as in host.h (so "Bücher.DE" is stored as
 * "xn--bcher-kva.de"). A rule naming a bare public suffix, or a suffix or
 * wildcard rule over one, is refused (libpsl decides).
 *
 * Ports: a rule without a port covers the web ports 80 and 443 only. A
 * name or ip: rule may end in ":PORT" (1..65535) and then covers exactly
 * that port: "github.com:22", ".example.com:8080", "*.example.com:8443",
 * "ip:10.0.0.5:8080", "ip:[2001:db8::1]:22" (an IPv6 address takes its
 * port only inside brackets). ":80" and ":443" are refused (the rule
 * without a port covers them), and so is a port on a regex rule.
 */
#ifndef EP_RULE_H
#define EP_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/host.h"

/** Longest regex rule, '~' excluded. */
#define EP_REGEX_MAX 256
/** Longest port suffix of a rule, ":65535". */
#define EP_RULE_PORT_MAX 6
/**
 * Longest rule text as written, NUL excluded: "*." and the longest host
 * with a port (the longest regex rule, '~' and EP_REGEX_MAX, is shorter).
 */
#define EP_RULE_MAX   (2 + EP_HOST_MAX + EP_RULE_PORT_MAX)
#define EP_RULE_BUFSZ (EP_RULE_MAX + 1)

enum ep_rule_kind {
    EP_RULE_EXACT = 1,
    EP_RULE_SUFFIX = 2,
    EP_RULE_SUBDOMAINS = 4,
    EP_RULE_REGEX = 8,
    EP_RULE_IP = 16,
};

/**
 * A parsed rule. @c host is the canonical host (EXACT, SUFFIX, SUBDOMAINS, IP) or the pattern
 * (REGEX), without the port; @c port is 0 for a rule of the web ports (80 and 443), else the one
 * port the rule names (never 80 or 443; always 0 for REGEX).
 */
struct ep_rule {
    enum ep_rule_kind kind;
    char host[EP_RULE_BUFSZ];
    int port;
};

/**
 * Parse and validate one rule as written by a user.
 * @param text  NUL-terminated rule text; surrounding whitespace is NOT trimmed (it is an error)
 * @param out   receives the rule
 * @param why   if not NULL, receives a sentence naming the problem (for regex
 *              rules, pcre2's message and offset); at most @p whysz bytes
 * @return 0, an EP_E_RULE_* or EP_E_HOST_* code.
 */
int ep_rule_parse(const char *text, struct ep_rule *out, char *why, size_t whysz);

/**
 * Print @p rule in its written form ("*.example.com", "github.com:22",
 * "ip:[2001:db8::1]:22") into @p out (EP_RULE_BUFSZ bytes).
 */
void ep_rule_format(const struct ep_rule *rule, char *out);

/**
 * The one order of rules: by kind, then host (or pattern), then port.
 * 0 exactly when @p a and @p b are the same rule (ep_rule_equal()):
 * "github.com" and "github.com:22" are two rules, and so are
 * "example.com" and ".example.com".
 */
int ep_rule_compare(const struct ep_rule *a, const struct ep_rule *b);

/** Are @p a and @p b the same rule: the same kind, host (or pattern) and port? */
bool ep_rule_equal(const struct ep_rule *a, const struct ep_rule *b);

/**
 * The rule that promoting recorded host @p recorded in form @p form makes.
 * @param recorded, len  a host as a seen record keys it or a user writes
 *                       one ("github.com", "Github.com:22",
 *                       "[2001:db8::1]:22"; need not be NUL-terminated)
 * @param form   EP_RULE_EXACT, EP_RULE_SUFFIX or EP_RULE_SUBDOMAINS
 * @param out    receives the rule: of the port @p recorded names
 *               ("github.com:22", ".example.com:8080"), or of the web
 *               ports when it names none, 80 or 443; an IP address makes
 *               an ip: rule ("ip:[2001:db8::1]:22"), in the exact form only
 * @param why    if not NULL, receives a sentence naming the problem (a URL
 *               instead of a host, an address in another form than exact,
 *               what ep_host_normalize() or ep_rule_parse() refuses); at
 *               most @p whysz bytes
 * @return 0, EP_E_NOMEM, or the EP_E_RULE_* or EP_E_HOST_* code of the refusal.
 */
int ep_rule_promoted(const char *recorded, size_t len, enum ep_rule_kind form, struct ep_rule *out,
                     char *why, size_t whysz);

/**
 * A profile name: 1..EP_PROFILE_MAX characters of [a-z0-9_-], starting
 * with a letter or digit. 0 or EP_E_INVAL.
 */
#define EP_PROFILE_MAX 64
int ep_profile_validate(const char *name);
/** The reserved profile holding the base domains (always allowed; never a project's). */
#define EP_PROFILE_BASE "@base"
/** The profile of a project created without naming one. */
#define EP_PROFILE_DEFAULT "default"

#endif

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
 */
#ifndef EP_RULE_H
#define EP_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/host.h"

/** Longest regex rule, '~' excluded. */
#define EP_REGEX_MAX 256
/** Longest rule text as written, NUL excluded. */
#define EP_RULE_MAX   (EP_REGEX_MAX + 1)
#define EP_RULE_BUFSZ (EP_RULE_MAX + 1)

enum ep_rule_kind {
    EP_RULE_EXACT = 1,
    EP_RULE_SUFFIX = 2,
    EP_RULE_SUBDOMAINS = 4,
    EP_RULE_REGEX = 8,
    EP_RULE_IP = 16,
};

/** A parsed rule. @c host is the canonical host (EXACT, SUFFIX, SUBDOMAINS, IP) or the pattern
 * (REGEX). */
struct ep_rule {
    enum ep_rule_kind kind;
    char host[EP_RULE_BUFSZ];
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

/** Print @p rule in its written form ("*.example.com") into @p out (EP_RULE_BUFSZ bytes). */
void ep_rule_format(const struct ep_rule *rule, char *out);

/**
 * A profile name: 1..EP_PROFILE_MAX characters of [a-z0-9_-], starting
 * with a letter or digit. 0 or EP_E_INVAL.
 */
#define EP_PROFILE_MAX 64
int ep_profile_validate(const char *name);

#endif

/**
 * @file covers.h
 * @brief The one home of rule semantics: which hosts a rule covers, which
 * rules another rule covers, and how a rule is keyed in the store.
 *
 * A rule of a name kind (EP_RULE_NAME_KINDS) covers a host by where the
 * host stands relative to the rule's name: the name itself
 * (EP_COVERS_SELF) or a strict subdomain of it (EP_COVERS_BELOW).
 * ep_covers_kinds() is the table of which kinds cover each position; the
 * store's matcher (keys of one name hold a mask of kinds), the reference
 * matcher ep_rule_covers() and the promotion's "already covered" check
 * ep_rule_covers_rule() all read it, so a new name kind is one change
 * here. ip: rules cover their own address, regex rules what they match in
 * full.
 *
 * Ports: a request goes to a host and a port (0 when the caller does not
 * know it, which counts as a web port). A rule without a port covers the
 * web ports 80 and 443 (and 0); a rule with a port covers that port alone
 * (ep_covers_port()). So a rule covers another only when both name the
 * same port, or both none.
 *
 * Keys in the store's `rules` table, after the profile and its NUL: a
 * name rule's key is its reversed host ("com.example.www"), one key per
 * name for all name kinds, its value the mask of kinds set on it; an ip:
 * rule's key is EP_KEY_MARK_IP and the address; a regex rule's key is
 * EP_KEY_MARK_REGEX and the pattern. A rule with a port is keyed by
 * EP_KEY_MARK_PORT, the port in EP_KEY_PORT_DIGITS decimal digits, then
 * the key the same rule has without its port (":00022com.github",
 * ":08080#10.0.0.5"): the rules of one port form a range of their own
 * within the profile, laid out as the web ports' rules are, so the
 * decision walks it the same way under a longer prefix. The keys of rules
 * without a port are those of the stores written before ports existed.
 * No reversed host starts with any marker, and EP_KEY_MARK_REGEX sorts
 * after every other key of a profile, so its regex rules come last.
 */
#ifndef EP_COVERS_H
#define EP_COVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/rule.h"

/** First byte of the key of an ip: rule (after the profile). */
#define EP_KEY_MARK_IP '#'
/** First byte of the key of a regex rule (after the profile); sorts last. */
#define EP_KEY_MARK_REGEX '~'
/** First byte of the key of a rule with a port (after the profile). */
#define EP_KEY_MARK_PORT ':'
/** Digits of the port in the key of a rule with a port (leading zeros: keys sort by port). */
#define EP_KEY_PORT_DIGITS 5
/** The marker and the port that begin the key of a rule with a port. */
#define EP_KEY_PORT_LEN (1 + EP_KEY_PORT_DIGITS)
/**
 * Longest key of a rule after the profile, NUL excluded: a name rule with
 * a port (a regex rule's, 1 + EP_REGEX_MAX, is shorter).
 */
#define EP_RULE_KEY_MAX (EP_KEY_PORT_LEN + EP_HOST_MAX)

/** The kinds keyed by their reversed host name and matched by position. */
#define EP_RULE_NAME_KINDS (EP_RULE_EXACT | EP_RULE_SUFFIX | EP_RULE_SUBDOMAINS)

/** Every rule kind (a mask of EP_RULE_*). */
#define EP_RULE_KINDS (EP_RULE_NAME_KINDS | EP_RULE_IP | EP_RULE_REGEX)

/** Where a host stands relative to a rule's name. */
enum ep_covers_at {
    EP_COVERS_NONE = 0, /**< unrelated (or not below it at a label boundary) */
    EP_COVERS_SELF,     /**< the host is the name */
    EP_COVERS_BELOW,    /**< the host is a strict subdomain of the name */
};

/** The name kinds whose rules cover a host at @p at (a mask of EP_RULE_*). */
static inline unsigned ep_covers_kinds(enum ep_covers_at at)
{
    switch (at) {
    case EP_COVERS_SELF:
        return EP_RULE_EXACT | EP_RULE_SUFFIX;
    case EP_COVERS_BELOW:
        return EP_RULE_SUFFIX | EP_RULE_SUBDOMAINS;
    case EP_COVERS_NONE:
        break;
    }
    return 0;
}

/**
 * The kind, among the name kinds set in @p mask, that covers a host at
 * @p at, the narrowest first (exact, then "*.", then "."); 0 when none.
 * This is what a decision reports as the matching rule.
 */
static inline enum ep_rule_kind ep_covers_mask(unsigned mask, enum ep_covers_at at)
{
    static const enum ep_rule_kind narrowest_first[] = {EP_RULE_EXACT, EP_RULE_SUBDOMAINS,
                                                        EP_RULE_SUFFIX};

    mask &= ep_covers_kinds(at);
    for (size_t i = 0; mask && i < sizeof narrowest_first / sizeof narrowest_first[0]; i++)
        if (mask & narrowest_first[i])
            return narrowest_first[i];
    return 0;
}

/** Is @p port (0: unknown) one of the web ports, those a rule without a port covers? */
static inline bool ep_covers_web_port(int port)
{
    return port == 0 || port == 80 || port == 443;
}

/** Does a rule naming port @p rule_port (0: none) cover a request to port @p port? */
static inline bool ep_covers_port(int rule_port, int port)
{
    return rule_port == 0 ? ep_covers_web_port(port) : rule_port == port;
}

/** Where canonical @p host stands relative to canonical name @p name. */
enum ep_covers_at ep_covers_where(const char *host, const char *name);

/**
 * Does @p rule cover a request to canonical @p host on port @p port (0:
 * unknown, a web port)? The reference semantics. Regex rules are compiled
 * on every call (not for the hot path) and any failure to evaluate one is
 * "no".
 */
bool ep_rule_covers(const struct ep_rule *rule, const char *host, int port);

/**
 * Does @p by cover every request @p rule covers, so that adding @p rule
 * would allow nothing new? Both must name the same port (or none); then
 * name rules by position (".example.com" covers "*.www.example.com" and
 * "example.com"; "*.example.com" covers "*.example.com" and
 * "www.example.com" but not "example.com"; ".example.com:22" covers
 * "www.example.com:22" but ".example.com" does not); an ip: rule covers
 * only itself; a regex rule covers an exact rule without a port whose host
 * it matches, and a regex rule only itself.
 */
bool ep_rule_covers_rule(const struct ep_rule *by, const struct ep_rule *rule);

/**
 * The store key of @p rule after the profile's prefix, written to @p key
 * (EP_RULE_KEY_MAX + 1 bytes; the length counts no NUL): the reversed host
 * of a name rule, a marker and the text otherwise, after the port's prefix
 * for a rule with a port. Returns its length, 0 for a malformed rule (a
 * port on a regex rule, or a port of 80, 443 or out of range included);
 * *@p bit receives the kind's bit in the key's mask.
 */
size_t ep_rule_key(const struct ep_rule *rule, char *key, uint8_t *bit);

/**
 * Write the beginning of the keys of rules naming port @p port to @p key:
 * EP_KEY_MARK_PORT and the port's digits. Returns EP_KEY_PORT_LEN, or 0
 * (and writes nothing) for a web port, whose rules' keys have no such
 * beginning, or a port out of range.
 */
size_t ep_rule_key_port_prefix(int port, char *key);

/**
 * The port of a store key of @p len bytes into *@p port (0 for a key
 * without one); returns how many bytes its port's prefix takes (0 or
 * EP_KEY_PORT_LEN).
 */
static inline size_t ep_rule_key_port(const char *key, size_t len, int *port)
{
    int value = 0;

    *port = 0;
    if (len <= EP_KEY_PORT_LEN || key[0] != EP_KEY_MARK_PORT)
        return 0;
    for (size_t i = 1; i < EP_KEY_PORT_LEN; i++) {
        if (key[i] < '0' || key[i] > '9')
            return 0;
        value = value * 10 + (key[i] - '0');
    }
    *port = value;
    return EP_KEY_PORT_LEN;
}

/**
 * The kinds a store key of @p len bytes can hold: EP_RULE_NAME_KINDS for a
 * reversed host, EP_RULE_IP or EP_RULE_REGEX after their marker; for the
 * key of a rule with a port, those of the key after its port's prefix.
 */
static inline unsigned ep_rule_key_kinds(const char *key, size_t len)
{
    int port;
    size_t skip = ep_rule_key_port(key, len, &port);

    key += skip;
    len -= skip;
    if (len > 0 && key[0] == EP_KEY_MARK_IP)
        return EP_RULE_IP;
    if (len > 0 && key[0] == EP_KEY_MARK_REGEX)
        return EP_RULE_REGEX;
    return EP_RULE_NAME_KINDS;
}

#endif

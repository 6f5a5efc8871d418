/*
 * Whitelist rules as users write them: parsing with a reason for every
 * refusal, the printed form, the one order and identity of rules, and the
 * rule a promotion makes of a recorded host (what a rule covers is in
 * covers.c).
 *
 * A rule ends up in LMDB and in API answers, and the reference system let
 * a rule with a newline be spliced into squid.conf; so the parser refuses
 * anything that is not exactly one host pattern, and says why in a
 * sentence naming the rule.
 */
#include "config.h"

#include <arpa/inet.h>
#include <libpsl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/covers.h"
#include "policy/error.h"
#include "policy/rule.h"
#include "policy/rule_internal.h"

/* pcre2 allocates through these, so ep_alloc_fail_after() reaches regex compilation too. */
static void *pcre2_ep_malloc(size_t size, void *data)
{
    return ep_malloc(size);
}

static void pcre2_ep_free(void *p, void *data)
{
    ep_free(p);
}

pcre2_code *rule_regex_compile(const char *pattern, pcre2_general_context **gctx, int *err,
                               char *why, size_t whysz)
{
    pcre2_compile_context *cctx = NULL;
    pcre2_code *code = NULL;
    int errcode = 0;
    PCRE2_SIZE erroffset = 0;

    *err = 0;
    *gctx = pcre2_general_context_create(pcre2_ep_malloc, pcre2_ep_free, NULL);
    if (*gctx == NULL) {
        *err = ep_why(EP_E_NOMEM, why, whysz, "out of memory compiling the regular expression");
        goto out;
    }
    cctx = pcre2_compile_context_create(*gctx);
    if (cctx == NULL) {
        *err = ep_why(EP_E_NOMEM, why, whysz, "out of memory compiling the regular expression");
        goto out;
    }
    code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                         PCRE2_ANCHORED | PCRE2_ENDANCHORED, &errcode, &erroffset, cctx);
    if (code == NULL) {
        PCRE2_UCHAR msg[160];

        if (errcode == PCRE2_ERROR_HEAP_FAILED) {
            *err = ep_why(EP_E_NOMEM, why, whysz, "out of memory compiling the regular expression");
            goto out;
        }
        if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "pcre2 error %d", errcode);
        *err = ep_why(EP_E_RULE_REGEX, why, whysz,
                      "the regular expression \"%s\" does not compile: %s at offset %zu", pattern,
                      (const char *)msg, (size_t)erroffset);
    }
out:
    pcre2_compile_context_free(cctx);
    if (code == NULL) {
        pcre2_general_context_free(*gctx);
        *gctx = NULL;
    }
    return code;
}

/*
 * Does @p pattern read as a regex with a port after it ("^git\.example\.com$:22"):
 * one ':' and only digits after it? A pattern for IPv6 literals has two
 * colons or more, and a name never holds one.
 */
static bool regex_has_port(const char *pattern)
{
    const char *colon = strchr(pattern, ':');

    return colon != NULL && strchr(colon + 1, ':') == NULL && colon[1] != '\0' &&
           strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

/* "~pattern": length cap, ASCII only (hosts are canonical ASCII), no port, must compile. */
static int parse_regex(const char *pattern, struct ep_rule *out, char *why, size_t whysz)
{
    pcre2_general_context *gctx = NULL;
    size_t len = strlen(pattern);
    int err;

    if (len == 0)
        return ep_why(EP_E_RULE_REGEX, why, whysz,
                      "the rule \"~\" has no regular expression after the '~'");
    if (regex_has_port(pattern))
        return ep_why(EP_E_RULE_PORT, why, whysz,
                      "\"~%s\": a regex rule takes no port (it covers the web ports 80 and 443 "
                      "only); for another port write a name rule with the port, such as "
                      "example.com:22",
                      pattern);
    if (len > EP_REGEX_MAX)
        return ep_why(EP_E_RULE_REGEX_LONG, why, whysz,
                      "the regular expression is %zu characters long; the limit is %d", len,
                      EP_REGEX_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)pattern[i] >= 0x80)
            return ep_why(EP_E_RULE_REGEX, why, whysz,
                          "the regular expression has a non-ASCII character at position %zu; "
                          "hosts are matched in their ASCII (punycode, \"xn--\") form",
                          i + 1);
    pcre2_code *code = rule_regex_compile(pattern, &gctx, &err, why, whysz);
    if (code == NULL)
        return err;
    pcre2_code_free(code);
    pcre2_general_context_free(gctx);
    out->kind = EP_RULE_REGEX;
    memcpy(out->host, pattern, len + 1);
    return 0;
}

/*
 * The port after a rule's ':' (@p p), for the rule written @p text:
 * digits only, 1..65535, and not a web port (80 and 443 are what the rule
 * without a port covers).
 */
static int parse_rule_port(const char *text, const char *p, int *port, char *why, size_t whysz)
{
    size_t len = strlen(p);
    long value = 0;

    if (len == 0)
        return ep_why(EP_E_RULE_PORT, why, whysz,
                      "\"%s\" names no port after its ':'; write the port (1 to 65535) or remove "
                      "the ':'",
                      text);
    if (strspn(p, "0123456789") != len)
        return ep_why(EP_E_RULE_PORT, why, whysz,
                      "\"%s\": the port \"%s\" is not a number; write the port in digits, 1 to "
                      "65535",
                      text, p);
    for (size_t i = 0; i < len && value <= 65535; i++)
        value = value * 10 + (p[i] - '0');
    if (value < 1 || value > 65535)
        return ep_why(EP_E_RULE_PORT, why, whysz, "\"%s\": %s is not a port; ports are 1 to 65535",
                      text, p);
    if (ep_covers_web_port((int)value))
        return ep_why(EP_E_RULE_PORT, why, whysz,
                      "\"%s\": a rule without a port already covers the web ports 80 and 443; "
                      "remove \":%s\"",
                      text, p);
    *port = (int)value;
    return 0;
}

/*
 * "ip:ADDRESS", "ip:IPV4:PORT" or "ip:[IPV6]:PORT": one IPv4 or IPv6
 * address (brackets allowed around IPv6, needed before a port), stored in
 * inet_ntop()'s form so it compares equal to a normalised host. An IPv6
 * address without brackets is read whole: "ip:2001:db8::1:22" is the
 * address 2001:db8::1:22.
 */
static int parse_ip(const char *text, struct ep_rule *out, char *why, size_t whysz)
{
    const char *value = text + 3, *port = NULL, *colon;
    char addrtext[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(value);
    unsigned char addr[sizeof(struct in6_addr)];
    int rc;

    if (len == 0)
        return ep_why(EP_E_RULE_IP, why, whysz, "the rule \"ip:\" names no address");
    if (strchr(value, '/') != NULL)
        return ep_why(EP_E_RULE_IP, why, whysz,
                      "\"%s\": address ranges (CIDR) are not supported; write one address per "
                      "rule",
                      text);
    colon = strchr(value, ':');
    if (value[0] == '[') {
        const char *close = strchr(value, ']');

        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return ep_why(EP_E_RULE_IP, why, whysz,
                          "\"%s\": write an IPv6 address with a port as ip:[ADDRESS]:PORT", text);
        if (close[1] == ':')
            port = close + 2;
        value++;
        len = (size_t)(close - value);
    } else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        port = colon + 1;
        len = (size_t)(colon - value);
    }
    if (len >= sizeof addrtext)
        return ep_why(EP_E_RULE_IP, why, whysz, "\"%.60s...\" is not an IP address", text);
    memcpy(addrtext, value, len);
    addrtext[len] = '\0';
    if (inet_pton(AF_INET, addrtext, addr) == 1) {
        inet_ntop(AF_INET, addr, out->host, sizeof out->host);
    } else if (inet_pton(AF_INET6, addrtext, addr) == 1) {
        inet_ntop(AF_INET6, addr, out->host, sizeof out->host);
    } else {
        return ep_why(EP_E_RULE_IP, why, whysz,
                      "\"%s\": \"%s\" is not an IPv4 address (four numbers 0-255, no leading "
                      "zeros) or an IPv6 address",
                      text, addrtext);
    }
    if (port != NULL && (rc = parse_rule_port(text, port, &out->port, why, whysz)) != 0)
        return rc;
    out->kind = EP_RULE_IP;
    return 0;
}

/* Describe the first control or whitespace character of @p text, if any. */
static int check_chars(const char *text, char *why, size_t whysz)
{
    for (size_t i = 0; text[i] != '\0'; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c == '\n' || c == '\r')
            return ep_why(EP_E_HOST_CHAR, why, whysz,
                          "the rule contains a line break at position %zu; write one rule per "
                          "entry",
                          i + 1);
        if (c == ' ' || c == '\t')
            return ep_why(EP_E_HOST_CHAR, why, whysz,
                          "the rule contains whitespace at position %zu; rules have no spaces, "
                          "leading or trailing ones included",
                          i + 1);
        if (c < 0x20 || c == 0x7f)
            return ep_why(EP_E_HOST_CHAR, why, whysz,
                          "the rule contains the control character 0x%02x at position %zu", c,
                          i + 1);
    }
    return 0;
}

/* True if @p s (@p len bytes) is only digits and dots: an IP address someone meant to allow. */
static bool looks_numeric(const char *s, size_t len)
{
    bool digit = false;

    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digit = true;
        else if (s[i] != '.')
            return false;
    }
    return digit;
}

/*
 * A host rule, with or without a port. The shape is checked first
 * (scheme, path, port, '*', characters ep_host_normalize() would only
 * call "bad"), so the reason given is the one the user needs; then the
 * host is normalised; then libpsl decides whether it covers a public
 * suffix. A suffix or subdomain rule over any public suffix, ICANN or
 * private (".com", "*.co.uk", ".github.io"), would let in hosts of
 * unrelated owners and is refused. An exact rule is refused only for an
 * ICANN suffix ("com", "co.uk"), which is no one's host; private suffixes
 * such as github.io or s3.amazonaws.com are also real hosts people need to
 * reach, and an exact rule reaches only that one host.
 */
static int parse_host_rule(const char *text, struct ep_rule *out, char *why, size_t whysz)
{
    enum ep_rule_kind kind = EP_RULE_EXACT;
    enum ep_host_kind hkind;
    const char *rest = text;
    const char *colon;
    size_t len = strlen(text);
    int port, rc;

    if (strstr(text, "://") != NULL)
        return ep_why(EP_E_RULE_SCHEME, why, whysz,
                      "\"%s\" is a URL: a rule names only the host, without \"http://\" or "
                      "\"https://\"",
                      text);
    if (strpbrk(text, "/?#\\") != NULL)
        return ep_why(EP_E_RULE_PATH, why, whysz,
                      "\"%s\" has a path, query or fragment: a rule names only the host", text);
    if (strchr(text, '@') != NULL)
        return ep_why(EP_E_HOST_CHAR, why, whysz,
                      "\"%s\" contains '@': a rule names only the host, without a user name", text);
    if (strchr(text, '%') != NULL)
        return ep_why(EP_E_HOST_CHAR, why, whysz,
                      "\"%s\" contains '%%': write the host itself, not percent-escapes", text);
    if (strpbrk(text, "[]") != NULL)
        return ep_why(EP_E_RULE_IP, why, whysz,
                      "\"%s\": write an IPv6 address as ip:ADDRESS (ip:[ADDRESS]:PORT with a "
                      "port)",
                      text);
    colon = strchr(text, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
        unsigned char addr[sizeof(struct in6_addr)];

        if (inet_pton(AF_INET6, text, addr) == 1)
            return ep_why(EP_E_RULE_IP, why, whysz, "\"%s\" is an IP address: write it as ip:%s",
                          text, text);
        return ep_why(EP_E_RULE_PORT, why, whysz,
                      "\"%s\" has more than one ':'; a rule names one host and at most one port, "
                      "as in example.com:22",
                      text);
    }
    if (colon != NULL) {
        rc = parse_rule_port(text, colon + 1, &out->port, why, whysz);
        if (rc != 0)
            return rc;
        len = (size_t)(colon - text);
    }
    if (strncmp(text, "*.", 2) == 0) {
        kind = EP_RULE_SUBDOMAINS;
        rest = text + 2;
    } else if (text[0] == '.') {
        kind = EP_RULE_SUFFIX;
        rest = text + 1;
    }
    len -= (size_t)(rest - text); /* the colon, if any, comes after the "*." or "." */
    if (memchr(rest, '*', len) != NULL)
        return ep_why(EP_E_RULE_WILDCARD, why, whysz,
                      "\"%s\": '*' is allowed only as a leading \"*.\", as in *.example.com", text);
    if (len == 0)
        return ep_why(EP_E_HOST_EMPTY, why, whysz, "\"%s\" names no host", text);
    if (looks_numeric(rest, len))
        return ep_why(EP_E_RULE_IP, why, whysz,
                      "\"%s\" is an IP address: write it as ip:ADDRESS, for one address only",
                      text);

    rc = ep_host_normalize(rest, len, out->host, &port, &hkind);
    if (rc != 0)
        return ep_why(rc, why, whysz, "\"%s\": %s", text, ep_strerror(rc));
    if (hkind != EP_HOST_NAME)
        return ep_why(EP_E_RULE_IP, why, whysz, "\"%s\" is an IP address: write it as ip:%s", text,
                      out->host);

    /* Without the list we cannot tell ".com" from ".example.com": refuse rather than guess. */
    const psl_ctx_t *psl = psl_builtin();
    if (psl == NULL)
        return ep_why(EP_E_RULE_PUBLIC_SUFFIX, why, whysz,
                      "\"%s\": libpsl has no built-in public suffix list to check it against",
                      text);
    /* A rule that covers the names below its own (covers.h) must not stand on a suffix. */
    bool below = (ep_covers_kinds(EP_COVERS_BELOW) & kind) != 0;
    if (!below && psl_is_public_suffix2(psl, out->host, PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE))
        return ep_why(EP_E_RULE_PUBLIC_SUFFIX, why, whysz,
                      "\"%s\" is a public suffix (a top-level or shared domain), not a host", text);
    if (below && psl_is_public_suffix2(psl, out->host, PSL_TYPE_ANY))
        return ep_why(EP_E_RULE_PUBLIC_SUFFIX, why, whysz,
                      "\"%s\" would allow every site under the public suffix \"%s\", whoever "
                      "owns it; name the site's own domain instead",
                      text, out->host);
    out->kind = kind;
    return 0;
}

int ep_rule_parse(const char *text, struct ep_rule *out, char *why, size_t whysz)
{
    int rc;

    if (why != NULL && whysz > 0)
        why[0] = '\0';
    if (out == NULL)
        return ep_why(EP_E_INVAL, why, whysz, "no rule given");
    memset(out, 0, sizeof *out);
    if (text == NULL || text[0] == '\0')
        return ep_why(EP_E_HOST_EMPTY, why, whysz, "the rule is empty");
    rc = check_chars(text, why, whysz);
    if (rc != 0)
        return rc;
    if (text[0] == '~')
        rc = parse_regex(text + 1, out, why, whysz);
    else if (strncasecmp(text, "ip:", 3) == 0)
        rc = parse_ip(text, out, why, whysz);
    else
        rc = parse_host_rule(text, out, why, whysz);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

void ep_rule_format(const struct ep_rule *rule, char *out)
{
    const char *prefix = "";
    char port[EP_RULE_PORT_MAX + 1] = "";
    bool brackets = false;

    switch (rule->kind) {
    case EP_RULE_SUFFIX:
        prefix = ".";
        break;
    case EP_RULE_SUBDOMAINS:
        prefix = "*.";
        break;
    case EP_RULE_REGEX:
        prefix = "~";
        break;
    case EP_RULE_IP:
        prefix = "ip:";
        /*
         * An IPv6 address takes its port inside brackets: ip:[2001:db8::1]:22.
         * Only the text is looked at: what follows its NUL may be anything.
         */
        brackets = rule->port != 0 &&
                   memchr(rule->host, ':', strnlen(rule->host, sizeof rule->host)) != NULL;
        break;
    case EP_RULE_EXACT:
        break;
    }
    if (rule->port > 0 && rule->port <= 65535)
        snprintf(port, sizeof port, ":%d", rule->port);
    /* A parsed rule always fits; the bound only keeps a hand-made one from overflowing. */
    snprintf(out, EP_RULE_BUFSZ, "%s%s%.*s%s%s", prefix, brackets ? "[" : "",
             (int)strnlen(rule->host, sizeof rule->host), rule->host, brackets ? "]" : "", port);
}

int ep_rule_compare(const struct ep_rule *a, const struct ep_rule *b)
{
    int c;

    if (a->kind != b->kind)
        return (int)a->kind - (int)b->kind;
    c = strcmp(a->host, b->host);
    return c ? c : a->port - b->port;
}

bool ep_rule_equal(const struct ep_rule *a, const struct ep_rule *b)
{
    return ep_rule_compare(a, b) == 0;
}

/*
 * The recorded host normalised (its port apart), the rule of the form
 * asked for on it (an ip: rule for an address; no port for a web port,
 * which the rule without a port covers), printed by ep_rule_format() and
 * parsed back, so the rule is refused exactly as the same rule written by
 * a user would be (a public suffix, say) and the sentence names it.
 */
int ep_rule_promoted(const char *recorded, size_t len, enum ep_rule_kind form, struct ep_rule *out,
                     char *why, size_t whysz)
{
    char text[EP_RULE_BUFSZ];
    struct ep_rule made;
    enum ep_host_kind kind;
    int rc, port;

    if (why != NULL && whysz > 0)
        why[0] = '\0';
    memset(out, 0, sizeof *out);
    if (form != EP_RULE_EXACT && form != EP_RULE_SUFFIX && form != EP_RULE_SUBDOMAINS)
        return ep_why(EP_E_INVAL, why, whysz,
                      "a promotion makes an exact, suffix or subdomains rule");
    /* A pasted URL would otherwise be refused for its "port" ("http:" + "//host/"). */
    if (memmem(recorded, strnlen(recorded, len), "://", 3) != NULL)
        return ep_why(EP_E_RULE_SCHEME, why, whysz,
                      "a URL, not a host: promote the host alone, without the scheme "
                      "(\"https://\") or a path");
    memset(&made, 0, sizeof made);
    rc = ep_host_normalize(recorded, len, made.host, &port, &kind);
    if (rc)
        return ep_why(rc, why, whysz, "%s", ep_strerror(rc));
    if (kind != EP_HOST_NAME && form != EP_RULE_EXACT)
        return ep_why(EP_E_RULE_IP, why, whysz,
                      "an IP address can only be promoted in the exact form");
    made.kind = kind == EP_HOST_NAME ? form : EP_RULE_IP;
    made.port = ep_covers_web_port(port) ? 0 : port;
    ep_rule_format(&made, text);
    return ep_rule_parse(text, out, why, whysz);
}

int ep_profile_validate(const char *name)
{
    size_t len;

    if (name == NULL)
        return EP_E_INVAL;
    len = strlen(name);
    if (len == 0 || len > EP_PROFILE_MAX)
        return EP_E_INVAL;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '-' && c != '_')))
            return EP_E_INVAL;
    }
    return 0;
}

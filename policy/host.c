/*
 * Host normalisation: every host the policy core looks up, records or
 * stores in a rule goes through ep_host_normalize() first, so that one
 * canonical spelling (host.h) stands for all the ways a request can write
 * the same host.
 *
 * The ICAP module calls this once per request, so the ASCII path works in
 * the caller's buffer and a few stack buffers and never allocates. Only a
 * label that is not plain ASCII (or an "xn--" label, which must be checked
 * as IDNA) goes through libidn2, which allocates its result.
 */
#include "config.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy/error.h"
#include "policy/host.h"
#include "policy/percent.h"

/*
 * The longest raw host text accepted before decoding. A UTF-8 host never
 * needs more than four bytes per character of its punycode form, so
 * anything longer cannot normalise to EP_HOST_MAX characters.
 */
#define HOST_RAW_MAX (4 * EP_HOST_BUFSZ)

static bool is_ascii_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/*
 * Parse the port text after a ':' (not NUL-terminated). Only decimal
 * digits, at most five of them, with a value of 1..65535.
 */
static int parse_port(const char *p, size_t len, int *port)
{
    long value = 0;

    if (len == 0 || len > 5)
        return EP_E_HOST_PORT;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return EP_E_HOST_PORT;
        value = value * 10 + (p[i] - '0');
    }
    if (value < 1 || value > 65535)
        return EP_E_HOST_PORT;
    *port = (int)value;
    return 0;
}

/* Map a libidn2 error to ours: only a failed allocation is not the input's fault. */
static int idn2_error(int rc)
{
    switch (rc) {
    case IDN2_MALLOC:
        return EP_E_NOMEM;
    case IDN2_TOO_BIG_LABEL:
    case IDN2_PUNYCODE_BIG_OUTPUT:
        return EP_E_HOST_LABEL;
    case IDN2_TOO_BIG_DOMAIN:
        return EP_E_HOST_TOO_LONG;
    default:
        return EP_E_HOST_IDN;
    }
}

/*
 * Convert one label (NUL-terminated UTF-8, ASCII already lowercased) to
 * its ASCII form with libidn2 and append it to @p out at *@p n. UTS #46
 * non-transitional processing comes first (it keeps 'ß' distinct and maps
 * upper case); if it refuses the label we retry with transitional
 * processing, as curl does, so that names IDNA 2003 accepted (emoji
 * domains) still resolve to what browsers reach. A result that is not a
 * host (UTS #46 maps U+FF0F to '/') is caught by the caller's validation.
 */
static int idn_label(const char *label, char *out, size_t *n)
{
    char *ascii = NULL;
    int rc, ret = 0;

    rc = idn2_lookup_u8((const uint8_t *)label, (uint8_t **)&ascii,
                        IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK && rc != IDN2_MALLOC) {
        int first = rc;

        rc = idn2_lookup_u8((const uint8_t *)label, (uint8_t **)&ascii,
                            IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
        if (rc != IDN2_OK && rc != IDN2_MALLOC)
            rc = first;
    }
    if (rc != IDN2_OK) {
        ret = idn2_error(rc);
        goto out;
    }
    size_t alen = strlen(ascii);
    if (*n + alen > EP_HOST_MAX) {
        ret = EP_E_HOST_TOO_LONG;
        goto out;
    }
    memcpy(out + *n, ascii, alen);
    *n += alen;
out:
    idn2_free(ascii);
    return ret;
}

/*
 * Check a host of @p n characters that should be canonical ASCII:
 * characters, label lengths, hyphen-edged labels, total length.
 */
static int validate_ascii(const char *host, size_t n)
{
    size_t label_start = 0;

    if (n > EP_HOST_MAX)
        return EP_E_HOST_TOO_LONG;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && host[i] != '.') {
            unsigned char c = (unsigned char)host[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
                return EP_E_HOST_CHAR;
            continue;
        }
        size_t label_len = i - label_start;
        if (label_len == 0 || label_len > 63)
            return EP_E_HOST_LABEL;
        if (host[label_start] == '-' || host[i - 1] == '-')
            return EP_E_HOST_LABEL;
        label_start = i + 1;
    }
    return 0;
}

/*
 * Numeric hosts. A host whose last label is a number (decimal or 0x hex)
 * is an IPv4 address to every URL parser (WHATWG: "ends in a number"), and
 * "2130706433" or "127.1" reach 127.0.0.1. We keep only the one spelling
 * that is unambiguous, the dotted quad without leading zeros, and refuse
 * the rest rather than let one address hide behind several names. No
 * top-level domain is numeric, so no real name is lost.
 */
static int classify_numeric(const char *host, size_t n, enum ep_host_kind *kind)
{
    const char *last = memrchr(host, '.', n);
    size_t start = last ? (size_t)(last - host) + 1 : 0;
    bool numeric = true;

    *kind = EP_HOST_NAME;
    if (n - start >= 2 && host[start] == '0' && host[start + 1] == 'x')
        return EP_E_HOST_LABEL;
    for (size_t i = start; i < n; i++)
        if (host[i] < '0' || host[i] > '9')
            numeric = false;
    if (!numeric)
        return 0;

    struct in_addr addr;
    char quad[INET_ADDRSTRLEN];
    if (n >= sizeof quad)
        return EP_E_HOST_LABEL;
    memcpy(quad, host, n);
    quad[n] = '\0';
    /* glibc's inet_pton takes exactly four decimal parts and refuses leading zeros. */
    if (inet_pton(AF_INET, quad, &addr) != 1)
        return EP_E_HOST_LABEL;
    *kind = EP_HOST_IPV4;
    return 0;
}

/*
 * Write the IPv6 literal @p in (@p len bytes, no brackets) in the
 * compressed form of inet_ntop(). Zone identifiers are refused: they name
 * an interface of the sender and mean nothing to a proxy.
 */
static int ipv6_literal(const char *in, size_t len, char *out)
{
    char text[INET6_ADDRSTRLEN];
    struct in6_addr addr;

    if (len == 0 || len >= sizeof text)
        return EP_E_HOST_BRACKET;
    memcpy(text, in, len);
    text[len] = '\0';
    if (inet_pton(AF_INET6, text, &addr) != 1)
        return EP_E_HOST_BRACKET;
    if (inet_ntop(AF_INET6, &addr, out, EP_HOST_BUFSZ) == NULL)
        return EP_E_HOST_BRACKET;
    return 0;
}

/*
 * The name part: percent-decode (a '%' not followed by two hex digits is
 * an error; what the escapes decode to is checked like any other byte, so
 * "%2f" fails exactly as '/' does), check every ASCII byte, drop one
 * trailing dot, then build the canonical form label by label (ASCII
 * labels lowercased in place, other labels through libidn2) and validate
 * the result as a whole.
 */
static int normalize_name(const char *in, size_t len, char *out, enum ep_host_kind *kind)
{
    char decoded[HOST_RAW_MAX + 1];
    size_t dlen, n = 0;
    int rc;

    rc = ep_percent_decode(in, len, decoded, &dlen);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < dlen; i++) {
        unsigned char c = (unsigned char)decoded[i];
        if (c < 0x80 && !is_ascii_host_char(c))
            return EP_E_HOST_CHAR;
    }
    if (dlen > 0 && decoded[dlen - 1] == '.')
        decoded[--dlen] = '\0';
    if (dlen == 0)
        return EP_E_HOST_EMPTY;

    size_t label_start = 0;
    for (size_t i = 0; i <= dlen; i++) {
        if (i < dlen && decoded[i] != '.')
            continue;
        size_t label_len = i - label_start;
        char *label = decoded + label_start;
        bool ascii = true;

        if (label_len == 0)
            return EP_E_HOST_LABEL;
        for (size_t j = 0; j < label_len; j++) {
            if ((unsigned char)label[j] >= 0x80)
                ascii = false;
            else if (label[j] >= 'A' && label[j] <= 'Z')
                label[j] = (char)(label[j] - 'A' + 'a');
        }
        bool a_label = ascii && label_len >= 4 && memcmp(label, "xn--", 4) == 0;
        if (label_start > 0) {
            if (n + 1 > EP_HOST_MAX)
                return EP_E_HOST_TOO_LONG;
            out[n++] = '.';
        }
        if (ascii && !a_label) {
            if (n + label_len > EP_HOST_MAX)
                return EP_E_HOST_TOO_LONG;
            memcpy(out + n, label, label_len);
            n += label_len;
        } else {
            size_t before = n;

            /* Terminate the label for libidn2 (its separator is no longer needed). */
            decoded[i] = '\0';
            rc = idn_label(label, out, &n);
            if (rc != 0)
                return rc;
            /* UTS #46 maps some characters (U+200B) to nothing: an empty label. */
            if (n == before)
                return EP_E_HOST_LABEL;
            /* An "xn--" label is valid only if it is already what libidn2 makes of it. */
            if (a_label && (n - before != label_len || memcmp(out + before, label, label_len) != 0))
                return EP_E_HOST_IDN;
        }
        label_start = i + 1;
    }
    out[n] = '\0';
    rc = validate_ascii(out, n);
    if (rc != 0)
        return rc;
    return classify_numeric(out, n, kind);
}

int ep_host_normalize(const char *in, size_t len, char *out, int *port, enum ep_host_kind *kind)
{
    enum ep_host_kind k = EP_HOST_NAME;
    int p = 0, rc;

    if (port)
        *port = 0;
    if (kind)
        *kind = EP_HOST_NAME;
    out[0] = '\0';
    if (in == NULL || len == 0)
        return EP_E_HOST_EMPTY;
    if (len > HOST_RAW_MAX)
        return EP_E_HOST_TOO_LONG;
    /*
     * Whitespace and control characters first, wherever they are, so a
     * header-splitting attempt is reported as what it is rather than as
     * whatever part (a port) it happened to land in.
     */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)in[i] <= ' ' || in[i] == 0x7f)
            return EP_E_HOST_CHAR;

    if (in[0] == '[') {
        const char *close = memchr(in, ']', len);
        size_t after;

        if (close == NULL)
            return EP_E_HOST_BRACKET;
        after = (size_t)(close - in) + 1;
        if (after < len) {
            if (in[after] != ':')
                return EP_E_HOST_BRACKET;
            rc = parse_port(in + after + 1, len - after - 1, &p);
            if (rc != 0)
                return rc;
        }
        rc = ipv6_literal(in + 1, (size_t)(close - in) - 1, out);
        if (rc != 0) {
            out[0] = '\0';
            return rc;
        }
        k = EP_HOST_IPV6;
        goto done;
    }

    const char *colon = memchr(in, ':', len);
    size_t host_len = len;
    if (colon != NULL) {
        size_t at = (size_t)(colon - in);
        /* Two or more colons: only an IPv6 literal written without brackets. */
        if (memchr(colon + 1, ':', len - at - 1) != NULL) {
            rc = ipv6_literal(in, len, out);
            if (rc != 0) {
                out[0] = '\0';
                return EP_E_HOST_PORT;
            }
            k = EP_HOST_IPV6;
            goto done;
        }
        rc = parse_port(colon + 1, len - at - 1, &p);
        if (rc != 0)
            return rc;
        host_len = at;
        if (host_len == 0)
            return EP_E_HOST_EMPTY;
    }
    rc = normalize_name(in, host_len, out, &k);
    if (rc != 0) {
        out[0] = '\0';
        return rc;
    }
done:
    if (port)
        *port = p;
    if (kind)
        *kind = k;
    return 0;
}

/*
 * Find the host in a request target. An absolute URI has a scheme and
 * "://": its authority runs to the first '/', '?' or '#', and any
 * userinfo before the last '@' is dropped. Anything else is a Host header
 * value or a CONNECT authority and is normalised as a whole. A backslash
 * in an authority is refused: some parsers treat it as '/', and two
 * parsers reading two different hosts out of one URL is how filters are
 * bypassed.
 */
int ep_host_from_request_target(const char *in, size_t len, char *out, int *port,
                                enum ep_host_kind *kind)
{
    size_t i = 0;

    if (in == NULL || len == 0 || in[0] == '/') {
        out[0] = '\0';
        if (port)
            *port = 0;
        if (kind)
            *kind = EP_HOST_NAME;
        return EP_E_HOST_EMPTY;
    }
    if ((in[0] >= 'a' && in[0] <= 'z') || (in[0] >= 'A' && in[0] <= 'Z')) {
        i = 1;
        while (i < len &&
               ((in[i] >= 'a' && in[i] <= 'z') || (in[i] >= 'A' && in[i] <= 'Z') ||
                (in[i] >= '0' && in[i] <= '9') || in[i] == '+' || in[i] == '-' || in[i] == '.'))
            i++;
    }
    if (i > 0 && len - i >= 3 && memcmp(in + i, "://", 3) == 0) {
        const char *auth = in + i + 3;
        size_t alen = 0, rest = len - i - 3;

        while (alen < rest && auth[alen] != '/' && auth[alen] != '?' && auth[alen] != '#')
            alen++;
        if (memchr(auth, '\\', alen) != NULL) {
            out[0] = '\0';
            return EP_E_HOST_CHAR;
        }
        const char *at = memrchr(auth, '@', alen);
        if (at != NULL) {
            alen -= (size_t)(at + 1 - auth);
            auth = at + 1;
        }
        return ep_host_normalize(auth, alen, out, port, kind);
    }
    return ep_host_normalize(in, len, out, port, kind);
}

size_t ep_host_with_port(const char *host, int port, char *out)
{
    size_t hlen = strnlen(host, EP_HOST_MAX);
    bool v6 = memchr(host, ':', hlen) != NULL;
    int n;

    if (port <= 0 || port > 65535) {
        memcpy(out, host, hlen);
        out[hlen] = '\0';
        return hlen;
    }
    n = snprintf(out, EP_HOST_PORT_BUFSZ, "%s%.*s%s:%d", v6 ? "[" : "", (int)hlen, host,
                 v6 ? "]" : "", port);
    return n < 0 ? 0 : (size_t)n;
}

/*
 * Copy the labels of @p host to @p out last first. Works on any text up
 * to EP_HOST_MAX characters; an IPv6 literal has no dots and comes out
 * as it went in.
 */
void ep_host_reverse(const char *host, char *out)
{
    size_t end = strnlen(host, EP_HOST_MAX), o = 0;

    for (;;) {
        const char *dot = memrchr(host, '.', end);
        size_t start = dot ? (size_t)(dot - host) + 1 : 0;

        memcpy(out + o, host + start, end - start);
        o += end - start;
        if (dot == NULL)
            break;
        out[o++] = '.';
        end = start - 1;
    }
    out[o] = '\0';
}

enum ep_host_kind ep_host_kind_of(const char *host)
{
    unsigned char addr[4];

    if (strchr(host, ':') != NULL)
        return EP_HOST_IPV6;
    if (host[strspn(host, "0123456789.")] == '\0' && inet_pton(AF_INET, host, addr) == 1)
        return EP_HOST_IPV4;
    return EP_HOST_NAME;
}

/*
 * Fuzz target for host normalisation (policy/host.h): the text squid hands
 * us from a request line, a Host header or a CONNECT authority. Every
 * input goes through ep_host_from_request_target() and ep_host_normalize(),
 * and each answer is checked against what host.h promises:
 *
 * - a success yields a canonical host: 1..EP_HOST_MAX characters, and
 *   either labels of 1..63 characters of [a-z0-9_-] not edged by '-' (a
 *   name, never one ending in a numeric label, which URL parsers would read
 *   as an IPv4 address), or the inet_ntop() text of an IPv4 or IPv6
 *   address; the port is 0..65535;
 * - the canonical host is a fixed point: normalising it again, as a bare
 *   host, with its port, in brackets (IPv6) or inside an absolute URI gives
 *   the same host, kind and port;
 * - ASCII case never changes the answer (an upper-case spelling cannot
 *   reach a different host or error);
 * - ep_host_reverse() twice gives back the canonical host, and any text of
 *   up to EP_HOST_MAX characters;
 * - a failure returns an EP_E_HOST_* code (or EP_E_NOMEM) with a sentence
 *   from ep_strerror() and leaves an empty string in the output.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "policy/error.h"
#include "policy/host.h"
#include "tests/fuzz/fuzz.h"

typedef int normalize_fn(const char *in, size_t len, char *out, int *port, enum ep_host_kind *kind);

static bool is_host_error(int rc)
{
    return (rc <= EP_E_HOST_EMPTY && rc >= EP_E_HOST_BRACKET) || rc == EP_E_NOMEM;
}

/* A name: labels of 1..63 of [a-z0-9_-], not edged by '-', the last one not numeric. */
static void check_name(const char *host, size_t len)
{
    size_t start = 0;
    bool numeric = true;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && host[i] != '.') {
            char c = host[i];
            PROPERTY((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_',
                     "canonical name \"%s\" has the character 0x%02x at %zu", host,
                     (unsigned char)c, i);
            continue;
        }
        size_t label = i - start;
        PROPERTY(label >= 1 && label <= 63, "canonical name \"%s\" has a label of %zu characters",
                 host, label);
        PROPERTY(host[start] != '-' && host[i - 1] != '-',
                 "canonical name \"%s\" has a label edged by '-'", host);
        numeric = true;
        for (size_t j = start; j < i; j++)
            if (host[j] < '0' || host[j] > '9')
                numeric = false;
        if (i - start >= 2 && host[start] == '0' && host[start + 1] == 'x')
            numeric = true;
        start = i + 1;
    }
    PROPERTY(!numeric, "canonical name \"%s\" ends in a numeric label", host);
}

/* An address literal: exactly what inet_ntop() writes for the address it parses to. */
static void check_address(const char *host, int family)
{
    unsigned char addr[sizeof(struct in6_addr)];
    char back[INET6_ADDRSTRLEN];

    PROPERTY(inet_pton(family, host, addr) == 1, "canonical address \"%s\" does not parse", host);
    PROPERTY(inet_ntop(family, addr, back, sizeof back) != NULL && strcmp(back, host) == 0,
             "canonical address \"%s\" is not inet_ntop's form", host);
}

static void check_canonical(const char *host, enum ep_host_kind kind, int port)
{
    size_t len = strnlen(host, EP_HOST_BUFSZ);

    PROPERTY(len >= 1 && len <= EP_HOST_MAX, "canonical host has %zu characters", len);
    PROPERTY(port >= 0 && port <= 65535, "port %d out of range", port);
    switch (kind) {
    case EP_HOST_NAME:
        check_name(host, len);
        break;
    case EP_HOST_IPV4:
        check_address(host, AF_INET);
        break;
    case EP_HOST_IPV6:
        check_address(host, AF_INET6);
        break;
    default:
        PROPERTY(false, "unknown host kind %d for \"%s\"", (int)kind, host);
    }
}

/* Normalise @p text with @p fn and require exactly @p host, @p kind and @p port. */
static void check_same(normalize_fn *fn, const char *what, const char *text, const char *host,
                       enum ep_host_kind kind, int port)
{
    char again[EP_HOST_BUFSZ];
    enum ep_host_kind k2;
    int p2, rc;

    rc = fn(text, strlen(text), again, &p2, &k2);
    PROPERTY(rc == 0 && strcmp(again, host) == 0 && k2 == kind && p2 == port,
             "%s \"%s\" gives %d \"%s\" kind %d port %d, expected \"%s\" kind %d port %d", what,
             text, rc, again, (int)k2, p2, host, (int)kind, port);
}

/* The canonical form is a fixed point of every way a request can spell it. */
static void check_fixed_point(const char *host, enum ep_host_kind kind, int port)
{
    char text[EP_HOST_BUFSZ + 32];
    const char *open = kind == EP_HOST_IPV6 ? "[" : "", *close = kind == EP_HOST_IPV6 ? "]" : "";

    check_same(ep_host_normalize, "normalising the canonical host", host, host, kind, 0);
    check_same(ep_host_from_request_target, "the canonical host as a Host header", host, host, kind,
               0);
    if (kind == EP_HOST_IPV6) {
        snprintf(text, sizeof text, "[%s]", host);
        check_same(ep_host_normalize, "the bracketed literal", text, host, kind, 0);
    }
    if (port != 0) {
        snprintf(text, sizeof text, "%s%s%s:%d", open, host, close, port);
        check_same(ep_host_from_request_target, "the canonical authority", text, host, kind, port);
    }
    snprintf(text, sizeof text, "http://%s%s%s%s%.0d/", open, host, close, port ? ":" : "", port);
    check_same(ep_host_from_request_target, "the canonical URI", text, host, kind, port);
}

/* Reversing the labels twice gives the text back. */
static void check_reverse(const char *text)
{
    char once[EP_HOST_BUFSZ], twice[EP_HOST_BUFSZ];

    ep_host_reverse(text, once);
    ep_host_reverse(once, twice);
    PROPERTY(strlen(once) == strlen(text) && strcmp(twice, text) == 0,
             "reversing \"%s\" gives \"%s\", reversing that gives \"%s\"", text, once, twice);
}

/*
 * One function on one input: check the answer, and that the same input in
 * upper case (ASCII only) gets the same answer.
 */
static void check_function(normalize_fn *fn, const char *name, const uint8_t *data, size_t size)
{
    char out[EP_HOST_BUFSZ], upper_out[EP_HOST_BUFSZ];
    enum ep_host_kind kind = EP_HOST_NAME, upper_kind = EP_HOST_NAME;
    int port = -1, upper_port = -1, rc, upper_rc;
    char *upper;

    rc = fn((const char *)data, size, out, &port, &kind);
    if (rc == 0) {
        check_canonical(out, kind, port);
        check_fixed_point(out, kind, port);
        check_reverse(out);
    } else {
        PROPERTY(is_host_error(rc), "%s returned %d, not a host error", name, rc);
        PROPERTY(ep_strerror(rc)[0] != '\0', "%s: no sentence for error %d", name, rc);
        PROPERTY(out[0] == '\0', "%s failed with %d but left \"%s\" in the output", name, rc, out);
    }

    /* An exact-size copy, so a read past the end is caught by ASan. */
    upper = malloc(size ? size : 1);
    if (upper == NULL)
        return;
    for (size_t i = 0; i < size; i++)
        upper[i] = (char)(data[i] >= 'a' && data[i] <= 'z' ? data[i] - 'a' + 'A' : data[i]);
    upper_rc = fn(upper, size, upper_out, &upper_port, &upper_kind);
    free(upper);
    PROPERTY(upper_rc == rc,
             "%s: the input in upper case gives %d (\"%s\"), as written %d (\"%s\")", name,
             upper_rc, upper_out, rc, out);
    if (rc == 0)
        PROPERTY(strcmp(upper_out, out) == 0 && upper_kind == kind && upper_port == port,
                 "%s: the input in upper case gives \"%s\":%d, as written \"%s\":%d", name,
                 upper_out, upper_port, out, port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[EP_HOST_BUFSZ];
    size_t n = 0;

    fuzz_begin(data, size);
    check_function(ep_host_normalize, "ep_host_normalize", data, size);
    check_function(ep_host_from_request_target, "ep_host_from_request_target", data, size);

    /* ep_host_reverse() works on any text up to EP_HOST_MAX characters. */
    while (n < size && n < EP_HOST_MAX && data[n] != 0) {
        text[n] = (char)data[n];
        n++;
    }
    text[n] = '\0';
    check_reverse(text);
    return 0;
}

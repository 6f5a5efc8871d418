/**
 * @file host.h
 * @brief Host normalisation: the one canonical form used for lookup and recording.
 *
 * The canonical form is lowercase ASCII (IDN converted to punycode by
 * libidn2), no port, no trailing dot, percent-escapes decoded, at most
 * EP_HOST_MAX characters, labels of 1..63 characters of [a-z0-9-] (and '_',
 * seen in real DNS names) not starting or ending with '-'. IPv4 literals
 * stay dotted quads; IPv6 literals lose their brackets and are written in
 * the compressed form of inet_ntop().
 */
#ifndef EP_HOST_H
#define EP_HOST_H

#include <stddef.h>

#define EP_HOST_MAX 253
/** Buffer size for a canonical host, NUL included. */
#define EP_HOST_BUFSZ (EP_HOST_MAX + 1)

/**
 * Longest canonical host with a port, as ep_host_with_port() writes it
 * ("name:65535"; an IPv6 literal, "[...]:65535", is far shorter).
 */
#define EP_HOST_PORT_MAX   (EP_HOST_MAX + 6)
#define EP_HOST_PORT_BUFSZ (EP_HOST_PORT_MAX + 1)

/** Longest canonical IP literal text (INET6_ADDRSTRLEN - 1): ip: rules, client addresses. */
#define EP_IP_MAX 45

/** What kind of host a canonical form is. */
enum ep_host_kind { EP_HOST_NAME = 0, EP_HOST_IPV4 = 4, EP_HOST_IPV6 = 6 };

/**
 * Normalise a bare host, possibly with a port ("Example.COM.:8080",
 * "[::1]:443", "b%C3%BCcher.de", "bücher.de").
 * @param in, len  the text (need not be NUL-terminated)
 * @param out      EP_HOST_BUFSZ bytes, receives the canonical host
 * @param port     if not NULL, receives the port or 0 when none was given
 * @param kind     if not NULL, receives what kind of host it is
 * @return 0 or an EP_E_HOST_* code.
 */
int ep_host_normalize(const char *in, size_t len, char *out, int *port, enum ep_host_kind *kind);

/**
 * The host of an absolute URI ("http://user@Host:8080/path?q"), of a Host
 * header value, or of a CONNECT authority ("host:443"): whichever @p in is.
 * A relative URI ("/path") gives EP_E_HOST_EMPTY.
 */
int ep_host_from_request_target(const char *in, size_t len, char *out, int *port,
                                enum ep_host_kind *kind);

/**
 * What kind of host canonical @p host is (as ep_host_normalize() wrote it:
 * a name never holds ':', an address is written as inet_ntop writes it).
 * No allocation; the decision path asks it.
 */
enum ep_host_kind ep_host_kind_of(const char *host);

/**
 * Write canonical @p host with port @p port as an authority into @p out
 * (EP_HOST_PORT_BUFSZ bytes): "github.com:22", "192.0.2.7:8080",
 * "[2001:db8::1]:22"; the host alone for port 0. ep_host_normalize()
 * reads it back into the same host and port. Returns the length written.
 */
size_t ep_host_with_port(const char *host, int port, char *out);

/**
 * Write the labels of canonical @p host in reverse order ("api.example.com"
 * → "com.example.api") into @p out (EP_HOST_BUFSZ bytes). The store keys
 * rules by this form so the rule for every ancestor is one exact lookup.
 */
void ep_host_reverse(const char *host, char *out);

#endif

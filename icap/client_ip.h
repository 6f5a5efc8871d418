/**
 * @file client_ip.h
 * @brief The workspace's address, as both c-icap services read it.
 */
#ifndef EP_ICAP_CLIENT_IP_H
#define EP_ICAP_CLIENT_IP_H

#include <stddef.h>

struct ci_request;

/**
 * The workspace's IP (squid's X-Client-IP, asked for with CI_XCLIENTIP) as
 * the canonical text the store's clients table is keyed by, into @p out;
 * "" when squid sent none or an address c-icap could not read. Debian's
 * c-icap is built without IPv6 (USE_IPV6 unset in c-icap-conf.h), so it
 * holds an IPv4 address.
 */
void icap_client_ip(struct ci_request *req, char *out, size_t outsz);

#endif

/**
 * @file request_line.h
 * @brief The method, target and host of the HTTP request, as both c-icap services read them.
 */
#ifndef EP_ICAP_REQUEST_LINE_H
#define EP_ICAP_REQUEST_LINE_H

#include <stddef.h>

#include "policy/host.h"

struct ci_request;

/**
 * Split the request line squid sent ("GET http://host/path HTTP/1.1") into
 * its method, copied into @p method (cut to fit @p methodsz bytes), and its
 * target: *@p target points into c-icap's copy of the line, *@p target_len
 * bytes long (0 when the line ends after the method and a space).
 * @return 0, or EP_E_HOST_EMPTY when there is no request line or no space
 *         after its method.
 */
int icap_request_line(struct ci_request *req, char *method, size_t methodsz, const char **target,
                      size_t *target_len);

/**
 * The canonical host the request goes to, into @p host (EP_HOST_BUFSZ
 * bytes): from @p target when it is an absolute URI or a CONNECT
 * authority, from the Host header when it is a path (or empty).
 * @param port if not NULL, receives the destination port: the one
 *             written, else the default of an absolute URI's scheme
 *             (http 80, https 443, ftp 21, as squid's %>rP), else 0
 * @param kind if not NULL, receives what kind of host it is
 * @return 0 or an EP_E_HOST_* code (EP_E_HOST_EMPTY without a Host header).
 */
int icap_request_host(struct ci_request *req, const char *target, size_t target_len, char *host,
                      int *port, enum ep_host_kind *kind);

#endif

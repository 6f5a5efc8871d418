/*
 * The workspace's address, as both c-icap services read it (see client_ip.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <sys/socket.h>

/* c-icap's headers declare functions without prototypes (f()); keep our warnings for our code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include "c-icap.h"
#include "simple_api.h"
#pragma GCC diagnostic pop

#include "icap/client_ip.h"

void icap_client_ip(ci_request_t *req, char *out, size_t outsz)
{
    const ci_ip_t *ip = ci_http_client_ip(req);

    out[0] = '\0';
    if (ip == NULL || ip->family != AF_INET)
        return;
    if (inet_ntop(AF_INET, &ip->address, out, (socklen_t)outsz) == NULL)
        out[0] = '\0';
}

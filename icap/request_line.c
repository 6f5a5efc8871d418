/*
 * The method, target and host of the HTTP request, as both c-icap services
 * read them (see request_line.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

/* c-icap's headers declare functions without prototypes (f()); keep our warnings for our code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include "c-icap.h"
#include "simple_api.h"
#pragma GCC diagnostic pop

#include "icap/request_line.h"
#include "policy/error.h"
#include "policy/host.h"

int icap_request_line(ci_request_t *req, char *method, size_t methodsz, const char **target,
                      size_t *target_len)
{
    const char *line = ci_http_request(req), *start, *end;
    size_t mlen;

    if (line == NULL || (start = strchr(line, ' ')) == NULL)
        return EP_E_HOST_EMPTY;
    mlen = (size_t)(start - line);
    snprintf(method, methodsz, "%.*s", (int)mlen, line); /* cut to fit */
    while (*start == ' ')
        start++;
    end = strchr(start, ' ');
    if (end == NULL)
        end = start + strlen(start);
    *target = start;
    *target_len = (size_t)(end - start);
    return 0;
}

int icap_request_host(ci_request_t *req, const char *target, size_t target_len, char *host,
                      int *port)
{
    const char *hosthdr;

    if (target_len > 0 && target[0] != '/')
        return ep_host_from_request_target(target, target_len, host, port, NULL);
    hosthdr = ci_http_request_get_header(req, "Host");
    if (hosthdr == NULL)
        return EP_E_HOST_EMPTY;
    return ep_host_from_request_target(hosthdr, strlen(hosthdr), host, port, NULL);
}

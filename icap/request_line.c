/*
 * The method, target and host of the HTTP request, as both c-icap services
 * read them (see request_line.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/* The default port of an absolute URI's scheme, as squid fills it in; 0 for others. */
static int scheme_port(const char *target, size_t target_len)
{
    static const struct {
        const char *prefix;
        int port;
    } schemes[] = {{"http://", 80}, {"https://", 443}, {"ftp://", 21}, {NULL, 0}};

    for (int i = 0; schemes[i].prefix != NULL; i++) {
        size_t n = strlen(schemes[i].prefix);

        if (target_len > n && strncasecmp(target, schemes[i].prefix, n) == 0)
            return schemes[i].port;
    }
    return 0;
}

int icap_request_host(ci_request_t *req, const char *target, size_t target_len, char *host,
                      int *port, enum ep_host_kind *kind)
{
    const char *hosthdr;
    int written = 0, rc;

    if (target_len > 0 && target[0] != '/') {
        rc = ep_host_from_request_target(target, target_len, host, &written, kind);
        if (rc == 0 && written == 0)
            written = scheme_port(target, target_len);
    } else if ((hosthdr = ci_http_request_get_header(req, "Host")) == NULL) {
        rc = EP_E_HOST_EMPTY;
    } else {
        rc = ep_host_from_request_target(hosthdr, strlen(hosthdr), host, &written, kind);
    }
    if (port != NULL)
        *port = written;
    return rc;
}

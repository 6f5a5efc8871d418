/*
 * egress-capture-acl: squid's external ACL helper for the ssl_bump
 * decision of LLM capture. Answers OK when the workspace (client IP) is
 * mapped to a project in logging mode AND the TLS server name is on the
 * store's LLM host list; ERR otherwise (and on any error: a connection
 * that is not bumped is simply tunnelled, never failed).
 *
 *   external_acl_type egress_capture ttl=5 negative_ttl=5 children-max=4 \
 *       %SRC %ssl::>sni %DST /usr/libexec/egress-policy/egress-capture-acl /var/lib/egress-policy
 *
 * Input lines: "IP SNI DST [ACL-ARGS]" ("-" for a value squid does not
 * have; the SNI is used when present, the CONNECT host otherwise; squid
 * appends the acl's arguments, "-" when none, which are ignored). Run it
 * without concurrency= (one request at a time per helper process).
 * The store is read on every line, so a mode or host list change applies
 * to the next new connection once squid's ttl has passed.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/capture_store.h"
#include "policy/error.h"
#include "policy/host.h"
#include "policy/store.h"

/* Whether @p ip / @p host (raw text from squid) is a logging workspace reaching an LLM host. */
static bool bump(struct ep_store *store, const char *ip, const char *sni, const char *dst)
{
    const char *name = sni && strcmp(sni, "-") != 0 && *sni ? sni : dst;
    char host[EP_HOST_BUFSZ];
    struct ep_store_read *rd = NULL;
    struct ep_client client;
    bool listed = false;
    int rc;

    if (!ip || !name || strcmp(name, "-") == 0)
        return false;
    if (ep_host_from_request_target(name, strlen(name), host, NULL, NULL) != 0)
        return false;
    rc = ep_store_read_begin(store, &rd);
    if (rc == 0)
        rc = ep_store_read_client(rd, ip, &client);
    ep_store_read_end(rd);
    if (rc || client.mode != EP_MODE_LOGGING)
        return false;
    return ep_capture_host_listed(store, host, &listed) == 0 && listed;
}

int main(int argc, char **argv)
{
    struct ep_store *store = NULL;
    char line[4096];
    int rc;

    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: egress-capture-acl STORE-DIRECTORY\n"
                        "squid external ACL helper: reads \"[channel] IP SNI DST\" lines,\n"
                        "answers OK for a logging workspace reaching a listed LLM host.\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = ep_store_open(argv[1], NULL, &store);
    if (rc)
        fprintf(stderr, "egress-capture-acl: cannot open the store %s: %s; answering ERR\n",
                argv[1], ep_strerror(rc));
    while (fgets(line, sizeof line, stdin)) {
        char *tok[3] = {0}, *save = NULL, *p;
        int n = 0;

        for (p = strtok_r(line, " \t\r\n", &save); p && n < 3; p = strtok_r(NULL, " \t\r\n", &save))
            tok[n++] = p;
        printf("%s\n", store && bump(store, tok[0], tok[1], tok[2]) ? "OK" : "ERR");
    }
    ep_store_close(store);
    return 0;
}

/*
 * gatecall: the policy gate (policy/gate.h) called directly, as a plain C
 * program with no c-icap and no squid would: the third front end of
 * tests/icap/test-front-ends.sh, beside srv_egress and egress-acl.
 *
 *   gatecall DIR [--unknown-client deny|allow] < REQUESTS
 *
 * Each input line is "CLIENT METHOD HOST [PORT]" ("-" for no client, a
 * host as a request names it: it is normalised here as the front ends
 * normalise theirs, and one that cannot be read is decided as none). For
 * each line the gate's decision log line is printed on standard output,
 * exactly as the front ends log it ("allow|deny METHOD HOST from CLIENT:
 * TEXT"); store errors go to standard error. The recorder's last flush
 * runs before exit. Exit status 0, 2 on a usage error, 1 when the gate
 * cannot be made.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/gate.h"
#include "policy/host.h"

static void print_line(void *ctx, enum ep_gate_log_kind kind, const char *line)
{
    (void)ctx;
    fprintf(kind == EP_GATE_LOG_DECISION ? stdout : stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
    struct ep_gate_hooks hooks = {.log = print_line, .count = NULL, .ctx = NULL};
    struct ep_gate_options opts;
    struct ep_gate *gate = NULL;
    char line[4096], why[256];
    int rc;

    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--unknown-client") == 0)) {
        fprintf(stderr, "usage: gatecall DIR [--unknown-client deny|allow] < REQUESTS\n");
        return 2;
    }
    ep_gate_options_default(&opts);
    opts.log_decisions = true;
    if (ep_gate_option_set(&opts, EP_GATE_OPT_DATABASE, argv[1], why, sizeof why) != 0 ||
        (argc == 4 &&
         ep_gate_option_set(&opts, EP_GATE_OPT_UNKNOWN_CLIENT, argv[3], why, sizeof why) != 0)) {
        fprintf(stderr, "gatecall: %s\n", why);
        return 2;
    }
    rc = ep_gate_new(&opts, &hooks, &gate);
    if (rc != 0) {
        fprintf(stderr, "gatecall: %s\n", ep_strerror(rc));
        return 1;
    }
    while (fgets(line, sizeof line, stdin) != NULL) {
        char client[64] = "", method[64] = "", raw[1024] = "", host[EP_HOST_BUFSZ];
        struct ep_gate_request req;
        struct ep_gate_result res;
        int port = 0;

        if (sscanf(line, "%63s %63s %1023s %d", client, method, raw, &port) < 3)
            continue;
        memset(&req, 0, sizeof req);
        req.client_ip = strcmp(client, "-") == 0 ? "" : client;
        req.method = method;
        req.port = port;
        if (ep_host_normalize(raw, strlen(raw), host, NULL, NULL) == 0)
            req.host = host;
        ep_gate_decide(gate, &req, &res);
        fflush(stdout);
    }
    ep_gate_free(gate);
    return 0;
}

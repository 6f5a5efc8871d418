/*
 * fill_seen: give a project N recorded hosts at once, for the page's
 * large-listing test and the benchmarks (N real requests through squid
 * would take minutes); or the given hosts, each denied once, as the
 * recorder writes them (a host reached on another port than 80 and 443 as
 * "host:port", as ep_decision.record_host says). Writes through the policy
 * core's public API in one transaction, as the recorder does.
 *
 *   fill_seen STORE PROJECT N
 *   fill_seen STORE PROJECT --denied HOST...
 *
 * The N hosts are wNN.siteNNNN.org: ten per registrable domain; every
 * seventh was denied. Exit 0, or 1 with a message naming the problem.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/decide.h"
#include "policy/store.h"

/* One denied request for each of @p hosts (@p n of them) in @p d. */
static void denied_hosts(struct ep_seen_delta *d, const char *project, char **hosts, long n,
                         int64_t now)
{
    for (long i = 0; i < n; i++) {
        d[i].project_id = project;
        d[i].host = hosts[i];
        d[i].denied = 1;
        d[i].first_seen = d[i].last_seen = now;
        d[i].last_verdict = EP_VERDICT_DENY;
    }
}

int main(int argc, char **argv)
{
    struct ep_store *store = NULL;
    struct ep_seen_delta *d = NULL;
    char(*hosts)[64] = NULL;
    long n;
    int64_t now = (int64_t)time(NULL);
    bool listed = argc > 4 && strcmp(argv[3], "--denied") == 0;
    int rc = 1, err;

    n = listed ? argc - 4 : argc == 4 ? strtol(argv[3], NULL, 10) : 0;
    if (n <= 0 || n > 1000000) {
        fprintf(stderr, "usage: fill_seen STORE PROJECT N (1..1000000)\n"
                        "       fill_seen STORE PROJECT --denied HOST...\n");
        return 2;
    }
    d = calloc((size_t)n, sizeof *d);
    hosts = calloc((size_t)n, sizeof *hosts);
    if (d == NULL || hosts == NULL) {
        fprintf(stderr, "fill_seen: out of memory for %ld hosts\n", n);
        goto out;
    }
    err = ep_store_open(argv[1], NULL, &store);
    if (err) {
        fprintf(stderr, "fill_seen: cannot open the store in %s: %s\n", argv[1], ep_strerror(err));
        goto out;
    }
    if (listed)
        denied_hosts(d, argv[2], argv + 4, n, now);
    for (long i = 0; !listed && i < n; i++) {
        bool denied = i % 7 == 0;

        snprintf(hosts[i], sizeof hosts[i], "w%ld.site%04ld.org", i % 10, i / 10);
        d[i].project_id = argv[2];
        d[i].host = hosts[i];
        d[i].allowed = denied ? 0 : (uint64_t)(1 + i % 5);
        d[i].denied = denied ? 2 : 0;
        d[i].first_seen = now - 3600 - i;
        d[i].last_seen = now - i;
        d[i].last_verdict = denied ? EP_VERDICT_DENY : EP_VERDICT_ALLOW;
    }
    err = ep_store_seen_add(store, d, (size_t)n);
    if (err) {
        fprintf(stderr, "fill_seen: writing %ld hosts: %s\n", n, ep_strerror(err));
        goto out;
    }
    rc = 0;
out:
    ep_store_close(store);
    free(hosts);
    free(d);
    return rc;
}

/*
 * metricsdump: print the proxy-side metrics of a store directory as
 * Prometheus text (policy/metrics.h), without opening the store (no
 * store gauges): what any program that serves a node's metrics writes,
 * for shell tests that run no egress-api.
 *
 *   metricsdump DIR
 *
 * Exit status 0, 1 when the counters file could not be read (the text
 * says egress_counters_readable 0), 2 on a usage error.
 */
#include "config.h"

#include <stdio.h>

#include "policy/metrics.h"

static void put(void *ctx, const char *text)
{
    fputs(text, ctx);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: metricsdump DIR\n");
        return 2;
    }
    return ep_metrics_write(argv[1], NULL, put, stdout) == 0 ? 0 : 1;
}

/*
 * egress-api in cluster mode (docs/cluster.md): the command line's etcd
 * options, the outbox publisher (cluster/publisher.h), the thread that
 * sums every node's counters into the store's seen records (so
 * recorded-domains counts the requests of all nodes), and
 * GET /api/cluster.
 */
#ifndef EP_API_CLUSTER_H
#define EP_API_CLUSTER_H

#include <stdbool.h>

#include "api/api.h"
#include "api/http.h"
#include "cluster/publisher.h"

struct cluster_config {
    struct ep_publisher_options pub; /* pub.etcd.endpoints NULL: single host */
    const char *password_file;
    long sum_every_ms; /* between two sums of the counters */
};

struct api_cluster;

/*
 * Set option @p name ("etcd", "etcd-prefix", "etcd-cacert", "etcd-cert",
 * "etcd-key", "etcd-user", "etcd-password-file", "etcd-batch") to @p value.
 * 0, or -1 after printing why on stderr.
 */
int cluster_option(struct cluster_config *cfg, const char *name, const char *value);
/* The usage lines of those options. */
extern const char cluster_usage[];
/* With --etcd: enable the outbox, start the publisher and the counters' sum. 0 or -1 (logged). */
int cluster_start(struct api_ctx *ctx, struct cluster_config *cfg);
void cluster_stop(struct api_ctx *ctx);

/* GET /api/cluster: the publisher and, per node, its revision and lag, heartbeat, workspaces. */
void cluster_handle_get(struct http_request *r);

#endif

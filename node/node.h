/*
 * egress-node's configuration and shared state: the threads (sync.c,
 * register.c, containers.c, counters.c) each take a pointer to one
 * struct node and open their own etcd handle from its options.
 */
#ifndef EP_NODE_H
#define EP_NODE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/etcd.h"
#include "policy/store.h"

struct node {
    /* configuration (main.c) */
    const char *name;
    const char *prefix; /* the keyspace's prefix, "/egress/v1/" */
    struct ep_etcd_options etcd;
    long ttl;                   /* seconds of the registration lease */
    long silence;               /* seconds without a byte before a watch is taken for dead */
    long counters_every;        /* seconds between two pushes of the counters */
    const char *docker_socket;  /* NULL: no container events */
    const char *network;        /* the workspaces' network on this engine */
    const char *label;          /* the container label naming the project */
    const char *db;             /* the store's directory */
    const char *metrics_listen; /* ADDR:PORT of GET /metrics; NULL: not served */
    const char *metrics_token;  /* bearer token a scrape must carry; NULL: none */
    struct ep_store *store;
    /* state */
    atomic_bool stop;
    _Atomic int64_t revision;     /* etcd revision applied to the store */
    _Atomic int64_t lease;        /* the registration's lease, 0 while none */
    atomic_bool connected;        /* the sync's watch is up */
    atomic_bool mappings_changed; /* containers.c mapped or unmapped: publish at once */
};

/* One log line on stderr: "egress-node: " and the text. */
void node_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sleep @p ms, or less when the node is stopping; whether to go on. */
bool node_nap(struct node *n, long ms);
/* "PREFIX" @p rest into @p out (size @p size); its length. */
size_t node_key(const struct node *n, char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The threads: each runs until n->stop. */
void *node_sync_run(void *arg);
void *node_register_run(void *arg);
void *node_containers_run(void *arg);
void *node_counters_run(void *arg);

/* GET /metrics on n->metrics_listen (metrics_http.c): 0; 2 for a bad ADDR:PORT, 1 when it
 * cannot listen there (either said on stderr). */
int node_metrics_start(struct node *n);
void node_metrics_stop(void);

#endif

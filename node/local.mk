# egress-node, the agent of one node of a cluster (docs/cluster.md): the
# policy core, the etcd client of cluster/, libcurl for the node's own
# Docker engine, libmicrohttpd for its optional GET /metrics.
bin_PROGRAMS += node/egress-node
node_egress_node_SOURCES = node/main.c node/node.h node/sync.c node/register.c \
	node/containers.c node/counters.c node/metrics_http.c
node_egress_node_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(LMDB_CFLAGS) $(MHD_CFLAGS)
node_egress_node_LDADD = cluster/libcluster.la policy/libpolicy.la $(CURL_LIBS) $(JANSSON_LIBS) $(MHD_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_DIST += node/README.md

# The cluster's shared parts (docs/cluster.md): the etcd client over its
# JSON gateway (libcurl, jansson, libcrypto's base64) and egress-api's
# outbox publisher. Apart from policy/, which stays free of the network.
noinst_LTLIBRARIES += cluster/libcluster.la
cluster_libcluster_la_SOURCES = cluster/etcd.c cluster/etcd.h \
	cluster/publisher.c cluster/publisher.h
cluster_libcluster_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS) \
	$(LMDB_CFLAGS)
cluster_libcluster_la_LIBADD = policy/libpolicy.la $(CURL_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_DIST += cluster/README.md docs/cluster.md

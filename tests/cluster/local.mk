# The cluster (docs/cluster.md): a 3-member etcd cluster on loopback,
# egress-api in cluster mode, egress-node agents with a store each, their
# decisions taken by squid's helper on each node's store; a dockerd of its
# own for the container events.
CLUSTER_TESTS = \
	tests/cluster/test-propagation.sh \
	tests/cluster/test-etcd-failures.sh \
	tests/cluster/test-counts.sh \
	tests/cluster/test-containers.sh \
	tests/cluster/test-tls-auth.sh
TESTS += $(CLUSTER_TESTS)
dist_check_SCRIPTS += $(CLUSTER_TESTS)
EXTRA_DIST += tests/cluster/README.md tests/cluster/lib.sh tests/cluster/blackhole.py

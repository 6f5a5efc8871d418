# egress-api --engine swarm against a two-node Docker Swarm made of dockerds
# in namespaces of their own (tests/cluster/lib/swarm.sh). Kept apart from
# tests/cluster/local.mk (the etcd cluster tests) and included from
# tests/local.mk.
TESTS += tests/cluster/test-swarm.sh
dist_check_SCRIPTS += tests/cluster/test-swarm.sh
tests/cluster/test-swarm.log: api/egress-api$(EXEEXT)
EXTRA_DIST += tests/cluster/lib/swarm.sh
# Issue 17's headline case: the swarm, the etcd cluster, node 2's agent,
# egress-net and squid in node 2's namespace, TEST-NET origins behind it.
TESTS += tests/cluster/test-swarm-policy.sh
dist_check_SCRIPTS += tests/cluster/test-swarm-policy.sh
tests/cluster/test-swarm-policy.log: api/egress-api$(EXEEXT) node/egress-node$(EXEEXT) acl/egress-acl$(EXEEXT) tests/lib/origin$(EXEEXT) tests/lib/storectl$(EXEEXT)

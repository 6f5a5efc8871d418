# The workspace network end to end: egress-net, squid-openssl intercepting
# (installed as on Debian), egress-api and a real dockerd in namespaces of
# the test's own (netstack.sh); decided by the external ACL helper (the
# plain names) and by c-icap with the module (the -icap names).
# test-intercept: the network table; test-bypass: a hostile workspace's
# request shapes, internal destinations, the cache manager, ports.
NETWORK_TESTS = tests/network/test-intercept.sh tests/network/test-intercept-icap.sh \
	tests/network/test-bypass.sh tests/network/test-bypass-icap.sh
TESTS += $(NETWORK_TESTS)
dist_check_SCRIPTS += $(NETWORK_TESTS)
EXTRA_DIST += tests/network/README.md tests/network/netstack.sh
NETWORK_TEST_DEPS = api/egress-api$(EXEEXT) tests/lib/origin$(EXEEXT) icap/srv_egress.la
tests/network/test-intercept.log tests/network/test-bypass.log: $(NETWORK_TEST_DEPS) acl/egress-acl$(EXEEXT)
tests/network/test-intercept-icap.log tests/network/test-bypass-icap.log: $(NETWORK_TEST_DEPS)

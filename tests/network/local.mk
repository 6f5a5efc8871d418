# The workspace network end to end (test-intercept.sh): egress-net, squid
# intercepting, egress-api and a real dockerd in namespaces of the test's
# own; decided by the external ACL helper (test-intercept.sh) and by c-icap
# with the module (test-intercept-icap.sh).
TESTS += tests/network/test-intercept.sh tests/network/test-intercept-icap.sh
dist_check_SCRIPTS += tests/network/test-intercept.sh tests/network/test-intercept-icap.sh
EXTRA_DIST += tests/network/README.md
tests/network/test-intercept.log: api/egress-api$(EXEEXT) tests/lib/origin$(EXEEXT) \
	icap/srv_egress.la acl/egress-acl$(EXEEXT)
tests/network/test-intercept-icap.log: api/egress-api$(EXEEXT) tests/lib/origin$(EXEEXT) \
	icap/srv_egress.la

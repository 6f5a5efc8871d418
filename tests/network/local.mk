# The workspace network end to end (test-intercept.sh): egress-net, squid
# intercepting, c-icap with the module, egress-api and a real dockerd in
# namespaces of the test's own.
TESTS += tests/network/test-intercept.sh
dist_check_SCRIPTS += tests/network/test-intercept.sh
EXTRA_DIST += tests/network/README.md
tests/network/test-intercept.log: api/egress-api$(EXEEXT) tests/lib/origin$(EXEEXT) \
	icap/srv_egress.la

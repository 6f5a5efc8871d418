# The quick start (contrib/quickstart.sh) run as a user runs it, in loopback
# mode, with this build's programs: its review page, its printed Try
# commands, and Ctrl-C stopping everything it started.
TESTS += tests/quickstart/test-quickstart.sh
dist_check_SCRIPTS += tests/quickstart/test-quickstart.sh
EXTRA_DIST += tests/quickstart/README.md
tests/quickstart/test-quickstart.log: api/egress-api$(EXEEXT) acl/egress-acl$(EXEEXT) dns/egress-dns$(EXEEXT) \
	tests/lib/origin$(EXEEXT)

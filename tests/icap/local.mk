# ICAP and end-to-end tests: the real c-icap (with srv_egress.so) and the
# real squid on loopback, driven by c-icap-client and curl.
check_PROGRAMS += tests/lib/origin tests/lib/storectl tests/lib/gatecall

tests_lib_origin_SOURCES = tests/lib/origin.c
tests_lib_origin_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
tests_lib_origin_LDADD = $(MHD_LIBS) $(PTHREAD_LIBS)

tests_lib_storectl_SOURCES = tests/lib/storectl.c
tests_lib_storectl_LDADD = policy/libpolicy.la

# The policy gate called directly, the third front end of test-front-ends.sh.
tests_lib_gatecall_SOURCES = tests/lib/gatecall.c
tests_lib_gatecall_LDADD = policy/libpolicy.la

ICAP_TESTS = \
	tests/icap/test-icap.sh \
	tests/icap/test-config.sh \
	tests/icap/test-e2e.sh \
	tests/icap/test-load.sh \
	tests/icap/test-kill.sh \
	tests/icap/test-exports.sh \
	tests/icap/test-templates.sh \
	tests/icap/test-front-ends.sh
TESTS += $(ICAP_TESTS)
tests/icap/test-front-ends.log: acl/egress-acl$(EXEEXT)
dist_check_SCRIPTS += $(ICAP_TESTS)
EXTRA_DIST += tests/lib/stack.sh tests/icap/common.sh tests/icap/README.md

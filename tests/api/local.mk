# The api suite: the real egress-api on a random loopback port, driven by libcurl.
API_TEST_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(LMDB_CFLAGS)
API_TEST_LDADD = policy/libpolicy.la $(JANSSON_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)
API_TEST_CLIENT = tests/api/client.c tests/api/client.h

check_PROGRAMS += tests/api/test_api_endpoints tests/api/test_api_bad_requests \
	tests/api/test_api_lifecycle
TESTS += tests/api/test_api_endpoints tests/api/test_api_bad_requests \
	tests/api/test_api_lifecycle
SANITIZER_TESTS += tests/api/test_api_endpoints tests/api/test_api_bad_requests \
	tests/api/test_api_lifecycle
# The tests start the daemon: build it first.
tests/api/test_api_endpoints.log tests/api/test_api_bad_requests.log \
tests/api/test_api_lifecycle.log: api/egress-api$(EXEEXT)

tests_api_test_api_endpoints_SOURCES = tests/api/test_api_endpoints.c $(API_TEST_CLIENT)
tests_api_test_api_endpoints_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_endpoints_LDADD = $(API_TEST_LDADD)
tests_api_test_api_bad_requests_SOURCES = tests/api/test_api_bad_requests.c $(API_TEST_CLIENT)
tests_api_test_api_bad_requests_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_bad_requests_LDADD = $(API_TEST_LDADD)
tests_api_test_api_lifecycle_SOURCES = tests/api/test_api_lifecycle.c $(API_TEST_CLIENT)
tests_api_test_api_lifecycle_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_lifecycle_LDADD = $(API_TEST_LDADD)
EXTRA_DIST += tests/api/README.md

# The teacher -> student flow through the whole stack (needs root for squid).
TESTS += tests/api/test-flow.sh
dist_check_SCRIPTS += tests/api/test-flow.sh
tests/api/test-flow.log: api/egress-api$(EXEEXT)

# Paging, filters and polls of the listings; the page's files.
check_PROGRAMS += tests/api/test_api_paging
TESTS += tests/api/test_api_paging
SANITIZER_TESTS += tests/api/test_api_paging
# (through a variable: automake would take a literal .log target for its own rule)
API_PAGING_LOG = tests/api/test_api_paging.log
$(API_PAGING_LOG): api/egress-api$(EXEEXT)
tests_api_test_api_paging_SOURCES = tests/api/test_api_paging.c $(API_TEST_CLIENT)
tests_api_test_api_paging_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_paging_LDADD = $(API_TEST_LDADD)

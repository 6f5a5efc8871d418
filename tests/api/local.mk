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

# Issue 9's defects (promote replace all or nothing, empty replace, reader
# table full, a taken port), against the real daemon.
check_PROGRAMS += tests/api/test_api_hardening
TESTS += tests/api/test_api_hardening
SANITIZER_TESTS += tests/api/test_api_hardening
tests/api/test_api_hardening.log tests/api/test_api_load.log tests/api/test_api_kill.log: \
	api/egress-api$(EXEEXT)
tests_api_test_api_hardening_SOURCES = tests/api/test_api_hardening.c $(API_TEST_CLIENT)
tests_api_test_api_hardening_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_hardening_LDADD = $(API_TEST_LDADD) $(LMDB_LIBS)

# The daemon's request handling in this process (inproc.c, through
# http_dispatch()): every allocation of a request failing in turn, and
# PUT /ip waiting for the project's lock.
API_INPROC = tests/api/inproc.c tests/api/inproc.h
API_INPROC_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS) $(LMDB_CFLAGS)
check_PROGRAMS += tests/api/test_api_inproc
TESTS += tests/api/test_api_inproc
SANITIZER_TESTS += tests/api/test_api_inproc
tests_api_test_api_inproc_SOURCES = tests/api/test_api_inproc.c $(API_INPROC)
tests_api_test_api_inproc_CFLAGS = $(API_INPROC_CFLAGS)
tests_api_test_api_inproc_LDADD = api/libegressapi.la $(JANSSON_LIBS) $(PTHREAD_LIBS)

# Hostile load: 1,000 connections, slow bodies and headers, silent ones.
check_PROGRAMS += tests/api/test_api_load
TESTS += tests/api/test_api_load
tests_api_test_api_load_SOURCES = tests/api/test_api_load.c $(API_TEST_CLIENT)
tests_api_test_api_load_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_load_LDADD = $(API_TEST_LDADD)

# kill -9 in the middle of writes, 20 times: acknowledged changes kept, none half done.
check_PROGRAMS += tests/api/test_api_kill
TESTS += tests/api/test_api_kill
tests_api_test_api_kill_SOURCES = tests/api/test_api_kill.c $(API_TEST_CLIENT)
tests_api_test_api_kill_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_kill_LDADD = $(API_TEST_LDADD)

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

# The reference's example calls (XaresAICoder's guide and review page),
# answered in the reference's shapes.
check_PROGRAMS += tests/api/test_api_reference
TESTS += tests/api/test_api_reference
SANITIZER_TESTS += tests/api/test_api_reference
API_REFERENCE_LOG = tests/api/test_api_reference.log
$(API_REFERENCE_LOG): api/egress-api$(EXEEXT)
tests_api_test_api_reference_SOURCES = tests/api/test_api_reference.c $(API_TEST_CLIENT)
tests_api_test_api_reference_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_reference_LDADD = $(API_TEST_LDADD)

# docs/openapi.yaml (as built into egress-api) and the route table list the
# same endpoints, each way round.
check_PROGRAMS += tests/api/test_api_openapi_routes
TESTS += tests/api/test_api_openapi_routes
tests_api_test_api_openapi_routes_SOURCES = tests/api/test_api_openapi_routes.c
tests_api_test_api_openapi_routes_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS)
tests_api_test_api_openapi_routes_LDADD = api/libegressapi.la $(JANSSON_LIBS)

# Every answer of the suite above, replayed through a JSON Schema validator
# (python3-jsonschema) against docs/openapi.yaml.
TESTS += tests/api/test-openapi-replay.sh
dist_check_SCRIPTS += tests/api/test-openapi-replay.sh
EXTRA_DIST += tests/api/openapi-validate.py tests/api/record.sh
API_REPLAY_LOG = tests/api/test-openapi-replay.log
$(API_REPLAY_LOG): api/egress-api$(EXEEXT) tests/api/test_api_endpoints$(EXEEXT) \
	tests/api/test_api_bad_requests$(EXEEXT) tests/api/test_api_lifecycle$(EXEEXT) \
	tests/api/test_api_paging$(EXEEXT) tests/api/test_api_hardening$(EXEEXT) \
	tests/api/test_api_reference$(EXEEXT) tests/capture/test_api_conversations$(EXEEXT) \
	tests/api/test_api_accounts$(EXEEXT) tests/api/test_api_roles$(EXEEXT) \
	tests/api/test_api_sessions$(EXEEXT)
# Accounts, courses and sessions (issue 19), in this process: the role
# matrix (every endpoint x seven kinds of caller, refusals proved by a
# store dump), and the sessions (CSRF, cross-site posts, expiry, idle
# timeout, sign-out and disable, with a test clock that steps).
check_PROGRAMS += tests/api/test_api_roles tests/api/test_api_sessions
TESTS += tests/api/test_api_roles tests/api/test_api_sessions
SANITIZER_TESTS += tests/api/test_api_roles tests/api/test_api_sessions
tests_api_test_api_roles_SOURCES = tests/api/test_api_roles.c $(API_INPROC)
tests_api_test_api_roles_CFLAGS = $(API_INPROC_CFLAGS)
tests_api_test_api_roles_LDADD = api/libegressapi.la $(JANSSON_LIBS) $(LMDB_LIBS) $(PTHREAD_LIBS)
tests_api_test_api_sessions_SOURCES = tests/api/test_api_sessions.c $(API_INPROC)
tests_api_test_api_sessions_CFLAGS = $(API_INPROC_CFLAGS)
tests_api_test_api_sessions_LDADD = api/libegressapi.la $(JANSSON_LIBS) $(LMDB_LIBS) $(PTHREAD_LIBS)

# Accounts against the real daemon: --create-admin, the cookie on the wire
# (Secure with --tls-proxy), sessions and tokens surviving a restart.
check_PROGRAMS += tests/api/test_api_accounts
TESTS += tests/api/test_api_accounts
SANITIZER_TESTS += tests/api/test_api_accounts
API_ACCOUNTS_LOG = tests/api/test_api_accounts.log
$(API_ACCOUNTS_LOG): api/egress-api$(EXEEXT)
tests_api_test_api_accounts_SOURCES = tests/api/test_api_accounts.c $(API_TEST_CLIENT)
tests_api_test_api_accounts_CFLAGS = $(API_TEST_CFLAGS)
tests_api_test_api_accounts_LDADD = $(API_TEST_LDADD)

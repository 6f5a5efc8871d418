# LLM conversation capture: the capture store (and the upgrade of a schema 1
# store), the parsers, the batch writer, and end to end through
# squid-openssl and c-icap.
capture_unit_tests = \
	tests/capture/test_capture_store \
	tests/capture/test_capture_parse \
	tests/capture/test_capture_writer
check_PROGRAMS += $(capture_unit_tests)
TESTS += $(capture_unit_tests)
UNIT_TESTS += $(capture_unit_tests)
EXTRA_DIST += tests/capture/README.md tests/capture/fixtures/store-v1/data.mdb \
	tests/capture/fixtures/make-store-v1.c

tests_capture_test_capture_store_SOURCES = tests/capture/test_capture_store.c
tests_capture_test_capture_store_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_capture_test_capture_store_LDADD = policy/libpolicy.la $(LMDB_LIBS)
tests_capture_test_capture_parse_SOURCES = tests/capture/test_capture_parse.c
tests_capture_test_capture_parse_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(ZLIB_CFLAGS) $(BROTLIENC_CFLAGS)
tests_capture_test_capture_parse_LDADD = policy/libcapture.la policy/libpolicy.la $(JANSSON_LIBS) $(ZLIB_LIBS) $(BROTLIENC_LIBS)
tests_capture_test_capture_writer_SOURCES = tests/capture/test_capture_writer.c
tests_capture_test_capture_writer_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_capture_test_capture_writer_LDADD = policy/libcapture.la policy/libpolicy.la $(JANSSON_LIBS) $(PTHREAD_LIBS)

# End to end through squid-openssl, c-icap with srv_capture.so and a fake
# LLM origin over TLS.
check_PROGRAMS += tests/capture/capturectl
tests_capture_capturectl_SOURCES = tests/capture/capturectl.c
tests_capture_capturectl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_capture_capturectl_LDADD = policy/libcapture.la policy/libpolicy.la $(JANSSON_LIBS)
CAPTURE_E2E_TESTS = tests/capture/test-capture-e2e.sh tests/capture/test-capture-intercept.sh
TESTS += $(CAPTURE_E2E_TESTS)
dist_check_SCRIPTS += $(CAPTURE_E2E_TESTS)
EXTRA_DIST += tests/capture/fake-llm.py

# The conversation endpoints of egress-api (the real daemon, libcurl).
check_PROGRAMS += tests/capture/test_api_conversations
TESTS += tests/capture/test_api_conversations
SANITIZER_TESTS += tests/capture/test_api_conversations
tests/capture/test_api_conversations.log tests/capture/test-capture-e2e.log: api/egress-api$(EXEEXT)
tests_capture_test_api_conversations_SOURCES = tests/capture/test_api_conversations.c $(API_TEST_CLIENT)
tests_capture_test_api_conversations_CFLAGS = $(API_TEST_CFLAGS)
tests_capture_test_api_conversations_LDADD = $(API_TEST_LDADD)

# The capture CA in workspace containers, against a real dockerd.
check_PROGRAMS += tests/capture/test_engine_ca
tests_capture_test_engine_ca_SOURCES = tests/capture/test_engine_ca.c \
	api/engine.c api/engine.h api/engine_client.c api/engine_client.h \
	api/engine_docker.c api/engine_swarm.c api/engine_tar.c api/engine_tar.h
tests_capture_test_engine_ca_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
tests_capture_test_engine_ca_LDADD = policy/libpolicy.la $(CURL_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS)
TESTS += tests/capture/test-engine-ca.sh
dist_check_SCRIPTS += tests/capture/test-engine-ca.sh

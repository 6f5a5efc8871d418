# LLM conversation capture: the capture store (and the upgrade of a schema 1
# store), the parsers, and end to end through squid-openssl and c-icap.
capture_unit_tests = \
	tests/capture/test_capture_store
check_PROGRAMS += $(capture_unit_tests)
TESTS += $(capture_unit_tests)
UNIT_TESTS += $(capture_unit_tests)
EXTRA_DIST += tests/capture/README.md tests/capture/fixtures/store-v1/data.mdb \
	tests/capture/fixtures/make-store-v1.c

tests_capture_test_capture_store_SOURCES = tests/capture/test_capture_store.c
tests_capture_test_capture_store_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_capture_test_capture_store_LDADD = policy/libpolicy.la $(LMDB_LIBS)

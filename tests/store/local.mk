# The LMDB half of the policy core on real environments in a temporary
# directory: the store, the decision, concurrency between processes and
# threads, exact recording (also across a kill -9), and the gate every
# program that decides goes through (its store failures). They need nothing
# but libpolicy, so the sanitizer build runs them too (make check-unit).
store_tests = \
	tests/store/test_store \
	tests/store/test_decide \
	tests/store/test_match \
	tests/store/test_resize \
	tests/store/test_concurrency \
	tests/store/test_recorder \
	tests/store/test_recorder_crash \
	tests/store/test_gate
check_PROGRAMS += $(store_tests)
TESTS += $(store_tests)
UNIT_TESTS += $(store_tests)
EXTRA_DIST += tests/store/README.md tests/store/storetest.h

tests_store_test_store_SOURCES = tests/store/test_store.c
tests_store_test_store_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_store_test_store_LDADD = policy/libpolicy.la $(LMDB_LIBS)
tests_store_test_decide_SOURCES = tests/store/test_decide.c
tests_store_test_decide_LDADD = policy/libpolicy.la
tests_store_test_match_SOURCES = tests/store/test_match.c
tests_store_test_match_LDADD = policy/libpolicy.la
tests_store_test_resize_SOURCES = tests/store/test_resize.c
tests_store_test_resize_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS) $(PCRE2_CFLAGS)
tests_store_test_resize_LDADD = policy/libpolicy.la $(PTHREAD_LIBS)
tests_store_test_concurrency_SOURCES = tests/store/test_concurrency.c
tests_store_test_concurrency_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_store_test_concurrency_LDADD = policy/libpolicy.la $(LMDB_LIBS) $(PTHREAD_LIBS)
tests_store_test_recorder_SOURCES = tests/store/test_recorder.c
tests_store_test_recorder_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_store_test_recorder_LDADD = policy/libpolicy.la $(LMDB_LIBS) $(PTHREAD_LIBS)
tests_store_test_recorder_crash_SOURCES = tests/store/test_recorder_crash.c
tests_store_test_recorder_crash_LDADD = policy/libpolicy.la
tests_store_test_gate_SOURCES = tests/store/test_gate.c
tests_store_test_gate_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_store_test_gate_LDADD = policy/libpolicy.la $(LMDB_LIBS) $(PTHREAD_LIBS)

# Listing from a key on, counting, the store generation (for paged API answers).
check_PROGRAMS += tests/store/test_listing
TESTS += tests/store/test_listing
UNIT_TESTS += tests/store/test_listing
tests_store_test_listing_SOURCES = tests/store/test_listing.c
tests_store_test_listing_LDADD = policy/libpolicy.la

# A schema-2 store (made by the code of schema 2: fixtures/make-store-v2.sh)
# upgraded to schema 3 (accounts, issue 19): every old database unchanged.
check_PROGRAMS += tests/store/test_store_upgrade
TESTS += tests/store/test_store_upgrade
UNIT_TESTS += tests/store/test_store_upgrade
tests_store_test_store_upgrade_SOURCES = tests/store/test_store_upgrade.c
tests_store_test_store_upgrade_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_store_test_store_upgrade_LDADD = policy/libpolicy.la $(LMDB_LIBS)
EXTRA_DIST += tests/store/fixtures/store-v2/data.mdb tests/store/fixtures/make-store-v2.sh

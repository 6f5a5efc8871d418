# The proxy side's metrics: the shared counters file and its Prometheus
# text as a unit test (processes and threads adding at once, a process
# killed, a layout change; also in the sanitizer build), and the exact
# counts of known traffic through squid with four egress-acl helpers and
# through c-icap with four children, read from egress-api's /metrics.
metrics_unit_tests = tests/metrics/test_counters
check_PROGRAMS += $(metrics_unit_tests)
TESTS += $(metrics_unit_tests)
UNIT_TESTS += $(metrics_unit_tests)
tests_metrics_test_counters_SOURCES = tests/metrics/test_counters.c
tests_metrics_test_counters_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_metrics_test_counters_LDADD = policy/libpolicy.la $(LMDB_LIBS) $(PTHREAD_LIBS)

# The metrics text of a store directory, for shell tests without egress-api
# (tests/capture/test-capture-e2e.sh).
check_PROGRAMS += tests/metrics/metricsdump
tests_metrics_metricsdump_SOURCES = tests/metrics/metricsdump.c
tests_metrics_metricsdump_LDADD = policy/libpolicy.la

METRICS_TESTS = tests/metrics/test-metrics.sh
TESTS += $(METRICS_TESTS)
tests/metrics/test-metrics.log: acl/egress-acl$(EXEEXT) api/egress-api$(EXEEXT)
dist_check_SCRIPTS += $(METRICS_TESTS)
EXTRA_DIST += tests/metrics/README.md

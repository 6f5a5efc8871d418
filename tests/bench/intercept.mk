# Benchmark of interception: tests/bench/bench-intercept.sh (run by hand as
# root, not by make check) and its TLS connection load tool, built by make
# check so it stays compilable.
check_PROGRAMS += tests/bench/tls-load
tests_bench_tls_load_SOURCES = tests/bench/tls-load.c
tests_bench_tls_load_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
tests_bench_tls_load_LDADD = $(CURL_LIBS) $(PTHREAD_LIBS)
dist_noinst_SCRIPTS += tests/bench/bench-intercept.sh

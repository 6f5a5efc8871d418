# Benchmark of LLM capture: tests/bench/bench-capture.sh (run by hand) and
# its TLS origin and load client, built by make check so it stays compilable.
check_PROGRAMS += tests/bench/capture-load
tests_bench_capture_load_SOURCES = tests/bench/capture-load.c
tests_bench_capture_load_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(OPENSSL_CFLAGS)
tests_bench_capture_load_LDADD = $(CURL_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)
dist_noinst_SCRIPTS += tests/bench/bench-capture.sh

# Benchmarks of the icap part: tests/bench/bench-icap.sh (run by hand, not
# by make check) and its direct ICAP load tool, built by make check so it
# stays compilable.
check_PROGRAMS += tests/bench/icap-load
tests_bench_icap_load_SOURCES = tests/bench/icap-load.c
tests_bench_icap_load_LDADD = $(PTHREAD_LIBS)
dist_noinst_SCRIPTS += tests/bench/bench-icap.sh tests/bench/bench-filter.sh
# The external ACL helper beside ICAP and its peers: tests/bench/bench-acl.sh
# (by hand), its CONNECT load tool and its two floors: the null helper
# (built here) and the null eCAP adapter (C++, compiled by the script itself
# when libecap3-dev is installed).
check_PROGRAMS += tests/bench/connect-load tests/bench/null-acl
tests_bench_connect_load_SOURCES = tests/bench/connect-load.c
tests_bench_connect_load_LDADD = $(PTHREAD_LIBS)
tests_bench_null_acl_SOURCES = tests/bench/null-acl.c
dist_noinst_SCRIPTS += tests/bench/bench-acl.sh tests/bench/bench-acl-instructions.sh
EXTRA_DIST += tests/bench/floors.sh
EXTRA_DIST += tests/bench/null-ecap.cc

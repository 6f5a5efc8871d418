# egress-dns's query path in a loop, for callgrind (tests/bench/README.md, DNS):
#   valgrind --tool=callgrind build/tests/bench/bench_dns_query INPUT RUNS
noinst_PROGRAMS += tests/bench/bench_dns_query
tests_bench_bench_dns_query_SOURCES = tests/bench/bench_dns_query.c
tests_bench_bench_dns_query_CPPFLAGS = $(AM_CPPFLAGS) $(LDNS_CFLAGS)
tests_bench_bench_dns_query_LDADD = dns/libegressdns.la $(LDNS_LIBS)

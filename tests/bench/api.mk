# Benchmarks of the api part: tests/bench/bench_api (run by hand, not by
# make check; built by make check so it stays compilable). From the build
# directory: make tests/bench/bench_api && top_builddir=. tests/bench/bench_api
check_PROGRAMS += tests/bench/bench_api
tests_bench_bench_api_SOURCES = tests/bench/bench_api.c
tests_bench_bench_api_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
tests_bench_bench_api_LDADD = policy/libpolicy.la $(CURL_LIBS)

# Accounts (issue 19): sign-in p99 and a teacher's listing against the admin
# token's, in one run. From the build directory:
# make tests/bench/bench_accounts && top_builddir=. tests/bench/bench_accounts
check_PROGRAMS += tests/bench/bench_accounts
tests_bench_bench_accounts_SOURCES = tests/bench/bench_accounts.c
tests_bench_bench_accounts_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
tests_bench_bench_accounts_LDADD = policy/libpolicy.la $(CURL_LIBS)

# Benchmarks of the policy part: bench_policy (decision cost for 10, 10k and
# 1M rules, recording throughput). Built by `make`, run by hand:
#   build/tests/bench/bench_policy [lookups]
noinst_PROGRAMS += tests/bench/bench_policy
tests_bench_bench_policy_SOURCES = tests/bench/bench_policy.c
tests_bench_bench_policy_LDADD = policy/libpolicy.la $(PTHREAD_LIBS)

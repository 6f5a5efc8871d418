# Benchmarks: built by `make check` (so they stay compilable), run by hand
# or by tests/bench/run-all.sh; each part has its own fragment.
include $(srcdir)/tests/bench/policy.mk
include $(srcdir)/tests/bench/icap.mk
include $(srcdir)/tests/bench/api.mk
include $(srcdir)/tests/bench/intercept.mk
include $(srcdir)/tests/bench/capture.mk
EXTRA_DIST += tests/bench/README.md tests/bench/bench-ui.sh tests/bench/bench-ui.mjs
EXTRA_DIST += tests/bench/bench-dns.sh
# The cluster (tests/bench/bench-cluster.sh, run by hand; docs/cluster.md).
EXTRA_DIST += tests/bench/bench-cluster.sh
include $(srcdir)/tests/bench/dns.mk

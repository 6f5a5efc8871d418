# Every test suite describes itself in its own folder's local.mk.
AM_TESTS_ENVIRONMENT += TMPDIR="$${TMPDIR:-/tmp}"; export TMPDIR;
EXTRA_DIST += tests/lib/testutil.h tests/lib/check.sh tests/lib/README.md tests/style/README.md docs/README.md
include $(srcdir)/tests/style/local.mk
include $(srcdir)/tests/unit/local.mk
include $(srcdir)/tests/fuzz/local.mk
include $(srcdir)/tests/store/local.mk
include $(srcdir)/tests/icap/local.mk
include $(srcdir)/tests/acl/local.mk
include $(srcdir)/tests/api/local.mk
include $(srcdir)/tests/containers/local.mk
include $(srcdir)/tests/bench/local.mk
include $(srcdir)/tests/ui/local.mk
include $(srcdir)/tests/network/local.mk
include $(srcdir)/tests/capture/local.mk
include $(srcdir)/tests/quickstart/local.mk
include $(srcdir)/tests/cluster/swarm.mk
include $(srcdir)/tests/metrics/local.mk
include $(srcdir)/tests/dns/local.mk
include $(srcdir)/tests/packages/local.mk
include $(srcdir)/tests/cluster/local.mk

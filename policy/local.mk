# The policy core: a convenience library linked into srv_egress.so, egress-api and the tests.
noinst_LTLIBRARIES += policy/libpolicy.la
policy_libpolicy_la_SOURCES = \
	policy/error.c policy/error.h \
	policy/percent.c policy/percent.h \
	policy/host.c policy/host.h \
	policy/rule.c policy/rule.h policy/rule_internal.h \
	policy/covers.c policy/covers.h \
	policy/rule_set.c policy/rule_set.h \
	policy/size.c policy/size.h \
	policy/ratelimit.c policy/ratelimit.h \
	policy/category.c policy/category.h \
	policy/store.h policy/store_internal.h policy/store_parts.c \
	policy/store_env.c policy/store_env.h \
	policy/store_projects.c policy/store_projects.h \
	policy/store_rules.c policy/store_rules.h \
	policy/store_match.c policy/store_match.h \
	policy/store_seen.c policy/store_seen.h \
	policy/store_audit.c policy/store_audit.h \
	policy/store_accounts.c policy/store_accounts.h \
	policy/store_cluster.c policy/store_cluster.h \
	policy/decide.c policy/decide.h \
	policy/recorder.c policy/recorder.h \
	policy/counters.c policy/counters.h \
	policy/metrics.c policy/metrics.h \
	policy/gate.c policy/gate.h \
	policy/capture_store.c policy/capture_store.h
policy_libpolicy_la_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS) $(PCRE2_CFLAGS) $(IDN2_CFLAGS) $(PSL_CFLAGS)
policy_libpolicy_la_LIBADD = $(LMDB_LIBS) $(PCRE2_LIBS) $(IDN2_LIBS) $(PSL_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += policy/README.md

# The capture's parsers (jansson, zlib, libbrotli) and its batch writer,
# which parses what it stores: apart from libpolicy so the policy core
# keeps its short list of dependencies.
noinst_LTLIBRARIES += policy/libcapture.la
policy_libcapture_la_SOURCES = policy/capture_parse.c policy/capture_parse.h \
	policy/capture_writer.c policy/capture_writer.h
policy_libcapture_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(ZLIB_CFLAGS) $(BROTLIDEC_CFLAGS) \
	$(LMDB_CFLAGS)
policy_libcapture_la_LIBADD = $(JANSSON_LIBS) $(ZLIB_LIBS) $(BROTLIDEC_LIBS) $(PTHREAD_LIBS)

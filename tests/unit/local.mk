# Unit tests of the policy core's pure parts: hosts, percent-decoding,
# rules, rule semantics, the rule set of "already covered", sizes, categories, the rate limiter and allocation
# failures. They need nothing but libpolicy, so the sanitizer build runs
# them too (make check-unit).
unit_tests = \
	tests/unit/test_host \
	tests/unit/test_percent \
	tests/unit/test_rule \
	tests/unit/test_rule_semantics \
	tests/unit/test_covers \
	tests/unit/test_rule_set \
	tests/unit/test_size \
	tests/unit/test_category \
	tests/unit/test_ratelimit \
	tests/unit/test_alloc
check_PROGRAMS += $(unit_tests)
TESTS += $(unit_tests)
UNIT_TESTS += $(unit_tests)
EXTRA_DIST += tests/unit/README.md

tests_unit_test_host_SOURCES = tests/unit/test_host.c
tests_unit_test_host_LDADD = policy/libpolicy.la
tests_unit_test_rule_SOURCES = tests/unit/test_rule.c
tests_unit_test_rule_LDADD = policy/libpolicy.la
tests_unit_test_rule_semantics_SOURCES = tests/unit/test_rule_semantics.c
tests_unit_test_rule_semantics_LDADD = policy/libpolicy.la
tests_unit_test_category_SOURCES = tests/unit/test_category.c
tests_unit_test_category_LDADD = policy/libpolicy.la
tests_unit_test_alloc_SOURCES = tests/unit/test_alloc.c
tests_unit_test_alloc_LDADD = policy/libpolicy.la
tests_unit_test_covers_SOURCES = tests/unit/test_covers.c
tests_unit_test_covers_LDADD = policy/libpolicy.la
tests_unit_test_rule_set_SOURCES = tests/unit/test_rule_set.c
tests_unit_test_rule_set_LDADD = policy/libpolicy.la
tests_unit_test_size_SOURCES = tests/unit/test_size.c
tests_unit_test_size_LDADD = policy/libpolicy.la
tests_unit_test_percent_SOURCES = tests/unit/test_percent.c
tests_unit_test_percent_LDADD = policy/libpolicy.la
tests_unit_test_ratelimit_SOURCES = tests/unit/test_ratelimit.c
tests_unit_test_ratelimit_LDADD = policy/libpolicy.la $(PTHREAD_LIBS)

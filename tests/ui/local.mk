# The review page in a real headless Chromium (tests/ui/README.md).
check_PROGRAMS += tests/ui/fill_seen
tests_ui_fill_seen_SOURCES = tests/ui/fill_seen.c
tests_ui_fill_seen_LDADD = policy/libpolicy.la
check_PROGRAMS += tests/ui/fill_conversations
tests_ui_fill_conversations_SOURCES = tests/ui/fill_conversations.c
tests_ui_fill_conversations_LDADD = policy/libpolicy.la

UI_TESTS = tests/ui/test-ui.sh
TESTS += $(UI_TESTS)
dist_check_SCRIPTS += $(UI_TESTS)
EXTRA_DIST += tests/ui/README.md tests/ui/ui.sh tests/ui/ui-test.mjs
CLEANFILES += tests/ui/review.png tests/ui/review.png.failed.png
clean-local: clean-ui-modules
clean-ui-modules:
	-rm -rf tests/ui/node_modules tests/ui/package-lock.json
.PHONY: clean-ui-modules

# Teachers and courses on the page (issue 19): two teachers, an admin.
TESTS += tests/ui/test-ui-courses.sh
dist_check_SCRIPTS += tests/ui/test-ui-courses.sh
EXTRA_DIST += tests/ui/ui-courses.mjs
tests/ui/test-ui-courses.log: api/egress-api$(EXEEXT) tests/ui/fill_seen$(EXEEXT)

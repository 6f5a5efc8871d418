# The external ACL helper: fed directly (protocol edge cases) and end to end
# through the real squid, compared with the ICAP path; and a squid test run
# from a clone in a private directory (test-private-clone.sh).
ACL_TESTS = \
	tests/acl/test-protocol.sh \
	tests/acl/test-e2e-both.sh \
	tests/acl/test-sni.sh \
	tests/acl/test-private-clone.sh
TESTS += $(ACL_TESTS)
# The helper needs no root and no squid for its protocol test: run it in the
# sanitizer build too.
SANITIZER_TESTS += tests/acl/test-protocol.sh
dist_check_SCRIPTS += $(ACL_TESTS)
EXTRA_DIST += tests/acl/README.md

# The Debian packages (debian/): built from the tree, lintian, installed with
# apt into a fresh Debian 12 root (debootstrap, cached in the build
# directory under tests/packages/cache) and run there.
TESTS += tests/packages/test-packages.sh
dist_check_SCRIPTS += tests/packages/test-packages.sh
EXTRA_DIST += tests/packages/README.md tests/packages/run-in-root.sh tests/packages/capture-docs.sh \
	tests/packages/quickstart-packages.sh debian

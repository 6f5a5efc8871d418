# The container engine client (api/engine.c) against a real dockerd in its
# own namespaces (tests/lib/dockerd.sh); test-engine.sh starts it and runs
# test_engine; test-engine-podman.sh runs the same against podman's service
# (podman is a test package; skipped only when it is not installed). The engine sources are listed here too, so the suite builds
# on its own; egress-api links the same files.
check_PROGRAMS += tests/containers/test_engine
tests_containers_test_engine_SOURCES = tests/containers/test_engine.c \
	api/engine.c api/engine.h api/engine_client.c api/engine_client.h \
	api/engine_docker.c api/engine_swarm.c api/engine_tar.c api/engine_tar.h
tests_containers_test_engine_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
tests_containers_test_engine_LDADD = policy/libpolicy.la $(CURL_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS)
TESTS += tests/containers/test-engine.sh tests/containers/test-engine-podman.sh
dist_check_SCRIPTS += tests/containers/test-engine.sh tests/containers/test-engine-podman.sh

# egress-api with the engine, through its API (test-api-containers.sh).
TESTS += tests/containers/test-api-containers.sh
dist_check_SCRIPTS += tests/containers/test-api-containers.sh
tests/containers/test-api-containers.log: api/egress-api$(EXEEXT)
EXTRA_DIST += tests/lib/dockerd.sh tests/containers/README.md

#!/bin/sh
# api/engine.c against a real engine in namespaces of its own: dockerd
# (Debian's docker.io), or podman's Docker-compatible service with
# ENGINE_KIND=podman (test-engine-podman.sh). Start it, import the busybox
# stand-in workspace image, make a network, run test_engine, and tear
# everything down on any exit. Skips (77) only when the engine, unshare or
# a static busybox is not installed.
. "${top_srcdir:-.}/tests/lib/dockerd.sh"

kind=${ENGINE_KIND:-dockerd}
case "$kind" in
dockerd) dockerd_have_tools || exit 77 ;;
podman) podman_have_tools || exit 77 ;;
*) echo "test-engine: unknown ENGINE_KIND $kind"; exit 99 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
    echo "test-engine: $kind needs root here; run make check as root"
    exit 99
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ep-engine-$kind-XXXXXX") || exit 99
trap 'dockerd_stop' EXIT
trap 'exit 99' HUP INT TERM
if [ "$kind" = podman ]; then
    podman_service_start "$work" || exit 99
else
    dockerd_start "$work" || exit 99
fi
dockerd_build_image localhost/ws-test:latest || exit 99
dockerd_network_create ws-test-net || exit 99
ENGINE_SOCKET=$DOCKERD_SOCK ENGINE_IMAGE=localhost/ws-test:latest ENGINE_NETWORK=ws-test-net \
    "${top_builddir:-.}/tests/containers/test_engine"

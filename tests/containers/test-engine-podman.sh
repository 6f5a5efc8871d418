#!/bin/sh
# The same suite as test-engine.sh against podman's Docker-compatible
# service (`podman system service`) in namespaces of its own. Optional:
# skips (77) when podman is not installed.
. "${top_srcdir:-.}/tests/lib/dockerd.sh"

podman_have_tools || exit 77
if [ "$(id -u)" -ne 0 ]; then
    echo "test-engine-podman: the podman service needs root here; run make check as root"
    exit 99
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ep-podman-XXXXXX") || exit 99
trap 'dockerd_stop' EXIT
trap 'exit 99' HUP INT TERM
podman_service_start "$work" || exit 99
dockerd_build_image localhost/ws-test:latest || exit 99
dockerd_network_create ws-test-net || exit 99
ENGINE_SOCKET=$DOCKERD_SOCK ENGINE_IMAGE=localhost/ws-test:latest ENGINE_NETWORK=ws-test-net \
    "${top_builddir:-.}/tests/containers/test_engine"

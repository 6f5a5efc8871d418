#!/bin/sh
# The capture CA in workspace containers: start dockerd in namespaces of its
# own (tests/lib/dockerd.sh), import the busybox stand-in image, run
# test_engine_ca, tear everything down on any exit. Skips (77) only when
# dockerd, unshare or a static busybox is not installed.
. "${top_srcdir:-.}/tests/lib/dockerd.sh"

dockerd_have_tools || exit 77
if [ "$(id -u)" -ne 0 ]; then
    echo "test-engine-ca: dockerd needs root here; run make check as root"
    exit 99
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ep-engine-ca-XXXXXX") || exit 99
trap 'dockerd_stop' EXIT
trap 'exit 99' HUP INT TERM
dockerd_start "$work" || exit 99
dockerd_build_image localhost/ws-test:latest || exit 99
dockerd_network_create ws-test-net || exit 99
ENGINE_SOCKET=$DOCKERD_SOCK ENGINE_IMAGE=localhost/ws-test:latest ENGINE_NETWORK=ws-test-net \
    "${top_builddir:-.}/tests/capture/test_engine_ca"

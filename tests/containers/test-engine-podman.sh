#!/bin/sh
# The same suite as test-engine.sh against podman's Docker-compatible
# service (`podman system service`). Optional: skips (77) when podman is
# not installed.
ENGINE_KIND=podman exec sh "${top_srcdir:-.}/tests/containers/test-engine.sh"

#!/bin/sh
# Installs, as root on Debian 12, the packages egress-policy needs.
#   contrib/install-deps.sh          build and run (squid, c-icap, libraries)
#   contrib/install-deps.sh --test   also what the tests and benchmarks use
# Does nothing when every package is installed already.
set -eu

build="autoconf automake libtool pkg-config make gcc
 liblmdb-dev libpcre2-dev libidn2-dev libpsl-dev libcurl4-openssl-dev
 libmicrohttpd-dev libcrypt-dev libjansson-dev libicapapi-dev zlib1g-dev libbrotli-dev libssl-dev"
# squid-openssl is Debian's TLS-capable squid (ssl-bump for interception and
# capture); it conflicts with, and replaces, the plain "squid" package.
run="squid-openssl c-icap lmdb-utils curl ca-certificates openssl"
# Tests: a real engine (docker.io, podman), a real browser (chromium, driven
# by playwright-core from npm), a resolver and firewall for the workspace
# network (dnsmasq-base, nftables, iptables), peers for the benchmarks, python3
# for the fake LLM origin of the capture tests.
test="docker.io podman busybox-static wrk clang clang-format iproute2 util-linux procps psmisc
 chromium dnsmasq-base nftables iptables squidguard python3"
# podman's network plugins are only a recommendation of the package.
test="$test containernetworking-plugins"
# The cluster tests (tests/cluster): a 3-member etcd cluster and etcdctl.
test="$test etcd-server etcd-client"

# npm comes with nodejs where that is installed from elsewhere; Debian's
# own npm package otherwise.
command -v npm >/dev/null 2>&1 || test="$test npm"

packages="$build $run"
[ "${1:-}" = "--test" ] && packages="$packages $test"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages:$missing; run this script as root" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
# Debian starts the packaged daemons on install; ours are started by the
# quick start or the tests on ports of their own, so leave the system ones off.
for service in squid c-icap docker etcd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
        systemctl stop "$service" || true
    fi
done

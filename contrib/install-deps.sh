#!/bin/sh
# Installs, as root on Debian 12, the packages egress-policy needs.
#   contrib/install-deps.sh          build and run (squid, c-icap, libraries)
#   contrib/install-deps.sh --test   also what the tests and benchmarks use
#   contrib/install-deps.sh --packages
#                                    also build egress-policy's own Debian
#                                    packages from this tree (debian/) and
#                                    install them with apt
# Does nothing when every package is installed already.
set -eu

build="autoconf automake libtool pkg-config make gcc
 liblmdb-dev libpcre2-dev libidn2-dev libpsl-dev libcurl4-openssl-dev
 libmicrohttpd-dev libcrypt-dev libjansson-dev libicapapi-dev zlib1g-dev libbrotli-dev libssl-dev"
# docs/openapi.yaml becomes the JSON egress-api serves, at build time.
build="$build python3-yaml"
# egress-dns: libunbound resolves, ldns reads and writes DNS messages.
build="$build libunbound-dev libldns-dev"
# libunbound.pc names libevent among its private requirements: pkg-config wants its .pc.
build="$build libevent-dev"
# squid-openssl is Debian's TLS-capable squid (ssl-bump for interception and
# capture); it conflicts with, and replaces, the plain "squid" package.
run="squid-openssl c-icap lmdb-utils curl ca-certificates openssl"
# Tests: a real engine (docker.io, podman), a real browser (chromium, driven
# by playwright-core from npm), a resolver and firewall for the workspace
# network (dnsmasq-base, nftables, iptables), peers for the benchmarks, python3
# for the fake LLM origin of the capture tests.
test="docker.io podman busybox-static wrk clang clang-format iproute2 util-linux procps psmisc
 chromium dnsmasq-base nftables iptables squidguard python3"
# The API answers checked against docs/openapi.yaml (tests/api/openapi-validate.py).
test="$test python3-jsonschema"
# podman's network plugins are only a recommendation of the package.
test="$test containernetworking-plugins"
# The swarm tests read the engines' JSON answers with jq.
test="$test jq"
# egress-dns tests and benchmark: an authoritative server, a real DNS tunnel,
# the load tool and the resolver it is compared with.
test="$test nsd iodine dnsperf unbound bind9-dnsutils"
# The Debian packages (debian/, tests/packages/): their build, lintian, and
# the fresh Debian 12 root they are installed into.
packaging="dpkg-dev debhelper help2man lintian"
test="$test $packaging debootstrap"
# The cluster tests (tests/cluster): a 3-member etcd cluster and etcdctl.
test="$test etcd-server etcd-client"

# npm comes with nodejs where that is installed from elsewhere; Debian's
# own npm package otherwise.
command -v npm >/dev/null 2>&1 || test="$test npm"

packages="$build $run"
from_packages=0
for arg in "$@"; do
    case $arg in
    --test) packages="$packages $test" ;;
    --packages)
        packages="$packages $packaging"
        from_packages=1
        ;;
    *)
        echo "install-deps: unknown option $arg (--test, --packages)" >&2
        exit 2
        ;;
    esac
done

# install_own_packages: build egress-policy's packages from this tree (in a
# copy, so the tree stays as it is) and install them with apt.
install_own_packages() {
    top=$(cd "$(dirname "$0")/.." && pwd)
    work=$(mktemp -d "${TMPDIR:-/tmp}/egress-packages.XXXXXX")
    mkdir "$work/egress-policy"
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$top" && git ls-files -co --exclude-standard -z | grep -zv '^build' |
            xargs -0 cp --parents -t "$work/egress-policy")
    else
        (cd "$top" && tar -cf - --exclude='./build*' --exclude=./var .) | tar -xf - -C "$work/egress-policy"
    fi
    echo "install-deps: building egress-policy's packages in $work"
    (cd "$work/egress-policy" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
        echo "install-deps: dpkg-buildpackage failed; see $work/build.log" >&2
        exit 1
    }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$work"/egress-policy-common_*.deb \
        "$work"/egress-api_*.deb "$work"/egress-squid_*.deb "$work"/egress-icap_*.deb
    rm -rf "$work"
}

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    [ $from_packages = 1 ] && install_own_packages
    exit 0
fi

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
for service in squid c-icap docker unbound nsd etcd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
        systemctl stop "$service" || true
    fi
done
[ $from_packages = 1 ] && install_own_packages
exit 0

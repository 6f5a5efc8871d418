#!/bin/bash
# The Debian packages (debian/) as an administrator gets them: built from
# this tree with dpkg-buildpackage, checked by lintian, and installed with
# apt into a fresh Debian 12 root made by debootstrap from the Debian
# mirror this machine uses (the bare root is cached in the build
# directory, tests/packages/cache/root, and so are the .debs apt
# downloads). Inside that root:
#   - the maintainer scripts' work: user and group egress with proxy and
#     c-icap in it, the store and /etc/egress-policy with their owners and
#     modes, egress-api's unit enabled and egress-net's not;
#   - systemd-analyze verify on every installed unit and drop-in;
#   - in a network namespace of its own (loopback, plus a veth pair to a
#     second namespace holding the origin at 198.51.100.10): egress-api
#     started from its installed unit's ExecStart, User and UMask, squid
#     set up with the installed snippets as debian/README.md says, and a
#     security project whose whitelisted host is allowed and another
#     denied with our page, both recorded;
#   - the capture set-up of contrib/capture/README.md run exactly as
#     written (the block between its "packages" markers), against a fake
#     LLM origin over TLS: a conversation captured;
#   - apt-get remove keeps the store, apt-get purge removes it and the
#     configuration.
# Needs root, debootstrap, dpkg-dev, debhelper, lintian, help2man and the
# build dependencies (contrib/install-deps.sh --test).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/lib/check.sh"

T0=$(date +%s)
[ "$(id -u)" = 0 ] || {
    echo "needs root (debootstrap, chroot, network namespaces)"
    exit 77
}
for tool in debootstrap:debootstrap dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian \
    help2man:help2man unshare:util-linux nsenter:util-linux ip:iproute2 python3:python3 openssl:openssl; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || {
        echo "${tool%%:*} is not installed (Debian: ${tool#*:}; contrib/install-deps.sh --test)"
        exit 77
    }
done

W="$top_builddir/tests/packages"
CACHE="$W/cache"
RUN="$W/run-$$"
R="$RUN/root"
PKGS="egress-policy-common egress-api egress-squid egress-icap egress-dns egress-node"
# The mirror apt uses on this machine (its bookworm "main"), else Debian's.
MIRROR=${EGRESS_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$CACHE/archives/partial" "$RUN"

cleanup() {
    # Every mount lived in a private mount namespace and every process in
    # a PID namespace of its own: both are gone. Keep the logs of a failed run.
    if [ -n "${EGRESS_KEEP_ROOT:-}" ]; then
        echo "kept (EGRESS_KEEP_ROOT): $RUN"
    elif [ "${failures:-1}" = 0 ]; then
        rm -rf "$RUN"
    else
        rm -rf "$R" "$RUN/src"
        echo "logs kept in $RUN"
    fi
}
trap cleanup EXIT

# in_root CMD...: CMD in the root, with /proc, the apt cache, and the
# host's network (apt reaches the mirror), in a private mount namespace.
in_root() {
    unshare --mount --fork -- sh -c '
        R=$1 CACHE=$2; shift 2
        mount -t proc proc "$R/proc" && mount --bind "$CACHE/archives" "$R/var/cache/apt/archives" &&
            exec chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
                LANG=C.UTF-8 HOME=/root "$@"' sh "$R" "$CACHE" "$@"
}

# --- 1. build and lintian ----------------------------------------------------
echo "== build (dpkg-buildpackage -us -uc -b, in $RUN/src)"
SRC="$RUN/src/egress-policy"
mkdir -p "$SRC"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
    # The tree as it is (tracked and new files), without build output.
    (cd "$top_srcdir" && git ls-files -co --exclude-standard -z | grep -zv '^build' |
        xargs -0 cp --parents -t "$SRC") || exit 99
else
    (cd "$top_srcdir" && tar -cf - --exclude='./build*' --exclude=./var .) | tar -xf - -C "$SRC" || exit 99
fi
missing=$(cd "$SRC" && dpkg-checkbuilddeps 2>&1) || {
    echo "build dependencies missing: $missing (contrib/install-deps.sh --test)"
    exit 99
}
if (cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
    >"$RUN/build.log" 2>&1; then
    ok "dpkg-buildpackage -us -uc -b builds every package"
else
    fail "dpkg-buildpackage -us -uc -b builds every package" "$(tail -20 "$RUN/build.log")"
    finish
    exit 1
fi
for p in $PKGS; do
    [ -f "$RUN/src/${p}_"*.deb ] 2>/dev/null || ls "$RUN/src/${p}_"*.deb >/dev/null 2>&1 ||
        fail "package $p built" "no .deb"
done
lint=$(lintian "$RUN/src/"egress-policy_*.changes 2>&1 | grep -E '^[EW]: ')
expect_eq "lintian: no error or warning" "$lint" ""
T_BUILD=$(date +%s)

# --- 2. a fresh Debian 12 root, the packages installed with apt ------------
if [ ! -x "$CACHE/root/usr/bin/apt-get" ]; then
    echo "== debootstrap bookworm from $MIRROR (cached in $CACHE/root)"
    rm -rf "$CACHE/root.new"
    debootstrap --variant=minbase bookworm "$CACHE/root.new" "$MIRROR" >"$RUN/debootstrap.log" 2>&1 || {
        echo "debootstrap failed:"
        tail -20 "$RUN/debootstrap.log"
        exit 99
    }
    mv "$CACHE/root.new" "$CACHE/root"
fi
T_ROOT=$(date +%s)
echo "== a copy of the root, apt-get install of the packages"
cp -a "$CACHE/root" "$R" || exit 99
cp /etc/resolv.conf "$R/etc/resolv.conf"
# Nothing starts daemons in this root while packages are installed (squid's
# own postinst would otherwise start it on the host's network).
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
mkdir -p "$R/tmp/debs"
for p in $PKGS; do cp "$RUN/src/${p}_"*.deb "$R/tmp/debs/"; done
# curl, systemd and procps are the test's tools (a client, systemd-analyze,
# and the /bin/kill squid's unit names).
if in_root sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends /tmp/debs/*.deb curl systemd procps' \
    >"$RUN/apt-install.log" 2>&1; then
    ok "apt-get install of every package in a fresh bookworm root"
else
    fail "apt-get install of every package in a fresh bookworm root" "$(tail -20 "$RUN/apt-install.log")"
    finish
    exit 1
fi
T_INSTALL=$(date +%s)

# --- 3. what the maintainer scripts made ------------------------------------
expect_match "user egress, a system user with the group egress" \
    "$(chroot "$R" getent passwd egress)" '^egress:x:[0-9]{1,3}:[0-9]+:[^:]*:/var/lib/egress-policy:/usr/sbin/nologin$'
group=$(chroot "$R" getent group egress)
expect_match "proxy (squid, egress-acl) is in the group egress" "$group" '^egress:x:[0-9]+:.*\bproxy\b'
expect_match "c-icap is in the group egress" "$group" '^egress:x:[0-9]+:.*\bc-icap\b'
expect_eq "the store /var/lib/egress-policy: egress:egress 770" \
    "$(chroot "$R" stat -c '%U:%G %a' /var/lib/egress-policy)" "egress:egress 770"
expect_eq "/etc/egress-policy: root:egress 750" "$(chroot "$R" stat -c '%U:%G %a' /etc/egress-policy)" "root:egress 750"
[ -L "$R/etc/systemd/system/multi-user.target.wants/egress-api.service" ] &&
    ok "egress-api.service enabled" || fail "egress-api.service enabled"
[ -e "$R/etc/systemd/system/multi-user.target.wants/egress-net.service" ] &&
    fail "egress-net.service not enabled (it changes the firewall and needs dockerd)" ||
    ok "egress-net.service not enabled (it changes the firewall and needs dockerd)"
expect_match "egress-api's unit waits for the admin token" \
    "$(cat "$R/lib/systemd/system/egress-api.service")" '^ConditionPathExists=/etc/egress-policy/admin-token$'
[ -L "$R/etc/systemd/system/multi-user.target.wants/egress-capture.service" ] &&
    ok "egress-capture.service enabled" || fail "egress-capture.service enabled"
expect_match "egress-capture's unit waits for the capture CA" \
    "$(cat "$R/lib/systemd/system/egress-capture.service")" '^ConditionPathExists=/var/lib/egress-policy/ca/ca.pem$'
expect_match "egress-capture's unit runs c-icap from the shipped file alone" \
    "$(cat "$R/lib/systemd/system/egress-capture.service")" '^ExecStart=/usr/bin/c-icap -N -f /etc/c-icap/egress-capture.conf$'
expect_match "egress-dns's unit waits for egress-net's configuration" \
    "$(cat "$R/lib/systemd/system/egress-dns.service")" '^ConditionPathExists=/run/egress-policy/egress-dns.env$'
expect_match "egress-dns's unit runs the installed program" \
    "$(cat "$R/lib/systemd/system/egress-dns.service")" '^ExecStart=/usr/bin/egress-dns '
[ -L "$R/etc/systemd/system/multi-user.target.wants/egress-node.service" ] &&
    ok "egress-node.service enabled" || fail "egress-node.service enabled"
expect_match "egress-node's unit waits for the node's configuration" \
    "$(cat "$R/lib/systemd/system/egress-node.service")" '^ConditionPathExists=/etc/egress-policy/node.env$'
expect_match "egress-node's unit runs the installed program" \
    "$(cat "$R/lib/systemd/system/egress-node.service")" '^ExecStart=/usr/bin/egress-node '
expect_match "egress-node --help names --metrics-listen" \
    "$(chroot "$R" egress-node --help)" '--metrics-listen'
expect_match "egress-api's postinst starts its unit (the condition decides)" \
    "$(cat "$R/var/lib/dpkg/info/egress-api.postinst")" "deb-systemd-invoke [\$]_dh_action 'egress-api.service'"
expect_match "the squid snippets are conffiles in /etc/squid/egress-policy" \
    "$(cat "$R/var/lib/dpkg/info/egress-squid.conffiles")" '^/etc/squid/egress-policy/egress-acl.conf$'
[ -e "$R/etc/squid/conf.d/egress-policy.conf" ] &&
    fail "squid's configuration untouched until the administrator links the snippet" ||
    ok "squid's configuration untouched until the administrator links the snippet"

# --- 4. systemd-analyze verify on every installed unit -----------------------
units="egress-api.service egress-net.service egress-capture.service egress-dns.service egress-node.service squid.service c-icap.service"
for u in $units; do
    # squid.service and c-icap.service are verified with our drop-ins.
    out=$(in_root systemd-analyze verify --man=no --recursive-errors=no "$u" 2>&1)
    rc=$?
    if [ $rc = 0 ] && [ -z "$out" ]; then
        ok "systemd-analyze verify $u"
    else
        fail "systemd-analyze verify $u" "exit $rc: $out"
    fi
done
for d in "$R"/lib/systemd/system/*.service.d/egress.conf; do
    dpkg_owner=$(chroot "$R" dpkg -S "${d#"$R"}" 2>/dev/null | cut -d: -f1)
    expect_match "drop-in ${d#"$R"} shipped by an egress package" "$dpkg_owner" '^egress-(squid|icap)$'
done

# --- 5. running it, in network namespaces of the test's own ----------------
# tests/packages/run-in-root.sh runs in a new network, mount and PID
# namespace (everything it starts ends with it); its checks are counted
# from its output.
echo "== running the installed programs (tests/packages/run-in-root.sh)"
unshare --net --mount --pid --fork --mount-proc -- bash "$top_srcdir/tests/packages/run-in-root.sh" "$R" "$top_srcdir" \
    >"$RUN/run-in-root.log" 2>&1
echo "run-in-root.sh exited $?"
cat "$RUN/run-in-root.log"
checks=$((checks + $(grep -cE '^(ok|FAIL):' "$RUN/run-in-root.log")))
failures=$((failures + $(grep -c '^FAIL:' "$RUN/run-in-root.log")))
grep -q '^run-in-root: done$' "$RUN/run-in-root.log" || fail "run-in-root.sh ran to its end"
T_RUN=$(date +%s)

# --- 6. remove keeps the store, purge removes it ----------------------------
if in_root apt-get remove -y -q $PKGS >"$RUN/remove.log" 2>&1; then
    ok "apt-get remove of the four packages"
else
    fail "apt-get remove of the four packages" "$(tail -5 "$RUN/remove.log")"
fi
[ -s "$R/var/lib/egress-policy/data.mdb" ] && ok "remove: the store stays" || fail "remove: the store stays"
[ -s "$R/etc/egress-policy/admin-token" ] && ok "remove: the admin token stays" || fail "remove: the admin token stays"
[ -f "$R/etc/squid/egress-policy/egress-acl.conf" ] && ok "remove: the conffiles stay" || fail "remove: the conffiles stay"
[ -e "$R/usr/bin/egress-api" ] && fail "remove: the programs go" || ok "remove: the programs go"
if in_root apt-get purge -y -q $PKGS >"$RUN/purge.log" 2>&1; then
    ok "apt-get purge of the four packages"
else
    fail "apt-get purge of the four packages" "$(tail -5 "$RUN/purge.log")"
fi
for gone in /var/lib/egress-policy /etc/egress-policy /etc/squid/egress-policy /etc/c-icap/egress.conf \
    /etc/c-icap/egress-capture.conf /etc/squid/conf.d/egress-policy.conf \
    /etc/systemd/system/multi-user.target.wants/egress-api.service \
    /etc/systemd/system/multi-user.target.wants/egress-capture.service; do
    if [ -e "$R$gone" ] || [ -L "$R$gone" ]; then fail "purge: $gone removed"; else ok "purge: $gone removed"; fi
done
expect_match "purge: the user egress stays (its ids are not handed out again)" \
    "$(chroot "$R" getent passwd egress)" '^egress:'

T_END=$(date +%s)
echo "times: build+lintian $((T_BUILD - T0)) s, root $((T_ROOT - T_BUILD)) s, install $((T_INSTALL - T_ROOT)) s," \
    "running $((T_RUN - T_INSTALL)) s, remove+purge $((T_END - T_RUN)) s; total $((T_END - T0)) s"
finish

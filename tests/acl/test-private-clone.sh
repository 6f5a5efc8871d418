#!/bin/sh
# The README's test command from a clone squid's user cannot traverse.
# squid runs its helpers as user proxy; a clone under /root (mode 0700),
# or under any private directory, puts the built helper where proxy cannot
# enter, and every squid test with the helper failed there with
# "ipcCreate: .../acl/egress-acl: (13) Permission denied". The tests now
# give squid a copy in their own directory (stack_squid_exec,
# tests/lib/stack.sh).
#
# This clones the checkout's HEAD (git clone, then HEAD fetched and checked
# out: what is committed, as a user's clone has it) into a root-owned 0700
# directory, puts this build's helper, storectl and srv_egress.so at the
# same places in the clone's build directory (where a build there would
# put them: the helper and storectl link nothing from the build tree, so
# only their location matters), and runs the clone's tests/acl/test-sni.sh
# there, which must pass. Controls: the directory is root's and 0700, and
# proxy cannot run the helper where the build put it (without the copy,
# squid could not start it); the passing run's squid.conf (kept with
# TEST_KEEP) names a helper outside the private directory that proxy can
# run.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
: "${top_srcdir:?run from make check (top_srcdir unset)}"
: "${top_builddir:?run from make check (top_builddir unset)}"
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/lib/stack.sh"

command -v git >/dev/null 2>&1 || {
    echo "git is not installed"
    exit 77
}
# git as root on a checkout that may belong to another user.
g() { git -c 'safe.directory=*' "$@"; }
rev=$(g -C "$top_srcdir" rev-parse HEAD 2>/dev/null) || {
    echo "$top_srcdir is not a git checkout (a release tarball): nothing to clone"
    exit 77
}
[ "$(id -u)" = 0 ] || {
    echo "squid must be started as root here (it switches to user proxy)"
    exit 99
}
for f in acl/egress-acl tests/lib/storectl icap/.libs/srv_egress.so; do
    [ -f "$top_builddir/$f" ] || {
        echo "$f is not built"
        exit 99
    }
done

priv=$(mktemp -d "${TMPDIR:-/tmp}/ep-private-XXXXXX") || exit 99
kept=
cleanup() {
    rm -rf "$priv"
    [ -z "$kept" ] || rm -rf "$kept"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM
chmod 700 "$priv"
expect_eq "the clone's directory is root's, mode 0700" "$(stat -c '%U %a' "$priv")" "root 700"

clone=$priv/egress-policy
g clone -q --no-checkout "$top_srcdir" "$clone" &&
    g -C "$clone" fetch -q "$top_srcdir" HEAD &&
    g -C "$clone" checkout -q FETCH_HEAD || exit 99
expect_eq "the clone is at the checkout's HEAD" "$(g -C "$clone" rev-parse HEAD)" "$rev"

build=$clone/build-test
for f in acl/egress-acl tests/lib/storectl icap/.libs/srv_egress.so; do
    mkdir -p "$build/$(dirname "$f")" && cp -p "$top_builddir/$f" "$build/$f" || exit 99
done
# The control: where the build puts the helper, squid's user cannot run it.
if stack_squid_can test -x "$build/acl/egress-acl"; then
    fail "without the copy, proxy cannot run the built helper" "proxy can run $build/acl/egress-acl"
else
    ok "without the copy, proxy cannot run the built helper"
fi
[ -x "$build/acl/egress-acl" ] && ok "root can (the file is there)" ||
    fail "root can (the file is there)" "$build/acl/egress-acl is missing"

# The clone's own test, run as make check runs it, its stack kept for a look.
out=$(cd "$build" && TEST_KEEP=1 top_srcdir=$clone top_builddir=$build \
    bash "$clone/tests/acl/test-sni.sh" 2>&1)
rc=$?
kept=$(printf '%s\n' "$out" | sed -n 's/^kept //p' | tail -n 1)
if [ $rc = 77 ]; then
    echo "the clone's test-sni.sh skipped:"
    printf '%s\n' "$out" | tail -5
    exit 77
fi
expect_eq "the clone's tests/acl/test-sni.sh passes" "$rc" 0
expect_no_match "squid ran its helper (no Permission denied)" "$out" "Permission denied"
conf=$(grep '^external_acl_type' "$kept/squid/squid.conf" 2>/dev/null)
expect_match "its squid.conf runs the helper's copy in the test's directory" "$conf" \
    " $kept/bin/egress-acl "
expect_no_match "and nothing under the private directory" "$conf" "$priv"
if stack_squid_can test -x "$kept/bin/egress-acl"; then
    ok "proxy can run that copy"
else
    fail "proxy can run that copy" "it cannot run $kept/bin/egress-acl"
fi

finish || {
    echo "--- the clone's test said:"
    printf '%s\n' "$out" | tail -40
    exit 1
}

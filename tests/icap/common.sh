# shellcheck shell=bash
# Shared start of the ICAP and end-to-end test scripts: the environment
# check, the stack (tests/lib/stack.sh), a store, the assertions of
# tests/lib/check.sh and need_squid.
# Sourced after the script re-executed itself under bash.

command -v c-icap >/dev/null 2>&1 && command -v c-icap-client >/dev/null 2>&1 || {
    echo "c-icap or c-icap-client is not installed (Debian: c-icap)"
    exit 77
}
: "${top_srcdir:?run from make check (top_srcdir unset)}"
: "${top_builddir:?run from make check (top_builddir unset)}"
[ -f "$top_builddir/icap/.libs/srv_egress.so" ] || {
    echo "srv_egress.so is not built"
    exit 99
}
. "$top_srcdir/tests/lib/stack.sh"

. "$top_srcdir/tests/lib/check.sh"

STORECTL="$top_builddir/tests/lib/storectl"

# storectl ARGS: change the test store; a failure is a harness error.
storectl() {
    "$STORECTL" "$STORE" "$@" || {
        echo "storectl $* failed"
        exit 99
    }
}

# need_squid: the end-to-end scripts drive the real squid, started as root
# (it switches to user proxy).
need_squid() {
    command -v squid >/dev/null 2>&1 || {
        echo "squid is not installed (Debian: squid)"
        exit 77
    }
    [ "$(id -u)" = 0 ] || {
        echo "squid must be started as root here (it switches to user proxy)"
        exit 99
    }
}

# shellcheck shell=bash
# Shared start of the ICAP and end-to-end test scripts: the environment
# check, the stack (tests/lib/stack.sh), a store and small assertions.
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

STORECTL="$top_builddir/tests/lib/storectl"
failures=0
checks=0

# ok NAME: record a passed check; fail NAME DETAIL: a failed one.
ok() {
    checks=$((checks + 1))
    echo "ok: $1"
}
fail() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "FAIL: $1${2:+ ($2)}"
}

# expect_eq NAME GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got '$2', expected '$3'"; fi
}

# expect_match NAME TEXT REGEX (grep -E on the whole text)
expect_match() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        ok "$1"
    else
        fail "$1" "no match for '$3' in: $(printf '%s' "$2" | head -c 600)"
    fi
}

# expect_no_match NAME TEXT REGEX
expect_no_match() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        fail "$1" "unexpected match for '$3' in: $(printf '%s' "$2" | head -c 600)"
    else
        ok "$1"
    fi
}

# storectl ARGS: change the test store; a failure is a harness error.
storectl() {
    "$STORECTL" "$STORE" "$@" || {
        echo "storectl $* failed"
        exit 99
    }
}

finish() {
    echo "$checks checks, $failures failed"
    [ "$failures" -eq 0 ]
}

# shellcheck shell=bash
# Assertions for shell tests: each check prints "ok: NAME" or
# "FAIL: NAME (detail)" and is counted; `finish` prints the tally and
# returns non-zero when anything failed, so a test ends with `finish`.

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
        fail "$1" "no match for '$3' in: $(printf '%s' "$2" | head -c 800)"
    fi
}

# expect_no_match NAME TEXT REGEX
expect_no_match() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        fail "$1" "unexpected match for '$3' in: $(printf '%s' "$2" | head -c 800)"
    else
        ok "$1"
    fi
}

finish() {
    echo "$checks checks, $failures failed"
    [ "$failures" -eq 0 ]
}

#!/bin/bash
# The one command that sets up and runs every test (as root on Debian 12):
# installs the packages, builds in build-test/, runs `make check`, builds
# again with --enable-sanitizers in build-sanitizers/ and runs the unit and
# API tests there (failing on any sanitizer report of the daemon), checks
# that `make distcheck` works, and ends with one line "N passed, N failed,
# N skipped" over all of it. Exit status 0 only when nothing failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 99

extra_failed=0
extra_passed=0
step() {
    local name=$1
    shift
    echo "== $name"
    if "$@"; then
        extra_passed=$((extra_passed + 1))
    else
        echo "FAIL: $name"
        extra_failed=$((extra_failed + 1))
    fi
}

summarise() {
    local passed=$extra_passed failed=$extra_failed skipped=0 dir result
    for dir in build-test build-sanitizers; do
        [ -d "$dir" ] || continue
        while read -r result; do
            case "$result" in
            PASS | XFAIL) passed=$((passed + 1)) ;;
            SKIP) skipped=$((skipped + 1)) ;;
            *) failed=$((failed + 1)) ;;
            esac
        done < <(find "$dir" -name '*.trs' -newer "$dir/.started" -exec sed -n 's/^:test-result: //p' {} +)
    done
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
}

if ! contrib/install-deps.sh --test; then
    echo "could not install the packages the tests need"
    echo "0 passed, 1 failed"
    exit 1
fi

[ -x configure ] || autoreconf -fi >/dev/null || { echo "0 passed, 1 failed"; exit 1; }

build() {
    local dir=$1
    shift
    mkdir -p "$dir" && touch "$dir/.started" &&
        (cd "$dir" && ../configure -q "$@" && make -j"$(nproc)" >make.out 2>&1) ||
        { tail -40 "$dir/make.out" 2>/dev/null; return 1; }
}

if step "build" build build-test; then
    (cd build-test && make -k check) || true
    find build-test/tests -name '*.log' ! -name test-suite.log -newer build-test/.started \
        -exec grep -l '^FAIL\|^ERROR' {} + 2>/dev/null | while read -r log; do
        echo "--- $log"
        tail -30 "$log"
    done
fi
if step "sanitizer build" build build-sanitizers --enable-sanitizers; then
    # Reports of the daemons the tests start go to files: any file is a failure.
    reports="$top/build-sanitizers/sanitizer-reports"
    rm -rf "$reports" && mkdir -p "$reports"
    (cd build-sanitizers && ASAN_OPTIONS="log_path=$reports/asan" \
        UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1" make -k check-sanitizers) || true
    step "no sanitizer report from a daemon" sh -c \
        'if [ -n "$(ls -A "$1")" ]; then head -50 "$1"/*; exit 1; fi' - "$reports"
fi
if [ -f build-test/Makefile ]; then
    step "make distcheck" sh -c 'cd build-test && make distcheck TESTS= >distcheck.out 2>&1 || { tail -40 distcheck.out; exit 1; }'
fi
summarise

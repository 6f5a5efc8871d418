#!/bin/bash
# The one command that sets up and runs every test (as root on Debian 12):
# installs the packages, builds in build-test/, runs `make check`, builds
# again with --enable-sanitizers in build-sanitizers/ and reruns the unit
# and API tests there (failing on any sanitizer report of the daemon), and
# checks that `make distcheck` works.
#
# The summary counts distinct tests, each once: the tests it expects are
# the Makefile's TESTS and SANITIZER_TESTS (`make print-tests`), so a test
# added to any local.mk is counted without a change here. A test fails when
# any of its runs failed or left no result at all (its program did not
# compile, so `make check` could not run it): each such test is named. It is
# skipped when a run skipped it and none failed. Setup steps (the builds,
# distcheck, the sanitizer reports) are not counted as passes; a failed one
# counts as one failure. The last two lines are "N tests, M rerun under
# sanitizers" and "N passed, N failed, N skipped". Exit status 0 only when
# nothing failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 99

failed_steps=
step() {
    local name=$1
    shift
    echo "== $name"
    if "$@"; then
        return 0
    fi
    echo "FAIL: $name"
    failed_steps="$failed_steps${failed_steps:+, }$name"
    return 1
}

# expected VAR: the tests the Makefile lists in VAR (TESTS or SANITIZER_TESTS),
# one a line; read from whichever build directory was configured.
expected() {
    local dir
    for dir in build-test build-sanitizers; do
        [ -f "$dir/Makefile" ] || continue
        make --no-print-directory -s -C "$dir" print-tests 2>/dev/null | sed -n "s/^$1 //p"
        return
    done
}

# result DIR TEST: PASS, SKIP, FAIL (any FAIL, ERROR or XPASS in its .trs)
# or MISSING (no .trs from this run).
result() {
    local dir=$1 trs="$1/${2%.sh}.trs" r
    if [ ! -f "$trs" ] || [ ! "$trs" -nt "$dir/.started" ]; then
        echo MISSING
        return
    fi
    r=$(sed -n 's/^:test-result: //p' "$trs")
    # XFAIL is an expected failure: a pass.
    if [ -z "$r" ]; then
        echo MISSING
    elif printf '%s\n' "$r" | grep -qx 'FAIL\|ERROR\|XPASS'; then
        echo FAIL
    elif printf '%s\n' "$r" | grep -qx SKIP; then
        echo SKIP
    else
        echo PASS
    fi
}

# run_missing DIR VAR: run on their own the tests of VAR that have no result
# in DIR. A check program that fails to compile stops `make check` before it
# runs any test; making each test's .log runs every test that can be built
# (make -k), and a test that cannot be built stays without a result.
run_missing() {
    local dir=$1 t missing="" logs=""
    for t in $(expected "$2"); do
        [ "$(result "$dir" "$t")" = MISSING ] || continue
        missing="$missing $t"
        logs="$logs ${t%.sh}.log"
    done
    [ -n "$missing" ] || return 0
    echo "== tests without a result in $dir, run on their own:$missing"
    # shellcheck disable=SC2086
    (cd "$dir" && rm -f $logs ${logs//.log/.trs} && make -k $logs) || true
}

summarise() {
    local passed=0 failed=0 skipped=0 n=0 m=0 t dir main san verdict why
    main=$(expected TESTS)
    san=$(expected SANITIZER_TESTS)
    if [ -z "$main" ]; then
        echo "FAIL: no test list (the build was not configured)"
        failed=1
    fi
    # shellcheck disable=SC2086
    for t in $main $(printf '%s\n' "$san" | grep -vxF -f <(printf '%s\n' "$main")); do
        n=$((n + 1))
        verdict=PASS why=
        for dir in build-test build-sanitizers; do
            if [ "$dir" = build-test ]; then
                printf '%s\n' "$main" | grep -qxF "$t" || continue
            else
                printf '%s\n' "$san" | grep -qxF "$t" || continue
            fi
            case "$(result "$dir" "$t")" in
            FAIL) verdict=FAIL why="$why${why:+; }failed in $dir" ;;
            MISSING) verdict=FAIL why="$why${why:+; }no result in $dir: did it compile?" ;;
            SKIP) [ "$verdict" = FAIL ] || verdict=SKIP ;;
            esac
        done
        case "$verdict" in
        PASS) passed=$((passed + 1)) ;;
        SKIP) skipped=$((skipped + 1)) ;;
        FAIL)
            failed=$((failed + 1))
            echo "FAIL: $t ($why)"
            ;;
        esac
    done
    m=$(printf '%s\n' "$san" | grep -c .)
    if [ -n "$failed_steps" ]; then
        echo "failed setup steps: $failed_steps"
        failed=$((failed + $(printf '%s\n' "$failed_steps" | tr ',' '\n' | grep -c .)))
    fi
    echo "$n tests, $m rerun under sanitizers"
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
}

if ! contrib/install-deps.sh --test; then
    echo "could not install the packages the tests need"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi

[ -x configure ] || autoreconf -fi >/dev/null || {
    echo "autoreconf failed"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
}

build() {
    local dir=$1
    shift
    mkdir -p "$dir" && touch "$dir/.started" &&
        (cd "$dir" && ../configure -q "$@" && make -j"$(nproc)" >make.out 2>&1) ||
        { tail -40 "$dir/make.out" 2>/dev/null; return 1; }
}

if step "build" build build-test; then
    (cd build-test && make -k check) || true
    run_missing build-test TESTS
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
    (
        export ASAN_OPTIONS="log_path=$reports/asan"
        export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1"
        (cd build-sanitizers && make -k check-sanitizers) || true
        run_missing build-sanitizers SANITIZER_TESTS
    )
    step "no sanitizer report from a daemon" sh -c \
        'if [ -n "$(ls -A "$1")" ]; then head -50 "$1"/*; exit 1; fi' - "$reports"
fi
if [ -f build-test/Makefile ]; then
    step "make distcheck" sh -c 'cd build-test && make distcheck TESTS= >distcheck.out 2>&1 || { tail -40 distcheck.out; exit 1; }'
fi
summarise

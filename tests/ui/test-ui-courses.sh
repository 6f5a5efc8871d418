#!/bin/sh
# Teachers and courses on the review page (issue 19), in a real headless
# Chromium: two teachers sign in with their accounts (session cookie), each
# sees only their course's project; a promotion by one is invisible to the
# other; the admin (made with egress-api --create-admin) sees both. No
# squid: the recorded hosts are written as the recorder writes them
# (fill_seen).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
: "${top_srcdir:?run from make check (top_srcdir unset)}"
: "${top_builddir:?run from make check (top_builddir unset)}"
. "$top_srcdir/tests/lib/stack.sh"
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/ui/ui.sh"
ui_need_browser
stack_init
ui_playwright
STORE="$STACK_DIR/store"
mkdir -p "$STORE"

ADMIN_PASS="head-pass-$$-x"
out=$(printf '%s\n' "$ADMIN_PASS" | "$top_builddir/api/egress-api" --db "$STORE" \
    --bcrypt-cost 10 --create-admin head 2>&1; echo "exit $?")
expect_match "--create-admin reads the password from stdin" "$out" 'admin account "head" created'
expect_match "... and exits 0" "$out" '^exit 0$'
out=$(printf '%s\n' "$ADMIN_PASS" | "$top_builddir/api/egress-api" --db "$STORE" \
    --bcrypt-cost 10 --create-admin head 2>&1; echo "exit $?")
expect_match "a second --create-admin of the name is refused" "$out" 'exists already'
expect_match "... with exit 1" "$out" '^exit 1$'

ui_start_api "$STORE" "$top_srcdir/api/ui"
A_PASS="alice-pass-$$" B_PASS="bob-pass-$$"
expect_match "account alice" "$(api POST /api/accounts "{\"name\":\"alice\",\"password\":\"$A_PASS\"}")" '^201 '
expect_match "account bob" "$(api POST /api/accounts "{\"name\":\"bob\",\"password\":\"$B_PASS\"}")" '^201 '
expect_match "course-a owned by alice" "$(api PUT /api/courses/course-a '{"owners":["alice"]}')" '^200 '
expect_match "course-b owned by bob" "$(api PUT /api/courses/course-b '{"owners":["bob"]}')" '^200 '
A=$(api POST /api/projects/create '{"projectName":"Lab of course A","profile":"course-a"}' | project_id)
B=$(api POST /api/projects/create '{"projectName":"Lab of course B","profile":"course-b"}' | project_id)
[ -n "$A" ] && [ -n "$B" ] || exit 99
"$top_builddir/tests/ui/fill_seen" "$STORE" "$A" --denied pypi.org crates.io >/dev/null || exit 99
"$top_builddir/tests/ui/fill_seen" "$STORE" "$B" --denied npmjs.org >/dev/null || exit 99

out=$(cd "$STACK_DIR" && BASE="http://127.0.0.1:$API_PORT" CHROMIUM="$CHROMIUM" \
    UI_MODULES="$UI_MODULES" A_ID="$A" B_ID="$B" A_PASS="$A_PASS" B_PASS="$B_PASS" \
    ADMIN_PASS="$ADMIN_PASS" timeout 300 node "$top_srcdir/tests/ui/ui-courses.mjs" 2>&1)
rc=$?
printf '%s\n' "$out"
n_ok=$(printf '%s\n' "$out" | grep -c '^ok: ')
n_fail=$(printf '%s\n' "$out" | grep -c '^FAIL: ')
checks=$((checks + n_ok + n_fail))
failures=$((failures + n_fail))
if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
    fail "the browser script ran to its end" "exit $rc"
fi
log=$(cat "$API_LOG")
for secret in "$ADMIN_PASS" "$A_PASS" "$B_PASS" '\$2b\$'; do
    expect_no_match "the API log holds no password or hash ($secret)" "$log" "$secret"
done
finish

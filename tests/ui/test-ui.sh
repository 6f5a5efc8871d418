#!/bin/sh
# The review page in a real headless Chromium (Debian's chromium, driven by
# playwright-core from npm) against a real egress-api whose store is filled
# by real requests through squid and c-icap with srv_egress.so. The HTTP
# side (security headers on every page answer, 404s, no path leaving the
# page's directory) is checked with curl here; the browser side in
# ui-test.mjs. Also writes the README's screenshot (docs/review.png).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid
. "$top_srcdir/tests/ui/ui.sh"
ui_need_browser

STACK_HOSTS="pypi.org files.pythonhosted.org github.com api.github.com docs.python.org
 tracker.example.net cdn2.example.net new.example.org"
stack_init
ui_playwright
STORE="$STACK_DIR/store"
mkdir -p "$STORE"

# A copy of the page with traps beside and inside it: a file outside the
# directory, a symlink leading to it, a hidden file.
UI="$STACK_DIR/ui"
cp -r "$top_srcdir/api/ui" "$UI"
chmod -R u+w "$UI"
echo "secret-outside-$$" >"$STACK_DIR/secret.txt"
ln -s "$STACK_DIR/secret.txt" "$UI/leak.txt"
ln -s /etc "$UI/etc"
echo "secret-hidden-$$" >"$UI/.hidden"
echo "deb.debian.org" >"$STACK_DIR/base-domains"

ui_start_api "$STORE" "$UI" --base-domains "$STACK_DIR/base-domains"
stack_start_origin || exit 99
stack_start_icap "$STORE" || exit 99
# Workspaces ask for http://HOST/ (port 80): squid's way there is the origin.
STACK_ORIGIN_PEER=1 stack_start_squid || exit 99
TEACHER=127.0.0.20 STUDENT=127.0.0.21 SWITCH=127.0.0.22

# ---- the HTTP side of the page ----
headers() { curl -sS --noproxy '*' --path-as-is -o "$STACK_DIR/body" -D - "http://127.0.0.1:$API_PORT$1" | tr -d '\r'; }
for f in / /index.html /app.js /app.css /api.js /dom.js /favicon.svg /views/projects.js \
    /views/review.js /views/whitelists.js /views/audit.js /views/conversations.js /no-such.js \
    /views/none.css; do
    h=$(headers "$f")
    expect_match "$f: CSP without inline script or other origins" "$h" \
        "^Content-Security-Policy: default-src 'self'; script-src 'self'.*frame-ancestors 'none'"
    expect_no_match "$f: CSP allows nothing unsafe" "$h" "unsafe-inline|unsafe-eval|\\*"
    expect_match "$f: X-Frame-Options DENY" "$h" '^X-Frame-Options: DENY$'
    expect_match "$f: nosniff" "$h" '^X-Content-Type-Options: nosniff$'
    expect_match "$f: Referrer-Policy" "$h" '^Referrer-Policy: strict-origin-when-cross-origin$'
done
expect_match "/ is the page, as HTML" "$(headers /)" '^Content-Type: text/html; charset=utf-8$'
expect_match "a view is JavaScript" "$(headers /views/review.js)" '^Content-Type: text/javascript; charset=utf-8$'
expect_match "the stylesheet is CSS" "$(headers /app.css)" '^Content-Type: text/css; charset=utf-8$'
expect_match "unknown asset: 404" "$(headers /no-such.js)" '^HTTP/1.1 404 '
etag=$(headers /app.js | sed -n 's/^ETag: //p')
expect_match "assets carry an ETag and are revalidated" "$(headers /app.js)" '^Cache-Control: no-cache$'
expect_eq "an unchanged asset answers 304" "$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' \
    -H "If-None-Match: $etag" "http://127.0.0.1:$API_PORT/app.js")" 304
for p in /../secret.txt /../../../../etc/passwd /%2e%2e/secret.txt /%2E%2E/%2E%2E/etc/passwd \
    /views/../../secret.txt /views/%2e%2e/%2e%2e/secret.txt /views/..%2f..%2fsecret.txt \
    /leak.txt /etc/passwd /.hidden /views/.. /%2fetc%2fpasswd //etc/passwd ; do
    h=$(headers "$p")
    expect_match "$p: 404" "$h" '^HTTP/1.1 404 '
    expect_no_match "$p: nothing from outside leaks" "$(cat "$STACK_DIR/body")" "secret-|root:"
done
out=$("$top_builddir/api/egress-api" --no-ui --ui-dir "$UI" --db "$STACK_DIR/x" \
    --admin-token-file "$STACK_DIR/token" 2>&1 >/dev/null; echo "exit $?")
expect_match "--no-ui and --ui-dir together are refused" "$out" 'exclude each other'
expect_match "... with exit 2" "$out" '^exit 2$'
out=$("$top_builddir/api/egress-api" --ui-dir "$STACK_DIR/none" --db "$STACK_DIR/x" \
    --admin-token-file "$STACK_DIR/token" 2>&1 >/dev/null; echo "exit $?")
expect_match "--ui-dir naming no directory stops the daemon, naming it" "$out" 'ui-dir .*/none: No such file'
expect_match "... with exit 2" "$out" '^exit 2$'
# With --no-ui the daemon is the API alone: / is the API's JSON 404.
"$top_builddir/api/egress-api" --db "$STACK_DIR/x" --listen 127.0.0.1:0 --no-containers --no-ui \
    --admin-token-file "$STACK_DIR/token" 2>"$STACK_DIR/noui.log" &
NOUI_PID=$!
STACK_ALL_PIDS="$STACK_ALL_PIDS $NOUI_PID"
for _ in $(seq 1 200); do
    NOUI_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$STACK_DIR/noui.log")
    [ -n "$NOUI_PORT" ] && break
    sleep 0.05
done
expect_match "--no-ui: / is the API's JSON 404" "$(curl -s --noproxy '*' "http://127.0.0.1:$NOUI_PORT/")" \
    '^\{"error":"not_found"'
kill -TERM "$NOUI_PID"
stack_wait_gone "$NOUI_PID" 30
expect_match "the API is unchanged beside the page" "$(api GET /api/health)" '^200 \{"status":"healthy"'
expect_match "an unknown API path is still JSON 404" "$(api GET /api/nothing)" '^404 \{"error":"not_found"'

# ---- a store filled by real requests ----
create() { api POST /api/projects/create "$1" | project_id; }
T=$(create '{"projectName": "Teacher: Python course", "projectType": "python", "proxyMode": "logging", "profile": "course1"}')
S=$(create '{"projectName": "Student 1", "projectType": "python", "proxyMode": "security", "profile": "course1", "password": "student-pass-1"}')
W=$(create '{"projectName": "Switch me", "proxyMode": "security", "profile": "course2"}')
X=$(create '{"projectName": "<img src=x onerror=\"window.pwned=1\">", "projectType": "xss"}')
B=$(create '{"projectName": "Bulk (10000 hosts)", "proxyMode": "logging", "profile": "bulk"}')
D=$(create '{"projectName": "Deleted behind the page", "proxyMode": "security"}')
[ -n "$T" ] && [ -n "$S" ] && [ -n "$W" ] && [ -n "$X" ] && [ -n "$B" ] && [ -n "$D" ] || {
    echo "creating the projects failed"
    exit 99
}
api PUT "/api/projects/$T/ip" "{\"ipAddress\": \"$TEACHER\"}" >/dev/null
api PUT "/api/projects/$S/ip" "{\"ipAddress\": \"$STUDENT\"}" >/dev/null
api PUT "/api/projects/$W/ip" "{\"ipAddress\": \"$SWITCH\"}" >/dev/null
code() { stack_curl "$1" -o /dev/null -w '%{http_code}' "http://$2/" 2>/dev/null; }
for h in pypi.org pypi.org pypi.org files.pythonhosted.org files.pythonhosted.org github.com \
    api.github.com api.github.com docs.python.org tracker.example.net cdn2.example.net; do
    [ "$(code $TEACHER $h)" = 200 ] || fail "teacher reaches $h through squid"
done
for h in pypi.org tracker.example.net tracker.example.net; do
    expect_eq "student denied $h before any promotion" "$(code $STUDENT $h)" 403
done
for _ in $(seq 1 100); do
    api GET "/api/projects/$T/recorded-domains" | grep -q '"totalDomains":7' &&
        api GET "/api/projects/$S/recorded-domains" | grep -q '"tracker.example.net":{"count":2' && break
    sleep 0.1
done
expect_match "seven hosts recorded for the teacher" "$(api GET "/api/projects/$T/recorded-domains")" '"totalDomains":7'
"$top_builddir/tests/ui/fill_seen" "$STORE" "$B" 10000 || exit 99
# Requests of the switched workspace to other ports than 80 and 443, as recorded (host:port).
"$top_builddir/tests/ui/fill_seen" "$STORE" "$W" --denied github.com:22 '[2001:db8::5]:8080' || exit 99
# Three captured LLM exchanges for the teacher (one with HTML in its text).
"$top_builddir/tests/ui/fill_conversations" "$STORE" "$T" || exit 99

# ---- the browser ----
mkdir -p "$top_builddir/tests/ui"
SHOT="$top_builddir/tests/ui/review.png"
out=$(cd "$STACK_DIR" && NODE_PATH="$UI_MODULES" BASE="http://127.0.0.1:$API_PORT" TOKEN="$TOKEN" \
    CHROMIUM="$CHROMIUM" SQUID_PORT="$SQUID_PORT" ORIGIN_PORT="$ORIGIN_PORT" TEACHER_ID="$T" \
    STUDENT_ID="$S" SWITCH_ID="$W" XSS_ID="$X" BULK_ID="$B" DOOMED_ID="$D" TEACHER_IP="$TEACHER" \
    STUDENT_IP="$STUDENT" SWITCH_IP="$SWITCH" SCREENSHOT="$SHOT" UI_MODULES="$UI_MODULES" \
    timeout 300 node "$top_srcdir/tests/ui/ui-test.mjs" 2>&1)
rc=$?
printf '%s\n' "$out"
n_ok=$(printf '%s\n' "$out" | grep -c '^ok: ')
n_fail=$(printf '%s\n' "$out" | grep -c '^FAIL: ')
checks=$((checks + n_ok + n_fail))
failures=$((failures + n_fail))
if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
    fail "the browser script ran to its end" "exit $rc"
fi
# The README's screenshot: kept current in a git checkout (never in an unpacked release).
if [ -s "$SHOT" ] && [ -e "$top_srcdir/.git" ] && [ -w "$top_srcdir/docs" ]; then
    cp "$SHOT" "$top_srcdir/docs/review.png"
fi
expect_no_match "the API log holds no token" "$(cat "$API_LOG")" "$TOKEN"
finish

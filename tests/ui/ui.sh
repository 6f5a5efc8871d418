# shellcheck shell=bash
# What the page's test and benchmark share: the browser check, the
# playwright-core install, and egress-api serving the page. Source after
# tests/lib/stack.sh (stack_init must have run: STACK_DIR, STACK_ALL_PIDS).
#
#   ui_need_browser       exit 77 without chromium or node/npm (Debian:
#                         chromium, nodejs, npm)
#   ui_playwright         make sure $UI_MODULES/playwright-core exists:
#                         `npm install --no-save playwright-core` into
#                         $top_builddir/tests/ui (kept there for the next run;
#                         UI_PLAYWRIGHT_DIR overrides), exit 99 if npm fails
#   ui_start_api STORE UIDIR [ARGS...]
#                         start egress-api on a random port with TOKEN,
#                         serving UIDIR; sets API_PORT, API_PID, API_LOG

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
TOKEN=${TOKEN:-ui-test-admin-token-0123456789}

ui_need_browser() {
    [ -x "$CHROMIUM" ] || {
        echo "no Chromium at $CHROMIUM (Debian: chromium; CHROMIUM= to name another)"
        exit 77
    }
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
        echo "node and npm are needed to drive the browser (Debian: nodejs npm)"
        exit 77
    }
}

ui_playwright() {
    local dir=${UI_PLAYWRIGHT_DIR:-$top_builddir/tests/ui}
    UI_MODULES="$dir/node_modules"
    [ -f "$UI_MODULES/playwright-core/package.json" ] && return 0
    mkdir -p "$dir" || exit 99
    (cd "$dir" && npm install --no-save --no-audit --no-fund --prefix . playwright-core) >"$STACK_DIR/npm.log" 2>&1 || {
        echo "npm install playwright-core failed:"
        tail -n 20 "$STACK_DIR/npm.log"
        exit 99
    }
}

ui_start_api() {
    local store=$1 uidir=$2
    shift 2
    printf '%s\n' "$TOKEN" >"$STACK_DIR/token"
    chmod 600 "$STACK_DIR/token"
    API_LOG="$STACK_DIR/api.log"
    "$top_builddir/api/egress-api" --db "$store" --listen 127.0.0.1:0 --max-readers 1024 \
        --admin-token-file "$STACK_DIR/token" --bcrypt-cost 10 --no-containers \
        --ui-dir "$uidir" "$@" 2>"$API_LOG" &
    API_PID=$!
    STACK_ALL_PIDS="$STACK_ALL_PIDS $API_PID"
    API_PORT=
    for _ in $(seq 1 200); do
        API_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$API_LOG")
        [ -n "$API_PORT" ] && break
        kill -0 "$API_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$API_PORT" ] || {
        echo "egress-api did not start:"
        cat "$API_LOG"
        exit 99
    }
}

# api METHOD PATH [JSON]: the admin's call; prints "STATUS BODY".
api() {
    local out status
    out=$(curl -sS --noproxy '*' -X "$1" -H "Authorization: Bearer $TOKEN" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
        -w '\n%{http_code}' "http://127.0.0.1:$API_PORT$2")
    status=$(printf '%s' "$out" | tail -n 1)
    printf '%s %s\n' "$status" "$(printf '%s' "$out" | sed '$d')"
}
project_id() { sed -n 's/.*"projectId":"\([a-z0-9-]*\)".*/\1/p'; }

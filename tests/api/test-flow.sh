#!/bin/sh
# The teacher -> student flow end to end, with every part real: egress-api,
# c-icap with srv_egress.so, squid and a local origin, all on loopback.
# The teacher's logging workspace records what it reaches; the teacher
# promotes some of it through the API; a student's security workspace on
# the same profile then reaches the promoted hosts and nothing else; a port
# other than 80 and 443 only through a rule naming it, in every mode. A
# mode change and a deletion through the API take effect on the next
# request.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid

STACK_HOSTS="pypi.test files.pypi.test docs.test tracker.test evil.test"
stack_init
STORE="$STACK_DIR/store"
TOKEN=flow-test-admin-token-0123456789
mkdir -p "$STORE"
printf '%s\n' "$TOKEN" >"$STACK_DIR/token"
chmod 600 "$STACK_DIR/token"

# egress-api first: the first opener of the store fixes its reader table.
"$top_builddir/api/egress-api" --db "$STORE" --listen 127.0.0.1:0 --max-readers 1024 \
    --admin-token-file "$STACK_DIR/token" --bcrypt-cost 10 2>"$STACK_DIR/api.log" &
API_PID=$!
STACK_ALL_PIDS="$STACK_ALL_PIDS $API_PID"
API_PORT=
for _ in $(seq 1 200); do
    API_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$STACK_DIR/api.log")
    [ -n "$API_PORT" ] && break
    kill -0 "$API_PID" 2>/dev/null || break
    sleep 0.05
done
[ -n "$API_PORT" ] || {
    echo "egress-api did not start:"
    cat "$STACK_DIR/api.log"
    exit 99
}
stack_start_origin || exit 99
stack_start_icap "$STORE" || exit 99
# Workspaces ask for http://HOST/ (port 80): squid's way there is the origin.
STACK_ORIGIN_PEER=1 stack_start_squid || exit 99
TEACHER=127.0.0.10 STUDENT=127.0.0.11

# api METHOD PATH [JSON]: the admin's call; prints "STATUS BODY".
# Each answer is also recorded, and checked against docs/openapi.yaml at the end.
. "$top_srcdir/tests/api/record.sh"
EGRESS_API_RECORD="$STACK_DIR/answers.jsonl"
api() {
    local out status body
    out=$(curl -sS --noproxy '*' -X "$1" -H "Authorization: Bearer $TOKEN" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
        -w '\n%{content_type}\n%{http_code}' "http://127.0.0.1:$API_PORT$2")
    status=$(printf '%s' "$out" | tail -n 1)
    body=$(printf '%s' "$out" | sed '$d' | sed '$d')
    api_record "$1" "$2" "$status" "$(printf '%s' "$out" | tail -n 2 | head -n 1)" "$body"
    printf '%s %s\n' "$status" "$body"
}
project_id() { sed -n 's/.*"projectId":"\([a-z0-9-]*\)".*/\1/p'; }
code() { stack_curl "$1" -o /dev/null -w '%{http_code}' "http://$2/" 2>/dev/null; }

# The teacher's workspace records everything.
out=$(api POST /api/projects/create '{"projectName": "Teacher", "proxyMode": "logging", "profile": "course1"}')
expect_match "teacher workspace created" "$out" '^201 '
T=$(printf '%s' "$out" | project_id)
expect_match "teacher IP mapped" "$(api PUT "/api/projects/$T/ip" "{\"ipAddress\": \"$TEACHER\"}")" '^200 '
for h in pypi.test files.pypi.test docs.test tracker.test; do
    expect_eq "teacher reaches $h" "$(code $TEACHER $h)" 200
done

# Discoveries are written at once; wait until all four are visible.
for _ in $(seq 1 100); do
    rec=$(api GET "/api/projects/$T/recorded-domains")
    printf '%s' "$rec" | grep -q '"totalDomains":4' && break
    sleep 0.1
done
expect_match "four hosts recorded" "$rec" '"totalDomains":4'
for h in pypi.test files.pypi.test docs.test tracker.test; do
    expect_match "$h recorded with a count" "$rec" "\"$h\":\\{\"count\":[1-9]"
done

# Promote three of them; tracker.test stays out.
out=$(api POST "/api/projects/$T/recorded-domains/promote" \
    '{"domains": ["pypi.test", "files.pypi.test", "docs.test"], "form": "exact"}')
expect_match "promotion answered" "$out" '^200 '
expect_match "three rules added" "$out" '"added":\["pypi.test","files.pypi.test","docs.test"\]'
expect_match "profile whitelist lists them" "$(api GET '/api/whitelist?profile=course1')" '"domains":\[[^]]*pypi.test'

# The student on the same profile reaches exactly those.
out=$(api POST /api/projects/create '{"projectName": "Student", "proxyMode": "security", "profile": "course1"}')
S=$(printf '%s' "$out" | project_id)
expect_match "student IP mapped" "$(api PUT "/api/projects/$S/ip" "{\"ipAddress\": \"$STUDENT\"}")" '^200 '
for h in pypi.test files.pypi.test docs.test; do
    expect_eq "student reaches promoted $h" "$(code $STUDENT $h)" 200
done
expect_eq "student is denied tracker.test (recorded, not promoted)" "$(code $STUDENT tracker.test)" 403
expect_eq "student is denied evil.test" "$(code $STUDENT evil.test)" 403
expect_match "the dry run agrees" "$(api GET "/api/projects/$S/check?host=tracker.test")" '"verdict":"deny"'
for _ in $(seq 1 50); do
    rec=$(api GET "/api/projects/$S/recorded-domains")
    printf '%s' "$rec" | grep -q '"tracker.test":{[^}]*"denied":[1-9]' && break
    sleep 0.1
done
expect_match "the student's denial is recorded" "$rec" '"tracker.test":\{[^}]*"denied":[1-9]'

# Another port than 80 and 443 (the origin's own, as squid tells the ICAP
# service) is reached only through a rule naming it, in logging mode too.
pcode() { stack_curl "$1" -o /dev/null -w '%{http_code}' "http://$2:$ORIGIN_PORT/" 2>/dev/null; }
expect_eq "teacher (logging) is denied pypi.test on port $ORIGIN_PORT" "$(pcode $TEACHER pypi.test)" 403
expect_eq "student is denied pypi.test on port $ORIGIN_PORT" "$(pcode $STUDENT pypi.test)" 403
expect_match "the check says why" "$(api GET "/api/projects/$T/check?host=pypi.test:$ORIGIN_PORT")" \
    '"reason":"port-not-allowed".*"port":'"$ORIGIN_PORT"
expect_match "a rule of that port is added" \
    "$(api POST /api/whitelist/domains "{\"domain\": \"pypi.test:$ORIGIN_PORT\", \"profile\": \"course1\"}")" \
    "\"added\":\\[\"pypi.test:$ORIGIN_PORT\"\\]"
expect_eq "teacher reaches pypi.test on port $ORIGIN_PORT" "$(pcode $TEACHER pypi.test)" 200
expect_eq "student reaches pypi.test on port $ORIGIN_PORT" "$(pcode $STUDENT pypi.test)" 200
expect_eq "... and not docs.test on it (its rule is the web ports')" "$(pcode $STUDENT docs.test)" 403
expect_eq "... nor tracker.test on port 80" "$(code $STUDENT tracker.test)" 403

# Changes through the API act on the next request.
api PUT "/api/projects/$S/proxy-mode" '{"proxyMode": "logging"}' >/dev/null
expect_eq "logging mode: tracker.test now allowed" "$(code $STUDENT tracker.test)" 200
api DELETE "/api/projects/$S" >/dev/null
expect_eq "deleted workspace: its IP is an unknown client" "$(code $STUDENT pypi.test)" 403

kill -TERM "$API_PID"
stack_wait_gone "$API_PID" 30
expect_match "egress-api stopped cleanly" "$(cat "$STACK_DIR/api.log")" 'stopped'
expect_answers_documented
finish

# shellcheck shell=bash
# Part of run-in-root.sh (sourced, last): contrib/quickstart.sh --packages
# in the root, in loopback mode, running the installed programs and
# snippets (no build, no compiler in the root): its API answers with its
# token, an unmapped client is denied with our page, and once a logging
# project holds 127.0.0.1 the origin answers through its squid. Ctrl-C
# (SIGINT) stops what it started.
# Uses from run-in-root.sh: R, LOGS, in_root, in_root_bg, wait_port, stop.

mkdir -p "$R/root/egress/contrib"
cp "$top_srcdir/contrib/quickstart.sh" "$top_srcdir/contrib/install-deps.sh" "$R/root/egress/contrib/"
QS_API=18088 QS_SQUID=13128
in_root_bg bash /root/egress/contrib/quickstart.sh --packages --no-deps --no-engine \
    --api-port $QS_API --squid-port $QS_SQUID >"$LOGS/quickstart.log" 2>&1 &
QS=$!
for _ in $(seq 1 150); do
    grep -q '^egress-policy is running' "$LOGS/quickstart.log" && break
    kill -0 $QS 2>/dev/null || break
    sleep 0.2
done
if grep -q '^egress-policy is running' "$LOGS/quickstart.log"; then
    ok "quickstart --packages: running on the installed programs"
else
    fail "quickstart --packages: running on the installed programs" "$(tail -5 "$LOGS/quickstart.log")"
fi
qs_var=$(sed -n 's/^egress-policy is running (logs and store in \(.*\);.*/\1/p' "$LOGS/quickstart.log")
QS_TOKEN=$(cat "$R$qs_var/admin-token" 2>/dev/null)
qs_api() {
    in_root curl -s -H "Authorization: Bearer $QS_TOKEN" -H 'Content-Type: application/json' "$@"
}
got=$(in_root curl -s -o /dev/null -D - -x "http://127.0.0.1:$QS_SQUID" http://allowed.test/)
expect_match "quickstart --packages: an unmapped client is denied with our page" "$got" \
    'X-Squid-Error: ERR_EGRESS_DENIED'
QP=$(qs_api -X POST "http://127.0.0.1:$QS_API/api/projects/create" \
    -d '{"projectName": "Teacher", "proxyMode": "logging"}' | sed -n 's/.*"projectId":"\([0-9a-f]*\)".*/\1/p')
qs_api -X PUT "http://127.0.0.1:$QS_API/api/projects/$QP/ip" -d '{"ipAddress": "127.0.0.1"}' >/dev/null
got=$(in_root curl -s -x "http://127.0.0.1:$QS_SQUID" http://allowed.test/)
expect_eq "quickstart --packages: a logging project reaches the origin through its squid" "$got" \
    "hello from the origin"
kill -INT $QS 2>/dev/null
for _ in $(seq 1 100); do
    kill -0 $QS 2>/dev/null || break
    sleep 0.1
done
stop $QS
expect_match "quickstart --packages: Ctrl-C stops what it started" "$(cat "$LOGS/quickstart.log")" '^stopped;'

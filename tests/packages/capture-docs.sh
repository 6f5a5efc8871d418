# shellcheck shell=bash
# Part of run-in-root.sh (sourced, after squid's explicit-proxy set-up):
# LLM capture set up with the commands of contrib/capture/README.md
# ("Setting it up with the Debian packages"), run exactly as written inside
# the root, against the installed packages: c-icap started from the shipped
# /etc/c-icap/egress-capture.conf alone, squid with the shipped snippets.
# The origin is tests/capture/fake-llm.py as api.openai.com at
# 198.51.100.10:443, with a certificate of a test CA the root trusts (as a
# real origin's is: the test's only addition to the docs).
# Uses from run-in-root.sh: R, LOGS, ORIGIN_NS, P, A, api, in_root,
# in_root_bg, wait_port.

D="$LOGS/capture"
mkdir -p "$D/hold"
chmod 777 "$D/hold"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Packages Test Origin CA" \
    -keyout "$D/origin-ca.key" -out "$D/origin-ca.pem" 2>/dev/null &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=api.openai.com" -keyout "$D/origin.key" \
        -out "$D/origin.csr" 2>/dev/null &&
    printf 'subjectAltName=DNS:api.openai.com\n' >"$D/san.ext" &&
    openssl x509 -req -in "$D/origin.csr" -CA "$D/origin-ca.pem" -CAkey "$D/origin-ca.key" \
        -CAcreateserial -days 2 -extfile "$D/san.ext" -out "$D/origin.pem" 2>/dev/null || exit 99
mkdir -p "$R/usr/local/share/ca-certificates"
cp "$D/origin-ca.pem" "$R/usr/local/share/ca-certificates/egress-test-origin.crt"
in_root update-ca-certificates >/dev/null 2>&1 || exit 99
nsenter -t "$ORIGIN_NS" -n env FAKE_LLM_BIND=198.51.100.10:443 python3 "$top_srcdir/tests/capture/fake-llm.py" \
    "$D/origin.pem" "$D/origin.key" "$D/origin.port" "$D/hold" >"$D/origin.log" 2>&1 &
echo "198.51.100.10 api.openai.com" >>"$R/etc/hosts"

setup=$(sed -n '/^<!-- capture-setup -->$/,/^<!-- end -->$/p' "$top_srcdir/contrib/capture/README.md" |
    sed -n '/^    /s/^    //p')
echo "capture set-up from contrib/capture/README.md:"
echo "$setup"
if in_root sh -ec "$setup" >"$D/setup.log" 2>&1; then
    ok "capture: the README's commands run as written"
else
    fail "capture: the README's commands run as written" "$(tail -5 "$D/setup.log")"
fi
expect_no_match "capture: squid -k parse: no error" "$(cat "$D/setup.log")" 'ERROR|FATAL|Bungled'
if wait_port 1345; then
    ok "capture: c-icap from /etc/c-icap/egress-capture.conf alone listens on 1345"
else
    fail "capture: c-icap from /etc/c-icap/egress-capture.conf alone listens on 1345" \
        "$(tail -5 "$R/var/log/c-icap/egress-capture-server.log" 2>/dev/null)"
fi
[ -s "$R/run/c-icap/egress-capture.pid" ] && ok "capture: c-icap wrote its own PidFile" ||
    fail "capture: c-icap wrote its own PidFile"
[ -p "$R/run/c-icap/egress-capture.ctl" ] && ok "capture: c-icap made its own CommandsSocket (a fifo)" ||
    fail "capture: c-icap made its own CommandsSocket"

# "then systemctl restart squid": squid with the edited squid.conf.
in_root_bg squid -N -f /etc/squid/squid.conf >"$D/squid.log" 2>&1 &
CSQUID=$!
wait_port 3128 || fail "capture: squid listens on 3128" "$(tail -5 "$D/squid.log")"
api -X PUT "$A/api/projects/$P/proxy-mode" -d '{"proxyMode": "logging"}' >/dev/null

# chat STREAM-ARGS...: an OpenAI chat call from the workspace (127.0.0.1)
# through squid, trusting the capture CA.
chat() {
    in_root curl -sS -v --max-time 20 --cacert /var/lib/egress-policy/ca/ca.pem -x http://127.0.0.1:3128 \
        -H 'Content-Type: application/json' -H 'Authorization: Bearer sk-test-PKGSECRET' "$@" \
        -d '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"What time is it?"}]}' \
        https://api.openai.com/v1/chat/completions
}
# conversations: the project's conversation list, once it holds N.
conversations() {
    local list=""
    for _ in $(seq 1 50); do
        list=$(api "$A/api/projects/$P/conversations")
        [ "$(printf '%s' "$list" | grep -o '"host"' | wc -l)" -ge "$1" ] && break
        sleep 0.2
    done
    printf '%s' "$list"
}
got=$(chat 2>"$D/chat1.err")
expect_match "capture: the stream reached the client" "$got" '"content": ?"Hello"'
expect_match "capture: decrypted by squid (the client saw the capture CA's certificate)" \
    "$(cat "$D/chat1.err")" 'issuer: .*egress'
list=$(conversations 1)
expect_match "capture: the conversation is stored, complete" "$list" \
    '"host": ?"api.openai.com".*"incomplete": ?false'
expect_no_match "capture: no secret in the stored list" "$list" 'PKGSECRET'

# An origin that cuts its stream after two events: stored, marked incomplete.
got=$(chat -H 'X-Test-Cut: 2' 2>"$D/chat2.err")
expect_match "capture: an origin-cut stream passes what came" "$got" '"content": ?"Hello"'
list=$(conversations 2)
expect_match "capture: an origin-cut stream is stored marked incomplete" "$list" '"incomplete": ?true'

stop "$CSQUID"
[ -s "$R/run/c-icap/egress-capture.pid" ] && kill -TERM "$(cat "$R/run/c-icap/egress-capture.pid")" 2>/dev/null

#!/bin/sh
# LLM capture end to end: curl from simulated workspaces (127.0.0.x) through
# the real squid-openssl with contrib/squid/egress-capture.conf (ssl_bump
# decided by egress-acl's bump mode from the store), the real c-icap with
# srv_capture.so, to a fake LLM origin over TLS (tests/capture/fake-llm.py)
# whose certificate comes from a test CA squid trusts.
#
# Checked: byte-identical answers (SSE, JSON, gzip); the first SSE event
# reaches the client while the origin holds the rest (by cause: the origin
# waits for a file the client makes after reading the first event); the
# captured conversation (messages, tool calls, usage); no secret header or
# query value in the store dump or any log; a security workspace and a
# non-LLM host are spliced (the client sees the origin's own certificate)
# and nothing is captured; a switch logging -> security stops the bumping
# on the very next connection (and back); an origin error; a stream the client cuts
# (incomplete); a 20 MB request body (passes whole, stored cut at the cap;
# the capture's metrics count the exchanges and the cut);
# the capture service down (requests still work); retention and the
# per-project cap; and srv_egress chained before capture for bumped requests.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid
command -v python3 >/dev/null 2>&1 || {
    echo "python3 is not installed (Debian: python3)"
    exit 77
}
command -v mdb_dump >/dev/null 2>&1 || {
    echo "mdb_dump is not installed (Debian: lmdb-utils)"
    exit 77
}
[ -x /usr/lib/squid/security_file_certgen ] || {
    echo "security_file_certgen is missing: squid-openssl is not installed"
    exit 77
}
[ -f "$top_builddir/icap/.libs/srv_capture.so" ] || {
    echo "srv_capture.so is not built"
    exit 99
}
CAPTURECTL="$top_builddir/tests/capture/capturectl"
ACL="$top_builddir/acl/egress-acl"

STACK_HOSTS="api.openai.com api.anthropic.com plain.test"
stack_init
D=$STACK_DIR
# squid runs the helper as user proxy: a copy it can reach (tests/lib/stack.sh).
ACL=$(stack_squid_exec "$ACL") || exit 99
STORE="$D/store"
mkdir -p "$STORE" "$D/hold"
chmod 777 "$D/hold"
storectl create-project teacher logging
storectl map 127.0.0.21 teacher
storectl create-project student security
storectl map 127.0.0.22 student
chown -R proxy:proxy "$STORE"

# The origin's test CA and certificate (what squid trusts upstream).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Capture Test Origin CA" \
    -keyout "$D/origin-ca.key" -out "$D/origin-ca.pem" 2>/dev/null || exit 99
openssl req -newkey rsa:2048 -nodes -subj "/CN=fake llm" -keyout "$D/origin.key" \
    -out "$D/origin.csr" 2>/dev/null || exit 99
printf 'subjectAltName=DNS:api.openai.com,DNS:api.anthropic.com,DNS:plain.test\n' >"$D/san.ext"
openssl x509 -req -in "$D/origin.csr" -CA "$D/origin-ca.pem" -CAkey "$D/origin-ca.key" \
    -CAcreateserial -days 2 -extfile "$D/san.ext" -out "$D/origin.pem" 2>/dev/null || exit 99

# The capture CA, made by the shipped command.
"$top_srcdir/contrib/capture/egress-ca" create "$D/ca" >/dev/null || exit 99
expect_eq "egress-ca: key readable by proxy only" "$(stat -c '%U %a' "$D/ca/ca.key")" "proxy 400"
expect_match "egress-ca: bundle holds the system CAs and ours" \
    "$(grep -c 'BEGIN CERTIFICATE' "$D/ca/bundle.pem")" '^[0-9]{2,}$'

# The fake LLM origin on port 443 (a web port: another port needs a rule
# naming it) of a loopback address of its own, where squid's hosts_file
# sends the test names (stack.sh).
ORIGIN_ADDR=127.$((100 + RANDOM % 100)).$((1 + RANDOM % 250)).$((1 + RANDOM % 250))
FAKE_LLM_BIND="$ORIGIN_ADDR:443" python3 "$top_srcdir/tests/capture/fake-llm.py" "$D/origin.pem" "$D/origin.key" "$D/origin.port" \
    "$D/hold" 2>"$D/origin.log" &
ORIGIN_PY=$!
STACK_ALL_PIDS="$STACK_ALL_PIDS $ORIGIN_PY"
for _ in $(seq 1 100); do [ -s "$D/origin.port" ] && break; sleep 0.05; done
P=$(cat "$D/origin.port" 2>/dev/null)
[ -n "$P" ] || { echo "fake origin did not start"; cat "$D/origin.log"; exit 99; }

ICAP_SERVICE_LINE="Service capture $top_builddir/icap/.libs/srv_capture.so"
stack_start_icap "$STORE" "capture.Database $STORE" "capture.MaxBodySize 64K" \
    "capture.LogInterval 1" || exit 99
CAPTURE_ICAP_PORT=$ICAP_PORT

BUMP_PORT=$(stack_free_port) || exit 99
snippet() {
    sed -e "s#icap://127.0.0.1:1345/capture#icap://127.0.0.1:$CAPTURE_ICAP_PORT/capture#" \
        -e "s#/usr/bin/egress-acl --database /var/lib/egress-policy#$ACL --database $STORE#" \
        -e "s#-s /var/lib/egress-policy/ca/ssl_db#-s $D/ca/ssl_db#" \
        "$top_srcdir/contrib/squid/egress-capture.conf"
}
mapfile -t SNIPPET < <(snippet)
SQUID_NO_ICAP=1 stack_start_squid \
    "http_port 127.0.0.1:$BUMP_PORT ssl-bump tls-cert=$D/ca/ca.pem tls-key=$D/ca/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=4MB" \
    "tls_outgoing_options cafile=$D/origin-ca.pem" \
    "${SNIPPET[@]}" || exit 99
stack_wait_port "$BUMP_PORT" 20 || exit 99

TEACHER=127.0.0.21 STUDENT=127.0.0.22
SECRET_AUTH="sk-test-AUTHSECRET-4711"
SECRET_KEY="anthropic-XKEYSECRET-4712"
SECRET_COOKIE="COOKIESECRET-4713"
SECRET_QUERY="QUERYSECRET-4714"

# via IP CA URL [CURL ARGS]: through squid's bump port from workspace IP, trusting CA.
via() {
    local ip=$1 ca=$2 url=$3
    shift 3
    curl -sS --max-time 20 --interface "$ip" -x "http://127.0.0.1:$BUMP_PORT" --cacert "$ca" \
        -H "Authorization: Bearer $SECRET_AUTH" -H "x-api-key: $SECRET_KEY" \
        -H "Cookie: sid=$SECRET_COOKIE" "$@" "$url"
}
# direct URL [CURL ARGS]: straight to the origin (the reference bytes).
direct() {
    local url=$1
    shift
    curl -sS --max-time 20 --cacert "$D/origin-ca.pem" \
        --resolve "api.openai.com:$P:$ORIGIN_ADDR" --resolve "api.anthropic.com:$P:$ORIGIN_ADDR" \
        --resolve "plain.test:$P:$ORIGIN_ADDR" "$@" "$url"
}
# captures PROJECT: the capture list of a project.
captures() { "$CAPTURECTL" "$STORE" list "$1"; }
# wait_captures PROJECT N: until the project has N exchanges (release runs after the answer).
wait_captures() {
    for _ in $(seq 1 100); do
        [ "$(captures "$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
n_before() { captures teacher | wc -l; }

CHAT_STREAM='{"model":"gpt-4o","stream":true,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What time is it?"}]}'
CHAT_JSON='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}]}'
ANTH_STREAM='{"model":"claude-x","stream":true,"system":"terse","messages":[{"role":"user","content":"Read a.txt"}]}'
OPENAI="https://api.openai.com:$P"
ANTHROPIC="https://api.anthropic.com:$P"

# --- 1. OpenAI chat, streamed: byte-identical, first event before the rest ---
direct "$OPENAI/v1/chat/completions" -d "$CHAT_STREAM" -H 'Content-Type: application/json' \
    >"$D/ref-chat.sse" || exit 99
: >"$D/got-chat.sse"
{
    via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/chat/completions?key=$SECRET_QUERY" -N \
        -H 'Content-Type: application/json' -H 'X-Test-Hold: chat1' -d "$CHAT_STREAM"
} | {
    # Read the first event, then let the origin send the rest.
    IFS= read -r first
    printf '%s\n' "$first" >>"$D/got-chat.sse"
    touch "$D/hold/chat1"
    cat >>"$D/got-chat.sse"
}
expect_eq "openai stream: first event reached the client while the origin held the rest" \
    "$(cat "$D/hold/chat1.result" 2>/dev/null)" "released"
if cmp -s "$D/ref-chat.sse" "$D/got-chat.sse"; then
    ok "openai stream: byte-identical to the origin's answer"
else
    fail "openai stream: byte-identical to the origin's answer" "$(diff "$D/ref-chat.sse" "$D/got-chat.sse" | head -5)"
fi
wait_captures teacher 1 || fail "openai stream: captured" "nothing after 10 s"
line=$(captures teacher | tail -1)
id=$(echo "$line" | awk '{print $1}')
expect_match "openai stream: exchange listed (host, method, status, streamed, model, usage)" \
    "$line" "^[0-9]+ api\.openai\.com POST 200 s gpt-4o-test 17 5 "
expect_match "openai stream: key= redacted in the stored path" "$line" \
    "/v1/chat/completions\?key=\[redacted\]$"
conv=$("$CAPTURECTL" "$STORE" get teacher "$id")
expect_match "openai stream: reply text reassembled" "$conv" '"reply":\{"role":"assistant","content":"Hello world"'
expect_match "openai stream: tool call reassembled" "$conv" \
    '"tool_calls":\[\{"id":"call_7","name":"get_time","arguments":"\{\\"tz\\":\\"UTC\\"\}"\}\]'
expect_match "openai stream: request messages in order" "$conv" \
    '"messages":\[\{"role":"system","content":"Be brief."\},\{"role":"user","content":"What time is it\?"\}\]'
expect_match "openai stream: usage" "$conv" '"usage":\{"input_tokens":17,"output_tokens":5\}'
expect_match "headers: Authorization kept as a name only" "$conv" 'Authorization: \[redacted\]'
expect_match "headers: Set-Cookie of the origin redacted" "$conv" '[Ss]et-[Cc]ookie: \[redacted\]'

# --- 2. OpenAI chat, JSON, gzip: byte-identical (still compressed), stored decoded ---
direct "$OPENAI/v1/chat/completions" -H 'Accept-Encoding: gzip' -d "$CHAT_JSON" >"$D/ref-gz.bin" || exit 99
via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/chat/completions" -H 'Accept-Encoding: gzip' \
    -d "$CHAT_JSON" >"$D/got-gz.bin"
if cmp -s "$D/ref-gz.bin" "$D/got-gz.bin" && [ "$(head -c 2 "$D/got-gz.bin" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
    ok "openai gzip JSON: byte-identical, still gzip"
else
    fail "openai gzip JSON: byte-identical, still gzip" "$(stat -c %s "$D/ref-gz.bin" "$D/got-gz.bin" | tr '\n' ' ')"
fi
wait_captures teacher 2 || fail "openai gzip JSON: captured" "nothing"
line=$(captures teacher | tail -1)
id=$(echo "$line" | awk '{print $1}')
expect_match "openai gzip JSON: listed, not streamed, usage" "$line" "^[0-9]+ api\.openai\.com POST 200 - gpt-4o-mini-test 9 3 "
expect_match "openai gzip JSON: stored decoded" "$("$CAPTURECTL" "$STORE" body teacher "$id" response | head -c 100)" \
    '^\{"id": "c2"'

# --- 3. Anthropic, streamed, with a tool call ---
direct "$ANTHROPIC/v1/messages" -d "$ANTH_STREAM" >"$D/ref-anth.sse" || exit 99
via $TEACHER "$D/ca/ca.pem" "$ANTHROPIC/v1/messages" -N -d "$ANTH_STREAM" >"$D/got-anth.sse"
if cmp -s "$D/ref-anth.sse" "$D/got-anth.sse"; then ok "anthropic stream: byte-identical"; else fail "anthropic stream: byte-identical"; fi
wait_captures teacher 3 || fail "anthropic stream: captured" "nothing"
line=$(captures teacher | tail -1)
id=$(echo "$line" | awk '{print $1}')
expect_match "anthropic stream: listed with usage" "$line" "^[0-9]+ api\.anthropic\.com POST 200 s claude-test 23 11 "
conv=$("$CAPTURECTL" "$STORE" get teacher "$id")
expect_match "anthropic stream: text and tool call" "$conv" \
    '"content":"Bonjour","tool_calls":\[\{"id":"tu_1","name":"read_file","arguments":"\{\\"path\\": \\"a.txt\\"\}"\}\]'
expect_match "anthropic stream: system and user messages" "$conv" \
    '"messages":\[\{"role":"system","content":"terse"\},\{"role":"user","content":"Read a.txt"\}\]'
expect_match "headers: x-api-key redacted" "$conv" '[Xx]-[Aa]pi-[Kk]ey: \[redacted\]'

# --- 4. OpenAI responses API, streamed ---
via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/responses" -N -d '{"model":"gpt-4.1","input":"hi","stream":true}' >/dev/null
wait_captures teacher 4 || fail "responses stream: captured" "nothing"
expect_match "responses stream: listed with model and usage" "$(captures teacher | tail -1)" \
    "^[0-9]+ api\.openai\.com POST 200 s gpt-4.1-test 3 4 "

# --- 5. An origin error is captured with its status ---
via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/error" -d "$CHAT_JSON" -o /dev/null -w '%{http_code}' >"$D/code"
expect_eq "origin error: the client gets the 500" "$(cat "$D/code")" 500
wait_captures teacher 5 || fail "origin error: captured" "nothing"
expect_match "origin error: stored with status 500, raw shape" "$(captures teacher | tail -1)" \
    "^[0-9]+ api\.openai\.com POST 500 r "

# --- 6. A stream the client cuts is stored incomplete ---
via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/chat/completions" -N -H 'X-Test-Hold: cut1' \
    -d "$CHAT_STREAM" --max-time 2 >"$D/cut.sse" 2>/dev/null
touch "$D/hold/cut1"
expect_match "cut stream: the client had the first event" "$(head -1 "$D/cut.sse")" '^data: .*"Hello"'
wait_captures teacher 6 || fail "cut stream: captured" "nothing"
expect_match "cut stream: stored incomplete with what came" "$(captures teacher | tail -1)" \
    "^[0-9]+ api\.openai\.com POST 200 is "

# --- 7. A 20 MB request body: passes whole, stored cut at the cap ---
head -c $((20 * 1024 * 1024)) /dev/urandom | base64 -w 0 | head -c $((20 * 1024 * 1024)) >"$D/big.txt"
want=$(sha256sum "$D/big.txt" | awk '{print $1}')
got=$(via $TEACHER "$D/ca/ca.pem" "$OPENAI/upload" -H 'Content-Type: text/plain' --data-binary "@$D/big.txt" --max-time 60)
expect_match "20 MB body: the origin got every byte" "$got" "\"bytes\": 20971520, \"sha256\": \"$want\""
wait_captures teacher 7 || fail "20 MB body: captured" "nothing"
expect_match "20 MB body: stored truncated at 64K (seen 20971520)" "$(captures teacher | tail -1)" \
    "^[0-9]+ api\.openai\.com POST 200 t[a-zA-Z]* - 0 0 20971520 [0-9]+ 65536 "

# --- 7b. The capture's counters (policy/counters.h): every stored exchange, the one cut body ---
metric() { "$top_builddir/tests/metrics/metricsdump" "$STORE" | awk -v s="$1" '$1 == s {print $2}'; }
for _ in $(seq 1 50); do
    [ "$(metric egress_capture_exchanges_total)" = "$(captures teacher | wc -l)" ] && break
    sleep 0.1
done
expect_eq "metrics: capture exchanges = the exchanges stored" \
    "$(metric egress_capture_exchanges_total)" "$(captures teacher | wc -l)"
expect_eq "metrics: one half cut at the cap (the 20 MB body)" \
    "$(metric egress_capture_truncations_total)" 1
expect_eq "metrics: no capture error" "$(metric egress_capture_errors_total)" 0

# --- 8. Not decrypted: a non-LLM host of the logging workspace, and a security workspace ---
n=$(n_before)
issuer=$(via $TEACHER "$D/origin-ca.pem" "https://plain.test:$P/" -v -o "$D/plain.out" 2>&1 | grep -i 'issuer:')
expect_match "non-LLM host: the client sees the origin's own certificate" "$issuer" "Capture Test Origin CA"
expect_eq "non-LLM host: answer" "$(cat "$D/plain.out")" "plain origin"
issuer=$(via $STUDENT "$D/origin-ca.pem" "$OPENAI/v1/chat/completions" -d "$CHAT_JSON" -v -o "$D/stud.out" 2>&1 | grep -i 'issuer:')
expect_match "security workspace: LLM host not decrypted (origin's certificate)" "$issuer" "Capture Test Origin CA"
expect_match "security workspace: answer" "$(head -c 30 "$D/stud.out")" '"id": "c2"'
sleep 0.5
expect_eq "not decrypted: nothing captured for the teacher" "$(n_before)" "$n"
expect_eq "not decrypted: nothing captured for the student" "$(captures student | wc -l)" 0

# --- 8b. A mode switch applies to the very next connection (no helper cache) ---
n=$(n_before)
storectl set-mode teacher security
issuer=$(via $TEACHER "$D/origin-ca.pem" "$OPENAI/v1/chat/completions" -d "$CHAT_JSON" -v -o /dev/null 2>&1 | grep -i 'issuer:')
expect_match "logging -> security: the next connection is not decrypted" "$issuer" "Capture Test Origin CA"
storectl set-mode teacher logging
issuer=$(via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/chat/completions" -d "$CHAT_JSON" -v -o /dev/null 2>&1 | grep -i 'issuer:')
expect_match "security -> logging: the next connection is decrypted again" "$issuer" "egress-policy LLM capture CA"
wait_captures teacher $((n + 1)) || fail "security -> logging: captured" "nothing"
expect_eq "mode switch: only the logging connection captured" "$(n_before)" $((n + 1))

# --- 9. Secrets: nowhere in the store or any log ---
dump=$(mdb_dump -a -p "$STORE" 2>/dev/null)
expect_match "store dump readable" "$dump" 'conversations'
for s in "$SECRET_AUTH" "$SECRET_KEY" "$SECRET_COOKIE" "$SECRET_QUERY" ORIGIN-COOKIE-SECRET; do
    expect_no_match "secret $s not in the store dump" "$dump" "$s"
    expect_no_match "secret $s not in any squid or c-icap log" \
        "$(cat "$D"/squid/logs/* "$D"/c-icap/*.log 2>/dev/null)" "$s"
done

# --- 10. Capture service down: requests still work (bypass=on), nothing captured ---
n=$(n_before)
stack_stop_icap
via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/chat/completions" -N -d "$CHAT_STREAM" >"$D/down.sse"
if cmp -s "$D/ref-chat.sse" "$D/down.sse"; then ok "capture down: streamed answer still byte-identical"; else fail "capture down: streamed answer still byte-identical" "$(head -c 200 "$D/down.sse")"; fi
expect_eq "capture down: nothing captured" "$(n_before)" "$n"

# --- 11. Retention and the per-project cap, enforced when an exchange is stored ---
stack_stop_squid
stack_start_icap "$STORE" "capture.Database $STORE" "capture.Retention 3s" \
    "capture.ProjectMax 3" "capture.LogInterval 1" || exit 99
CAPTURE_ICAP_PORT=$ICAP_PORT
mapfile -t SNIPPET < <(snippet)
SQUID_NO_ICAP=1 stack_start_squid \
    "http_port 127.0.0.1:$BUMP_PORT ssl-bump tls-cert=$D/ca/ca.pem tls-key=$D/ca/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=4MB" \
    "tls_outgoing_options cafile=$D/origin-ca.pem" \
    "${SNIPPET[@]}" || exit 99
stack_wait_port "$BUMP_PORT" 20 || exit 99
sleep 3 # everything stored so far is now older than the retention
expect_match "limits: the store holds the earlier exchanges" "$(n_before)" '^([5-9]|[0-9]{2,})$'
via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/chat/completions" -d "$CHAT_JSON" -o /dev/null
for _ in $(seq 1 100); do [ "$(n_before)" -le 1 ] && break; sleep 0.1; done
expect_eq "retention: storing an exchange deleted the ones older than 3 s" "$(n_before)" 1
for i in 1 2 3 4; do
    via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/messages" -d "{\"model\":\"m$i\",\"messages\":[]}" -o /dev/null
done
for _ in $(seq 1 100); do
    [ "$(captures teacher | grep -c '/v1/messages$')" -eq 3 ] && break
    sleep 0.1
done
expect_eq "per-project cap: 3 exchanges kept" "$(n_before)" 3
expect_no_match "per-project cap: the oldest went first" "$(captures teacher)" '/v1/chat/completions$'

# --- 12. With the policy service too: srv_egress and capture chained for bumped requests ---
# (the combination contrib/squid/egress-capture.conf describes).
stack_stop_squid
STACK_INSTANCE=-egress ICAP_SERVICE_LINE= stack_start_icap "$STORE" || exit 99
EGRESS_ICAP_PORT=$ICAP_PORT
mapfile -t EGRESS < <(sed -e "s#icap://127.0.0.1:1344/egress#icap://127.0.0.1:$EGRESS_ICAP_PORT/egress#" \
    -e "s#^error_directory .*#error_directory /usr/share/squid/errors/templates#" \
    "$top_srcdir/contrib/squid/egress.conf" | grep -v '^adaptation_access egress ')
mapfile -t SNIPPET < <(snippet | grep -v '^adaptation_access egress_capture_req ')
STACK_INSTANCE= SQUID_NO_ICAP=1 stack_start_squid \
    "http_port 127.0.0.1:$BUMP_PORT ssl-bump tls-cert=$D/ca/ca.pem tls-key=$D/ca/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=4MB" \
    "tls_outgoing_options cafile=$D/origin-ca.pem" "${EGRESS[@]}" "${SNIPPET[@]}" \
    "adaptation_service_chain egress_then_capture egress egress_capture_req" \
    "adaptation_access egress_then_capture allow egress_bumped" \
    "adaptation_access egress deny manager" "adaptation_access egress allow all" || exit 99
stack_wait_port "$BUMP_PORT" 20 || exit 99
n=$(captures teacher | grep -c '/v1/responses$')
via $TEACHER "$D/ca/ca.pem" "$OPENAI/v1/responses" -N -d '{"model":"gpt-4.1","input":"chained","stream":true}' >"$D/chain.sse"
expect_match "with srv_egress: the answer comes through" "$(tail -c 300 "$D/chain.sse")" 'response.completed'
for _ in $(seq 1 100); do [ "$(captures teacher | grep -c '/v1/responses$')" -gt "$n" ] && break; sleep 0.1; done
expect_match "with srv_egress: captured with its request (not incomplete)" \
    "$(captures teacher | grep '/v1/responses$' | tail -1)" "^[0-9]+ api\.openai\.com POST 200 s gpt-4.1-test 3 4 "
expect_match "with srv_egress: the policy service recorded the host" \
    "$("$STORECTL" "$STORE" seen teacher)" '^api\.openai\.com '

finish

#!/bin/sh
# LLM capture on intercepted traffic: workspaces with NO proxy variables
# whose TLS to the "internet" (203.0.113.10:443, a TEST-NET address on the
# loopback of a network namespace this test makes) is redirected by
# iptables to squid-openssl's intercepting https_port. squid runs
# contrib/squid/egress-capture.conf (without its "ssl_bump splice all")
# before a copy of the intercept lines of contrib/squid/egress-intercept.conf
# deciding with egress-acl at ssl_bump step 2 (splice what the policy
# allows, terminate the rest), c-icap runs srv_capture.so, and a fake LLM
# origin (tests/capture/fake-llm.py) listens on 203.0.113.10:443.
#
# Checked: a logging workspace's LLM conversation is decrypted and captured
# (the client sees the capture CA, the answer is byte-identical, the policy
# recorded the host); a security workspace's connection to the same host is
# spliced (the origin's own certificate) and nothing is captured; a
# logging workspace's non-LLM host is spliced; a security workspace's
# denied host is terminated (no TLS handshake, nothing reaches the origin);
# a switch logging -> security stops the decryption on the very next
# connection. No packet leaves the namespace.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
: "${top_srcdir:?run from make check (top_srcdir unset)}"
: "${top_builddir:?run from make check (top_builddir unset)}"
for tool in unshare ip iptables python3 curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$tool is not installed (contrib/install-deps.sh --test)"
        exit 77
    }
done
[ "$(id -u)" = 0 ] || {
    echo "needs root (a network namespace, iptables in it, squid started as root)"
    exit 99
}
# Everything below runs in a network namespace of its own: its firewall,
# its addresses, its ports; it ends with the last process in it.
if [ "${EP_CAPTURE_NETNS:-}" != 1 ]; then
    EP_CAPTURE_NETNS=1 exec unshare --net -- bash "$0" "$@"
fi
. "$top_srcdir/tests/icap/common.sh"
need_squid
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
[ -x "$ACL" ] && [ -x "$CAPTURECTL" ] || {
    echo "acl/egress-acl or tests/capture/capturectl is not built"
    exit 99
}

ORIGIN=203.0.113.10
ip link set lo up || exit 99
ip addr add "$ORIGIN/32" dev lo || exit 99

stack_init
D=$STACK_DIR
# squid runs the helper as user proxy: a copy it can reach (tests/lib/stack.sh).
ACL=$(stack_squid_exec "$ACL") || exit 99
STORE="$D/store"
mkdir -p "$STORE" "$D/hold"
chmod 777 "$D/hold"
storectl create-project teacher logging
storectl map 127.0.0.21 teacher
storectl create-project student security course
storectl map 127.0.0.22 student
storectl rules-replace course api.openai.com
chown -R proxy:proxy "$STORE"

# The origin's test CA and certificate (what squid trusts upstream).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Capture Test Origin CA" \
    -keyout "$D/origin-ca.key" -out "$D/origin-ca.pem" 2>/dev/null || exit 99
openssl req -newkey rsa:2048 -nodes -subj "/CN=fake llm" -keyout "$D/origin.key" \
    -out "$D/origin.csr" 2>/dev/null || exit 99
printf 'subjectAltName=DNS:api.openai.com,DNS:plain.test\n' >"$D/san.ext"
openssl x509 -req -in "$D/origin.csr" -CA "$D/origin-ca.pem" -CAkey "$D/origin-ca.key" \
    -CAcreateserial -days 2 -extfile "$D/san.ext" -out "$D/origin.pem" 2>/dev/null || exit 99
"$top_srcdir/contrib/capture/egress-ca" create "$D/ca" >/dev/null || exit 99

FAKE_LLM_BIND="$ORIGIN:443" python3 "$top_srcdir/tests/capture/fake-llm.py" "$D/origin.pem" \
    "$D/origin.key" "$D/origin.port" "$D/hold" 2>"$D/origin.log" &
STACK_ALL_PIDS="$STACK_ALL_PIDS $!"
for _ in $(seq 1 100); do [ -s "$D/origin.port" ] && break; sleep 0.05; done
[ -s "$D/origin.port" ] || { echo "fake origin did not start"; cat "$D/origin.log"; exit 99; }

ICAP_SERVICE_LINE="Service capture $top_builddir/icap/.libs/srv_capture.so"
stack_start_icap "$STORE" "capture.Database $STORE" "capture.LogInterval 1" || exit 99

# The firewall of the namespace: a workspace's TLS to the internet goes to
# squid's intercepting port; squid's own connections (user proxy) do not.
TLS_PORT=$(stack_free_port) || exit 99
iptables -t nat -A OUTPUT -p tcp -d "$ORIGIN" --dport 443 -m owner ! --uid-owner proxy \
    -j REDIRECT --to-ports "$TLS_PORT" || exit 99

# squid: the capture snippet first, then the intercept lines (a copy of
# contrib/squid/egress-intercept.conf's, deciding by egress-acl at step 2).
printf '%s\n' "$ORIGIN api.openai.com plain.test" >"$D/hosts.intercept"
{
    sed -e "s#icap://127.0.0.1:1345/capture#icap://127.0.0.1:$ICAP_PORT/capture#" \
        -e "s#/usr/bin/egress-acl --database /var/lib/egress-policy#$ACL --database $STORE#" \
        -e "s#-s /var/lib/egress-policy/ca/ssl_db#-s $D/ca/ssl_db#" \
        -e '/^ssl_bump splice all$/d' \
        "$top_srcdir/contrib/squid/egress-capture.conf"
    cat <<CONF
https_port 127.0.0.1:$TLS_PORT intercept ssl-bump tls-cert=$D/ca/ca.pem tls-key=$D/ca/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=4MB name=egress_tls
tls_outgoing_options cafile=$D/origin-ca.pem
host_verify_strict on
hosts_file $D/hosts.intercept
acl egress_tls_port myportname egress_tls
acl egress_step1 at_step SslBump1
acl egress_step2 at_step SslBump2
external_acl_type egress_sni ttl=0 negative_ttl=0 cache=0 concurrency=200 children-max=4 children-startup=1 children-idle=1 %>a %>rm %ssl::>sni $ACL --database $STORE --flush-interval 100ms
acl egress_sni_allowed external egress_sni
ssl_bump peek egress_step1
ssl_bump splice egress_step2 egress_sni_allowed
ssl_bump terminate all
external_acl_type egress_req ttl=0 negative_ttl=0 cache=0 concurrency=200 children-max=4 children-startup=1 children-idle=1 %>a %>rm %>rd $ACL --database $STORE --flush-interval 100ms
acl egress_allowed external egress_req
http_access deny egress_bumped !egress_allowed
CONF
} >"$D/pre.conf"
SQUID_PRE_CONF="$D/pre.conf" SQUID_NO_ICAP=1 stack_start_squid || exit 99
stack_wait_port "$TLS_PORT" 20 || exit 99

# ws IP CA URL [CURL ARGS]: a workspace with no proxy settings at all.
ws() {
    local ip=$1 ca=$2 url=$3
    shift 3
    env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u all_proxy \
        curl -sS --max-time 20 --noproxy '*' --interface "$ip" --cacert "$ca" \
        --resolve "api.openai.com:443:$ORIGIN" --resolve "plain.test:443:$ORIGIN" "$@" "$url"
}
captures() { "$CAPTURECTL" "$STORE" list "$1"; }
wait_captures() {
    for _ in $(seq 1 100); do
        [ "$(captures "$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
seen() { "$STORECTL" "$STORE" seen "$1" | awk -v h="$2" '$1 == h {print $2 "/" $3 "/" $4}'; }
TEACHER=127.0.0.21 STUDENT=127.0.0.22
CHAT='{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Intercepted hello"}]}'
URL=https://api.openai.com/v1/chat/completions
CAPTURE_CA="egress-policy LLM capture CA"
ORIGIN_CA="Capture Test Origin CA"

# The reference answer, straight from the origin as squid's user (not redirected).
setpriv --reuid=proxy --regid=proxy --clear-groups curl -sS --max-time 20 --cacert "$D/origin-ca.pem" \
    --resolve "api.openai.com:443:$ORIGIN" -d "$CHAT" "$URL" >"$D/ref.sse" || exit 99

# --- 1. A logging workspace, intercepted: decrypted and captured ---
issuer=$(ws $TEACHER "$D/ca/ca.pem" "$URL" -N -d "$CHAT" -H 'Authorization: Bearer sk-INTERCEPT-SECRET' \
    -v -o "$D/got.sse" 2>&1 | grep -i 'issuer:')
expect_match "logging, intercepted: decrypted (the capture CA signs what the client sees)" "$issuer" "$CAPTURE_CA"
if cmp -s "$D/ref.sse" "$D/got.sse"; then
    ok "logging, intercepted: the answer is byte-identical to the origin's"
else
    fail "logging, intercepted: the answer is byte-identical to the origin's" "$(head -c 200 "$D/got.sse")"
fi
wait_captures teacher 1 || fail "logging, intercepted: captured" "nothing after 10 s"
line=$(captures teacher | tail -1)
expect_match "logging, intercepted: the exchange is listed" "$line" '^[0-9]+ api\.openai\.com POST 200 s '
conv=$("$CAPTURECTL" "$STORE" get teacher "$(echo "$line" | awk '{print $1}')")
expect_match "logging, intercepted: the conversation is stored" "$conv" \
    '"messages":\[\{"role":"user","content":"Intercepted hello"\}\]'
expect_match "logging, intercepted: the bearer token redacted" "$conv" 'Authorization: \[redacted\]'
expect_no_match "logging, intercepted: the bearer token nowhere in the conversation" "$conv" 'sk-INTERCEPT-SECRET'
expect_match "logging, intercepted: the policy recorded the host" "$(seen teacher api.openai.com)" '^[1-9][0-9]*/'

# --- 2. A security workspace to the same host: spliced, never decrypted ---
issuer=$(ws $STUDENT "$D/origin-ca.pem" "$URL" -d "$CHAT" -v -o "$D/stud.sse" 2>&1 | grep -i 'issuer:')
expect_match "security, intercepted: the origin's own certificate" "$issuer" "$ORIGIN_CA"
if cmp -s "$D/ref.sse" "$D/stud.sse"; then ok "security, intercepted: the answer"; else fail "security, intercepted: the answer" "$(head -c 200 "$D/stud.sse")"; fi
expect_eq "security, intercepted: the policy recorded one allowed connection" "$(seen student api.openai.com)" "1/1/0"

# --- 3. A logging workspace's non-LLM host: spliced ---
issuer=$(ws $TEACHER "$D/origin-ca.pem" https://plain.test/ -v -o "$D/plain.out" 2>&1 | grep -i 'issuer:')
expect_match "logging, non-LLM host: the origin's own certificate" "$issuer" "$ORIGIN_CA"
expect_eq "logging, non-LLM host: the answer" "$(cat "$D/plain.out")" "plain origin"

# --- 4. A security workspace's denied host: terminated ---
ws $STUDENT "$D/origin-ca.pem" https://plain.test/ -o "$D/denied.out" 2>"$D/denied.err"
rc=$?
expect_match "security, denied host: the TLS handshake fails (terminated)" "$rc" '^(35|56)$'
expect_eq "security, denied host: no answer" "$(cat "$D/denied.out" 2>/dev/null)" ""
expect_eq "security, denied host: recorded as denied" "$(seen student plain.test)" "1/0/1"

sleep 0.5
expect_eq "nothing captured but the logging workspace's LLM call" \
    "$(captures teacher | wc -l) $(captures student | wc -l)" "1 0"

# --- 5. logging -> security: the very next connection is not decrypted ---
storectl set-mode teacher security
storectl set-profile teacher course
issuer=$(ws $TEACHER "$D/origin-ca.pem" "$URL" -d "$CHAT" -v -o /dev/null 2>&1 | grep -i 'issuer:')
expect_match "logging -> security: the next connection is spliced" "$issuer" "$ORIGIN_CA"
storectl set-mode teacher logging
issuer=$(ws $TEACHER "$D/ca/ca.pem" "$URL" -d "$CHAT" -v -o /dev/null 2>&1 | grep -i 'issuer:')
expect_match "security -> logging: the next connection is decrypted" "$issuer" "$CAPTURE_CA"
wait_captures teacher 2 || fail "security -> logging: captured" "nothing"
expect_eq "mode switch: only the logging connection captured" "$(captures teacher | wc -l)" 2

finish

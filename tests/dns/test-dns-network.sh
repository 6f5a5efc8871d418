#!/bin/bash
# egress-dns on the workspace network (tests/network/netstack.sh: dockerd,
# egress-net, egress-api, squid-openssl intercepting, egress-acl), with
# egress-net --dns-server egress-dns and squid resolving through egress-dns
# (dns_nameservers of contrib/squid/egress-policy.conf). The upstream is a
# resolver whose round-robin name allowed.test answers one of three
# addresses per query, rotating (tests/dns/rotating-dns.py).
#
# From real workspace containers: their DNS, to whatever resolver address
# they send it over UDP or TCP, is answered by egress-dns (the policy's
# verdicts, recorded), and another resolver receives nothing; 200 HTTPS
# fetches of allowed.test through interception, with its addresses
# rotating, have no host_verify_strict refusal (squid and the workspace
# read one cache); a killed egress-dns opens nothing (fail closed), and a
# new one answers again.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-.}/tests/network/netstack.sh"
netstack_check_tools || exit $?
for tool in python3 nsenter; do
    command -v $tool >/dev/null 2>&1 || { echo "$0: $tool is not installed"; exit 77; }
done
[ -x "$top_builddir/dns/egress-dns" ] || { echo "$0: dns/egress-dns is not built"; exit 99; }
netstack_enter "$@"
netstack_outside
UPSTREAM=198.51.100.55
ip -n "$OUT" addr add $UPSTREAM/32 dev lo || exit 99
ip netns exec "$OUT" python3 "$top_srcdir/tests/dns/rotating-dns.py" --listen $UPSTREAM \
    --rotating "allowed.test=$ALLOWED,$OTHER,$BASE" --name "other.test=$OTHER" \
    --name "attacker.test=$ATTACKER" --name "base.test=$BASE" --name "denied.test=$DENIED" \
    --ttl 300 --log "$work/upstream.log" >"$work/upstream.out" 2>&1 &
PIDS="$PIDS $!"
# Whatever reaches the other resolver, over UDP or TCP.
ip netns exec "$OUT" iptables -w -A INPUT -d $DNS_OTHER -p udp --dport 53 -m comment --comment ep-dns-other-udp &&
    ip netns exec "$OUT" iptables -w -A INPUT -d $DNS_OTHER -p tcp --dport 53 -m comment --comment ep-dns-other-tcp || exit 99
dns_other() { echo "$(outside_count dns-other-udp)/$(outside_count dns-other-tcp)"; }

netstack_engine
expect_match "egress-net up with egress-dns" \
    "$(netcmd --dns $UPSTREAM --dns-server egress-dns --dns-args-file "$work/egress-dns.env" up 2>&1)" \
    "DNS to egress-dns on $GW:53 only"
expect_match "it writes egress-dns's options" "$(cat "$work/egress-dns.env")" \
    "^EGRESS_DNS_ARGS=\"--listen $GW:53 --upstream $UPSTREAM\"$"
expect_match "status: up" "$(netcmd --dns $UPSTREAM --dns-server egress-dns status 2>&1)" 'status: up'
EP_NETSTACK_DNS=egress-dns netstack_services

# egress-dns as egress-dns.service runs it: egress-net's options, loopback
# for squid (trusted), the store of egress-api.
. "$work/egress-dns.env"
DNS_LOG=$work/egress-dns.log
dns_start() {
    # shellcheck disable=SC2086
    "$top_builddir/dns/egress-dns" $EGRESS_DNS_ARGS --listen 127.0.0.1:53 --trusted-client 127.0.0.1 \
        --database "$work/store" --flush-interval 200ms \
        --unbound-option "local-zone: test. transparent" --log-decisions >>"$DNS_LOG" 2>&1 &
    DNS_PID=$!
    PIDS="$PIDS $DNS_PID"
    for i in $(seq 1 50); do
        ss -Hlun "sport = :53" | grep -q "$GW:53" && return 0
        sleep 0.1
    done
    cat "$DNS_LOG"
    exit 99
}
dns_start

expect_match "default whitelist: allowed.test" \
    "$(api PUT /api/whitelist '{"domains": ["allowed.test"]}')" '^200 '
A=$(api POST /api/projects/create '{"projectName": "Student", "proxyMode": "security"}' | project_id)
B=$(api POST /api/projects/create '{"projectName": "Teacher", "proxyMode": "logging"}' | project_id)
[ -n "$A" ] && [ -n "$B" ] || { cat "$work/api.log"; exit 99; }
expect_match "start the student workspace" "$(api POST "/api/projects/$A/start")" '^200 '
expect_match "start the teacher workspace" "$(api POST "/api/projects/$B/start")" '^200 '
A_IP=$(project_ip "$A")

echo "--- every resolver address is egress-dns"
out=$(ws_exec "$A" nslookup allowed.test)
expect_match "security: a whitelisted name resolves (the container's own resolver)" "$out" \
    "Address: ($ALLOWED|$OTHER|$BASE)"
out=$(ws_exec "$A" nslookup attacker.test $DNS_OTHER)
expect_match "security: a name off the whitelist, asked of another resolver: NXDOMAIN" "$out" "NXDOMAIN"
expect_match "egress-dns answered it, for the workspace's own address" "$(cat "$DNS_LOG")" \
    "deny DNS attacker.test from $A_IP: not-whitelisted"
# DNS over TCP to another resolver, written by hand (bash's /dev/tcp): a
# query for attacker.test; the answer's flags say who answered.
tcp_query='\x00\x1f\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x08attacker\x04test\x00\x00\x01\x00\x01'
out=$(ws_exec "$A" bash -c 'exec 3<>/dev/tcp/'$DNS_OTHER'/53 || exit 1; printf "'"$tcp_query"'" >&3; head -c 6 <&3 | od -An -tx1')
expect_match "over TCP too: egress-dns answers NXDOMAIN (rcode 3)" "$out" 'ab cd 81 83'
expect_eq "the other resolver received nothing (UDP/TCP packets)" "$(dns_other)" "0/0"
expect_eq "the upstream was never asked about the blocked name" "$(grep -c '^attacker.test ' "$work/upstream.log")" "0"
# nslookup's A and AAAA, and the TCP query.
expect_eq "recorded as denied" "$(recorded_wait "$A" attacker.test '3 0 3 deny')" "3 0 3 deny"
out=$(ws_exec "$B" nslookup attacker.test $DNS_OTHER)
expect_match "logging: the name resolves (through egress-dns)" "$out" "Address: $ATTACKER"
# nslookup asks A and AAAA: two lookups.
expect_eq "logging: recorded" "$(recorded_wait "$B" attacker.test '2 2 0 allow')" "2 2 0 allow"
expect_eq "still nothing at the other resolver" "$(dns_other)" "0/0"

echo "--- a round-robin name, 200 HTTPS fetches through interception"
# The upstream answers allowed.test with another address on every query:
# squid checks each connection's destination (host_verify_strict) against
# its own lookup, which agrees with the workspace's only because both read
# egress-dns's one cache (squid asking the upstream itself would get the
# next address). 200 fetches in ten workspace commands of twenty.
: >"$work/codes"
for chunk in $(seq 1 10); do
    ws_exec "$A" sh -c 'for i in $(seq 1 20); do curl -s -o /dev/null --max-time 5 --cacert /etc/test-ca.pem -w "%{http_code}\n" https://allowed.test/; done' >>"$work/codes"
done
expect_eq "every fetch answered 200" "$(sort "$work/codes" | uniq -c | tr -s ' ' | tr '\n' ' ')" " 200 200 "
expect_no_match "squid refused no SNI as forged" "$(cat "$SQUID_LOG/cache.log")" 'SECURITY ALERT: Host header forgery'
expect_eq "the upstream was asked for allowed.test's addresses once (one shared cache)" \
    "$(grep -c '^allowed.test 1$' "$work/upstream.log")" "1"
echo "--- fail closed"
kill -KILL "$DNS_PID"
wait "$DNS_PID" 2>/dev/null
out=$(ws_exec "$A" nslookup attacker.test $DNS_OTHER)
expect_no_match "egress-dns killed: the name does not resolve" "$out" "Address: $ATTACKER"
out=$(ws_exec "$B" nslookup attacker.test $DNS_OTHER)
expect_no_match "not even for a logging workspace" "$out" "Address: $ATTACKER"
expect_eq "and the other resolver still received nothing" "$(dns_other)" "0/0"
dns_start
out=$(ws_exec "$A" nslookup allowed.test $DNS_OTHER)
expect_match "a new egress-dns answers again" "$out" "Address: ($ALLOWED|$OTHER|$BASE)"
finish

#!/bin/bash
# egress-dns against unbound (Debian's, forwarding to the same upstream),
# side by side in one interleaved run, with dnsperf: cached allowed names,
# denied names, and a mix of both, from a client mapped to a security
# project. Prints queries/s and p99 latency of each, and egress-dns's
# ratios to unbound's cached allowed rate (the README's targets: >= 0.8x on
# cached allowed names; denied answers >= unbound's cached rate).
#
#   sudo tests/bench/bench-dns.sh [SECONDS [ROUNDS]]   (from the build directory;
#                                                      default 5 s, 3 rounds)
#
# Everything runs in a network and mount namespace of its own: nsd as the
# authoritative upstream on 198.51.100.53, egress-dns on 192.0.2.53 and
# unbound on 192.0.2.54, both forwarding to it; dnsperf from 192.0.2.10.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
SECONDS_EACH=${1:-5}
ROUNDS=${2:-3}
for tool in dnsperf unbound nsd unshare; do
    command -v $tool >/dev/null 2>&1 || { echo "$0: $tool is not installed (contrib/install-deps.sh --test)"; exit 77; }
done
[ -x "$top_builddir/dns/egress-dns" ] || { echo "$0: run it from the build directory (dns/egress-dns)"; exit 99; }
if [ "${EP_BENCH_INNER:-}" != 1 ]; then
    EP_BENCH_INNER=1 exec unshare --net --mount --propagation private -- bash "$0" "$@"
fi
mount -t tmpfs tmpfs /run && ip link set lo up || exit 99
work=$(mktemp -d "${TMPDIR:-/tmp}/ep-bench-dns-XXXXXX") || exit 99
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; sleep 0.5; rm -rf "$work"' EXIT
UPSTREAM=198.51.100.53 EDNS=192.0.2.53 UNBOUND=192.0.2.54 CLIENT=192.0.2.10
for a in $UPSTREAM $EDNS $UNBOUND $CLIENT; do ip addr add $a/32 dev lo || exit 99; done

# The upstream: 100 allowed names; anything else in the zone is NXDOMAIN.
mkdir -p "$work/nsd"
{
    echo "\$TTL 3600"
    echo "@ IN SOA ns.test. admin.test. 1 3600 600 86400 3600"
    echo "@ IN NS ns.test."
    echo "ns.test. IN A $UPSTREAM"
    for i in $(seq 0 99); do echo "a$i.allowed.test. IN A 198.51.100.$((i % 200 + 1))"; done
} >"$work/nsd/test.zone"
cat >"$work/nsd/nsd.conf" <<CONF
server:
    ip-address: $UPSTREAM
    username: ""
    chroot: ""
    zonesdir: "$work/nsd"
    database: ""
    pidfile: "$work/nsd/nsd.pid"
    xfrdfile: "$work/nsd/xfrd.state"
    zonelistfile: "$work/nsd/zone.list"
    server-count: 1
remote-control:
    control-enable: no
zone:
    name: "test."
    zonefile: "test.zone"
CONF
nsd -d -c "$work/nsd/nsd.conf" >"$work/nsd.log" 2>&1 &
pids="$pids $!"

# unbound as a forwarding cache, two threads (this machine's cores).
cat >"$work/unbound.conf" <<CONF
server:
    interface: $UNBOUND
    port: 53
    access-control: 0.0.0.0/0 allow
    username: ""
    chroot: ""
    directory: "$work"
    pidfile: "$work/unbound.pid"
    use-syslog: no
    logfile: "$work/unbound.log"
    num-threads: 2
    do-not-query-localhost: no
    local-zone: "test." transparent
    msg-cache-size: 64m
    rrset-cache-size: 128m
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: $UPSTREAM
CONF
unbound -d -c "$work/unbound.conf" >"$work/unbound.out" 2>&1 &
pids="$pids $!"

# egress-dns over a store where the client is a security workspace.
mkdir -p "$work/store"
S() { "$top_builddir/tests/lib/storectl" "$work/store" "$@" >/dev/null || exit 99; }
S create-project bench security bench-profile
S rules-replace bench-profile .allowed.test
S map $CLIENT bench
"$top_builddir/dns/egress-dns" --listen $EDNS:53 --upstream $UPSTREAM --database "$work/store" \
    --unbound-option "local-zone: test. transparent" --rate 0 --names-per-minute 0 \
    >"$work/egress-dns.log" 2>&1 &
pids="$pids $!"
sleep 1

for i in $(seq 0 99); do echo "a$i.allowed.test A"; done >"$work/allowed"
for i in $(seq 0 99); do echo "d$i.denied.test A"; done >"$work/denied"
paste -d '\n' "$work/allowed" "$work/denied" >"$work/mix"

# run SERVER SET: dnsperf for SECONDS_EACH seconds; prints "QPS P99_MS".
run() {
    dnsperf -s "$1" -a $CLIENT -d "$work/$2" -l "$SECONDS_EACH" -c 4 -T 2 -q 200 -v 2>/dev/null >"$work/out"
    local qps p99
    qps=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$work/out")
    # Verbose lines: "> RCODE NAME TYPE LATENCY".
    p99=$(awk '$1 == ">" {print $NF}' "$work/out" | sort -g |
        awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] * 1000}')
    echo "${qps:-0} ${p99:-0}"
}
# Warm both caches.
run $EDNS allowed >/dev/null
run $UNBOUND allowed >/dev/null
run $EDNS denied >/dev/null
run $UNBOUND denied >/dev/null

declare -A qps p99
for r in $(seq 1 "$ROUNDS"); do
    for set in allowed denied mix; do
        for server in unbound egress-dns; do
            [ $server = unbound ] && addr=$UNBOUND || addr=$EDNS
            read -r q p < <(run $addr $set)
            qps[$server-$set]="${qps[$server-$set]:-} $q"
            p99[$server-$set]="${p99[$server-$set]:-} $p"
        done
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "egress-dns vs unbound, dnsperf -c 4 -T 2, ${SECONDS_EACH}s x $ROUNDS interleaved rounds (medians)"
printf '%-10s %-8s %12s %10s\n' server set queries/s p99-ms
base=$(echo "${qps[unbound-allowed]}" | median)
for set in allowed denied mix; do
    for server in unbound egress-dns; do
        printf '%-10s %-8s %12s %10s\n' $server $set "$(echo "${qps[$server-$set]}" | median)" \
            "$(echo "${p99[$server-$set]}" | median)"
    done
done
for set in allowed denied mix; do
    e=$(echo "${qps[egress-dns-$set]}" | median)
    u=$(echo "${qps[unbound-$set]}" | median)
    printf 'ratio %-8s egress-dns/unbound same set: %.2f   egress-dns/unbound cached allowed: %.2f\n' \
        $set "$(echo "$e / $u" | bc -l)" "$(echo "$e / $base" | bc -l)"
done
grep -h 'exit:' "$work/egress-dns.log"

# shellcheck shell=bash
# dnsstack.sh: egress-dns between real clients and a real DNS, for the
# tests of this folder. Everything runs in a network and mount namespace
# the test makes (no packet leaves it):
#
#   - nsd, authoritative for the root zone on 198.51.100.53 (TEST-NET-2):
#     the whitelisted zone allowed.test (A, AAAA, a CNAME chain, an IDN
#     name, a name with four rotating A records) and attacker.test, whose
#     t.attacker.test is delegated to
#   - iodined, a real DNS tunnel server, on 203.0.113.66 (TEST-NET-3);
#   - egress-dns on 192.0.2.53 (TEST-NET-1), recursing from nsd as its
#     root, over a store made with tests/lib/storectl;
#   - "workspaces": network namespaces behind veth pairs, one per client
#     address (ws_add NAME ADDR), mapped to projects in the store.
#
#   . "$top_srcdir/tests/dns/dnsstack.sh"
#   dnsstack_check_tools || exit $?
#   dnsstack_enter "$@"            # re-runs the script in namespaces of its own
#   dnsstack_servers               # nsd and iodined
#   dns_start [OPTION...]          # egress-dns (DNS_PID)
#   ws_add sec 10.77.1.2           # namespace ws-sec, its address
#   wdig sec NAME [DIG ARGS...]    # dig from it to egress-dns
#
# Packets that reach iodined's address are counted by iptables (iodined_packets).

. "${top_srcdir:-.}/tests/lib/check.sh"
. "${top_srcdir:-.}/tests/lib/stack.sh"

DNS_BIN="${top_builddir:-.}/dns/egress-dns"
STORECTL="${top_builddir:-.}/tests/lib/storectl"
ROOT_NS=198.51.100.53
TUNNEL_NS=203.0.113.66
DNS_ADDR=192.0.2.53
TUNNEL_PASSWORD=egress-dns-test-tunnel
DNS_PID=
DNS_PIDS=

dnsstack_check_tools() {
    local tool
    for tool in nsd iodine iodined dig iptables ip unshare python3; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "$0: $tool is not installed (contrib/install-deps.sh --test)"
            return 77
        }
    done
    [ "$(id -u)" = 0 ] || {
        echo "$0: needs root (namespaces); run make check as root"
        return 99
    }
    [ -x "$DNS_BIN" ] && [ -x "$STORECTL" ] || {
        echo "$0: dns/egress-dns or tests/lib/storectl is not built"
        return 99
    }
}

# dnsstack_enter ARGS: outside, run this script again in a new network and
# mount namespace and return its status; inside, set up and return.
dnsstack_enter() {
    if [ "${EP_DNS_INNER:-}" = 1 ]; then
        mount -t tmpfs tmpfs /run || exit 99
        mkdir -p /run/netns
        ip link set lo up || exit 99
        stack_init || exit 99
        work=$STACK_DIR
        trap dnsstack_cleanup EXIT
        trap 'exit 99' INT TERM HUP
        return 0
    fi
    EP_DNS_INNER=1 exec unshare --net --mount --propagation private -- bash "$0" "$@"
}

dnsstack_cleanup() {
    local pid ns
    for pid in $DNS_PIDS; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in $DNS_PIDS; do
        stack_wait_gone "$pid" 10 >/dev/null 2>&1
    done
    # The workspaces' namespaces: whatever still runs in them (an iodine client) goes.
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns delete "$ns" 2>/dev/null
    done
    stack_cleanup
}

# The zone nsd serves as the root: everything the tests ask about.
write_root_zone() {
    cat <<ZONE
\$TTL 60
.                   IN SOA  ns.root-servers.test. admin.root-servers.test. 1 3600 600 86400 60
.                   IN NS   ns.root-servers.test.
ns.root-servers.test. IN A  $ROOT_NS
allowed.test.       IN A    198.51.100.10
allowed.test.       IN AAAA 2001:db8::10
www.allowed.test.   IN CNAME cdn.allowed.test.
cdn.allowed.test.   IN CNAME edge.allowed.test.
edge.allowed.test.  IN A    198.51.100.11
edge.allowed.test.  IN AAAA 2001:db8::11
xn--bcher-kva.allowed.test. IN A 198.51.100.12
rr.allowed.test.    IN A    198.51.100.21
rr.allowed.test.    IN A    198.51.100.22
rr.allowed.test.    IN A    198.51.100.23
rr.allowed.test.    IN A    198.51.100.24
other.test.         IN A    198.51.100.30
attacker.test.      IN A    $TUNNEL_NS
ns.attacker.test.   IN A    $TUNNEL_NS
t.attacker.test.    IN NS   ns.attacker.test.
allowed.test.attacker.test. IN A $TUNNEL_NS
ZONE
}

# nsd (the root) and iodined (the tunnel's server), and a counter of every
# packet that reaches iodined's address.
dnsstack_servers() {
    ip addr add $ROOT_NS/32 dev lo && ip addr add $TUNNEL_NS/32 dev lo &&
        ip addr add $DNS_ADDR/32 dev lo || exit 99
    mkdir -p "$work/nsd"
    write_root_zone >"$work/nsd/root.zone"
    cat >"$work/nsd/nsd.conf" <<CONF
server:
    ip-address: $ROOT_NS
    port: 53
    username: ""
    chroot: ""
    zonesdir: "$work/nsd"
    database: ""
    pidfile: "$work/nsd/nsd.pid"
    xfrdfile: "$work/nsd/xfrd.state"
    zonelistfile: "$work/nsd/zone.list"
    logfile: "$work/nsd/nsd.log"
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: "."
    zonefile: "root.zone"
CONF
    nsd -d -c "$work/nsd/nsd.conf" >"$work/nsd/stdout.log" 2>&1 &
    DNS_PIDS="$DNS_PIDS $!"
    iptables -w -A INPUT -d $TUNNEL_NS -m comment --comment ep-iodined || exit 99
    # -c: the queries come from the resolver, not the tunnel's client.
    iodined -f -c -l $TUNNEL_NS -p 53 -P "$TUNNEL_PASSWORD" 10.53.0.1/27 t.attacker.test \
        >"$work/iodined.log" 2>&1 &
    DNS_PIDS="$DNS_PIDS $!"
    wait_dns $ROOT_NS allowed.test 10 || {
        cat "$work/nsd/stdout.log" "$work/nsd/nsd.log"
        exit 99
    }
}

# iodined_packets: packets that reached iodined's address so far.
iodined_packets() {
    iptables -w -nvxL INPUT | awk '/ep-iodined/ {print $1; exit}'
}

# wait_dns ADDR NAME SECONDS: until ADDR answers a query for NAME.
wait_dns() {
    local i
    for i in $(seq 1 $(($3 * 5))); do
        dig +time=1 +tries=1 @"$1" "$2" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# dns_start [OPTION...]: egress-dns on $DNS_ADDR over $work/store, recursing
# from nsd (its root hints) with the .test names resolvable, counts flushed
# every 100 ms; extra options follow. DNS_PID, DNS_LOG.
dns_start() {
    [ -f "$work/root.hints" ] || printf '.  3600 IN NS ns.root-servers.test.\nns.root-servers.test. 3600 IN A %s\n' \
        $ROOT_NS >"$work/root.hints"
    mkdir -p "$work/store"
    DNS_LOG=$work/egress-dns.log
    "$DNS_BIN" --listen $DNS_ADDR:53 --database "$work/store" --flush-interval 100ms \
        --unbound-option "root-hints: $work/root.hints" \
        --unbound-option "local-zone: test. transparent" \
        --log-queries "$@" >>"$DNS_LOG" 2>&1 &
    DNS_PID=$!
    DNS_PIDS="$DNS_PIDS $DNS_PID"
    local i
    for i in $(seq 1 50); do
        ss -Hlun "sport = :53" 2>/dev/null | grep -q "$DNS_ADDR" && return 0
        sleep 0.1
    done
    cat "$DNS_LOG"
    exit 99
}

# dns_stop: TERM egress-dns and wait for it (its last flush).
dns_stop() {
    kill -TERM "$DNS_PID" 2>/dev/null
    stack_wait_gone "$DNS_PID" 10
}

# ws_add NAME ADDR: namespace ws-NAME whose only way out is a veth to the
# test's namespace, from address ADDR (a /30 per workspace: 10.77.N.2).
ws_add() {
    local name=$1 addr=$2 host_addr
    host_addr=${addr%.*}.1
    ip netns add "ws-$name" &&
        ip link add "h-$name" type veth peer name "w-$name" &&
        ip link set "w-$name" netns "ws-$name" &&
        ip addr add "$host_addr/24" dev "h-$name" && ip link set "h-$name" up &&
        ip -n "ws-$name" addr add "$addr/24" dev "w-$name" &&
        ip -n "ws-$name" link set "w-$name" up && ip -n "ws-$name" link set lo up &&
        ip -n "ws-$name" route add default via "$host_addr" || exit 99
}

# wdig NAME QNAME [DIG ARGS...]: dig from workspace NAME to egress-dns.
wdig() {
    local name=$1 q=$2
    shift 2
    ip netns exec "ws-$name" dig +time=2 +tries=1 @$DNS_ADDR "$q" "$@" 2>&1
}

# status OUTPUT: the rcode dig printed ("NOERROR", "NXDOMAIN", ... or "none").
status() {
    local s
    s=$(printf '%s\n' "$1" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -n 1)
    echo "${s:-none}"
}

# seen_wait PROJECT HOST WANT: "COUNT ALLOWED DENIED VERDICT" of HOST in the
# project's recorded hosts once it reads WANT, or what it reads after 5 s.
seen() {
    "$STORECTL" "$work/store" seen "$1" | awk -v h="$2" '$1 == h {print $2, $3, $4, $7}'
}
seen_wait() {
    local i got
    for i in $(seq 1 50); do
        got=$(seen "$1" "$2")
        [ "$got" = "$3" ] && break
        sleep 0.1
    done
    echo "$got"
}

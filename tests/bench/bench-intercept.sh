#!/bin/bash
# Benchmark of transparent interception, run by hand as root from a build
# directory:
#   top_srcdir=.. top_builddir=. ../tests/bench/bench-intercept.sh
#
# Everything runs in network and mount namespaces of its own (unshare, as
# tests/network/test-intercept.sh): a "workspace" namespace 172.30.0.2
# behind a veth pair whose TCP 80/443 is redirected (iptables REDIRECT, as
# contrib/network/egress-net does) to squid's intercept ports; an "outside"
# namespace with the origin (tests/lib/origin, HTTP and HTTPS with a test
# CA) on 198.51.100.10. Names come from a private /etc/hosts (squid's
# hosts_file is the same file, for host_verify_strict).
#
# Interleaved rounds, every configuration once per round, medians:
#   HTTP requests/s (wrk, keep-alive, from the workspace namespace):
#     acl        squid intercepting with egress-intercept.conf + egress-acl.conf
#                (the external ACL helper egress-acl decides the Host)
#     egress     squid intercepting with egress-intercept-icap.conf + egress.conf (ICAP)
#     no-icap    the same squid config without ICAP: no policy (baseline 1.00)
#     explicit   squid's explicit proxy port with egress (wrk with absolute URIs)
#   TLS connections/s (tests/bench/tls-load: fresh connection, full
#   handshake, one GET, per iteration):
#     acl        intercepted, the SNI decided by egress-acl at ssl_bump step 2
#     egress     intercepted, spliced on the SNI, one ICAP decision a connection
#     no-icap    intercepted, spliced, no ICAP (baseline 1.00)
#     explicit   CONNECT through the explicit proxy with egress
#   and "direct": no squid at all (the client and the origin alone), which
#   shows whether squid or the machine is the limit.
#
# Knobs (environment): ROUNDS (5), DURATION (seconds a run, 5), CONNS (wrk
# connections and tls-load threads, 20), THREADS (wrk threads, 2),
# RESUME=1 (tls-load -R: resumed TLS sessions, so that the client and the
# origin spend less per connection and squid's share shows).
set -u
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
export top_srcdir top_builddir
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-20}
THREADS=${THREADS:-2}
TLS_RESUME=
[ "${RESUME:-0}" = 1 ] && TLS_RESUME=-R
STORECTL="$top_builddir/tests/lib/storectl"
HELPER="$top_builddir/acl/egress-acl"
TLSLOAD="$top_builddir/tests/bench/tls-load"

for tool in wrk squid c-icap openssl iptables unshare ip; do
    command -v "$tool" >/dev/null || {
        echo "bench-intercept: $tool is not installed"
        exit 1
    }
done
[ -x "$STORECTL" ] && [ -x "$TLSLOAD" ] && [ -x "$HELPER" ] && [ -x "$top_builddir/tests/lib/origin" ] || {
    echo "bench-intercept: build first (make check builds storectl, origin and tls-load)"
    exit 1
}
[ "$(id -u)" = 0 ] || {
    echo "bench-intercept: run as root (namespaces, iptables)"
    exit 1
}
if [ "${EP_BENCH_INNER:-}" != 1 ]; then
    EP_BENCH_INNER=1 exec unshare --net --mount --propagation private -- bash "$0" "$@"
fi

mount -t tmpfs tmpfs /run && ip link set lo up || exit 1
. "$top_srcdir/tests/lib/stack.sh"
stack_init
# squid runs the helper as user proxy: a copy it can reach (tests/lib/stack.sh).
HELPER=$(stack_squid_exec "$HELPER") || exit 1
W=$STACK_DIR
GW=172.30.0.1
WS=172.30.0.2
ORIGIN=198.51.100.10
PIDS=
cleanup_bench() {
    for pid in $PIDS; do
        kill -TERM "$pid" 2>/dev/null
    done
    stack_cleanup
}
trap cleanup_bench EXIT

# Namespaces: the workspace and the outside.
ip netns add ep-ws && ip netns add ep-out || exit 1
ip link add ws-h type veth peer name ws-c && ip link set ws-c netns ep-ws &&
    ip addr add $GW/24 dev ws-h && ip link set ws-h up &&
    ip -n ep-ws addr add $WS/24 dev ws-c && ip -n ep-ws link set ws-c up &&
    ip -n ep-ws link set lo up && ip -n ep-ws route add default via $GW || exit 1
ip link add out-h type veth peer name out-o && ip link set out-o netns ep-out &&
    ip addr add 10.255.0.1/30 dev out-h && ip link set out-h up &&
    ip -n ep-out addr add 10.255.0.2/30 dev out-o && ip -n ep-out link set out-o up &&
    ip -n ep-out link set lo up && ip -n ep-out addr add $ORIGIN/32 dev lo &&
    ip -n ep-out route add default via 10.255.0.1 && ip route add $ORIGIN/32 via 10.255.0.2 || exit 1
sysctl -qw net.ipv4.ip_forward=1
echo "$ORIGIN allowed.test" >"$W/hosts"
mount --bind "$W/hosts" /etc/hosts || exit 1

# The test CA and the origin.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$W/ca.key" -out "$W/ca.pem" 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=allowed.test" \
        -keyout "$W/origin.key" -out "$W/origin.csr" 2>/dev/null &&
    echo "subjectAltName=DNS:allowed.test" >"$W/san.ext" &&
    openssl x509 -req -in "$W/origin.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
        -days 2 -extfile "$W/san.ext" -out "$W/origin.pem" 2>/dev/null &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=squid" \
        -keyout "$W/squid.pem" -out "$W/squid.crt" 2>/dev/null && cat "$W/squid.crt" >>"$W/squid.pem" ||
    exit 1
ip netns exec ep-out "$top_builddir/tests/lib/origin" -a $ORIGIN -p 80 >"$W/o80.log" 2>&1 &
PIDS="$PIDS $!"
ip netns exec ep-out "$top_builddir/tests/lib/origin" -a $ORIGIN -p 443 -c "$W/origin.pem" \
    -k "$W/origin.key" >"$W/o443.log" 2>&1 &
PIDS="$PIDS $!"

# The store: one security workspace whose whitelist holds allowed.test.
STORE=$W/store
mkdir -p "$STORE"
st() { "$STORECTL" "$STORE" "$@" >/dev/null || exit 1; }
st rules-replace small allowed.test r1.example.org r2.example.org
st create-project ws-sec security small
st map $WS ws-sec
# egress-acl runs as squid's user proxy and records.
chown -R proxy:proxy "$STORE"
ICAP_THREADS=${ICAP_THREADS:-60}
export ICAP_THREADS
stack_start_icap "$STORE" "egress.FlushInterval 1s" || exit 1

# start_squid NAME POLICY(0|1|acl): squid with the ICAP intercept snippet
# (and egress.conf when POLICY is 1), or with egress-intercept.conf and
# egress-acl.conf (acl); sets PROXY, HTTP, HTTPS (its three ports).
start_squid() {
    local d=$W/squid-$1
    mkdir -p "$d/logs" "$d/errors"
    cp /usr/share/squid/errors/templates/* "$d/errors/"
    cp "$top_srcdir/contrib/squid/errors/ERR_EGRESS_DENIED" "$d/errors/"
    cp "$W/squid.pem" "$d/intercept.pem"
    PROXY=$(stack_free_port) HTTP=$(stack_free_port) HTTPS=$(stack_free_port)
    {
        echo "http_port $GW:$PROXY"
        echo "pid_filename $d/squid.pid"
        echo "visible_hostname egress-bench"
        echo "hosts_file $W/hosts"
        echo "dns_nameservers 127.0.0.1"
        echo "cache deny all"
        echo "cache_mem 8 MB"
        echo "pinger_enable off"
        echo "icp_port 0"
        echo "htcp_port 0"
        echo "snmp_port 0"
        echo "shutdown_lifetime 1 seconds"
        echo "coredump_dir $d"
        echo "access_log none"
        echo "cache_log $d/logs/cache.log"
        echo "cache_store_log none"
        echo "acl workspaces src 172.30.0.0/24"
        stack_guard
        if [ "$2" = acl ]; then
            sed -e "s#172\.30\.0\.1:3129#$GW:$HTTP#" -e "s#172\.30\.0\.1:3130#$GW:$HTTPS#" \
                -e "s#tls-cert=/etc/squid/egress-intercept.pem#tls-cert=$d/intercept.pem#" \
                -e "s#/usr/bin/egress-acl \(.*\)--database /var/lib/egress-policy#$HELPER \1--database $STORE --flush-interval 1s#" \
                "$top_srcdir/contrib/squid/egress-intercept.conf"
            sed -e "s#/usr/bin/egress-acl \(.*\)--database /var/lib/egress-policy#$HELPER \1--database $STORE --flush-interval 1s#" \
                -e "s#^error_directory .*#error_directory $d/errors#" "$top_srcdir/contrib/squid/egress-acl.conf"
        else
            sed -e "s#172\.30\.0\.1:3129#$GW:$HTTP#" -e "s#172\.30\.0\.1:3130#$GW:$HTTPS#" \
                -e "s#tls-cert=/etc/squid/egress-intercept.pem#tls-cert=$d/intercept.pem#" \
                "$top_srcdir/contrib/squid/egress-intercept-icap.conf" |
                if [ "$2" = 1 ]; then cat; else grep -v '^adaptation_access egress\|egress_deny_tls'; fi
        fi
        echo "http_access allow workspaces"
        echo "http_access deny all"
        if [ "$2" = 1 ]; then
            sed -e "s#icap://127.0.0.1:1344/egress#icap://127.0.0.1:$ICAP_PORT/egress#" \
                -e "s#^error_directory .*#error_directory $d/errors#" "$top_srcdir/contrib/squid/egress.conf"
        fi
    } >"$d/squid.conf"
    chown -R proxy:proxy "$d"
    squid -N -f "$d/squid.conf" >"$d/stdout.log" 2>&1 &
    PIDS="$PIDS $!"
    for p in $PROXY $HTTP $HTTPS; do
        stack_wait_port "$p" 30 || {
            cat "$d/stdout.log" "$d/logs/cache.log"
            exit 1
        }
    done
}
start_squid egress 1
E_PROXY=$PROXY E_HTTP=$HTTP E_HTTPS=$HTTPS E_PID=${PIDS##* }
start_squid plain 0
P_HTTP=$HTTP P_HTTPS=$HTTPS P_PID=${PIDS##* }
start_squid acl acl
A_HTTP=$HTTP A_HTTPS=$HTTPS A_PID=${PIDS##* }

# CPU time (clock ticks, user + system) of a process and its children.
ticks() {
    local pid total=0 t
    for pid in "$@" $(pgrep -P "$1" 2>/dev/null); do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
        total=$((total + ${t:-0}))
    done
    echo $total
}
HZ=$(getconf CLK_TCK)

# redirect_to HTTPPORT HTTPSPORT: the workspace's 80/443 go to that squid.
iptables -w -t nat -N EP-BENCH && iptables -w -t nat -A PREROUTING -i ws-h -j EP-BENCH || exit 1
redirect_to() {
    iptables -w -t nat -F EP-BENCH
    iptables -w -t nat -A EP-BENCH -p tcp --dport 80 -j REDIRECT --to-ports "$1"
    iptables -w -t nat -A EP-BENCH -p tcp --dport 443 -j REDIRECT --to-ports "$2"
}
inws() { ip netns exec ep-ws "$@"; }

# One run: KIND (http|tls) CONFIG (egress|no-icap|explicit|direct) -> a
# rate. Sets CPU to "SQUID-US ICAP-US": microseconds of CPU the squid in
# use (with its children: egress-acl for acl) and c-icap spent per request
# or connection during the run.
run() {
    local sq=$E_PID rate s0 i0
    case $2 in
    egress) redirect_to "$E_HTTP" "$E_HTTPS" ;;
    no-icap)
        redirect_to "$P_HTTP" "$P_HTTPS"
        sq=$P_PID
        ;;
    acl)
        redirect_to "$A_HTTP" "$A_HTTPS"
        sq=$A_PID
        ;;
    explicit | direct) iptables -w -t nat -F EP-BENCH ;;
    esac
    s0=$(ticks "$sq")
    i0=$(ticks "$ICAP_PID")
    rate=$(run_load "$@")
    CPU=$(awk -v s="$(($(ticks "$sq") - s0))" -v i="$(($(ticks "$ICAP_PID") - i0))" -v r="${rate:-0}" \
        -v d="$DURATION" -v hz="$HZ" 'BEGIN {n = r * d; if (n < 1) n = 1;
        printf "%.0f %.0f", s * 1e6 / hz / n, i * 1e6 / hz / n}')
    echo "$rate"
}
run_load() {
    local lua=$W/wrk.lua
    if [ "$1" = http ]; then
        if [ "$2" = explicit ]; then
            echo 'wrk.path = "http://allowed.test/"' >"$lua"
            inws wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$lua" "http://$GW:$E_PROXY/" 2>&1
        else
            inws wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" http://allowed.test/ 2>&1
        fi | awk '/^Requests\/sec:/ {print int($2)}'
    elif [ "$1" = tlswrk ]; then
        inws wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -H 'Connection: close' https://allowed.test/ 2>&1 |
            awk '/^Requests\/sec:/ {print int($2)}'
    else
        # shellcheck disable=SC2086
        inws "$TLSLOAD" -u https://allowed.test/ -C "$W/ca.pem" -c "$CONNS" -d "$DURATION" $TLS_RESUME \
            ${3:+-x "http://$GW:$E_PROXY"} | sed 's/.*rate=\([0-9]*\).*/\1/'
    fi
}

# Each configuration answers as it should before anything is measured.
redirect_to "$E_HTTP" "$E_HTTPS"
echo "check egress HTTP: $(inws curl -s -o /dev/null -w '%{http_code}' http://allowed.test/)," \
    "HTTPS: $(inws curl -s -o /dev/null -w '%{http_code}' --cacert "$W/ca.pem" https://allowed.test/)," \
    "denied address: $(inws curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://$ORIGIN/)"
redirect_to "$P_HTTP" "$P_HTTPS"
echo "check no-icap HTTP: $(inws curl -s -o /dev/null -w '%{http_code}' http://allowed.test/)," \
    "HTTPS: $(inws curl -s -o /dev/null -w '%{http_code}' --cacert "$W/ca.pem" https://allowed.test/)"
redirect_to "$A_HTTP" "$A_HTTPS"
echo "check acl HTTP: $(inws curl -s -o /dev/null -w '%{http_code}' http://allowed.test/)," \
    "HTTPS: $(inws curl -s -o /dev/null -w '%{http_code}' --cacert "$W/ca.pem" https://allowed.test/)," \
    "denied address: $(inws curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://$ORIGIN/)"
iptables -w -t nat -F EP-BENCH
echo "check explicit HTTP: $(inws curl -s -o /dev/null -w '%{http_code}' -x "http://$GW:$E_PROXY" http://allowed.test/)," \
    "HTTPS: $(inws curl -s -o /dev/null -w '%{http_code}' -x "http://$GW:$E_PROXY" --cacert "$W/ca.pem" https://allowed.test/)"

echo "load average at the start: $(cut -d" " -f1-3 /proc/loadavg)"
declare -A results squidcpu icapcpu
configs=("http acl" "http egress" "http no-icap" "http explicit" "http direct"
    "tls acl" "tls egress" "tls no-icap" "tls explicit" "tls direct"
    "tlswrk acl" "tlswrk egress" "tlswrk no-icap" "tlswrk direct")
for r in $(seq 1 "$ROUNDS"); do
    for c in "${configs[@]}"; do
        read -r kind conf <<<"$c"
        if [ "$conf" = explicit ] && [ "$kind" = tls ]; then
            run tls explicit proxy >"$W/rate"
        else
            run "$kind" "$conf" >"$W/rate"
        fi
        rate=$(cat "$W/rate")
        results[$c]="${results[$c]:-} $rate"
        read -r sq ic <<<"$CPU"
        squidcpu[$c]="${squidcpu[$c]:-} $sq"
        icapcpu[$c]="${icapcpu[$c]:-} $ic"
        echo "round $r $kind $conf $rate/s (CPU per op: squid $sq us, c-icap $ic us)"
    done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

median() {
    tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
printf '\n%-28s %8s %7s %10s %10s  %s\n' "configuration" "median" "ratio" "squid us" "c-icap us" "runs"
for kind in http tls tlswrk; do
    base=$(echo "${results[$kind no-icap]}" | median)
    for conf in no-icap acl egress explicit direct; do
        [ -n "${results[$kind $conf]:-}" ] || continue
        m=$(echo "${results[$kind $conf]}" | median)
        unit="req/s"
        [ "$kind" != http ] && unit="conn/s"
        sq=$(echo "${squidcpu[$kind $conf]}" | median)
        ic=$(echo "${icapcpu[$kind $conf]}" | median)
        [ "$conf" = direct ] && sq=- ic=-
        [ "$conf" = no-icap ] || [ "$conf" = acl ] && ic=-
        printf '%-28s %8s %7s %10s %10s  %s\n' "$kind $conf ($unit)" "$m" "$(ratio "$m" "$base")" \
            "$sq" "$ic" "${results[$kind $conf]}"
    done
done
echo "(squid us, c-icap us: median CPU time per request or connection of the squid in use, its egress-acl included, and of c-icap)"
echo "(median of $ROUNDS interleaved rounds of ${DURATION}s; wrk -t$THREADS -c$CONNS; tls-load -c$CONNS $TLS_RESUME)"

#!/bin/bash
# Benchmark of the ICAP service, run by hand as root from a build directory:
#   top_srcdir=.. top_builddir=. ../tests/bench/bench-icap.sh
# (defaults: the script's source tree and the current directory).
#
# wrk through squid against the fast local origin, in interleaved rounds
# (every configuration once per round), reporting medians and ratios:
#   plain      squid without ICAP (baseline 1.00)
#   echo       squid + c-icap's srv_echo (the cost of ICAP itself)
#   allowed    squid + egress, a security workspace, whitelisted host (10 rules)
#   denied     squid + egress, the same workspace, a host not listed (header mode)
#   logging    squid + egress, a logging workspace
#   allowed100k  as allowed, the profile holds 100,000 rules
# then direct ICAP load on c-icap alone (tests/bench/icap-load, 20
# connections) for srv_echo and egress, and the RSS of the egress c-icap
# children before and after RSS_REQUESTS requests (default 1,000,000,
# bounded by RSS_SECONDS, default 120) from a logging workspace over 1,000
# hosts.
#
# Knobs (environment): ROUNDS (5), DURATION (seconds per wrk run, 5),
# CONNS (wrk connections, 20), THREADS (wrk threads, 2).
set -u
# Absolute paths: c-icap looks a relative module path up in its own ServicesDir.
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
export top_srcdir top_builddir
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-20}
THREADS=${THREADS:-2}
RSS_REQUESTS=${RSS_REQUESTS:-1000000}
RSS_SECONDS=${RSS_SECONDS:-120}
STORECTL="$top_builddir/tests/lib/storectl"
LOAD="$top_builddir/tests/bench/icap-load"

for tool in wrk squid c-icap; do
    command -v "$tool" >/dev/null || {
        echo "bench-icap: $tool is not installed"
        exit 1
    }
done
[ -x "$STORECTL" ] && [ -x "$LOAD" ] && [ -x "$top_builddir/tests/lib/origin" ] || {
    echo "bench-icap: build first (make check builds storectl, origin and icap-load)"
    exit 1
}
. "$top_srcdir/tests/lib/stack.sh"

STACK_HOSTS="allowed.test denied.test logged.test"
stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
st() { "$STORECTL" "$STORE" "$@" || exit 1; }
rules=(allowed.test)
for i in $(seq 1 9); do rules+=("r$i.example.org"); done
st rules-replace small "${rules[@]}"
seq 1 99999 | sed 's/^/h/; s/$/.bench.example.org/' >"$STACK_DIR/rules100k"
echo allowed.test >>"$STACK_DIR/rules100k"
st rules-replace big --file "$STACK_DIR/rules100k"
st create-project ws-sec security small
st create-project ws-log logging
st create-project ws-big security big
# wrk connects from 127.0.0.1: each run maps that address to its workspace.
use_workspace() {
    st unmap ws-sec
    st unmap ws-log
    st unmap ws-big
    st map 127.0.0.1 "$1"
}

ICAP_THREADS=${ICAP_THREADS:-60}
export ICAP_THREADS
stack_start_origin web || exit 1
STACK_INSTANCE=-plain SQUID_NO_ICAP=1 stack_start_squid || exit 1
PORT_PLAIN=$SQUID_PORT
STACK_INSTANCE=-echo ICAP_SERVICE_LINE="Service echo srv_echo.so" stack_start_icap "$STORE" || exit 1
ICAP_ECHO=$ICAP_PORT
STACK_INSTANCE=-echo SQUID_ICAP_SERVICE=echo stack_start_squid || exit 1
PORT_ECHO=$SQUID_PORT
STACK_INSTANCE=-egress stack_start_icap "$STORE" "egress.FlushInterval 1s" || exit 1
ICAP_EGRESS=$ICAP_PORT
ICAP_EGRESS_PID=$ICAP_PID
STACK_INSTANCE=-egress stack_start_squid || exit 1
PORT_EGRESS=$SQUID_PORT

# run_wrk SQUIDPORT HOST: requests per second of one wrk run.
run_wrk() {
    local lua="$STACK_DIR/wrk.lua"
    echo "wrk.path = \"http://$2:$ORIGIN_PORT/\"" >"$lua"
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$lua" "http://127.0.0.1:$1/" 2>&1 |
        awk '/^Requests\/sec:/ {print int($2)}'
}

# One configuration: NAME SQUIDPORT HOST WORKSPACE.
declare -A results
configs=("plain $PORT_PLAIN allowed.test ws-sec" "echo $PORT_ECHO allowed.test ws-sec"
    "allowed $PORT_EGRESS allowed.test ws-sec" "denied $PORT_EGRESS denied.test ws-sec"
    "logging $PORT_EGRESS logged.test ws-log" "allowed100k $PORT_EGRESS allowed.test ws-big")

# Check each configuration answers as it should before measuring.
check() {
    local code
    use_workspace "$4"
    code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$2" "http://$3:$ORIGIN_PORT/")
    echo "$1: HTTP $code"
}
for c in "${configs[@]}"; do
    # shellcheck disable=SC2086
    check $c
done

for r in $(seq 1 "$ROUNDS"); do
    for c in "${configs[@]}"; do
        read -r name port host ws <<<"$c"
        use_workspace "$ws"
        rate=$(run_wrk "$port" "$host")
        results[$name]="${results[$name]:-} $rate"
        echo "round $r $name $rate req/s"
    done
done

median() {
    tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }

declare -A med
for c in "${configs[@]}"; do
    read -r name _ <<<"$c"
    med[$name]=$(echo "${results[$name]}" | median)
done

# Direct ICAP load on c-icap alone, interleaved too.
for r in $(seq 1 "$ROUNDS"); do
    e=$("$LOAD" -p "$ICAP_ECHO" -s echo -d "$DURATION" -c 20 | sed 's/.*rate=\([0-9]*\).*/\1/')
    g=$("$LOAD" -p "$ICAP_EGRESS" -s egress -i 127.0.0.1 -H allowed.test -d "$DURATION" -c 20 |
        sed 's/.*rate=\([0-9]*\).*/\1/')
    results[icap-echo]="${results[icap-echo]:-} $e"
    results[icap-egress]="${results[icap-egress]:-} $g"
    echo "round $r direct ICAP: echo $e egress $g req/s"
done
med[icap-echo]=$(echo "${results[icap-echo]}" | median)
med[icap-egress]=$(echo "${results[icap-egress]}" | median)

# RSS of the egress children before and after many requests.
rss_of_children() {
    local pid total=0 kb
    for pid in $(pgrep -P "$ICAP_EGRESS_PID"); do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        echo "$pid ${kb:-0}"
    done
}
use_workspace ws-log
before=$(rss_of_children)
rss_out=$(timeout $((RSS_SECONDS + 30)) "$LOAD" -p "$ICAP_EGRESS" -s egress -i 127.0.0.1 \
    -H rss.test -k 1000 -n "$RSS_REQUESTS" -c 20 -d "$RSS_SECONDS")
sleep 2
after=$(rss_of_children)
rss_done=$(echo "$rss_out" | sed 's/.*requests=\([0-9]*\).*/\1/')

printf '\n%-34s %10s %8s\n' "configuration" "req/s" "ratio"
printf '%-34s %10s %8s\n' "squid, no ICAP" "${med[plain]}" "1.00"
printf '%-34s %10s %8s\n' "squid + srv_echo" "${med[echo]}" "$(ratio "${med[echo]}" "${med[plain]}")"
for n in allowed denied logging allowed100k; do
    printf '%-34s %10s %8s  (%s x echo)\n' "squid + egress $n" "${med[$n]}" \
        "$(ratio "${med[$n]}" "${med[plain]}")" "$(ratio "${med[$n]}" "${med[echo]}")"
done
printf '%-34s %10s %8s\n' "100k rules vs 10 rules" "" "$(ratio "${med[allowed100k]}" "${med[allowed]}")"
printf '%-34s %10s %8s\n' "direct ICAP, srv_echo" "${med[icap-echo]}" "1.00"
printf '%-34s %10s %8s\n' "direct ICAP, egress allowed" "${med[icap-egress]}" \
    "$(ratio "${med[icap-egress]}" "${med[icap-echo]}")"
echo
echo "RSS of egress children (kB) before: $(echo "$before" | awk '{printf "%s:%s ", $1, $2}')"
echo "RSS of egress children (kB) after $rss_done requests: $(echo "$after" | awk '{printf "%s:%s ", $1, $2}')"
echo "$rss_out"
join <(echo "$before" | sort) <(echo "$after" | sort) |
    awk '{d = $3 - $2; printf "child %s: %+d kB\n", $1, d}'
echo "(median of $ROUNDS interleaved rounds of ${DURATION}s, wrk -t$THREADS -c$CONNS)"

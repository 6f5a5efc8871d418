#!/bin/bash
# Benchmark of the decision paths side by side, run by hand as root from a
# build directory after `make check` built its tools:
#   top_srcdir=.. top_builddir=. ../tests/bench/bench-acl.sh
# (defaults: the script's source tree and the current directory).
#
# Up to ten squids on loopback in front of the fast origin, measured in
# interleaved rounds (every row once per round), medians and ratios to
# squid with no policy:
#   plain        squid, no policy (baseline 1.00)
#   dst10/100k   squid's own dstdomain acl with 10 / 100,000 domains
#   sg10/100k    squidGuard as url_rewrite_program, 10 / 100,000 domains
#   icap10/100k  squid + c-icap + srv_egress.so (contrib/squid/egress.conf)
#   acl10/100k   squid + egress-acl (contrib/squid/egress-acl.conf)
#   aclttl10     the same helper with squid's result cache on (ttl=60
#                negative_ttl=60 cache=1024): NOT a correct configuration
#                (stale verdicts for a minute, merged lookups miscount),
#                only to show what the snippet's ttl=0 cache=0 costs
#   nullacl      the floor of squid's external-ACL path: the same
#                external_acl_type line with tests/bench/null-acl, a helper
#                that answers "ID OK" to everything without deciding
#   nullecap     the floor of squid's in-process adaptation (eCAP): an
#                adapter that passes every request unchanged
#                (tests/bench/null-ecap.cc; only when libecap3-dev is
#                installed, compiled here with g++)
# Each for an allowed host (wrk, -t2 -c20, absolute-URI GETs), a host not
# listed (denied: squid's 403, squidGuard's redirect), and CONNECT tunnels
# (tests/bench/connect-load: CONNECT, one GET through the tunnel, close).
# egress runs map 127.0.0.1 (wrk's address) to the workspace with the
# 10-rule or the 100,000-rule profile.
#
# The floors allow everything: they have allowed and CONNECT rows only.
# Knobs (environment): ROUNDS (3), DURATION (seconds per run, 4), CONNS
# (20), THREADS (wrk threads, 2), ONLY (a regex of row names to run).
set -u
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
export top_srcdir top_builddir
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
CONNS=${CONNS:-20}
THREADS=${THREADS:-2}
ONLY=${ONLY:-.}
STORECTL="$top_builddir/tests/lib/storectl"
CLOAD="$top_builddir/tests/bench/connect-load"

for tool in wrk squid c-icap squidGuard; do
    command -v "$tool" >/dev/null || {
        echo "bench-acl: $tool is not installed"
        exit 1
    }
done
[ -x "$STORECTL" ] && [ -x "$CLOAD" ] && [ -x "$top_builddir/tests/lib/origin" ] &&
    [ -x "$top_builddir/acl/egress-acl" ] && [ -x "$top_builddir/tests/bench/null-acl" ] || {
    echo "bench-acl: build first (make check builds storectl, origin and connect-load)"
    exit 1
}
. "$top_srcdir/tests/lib/stack.sh"
. "$top_srcdir/tests/bench/floors.sh"

STACK_HOSTS="allowed.test denied.test"
stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
st() { "$STORECTL" "$STORE" "$@" >/dev/null || exit 1; }

# The lists: the allowed host plus 9 or 99,999 others, for every filter.
{
    echo allowed.test
    seq 1 9 | sed 's/^/r/; s/$/.example.org/'
} >"$STACK_DIR/list10"
{
    echo allowed.test
    seq 1 99999 | sed 's/^/h/; s/$/.bench.example.org/'
} >"$STACK_DIR/list100k"
st rules-replace small --file "$STACK_DIR/list10"
st rules-replace big --file "$STACK_DIR/list100k"
st create-project ws-sec security small
st create-project ws-big security big
chown -R proxy:proxy "$STORE"
use_workspace() {
    st unmap ws-sec
    st unmap ws-big
    [ -n "$1" ] && st map 127.0.0.1 "$1"
}

# dstdomain: squid denies what is not listed, before the allow lines.
for n in 10 100k; do
    {
        echo "acl bench_wl dstdomain \"$STACK_DIR/list$n\""
        echo "http_access deny !bench_wl"
    } >"$STACK_DIR/dst$n.conf"
done
# squidGuard: one destination group, everything else redirected.
for n in 10 100k; do
    d="$STACK_DIR/sg$n"
    mkdir -p "$d"
    cp "$STACK_DIR/list$n" "$d/domains"
    cat >"$d/squidGuard.conf" <<EOF
dbhome $d
logdir $d
dest allowed {
    domainlist domains
}
acl {
    default {
        pass allowed none
        redirect 302:http://blocked.invalid/
    }
}
EOF
    chown -R proxy:proxy "$d"
    {
        echo "url_rewrite_program /usr/bin/squidGuard -c $d/squidGuard.conf"
        echo "url_rewrite_children 8 startup=8 idle=4"
    } >"$STACK_DIR/sg$n.conf"
done

# The helper behind squid's result cache, for the cost of going without
# (a copy squid's user proxy can reach: tests/lib/stack.sh).
ACL=$(stack_squid_exec "$top_builddir/acl/egress-acl") || exit 1
{
    echo "external_acl_type egress_ttl ttl=60 negative_ttl=60 cache=1024 concurrency=200" \
        "children-max=4 children-startup=1 children-idle=1 %>a %>rm %>rd" \
        "$ACL --database $STORE --flush-interval 1s"
    echo "acl egress_ttl_ok external egress_ttl"
    echo "http_access deny !egress_ttl_ok"
    echo "deny_info ERR_EGRESS_DENIED egress_ttl_ok"
} >"$STACK_DIR/aclttl.conf"

# The floors (tests/bench/floors.sh): nullacl.conf, and nullecap.conf
# when NULL_ECAP=1.
floors_write || exit 1

ICAP_THREADS=${ICAP_THREADS:-60}
export ICAP_THREADS
stack_start_origin web || exit 1
STACK_INSTANCE=-plain SQUID_NO_ICAP=1 stack_start_squid || exit 1
PORT_plain=$SQUID_PORT
for n in 10 100k; do
    STACK_INSTANCE=-dst$n SQUID_NO_ICAP=1 SQUID_PRE_CONF="$STACK_DIR/dst$n.conf" stack_start_squid ||
        exit 1
    eval "PORT_dst$n=$SQUID_PORT"
    STACK_INSTANCE=-sg$n SQUID_NO_ICAP=1 SQUID_PRE_CONF="$STACK_DIR/sg$n.conf" stack_start_squid ||
        exit 1
    eval "PORT_sg$n=$SQUID_PORT"
done
STACK_INSTANCE=-icap stack_start_icap "$STORE" "egress.FlushInterval 1s" || exit 1
STACK_INSTANCE=-icap stack_start_squid || exit 1
PORT_icap=$SQUID_PORT
STACK_INSTANCE=-acl SQUID_POLICY=acl ACL_STORE=$STORE ACL_FLUSH=1s stack_start_squid || exit 1
PORT_acl=$SQUID_PORT
STACK_INSTANCE=-aclttl SQUID_NO_ICAP=1 SQUID_PRE_CONF="$STACK_DIR/aclttl.conf" stack_start_squid || exit 1
PORT_aclttl=$SQUID_PORT
STACK_INSTANCE=-nullacl SQUID_NO_ICAP=1 SQUID_PRE_CONF="$STACK_DIR/nullacl.conf" stack_start_squid ||
    exit 1
PORT_nullacl=$SQUID_PORT
PORT_nullecap=
if [ -n "$NULL_ECAP" ]; then
    STACK_INSTANCE=-nullecap SQUID_NO_ICAP=1 SQUID_PRE_CONF="$STACK_DIR/nullecap.conf" \
        stack_start_squid || exit 1
    PORT_nullecap=$SQUID_PORT
fi
sleep 2 # squidGuard children read their lists

# Rows: NAME SQUIDPORT HOST WORKSPACE KIND (wrk or connect).
rows=()
for kind in allowed denied connect; do
    host=allowed.test
    [ $kind = denied ] && host=denied.test
    k=wrk
    [ $kind = connect ] && k=connect
    [ $kind = denied ] || rows+=("plain-$kind $PORT_plain $host - $k")
    for n in 10 100k; do
        ws=ws-sec
        [ $n = 100k ] && ws=ws-big
        eval "rows+=(\"dst$n-$kind \$PORT_dst$n $host - $k\")"
        eval "rows+=(\"sg$n-$kind \$PORT_sg$n $host - $k\")"
        rows+=("icap$n-$kind $PORT_icap $host $ws $k")
        rows+=("acl$n-$kind $PORT_acl $host $ws $k")
    done
    [ $kind = connect ] || rows+=("aclttl10-$kind $PORT_aclttl $host ws-sec $k")
    [ $kind = denied ] && continue
    rows+=("nullacl-$kind $PORT_nullacl $host - $k")
    [ -n "$PORT_nullecap" ] && rows+=("nullecap-$kind $PORT_nullecap $host - $k")
done
sel=()
for r in "${rows[@]}"; do
    [[ ${r%% *} =~ $ONLY ]] && sel+=("$r")
done

# The squid of each port and the processes that decide for it (helpers are
# squid's children; c-icap is its own tree), for CPU accounting.
declare -A SQUID_OF DECIDERS_OF
for p in $PORT_plain $PORT_dst10 $PORT_dst100k $PORT_sg10 $PORT_sg100k $PORT_icap $PORT_acl $PORT_aclttl \
    $PORT_nullacl $PORT_nullecap; do
    SQUID_OF[$p]=$(ss -Hltnp "sport = :$p" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
done
# cpu_ticks PID...: user+system clock ticks of these processes so far.
cpu_ticks() {
    local pid t=0 v
    for pid in "$@"; do
        v=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo $t
}
# deciders PORT: the helper processes under that squid, or c-icap's tree.
deciders() {
    local sq=${SQUID_OF[$1]}
    if [ "$1" = "$PORT_icap" ]; then
        echo "$ICAP_PID $(pgrep -P "$ICAP_PID" | tr '\n' ' ')"
    else
        pgrep -P "$sq" | tr '\n' ' '
    fi
}

# run NAME PORT HOST WS KIND: "RATE REQUESTS SQUIDTICKS DECIDERTICKS" of one run.
run() {
    local lua="$STACK_DIR/wrk.lua" sq=${SQUID_OF[$2]} d s0 d0 out rate n
    use_workspace "$([ "$4" = - ] || echo "$4")"
    d=$(deciders "$2")
    s0=$(cpu_ticks "$sq")
    # shellcheck disable=SC2086
    d0=$(cpu_ticks $d)
    if [ "$5" = connect ]; then
        out=$("$CLOAD" -p "$2" -H "$3:$ORIGIN_PORT" -c "$CONNS" -d "$DURATION")
        rate=$(echo "$out" | sed 's/.*rate=\([0-9]*\).*/\1/')
        n=$(echo "$out" | sed 's/^tunnels=\([0-9]*\).*/\1/')
    else
        echo "wrk.path = \"http://$3:$ORIGIN_PORT/\"" >"$lua"
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$lua" "http://127.0.0.1:$2/" 2>&1)
        rate=$(echo "$out" | awk '/^Requests\/sec:/ {print int($2)}')
        n=$(echo "$out" | awk '/requests in/ {print $1}')
    fi
    # shellcheck disable=SC2086
    echo "$rate $n $(($(cpu_ticks "$sq") - s0)) $(($(cpu_ticks $d) - d0))"
}

# Check every row answers as it should, and warm it up.
for r in "${sel[@]}"; do
    read -r name port host ws kind <<<"$r"
    use_workspace "$([ "$ws" = - ] || echo "$ws")"
    if [ "$kind" = connect ]; then
        got=$("$CLOAD" -p "$port" -H "$host:$ORIGIN_PORT" -c 1 -d 0.3)
    else
        got=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -x "http://127.0.0.1:$port" \
            "http://$host:$ORIGIN_PORT/")
    fi
    echo "check $name: $got"
done

declare -A results cpu_sq cpu_dc
HZ=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
    for r in "${sel[@]}"; do
        read -r name port host ws kind <<<"$r"
        read -r rate n sq dc <<<"$(run "$name" "$port" "$host" "$ws" "$kind")"
        results[$name]="${results[$name]:-} $rate"
        # CPU microseconds per request: squid's, and the deciding processes'.
        cpu_sq[$name]="${cpu_sq[$name]:-} $(awk -v t="$sq" -v n="$n" -v hz="$HZ" 'BEGIN {printf "%d", n ? t * 1e6 / hz / n : 0}')"
        cpu_dc[$name]="${cpu_dc[$name]:-} $(awk -v t="$dc" -v n="$n" -v hz="$HZ" 'BEGIN {printf "%d", n ? t * 1e6 / hz / n : 0}')"
        echo "round $round $name $rate/s ($n), squid ${sq} ticks, deciders ${dc} ticks"
    done
done

median() {
    tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
declare -A med msq mdc
for r in "${sel[@]}"; do
    read -r name _ <<<"$r"
    med[$name]=$(echo "${results[$name]}" | median)
    msq[$name]=$(echo "${cpu_sq[$name]}" | median)
    mdc[$name]=$(echo "${cpu_dc[$name]}" | median)
done
# Ratios to plain: throughput (rate / plain's rate) and squid CPU
# (plain's squid µs per request / this row's): squid's one process is the
# bottleneck, so the second predicts the first and is far less disturbed
# by other load on the machine.
printf '\n%-18s %8s %7s %9s %7s %9s   %s\n' "row" "per s" "ratio" "squid µs" "ratio" "other µs" "(runs)"
for r in "${sel[@]}"; do
    read -r name _ _ _ kind <<<"$r"
    b=plain-allowed
    [ "$kind" = connect ] && b=plain-connect
    printf '%-18s %8s %7s %9s %7s %9s   %s\n' "$name" "${med[$name]}" "$(ratio "${med[$name]}" "${med[$b]:-0}")" \
        "${msq[$name]}" "$(ratio "${msq[$b]:-0}" "${msq[$name]}")" "${mdc[$name]}" "${results[$name]}"
done
echo "(median of $ROUNDS interleaved rounds of ${DURATION}s, wrk -t$THREADS -c$CONNS," \
    "connect-load -c$CONNS; load average: $(cut -d' ' -f1-3 /proc/loadavg))"

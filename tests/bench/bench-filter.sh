#!/bin/bash
# What the key filter of a large whitelist costs in c-icap, run by hand as
# root from a build directory after `make check` built its tools:
#   top_srcdir=.. top_builddir=. ../tests/bench/bench-filter.sh
#
# One store holds a whitelist of RULES rules (default 1,000,000: a third
# each exact, .suffix and *.sub) and a security workspace using it. Two
# c-icap instances with CHILDREN children each (default 4) load
# srv_egress.so on that store, one with egress.KeyFilter on (the default,
# egress.KeyFilterMemory 16M) and one with it off. For each it prints:
#   - the memory of every child (VmRSS, and its private part RssAnon; the
#     rest is the store's file pages, shared by all processes) when idle
#     and after LOAD_SECONDS of direct ICAP load (tests/bench/icap-load,
#     CONNS connections spread over the children, denied hosts, so every
#     child decides on the large whitelist and builds its filter);
#   - the pause after a change: the whitelist gets one more rule, then
#     PROBES single requests on fresh connections are timed one by one (a
#     child's first decision after the change builds its filter; the rest
#     find it), then PROBES more; CHANGES times.
# Times include starting icap-load and one connection; compare "on"
# against "off" of the same run.
set -u
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
export top_srcdir top_builddir
RULES=${RULES:-1000000}
CHILDREN=${CHILDREN:-4}
CONNS=${CONNS:-32}
LOAD_SECONDS=${LOAD_SECONDS:-5}
PROBES=${PROBES:-8}
CHANGES=${CHANGES:-3}
STORECTL="$top_builddir/tests/lib/storectl"
LOAD="$top_builddir/tests/bench/icap-load"

command -v c-icap >/dev/null || {
    echo "bench-filter: c-icap is not installed"
    exit 1
}
[ -x "$STORECTL" ] && [ -x "$LOAD" ] || {
    echo "bench-filter: build first (make check builds storectl and icap-load)"
    exit 1
}
. "$top_srcdir/tests/lib/stack.sh"

stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
st() { "$STORECTL" "$STORE" "$@" || exit 1; }

t0=$(date +%s%N)
awk -v n="$RULES" 'BEGIN {
    for (i = 0; i < n; i++) {
        if (i % 3 == 0) print "h" i ".bench.example.org"
        else if (i % 3 == 1) print ".s" i ".bench.example.org"
        else print "*.w" i ".bench.example.org"
    }
}' >"$STACK_DIR/rules"
st rules-replace big --file "$STACK_DIR/rules"
st create-project ws-big security big
st map 127.0.0.1 ws-big
echo "store: $RULES rules written in $((($(date +%s%N) - t0) / 1000000)) ms," \
    "$(du -sm "$STORE" | cut -f1) MB on disk"

ICAP_SERVERS=$CHILDREN
# Exactly as many threads as connections, so that every child takes some.
ICAP_THREADS=$(((CONNS + CHILDREN - 1) / CHILDREN))
export ICAP_SERVERS ICAP_THREADS
STACK_INSTANCE=-on stack_start_icap "$STORE" "egress.KeyFilter on" || exit 1
PORT_ON=$ICAP_PORT PID_ON=$ICAP_PID
STACK_INSTANCE=-off stack_start_icap "$STORE" "egress.KeyFilter off" || exit 1
PORT_OFF=$ICAP_PORT PID_OFF=$ICAP_PID

# mem PID: "child VmRSS RssAnon" lines (kB) of the children of c-icap PID.
mem() {
    local pid
    for pid in $(pgrep -P "$1" | sort -n); do
        awk -v p="$pid" '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} END {print p, r, a}' \
            "/proc/$pid/status" 2>/dev/null
    done
}
# probe PORT: milliseconds of one request (denied host) on a fresh connection.
probe() {
    local a b
    a=$(date +%s%N)
    "$LOAD" -p "$1" -s egress -i 127.0.0.1 -H probe.denied.test -n 1 -c 1 >/dev/null
    b=$(date +%s%N)
    awk -v d=$((b - a)) 'BEGIN {printf "%.1f", d / 1e6}'
}
median() {
    tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}

declare -A idle busy first later
for mode in on off; do
    port=PORT_${mode^^} pid=PID_${mode^^}
    idle[$mode]=$(mem "${!pid}")
    out=$("$LOAD" -p "${!port}" -s egress -i 127.0.0.1 -H denied.test -c "$CONNS" \
        -d "$LOAD_SECONDS")
    echo "load, key filter $mode: $out"
    busy[$mode]=$(mem "${!pid}")
done
# The pause after a change, interleaved, CHANGES times: one rule more, then
# PROBES probes of each instance right after it and PROBES more. The probe
# host's first request is recorded at once (a write): made before.
probe "$PORT_ON" >/dev/null
probe "$PORT_OFF" >/dev/null
for c in $(seq 1 "$CHANGES"); do
    st add-rule big "changed$c.bench.example.org"
    for i in $(seq 1 "$PROBES"); do
        for mode in on off; do
            port=PORT_${mode^^}
            first[$mode]="${first[$mode]:-} $(probe "${!port}")"
        done
    done
    for i in $(seq 1 "$PROBES"); do
        for mode in on off; do
            port=PORT_${mode^^}
            later[$mode]="${later[$mode]:-} $(probe "${!port}")"
        done
    done
    for mode in on off; do
        echo "change $c, filter $mode: first ${first[$mode]##* }..., slowest so far" \
            "$(echo "${first[$mode]}" | tr ' ' '\n' | grep . | sort -g | tail -1) ms"
    done
done

echo
echo "Memory per c-icap child (kB), $RULES-rule whitelist, $CHILDREN children:"
printf '%-4s %-8s %10s %10s %10s %10s %12s\n' filter child "VmRSS idle" "RssAnon" \
    "VmRSS busy" "RssAnon" "RssAnon +"
for mode in on off; do
    join <(echo "${idle[$mode]}" | sort) <(echo "${busy[$mode]}" | sort) |
        awk -v m="$mode" '{printf "%-4s %-8s %10d %10d %10d %10d %+12d\n", m, $1, $2, $3, $4, $5, $5 - $3}'
done
for mode in on off; do
    echo "${idle[$mode]}" | awk -v m="$mode" '{s += $3} END {printf "idle RssAnon total, filter %s: %d kB\n", m, s}'
    echo "${busy[$mode]}" | awk -v m="$mode" '{s += $3} END {printf "busy RssAnon total, filter %s: %d kB\n", m, s}'
done
echo
echo "Single requests after each of $CHANGES changes (ms, each on a fresh connection;" \
    "the first $PROBES after the change, then $PROBES more):"
for mode in on off; do
    echo "filter $mode, first: ${first[$mode]}"
    echo "filter $mode, later: ${later[$mode]}"
    printf 'filter %s: max of first %s ms, median of later %s ms\n' "$mode" \
        "$(echo "${first[$mode]}" | tr ' ' '\n' | grep . | sort -g | tail -1)" \
        "$(echo "${later[$mode]}" | median)"
done

#!/bin/bash
# squid's own work per allowed request on each decision path, counted in
# instructions by valgrind's callgrind: deterministic, so other load on a
# shared machine does not move it (bench-acl.sh's times do). Run by hand as
# root from a build directory after `make check` built its tools:
#   ../tests/bench/bench-acl-instructions.sh
#
# Rows (absolute-URI GETs of an allowed host, wrk -t2 -c20):
#   plain      squid, no policy (baseline 1.00)
#   nullacl    the external_acl_type line of contrib/squid/egress-acl.conf
#              with tests/bench/null-acl (answers OK, decides nothing)
#   egress-acl contrib/squid/egress-acl.conf, a 10-rule security workspace
#   nullecap   an eCAP adapter that passes every request unchanged
#              (tests/bench/null-ecap.cc; only with libecap3-dev and g++)
# Each squid runs under callgrind as user proxy, twice from a fresh start:
# for 2 and for 8 seconds of load. The difference of the two instruction
# totals over the difference of their request counts is the work of one
# request (start-up, shutdown and the idle loop cancel out). Only squid's
# user space is counted: not the kernel (system calls, waking a helper
# process) and not the helper itself; bench-acl.sh's CPU times include
# the kernel. Knobs: SHORT (2) and LONG (8) seconds.
set -u
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
export top_srcdir top_builddir
SHORT=${SHORT:-2}
LONG=${LONG:-8}
STORECTL="$top_builddir/tests/lib/storectl"

for tool in wrk squid valgrind runuser; do
    command -v "$tool" >/dev/null || {
        echo "bench-acl-instructions: $tool is not installed"
        exit 1
    }
done
[ -x "$STORECTL" ] && [ -x "$top_builddir/tests/bench/null-acl" ] &&
    [ -x "$top_builddir/acl/egress-acl" ] || {
    echo "bench-acl-instructions: build first (make check builds storectl and null-acl)"
    exit 1
}
. "$top_srcdir/tests/lib/stack.sh"
. "$top_srcdir/tests/bench/floors.sh"

STACK_HOSTS="allowed.test"
stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
{
    echo allowed.test
    seq 1 9 | sed 's/^/r/; s/$/.example.org/'
} >"$STACK_DIR/list10"
"$STORECTL" "$STORE" rules-replace small --file "$STACK_DIR/list10" >/dev/null &&
    "$STORECTL" "$STORE" create-project ws-sec security small >/dev/null &&
    "$STORECTL" "$STORE" map 127.0.0.1 ws-sec >/dev/null || exit 1
chown -R proxy:proxy "$STORE"
OUT="$STACK_DIR/callgrind"
mkdir -p "$OUT"
chown proxy:proxy "$OUT"

floors_write || exit 1
rows="plain nullacl egress-acl"
[ -n "$NULL_ECAP" ] && rows="$rows nullecap"

stack_start_origin web || exit 1
echo "wrk.path = \"http://allowed.test:$ORIGIN_PORT/\"" >"$STACK_DIR/wrk.lua"

# measure NAME SECONDS: "REQUESTS INSTRUCTIONS" of one fresh squid under callgrind.
measure() {
    local conf="$STACK_DIR/squid-$1/squid.conf" file="$OUT/$1.$2" vg pid n i
    runuser -u proxy -- valgrind --tool=callgrind --callgrind-out-file="$file" \
        squid -N -f "$conf" >"$OUT/$1.$2.log" 2>&1 &
    vg=$!
    STACK_ALL_PIDS="$STACK_ALL_PIDS $vg"
    stack_wait_port "$PORT" 120 || {
        cat "$OUT/$1.$2.log" >&2
        return 1
    }
    n=$(wrk -t2 -c20 -d"$2s" -s "$STACK_DIR/wrk.lua" "http://127.0.0.1:$PORT/" |
        awk '/requests in/ {print $1}')
    pid=$(pgrep -P "$vg")
    kill -TERM "${pid:-$vg}"
    wait "$vg" 2>/dev/null
    # callgrind writes its totals as the process ends.
    for i in $(seq 1 120); do
        grep -qs '^totals:' "$file" && break
        sleep 0.5
    done
    echo "$n $(awk '/^totals:/ {print $2; exit}' "$file")"
}

declare -A per_request
for row in $rows; do
    # Write the row's squid.conf with stack_start_squid, then run it under callgrind.
    case $row in
    plain) STACK_INSTANCE=-$row SQUID_NO_ICAP=1 stack_start_squid || exit 1 ;;
    egress-acl)
        STACK_INSTANCE=-$row SQUID_POLICY=acl ACL_STORE=$STORE ACL_FLUSH=1s stack_start_squid ||
            exit 1
        ;;
    *) STACK_INSTANCE=-$row SQUID_NO_ICAP=1 SQUID_PRE_CONF="$STACK_DIR/$row.conf" \
        stack_start_squid || exit 1 ;;
    esac
    PORT=$SQUID_PORT
    stack_stop_squid
    read -r n1 i1 <<<"$(measure "$row" "$SHORT")"
    read -r n2 i2 <<<"$(measure "$row" "$LONG")"
    if [ -z "$i1" ] || [ -z "$i2" ] || [ "$n2" -le "$n1" ]; then
        echo "bench-acl-instructions: $row: no usable counts ($n1/$i1, $n2/$i2)"
        exit 1
    fi
    per_request[$row]=$(((i2 - i1) / (n2 - n1)))
    echo "$row: $n1 requests / $i1 instructions, $n2 / $i2"
done

printf '\n%-12s %16s %9s\n' "row" "instr/request" "× plain"
for row in $rows; do
    printf '%-12s %16s %9s\n' "$row" "${per_request[$row]}" \
        "$(awk -v a="${per_request[$row]}" -v b="${per_request[plain]}" 'BEGIN {printf "%.3f", a / b}')"
done
echo "(squid user space under callgrind, ${SHORT}s and ${LONG}s of wrk -t2 -c20)"

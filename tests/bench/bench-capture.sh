#!/bin/bash
# Benchmark of LLM capture, run by hand as root from a build directory:
#   top_srcdir=.. top_builddir=. ../tests/bench/bench-capture.sh
#
# Two identical bumping squids (contrib/squid/egress-capture.conf, the
# ssl_bump decision by egress-acl bump from the store) in front of the
# fast TLS origin of tests/bench/capture-load, a logging workspace calling
# an LLM host, answered with a 6-event SSE stream. They differ only in the
# ICAP service behind them:
#   echo     c-icap's srv_echo (REQMOD and RESPMOD; the cost of ICAP and of
#            bumping without capture; note srv_echo asks for a 1024-byte
#            preview, so it holds a body until 1024 bytes or its end)
#   capture  srv_capture.so storing every exchange into the store
# and, for reference, the same squid with no ICAP at all (plain).
# Interleaved rounds, each configuration once per round:
#   rps      CONNS keep-alive connections for DURATION s, origin without pause
#   ttfe     4 connections, the origin pauses PAUSE_MS after the first event:
#            time from request to the first event at the client
# Then the c-icap threads question: one c-icap serving both a policy-like
# service (srv_echo) and capture with ThreadsPerChild 8, 8 held streams,
# then the time an OPTIONS request to the other service takes.
#
# Knobs (environment): ROUNDS (5), DURATION (5), CONNS (20), PAUSE_MS (300).
set -u
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
export top_srcdir top_builddir
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-20}
PAUSE_MS=${PAUSE_MS:-300}
LOAD="$top_builddir/tests/bench/capture-load"
STORECTL="$top_builddir/tests/lib/storectl"
ACL="$top_builddir/acl/egress-acl"
[ -x "$LOAD" ] && [ -x "$STORECTL" ] && [ -x "$ACL" ] &&
    [ -f "$top_builddir/icap/.libs/srv_capture.so" ] || {
    echo "bench-capture: build first (make; make check builds capture-load and storectl)"
    exit 1
}
. "$top_srcdir/tests/lib/stack.sh"

STACK_HOSTS="api.openai.com"
stack_init
# squid runs the helper as user proxy: a copy it can reach (tests/lib/stack.sh).
ACL=$(stack_squid_exec "$ACL") || exit 1
D=$STACK_DIR
STORE="$D/store"
mkdir -p "$STORE"
"$STORECTL" "$STORE" create-project teacher logging >/dev/null || exit 1
"$STORECTL" "$STORE" map 127.0.0.21 teacher >/dev/null || exit 1
chown -R proxy:proxy "$STORE"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench origin CA" \
    -keyout "$D/oca.key" -out "$D/oca.pem" 2>/dev/null || exit 1
openssl req -newkey rsa:2048 -nodes -subj "/CN=bench" -keyout "$D/o.key" -out "$D/o.csr" 2>/dev/null
printf 'subjectAltName=DNS:api.openai.com\n' >"$D/san.ext"
openssl x509 -req -in "$D/o.csr" -CA "$D/oca.pem" -CAkey "$D/oca.key" -CAcreateserial -days 2 \
    -extfile "$D/san.ext" -out "$D/o.pem" 2>/dev/null || exit 1
"$top_srcdir/contrib/capture/egress-ca" create "$D/ca" >/dev/null || exit 1

"$LOAD" origin "$D/o.pem" "$D/o.key" "$D/origin.port" 2>"$D/origin.log" &
STACK_ALL_PIDS="$STACK_ALL_PIDS $!"
for _ in $(seq 1 50); do [ -s "$D/origin.port" ] && break; sleep 0.1; done
P=$(cat "$D/origin.port")

ICAP_THREADS=40
STACK_INSTANCE=-capture ICAP_SERVICE_LINE="Service capture $top_builddir/icap/.libs/srv_capture.so" \
    stack_start_icap "$STORE" "capture.Database $STORE" "capture.ProjectMax 100000" || exit 1
CAP_ICAP=$ICAP_PORT
STACK_INSTANCE=-echo ICAP_SERVICE_LINE="Service echo srv_echo.so" stack_start_icap "$STORE" || exit 1
ECHO_ICAP=$ICAP_PORT

# start_bump NAME ICAP-PORT SERVICE: a bumping squid; sets BUMP_<NAME>. ICAP-PORT "none":
# the same squid without the ICAP lines.
start_bump() {
    local name=$1 icap=$2 svc=$3 port drop='^$'
    port=$(stack_free_port) || exit 1
    [ "$icap" = none ] && drop='^(icap_service|adaptation_access|adaptation_meta) '
    mapfile -t snippet < <(grep -Ev "$drop" "$top_srcdir/contrib/squid/egress-capture.conf" |
        sed -e "s#icap://127.0.0.1:1345/capture#icap://127.0.0.1:$icap/$svc#" \
        -e "s#/usr/bin/egress-acl --database /var/lib/egress-policy#$ACL --database $STORE#" \
        -e "s#-s /var/lib/egress-policy/ca/ssl_db#-s $D/ca/ssl_db#")
    STACK_INSTANCE=-$name SQUID_NO_ICAP=1 stack_start_squid \
        "http_port 127.0.0.1:$port ssl-bump tls-cert=$D/ca/ca.pem tls-key=$D/ca/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=4MB" \
        "tls_outgoing_options cafile=$D/oca.pem" "${snippet[@]}" || exit 1
    stack_wait_port "$port" 20 || exit 1
    eval "BUMP_$name=$port"
}
start_bump plain none none
start_bump echo "$ECHO_ICAP" echo
start_bump capture "$CAP_ICAP" capture
URL="https://api.openai.com:$P/v1/chat/completions"

run() { # NAME CONNS PAUSE
    local port
    eval "port=\$BUMP_$1"
    "$LOAD" client "$port" "$URL" "$D/ca/ca.pem" 127.0.0.21 "$2" "$DURATION" "$3"
}
# Warm up (certificate generation, helper start, connections).
run plain 4 0 >/dev/null
run echo 4 0 >/dev/null
run capture 4 0 >/dev/null
for r in $(seq 1 "$ROUNDS"); do
    for cfg in plain echo capture; do
        echo "round $r $cfg rps $(run $cfg "$CONNS" 0)"
        echo "round $r $cfg ttfe $(run $cfg 4 "$PAUSE_MS")"
    done
done | tee "$D/results"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { # CFG KIND FIELD
    awk -v c="$1" -v k="$2" -v f="$3" '$3==c && $4==k {for (i=5;i<NF;i++) if ($i==f) print $(i+1)}' "$D/results"
}
echo
printf '%-8s %10s %14s %14s %14s\n' config rps ttfe_med_ms ttfe_p99_ms errors
for cfg in plain echo capture; do
    printf '%-8s %10s %14s %14s %14s\n' "$cfg" "$(field $cfg rps rps | median)" \
        "$(field $cfg ttfe ttfe_median_ms | median)" "$(field $cfg ttfe ttfe_p99_ms | median)" \
        "$(field $cfg rps errors | awk '{s+=$1} END {print s}')"
done
echo "rps ratio capture/echo per round: $(paste <(field capture rps rps) <(field echo rps rps) |
    awk '{printf "%.2f ", $1/$2}')"
echo "rps ratio capture/plain per round: $(paste <(field capture rps rps) <(field plain rps rps) |
    awk '{printf "%.2f ", $1/$2}')"
echo "captured exchanges: $("$top_builddir/tests/capture/capturectl" "$STORE" list teacher 2>/dev/null | wc -l)"

# One c-icap for a policy-like service and capture: 8 threads, 8 held streams.
STACK_INSTANCE=-shared ICAP_THREADS=8 ICAP_SERVERS=1 \
    ICAP_SERVICE_LINE="Service capture $top_builddir/icap/.libs/srv_capture.so" \
    stack_start_icap "$STORE" "capture.Database $STORE" "Service echo srv_echo.so" || exit 1
SHARED_ICAP=$ICAP_PORT
start_bump shared "$SHARED_ICAP" capture
"$LOAD" client "$BUMP_shared" "$URL" "$D/ca/ca.pem" 127.0.0.21 8 6 5000 >/dev/null &
held=$!
sleep 2
t0=$(date +%s.%N)
timeout 10 c-icap-client -i 127.0.0.1 -p "$SHARED_ICAP" -s echo >/dev/null 2>&1
t1=$(date +%s.%N)
wait $held
stack_stop_squid
t2=$(date +%s.%N)
timeout 10 c-icap-client -i 127.0.0.1 -p "$SHARED_ICAP" -s echo >/dev/null 2>&1
t3=$(date +%s.%N)
echo "shared c-icap, 8 threads: OPTIONS to the other service took $(awk "BEGIN {print $t1 - $t0}") s (10 = no answer) while 8 streams were held, $(awk "BEGIN {print $t3 - $t2}") s once squid (and its idle ICAP connections) had gone"

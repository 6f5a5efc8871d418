#!/bin/sh
# The proxy side's metrics end to end: a known number of allowed and
# denied requests through squid with four egress-acl helper processes,
# then through squid with c-icap + srv_egress.so with four children, over
# one store; egress-api's GET /metrics must show exactly those counts by
# path, mode and verdict (every process's counts summed in the store's
# counters file, policy/counters.h), the recorded counts, no store error,
# the recorder's flushes and their lag histogram, and the store's gauges.
# The helpers' own exit lines show that more than one process decided.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid
[ -x "$top_builddir/acl/egress-acl" ] || {
    echo "acl/egress-acl is not built"
    exit 99
}

STACK_HOSTS="allowed.test denied.test log.test"
stack_init
STORE="$STACK_DIR/store"
TOKEN=metrics-test-admin-token-0123456789
mkdir -p "$STORE"
printf '%s\n' "$TOKEN" >"$STACK_DIR/token"
chmod 600 "$STACK_DIR/token"
storectl create-project ws-sec security course1
storectl map 127.0.0.2 ws-sec
storectl rules-replace course1 allowed.test
storectl create-project ws-log logging
storectl map 127.0.0.4 ws-log
# The helpers run as squid's user proxy and record: they write the store.
chown -R proxy:proxy "$STORE"
SEC=127.0.0.2 LOG=127.0.0.4 UNKNOWN=127.0.0.9

# egress-api first: the first opener of the store fixes its reader table.
"$top_builddir/api/egress-api" --db "$STORE" --listen 127.0.0.1:0 --max-readers 1024 \
    --admin-token-file "$STACK_DIR/token" --bcrypt-cost 10 --no-containers 2>"$STACK_DIR/api.log" &
API_PID=$!
STACK_ALL_PIDS="$STACK_ALL_PIDS $API_PID"
API_PORT=
for _ in $(seq 1 200); do
    API_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$STACK_DIR/api.log")
    [ -n "$API_PORT" ] && break
    kill -0 "$API_PID" 2>/dev/null || break
    sleep 0.05
done
[ -n "$API_PORT" ] || {
    echo "egress-api did not start:"
    cat "$STACK_DIR/api.log"
    exit 99
}
stack_start_origin web || exit 99

# metrics: egress-api's /metrics as the admin scrapes it.
metrics() {
    curl -sS --noproxy '*' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API_PORT/metrics"
}
# value TEXT SERIES: the value of one series (name and labels exactly as written).
value() {
    printf '%s\n' "$1" | awk -v s="$2" '$1 == s {print $2; found = 1} END {if (!found) print "absent"}'
}
# codes IP N URL: N requests at once (20 in parallel); prints "COUNTxCODE" lines.
codes() {
    stack_curl "$1" -Z --parallel-max 20 -w '%{http_code}\n' \
        $(for i in $(seq 1 "$2"); do echo "-o /dev/null $3?$i"; done) 2>/dev/null | sort | uniq -c |
        awk '{print $1 "x" $2}'
}

expect_eq "no counters file before anything decided" "$(ls "$STORE"/counters 2>/dev/null)" ""
m=$(metrics)
expect_eq "/metrics before any request: readable (no file is all zeros)" \
    "$(value "$m" egress_counters_readable)" 1
expect_eq "/metrics before any request: no acl decision" \
    "$(value "$m" 'egress_decisions_total{path="acl",mode="security",verdict="allow"}')" 0

# traffic PATH: the same known traffic through the squid of PATH.
traffic() {
    expect_eq "$1: 45 security requests to a whitelisted host allowed" \
        "$(codes $SEC 45 "http://allowed.test/a")" "45x200"
    expect_eq "$1: 23 security requests to another host denied" \
        "$(codes $SEC 23 "http://denied.test/d")" "23x403"
    expect_eq "$1: 14 logging requests allowed" "$(codes $LOG 14 "http://log.test/l")" "14x200"
    expect_eq "$1: 6 requests of an unknown client denied" \
        "$(codes $UNKNOWN 6 "http://allowed.test/u")" "6x403"
}

# decisions TEXT PATH: every (mode, verdict) count of PATH, one line.
decisions() {
    local mode verdict out=
    for mode in security logging none unknown; do
        for verdict in allow deny; do
            out="$out $mode/$verdict=$(value "$1" "egress_decisions_total{path=\"$2\",mode=\"$mode\",verdict=\"$verdict\"}")"
        done
    done
    echo "${out# }"
}
WANT="security/allow=45 security/deny=23 logging/allow=14 logging/deny=0 none/allow=0 none/deny=0 unknown/allow=0 unknown/deny=6"
ZERO="security/allow=0 security/deny=0 logging/allow=0 logging/deny=0 none/allow=0 none/deny=0 unknown/allow=0 unknown/deny=0"

# --- squid + egress-acl, four helper processes --------------------------------
# All four started at once; squid hands a request to an idle helper first,
# so 20 requests at a time spread over them.
STACK_INSTANCE=-acl
SQUID_POLICY=acl ACL_STORE=$STORE \
    SQUID_ACL_CHILDREN="concurrency=200 children-max=4 children-startup=4 children-idle=4" \
    stack_start_squid || exit 99
ACL_CACHE_LOG=$SQUID_CACHE_LOG
traffic acl
m=$(metrics)
expect_match "egress-api's own request metrics are kept" "$m" \
    '^egress_api_requests_total\{method="GET",route="/metrics",status="200"\} [1-9]'
expect_eq "acl: decisions by mode and verdict, exact" "$(decisions "$m" acl)" "$WANT"
expect_eq "acl: no icap decision" "$(decisions "$m" icap)" "$ZERO"
expect_eq "acl: recorded = the security and logging requests" \
    "$(value "$m" 'egress_recorded_total{path="acl"}')" 82
expect_eq "acl: no store error" "$(value "$m" 'egress_store_errors_total{path="acl"}')" 0
stack_stop_squid
# Each helper says what it decided when it exits (squid's cache.log).
helpers=$(grep -c 'egress-acl: exit .*[1-9][0-9]* allowed\|egress-acl: exit .* [1-9][0-9]* denied' "$ACL_CACHE_LOG")
if [ "$helpers" -ge 2 ]; then
    ok "acl: $helpers helper processes decided"
else
    fail "acl: more than one helper process decided" "$(grep 'egress-acl: exit' "$ACL_CACHE_LOG")"
fi
sum=$(sed -n 's/.*egress-acl: exit ([^)]*): \([0-9]*\) allowed, \([0-9]*\) denied.*/\1 \2/p' \
    "$ACL_CACHE_LOG" | awk '{a += $1; d += $2} END {print a "/" d}')
expect_eq "acl: the helpers' own totals add up to the metrics" "$sum" "59/29"

# --- squid + c-icap + srv_egress.so, four children ----------------------------
# Five threads a child: squid's 20 ICAP connections at a time fill more
# than one child. DebugLevel 5 logs each decision with the child's pid.
STACK_INSTANCE=-icap
ICAP_SERVERS=4 ICAP_THREADS=5 ICAP_DEBUG=5 stack_start_icap "$STORE" || exit 99
SQUID_POLICY=icap stack_start_squid || exit 99
traffic icap
m=$(metrics)
expect_eq "icap: decisions by mode and verdict, exact" "$(decisions "$m" icap)" "$WANT"
expect_eq "icap: the acl counts are unchanged" "$(decisions "$m" acl)" "$WANT"
expect_eq "icap: recorded = the security and logging requests" \
    "$(value "$m" 'egress_recorded_total{path="icap"}')" 82
expect_eq "icap: no store error" "$(value "$m" 'egress_store_errors_total{path="icap"}')" 0
stack_stop_squid
stack_stop_icap # the children's last flushes
children=$(grep -E ', [0-9]+/[0-9]+, egress: (allow|deny) ' "$ICAP_LOG" | awk -F', ' '{split($2, id, "/"); print id[1]}' | sort -u | wc -l)
if [ "$children" -ge 2 ]; then
    ok "icap: $children children decided"
else
    fail "icap: more than one child decided" "$children"
fi
expect_eq "icap: the children's decision lines add up to the metrics" \
    "$(grep -cE ', [0-9]+/[0-9]+, egress: (allow|deny) ' "$ICAP_LOG")" 88

# --- what the recorders wrote, and the store ----------------------------------
m=$(metrics)
seen=$("$STORECTL" "$STORE" seen ws-sec | awk '{print $1, $2, $3, $4}' | sort | tr '\n' ';')
expect_eq "the store's counts are the decisions of both paths" "$seen" \
    "allowed.test 90 90 0;denied.test 46 0 46;"
expect_eq "the logging counts too" "$("$STORECTL" "$STORE" seen ws-log | awk '{print $1, $2}')" \
    "log.test 28"
flushes=$(value "$m" egress_recorder_flushes_total)
discoveries=$(value "$m" egress_recorder_discoveries_total)
if [ "$flushes" != absent ] && [ "$flushes" -ge 1 ] && [ "$discoveries" -ge 3 ]; then
    ok "the recorders flushed ($flushes) and discovered ($discoveries)"
else
    fail "the recorders flushed and discovered" "flushes $flushes, discoveries $discoveries"
fi
expect_eq "no flush failed" "$(value "$m" egress_recorder_flush_errors_total)" 0
expect_eq "the lag histogram counts every flush" \
    "$(value "$m" egress_recorder_flush_lag_seconds_count)" "$flushes"
expect_eq "its +Inf bucket too" \
    "$(value "$m" 'egress_recorder_flush_lag_seconds_bucket{le="+Inf"}')" "$flushes"
expect_match "the lag's sum is in seconds" "$(value "$m" egress_recorder_flush_lag_seconds_sum)" \
    '^[0-9]+\.[0-9]{6}$'
expect_eq "the map size is the store's (1 GiB)" "$(value "$m" egress_store_map_size_bytes)" 1073741824
used=$(value "$m" egress_store_map_used_bytes)
if [ "$used" -gt 0 ] && [ "$used" -le 1073741824 ]; then
    ok "map bytes used: $used"
else
    fail "map bytes used within the map" "$used"
fi
expect_eq "reader slots: the first opener's 1024" "$(value "$m" egress_store_readers_max)" 1024
expect_match "reader slots in use: egress-api's at least" \
    "$(value "$m" egress_store_readers_in_use)" '^[1-9][0-9]*$'
expect_eq "no capture exchange" "$(value "$m" egress_capture_exchanges_total)" 0
expect_no_match "no label names a host or a project" "$m" 'allowed\.test|denied\.test|ws-sec|ws-log'
# Every metric the shipped Grafana dashboard queries is one /metrics serves.
missing=
for name in $(grep -o 'egress_[a-z_]*' "$top_srcdir/contrib/grafana/egress-policy.json" | sort -u); do
    printf '%s\n' "$m" | grep -Eq "^$name[{ ]" || missing="$missing $name"
done
expect_eq "the dashboard queries only metrics that are served" "${missing# }" ""
expect_eq "the counters file has the store's owner and mode" \
    "$(stat -c '%U %a' "$STORE/counters")" "$(stat -c '%U %a' "$STORE/data.mdb")"

finish

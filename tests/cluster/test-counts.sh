#!/bin/sh
# Counts stay exact across nodes, retries and a partition. A logging
# workspace's requests are decided (and recorded) by squid's helper on
# two nodes; each egress-node pushes its cumulative counters, egress-api
# sums them: recorded-domains equals the exact number of requests sent.
# Then node 2 is cut off from etcd for 30 s (its agent talks to etcd
# through a forwarder the test cuts, as a partition drops packets) while
# its workspace keeps sending requests: node 2 keeps deciding, the API
# shows it as not alive, and once the partition heals the counts arrive,
# exact. Each node's agent serves its node's proxy-side metrics
# (--metrics-listen): the decisions counted there are exactly the
# requests sent through that node, before and across the partition.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/cluster/lib.sh"
command -v python3 >/dev/null || {
    echo "python3 is not installed"
    exit 77
}
cluster_init
etcd_start_cluster
api_start
M1_PORT=$(stack_free_port)
M2_PORT=$(stack_free_port)
while [ "$M2_PORT" = "$M1_PORT" ]; do M2_PORT=$(stack_free_port); done
printf 'scrape-%s\n' "$$" >"$CDIR/metrics-token"
node_start n1 --metrics-listen "127.0.0.1:$M1_PORT" --metrics-token-file "$CDIR/metrics-token"
# Node 2 reaches etcd (member 1) only through the forwarder.
FWD_PORT=$(stack_free_port)
while [ "$FWD_PORT" = "$M2_PORT" ]; do FWD_PORT=$(stack_free_port); done
python3 "$top_srcdir/tests/cluster/blackhole.py" "$FWD_PORT" "$ETCD_CLIENT_1" "$CDIR/fwd.pid" &
CLUSTER_PIDS="$CLUSTER_PIDS $!"
stack_wait_port "$FWD_PORT" 10 || exit 99
ETCD_URLS_ALL=$ETCD_URLS
ETCD_URLS="http://127.0.0.1:$FWD_PORT" node_start n2 --metrics-listen "127.0.0.1:$M2_PORT"
ETCD_URLS=$ETCD_URLS_ALL

T=$(api_project Teacher logging course1)
L=$(api_project Other logging course1)
api_wait_published
for n in n1 n2; do node_wait_policy $n; done
# The teacher's workspace on both nodes (one that moved), another only on node 2.
"$STORECTL" "$CDIR/n1" map 127.0.0.31 "$T" >/dev/null
"$STORECTL" "$CDIR/n2" map 127.0.0.32 "$T" >/dev/null
"$STORECTL" "$CDIR/n2" map 127.0.0.42 "$L" >/dev/null

# send NODE IP HOST N: N requests through one helper run on that node (its counts written at exit).
send() {
    local i
    for i in $(seq 1 "$4"); do printf '%d %s GET %s\n' "$i" "$2" "$3"; done |
        timeout 20 "$ACL_BIN" --database "$CDIR/$1" >/dev/null 2>&1
}
# count PROJECT HOST: the API's count of HOST in recorded-domains.
count() {
    api GET "/api/projects/$1/recorded-domains" |
        sed -n "s/.*\"$2\":{\"count\":\([0-9]*\).*/\1/p"
}
# wait_count PROJECT HOST N: until the API counts N (or 60 s); prints the last count.
wait_count() {
    local c _
    for _ in $(seq 1 300); do
        c=$(count "$1" "$2")
        [ "$c" = "$3" ] && break
        sleep 0.2
    done
    echo "${c:-none}"
}

# metrics PORT [CURL ARGS...]: that node agent's GET /metrics.
metrics() {
    local port=$1
    shift
    curl -sS --noproxy '*' -m 10 "$@" "http://127.0.0.1:$port/metrics"
}
# decisions PORT VERDICT: that node's egress-acl decisions of logging projects with VERDICT.
decisions() {
    metrics "$1" -H "Authorization: Bearer scrape-$$" |
        sed -n "s/^egress_decisions_total{path=\"acl\",mode=\"logging\",verdict=\"$2\"} //p"
}
stack_wait_port "$M1_PORT" 10 || exit 99
stack_wait_port "$M2_PORT" 10 || exit 99
expect_eq "node metrics: no token, 401" \
    "$(metrics "$M1_PORT" -o /dev/null -w '%{http_code}')" 401
expect_eq "node metrics: a wrong token, 401" \
    "$(metrics "$M1_PORT" -H 'Authorization: Bearer scrape-x' -o /dev/null -w '%{http_code}')" 401
expect_eq "node metrics: nothing but /metrics is served" \
    "$(curl -sS --noproxy '*' -m 10 -o /dev/null -w '%{http_code}' \
        -H "Authorization: Bearer scrape-$$" "http://127.0.0.1:$M1_PORT/api/projects")" 404
expect_eq "node metrics: node 1 has decided nothing yet" "$(decisions "$M1_PORT" allow)" 0

send n1 127.0.0.31 pypi.test 7
send n2 127.0.0.32 pypi.test 5
send n2 127.0.0.32 docs.test 3
send n2 127.0.0.42 pypi.test 4
expect_eq "teacher: pypi.test counted on both nodes, summed (7 + 5)" "$(wait_count "$T" pypi.test 12)" 12
expect_eq "teacher: docs.test from node 2 only" "$(wait_count "$T" docs.test 3)" 3
expect_eq "other workspace: its own count" "$(wait_count "$L" pypi.test 4)" 4
expect_eq "node 1's metrics: its 7 decisions, allowed" "$(decisions "$M1_PORT" allow)" 7
expect_eq "node 2's metrics: its 5 + 3 + 4 decisions, allowed" "$(decisions "$M2_PORT" allow)" 12
expect_eq "node 2's metrics: none denied" "$(decisions "$M2_PORT" deny)" 0
# Pushed again and again (every second), the sum does not grow.
sleep 3
expect_eq "pushes are sets: the sum stays 12" "$(count "$T" pypi.test)" 12

# ---- node 2 cut off for 30 s while its workspaces send requests ----
kill -USR1 "$(cat "$CDIR/fwd.pid")"
sent=0
for round in 1 2 3; do
    send n2 127.0.0.32 pypi.test 3
    send n2 127.0.0.42 pypi.test 2
    sent=$((sent + 3))
    expect_eq "partitioned (round $round): node 2 still decides" \
        "$(decide n2 127.0.0.32 pypi.test)" OK
    sent=$((sent + 1))
    sleep 9
done
view=$(api GET /api/cluster)
expect_match "partitioned: the API shows node 2 not alive" "$view" '"name":"n2","alive":false'
expect_match "partitioned: and node 1 alive" "$view" '"name":"n1","alive":true'
expect_eq "partitioned: node 2's new counts have not arrived" "$(count "$T" pypi.test)" 12
expect_eq "partitioned: node 2's own metrics count every decision (12 + $sent + 6)" \
    "$(decisions "$M2_PORT" allow)" $((12 + sent + 6))
expect_eq "partitioned: node 1's metrics unchanged" "$(decisions "$M1_PORT" allow)" 7
kill -USR2 "$(cat "$CDIR/fwd.pid")"
expect_eq "healed: the teacher's count is exact (12 + $sent)" \
    "$(wait_count "$T" pypi.test $((12 + sent)))" $((12 + sent))
expect_eq "healed: the other workspace's count is exact (4 + 6)" "$(wait_count "$L" pypi.test 10)" 10
for _ in $(seq 1 50); do
    view=$(api GET /api/cluster)
    printf '%s' "$view" | grep -q '"name":"n2","alive":true' && break
    sleep 0.2
done
expect_match "healed: node 2 registered again" "$view" '"name":"n2","alive":true'
finish

#!/bin/bash
# Benchmark of the cluster (docs/cluster.md), run by hand as root from a
# build directory:
#   top_srcdir=.. top_builddir=. ../tests/bench/bench-cluster.sh
# A 3-member etcd cluster on loopback, egress-api --etcd, two egress-node
# agents (tests/cluster/lib.sh). Prints:
#   1. propagation: API acknowledgement -> the first request decided by the
#      new policy on node 2 (egress-acl on its store, asked in a loop):
#      p50, p99, max over N changes (N=${N:-200})
#   2. a fresh node listing and applying 100,000 rules (RULES)
#   3. etcd writes caused by records: 500 workspaces x 50 hosts decided on
#      one node (WS, HOSTS), keys and etcd transactions per second
#   4. decision throughput of egress-acl on a node's store (agent running,
#      counters pushing) against a single-host store with the same rules,
#      interleaved rounds (ROUNDS), ratio node / single host
set -u
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
export top_srcdir top_builddir
N=${N:-200}
RULES=${RULES:-100000}
WS=${WS:-500}
HOSTS=${HOSTS:-50}
ROUNDS=${ROUNDS:-5}
LINES=${LINES:-200000}
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/cluster/lib.sh"
cluster_init
etcd_start_cluster
api_start --etcd-batch 1000
node_start n1
node_start n2

S=$(api_project Student security course1)
api_wait_published
for n in n1 n2; do node_wait_policy $n; done
"$STORECTL" "$CDIR/n2" map 127.0.0.22 "$S" >/dev/null

# ---- 1. propagation ----
coproc ACL { exec "$ACL_BIN" --database "$CDIR/n2" 2>/dev/null; }
ask() {
    printf '1 127.0.0.22 GET %s\n' "$1" >&"${ACL[1]}"
    read -r -u "${ACL[0]}" answer
    [ "${answer#1 OK}" != "$answer" ]
}
: >"$CDIR/prop"
for i in $(seq 1 "$N"); do
    api POST /api/whitelist/domains "{\"profile\": \"course1\", \"domain\": \"p$i.prop.test\"}" >/dev/null
    t0=$EPOCHREALTIME
    until ask "p$i.prop.test"; do :; done
    t1=$EPOCHREALTIME
    echo "$t0 $t1" | awk '{printf "%.3f\n", ($2 - $1) * 1000}' >>"$CDIR/prop"
done
kill "$ACL_PID" 2>/dev/null
sort -n "$CDIR/prop" | awk -v n="$N" '{a[NR] = $1} END {
    printf "propagation (API ack -> first request decided on node 2), %d changes: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
        n, a[int(n * 0.5 + 0.5)], a[int(n * 0.99 + 0.5)], a[n]}'

# ---- 2. a fresh node lists and applies RULES rules ----
# In requests of 5,000 rules (the API's body limit).
for c in $(seq 0 $(((RULES - 1) / 5000))); do
    python3 -c "
import json
lo, hi = $c * 5000, min(($c + 1) * 5000, $RULES)
print(json.dumps({'profile': 'big', 'domains': ['h%d.big%d.test' % (i, i % 97) for i in range(lo, hi)]}))
" >"$CDIR/big$c.json"
done
t0=$EPOCHREALTIME
for f in "$CDIR"/big*.json; do
    code=$(curl -sS --noproxy '*' -m 300 -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data-binary @"$f" \
        "http://127.0.0.1:$API_PORT/api/whitelist/domains" -o /dev/null -w '%{http_code}')
    [ "$code" = 200 ] || echo "adding rules: HTTP $code"
done
t1=$EPOCHREALTIME
api_wait_published 6000
t2=$EPOCHREALTIME
awk -v a="$t0" -v b="$t1" -v c="$t2" -v r="$RULES" 'BEGIN {
    printf "%d rules: API acknowledged in %.2f s, published to etcd in %.2f s more (batches of 1000)\n", r, b - a, c - b}'
node_wait_policy n1 2000 >/dev/null
t0=$EPOCHREALTIME
node_start n3
until grep -q 'sync: listed' "$CDIR/n3.log" 2>/dev/null; do sleep 0.01; done
t1=$EPOCHREALTIME
awk -v a="$t0" -v b="$t1" -v l="$(grep -o 'listed [0-9]* key' "$CDIR/n3.log")" 'BEGIN {
    printf "a fresh node %s and applied them in one transaction: %.2f s (from the agent'"'"'s start)\n", l, b - a}'
node_kill n3 TERM
api PUT /api/whitelist '{"profile": "big", "domains": [], "allowEmpty": true}' >/dev/null
api_wait_published 6000

# ---- 3. etcd writes caused by records ----
ids=()
for w in $(seq 1 "$WS"); do
    ids+=("$(api_project "w$w" logging course1)")
done
api_wait_published 600
node_wait_policy n1 400 >/dev/null
for w in $(seq 1 "$WS"); do
    "$STORECTL" "$CDIR/n1" map "127.1.$((w / 250)).$((w % 250 + 1))" "${ids[$((w - 1))]}" >/dev/null
done
gen_lines() {
    local w h
    for w in $(seq 1 "$WS"); do
        for h in $(seq 1 "$HOSTS"); do
            echo "1 127.1.$((w / 250)).$((w % 250 + 1)) GET h$h.rec.test"
        done
    done
}
gen_lines >"$CDIR/rec.lines"
rev0=$(etcd_revision)
puts0=$(curl -s "http://127.0.0.1:$ETCD_CLIENT_1/metrics" | awk '/^etcd_mvcc_put_total/ {print $2}')
t0=$EPOCHREALTIME
for round in 1 2 3 4 5; do
    "$ACL_BIN" --database "$CDIR/n1" <"$CDIR/rec.lines" >/dev/null 2>&1
    sleep 2
done
sleep 3 # the last push
t1=$EPOCHREALTIME
rev1=$(etcd_revision)
puts1=$(curl -s "http://127.0.0.1:$ETCD_CLIENT_1/metrics" | awk '/^etcd_mvcc_put_total/ {print $2}')
keys1=$(ectl get --prefix "${PREFIX}counts/" --keys-only | grep -c .)
awk -v a="$t0" -v b="$t1" -v r0="$rev0" -v r1="$rev1" -v p0="${puts0:-0}" -v p1="${puts1:-0}" \
    -v k="$keys1" -v w="$WS" -v h="$HOSTS" 'BEGIN {
    printf "records: %d workspaces x %d hosts on one node, every record touched every 2 s for 10 s, counters pushed every 1 s\n", w, h
    printf "  %d counter keys; etcd key writes %.0f/s, etcd revisions (txns; heartbeats included) %.1f/s, over %.1f s\n",
        k, (p1 - p0) / (b - a), (r1 - r0) / (b - a), b - a}'

# ---- 4. decision throughput: node store vs single-host store ----
SINGLE="$CDIR/single"
mkdir -p "$SINGLE"
"$STORECTL" "$SINGLE" create-project "$S" security course1 >/dev/null
"$STORECTL" "$SINGLE" map 127.0.0.22 "$S" >/dev/null
"$STORECTL" "$SINGLE" rules-replace course1 $(seq -f 'p%g.prop.test' 1 "$N") >/dev/null
awk -v n="$LINES" 'BEGIN {for (i = 1; i <= n; i++) printf "%d 127.0.0.22 GET %s\n", i % 100, (i % 2 ? "p" (i % 150 + 1) ".prop.test" : "evil" (i % 150) ".test")}' >"$CDIR/dec.lines"
: >"$CDIR/tp"
for round in $(seq 1 "$ROUNDS"); do
    for which in single n2; do
        t0=$EPOCHREALTIME
        "$ACL_BIN" --database "$CDIR/$which" <"$CDIR/dec.lines" >/dev/null 2>&1
        t1=$EPOCHREALTIME
        echo "$which $t0 $t1" | awk -v n="$LINES" '{printf "%s %.0f\n", $1, n / ($3 - $2)}' >>"$CDIR/tp"
    done
done
median() { grep "^$1 " "$CDIR/tp" | awk '{print $2}' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
m_single=$(median single) m_node=$(median n2)
echo "decisions/s of egress-acl (median of $ROUNDS interleaved rounds, $LINES requests each): single host $m_single, node $m_node"
awk -v a="$m_node" -v b="$m_single" 'BEGIN {printf "node / single host: %.2f\n", a / b}'

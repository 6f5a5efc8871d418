#!/bin/sh
# The policy follows every change of the API onto every node: a 3-member
# etcd cluster, egress-api in cluster mode, two egress-node agents with a
# store each, and each node's decisions taken by squid's helper
# (egress-acl) on that node's store. A promote on the API is enforced on
# both nodes; /api/cluster shows both nodes; an agent killed -9 in the
# middle of a stream of changes comes back with a store equal to etcd at
# the revision it records; one that was down while etcd compacted its
# history lists again and catches up.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/cluster/lib.sh"
cluster_init
etcd_start_cluster
api_start
node_start n1
node_start n2

T=$(api_project Teacher logging course1)
S=$(api_project Student security course1)
[ -n "$T" ] && [ -n "$S" ] || {
    echo "projects not created"
    exit 99
}
expect_eq "the API's changes reach etcd" "$(api_wait_published && echo yes)" yes
for n in n1 n2; do
    expect_eq "node $n holds etcd's policy" "$(node_wait_policy $n && echo yes)" yes
done
# The workspaces' addresses on each node (the container events do this on
# a real node; tests/cluster/test-containers.sh).
"$STORECTL" "$CDIR/n1" map 127.0.0.21 "$S" >/dev/null
"$STORECTL" "$CDIR/n2" map 127.0.0.22 "$S" >/dev/null
"$STORECTL" "$CDIR/n1" map 127.0.0.31 "$T" >/dev/null
expect_eq "node 1: the student may not reach pypi.test yet" "$(decide n1 127.0.0.21 pypi.test)" ERR
expect_eq "node 2: the student may not reach pypi.test yet" "$(decide n2 127.0.0.22 pypi.test)" ERR
expect_eq "node 1: the teacher's logging workspace reaches it" "$(decide n1 127.0.0.31 pypi.test)" OK

# The teacher's discovery is promoted through the API: enforced on both
# nodes from the next request once the nodes have the revision.
out=$(api POST "/api/whitelist/domains" '{"profile": "course1", "domain": "pypi.test"}')
expect_match "promote acknowledged" "$out" '^200 '
api_wait_published
for n in n1 n2; do node_wait_policy $n; done
expect_eq "node 1 enforces the promote" "$(decide n1 127.0.0.21 pypi.test)" OK
expect_eq "node 2 enforces the promote" "$(decide n2 127.0.0.22 pypi.test)" OK
expect_eq "node 2: evil.test still denied" "$(decide n2 127.0.0.22 evil.test)" ERR
# A mode change reaches the nodes' hot-path rows (clients) too.
expect_match "student switched to logging" \
    "$(api PUT "/api/projects/$S/proxy-mode" '{"proxyMode": "logging"}')" '^200 '
api_wait_published
node_wait_policy n2
expect_eq "node 2: the logging student reaches evil.test" "$(decide n2 127.0.0.22 evil.test)" OK
api PUT "/api/projects/$S/proxy-mode" '{"proxyMode": "security"}' >/dev/null

# /api/cluster: both nodes, alive, caught up, with their revision.
api_wait_published
for n in n1 n2; do node_wait_policy $n; done
sleep 1.5 # a heartbeat (a third of --ttl 3)
view=$(api GET /api/cluster)
expect_match "/api/cluster answers in cluster mode" "$view" '^200 \{"mode":"cluster"'
expect_match "node n1 listed, alive, no lag" "$view" '"name":"n1","alive":true,"revision":[0-9]+,"lag":0'
expect_match "node n2 listed, alive, no lag" "$view" '"name":"n2","alive":true,"revision":[0-9]+,"lag":0'
expect_match "n1's workspaces are its mappings" "$view" \
    "\"workspaces\":\\[(\\{[^]]*\\},)?\\{\"ip\":\"127.0.0.21\",\"project\":\"$S\"\\}"

# kill -9 in the middle of a stream of changes, then start again.
for i in $(seq 1 60); do
    api POST "/api/whitelist/domains" "{\"profile\": \"course1\", \"domain\": \"h$i.stream.test\"}" >/dev/null
    [ "$i" = 20 ] && node_kill n1 KILL
done
node_start n1
api_wait_published
expect_eq "node 1 after kill -9: holds etcd's policy again" "$(node_wait_policy n1 && echo yes)" yes
rev=$(node_revision n1)
expect_eq "node 1's store equals etcd at the revision it records ($rev)" \
    "$(node_dump n1 | sed 1d)" "$(etcd_policy "$rev")"
expect_eq "node 1 decides by the streamed rules" "$(decide n1 127.0.0.21 h60.stream.test)" OK

# Compaction while an agent is down: its revision is gone when it returns.
node_kill n2 TERM
before=$(node_revision n2)
for i in $(seq 1 10); do
    api POST "/api/whitelist/domains" "{\"profile\": \"course1\", \"domain\": \"c$i.compact.test\"}" >/dev/null
done
api DELETE "/api/whitelist/domains/pypi.test?profile=course1" >/dev/null
api_wait_published
now=$(etcd_revision)
ectl compact "$now" >/dev/null
expect_match "etcd compacted past node 2's revision ($before)" "$now" '^[0-9]+$'
node_start n2
expect_eq "node 2 catches up after the compaction" "$(node_wait_policy n2 && echo yes)" yes
expect_match "node 2 listed again" "$(cat "$CDIR/n2.log")" 'compacted away; listing again'
expect_eq "node 2: the removed rule is gone" "$(decide n2 127.0.0.22 pypi.test)" ERR
expect_eq "node 2: a rule added while it was down" "$(decide n2 127.0.0.22 c10.compact.test)" OK
finish

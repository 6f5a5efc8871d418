#!/bin/sh
# etcd failing under a running cluster. One member killed: changes still
# reach both nodes and decisions do not change. Quorum lost (two of three
# members killed): the API still acknowledges every change, both nodes
# keep enforcing the policy they had (fail static); when the members
# return, etcd, each node's store and the API's store hold the same
# policy, and every change acknowledged during the outage is in it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/cluster/lib.sh"
cluster_init
etcd_start_cluster
api_start
node_start n1
node_start n2

S=$(api_project Student security course1)
api POST "/api/whitelist/domains" '{"profile": "course1", "domain": "before.test"}' >/dev/null
api_wait_published
for n in n1 n2; do node_wait_policy $n; done
"$STORECTL" "$CDIR/n1" map 127.0.0.21 "$S" >/dev/null
"$STORECTL" "$CDIR/n2" map 127.0.0.22 "$S" >/dev/null
expect_eq "node 1 allows before.test" "$(decide n1 127.0.0.21 before.test)" OK

# ---- one member down: nothing changes ----
etcd_kill_member 1
out=$(api POST "/api/whitelist/domains" '{"profile": "course1", "domain": "one-down.test"}')
expect_match "member 1 down: the API acknowledges" "$out" '^200 '
expect_eq "member 1 down: the change is published" "$(api_wait_published && echo yes)" yes
for n in n1 n2; do
    expect_eq "member 1 down: node $n holds etcd's policy" "$(node_wait_policy $n && echo yes)" yes
done
expect_eq "member 1 down: node 1 enforces the change" "$(decide n1 127.0.0.21 one-down.test)" OK
expect_eq "member 1 down: node 2 enforces the change" "$(decide n2 127.0.0.22 one-down.test)" OK
expect_eq "member 1 down: node 2 still denies evil.test" "$(decide n2 127.0.0.22 evil.test)" ERR
etcd_start_member 1 existing
etcd_wait_healthy

# ---- quorum lost ----
etcd_kill_member 2
etcd_kill_member 3
acked=""
for i in 1 2 3 4 5; do
    out=$(api POST "/api/whitelist/domains" "{\"profile\": \"course1\", \"domain\": \"q$i.outage.test\"}")
    case "$out" in 200*) acked="$acked q$i.outage.test" ;; esac
done
out=$(api DELETE "/api/whitelist/domains/before.test?profile=course1")
case "$out" in 200*) acked="$acked -before.test" ;; esac
expect_eq "quorum lost: the API acknowledged all six changes" "$(echo $acked | wc -w)" 6
sleep 2
expect_match "quorum lost: the changes wait in the outbox" "$(api GET /api/cluster)" '"pending":[1-9]'
expect_eq "quorum lost: node 1 keeps enforcing (before.test still allowed)" \
    "$(decide n1 127.0.0.21 before.test)" OK
expect_eq "quorum lost: node 2 keeps enforcing (evil.test denied)" \
    "$(decide n2 127.0.0.22 evil.test)" ERR
expect_eq "quorum lost: node 2 keeps one-down.test" "$(decide n2 127.0.0.22 one-down.test)" OK

# ---- quorum back ----
etcd_start_member 2 existing
etcd_start_member 3 existing
etcd_wait_healthy
expect_eq "quorum back: the outbox empties" "$(api_wait_published 600 && echo yes)" yes
want=$(etcd_policy)
for n in n1 n2; do
    expect_eq "quorum back: node $n's store equals etcd" "$(node_wait_policy $n 400 && echo yes)" yes
done
expect_eq "quorum back: the API's store equals etcd" \
    "$("$NODE_BIN" --db "$CDIR/api-store" --dump | sed 1d | LC_ALL=C sort)" "$want"
for h in $acked; do
    case "$h" in
    -*) expect_no_match "acknowledged removal of ${h#-} is in etcd" "$want" "/course1/$(echo "${h#-}" | awk -F. '{for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? "." : "")}')=" ;;
    *) expect_eq "acknowledged $h is enforced on node 2" "$(decide n2 127.0.0.22 "$h")" OK ;;
    esac
done
expect_eq "quorum back: node 1 applies the removal" "$(decide n1 127.0.0.21 before.test)" ERR
finish

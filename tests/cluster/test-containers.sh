#!/bin/sh
# Identity where the bridge is: egress-node follows its own Docker
# engine's events. A workspace container (labelled with its project) is
# mapped by its address on the workspaces' network as it starts, in the
# node's store, and shown by /api/cluster; it is unmapped when it stops.
# IP reuse: workspace B started after A stopped gets A's old address and
# is decided by B's policy, never A's. An agent restarted after a
# container stopped unmaps it from the engine's list.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/cluster/lib.sh"
. "$top_srcdir/tests/lib/dockerd.sh"
[ "$(id -u)" = 0 ] || {
    echo "needs root (a dockerd of its own)"
    exit 77
}
dockerd_have_tools || exit 77
cluster_init
trap 'dockerd_stop; cluster_cleanup' EXIT
dockerd_start "$CDIR/engine" || exit 99
dockerd_build_image localhost/ws-test:latest || exit 99
dockerd_api POST /networks/create -H 'Content-Type: application/json' \
    --data '{"Name": "egress-ws", "IPAM": {"Config": [{"Subnet": "172.30.9.0/24"}]}}' >/dev/null ||
    exit 99
etcd_start_cluster
api_start
node_start n1 --docker-socket "$DOCKERD_SOCK" --network egress-ws

A=$(api_project Alice security pa)
B=$(api_project Bob security pb)
api POST /api/whitelist/domains '{"profile": "pa", "domain": "a-only.test"}' >/dev/null
api POST /api/whitelist/domains '{"profile": "pb", "domain": "b-only.test"}' >/dev/null
api_wait_published
node_wait_policy n1

# run PROJECT: create and start a workspace container of PROJECT; prints its id.
run() {
    local id
    id=$(dockerd_api POST "/containers/create?name=ws-$1" -H 'Content-Type: application/json' \
        --data "{\"Image\": \"localhost/ws-test:latest\", \"Labels\": {\"egress.project\": \"$1\"},
                 \"HostConfig\": {\"NetworkMode\": \"egress-ws\"}}" |
        sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p')
    dockerd_api POST "/containers/$id/start" >/dev/null || return 1
    echo "$id"
}
ip_of() {
    dockerd_api GET "/containers/$1/json" |
        sed -n 's/.*"egress-ws":{[^}]*"IPAddress":"\([0-9.]*\)".*/\1/p'
}
# wait_decision IP HOST WANT: until the node decides WANT (at most 10 s); prints the last answer.
wait_decision() {
    local d _
    for _ in $(seq 1 100); do
        d=$(decide n1 "$1" "$2")
        [ "$d" = "$3" ] && break
        sleep 0.1
    done
    echo "$d"
}

CA=$(run "$A")
IPA=$(ip_of "$CA")
expect_match "A's container has an address on egress-ws" "$IPA" '^172\.30\.9\.[0-9]+$'
expect_eq "A is mapped on its start: A's rule allowed" "$(wait_decision "$IPA" a-only.test OK)" OK
expect_eq "A: B's rule denied" "$(decide n1 "$IPA" b-only.test)" ERR
sleep 1.2 # the next heartbeat carries the mapping
expect_match "/api/cluster shows A's workspace on n1" "$(api GET /api/cluster)" \
    "\"ip\":\"$IPA\",\"project\":\"$A\""
for _ in $(seq 1 50); do
    api GET "/api/projects/$A" | grep -q "\"ipAddress\":\"$IPA\"" && break
    sleep 0.1
done
expect_match "the API's store learns A's address (for the central capture service)" \
    "$(api GET "/api/projects/$A")" "\"ipAddress\":\"$IPA\""

dockerd_api POST "/containers/$CA/stop?t=0" >/dev/null
expect_eq "A stopped: its address is unmapped (denied)" \
    "$(wait_decision "$IPA" a-only.test ERR)" ERR
expect_match "the node logged A's unmapping" "$(cat "$CDIR/n1.log")" "$IPA unmapped from $A"

# B reuses A's address: from its very first request, B's policy or none; never A's.
CB=$(run "$B")
IPB=$(ip_of "$CB")
expect_eq "B got A's old address" "$IPB" "$IPA"
leak=0
for _ in $(seq 1 20); do
    [ "$(decide n1 "$IPB" a-only.test)" = OK ] && leak=1
done
expect_eq "B's address is never decided by A's policy" "$leak" 0
expect_eq "B is mapped: B's rule allowed" "$(wait_decision "$IPB" b-only.test OK)" OK
expect_eq "B: A's rule denied" "$(decide n1 "$IPB" a-only.test)" ERR
for _ in $(seq 1 50); do
    api GET "/api/projects/$B" | grep -q "\"ipAddress\":\"$IPB\"" && break
    sleep 0.1
done
expect_match "the API's store moves the address to B" "$(api GET "/api/projects/$B")" \
    "\"ipAddress\":\"$IPB\""
expect_match "and A has none" "$(api GET "/api/projects/$A")" '"ipAddress":null'


# The agent down while B stops: at its return the engine's list unmaps B.
node_kill n1 TERM
dockerd_api POST "/containers/$CB/stop?t=0" >/dev/null
expect_eq "(precondition) agent down: its store still maps B" "$(decide n1 "$IPB" b-only.test)" OK
node_start n1 --docker-socket "$DOCKERD_SOCK" --network egress-ws
expect_eq "agent back: B, no longer running, is unmapped" \
    "$(wait_decision "$IPB" b-only.test ERR)" ERR
finish

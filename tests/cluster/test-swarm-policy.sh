#!/bin/bash
# Issue 17's headline case end to end: a workspace started through the API
# lands on node 2, its address is mapped there, its verdicts are right and
# it reaches nothing outside its whitelist.
#
# The pieces: a 3-member etcd cluster and egress-api in cluster mode with
# --engine swarm (tests/cluster/lib.sh) over a two-node Docker Swarm
# (tests/cluster/lib/swarm.sh, node 2 labelled pool course-a, the swarm
# bridge egress-ws on 172.30.N.0/24); on node 2: egress-node following
# node 2's own dockerd and writing node 2's store, contrib/network/egress-net
# run in node 2's network namespace (its firewall on the bridge egress-ws,
# for the config-only network egress-ws-cfg that gives the bridge its
# options), and squid in node 2's namespace with the installed snippets
# (egress-guard, egress-intercept, egress-acl) deciding by egress-acl from
# node 2's store. Requests are intercepted, not sent to a proxy: the
# workspace's curl runs with --noproxy '*' and reaches squid only through
# egress-net's REDIRECT. The "internet" is a namespace behind a veth pair
# of node 2 with TEST-NET origins (allowed.test 198.51.100.10, other.test
# 198.51.100.11, denied.test 203.0.113.20); squid resolves the names from
# a hosts file, the workspace's curl by --resolve.
#
# Covered: the workspace, created and started through the API, runs on node
# 2 (its task's node, its container on node 2's engine) with a 172.30.2.x
# address; egress-node maps that address to the project in node 2's store
# (its log, the helper's decision on that store, /api/cluster); from inside
# the workspace the whitelisted host answers through squid and another host
# gets the 403 page naming it, while the denied origin sees no request and
# no connection; a host promoted to the workspace's profile through the API
# is allowed from the next request once node 2 holds the revision, and the
# hosts still outside stay denied.
# Skips (77) only when dockerd, busybox-static, jq, etcd, squid-openssl or
# openssl is missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/cluster/lib.sh"
. "$top_srcdir/tests/lib/dockerd.sh"
. "$top_srcdir/tests/cluster/lib/swarm.sh"

[ "$(id -u)" = 0 ] || {
    echo "needs root (dockerds and namespaces of its own)"
    exit 77
}
swarm_have_tools || exit 77
for tool in squid openssl; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$tool is not installed (contrib/install-deps.sh --test)"
        exit 77
    }
done
squid -v | grep -q -- '--with-openssl' || {
    echo "this squid has no TLS (apt-get install squid-openssl)"
    exit 77
}
[ -x "$top_builddir/tests/lib/origin" ] || {
    echo "tests/lib/origin is not built"
    exit 99
}

NET=egress-ws
IMAGE=localhost/ws-test:latest
GW=172.30.2.1
ALLOWED=198.51.100.10
OTHER=198.51.100.11
DENIED=203.0.113.20
OUT=ep-swp-$$-out
SQUID_PID=

cluster_init
# squid's user reads the helper copy and node 2's store under CDIR.
chmod 755 "$CDIR"
cleanup() {
    if [ -n "$SQUID_PID" ]; then
        kill -TERM "$SQUID_PID" 2>/dev/null
        wait "$SQUID_PID" 2>/dev/null
    fi
    swarm_stop
    ip netns del "$OUT" 2>/dev/null
    cluster_cleanup
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

etcd_start_cluster
# shellcheck disable=SC2034 # read by swarm_start
SWARM_POOL_LABEL_2=course-a
swarm_start "$CDIR/swarm" 2 || exit 99
DOCKERD_IMAGE_BINARIES=/usr/bin/curl swarm_build_image "$IMAGE" || exit 99
swarm_network_create "$NET" || exit 99

# --- the outside, behind node 2 ----------------------------------------------
ip netns add "$OUT" || exit 99
swarm_in_node 2 ip link add eth-out type veth peer name "swp$$o" || exit 99
swarm_in_node 2 ip link set "swp$$o" netns "$OUT" || exit 99
swarm_in_node 2 ip addr add 10.255.0.1/30 dev eth-out && swarm_in_node 2 ip link set eth-out up &&
    ip -n "$OUT" addr add 10.255.0.2/30 dev "swp$$o" && ip -n "$OUT" link set "swp$$o" up &&
    ip -n "$OUT" link set lo up &&
    swarm_in_node 2 ip route add 198.51.100.0/24 via 10.255.0.2 &&
    swarm_in_node 2 ip route add 203.0.113.0/24 via 10.255.0.2 || exit 99
for a in $ALLOWED $OTHER $DENIED; do
    ip -n "$OUT" addr add "$a/32" dev lo || exit 99
    ip netns exec "$OUT" "$top_builddir/tests/lib/origin" -a "$a" -p 80 -l "$CDIR/requests-$a.log" \
        >"$CDIR/origin-$a.log" 2>&1 &
    CLUSTER_PIDS="$CLUSTER_PIDS $!"
done
# Every TCP connection opened to the denied origin, on any port.
ip netns exec "$OUT" iptables -w -A INPUT -p tcp -d $DENIED --syn -m comment --comment ep-denied || exit 99
denied_syns() {
    ip netns exec "$OUT" iptables -w -nvxL INPUT | awk '/ep-denied / {print $1; exit}'
}

# --- egress-net on node 2: the firewall of its workspace bridge ---------------
out=$(swarm_in_node 2 env DOCKER_HOST="unix://${SWARM_SOCK[2]}" EGRESS_STATE_DIR="$CDIR/egress-net" \
    "$top_srcdir/contrib/network/egress-net" --network "$NET-cfg" --bridge "$NET" \
    --subnet 172.30.2.0/24 --dns 198.51.100.53 --addresses-file "$CDIR/squid-addresses.conf" up 2>&1)
expect_eq "egress-net up in node 2's namespace: exit 0" "$?" 0
expect_match "it intercepts node 2's workspace bridge" \
    "$(swarm_in_node 2 iptables -w -t nat -S PREROUTING)" "-i $NET -j EP-$NET-NAT"

# --- the API (cluster mode, swarm engine) and node 2's agent ------------------
api_start_engine --engine swarm --docker-socket "${SWARM_SOCK[1]}" \
    --swarm-constraint node.labels.egress-policy.pool==course-a \
    --swarm-node-engine "node1=${SWARM_SOCK[1]}" --swarm-node-engine "node2=${SWARM_SOCK[2]}" \
    --workspace-image "$IMAGE" --workspace-network "$NET" --stop-timeout 2
expect_match "egress-api drives the swarm" "$(cat "$CDIR/api.log")" "containers: engine at .*backend swarm"
node_start n2 --docker-socket "${SWARM_SOCK[2]}" --network "$NET" --label egress-policy.project

A=$(api_project Student security course-a)
[ -n "$A" ] || {
    echo "project not created"
    cat "$CDIR/api.log"
    exit 99
}
expect_match "allowed.test whitelisted for the workspace's profile" \
    "$(api POST /api/whitelist/domains '{"profile": "course-a", "domain": "allowed.test"}')" '^200 '
api_wait_published
expect_eq "node 2's store holds etcd's policy" "$(node_wait_policy n2 && echo yes)" yes
# squid's helper runs as proxy: the store, written by the agent as root, is its.
chown -R proxy:proxy "$CDIR/n2"

# --- the workspace lands on node 2 ----------------------------------------------
expect_match "start through the API: 200 running" "$(api POST "/api/projects/$A/start")" '^200 .*"status":"running"'
task=$(swarm_api 1 GET "/tasks?filters=$(jq -rn --arg s "workspace-$A" '{service: [$s], "desired-state": ["running"]} | @uri')" |
    jq -c '.[0] // empty')
expect_eq "its task runs on node 2" "$(jq -r .NodeID <<<"$task")" "${SWARM_NODE_ID[2]}"
ins=$(swarm_task_container 2 "workspace-$A")
cid=$(jq -r .Id <<<"$ins")
ip=$(jq -r ".NetworkSettings.Networks[\"$NET\"].IPAddress" <<<"$ins")
expect_match "node 2's engine runs it on node 2's subnet" "$ip" '^172\.30\.2\.[0-9]+$'
expect_eq "node 1 runs none" "$(swarm_task_container 1 "workspace-$A" 2>/dev/null)" ""

# --- egress-node maps its address in node 2's store ------------------------------
for _ in $(seq 1 100); do
    [ "$(decide n2 "$ip" allowed.test)" = OK ] && break
    sleep 0.1
done
expect_match "egress-node mapped the address to the project" "$(cat "$CDIR/n2.log")" \
    "containers: $ip mapped to $A"
expect_eq "node 2's store: the whitelisted host allowed for it" "$(decide n2 "$ip" allowed.test)" OK
expect_eq "node 2's store: another host denied for it" "$(decide n2 "$ip" denied.test)" ERR
for _ in $(seq 1 50); do
    api GET /api/cluster | grep -q "\"ip\":\"$ip\",\"project\":\"$A\"" && break
    sleep 0.1
done
expect_match "/api/cluster shows the workspace on node 2's agent" "$(api GET /api/cluster)" \
    "\"ip\":\"$ip\",\"project\":\"$A\""

# --- squid on node 2, deciding from node 2's store ----------------------------------
sq=$CDIR/squid
mkdir -p "$sq/logs" "$sq/errors" "$CDIR/bin"
install -m 755 "$top_builddir/acl/egress-acl" "$CDIR/bin/egress-acl" || exit 99
cp /usr/share/squid/errors/templates/* "$top_srcdir/contrib/squid/errors/ERR_EGRESS_DENIED" "$sq/errors/" || exit 99
printf '%s allowed.test\n%s other.test\n%s denied.test\n' $ALLOWED $OTHER $DENIED >"$CDIR/hosts"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=squid intercept" \
    -keyout "$sq/intercept.pem" -out "$sq/intercept.crt" 2>/dev/null &&
    cat "$sq/intercept.crt" >>"$sq/intercept.pem" || exit 99
# The snippets as installed, with this node's paths: the helper copy, node
# 2's store, the error directory, the certificate, the gateway of node 2's
# subnet (where egress-net's REDIRECT delivers).
snippet() {
    sed -e "s#/usr/bin/egress-acl #$CDIR/bin/egress-acl #" \
        -e "s#--database /var/lib/egress-policy#--database $CDIR/n2 --flush-interval 200ms#" \
        -e "s#^error_directory .*#error_directory $sq/errors#" \
        -e "s#/etc/squid/egress-intercept.pem#$sq/intercept.pem#" \
        -e "s#172\.30\.0\.1:#$GW:#" \
        -e "s#^include /run/egress-policy/squid-addresses.conf#include $CDIR/squid-addresses.conf#" \
        "$top_srcdir/contrib/squid/$1"
}
{
    echo "http_port $GW:3128"
    echo "pid_filename $sq/squid.pid"
    echo "visible_hostname egress-node2"
    echo "hosts_file $CDIR/hosts"
    echo "dns_nameservers 127.0.0.1"
    echo "cache deny all"
    echo "cache_mem 8 MB"
    echo "pinger_enable off"
    echo "icp_port 0"
    echo "htcp_port 0"
    echo "snmp_port 0"
    echo "shutdown_lifetime 1 seconds"
    echo "coredump_dir $sq"
    echo "logformat egress %ts.%03tu %>a %Ss/%03>Hs %rm %ru \"%ea\" la=%>la:%>lp hier=%Sh/%<a"
    echo "access_log stdio:$sq/logs/access.log egress"
    echo "cache_log $sq/logs/cache.log"
    echo "cache_store_log none"
    snippet egress-guard.conf
    snippet egress-intercept.conf
    snippet egress-acl.conf
    echo "http_access allow egress_workspaces"
    echo "http_access deny all"
} >"$sq/squid.conf" || exit 99
chown -R proxy:proxy "$sq" "$CDIR/bin"
chgrp proxy "$sq/intercept.pem" && chmod 640 "$sq/intercept.pem"
swarm_in_node 2 squid -N -f "$sq/squid.conf" >"$sq/stdout.log" 2>&1 &
SQUID_PID=$!
for _ in $(seq 1 300); do
    swarm_in_node 2 bash -c "exec 3<>/dev/tcp/$GW/3129" 2>/dev/null && break
    kill -0 "$SQUID_PID" 2>/dev/null || break
    sleep 0.1
done
swarm_in_node 2 bash -c "exec 3<>/dev/tcp/$GW/3129" 2>/dev/null || {
    echo "squid did not start in node 2's namespace:"
    cat "$sq/stdout.log" "$sq/logs/cache.log"
    exit 99
}

# wget_from HOST ADDR PATH: an HTTP request from inside the workspace, no
# proxy (intercepted); prints the body and "code=STATUS".
wget_from() {
    swarm_exec 2 "$cid" curl -sS --noproxy '*' --max-time 10 --resolve "$1:80:$2" \
        -w '\ncode=%{http_code}\n' "http://$1$3"
}

# --- the verdicts, from inside the workspace ---------------------------------------
out=$(wget_from allowed.test $ALLOWED /first)
expect_match "the whitelisted host answers the workspace" "$out" 'origin host=allowed.test path=/first'
expect_match "with 200" "$out" '^code=200$'
expect_match "the allowed origin received the request" "$(cat "$CDIR/requests-$ALLOWED.log")" \
    '^GET allowed.test /first$'
# An intercepted request logs its original destination (ORIGINAL_DST).
expect_match "squid intercepted it, from the workspace's address, allowed by its rule" \
    "$(cat "$sq/logs/access.log")" \
    " $ip TCP_MISS/200 GET http://allowed.test/first \"rule; host=allowed.test; project=$A; rule=allowed.test\" la=$ALLOWED:80 hier=ORIGINAL_DST/$ALLOWED\$"
out=$(wget_from denied.test $DENIED /secret)
expect_match "another host is refused with 403" "$out" '^code=403$'
expect_match "the page names the host" "$out" 'Access to denied.test is blocked'
expect_match "squid logged the refusal from the workspace's address" "$(cat "$sq/logs/access.log")" \
    " $ip TCP_DENIED/403 GET http://denied.test/secret "
out=$(wget_from other.test $OTHER /not-yet)
expect_match "other.test is refused too (not yet whitelisted)" "$out" '^code=403$'
expect_eq "the denied origin received no request" "$(wc -l <"$CDIR/requests-$DENIED.log" 2>/dev/null || echo 0)" 0
expect_eq "nor any connection" "$(denied_syns)" 0
expect_eq "nor did other.test" "$(wc -l <"$CDIR/requests-$OTHER.log" 2>/dev/null || echo 0)" 0
out=$(swarm_exec 2 "$cid" curl -sS --noproxy '*' --max-time 5 --resolve "denied.test:8080:$DENIED" \
    -w '\ncode=%{http_code}\n' "http://denied.test:8080/other-port")
expect_match "another port of the denied host: 403" "$out" '^code=403$'
expect_eq "still no connection to the denied origin" "$(denied_syns)" 0

# --- a promote through the API, enforced on node 2 from the next request ----------
expect_match "other.test promoted to the profile" \
    "$(api POST /api/whitelist/domains '{"profile": "course-a", "domain": "other.test"}')" '^200 '
api_wait_published
expect_eq "node 2 holds the new revision" "$(node_wait_policy n2 && echo yes)" yes
out=$(wget_from other.test $OTHER /now)
expect_match "the next request to it is allowed" "$out" '^code=200$'
expect_match "and reaches it" "$(cat "$CDIR/requests-$OTHER.log")" '^GET other.test /now$'
out=$(wget_from denied.test $DENIED /still)
expect_match "denied.test is still refused" "$out" '^code=403$'
expect_eq "and still never reached" "$(wc -l <"$CDIR/requests-$DENIED.log" 2>/dev/null || echo 0) $(denied_syns)" "0 0"
finish

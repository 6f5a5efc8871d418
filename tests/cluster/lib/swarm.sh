# Shell functions for tests of the swarm engine (bash; source this file).
#
# A throw-away Docker Swarm of N nodes on this one machine. Each node is a
# dockerd from Debian's docker.io in network and mount namespaces of its
# own (as tests/lib/dockerd.sh starts one), with a private data root, exec
# root and socket under the test's work directory. A test hub (a named
# network namespace holding a bridge, names unique to the run) links the
# nodes by veth pairs: node i is 10.213.0.i/24 on its `eth-swarm` link, and
# the swarm's control traffic (2377, 7946) runs there, inside the test's
# own namespaces. Node 1 is the manager, the others join as workers.
#
#   . "$top_srcdir/tests/lib/dockerd.sh"
#   . "$top_srcdir/tests/cluster/lib/swarm.sh"
#   swarm_have_tools || exit 77
#   trap swarm_stop EXIT
#   swarm_start "$workdir" 2 || exit 99       # nodes, swarm, labels
#   swarm_build_image localhost/ws-test:latest || exit 99   # on every node
#   swarm_network_create egress-ws || exit 99 # 172.30.N.0/24 on node N
#   swarm_api 2 GET /containers/json           # curl on node 2's socket
#
# Also: swarm_api_json I METHOD PATH JSON, swarm_in_node I CMD... (a command
# in node I's network namespace, e.g. a squid for that node),
# swarm_task_container I SERVICE (the inspect of the service's container on
# node I), swarm_exec I CONTAINER CMD... (its output). SWARM_SOCK[I],
# SWARM_PID[I] (dockerd's pid: /proc/PID/ns/net is the node's namespace)
# and SWARM_NODE_ID[I] (its swarm node id) describe each node.
#
# Every node gets the label `egress-policy.node=nodeN` and, when
# SWARM_POOL_LABEL_N is set (e.g. SWARM_POOL_LABEL_2=course-a), the label
# `egress-policy.pool=<that>`, which `egress-api --engine swarm
# --swarm-constraint node.labels.egress-policy.pool==course-a` places by.
#
# Each node's dockerd runs with --no-new-privileges: the Docker Engine API
# 1.41 of Debian 12's dockerd has no per-service no-new-privileges, so a
# node gives it to every container (docs/cluster.md).
#
# swarm_stop ends every node the way dockerd_stop ends one engine (services
# first, so the nodes do not restart tasks meanwhile), removes the hub and
# deletes the work directory; it is safe to call twice or after a failed start.

SWARM_DIR=
SWARM_NODES=0
SWARM_HUB=
SWARM_TAG=
declare -a SWARM_SOCK=() SWARM_PID=() SWARM_NETNS=() SWARM_NODE_ID=()

SWARM_HUB_PREFIX=10.213.0

# 0 when everything is installed (dockerd_have_tools, jq, nsenter, ip netns).
swarm_have_tools() {
    dockerd_have_tools || return 1
    for tool in jq nsenter; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "swarm tests: $tool is not installed (contrib/install-deps.sh --test)"
            return 1
        fi
    done
    if ! ip netns list >/dev/null 2>&1; then
        echo "swarm tests: ip netns does not work here"
        return 1
    fi
    return 0
}

# curl on node I's socket: swarm_api I METHOD PATH [curl options...] (body on
# stdout; fails on an HTTP error status).
swarm_api() {
    local node=$1 method=$2 path=$3
    shift 3
    curl -sSf --unix-socket "${SWARM_SOCK[$node]}" -X "$method" "$@" "http://localhost$path"
}

# swarm_api with a JSON body: swarm_api_json I METHOD PATH JSON.
swarm_api_json() {
    swarm_api "$1" "$2" "$3" -H 'Content-Type: application/json' --data "$4"
}

# Run a command in node I's network namespace.
swarm_in_node() {
    local node=$1
    shift
    nsenter --net="/proc/${SWARM_PID[$node]}/ns/net" "$@"
}

# Select node I for the dockerd_* functions of tests/lib/dockerd.sh.
swarm_select() {
    DOCKERD_DIR=$SWARM_DIR/node$1
    DOCKERD_SOCK=${SWARM_SOCK[$1]}
    DOCKERD_PID=${SWARM_PID[$1]}
    DOCKERD_NETNS=${SWARM_NETNS[$1]}
}

# Start node I's dockerd (dockerd_start with --no-new-privileges) and link it
# to the hub. Sets SWARM_SOCK[I], SWARM_PID[I], SWARM_NETNS[I].
swarm_node_start() {
    local node=$1 dir=$SWARM_DIR/node$1 hub_end=sw${SWARM_TAG}h$1 node_end=sw${SWARM_TAG}n$1
    mkdir -p "$dir/data" "$dir/exec" || return 1
    # shellcheck disable=SC2016
    unshare --net --mount --propagation private -- sh -c '
        mount -t tmpfs tmpfs /run && ip link set lo up &&
        exec dockerd --data-root "$1/data" --exec-root "$1/exec" --no-new-privileges \
            --pidfile "$1/dockerd.pid" -H "unix://$1/docker.sock"' \
        sh "$dir" >"$dir/dockerd.log" 2>&1 &
    # dockerd_wait_ready reads these (and shows DOCKERD_DIR's logs on failure).
    # shellcheck disable=SC2034
    DOCKERD_DIR=$dir
    DOCKERD_SOCK=$dir/docker.sock
    DOCKERD_PID=$!
    DOCKERD_NETNS=
    SWARM_PID[node]=$DOCKERD_PID
    SWARM_SOCK[node]=$DOCKERD_SOCK
    dockerd_wait_ready || return 1
    SWARM_NETNS[node]=$DOCKERD_NETNS
    ip -n "$SWARM_HUB" link add "$hub_end" type veth peer name "$node_end" || return 1
    ip -n "$SWARM_HUB" link set "$node_end" netns "$DOCKERD_PID" || return 1
    ip -n "$SWARM_HUB" link set "$hub_end" master br0 up || return 1
    swarm_in_node "$node" ip link set "$node_end" name eth-swarm || return 1
    swarm_in_node "$node" ip addr add "$SWARM_HUB_PREFIX.$node/24" dev eth-swarm || return 1
    swarm_in_node "$node" ip link set eth-swarm up
}

# The swarm node id of node I (its own engine's /info).
swarm_node_id_of() {
    swarm_api "$1" GET /info | jq -r '.Swarm.NodeID'
}

# Set the labels of node I (a JSON object) through the manager.
swarm_node_labels() {
    local node=$1 labels=$2 id version spec
    id=${SWARM_NODE_ID[$node]}
    spec=$(swarm_api 1 GET "/nodes/$id") || return 1
    version=$(jq -r '.Version.Index' <<<"$spec")
    spec=$(jq -c --argjson l "$labels" '.Spec | .Labels = $l' <<<"$spec")
    swarm_api_json 1 POST "/nodes/$id/update?version=$version" "$spec" >/dev/null
}

# Wait until the manager lists N nodes ready (at most 60 s).
swarm_wait_nodes_ready() {
    local want=$1 tries=0 ready
    while [ $tries -lt 600 ]; do
        ready=$(swarm_api 1 GET /nodes | jq '[.[] | select(.Status.State == "ready")] | length')
        [ "$ready" = "$want" ] && return 0
        sleep 0.1
        tries=$((tries + 1))
    done
    echo "swarm: only $ready of $want nodes ready after 60 s"
    return 1
}

# Start N nodes under DIR, make the swarm (node 1 manager, the rest
# workers) and label the nodes.
swarm_start() {
    local node token
    SWARM_DIR=$1
    SWARM_NODES=$2
    SWARM_TAG=$$
    SWARM_HUB=ep-swarm-$$-hub
    mkdir -p "$SWARM_DIR" || return 1
    ip netns add "$SWARM_HUB" || return 1
    ip -n "$SWARM_HUB" link set lo up || return 1
    ip -n "$SWARM_HUB" link add br0 type bridge || return 1
    ip -n "$SWARM_HUB" link set br0 up || return 1
    for node in $(seq 1 "$SWARM_NODES"); do
        swarm_node_start "$node" || return 1
    done
    swarm_api_json 1 POST /swarm/init "{\"ListenAddr\":\"$SWARM_HUB_PREFIX.1:2377\",\"AdvertiseAddr\":\"$SWARM_HUB_PREFIX.1:2377\"}" >/dev/null ||
        return 1
    token=$(swarm_api 1 GET /swarm | jq -r '.JoinTokens.Worker') || return 1
    for node in $(seq 2 "$SWARM_NODES"); do
        swarm_api_json "$node" POST /swarm/join "{\"ListenAddr\":\"$SWARM_HUB_PREFIX.$node:2377\",\"AdvertiseAddr\":\"$SWARM_HUB_PREFIX.$node:2377\",\"RemoteAddrs\":[\"$SWARM_HUB_PREFIX.1:2377\"],\"JoinToken\":\"$token\"}" >/dev/null ||
            return 1
    done
    swarm_wait_nodes_ready "$SWARM_NODES" || return 1
    for node in $(seq 1 "$SWARM_NODES"); do
        SWARM_NODE_ID[node]=$(swarm_node_id_of "$node") || return 1
        local labels="{\"egress-policy.node\":\"node$node\"}" pool_var=SWARM_POOL_LABEL_$node
        if [ -n "${!pool_var:-}" ]; then
            labels=$(jq -c --arg p "${!pool_var}" '. + {"egress-policy.pool": $p}' <<<"$labels")
        fi
        swarm_node_labels "$node" "$labels" || return 1
    done
}

# The workspace image on every node (no registry: each imports its own copy).
swarm_build_image() {
    local node
    for node in $(seq 1 "$SWARM_NODES"); do
        swarm_select "$node"
        dockerd_build_image "$1" || return 1
    done
}

# The workspace network NAME: on each node N a config-only network
# NAME-cfg with subnet 172.30.N.0/24 and egress-net's options (the bridge
# named NAME, no traffic between workspaces), then on the manager the
# swarm-scoped bridge NAME made from it (docs/cluster.md).
swarm_network_create() {
    local name=$1 node
    for node in $(seq 1 "$SWARM_NODES"); do
        swarm_api_json "$node" POST /networks/create "{\"Name\":\"$name-cfg\",\"ConfigOnly\":true,\"IPAM\":{\"Config\":[{\"Subnet\":\"172.30.$node.0/24\",\"Gateway\":\"172.30.$node.1\"}]},\"Options\":{\"com.docker.network.bridge.name\":\"$name\",\"com.docker.network.bridge.enable_icc\":\"false\"}}" >/dev/null ||
            return 1
    done
    swarm_api_json 1 POST /networks/create "{\"Name\":\"$name\",\"Driver\":\"bridge\",\"Scope\":\"swarm\",\"ConfigFrom\":{\"Network\":\"$name-cfg\"}}" >/dev/null
}

# The container of service SERVICE's running task on node I: its inspect
# (JSON) on that node's own engine; fails when there is none.
swarm_task_container() {
    local node=$1 service=$2 id
    id=$(swarm_api "$node" GET "/containers/json?filters=$(jq -rn --arg s "com.docker.swarm.service.name=$service" '{label: [$s]} | @uri')" |
        jq -r '.[0].Id // empty') || return 1
    [ -n "$id" ] || return 1
    swarm_api "$node" GET "/containers/$id/json"
}

# Run a command in container C on node I and print its output (a TTY exec,
# so the output comes unframed, with CRLF line ends turned into LF):
# swarm_exec I C CMD [ARGS...].
swarm_exec() {
    local node=$1 container=$2 exec cmd
    shift 2
    # One line per argument (none of ours holds a newline), as a JSON array.
    cmd=$(printf '%s\n' "$@" | jq -R . | jq -cs .)
    exec=$(swarm_api_json "$node" POST "/containers/$container/exec" \
        "{\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":true,\"Cmd\":$cmd}" |
        jq -r .Id) || return 1
    swarm_api_json "$node" POST "/exec/$exec/start" '{"Detach":false,"Tty":true}' --max-time 20 | tr -d '\r'
}

# End every node (services removed first), the hub, the work directory.
swarm_stop() {
    local node id
    if [ -n "${SWARM_PID[1]:-}" ] && kill -0 "${SWARM_PID[1]}" 2>/dev/null; then
        for id in $(swarm_api 1 GET /services 2>/dev/null | jq -r '.[].ID' 2>/dev/null); do
            swarm_api 1 DELETE "/services/$id" >/dev/null 2>&1
        done
    fi
    for node in $(seq "$SWARM_NODES" -1 1); do
        [ -n "${SWARM_PID[$node]:-}" ] || continue
        swarm_select "$node"
        # The node's directory goes with SWARM_DIR below (or stays with TEST_KEEP).
        TEST_KEEP=1 dockerd_stop
        SWARM_PID[node]=
    done
    if [ -n "$SWARM_HUB" ]; then
        ip netns del "$SWARM_HUB" 2>/dev/null
        SWARM_HUB=
    fi
    if [ -n "$SWARM_DIR" ] && [ -d "$SWARM_DIR" ] && [ -z "${TEST_KEEP:-}" ]; then
        rm -rf "$SWARM_DIR"
    fi
    SWARM_DIR=
    return 0
}

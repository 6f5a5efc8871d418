# shellcheck shell=bash
# What the cluster tests share: a 3-member etcd cluster on loopback, one
# egress-api in cluster mode, egress-node agents each with a store of its
# own, and the helpers to read and compare them. Every port, directory
# and cluster token is the run's own. Source after check.sh; call
# cluster_init first and let its trap stop what it started.
: "${top_srcdir:?run from make check (top_srcdir unset)}"
: "${top_builddir:?run from make check (top_builddir unset)}"
. "$top_srcdir/tests/lib/stack.sh"

API_BIN="$top_builddir/api/egress-api"
NODE_BIN="$top_builddir/node/egress-node"
ACL_BIN="$top_builddir/acl/egress-acl"
STORECTL="$top_builddir/tests/lib/storectl"
PREFIX=/egress/v1/
TOKEN=cluster-test-admin-token-0123456789

cluster_need() {
    command -v etcd >/dev/null && command -v etcdctl >/dev/null || {
        echo "etcd and etcdctl are not installed (contrib/install-deps.sh --test)"
        exit 77
    }
    for b in "$API_BIN" "$NODE_BIN" "$ACL_BIN" "$STORECTL"; do
        [ -x "$b" ] || {
            echo "$b is not built"
            exit 99
        }
    done
}

# cluster_init: a private directory ($CDIR) and the trap that cleans up.
cluster_init() {
    cluster_need
    CDIR=$(mktemp -d "${TMPDIR:-/tmp}/ep-cluster-XXXXXX") || exit 99
    CLUSTER_PIDS=""
    trap cluster_cleanup EXIT
    printf '%s\n' "$TOKEN" >"$CDIR/token"
    chmod 600 "$CDIR/token"
}

cluster_cleanup() {
    local p
    for p in $CLUSTER_PIDS; do kill -KILL "$p" 2>/dev/null; done
    for p in $CLUSTER_PIDS; do wait "$p" 2>/dev/null; done
    [ -n "${KEEP_CDIR:-}" ] || rm -rf "$CDIR"
}

# ---- etcd ----

# etcd_start_cluster: three members m1..m3, client URLs in $ETCD_URLS.
etcd_start_cluster() {
    local i initial="" c p
    for i in 1 2 3; do
        c=$(stack_free_port) p=$(stack_free_port)
        while [ "$p" = "$c" ]; do p=$(stack_free_port); done
        eval "ETCD_CLIENT_$i=$c ETCD_PEER_$i=$p"
        initial="${initial:+$initial,}m$i=http://127.0.0.1:$p"
    done
    ETCD_INITIAL=$initial
    ETCD_URLS=""
    for i in 1 2 3; do
        eval "c=\$ETCD_CLIENT_$i"
        ETCD_URLS="${ETCD_URLS:+$ETCD_URLS,}http://127.0.0.1:$c"
        etcd_start_member "$i" new
    done
    etcd_wait_healthy || {
        echo "etcd did not form a cluster:"
        tail -n 20 "$CDIR"/etcd-m*.log
        exit 99
    }
}

# etcd_start_member I [new|existing]
etcd_start_member() {
    local i=$1 c p
    eval "c=\$ETCD_CLIENT_$i p=\$ETCD_PEER_$i"
    etcd --name "m$i" --data-dir "$CDIR/etcd-m$i" \
        --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
        --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
        --initial-cluster "$ETCD_INITIAL" --initial-cluster-token "ep-test-$$" \
        --initial-cluster-state "${2:-new}" --heartbeat-interval 50 --election-timeout 500 \
        --experimental-watch-progress-notify-interval 2s \
        --max-txn-ops 1024 --quota-backend-bytes 1073741824 \
        --logger zap --log-outputs "$CDIR/etcd-m$i.log" --log-level warn 2>>"$CDIR/etcd-m$i.err" &
    eval "ETCD_PID_$i=$!"
    CLUSTER_PIDS="$CLUSTER_PIDS $!"
}

# etcd_kill_member I: SIGKILL, and wait for it to be gone.
etcd_kill_member() {
    local pid
    eval "pid=\$ETCD_PID_$1"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

etcd_wait_healthy() {
    local _
    for _ in $(seq 1 200); do
        ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URLS" --command-timeout=2s endpoint health \
            >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# ectl ARGS: etcdctl on the whole cluster.
ectl() {
    ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URLS" --command-timeout=5s "$@"
}

# etcd_policy [REV]: the policy keys (KEY=VALUE a line, in key order) at revision REV (0: now).
etcd_policy() {
    ectl get --prefix "${PREFIX}policy/" ${1:+--rev="$1"} -w json |
        python3 -c '
import base64, json, sys
d = json.load(sys.stdin)
for kv in d.get("kvs", []):
    print(base64.b64decode(kv["key"]).decode() + "=" + base64.b64decode(kv.get("value", "")).decode())
' | LC_ALL=C sort
}

# etcd_revision: the cluster's revision now.
etcd_revision() {
    ectl get / --keys-only -w json | sed -n 's/.*"revision":\([0-9]*\).*/\1/p'
}

# ---- egress-api ----

# api_start [OPTION...]: egress-api in cluster mode on a store of its own.
api_start() {
    mkdir -p "$CDIR/api-store"
    : >>"$CDIR/api.log"
    "$API_BIN" --db "$CDIR/api-store" --listen 127.0.0.1:0 --no-containers \
        --admin-token-file "$CDIR/token" --bcrypt-cost 10 --etcd "$ETCD_URLS" "$@" \
        2>>"$CDIR/api.log" &
    API_PID=$!
    CLUSTER_PIDS="$CLUSTER_PIDS $API_PID"
    API_PORT=
    local _
    for _ in $(seq 1 200); do
        API_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$CDIR/api.log" | tail -n 1)
        [ -n "$API_PORT" ] && break
        kill -0 "$API_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$API_PORT" ] || {
        echo "egress-api did not start:"
        cat "$CDIR/api.log"
        exit 99
    }
}

# api METHOD PATH [JSON]: prints "STATUS BODY".
api() {
    local out status
    out=$(curl -sS --noproxy '*' -m 20 -X "$1" -H "Authorization: Bearer $TOKEN" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
        -w '\n%{http_code}' "http://127.0.0.1:$API_PORT$2")
    status=$(printf '%s' "$out" | tail -n 1)
    printf '%s %s\n' "$status" "$(printf '%s' "$out" | sed '$d')"
}
project_id() { sed -n 's/.*"projectId":"\([a-z0-9-]*\)".*/\1/p'; }

# api_project NAME MODE PROFILE: create a project; prints its id.
api_project() {
    api POST /api/projects/create \
        "{\"projectName\": \"$1\", \"proxyMode\": \"$2\", \"profile\": \"$3\"}" | project_id
}

# api_wait_published: until the API's outbox is empty.
api_wait_published() {
    local _
    for _ in $(seq 1 ${1:-300}); do
        api GET /api/cluster | grep -q '"pending":0[,}]' && return 0
        sleep 0.1
    done
    return 1
}

# ---- egress-node ----

# node_start NAME [OPTION...]: egress-node with store $CDIR/NAME; its pid in NODE_PID_NAME.
node_start() {
    local name=$1
    shift
    mkdir -p "$CDIR/$name"
    "$NODE_BIN" --name "$name" --etcd "$ETCD_URLS" --db "$CDIR/$name" --ttl 3 \
        --watch-silence 5 --counters-interval 1 "$@" 2>>"$CDIR/$name.log" &
    eval "NODE_PID_$name=$!"
    CLUSTER_PIDS="$CLUSTER_PIDS $!"
}

node_kill() {
    local pid
    eval "pid=\$NODE_PID_$1"
    kill -"${2:-KILL}" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# node_dump NAME: "revision R" then the node store's policy as KEY=VALUE lines.
node_dump() {
    local out
    out=$("$NODE_BIN" --db "$CDIR/$1" --dump) || return 1
    printf '%s\n' "$out" | grep '^revision '
    printf '%s\n' "$out" | grep -v '^revision ' | LC_ALL=C sort
}
node_revision() { node_dump "$1" | sed -n 's/^revision //p'; }

# node_wait_policy NAME: until the node's store holds exactly etcd's policy now.
node_wait_policy() {
    local want _
    want=$(etcd_policy)
    for _ in $(seq 1 ${2:-200}); do
        [ "$(node_dump "$1" | sed 1d)" = "$want" ] && return 0
        sleep 0.05
    done
    return 1
}

# decide NAME IP HOST: the node's decision for one request, as squid's helper gives it (OK/ERR).
decide() {
    printf '1 %s GET %s\n' "$2" "$3" | timeout 10 "$ACL_BIN" --database "$CDIR/$1" 2>/dev/null |
        awk '{print $2}'
}

# api_start_engine [OPTION...]: api_start with a container engine (no
# --no-containers): egress-api in cluster mode that also runs the
# workspaces, e.g. --engine swarm --docker-socket <manager's socket>.
api_start_engine() {
    mkdir -p "$CDIR/api-store"
    : >>"$CDIR/api.log"
    "$API_BIN" --db "$CDIR/api-store" --listen 127.0.0.1:0 \
        --admin-token-file "$CDIR/token" --bcrypt-cost 10 --etcd "$ETCD_URLS" "$@" \
        2>>"$CDIR/api.log" &
    API_PID=$!
    CLUSTER_PIDS="$CLUSTER_PIDS $API_PID"
    API_PORT=
    local _
    for _ in $(seq 1 200); do
        API_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$CDIR/api.log" | tail -n 1)
        [ -n "$API_PORT" ] && break
        kill -0 "$API_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$API_PORT" ] || {
        echo "egress-api did not start:"
        cat "$CDIR/api.log"
        exit 99
    }
}

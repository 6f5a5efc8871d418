#!/bin/bash
# egress-policy in one command, on a fresh Debian 12 machine, as root:
# installs the packages, builds, and runs squid (squid-openssl) deciding with
# the external ACL helper egress-acl (contrib/squid/egress-acl.conf: the
# faster decision path; squid starts the helper itself) and egress-api, with
# the store and logs under ./var. No c-icap: it is needed only for LLM
# capture (contrib/squid/README.md), which the quick start leaves out.
# Ctrl-C stops everything.
#
#   contrib/quickstart.sh
#
# With a container engine (DOCKER_HOST, default unix:///var/run/docker.sock,
# answering; NO_ENGINE=1 to ignore it): contrib/network/egress-net makes the
# workspace network egress-ws and its firewall rules, squid listens on its
# gateway and intercepts the workspaces' HTTP and HTTPS
# (contrib/squid/egress-intercept.conf: the SNI decided by egress-acl, no
# decryption, a denied TLS connection closed at once; certificate for the
# intercept port made under ./var), and
# egress-api runs workspace containers (WORKSPACE_IMAGE, default
# codercom/code-server:latest) on that network, with no proxy settings.
# The network and its rules stay after Ctrl-C (workspaces have no way out
# while squid is stopped); `contrib/network/egress-net --force down`
# removes them.
#
# Without an engine everything stays on loopback: workspaces are loopback
# addresses mapped by hand, using http://127.0.0.1:$SQUID_PORT as proxy;
# squid accepts them from loopback and the private ranges (WORKSPACE_NETS).
#
# Ports (environment): API_PORT (8088), SQUID_PORT (3128,
# the explicit proxy), INTERCEPT_HTTP_PORT (3129), INTERCEPT_HTTPS_PORT
# (3130); WORKSPACE_SUBNET (172.30.0.0/24) for the workspace network.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
API_PORT=${API_PORT:-8088}
SQUID_PORT=${SQUID_PORT:-3128}
WORKSPACE_NETS=${WORKSPACE_NETS:-127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16}
INTERCEPT_HTTP_PORT=${INTERCEPT_HTTP_PORT:-3129}
INTERCEPT_HTTPS_PORT=${INTERCEPT_HTTPS_PORT:-3130}
WORKSPACE_SUBNET=${WORKSPACE_SUBNET:-172.30.0.0/24}
WORKSPACE_IMAGE=${WORKSPACE_IMAGE:-codercom/code-server:latest}
var="$top/var"
build="$top/build-quickstart"

if [ "$(id -u)" != 0 ]; then
    echo "quickstart: run as root (packages are installed, squid switches to user proxy)" >&2
    exit 1
fi

echo "== packages"
sh contrib/install-deps.sh

echo "== build (in $build)"
[ -x configure ] || autoreconf -fi
mkdir -p "$build"
(cd "$build" && { [ -f Makefile ] || ../configure -q; } && make -j"$(nproc)" >/dev/null)

mkdir -p "$var/db" "$var/bin" "$var/squid/logs" "$var/squid/errors"
# squid runs the helper as user proxy: a copy it can read and run, whatever
# the permissions of the build tree.
install -m 755 "$build/acl/egress-acl" "$var/bin/egress-acl"

# The engine, as the docker CLI finds it.
engine=0
engine_sock=${DOCKER_HOST:-unix:///var/run/docker.sock}
engine_sock=${engine_sock#unix://}
if [ "${NO_ENGINE:-0}" != 1 ] && [ -S "$engine_sock" ] &&
    curl -sf --max-time 5 --unix-socket "$engine_sock" http://localhost/_ping >/dev/null 2>&1; then
    engine=1
fi
chmod 755 "$var"
if [ ! -s "$var/admin-token" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$var/admin-token")
fi
TOKEN=$(cat "$var/admin-token")

pids=""
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "== stopping"
    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $pids; do
        # squid takes a second to stop (shutdown_lifetime) and its helpers.
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "stopped; the store stays in $var/db"
    if [ "${engine:-0}" = 1 ]; then
        echo "the workspace network and its rules stay (no way out without squid);"
        echo "remove them with: DOCKER_HOST=$DOCKER_HOST contrib/network/egress-net --force down"
    fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_port() {
    for _ in $(seq 1 200); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    echo "quickstart: nothing listens on port $1; see the logs in $var" >&2
    return 1
}

if [ $engine = 1 ]; then
    echo "== workspace network (contrib/network/egress-net up)"
    export DOCKER_HOST="unix://$engine_sock"
    contrib/network/egress-net --subnet "$WORKSPACE_SUBNET" --proxy-port "$SQUID_PORT" \
        --http-port "$INTERCEPT_HTTP_PORT" --https-port "$INTERCEPT_HTTPS_PORT" up
    gw=$(contrib/network/egress-net --subnet "$WORKSPACE_SUBNET" --proxy-port "$SQUID_PORT" \
        --http-port "$INTERCEPT_HTTP_PORT" --https-port "$INTERCEPT_HTTPS_PORT" status |
        sed -n 's/.*gateway \([0-9.]*\),.*/\1/p')
    [ -n "$gw" ] || {
        echo "quickstart: the workspace network has no gateway; see egress-net status" >&2
        exit 1
    }
    # The intercept port's certificate: squid needs one to peek at TLS,
    # never shows it (it splices or refuses).
    if [ ! -s "$var/squid/intercept.pem" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=egress-policy intercept (never shown)" -keyout "$var/squid/intercept.pem" \
            -out "$var/squid/intercept.crt" 2>/dev/null
        cat "$var/squid/intercept.crt" >>"$var/squid/intercept.pem"
        chmod 600 "$var/squid/intercept.pem"
    fi
    api_engine=(--docker-socket "$engine_sock" --workspace-image "$WORKSPACE_IMAGE")
else
    echo "== no container engine: loopback mode"
    # Workspaces here are loopback addresses (curl --interface), not containers.
    api_engine=(--no-containers)
fi

echo "== egress-api on 127.0.0.1:$API_PORT"
# First: the first opener of the store fixes its reader table for the helper too.
"$build/api/egress-api" --db "$var/db" --listen "127.0.0.1:$API_PORT" --max-readers 1024 "${api_engine[@]}" \
    --admin-token-file "$var/admin-token" 2>>"$var/egress-api.log" &
pids="$pids $!"
wait_port "$API_PORT"
# egress-acl runs as squid's user proxy and records: the store must be its.
chown -R proxy:proxy "$var/db"

if [ $engine = 1 ]; then
    echo "== squid on $gw: proxy $SQUID_PORT, intercepting HTTP $INTERCEPT_HTTP_PORT, HTTPS $INTERCEPT_HTTPS_PORT"
    WORKSPACE_NETS=$WORKSPACE_SUBNET
else
    echo "== squid on 127.0.0.1:$SQUID_PORT"
fi
cp /usr/share/squid/errors/templates/* "$var/squid/errors/"
cp contrib/squid/errors/ERR_EGRESS_DENIED "$var/squid/errors/"
{
    if [ $engine = 1 ]; then
        echo "http_port $gw:$SQUID_PORT"
    else
        echo "http_port 127.0.0.1:$SQUID_PORT"
    fi
    echo "pid_filename $var/squid/squid.pid"
    echo "visible_hostname egress-quickstart"
    echo "cache deny all"
    echo "pinger_enable off"
    echo "icp_port 0"
    echo "htcp_port 0"
    echo "snmp_port 0"
    echo "shutdown_lifetime 1 seconds"
    echo "access_log stdio:$var/squid/logs/access.log"
    echo "cache_log $var/squid/logs/cache.log"
    echo "cache_store_log none"
    echo "coredump_dir $var/squid"
    helper="$var/bin/egress-acl --database $var/db"
    if [ $engine = 1 ]; then
        # The shipped snippet with this network's gateway, ports, subnet,
        # certificate and helper; before egress-acl.conf.
        sed -e "s#172\.30\.0\.1:3129#$gw:$INTERCEPT_HTTP_PORT#" \
            -e "s#172\.30\.0\.1:3130#$gw:$INTERCEPT_HTTPS_PORT#" \
            -e "s#172\.30\.0\.0/24#$WORKSPACE_SUBNET#" \
            -e "s#tls-cert=/etc/squid/egress-intercept.pem#tls-cert=$var/squid/intercept.pem#" \
            -e "s#/usr/bin/egress-acl --database /var/lib/egress-policy#$helper#" \
            contrib/squid/egress-intercept.conf
    fi
    # The decision for plain HTTP and CONNECT; before the http_access rules.
    sed -e "s#/usr/bin/egress-acl --database /var/lib/egress-policy#$helper#" \
        -e "s#^error_directory .*#error_directory $var/squid/errors#" \
        contrib/squid/egress-acl.conf
    echo "acl workspaces src $WORKSPACE_NETS"
    echo "http_access allow workspaces"
    echo "http_access deny all"
} >"$var/squid/squid.conf"
chown -R proxy:proxy "$var/squid"
squid -N -f "$var/squid/squid.conf" >>"$var/squid/stdout.log" 2>&1 &
pids="$pids $!"
wait_port "$SQUID_PORT"

api="http://127.0.0.1:$API_PORT"
if [ $engine = 1 ]; then
    cat <<EOT

egress-policy is running (logs and store in $var; Ctrl-C stops everything).
  API        $api          admin token: $var/admin-token
  workspaces network egress-ws ($WORKSPACE_SUBNET): HTTP and HTTPS intercepted by squid
             on $gw, no proxy settings needed; everything else is dropped
             (contrib/network/egress-net status shows the rules)

Try:
  TOKEN=\$(cat $var/admin-token)
  H="Authorization: Bearer \$TOKEN"
  # 1. allow one host for the default profile
  curl -s -X PUT $api/api/whitelist -H "\$H" -H 'Content-Type: application/json' \\
       -d '{"domains": ["example.org"]}'
  # 2. a security workspace: create, then start it (use the projectId printed)
  curl -s -X POST $api/api/projects/create -H "\$H" -H 'Content-Type: application/json' \\
       -d '{"projectName": "Student", "proxyMode": "security"}'
  curl -s -X POST $api/api/projects/PROJECT_ID/start -H "\$H"
  # 3. inside it, without any proxy setting
  docker exec workspace-PROJECT_ID curl -sI https://example.org/     # allowed: 200
  docker exec workspace-PROJECT_ID curl -sI http://example.com/      # blocked: our 403 page
  docker exec workspace-PROJECT_ID curl -sI https://example.com/     # blocked: closed at once (curl: exit 35)
  # 4. what it tried
  curl -s $api/api/projects/PROJECT_ID/recorded-domains -H "\$H"

Reference: docs/API.md, README.md ("Network isolation")
EOT
    wait
    exit 0
fi
cat <<EOT

egress-policy is running (logs and store in $var; Ctrl-C stops everything).
  API     $api          admin token: $var/admin-token
  proxy   http://127.0.0.1:$SQUID_PORT  (set HTTP_PROXY/HTTPS_PROXY in a workspace)

Try:
  TOKEN=\$(cat $var/admin-token)
  # 1. a logging workspace (records every host it reaches)
  curl -s -X POST $api/api/projects/create -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"projectName": "Teacher", "proxyMode": "logging"}'
  # 2. map the workspace's IP to it (use the projectId printed above)
  curl -s -X PUT $api/api/projects/PROJECT_ID/ip -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"ipAddress": "127.0.0.1"}'
  #    ... then browse through the proxy: curl -x http://127.0.0.1:$SQUID_PORT http://example.org/
  # 3. what it reached
  curl -s $api/api/projects/PROJECT_ID/recorded-domains -H "Authorization: Bearer \$TOKEN"

Reference: docs/API.md
EOT
wait

#!/bin/bash
# egress-policy in one command, on a fresh Debian 12 machine, as root:
# installs the packages, builds, and runs squid, c-icap with srv_egress.so
# and egress-api, all on loopback, with the store and logs under ./var.
# Ctrl-C stops everything.
#
#   contrib/quickstart.sh
#
# Ports (environment): API_PORT (8088), ICAP_PORT (1344), SQUID_PORT (3128).
# Workspaces use http://127.0.0.1:$SQUID_PORT as their proxy; squid accepts
# them from loopback and the private ranges (WORKSPACE_NETS to change that).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
API_PORT=${API_PORT:-8088}
ICAP_PORT=${ICAP_PORT:-1344}
SQUID_PORT=${SQUID_PORT:-3128}
WORKSPACE_NETS=${WORKSPACE_NETS:-127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16}
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

mkdir -p "$var/db" "$var/c-icap" "$var/squid/logs" "$var/squid/errors"
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
        # c-icap takes a few seconds to stop its children.
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "stopped; the store stays in $var/db"
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

echo "== egress-api on 127.0.0.1:$API_PORT"
# Workspaces here are loopback addresses (curl --interface), not containers:
# a container on the engine's bridge could not reach squid on 127.0.0.1.
# First: the first opener of the store fixes its reader table for c-icap too.
"$build/api/egress-api" --db "$var/db" --listen "127.0.0.1:$API_PORT" --max-readers 1024 --no-containers \
    --admin-token-file "$var/admin-token" 2>>"$var/egress-api.log" &
pids="$pids $!"
wait_port "$API_PORT"

echo "== c-icap with srv_egress.so on 127.0.0.1:$ICAP_PORT"
{
    echo "PidFile $var/c-icap/c-icap.pid"
    echo "CommandsSocket $var/c-icap/c-icap.ctl"
    echo "Port 127.0.0.1:$ICAP_PORT"
    echo "TmpDir $var/c-icap"
    echo "StartServers 2"
    echo "MaxServers 4"
    echo "ThreadsPerChild 50"
    echo "MinSpareThreads 10"
    echo "MaxSpareThreads 50"
    echo "ServerLog $var/c-icap/server.log"
    echo "AccessLog $var/c-icap/access.log"
    echo "ModulesDir /usr/lib/x86_64-linux-gnu/c_icap"
    echo "ServicesDir /usr/lib/x86_64-linux-gnu/c_icap"
    echo "TemplateDir /usr/share/c_icap/templates/"
    # The shipped snippet, with this build's module and this store.
    sed -e "s#^Service egress .*#Service egress $build/icap/.libs/srv_egress.so#" \
        -e "s#^egress.Database .*#egress.Database $var/db#" \
        contrib/c-icap/egress.conf
} >"$var/c-icap/c-icap.conf"
c-icap -N -D -d 1 -f "$var/c-icap/c-icap.conf" >>"$var/c-icap/stdout.log" 2>&1 &
pids="$pids $!"
wait_port "$ICAP_PORT"

echo "== squid on 127.0.0.1:$SQUID_PORT"
cp /usr/share/squid/errors/templates/* "$var/squid/errors/"
cp contrib/squid/errors/ERR_EGRESS_DENIED "$var/squid/errors/"
{
    echo "http_port 127.0.0.1:$SQUID_PORT"
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
    echo "acl workspaces src $WORKSPACE_NETS"
    echo "http_access allow workspaces"
    echo "http_access deny all"
    sed -e "s#icap://127.0.0.1:1344/egress#icap://127.0.0.1:$ICAP_PORT/egress#" \
        -e "s#^error_directory .*#error_directory $var/squid/errors#" \
        contrib/squid/egress.conf
} >"$var/squid/squid.conf"
chown -R proxy:proxy "$var/squid"
squid -N -f "$var/squid/squid.conf" >>"$var/squid/stdout.log" 2>&1 &
pids="$pids $!"
wait_port "$SQUID_PORT"

api="http://127.0.0.1:$API_PORT"
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

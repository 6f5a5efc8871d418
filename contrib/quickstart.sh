#!/bin/bash
# egress-policy in one command, on a fresh Debian 12 machine, as root:
# installs the packages, builds, and runs squid (squid-openssl) deciding with
# the external ACL helper egress-acl (contrib/squid/egress-acl.conf: the
# faster decision path; squid starts the helper itself) and egress-api with
# the review page, with the store and logs under ./var. No c-icap: it is
# needed only for LLM capture (contrib/squid/README.md), which the quick
# start leaves out. Ctrl-C stops everything it started.
#
#   contrib/quickstart.sh [OPTION]...      (--help lists them)
#
# With a container engine (DOCKER_HOST, default unix:///var/run/docker.sock,
# answering; --no-engine or NO_ENGINE=1 to ignore it): contrib/network/egress-net
# makes the workspace network egress-ws and its firewall rules, squid listens
# on its gateway and intercepts the workspaces' HTTP and HTTPS
# (contrib/squid/egress-intercept.conf: the SNI decided by egress-acl, no
# decryption, a denied TLS connection closed at once; certificate for the
# intercept port made under ./var), and egress-api runs workspace containers
# (WORKSPACE_IMAGE, default codercom/code-server:latest) on that network,
# with no proxy settings; the workspaces' DNS goes to egress-dns on the
# gateway (egress-net --dns-server egress-dns: every name decided by the
# policy, no other resolver reachable; squid resolves through it too on
# DNS_LOOPBACK). The network and its rules stay after Ctrl-C
# (workspaces have no way out while squid is stopped);
# `contrib/network/egress-net --force down` removes them.
#
# Without an engine everything stays on loopback: workspaces are loopback
# addresses mapped by hand, using http://127.0.0.1:$SQUID_PORT as proxy;
# squid accepts them from loopback and the private ranges (WORKSPACE_NETS).
#
# squid runs the helper as its user proxy, which must reach every file
# squid reads or runs: the helper is copied into the var directory, and
# where proxy cannot reach ./var (a clone under /root, mode 0700) the var
# directory is /var/lib/egress-quickstart instead (said at start).
set -eu

usage() {
    cat <<EOF
usage: contrib/quickstart.sh [OPTION]...
Set up and run egress-policy (squid with the egress-acl helper, egress-api
and its review page) as root; Ctrl-C stops everything it started.

Options (environment variable and default in brackets):
  --api-port N          egress-api and the review page on 127.0.0.1:N (API_PORT; 8088)
  --squid-port N        squid's explicit proxy port (SQUID_PORT; 3128)
  --intercept-http-port N, --intercept-https-port N
                        squid's intercepting ports on the workspace network,
                        with an engine only (INTERCEPT_HTTP_PORT; 3129,
                        INTERCEPT_HTTPS_PORT; 3130)
  --var DIR             the store, logs, admin token, squid's files and the
                        helper's copy (QUICKSTART_VAR; ./var of the clone, or
                        /var/lib/egress-quickstart when squid's user proxy
                        cannot reach the clone, e.g. under /root); proxy must
                        be able to reach it
  --build-dir DIR       the build directory (QUICKSTART_BUILD; ./build-quickstart),
                        configured and built unless --no-build
  --no-build            run the programs already built in --build-dir
  --packages            install egress-policy's own Debian packages, built from
                        this tree (contrib/install-deps.sh --packages), and run
                        the installed programs and snippets instead of a build
  --no-deps             do not install the Debian packages (contrib/install-deps.sh)
  --no-engine           loopback mode even where a container engine answers
                        (NO_ENGINE=1)
  --try-url URL         the outside address loopback mode's closing "Try"
                        commands fetch through squid (TRY_URL; http://example.org/)
  -h, --help            this text

Also read from the environment: WORKSPACE_NETS (loopback mode: the client
ranges squid accepts; 127.0.0.0/8 and the private ranges), WORKSPACE_SUBNET
(the workspace network; 172.30.0.0/24), WORKSPACE_IMAGE
(codercom/code-server:latest), DOCKER_HOST (the engine).
EOF
}

top=$(cd "$(dirname "$0")/.." && pwd)
API_PORT=${API_PORT:-8088}
SQUID_PORT=${SQUID_PORT:-3128}
WORKSPACE_NETS=${WORKSPACE_NETS:-127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16}
INTERCEPT_HTTP_PORT=${INTERCEPT_HTTP_PORT:-3129}
# Where egress-dns answers squid (a trusted client), with an engine only:
# a loopback address of its own, so a local resolver on 127.0.0.1:53 stays.
DNS_LOOPBACK=${DNS_LOOPBACK:-127.0.53.1}
INTERCEPT_HTTPS_PORT=${INTERCEPT_HTTPS_PORT:-3130}
WORKSPACE_SUBNET=${WORKSPACE_SUBNET:-172.30.0.0/24}
WORKSPACE_IMAGE=${WORKSPACE_IMAGE:-codercom/code-server:latest}
TRY_URL=${TRY_URL:-http://example.org/}
var=${QUICKSTART_VAR:-$top/var}
var_given=$([ -n "${QUICKSTART_VAR:-}" ] && echo 1 || echo 0)
var_fallback=/var/lib/egress-quickstart
build=${QUICKSTART_BUILD:-$top/build-quickstart}
ui="$top/api/ui"
do_build=1
from_packages=0
do_deps=1
no_engine=${NO_ENGINE:-0}

# value OPTION VALUE: VALUE, or a usage error when the option has none.
value() {
    if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "quickstart: $1 needs a value (try --help)" >&2
        exit 2
    fi
    printf '%s' "$2"
}
while [ $# -gt 0 ]; do
    case $1 in
    --api-port) API_PORT=$(value "$@") || exit 2; shift ;;
    --squid-port) SQUID_PORT=$(value "$@") || exit 2; shift ;;
    --intercept-http-port) INTERCEPT_HTTP_PORT=$(value "$@") || exit 2; shift ;;
    --intercept-https-port) INTERCEPT_HTTPS_PORT=$(value "$@") || exit 2; shift ;;
    --var)
        var=$(value "$@") || exit 2
        var_given=1
        shift
        ;;
    --build-dir) build=$(value "$@") || exit 2; shift ;;
    --try-url) TRY_URL=$(value "$@") || exit 2; shift ;;
    --no-build) do_build=0 ;;
    --packages) from_packages=1 ;;
    --no-deps) do_deps=0 ;;
    --no-engine) no_engine=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "quickstart: unknown option $1 (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done
# Paths given relative to where the quick start was called from; then to the clone.
case $var in /*) ;; *) var=$PWD/$var ;; esac
case $build in /*) ;; *) build=$PWD/$build ;; esac
cd "$top"
for port in "$API_PORT" "$SQUID_PORT" "$INTERCEPT_HTTP_PORT" "$INTERCEPT_HTTPS_PORT"; do
    case $port in
    '' | *[!0-9]*)
        echo "quickstart: a port must be a number from 1 to 65535, not \"$port\"" >&2
        exit 2
        ;;
    esac
    if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
        echo "quickstart: a port must be a number from 1 to 65535, not \"$port\"" >&2
        exit 2
    fi
done

if [ "$(id -u)" != 0 ]; then
    echo "quickstart: run as root (packages are installed, squid switches to user proxy)" >&2
    exit 1
fi

if [ $do_deps = 1 ]; then
    echo "== packages"
    if [ $from_packages = 1 ]; then
        sh contrib/install-deps.sh --packages
    else
        sh contrib/install-deps.sh
    fi
fi

# What runs: this tree's build and files, or what the packages installed.
if [ $from_packages = 1 ]; then
    api_program=/usr/bin/egress-api
    dns_program=/usr/bin/egress-dns
    acl_program=/usr/bin/egress-acl
    ui=/usr/share/egress-policy/ui
    snippets=/etc/squid/egress-policy
    deny_page=/usr/share/egress-policy/squid-errors/ERR_EGRESS_DENIED
    egress_net=/usr/sbin/egress-net
    do_build=0
else
    mkdir -p "$build"
    build=$(cd "$build" && pwd)
    api_program=$build/api/egress-api
    dns_program=$build/dns/egress-dns
    acl_program=$build/acl/egress-acl
    snippets=contrib/squid
    deny_page=contrib/squid/errors/ERR_EGRESS_DENIED
    egress_net=contrib/network/egress-net
fi
if [ $do_build = 1 ]; then
    echo "== build (in $build)"
    [ -x configure ] || autoreconf -fi
    (cd "$build" && { [ -f Makefile ] || "$top/configure" -q; } && make -j"$(nproc)" >/dev/null)
fi
for program in "$api_program" "$acl_program" "$dns_program"; do
    if [ ! -x "$program" ]; then
        if [ $from_packages = 1 ]; then
            echo "quickstart: $program is not installed (run without --no-deps)" >&2
        else
            echo "quickstart: $program is not built (run without --no-build)" >&2
        fi
        exit 1
    fi
done

# proxy_can COMMAND ARG...: does COMMAND (e.g. test -x PATH) succeed as squid's user proxy?
proxy_can() {
    su -s /bin/sh -c '"$@"' proxy -- sh "$@" 2>/dev/null
}

# closed_dir PATH: the first directory on the way to PATH that proxy cannot enter.
closed_dir() {
    local dir= part parts
    IFS=/ read -ra parts <<<"${1#/}"
    for part in "${parts[@]}"; do
        dir=$dir/$part
        if ! proxy_can test -x "$dir"; then
            echo "$dir"
            return
        fi
    done
    echo "$1"
}

# var_prepare: the var directory's layout, and the helper copied into it:
# squid runs the helper as user proxy, so a copy it can read and run,
# whatever the permissions of the build tree.
var_prepare() {
    mkdir -p "$var"
    var=$(cd "$var" && pwd)
    mkdir -p "$var/db" "$var/bin" "$var/squid/logs" "$var/squid/errors"
    chmod 755 "$var" "$var/bin"
    install -m 755 "$acl_program" "$var/bin/egress-acl"
}

var_prepare
# The copy is no use where proxy cannot reach it either: a clone under
# /root (mode 0700) gets its var directory where proxy can; a --var of
# the caller's is refused, naming the directory that closes the way.
if ! proxy_can test -x "$var/bin/egress-acl"; then
    blocked=$(closed_dir "$var")
    if [ "$var_given" = 1 ]; then
        echo "quickstart: squid's user proxy cannot reach $var ($blocked is closed to it);" \
            "give --var a directory it can reach, or open the way: chmod o+x $blocked" >&2
        exit 1
    fi
    echo "== $var is out of reach of squid's user proxy ($blocked is closed to it): using $var_fallback"
    var=$var_fallback
    var_prepare
    if ! proxy_can test -x "$var/bin/egress-acl"; then
        echo "quickstart: squid's user proxy cannot reach $var either ($(closed_dir "$var"));" \
            "give --var a directory it can reach" >&2
        exit 1
    fi
fi

# The engine, as the docker CLI finds it.
engine=0
engine_sock=${DOCKER_HOST:-unix:///var/run/docker.sock}
engine_sock=${engine_sock#unix://}
if [ "$no_engine" != 1 ] && [ -S "$engine_sock" ] &&
    curl -sf --max-time 5 --unix-socket "$engine_sock" http://localhost/_ping >/dev/null 2>&1; then
    engine=1
fi
if [ ! -s "$var/admin-token" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$var/admin-token")
fi

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
        echo "remove them with: DOCKER_HOST=$DOCKER_HOST $egress_net --force down"
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

# squid_conf_write: squid's error pages and its whole squid.conf: the site
# lines of this run, then the shipped snippets (contrib/squid/, or the installed
# /etc/squid/egress-policy/ with --packages) in the order
# egress-policy.conf includes them (the guard, the interception with an
# engine, the helper's decision), adjusted to this mode, these ports and
# this var directory. The one place that knows the snippets' layout.
squid_conf_write() {
    local helper="$var/bin/egress-acl"
    local -a adjust=(-e "s#/usr/bin/egress-acl #$helper #"
        -e "s#--database /var/lib/egress-policy#--database $var/db#"
        -e "s#^error_directory .*#error_directory $var/squid/errors#"
        -e "s#^include /run/egress-policy/squid-addresses.conf#include $var/squid/addresses.conf#")
    cp /usr/share/squid/errors/templates/* "$var/squid/errors/"
    cp "$deny_page" "$var/squid/errors/"
    # This host's addresses and the workspace subnet, for the guard.
    "$egress_net" --subnet "$WORKSPACE_SUBNET" --addresses-file "$var/squid/addresses.conf" \
        addresses >/dev/null
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
        if [ $engine = 1 ]; then
            # squid resolves through egress-dns, as egress-policy.conf's
            # dns_nameservers block says (one cache with the workspaces).
            echo "dns_nameservers $DNS_LOOPBACK"
            echo "negative_dns_ttl 1 second"
        fi
        sed "${adjust[@]}" "$snippets/egress-guard.conf"
        if [ $engine = 1 ]; then
            sed "${adjust[@]}" -e "s#172\.30\.0\.1:3129#$gw:$INTERCEPT_HTTP_PORT#" \
                -e "s#172\.30\.0\.1:3130#$gw:$INTERCEPT_HTTPS_PORT#" \
                -e "s#tls-cert=/etc/squid/egress-intercept.pem#tls-cert=$var/squid/intercept.pem#" \
                "$snippets/egress-intercept.conf"
        fi
        sed "${adjust[@]}" "$snippets/egress-acl.conf"
        # Loopback mode: the clients that may use the proxy (egress-policy.conf
        # allows the workspace subnet).
        echo "acl workspaces src $WORKSPACE_NETS"
        echo "http_access allow workspaces"
        echo "http_access deny all"
    } >"$var/squid/squid.conf"
}

if [ $engine = 1 ]; then
    echo "== workspace network (contrib/network/egress-net up)"
    export DOCKER_HOST="unix://$engine_sock"
    "$egress_net" --subnet "$WORKSPACE_SUBNET" --proxy-port "$SQUID_PORT" \
        --http-port "$INTERCEPT_HTTP_PORT" --https-port "$INTERCEPT_HTTPS_PORT" \
        --dns-server egress-dns --dns-args-file "$var/egress-dns.env" up
    gw=$("$egress_net" --subnet "$WORKSPACE_SUBNET" --proxy-port "$SQUID_PORT" \
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

echo "== egress-api and the review page on 127.0.0.1:$API_PORT"
# First: the first opener of the store fixes its reader table for the helper too.
"$api_program" --db "$var/db" --listen "127.0.0.1:$API_PORT" --max-readers 1024 "${api_engine[@]}" \
    --ui-dir "$ui" --admin-token-file "$var/admin-token" 2>>"$var/egress-api.log" &
pids="$pids $!"
wait_port "$API_PORT"
# egress-acl runs as squid's user proxy and records: the store must be its.
chown -R proxy:proxy "$var/db"

if [ $engine = 1 ]; then
    # Where egress-net said (the gateway, port 53) and its upstreams, plus
    # loopback for squid, as contrib/systemd/egress-dns.service runs it.
    EGRESS_DNS_ARGS=
    . "$var/egress-dns.env"
    echo "== egress-dns: $EGRESS_DNS_ARGS, and $DNS_LOOPBACK:53 for squid"
    ip addr show dev lo | grep -q "inet $DNS_LOOPBACK/" || ip addr add "$DNS_LOOPBACK/32" dev lo
    # shellcheck disable=SC2086
    "$dns_program" $EGRESS_DNS_ARGS --listen "$DNS_LOOPBACK:53" --trusted-client 127.0.0.1 \
        --database "$var/db" 2>>"$var/egress-dns.log" &
    pids="$pids $!"
fi

if [ $engine = 1 ]; then
    echo "== squid on $gw: proxy $SQUID_PORT, intercepting HTTP $INTERCEPT_HTTP_PORT, HTTPS $INTERCEPT_HTTPS_PORT"
    WORKSPACE_NETS=$WORKSPACE_SUBNET
else
    echo "== squid on 127.0.0.1:$SQUID_PORT"
fi
squid_conf_write
chown -R proxy:proxy "$var/squid"
# Check the whole configuration before starting (what an administrator runs
# after installing the snippets).
if ! parse=$(squid -k parse -f "$var/squid/squid.conf" 2>&1) ||
    printf '%s\n' "$parse" | grep -E 'WARNING|ERROR|FATAL|Bungled' >&2; then
    echo "quickstart: squid -k parse -f $var/squid/squid.conf is not clean (above)" >&2
    exit 1
fi
echo "== squid -k parse: clean"
squid -N -f "$var/squid/squid.conf" >>"$var/squid/stdout.log" 2>&1 &
pids="$pids $!"
wait_port "$SQUID_PORT"

api="http://127.0.0.1:$API_PORT"
# What both modes' closing texts start with: where things are, how to sign in.
cat <<EOT

egress-policy is running (logs and store in $var; Ctrl-C stops everything).
  review page  $api/
               sign in with the admin token: the content of $var/admin-token
  API          $api/api/  (the same token as "Authorization: Bearer TOKEN"; docs/API.md)
EOT
if [ $engine = 1 ]; then
    cat <<EOT
  workspaces   network egress-ws ($WORKSPACE_SUBNET): HTTP and HTTPS intercepted by squid
               on $gw, no proxy settings needed; their DNS answered by egress-dns
               on $gw:53 (blocked names: NXDOMAIN); everything else is dropped
               (contrib/network/egress-net status shows the rules)

Try (in a root shell, in this order; P holds the project's id):
  TOKEN=\$(cat $var/admin-token)
  H="Authorization: Bearer \$TOKEN"
  # 1. allow one host for the default profile
  curl -s -X PUT $api/api/whitelist -H "\$H" -H 'Content-Type: application/json' -d '{"domains": ["example.org"]}'
  # 2. a security workspace: create it, then start it
  P=\$(curl -s -X POST $api/api/projects/create -H "\$H" -H 'Content-Type: application/json' \\
       -d '{"projectName": "Student", "proxyMode": "security"}' | sed -n 's/.*"projectId":"\\([0-9a-f]*\\)".*/\\1/p'); echo "project \$P"
  curl -s -X POST $api/api/projects/\$P/start -H "\$H"
  # 3. inside it, without any proxy setting
  docker exec workspace-\$P curl -sI https://example.org/     # allowed: 200
  docker exec workspace-\$P curl -sI http://example.com/      # blocked: our 403 page
  docker exec workspace-\$P curl -sI https://example.com/     # blocked: closed at once (curl: exit 35)
  docker exec workspace-\$P getent hosts example.com          # blocked: no address (egress-dns, NXDOMAIN)
  # 4. what it tried
  curl -s $api/api/projects/\$P/recorded-domains -H "\$H"

Reference: docs/API.md, README.md ("Network isolation")
EOT
    wait
    exit 0
fi
cat <<EOT
  proxy        http://127.0.0.1:$SQUID_PORT  (set HTTP_PROXY/HTTPS_PROXY in a workspace)

Try (in a root shell, in this order; P holds the project's id):
  TOKEN=\$(cat $var/admin-token)
  H="Authorization: Bearer \$TOKEN"
  # 1. a logging workspace (records every host it reaches)
  P=\$(curl -s -X POST $api/api/projects/create -H "\$H" -H 'Content-Type: application/json' \\
       -d '{"projectName": "Teacher", "proxyMode": "logging"}' | sed -n 's/.*"projectId":"\\([0-9a-f]*\\)".*/\\1/p'); echo "project \$P"
  # 2. this machine (127.0.0.1) is its workspace
  curl -s -X PUT $api/api/projects/\$P/ip -H "\$H" -H 'Content-Type: application/json' -d '{"ipAddress": "127.0.0.1"}'
  # 3. browse through the proxy (the answer's status)
  curl -s -o /dev/null -w '%{http_code}\\n' -x http://127.0.0.1:$SQUID_PORT $TRY_URL
  # 4. what it reached (counts are written within a second), also on the review page
  curl -s $api/api/projects/\$P/recorded-domains -H "\$H"

Reference: docs/API.md
EOT
wait

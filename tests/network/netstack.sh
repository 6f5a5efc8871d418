# shellcheck shell=bash
# netstack.sh: the workspace network end to end, for the tests of this
# folder. Everything runs inside a network and mount namespace the test
# makes: dockerd, contrib/network/egress-net, egress-api, c-icap with
# srv_egress.so, and squid-openssl installed as an administrator installs it
# on Debian: the package's own /etc/squid/squid.conf, untouched, which
# includes /etc/squid/conf.d/*.conf, where contrib/squid/egress-policy.conf
# goes, with the snippets it includes in /etc/squid/egress-policy/ (the
# test's own copy of /etc/squid is bind-mounted over it in the test's mount
# namespace; only paths, the ICAP port and the helper's flush interval are
# adjusted in the snippets, as their comments say to). The "internet" is a
# second namespace behind a veth pair: origins on TEST-NET addresses, an
# "attacker" among them, a private-range server, a fake cloud metadata
# service on 169.254.169.254, and dnsmasq answering the test names.
# No packet leaves the namespaces.
#
#   . "$top_srcdir/tests/network/netstack.sh"
#   netstack_check_tools || exit $?    # 77 when a tool is missing
#   netstack_enter "$@"                 # re-runs the script in namespaces of its own
#   netstack_outside                    # the outside namespace
#   netstack_engine                     # dockerd and the workspace image
#   netcmd up                           # egress-net with the test's options
#   netstack_services                   # egress-api, c-icap, squid
#
# The decision path is chosen by EP_INTERCEPT_POLICY: "acl" (the default:
# egress-intercept.conf and egress-acl.conf, the helper decides) or "icap"
# (egress-intercept-icap.conf and egress.conf, c-icap decides).
#
# Helpers for the tests: api METHOD PATH [JSON], project_id, recorded ID
# HOST, recorded_wait ID HOST WANT, ws_exec ID CMD..., wcurl ID CURLARGS...,
# ws_raw ID ADDR PORT BYTES (a hand-written request over bash's /dev/tcp),
# outside_count NAME (packets an iptables counter of the outside saw),
# reached ADDR ("SYNS REQUESTS": TCP connections opened to ADDR, counted
# by iptables, and requests its origins logged, a request over a
# connection opened earlier included) for the attacker, the private-range
# server, the metadata service and the host's service address (for the
# whitelisted origin: connections to its port 8080, requests on any port).

. "${top_srcdir:-.}/tests/lib/dockerd.sh"
. "${top_srcdir:-.}/tests/lib/check.sh"
. "${top_srcdir:-.}/tests/lib/stack.sh"

API="${top_builddir:-.}/api/egress-api"
NET_CMD="${top_srcdir:-.}/contrib/network/egress-net"
POLICY=${EP_INTERCEPT_POLICY:-acl}
TOKEN=network-test-admin-token-0123456789
IMAGE=localhost/ws-test:latest
NETWORK=egress-ws # egress-api's default network: not passed to it
GW=172.30.0.1
SUBNET=172.30.0.0/24
ALLOWED=198.51.100.10
OTHER=198.51.100.11
BASE=198.51.100.12
DENIED=203.0.113.20
ATTACKER=203.0.113.66
PRIVATE=10.99.0.10
METADATA=169.254.169.254
DNS=198.51.100.53
DNS_OTHER=198.51.100.54 # a resolver the workspaces must not reach
HOST_SERVICE=192.0.2.80 # an address of the host itself, not loopback
# squid's ports: the defaults of egress-net and of the snippets (the test
# has a network namespace of its own).
PROXY_PORT=3128
HTTP_PORT=3129
HTTPS_PORT=3130
OUT=ep-out
PIDS=

netstack_check_tools() {
    dockerd_have_tools || return 77
    for tool in squid c-icap c-icap-client dnsmasq iptables ip6tables iptables-save openssl bash; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "$0: $tool is not installed (contrib/install-deps.sh --test)"
            return 77
        }
    done
    squid -v | grep -q -- '--with-openssl' || {
        echo "$0: this squid has no TLS (apt-get install squid-openssl)"
        return 77
    }
    [ "$(id -u)" = 0 ] || {
        echo "$0: needs root (namespaces, dockerd); run make check as root"
        return 99
    }
    case $POLICY in
    acl | icap) ;;
    *)
        echo "$0: EP_INTERCEPT_POLICY=$POLICY: acl or icap"
        return 99
        ;;
    esac
    [ "$POLICY" = icap ] || [ -x "$top_builddir/acl/egress-acl" ] || {
        echo "$0: acl/egress-acl is not built"
        return 99
    }
    [ -x "$API" ] && [ -x "$top_builddir/tests/lib/origin" ] || {
        echo "$0: egress-api or tests/lib/origin is not built"
        return 99
    }
    echo "$0: decisions by $POLICY"
}

# netstack_enter ARGS: outside the namespaces, run this script again inside
# new ones and end whatever is left in them afterwards; inside, return.
netstack_enter() {
    local state inner rc ns p pid
    if [ "${EP_NET_INNER:-}" = 1 ]; then
        readlink /proc/self/ns/net >"$EP_NET_STATE"
        mount -t tmpfs tmpfs /run || exit 99
        ip link set lo up || exit 99
        stack_init || exit 99
        work=$STACK_DIR
        trap netstack_cleanup EXIT
        trap 'exit 99' INT TERM HUP
        return 0
    fi
    state=$(mktemp "${TMPDIR:-/tmp}/ep-net-state-XXXXXX") || exit 99
    EP_NET_INNER=1 EP_NET_STATE=$state unshare --net --mount --propagation private -- bash "$0" "$@" &
    inner=$!
    trap 'kill -TERM $inner 2>/dev/null' INT TERM HUP
    wait $inner
    rc=$?
    # Whatever still runs in the test's namespaces (containerd shims, a
    # process the inner cleanup missed) is ended by pid.
    for ns in $(cat "$state" 2>/dev/null); do
        for p in /proc/[0-9]*/ns/net; do
            [ "$(readlink "$p" 2>/dev/null)" = "$ns" ] || continue
            pid=${p#/proc/}
            kill -KILL "${pid%%/*}" 2>/dev/null
        done
    done
    rm -f "$state"
    exit $rc
}

netstack_cleanup() {
    local pid
    for pid in $PIDS; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in $PIDS; do
        stack_wait_gone "$pid" 10 >/dev/null 2>&1
    done
    dockerd_stop
    stack_cleanup
}

# outside_count NAME: packets the outside's counter ep-NAME has seen.
outside_count() {
    ip netns exec "$OUT" iptables -w -nvxL INPUT | awk -v c="ep-$1 " '$0 ~ c {print $1; exit}'
}
# host_count NAME: the same for a counter of the test's own namespace (the host).
host_count() {
    iptables -w -nvxL INPUT | awk -v c="ep-$1 " '$0 ~ c {print $1; exit}'
}

# start_origin NS ADDR PORT [TLS]: an origin in namespace NS ("-": the
# host's) logging its requests to $work/requests-ADDR.log.
start_origin() {
    local ns=$1
    shift
    local -a cmd=("$top_builddir/tests/lib/origin" -a "$1" -p "$2" -l "$work/requests-$1.log")
    [ -n "${3:-}" ] && cmd+=(-c "$work/origin.pem" -k "$work/origin.key")
    if [ "$ns" = - ]; then
        "${cmd[@]}" >"$work/origin-$1-$2.log" 2>&1 &
    else
        ip netns exec "$ns" "${cmd[@]}" >"$work/origin-$1-$2.log" 2>&1 &
    fi
    PIDS="$PIDS $!"
}

reached() {
    local syns
    case $1 in
    "$ATTACKER") syns=$(outside_count attacker) ;;
    "$ALLOWED") syns=$(outside_count allowed-8080) ;;
    "$PRIVATE") syns=$(outside_count private) ;;
    "$METADATA") syns=$(outside_count metadata) ;;
    "$HOST_SERVICE") syns=$(host_count host-service) ;;
    *) return 1 ;;
    esac
    echo "$syns $(cat "$work/requests-$1.log" 2>/dev/null | wc -l)"
}

# The outside namespace with its servers and counters, the resolver, the
# test CA, and a service on an address of the host itself.
netstack_outside() {
    local a
    echo "nameserver $DNS" >"$work/resolv.conf"
    mount --bind "$work/resolv.conf" /etc/resolv.conf || exit 99
    ip netns add "$OUT" || exit 99
    ip netns exec "$OUT" readlink /proc/self/ns/net >>"$EP_NET_STATE"
    ip link add ep-h type veth peer name ep-o && ip link set ep-o netns "$OUT" &&
        ip addr add 10.255.0.1/30 dev ep-h && ip link set ep-h up &&
        ip -n "$OUT" addr add 10.255.0.2/30 dev ep-o && ip -n "$OUT" link set ep-o up &&
        ip -n "$OUT" link set lo up && ip -n "$OUT" route add default via 10.255.0.1 &&
        ip route add 198.51.100.0/24 via 10.255.0.2 && ip route add 203.0.113.0/24 via 10.255.0.2 &&
        ip route add $PRIVATE/32 via 10.255.0.2 && ip route add $METADATA/32 via 10.255.0.2 || exit 99
    for a in $ALLOWED $OTHER $BASE $DENIED $ATTACKER $PRIVATE $METADATA $DNS $DNS_OTHER; do
        ip -n "$OUT" addr add "$a/32" dev lo || exit 99
    done
    ip addr add $HOST_SERVICE/32 dev lo || exit 99
    # Counters of what reaches the outside: UDP 443, ICMP echo, SYNs to the
    # denied origin's HTTPS port, and every TCP connection opened to the
    # attacker, the private-range server and the metadata service, on any
    # port; on the host, every TCP connection to its service address.
    ip netns exec "$OUT" iptables -w -A INPUT -p udp --dport 443 -m comment --comment ep-udp &&
        ip netns exec "$OUT" iptables -w -A INPUT -p icmp --icmp-type echo-request -m comment --comment ep-icmp &&
        ip netns exec "$OUT" iptables -w -A INPUT -p tcp -d $DENIED --dport 443 --syn -m comment --comment ep-tls-denied &&
        ip netns exec "$OUT" iptables -w -A INPUT -p tcp -d $ATTACKER --syn -m comment --comment ep-attacker &&
        ip netns exec "$OUT" iptables -w -A INPUT -p tcp -d $ALLOWED --dport 8080 --syn -m comment --comment ep-allowed-8080 &&
        ip netns exec "$OUT" iptables -w -A INPUT -p tcp -d $PRIVATE --syn -m comment --comment ep-private &&
        ip netns exec "$OUT" iptables -w -A INPUT -p tcp -d $METADATA --syn -m comment --comment ep-metadata &&
        iptables -w -A INPUT -p tcp -d $HOST_SERVICE --syn -m comment --comment ep-host-service || exit 99

    # The test CA and one origin certificate for every test name and address.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=egress network test CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=allowed.test" \
            -keyout "$work/origin.key" -out "$work/origin.csr" 2>/dev/null &&
        printf 'subjectAltName=DNS:allowed.test,DNS:other.test,DNS:denied.test,DNS:base.test,DNS:attacker.test,IP:%s,IP:%s,IP:%s,IP:%s\n' \
            $ALLOWED $OTHER $DENIED $ATTACKER >"$work/san.ext" &&
        openssl x509 -req -in "$work/origin.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
            -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/origin.pem" 2>/dev/null &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=squid intercept" -keyout "$work/squid.pem" -out "$work/squid.crt" 2>/dev/null &&
        cat "$work/squid.crt" >>"$work/squid.pem" || exit 99

    for a in $ALLOWED $OTHER $BASE $DENIED $ATTACKER; do
        start_origin "$OUT" "$a" 80
        start_origin "$OUT" "$a" 443 tls
    done
    start_origin "$OUT" $ALLOWED 8080
    start_origin "$OUT" $ATTACKER 8080
    start_origin "$OUT" $PRIVATE 80
    start_origin "$OUT" $METADATA 80
    start_origin - $HOST_SERVICE 80
    ip netns exec "$OUT" dnsmasq -k --no-resolv --no-hosts --bind-interfaces --listen-address=$DNS \
        --user=root --pid-file="$work/dnsmasq.pid" --log-facility="$work/dnsmasq.log" \
        --address=/allowed.test/$ALLOWED --address=/other.test/$OTHER --address=/denied.test/$DENIED \
        --address=/base.test/$BASE --address=/attacker.test/$ATTACKER \
        --address=/private.test/$PRIVATE --address=/metadata.test/$METADATA \
        --address=/host-service.test/$HOST_SERVICE &
    PIDS="$PIDS $!"
    ip netns exec "$OUT" dnsmasq -k --no-resolv --no-hosts --bind-interfaces --listen-address=$DNS_OTHER \
        --user=root --pid-file="$work/dnsmasq-other.pid" --address=/allowed.test/$ALLOWED &
    PIDS="$PIDS $!"
}

netstack_engine() {
    dockerd_start_here "$work/engine" || exit 99
    DOCKERD_IMAGE_BINARIES="/usr/bin/curl /bin/bash" DOCKERD_IMAGE_FILES="$work/ca.pem:/etc/test-ca.pem" \
        dockerd_build_image "$IMAGE" || exit 99
    export DOCKER_HOST=unix://$DOCKERD_SOCK
}

netcmd() {
    "$NET_CMD" --dns $DNS "$@"
}

# The snippet SRC as installed for this test: the helper (a copy squid's
# user can run, wherever the build is), the store, the error directory and
# the ICAP port of this test.
install_snippet() {
    sed -e "s#/usr/bin/egress-acl #$work/bin/egress-acl #" \
        -e "s#--database /var/lib/egress-policy#--database $work/store --flush-interval 200ms#" \
        -e "s#^error_directory .*#error_directory $work/squid-errors#" \
        -e "s#icap://127.0.0.1:1344/egress#icap://127.0.0.1:$ICAP_PORT/egress#" \
        "$top_srcdir/contrib/squid/$1"
}

# egress-api (admin token, base domain base.test), c-icap (also on the
# gateway, where no workspace may reach it) and squid in Debian's layout.
netstack_services() {
    local f
    printf '%s\n' "$TOKEN" >"$work/token"
    chmod 600 "$work/token"
    echo "base.test" >"$work/base-domains"
    API_PORT=$(stack_free_port)
    mkdir -p "$work/store"
    "$API" --db "$work/store" --listen "0.0.0.0:$API_PORT" --admin-token-file "$work/token" \
        --docker-socket "$DOCKERD_SOCK" --workspace-image "$IMAGE" --max-readers 1024 \
        --base-domains "$work/base-domains" --stop-timeout 1 --bcrypt-cost 10 2>"$work/api.log" &
    PIDS="$PIDS $!"
    stack_wait_port "$API_PORT" 20 || {
        cat "$work/api.log"
        exit 99
    }
    # The helper runs as squid's user and records: the store must be its.
    chown -R proxy:proxy "$work/store"
    ICAP_GW_PORT=$(stack_free_port)
    stack_start_icap "$work/store" "Port $GW:$ICAP_GW_PORT" || exit 99

    # squid as installed: the package's squid.conf, our one file in conf.d.
    SQUID_STOCK_OK=0
    dpkg --verify squid-openssl 2>/dev/null | grep -q ' /etc/squid/' || SQUID_STOCK_OK=1
    cp -a /etc/squid "$work/etc-squid" || exit 99
    mkdir -p "$work/squid-log" "$work/squid-spool" "$work/squid-errors" "$work/bin"
    mount --bind "$work/etc-squid" /etc/squid && mount --bind "$work/squid-log" /var/log/squid &&
        mount --bind "$work/squid-spool" /var/spool/squid || exit 99
    cp /usr/share/squid/errors/templates/* "$top_srcdir/contrib/squid/errors/ERR_EGRESS_DENIED" \
        "$work/squid-errors/" || exit 99
    [ "$POLICY" = icap ] || cp "$top_builddir/acl/egress-acl" "$work/bin/" || exit 99
    cp "$work/squid.pem" /etc/squid/egress-intercept.pem && chmod 640 /etc/squid/egress-intercept.pem || exit 99
    mkdir -p /etc/squid/egress-policy
    for f in egress-guard.conf egress-intercept.conf egress-acl.conf egress-intercept-icap.conf egress.conf; do
        install_snippet "$f" >"/etc/squid/egress-policy/$f" || exit 99
    done
    # The one file in conf.d, with the decision path of this run and the
    # documented extra port for CONNECT tunnels (8080, opened by a rule in
    # the tests).
    if [ "$POLICY" = acl ]; then
        sed -e 's/^#\(acl SSL_ports port\) 22$/\1 8080/' "$top_srcdir/contrib/squid/egress-policy.conf"
    else
        sed -e 's/^#\(acl SSL_ports port\) 22$/\1 8080/' \
            -e 's#^include \(/etc/squid/egress-policy/egress-intercept.conf\)#\#include \1#' \
            -e 's#^include \(/etc/squid/egress-policy/egress-acl.conf\)#\#include \1#' \
            -e 's#^\#include \(/etc/squid/egress-policy/egress-intercept-icap.conf\)#include \1#' \
            -e 's#^\#include \(/etc/squid/egress-policy/egress.conf\)#include \1#' \
            "$top_srcdir/contrib/squid/egress-policy.conf"
    fi >/etc/squid/conf.d/egress-policy.conf
    # EP_NETSTACK_DNS=egress-dns: squid resolves through egress-dns on
    # loopback, as the conf.d file's dns_nameservers block says to.
    if [ "${EP_NETSTACK_DNS:-}" = egress-dns ]; then
        sed -i -e 's/^#dns_nameservers /dns_nameservers /' -e 's/^#negative_dns_ttl /negative_dns_ttl /' \
            /etc/squid/conf.d/egress-policy.conf || exit 99
    fi
    # What a test run needs beside the installation: no cache (the origins
    # count requests), quick shutdown, a log line with the decision.
    {
        echo "cache deny all"
        echo "pinger_enable off"
        echo "shutdown_lifetime 1 seconds"
        if [ "$POLICY" = acl ]; then
            echo "logformat egress %ts.%03tu %>a %Ss/%03>Hs %rm %ru \"%ea\" la=%>la:%>lp hier=%Sh/%<a"
        else
            echo "logformat egress %ts.%03tu %>a %Ss/%03>Hs %rm %ru \"%{X-Egress-Reason}>ha\" la=%>la:%>lp hier=%Sh/%<a"
        fi
        echo "access_log stdio:/var/log/squid/egress.log egress"
    } >/etc/squid/conf.d/00-test.conf
    chown -R proxy:proxy "$work/squid-log" "$work/squid-spool" "$work/squid-errors" "$work/bin"
    chgrp proxy /etc/squid/egress-intercept.pem
    SQUID_LOG=$work/squid-log
    SQUID_PARSE=$(squid -k parse 2>&1)
    SQUID_PARSE_RC=$?
    squid -N >"$work/squid-stdout.log" 2>&1 &
    PIDS="$PIDS $!"
    for p in $PROXY_PORT $HTTP_PORT $HTTPS_PORT; do
        stack_wait_port "$p" 30 || {
            cat "$work/squid-stdout.log" "$SQUID_LOG/cache.log"
            exit 99
        }
    done
}

netstack_dump_logs() {
    echo "--- squid access log:"
    tail -40 "$SQUID_LOG/egress.log"
    echo "--- squid cache log:"
    grep -v '^$' "$SQUID_LOG/cache.log" | tail -20
}

# --- the API and the workspaces ----------------------------------------------------
api() { # METHOD PATH [JSON] -> "STATUS BODY"
    local out
    out=$(curl -sS --noproxy '*' -X "$1" -H "Authorization: Bearer $TOKEN" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
        -w '\n%{http_code}' "http://127.0.0.1:$API_PORT$2")
    printf '%s %s\n' "$(printf '%s' "$out" | tail -n 1)" "$(printf '%s' "$out" | sed '$d')"
}
project_id() { sed -n 's/.*"projectId":"\([a-z0-9-]*\)".*/\1/p'; }
project_ip() { api GET "/api/projects/$1" | grep -o '"ipAddress":"[^"]*"' | cut -d'"' -f4; }
# recorded ID HOST: "count allowed denied lastVerdict" of HOST in ID's recorded domains.
recorded() {
    api GET "/api/projects/$1/recorded-domains" |
        grep -o "\"$2\":{[^}]*}" | sed -e 's/.*"count":\([0-9]*\).*"allowed":\([0-9]*\).*"denied":\([0-9]*\).*"lastVerdict":"\([a-z]*\)".*/\1 \2 \3 \4/'
}

# recorded_wait ID HOST WANT: the record of HOST once it reads WANT (the
# counts are flushed every 200 ms), or what it reads after 10 s.
recorded_wait() {
    local i got
    for i in $(seq 1 50); do
        got=$(recorded "$1" "$2")
        [ "$got" = "$3" ] && break
        sleep 0.2
    done
    echo "$got"
}

# ws_exec ID CMD...: run CMD in container workspace-ID (a workspace, or
# the probe); prints its output.
ws_exec() {
    local id=$1 arg cmd='' eid
    shift
    for arg in "$@"; do
        arg=${arg//\\/\\\\}
        cmd="$cmd${cmd:+,}\"${arg//\"/\\\"}\""
    done
    eid=$(dockerd_api POST "/containers/workspace-$id/exec" -H 'Content-Type: application/json' \
        --data "{\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":true,\"Cmd\":[$cmd]}" |
        grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4)
    curl -sS --max-time 30 --unix-socket "$DOCKERD_SOCK" -X POST -H 'Content-Type: application/json' \
        --data '{"Detach":false,"Tty":true}' "http://localhost/exec/$eid/start" | tr -d '\r'
}
# wcurl ID ARGS...: curl in the workspace with the test CA; the output ends
# with "code=HTTP-STATUS exit=CURL-EXIT".
wcurl() {
    local id=$1
    shift
    ws_exec "$id" sh -c 'curl -sS --max-time 8 --connect-timeout 3 --cacert /etc/test-ca.pem -w "\ncode=%{http_code} connect=%{http_connect}" "$@"; echo " exit=$?"' sh "$@" |
        tr '\n' ' '
}
# ws_raw ID ADDR PORT BYTES: write BYTES (printf %b escapes: \r\n) to a TCP
# connection the workspace opens to ADDR:PORT, and print what comes back
# until the connection closes, or stays silent for 5 s before the first
# line or 0.5 s after a line ("connect failed" when it cannot be opened).
# Written by hand so no client adds anything.
ws_raw() {
    ws_exec "$1" bash -c 'exec 3<>"/dev/tcp/$1/$2" || { echo "connect failed"; exit; }; printf "%b" "$3" >&3; t=5; while IFS= read -r -t $t line <&3; do printf "%s\n" "$line"; t=0.5; done; printf "%s" "$line"' sh "$2" "$3" "$4" | tr '\r\n' '  '
}

#!/bin/bash
# The workspace network end to end: contrib/network/egress-net, squid-openssl
# intercepting, egress-api with a real dockerd, all inside one network and
# mount namespace this test makes. The decision path is chosen by
# EP_INTERCEPT_POLICY: "acl" (the default) is contrib/squid/egress-intercept.conf
# with egress-acl.conf (the external ACL helper acl/egress-acl decides the SNI
# at ssl_bump step 2 and the Host of plain HTTP), "icap" is
# egress-intercept-icap.conf with egress.conf (c-icap with srv_egress.so
# decides; test-intercept-icap.sh runs that). c-icap runs in both (its port
# must be unreachable from workspaces). The "internet" is a second namespace
# behind a veth pair: origins (HTTP and HTTPS with a test CA) on TEST-NET
# addresses and dnsmasq answering the test names. No packet leaves.
#
# From real workspace containers with no proxy variables: allowed HTTP and
# HTTPS (origin's certificate), denied HTTP (our 403 page) and HTTPS (closed
# at once with nothing written (acl) or squid's 403 as a TLS error (icap),
# never forwarded, recorded as denied once), origin-form requests (a raw
# "GET /path" with a Host header), Host and SNI forgery, TLS without SNI and
# ip: rules, other ports, UDP 443, ICMP, another workspace, egress-api and
# c-icap ports unreachable, the explicit proxy, a logging workspace's
# recorded hosts and counts, mode and whitelist changes on the next
# connection; egress-net up twice adds nothing twice, down refuses with
# workspaces attached, and restores the firewall exactly.
# Skips (77) only when a tool is missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-.}/tests/lib/dockerd.sh"
. "${top_srcdir:-.}/tests/lib/check.sh"
. "${top_srcdir:-.}/tests/lib/stack.sh"

dockerd_have_tools || exit 77
for tool in squid c-icap c-icap-client dnsmasq iptables ip6tables iptables-save openssl bash; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "test-intercept: $tool is not installed (contrib/install-deps.sh --test)"
        exit 77
    }
done
squid -v | grep -q -- '--with-openssl' || {
    echo "test-intercept: this squid has no TLS (apt-get install squid-openssl)"
    exit 77
}
[ "$(id -u)" = 0 ] || {
    echo "test-intercept: needs root (namespaces, dockerd); run make check as root"
    exit 99
}
API="${top_builddir:-.}/api/egress-api"
POLICY=${EP_INTERCEPT_POLICY:-acl}
case $POLICY in
acl | icap) ;;
*)
    echo "test-intercept: EP_INTERCEPT_POLICY=$POLICY: acl or icap"
    exit 99
    ;;
esac
[ "$POLICY" = icap ] || [ -x "$top_builddir/acl/egress-acl" ] || {
    echo "test-intercept: acl/egress-acl is not built"
    exit 99
}
echo "test-intercept: decisions by $POLICY"
NET_CMD="${top_srcdir:-.}/contrib/network/egress-net"
[ -x "$API" ] && [ -x "$top_builddir/tests/lib/origin" ] || {
    echo "test-intercept: egress-api or tests/lib/origin is not built"
    exit 99
}

# --- outside: run the test in namespaces of its own, then end what is left --
if [ "${EP_NET_INNER:-}" != 1 ]; then
    state=$(mktemp "${TMPDIR:-/tmp}/ep-net-state-XXXXXX") || exit 99
    EP_NET_INNER=1 EP_NET_STATE=$state unshare --net --mount --propagation private -- bash "$0" &
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
fi

# --- inside ----------------------------------------------------------------------
readlink /proc/self/ns/net >"$EP_NET_STATE"
mount -t tmpfs tmpfs /run || exit 99
ip link set lo up || exit 99

TOKEN=network-test-admin-token-0123456789
IMAGE=localhost/ws-test:latest
NETWORK=egress-ws # egress-api's default network: not passed to it
GW=172.30.0.1
ALLOWED=198.51.100.10
OTHER=198.51.100.11
DENIED=203.0.113.20
DNS=198.51.100.53
DNS_OTHER=198.51.100.54 # a resolver the workspaces must not reach
OUT=ep-out
PIDS=
stack_init || exit 99
work=$STACK_DIR

cleanup() {
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
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

# --- the outside namespace: origins and DNS ----------------------------------
echo "nameserver $DNS" >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf || exit 99
ip netns add "$OUT" || exit 99
readlink /run/netns/"$OUT" >/dev/null
echo "$(ip netns exec "$OUT" readlink /proc/self/ns/net)" >>"$EP_NET_STATE"
ip link add ep-h type veth peer name ep-o && ip link set ep-o netns "$OUT" &&
    ip addr add 10.255.0.1/30 dev ep-h && ip link set ep-h up &&
    ip -n "$OUT" addr add 10.255.0.2/30 dev ep-o && ip -n "$OUT" link set ep-o up &&
    ip -n "$OUT" link set lo up && ip -n "$OUT" route add default via 10.255.0.1 &&
    ip route add 198.51.100.0/24 via 10.255.0.2 && ip route add 203.0.113.0/24 via 10.255.0.2 || exit 99
for a in $ALLOWED $OTHER $DENIED $DNS $DNS_OTHER; do
    ip -n "$OUT" addr add "$a/32" dev lo || exit 99
done
# Counters of what reaches the outside: UDP 443 and ICMP echo.
ip netns exec "$OUT" iptables -w -A INPUT -p udp --dport 443 -m comment --comment ep-udp || exit 99
ip netns exec "$OUT" iptables -w -A INPUT -p icmp --icmp-type echo-request -m comment --comment ep-icmp ||
    exit 99
# TCP connections opened to the denied origin's HTTPS port (SYNs).
ip netns exec "$OUT" iptables -w -A INPUT -p tcp -d $DENIED --dport 443 --syn -m comment --comment ep-tls-denied ||
    exit 99
outside_count() { # udp|icmp|tls-denied: packets counted so far
    ip netns exec "$OUT" iptables -w -nvxL INPUT | awk -v c="ep-$1" '$0 ~ c {print $1; exit}'
}

# The test CA and one origin certificate for every test name and address.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=egress network test CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=allowed.test" \
        -keyout "$work/origin.key" -out "$work/origin.csr" 2>/dev/null &&
    printf 'subjectAltName=DNS:allowed.test,DNS:other.test,DNS:denied.test,IP:%s,IP:%s,IP:%s\n' \
        $ALLOWED $OTHER $DENIED >"$work/san.ext" &&
    openssl x509 -req -in "$work/origin.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
        -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/origin.pem" 2>/dev/null &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=squid intercept" -keyout "$work/squid.pem" -out "$work/squid.crt" 2>/dev/null &&
    cat "$work/squid.crt" >>"$work/squid.pem" || exit 99

start_origin() { # ADDR PORT [TLS]
    ip netns exec "$OUT" "$top_builddir/tests/lib/origin" -a "$1" -p "$2" \
        ${3:+-c "$work/origin.pem" -k "$work/origin.key"} >"$work/origin-$1-$2.log" 2>&1 &
    PIDS="$PIDS $!"
}
for a in $ALLOWED $OTHER $DENIED; do
    start_origin "$a" 80
    start_origin "$a" 443 tls
done
start_origin $ALLOWED 8080
ip netns exec "$OUT" dnsmasq -k --no-resolv --no-hosts --bind-interfaces --listen-address=$DNS \
    --user=root --pid-file="$work/dnsmasq.pid" --log-facility="$work/dnsmasq.log" \
    --address=/allowed.test/$ALLOWED --address=/other.test/$OTHER --address=/denied.test/$DENIED &
PIDS="$PIDS $!"
ip netns exec "$OUT" dnsmasq -k --no-resolv --no-hosts --bind-interfaces --listen-address=$DNS_OTHER \
    --user=root --pid-file="$work/dnsmasq-other.pid" --address=/allowed.test/$ALLOWED &
PIDS="$PIDS $!"

# --- the engine, the network ---------------------------------------------------
fw_dump() {
    { iptables-save && ip6tables-save; } | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
}
dockerd_start_here "$work/engine" || exit 99
DOCKERD_IMAGE_BINARIES="/usr/bin/curl /bin/bash" DOCKERD_IMAGE_FILES="$work/ca.pem:/etc/test-ca.pem" \
    dockerd_build_image "$IMAGE" || exit 99
export DOCKER_HOST=unix://$DOCKERD_SOCK
HTTP_PORT=$(stack_free_port) HTTPS_PORT=$(stack_free_port) PROXY_PORT=$(stack_free_port)
netcmd() {
    "$NET_CMD" --dns $DNS --http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" --proxy-port "$PROXY_PORT" "$@"
}
before=$(fw_dump)
out=$(netcmd status)
expect_eq "status before up: exit 1" "$?" 1
out=$(netcmd up 2>&1)
expect_eq "egress-net up: exit 0" "$?" 0
expect_match "it made the network" "$out" "created network $NETWORK"
after_up=$(fw_dump)
out=$(netcmd up 2>&1)
expect_eq "up again: exit 0" "$?" 0
expect_eq "up twice adds nothing twice" "$(fw_dump)" "$after_up"
out=$(netcmd status)
expect_eq "status after up: exit 0" "$?" 0
expect_match "status shows the network without ICC" "$out" "inter-container traffic off"
expect_no_match "status: nothing missing" "$out" "MISSING"

# --- c-icap, egress-api, squid --------------------------------------------------------
printf '%s\n' "$TOKEN" >"$work/token"
chmod 600 "$work/token"
API_PORT=$(stack_free_port)
mkdir -p "$work/store"
"$API" --db "$work/store" --listen "0.0.0.0:$API_PORT" --admin-token-file "$work/token" \
    --docker-socket "$DOCKERD_SOCK" --workspace-image "$IMAGE" --max-readers 1024 \
    --stop-timeout 1 --bcrypt-cost 10 2>"$work/api.log" &
PIDS="$PIDS $!"
stack_wait_port "$API_PORT" 20 || {
    cat "$work/api.log"
    exit 99
}
expect_match "egress-api uses the workspace network by default" "$(cat "$work/api.log")" "network $NETWORK"
# The helper runs as squid's user and records: the store must be its.
chown -R proxy:proxy "$work/store"
ICAP_GW_PORT=$(stack_free_port)
# c-icap also listens on the gateway, so a workspace could reach it if the
# firewall let it.
stack_start_icap "$work/store" "Port $GW:$ICAP_GW_PORT" || exit 99

sq=$work/squid
mkdir -p "$sq/logs" "$sq/errors"
cp /usr/share/squid/errors/templates/* "$sq/errors/"
cp "$top_srcdir/contrib/squid/errors/ERR_EGRESS_DENIED" "$sq/errors/"
cp "$work/squid.pem" "$sq/intercept.pem"
if [ "$POLICY" = acl ]; then
    # squid runs the helper as user proxy: a copy it can reach (tests/lib/stack.sh).
    ACL=$(stack_squid_exec "$top_builddir/acl/egress-acl") || exit 99
fi
{
    echo "http_port $GW:$PROXY_PORT"
    echo "pid_filename $sq/squid.pid"
    echo "visible_hostname egress-test"
    echo "dns_nameservers $DNS"
    echo "cache deny all"
    echo "cache_mem 8 MB"
    echo "pinger_enable off"
    echo "icp_port 0"
    echo "htcp_port 0"
    echo "snmp_port 0"
    echo "shutdown_lifetime 1 seconds"
    echo "coredump_dir $sq"
    echo "logformat egress %ts.%03tu %>a %Ss/%03>Hs %rm %ru \"%{X-Egress-Reason}>ha\" \"%ea\" sni=%ssl::>sni la=%>la"
    echo "access_log stdio:$sq/logs/access.log egress"
    echo "cache_log $sq/logs/cache.log"
    echo "cache_store_log none"
    echo "acl workspaces src 172.30.0.0/24"
    if [ "$POLICY" = acl ]; then
        helper="$ACL --database $work/store --flush-interval 200ms"
        sed -e "s#172\.30\.0\.1:3129#$GW:$HTTP_PORT#" -e "s#172\.30\.0\.1:3130#$GW:$HTTPS_PORT#" \
            -e "s#tls-cert=/etc/squid/egress-intercept.pem#tls-cert=$sq/intercept.pem#" \
            -e "s#/usr/bin/egress-acl --database /var/lib/egress-policy#$helper#" \
            "$top_srcdir/contrib/squid/egress-intercept.conf"
        sed -e "s#/usr/bin/egress-acl --database /var/lib/egress-policy#$helper#" \
            -e "s#^error_directory .*#error_directory $sq/errors#" "$top_srcdir/contrib/squid/egress-acl.conf"
        echo "http_access allow workspaces"
        echo "http_access deny all"
    else
        sed -e "s#172\.30\.0\.1:3129#$GW:$HTTP_PORT#" -e "s#172\.30\.0\.1:3130#$GW:$HTTPS_PORT#" \
            -e "s#tls-cert=/etc/squid/egress-intercept.pem#tls-cert=$sq/intercept.pem#" \
            "$top_srcdir/contrib/squid/egress-intercept-icap.conf"
        echo "http_access allow workspaces"
        echo "http_access deny all"
        sed -e "s#icap://127.0.0.1:1344/egress#icap://127.0.0.1:$ICAP_PORT/egress#" \
            -e "s#^error_directory .*#error_directory $sq/errors#" "$top_srcdir/contrib/squid/egress.conf"
    fi
} >"$sq/squid.conf"
chown -R proxy:proxy "$sq"
squid -N -f "$sq/squid.conf" >"$sq/stdout.log" 2>&1 &
PIDS="$PIDS $!"
for p in $PROXY_PORT $HTTP_PORT $HTTPS_PORT; do
    stack_wait_port "$p" 30 || {
        cat "$sq/stdout.log" "$sq/logs/cache.log"
        exit 99
    }
done

# --- the API and the workspaces ----------------------------------------------------
api() { # METHOD PATH [JSON] -> "STATUS BODY"
    local out
    out=$(curl -sS --noproxy '*' -X "$1" -H "Authorization: Bearer $TOKEN" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
        -w '\n%{http_code}' "http://127.0.0.1:$API_PORT$2")
    printf '%s %s\n' "$(printf '%s' "$out" | tail -n 1)" "$(printf '%s' "$out" | sed '$d')"
}
project_id() { sed -n 's/.*"projectId":"\([a-z0-9-]*\)".*/\1/p'; }
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
    local id=$1 extra='' arg cmd='' eid
    shift
    for arg in "$@"; do
        arg=${arg//\\/\\\\}
        cmd="$cmd${cmd:+,}\"${arg//\"/\\\"}\""
    done
    eid=$(dockerd_api POST "/containers/workspace-$id/exec" -H 'Content-Type: application/json' \
        --data "{\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":true,$extra\"Cmd\":[$cmd]}" |
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

expect_match "default whitelist: allowed.test" \
    "$(api PUT /api/whitelist '{"domains": ["allowed.test"]}')" '^200 '
A=$(api POST /api/projects/create '{"projectName": "Student", "proxyMode": "security"}' | project_id)
B=$(api POST /api/projects/create '{"projectName": "Teacher", "proxyMode": "logging"}' | project_id)
[ -n "$A" ] && [ -n "$B" ] || {
    echo "projects not created"
    cat "$work/api.log"
    exit 99
}
expect_match "start the student workspace" "$(api POST "/api/projects/$A/start")" '^200 '
expect_match "start the teacher workspace" "$(api POST "/api/projects/$B/start")" '^200 '
# The probe: a container on the workspace network with raw sockets
# (NET_RAW, root), which a workspace made by egress-api never has: the
# worst case for ICMP.
dockerd_api POST /containers/create?name=workspace-probe -H 'Content-Type: application/json' \
    --data "{\"Image\":\"$IMAGE\",\"User\":\"0\",\"HostConfig\":{\"NetworkMode\":\"$NETWORK\",\"CapAdd\":[\"NET_RAW\"]}}" \
    >/dev/null && dockerd_api POST /containers/workspace-probe/start >/dev/null || exit 99
ipA=$(api GET "/api/projects/$A" | grep -o '"ipAddress":"[^"]*"' | cut -d'"' -f4)
ipB=$(api GET "/api/projects/$B" | grep -o '"ipAddress":"[^"]*"' | cut -d'"' -f4)
expect_match "the student workspace is on the workspace subnet" "$ipA" '^172\.30\.0\.[0-9]+$'
env_a=$(ws_exec "$A" env)
expect_no_match "no proxy variables in the workspace" "$env_a" '[Pp][Rr][Oo][Xx][Yy]='

# --- security workspace, no proxy settings -----------------------------------------
out=$(wcurl "$A" http://allowed.test/)
expect_match "allowed HTTP: 200 from the origin" "$out" "origin host=allowed.test path=/"
expect_match "allowed HTTP: code 200" "$out" "code=200 .* exit=0"
out=$(wcurl "$A" -v https://allowed.test/)
expect_match "allowed HTTPS: 200 from the origin" "$out" "origin host=allowed.test path=/"
expect_match "allowed HTTPS: the origin's certificate (test CA, not re-signed)" "$out" \
    "issuer: CN=egress network test CA"
expect_match "allowed HTTPS: verified" "$out" "code=200 .* exit=0"

out=$(wcurl "$A" -H 'Accept: text/html' http://denied.test/page)
expect_match "denied HTTP: 403" "$out" "code=403"
expect_match "denied HTTP: our page naming the host" "$out" "denied\.test"
expect_match "denied HTTP: our template" "$out" "(egress|whitelist|policy)"
expect_eq "denied HTTP: recorded as denied, once" "$(recorded_wait "$A" denied.test "1 0 1 deny")" "1 0 1 deny"
syn0=$(outside_count tls-denied)
out=$(wcurl "$A" -v https://denied.test/)
echo "   curl in the workspace said: $(echo "$out" | grep -o 'curl: ([0-9]*) .*')"
if [ "$POLICY" = acl ]; then
    # ssl_bump terminate: squid closes the connection after reading the
    # ClientHello and writes nothing: no ServerHello, no alert, no page.
    # curl 7.88 with OpenSSL 3 reports "OpenSSL SSL_connect:
    # SSL_ERROR_SYSCALL": end of stream during the handshake with errno 0,
    # i.e. an orderly close (FIN), not a reset (that would read
    # "Connection reset by peer").
    expect_match "denied HTTPS: closed during the handshake, orderly (FIN, no reset)" "$out" \
        "SSL_connect: SSL_ERROR_SYSCALL.*code=000 .* exit=35"
    expect_no_match "denied HTTPS: squid wrote nothing (no 403 page where a ServerHello belongs)" "$out" \
        "wrong version number|HTTP/1|403"
else
    # ICAP: the step-2 CONNECT is denied by adapted_http_access, squid
    # writes its plain-text 403 where the client expects a ServerHello.
    expect_match "denied HTTPS: refused with a TLS error" "$out" "code=000 .* exit=35"
fi
expect_no_match "denied HTTPS: nothing from the origin" "$out" "origin host"
expect_eq "denied HTTPS: squid never connected to the denied origin" "$(outside_count tls-denied)" "$syn0"
# Not hung: the handshake ended (exit 35 above), not curl's own --max-time (exit 28).
expect_no_match "denied HTTPS: not hung (curl did not run into its time limit)" "$out" "exit=28"
expect_eq "denied HTTPS: recorded as denied, once (one TLS connection)" "$(recorded_wait "$A" denied.test "2 0 2 deny")" "2 0 2 deny"

# Origin-form requests, as a workspace sends them with no proxy (the
# request line has only the path; the host is in the Host header), written
# by hand so no client adds anything.
origin_form() { # ID ADDR HOST PATH
    ws_exec "$1" bash -c "exec 3<>/dev/tcp/$2/80 && printf 'GET $4 HTTP/1.1\r\nHost: $3\r\nAccept: text/html\r\nConnection: close\r\n\r\n' >&3 && cat <&3" |
        tr '\r\n' '  '
}
out=$(origin_form "$A" $ALLOWED allowed.test /of)
expect_match "origin-form GET /of, Host allowed.test: 200 from the origin" "$out" \
    "^HTTP/1.1 200 .*origin host=allowed.test path=/of"
out=$(origin_form "$A" $DENIED denied.test /of)
expect_match "origin-form GET /of, Host denied.test: our 403 page naming the host" "$out" \
    "^HTTP/1.1 403 .*denied\.test"
expect_no_match "origin-form, denied: nothing from the origin" "$out" "origin host"
expect_eq "origin-form, denied: recorded under the Host header's name" "$(recorded_wait "$A" denied.test "3 0 3 deny")" "3 0 3 deny"

out=$(wcurl "$A" -H 'Host: allowed.test' "http://$DENIED/")
expect_no_match "Host forgery to the denied address: nothing from the origin" "$out" "origin host"
expect_match "Host forgery: refused by squid (409)" "$out" "code=409"
out=$(wcurl "$A" --resolve "allowed.test:443:$DENIED" https://allowed.test/)
echo "   curl in the workspace said: $out"
expect_no_match "SNI forgery (--resolve) to the denied address: refused" "$out" "origin host|code=200"
expect_match "SNI forgery: the connection fails" "$out" "exit=(35|56)"
out=$(wcurl "$A" "https://$ALLOWED/")
expect_match "TLS without SNI to the allowed host's address: refused" "$out" "code=000 .* exit=(35|56)"
expect_match "add ip:$ALLOWED" "$(api POST /api/whitelist/domains "{\"domain\": \"ip:$ALLOWED\"}")" '^200 '
out=$(wcurl "$A" "https://$ALLOWED/")
expect_match "TLS without SNI, with the ip: rule: 200" "$out" "origin host=$ALLOWED.*code=200"

# --- what stays closed ------------------------------------------------------------
out=$(wcurl "$A" "http://$ALLOWED:8080/")
expect_match "another TCP port: unreachable" "$out" "code=000 .* exit=(7|28)"
out=$(curl -sS --max-time 5 "http://$ALLOWED:8080/" 2>&1)
expect_match "(that port answers from the host)" "$out" "origin host"
udp0=$(outside_count udp)
ws_exec "$A" bash -c "for i in 1 2 3; do echo quic >/dev/udp/$ALLOWED/443; done" >/dev/null
expect_eq "UDP 443 (QUIC): nothing arrives" "$(outside_count udp)" "$udp0"
expect_eq "(the counter reads 0)" "$udp0" 0
icmp0=$(outside_count icmp)
out=$(ws_exec probe ping -c 1 -W 1 $ALLOWED)
expect_eq "ICMP (ping with raw sockets): nothing arrives" "$(outside_count icmp)" "$icmp0"
expect_match "(the ping was sent)" "$out" "1 packets transmitted"
ws_exec "$B" sh -c 'nohup nc -ll -p 8000 -e echo hello-from-b >/dev/null 2>&1 &' >/dev/null
sleep 0.3
out=$(wcurl "$A" "http://$ipB:8000/")
expect_no_match "another workspace: unreachable on a port" "$out" "hello-from-b"
out=$(wcurl "$A" "http://$ipB/")
expect_match "another workspace: unreachable on port 80" "$out" "code=000"
out=$(ws_exec probe ping -c 1 -W 1 "$ipB")
expect_match "another workspace: no ping" "$out" " 0 packets received"
expect_match "(the ping was sent)" "$out" "1 packets transmitted" 
out=$(wcurl "$A" "http://$GW:$API_PORT/api/health")
expect_match "egress-api's port: unreachable" "$out" "code=000 .* exit=(7|28)"
expect_match "(egress-api answers on the gateway from the host)" \
    "$(curl -sS --max-time 5 "http://$GW:$API_PORT/api/health")" "ok|status"
out=$(ws_exec "$A" sh -c "echo OPTIONS | nc -w 3 $GW $ICAP_GW_PORT; echo rc=\$?")
expect_no_match "c-icap's port: unreachable" "$out" "ICAP/1.0"
expect_match "(c-icap answers on the gateway from the host)" \
    "$(c-icap-client -i $GW -p "$ICAP_GW_PORT" -s egress 2>&1)" "ICAP/1.0 200|Methods"
out=$(ws_exec "$A" nslookup allowed.test $DNS)
expect_match "DNS to the chosen resolver answers" "$out" "Address:? *(1: )?$ALLOWED"
out=$(ws_exec "$A" nslookup allowed.test $DNS_OTHER)
expect_no_match "DNS to another resolver: no answer" "$out" "$ALLOWED"
out=$(wcurl "$A" "http://$GW:22/")
expect_match "sshd's port on the host: unreachable" "$out" "code=000 .* exit=(7|28)"

# --- the explicit proxy still works -----------------------------------------------------
P=http://$GW:$PROXY_PORT
out=$(ws_exec "$A" env "http_proxy=$P" curl -sS --max-time 8 -w '\ncode=%{http_code}' http://allowed.test/ | tr '\n' ' ')
expect_match "explicit proxy, allowed HTTP: 200" "$out" "origin host=allowed.test.*code=200"
out=$(ws_exec "$A" env "http_proxy=$P" curl -sS --max-time 8 -w '\ncode=%{http_code}' http://denied.test/ | tr '\n' ' ')
expect_match "explicit proxy, denied HTTP: our 403" "$out" "denied\.test.*code=403"
out=$(wcurl "$A" -x "$P" https://allowed.test/)
expect_match "explicit proxy, allowed HTTPS: 200" "$out" "origin host=allowed.test.*code=200"
out=$(wcurl "$A" -x "$P" https://denied.test/)
expect_match "explicit proxy, denied HTTPS: CONNECT 403" "$out" "connect=403"

sleep 0.5
rec=$(recorded "$A" denied.test)
expect_match "the denied host is recorded as denied" "$rec" '^[0-9]+ 0 [1-9][0-9]* deny$'
expect_eq "recorded: the forged and the explicit-proxy requests for denied.test count too" "$rec" "5 0 5 deny"

# --- the logging workspace: recorded hosts and counts --------------------------------
for _ in 1 2; do
    out=$(wcurl "$B" https://other.test/)
    expect_match "logging: HTTPS other.test 200" "$out" "code=200"
done
# One TLS connection, two requests: counted once (per TLS connection).
out=$(wcurl "$B" https://other.test/a https://other.test/b)
expect_match "logging: two requests on one TLS connection" "$out" "path=/a.*path=/b"
# One TCP connection, two plain HTTP requests: counted twice (per request).
out=$(wcurl "$B" http://denied.test/a http://denied.test/b)
expect_match "logging: HTTP denied.test (allowed in logging mode)" "$out" "path=/a.*path=/b.*code=200"
expect_eq "logging: HTTPS host counted once per TLS connection" "$(recorded_wait "$B" other.test "3 3 0 allow")" "3 3 0 allow"
expect_eq "logging: HTTP host counted once per request" "$(recorded_wait "$B" denied.test "2 2 0 allow")" "2 2 0 allow"
expect_eq "the destination address of a TLS connection with SNI is not recorded" \
    "$(recorded "$B" "$OTHER")" ""

# --- changes take effect on the next connection ------------------------------------
out=$(wcurl "$A" https://other.test/)
expect_match "security: other.test refused" "$out" "code=000"
expect_match "whitelist other.test" "$(api POST /api/whitelist/domains '{"domain": "other.test"}')" '^200 '
out=$(wcurl "$A" https://other.test/)
expect_match "the next connection to other.test: 200" "$out" "code=200"
expect_match "student to logging mode" "$(api PUT "/api/projects/$A/proxy-mode" '{"proxyMode": "logging"}')" '^200 '
out=$(wcurl "$A" https://denied.test/)
expect_match "logging: the next connection to denied.test: 200" "$out" "origin host=denied.test.*code=200"

# --- down --------------------------------------------------------------------------
out=$(netcmd down 2>&1)
expect_eq "down with workspaces attached: refused" "$?" 1
expect_match "it names them" "$out" "workspace-"
expect_eq "and the rules stay" "$(fw_dump)" "$after_up"
out=$(netcmd down --force 2>&1)
expect_eq "down --force: exit 0" "$?" 0
# The controls: without the rules the same probes get through (the checks
# above could fail).
out=$(wcurl "$A" "http://$ALLOWED:8080/")
expect_match "control: without the rules another port is reachable" "$out" "origin host"
ws_exec "$A" bash -c "echo quic >/dev/udp/$ALLOWED/443" >/dev/null
expect_match "control: without the rules UDP 443 arrives" "$(outside_count udp)" "^[1-9]"
out=$(ws_exec probe ping -c 1 -W 1 $ALLOWED)
expect_match "control: without the rules ICMP arrives" "$(outside_count icmp)" "^[1-9]"
out=$(ws_exec "$A" nslookup allowed.test $DNS_OTHER)
expect_match "control: without the rules another resolver answers" "$out" "$ALLOWED"
out=$(netcmd up 2>&1)
expect_eq "up again over the existing network" "$(fw_dump)" "$after_up"
dockerd_api DELETE '/containers/workspace-probe?force=true' >/dev/null
expect_match "delete the student workspace" "$(api DELETE "/api/projects/$A?purgeVolume=true")" '^200 '
expect_match "delete the teacher workspace" "$(api DELETE "/api/projects/$B?purgeVolume=true")" '^200 '
out=$(netcmd down 2>&1)
expect_eq "down: exit 0" "$?" 0
expect_match "down removed the network" "$out" "removed network $NETWORK"
expect_eq "down leaves the firewall exactly as before up" "$(fw_dump)" "$before"
[ "$(fw_dump)" = "$before" ] || diff <(echo "$before") <(fw_dump)

finish || {
    echo "--- squid access log:"
    tail -30 "$sq/logs/access.log"
    echo "--- squid cache log:"
    grep -v '^$' "$sq/logs/cache.log" | tail -20
    exit 1
}

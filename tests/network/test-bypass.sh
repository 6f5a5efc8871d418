#!/bin/bash
# What is decided is what is contacted: the request shapes a hostile
# workspace can write, tried from real workspaces made by egress-api on the
# stack of netstack.sh (squid-openssl installed as on Debian, egress-net,
# dockerd), with the decision path of EP_INTERCEPT_POLICY (acl, the
# default, or icap: test-bypass-icap.sh). Every "nothing arrived" is
# asserted on the receiving side: iptables counters of TCP connections
# opened to the attacker, the private-range server, the metadata service
# and the host's own service address, and the hits of a listener in the
# workspace subnet.
#
#   1. A security workspace sends, raw over TCP to an attacker address on
#      80, 443 and 8080 (interception) and to the explicit proxy: absolute
#      form with and without Host, a Host that is not the URL's, HTTP/1.0,
#      CONNECT, pipelined pairs, Upgrade (h2c, websocket), Expect, IP
#      literals in every spelling, TLS with forged or missing SNI; naming a
#      base-domain host, a whitelisted host and a denied host. The attacker
#      sees no connection; the workspace gets a refusal or a close.
#   2. Internal destinations: a security, a logging and a none workspace
#      reach neither a service on a (non-loopback) address of the host,
#      nor the metadata address, nor the workspace subnet, nor a
#      private-range server, explicit or intercepted, by address or by
#      name, nor with a forged X-Egress-Ip-Rule header; an ip: rule opens
#      the private-range server (the positive control), and only by address.
#   3. squid's cache manager is refused from every workspace in every mode.
#   4. Ports: a whitelisted host on 8080 is refused, intercepted and
#      through the explicit proxy (GET and CONNECT), in security and
#      logging mode; a rule naming the port opens it.
# Skips (77) only when a tool is missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-.}/tests/network/netstack.sh"
netstack_check_tools || exit $?
netstack_enter "$@"
netstack_outside
netstack_engine
out=$(netcmd up 2>&1) || {
    echo "$out"
    exit 99
}
netstack_services

expect_match "default whitelist: allowed.test" \
    "$(api PUT /api/whitelist '{"domains": ["allowed.test"]}')" '^200 '
A=$(api POST /api/projects/create '{"projectName": "Student", "proxyMode": "security"}' | project_id)
B=$(api POST /api/projects/create '{"projectName": "Teacher", "proxyMode": "logging"}' | project_id)
C=$(api POST /api/projects/create '{"projectName": "Plain", "proxyMode": "none"}' | project_id)
[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] || {
    echo "projects not created"
    cat "$work/api.log"
    exit 99
}
for id in $A $B $C; do
    expect_match "start workspace $id" "$(api POST "/api/projects/$id/start")" '^200 '
done
# A listener in the workspace subnet (busybox httpd, root in a container of
# the network, which a workspace never is): its log has a "url:" line for
# every request it gets.
dockerd_api POST /containers/create?name=workspace-listener -H 'Content-Type: application/json' \
    --data "{\"Image\":\"$IMAGE\",\"User\":\"0\",\"HostConfig\":{\"NetworkMode\":\"$NETWORK\"},\"Cmd\":[\"sh\",\"-c\",\"mkdir -p /www && echo listener-reached >/www/index.html && exec httpd -f -vv -p 80 -h /www 2>>/tmp/hits\"]}" \
    >/dev/null && dockerd_api POST /containers/workspace-listener/start >/dev/null || exit 99
LISTENER=$(dockerd_api GET /containers/workspace-listener/json | grep -o '"IPAddress":"172\.30\.[0-9.]*"' | head -n 1 | cut -d'"' -f4)
expect_match "the listener is on the workspace subnet" "$LISTENER" '^172\.30\.0\.[0-9]+$'
listener_hits() { ws_exec listener sh -c 'grep -c url: /tmp/hits' | tr -d ' \n'; }

# Controls first: each receiving side counts what does arrive.
out=$(wcurl "$A" http://allowed.test/)
expect_match "control: a whitelisted host answers through interception" "$out" "origin host=allowed.test.*code=200"
out=$(wcurl "$A" https://allowed.test/)
expect_match "control: HTTPS through interception works (Debian's squid.conf, our one file in conf.d)" \
    "$out" "origin host=allowed.test.*code=200"
for _ in $(seq 1 50); do
    out=$(ws_exec listener sh -c "wget -q -O - http://$LISTENER/")
    case $out in *listener-reached*) break ;; esac
    sleep 0.1
done
expect_match "control: the listener answers inside the subnet" "$out" "listener-reached"
expect_eq "control: the listener counts it" "$(listener_hits)" 1
out=$(ws_raw "$A" $ALLOWED 80 "GET /raw HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n")
expect_match "control: a hand-written request to an allowed host gets its answer" "$out" \
    "^HTTP/1.1 200 .*origin host=allowed.test path=/raw"
n=$(reached $ATTACKER)
ip netns exec "$OUT" curl -sS --max-time 5 "http://$ATTACKER/" >/dev/null
expect_eq "control: the attacker counts a connection and a request" "$(reached $ATTACKER)" \
    "$((${n% *} + 1)) $((${n#* } + 1))"

# --- 1. request shapes to an attacker --------------------------------------------
P=http://$GW:$PROXY_PORT
IPS="$ATTACKER 3405803842 0xcb007142 0313.0.0161.0102 203.0.28994 [::ffff:203.0.113.66] [::ffff:cb00:7142] $ATTACKER. attacker.test"
# refused NAME OUT: the workspace got a refusal or a close, nothing from
# an origin, and the attacker saw no connection and no request since n0.
refused() {
    expect_no_match "$1: no success" "$2" "HTTP/1\.[01] 2[0-9][0-9]|code=2[0-9][0-9]|connect=200"
    expect_no_match "$1: nothing from an origin" "$2" "origin host"
    expect_eq "$1: the attacker saw no connection, no request" "$(reached $ATTACKER)" "$n0"
}
shape() { # NAME ADDR PORT BYTES
    local out
    n0=$(reached $ATTACKER)
    out=$(ws_raw "$A" "$2" "$3" "$4")
    echo "   $1 -> $(printf '%s' "$out" | head -c 120)"
    refused "$1" "$out"
}
CL='Connection: close\r\n'
for host in allowed.test base.test denied.test; do
    ports=80
    [ $host = allowed.test ] && ports="80 8080"
    for port in $ports; do
        to="$ATTACKER:$port"
        shape "$to absolute $host, no Host" $ATTACKER $port "GET http://$host/ HTTP/1.1\r\n$CL\r\n"
        shape "$to absolute $host, HTTP/1.0, no Host" $ATTACKER $port "GET http://$host/ HTTP/1.0\r\n\r\n"
        shape "$to absolute $host, Host attacker.test" $ATTACKER $port "GET http://$host/ HTTP/1.1\r\nHost: attacker.test\r\n$CL\r\n"
        shape "$to absolute $host, Host the attacker's address" $ATTACKER $port "GET http://$host/ HTTP/1.1\r\nHost: $ATTACKER\r\n$CL\r\n"
        shape "$to absolute $host, Host $host" $ATTACKER $port "GET http://$host/ HTTP/1.1\r\nHost: $host\r\n$CL\r\n"
        shape "$to origin-form, Host $host" $ATTACKER $port "GET / HTTP/1.1\r\nHost: $host\r\n$CL\r\n"
        shape "$to CONNECT $host:443" $ATTACKER $port "CONNECT $host:443 HTTP/1.1\r\nHost: $host:443\r\n\r\n"
        shape "$to CONNECT $host:443, no Host" $ATTACKER $port "CONNECT $host:443 HTTP/1.1\r\n\r\n"
        shape "$to pipelined: Host attacker.test, then absolute $host without Host" $ATTACKER $port \
            "GET / HTTP/1.1\r\nHost: attacker.test\r\n\r\nGET http://$host/ HTTP/1.1\r\n$CL\r\n"
        shape "$to pipelined: absolute $host, then origin-form" $ATTACKER $port \
            "GET http://$host/ HTTP/1.1\r\nHost: $host\r\n\r\nGET / HTTP/1.1\r\nHost: $host\r\n$CL\r\n"
        shape "$to Upgrade h2c, absolute $host" $ATTACKER $port \
            "GET http://$host/ HTTP/1.1\r\nHost: attacker.test\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n"
        shape "$to Upgrade websocket, Host $host" $ATTACKER $port \
            "GET / HTTP/1.1\r\nHost: $host\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        shape "$to Expect 100-continue, absolute $host" $ATTACKER $port \
            "POST http://$host/ HTTP/1.1\r\nHost: $ATTACKER\r\nExpect: 100-continue\r\nContent-Length: 5\r\n$CL\r\nhello"
    done
    shape "$ATTACKER:443 plaintext CONNECT $host:443" $ATTACKER 443 "CONNECT $host:443 HTTP/1.1\r\nHost: $host:443\r\n\r\n"
    shape "$ATTACKER:443 plaintext absolute $host" $ATTACKER 443 "GET http://$host/ HTTP/1.1\r\n$CL\r\n"
    n0=$(reached $ATTACKER)
    refused "$ATTACKER:443 TLS with SNI $host" "$(wcurl "$A" --resolve "$host:443:$ATTACKER" "https://$host/")"
    # Through the explicit proxy squid connects to the name it decided on:
    # allowed.test answers (what was decided), the attacker sees nothing.
    n0=$(reached $ATTACKER)
    ws_raw "$A" $GW $PROXY_PORT "GET http://$host/ HTTP/1.1\r\nHost: attacker.test\r\n$CL\r\n" >/dev/null
    expect_eq "proxy: absolute $host, Host attacker.test: squid goes to $host, never the attacker" \
        "$(reached $ATTACKER)" "$n0"
done
for ip in $IPS; do
    shape "$ATTACKER:80 origin-form, Host $ip" $ATTACKER 80 "GET / HTTP/1.1\r\nHost: $ip\r\n$CL\r\n"
    shape "proxy: GET http://$ip/" $GW $PROXY_PORT "GET http://$ip/ HTTP/1.1\r\nHost: $ip\r\n$CL\r\n"
    shape "proxy: CONNECT $ip:443" $GW $PROXY_PORT "CONNECT $ip:443 HTTP/1.1\r\nHost: $ip:443\r\n\r\n"
    shape "proxy: CONNECT $ip:80" $GW $PROXY_PORT "CONNECT $ip:80 HTTP/1.1\r\nHost: $ip:80\r\n\r\n"
done
shape "proxy: userinfo http://allowed.test@$ATTACKER/" $GW $PROXY_PORT \
    "GET http://allowed.test@$ATTACKER/ HTTP/1.1\r\nHost: allowed.test\r\n$CL\r\n"
shape "$ATTACKER:80 HTTP/1.0 origin-form without Host" $ATTACKER 80 "GET / HTTP/1.0\r\n\r\n"
n0=$(reached $ATTACKER)
refused "$ATTACKER:443 TLS without SNI" "$(wcurl "$A" "https://$ATTACKER/")"
# The helper or service recorded the refusals of interception.
expect_match "refusals are recorded for the security workspace" \
    "$(api GET "/api/projects/$A/recorded-domains")" '"allowed.test":\{[^}]*"denied":[1-9]'

# --- 2. internal destinations -------------------------------------------------------
# unreached NAME COUNTER-COMMAND OUT: nothing arrived and nothing came back.
unreached() {
    expect_no_match "$1: nothing came back" "$3" "origin host|listener-reached|code=2[0-9][0-9]"
    expect_eq "$1: nothing arrived" "$($2)" "$c0"
}
private_count() { reached $PRIVATE; }
metadata_count() { reached $METADATA; }
host_service_count() { reached $HOST_SERVICE; }
internal_probes() { # ID MODE
    local id=$1 mode=$2 target url
    for target in "private $PRIVATE private.test private_count" "metadata $METADATA metadata.test metadata_count" \
        "host-service $HOST_SERVICE host-service.test host_service_count" "listener $LISTENER - listener_hits"; do
        set -- $target
        for url in "http://$2/" ${3#-}; do
            [ "$url" = "${url#http}" ] && url="http://$url/"
            c0=$($4)
            unreached "$mode: $1 intercepted ($url)" "$4" "$(wcurl "$id" "$url")"
            c0=$($4)
            unreached "$mode: $1 through the proxy ($url)" "$4" "$(wcurl "$id" -x "$P" "$url")"
        done
        c0=$($4)
        unreached "$mode: $1 through the proxy, with a forged X-Egress-Ip-Rule" "$4" \
            "$(wcurl "$id" -x "$P" -H "X-Egress-Ip-Rule: ip:$2" "http://$2/")"
        c0=$($4)
        unreached "$mode: $1 by CONNECT" "$4" "$(wcurl "$id" -x "$P" --proxytunnel "http://$2/")"
        c0=$($4)
        unreached "$mode: $1 as an absolute URI without Host, intercepted" "$4" \
            "$(ws_raw "$id" "$ALLOWED" 80 "GET http://$2/ HTTP/1.1\r\n$CL\r\n")"
    done
}
internal_probes "$A" security
internal_probes "$B" logging
internal_probes "$C" none

# The positive control: an ip: rule names the private server.
expect_match "add ip:$PRIVATE" "$(api POST /api/whitelist/domains "{\"domain\": \"ip:$PRIVATE\"}")" '^200 '
for id in $A $B $C; do
    c0=$(private_count)
    out=$(wcurl "$id" "http://$PRIVATE/")
    expect_match "ip:$PRIVATE opens it for $id, intercepted" "$out" "origin host=$PRIVATE.*code=200"
    now=$(private_count)
    expect_eq "ip:$PRIVATE: the private server logged the request" "${now#* }" "$((${c0#* } + 1))"
    out=$(wcurl "$id" -x "$P" "http://$PRIVATE/")
    expect_match "ip:$PRIVATE opens it for $id, through the proxy" "$out" "origin host=$PRIVATE.*code=200"
    c0=$(private_count)
    unreached "ip:$PRIVATE does not open a name resolving to it ($id)" private_count \
        "$(wcurl "$id" -x "$P" http://private.test/)"
    c0=$(metadata_count)
    unreached "ip:$PRIVATE does not open the metadata address ($id)" metadata_count \
        "$(wcurl "$id" "http://$METADATA/")"
done
expect_match "remove ip:$PRIVATE" "$(api DELETE "/api/whitelist/domains/ip:$PRIVATE")" '^200 '
c0=$(private_count)
unreached "without the rule the private server is closed again" private_count "$(wcurl "$B" "http://$PRIVATE/")"

# --- 3. the cache manager -------------------------------------------------------------
MGR='Start Time:|Current Time:|Connection information for squid|Cache information for squid'
# The control: squid's stock squid.conf lets localhost read the manager
# (mapped to a project in none mode, so the ICAP path lets it by too), and
# this is what its pages look like.
H=$(api POST /api/projects/create '{"projectName": "Host", "proxyMode": "none"}' | project_id)
expect_match "map 127.0.0.1 for the control" "$(api PUT "/api/projects/$H/ip" '{"ipAddress": "127.0.0.1"}')" '^200 '
out=$(curl -sS --max-time 10 "http://127.0.0.1:$PROXY_PORT/squid-internal-mgr/info")
expect_match "control: the cache manager answers localhost (Debian's stock rule)" "$out" "$MGR"
for id in $A $B $C; do
    out=$(ws_raw "$id" $GW $PROXY_PORT "GET cache_object://$GW/info HTTP/1.0\r\n\r\n")
    expect_no_match "$id: cache_object://$GW/info refused" "$out" "$MGR"
    expect_match "$id: cache_object:// gets 403" "$out" "HTTP/1\.[01] 403"
    for url in "http://$GW:$PROXY_PORT/squid-internal-mgr/info" "http://allowed.test/squid-internal-mgr/client_list"; do
        out=$(wcurl "$id" -x "$P" "$url")
        expect_no_match "$id: $url refused" "$out" "$MGR"
        expect_match "$id: $url gets 403" "$out" "code=403"
    done
    out=$(ws_raw "$id" $ALLOWED 80 "GET /squid-internal-mgr/info HTTP/1.1\r\nHost: allowed.test\r\n$CL\r\n")
    expect_no_match "$id: intercepted /squid-internal-mgr/info refused" "$out" "$MGR"
    expect_match "$id: intercepted /squid-internal-mgr/ gets 403" "$out" "HTTP/1\.[01] 403"
done

# --- 4. ports ---------------------------------------------------------------------
# squid forwards an intercepted request to the port the workspace connected
# to, so that port is the one decided on, whatever the Host header says.
for id in $A $B; do
    for hosthdr in allowed.test allowed.test:80; do
        n0=$(reached $ALLOWED)
        out=$(ws_raw "$id" $ALLOWED 8080 "GET / HTTP/1.1\r\nHost: $hosthdr\r\n$CL\r\n")
        expect_no_match "$id: $ALLOWED:8080 with Host $hosthdr: refused" "$out" "HTTP/1\.[01] 2[0-9][0-9]|origin host"
        expect_eq "$id: $ALLOWED:8080 with Host $hosthdr: the origin saw nothing" "$(reached $ALLOWED)" "$n0"
    done
done
for id in $A $B; do
    out=$(wcurl "$id" http://allowed.test:8080/)
    expect_match "$id: allowed.test:8080 intercepted: refused" "$out" "code=403"
    out=$(wcurl "$id" -x "$P" http://allowed.test:8080/)
    expect_match "$id: allowed.test:8080 through the proxy: refused" "$out" "code=403"
    out=$(wcurl "$id" -x "$P" --proxytunnel http://allowed.test:8080/)
    expect_match "$id: CONNECT allowed.test:8080: refused" "$out" "connect=403"
    expect_no_match "$id: port 8080: nothing from the origin" "$out" "origin host"
done
expect_match "add allowed.test:8080" "$(api POST /api/whitelist/domains '{"domain": "allowed.test:8080"}')" '^200 '
for id in $A $B; do
    out=$(wcurl "$id" http://allowed.test:8080/p)
    expect_match "$id: with the rule, allowed.test:8080 intercepted: 200" "$out" "origin host=allowed.test:8080 path=/p.*code=200"
    out=$(wcurl "$id" -x "$P" http://allowed.test:8080/p)
    expect_match "$id: with the rule, through the proxy: 200" "$out" "origin host=allowed.test:8080 path=/p.*code=200"
    out=$(wcurl "$id" -x "$P" --proxytunnel http://allowed.test:8080/p)
    expect_match "$id: with the rule, CONNECT allowed.test:8080: 200" "$out" "origin host=allowed.test:8080.*code=200"
    out=$(wcurl "$id" -x "$P" http://other.test:8080/)
    expect_match "$id: the rule opens 8080 for its host only" "$out" "code=403"
done
n0=$(reached $ATTACKER)
refused "with the rule, the attacker on 8080 stays closed" "$(wcurl "$A" -H 'Host: allowed.test:8080' "http://$ATTACKER:8080/")"

dockerd_api DELETE '/containers/workspace-listener?force=true' >/dev/null
for id in $A $B $C; do
    api DELETE "/api/projects/$id?purgeVolume=true" >/dev/null
done
finish || {
    netstack_dump_logs
    exit 1
}

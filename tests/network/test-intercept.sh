#!/bin/bash
# The workspace network end to end: contrib/network/egress-net, squid-openssl
# intercepting, egress-api with a real dockerd, all inside one network and
# mount namespace this test makes. The decision path is chosen by
# EP_INTERCEPT_POLICY: "acl" (the default) is contrib/squid/egress-intercept.conf
# with egress-acl.conf (the external ACL helper acl/egress-acl decides the SNI
# at ssl_bump step 2 and the Host of plain HTTP), "icap" is
# egress-intercept-icap.conf with egress.conf (c-icap with srv_egress.so
# decides; test-intercept-icap.sh runs that). c-icap runs in both (its port
# must be unreachable from workspaces). squid is installed as on Debian
# (the package's squid.conf, contrib/squid/egress-policy.conf in conf.d) and
# the stack comes from tests/network/netstack.sh. test-bypass.sh tries the
# request shapes of a hostile workspace on the same stack.
#
# From real workspace containers with no proxy variables: allowed HTTP and
# HTTPS (origin's certificate), denied HTTP (our 403 page) and HTTPS (closed
# at once with nothing written (acl) or squid's 403 as a TLS error (icap),
# never forwarded, recorded as denied once), origin-form requests (a raw
# "GET /path" with a Host header), Host and SNI forgery, TLS without SNI and
# ip: rules, other ports (refused by squid), UDP 443, ICMP, another workspace, egress-api and
# c-icap ports unreachable, the explicit proxy, a logging workspace's
# recorded hosts and counts, mode and whitelist changes on the next
# connection; egress-net up twice adds nothing twice, down refuses with
# workspaces attached, and restores the firewall exactly.
# Skips (77) only when a tool is missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-.}/tests/network/netstack.sh"
netstack_check_tools || exit $?
netstack_enter "$@"
netstack_outside
netstack_engine

# --- the network -------------------------------------------------------------
fw_dump() {
    { iptables-save && ip6tables-save; } | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
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

# --- egress-api, c-icap, squid -------------------------------------------------------
netstack_services
expect_match "egress-api uses the workspace network by default" "$(cat "$work/api.log")" "network $NETWORK"
expect_eq "squid's own squid.conf is the package's, unchanged" "$SQUID_STOCK_OK" 1
expect_eq "squid -k parse of the installation: exit 0" "$SQUID_PARSE_RC" 0
expect_no_match "squid -k parse: no warning, no error" "$SQUID_PARSE" "WARNING|ERROR|FATAL|Bungled"
expect_match "(squid -k parse read our one file and the snippets it includes)" "$SQUID_PARSE" \
    "Processing: include /etc/squid/egress-policy/egress-guard.conf"

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
out=$(wcurl "$A" "http://allowed.test:8080/")
expect_match "another TCP port: refused by squid (a port no rule names)" "$out" "code=403 .* exit=0"
expect_no_match "another TCP port: nothing from the origin" "$out" "origin host"
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
    netstack_dump_logs
    exit 1
}

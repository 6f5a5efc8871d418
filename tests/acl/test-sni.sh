#!/bin/sh
# The SNI step: squid-openssl as an explicit proxy with an ssl-bump port,
# contrib/squid/egress-acl.conf with its "#sni " lines on (ssl_bump peek at
# step 1, splice at step 2 when egress-acl allows the ClientHello's server
# name, terminate otherwise), a throwaway CA for the port and a TLS origin
# (openssl s_server). A CONNECT is decided and counted once by http_access;
# the SNI check at step 2 decides again without recording (norecord), so a
# CONNECT to an allowed name carrying another name (or none) in its
# ClientHello is cut, and each tunnel is one count.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid
squid -v | grep -q -- '--with-openssl' || {
    echo "squid is built without OpenSSL: ssl_bump needs squid-openssl (Debian: apt-get install squid-openssl)"
    exit 77
}
command -v openssl >/dev/null || {
    echo "openssl is not installed (Debian: openssl)"
    exit 77
}
[ -x "$top_builddir/acl/egress-acl" ] || {
    echo "acl/egress-acl is not built"
    exit 99
}

STACK_HOSTS="allowed.test evil.test"
stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
storectl create-project ws-a security course1
storectl rules-replace course1 allowed.test
# openssl s_client cannot choose its source address: the workspace is 127.0.0.1.
storectl map 127.0.0.1 ws-a
chown -R proxy:proxy "$STORE"

# A throwaway CA for squid's ssl-bump port, and the origin's certificate.
T="$STACK_DIR/tls"
mkdir -p "$T"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=egress test CA" \
    -keyout "$T/ca.key" -out "$T/ca.pem" >/dev/null 2>&1 || exit 99
cat "$T/ca.key" >>"$T/ca.pem"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=allowed.test" \
    -keyout "$T/origin.key" -out "$T/origin.pem" >/dev/null 2>&1 || exit 99
chown -R proxy:proxy "$T"

# The TLS origin on port 443 (a web port: CONNECT to another port needs a
# rule naming it) of a loopback address of its own, where squid's
# hosts_file sends the test names.
TLS_PORT=443
ORIGIN_ADDR=127.$((100 + RANDOM % 100)).$((1 + RANDOM % 250)).$((1 + RANDOM % 250))
openssl s_server -accept "$ORIGIN_ADDR:$TLS_PORT" -cert "$T/origin.pem" -key "$T/origin.key" \
    -www -quiet >"$STACK_DIR/s_server.log" 2>&1 &
STACK_ALL_PIDS="$STACK_ALL_PIDS $!"
for _ in $(seq 1 100); do
    ss -Hltn "src $ORIGIN_ADDR and sport = :$TLS_PORT" | grep -q . && break
    sleep 0.1
done

BUMP_PORT=$(stack_free_port) || exit 99
SQUID_POLICY=acl SQUID_ACL_SNI=1 ACL_STORE=$STORE stack_start_squid \
    "http_port 127.0.0.1:$BUMP_PORT ssl-bump cert=$T/ca.pem generate-host-certificates=off" || exit 99
expect_match "the snippet's SNI lines are in squid's config" \
    "$(cat "$STACK_DIR/squid/squid.conf")" "^ssl_bump splice egress_step2 egress_sni_check"

# sclient CONNECTHOST [s_client options]: the s_client transcript through the bump port.
sclient() {
    local host=$1
    shift
    echo | timeout 10 openssl s_client -proxy "127.0.0.1:$BUMP_PORT" -connect "$host:$TLS_PORT" \
        "$@" 2>&1
}
handshake_ok='^(New|Reused), TLS'

got=$(curl -sS --max-time 10 -k -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$BUMP_PORT" \
    "https://allowed.test:$TLS_PORT/" 2>&1)
expect_eq "CONNECT and SNI allowed: spliced to the origin (curl, HTTPS 200)" "$got" 200
# A denied CONNECT on an ssl-bump port: squid bumps it to show its error.
got=$(curl -sS --max-time 10 -k -w '%{http_connect} %{http_code}' -x "http://127.0.0.1:$BUMP_PORT" \
    "https://evil.test:$TLS_PORT/" 2>/dev/null | tr '\n' ' ')
expect_match "CONNECT to a host not listed: squid's 403 page inside the bumped tunnel" "$got" \
    "Access to evil.test is blocked.* 200 403 *$"
expect_no_match "CONNECT to a host not listed: nothing from the origin" "$got" "s_server"
expect_match "CONNECT allowed, SNI the same: handshake" "$(sclient allowed.test -servername allowed.test)" \
    "$handshake_ok"
got=$(sclient allowed.test -servername evil.test)
expect_no_match "CONNECT allowed, SNI not listed: no handshake (terminated)" "$got" "$handshake_ok"
got=$(sclient allowed.test -noservername)
expect_no_match "CONNECT allowed, no SNI: no handshake (terminated)" "$got" "$handshake_ok"
got=$(sclient allowed.test -servername Allowed.Test.)
expect_match "SNI normalised like a host (case, trailing dot): handshake" "$got" "$handshake_ok"

# Counts: one per CONNECT, the SNI checks not counted (5 CONNECTs to
# allowed.test, 1 to evil.test).
sleep 1
expect_eq "each tunnel counted once: allowed.test" \
    "$("$STORECTL" "$STORE" seen ws-a | awk '$1 == "allowed.test" {print $2 "/" $3 "/" $4}')" "5/5/0"
expect_eq "each tunnel counted once: evil.test (the CONNECT; the SNI not recorded)" \
    "$("$STORECTL" "$STORE" seen ws-a | awk '$1 == "evil.test" {print $2 "/" $3 "/" $4}')" "1/0/1"
expect_no_match "no helper trouble in squid's log" "$(cat "$SQUID_CACHE_LOG")" \
    "helper.*(exited|crash)|WARNING: egress|FATAL"

finish

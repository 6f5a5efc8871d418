#!/bin/sh
# etcd over TLS with client certificates and etcd's user authentication:
# one member on https with --client-cert-auth, auth enabled, a user
# `egress` whose role may read and write the keyspace's prefix only.
# egress-api and egress-node given the CA, a client certificate and the
# user's password publish and follow the policy; a node with a wrong
# password, or without a client certificate, gets nothing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/lib/check.sh"
. "$top_srcdir/tests/cluster/lib.sh"
command -v openssl >/dev/null || {
    echo "openssl is not installed"
    exit 77
}
cluster_init
P="$CDIR/pki"
mkdir -p "$P"
(
    cd "$P" || exit 99
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 \
        -subj "/CN=ep-test-ca-$$" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=etcd 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem \
        -days 2 -extfile server.ext 2>/dev/null
    # No CN: etcd 3.4 refuses a client certificate with a CN on its JSON
    # gateway ("CommonName ... will be ignored"); the user comes from the token.
    openssl req -newkey rsa:2048 -nodes -keyout client-key.pem -out client.csr -subj /O=egress-nodes 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client.pem \
        -days 2 -extfile client.ext 2>/dev/null
) || exit 99
[ -s "$P/client.pem" ] && [ -s "$P/server.pem" ] || exit 99

C=$(stack_free_port) PEER=$(stack_free_port)
etcd --name t1 --data-dir "$CDIR/etcd-t1" \
    --listen-client-urls "https://127.0.0.1:$C" --advertise-client-urls "https://127.0.0.1:$C" \
    --listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" \
    --initial-cluster "t1=http://127.0.0.1:$PEER" --initial-cluster-token "ep-tls-$$" \
    --cert-file "$P/server.pem" --key-file "$P/server-key.pem" --trusted-ca-file "$P/ca.pem" \
    --client-cert-auth --logger zap --log-outputs "$CDIR/etcd-t1.log" --log-level warn \
    2>>"$CDIR/etcd-t1.err" &
CLUSTER_PIDS="$CLUSTER_PIDS $!"
ETCD_URLS="https://127.0.0.1:$C"
tls() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URLS" --cacert "$P/ca.pem" --cert "$P/client.pem" \
    --key "$P/client-key.pem" --command-timeout=5s "$@"; }
for _ in $(seq 1 100); do tls endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
tls user add root:rootpw-$$ >/dev/null && tls user grant-role root root >/dev/null && tls user add "egress:egresspw-$$" >/dev/null &&
    tls role add egress-rw >/dev/null &&
    tls role grant-permission egress-rw --prefix=true readwrite "$PREFIX" >/dev/null &&
    tls user grant-role egress egress-rw >/dev/null && tls auth enable >/dev/null || {
    echo "could not set up etcd's users"
    exit 99
}
printf 'egresspw-%s\n' "$$" >"$CDIR/etcd-pw"
printf 'wrong\n' >"$CDIR/etcd-bad-pw"
chmod 600 "$CDIR/etcd-pw" "$CDIR/etcd-bad-pw"
TLS_OPTS=(--etcd-cacert "$P/ca.pem" --etcd-cert "$P/client.pem" --etcd-key "$P/client-key.pem")

api_start "${TLS_OPTS[@]}" --etcd-user egress --etcd-password-file "$CDIR/etcd-pw"
node_start n1 "${TLS_OPTS[@]}" --etcd-user egress --etcd-password-file "$CDIR/etcd-pw"
node_start bad "${TLS_OPTS[@]}" --etcd-user egress --etcd-password-file "$CDIR/etcd-bad-pw"
node_start nocert --etcd-cacert "$P/ca.pem" --etcd-user egress --etcd-password-file "$CDIR/etcd-pw"

S=$(api_project Student security course1)
api POST /api/whitelist/domains '{"profile": "course1", "domain": "tls.test"}' >/dev/null
expect_eq "the API publishes over TLS as user egress" "$(api_wait_published && echo yes)" yes
expect_match "etcd holds the rule (read as root)" \
    "$(tls --user "root:rootpw-$$" get --prefix "${PREFIX}policy/rule/course1/" --keys-only)" 'test\.tls'
etcd_policy() {
    tls --user "root:rootpw-$$" get --prefix "${PREFIX}policy/" -w json | python3 -c '
import base64, json, sys
for kv in json.load(sys.stdin).get("kvs", []):
    print(base64.b64decode(kv["key"]).decode() + "=" + base64.b64decode(kv.get("value", "")).decode())
' | LC_ALL=C sort
}
expect_eq "node n1 follows over TLS with the user's token" "$(node_wait_policy n1 && echo yes)" yes
"$STORECTL" "$CDIR/n1" map 127.0.0.21 "$S" >/dev/null
expect_eq "node n1 decides by the rule" "$(decide n1 127.0.0.21 tls.test)" OK
expect_match "the node with a wrong password is refused" "$(cat "$CDIR/bad.log")" 'authentication failed'
expect_eq "and its store has no policy" "$(node_dump bad 2>/dev/null | sed 1d | grep -c tls)" 0
expect_match "the node without a client certificate is refused" "$(cat "$CDIR/nocert.log")" \
    'listing failed'
expect_eq "and its store has no policy either" "$(node_dump nocert 2>/dev/null | sed 1d | grep -c tls)" 0
expect_no_match "no log line carries the password" "$(cat "$CDIR"/*.log)" "egresspw-$$"
finish

#!/bin/sh
# End to end: curl from simulated workspaces (127.0.0.x) through the real
# squid (with contrib/squid/egress.conf) and the real c-icap with
# srv_egress.so to the local origin. Rules of every kind, GET and CONNECT,
# two workspaces with different profiles, recording in logging and
# security mode, live changes in the store, unknown clients, c-icap down,
# and a 50 MB upload.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid

STACK_HOSTS="exact.test exact.test.evil.test www.suffix.test suffix.test notsuffix.test
 a.sub.test sub.test api1.rx.test apix.rx.test api1.rx.test.evil.test other.test evil.test
 log1.test new.test upload.test"
stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
storectl create-project ws-a security course1
storectl map 127.0.0.2 ws-a
storectl rules-replace course1 exact.test .suffix.test '*.sub.test' '~^api[0-9]+\.rx\.test$' upload.test
storectl create-project ws-b security course2
storectl map 127.0.0.3 ws-b
storectl rules-replace course2 other.test
storectl create-project ws-log logging
storectl map 127.0.0.4 ws-log

stack_start_origin web || exit 99
stack_start_icap "$STORE" || exit 99
stack_start_squid || exit 99
P=$ORIGIN_PORT
A=127.0.0.2 B=127.0.0.3 LOG=127.0.0.4

# get IP HOST: "CODE BODY" of a GET through squid.
get() {
    stack_curl "$1" -o "$STACK_DIR/body.out" -w '%{http_code}' "http://$2:$P/p" 2>/dev/null
    echo " $(head -c 3000 "$STACK_DIR/body.out" 2>/dev/null | tr '\n' ' ')"
}
# tunnel IP HOST: "CONNECTCODE BODY" of a GET inside a CONNECT tunnel.
tunnel() {
    : >"$STACK_DIR/body.out"
    stack_curl "$1" -p -o "$STACK_DIR/body.out" -w '%{http_connect}' "http://$2:$P/t" 2>/dev/null
    echo " $(head -c 3000 "$STACK_DIR/body.out" 2>/dev/null | tr '\n' ' ')"
}
allowed() { # NAME IP HOST
    expect_match "$1: GET $3 allowed" "$(get "$2" "$3")" "^200 origin host=$3 path="
    expect_match "$1: CONNECT $3 allowed" "$(tunnel "$2" "$3")" "^200 origin host=$3 path="
}
denied() { # NAME IP HOST
    expect_match "$1: GET $3 denied with our page" "$(get "$2" "$3")" "^403 .*Access to $3 is blocked"
    expect_match "$1: CONNECT $3 denied" "$(tunnel "$2" "$3")" "^403 "
}

allowed "exact rule" $A exact.test
denied "exact rule look-alike" $A exact.test.evil.test
allowed ".suffix rule, subdomain" $A www.suffix.test
allowed ".suffix rule, the domain itself" $A suffix.test
denied ".suffix rule look-alike" $A notsuffix.test
allowed "*.sub rule, subdomain" $A a.sub.test
denied "*.sub rule, not the domain itself" $A sub.test
allowed "regex rule" $A api1.rx.test
denied "regex rule look-alike" $A apix.rx.test
denied "regex rule is anchored" $A api1.rx.test.evil.test

page=$(get $A evil.test)
expect_match "the page names the workspace address" "$page" "address 127.0.0.2"
expect_match "the page says how to ask for access" "$page" "Ask your teacher or administrator"

# Two workspaces, two profiles, the same hosts.
allowed "workspace A, its profile" $A exact.test
denied "workspace B, not its profile" $B exact.test
allowed "workspace B, its profile" $B other.test
denied "workspace A, not its profile" $A other.test

# A denial keeps the client connection (squid denies the marked request itself).
n=$(stack_curl $A -o /dev/null -o /dev/null -w '%{num_connects} ' "http://evil.test:$P/1" \
    "http://exact.test:$P/2" 2>/dev/null)
expect_eq "a denial keeps the connection open (connects per request)" "$n" "1 0 "

# Logging workspace: everything allowed, every request counted.
t0=$(date +%s)
for i in 1 2 3 4 5 6 7; do
    expect_match "logging workspace request $i allowed" "$(get $LOG log1.test)" "^200 "
done
t1=$(date +%s)
expect_match "logging workspace: any host allowed over CONNECT" "$(tunnel $LOG evil.test)" "^200 "
# The first request is recorded at once, the counts of the others at the next
# flush (every ICAP_FLUSH, 200 ms by default): wait until all 7 are in (at
# most 20 s), then check them.
for _ in $(seq 1 200); do
    seen=$("$STORECTL" "$STORE" seen ws-log | grep '^log1.test ')
    read -r _ count allowed_n denied_n first last verdict <<<"$seen"
    [ "${count:-0}" -ge 7 ] && break
    sleep 0.1
done
expect_eq "logging: 7 requests recorded as 7" "$count" 7
expect_eq "logging: all 7 allowed" "$allowed_n/$denied_n/$verdict" "7/0/allow"
if [ -n "$first" ] && [ "$first" -ge "$t0" ] && [ "$first" -le "$last" ] && [ "$last" -le "$t1" ]; then
    ok "logging: first and last seen within the requests ($first..$last)"
else
    fail "logging: first and last seen within the requests" "$seen, requests $t0..$t1"
fi

# Security workspace: the denied host is recorded as denied.
seen=$("$STORECTL" "$STORE" seen ws-a | grep '^evil.test ')
read -r _ count allowed_n denied_n first last verdict <<<"$seen"
expect_eq "security: denied host recorded as denied" "$allowed_n/$verdict" "0/deny"
[ "${denied_n:-0}" -ge 1 ] && ok "security: denial counted ($denied_n)" || fail "security: denial counted" "$seen"
expect_match "security: allowed host recorded as allowed" "$("$STORECTL" "$STORE" seen ws-a)" \
    "^exact.test [0-9]+ [0-9]+ 0 .* allow$"

# Changes in the store take effect on the next request.
denied "before the mode change" $A new.test
storectl set-mode ws-a logging
expect_match "mode set to logging: allowed at once" "$(get $A new.test)" "^200 "
storectl set-mode ws-a security
expect_match "mode back to security: denied at once" "$(get $A new.test)" "^403 "
storectl add-rule course1 new.test
expect_match "rule added: allowed at once" "$(get $A new.test)" "^200 "
storectl rules-replace course1 exact.test upload.test
expect_match "whitelist replaced without it: denied at once" "$(get $A new.test)" "^403 "
expect_match "whitelist replaced: .suffix rule gone" "$(get $A www.suffix.test)" "^403 "
storectl unmap ws-b
expect_match "workspace unmapped: denied at once" "$(get $B other.test)" "^403 "

# Unknown addresses.
denied "unmapped IP" 127.0.0.9 exact.test
expect_match "access log: reason of the unknown client" "$(cat "$SQUID_ACCESS_LOG")" \
    "127.0.0.9 .*unknown-client; host=exact.test; project=-"
expect_match "access log: reason of a whitelist denial" "$(cat "$SQUID_ACCESS_LOG")" \
    "127.0.0.2 .*not-whitelisted; host=evil.test; project=ws-a"

# A 50 MB upload to an allowed host arrives intact. It needs egress.conf's
# client_request_buffer_max_size: with squid 5.7's default 512 KB squid aborts
# uploads that outrun the server (squid bug 5405, contrib/squid/README.md).
head -c 50000000 /dev/urandom >"$STACK_DIR/upload"
want=$(cksum <"$STACK_DIR/upload" | awk '{print "bytes=" $2 " cksum=" $1}')
got=$(stack_curl $A --max-time 60 --data-binary @"$STACK_DIR/upload" "http://upload.test:$P/up" 2>&1)
expect_eq "50 MB POST arrives intact" "$got" "$want"
got=$(stack_curl $A -o /dev/null -w '%{http_code}' --max-time 60 --data-binary @"$STACK_DIR/upload" \
    "http://evil.test:$P/up" 2>/dev/null)
expect_eq "50 MB POST to a denied host: 403" "$got" 403
expect_no_match "no ICAP error in squid's log" "$(cat "$SQUID_CACHE_LOG")" "ICAP|essential"

# c-icap down: squid fails closed.
stack_stop_icap
got=$(get $A exact.test)
expect_match "c-icap stopped: squid answers an error" "$got" "^5[0-9][0-9] "
expect_no_match "c-icap stopped: nothing reaches the origin" "$got" "origin host="
got=$(tunnel $A exact.test)
expect_no_match "c-icap stopped: no tunnel" "$got" "^200 |origin host="

finish

#!/bin/sh
# The end-to-end table of tests/icap/test-e2e.sh run twice on the same
# traffic: once through squid + c-icap + srv_egress.so (contrib/squid/
# egress.conf), once through squid + the external ACL helper egress-acl
# (contrib/squid/egress-acl.conf), each over a fresh store set up alike.
# Each run must pass the table; then the two runs must have given the
# same verdict for every request and recorded the same counts (host,
# count, allowed, denied, last verdict for every project). Last, each
# path's own failure: c-icap stopped, the helper killed while it holds a
# request (nothing passes, squid starts a new helper), the store missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid
[ -x "$top_builddir/acl/egress-acl" ] || {
    echo "acl/egress-acl is not built"
    exit 99
}

STACK_HOSTS="exact.test exact.test.evil.test www.suffix.test suffix.test notsuffix.test
 a.sub.test sub.test api1.rx.test apix.rx.test api1.rx.test.evil.test other.test evil.test
 log1.test log2.test new.test upload.test"
stack_init
stack_start_origin web || exit 99
P=$ORIGIN_PORT
A=127.0.0.2 B=127.0.0.3 LOG=127.0.0.4
head -c 50000000 /dev/urandom >"$STACK_DIR/upload"
want_upload=$(cksum <"$STACK_DIR/upload" | awk '{print "bytes=" $2 " cksum=" $1}')

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
# v NAME RESULT REGEX: check RESULT and note its status code in the run's transcript.
v() {
    expect_match "$path: $1" "$2" "$3"
    echo "$1: ${2%% *}" >>"$STACK_DIR/$path.verdicts"
}
allowed() { # NAME IP HOST
    v "$1: GET $3 allowed" "$(get "$2" "$3")" "^200 origin host=$3 path="
    v "$1: CONNECT $3 allowed" "$(tunnel "$2" "$3")" "^200 origin host=$3 path="
}
denied() { # NAME IP HOST
    v "$1: GET $3 denied with our page" "$(get "$2" "$3")" "^403 .*Access to $3 is blocked"
    v "$1: CONNECT $3 denied" "$(tunnel "$2" "$3")" "^403 "
}

# setup_store DIR: the projects, mappings and whitelists of the table.
setup_store() {
    STORE=$1
    mkdir -p "$STORE"
    storectl create-project ws-a security course1
    storectl map 127.0.0.2 ws-a
    storectl rules-replace course1 exact.test .suffix.test '*.sub.test' '~^api[0-9]+\.rx\.test$' upload.test
    storectl create-project ws-b security course2
    storectl map 127.0.0.3 ws-b
    storectl rules-replace course2 other.test
    storectl create-project ws-log logging
    storectl map 127.0.0.4 ws-log
    # The helper runs as squid's user and records: it must write the store.
    chown -R proxy:proxy "$STORE"
}

# start_path PATH STORE: squid deciding through PATH (icap or acl).
start_path() {
    STACK_INSTANCE=-$1
    if [ "$1" = icap ]; then
        stack_start_icap "$2" || exit 99
        SQUID_POLICY=icap stack_start_squid || exit 99
    else
        SQUID_POLICY=acl ACL_STORE=$2 stack_start_squid || exit 99
    fi
}

# seen_dump: every project's records without the times, for the comparison.
seen_dump() {
    local ws
    for ws in ws-a ws-b ws-log; do
        "$STORECTL" "$STORE" seen "$ws" | awk -v ws="$ws" '{print ws, $1, $2, $3, $4, $7}'
    done
}

# table: the end-to-end table of tests/icap/test-e2e.sh against the current squid.
table() {
    local page n t0 t1 seen count allowed_n denied_n first last verdict got i
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
    v "the page names the workspace address" "$page" "address 127.0.0.2"
    v "the page says how to ask for access" "$page" "Ask your teacher or administrator"
    [ "$path" = acl ] && expect_match "acl: the page shows the helper's message (%o)" "$page" \
        "<tt>not-whitelisted; host=evil.test; project=ws-a</tt>"

    allowed "workspace A, its profile" $A exact.test
    denied "workspace B, not its profile" $B exact.test
    allowed "workspace B, its profile" $B other.test
    denied "workspace A, not its profile" $A other.test

    n=$(stack_curl $A -o /dev/null -o /dev/null -w '%{num_connects} ' "http://evil.test:$P/1" \
        "http://exact.test:$P/2" 2>/dev/null)
    v "a denial keeps the connection open (connects per request)" "$n" "^1 0 $"

    t0=$(date +%s)
    for i in 1 2 3 4 5 6 7; do
        v "logging workspace request $i allowed" "$(get $LOG log1.test)" "^200 "
    done
    t1=$(date +%s)
    v "logging workspace: any host allowed over CONNECT" "$(tunnel $LOG evil.test)" "^200 "
    # 20 identical requests at once: each one is counted (no merged lookups).
    got=$(stack_curl $LOG -Z --parallel-max 20 -o /dev/null -w '%{http_code}\n' \
        $(for i in $(seq 1 20); do echo "http://log2.test:$P/par$i"; done) 2>/dev/null |
        sort | uniq -c | awk '{print $1 "x" $2}')
    v "logging workspace: 20 parallel requests allowed" "$got" "^20x200$"
    # An upload with Expect: 100-continue is one request.
    got=$(stack_curl $A --max-time 60 -H 'Expect: 100-continue' --data-binary @"$STACK_DIR/upload" \
        "http://upload.test:$P/up" 2>&1)
    v "50 MB POST arrives intact" "$got" "^$want_upload$"
    got=$(stack_curl $A -o /dev/null -w '%{http_code}' --max-time 60 --data-binary @"$STACK_DIR/upload" \
        "http://evil.test:$P/up" 2>/dev/null)
    v "50 MB POST to a denied host: 403" "$got" "^403$"
    sleep 1 # the flush interval of both paths is 200 ms here
    seen=$("$STORECTL" "$STORE" seen ws-log | grep '^log1.test ')
    read -r _ count allowed_n denied_n first last verdict <<<"$seen"
    v "logging: 7 requests recorded as 7" "$count" "^7$"
    v "logging: all 7 allowed" "$allowed_n/$denied_n/$verdict" "^7/0/allow$"
    if [ -n "$first" ] && [ "$first" -ge "$t0" ] && [ "$first" -le "$last" ] && [ "$last" -le "$t1" ]; then
        ok "$path: logging: first and last seen within the requests ($first..$last)"
    else
        fail "$path: logging: first and last seen within the requests" "$seen, requests $t0..$t1"
    fi
    seen=$("$STORECTL" "$STORE" seen ws-log | grep '^log2.test ')
    v "logging: 20 parallel requests recorded as 20" "$seen" "^log2.test 20 20 0 "

    seen=$("$STORECTL" "$STORE" seen ws-a | grep '^evil.test ')
    read -r _ count allowed_n denied_n first last verdict <<<"$seen"
    v "security: denied host recorded as denied" "$allowed_n/$verdict" "^0/deny$"
    v "security: denial counted" "$denied_n" "^[1-9][0-9]*$"
    v "security: allowed host recorded as allowed" "$("$STORECTL" "$STORE" seen ws-a)" \
        "^exact.test [0-9]+ [0-9]+ 0 .* allow$"

    denied "before the mode change" $A new.test
    storectl set-mode ws-a logging
    v "mode set to logging: allowed at once" "$(get $A new.test)" "^200 "
    storectl set-mode ws-a security
    v "mode back to security: denied at once" "$(get $A new.test)" "^403 "
    storectl add-rule course1 new.test
    v "rule added: allowed at once" "$(get $A new.test)" "^200 "
    storectl rules-replace course1 exact.test upload.test
    v "whitelist replaced without it: denied at once" "$(get $A new.test)" "^403 "
    v "whitelist replaced: .suffix rule gone" "$(get $A www.suffix.test)" "^403 "
    storectl unmap ws-b
    v "workspace unmapped: denied at once" "$(get $B other.test)" "^403 "

    denied "unmapped IP" 127.0.0.9 exact.test
    expect_match "$path: access log: reason of the unknown client" "$(cat "$SQUID_ACCESS_LOG")" \
        "127.0.0.9 .*unknown-client; host=exact.test; project=-"
    expect_match "$path: access log: reason of a whitelist denial" "$(cat "$SQUID_ACCESS_LOG")" \
        "127.0.0.2 .*not-whitelisted; host=evil.test; project=ws-a"
    expect_no_match "$path: no ICAP or helper error in squid's log" "$(cat "$SQUID_CACHE_LOG")" \
        "ICAP|essential|helper.*(exited|crash)|WARNING: egress"
    sleep 1
    seen_dump >"$STACK_DIR/$path.seen"
}

for path in icap acl; do
    : >"$STACK_DIR/$path.verdicts"
    setup_store "$STACK_DIR/store-$path"
    start_path $path "$STORE"
    table
    if [ $path = icap ]; then
        # c-icap down: squid fails closed.
        stack_stop_icap
        got=$(get $A exact.test)
        expect_match "icap: c-icap stopped: squid answers an error" "$got" "^5[0-9][0-9] "
        expect_no_match "icap: c-icap stopped: nothing reaches the origin" "$got" "origin host="
        got=$(tunnel $A exact.test)
        expect_no_match "icap: c-icap stopped: no tunnel" "$got" "^200 |origin host="
    fi
    [ $path = acl ] || stack_stop_squid
done

# The two paths: same verdicts, same counts.
got=$(diff "$STACK_DIR/icap.verdicts" "$STACK_DIR/acl.verdicts")
expect_eq "both paths: the same verdict for every request ($(wc -l <"$STACK_DIR/acl.verdicts") requests)" "$got" ""
got=$(diff "$STACK_DIR/icap.seen" "$STACK_DIR/acl.seen")
expect_eq "both paths: the same recorded counts ($(wc -l <"$STACK_DIR/acl.seen") records)" "$got" ""
expect_match "the comparison covers denied and allowed records" "$(cat "$STACK_DIR/acl.seen")" \
    "ws-a evil.test [0-9]+ 0 [0-9]+ deny"

# The helper killed while it holds a request: that request is denied and
# nothing reaches the origin; squid starts a new helper for the next one.
path=acl
helper=$(pgrep -P "$SQUID_PID" -x egress-acl | head -1)
if [ -z "$helper" ]; then
    fail "acl: a helper process runs under squid" "none found under $SQUID_PID"
else
    kill -STOP "$helper"
    get $A exact.test >"$STACK_DIR/held.out" &
    held=$!
    sleep 1
    kill -KILL "$helper"
    wait $held
    got=$(cat "$STACK_DIR/held.out")
    expect_no_match "acl: helper killed holding a request: not let through" "$got" "^200 |origin host="
    expect_match "acl: helper killed holding a request: squid answers an error" "$got" "^[45][0-9][0-9] "
    expect_match "acl: after the kill, squid's helper answers again" "$(get $A exact.test)" "^200 origin"
    new=$(pgrep -P "$SQUID_PID" -x egress-acl | head -1)
    [ -n "$new" ] && [ "$new" != "$helper" ] && ok "acl: squid started a new helper ($helper -> $new)" ||
        fail "acl: squid started a new helper" "old $helper, now '$new'"
fi
stack_stop_squid

# The store cannot be opened: the helper denies everything (store-error).
STACK_INSTANCE=-nostore SQUID_POLICY=acl ACL_STORE=$STACK_DIR/no-such-store stack_start_squid || exit 99
got=$(get $A exact.test)
expect_match "acl: store missing: denied with our page" "$got" "^403 .*Access to exact.test is blocked"
expect_match "acl: store missing: the reason is logged" "$(cat "$SQUID_ACCESS_LOG")" \
    "127.0.0.2 .*store-error; host=exact.test"
got=$(tunnel $A exact.test)
expect_no_match "acl: store missing: no tunnel" "$got" "^200 |origin host="

finish

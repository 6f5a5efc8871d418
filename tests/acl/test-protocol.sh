#!/bin/sh
# The helper fed directly, as squid would and as squid never should: channel
# ids, answers and their fields, malformed and huge lines, odd channel ids,
# empty, IDN and percent-escaped hosts, norecord, the port field, the
# intercept check, the iprule question, a missing store, bad options, the
# bump mode (the ssl_bump question of LLM capture, a mode
# switch seen by a running helper), and the two ways it ends (stdin
# closed, SIGTERM) with every count written to the store before exit.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
: "${top_srcdir:?run from make check (top_srcdir unset)}"
: "${top_builddir:?run from make check (top_builddir unset)}"
. "$top_srcdir/tests/lib/check.sh"
HELPER="$top_builddir/acl/egress-acl"
STORECTL="$top_builddir/tests/lib/storectl"
[ -x "$HELPER" ] && [ -x "$STORECTL" ] || {
    echo "acl/egress-acl or tests/lib/storectl is not built"
    exit 99
}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ep-acl-XXXXXX") || exit 99
HPID=
cleanup() {
    [ -n "$HPID" ] && kill -KILL "$HPID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
STORE="$DIR/store"
mkdir -p "$STORE"
st() { "$STORECTL" "$STORE" "$@" >/dev/null || {
    echo "storectl $* failed"
    exit 99
}; }
st create-project ws-a security course1
st map 127.0.0.2 ws-a
st rules-replace course1 exact.test .suffix.test '~^api[0-9]+\.rx\.test$'
st create-project ws-log logging
st map 127.0.0.4 ws-log

# helper [OPTION...]: feed stdin to the helper; its answers on stdout, its log in $DIR/err.
helper() {
    timeout 20 "$HELPER" --database "$STORE" "$@" 2>"$DIR/err"
}
seen() { "$STORECTL" "$STORE" seen "$1" | awk -v h="$2" '$1 == h {print $2 "/" $3 "/" $4}'; }

out=$(printf '%s\n' '1 127.0.0.2 GET exact.test' '2 127.0.0.2 CONNECT evil.test' \
    '3 127.0.0.2 GET www.suffix.test -' '4 127.0.0.2 GET api7.rx.test' | helper)
expect_match "allowed: OK with reason, host, project and rule" "$out" \
    '^1 OK tag=rule log="rule; host=exact.test; project=ws-a; rule=exact.test"$'
expect_match "denied: ERR with the reason" "$out" \
    '^2 ERR tag=not-whitelisted log="not-whitelisted; host=evil.test; project=ws-a" message="not-whitelisted; host=evil.test; project=ws-a"$'
expect_match "squid's %DATA '-' is ignored; the suffix rule named" "$out" '^3 OK .*rule=\.suffix\.test"$'
case "$out" in
*'4 OK '*'rule=~^api[0-9]+\\.rx\\.test$"'*) ok "a regex rule's backslashes are escaped in quotes" ;;
*) fail "a regex rule's backslashes are escaped in quotes" "$out" ;;
esac
expect_eq "one answer per request" "$(echo "$out" | wc -l)" 4

out=$(printf '127.0.0.2 GET exact.test\n127.0.0.2 GET evil.test\n' | helper)
expect_match "without concurrency: answers without channel id" "$out" '^OK tag=rule .*
ERR tag=not-whitelisted'

out=$(printf '%s\r\n' '8 127.0.0.2 GET exact.test' | helper)
expect_match "CRLF line ends" "$out" '^8 OK tag=rule '

# Odd channel ids are echoed as they came; order is squid's.
out=$(printf '%s\n' '99999999999999999999 127.0.0.2 GET exact.test' '0 127.0.0.2 GET exact.test' \
    '42 127.0.0.2 GET evil.test' '7 127.0.0.2 GET exact.test' | helper)
expect_eq "unknown and unordered channel ids echoed" "$(echo "$out" | awk '{print $1 $2}' | tr '\n' ' ')" \
    "99999999999999999999OK 0OK 42ERR 7OK "

# Malformed lines: ERR bad-request, with the channel id when there is one.
out=$(printf '%s\n' '' '5' '6 127.0.0.2' '7 127.0.0.2 GET' '9 127.0.0.2 GET exact.test bogusword' \
    '10 127.0.0.2 GET exact.test' | helper)
expect_match "empty line: ERR" "$out" '^ERR tag=bad-request'
expect_match "only a channel id: ERR" "$out" '^5 ERR tag=bad-request'
expect_match "no method or host: ERR" "$out" '^6 ERR tag=bad-request'
expect_match "no host: ERR" "$out" '^7 ERR tag=bad-request'
expect_match "an unknown word after the host: ERR" "$out" '^9 ERR tag=bad-request'
expect_match "a good line after bad ones: answered" "$out" '^10 OK tag=rule'
expect_eq "malformed lines: no OK but the good one" "$(echo "$out" | grep -c ' OK \|^OK ')" 1

# A huge line (1 MB) is answered once, ERR with its channel id; the next line is fine.
{
    printf '11 127.0.0.2 GET '
    head -c 1000000 /dev/zero | tr '\0' a
    printf '\n12 127.0.0.2 GET exact.test\n'
} >"$DIR/huge"
out=$(helper <"$DIR/huge")
expect_eq "huge line: answered ERR with its id, then the next line OK" \
    "$(echo "$out" | awk '{print $1, $2, $3}' | tr '\n' ' ')" "11 ERR tag=bad-request 12 OK tag=rule "
out=$({
    printf '13 127.0.0.2 GET exact.test '
    head -c 10000 /dev/zero | tr '\0' b
    printf '\n'
} | helper)
expect_match "line over the limit in its words: ERR, never OK" "$out" '^13 ERR tag=bad-request'

# Hosts: empty, unreadable, IDN, percent-escaped (squid URL-escapes each field).
out=$(printf '%s\n' '20 127.0.0.2 GET -' '21 127.0.0.2 GET bad..host' \
    '22 127.0.0.2 GET b%C3%BCcher.suffix.test' '23 127.0.0.2 GET %2565xact.test' \
    '24 127.0.0.2 GET EXACT.TEST.' '25 127.0.0.2 CONNECT exact.test%3A443' \
    '26 127.0.0.2 GET %5B%3A%3A1%5D' '27 127.0.0.2 GET exact.test%00.evil.test' | helper)
expect_match "empty host ('-'): bad-host" "$out" '^20 ERR tag=bad-host'
expect_match "unreadable host: bad-host" "$out" '^21 ERR tag=bad-host'
expect_match "IDN host: allowed as punycode by the .suffix rule" "$out" \
    '^22 OK .*host=xn--bcher-kva\.suffix\.test'
expect_match "percent-escaped host decoded like the ICAP path" "$out" '^23 OK .*host=exact\.test;'
expect_match "case and trailing dot" "$out" '^24 OK .*host=exact\.test;'
expect_match "a port in the host field is dropped" "$out" '^25 OK .*host=exact\.test;'
expect_match "IPv6 literal: denied (not listed)" "$out" '^26 ERR tag=not-whitelisted log="not-whitelisted; host=::1;'
expect_match "NUL in a host: bad-host" "$out" '^27 ERR tag=bad-host'

# Unknown and missing clients.
out=$(printf '%s\n' '30 127.0.0.9 GET exact.test' '31 - GET exact.test' | helper)
expect_match "unmapped IP: denied" "$out" '^30 ERR tag=unknown-client log="unknown-client; host=exact.test; project=-"'
expect_match "no client IP: denied" "$out" '^31 ERR tag=unknown-client'
out=$(printf '%s\n' '32 127.0.0.9 GET exact.test' | helper --unknown-client allow)
expect_match "--unknown-client allow" "$out" '^32 OK tag=unknown-client'

# Recording: exact counts written at the end of input, norecord not counted.
for i in $(seq 1 500); do echo "$i 127.0.0.4 GET count.test"; done >"$DIR/many"
echo "501 127.0.0.4 GET count.test norecord" >>"$DIR/many"
out=$(helper --flush-interval 3600s <"$DIR/many")
expect_eq "stdin closed: all answered" "$(echo "$out" | grep -c ' OK ')" 501
expect_eq "stdin closed: 500 counted, norecord not, written before exit" "$(seen ws-log count.test)" "500/500/0"
expect_match "stdin closed: exit line with the counts" "$(cat "$DIR/err")" \
    'exit \(end of input\): 501 allowed, 0 denied, 500 recorded'
out=$(printf '%s\n' '1 127.0.0.2 GET denied.test' '2 127.0.0.2 GET denied.test' | helper)
expect_eq "security: denials counted" "$(seen ws-a denied.test)" "2/0/2"

# SIGTERM: the loop ends and the counts are written.
mkfifo "$DIR/in"
"$HELPER" --database "$STORE" --flush-interval 3600s <"$DIR/in" >"$DIR/out" 2>"$DIR/err" &
HPID=$!
exec 3>"$DIR/in"
for i in 1 2 3; do echo "$i 127.0.0.4 GET term.test" >&3; done
for i in $(seq 1 50); do
    [ "$(wc -l <"$DIR/out")" -ge 3 ] && break
    sleep 0.1
done
kill -TERM "$HPID"
for i in $(seq 1 50); do
    kill -0 "$HPID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$HPID" 2>/dev/null && fail "SIGTERM: the helper exits" "still running" || ok "SIGTERM: the helper exits"
wait "$HPID"
expect_eq "SIGTERM: exit status 0" "$?" 0
HPID=
exec 3>&-
expect_eq "SIGTERM: 3 answered" "$(grep -c ' OK ' "$DIR/out")" 3
expect_eq "SIGTERM: 3 counted and written" "$(seen ws-log term.test)" "3/3/0"

# The bump mode (acl word "bump", contrib/squid/egress-capture.conf): the
# ssl_bump question of LLM capture. OK only for a logging workspace and a
# host on the store's LLM host list (its defaults hold api.openai.com).
out=$(printf '%s\n' '40 127.0.0.4 CONNECT api.openai.com bump' \
    '41 127.0.0.2 CONNECT api.openai.com bump' '42 127.0.0.9 CONNECT api.openai.com bump' \
    '43 127.0.0.4 CONNECT exact.test bump' '44 - CONNECT api.openai.com bump' \
    '45 127.0.0.4 CONNECT - api.openai.com bump' '46 127.0.0.4 CONNECT - bump' \
    '47 127.0.0.4 CONNECT - - bump' '48 127.0.0.4 CONNECT exact.test api.openai.com bump' \
    '49 127.0.0.4 CONNECT API.OpenAI.COM. bump' '50 127.0.0.4 CONNECT - api.openai.com%3A443 bump' \
    '51 127.0.0.4 CONNECT api.openai.com%00.evil.test bump' \
    '52 127.0.0.4 CONNECT exact.test api.openai.com' '53 127.0.0.4 CONNECT api.openai.com bump extra' \
    '54 127.0.0.4 CONNECT api.openai.com - bump' '127.0.0.4 CONNECT api.openai.com bump' | helper)
expect_match "bump: logging workspace, LLM host: OK with the project" "$out" \
    '^40 OK tag=bump log="bump; host=api\.openai\.com; project=ws-log"'
expect_match "bump: security workspace: never" "$out" '^41 ERR tag=not-logging .*project=ws-a"'
expect_match "bump: unknown client: never" "$out" '^42 ERR tag=not-logging'
expect_match "bump: a host not on the LLM list: not bumped" "$out" '^43 ERR tag=not-llm-host'
expect_match "bump: no client IP: never" "$out" '^44 ERR tag=not-logging'
expect_match "bump: no SNI: the CONNECT host decides" "$out" '^45 OK tag=bump .*host=api\.openai\.com;'
expect_match "bump: no SNI and no CONNECT host: bad-host" "$out" '^46 ERR tag=bad-host'
expect_match "bump: no SNI, CONNECT host '-': bad-host" "$out" '^47 ERR tag=bad-host'
expect_match "bump: the SNI decides over the CONNECT host" "$out" '^48 ERR tag=not-llm-host .*host=exact\.test;'
expect_match "bump: host case and trailing dot" "$out" '^49 OK tag=bump'
expect_match "bump: a port in the CONNECT host is dropped" "$out" '^50 OK tag=bump .*host=api\.openai\.com;'
expect_match "bump: NUL in the SNI: bad-host" "$out" '^51 ERR tag=bad-host'
expect_match "without bump, a second host field is a bad request" "$out" '^52 ERR tag=bad-request'
expect_match "bump: an unknown word after it: bad request" "$out" '^53 ERR tag=bad-request'
expect_match "bump: SNI with a CONNECT host '-'" "$out" '^54 OK tag=bump'
expect_match "bump: without concurrency, no channel id" "$out" '^OK tag=bump'
expect_eq "bump: one answer per line" "$(echo "$out" | wc -l)" 16
expect_eq "bump: nothing recorded" "$(seen ws-log api.openai.com)" ""
expect_match "bump: the exit line counts bumped and not bumped" "$(cat "$DIR/err")" \
    'exit \(end of input\): 0 allowed, 2 denied, 0 recorded, 0 store errors, 2 bad requests, 6 bumped, 8 not bumped'

# A mode switch reaches the very next bump question of a running helper.
mkfifo "$DIR/in2"
"$HELPER" --database "$STORE" <"$DIR/in2" >"$DIR/out2" 2>"$DIR/err" &
HPID=$!
exec 3>"$DIR/in2"
# ask ID: one bump question for the logging workspace; its answer line.
ask() {
    echo "$1 127.0.0.4 CONNECT api.openai.com bump" >&3
    for _ in $(seq 1 100); do
        grep -q "^$1 " "$DIR/out2" && break
        sleep 0.05
    done
    grep "^$1 " "$DIR/out2"
}
expect_match "running helper: logging, bumped" "$(ask 60)" '^60 OK tag=bump'
st set-mode ws-log security
expect_match "running helper: switched to security, the next question is not bumped" "$(ask 61)" \
    '^61 ERR tag=not-logging'
st set-mode ws-log logging
expect_match "running helper: back to logging, bumped again" "$(ask 62)" '^62 OK tag=bump'
exec 3>&-
wait "$HPID"
HPID=

# The store cannot be opened: every request denied, store-error; logging too.
out=$(printf '%s\n' '1 127.0.0.2 GET exact.test' '2 127.0.0.4 GET exact.test' |
    timeout 20 "$HELPER" --database "$DIR/missing" 2>"$DIR/err")
expect_match "store missing: denied with store-error" "$out" '^1 ERR tag=store-error'
expect_match "store missing: a logging workspace is denied too (nothing decided)" "$out" '^2 ERR tag=store-error'
expect_match "store missing: the log names the store" "$(cat "$DIR/err")" "cannot open the store.*$DIR/missing"

# The port field (--format ...,port: squid's %>rP): read after HOST, handed
# to the decision (the log line shows it), "-" unknown; the old
# three-field line is still the default format.
P="--format client,method,host,port"
out=$(printf '%s\n' '70 127.0.0.2 GET exact.test 80' '71 127.0.0.2 CONNECT evil.test 443 norecord' \
    '72 127.0.0.2 GET exact.test -' '73 127.0.0.2 GET exact.test 99999' '74 127.0.0.2 GET exact.test 8o' \
    '75 127.0.0.2 GET exact.test' '76 127.0.0.2 GET exact.test 0' '77 127.0.0.2 GET exact.test 8080' |
    helper $P --log-decisions)
expect_match "port: OK, the same answer as without it" "$out" '^70 OK tag=rule log="rule; host=exact\.test; project=ws-a; rule=exact\.test"$'
expect_match "port 8080, which no rule names: denied" "$out" '^77 ERR tag=port-not-allowed log="port-not-allowed; host=exact\.test; project=ws-a"'
expect_match "port: a word still follows it" "$out" '^71 ERR tag=not-whitelisted'
expect_match "port '-': unknown, decided" "$out" '^72 OK tag=rule'
expect_match "port out of range: bad-request" "$out" '^73 ERR tag=bad-request'
expect_match "port not a number: bad-request" "$out" '^74 ERR tag=bad-request'
expect_match "port missing from a line of this format: bad-request" "$out" '^75 ERR tag=bad-request'
expect_match "port 0: unknown, decided" "$out" '^76 OK tag=rule'
expect_match "port: reaches the decision (its log line)" "$(cat "$DIR/err")" \
    'egress-acl: allow GET exact\.test:80 from 127\.0\.0\.2: rule; host=exact\.test;'
expect_match "port: CONNECT's port" "$(cat "$DIR/err")" 'egress-acl: deny CONNECT evil\.test:443 from'
expect_match "port unknown: no port in the log line" "$(cat "$DIR/err")" 'egress-acl: allow GET exact\.test from'

# --intercept (the helper of squid's intercepting http_port): the Host
# header field (%{Host}>h) must name the request's host (and port, when it
# names one); CONNECT and a missing Host header are denied.
I="--format client,method,host,port,host-header"
lines=('80 127.0.0.2 GET exact.test 80 exact.test' '81 127.0.0.2 GET exact.test 80 -'
    '82 127.0.0.2 GET exact.test 80 evil.test' '83 127.0.0.2 GET exact.test 80 exact.test%3A8080'
    '84 127.0.0.2 GET exact.test 80 exact.test%3A80' '85 127.0.0.2 GET exact.test 80 EXACT.Test.'
    '86 127.0.0.2 CONNECT exact.test 443 exact.test%3A443' '87 127.0.0.2 GET exact.test 80 bad..host'
    '88 127.0.0.2 GET exact.test 80 exact.test.evil.test' '89 127.0.0.4 GET any.test 80 other.test'
    '90 127.0.0.2 GET evil.test 80 evil.test' '91 127.0.0.2 GET exact.test 80 exact.test%00.x')
out=$(printf '%s\n' "${lines[@]}" | helper $I --intercept)
expect_match "intercept: Host header of the request's host: decided as usual" "$out" '^80 OK tag=rule log="rule; host=exact\.test; project=ws-a; rule=exact\.test"$'
expect_match "intercept: no Host header: denied" "$out" \
    '^81 ERR tag=intercept-no-host log="intercept-no-host; host=exact\.test; project=ws-a"'
expect_match "intercept: another host in the Host header: denied" "$out" \
    '^82 ERR tag=intercept-host-mismatch log="intercept-host-mismatch; host=exact\.test; project=ws-a"'
expect_match "intercept: another port in the Host header: denied" "$out" '^83 ERR tag=intercept-host-mismatch'
expect_match "intercept: the same port in the Host header: decided" "$out" '^84 OK tag=rule'
expect_match "intercept: the Host header normalised (case, trailing dot)" "$out" '^85 OK tag=rule'
expect_match "intercept: CONNECT is denied, even to a listed host" "$out" '^86 ERR tag=intercept-connect'
expect_match "intercept: an unreadable Host header: denied" "$out" '^87 ERR tag=intercept-host-mismatch'
expect_match "intercept: a look-alike Host header: denied" "$out" '^88 ERR tag=intercept-host-mismatch'
expect_match "intercept: a logging workspace is denied too" "$out" \
    '^89 ERR tag=intercept-host-mismatch log="intercept-host-mismatch; host=any\.test; project=ws-log"'
expect_match "intercept: a matching Host header does not open an unlisted host" "$out" '^90 ERR tag=not-whitelisted'
expect_match "intercept: NUL in the Host header: bad-request" "$out" '^91 ERR tag=bad-request'
expect_eq "intercept: one answer per line" "$(echo "$out" | wc -l)" "${#lines[@]}"
expect_eq "intercept: the denial is recorded as denied" "$(seen ws-log any.test)" "1/0/1"
# The same lines without --intercept: the Host header field is read and not checked.
out=$(printf '%s\n' "${lines[@]}" | helper $I)
expect_match "without --intercept: no Host header is fine" "$out" '^81 OK tag=rule'
expect_match "without --intercept: another host in the Host header is fine" "$out" '^82 OK tag=rule'
expect_match "without --intercept: CONNECT is fine" "$out" '^86 OK tag=rule'

# iprule: does an ip: rule of the client's project (profile or base
# domains, any mode) name this address? Never recorded.
st add-rule course1 ip:10.9.8.7
st add-rule @base ip:10.5.5.5
st add-rule default ip:10.1.1.1
out=$(printf '%s\n' '100 127.0.0.2 GET 10.9.8.7 iprule' '101 127.0.0.2 GET 10.9.8.8 iprule' \
    '102 127.0.0.2 GET exact.test iprule' '103 127.0.0.9 GET 10.9.8.7 iprule' \
    '104 127.0.0.4 GET 10.1.1.1 iprule' '105 127.0.0.4 GET 10.9.8.7 iprule' \
    '106 127.0.0.2 GET 10.5.5.5 iprule' '107 127.0.0.2 CONNECT 10.9.8.7%3A443 iprule' \
    '108 127.0.0.2 GET 10.9.8.7 iprule bump' '109 - GET 10.9.8.7 iprule' '110 127.0.0.2 GET - iprule' \
    '111 127.0.0.2 GET 10.9.8.7 norecord iprule' | helper)
expect_match "iprule: the profile's ip: rule: OK, naming it" "$out" \
    '^100 OK tag=ip-rule log="ip-rule; host=10\.9\.8\.7; project=ws-a; rule=ip:10\.9\.8\.7"$'
expect_match "iprule: an address no rule names: ERR" "$out" \
    '^101 ERR tag=no-ip-rule log="no-ip-rule; host=10\.9\.8\.8; project=ws-a"'
expect_match "iprule: a name: ERR" "$out" '^102 ERR tag=not-ip'
expect_match "iprule: an unknown client: ERR" "$out" '^103 ERR tag=unknown-client'
expect_match "iprule: a logging workspace's own ip: rule: OK" "$out" '^104 OK tag=ip-rule .*project=ws-log; rule=ip:10\.1\.1\.1"$'
expect_match "iprule: another project's ip: rule: ERR" "$out" '^105 ERR tag=no-ip-rule'
expect_match "iprule: a base ip: rule: OK" "$out" '^106 OK tag=ip-rule .*rule=ip:10\.5\.5\.5"$'
expect_match "iprule: a port in the host field is dropped" "$out" '^107 OK tag=ip-rule'
expect_match "iprule with bump: bad-request" "$out" '^108 ERR tag=bad-request'
expect_match "iprule: no client: ERR" "$out" '^109 ERR tag=unknown-client'
expect_match "iprule: no host: ERR" "$out" '^110 ERR tag=bad-host'
expect_match "iprule: with norecord too" "$out" '^111 OK tag=ip-rule'
expect_eq "iprule: nothing recorded" "$("$STORECTL" "$STORE" seen ws-a | grep -c '^10\.')" 0
expect_eq "iprule: nothing recorded for the logging workspace" "$(seen ws-log 10.1.1.1)" ""

# Options.
for bad in "--database relative" "--unknown-client maybe" "--flush-interval 5ms" \
    "--flush-interval soon" "--max-readers 0" "--max-readers 15" "--map-size 10" \
    "--key-filter maybe" "--key-filter-memory 1K" "--format client,host" \
    "--format client,method,host,colour" "--format client,method,host,port,port" \
    "--intercept" "--bogus" "extra"; do
    # shellcheck disable=SC2086
    msg=$("$HELPER" $bad </dev/null 2>&1)
    rc=$?
    expect_eq "option '$bad' refused (exit 2)" "$rc" 2
    expect_match "option '$bad': the message names it" "$msg" "${bad%% *}|usage"
done
expect_match "--help" "$("$HELPER" --help)" "^usage: egress-acl"
help=$("$HELPER" --help)
expect_match "--help documents the port field" "$help" "port \(%>rP"
expect_match "--help documents the Host header field" "$help" "host-header \(%\{Host\}>h"
expect_match "--help documents --intercept" "$help" "^  --intercept "
expect_match "--help documents iprule" "$help" "^  iprule "
expect_match "--intercept without host-header says what to add" \
    "$("$HELPER" --intercept </dev/null 2>&1)" "add host-header to --format"

finish

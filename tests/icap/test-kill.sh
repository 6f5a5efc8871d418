#!/bin/sh
# Hostile load: 20 workspaces (127.0.0.10-29; ten in security mode with the
# whitelist {stable.test, sometimes flip.test}, ten in logging mode) make
# keep-alive requests through squid in a loop while c-icap children are
# killed with SIGKILL several times and squid once (then started again on
# the same configuration, as systemd's Restart= would). Meanwhile a checker
# workspace (127.0.0.30) flips the shared whitelist and its own mode and,
# after each committed change, asks through squid: its answer must be the
# one the committed state gives (a 5xx while a process is down is failing
# closed and allowed; an answer the state forbids is not).
#
# Checked: no workspace ever gets a verdict its state forbids (never.test is
# never let through in security mode, stable.test never denied, nothing
# denied in logging mode); the checker sees every committed change at once;
# the c-icap master replaces every killed child by itself; afterwards every
# workspace is served again without a manual step; the reader table holds
# no slot of a killed child (`mdb_stat -r`: a new child clears stale readers
# with mdb_reader_check; the last child is killed after the load, holding
# slots, when nothing else opens the store) and none at all once c-icap
# stopped (a holder keeps the store open so the table is not reset); the store
# opens and holds the checker's last change. Bounded: about 40 s.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid
command -v mdb_stat >/dev/null 2>&1 || {
    echo "mdb_stat is not installed (Debian: lmdb-utils)"
    exit 77
}

LOAD_SECONDS=${KILL_LOAD_SECONDS:-24}
CHILD_KILLS=4
STACK_HOSTS="stable.test never.test flip.test"
stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
storectl rules-replace kill stable.test
for i in $(seq 10 19); do
    storectl create-project "ws$i" security kill
    storectl map "127.0.0.$i" "ws$i"
done
for i in $(seq 20 29); do
    storectl create-project "ws$i" logging kill
    storectl map "127.0.0.$i" "ws$i"
done
storectl create-project checker security kill
storectl map 127.0.0.30 checker

stack_start_origin web || exit 99
ICAP_SERVERS=3 ICAP_THREADS=30 stack_start_icap "$STORE" || exit 99
stack_start_squid || exit 99
P=$ORIGIN_PORT
# A process that keeps the store open to the end, so the reader table is
# not reset by a last close: what c-icap leaves behind stays visible.
mkfifo "$STACK_DIR/hold"
"$STORECTL" "$STORE" hold <"$STACK_DIR/hold" >"$STACK_DIR/hold.out" &
HOLDER=$!
STACK_ALL_PIDS="$STACK_ALL_PIDS $HOLDER"
exec 9>"$STACK_DIR/hold"
SQUID_D="$STACK_DIR/squid"

# children: the pids of c-icap's children (its master is ICAP_PID).
children() { ps -o pid= --ppid "$ICAP_PID" | tr -d ' '; }
# wait_children N: wait (at most 30 s) until the master runs N children
# again, none of them in KILLED; 0 when it does.
wait_children() {
    local i pid ok
    for i in $(seq 1 300); do
        ok=0
        for pid in $(children); do
            case " $KILLED " in *" $pid "*) ;; *) ok=$((ok + 1)) ;; esac
        done
        [ "$ok" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# One workspace: batches of keep-alive requests for the three hosts until
# the stop file appears; "CODE URL" lines in load.IP.
workspace() {
    local ip=$1 args=() k host
    for k in 1 2 3 4 5; do
        for host in stable.test never.test flip.test; do
            args+=(-o /dev/null "http://$host:$P/$k")
        done
    done
    while [ ! -e "$STACK_DIR/stop" ]; do
        curl -s --max-time 20 --interface "$ip" -x "http://127.0.0.1:$SQUID_PORT" \
            -w '%{http_code} %{url_effective}\n' "${args[@]}"
        # squid restarting: refused at once; do not spin.
        [ $? -eq 7 ] && sleep 0.1
    done >"$STACK_DIR/load.$ip"
}

# The checker: commit a state (flip.test in the whitelist or not, its own
# mode security or logging), then ask for flip.test and never.test. Each
# answer must be what that state gives, or a 5xx/000 (a process down:
# nothing passes). Lines "STATE CODE URL" in checker.out, violations in
# checker.bad.
checker() {
    local n=0 flip mode want_flip want_never line code url want
    while [ ! -e "$STACK_DIR/stop" ]; do
        flip=$((n % 2)) mode=$(((n / 2) % 2))
        if [ $flip -eq 1 ]; then
            "$STORECTL" "$STORE" rules-replace kill stable.test flip.test
        else
            "$STORECTL" "$STORE" rules-replace kill stable.test
        fi >/dev/null 2>>"$STACK_DIR/checker.err" || echo "commit $n failed" >>"$STACK_DIR/checker.bad"
        if [ $mode -eq 1 ]; then
            "$STORECTL" "$STORE" set-mode checker logging
        else
            "$STORECTL" "$STORE" set-mode checker security
        fi >/dev/null 2>>"$STACK_DIR/checker.err" || echo "commit $n failed" >>"$STACK_DIR/checker.bad"
        want_never=403 want_flip=403
        [ $mode -eq 1 ] && want_never=200
        [ $mode -eq 1 ] || [ $flip -eq 1 ] && want_flip=200
        while read -r code url; do
            case "$url" in *flip.test*) want=$want_flip ;; *) want=$want_never ;; esac
            line="flip=$flip mode=$mode $code $url"
            echo "$line" >>"$STACK_DIR/checker.out"
            case "$code" in
            "$want") ;;
            5?? | 000) ;;
            *) echo "$line (the committed state gives $want)" >>"$STACK_DIR/checker.bad" ;;
            esac
        done < <(curl -s --max-time 20 --interface 127.0.0.30 -x "http://127.0.0.1:$SQUID_PORT" \
            -w '%{http_code} %{url_effective}\n' -o /dev/null "http://flip.test:$P/c$n" \
            -o /dev/null "http://never.test:$P/c$n")
        n=$((n + 1))
        echo "flip=$flip mode=$mode" >"$STACK_DIR/checker.last"
    done
}

: >"$STACK_DIR/checker.out"
: >"$STACK_DIR/checker.bad"
pids=()
for i in $(seq 10 29); do
    workspace "127.0.0.$i" &
    pids+=($!)
done
checker &
pids+=($!)
# An early exit must not leave the loops running: the stack's cleanup ends them too.
STACK_ALL_PIDS="$STACK_ALL_PIDS ${pids[*]}"

# The kills, spread over the load: c-icap children (one at a time, each
# replaced before the next), squid once in the middle.
KILLED=
step=$((LOAD_SECONDS / (CHILD_KILLS + 2)))
replaced=0
for k in $(seq 1 $((CHILD_KILLS + 1))); do
    sleep "$step"
    if [ "$k" -eq $((CHILD_KILLS / 2 + 1)) ]; then
        echo "kill -9 squid ($SQUID_PID)"
        kill -KILL "$SQUID_PID"
        wait "$SQUID_PID" 2>/dev/null
        # Started again as an admin or systemd would: same configuration.
        squid -N -f "$SQUID_D/squid.conf" >>"$SQUID_D/stdout.log" 2>&1 &
        SQUID_PID=$!
        STACK_ALL_PIDS="$STACK_ALL_PIDS $SQUID_PID"
        stack_wait_port "$SQUID_PORT" 30 || {
            echo "squid did not come back:"
            tail -20 "$SQUID_CACHE_LOG"
            exit 99
        }
        continue
    fi
    victim=$(children | shuf -n 1)
    [ -n "$victim" ] || {
        echo "c-icap has no child to kill"
        exit 99
    }
    echo "kill -9 c-icap child $victim"
    kill -KILL "$victim"
    KILLED="$KILLED $victim"
    wait_children 3 && replaced=$((replaced + 1))
done
sleep "$step"
touch "$STACK_DIR/stop"
wait "${pids[@]}"

# What the 20 workspaces got: nothing their state forbids. A 5xx (the ICAP
# service or squid down) and 000 (squid restarting) let nothing through.
sec=$(cat "$STACK_DIR"/load.127.0.0.1[0-9])
log=$(cat "$STACK_DIR"/load.127.0.0.2[0-9])
total=$(printf '%s\n%s\n' "$sec" "$log" | grep -c .)
down=$(printf '%s\n%s\n' "$sec" "$log" | grep -c '^\(5..\|000\) ')
echo "$total requests from 20 workspaces, $down of them answered 5xx or not at all;" \
    "$(grep -c . "$STACK_DIR/checker.out") checker requests"
[ "$total" -ge 600 ] && ok "load ran ($total requests)" || fail "load ran" "only $total requests"
expect_eq "security: never.test never let through" "$(printf '%s\n' "$sec" | grep -c '^200 .*never\.test')" 0
expect_eq "security: stable.test never denied" "$(printf '%s\n' "$sec" | grep -c '^403 .*stable\.test')" 0
expect_eq "logging: nothing denied" "$(printf '%s\n' "$log" | grep -c '^403 ')" 0
expect_eq "no answer but 200, 403, 5xx or none" \
    "$(printf '%s\n%s\n' "$sec" "$log" | grep -Evc '^(200|403|5[0-9][0-9]|000) ')" 0
expect_eq "the checker saw every committed change at once" "$(head -5 "$STACK_DIR/checker.bad")" ""
expect_eq "the checker's requests were answered" \
    "$(grep -Ec ' (200|403) ' "$STACK_DIR/checker.out" | awk '{print ($1 >= 20)}')" 1

# One more kill once the load and the checker stopped, of a child that holds
# reader slots: no other process opens the store from here on, so only the
# replacement child (mdb_reader_check at child start) can clear its slots.
slot_pids=$(mdb_stat -r "$STORE" | awk '$1 ~ /^[0-9]+$/ {print $1}' | sort -u)
victim=
for pid in $(children); do
    case " $(echo $slot_pids) " in *" $pid "*) victim=$pid ;; esac
done
[ -n "$victim" ] || {
    echo "no c-icap child holds a reader slot after the load (mdb_stat -r: $slot_pids)"
    exit 99
}
echo "kill -9 c-icap child $victim (holding reader slots), after the load"
kill -KILL "$victim"
KILLED="$KILLED $victim"
wait_children 3 && replaced=$((replaced + 1))
expect_eq "the c-icap master replaced every killed child" "$replaced" "$((CHILD_KILLS + 1))"

# Recovered without a manual step: every workspace is served again.
for i in $(seq 1 150); do
    [ "$(stack_curl 127.0.0.10 -o /dev/null -w '%{http_code}' "http://stable.test:$P/r" 2>/dev/null)" = 200 ] &&
        break
    sleep 0.2
done
bad=
for i in $(seq 10 29); do
    codes=$(stack_curl "127.0.0.$i" -w '%{http_code} ' -o /dev/null "http://stable.test:$P/after" \
        -o /dev/null "http://never.test:$P/after" 2>/dev/null)
    want="200 403 "
    [ "$i" -ge 20 ] && want="200 200 "
    [ "$codes" = "$want" ] || bad="$bad 127.0.0.$i:[$codes]"
done
expect_eq "afterwards every workspace gets its verdicts again" "$bad" ""

# Reader slots: none of a killed child; each one of a live process.
readers=$(mdb_stat -r "$STORE" | awk '$1 ~ /^[0-9]+$/ {print $1}' | sort -u)
echo "reader slots held by pids:" $readers "(c-icap children:" $(children)")"
stale=
for pid in $readers; do
    case " $KILLED " in *" $pid "*) stale="$stale $pid(killed)" ;; esac
    kill -0 "$pid" 2>/dev/null || stale="$stale $pid(gone)"
done
expect_eq "no reader slot of a dead process (mdb_stat -r)" "$stale" ""
expect_no_match "no store error in c-icap's log" "$(cat "$ICAP_LOG")" \
    "egress: .*(cannot|failed|fell back|READERS_FULL)"

stack_stop_squid
stack_stop_icap
left=$(mdb_stat -r "$STORE" | awk -v holder="$HOLDER" '$1 ~ /^[0-9]+$/ && $1 != holder {print $1}' |
    sort -u | tr '\n' ' ')
expect_eq "no reader slot left once c-icap stopped (mdb_stat -r, the store held open)" "$left" ""
exec 9>&-
wait "$HOLDER"
expect_eq "the holder kept the store open" "$(cat "$STACK_DIR/hold.out")" held
last=$(cat "$STACK_DIR/checker.last")
want="stable.test"
case "$last" in *flip=1*) want="flip.test stable.test" ;; esac
got=$("$STORECTL" "$STORE" rules-list kill 2>/dev/null | sort | tr '\n' ' ')
expect_eq "the store opens and holds the checker's last whitelist ($last)" "${got% }" "$want"
finish

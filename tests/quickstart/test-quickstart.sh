#!/bin/sh
# The quick start (contrib/quickstart.sh) as a user runs it, in loopback
# mode (no engine), with this build's programs (--no-build --build-dir),
# no package installation (--no-deps), a var directory and free ports of
# the test's own, all inside a network and mount namespace of the test's
# own, with an origin (tests/lib/origin) on port 80 of a TEST-NET address in
# a second namespace behind a veth pair as the outside address its "Try"
# commands fetch (--try-url): squid refuses loopback and this host's own
# addresses, so the outside must be outside. Checked:
#   - its squid.conf passes `squid -k parse` (it says so before starting);
#   - the review page's address it prints answers 200 with the page (the
#     source's api/ui/index.html, byte for byte), and the token file it
#     names signs in;
#   - its "Try" commands, cut from its output and run as printed: the
#     project is made, mapped, browses through squid (200 from the
#     origin) and what it reached is listed;
#   - Ctrl-C: SIGINT to the quick start alone, then (a second run over
#     the same var directory, whose store kept the project) SIGINT to its
#     whole process group as a terminal sends it; each time every process
#     it started (egress-api, squid, the egress-acl helpers) is gone and
#     its ports are free.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
: "${top_srcdir:?run from make check (top_srcdir unset)}"
: "${top_builddir:?run from make check (top_builddir unset)}"
command -v squid >/dev/null 2>&1 || {
    echo "squid is not installed (Debian: squid-openssl)"
    exit 77
}
[ "$(id -u)" = 0 ] || {
    echo "the quick start runs as root (squid switches to user proxy)"
    exit 99
}
for program in api/egress-api acl/egress-acl tests/lib/origin; do
    [ -x "$top_builddir/$program" ] || {
        echo "$program is not built"
        exit 99
    }
done
. "$top_srcdir/tests/lib/stack.sh"
. "$top_srcdir/tests/lib/check.sh"

if [ "${QS_INNER:-}" != 1 ]; then
    QS_INNER=1 exec unshare --net --mount --propagation private -- bash "$0" "$@"
fi
mount -t tmpfs tmpfs /run && ip link set lo up || exit 99
stack_init
OUTSIDE=198.51.100.10
ip netns add qs-out && ip link add qs-h type veth peer name qs-o && ip link set qs-o netns qs-out &&
    ip addr add 10.255.0.1/30 dev qs-h && ip link set qs-h up &&
    ip -n qs-out addr add 10.255.0.2/30 dev qs-o && ip -n qs-out link set qs-o up &&
    ip -n qs-out link set lo up && ip -n qs-out addr add $OUTSIDE/32 dev lo &&
    ip -n qs-out route add default via 10.255.0.1 && ip route add $OUTSIDE/32 via 10.255.0.2 || exit 99
ip netns exec qs-out "$top_builddir/tests/lib/origin" -a $OUTSIDE -p 80 >"$STACK_DIR/outside.log" 2>&1 &
STACK_ALL_PIDS="$STACK_ALL_PIDS $!"
for _ in $(seq 1 100); do
    curl -s --noproxy '*' --max-time 1 -o /dev/null "http://$OUTSIDE/" && break
    sleep 0.1
done
API_PORT=$(stack_free_port) || exit 99
SQUID_PORT=$(stack_free_port) || exit 99
while [ "$SQUID_PORT" = "$API_PORT" ]; do
    SQUID_PORT=$(stack_free_port) || exit 99
done
VAR=$STACK_DIR/var
QS_PID=
SNAPSHOT=

# End a quick start this test left running (a failed check): TERM to it
# and to every process of its last snapshot, then the stack.
cleanup() {
    local entry
    if [ -n "$QS_PID" ] && kill -0 "$QS_PID" 2>/dev/null; then
        kill -TERM "$QS_PID" 2>/dev/null
        stack_wait_gone "$QS_PID" 30
    fi
    for entry in $SNAPSHOT; do
        kill -KILL "${entry%%:*}" 2>/dev/null
    done
    stack_cleanup
}
trap cleanup EXIT

# start_quickstart NAME: run the quick start in a process group of its own
# (as a terminal's foreground job; background jobs of a script would
# ignore SIGINT otherwise), its output in $STACK_DIR/NAME.out; wait until
# it prints its closing text. Sets QS_PID and QS_OUT.
start_quickstart() {
    QS_OUT=$STACK_DIR/$1.out
    set -m
    # As from a terminal: SIGINT at its default even when this test runs in
    # the background (a shell's background job inherits SIGINT ignored, and
    # a shell cannot trap a signal ignored on entry).
    env --default-signal=INT "$top_srcdir/contrib/quickstart.sh" --no-deps --no-build --build-dir "$top_builddir" \
        --no-engine --var "$VAR" --api-port "$API_PORT" --squid-port "$SQUID_PORT" \
        --try-url "http://$OUTSIDE/from-the-quick-start" >"$QS_OUT" 2>&1 &
    QS_PID=$!
    set +m
    for _ in $(seq 1 600); do
        grep -q '^Reference' "$QS_OUT" && return 0
        kill -0 "$QS_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "the quick start did not come up; its output:"
    cat "$QS_OUT"
    tail -20 "$VAR/egress-api.log" "$VAR/squid/logs/cache.log" 2>/dev/null
    exit 99
}

# snapshot: "PID:STARTTIME:COMM" of every process below the quick start
# (the start time tells a process from a later one with its number).
snapshot() {
    local todo=$QS_PID pid child out=
    while [ -n "$todo" ]; do
        set -- $todo
        pid=$1
        shift
        todo="$*"
        for child in $(ps -o pid= --ppid "$pid"); do
            out="$out $child:$(proc_start "$child"):$(cat "/proc/$child/comm" 2>/dev/null)"
            todo="$todo $child"
        done
    done
    echo "$out"
}
proc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
# alive ENTRY: the snapshot's process still exists (and is not a zombie).
alive() {
    local pid=${1%%:*} rest=${1#*:} state
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$(proc_start "$pid")" = "${rest%%:*}" ]
}

# stopped_by NAME SIGNAL-TARGET: send SIGINT to TARGET (the quick start's
# pid, or -PGID for its group), then check that it and every process of
# the snapshot are gone (polled, 30 s at most) and its ports are free.
stopped_by() {
    local name=$1 target=$2 entry left= comms
    SNAPSHOT=$(snapshot)
    comms=$(for entry in $SNAPSHOT; do echo "${entry##*:}"; done | sort -u | tr '\n' ' ')
    expect_match "$name: the snapshot holds egress-api, squid and the helper" "$comms" \
        "egress-acl .*egress-api .*squid"
    kill -INT -- "$target"
    for _ in $(seq 1 300); do
        kill -0 "$QS_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$QS_PID" 2>/dev/null; then
        fail "$name: the quick start exits" "still running 30 s after SIGINT"
    else
        wait "$QS_PID" 2>/dev/null
        ok "$name: the quick start exits"
    fi
    expect_match "$name: it says it stopped" "$(cat "$QS_OUT")" "stopped; the store stays in $VAR/db"
    for _ in $(seq 1 300); do
        left=
        for entry in $SNAPSHOT; do
            alive "$entry" && left="$left $entry"
        done
        [ -z "$left" ] && break
        sleep 0.1
    done
    expect_eq "$name: no process it started remains" "$left" ""
    expect_eq "$name: nothing listens on its ports" \
        "$(ss -Hltn "( sport = :$API_PORT or sport = :$SQUID_PORT )")" ""
    QS_PID=
}

# --- run 1: the page, the Try commands, SIGINT to the quick start ----------
start_quickstart run1
out=$(cat "$QS_OUT")
expect_match "its squid.conf is checked with squid -k parse before squid starts" "$out" \
    "squid -k parse: clean"
page=$(printf '%s\n' "$out" | sed -n 's/^ *review page *\(http[^ ]*\).*/\1/p')
expect_eq "the review page's address is printed" "$page" "http://127.0.0.1:$API_PORT/"
expect_match "with how to sign in" "$out" "sign in with the admin token: the content of $VAR/admin-token"
status=$(curl -sS --noproxy '*' -o "$STACK_DIR/page.html" -w '%{http_code}' "$page")
expect_eq "the page answers 200" "$status" 200
if cmp -s "$STACK_DIR/page.html" "$top_srcdir/api/ui/index.html"; then
    ok "it is the review page (api/ui/index.html)"
else
    fail "it is the review page (api/ui/index.html)" "$(head -c 300 "$STACK_DIR/page.html")"
fi
expect_no_match "egress-api serves it (no 'ui: off')" "$(cat "$VAR/egress-api.log")" "ui: off"
expect_match "the named token signs in" "$(curl -sS --noproxy '*' -w ' %{http_code}' \
    -H "Authorization: Bearer $(cat "$VAR/admin-token")" "${page}api/projects")" ' 200$'

# The Try block as printed: from "Try" to the blank line, two spaces in.
printf '%s\n' "$out" | sed -n '/^Try/,/^$/p' | sed '1d;$d' | sed 's/^  //' >"$STACK_DIR/try.sh"
expect_match "the Try block was found" "$(cat "$STACK_DIR/try.sh")" "^TOKEN="
try=$(cd "$STACK_DIR" && bash "$STACK_DIR/try.sh" 2>&1)
echo "--- the Try commands answered:"
printf '%s\n' "$try"
P=$(printf '%s\n' "$try" | sed -n 's/^project \([0-9a-f]*\)$/\1/p')
expect_match "1. a project is made" "$P" '^[0-9a-f]{12}$'
expect_match "2. 127.0.0.1 is mapped to it" "$try" \
    "\"projectId\":\"$P\".*\"proxyMode\":\"logging\".*\"ipAddress\":\"127.0.0.1\""
# squid's own answers are 403 (denied) or 503 (origin unreachable): 200 is the origin's.
expect_match "3. the fetch through squid answers 200 (the origin's)" "$try" '^200$'
expect_match "4. the listing answers" "$try" "\"projectId\":\"$P\",.*\"domains\":"
# Step 4 again, as printed, until the helper's counts are written (its
# flush interval): the preamble, P as step 1 set it, the step's command.
{
    sed -n '/^TOKEN=/p; /^H=/p' "$STACK_DIR/try.sh"
    echo "P=$P"
    sed -n '/^# 4\./,$p' "$STACK_DIR/try.sh" | grep -v '^#'
} >"$STACK_DIR/step4.sh"
for _ in $(seq 1 100); do
    listing=$(bash "$STACK_DIR/step4.sh" 2>&1)
    printf '%s' "$listing" | grep -q "\"$OUTSIDE\":{\"count\":1," && break
    sleep 0.1
done
expect_match "4. what it reached is listed" "$listing" "\"${OUTSIDE//./\\.}\":\\{\"count\":1,\"allowed\":1,\"denied\":0"
stopped_by "SIGINT to the quick start" "$QS_PID"

# --- run 2: the same var directory, Ctrl-C to the whole process group -----
start_quickstart run2
expect_match "run 2: the store kept the project" "$(curl -sS --noproxy '*' \
    -H "Authorization: Bearer $(cat "$VAR/admin-token")" "http://127.0.0.1:$API_PORT/api/projects")" \
    "\"projectId\":\"$P\""
expect_eq "run 2: the page answers 200" \
    "$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' "http://127.0.0.1:$API_PORT/")" 200
stopped_by "Ctrl-C (SIGINT to its process group)" "-$QS_PID"

finish

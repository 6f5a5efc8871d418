#!/bin/sh
# egress-api with a real container engine: dockerd from Debian's docker.io
# in namespaces of its own (tests/lib/dockerd.sh) with the busybox stand-in
# workspace image, and egress-api on a random loopback port pointed at its
# socket. Everything goes through the API; what the engine did is read
# back from the engine itself (inspect, the archive API for the auth file,
# container and volume lookups).
#
# Covered: create -> start (IP mapped) -> stop (unmapped) -> delete, the
# volume kept or purged; the hardening of a container made through the API
# with the limits it asked for; password set, change and removal on a
# running and on a stopped workspace (auth file content, mode, owner; a
# wrong current password changes nothing); restart of egress-api after
# containers were stopped and removed behind its back (reconciliation);
# an engine error (no such image: 502, nothing left behind); the
# workspace network missing (named at start-up, 503 naming it and
# `egress-net up` at create and at start, the project and its container
# kept, start works once the network exists); the engine gone (503, the
# store unchanged).
# Skips (77) only when dockerd, unshare or a static busybox is missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-.}/tests/lib/dockerd.sh"
. "${top_srcdir:-.}/tests/lib/check.sh"

dockerd_have_tools || exit 77
if [ "$(id -u)" -ne 0 ]; then
    echo "test-api-containers: dockerd needs root; run make check as root"
    exit 99
fi
API="${top_builddir:-.}/api/egress-api"
[ -x "$API" ] || {
    echo "test-api-containers: $API is not built"
    exit 99
}

IMAGE=localhost/ws-test:latest
NET=ws-test-net
AUTH=/home/coder/.code-server-auth
TOKEN=containers-test-admin-token-0123456789
work=$(mktemp -d "${TMPDIR:-/tmp}/ep-api-containers-XXXXXX") || exit 99
API_PIDS=

cleanup() {
    for pid in $API_PIDS; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    dockerd_stop
    [ -n "${TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

# start_api NAME STORE [OPTIONS...]: egress-api on a random loopback port
# against the test engine; sets API_PORT, API_PID and API_LOG ($work/NAME.log,
# a new NAME for each start).
start_api() {
    local name=$1 store=$2 log
    shift 2
    log=$work/$name.log
    API_LOG=$log
    mkdir -p "$store"
    "$API" --db "$store" --listen 127.0.0.1:0 --admin-token-file "$work/token" \
        --bcrypt-cost 10 --docker-socket "$DOCKERD_SOCK" --workspace-image "$IMAGE" \
        --workspace-network "$NET" --proxy-url http://127.0.0.1:3128 \
        --no-proxy localhost,127.0.0.1 --stop-timeout 2 "$@" 2>>"$log" &
    API_PID=$!
    API_PIDS="$API_PIDS $API_PID"
    API_PORT=
    for _ in $(seq 1 300); do
        API_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        [ -n "$API_PORT" ] && return 0
        kill -0 "$API_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "egress-api ($name) did not start:"
    cat "$log"
    exit 99
}

stop_api() {
    kill -TERM "$API_PID" && wait "$API_PID"
}

# api METHOD PATH [JSON]: the admin's call; prints "STATUS BODY".
api() {
    local out
    out=$(curl -sS --noproxy '*' -X "$1" -H "Authorization: Bearer $TOKEN" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
        -w '\n%{http_code}' "http://127.0.0.1:$API_PORT$2")
    printf '%s %s\n' "$(printf '%s' "$out" | tail -n 1)" "$(printf '%s' "$out" | sed '$d')"
}
# anon METHOD PATH [JSON]: the same without the admin token.
anon() {
    local out
    out=$(curl -sS --noproxy '*' -X "$1" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
        -w '\n%{http_code}' "http://127.0.0.1:$API_PORT$2")
    printf '%s %s\n' "$(printf '%s' "$out" | tail -n 1)" "$(printf '%s' "$out" | sed '$d')"
}
project_id() { sed -n 's/.*"projectId":"\([a-z0-9-]*\)".*/\1/p'; }
# A string member of compact JSON (the first one of that name); "null" prints "".
member() { grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4; }

# engine_status PATH: the engine's HTTP status for a GET (200, 404...).
engine_status() {
    curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DOCKERD_SOCK" "http://localhost$1"
}
inspect() { dockerd_api GET "/containers/workspace-$1/json"; }
# The workspace's address on the test network, as the engine reports it.
engine_ip() {
    inspect "$1" | grep -o "\"$NET\":{[^}]*\"IPAddress\":\"[^\"]*\"" | grep -o '"IPAddress":"[^"]*"' |
        cut -d'"' -f4
}
# auth_listing ID: "MODE UID/GID" of the auth file; auth_content ID: its text.
auth_listing() {
    dockerd_api GET "/containers/workspace-$1/archive?path=$AUTH" | tar --numeric-owner -tvf - |
        awk '{print $1, $2}'
}
auth_content() {
    dockerd_api GET "/containers/workspace-$1/archive?path=$AUTH" | tar -xOf -
    echo .
}
# expect_auth NAME ID CONTENT: the auth file holds CONTENT, mode 0600, owner 1000:1000.
expect_auth() {
    local got
    got=$(auth_content "$2")
    expect_eq "$1: auth file content" "${got%.}" "$3"
    expect_eq "$1: auth file mode and owner" "$(auth_listing "$2")" "-rw------- 1000/1000"
}
volumes() { dockerd_api GET /volumes | grep -o '"Name":"workspace_data_[^"]*"' | sort; }
containers() { dockerd_api GET '/containers/json?all=true' | grep -o '"/workspace-[^"]*"' | sort; }

printf '%s\n' "$TOKEN" >"$work/token"
chmod 600 "$work/token"
dockerd_start "$work/engine" || exit 99
dockerd_build_image "$IMAGE" || exit 99
dockerd_network_create "$NET" || exit 99

# An explicitly given socket that does not answer stops the daemon.
"$API" --db "$work/nostore" --listen 127.0.0.1:0 --admin-token-file "$work/token" \
    --docker-socket "$work/absent.sock" 2>"$work/absent.log"
expect_eq "an unreachable --docker-socket exits 1" "$?" 1
expect_match "it names the socket" "$(cat "$work/absent.log")" "engine at .*absent.sock: .*unreachable"
expect_match "and what to do" "$(cat "$work/absent.log")" "or run with --no-containers"

start_api api "$work/store"
expect_match "the engine is in use" "$(cat "$work/api.log")" "containers: engine at .*API 1\."

# --- create: hardening and limits as asked ---------------------------------
out=$(api POST /api/projects/create "{\"projectName\": \"Lab\", \"memoryLimit\": \"512m\", \"cpuCores\": \"1.5\", \"password\": \"it's-first1\"}")
expect_match "create answers 201" "$out" '^201 '
A=$(printf '%s' "$out" | project_id)
[ -n "$A" ] || {
    echo "no project id in: $out"
    exit 99
}
cid=$(printf '%s' "$out" | member containerId)
expect_match "the project names its container" "$cid" '^[0-9a-f]{64}$'
ins=$(inspect "$A")
expect_eq "the container is the project's" "$(printf '%s' "$ins" | member Id)" "$cid"
expect_match "user 1000:1000" "$ins" '"User":"1000:1000"'
expect_match "no-new-privileges" "$ins" '"SecurityOpt":\["no-new-privileges:true"\]'
expect_match "every capability dropped" "$ins" '"CapDrop":\["ALL"\]'
expect_no_match "no NET_RAW or NET_ADMIN added" "$ins" '"CapAdd":\[[^]]*NET_(RAW|ADMIN)'
expect_match "/tmp is a noexec tmpfs" "$ins" '"Tmpfs":\{"/tmp":"size=1G,noexec,nosuid,nodev"\}'
expect_match "memory as asked (512m)" "$ins" '[{,]"Memory":536870912[,}]'
expect_match "memory reservation half of it" "$ins" '"MemoryReservation":268435456[,}]'
expect_match "CPUs as asked (1.5)" "$ins" '"NanoCpus":1500000000[,}]'
expect_match "pids limited" "$ins" '"PidsLimit":1024[,}]'
expect_match "labelled with the project" "$ins" "\"egress-policy.project\":\"$A\""
expect_match "on the workspace network" "$ins" "\"NetworkMode\":\"$NET\""
expect_match "the proxy in the environment" "$ins" '"HTTPS_PROXY=http://127.0.0.1:3128"'
expect_no_match "no password in the environment" "$ins" "PASSWORD|it's-first1"
expect_match "the volume at the project directory" "$ins" \
    "\"Name\":\"workspace_data_$A\",\"Source\":[^,]*,\"Destination\":\"/home/coder/project\""
expect_auth "created" "$A" "AUTH_FLAG=password
export PASSWORD='it'\\''s-first1'
"
expect_match "listed as created" "$(api GET /api/projects)" "\"projectId\":\"$A\"[^}]*\"status\":\"created\""

out=$(api POST /api/projects/create '{"projectName": "Too big", "memoryLimit": "64g"}')
expect_match "memoryLimit over the maximum: 400 naming it" "$out" '^400 .*memoryLimit'
expect_eq "and no container made for it" "$(containers)" "\"/workspace-$A\""

# --- start: the IP is mapped in the same request -------------------------------
out=$(anon POST "/api/projects/$A/start" '{"password": "wrong-pass"}')
expect_match "start with a wrong password: 401" "$out" '^401 '
expect_match "and the workspace is not started" "$(inspect "$A")" '"Status":"created"'
out=$(anon POST "/api/projects/$A/start" "{\"password\": \"it's-first1\"}")
expect_match "start: 200" "$out" '^200 .*"status":"running"'
ip=$(engine_ip "$A")
expect_match "the engine gave an address" "$ip" '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$'
out=$(api GET "/api/projects/$A")
expect_eq "that address is mapped to the project" "$(printf '%s' "$out" | member ipAddress)" "$ip"
expect_match "GET shows it running" "$out" '"status":"running"'
expect_match "the engine runs it" "$(inspect "$A")" '"Status":"running"'

# --- passwords on a running workspace: restart and remap ---------------------
out=$(anon PUT "/api/projects/$A/password" '{"currentPassword": "wrong-pass", "newPassword": "second-pass2"}')
expect_match "running: a wrong current password is 401" "$out" '^401 '
expect_auth "running, after the wrong password" "$A" "AUTH_FLAG=password
export PASSWORD='it'\\''s-first1'
"
started=$(inspect "$A" | member StartedAt)
out=$(anon PUT "/api/projects/$A/password" "{\"currentPassword\": \"it's-first1\", \"newPassword\": \"second-pass2\"}")
expect_match "running: change with the current password" "$out" '^200 .*"passwordProtected":true'
expect_auth "running, changed" "$A" "AUTH_FLAG=password
export PASSWORD='second-pass2'
"
if [ "$(inspect "$A" | member StartedAt)" != "$started" ]; then
    ok "the workspace was restarted"
else
    fail "the workspace was restarted" "StartedAt is still $started"
fi
expect_match "and runs again" "$(inspect "$A")" '"Status":"running"'
ip=$(engine_ip "$A")
expect_eq "its address is (re)mapped" "$(api GET "/api/projects/$A" | member ipAddress)" "$ip"
expect_match "the old password no longer works" \
    "$(anon POST "/api/projects/$A/start" "{\"password\": \"it's-first1\"}")" '^401 '

# --- stop: unmapped ----------------------------------------------------------
out=$(anon POST "/api/projects/$A/stop" '{"password": "second-pass2"}')
expect_match "stop: 200" "$out" '^200 .*"status":"stopped"'
out=$(api GET "/api/projects/$A")
expect_match "the address is unmapped" "$out" '"ipAddress":null'
expect_match "the engine stopped it" "$(inspect "$A")" '"Status":"exited"'

# --- passwords on a stopped workspace: the file waits for the next start ---
out=$(anon PUT "/api/projects/$A/password" '{"currentPassword": "wrong-pass", "removePassword": true}')
expect_match "stopped: a wrong current password is 401" "$out" '^401 '
expect_auth "stopped, after the wrong password" "$A" "AUTH_FLAG=password
export PASSWORD='second-pass2'
"
out=$(anon PUT "/api/projects/$A/password" '{"currentPassword": "second-pass2", "removePassword": true}')
expect_match "stopped: remove the password" "$out" '^200 .*"passwordProtected":false'
expect_auth "stopped, removed" "$A" "AUTH_FLAG=none
"
expect_match "and it stays stopped" "$(inspect "$A")" '"Status":"exited"'
out=$(anon PUT "/api/projects/$A/password" '{"newPassword": "third-pass3"}')
expect_match "stopped: set a password on the unprotected workspace" "$out" '^200 .*"passwordProtected":true'
expect_auth "stopped, set" "$A" "AUTH_FLAG=password
export PASSWORD='third-pass3'
"

# --- delete: the container goes, the volume stays unless purged --------------
out=$(anon DELETE "/api/projects/$A" '{"password": "third-pass3"}')
expect_match "delete: 200" "$out" '^200 '
expect_eq "the container is gone" "$(engine_status "/containers/workspace-$A/json")" 404
expect_eq "the volume is kept" "$(engine_status "/volumes/workspace_data_$A")" 200
expect_match "the project is gone" "$(api GET "/api/projects/$A")" '^404 '

B=$(api POST /api/projects/create '{"projectName": "Purged"}' | project_id)
expect_match "start B" "$(api POST "/api/projects/$B/start")" '^200 '
expect_match "delete B with purgeVolume=true" "$(api DELETE "/api/projects/$B?purgeVolume=true")" '^200 '
expect_eq "B's container is gone" "$(engine_status "/containers/workspace-$B/json")" 404
expect_eq "B's volume is gone" "$(engine_status "/volumes/workspace_data_$B")" 404

# --- reconciliation after a restart of egress-api ----------------------------
C=$(api POST /api/projects/create '{"projectName": "Running, mapping lost"}' | project_id)
D=$(api POST /api/projects/create '{"projectName": "Stopped behind our back"}' | project_id)
E=$(api POST /api/projects/create '{"projectName": "Removed behind our back"}' | project_id)
F=$(api POST /api/projects/create '{"projectName": "Running"}' | project_id)
for p in "$C" "$D" "$E" "$F"; do
    expect_match "start $p" "$(api POST "/api/projects/$p/start")" '^200 '
done
# Behind the API's back: C loses its mapping, D is stopped, E removed.
expect_match "unmap C by hand" "$(api PUT "/api/projects/$C/ip" '{"ipAddress": null}')" '^200 '
dockerd_api POST "/containers/workspace-$D/stop" >/dev/null || exit 99
dockerd_api DELETE "/containers/workspace-$E?force=true" >/dev/null || exit 99
list=$(api GET /api/projects)
expect_match "a listing shows E not_found (from the engine)" "$list" "\"projectId\":\"$E\"[^}]*\"status\":\"not_found\""
expect_match "and D stopped" "$list" "\"projectId\":\"$D\"[^}]*\"status\":\"stopped\""
stop_api
start_api api-restarted "$work/store"
expect_match "the restart reconciled" "$(cat "$API_LOG")" \
    'reconciled 4 projects with the engine: 2 running, 1 stopped, 1 not_found'
list=$(api GET /api/projects)
expect_match "E is still listed, not_found" "$list" "\"projectId\":\"$E\"[^}]*\"status\":\"not_found\""
expect_match "E has no address" "$(api GET "/api/projects/$E")" '"status":"not_found".*"ipAddress":null'
expect_eq "C's address is mapped again" "$(api GET "/api/projects/$C" | member ipAddress)" \
    "$(engine_ip "$C")"
expect_eq "F keeps its address" "$(api GET "/api/projects/$F" | member ipAddress)" "$(engine_ip "$F")"
expect_match "D is stopped and unmapped" "$(api GET "/api/projects/$D")" '"status":"stopped".*"ipAddress":null'
expect_match "starting E says its container is gone" "$(api POST "/api/projects/$E/start")" \
    '^409 .*workspace_missing'
expect_match "deleting E works" "$(api DELETE "/api/projects/$E?purgeVolume=true")" '^200 '

# --- an engine error: no such image ------------------------------------------
vols_before=$(volumes)
conts_before=$(containers)
main_port=$API_PORT main_pid=$API_PID main_log=$API_LOG
start_api missing "$work/store-missing" --workspace-image localhost/missing:latest
out=$(api POST /api/projects/create '{"projectName": "No image", "password": "some-pass1"}')
echo "   the answer: $out"
expect_match "create with a missing image: 502 engine_error" "$out" '^502 .*"error":"engine_error"'
expect_match "with the engine's message" "$out" '"message":"[^"]*No such image: localhost/missing:latest'
expect_match "no project stored" "$(api GET /api/projects)" '^200 .*"count":0'
expect_eq "no container left" "$(containers)" "$conts_before"
expect_eq "no volume left" "$(volumes)" "$vols_before"
stop_api
API_PORT=$main_port API_PID=$main_pid API_LOG=$main_log

# --- the workspace network missing (egress-net not run) ------------------------
# At start-up the log names it; create is refused before anything is made;
# a network removed after the container was made is what start reports
# (dockerd checks it only then), and the project keeps its container.
LATE=ws-test-late
main_port=$API_PORT main_pid=$API_PID main_log=$API_LOG
start_api nonet "$work/store-nonet" --workspace-network "$LATE"
expect_match "start-up names the missing network and how to make it" "$(cat "$API_LOG")" \
    "containers: the workspace network $LATE does not exist on the container engine: make it with \`egress-net --network $LATE up\`.*--workspace-network NAME; until then"
conts_before=$(containers)
vols_before=$(volumes)
out=$(api POST /api/projects/create '{"projectName": "No network"}')
echo "   the answer: $out"
expect_match "create without the network: 503 naming it" "$out" \
    "^503 .*\"error\":\"workspace_network_missing\".*network $LATE does not exist.*egress-net --network $LATE up"
expect_match "no project stored" "$(api GET /api/projects)" '^200 .*"count":0'
expect_eq "no container made" "$(containers)" "$conts_before"
expect_eq "no volume made" "$(volumes)" "$vols_before"
dockerd_network_create "$LATE" || exit 99
out=$(api POST /api/projects/create '{"projectName": "Network came later"}')
expect_match "the network made: create answers 201 (checked again, no restart)" "$out" '^201 '
N=$(printf '%s' "$out" | project_id)
dockerd_api DELETE "/networks/$LATE" >/dev/null || exit 99
out=$(api POST "/api/projects/$N/start")
echo "   the answer: $out"
expect_match "start without the network: 503 naming it" "$out" \
    "^503 .*\"error\":\"workspace_network_missing\".*network $LATE does not exist.*egress-net --network $LATE up"
expect_match "with the engine's own words" "$out" "network $LATE not found"
expect_no_match "not taken for a missing container" "$out" "workspace_missing|is gone"
expect_eq "the container is still there" "$(engine_status "/containers/workspace-$N/json")" 200
expect_match "the project keeps its status" "$(api GET "/api/projects/$N")" '^200 .*"status":"created"'
expect_match "the listing too" "$(api GET /api/projects)" "\"projectId\":\"$N\"[^}]*\"status\":\"created\""
expect_no_match "nothing marked not_found in the log" "$(cat "$API_LOG")" "workspace $N: .*not_found"
dockerd_network_create "$LATE" || exit 99
out=$(api POST "/api/projects/$N/start")
expect_match "the network back: start works" "$out" '^200 .*"status":"running"'
expect_eq "and the address on it is mapped" "$(api GET "/api/projects/$N" | member ipAddress)" \
    "$(inspect "$N" | grep -o "\"$LATE\":{[^}]*\"IPAddress\":\"[^\"]*\"" | grep -o '"IPAddress":"[^"]*"' | cut -d'"' -f4)"
expect_match "delete it" "$(api DELETE "/api/projects/$N?purgeVolume=true")" '^200 '
stop_api
API_PORT=$main_port API_PID=$main_pid API_LOG=$main_log

# --- the engine gone ----------------------------------------------------------
G=$(api POST /api/projects/create '{"projectName": "Engine down", "password": "g-pass-one1"}' | project_id)
before=$(api GET "/api/projects/$G")
# The running workspaces' main processes (host pids) and container ids: the
# engine's death must not leave them on the machine once the test cleans up.
ws_pids=
for p in "$C" "$F"; do
    ins=$(inspect "$p")
    ws_pids="$ws_pids $(printf '%s' "$ins" | grep -o '"Pid":[0-9]*' | head -n 1 | cut -d: -f2):$(printf '%s' "$ins" | member Id)"
done
expect_match "two workspaces run before the engine is killed" "$ws_pids" '^ [1-9][0-9]*:[0-9a-f]{64} [1-9][0-9]*:[0-9a-f]{64}$'
kill -KILL "$DOCKERD_PID"
wait "$DOCKERD_PID" 2>/dev/null
out=$(anon POST "/api/projects/$G/start" '{"password": "g-pass-one1"}')
expect_match "start with the engine gone: 503" "$out" '^503 .*"error":"engine_unreachable"'
out=$(anon PUT "/api/projects/$G/password" '{"currentPassword": "g-pass-one1", "newPassword": "g-pass-two2"}')
expect_match "password change with the engine gone: 503" "$out" '^503 '
expect_match "delete with the engine gone: 503" \
    "$(anon DELETE "/api/projects/$G" '{"password": "g-pass-one1"}')" '^503 '
expect_eq "the project is unchanged" "$(api GET "/api/projects/$G")" "$before"
expect_match "the old password still holds (start gets past it to the engine)" \
    "$(anon POST "/api/projects/$G/start" '{"password": "g-pass-one1"}')" '^503 '
expect_match "the new one was never stored" \
    "$(anon POST "/api/projects/$G/start" '{"password": "g-pass-two2"}')" '^401 '
expect_match "listings still answer, with the stored statuses" "$(api GET /api/projects)" '^200 '

# Cleaning up after the killed engine ends its workspaces too.
dockerd_stop
for entry in $ws_pids; do
    pid=${entry%%:*} id=${entry#*:}
    # A killed process waits as a zombie until init reaps it: dead all the same.
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    if [ -n "$state" ] && [ "$state" != Z ] && grep -qs "$id" "/proc/$pid/cgroup"; then
        fail "workspace process $pid is gone after the cleanup" "still running: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
    else
        ok "workspace process $pid is gone after the cleanup"
    fi
done

finish || {
    echo "--- egress-api log:"
    tail -40 "$API_LOG"
    exit 1
}

#!/bin/bash
# egress-api --engine swarm against a real two-node Docker Swarm
# (tests/cluster/lib/swarm.sh: each node a dockerd in namespaces of its
# own, linked by veth to a test hub, node 1 the manager). Node 2 carries
# the pool label course-a and egress-api places every workspace with
# --swarm-constraint node.labels.egress-policy.pool==course-a. Everything
# goes through the API; what happened is read back from the manager and
# from node 2's own engine.
#
# Covered: a workspace lands on node 2 (its task's node, its container on
# node 2's engine and none on node 1) with a 172.30.2.x address that the
# API reports; it runs hardened (user, capabilities, no-new-privileges,
# noexec /tmp, memory/CPU/pids limits as asked, the volume, its project
# directory the user's, no password in the environment); stop scales the
# service to 0 (no container left, no address reported) and start to 1; a
# password change, stopped or running, makes a new secret, removes the old
# one and moves the service to it: the next or the replaced task's auth
# file holds the new password, the API accepts the new one and refuses the
# old; a restarted egress-api finds the workspace again (reconciliation);
# deleting the project removes the service, its secrets and (purged) its
# volume. Refusals: swarm options without --engine swarm, a worker's
# socket, a network that is not swarm-scoped, a placement no node takes.
# Skips (77) only when dockerd, unshare, busybox-static or jq is missing.
. "${top_srcdir:-.}/tests/lib/dockerd.sh"
. "${top_srcdir:-.}/tests/lib/check.sh"
. "${top_srcdir:-.}/tests/cluster/lib/swarm.sh"

swarm_have_tools || exit 77
if [ "$(id -u)" -ne 0 ]; then
    echo "test-swarm: dockerd needs root; run make check as root"
    exit 99
fi
API="${top_builddir:-.}/api/egress-api"
[ -x "$API" ] || {
    echo "test-swarm: $API is not built"
    exit 99
}

IMAGE=localhost/ws-test:latest
NET=egress-ws
AUTH=/home/coder/.code-server-auth
TOKEN=swarm-test-admin-token-0123456789
work=$(mktemp -d "${TMPDIR:-/tmp}/ep-swarm-XXXXXX") || exit 99
API_PID=

cleanup() {
    [ -z "$API_PID" ] || { kill -TERM "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null; }
    swarm_stop
    [ -n "${TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

# api METHOD PATH [JSON] (admin) and anon METHOD PATH [JSON]: "STATUS BODY".
call() {
    local out
    out=$(curl -sS --noproxy '*' -X "$@" -w '\n%{http_code}')
    printf '%s %s\n' "$(printf '%s' "$out" | tail -n 1)" "$(printf '%s' "$out" | sed '$d')"
}
api() {
    call "$1" -H "Authorization: Bearer $TOKEN" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://127.0.0.1:$API_PORT$2"
}
anon() {
    call "$1" ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
        "http://127.0.0.1:$API_PORT$2"
}
body() { cut -d' ' -f2-; }

# wait_api LOG: the port egress-api (API_PID) listens on, into API_PORT.
wait_api() {
    API_PORT=
    for _ in $(seq 1 300); do
        API_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1")
        [ -n "$API_PORT" ] && return 0
        kill -0 "$API_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "egress-api did not start:"
    cat "$1"
    exit 99
}

# The workspace service on the manager, its wanted task, its project's secrets.
service() { swarm_api 1 GET "/services/workspace-$1"; }
task() {
    swarm_api 1 GET "/tasks?filters=$(jq -rn --arg s "workspace-$1" '{service: [$s], "desired-state": ["running"]} | @uri')" |
        jq -c '.[0] // empty'
}
secrets() {
    swarm_api 1 GET "/secrets?filters=$(jq -rn --arg l "egress-policy.project=$1" '{label: [$l]} | @uri')" |
        jq -r '[.[].ID] | sort | join(" ")'
}
# The running container of the workspace on node N (its inspect), or nothing.
on_node() { swarm_task_container "$2" "workspace-$1" 2>/dev/null; }

printf '%s\n' "$TOKEN" >"$work/token"
chmod 600 "$work/token"
# shellcheck disable=SC2034 # read by swarm_start
SWARM_POOL_LABEL_2=course-a
swarm_start "$work/swarm" 2 || exit 99
swarm_build_image "$IMAGE" || exit 99
swarm_network_create "$NET" || exit 99

# The swarm options belong to --engine swarm; a worker's socket is no manager.
"$API" --db "$work/nostore" --listen 127.0.0.1:0 --admin-token-file "$work/token" \
    --docker-socket "${SWARM_SOCK[1]}" --swarm-constraint node.role==worker 2>"$work/noswarm.log"
expect_eq "--swarm-constraint without --engine swarm is a usage error" "$?" 2
"$API" --db "$work/nostore" --listen 127.0.0.1:0 --admin-token-file "$work/token" \
    --docker-socket "${SWARM_SOCK[2]}" --engine swarm --workspace-network "$NET" 2>"$work/worker.log"
expect_eq "a worker's socket stops the daemon" "$?" 1
expect_match "naming what is wrong" "$(cat "$work/worker.log")" "is not a swarm manager"

# A network that is not swarm-scoped is named at start-up with how to make one.
mkdir -p "$work/store-local"
"$API" --db "$work/store-local" --listen 127.0.0.1:0 --admin-token-file "$work/token" \
    --docker-socket "${SWARM_SOCK[1]}" --engine swarm --workspace-network "$NET-cfg" \
    2>"$work/api-local.log" &
API_PID=$!
wait_api "$work/api-local.log"
expect_match "a local network is refused, naming the swarm recipe" "$(cat "$work/api-local.log")" \
    "workspace network $NET-cfg is local-scoped: a swarm needs a swarm-scoped network.*--config-from"
kill -TERM "$API_PID" && wait "$API_PID"

mkdir -p "$work/store"
"$API" --db "$work/store" --listen 127.0.0.1:0 --admin-token-file "$work/token" \
    --bcrypt-cost 10 --docker-socket "${SWARM_SOCK[1]}" --engine swarm \
    --swarm-constraint node.labels.egress-policy.pool==course-a \
    --swarm-node-engine "node1=${SWARM_SOCK[1]}" --swarm-node-engine "node2=${SWARM_SOCK[2]}" \
    --workspace-image "$IMAGE" --workspace-network "$NET" --proxy-url http://127.0.0.1:3128 \
    --stop-timeout 2 2>"$work/api.log" &
API_PID=$!
wait_api "$work/api.log"
expect_match "egress-api drives the swarm" "$(cat "$work/api.log")" "containers: engine at .*backend swarm"

# --- create: a service with no replica yet, its password a secret -----------
out=$(api POST /api/projects/create '{"projectName": "Lab", "memoryLimit": "512m", "cpuCores": "1.5", "password": "first-pass1"}')
expect_match "create answers 201" "$out" '^201 '
A=$(printf '%s' "$out" | body | jq -r '.project.projectId // empty')
[ -n "$A" ] || {
    echo "no project id in: $out"
    exit 99
}
svc=$(service "$A")
expect_eq "the project names its service" "$(printf '%s' "$out" | body | jq -r .project.containerId)" \
    "$(jq -r .ID <<<"$svc")"
expect_eq "the service has no replica yet" "$(jq .Spec.Mode.Replicated.Replicas <<<"$svc")" 0
expect_eq "it is placed by the pool label" "$(jq -c .Spec.TaskTemplate.Placement.Constraints <<<"$svc")" \
    '["node.labels.egress-policy.pool==course-a"]'
first_secret=$(secrets "$A")
expect_match "the password is one secret" "$first_secret" '^[a-z0-9]+$'
expect_eq "mounted as the auth file, 0600, owned by 1000" \
    "$(jq -c '.Spec.TaskTemplate.ContainerSpec.Secrets | map({n: .File.Name, m: .File.Mode, u: .File.UID, id: .SecretID})' <<<"$svc")" \
    "[{\"n\":\"$AUTH\",\"m\":384,\"u\":\"1000\",\"id\":\"$first_secret\"}]"
expect_eq "no container anywhere yet" "$(on_node "$A" 1)$(on_node "$A" 2)" ""

# --- start: node 2, an address of node 2's subnet, reported -----------------
out=$(anon POST "/api/projects/$A/start" '{"password": "first-pass1"}')
expect_match "start: 200 running" "$out" '^200 .*"status":"running"'
expect_eq "the task runs on node 2" "$(task "$A" | jq -r .NodeID)" "${SWARM_NODE_ID[2]}"
ins=$(on_node "$A" 2)
expect_match "node 2's own engine runs the container" "$(jq -r .State.Status <<<"$ins")" '^running$'
expect_eq "node 1 runs none" "$(on_node "$A" 1)" ""
ip=$(jq -r ".NetworkSettings.Networks[\"$NET\"].IPAddress" <<<"$ins")
expect_match "its address is in node 2's subnet" "$ip" '^172\.30\.2\.[0-9]+$'
expect_match "on node 2's bridge, which keeps workspaces apart" \
    "$(swarm_in_node 2 iptables -w -S FORWARD)" "-i $NET -o $NET -j DROP"
expect_eq "the API reports that address" "$(api GET "/api/projects/$A" | body | jq -r .project.ipAddress)" "$ip"

# --- the hardening, read on node 2 ------------------------------------------
cid=$(jq -r .Id <<<"$ins")
expect_eq "user 1000:1000" "$(jq -r .Config.User <<<"$ins")" "1000:1000"
expect_eq "every capability dropped, none added" "$(jq -c '[.HostConfig.CapDrop, .HostConfig.CapAdd]' <<<"$ins")" '[["ALL"],null]'
expect_eq "memory as asked (512m)" "$(jq .HostConfig.Memory <<<"$ins")" 536870912
expect_eq "half of it reserved on the node (the swarm schedules by it)" \
    "$(service "$A" | jq .Spec.TaskTemplate.Resources.Reservations.MemoryBytes)" 268435456
expect_eq "CPUs as asked (1.5)" "$(jq .HostConfig.NanoCpus <<<"$ins")" 1500000000
expect_eq "pids limited" "$(jq .HostConfig.PidsLimit <<<"$ins")" 1024
expect_eq "the volume at the project directory" \
    "$(jq -r '.Mounts[] | select(.Type == "volume") | "\(.Name) \(.Destination)"' <<<"$ins")" \
    "workspace_data_$A /home/coder/project"
expect_eq "labelled with the project" "$(jq -r '.Config.Labels["egress-policy.project"]' <<<"$ins")" "$A"
expect_match "the proxy in the environment" "$(jq -c .Config.Env <<<"$ins")" 'HTTPS_PROXY=http://127.0.0.1:3128'
expect_no_match "no password in the environment" "$(jq -c .Config.Env <<<"$ins")" 'PASSWORD|first-pass1'
inside=$(swarm_exec 2 "$cid" sh -c "id -u; grep -E '^(NoNewPrivs|CapEff|CapBnd)' /proc/self/status; grep ' /tmp ' /proc/mounts; stat -c '%u %a' /home/coder/project $AUTH")
expect_match "inside: runs as 1000" "$inside" '^1000$'
expect_match "inside: no-new-privileges" "$inside" 'NoNewPrivs:[[:space:]]+1'
expect_match "inside: no effective capability" "$inside" 'CapEff:[[:space:]]+0+$'
expect_match "inside: no capability in the bounding set" "$inside" 'CapBnd:[[:space:]]+0+$'
expect_match "inside: /tmp is a noexec,nosuid,nodev tmpfs" "$inside" \
    '^tmpfs /tmp tmpfs [^ ]*(nosuid[^ ]*nodev[^ ]*noexec|noexec[^ ]*nosuid[^ ]*nodev)'
expect_match "inside: the project directory is the user's" "$inside" '^1000 755$'
expect_match "inside: the auth file is 0600 and the user's" "$inside" '^1000 600$'
expect_eq "inside: the auth file holds the password" "$(swarm_exec 2 "$cid" cat "$AUTH")" \
    "AUTH_FLAG=password
export PASSWORD='first-pass1'"

# --- stop is a scale to 0, start a scale to 1 -------------------------------
out=$(anon POST "/api/projects/$A/stop" '{"password": "first-pass1"}')
expect_match "stop: 200 stopped" "$out" '^200 .*"status":"stopped"'
expect_eq "the service is scaled to 0" "$(service "$A" | jq .Spec.Mode.Replicated.Replicas)" 0
expect_eq "no container runs on node 2" "$(on_node "$A" 2)" ""
expect_eq "no address is reported" "$(api GET "/api/projects/$A" | body | jq -r .project.ipAddress)" null

# --- a password change while stopped: the next task reads the new secret ----
out=$(anon PUT "/api/projects/$A/password" '{"currentPassword": "first-pass1", "newPassword": "mid-pass2"}')
expect_match "stopped: change with the current password: 200" "$out" '^200 '
mid_secret=$(secrets "$A")
expect_match "stopped: one secret, a new one" "$mid_secret" '^[a-z0-9]+$'
if [ "$mid_secret" != "$first_secret" ]; then ok "stopped: the old secret is gone"; else fail "stopped: the old secret is gone" "still $first_secret"; fi
expect_eq "stopped: the service uses the new secret and stays at 0" \
    "$(service "$A" | jq -r '"\(.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretID) \(.Spec.Mode.Replicated.Replicas)"')" \
    "$mid_secret 0"
out=$(anon POST "/api/projects/$A/start" '{"password": "mid-pass2"}')
expect_match "start again with it: 200 running" "$out" '^200 .*"status":"running"'
expect_eq "the new task's auth file holds it" \
    "$(swarm_exec 2 "$(on_node "$A" 2 | jq -r .Id)" cat "$AUTH")" "AUTH_FLAG=password
export PASSWORD='mid-pass2'"
expect_eq "the service is scaled to 1" "$(service "$A" | jq .Spec.Mode.Replicated.Replicas)" 1
ip=$(on_node "$A" 2 | jq -r ".NetworkSettings.Networks[\"$NET\"].IPAddress")
expect_match "on node 2 again" "$ip" '^172\.30\.2\.[0-9]+$'
expect_eq "with its address reported" "$(api GET "/api/projects/$A" | body | jq -r .project.ipAddress)" "$ip"

# --- a password change while running: a new secret, the task replaced -------
out=$(anon PUT "/api/projects/$A/password" '{"currentPassword": "wrong-pass", "newPassword": "second-pass2"}')
expect_match "a wrong current password is 401" "$out" '^401 '
expect_eq "and the secret is unchanged" "$(secrets "$A")" "$mid_secret"
out=$(anon PUT "/api/projects/$A/password" '{"currentPassword": "mid-pass2", "newPassword": "second-pass2"}')
expect_match "change with the current password: 200" "$out" '^200 '
second_secret=$(secrets "$A")
expect_match "one secret, a new one" "$second_secret" '^[a-z0-9]+$'
if [ "$second_secret" != "$mid_secret" ]; then ok "the old secret is gone"; else fail "the old secret is gone" "still $mid_secret"; fi
expect_eq "the service uses the new secret" \
    "$(service "$A" | jq -r '.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretID')" "$second_secret"
ins=$(on_node "$A" 2)
expect_match "a new task runs on node 2" "$(jq -r .State.Status <<<"$ins")" '^running$'
expect_eq "the workspace's auth file holds the new password" \
    "$(swarm_exec 2 "$(jq -r .Id <<<"$ins")" cat "$AUTH")" "AUTH_FLAG=password
export PASSWORD='second-pass2'"
expect_eq "its address is reported" "$(api GET "/api/projects/$A" | body | jq -r .project.ipAddress)" \
    "$(jq -r ".NetworkSettings.Networks[\"$NET\"].IPAddress" <<<"$ins")"
expect_match "the old password is refused" "$(anon POST "/api/projects/$A/start" '{"password": "mid-pass2"}')" '^401 '
expect_match "the new one is accepted" "$(anon POST "/api/projects/$A/start" '{"password": "second-pass2"}')" '^200 '

# --- a restart of egress-api: reconciled from the services and the nodes -----
kill -TERM "$API_PID" && wait "$API_PID"
"$API" --db "$work/store" --listen 127.0.0.1:0 --admin-token-file "$work/token" \
    --bcrypt-cost 10 --docker-socket "${SWARM_SOCK[1]}" --engine swarm \
    --swarm-constraint node.labels.egress-policy.pool==course-a \
    --swarm-node-engine "node1=${SWARM_SOCK[1]}" --swarm-node-engine "node2=${SWARM_SOCK[2]}" \
    --workspace-image "$IMAGE" --workspace-network "$NET" --stop-timeout 2 2>"$work/api-again.log" &
API_PID=$!
wait_api "$work/api-again.log"
expect_match "restarted: the running workspace reconciled" "$(cat "$work/api-again.log")" \
    'reconciled 1 projects with the engine: 1 running'
expect_match "listed running with its address" \
    "$(api GET /api/projects | body | jq -c ".projects[] | select(.projectId == \"$A\")")" \
    "\"status\":\"running\".*\"ipAddress\":\"$(jq -r ".NetworkSettings.Networks[\"$NET\"].IPAddress" <<<"$ins")\""

# --- delete -------------------------------------------------------------------
out=$(api DELETE "/api/projects/$A?purgeVolume=true")
expect_match "delete with purgeVolume=true: 200" "$out" '^200 '
expect_eq "the service is gone" "$(swarm_api 1 GET /services | jq length)" 0
expect_eq "its secrets are gone" "$(secrets "$A")" ""
expect_eq "its volume is gone from node 2" \
    "$(swarm_api 2 GET /volumes | jq -r "[.Volumes[]?.Name | select(. == \"workspace_data_$A\")] | length")" 0

# --- a placement no node satisfies: refused at once, nothing left wanted ----
kill -TERM "$API_PID" && wait "$API_PID"
mkdir -p "$work/store2"
"$API" --db "$work/store2" --listen 127.0.0.1:0 --admin-token-file "$work/token" \
    --bcrypt-cost 10 --docker-socket "${SWARM_SOCK[1]}" --engine swarm \
    --swarm-constraint node.labels.egress-policy.pool==nowhere \
    --workspace-image "$IMAGE" --workspace-network "$NET" --stop-timeout 2 2>"$work/api2.log" &
API_PID=$!
wait_api "$work/api2.log"
B=$(api POST /api/projects/create '{"projectName": "Nowhere"}' | body | jq -r '.project.projectId // empty')
[ -n "$B" ] || exit 99
out=$(api POST "/api/projects/$B/start")
expect_match "start with no node to take it: 502 saying so" "$out" '^502 .*cannot be placed.*no suitable node'
expect_eq "the service wants no replica afterwards" "$(service "$B" | jq .Spec.Mode.Replicated.Replicas)" 0
expect_match "the project is not running" "$(api GET "/api/projects/$B")" '"status":"created"'

finish

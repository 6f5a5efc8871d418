#!/bin/bash
# Part of test-packages.sh: runs in a network, mount and PID namespace of
# its own (unshare --net --mount --pid --fork), so every daemon it starts
# ends with it and nothing it sends leaves the machine. The installed
# programs run inside the Debian root ROOT (chroot); the origin server
# runs in a second network namespace at 198.51.100.10, behind a veth pair
# (the guard snippet refuses loopback and this host's own addresses as
# destinations, so the origin must be elsewhere).
#   run-in-root.sh ROOT SRCDIR
R=$1
top_srcdir=$2
. "$top_srcdir/tests/lib/check.sh"
LOGS=$(dirname "$R")

in_root() {
    chroot "$R" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 HOME=/root "$@"
}
# in_root_bg CMD...: CMD in the root in the background; $! is its own pid.
in_root_bg() {
    exec chroot "$R" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 HOME=/root "$@"
}
# stop PID: SIGTERM, and SIGKILL after 3 s (squid would wait up to its
# shutdown_lifetime, 30 s, for clients to finish).
stop() {
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 1 30); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
wait_port() {
    for _ in $(seq 1 100); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

ip link set lo up || exit 99
mount -t proc proc "$R/proc" && mount -t tmpfs tmpfs "$R/run" && mount -t tmpfs tmpfs "$R/dev/shm" || exit 99

# The origin: a second network namespace behind a veth pair.
unshare --net -- sleep 600 &
ORIGIN_NS=$!
sleep 0.2
ip link add ep-host type veth peer name ep-origin netns "$ORIGIN_NS" || exit 99
ip addr add 198.51.100.1/24 dev ep-host && ip link set ep-host up || exit 99
nsenter -t "$ORIGIN_NS" -n sh -c 'ip link set lo up && ip addr add 198.51.100.10/24 dev ep-origin &&
    ip link set ep-origin up' || exit 99
mkdir -p "$LOGS/origin" && echo "hello from the origin" >"$LOGS/origin/index.html"
nsenter -t "$ORIGIN_NS" -n python3 -m http.server --bind 198.51.100.10 --directory "$LOGS/origin" 80 \
    >"$LOGS/origin.log" 2>&1 &
echo "198.51.100.10 allowed.test denied.test" >>"$R/etc/hosts"

# --- egress-api from its installed unit -------------------------------------
unit="$R/lib/systemd/system/egress-api.service"
exec_start=$(awk '/^ExecStart=/ { on = 1; sub(/^ExecStart=/, "") }
    on { line = $0; more = sub(/\\$/, "", line); printf "%s ", line; if (!more) exit }' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
group=$(sed -n 's/^Group=//p' "$unit")
umask=$(sed -n 's/^UMask=//p' "$unit")
echo "ExecStart: $exec_start (User=$user Group=$group UMask=$umask)"
# The admin token, with the commands the unit's comment gives.
in_root sh -c "$(sed -n 's/^#   \(head -c 32 .*admin-token\)$/\1/p; s/^#   \(chown egress:egress .*admin-token\)$/\1/p' "$unit" |
    head -2 | paste -sd';')" || exit 99
in_root_bg setpriv --reuid="$user" --regid="$group" --init-groups sh -c "umask $umask; exec $exec_start" \
    >"$LOGS/egress-api.log" 2>&1 &
if wait_port 8088; then
    ok "egress-api started from the unit's ExecStart, as $user, listening on 127.0.0.1:8088"
else
    fail "egress-api started from the unit's ExecStart" "$(tail -5 "$LOGS/egress-api.log")"
fi
TOKEN=$(cat "$R/etc/egress-policy/admin-token")
api() {
    in_root curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"
}
A=http://127.0.0.1:8088
api -X PUT "$A/api/whitelist" -d '{"domains": ["allowed.test"]}' >/dev/null
P=$(api -X POST "$A/api/projects/create" -d '{"projectName": "Student", "proxyMode": "security"}' |
    sed -n 's/.*"projectId":"\([0-9a-f]*\)".*/\1/p')
expect_match "a security project made through the API" "$P" '^[0-9a-f]+$'
api -X PUT "$A/api/projects/$P/ip" -d '{"ipAddress": "127.0.0.1"}' >/dev/null
expect_eq "the store belongs to egress:egress, group-writable" \
    "$(chroot "$R" stat -c '%U:%G %a' /var/lib/egress-policy/data.mdb)" "egress:egress 660"

# --- squid with the installed snippets, as debian/README.md says ------------
# (explicit proxy only: no workspace network here, so no interception).
setup=$(sed -n '/^<!-- squid-setup -->$/,/^<!-- end -->$/p' "$top_srcdir/debian/README.md" | sed -n '/^    /s/^    //p')
echo "squid set-up from debian/README.md:"
echo "$setup"
in_root sh -ec "$setup" >"$LOGS/squid-setup.log" 2>&1 ||
    fail "squid set-up of debian/README.md runs" "$(tail -5 "$LOGS/squid-setup.log")"
expect_no_match "squid -k parse: no error" "$(cat "$LOGS/squid-setup.log")" 'ERROR|FATAL|Bungled'
[ -s "$R/run/egress-policy/squid-addresses.conf" ] && ok "egress-net addresses wrote squid's address acls" ||
    fail "egress-net addresses wrote squid's address acls"
in_root_bg squid -N -f /etc/squid/squid.conf >"$LOGS/squid.log" 2>&1 &
SQUID=$!
wait_port 3128 || fail "squid listens on 3128" "$(tail -5 "$LOGS/squid.log")"
got=$(in_root curl -s -x http://127.0.0.1:3128 http://allowed.test/)
expect_eq "security project: the whitelisted host is allowed (the origin's page)" "$got" "hello from the origin"
got=$(in_root curl -s -o /dev/null -D - -x http://127.0.0.1:3128 http://denied.test/)
expect_match "security project: another host is denied with 403" "$got" '^HTTP/1.1 403'
expect_match "... and our page ERR_EGRESS_DENIED" "$got" 'X-Squid-Error: ERR_EGRESS_DENIED'
recorded=""
for _ in $(seq 1 30); do
    recorded=$(api "$A/api/projects/$P/recorded-domains")
    printf '%s' "$recorded" | grep -q denied.test && break
    sleep 0.2
done
expect_match "egress-acl recorded the denied host (as proxy, in group egress)" "$recorded" '"denied.test"'
stop "$SQUID"

. "$top_srcdir/tests/packages/capture-docs.sh"
. "$top_srcdir/tests/packages/quickstart-packages.sh"

echo "run-in-root: done"

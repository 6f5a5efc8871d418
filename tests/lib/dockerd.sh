# Shell functions for tests that need a real Docker engine (source this file).
#
# dockerd from Debian's docker.io runs as root in network and mount
# namespaces of its own (unshare), with a private data root, exec root,
# pidfile and unix socket under a work directory: it never touches the
# host's network, /run or /var/lib/docker, and container IPs exist only
# inside its namespace. No registry is reachable, so the workspace image is
# built locally from busybox-static.
#
#   . "$top_srcdir/tests/lib/dockerd.sh"
#   dockerd_have_tools || exit 77
#   dockerd_start "$workdir" || exit 99      # sets DOCKERD_SOCK, DOCKERD_PID
#   trap dockerd_stop EXIT
#   dockerd_build_image localhost/ws-test:latest || exit 99
#   dockerd_network_create ws-test-net || exit 99
#   dockerd_api GET /containers/json          # curl on the socket, unversioned
#
# dockerd_stop removes every container, stops dockerd (and containerd and
# any shim: every process left in its network namespace), kills what is
# left of its containers by their cgroups (after an engine killed with
# SIGKILL they outlive it), and deletes the work directory. It is safe to
# call twice or when the start failed.
#
# dockerd_start_here DIR starts dockerd in the caller's own namespaces (for a
# test that made a network and mount namespace of its own first, with /run
# a tmpfs there). DOCKERD_IMAGE_BINARIES (host executables, e.g.
# /usr/bin/curl) are copied into the image with the libraries ldd names,
# and DOCKERD_IMAGE_FILES ("SRC:DEST" pairs) as files.
#
# podman_service_start DIR does the same for `podman system service` (the
# Docker-compatible API of podman), in the same kind of namespaces and with
# a containers.conf of its own; every dockerd_* function then works on it
# (podman_have_tools says whether podman is installed).

DOCKERD_DIR=
DOCKERD_SOCK=
DOCKERD_PID=
DOCKERD_NETNS=

# 0 when everything the engine tests need is installed; otherwise names the
# missing piece and returns 1 (the caller skips with 77).
dockerd_have_tools() {
    for tool in dockerd containerd runc unshare ip curl tar; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "dockerd tests: $tool is not installed (apt-get install docker.io)"
            return 1
        fi
    done
    if ! dockerd_busybox >/dev/null; then
        echo "dockerd tests: no static busybox (apt-get install busybox-static)"
        return 1
    fi
    return 0
}

# Print the path of a statically linked busybox (the image has no libc).
dockerd_busybox() {
    for bb in /bin/busybox /usr/bin/busybox; do
        [ -x "$bb" ] || continue
        # ldd fails on a static executable.
        if ! ldd "$bb" >/dev/null 2>&1; then
            echo "$bb"
            return 0
        fi
    done
    return 1
}

# curl on the engine's socket: dockerd_api METHOD PATH [curl options...].
# Prints the body; fails (curl -f) on an HTTP error status.
dockerd_api() {
    method=$1
    path=$2
    shift 2
    curl -sSf --unix-socket "$DOCKERD_SOCK" -X "$method" "$@" "http://localhost$path"
}

# Start dockerd with everything under DIR (created if needed) and wait until
# it answers /_ping. Sets DOCKERD_DIR, DOCKERD_SOCK, DOCKERD_PID.
dockerd_start() {
    DOCKERD_DIR=$1
    DOCKERD_SOCK=$DOCKERD_DIR/docker.sock
    [ -n "$DOCKERD_DIR" ] || return 1
    mkdir -p "$DOCKERD_DIR/data" "$DOCKERD_DIR/exec" || return 1
    # unshare and sh exec into dockerd: the background pid is dockerd's.
    # shellcheck disable=SC2016
    unshare --net --mount --propagation private -- sh -c '
        mount -t tmpfs tmpfs /run && ip link set lo up &&
        exec dockerd --data-root "$1/data" --exec-root "$1/exec" \
            --pidfile "$1/dockerd.pid" -H "unix://$1/docker.sock"' \
        sh "$DOCKERD_DIR" >"$DOCKERD_DIR/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    DOCKERD_NETNS=
    dockerd_wait_ready
}

# dockerd_start without unshare: the caller is in namespaces of its own
# already (its /run must be private). Sets the same variables.
dockerd_start_here() {
    DOCKERD_DIR=$1
    DOCKERD_SOCK=$DOCKERD_DIR/docker.sock
    [ -n "$DOCKERD_DIR" ] || return 1
    mkdir -p "$DOCKERD_DIR/data" "$DOCKERD_DIR/exec" || return 1
    dockerd --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
        --pidfile "$DOCKERD_DIR/dockerd.pid" -H "unix://$DOCKERD_SOCK" \
        >"$DOCKERD_DIR/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    DOCKERD_NETNS=
    dockerd_wait_ready
}

# Copy the host executable BIN into ROOT at the same path, with every
# library ldd lists for it (and the dynamic loader).
dockerd_image_add_binary() {
    local root=$1 bin=$2 lib
    mkdir -p "$root$(dirname "$bin")" && cp -L "$bin" "$root$bin" || return 1
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" || return 1
    done
}

# Wait until the engine started as DOCKERD_PID answers /_ping on
# DOCKERD_SOCK (at most 30 s); on failure show the end of its log.
dockerd_wait_ready() {
    tries=0
    while [ $tries -lt 300 ]; do
        if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            echo "the engine exited at start; its log:"
            tail -20 "$DOCKERD_DIR"/*.log
            DOCKERD_PID=
            return 1
        fi
        if [ -S "$DOCKERD_SOCK" ] && dockerd_api GET /_ping >/dev/null 2>&1; then
            # Read only now: before unshare(2) ran, the pid was still in our
            # namespace, and dockerd_stop kills what shares this one.
            DOCKERD_NETNS=$(readlink "/proc/$DOCKERD_PID/ns/net")
            [ "$DOCKERD_NETNS" != "$(readlink /proc/self/ns/net)" ] || DOCKERD_NETNS=
            return 0
        fi
        sleep 0.1
        tries=$((tries + 1))
    done
    echo "the engine did not answer on $DOCKERD_SOCK within 30 s; its log:"
    tail -20 "$DOCKERD_DIR"/*.log
    return 1
}

# Build the stand-in workspace image NAME:TAG (default localhost/ws-test:latest)
# from busybox: /bin/busybox and its applet links, user coder (1000:1000)
# with /home/coder owned by it, /tmp 1777, and as command /bin/ws-idle,
# which stays up until SIGTERM and then exits at once (so a stop takes no
# 10 s grace period). It forks once at start only: a workspace at its pids
# limit must not lose its main process.
dockerd_build_image() {
    ref=${1:-localhost/ws-test:latest}
    repo=${ref%:*}
    tag=${ref##*:}
    bb=$(dockerd_busybox) || return 1
    root=$DOCKERD_DIR/rootfs
    rm -rf "$root"
    mkdir -p "$root/bin" "$root/etc" "$root/home/coder" "$root/tmp" "$root/proc" \
        "$root/sys" "$root/dev" "$root/root" || return 1
    cp "$bb" "$root/bin/busybox" || return 1
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\ncoder:x:1000:1000:coder:/home/coder:/bin/sh\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\ncoder:x:1000:\n' >"$root/etc/group"
    cat >"$root/bin/ws-idle" <<'EOF'
#!/bin/sh
# Stands in for code-server: runs until SIGTERM, then exits at once.
trap 'exit 0' TERM
while :; do
    sleep 1000000 &
    wait $!
done
EOF
    chmod 755 "$root/bin/ws-idle"
    chown 1000:1000 "$root/home/coder"
    for bin in ${DOCKERD_IMAGE_BINARIES:-}; do
        dockerd_image_add_binary "$root" "$bin" || return 1
    done
    for pair in ${DOCKERD_IMAGE_FILES:-}; do
        mkdir -p "$root$(dirname "${pair#*:}")" && cp "${pair%%:*}" "$root${pair#*:}" || return 1
    done
    chmod 1777 "$root/tmp"
    # changes=CMD ["/bin/ws-idle"], URI-encoded.
    tar -C "$root" -cf - . |
        dockerd_api POST "/images/create?fromSrc=-&repo=$repo&tag=$tag&changes=CMD%20%5B%22%2Fbin%2Fws-idle%22%5D" \
            -H 'Content-Type: application/x-tar' --data-binary @- >"$DOCKERD_DIR/import.out" ||
        return 1
    dockerd_api GET "/images/$repo:$tag/json" >/dev/null
}

# Create a user-defined bridge network NAME (containers get their own IPs on it).
dockerd_network_create() {
    dockerd_api POST /networks/create -H 'Content-Type: application/json' \
        --data "{\"Name\":\"$1\"}" >/dev/null
}

# Remove every container, stop dockerd and whatever it left in its
# namespace, and delete the work directory.
dockerd_stop() {
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        for id in $(dockerd_api GET '/containers/json?all=true' 2>/dev/null |
            grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
            dockerd_api DELETE "/containers/$id?force=true" >/dev/null 2>&1
        done
        kill -TERM "$DOCKERD_PID" 2>/dev/null
        tries=0
        while kill -0 "$DOCKERD_PID" 2>/dev/null && [ $tries -lt 200 ]; do
            sleep 0.1
            tries=$((tries + 1))
        done
        kill -KILL "$DOCKERD_PID" 2>/dev/null
        wait "$DOCKERD_PID" 2>/dev/null
    fi
    # containerd and shims (podman: conmon, which outlives exec sessions by
    # minutes) live in the engine's network namespace: end each by pid.
    if [ -n "$DOCKERD_NETNS" ] && [ "$DOCKERD_NETNS" != "$(readlink /proc/self/ns/net)" ]; then
        for ns in /proc/[0-9]*/ns/net; do
            [ "$(readlink "$ns" 2>/dev/null)" = "$DOCKERD_NETNS" ] || continue
            pid=${ns#/proc/}
            pid=${pid%%/*}
            kill -KILL "$pid" 2>/dev/null
        done
    fi
    DOCKERD_PID=
    DOCKERD_NETNS=
    dockerd_kill_containers
    if [ -n "$DOCKERD_DIR" ] && [ -d "$DOCKERD_DIR" ] && [ -z "${TEST_KEEP:-}" ]; then
        rm -rf "$DOCKERD_DIR"
    fi
    DOCKERD_DIR=
}

# The ids of every container the engine under DOCKERD_DIR ever made, read
# from its own state on disk (dockerd: data/containers/ID; podman:
# root/overlay-containers/ID): what the engine recorded survives the engine.
dockerd_container_ids() {
    for dir in "$DOCKERD_DIR"/data/containers/* "$DOCKERD_DIR"/root/overlay-containers/*; do
        id=${dir##*/}
        case "$id" in
        *[!0-9a-f]* | "") ;;
        *) [ ${#id} -eq 64 ] && echo "$id" ;;
        esac
    done
}

# Kill the processes of this engine's containers that outlived it (an engine
# killed with SIGKILL, or one whose shims are gone, removes nothing) and
# remove their empty cgroups. Each container's processes are found by their
# cgroup, whose path names the container id (dockerd: /docker/ID, podman:
# /libpod_parent/libpod-ID); only ids this engine recorded are touched.
# Run it after the engine and its shims are gone, so nothing starts anew.
dockerd_kill_containers() {
    [ -n "$DOCKERD_DIR" ] && [ -d "$DOCKERD_DIR" ] || return 0
    ids=$(dockerd_container_ids)
    [ -n "$ids" ] || return 0
    cgroups=$(for id in $ids; do
        find /sys/fs/cgroup -maxdepth 4 -type d -name "*$id*" 2>/dev/null
    done)
    [ -n "$cgroups" ] || return 0
    tries=0
    while [ $tries -lt 50 ]; do
        left=
        # shellcheck disable=SC2086
        for pid in $(find $cgroups -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
            kill -KILL "$pid" 2>/dev/null && left=yes
        done
        [ -n "$left" ] || break
        sleep 0.1
        tries=$((tries + 1))
    done
    # shellcheck disable=SC2086
    find $cgroups -depth -type d -exec rmdir {} + 2>/dev/null
    return 0
}

# 0 when podman (and what the podman suite needs besides) is installed.
podman_have_tools() {
    if ! command -v podman >/dev/null 2>&1; then
        echo "podman tests: podman is not installed (apt-get install podman, or contrib/install-deps.sh --test)"
        return 1
    fi
    if [ ! -x /usr/lib/cni/bridge ]; then
        echo "podman tests: CNI plugins missing (apt-get install containernetworking-plugins)"
        return 1
    fi
    dockerd_have_tools
}

# Start podman's Docker-compatible service with everything under DIR. Its
# containers.conf: runc, cgroupfs and file events (no systemd here), CNI
# networking from containernetworking-plugins, no default ulimits, and
# every path of its own under DIR. Sets the same variables as dockerd_start.
podman_service_start() {
    DOCKERD_DIR=$1
    DOCKERD_SOCK=$DOCKERD_DIR/podman.sock
    [ -n "$DOCKERD_DIR" ] || return 1
    mkdir -p "$DOCKERD_DIR/root" "$DOCKERD_DIR/runroot" "$DOCKERD_DIR/tmp" \
        "$DOCKERD_DIR/netconf" || return 1
    cat >"$DOCKERD_DIR/containers.conf" <<EOF
[containers]
default_ulimits = []
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$DOCKERD_DIR/events.log"
tmp_dir = "$DOCKERD_DIR/tmp"
volume_path = "$DOCKERD_DIR/root/volumes"
static_dir = "$DOCKERD_DIR/root/libpod"
[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "$DOCKERD_DIR/netconf"
EOF
    # shellcheck disable=SC2016
    # A /dev/shm of its own too: podman keeps its lock table there
    # (libpod_lock), which would otherwise outlive the test on the host.
    CONTAINERS_CONF=$DOCKERD_DIR/containers.conf unshare --net --mount --propagation private -- sh -c '
        mount -t tmpfs tmpfs /run && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && ip link set lo up &&
        exec podman --root "$1/root" --runroot "$1/runroot" system service --time=0 \
            "unix://$1/podman.sock"' sh "$DOCKERD_DIR" >"$DOCKERD_DIR/podman.log" 2>&1 &
    DOCKERD_PID=$!
    DOCKERD_NETNS=
    dockerd_wait_ready
}

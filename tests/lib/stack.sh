# shellcheck shell=bash
# stack.sh: start and stop the real service stack on loopback for tests and
# benchmarks: the fast origin (tests/lib/origin), c-icap with srv_egress.so
# over a given store, and squid with contrib/squid/egress.conf. Everything
# lives in one private temporary directory with ports of its own, and
# everything is stopped and removed at exit. Source it from bash:
#
#   . "$top_srcdir/tests/lib/stack.sh"
#   stack_init                 # STACK_DIR, trap on EXIT; needs top_srcdir, top_builddir
#   stack_start_origin         # ORIGIN_PORT
#   stack_start_icap STORE [DIRECTIVE...]   # ICAP_PORT; extra c-icap.conf lines
#   stack_start_squid [LINE...]             # SQUID_PORT; extra squid.conf lines
#   stack_curl 127.0.0.5 [CURL ARGS...]     # curl through squid from that address
#   stack_stop_icap / stack_stop_squid / stack_stop_origin
#
# Functions:
#   stack_init            make STACK_DIR (mode 755, squid runs as proxy),
#                         install the EXIT trap that calls stack_cleanup.
#   stack_free_port       print a TCP port nobody listens on (random, checked).
#   stack_wait_port PORT [SECONDS]  wait until something listens on 127.0.0.1:PORT.
#   stack_start_origin [web]
#                         start the origin; sets ORIGIN_PORT, ORIGIN_PID.
#                         Plain: on 127.0.0.1 and a free port (a port only
#                         a rule naming it opens). "web": on port 80 of an
#                         address of its own in 127.0.0.0/8 (ORIGIN_ADDR,
#                         where squid's hosts_file sends STACK_HOSTS), as a
#                         workspace's origin would be: a web port, decided
#                         by the rules without a port.
#   stack_start_icap STORE [LINE...]
#                         write $STACK_DIR/c-icap.conf (Service egress with the
#                         built module by absolute path, egress.Database STORE,
#                         then each LINE, e.g. "egress.DenyMode page"), start
#                         c-icap in the foreground and wait until it answers
#                         OPTIONS for the egress service. Sets ICAP_PORT,
#                         ICAP_PID, ICAP_LOG (its server log). Set
#                         ICAP_SERVICE_LINE to load another service instead
#                         (e.g. "Service echo srv_echo.so").
#   stack_icap_conf       the path of that c-icap.conf.
#   stack_stop_icap       stop c-icap (TERM, then wait for the pid to go).
#   stack_squid_can COMMAND ARG...
#                         run COMMAND as squid's user proxy (e.g. test -x
#                         PATH): 0 when it succeeds.
#   stack_squid_exec PATH print the path of a copy of the program PATH in
#                         $STACK_DIR/bin (mode 755), made on first use. squid
#                         runs its helpers as user proxy, who cannot enter a
#                         build tree under a private directory (a clone in
#                         /root, mode 0700: "ipcCreate: ... (13) Permission
#                         denied"); every helper a test gives squid is such
#                         a copy.
#   stack_start_squid [LINE...]
#                         write $STACK_DIR/squid/squid.conf: loopback-only
#                         settings, hosts_file $STACK_DIR/hosts (STACK_HOSTS,
#                         all mapped to ORIGIN_ADDR, default 127.0.0.1),
#                         workspaces 127.0.0.0/8 allowed, then contrib/squid/egress.conf with the ICAP
#                         port and error directory of this stack (unless
#                         SQUID_NO_ICAP=1), then each LINE. Waits until squid
#                         listens. Sets SQUID_PORT, SQUID_PID, SQUID_ACCESS_LOG,
#                         SQUID_CACHE_LOG. Without egress.conf squid keeps its
#                         512 KB client_request_buffer_max_size, with which
#                         squid 5.7 aborts large plain-HTTP uploads (bug 5405,
#                         see contrib/squid/README.md); pass
#                         "client_request_buffer_max_size 64 MB" as a LINE
#                         to upload through such a squid.
#                         With SQUID_POLICY=acl the decision is the external
#                         ACL helper instead: contrib/squid/egress-acl.conf
#                         (before the http_access allow lines) with a copy
#                         (stack_squid_exec) of the built acl/egress-acl over
#                         ACL_STORE (flush ACL_FLUSH,
#                         default 200ms), "%ea" logged instead of the ICAP
#                         reason header, no ICAP; SQUID_ACL_SNI=1 also
#                         enables its "#sni " lines as the snippet says
#                         (squid-openssl).
#                         SQUID_ACL_CHILDREN="concurrency=N children-max=N ..."
#                         replaces the snippet's helper process options
#                         (e.g. four helpers started at once).
#                         SQUID_PRE_CONF=FILE inserts FILE's lines there too
#                         (before the http_access allow lines), e.g. another
#                         filter for a benchmark.
#                         STACK_ORIGIN_PEER=1 makes the origin (started
#                         before) squid's only way out for plain HTTP, as
#                         an originserver cache_peer: "http://HOST/", port 80
#                         as a workspace's request would be, reaches it
#                         (decided on a web port), and so does
#                         "http://HOST:$ORIGIN_PORT/" (decided on that
#                         port, which only a rule naming it allows: see
#                         policy/covers.h). CONNECT still goes direct.
#                         Both paths start with contrib/squid/egress-guard.conf
#                         as stack_guard prints it.
#   stack_guard [SUBNET]  print contrib/squid/egress-guard.conf for a squid
#                         on loopback: its addresses file written by
#                         `egress-net addresses` into STACK_DIR (workspace
#                         subnet SUBNET, default 172.30.0.0/24), and without
#                         the two lines that refuse loopback and this host's
#                         addresses (the stack's origins live there); the
#                         cache manager, the workspace subnet and egress_internal
#                         stay as installed.
#   stack_stop_squid      stop squid and wait for it.
#   stack_curl IP ARGS... curl through squid from source address IP with a
#                         10 s limit; prints what curl prints.
#   stack_cleanup         stop everything started here and remove STACK_DIR
#                         (kept when TEST_KEEP is set).
#
# Several c-icap or squid instances: set STACK_INSTANCE (a suffix for their
# directories) before each start and save ICAP_PORT/SQUID_PORT and the PIDs;
# the stack_stop_* functions stop the last one started, stack_cleanup all.
#
# Variables read: top_srcdir, top_builddir (set by make check), STACK_HOSTS
# (names squid resolves to 127.0.0.1), TEST_KEEP.

STACK_HOSTS=${STACK_HOSTS:-}
STACK_DIR=
STACK_ALL_PIDS=
ORIGIN_PID=
ICAP_PID=
SQUID_PID=

stack_init() {
    STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ep-stack-XXXXXX") || return 99
    chmod 755 "$STACK_DIR"
    trap stack_cleanup EXIT
    trap 'exit 1' INT TERM
}

stack_squid_can() {
    su -s /bin/sh -c '"$@"' proxy -- sh "$@" 2>/dev/null
}

stack_squid_exec() {
    local copy="$STACK_DIR/bin/${1##*/}"
    if [ ! -x "$copy" ]; then
        mkdir -p "$STACK_DIR/bin" && chmod 755 "$STACK_DIR/bin" &&
            install -m 755 "$1" "$copy" || return 99
    fi
    echo "$copy"
}

# Ports are taken below the kernel's ephemeral range (so no client
# connection or TIME_WAIT entry holds them) and must be unused in any state.
stack_free_port() {
    local port i low
    low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    low=${low:-32768}
    for i in $(seq 1 100); do
        port=$((10000 + RANDOM % (low - 10000)))
        if ! ss -Hant "( sport = :$port or dport = :$port )" 2>/dev/null | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

stack_wait_port() {
    local port=$1 limit=${2:-20} i
    for i in $(seq 1 $((limit * 10))); do
        ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    echo "nothing listens on port $port after ${limit}s" >&2
    return 1
}

# Wait for a process to exit (it is a child of this shell or not).
stack_wait_gone() {
    local pid=$1 limit=${2:-30} i
    for i in $(seq 1 $((limit * 10))); do
        kill -0 "$pid" 2>/dev/null || {
            wait "$pid" 2>/dev/null
            return 0
        }
        sleep 0.1
    done
    echo "process $pid still running after ${limit}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
}

stack_start_origin() {
    local i tries=1 addr=127.0.0.1 port=0
    [ "${1:-}" = web ] && tries=20
    for i in $(seq 1 $tries); do
        if [ "${1:-}" = web ]; then
            addr=127.$((100 + RANDOM % 100)).$((1 + RANDOM % 250)).$((1 + RANDOM % 250))
            port=80
        fi
        stack_origin_at "$addr" "$port" && return 0
    done
    echo "origin did not start:" >&2
    cat "$STACK_DIR/origin.log" >&2
    return 99
}

# stack_origin_at ADDR PORT: start the origin there (PORT 0: a free one).
stack_origin_at() {
    local i
    rm -f "$STACK_DIR/origin.port"
    "$top_builddir/tests/lib/origin" -a "$1" -p "$2" -f "$STACK_DIR/origin.port" \
        >"$STACK_DIR/origin.log" 2>&1 &
    ORIGIN_PID=$!
    for i in $(seq 1 100); do
        [ -s "$STACK_DIR/origin.port" ] && break
        kill -0 "$ORIGIN_PID" 2>/dev/null || break
        sleep 0.05
    done
    ORIGIN_PORT=$(cat "$STACK_DIR/origin.port" 2>/dev/null)
    if [ -z "$ORIGIN_PORT" ]; then
        kill "$ORIGIN_PID" 2>/dev/null
        wait "$ORIGIN_PID" 2>/dev/null
        ORIGIN_PID=
        return 1
    fi
    ORIGIN_ADDR=$1
    STACK_ALL_PIDS="$STACK_ALL_PIDS $ORIGIN_PID"
}

stack_stop_origin() {
    [ -n "$ORIGIN_PID" ] || return 0
    kill -TERM "$ORIGIN_PID" 2>/dev/null
    stack_wait_gone "$ORIGIN_PID" 10
    ORIGIN_PID=
}

stack_icap_conf() {
    echo "$STACK_DIR/c-icap${STACK_INSTANCE:-}/c-icap.conf"
}

stack_start_icap() {
    local store=$1 d="$STACK_DIR/c-icap${STACK_INSTANCE:-}" line i
    shift
    mkdir -p "$d"
    ICAP_PORT=$(stack_free_port) || return 99
    ICAP_LOG="$d/server.log"
    : >"$ICAP_LOG"
    {
        echo "PidFile $d/c-icap.pid"
        echo "CommandsSocket $d/c-icap.ctl"
        echo "Port 127.0.0.1:$ICAP_PORT"
        echo "TmpDir $d"
        echo "StartServers ${ICAP_SERVERS:-2}"
        echo "MaxServers ${ICAP_SERVERS:-2}"
        echo "MinSpareThreads 1"
        echo "MaxSpareThreads ${ICAP_THREADS:-40}"
        echo "ThreadsPerChild ${ICAP_THREADS:-40}"
        echo "MaxRequestsPerChild 0"
        echo "KeepAliveTimeout 600"
        echo "MaxKeepAliveRequests 1000000"
        echo "Timeout 300"
        echo "DebugLevel ${ICAP_DEBUG:-1}"
        echo "ServerLog $ICAP_LOG"
        echo "AccessLog $d/access.log"
        echo "ModulesDir /usr/lib/x86_64-linux-gnu/c_icap"
        echo "ServicesDir /usr/lib/x86_64-linux-gnu/c_icap"
        echo "TemplateDir /usr/share/c_icap/templates/"
        if [ -n "${ICAP_SERVICE_LINE:-}" ]; then
            echo "$ICAP_SERVICE_LINE"
        else
            echo "Service egress $top_builddir/icap/.libs/srv_egress.so"
            echo "egress.Database $store"
            echo "egress.FlushInterval ${ICAP_FLUSH:-200ms}"
            echo "egress.MaxReaders 1024"
        fi
        for line in "$@"; do
            echo "$line"
        done
    } >"$d/c-icap.conf"
    stdbuf -oL -eL c-icap -N -D -d "${ICAP_DEBUG:-1}" -f "$d/c-icap.conf" >"$d/stdout.log" 2>&1 &
    ICAP_PID=$!
    STACK_ALL_PIDS="$STACK_ALL_PIDS $ICAP_PID"
    local svc=egress
    case "${ICAP_SERVICE_LINE:-}" in
    Service\ *) svc=$(echo "$ICAP_SERVICE_LINE" | awk '{print $2}') ;;
    esac
    for i in $(seq 1 100); do
        if ! kill -0 "$ICAP_PID" 2>/dev/null; then
            echo "c-icap exited at start:" >&2
            cat "$d/stdout.log" "$ICAP_LOG" >&2
            ICAP_PID=
            return 1
        fi
        if c-icap-client -i 127.0.0.1 -p "$ICAP_PORT" -s "$svc" 2>&1 | grep -q "^ICAP/1.0 200\|Methods"; then
            return 0
        fi
        sleep 0.1
    done
    echo "c-icap did not answer OPTIONS on port $ICAP_PORT" >&2
    cat "$d/stdout.log" >&2
    return 99
}

stack_stop_icap() {
    [ -n "$ICAP_PID" ] || return 0
    kill -TERM "$ICAP_PID" 2>/dev/null
    stack_wait_gone "$ICAP_PID" 30
    ICAP_PID=
}

stack_guard() {
    "$top_srcdir/contrib/network/egress-net" --subnet "${1:-172.30.0.0/24}" \
        --addresses-file "$STACK_DIR/squid-addresses.conf" addresses >/dev/null || return 1
    sed -e "s#^include /run/egress-policy/squid-addresses.conf#include $STACK_DIR/squid-addresses.conf#" \
        -e '/^http_access deny to_localhost$/d' -e '/^http_access deny egress_host_addresses$/d' \
        "$top_srcdir/contrib/squid/egress-guard.conf"
}

stack_start_squid() {
    local d="$STACK_DIR/squid${STACK_INSTANCE:-}" name line helper=
    # squid drops to user proxy: everything it reads and runs is under STACK_DIR.
    if ! stack_squid_can test -x "$STACK_DIR"; then
        echo "squid's user proxy cannot enter $STACK_DIR: set TMPDIR to a directory it can reach" >&2
        return 99
    fi
    if [ "${SQUID_POLICY:-icap}" = acl ]; then
        helper=$(stack_squid_exec "$top_builddir/acl/egress-acl") || return 99
    fi
    mkdir -p "$d/logs" "$d/errors"
    SQUID_PORT=$(stack_free_port) || return 99
    : >"$STACK_DIR/hosts"
    for name in $STACK_HOSTS; do
        echo "${ORIGIN_ADDR:-127.0.0.1} $name" >>"$STACK_DIR/hosts"
    done
    cp /usr/share/squid/errors/templates/* "$d/errors/"
    cp "$top_srcdir/contrib/squid/errors/ERR_EGRESS_DENIED" "$d/errors/"
    SQUID_ACCESS_LOG="$d/logs/access.log"
    SQUID_CACHE_LOG="$d/logs/cache.log"
    {
        echo "http_port 127.0.0.1:$SQUID_PORT"
        echo "pid_filename $d/squid.pid"
        echo "visible_hostname egress-test"
        echo "hosts_file $STACK_DIR/hosts"
        echo "dns_nameservers 127.0.0.1"
        echo "cache deny all"
        echo "cache_mem 8 MB"
        echo "pinger_enable off"
        echo "icp_port 0"
        echo "htcp_port 0"
        echo "snmp_port 0"
        echo "shutdown_lifetime 1 seconds"
        echo "coredump_dir $d"
        if [ "${SQUID_POLICY:-icap}" = acl ]; then
            echo "logformat egress %ts.%03tu %>a %Ss/%03>Hs %rm %ru \"%ea\""
        else
            echo "logformat egress %ts.%03tu %>a %Ss/%03>Hs %rm %ru \"%{X-Egress-Reason}>ha\""
        fi
        echo "access_log stdio:$SQUID_ACCESS_LOG egress"
        echo "cache_log $SQUID_CACHE_LOG"
        echo "cache_store_log none"
        stack_guard || return 99
        if [ "${STACK_ORIGIN_PEER:-0}" = 1 ]; then
            echo "cache_peer $ORIGIN_ADDR parent $ORIGIN_PORT 0 no-query no-digest originserver name=stack_origin"
            echo "acl stack_tunnel method CONNECT"
            echo "cache_peer_access stack_origin deny stack_tunnel"
            echo "never_direct allow !stack_tunnel"
        fi
        if [ "${SQUID_POLICY:-icap}" = acl ]; then
            sed -e "s#/usr/bin/egress-acl \(.*\)--database /var/lib/egress-policy#$helper \1--database $ACL_STORE --flush-interval ${ACL_FLUSH:-200ms}#" \
                -e "s#^error_directory .*#error_directory $d/errors#" \
                -e "${SQUID_ACL_SNI:+s/^#sni //}" \
                -e "${SQUID_ACL_CHILDREN:+s/concurrency=200 children-max=4 children-startup=1 children-idle=1/$SQUID_ACL_CHILDREN/}" \
                -e "${SQUID_ACL_SNI:+/^http_access deny !egress_allowed\$/d}" \
                "$top_srcdir/contrib/squid/egress-acl.conf"
        fi
        [ -n "${SQUID_PRE_CONF:-}" ] && cat "$SQUID_PRE_CONF"
        echo "acl workspaces src 127.0.0.0/8"
        echo "http_access allow workspaces"
        echo "http_access deny all"
        if [ "${SQUID_NO_ICAP:-0}" != 1 ] && [ "${SQUID_POLICY:-icap}" != acl ]; then
            sed -e "s#icap://127.0.0.1:1344/egress#icap://127.0.0.1:$ICAP_PORT/${SQUID_ICAP_SERVICE:-egress}#" \
                -e "s#^error_directory .*#error_directory $d/errors#" \
                "$top_srcdir/contrib/squid/egress.conf"
        fi
        for line in "$@"; do
            echo "$line"
        done
    } >"$d/squid.conf"
    chown -R proxy:proxy "$d"
    squid -N -f "$d/squid.conf" >"$d/stdout.log" 2>&1 &
    SQUID_PID=$!
    STACK_ALL_PIDS="$STACK_ALL_PIDS $SQUID_PID"
    if ! stack_wait_port "$SQUID_PORT" 30; then
        cat "$d/stdout.log" "$SQUID_CACHE_LOG" >&2
        return 99
    fi
}

stack_stop_squid() {
    [ -n "$SQUID_PID" ] || return 0
    kill -TERM "$SQUID_PID" 2>/dev/null
    stack_wait_gone "$SQUID_PID" 30
    SQUID_PID=
}

stack_curl() {
    local ip=$1
    shift
    curl -sS --max-time 10 --interface "$ip" -x "http://127.0.0.1:$SQUID_PORT" "$@"
}

stack_cleanup() {
    local pid
    stack_stop_squid
    stack_stop_icap
    stack_stop_origin
    # Other instances (STACK_INSTANCE) still running: stop them all at once.
    for pid in $STACK_ALL_PIDS; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in $STACK_ALL_PIDS; do
        kill -0 "$pid" 2>/dev/null && stack_wait_gone "$pid" 30
    done
    STACK_ALL_PIDS=
    if [ -n "$STACK_DIR" ] && [ -z "${TEST_KEEP:-}" ]; then
        rm -rf "$STACK_DIR"
    elif [ -n "$STACK_DIR" ]; then
        echo "kept $STACK_DIR" >&2
    fi
}

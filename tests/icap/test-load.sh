#!/bin/sh
# Under load, bounded to a few seconds: 20 simulated workspaces send
# requests through squid while another process keeps rewriting their
# whitelist. stable.test is in every version of the whitelist, never.test
# in none, flip.test in every other one. No request may fail with an ICAP
# error, stable.test must always pass and never.test never.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"
need_squid

SECONDS_OF_LOAD=${LOAD_SECONDS:-4}
STACK_HOSTS="stable.test never.test flip.test"
stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
storectl rules-replace load stable.test flip.test
for i in $(seq 10 29); do
    storectl create-project "ws$i" security load
    storectl map "127.0.0.$i" "ws$i"
done

stack_start_origin web || exit 99
stack_start_icap "$STORE" || exit 99
stack_start_squid || exit 99

# The rewriter: alternate two whitelists until told to stop.
(
    n=0
    while [ ! -e "$STACK_DIR/stop" ]; do
        if [ $((n % 2)) -eq 0 ]; then
            "$STORECTL" "$STORE" rules-replace load stable.test
        else
            "$STORECTL" "$STORE" rules-replace load stable.test flip.test '*.flip.test'
        fi || echo "rewrite failed" >>"$STACK_DIR/rewriter.err"
        n=$((n + 1))
        echo "$n" >"$STACK_DIR/rewrites"
    done
) &
rewriter=$!

# One workspace: batches of 30 keep-alive requests until time is up.
workspace() {
    local ip=$1 end=$2 args=() k host
    for k in $(seq 1 10); do
        for host in stable.test never.test flip.test; do
            args+=(-o /dev/null "http://$host:$ORIGIN_PORT/$k")
        done
    done
    while [ "$(date +%s)" -lt "$end" ]; do
        curl -s --max-time 20 --interface "$ip" -x "http://127.0.0.1:$SQUID_PORT" \
            -w '%{http_code} %{url_effective}\n' "${args[@]}"
    done >"$STACK_DIR/load.$ip"
}

end=$(($(date +%s) + SECONDS_OF_LOAD))
pids=()
for i in $(seq 10 29); do
    workspace "127.0.0.$i" "$end" &
    pids+=($!)
done
wait "${pids[@]}"
touch "$STACK_DIR/stop"
wait "$rewriter"

results=$(cat "$STACK_DIR"/load.127.0.0.*)
total=$(printf '%s\n' "$results" | grep -c .)
echo "$total requests from 20 workspaces, $(cat "$STACK_DIR/rewrites") whitelist rewrites"
[ "$total" -ge 600 ] && ok "load ran ($total requests)" || fail "load ran" "only $total requests"
expect_eq "stable.test always allowed" \
    "$(printf '%s\n' "$results" | grep 'stable.test' | grep -vc '^200 ')" 0
expect_eq "never.test never allowed" \
    "$(printf '%s\n' "$results" | grep 'never.test' | grep -vc '^403 ')" 0
expect_eq "flip.test only 200 or 403" \
    "$(printf '%s\n' "$results" | grep 'flip.test' | grep -Evc '^(200|403) ')" 0
expect_eq "every request answered" "$(printf '%s\n' "$results" | grep -c '^000 ')" 0
[ -s "$STACK_DIR/rewriter.err" ] && fail "rewriter never failed" || ok "rewriter never failed"
expect_no_match "no ICAP error in squid's cache.log" "$(cat "$SQUID_CACHE_LOG")" "ICAP|essential"
expect_no_match "no ICAP failure in squid's access.log" "$(cat "$SQUID_ACCESS_LOG")" "/5[0-9][0-9] "
expect_no_match "no store error in c-icap's log" "$(cat "$ICAP_LOG")" "egress: .*(cannot|failed|fell back)"

finish

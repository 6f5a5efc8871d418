#!/bin/sh
# A bad value of any egress.* directive stops c-icap at start, with a
# message that names the directive; good values start it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$top_srcdir/tests/icap/common.sh"

stack_init
STORE="$STACK_DIR/store"
mkdir -p "$STORE"

# bad DIRECTIVE VALUE: c-icap must exit, naming egress.DIRECTIVE.
bad() {
    local out
    if stack_start_icap "$STORE" "egress.$1 $2" >"$STACK_DIR/bad.out" 2>&1; then
        fail "egress.$1 $2 refused" "c-icap started"
        stack_stop_icap
        return
    fi
    out=$(cat "$STACK_DIR/bad.out")
    expect_match "egress.$1 $2: c-icap stops naming the directive" "$out" "egress\.$1"
    expect_match "egress.$1 $2: as a fatal configuration error" "$out" "Fatal error while parsing config file"
}

bad Database relative/path
bad UnknownClient maybe
bad DenyMode redirect
bad FlushInterval 0
bad FlushInterval 5x
bad FlushInterval 2h
bad MaxReaders 0
bad MaxReaders many
bad MapSize 10
bad MapSize 1Q
bad DenyMode "header page"
bad MapSize 1.5
bad KeyFilter maybe
bad KeyFilterMemory 1K
bad KeyFilterMemory 5G
bad KeyFilterMemory lots

if stack_start_icap "$STORE" "egress.UnknownClient allow" "egress.DenyMode page" \
    "egress.FlushInterval 500ms" "egress.MaxReaders 2048" "egress.MapSize 64M" \
    "egress.KeyFilter off" "egress.KeyFilterMemory 4M" \
    'egress.AccessHint "Ask in the forum."'; then
    ok "every directive with a good value: c-icap starts"
    expect_match "the configuration is logged" "$(cat "$ICAP_LOG" "$STACK_DIR/c-icap/stdout.log")" \
        "egress: store $STORE, unknown clients allowed, deny mode page, flush every 500 ms, 2048 reader slots, key filters off"
    out=$(c-icap-client -i 127.0.0.1 -p "$ICAP_PORT" -s egress -req http://a.test/ -v 2>&1)
    expect_match "UnknownClient allow lets an unknown client through" "$out" "^[[:space:]]*ICAP/1.0 204"
else
    fail "every directive with a good value: c-icap starts"
fi

# The shipped snippet itself is a valid configuration.
snippet=$(grep -v '^Service egress srv_egress.so' "$top_srcdir/contrib/c-icap/egress.conf" |
    sed "s#^egress.Database .*#egress.Database $STORE#")
stack_stop_icap
mapfile -t lines < <(printf '%s\n' "$snippet" | grep -v '^#' | grep -v '^$')
if stack_start_icap "$STORE" "${lines[@]}"; then
    ok "contrib/c-icap/egress.conf directives are accepted"
else
    fail "contrib/c-icap/egress.conf directives are accepted"
fi

finish

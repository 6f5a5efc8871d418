# shellcheck shell=bash disable=SC2154,SC2034 # top_srcdir, top_builddir in; NULL_ECAP out
# floors.sh: the squid.conf lines of the two floors of squid's decision
# paths, for bench-acl.sh and bench-acl-instructions.sh. Source it after
# tests/lib/stack.sh's stack_init, then call floors_write:
#   $STACK_DIR/nullacl.conf   the external_acl_type line of
#                             contrib/squid/egress-acl.conf with
#                             tests/bench/null-acl (answers OK, decides nothing)
#   $STACK_DIR/nullecap.conf  an eCAP adapter that passes every request
#                             unchanged (tests/bench/null-ecap.cc, compiled
#                             here); only when libecap3-dev and g++ are
#                             installed: NULL_ECAP=1 then, empty otherwise.

floors_write() {
    local null_acl
    # squid runs helpers as user proxy: a copy it can reach (tests/lib/stack.sh).
    null_acl=$(stack_squid_exec "$top_builddir/tests/bench/null-acl") || return 1
    {
        echo "external_acl_type null_acl ttl=0 negative_ttl=0 cache=0 concurrency=200" \
            "children-max=4 children-startup=1 children-idle=1 %>a %>rm %>rd" \
            "$null_acl"
        echo "acl null_acl_ok external null_acl"
        echo "http_access deny !null_acl_ok"
    } >"$STACK_DIR/nullacl.conf"
    NULL_ECAP=
    if ! command -v g++ >/dev/null || [ ! -e /usr/include/libecap/adapter/service.h ]; then
        echo "$(basename "$0"): no libecap3-dev (or g++): the nullecap rows are left out"
        return 0
    fi
    g++ -O2 -fPIC -shared -o "$STACK_DIR/null-ecap.so" "$top_srcdir/tests/bench/null-ecap.cc" \
        -lecap || return 1
    {
        echo "loadable_modules $STACK_DIR/null-ecap.so"
        echo "ecap_enable on"
        echo "ecap_service null_ecap reqmod_precache uri=ecap://egress-policy.invalid/bench/null bypass=off"
        echo "adaptation_access null_ecap allow all"
    } >"$STACK_DIR/nullecap.conf"
    NULL_ECAP=1
}

#!/bin/bash
# The policy core's layering, checked on the sources (nothing is built):
#
# 1. No file of policy/ includes a header of a front end (icap/, acl/, dns/,
#    api/, node/), of the cluster's network layer (cluster/), or of c-icap,
#    libmicrohttpd, libcurl, libunbound or ldns: the core knows none of them.
# 2. The store's files (policy/store*.[ch], capture_store.[ch]) include one
#    another in no circle. A module is X.c with X.h; module A depends on
#    module B when a file of A includes B.h, directly or through a header
#    without a .c of its own (store.h, store_internal.h); tsort finds any
#    loop of such dependencies, two files including each other's header
#    the shortest.
# 3. No store file calls a function defined in capture_store.c by name:
#    capture is a part of the schema, reached through its hooks.
#
# Then it proves each check can fail: on scratch copies of policy/, one
# bad line each (a front end's header, a circle through capture, a circle
# between two store files, one through store.h, a call of capture by
# name), the check in question must object.
#
# Arrows today: store_projects, store_audit, store_parts -> store_env;
# store_cluster -> store_projects, store_rules, store_seen (the outbox
# hooks the others call are declared in store_internal.h);
# store_rules, store_seen -> store_projects; store_match -> store_rules;
# capture_store -> all of them (through store.h). store_env names no part:
# it walks store_parts[].
set -u
. "$(dirname "$0")/../lib/check.sh"

src=${top_srcdir:-.}
if [ ! -f "$src/policy/store.h" ] || ! command -v tsort >/dev/null; then
    echo "harness error: no $src/policy/store.h, or no tsort"
    exit 99
fi

# Lines of policy/ (in directory $1) that include a front end's header.
front_end_includes() {
    grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]((icap|acl|api|dns|node|cluster)/|c_icap/|c-icap|microhttpd|curl/|unbound\.h|ldns/)' \
        "$1"/*.[ch]
}

# The policy/ headers file $1 includes, one module name a line ("policy/X.h" gives X).
includes_of() {
    sed -nE 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"policy/([a-z0-9_]+)\.h".*|\1|p' "$1"
}

# The modules file $2 of directory $1 depends on: what it includes, and
# through each included header without a .c, what that one includes.
depends_of() {
    local dir=$1 todo seen=" " m
    read -r -a todo <<<"$(includes_of "$2" | tr '\n' ' ')"
    while [ "${#todo[@]}" -gt 0 ]; do
        m=${todo[0]}
        todo=("${todo[@]:1}")
        case "$seen" in *" $m "*) continue ;; esac
        seen="$seen$m "
        if [ ! -f "$dir/$m.c" ] && [ -f "$dir/$m.h" ]; then
            read -r -a more <<<"$(includes_of "$dir/$m.h" | tr '\n' ' ')"
            todo+=("${more[@]}")
        fi
    done
    echo "$seen"
}

# The store's modules of directory $1: each store*.c and capture_store.c.
store_modules() {
    for f in "$1"/store*.c "$1"/capture_store.c; do
        basename "$f" .c
    done
}

# "A B" for each dependency between store modules of directory $1 (and "A A" for each module).
store_edges() {
    local dir=$1 m f d modules
    modules=" $(store_modules "$dir" | tr '\n' ' ') "
    for m in $modules; do
        echo "$m $m"
        for f in "$dir/$m.c" "$dir/$m.h"; do
            [ -f "$f" ] || continue
            for d in $(depends_of "$dir" "$f"); do
                case "$modules" in *" $d "*) [ "$d" != "$m" ] && echo "$m $d" ;; esac
            done
        done
    done | sort -u
}

# tsort's account of a loop among the store modules of directory $1; nothing when there is none.
store_loops() {
    { store_edges "$1" | tsort >/dev/null; } 2>&1
}

# The functions capture_store.c of directory $1 defines for other files (not static).
capture_functions() {
    sed -nE '/^static /d; /;[[:space:]]*$/d; s/^[a-z][a-z0-9_ ]*[ *]\**([a-z_][a-z0-9_]*)\(.*/\1/p' \
        "$1/capture_store.c"
}

# Lines of the store's .c files of directory $1 that call one of those by name (comments aside).
capture_calls() {
    local fn
    for fn in $(capture_functions "$1"); do
        grep -nE "(^|[^a-zA-Z0-9_])${fn}[[:space:]]*\(" "$1"/store*.c |
            grep -vE '^[^:]*:[0-9]+:[[:space:]]*(/\*|\*|//)'
    done
}

# ---- the tree as it is ----

policy=$src/policy
expect_eq "policy/ includes no header of icap/, acl/, api/, c-icap or libmicrohttpd" \
    "$(front_end_includes "$policy")" ""
expect_eq "the store's files include one another in no circle" "$(store_loops "$policy")" ""
expect_eq "no store file calls a function of capture_store.c by name" \
    "$(capture_calls "$policy")" ""
# The checks see what they are meant to (else they would pass on nothing).
expect_match "capture_store.c's functions are found" "$(capture_functions "$policy")" \
    '^ep_capture_put$'
expect_match "the store's include arrows are found" "$(store_edges "$policy")" \
    '^store_rules store_projects$'
expect_match "capture depends on the store (through store.h)" "$(store_edges "$policy")" \
    '^capture_store store_env$'

# ---- each check objects to a bad line ----

scratch=$(mktemp -d "${TMPDIR:-/tmp}/layering.XXXXXX") || exit 99
trap 'rm -rf "$scratch"' EXIT

# A copy of policy/ named $1 with line $3 appended to file $2; prints its path.
mutant() {
    mkdir -p "$scratch/$1" || exit 99
    cp "$policy"/*.[ch] "$scratch/$1/" || exit 99
    printf '%s\n' "$3" >>"$scratch/$1/$2" || exit 99
    echo "$scratch/$1"
}

d=$(mutant api decide.c '#include "api/http.h"')
expect_match "a front end's header in policy/ is refused" "$(front_end_includes "$d")" \
    'decide\.c:[0-9]+:#include "api/http\.h"'
d=$(mutant mhd rule.h '#include <microhttpd.h>')
expect_match "libmicrohttpd in policy/ is refused" "$(front_end_includes "$d")" 'rule\.h'
d=$(mutant etcd store_cluster.c '#include "cluster/etcd.h"')
expect_match "the cluster's etcd client in policy/ is refused" "$(front_end_includes "$d")" \
    'store_cluster\.c'
d=$(mutant curl store_env.c '#include <curl/curl.h>')
expect_match "libcurl in policy/ is refused" "$(front_end_includes "$d")" 'store_env\.c'
d=$(mutant cicap host.c '#include "c_icap/c-icap.h"')
expect_match "c-icap in policy/ is refused" "$(front_end_includes "$d")" 'host\.c'

d=$(mutant capture-back store_env.c '#include "policy/capture_store.h"')
expect_match "store_env.c including capture_store.h is a circle" "$(store_loops "$d")" \
    'loop'
d=$(mutant two-way store_projects.c '#include "policy/store_rules.h"')
expect_match "store_projects.c and store_rules.c including each other is a circle" \
    "$(store_loops "$d")" 'loop'
d=$(mutant umbrella store_env.c '#include "policy/store.h"')
expect_match "store_env.c including store.h (every store header) is a circle" \
    "$(store_loops "$d")" 'loop'

d=$(mutant call store_projects.c '    rc = ep_capture_clear(store, id, NULL);')
expect_match "a store file calling ep_capture_clear() is refused" "$(capture_calls "$d")" \
    'store_projects\.c:[0-9]+:.*ep_capture_clear'
d=$(mutant hidden-call capture_store.c 'int store_capture_seed(struct ep_store *s, MDB_txn *txn)')
printf '%s\n' '    rc = store_capture_seed(s, txn);' >>"$d/store_env.c"
expect_match "a store file calling a hidden helper of capture_store.c is refused" \
    "$(capture_calls "$d")" 'store_env\.c:[0-9]+:.*store_capture_seed'

finish

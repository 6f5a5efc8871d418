#!/bin/sh
# The review page in headless Chromium: time from navigation to the review
# view rendered, for a project with 100 and one with 10,000 recorded hosts
# (and an empty one, the baseline), median of several runs each. Not run by
# make check. From the build directory:
#   top_srcdir=$PWD/.. top_builddir=$PWD sh ../tests/bench/bench-ui.sh [RUNS]
# Needs chromium, node and npm (playwright-core is installed as for
# tests/ui); no squid: the hosts are written into the store directly.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
: "${top_srcdir:?set top_srcdir}" "${top_builddir:?set top_builddir}"
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
RUNS=${1:-7}
. "$top_srcdir/tests/lib/stack.sh"
. "$top_srcdir/tests/ui/ui.sh"
ui_need_browser
stack_init
ui_playwright
STORE="$STACK_DIR/store"
mkdir -p "$STORE"
ui_start_api "$STORE" "$top_srcdir/api/ui"
ids=
for n in 0 100 10000; do
    id=$(api POST /api/projects/create "{\"projectName\": \"$n hosts\", \"proxyMode\": \"logging\"}" | project_id)
    [ -n "$id" ] || exit 99
    [ "$n" -gt 0 ] && { "$top_builddir/tests/ui/fill_seen" "$STORE" "$id" "$n" || exit 99; }
    ids="$ids $n:$id"
done
BASE="http://127.0.0.1:$API_PORT" TOKEN="$TOKEN" CHROMIUM="$CHROMIUM" UI_MODULES="$UI_MODULES" \
    RUNS="$RUNS" PROJECTS="$ids" node "$top_srcdir/tests/bench/bench-ui.mjs"

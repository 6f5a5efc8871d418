#!/bin/sh
# Every answer the API test suite receives, checked against docs/openapi.yaml:
# the suite's programs run again with EGRESS_API_RECORD set (tests/api/client.c,
# over HTTP, and tests/api/inproc.c, in process, then write each request and
# answer to a file), and
# tests/api/openapi-validate.py (python3-jsonschema, python3-yaml) checks
# each one against its path, method and status: an undocumented status,
# member or type fails. The suite's own checks must pass too.
set -u
command -v python3 >/dev/null 2>&1 || { echo "python3 missing: apt-get install python3"; exit 1; }
python3 -c 'import jsonschema, yaml' 2>/dev/null || {
    echo "python3's jsonschema or yaml module missing: apt-get install python3-jsonschema python3-yaml"
    exit 1
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/openapi-replay.$$.XXXXXX") || exit 99
trap 'rm -rf "$dir"' EXIT
EGRESS_API_RECORD="$dir/answers.jsonl"
export EGRESS_API_RECORD

# The programs of the suite that drive the daemon over HTTP (not the load
# and kill tests: their answers are the same requests by the thousand, or
# cut on purpose), and the accounts tests in process: the role matrix
# (every endpoint as seven kinds of caller) and the sessions (not
# test_api_inproc: its answers are injected allocation failures).
status=0
for t in tests/api/test_api_endpoints tests/api/test_api_bad_requests \
    tests/api/test_api_lifecycle tests/api/test_api_paging tests/api/test_api_hardening \
    tests/api/test_api_reference tests/capture/test_api_conversations \
    tests/api/test_api_accounts tests/api/test_api_roles tests/api/test_api_sessions; do
    "$top_builddir/$t" >"$dir/run.log" 2>&1
    rc=$?
    if [ "$rc" != 0 ]; then
        echo "$t failed ($rc) while recording:"
        tail -n 20 "$dir/run.log"
        status=1
    fi
done
[ -s "$EGRESS_API_RECORD" ] || { echo "no answer was recorded"; exit 1; }
echo "recorded $(wc -l <"$EGRESS_API_RECORD") answers"
python3 "$top_srcdir/tests/api/openapi-validate.py" "$top_srcdir/docs/openapi.yaml" \
    "$EGRESS_API_RECORD" || status=1
exit $status

# shellcheck shell=bash
# The shell API tests' side of tests/api/openapi-validate.py: each answer a
# test's curl call receives is written as one JSON line (as
# tests/api/client.c writes them) to $EGRESS_API_RECORD, and
# `expect_answers_documented` checks them all against docs/openapi.yaml.
# Sourced after tests/lib/check.sh.

# api_record METHOD PATH STATUS CONTENT_TYPE BODY: one answer (nothing when
# EGRESS_API_RECORD is unset or the call got no answer).
api_record() {
    [ -n "${EGRESS_API_RECORD:-}" ] && [ "${3:-000}" != 000 ] || return 0
    python3 -c 'import json, sys
m, p, s, t, b = sys.argv[1:6]
print(json.dumps({"method": m, "path": p, "status": int(s), "contentType": t or None, "body": b}))' \
        "$1" "$2" "$3" "$4" "$5" >>"$EGRESS_API_RECORD"
}

# expect_answers_documented: every answer recorded so far is as
# docs/openapi.yaml says (status, media type, members and types).
expect_answers_documented() {
    local out
    if out=$(python3 "$top_srcdir/tests/api/openapi-validate.py" "$top_srcdir/docs/openapi.yaml" \
        "$EGRESS_API_RECORD" 2>&1); then
        ok "every answer is as docs/openapi.yaml says ($(printf '%s' "$out" | head -n 1))"
    else
        fail "every answer is as docs/openapi.yaml says" "$out"
    fi
}

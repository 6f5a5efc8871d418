#!/bin/bash
# srv_egress.so exports its `service` table and nothing else: the policy
# core linked into it (ep_* helpers) must not become global symbols that
# could clash with another module or library loaded into c-icap.
set -u
. "$(dirname "$0")/../lib/check.sh"

so=${top_builddir:-.}/icap/.libs/srv_egress.so
if ! command -v nm >/dev/null; then
    echo "nm is not installed"
    exit 77
fi
if [ ! -f "$so" ]; then
    echo "harness error: $so was not built"
    exit 99
fi
# Defined dynamic symbols that are functions or data (T, D, B, R...).
syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWtdbr]$/ {print $3}' | sort)
expect_eq "exports exactly the service table" "$syms" "service"
expect_no_match "no policy core symbol exported" "$syms" '^ep_'
finish

#!/bin/sh
# test-bypass.sh with the ICAP decision path: squid intercepting with
# contrib/squid/egress-intercept-icap.conf and egress.conf, c-icap with
# srv_egress.so deciding.
EP_INTERCEPT_POLICY=icap exec bash "${top_srcdir:-.}/tests/network/test-bypass.sh" "$@"

#!/bin/sh
# test-intercept.sh with the ICAP decision path: squid intercepting with
# contrib/squid/egress-intercept-icap.conf and egress.conf, c-icap with
# srv_egress.so deciding (the default run, test-intercept.sh, decides with
# the external ACL helper egress-acl).
EP_INTERCEPT_POLICY=icap exec bash "${top_srcdir:-.}/tests/network/test-intercept.sh" "$@"

#!/bin/bash
# contrib/systemd/egress-dns.service as make generates it: systemd-analyze
# verify accepts it (with ExecStart pointing at the built egress-dns), it
# restarts whatever stopped egress-dns but a configuration error, and it
# reads egress-net's environment file; egress-dns exits 2 on a bad option
# (the status the unit does not restart on). There is no systemd as PID 1
# here: that it comes back is systemd's part of the bargain (Restart=always).
. "${top_srcdir:-.}/tests/lib/check.sh"
command -v systemd-analyze >/dev/null 2>&1 || { echo "$0: systemd-analyze is not installed"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/ep-dns-unit-XXXXXX") || exit 99
trap 'rm -rf "$dir"' EXIT
bindir=$(cd "$top_builddir/dns" && pwd)
sed -e "s|@bindir@|$bindir|g" -e "s|@docdir@|/usr/share/doc/egress-policy|g" \
    "$top_srcdir/contrib/systemd/egress-dns.service.in" >"$dir/egress-dns.service" || exit 99
out=$(systemd-analyze verify "$dir/egress-dns.service" 2>&1)
expect_eq "systemd-analyze verify: no complaint" "$out" ""
unit=$(cat "$dir/egress-dns.service")
expect_match "Restart=always" "$unit" '^Restart=always$'
expect_match "but not on a configuration error (exit 2)" "$unit" '^RestartPreventExitStatus=2$'
expect_match "reads egress-net's options" "$unit" '^EnvironmentFile=/run/egress-policy/egress-dns.env$'
expect_match "squid's loopback address is trusted" "$unit" '--trusted-client 127.0.0.1'
"$top_builddir/dns/egress-dns" --rate nope >/dev/null 2>&1
expect_eq "egress-dns: a bad option exits 2" "$?" 2
"$top_builddir/dns/egress-dns" --upstream not-an-address --listen 127.0.0.1:1 >/dev/null 2>&1
expect_eq "egress-dns: a bad upstream exits 2" "$?" 2
finish

# egress-dns (dns/) against real clients, nsd and iodined in namespaces of
# the test's own (dnsstack.sh): verdicts, EDE, recording, changes, hostile
# names, malformed messages, limits and restart (test-dns); a real DNS
# tunnel (test-tunnel).
DNS_TESTS = tests/dns/test-dns.sh tests/dns/test-tunnel.sh tests/dns/test-dns-network.sh tests/dns/test-unit.sh
TESTS += $(DNS_TESTS)
dist_check_SCRIPTS += $(DNS_TESTS)
EXTRA_DIST += tests/dns/README.md tests/dns/dnsstack.sh
$(DNS_TESTS:.sh=.log): dns/egress-dns$(EXEEXT) tests/lib/storectl$(EXEEXT) tests/lib/gatecall$(EXEEXT)
EXTRA_DIST += tests/dns/rotating-dns.py
tests/dns/test-dns-network.log: api/egress-api$(EXEEXT) tests/lib/origin$(EXEEXT) acl/egress-acl$(EXEEXT) icap/srv_egress.la

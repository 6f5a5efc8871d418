# egress-dns, the workspaces' DNS server on the policy core (dns/README.md):
# libunbound resolves, ldns reads and writes the messages.
noinst_LTLIBRARIES += dns/libegressdns.la
dns_libegressdns_la_SOURCES = dns/query.c dns/query.h dns/resolver.c dns/resolver.h \
	dns/limits.c dns/limits.h dns/counters.c dns/counters.h
dns_libegressdns_la_CFLAGS = $(AM_CFLAGS) $(LDNS_CFLAGS) $(UNBOUND_CFLAGS)
dns_libegressdns_la_LIBADD = policy/libpolicy.la $(LDNS_LIBS) $(UNBOUND_LIBS) $(PTHREAD_LIBS)
bin_PROGRAMS += dns/egress-dns
dns_egress_dns_SOURCES = dns/egress_dns.c
dns_egress_dns_CFLAGS = $(AM_CFLAGS) $(LDNS_CFLAGS)
dns_egress_dns_LDADD = dns/libegressdns.la $(PTHREAD_LIBS)
EXTRA_DIST += dns/README.md

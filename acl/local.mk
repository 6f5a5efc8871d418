# egress-acl, squid's external ACL helper (contrib/squid/egress-acl.conf):
# the same policy core as the ICAP module, behind squid's helper protocol.
bin_PROGRAMS += acl/egress-acl
acl_egress_acl_SOURCES = acl/egress_acl.c
acl_egress_acl_LDADD = policy/libpolicy.la $(PTHREAD_LIBS)
EXTRA_DIST += acl/README.md

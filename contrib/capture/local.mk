# LLM capture: the ssl_bump helper, the CA command and the c-icap config.
capturelibexecdir = $(libexecdir)/egress-policy
capturelibexec_PROGRAMS = contrib/capture/egress-capture-acl
contrib_capture_egress_capture_acl_SOURCES = contrib/capture/capture-acl.c
contrib_capture_egress_capture_acl_LDADD = policy/libpolicy.la
dist_sbin_SCRIPTS = contrib/capture/egress-ca
capturecicapdir = $(pkgdatadir)/c-icap
dist_capturecicap_DATA = contrib/capture/c-icap-capture.conf
capturesquiddir = $(pkgdatadir)/squid
dist_capturesquid_DATA = contrib/squid/egress-capture.conf
EXTRA_DIST += contrib/capture/README.md

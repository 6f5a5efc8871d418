# LLM capture: the CA command and the c-icap config. The ssl_bump decision
# is egress-acl's "bump" mode (acl/).
dist_sbin_SCRIPTS = contrib/capture/egress-ca
capturecicapdir = $(pkgdatadir)/c-icap
dist_capturecicap_DATA = contrib/capture/c-icap-capture.conf
capturesquiddir = $(pkgdatadir)/squid
dist_capturesquid_DATA = contrib/squid/egress-capture.conf
EXTRA_DIST += contrib/capture/README.md

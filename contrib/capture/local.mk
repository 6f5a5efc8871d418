# LLM capture: the CA command and the c-icap config. The ssl_bump decision
# is egress-acl's "bump" mode (acl/).
dist_sbin_SCRIPTS = contrib/capture/egress-ca
capturecicapdir = $(pkgdatadir)/c-icap
capturecicap_DATA = contrib/capture/c-icap-capture.conf
# A whole c-icap configuration, runnable alone (c-icap -f): the paths of
# srv_capture.so as installed and of c-icap's own modules filled in.
contrib/capture/c-icap-capture.conf: contrib/capture/c-icap-capture.conf.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/capture && \
	sed -e 's|@cicapservicesdir[@]|$(cicapservicesdir)|g' \
	    -e "s|@cicapmodulesdir[@]|$$($(CICAP_CONFIG) --modulesdir)|g" \
	    $(srcdir)/contrib/capture/c-icap-capture.conf.in >$@
CLEANFILES += contrib/capture/c-icap-capture.conf
EXTRA_DIST += contrib/capture/c-icap-capture.conf.in
# Its unit, run from that file (the Debian package's /etc/c-icap path by
# default: EGRESS_CAPTURE_CONF=FILE for another).
EGRESS_CAPTURE_CONF = /etc/c-icap/egress-capture.conf
capturesystemddir = $(pkgdatadir)/systemd
capturesystemd_DATA = contrib/systemd/egress-capture.service
contrib/systemd/egress-capture.service: contrib/systemd/egress-capture.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && \
	sed -e 's|@docdir[@]|$(docdir)|g' -e 's|@capturecicapconf[@]|$(EGRESS_CAPTURE_CONF)|g' \
	    $(srcdir)/contrib/systemd/egress-capture.service.in >$@
CLEANFILES += contrib/systemd/egress-capture.service
EXTRA_DIST += contrib/systemd/egress-capture.service.in
capturesquiddir = $(pkgdatadir)/squid
dist_capturesquid_DATA = contrib/squid/egress-capture.conf
EXTRA_DIST += contrib/capture/README.md

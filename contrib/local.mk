# What `make install` puts beside the programs: the squid and c-icap
# snippets, squid's error page, systemd units and the docs, all under
# $(pkgdatadir) (/usr/share/egress-policy with --prefix=/usr) for the
# administrator to copy into place; nothing in /etc is touched.
cicapconfdir = $(pkgdatadir)/c-icap
dist_cicapconf_DATA = contrib/c-icap/egress.conf
# The 403 page of DenyMode page: c-icap text templates, found under its
# TemplateDir as egress/LANG/NAME (--with-c-icap-templatedir).
egresstemplatedir = $(cicaptemplatedir)/egress/en
dist_egresstemplate_DATA = \
	contrib/c-icap/templates/egress/en/EGRESS_DENIED \
	contrib/c-icap/templates/egress/en/EGRESS_DENIED_TEXT
squidconfdir = $(pkgdatadir)/squid
dist_squidconf_DATA = contrib/squid/egress-policy.conf contrib/squid/egress-guard.conf \
	contrib/squid/egress.conf contrib/squid/egress-acl.conf \
	contrib/squid/egress-intercept.conf contrib/squid/egress-intercept-icap.conf
# squid's error_directory: our template plus, at install time, a copy of
# squid's stock templates (setting error_directory replaces them all).
squiderrorsdir = $(pkgdatadir)/squid-errors
dist_squiderrors_DATA = contrib/squid/errors/ERR_EGRESS_DENIED
SQUID_TEMPLATES = /usr/share/squid/errors/templates
systemdunitdir = $(pkgdatadir)/systemd
systemdunit_DATA = contrib/systemd/egress-api.service contrib/systemd/egress-net.service
systemdunit_DATA += contrib/systemd/egress-dns.service
systemdunit_DATA += contrib/systemd/egress-node.service
cicapdropindir = $(pkgdatadir)/systemd/c-icap.service.d
dist_cicapdropin_DATA = contrib/systemd/c-icap.service.d/egress.conf
squiddropindir = $(pkgdatadir)/systemd/squid.service.d
squiddropin_DATA = contrib/systemd/squid.service.d/egress.conf
dist_doc_DATA = README.md docs/API.md docs/DESIGN.md
# The Grafana dashboard of the proxy side's metrics (import it).
grafanadir = $(pkgdatadir)/grafana
dist_grafana_DATA = contrib/grafana/egress-policy.json
EXTRA_DIST += contrib/grafana/README.md

contrib/systemd/egress-api.service: contrib/systemd/egress-api.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@docdir[@]|$(docdir)|g' \
	    $(srcdir)/contrib/systemd/egress-api.service.in >$@
CLEANFILES += contrib/systemd/egress-api.service

contrib/systemd/egress-dns.service: contrib/systemd/egress-dns.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@docdir[@]|$(docdir)|g' \
	    $(srcdir)/contrib/systemd/egress-dns.service.in >$@
CLEANFILES += contrib/systemd/egress-dns.service
EXTRA_DIST += contrib/systemd/egress-dns.service.in

contrib/systemd/egress-node.service: contrib/systemd/egress-node.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@docdir[@]|$(docdir)|g' \
	    $(srcdir)/contrib/systemd/egress-node.service.in >$@
CLEANFILES += contrib/systemd/egress-node.service
EXTRA_DIST += contrib/systemd/egress-node.service.in

contrib/systemd/egress-net.service: contrib/systemd/egress-net.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && \
	sed -e 's|@pkgdatadir[@]|$(pkgdatadir)|g' -e 's|@docdir[@]|$(docdir)|g' \
	    $(srcdir)/contrib/systemd/egress-net.service.in >$@
CLEANFILES += contrib/systemd/egress-net.service

contrib/systemd/squid.service.d/egress.conf: contrib/systemd/squid.service.d/egress.conf.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd/squid.service.d && \
	sed -e 's|@pkgdatadir[@]|$(pkgdatadir)|g' \
	    $(srcdir)/contrib/systemd/squid.service.d/egress.conf.in >$@
CLEANFILES += contrib/systemd/squid.service.d/egress.conf

# The workspace network script (egress-net up|down|status|addresses).
networkdir = $(pkgdatadir)/network
dist_network_SCRIPTS = contrib/network/egress-net

install-data-hook:
	@if [ -d "$(SQUID_TEMPLATES)" ]; then \
	    for f in "$(SQUID_TEMPLATES)"/ERR_*; do \
	        [ "$$(basename "$$f")" = ERR_EGRESS_DENIED ] || \
	            $(INSTALL_DATA) "$$f" "$(DESTDIR)$(squiderrorsdir)/" || exit 1; \
	    done; \
	    echo "installed squid's stock error templates beside ERR_EGRESS_DENIED"; \
	fi

uninstall-hook:
	@if [ -d "$(DESTDIR)$(squiderrorsdir)" ]; then \
	    find "$(DESTDIR)$(squiderrorsdir)" -name 'ERR_*' ! -name ERR_EGRESS_DENIED -delete; \
	    rmdir "$(DESTDIR)$(squiderrorsdir)" 2>/dev/null || true; \
	fi

dist_noinst_SCRIPTS += contrib/install-deps.sh contrib/quickstart.sh
EXTRA_DIST += contrib/README.md contrib/c-icap/README.md contrib/squid/README.md \
	contrib/systemd/README.md contrib/systemd/egress-api.service.in \
	contrib/systemd/egress-net.service.in contrib/systemd/squid.service.d/egress.conf.in \
	contrib/network/README.md

# egress-api, the management daemon (libmicrohttpd, jansson, libxcrypt, libcurl for the
# container engine). Everything but main.c is a convenience library, so the
# in-process tests and the fuzz target (tests/api/test_api_inproc,
# tests/fuzz/fuzz_api) call the request dispatcher without a socket.
noinst_LTLIBRARIES += api/libegressapi.la
api_libegressapi_la_SOURCES = \
	api/api.h \
	api/log.c api/log.h \
	api/http.c api/http.h \
	api/routes.c \
	api/auth.c api/auth.h \
	api/workspace.c api/workspace.h \
	api/engine.c api/engine.h api/engine_client.c api/engine_client.h \
	api/engine_docker.c api/engine_swarm.c api/engine_tar.c api/engine_tar.h \
	api/projects.c api/projects.h \
	api/whitelist.c api/whitelist.h \
	api/recorded.c api/recorded.h \
	api/metrics.c api/metrics.h \
	api/audit.c api/audit.h \
	api/static.c api/static.h \
	api/conversations.c api/conversations.h \
	api/session.c api/session.h api/scope.c api/scope.h api/accounts.c api/accounts.h \
	api/cluster.c api/cluster.h \
	api/openapi.h
# docs/openapi.yaml as the JSON served at GET /api/openapi.json, built into
# the program: converted (and its $refs checked) by api/openapi-embed.py.
nodist_api_libegressapi_la_SOURCES = api/openapi_json.c
api/openapi_json.c: $(srcdir)/docs/openapi.yaml $(srcdir)/api/openapi-embed.py
	$(AM_V_GEN)$(MKDIR_P) api && \
	$(PYTHON3) $(srcdir)/api/openapi-embed.py $(srcdir)/docs/openapi.yaml >$@.tmp && mv $@.tmp $@
CLEANFILES += api/openapi_json.c
EXTRA_DIST += docs/openapi.yaml api/openapi-embed.py
# OpenSSL's libcrypto: the SHA-256 of session ids and API tokens
# (api/session.c), the base64 of swarm secrets (api/engine_swarm.c).
api_libegressapi_la_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS) $(XCRYPT_CFLAGS) \
	$(CURL_CFLAGS) $(OPENSSL_CFLAGS)
api_libegressapi_la_LIBADD = cluster/libcluster.la policy/libcapture.la policy/libpolicy.la $(MHD_LIBS) $(JANSSON_LIBS) $(XCRYPT_LIBS) \
	$(CURL_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS) -lm

bin_PROGRAMS += api/egress-api
api_egress_api_SOURCES = api/main.c
api_egress_api_CFLAGS = -DEP_UI_DIR='"$(uidir)"' $(AM_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS) $(XCRYPT_CFLAGS) $(CURL_CFLAGS)
api_egress_api_LDADD = api/libegressapi.la
EXTRA_DIST += api/README.md docs/API.md

# The review page, served by egress-api at / from $(uidir) (--ui-dir).
uidir = $(pkgdatadir)/ui
dist_ui_DATA = api/ui/index.html api/ui/app.css api/ui/app.js api/ui/api.js api/ui/dom.js \
	api/ui/favicon.svg
uiviewsdir = $(uidir)/views
dist_uiviews_DATA = api/ui/views/projects.js api/ui/views/review.js \
	api/ui/views/whitelists.js api/ui/views/audit.js api/ui/views/conversations.js \
	api/ui/views/cluster.js
EXTRA_DIST += api/ui/README.md

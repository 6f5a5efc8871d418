# egress-api, the management daemon (libmicrohttpd, jansson, libxcrypt, libcurl for the
# container engine).
bin_PROGRAMS += api/egress-api
api_egress_api_SOURCES = \
	api/main.c api/api.h \
	api/log.c api/log.h \
	api/http.c api/http.h \
	api/routes.c \
	api/auth.c api/auth.h \
	api/workspace.c api/workspace.h \
	api/engine.c api/engine.h api/engine_tar.c api/engine_tar.h \
	api/projects.c api/projects.h \
	api/whitelist.c api/whitelist.h \
	api/recorded.c api/recorded.h \
	api/metrics.c api/metrics.h \
	api/audit.c api/audit.h \
	api/conversations.c api/conversations.h
api_egress_api_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS) $(XCRYPT_CFLAGS) $(CURL_CFLAGS)
api_egress_api_LDADD = policy/libcapture.la policy/libpolicy.la $(MHD_LIBS) $(JANSSON_LIBS) $(XCRYPT_LIBS) \
	$(CURL_LIBS) $(PTHREAD_LIBS) -lm
EXTRA_DIST += api/README.md docs/API.md

# The ICAP service module srv_egress.so, loaded by c-icap (Service egress srv_egress.so).
# c-icap-config --libs prints nothing and some symbols live in the c-icap
# binary itself, so the module is linked without --no-undefined.
cicapservices_LTLIBRARIES += icap/srv_egress.la
icap_srv_egress_la_SOURCES = icap/srv_egress.c icap/directives.c icap/directives.h \
	icap/client_ip.c icap/client_ip.h icap/request_line.c icap/request_line.h
icap_srv_egress_la_CFLAGS = $(AM_CFLAGS) $(CICAP_CFLAGS)
# Only the `service` table is exported: the policy core linked in stays
# internal to the module (tests/icap/test-exports.sh checks the list).
icap_srv_egress_la_LDFLAGS = -module -avoid-version -shared -export-symbols-regex '^service$$'
icap_srv_egress_la_LIBADD = policy/libpolicy.la $(CICAP_LIBS)
EXTRA_DIST += icap/README.md

# The LLM capture service srv_capture.so (Service capture srv_capture.so):
# REQMOD and RESPMOD for the bumped LLM API traffic of logging workspaces.
cicapservices_LTLIBRARIES += icap/srv_capture.la
icap_srv_capture_la_SOURCES = icap/srv_capture.c icap/directives.c icap/directives.h \
	icap/client_ip.c icap/client_ip.h icap/request_line.c icap/request_line.h
icap_srv_capture_la_CFLAGS = $(AM_CFLAGS) $(CICAP_CFLAGS) $(JANSSON_CFLAGS)
icap_srv_capture_la_LDFLAGS = -module -avoid-version -shared
icap_srv_capture_la_LIBADD = policy/libcapture.la policy/libpolicy.la $(CICAP_LIBS)

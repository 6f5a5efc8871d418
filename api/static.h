/*
 * The review page: static files served by egress-api at "/" from one
 * directory (default $(pkgdatadir)/ui, --ui-dir to override, --no-ui to
 * turn off). Everything under /api/ and /metrics stays the API's.
 *
 * Caveats: static_init() runs once before the server starts; nothing it
 * sets changes afterwards, so request threads read it without locks.
 */
#ifndef API_STATIC_H
#define API_STATIC_H

#include <stdbool.h>

struct MHD_Connection;

/*
 * Serve the UI from @p dir (resolved once with realpath). @p given: the
 * directory was named by the administrator, so a missing one is an error
 * (-1 with a message on stderr); otherwise a missing default directory
 * turns the UI off (logged). @p dir NULL turns it off. 0 on success.
 */
int static_init(const char *dir, bool given);

/* Whether the UI answers @p method on @p url (GET or HEAD outside /api/ and /metrics). */
bool static_wants(const char *method, const char *url);

/*
 * Answer one request for a file of the UI: 200 with the file, 304 when
 * If-None-Match names its ETag, 404 for anything else (unknown files, "."
 * or ".." segments, hidden names, symlinks leading out of the directory).
 * Every answer carries the page's security headers. *@p status receives
 * the status sent. MHD_YES or MHD_NO as MHD wants it.
 */
int static_serve(struct MHD_Connection *conn, const char *url, unsigned *status);

#endif

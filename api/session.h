/*
 * Who is calling: the token file (a machine admin), a personal API token
 * or a browser session of an account; sign-in, sign-out and the CSRF
 * check of session writes. The secrets (session ids, API tokens) are kept
 * only as their SHA-256; passwords are bcrypt, as workspace passwords.
 */
#ifndef API_SESSION_H
#define API_SESSION_H

#include <stdint.h>

#include "api/http.h"

/* The cookie that carries a session id. */
#define SESSION_COOKIE "egress_session"
/* What starts a personal API token: "egt_", its 12-hex id, "_", 40 hex of secret. */
#define SESSION_TOKEN_PREFIX "egt_"
#define SESSION_TOKEN_LEN    (4 + EP_TOKEN_ID_LEN + 1 + 40)

/*
 * Fill r->who (and r->admin for an admin) from the request's credentials:
 * Authorization: Bearer with the token file's token or a personal API
 * token, else the session cookie. A bearer that is wrong, revoked or of a
 * disabled account is 401 (-1, answered); a cookie of no live session is
 * ignored (anonymous). A session's write without its CSRF token, or from
 * another origin, is 403.
 */
int session_authenticate(struct http_request *r);

/* Seconds since the epoch as the sessions see them (the test clock's offset included). */
int64_t session_now(void);
/*
 * For tests only (linked through libegressapi, never set by the daemon):
 * move the sessions' clock by @p seconds, so expiry and idle timeouts are
 * tested without waiting.
 */
void session_test_clock_step(int64_t seconds);

/* The hex SHA-256 of @p secret into @p out (EP_DIGEST_HEX + 1 bytes). 0 or -1. */
int session_digest(const char *secret, char *out);
/* @p bytes random bytes as lowercase hex into @p out (2 * bytes + 1). 0 or -1. */
int session_random_hex(size_t bytes, char *out);
/* Read the teacher's courses into r->who (after r->who.account is set). 0 or -1 answered. */
int session_load_courses(struct http_request *r);

/* POST /api/session, GET /api/session, DELETE /api/session. */
void session_handle_signin(struct http_request *r);
void session_handle_get(struct http_request *r);
void session_handle_signout(struct http_request *r);

#endif

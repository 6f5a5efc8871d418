/*
 * The HTTP layer of egress-api: libmicrohttpd glue, routing, JSON bodies,
 * error responses and the request-field helpers every handler uses.
 *
 * A handler receives one struct http_request with the parsed JSON body
 * (an empty object when the request had none), the caller's role and the
 * captured path parameters, and answers with exactly one of
 * http_reply_json(), http_reply_text() or http_error(). Everything about
 * bodies (1 MiB limit, Content-Type, JSON syntax) is checked before a
 * handler runs.
 */
#ifndef API_HTTP_H
#define API_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "api/api.h"

struct MHD_Daemon;
struct MHD_Connection;

/* How the caller proved who they are. */
enum http_caller_kind {
    HTTP_CALLER_ANONYMOUS = 0,
    HTTP_CALLER_MACHINE = 1, /* the token file (--admin-token-file): an admin without an account */
    HTTP_CALLER_TOKEN = 2,   /* a personal API token of an account */
    HTTP_CALLER_SESSION = 3, /* a browser session cookie of an account */
};

/*
 * The caller of a request. A teacher's courses are read once, when the
 * request is authenticated; `label` is what the audit log names.
 */
struct http_caller {
    enum http_caller_kind kind;
    bool teacher; /* an account of role teacher: course scoping applies */
    char account[EP_ACCOUNT_MAX + 1];
    char label[EP_ACCOUNT_MAX + EP_TOKEN_NAME_MAX + 16];
    char session_digest[EP_DIGEST_HEX + 1]; /* HTTP_CALLER_SESSION: the session's key */
    char csrf[EP_DIGEST_HEX + 1];           /* HTTP_CALLER_SESSION: its CSRF token */
    char (*courses)[EP_PROFILE_MAX + 1];    /* a teacher's courses (malloc'd) */
    size_t ncourses;
};

struct http_request {
    struct api_ctx *ctx;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const char *param;          /* the ":id" of the route, or NULL */
    const char *tail;           /* the rest of the path after a "*" route, or NULL */
    json_t *body;               /* a JSON object, never NULL inside a handler */
    bool admin;                 /* full rights here: an admin, or a teacher inside their course */
    struct http_caller who;     /* who is calling (api/session.c fills it) */
    char source[EP_IP_MAX + 1]; /* the caller's address, for audit and logs */

    /* The answer, set by exactly one reply function. */
    unsigned status;
    json_t *reply;
    char *reply_text;
    const char *reply_type;
    unsigned retry_after; /* seconds, for 429 and 503; 0 = no Retry-After header */
    bool failed;          /* an allocation failed while answering: a fixed 500 goes out */

    /* Without a connection (http_dispatch()): "Name", "value", ..., NULL. */
    const char *const *fake_headers;
    const char *const *fake_query;
    char etag[48];    /* quoted ETag of the answer, or "" for none */
    char *set_cookie; /* a Set-Cookie header of the answer (malloc'd), or NULL */
};

typedef void (*http_handler)(struct http_request *r);

/* Who may call a route before its handler runs at all. */
enum http_access {
    HTTP_ANYONE = 0,  /* the handler decides (password, summaries) */
    HTTP_ADMIN = 1,   /* refused with 401 without a valid admin token */
    HTTP_ACCOUNT = 2, /* refused with 401 unless signed in (an account or the token file) */
};

struct http_route {
    const char *method;
    /* Segments separated by '/'; ":id" captures a project id, a final "*"
     * captures the rest of the path. */
    const char *pattern;
    enum http_access access;
    http_handler handler;
};

/* Every route of the API, ending with a NULL sentinel (routes.c). */
extern const struct http_route http_routes[];

/*
 * Start the daemon on cfg->listen_host:cfg->listen_port; *port receives
 * the bound port (useful with port 0). 0 or -1 with a message on stderr.
 */
int http_start(struct api_ctx *ctx, struct MHD_Daemon **out, unsigned *port);
/* Stop accepting, wait for the requests in flight, stop the daemon. */
void http_stop(struct MHD_Daemon *daemon);

/*
 * The seam for tests and the fuzzer: run one complete request without a
 * socket, exactly as a connection would (routing, admin check, body
 * checks, handler). The caller sets ctx, method, path, source and the
 * fake_headers / fake_query lists of @p r; @p body of @p len bytes (over
 * API_BODY_MAX is answered 413). The answer stays in @p r (status, and
 * reply or reply_text, or failed); release it with http_request_release().
 */
void http_dispatch(struct http_request *r, const char *body, size_t len);
/* Free what http_dispatch() left in @p r. */
void http_request_release(struct http_request *r);

/*
 * The reply functions never leave a success without its body: when the
 * body could not be built (NULL from jansson, a failed copy) the answer
 * becomes a fixed 500 "out of memory".
 */
/* Answer with @p status and the JSON value @p body (stolen). */
void http_reply_json(struct http_request *r, unsigned status, json_t *body);
/* Answer with @p status and the JSON text @p text (malloc'd; taken over). */
void http_reply_json_text(struct http_request *r, unsigned status, char *text);
/*
 * Append the compact JSON text of @p value (any JSON value; consumed,
 * NULL is out of memory) to @p out, a stream an answer is built in:
 * answers too large for one tree are written an item at a time. 0 or
 * EP_E_NOMEM.
 */
int http_json_append(FILE *out, json_t *value);
/* Answer with @p status and text (copied) of MIME type @p type. */
void http_reply_text(struct http_request *r, unsigned status, const char *type, const char *text);
/* Answer {"error": @p error, "message": formatted}. */
void http_error(struct http_request *r, unsigned status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * Answer with the HTTP status that fits a policy-core error code (404 for
 * EP_E_NOTFOUND, 409 for EP_E_EXISTS/EP_E_CONFLICT/EP_E_LIMIT, 400 for bad
 * input, 507 for a full store, 503 with Retry-After for a full reader
 * table, 500 otherwise), naming @p what.
 */
void http_error_store(struct http_request *r, int err, const char *what);

/*
 * Field helpers: each reads one member of the body, and on a wrong type or
 * value answers 400 naming the field and returns -1. An absent (or null)
 * member leaves *out untouched and returns 0 unless @p required, when it
 * answers 400 "missing field". Present and valid: 1.
 */
int http_field_string(struct http_request *r, const char *name, bool required, const char **out);
int http_field_bool(struct http_request *r, const char *name, bool required, bool *out);
int http_field_array(struct http_request *r, const char *name, bool required, json_t **out);

/*
 * Give the answer the validator @p etag (quoted, at most 46 bytes). When
 * the request's If-None-Match names it (or is "*"), answer 304 with no
 * body and return true: the handler is done.
 */
bool http_not_modified(struct http_request *r, const char *etag);
/* FNV-1a, 64 bits, of @p len bytes, continuing from @p h (start with HTTP_FNV_START). */
#define HTTP_FNV_START 0xcbf29ce484222325ull
uint64_t http_fnv(uint64_t h, const void *data, size_t len);

/* A header or query argument of the request, or NULL. */
const char *http_header(struct http_request *r, const char *name);
const char *http_query(struct http_request *r, const char *name);

/* Seconds since the epoch as "2024-05-01T12:00:00Z" (buf of 32 bytes). */
void http_time_iso(int64_t t, char *buf);
/* Microseconds since the epoch as "2024-05-01T12:00:00.123456Z" (buf of 40 bytes). */
void http_time_iso_us(int64_t t_us, char *buf);

/* Number of UTF-8 characters in @p s, or -1 if it is not valid UTF-8. */
long http_utf8_length(const char *s);

#endif

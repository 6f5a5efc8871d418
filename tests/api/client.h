/*
 * Test helpers for egress-api: start the real daemon on a random loopback
 * port with a private store, call it with libcurl, stop it. Every body the
 * daemon sends is also checked for a bcrypt hash ("$2b$"), which must never
 * leave the server.
 */
#ifndef TESTS_API_CLIENT_H
#define TESTS_API_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TEST_ADMIN_TOKEN "test-admin-token-0123456789abcdef"

struct api_daemon {
    pid_t pid;
    unsigned port;
    char dir[256]; /* private directory of this daemon */
    char db[300];  /* its store */
    char log[300]; /* its stderr */
    char token_file[300];
};

struct api_reply {
    long status;
    char *body;
    size_t len;
    json_t *json; /* NULL when the body is not JSON */
    char *headers;
};

/* Responses seen with "$2b$" in them since the start of the test. */
extern int api_hash_leaks;

/*
 * Prepare @p d in a fresh directory under @p base (the store, the token
 * file, the log) without starting it.
 */
void api_daemon_init(struct api_daemon *d, const char *base, const char *name);

/*
 * Start egress-api for @p d with its store, a random port and the test
 * token, plus @p extra arguments (NULL-terminated, may be NULL). Waits for
 * the "listening on" line. 0, or -1 when the daemon exited first (its
 * exit status in *status if not NULL).
 */
int api_daemon_start(struct api_daemon *d, const char *const *extra, int *status);

/* The same, but the token comes from EGRESS_ADMIN_TOKEN as set by the caller. */
int api_daemon_start_env(struct api_daemon *d, const char *const *extra);

/* SIGTERM, wait; the exit status (or 128 + signal). */
int api_daemon_stop(struct api_daemon *d);

/* Does the daemon's log contain @p text? */
bool api_daemon_log_has(const struct api_daemon *d, const char *text);
/* Does any line of @p file contain @p text? */
bool api_file_has(const char *file, const char *text);

/*
 * One request. @p token: NULL for none, else the bearer token to send.
 * @p body: NULL for none, with @p len (or strlen when len is (size_t)-1).
 * @p type: Content-Type (NULL = application/json when there is a body).
 * @p header: one extra "Name: value" header, or NULL. Returns the status,
 * 0 on a transport error.
 */
long api_request(const struct api_daemon *d, const char *method, const char *path,
                 const char *token, const char *body, size_t len, const char *type,
                 const char *header, struct api_reply *out);

/* The common case: admin or not, a JSON text body or none. */
long api_call(const struct api_daemon *d, const char *method, const char *path, bool admin,
              const char *body, struct api_reply *out);

void api_reply_free(struct api_reply *r);

/* A string member of the reply's JSON ("" when absent); "a.b" walks objects. */
const char *api_str(const struct api_reply *r, const char *path);

/*
 * Everything an admin can read, as one JSON text: projects, whitelists of
 * every profile, profiles, each project's recorded domains, the audit log.
 * Used to check that a refused request changed nothing.
 */
char *api_dump(const struct api_daemon *d);

/* Create a project as admin from @p body; its id into @p id (EP_ID_MAX + 1 bytes). */
long api_create(const struct api_daemon *d, bool admin, const char *body, char *id);

#endif

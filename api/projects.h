/*
 * Project endpoints: create, list, get, start, stop, delete, password,
 * proxy mode, IP mapping and the dry-run check; and the helpers other
 * modules use to load a project and check its password.
 */
#ifndef API_PROJECTS_H
#define API_PROJECTS_H

#include <limits.h>
#include <stdio.h>

#include "api/http.h"
#include "policy/host.h"

/* The JSON of a project: summaries for anyone, every field for an admin. Never a hash. */
json_t *projects_json(const struct ep_project *p, bool admin);

/*
 * Load the project of the path into @p p; -1 after answering 404 (having
 * spent one dummy bcrypt when @p password was given, so a missing project
 * costs as much as a wrong password).
 */
int projects_load(struct http_request *r, struct ep_project *p, const char *password);

/*
 * Load the project of the path and check the caller may act on it: admins
 * and anyone for an unprotected project; otherwise the workspace password
 * (the body's "password" or the X-Project-Password header) must match.
 * The password sent (or NULL) into *@p password when not NULL; -1 after
 * answering 400 (a password that is not a string), 404, 401 (missing or
 * wrong) or 429 (too many recent failures).
 */
int projects_load_authorized(struct http_request *r, struct ep_project *p, const char **password);

/* A listing's paging and text filter (?limit=&offset=&q=); "on" when any was given. */
struct projects_page {
    bool on;
    unsigned long limit;  /* at most this many items (0: only the counts; ULONG_MAX: all) */
    unsigned long offset; /* skip this many matching items first */
    char q[101];          /* lower-case substring to match, "" for all */
    const char *after;    /* ?after=: start after this id or host (the previous page's "next") */
};

/* What a listing callback returns to end the walk once its page is full. */
#define PROJECTS_LIST_STOP INT_MIN

/*
 * Read ?limit= (0..10000; absent: no limit), ?offset= (default 0), ?after=
 * (at most EP_HOST_PORT_MAX bytes: a host with a port) and ?q= (at most
 * 100 bytes, matched case-insensitively) into @p pg; -1 after answering
 * 400 naming the argument.
 */
int projects_page_args(struct http_request *r, struct projects_page *pg);

/* Where a listing's walk over its items stands. */
struct projects_cursor {
    const struct projects_page *page;
    unsigned long matched;         /* items that passed the filters so far */
    unsigned long count;           /* items taken into the page */
    bool more;                     /* a matching item follows the page */
    char last[EP_HOST_PORT_BUFSZ]; /* the key of the last item taken (a host[:port] or an id) */
};

/*
 * One more item that passed the listing's filters, keyed @p key: 1 to take
 * it into the page (counted, and remembered as the last), 0 to skip it
 * (before the offset), PROJECTS_LIST_STOP once the page is full (then
 * "more" is set).
 */
int projects_cursor_next(struct projects_cursor *c, const char *key);

/*
 * Write the paging members of a listing's answer: ,"offset":N,"limit":N
 * (null when none was given),"next": the key to pass as ?after= for the
 * following page (null when none follows).
 */
void projects_cursor_print(const struct projects_cursor *c, FILE *out);

/*
 * A listing's validator known before a single item is read, into @p etag
 * (@p size bytes, at least 40): "@p kind<generation>-<hash>", the store's
 * generation (any write changes it) and a hash of @p seed and the query
 * arguments @p args (NULL-terminated). Empty when the generation cannot
 * be read.
 */
void projects_page_etag(struct http_request *r, char kind, uint64_t seed, const char *const *args,
                        char *etag, size_t size);

/* Whether @p text contains @p pg's filter, ignoring case (true without a filter). */
bool projects_page_match(const struct projects_page *pg, const char *text);

void projects_handle_create(struct http_request *r);
void projects_handle_list(struct http_request *r);
void projects_handle_get(struct http_request *r);
void projects_handle_start(struct http_request *r);
void projects_handle_stop(struct http_request *r);
void projects_handle_delete(struct http_request *r);
void projects_handle_password(struct http_request *r);
void projects_handle_proxy_mode(struct http_request *r);
void projects_handle_ip(struct http_request *r);
void projects_handle_check(struct http_request *r);

#endif

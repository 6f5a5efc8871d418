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

/* The JSON of a project: summaries for anyone, every field for an admin. Never a hash. */
json_t *projects_json(const struct ep_project *p, bool admin);

/*
 * The workspace password the caller sent: the body's "password" or the
 * X-Project-Password header. -1 after answering 400 for a non-string.
 */
int projects_password_arg(struct http_request *r, const char **out);

/*
 * Load the project of the path into @p p; -1 after answering 404 (having
 * spent one dummy bcrypt when @p password was given, so a missing project
 * costs as much as a wrong password).
 */
int projects_load(struct http_request *r, struct ep_project *p, const char *password);

/*
 * May the caller act on @p p? Admins and unprotected projects: yes.
 * Otherwise @p password must match: -1 after answering 401 (missing or
 * wrong) or 429 (too many recent failures).
 */
int projects_authorize(struct http_request *r, const struct ep_project *p, const char *password);

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
 * (at most 253 bytes) and ?q= (at most 100 bytes, matched
 * case-insensitively) into @p pg; -1 after answering 400 naming the
 * argument.
 */
int projects_page_args(struct http_request *r, struct projects_page *pg);

/*
 * Write the paging members of a listing's answer: ,"offset":N,"limit":N
 * (null when none was given),"next": @p next (the key to pass as ?after=
 * for the following page, or null when @p more is false).
 */
void projects_page_print(const struct projects_page *pg, FILE *out, bool more, const char *next);

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

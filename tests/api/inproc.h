/*
 * egress-api in this process, without a socket: the daemon's context over
 * a store in a directory, and one call through http_dispatch() (the same
 * routing, checks and handlers a connection gets). Shared by
 * test_api_inproc and the fuzz target tests/fuzz/fuzz_api.
 */
#ifndef TESTS_API_INPROC_H
#define TESTS_API_INPROC_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"

#define INPROC_ADMIN_TOKEN "inproc-admin-token-0123456789abcdef"

struct inproc {
    struct api_config cfg;
    struct api_ctx ctx;
};

struct inproc_reply {
    unsigned status;
    bool failed;      /* an allocation failed: the daemon sends its fixed 500 */
    char *text;       /* the body as the daemon would send it (malloc'd) */
    const char *type; /* its Content-Type */
    bool exhausted;   /* with fail_after >= 0: the injected failure was reached */
    char *set_cookie; /* the Set-Cookie header of the answer (malloc'd), or NULL */
};

/* Open the store in existing directory @p dir and build the context; 0 or a policy error. */
int inproc_open(struct inproc *ip, const char *dir);
void inproc_close(struct inproc *ip);

/*
 * One request: @p target is the path with an optional "?a=b&c=d" query,
 * @p headers "Name", "value", ..., NULL (may be NULL); with @p admin the
 * admin bearer token is added. @p body of @p len bytes (NULL, 0 for none).
 * With @p fail_after >= 0, allocations after the first @p fail_after of
 * the request fail (ep_alloc_fail_after()).
 */
void inproc_call(struct inproc *ip, const char *method, const char *target, bool admin,
                 const char *const *headers, const char *body, size_t len, long fail_after,
                 struct inproc_reply *out);
void inproc_reply_free(struct inproc_reply *r);

/* Called, when set, right after each request ran and before its answer is rendered. */
extern void (*inproc_after_dispatch)(void);

#endif

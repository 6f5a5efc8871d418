/*
 * Course scoping of a teacher's requests: a teacher acts only on the
 * courses they own (a course is a profile; a project belongs to the
 * course its profile names). Admins (an admin account or the token file)
 * and anonymous or workspace-password callers are not scoped here.
 */
#ifndef API_SCOPE_H
#define API_SCOPE_H

#include <stdbool.h>

#include "api/http.h"

/*
 * Before the handler of @p route runs for a teacher: a read of something
 * outside their courses is 404 (as if it did not exist), a write 403; an
 * admin-only endpoint is 403. Inside their courses r->admin is set, so the
 * handler gives the teacher an admin's rights there; listings filter with
 * scope_course_visible(). 0, or -1 after answering. Nothing for any other
 * caller.
 */
int scope_check(struct http_request *r, const struct http_route *route);

/* May the caller of @p r see course (profile) @p profile? Always for an admin. */
bool scope_course_visible(const struct http_request *r, const char *profile);

#endif

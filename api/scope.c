/*
 * Course scoping (scope.h). Which object a route touches is read from its
 * pattern: a project (":id" under /api/projects/), a new project's
 * profile (create), a whitelist's profile (?profile= or the body's
 * "profile", the default profile when absent), or a listing the handler
 * filters. Every other route an admin-only one is refused to a teacher.
 */
#include "config.h"

#include <string.h>

#include "api/scope.h"

bool scope_course_visible(const struct http_request *r, const char *profile)
{
    if (!r->who.teacher)
        return true;
    for (size_t i = 0; i < r->who.ncourses; i++)
        if (strcmp(r->who.courses[i], profile) == 0)
            return true;
    return false;
}

static bool is_read(const struct http_request *r)
{
    return strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
}

/* Refuse a teacher outside their courses: 404 for a read, 403 for a write. */
static int outside(struct http_request *r, const char *what)
{
    if (is_read(r))
        http_error(r, 404, "not_found", "no %s of that name in your courses", what);
    else
        http_error(r, 403, "forbidden", "that %s is not in your courses", what);
    return -1;
}

/* The profile a request names: ?profile=, the body's "profile", or @p fallback. */
static const char *named_profile(struct http_request *r, const char *fallback)
{
    const char *q = http_query(r, "profile");
    json_t *b = json_object_get(r->body, "profile");

    if (q)
        return q;
    if (json_is_string(b))
        return json_string_value(b);
    return fallback;
}

/* Listings a teacher gets filtered to their courses, and routes open to every account. */
static const char *const filtered_routes[] = {
    "/api/projects", "/api/profiles", "/api/audit", "/api/courses", NULL,
};

int scope_check(struct http_request *r, const struct http_route *route)
{
    const char *pat = route->pattern;
    const char *profile;

    if (!r->who.teacher)
        return 0;
    for (int i = 0; filtered_routes[i]; i++)
        if (strcmp(pat, filtered_routes[i]) == 0 && is_read(r)) {
            r->admin = true;
            return 0;
        }
    if (strncmp(pat, "/api/projects/:id", 17) == 0) {
        struct ep_project p;
        int err = ep_store_project_get(r->ctx->store, r->param, &p);

        if (err && err != EP_E_NOTFOUND) {
            http_error_store(r, err, "project");
            return -1;
        }
        if (err || !scope_course_visible(r, p.profile))
            return outside(r, "project");
        /* A promotion or a coverage view may name another profile: it must be theirs too. */
        profile = named_profile(r, p.profile);
        if (!scope_course_visible(r, profile))
            return outside(r, "course");
        r->admin = true;
        return 0;
    }
    if (strcmp(pat, "/api/projects/create") == 0 || strncmp(pat, "/api/whitelist", 14) == 0) {
        profile = named_profile(r, r->ctx->cfg->default_profile);
        if (!scope_course_visible(r, profile))
            return outside(r, "course");
        r->admin = true;
        return 0;
    }
    if (route->access == HTTP_ADMIN) {
        http_error(r, 403, "forbidden", "only an admin may call %s %s", r->method, pat);
        return -1;
    }
    return 0;
}

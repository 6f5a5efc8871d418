/*
 * docs/openapi.yaml and egress-api's route table (api/routes.c) describe
 * the same endpoints: every route of the table is an operation of the
 * document (its path, with ":id" and a final "*" as path parameters, and
 * its method), and every operation of the document is a route. The
 * document checked is the one built into the program and served at
 * GET /api/openapi.json.
 */
#include "config.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/http.h"
#include "api/openapi.h"
#include "tests/lib/testutil.h"

/* main.c's, which this test does not link: the routes need it. */
const char *api_version(void)
{
    return "test";
}

/* The HTTP methods an OpenAPI path item may hold. */
static const char *const methods[] = {"get",     "put",  "post",  "delete", "patch",
                                      "options", "head", "trace", NULL};

/*
 * @p path with every parameter written "{}": "/api/projects/:id/x" (a
 * route) and "/api/projects/{projectId}/x" (the document) both become
 * "/api/projects/{}/x"; a final "*" (the rest of the path) too.
 */
static void canonical(const char *path, char *out, size_t size)
{
    size_t n = 0;

    for (const char *p = path; *p && n + 3 < size;) {
        if ((p[0] == ':' || p[0] == '*') && p > path && p[-1] == '/') {
            p += strcspn(p, "/");
            memcpy(out + n, "{}", 2);
            n += 2;
        } else if (p[0] == '{') {
            p += strcspn(p, "}");
            p += *p == '}';
            memcpy(out + n, "{}", 2);
            n += 2;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

/* Does the table have a route for method @p method (lower case) on canonical path @p path? */
static bool table_has(const char *method, const char *path)
{
    char want[512], m[16];

    for (const struct http_route *rt = http_routes; rt->method; rt++) {
        size_t i;

        for (i = 0; rt->method[i] && i + 1 < sizeof m; i++)
            m[i] = (char)tolower((unsigned char)rt->method[i]);
        m[i] = '\0';
        canonical(rt->pattern, want, sizeof want);
        if (strcmp(m, method) == 0 && strcmp(want, path) == 0)
            return true;
    }
    return false;
}

/* The operation of @p paths for a route: its path item's method member. */
static json_t *document_operation(json_t *paths, const char *method, const char *pattern)
{
    char want[512], got[512], m[16];
    const char *key;
    json_t *item;
    size_t i;

    for (i = 0; method[i] && i + 1 < sizeof m; i++)
        m[i] = (char)tolower((unsigned char)method[i]);
    m[i] = '\0';
    canonical(pattern, want, sizeof want);
    json_object_foreach(paths, key, item)
    {
        canonical(key, got, sizeof got);
        if (strcmp(got, want) == 0)
            return json_object_get(item, m);
    }
    return NULL;
}

int main(void)
{
    json_error_t jerr;
    json_t *doc = json_loads(api_openapi_json, 0, &jerr), *paths, *item, *op;
    const char *key;
    size_t routes = 0, operations = 0;
    char path[512];

    REQUIRE(doc != NULL);
    CHECK_INT(strlen(api_openapi_json), api_openapi_json_len);
    CHECK(strncmp(json_string_value(json_object_get(doc, "openapi")), "3.1", 3) == 0);
    paths = json_object_get(doc, "paths");
    REQUIRE(json_is_object(paths));

    /* Every route of the table is in the document, with its responses. */
    for (const struct http_route *rt = http_routes; rt->method; rt++) {
        routes++;
        op = document_operation(paths, rt->method, rt->pattern);
        if (op == NULL)
            fprintf(stderr, "route %s %s is missing from docs/openapi.yaml\n", rt->method,
                    rt->pattern);
        CHECK(op != NULL);
        CHECK(json_object_size(json_object_get(op, "responses")) > 0);
    }

    /* Every operation of the document is a route of the table. */
    json_object_foreach(paths, key, item)
    {
        canonical(key, path, sizeof path);
        for (int i = 0; methods[i]; i++) {
            if (json_object_get(item, methods[i]) == NULL)
                continue;
            operations++;
            if (!table_has(methods[i], path))
                fprintf(stderr, "docs/openapi.yaml has %s %s, which api/routes.c does not route\n",
                        methods[i], key);
            CHECK(table_has(methods[i], path));
        }
    }
    CHECK_INT(operations, routes);
    fprintf(stderr, "%zu routes, %zu operations\n", routes, operations);
    json_decref(doc);
    return test_exit();
}

/*
 * The reference system's example calls (XaresAICoder's API guide: its
 * "Complete Workflow Example", and the calls its page makes to review
 * recorded domains and apply them as a whitelist), made against egress-api
 * with the reference's bodies, and answered in the reference's shapes: every
 * member a client of the reference reads is there, with the reference's
 * type. docs/API.md ("The reference's API, and ours") maps each endpoint.
 *
 * Where we chose to differ (the whitelist needs the admin token) the call
 * carries what ours needs, and the answer's shape is still the reference's.
 * The guide's start of a protected workspace sends no password; the
 * reference's server asks for it there too, as ours does.
 */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/store.h"
#include "tests/api/client.h"
#include "tests/lib/testutil.h"

static struct api_daemon d;

/*
 * Does @p v have the type named by @p type: "s" string, "S" string or
 * null, "b" boolean, "T" true, "i" integer, "o" object, "a" array?
 */
static bool has_type(const json_t *v, char type)
{
    switch (type) {
    case 's':
        return json_is_string(v);
    case 'S':
        return json_is_string(v) || json_is_null(v);
    case 'b':
        return json_is_boolean(v);
    case 'T':
        return json_is_true(v);
    case 'i':
        return json_is_integer(v);
    case 'o':
        return json_is_object(v);
    case 'a':
        return json_is_array(v);
    }
    return false;
}

/*
 * Check that object @p o has each member of @p shape ("name:t name:t …",
 * types as has_type()), naming the call @p what and the member on failure.
 */
static void expect_shape(const char *what, const json_t *o, const char *shape)
{
    char name[64];
    const char *p = shape;

    while (*p) {
        size_t n = strcspn(p, ":");
        const json_t *v;

        REQUIRE(n < sizeof name && p[n] == ':');
        memcpy(name, p, n);
        name[n] = '\0';
        v = json_object_get(o, name);
        if (!has_type(v, p[n + 1])) {
            fprintf(stderr, "%s: member \"%s\" missing or not of type %c\n", what, name, p[n + 1]);
            CHECK(has_type(v, p[n + 1]));
        }
        p += n + 2;
        p += strspn(p, " ");
    }
}

/* The reference's project members (server/src/services/workspace.js). */
#define PROJECT_SHAPE                                                                              \
    "projectId:s projectName:s projectType:s proxyMode:s passwordProtected:b status:s createdAt:s"

/* Write what the proxy would have recorded for @p id: three hosts. */
static void record_hosts(const char *id)
{
    struct ep_store *store;
    struct ep_seen_delta deltas[] = {
        {id, "pypi.org", 15, 0, 1771063200, 1771068600, 1},
        {id, "api.anthropic.com", 3, 0, 1771063500, 1771066800, 1},
        {id, "example.net", 1, 0, 1771063600, 1771063600, 1},
    };

    REQUIRE(ep_store_open(d.db, NULL, &store) == 0);
    REQUIRE(ep_store_seen_add(store, deltas, 3) == 0);
    ep_store_close(store);
}

/*
 * GET /api/projects/:id/recorded-domains as the reference answered it:
 * {success, projectId, ipAddress, domains: {host: {count, first_seen,
 * last_seen}}, categorized: {category: [{domain, count, first_seen,
 * last_seen}]}, totalDomains}; and what the reference's page reads of it.
 */
static void check_recorded(const json_t *a, const char *id, const char *ip)
{
    const json_t *domains = json_object_get(a, "domains"), *cat = json_object_get(a, "categorized");
    const json_t *list, *v, *item;
    const char *k;
    size_t i, listed = 0;

    expect_shape("recorded-domains", a,
                 "success:T projectId:s ipAddress:S domains:o categorized:o totalDomains:i");
    CHECK_STR(json_string_value(json_object_get(a, "projectId")), id);
    CHECK_STR(json_string_value(json_object_get(a, "ipAddress")), ip);
    CHECK_INT(json_integer_value(json_object_get(a, "totalDomains")), 3);
    CHECK_INT(json_object_size(domains), 3);
    json_object_foreach((json_t *)domains, k, v)
        expect_shape(k, v, "count:i first_seen:s last_seen:s");
    v = json_object_get(domains, "pypi.org");
    CHECK_INT(json_integer_value(json_object_get(v, "count")), 15);
    CHECK_STR(json_string_value(json_object_get(v, "first_seen")), "2026-02-14T10:00:00Z");
    CHECK_STR(json_string_value(json_object_get(v, "last_seen")), "2026-02-14T11:30:00Z");

    /* Every host once, in its category, as {domain, its record's members}. */
    json_object_foreach((json_t *)cat, k, list)
    {
        CHECK(json_is_array(list));
        json_array_foreach(list, i, item)
        {
            const char *host = json_string_value(json_object_get(item, "domain"));
            const json_t *record = json_object_get(domains, host ? host : "");

            expect_shape(k, item, "domain:s count:i first_seen:s last_seen:s");
            CHECK(record != NULL);
            CHECK(json_equal(json_object_get(item, "count"), json_object_get(record, "count")));
            CHECK(json_equal(json_object_get(item, "last_seen"),
                             json_object_get(record, "last_seen")));
            listed++;
        }
    }
    CHECK_INT(listed, 3);
    item = json_array_get(json_object_get(cat, "Package Managers"), 0);
    CHECK_STR(json_string_value(json_object_get(item, "domain")), "pypi.org");
    item = json_array_get(json_object_get(cat, "AI APIs"), 0);
    CHECK_STR(json_string_value(json_object_get(item, "domain")), "api.anthropic.com");
    item = json_array_get(json_object_get(cat, "Other"), 0);
    CHECK_STR(json_string_value(json_object_get(item, "domain")), "example.net");
}

/* The reference guide's workflow, step by step. */
static void test_workflow(void)
{
    struct api_reply r;
    char id[EP_ID_MAX + 1] = "", path[200];
    const json_t *p;

    /* 1. Check system health. */
    CHECK_INT(api_call(&d, "GET", "/api/health", false, NULL, &r), 200);
    expect_shape("health", r.json, "status:s timestamp:s");
    CHECK_STR(api_str(&r, "status"), "healthy");
    api_reply_free(&r);

    /* Not the reference's: this API's own description, for anyone. */
    CHECK_INT(api_call(&d, "GET", "/api/openapi.json", false, NULL, &r), 200);
    CHECK_STR(api_str(&r, "openapi"), "3.1.0");
    CHECK(json_is_object(json_object_get(r.json, "paths")));
    api_reply_free(&r);

    /* 2. Create a new Python Flask project (the guide's body). */
    CHECK_INT(api_call(&d, "POST", "/api/projects/create", false,
                       "{\"projectName\": \"my-web-app\", \"projectType\": \"python-flask\", "
                       "\"passwordProtected\": true, \"password\": \"secure123!\", "
                       "\"createGitRepo\": true}",
                       &r),
              201);
    expect_shape("create", r.json, "success:T project:o");
    p = json_object_get(r.json, "project");
    expect_shape("create: project", p, PROJECT_SHAPE);
    CHECK_STR(json_string_value(json_object_get(p, "projectName")), "my-web-app");
    CHECK_STR(json_string_value(json_object_get(p, "projectType")), "python-flask");
    CHECK(json_is_true(json_object_get(p, "passwordProtected")));
    snprintf(id, sizeof id, "%s", api_str(&r, "project.projectId"));
    api_reply_free(&r);
    REQUIRE(id[0] != '\0');

    /* 3. Get project details. */
    snprintf(path, sizeof path, "/api/projects/%s", id);
    CHECK_INT(api_call(&d, "GET", path, false, NULL, &r), 200);
    expect_shape("get", r.json, "success:T project:o");
    expect_shape("get: project", json_object_get(r.json, "project"), PROJECT_SHAPE);
    api_reply_free(&r);

    /* 4. List all projects (the guide writes the trailing slash too). */
    CHECK_INT(api_call(&d, "GET", "/api/projects", false, NULL, &r), 200);
    expect_shape("list", r.json, "success:T projects:a count:i");
    CHECK_INT(json_integer_value(json_object_get(r.json, "count")), 1);
    expect_shape("list: project", json_array_get(json_object_get(r.json, "projects"), 0),
                 PROJECT_SHAPE);
    api_reply_free(&r);

    /* 5. Stop the workspace (with password). */
    snprintf(path, sizeof path, "/api/projects/%s/stop", id);
    CHECK_INT(api_call(&d, "POST", path, false, "{\"password\": \"secure123!\"}", &r), 200);
    expect_shape("stop", r.json, "success:T message:s");
    api_reply_free(&r);
    /* A wrong password: the reference's 401 and its error shape. */
    CHECK_INT(api_call(&d, "POST", path, false, "{\"password\": \"wrong-one\"}", &r), 401);
    expect_shape("stop, wrong password", r.json, "error:s message:s");
    api_reply_free(&r);

    /* 6. Start the workspace again (with its password: the reference's server asks it too). */
    snprintf(path, sizeof path, "/api/projects/%s/start", id);
    CHECK_INT(api_call(&d, "POST", path, false, "{\"password\": \"secure123!\"}", &r), 200);
    expect_shape("start", r.json, "success:T message:s");
    api_reply_free(&r);

    /* The review: recorded domains (the page sends the workspace's password). */
    snprintf(path, sizeof path, "/api/projects/%s/ip", id);
    CHECK_INT(api_call(&d, "PUT", path, true, "{\"ipAddress\": \"172.30.0.5\"}", &r), 200);
    api_reply_free(&r);
    record_hosts(id);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains", id);
    CHECK_INT(
        api_request(&d, "GET", path, NULL, NULL, 0, NULL, "X-Project-Password: secure123!", &r),
        200);
    check_recorded(r.json, id, "172.30.0.5");
    api_reply_free(&r);

    /* "Apply as Security Proxy Whitelist": PUT /api/whitelist {domains}. */
    CHECK_INT(api_call(&d, "PUT", "/api/whitelist", true,
                       "{\"domains\": [\"pypi.org\", \"api.anthropic.com\"]}", &r),
              200);
    expect_shape("PUT whitelist", r.json, "success:T domainCount:i domains:a");
    CHECK_INT(json_integer_value(json_object_get(r.json, "domainCount")), 2);
    CHECK_INT(json_array_size(json_object_get(r.json, "domains")), 2);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist", true, NULL, &r), 200);
    expect_shape("GET whitelist", r.json, "success:T domains:a");
    api_reply_free(&r);

    /* 8. Delete the project (with password). */
    snprintf(path, sizeof path, "/api/projects/%s", id);
    CHECK_INT(api_call(&d, "DELETE", path, false, "{\"password\": \"secure123!\"}", &r), 200);
    expect_shape("delete", r.json, "success:T message:s");
    CHECK_STR(api_str(&r, "message"), "Project deleted successfully");
    api_reply_free(&r);

    /* A project that is not there: 404 with the reference's {error, message}. */
    CHECK_INT(api_call(&d, "GET", path, false, NULL, &r), 404);
    expect_shape("get, deleted", r.json, "error:s message:s");
    api_reply_free(&r);
}

/* A workspace with no address mapped: "ipAddress" is null, the rest unchanged. */
static void test_unmapped(void)
{
    struct api_reply r;
    char id[EP_ID_MAX + 1], path[200];

    REQUIRE(api_create(&d, true, "{\"projectName\": \"unmapped\"}", id) == 201);
    record_hosts(id);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains", id);
    CHECK_INT(api_call(&d, "GET", path, false, NULL, &r), 200);
    expect_shape("recorded-domains, unmapped", r.json, "success:T ipAddress:S totalDomains:i");
    CHECK(json_is_null(json_object_get(r.json, "ipAddress")));
    CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")), 3);
    api_reply_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    api_daemon_init(&d, test_tmpdir(), "api");
    REQUIRE(api_daemon_start(&d, NULL, NULL) == 0);
    test_workflow();
    test_unmapped();
    CHECK_INT(api_daemon_stop(&d), 0);
    CHECK_INT(api_hash_leaks, 0);
    curl_global_cleanup();
    return test_exit();
}

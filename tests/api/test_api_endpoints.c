/*
 * Every endpoint of egress-api and every row of its "who" column, allowed
 * and refused, against the real daemon on a random loopback port; and the
 * reference system's password examples. Recorded domains are written into
 * the daemon's store by this test through the policy API, as the ICAP
 * service would.
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

/* Status of one call, the reply freed. */
static long st(const char *method, const char *path, bool admin, const char *body)
{
    struct api_reply r;
    long status = api_call(&d, method, path, admin, body, &r);

    api_reply_free(&r);
    return status;
}

/* Status of one call with the X-Project-Password header. */
static long st_pw(const char *method, const char *path, const char *password, const char *body)
{
    struct api_reply r;
    char header[128];
    long status;

    snprintf(header, sizeof header, "X-Project-Password: %s", password);
    status = api_request(&d, method, path, NULL, body, (size_t)-1, NULL, header, &r);
    api_reply_free(&r);
    return status;
}

static bool ends_with_z(const char *s)
{
    size_t n = strlen(s);

    return n > 10 && s[n - 1] == 'Z' && s[10] == 'T';
}

static bool array_has(json_t *array, const char *text)
{
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v) if (json_is_string(v) &&
                                        strcmp(json_string_value(v), text) == 0) return true;
    return false;
}

/*
 * Does category @p category of a recorded-domains answer @p answer list
 * host @p host, as the reference's object {"domain": host, ...}?
 */
static bool category_has(json_t *answer, const char *category, const char *host)
{
    json_t *list = json_object_get(json_object_get(answer, "categorized"), category);
    size_t i;
    json_t *v;

    json_array_foreach(list, i, v)
    {
        if (json_is_string(json_object_get(v, "domain")) &&
            strcmp(json_string_value(json_object_get(v, "domain")), host) == 0)
            return true;
    }
    return false;
}

static void test_health_and_routing(void)
{
    struct api_reply r;

    CHECK_INT(api_call(&d, "GET", "/api/health", false, NULL, &r), 200);
    CHECK_STR(api_str(&r, "status"), "healthy");
    CHECK(ends_with_z(api_str(&r, "timestamp")));
    CHECK_STR(api_str(&r, "version"), PACKAGE_VERSION);
    CHECK(strstr(r.headers, "Access-Control-Allow-Origin") == NULL); /* no CORS unless configured */
    CHECK(strstr(r.headers, "application/json") != NULL);
    api_reply_free(&r);

    CHECK_INT(api_call(&d, "GET", "/api/nothing-here", false, NULL, &r), 404);
    CHECK_STR(api_str(&r, "error"), "not_found");
    CHECK(strlen(api_str(&r, "message")) > 0);
    api_reply_free(&r);
    CHECK_INT(st("PATCH", "/api/projects", true, NULL), 405);
    /* HEAD answers as GET does, without a body (health checkers use it). */
    CHECK_INT(api_call(&d, "HEAD", "/api/health", false, NULL, &r), 200);
    CHECK(strstr(r.headers, "application/json") != NULL);
    CHECK_INT(r.len, 0);
    api_reply_free(&r);
    CHECK_INT(st("HEAD", "/metrics", false, NULL), 401);
    CHECK_INT(st("POST", "/api/health", false, NULL), 405);
    /* A wrong admin token is refused even where no token is needed. */
    CHECK_INT(
        api_request(&d, "GET", "/api/projects", "wrong-token-wrong-token", NULL, 0, NULL, NULL, &r),
        401);
    CHECK(strstr(r.headers, "WWW-Authenticate: Bearer") != NULL);
    api_reply_free(&r);
    CHECK_INT(api_request(&d, "GET", "/api/projects", NULL, NULL, 0, NULL,
                          "Authorization: Basic YWRtaW46YWRtaW4=", &r),
              401);
    api_reply_free(&r);
}

/* Ids of the projects the tests share. */
static char open_id[40], protected_id[40], logging_id[40], student_id[40];

static void test_create(void)
{
    struct api_reply r;
    const char *pw;
    bool upper = false, lower = false, digit = false, symbol = false;
    char id[40];

    /* Anyone: the default mode and profile. */
    CHECK_INT(api_call(&d, "POST", "/api/projects/create", false,
                       "{\"projectName\": \"  Student One  \", \"projectType\": \"python-flask\"}",
                       &r),
              201);
    CHECK_STR(api_str(&r, "project.projectName"), "Student One");
    CHECK_STR(api_str(&r, "project.projectType"), "python-flask");
    CHECK_STR(api_str(&r, "project.proxyMode"), "security");
    CHECK_STR(api_str(&r, "project.profile"), "default");
    CHECK_STR(api_str(&r, "project.status"), "created");
    CHECK(ends_with_z(api_str(&r, "project.createdAt")));
    CHECK(json_is_false(json_object_get(json_object_get(r.json, "project"), "passwordProtected")));
    CHECK(json_object_get(json_object_get(r.json, "project"), "ipAddress") == NULL);
    CHECK(json_object_get(r.json, "generatedPassword") == NULL);
    snprintf(open_id, sizeof open_id, "%s", api_str(&r, "project.projectId"));
    CHECK_INT(strlen(open_id), 12);
    api_reply_free(&r);

    /* Anyone may not pick another mode or profile: 403. */
    CHECK_INT(st("POST", "/api/projects/create", false,
                 "{\"projectName\": \"x\", \"proxyMode\": \"logging\"}"),
              403);
    CHECK_INT(st("POST", "/api/projects/create", false,
                 "{\"projectName\": \"x\", \"profile\": \"course1\"}"),
              403);
    /* Naming the default explicitly is fine. */
    CHECK_INT(
        api_create(&d, false, "{\"projectName\": \"explicit\", \"proxyMode\": \"security\"}", id),
        201);

    /* The admin may. */
    CHECK_INT(api_create(&d, true,
                         "{\"projectName\": \"Teacher\", \"proxyMode\": \"logging\", "
                         "\"profile\": \"course1\"}",
                         logging_id),
              201);
    CHECK_INT(api_create(&d, true,
                         "{\"projectName\": \"Student\", \"proxyMode\": \"security\", "
                         "\"profile\": \"course1\", \"memoryLimit\": \"2g\", \"cpuCores\": \"2\"}",
                         student_id),
              201);

    /* A password is never echoed back. */
    CHECK_INT(api_call(&d, "POST", "/api/projects/create", false,
                       "{\"projectName\": \"Locked\", \"passwordProtected\": true, "
                       "\"password\": \"secret123\"}",
                       &r),
              201);
    CHECK(strstr(r.body, "secret123") == NULL);
    CHECK(json_is_true(json_object_get(json_object_get(r.json, "project"), "passwordProtected")));
    snprintf(protected_id, sizeof protected_id, "%s", api_str(&r, "project.projectId"));
    api_reply_free(&r);

    /* A generated password: 12 characters, every class, returned once, and it works. */
    CHECK_INT(api_call(&d, "POST", "/api/projects/create", false,
                       "{\"projectName\": \"Generated\", \"passwordProtected\": true, "
                       "\"generatePassword\": true}",
                       &r),
              201);
    pw = api_str(&r, "generatedPassword");
    CHECK_INT(strlen(pw), 12);
    for (const char *c = pw; *c; c++) {
        upper |= *c >= 'A' && *c <= 'Z';
        lower |= *c >= 'a' && *c <= 'z';
        digit |= *c >= '0' && *c <= '9';
        symbol |= strchr("!#%+-=?@_", *c) != NULL;
    }
    CHECK(upper && lower && digit && symbol);
    snprintf(id, sizeof id, "%s", api_str(&r, "project.projectId"));
    {
        char body[128], path[128];

        snprintf(body, sizeof body, "{\"password\": \"%s\"}", pw);
        snprintf(path, sizeof path, "/api/projects/%s/start", id);
        CHECK_INT(st("POST", path, false, "{\"password\": \"wrong-password\"}"), 401);
        CHECK_INT(st("POST", path, false, body), 200);
    }
    api_reply_free(&r);
}

static void test_list_and_get(void)
{
    struct api_reply r;
    char path[128];
    json_t *p;

    CHECK_INT(api_call(&d, "GET", "/api/projects", false, NULL, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "count")), 6);
    p = json_array_get(json_object_get(r.json, "projects"), 0);
    CHECK(json_object_get(p, "projectId") && json_object_get(p, "projectName") &&
          json_object_get(p, "projectType") && json_object_get(p, "proxyMode") &&
          json_object_get(p, "profile") && json_object_get(p, "passwordProtected") &&
          json_object_get(p, "status") && json_object_get(p, "createdAt"));
    CHECK(json_object_get(p, "ipAddress") == NULL); /* summaries for anyone */
    api_reply_free(&r);

    CHECK_INT(api_call(&d, "GET", "/api/projects", true, NULL, &r), 200);
    p = json_array_get(json_object_get(r.json, "projects"), 0);
    CHECK(json_is_null(json_object_get(p, "ipAddress"))); /* everything for the admin */
    api_reply_free(&r);

    snprintf(path, sizeof path, "/api/projects/%s", student_id);
    CHECK_INT(api_call(&d, "GET", path, false, NULL, &r), 200);
    CHECK_STR(api_str(&r, "project.projectId"), student_id);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    CHECK(json_integer_value(json_object_get(json_object_get(r.json, "project"), "memoryLimit")) ==
          2LL << 30);
    api_reply_free(&r);
    CHECK_INT(st("GET", "/api/projects/000000000000", false, NULL), 404);
}

/* The reference system's password examples, on an unprotected workspace. */
static void test_password_examples(void)
{
    char path[128], get[128];
    struct api_reply r;

    snprintf(path, sizeof path, "/api/projects/%s/password", open_id);
    snprintf(get, sizeof get, "/api/projects/%s", open_id);
    /* Set a password on an unprotected workspace: no credentials needed. */
    CHECK_INT(api_call(&d, "PUT", path, false, "{\"newPassword\": \"firstpass1\"}", &r), 200);
    CHECK(json_is_true(json_object_get(r.json, "passwordProtected")));
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", get, false, NULL, &r), 200);
    CHECK(json_is_true(json_object_get(json_object_get(r.json, "project"), "passwordProtected")));
    api_reply_free(&r);
    /* Now protected: a new password needs the current one. */
    CHECK_INT(st("PUT", path, false, "{\"newPassword\": \"secondpass2\"}"), 401);
    CHECK_INT(st("PUT", path, false,
                 "{\"currentPassword\": \"wrongpass0\", \"newPassword\": \"secondpass2\"}"),
              401);
    CHECK_INT(
        st("PUT", path, false, "{\"currentPassword\": \"firstpass1\", \"newPassword\": \"short\"}"),
        400);
    CHECK_INT(st("PUT", path, false,
                 "{\"currentPassword\": \"firstpass1\", \"newPassword\": \"secondpass2\"}"),
              200);
    CHECK_INT(
        st("PUT", path, false, "{\"currentPassword\": \"firstpass1\", \"removePassword\": true}"),
        401);
    /* Remove it with the current one. */
    CHECK_INT(api_call(&d, "PUT", path, false,
                       "{\"currentPassword\": \"secondpass2\", \"removePassword\": true}", &r),
              200);
    CHECK(json_is_false(json_object_get(r.json, "passwordProtected")));
    api_reply_free(&r);
    CHECK_INT(st("PUT", path, false, "{\"removePassword\": true}"), 400); /* nothing to remove */
    /* The admin needs no current password. */
    CHECK_INT(st("PUT", path, true, "{\"newPassword\": \"adminset12\"}"), 200);
    CHECK_INT(st("PUT", path, true, "{\"removePassword\": true}"), 200);
    CHECK_INT(st("PUT", "/api/projects/0123456789ab/password", false,
                 "{\"newPassword\": \"whatever12\"}"),
              404);
}

/* Stop and delete a protected workspace: wrong password 401, right one 200. */
static void test_protected_lifecycle(void)
{
    char start[128], stop[128], del[128], get[128];
    struct api_reply r;

    snprintf(start, sizeof start, "/api/projects/%s/start", protected_id);
    snprintf(stop, sizeof stop, "/api/projects/%s/stop", protected_id);
    snprintf(del, sizeof del, "/api/projects/%s", protected_id);
    snprintf(get, sizeof get, "/api/projects/%s", protected_id);

    CHECK_INT(api_call(&d, "POST", start, false, NULL, &r), 401);
    CHECK_STR(api_str(&r, "error"), "Password required");
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "POST", stop, false, "{\"password\": \"not-the-one\"}", &r), 401);
    CHECK_STR(api_str(&r, "error"), "Invalid password");
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "POST", start, false, "{\"password\": \"secret123\"}", &r), 200);
    CHECK_STR(api_str(&r, "project.status"), "running");
    api_reply_free(&r);
    CHECK_INT(st_pw("POST", stop, "secret123", NULL), 200);
    CHECK_INT(api_call(&d, "GET", get, false, NULL, &r), 200);
    CHECK_STR(api_str(&r, "project.status"), "stopped");
    api_reply_free(&r);
    /* The admin needs no password. */
    CHECK_INT(st("POST", start, true, NULL), 200);
    CHECK_INT(st("POST", stop, true, NULL), 200);
    /* Recorded domains of a protected workspace: the password or the admin. */
    snprintf(get, sizeof get, "/api/projects/%s/recorded-domains", protected_id);
    CHECK_INT(st("GET", get, false, NULL), 401);
    CHECK_INT(st_pw("GET", get, "not-the-one", NULL), 401);
    CHECK_INT(st_pw("GET", get, "secret123", NULL), 200);
    CHECK_INT(st("GET", get, true, NULL), 200);

    CHECK_INT(st("DELETE", del, false, "{\"password\": \"not-the-one\"}"), 401);
    CHECK_INT(st("DELETE", del, false, NULL), 401);
    CHECK_INT(st("DELETE", del, false, "{\"password\": \"secret123\"}"), 200);
    CHECK_INT(st("GET", del, false, NULL), 404);
    CHECK_INT(st("DELETE", del, false, "{\"password\": \"secret123\"}"), 404);

    /* An unprotected workspace: anyone starts and stops it. */
    snprintf(start, sizeof start, "/api/projects/%s/start", open_id);
    CHECK_INT(st("POST", start, false, NULL), 200);
}

/* Repeated wrong passwords on one project are slowed down and logged. */
static void test_backoff(void)
{
    char id[40], path[128];
    struct api_reply r;

    CHECK_INT(
        api_create(&d, false, "{\"projectName\": \"Target\", \"password\": \"rightpass1\"}", id),
        201);
    snprintf(path, sizeof path, "/api/projects/%s/stop", id);
    for (int i = 0; i < 4; i++)
        CHECK_INT(st("POST", path, false, "{\"password\": \"guess-guess\"}"), 401);
    CHECK_INT(api_call(&d, "POST", path, false, "{\"password\": \"rightpass1\"}", &r), 429);
    CHECK(strstr(r.headers, "Retry-After:") != NULL);
    api_reply_free(&r);
    CHECK(api_daemon_log_has(&d, "wrong password for project"));
    /* The admin is not held back. */
    CHECK_INT(st("POST", path, true, NULL), 200);
    snprintf(path, sizeof path, "/api/projects/%s", id);
    CHECK_INT(st("DELETE", path, true, NULL), 200);
}

static void test_admin_project_endpoints(void)
{
    char path[128], other[128];
    struct api_reply r;

    snprintf(path, sizeof path, "/api/projects/%s/proxy-mode", student_id);
    CHECK_INT(st("PUT", path, false, "{\"proxyMode\": \"none\"}"), 401);
    CHECK_INT(st("PUT", path, true, "{\"proxyMode\": \"permissive\"}"), 400);
    CHECK_INT(api_call(&d, "PUT", path, true, "{\"proxyMode\": \"none\"}", &r), 200);
    CHECK_STR(api_str(&r, "project.proxyMode"), "none");
    api_reply_free(&r);
    CHECK_INT(st("PUT", path, true, "{\"proxyMode\": \"security\"}"), 200);

    snprintf(path, sizeof path, "/api/projects/%s/ip", student_id);
    snprintf(other, sizeof other, "/api/projects/%s/ip", open_id);
    CHECK_INT(st("PUT", path, false, "{\"ipAddress\": \"192.0.2.10\"}"), 401);
    CHECK_INT(api_call(&d, "PUT", path, true, "{\"ipAddress\": \"192.0.2.10\"}", &r), 200);
    CHECK_STR(api_str(&r, "project.ipAddress"), "192.0.2.10");
    api_reply_free(&r);
    CHECK_INT(st("PUT", other, true, "{\"ipAddress\": \"192.0.2.10\"}"), 409);
    CHECK_INT(st("PUT", other, true, "{\"ipAddress\": \"192.0.2.300\"}"), 400);
    CHECK_INT(api_call(&d, "PUT", other, true, "{\"ipAddress\": \"2001:DB8::0:1\"}", &r), 200);
    CHECK_STR(api_str(&r, "project.ipAddress"), "2001:db8::1");
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "PUT", other, true, "{\"ipAddress\": null}", &r), 200);
    CHECK(json_is_null(json_object_get(json_object_get(r.json, "project"), "ipAddress")));
    api_reply_free(&r);
}

static void test_whitelist(void)
{
    struct api_reply r;
    json_t *errors;

    CHECK_INT(st("GET", "/api/whitelist", false, NULL), 401);
    CHECK_INT(st("PUT", "/api/whitelist", false, "{\"domains\": [\"pypi.org\"]}"), 401);
    CHECK_INT(st("POST", "/api/whitelist/domains", false, "{\"domain\": \"pypi.org\"}"), 401);
    CHECK_INT(st("DELETE", "/api/whitelist/domains/pypi.org", false, NULL), 401);
    CHECK_INT(st("GET", "/api/profiles", false, NULL), 401);

    CHECK_INT(api_call(&d, "PUT", "/api/whitelist", true,
                       "{\"domains\": [\"pypi.org\", \".pythonhosted.org\", \"PyPI.org\"]}", &r),
              200);
    CHECK_INT(json_array_size(json_object_get(r.json, "domains")), 2);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist", true, NULL, &r), 200);
    CHECK_STR(api_str(&r, "profile"), "default");
    CHECK(array_has(json_object_get(r.json, "domains"), "pypi.org"));
    CHECK(array_has(json_object_get(r.json, "domains"), ".pythonhosted.org"));
    CHECK(array_has(json_object_get(r.json, "base"), "deb.debian.org"));
    CHECK_INT(json_array_size(json_object_get(r.json, "base")), 1);
    api_reply_free(&r);

    /* One bad rule refuses the whole list, with an error for each bad entry. */
    CHECK_INT(api_call(&d, "PUT", "/api/whitelist", true,
                       "{\"domains\": [\"ok.example.org\", \"http://x.org/\", \"a b.org\", 7]}",
                       &r),
              400);
    errors = json_object_get(r.json, "errors");
    CHECK_INT(json_array_size(errors), 3);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(errors, 0), "index")), 1);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist", true, NULL, &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "domains")), 2);
    api_reply_free(&r);

    CHECK_INT(
        api_call(&d, "POST", "/api/whitelist/domains", true, "{\"domain\": \"github.com\"}", &r),
        200);
    CHECK(array_has(json_object_get(r.json, "added"), "github.com"));
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "POST", "/api/whitelist/domains", true,
                       "{\"domains\": [\"github.com\", \"*.rust-lang.org\"]}", &r),
              200);
    CHECK(array_has(json_object_get(r.json, "existing"), "github.com"));
    CHECK(array_has(json_object_get(r.json, "added"), "*.rust-lang.org"));
    api_reply_free(&r);
    CHECK_INT(st("DELETE", "/api/whitelist/domains/*.rust-lang.org", true, NULL), 200);
    CHECK_INT(st("DELETE", "/api/whitelist/domains/*.rust-lang.org", true, NULL), 404);
    CHECK_INT(st("DELETE", "/api/whitelist/domains/github.com?profile=course1", true, NULL), 404);
    CHECK_INT(st("POST", "/api/whitelist/domains", true,
                 "{\"domain\": \"docs.python.org\", \"profile\": \"course1\"}"),
              200);

    CHECK_INT(api_call(&d, "GET", "/api/profiles", true, NULL, &r), 200);
    {
        size_t i;
        json_t *p;
        bool found = false;

        json_array_foreach(json_object_get(r.json, "profiles"), i, p)
        {
            if (strcmp(json_string_value(json_object_get(p, "name")), "course1") == 0) {
                found = true;
                CHECK_INT(json_integer_value(json_object_get(p, "rules")), 1);
                CHECK_INT(json_integer_value(json_object_get(p, "projects")), 2);
            }
        }
        CHECK(found);
    }
    api_reply_free(&r);
}

/* Write what the ICAP service would have recorded for the teacher's workspace. */
static void seed_recorded(void)
{
    struct ep_store *store;
    struct ep_seen_delta deltas[] = {
        {logging_id, "pypi.org", 3, 0, 1714564800, 1714568400, 1},
        {logging_id, "files.pythonhosted.org", 2, 0, 1714564801, 1714564802, 1},
        {logging_id, "api.openai.com", 1, 0, 1714564803, 1714564803, 1},
        {logging_id, "github.com", 1, 0, 1714564804, 1714564804, 1},
    };

    REQUIRE(ep_store_open(d.db, NULL, &store) == 0);
    REQUIRE(ep_store_seen_add(store, deltas, 4) == 0);
    ep_store_close(store);
}

static void test_recorded_and_promote(void)
{
    char path[160], promote[160], check[200];
    struct api_reply r;
    json_t *dom, *v;
    size_t i;
    bool com_refused = false;

    seed_recorded();
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains", logging_id);
    snprintf(promote, sizeof promote, "/api/projects/%s/recorded-domains/promote", logging_id);
    CHECK_INT(api_call(&d, "GET", path, false, NULL, &r), 200); /* unprotected: anyone */
    CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")), 4);
    CHECK_STR(api_str(&r, "projectId"), logging_id);
    dom = json_object_get(json_object_get(r.json, "domains"), "pypi.org");
    CHECK_INT(json_integer_value(json_object_get(dom, "count")), 3);
    CHECK_INT(json_integer_value(json_object_get(dom, "allowed")), 3);
    CHECK_INT(json_integer_value(json_object_get(dom, "denied")), 0);
    CHECK_STR(json_string_value(json_object_get(dom, "first_seen")), "2024-05-01T12:00:00Z");
    CHECK_STR(json_string_value(json_object_get(dom, "last_seen")), "2024-05-01T13:00:00Z");
    CHECK(category_has(r.json, "Package Managers", "pypi.org"));
    CHECK(category_has(r.json, "AI APIs", "api.openai.com"));
    CHECK(array_has(json_object_get(json_object_get(r.json, "groups"), "pythonhosted.org"),
                    "files.pythonhosted.org"));
    api_reply_free(&r);

    CHECK_INT(st("POST", promote, false, "{\"domains\": [\"pypi.org\"]}"), 401);
    CHECK_INT(api_call(&d, "POST", promote, true,
                       "{\"domains\": [\"files.pythonhosted.org\", \"pypi.org\", \"com\", "
                       "\"not a host\"], \"form\": \"exact\"}",
                       &r),
              200);
    CHECK_STR(api_str(&r, "profile"), "course1"); /* the project's own profile */
    CHECK(array_has(json_object_get(r.json, "added"), "files.pythonhosted.org"));
    CHECK(array_has(json_object_get(r.json, "added"), "pypi.org"));
    CHECK_INT(json_array_size(json_object_get(r.json, "refused")), 2);
    json_array_foreach(json_object_get(r.json, "refused"), i,
                       v) if (strcmp(json_string_value(json_object_get(v, "domain")), "com") == 0)
        com_refused = strlen(json_string_value(json_object_get(v, "message"))) > 0;
    CHECK(com_refused);
    api_reply_free(&r);
    /* Again: everything is already covered, and says by what. */
    CHECK_INT(api_call(&d, "POST", promote, true, "{\"domains\": [\"pypi.org\"]}", &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "added")), 0);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(r.json, "covered"), 0), "rule")),
              "pypi.org");
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "POST", promote, true,
                       "{\"domains\": [\"api.github.com\"], \"form\": \"suffix\"}", &r),
              200);
    CHECK(array_has(json_object_get(r.json, "added"), ".api.github.com"));
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "POST", promote, true,
                       "{\"domains\": [\"x.api.github.com\", \"api.github.com\"], \"form\": "
                       "\"subdomains\"}",
                       &r),
              200);
    CHECK_INT(json_array_size(json_object_get(r.json, "covered")), 2);
    api_reply_free(&r);

    /* The dry run: the student of course1 gets exactly the promoted hosts. */
    snprintf(check, sizeof check, "/api/projects/%s/check?host=PyPI.org", student_id);
    CHECK_INT(st("GET", check, false, NULL), 401);
    CHECK_INT(api_call(&d, "GET", check, true, NULL, &r), 200);
    CHECK_STR(api_str(&r, "verdict"), "allow");
    CHECK_STR(api_str(&r, "rule"), "pypi.org");
    CHECK_STR(api_str(&r, "host"), "pypi.org");
    api_reply_free(&r);
    snprintf(check, sizeof check, "/api/projects/%s/check?host=api.openai.com", student_id);
    CHECK_INT(api_call(&d, "GET", check, true, NULL, &r), 200);
    CHECK_STR(api_str(&r, "verdict"), "deny");
    CHECK_STR(api_str(&r, "reason"), "not-whitelisted");
    api_reply_free(&r);
    snprintf(check, sizeof check, "/api/projects/%s/check", student_id);
    CHECK_INT(st("GET", check, true, NULL), 400);

    /* Replace: the profile becomes exactly the promoted list. */
    CHECK_INT(
        api_call(&d, "POST", promote, true,
                 "{\"domains\": [\"github.com\"], \"profile\": \"course2\", \"replace\": true}",
                 &r),
        200);
    CHECK(array_has(json_object_get(r.json, "added"), "github.com"));
    api_reply_free(&r);

    CHECK_INT(st("DELETE", path, false, NULL), 401);
    CHECK_INT(st("DELETE", path, true, NULL), 200);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")), 0);
    api_reply_free(&r);
}

/*
 * Promote @p fields ("domains": [...], ...) first as a dry run, then for
 * real: the dry run answers @p status and changes nothing (the whole admin
 * dump, audit log included), and its answer is the real one's plus
 * "dryRun": true and "removed", which is returned (NULL on a 400).
 */
static json_t *dry_run_then_promote(const char *promote, const char *fields, long status)
{
    char body[512], *before = api_dump(&d), *after;
    struct api_reply dry, real;
    json_t *removed = NULL;

    snprintf(body, sizeof body, "{%s, \"dryRun\": true}", fields);
    CHECK_INT(api_call(&d, "POST", promote, true, body, &dry), status);
    after = api_dump(&d);
    CHECK_STR(after, before);
    if (status == 200 && dry.json) {
        CHECK(json_is_true(json_object_get(dry.json, "dryRun")));
        removed = json_incref(json_object_get(dry.json, "removed"));
        CHECK(json_is_array(removed));
        json_object_del(dry.json, "dryRun");
        json_object_del(dry.json, "removed");
    }
    snprintf(body, sizeof body, "{%s}", fields);
    CHECK_INT(api_call(&d, "POST", promote, true, body, &real), status);
    CHECK(dry.json && real.json && json_equal(dry.json, real.json));
    if (!(dry.json && real.json && json_equal(dry.json, real.json)))
        fprintf(stderr, "  dry run %s\n  promote %s\n", dry.body, real.body);
    api_reply_free(&dry);
    api_reply_free(&real);
    free(before);
    free(after);
    return removed;
}

/* The dry run of a promote: what the promote that follows does, written nowhere. */
static void test_promote_dry_run(void)
{
    char promote[160];
    struct api_reply r;
    json_t *removed;

    snprintf(promote, sizeof promote, "/api/projects/%s/recorded-domains/promote", logging_id);
    /* An add: one new rule, a repeat dropped, two covered (profile and base), one refused. */
    removed = dry_run_then_promote(promote,
                                   "\"domains\": [\"www.example.org\", \"pypi.org\", "
                                   "\"WWW.example.org\", \"deb.debian.org\", \"com\"]",
                                   200);
    CHECK_INT(json_array_size(removed), 0);
    json_decref(removed);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist?profile=course1", true, NULL, &r), 200);
    CHECK(array_has(json_object_get(r.json, "domains"), "www.example.org"));
    api_reply_free(&r);

    /* A replace: "removed" names the profile's rules that go, and no other. */
    CHECK_INT(st("PUT", "/api/whitelist", true,
                 "{\"domains\": [\"github.com\", \".npmjs.org\", \"pypi.org\"], \"profile\": "
                 "\"course2\"}"),
              200);
    removed = dry_run_then_promote(promote,
                                   "\"domains\": [\"pypi.org\", \"example.net\", "
                                   "\"deb.debian.org\"], \"profile\": \"course2\", "
                                   "\"replace\": true",
                                   200);
    CHECK_INT(json_array_size(removed), 2);
    CHECK(array_has(removed, "github.com"));
    CHECK(array_has(removed, ".npmjs.org"));
    json_decref(removed);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist?profile=course2", true, NULL, &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "domains")), 2);
    CHECK(array_has(json_object_get(r.json, "domains"), "pypi.org"));
    CHECK(array_has(json_object_get(r.json, "domains"), "example.net"));
    api_reply_free(&r);

    /* A replace the promote would refuse is refused the same by its dry run. */
    CHECK(dry_run_then_promote(promote,
                               "\"domains\": [\"pypi.org\", \"com\"], \"profile\": \"course2\", "
                               "\"replace\": true",
                               400) == NULL);
    CHECK(dry_run_then_promote(promote,
                               "\"domains\": [], \"profile\": \"course2\", \"replace\": true",
                               400) == NULL);
    CHECK_INT(st("POST", promote, true, "{\"domains\": [], \"dryRun\": 1}"), 400);
}

/* The members of a JSON object, by name, in one string ("a,b,c"), for shape checks. */
static void members_of(json_t *object, char *out, size_t outsz)
{
    const char *key;
    json_t *v;
    size_t n = 0;

    out[0] = '\0';
    json_object_foreach(object, key, v)
    {
        if (n >= outsz)
            break;
        n += (size_t)snprintf(out + n, outsz - n, "%s%s", n ? "," : "", key);
    }
}

/*
 * Ports: rules of a port through the whitelist endpoints (added, listed,
 * refused with the rule named, removed); a request recorded on another
 * port than 80 and 443 listed as host:port with "host" and "port",
 * grouped and categorised by its host, while the records of the web ports
 * keep their members; promoted (dry run and real) into the rule of its
 * port; and the check endpoint on host:port.
 */
static void test_ports(void)
{
    char path[200], promote[160], check[200], shape[256];
    const char *category;
    struct api_reply r;
    struct ep_store *store;
    json_t *dom, *removed, *errors;
    struct ep_seen_delta deltas[] = {
        {logging_id, "github.com", 2, 0, 1714564800, 1714564800, 1},
        {logging_id, "github.com:22", 0, 3, 1714564801, 1714564802, 2},
        {logging_id, "[2001:db8::1]:8080", 0, 1, 1714564803, 1714564803, 2},
        {logging_id, "pypi.org", 1, 0, 1714564804, 1714564804, 1},
    };

    /* The whitelist endpoints take, list and remove rules of a port. */
    CHECK_INT(
        api_call(&d, "POST", "/api/whitelist/domains", true,
                 "{\"domains\": [\"GitHub.com:22\", \"github.com:22\", \".example.org:8080\", "
                 "\"ip:[2001:DB8::1]:22\", \"github.com\"], \"profile\": \"ports\"}",
                 &r),
        200);
    CHECK_INT(json_array_size(json_object_get(r.json, "added")), 4);
    CHECK(array_has(json_object_get(r.json, "added"), "github.com:22"));
    CHECK(array_has(json_object_get(r.json, "added"), "github.com"));
    CHECK(array_has(json_object_get(r.json, "added"), ".example.org:8080"));
    CHECK(array_has(json_object_get(r.json, "added"), "ip:[2001:db8::1]:22"));
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist?profile=ports", true, NULL, &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "domains")), 4);
    CHECK(array_has(json_object_get(r.json, "domains"), "github.com:22"));
    CHECK(array_has(json_object_get(r.json, "domains"), "ip:[2001:db8::1]:22"));
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "PUT", "/api/whitelist", true,
                       "{\"domains\": [\"x.org:443\", \"x.org:0\", \"~^x\\\\.org$:22\", "
                       "\"x.org:ssh\", \"x.org:22\"], \"profile\": \"ports\"}",
                       &r),
              400);
    errors = json_object_get(r.json, "errors");
    CHECK_INT(json_array_size(errors), 4);
    CHECK(strstr(r.body, "\\\"x.org:443\\\": a rule without a port already covers") != NULL);
    CHECK(strstr(r.body, "a regex rule takes no port") != NULL);
    api_reply_free(&r);
    CHECK_INT(
        st("DELETE", "/api/whitelist/domains/ip:%5B2001:db8::1%5D:22?profile=ports", true, NULL),
        200);
    CHECK_INT(
        st("DELETE", "/api/whitelist/domains/ip:%5B2001:db8::1%5D:22?profile=ports", true, NULL),
        404);
    CHECK_INT(st("DELETE", "/api/whitelist/domains/github.com:443?profile=ports", true, NULL), 400);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist?profile=ports", true, NULL, &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "domains")), 3);
    CHECK(array_has(json_object_get(r.json, "domains"), "github.com"));
    api_reply_free(&r);

    /* What the teacher's workspace reached, one host on the web ports and on 22. */
    REQUIRE(ep_store_open(d.db, NULL, &store) == 0);
    REQUIRE(ep_store_seen_add(store, deltas, 4) == 0);
    ep_store_close(store);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?coverage=1&profile=ports",
             logging_id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")), 4);
    dom = json_object_get(json_object_get(r.json, "domains"), "github.com:22");
    CHECK_STR(json_string_value(json_object_get(dom, "host")), "github.com");
    CHECK_INT(json_integer_value(json_object_get(dom, "port")), 22);
    CHECK_INT(json_integer_value(json_object_get(dom, "denied")), 3);
    CHECK_STR(json_string_value(json_object_get(dom, "rule")), "github.com:22");
    category = json_string_value(json_object_get(dom, "category"));
    CHECK(category != NULL && strcmp(category, "Other") != 0);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(r.json, "domains"), "github.com"), "category")),
              category ? category : "");
    CHECK(category_has(r.json, category ? category : "", "github.com:22"));
    CHECK(array_has(json_object_get(json_object_get(r.json, "groups"), "github.com"),
                    "github.com:22"));
    CHECK(
        array_has(json_object_get(json_object_get(r.json, "groups"), "github.com"), "github.com"));
    dom = json_object_get(json_object_get(r.json, "domains"), "[2001:db8::1]:8080");
    CHECK_STR(json_string_value(json_object_get(dom, "host")), "2001:db8::1");
    CHECK_INT(json_integer_value(json_object_get(dom, "port")), 8080);
    CHECK(json_is_null(json_object_get(dom, "rule")));
    /* The records of the web ports have the members they always had, before and after. */
    members_of(json_object_get(json_object_get(r.json, "domains"), "github.com"), shape,
               sizeof shape);
    CHECK_STR(shape,
              "count,allowed,denied,first_seen,last_seen,category,lastVerdict,rule,ruleFrom");
    members_of(json_object_get(json_object_get(r.json, "domains"), "pypi.org"), shape,
               sizeof shape);
    CHECK_STR(shape,
              "count,allowed,denied,first_seen,last_seen,category,lastVerdict,rule,ruleFrom");
    api_reply_free(&r);
    /* Paging goes past a host with a port. */
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?limit=1&after=github.com:22",
             logging_id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    CHECK(json_object_get(json_object_get(r.json, "domains"), "pypi.org") != NULL);
    CHECK_INT(json_object_size(json_object_get(r.json, "domains")), 1);
    api_reply_free(&r);

    /* Promoted: a rule of the recorded port, in every form; the web ports make no port. */
    snprintf(promote, sizeof promote, "/api/projects/%s/recorded-domains/promote", logging_id);
    removed = dry_run_then_promote(promote,
                                   "\"domains\": [\"github.com:22\", \"github.com:443\", "
                                   "\"[2001:db8::1]:8080\", \"www.example.org:8080\", "
                                   "\"api.example.org:2222\"], \"profile\": \"ports\"",
                                   200);
    CHECK_INT(json_array_size(removed), 0);
    json_decref(removed);
    CHECK_INT(api_call(&d, "POST", promote, true,
                       "{\"domains\": [\"github.com:22\", \"github.com:443\", "
                       "\"[2001:db8::1]:8080\", \"www.example.org:8080\", "
                       "\"api.example.org:2222\", \"docs.github.com:22\"], \"profile\": "
                       "\"ports\", \"form\": \"suffix\", \"dryRun\": true}",
                       &r),
              200);
    CHECK(strstr(r.body,
                 "\"added\":[\".github.com:22\",\".github.com\",\".api.example.org:2222\","
                 "\".docs.github.com:22\"],\"covered\":[{\"domain\":\"www.example.org:8080\","
                 "\"rule\":\".example.org:8080\"}],\"refused\":[{\"domain\":\"[2001:db8::1]:"
                 "8080\"") != NULL);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist?profile=ports", true, NULL, &r), 200);
    CHECK(array_has(json_object_get(r.json, "domains"), "ip:[2001:db8::1]:8080"));
    CHECK(array_has(json_object_get(r.json, "domains"), "api.example.org:2222"));
    CHECK(!array_has(json_object_get(r.json, "domains"), "www.example.org:8080"));
    CHECK_INT(json_array_size(json_object_get(r.json, "domains")), 5);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "POST", promote, true,
                       "{\"domains\": [\"github.com:22\", \"www.example.org:8080\", "
                       "\"github.com:2222\"], \"profile\": \"ports\"}",
                       &r),
              200);
    CHECK(strstr(r.body,
                 "\"covered\":[{\"domain\":\"github.com:22\",\"rule\":\"github.com:22\"},"
                 "{\"domain\":\"www.example.org:8080\",\"rule\":\".example.org:8080\"}]") != NULL);
    CHECK(array_has(json_object_get(r.json, "added"), "github.com:2222"));
    api_reply_free(&r);

    /* Would it be allowed? host:port, decided by the rules of that port. */
    CHECK_INT(st("PUT", "/api/whitelist", true,
                 "{\"domains\": [\"pypi.org\", \"github.com:22\"], \"profile\": \"course1\"}"),
              200);
    snprintf(check, sizeof check, "/api/projects/%s/check?host=GitHub.com:22", student_id);
    CHECK_INT(api_call(&d, "GET", check, true, NULL, &r), 200);
    CHECK_STR(api_str(&r, "verdict"), "allow");
    CHECK_STR(api_str(&r, "rule"), "github.com:22");
    CHECK_STR(api_str(&r, "host"), "github.com");
    CHECK_INT(json_integer_value(json_object_get(r.json, "port")), 22);
    api_reply_free(&r);
    snprintf(check, sizeof check, "/api/projects/%s/check?host=pypi.org:8080", logging_id);
    CHECK_INT(api_call(&d, "GET", check, true, NULL, &r), 200);
    CHECK_STR(api_str(&r, "verdict"), "deny");
    CHECK_STR(api_str(&r, "reason"), "port-not-allowed");
    CHECK_STR(api_str(&r, "proxyMode"), "logging");
    CHECK_INT(json_integer_value(json_object_get(r.json, "port")), 8080);
    api_reply_free(&r);
    snprintf(check, sizeof check, "/api/projects/%s/check?host=pypi.org:443", student_id);
    CHECK_INT(api_call(&d, "GET", check, true, NULL, &r), 200);
    CHECK_STR(api_str(&r, "verdict"), "allow");
    members_of(r.json, shape, sizeof shape);
    CHECK_STR(shape, "projectId,host,verdict,reason,rule,profile,proxyMode");
    api_reply_free(&r);
    snprintf(check, sizeof check, "/api/projects/%s/check?host=pypi.org:99999", student_id);
    CHECK_INT(st("GET", check, true, NULL), 400);
}

static int count_seen(void *ctx, const char *host, const struct ep_seen *s)
{
    (*(int *)ctx)++;
    return 0;
}

/* Deleting a project frees its IP and drops what it recorded. */
static void test_delete_cleans_up(void)
{
    char path[128], id[40];
    struct ep_store *store;
    int count = 0;

    seed_recorded();
    snprintf(path, sizeof path, "/api/projects/%s/ip", logging_id);
    CHECK_INT(st("PUT", path, true, "{\"ipAddress\": \"192.0.2.20\"}"), 200);
    snprintf(path, sizeof path, "/api/projects/%s", logging_id);
    CHECK_INT(st("DELETE", path, false, NULL), 200);
    CHECK_INT(api_create(&d, true, "{\"projectName\": \"Next\"}", id), 201);
    snprintf(path, sizeof path, "/api/projects/%s/ip", id);
    CHECK_INT(st("PUT", path, true, "{\"ipAddress\": \"192.0.2.20\"}"), 200);
    REQUIRE(ep_store_open(d.db, NULL, &store) == 0);
    CHECK_INT(ep_store_seen_list(store, logging_id, count_seen, &count), 0);
    CHECK_INT(count, 0);
    ep_store_close(store);
}

static void test_audit_and_metrics(void)
{
    struct api_reply r;
    json_t *e;
    size_t i;
    bool create = false, promote = false;

    CHECK_INT(st("GET", "/api/audit", false, NULL), 401);
    CHECK_INT(api_call(&d, "GET", "/api/audit?limit=1000", true, NULL, &r), 200);
    json_array_foreach(json_object_get(r.json, "entries"), i, e)
    {
        const char *action = json_string_value(json_object_get(e, "action"));

        create |= strcmp(action, "project.create") == 0;
        promote |= strcmp(action, "whitelist.promote") == 0;
        CHECK_STR(json_string_value(json_object_get(e, "source")), "127.0.0.1");
        CHECK(ends_with_z(json_string_value(json_object_get(e, "time"))));
    }
    CHECK(create && promote);
    CHECK(strstr(r.body, "secret123") == NULL);
    api_reply_free(&r);
    CHECK_INT(st("GET", "/api/audit?limit=zero", true, NULL), 400);

    CHECK_INT(st("GET", "/metrics", false, NULL), 401);
    CHECK_INT(api_call(&d, "GET", "/metrics", true, NULL, &r), 200);
    CHECK(strstr(r.body, "egress_api_requests_total{method=\"POST\",route=\"/api/projects/create\","
                         "status=\"201\"}") != NULL);
    CHECK(strstr(r.body, "egress_projects{mode=\"security\"}") != NULL);
    CHECK(strstr(r.body, "egress_rules ") != NULL);
    CHECK(strstr(r.body, "egress_recorded_hosts ") != NULL);
    CHECK(strstr(r.headers, "text/plain") != NULL);
    api_reply_free(&r);
}

/* Peak resident memory of the daemon in KiB (VmHWM), or -1. */
static long daemon_peak_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)d.pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/*
 * What a user reads besides the status: a 10 MB body sent without a
 * declared length (chunked) is a JSON 413 and is never held in memory; the
 * audit says "with password" only when a password was needed, and "volume
 * purged" only when there was a volume (there is none without an engine).
 */
static void test_large_body_and_audit_details(void)
{
    const size_t big = 10 * 1024 * 1024;
    char id[EP_ID_MAX + 1], path[128];
    struct api_reply r;
    long before, after;
    char *body;
    json_t *e;
    size_t i;
    bool stop_seen = false, delete_seen = false;

    body = malloc(big);
    REQUIRE(body != NULL);
    memset(body, 'a', big);
    before = daemon_peak_kib();
    CHECK_INT(api_request(&d, "POST", "/api/projects/create", NULL, body, big, NULL,
                          "Transfer-Encoding: chunked", &r),
              413);
    after = daemon_peak_kib();
    CHECK_STR(api_str(&r, "error"), "too_large");
    CHECK(strstr(api_str(&r, "message"), "1 MiB") != NULL);
    api_reply_free(&r);
    free(body);
    CHECK(before > 0 && after > 0);
    CHECK(after - before < 4 * 1024); /* a 10 MB body would add 10240 KiB */

    REQUIRE(api_create(&d, false, "{\"projectName\": \"Audit details\"}", id) == 201);
    /* A URL offered for promotion is refused as a URL, not for its "port". */
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains/promote", id);
    CHECK_INT(api_call(&d, "POST", path, true, "{\"domains\": [\"https://pypi.org/simple\"]}", &r),
              200);
    CHECK_INT(json_array_size(json_object_get(r.json, "added")), 0);
    CHECK(strstr(r.body, "a URL, not a host") != NULL);
    api_reply_free(&r);
    snprintf(path, sizeof path, "/api/projects/%s/stop", id);
    /* A password sent to an unprotected workspace is not needed, and not "checked". */
    CHECK_INT(st("POST", path, false, "{\"password\": \"notneeded1\"}"), 200);
    snprintf(path, sizeof path, "/api/projects/%s?purgeVolume=true", id);
    CHECK_INT(st("DELETE", path, false, NULL), 200);
    CHECK_INT(api_call(&d, "GET", "/api/audit?limit=1000", true, NULL, &r), 200);
    json_array_foreach(json_object_get(r.json, "entries"), i, e)
    {
        const char *action = json_string_value(json_object_get(e, "action"));
        const char *target = json_string_value(json_object_get(e, "target"));
        const char *detail = json_string_value(json_object_get(e, "detail"));

        if (strcmp(target, id) != 0)
            continue;
        if (strcmp(action, "project.stop") == 0) {
            stop_seen = true;
            CHECK(strstr(detail, "with password") == NULL);
        } else if (strcmp(action, "project.delete") == 0) {
            delete_seen = true;
            CHECK(strstr(detail, "volume purged") == NULL);
        }
    }
    CHECK(stop_seen && delete_seen);
    api_reply_free(&r);
}

/*
 * cpuCores through the one CPU parser (policy/size.h): a string and a JSON
 * number are the same nano-CPUs, rounded to the nearest with a half up
 * (a double's own 1.00000000049999... would round down), and the refusals
 * name the field. Each project made here is deleted again.
 */
static void test_cpu_counts(void)
{
    static const struct {
        const char *given; /* the JSON text of cpuCores */
        double reported;   /* what the project says back */
    } cases[] = {
        {"\"1.5\"", 1.5},
        {"1.5", 1.5},
        {"\"0.3\"", 0.3},
        {"0.3", 0.3},
        {"\"1.0000000005\"", 1000000001 / 1e9},
        {"1.0000000005", 1000000001 / 1e9},
        {"\"1.00000000049\"", 1},
        {"2", 2},
    };
    static const char *const refused[] = {"\"1e2\"", "1e-5",   "-1",  "\"0.001\"",
                                          "9",       "\"2 \"", "true"};
    struct api_reply r;
    char body[160], path[128];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(body, sizeof body, "{\"projectName\": \"cpus\", \"cpuCores\": %s}",
                 cases[i].given);
        CHECK_INT(api_call(&d, "POST", "/api/projects/create", true, body, &r), 201);
        test_checks++;
        if (json_number_value(json_object_get(json_object_get(r.json, "project"), "cpuCores")) !=
            cases[i].reported) {
            test_failures++;
            fprintf(stderr, "cpuCores %s: reported %s\n", cases[i].given, r.body);
        }
        snprintf(path, sizeof path, "/api/projects/%s", api_str(&r, "project.projectId"));
        api_reply_free(&r);
        CHECK_INT(st("DELETE", path, true, NULL), 200);
    }
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(body, sizeof body, "{\"projectName\": \"cpus\", \"cpuCores\": %s}", refused[i]);
        CHECK_INT(api_call(&d, "POST", "/api/projects/create", true, body, &r), 400);
        CHECK(strstr(r.body, "\\\"cpuCores\\\" must be a number from 0.01 to 8") != NULL);
        api_reply_free(&r);
    }
}

int main(void)
{
    const char *base = test_tmpdir();
    const char *args[] = {"--base-domains", NULL, NULL};
    char base_file[512];
    FILE *f;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    api_daemon_init(&d, base, "api");
    /* Known base domains, so decisions below depend only on this test's rules. */
    snprintf(base_file, sizeof base_file, "%s/base-domains", d.dir);
    f = fopen(base_file, "w");
    REQUIRE(f != NULL);
    fprintf(f, "# the test's base domains\ndeb.debian.org\n\n");
    fclose(f);
    args[1] = base_file;
    REQUIRE(api_daemon_start(&d, args, NULL) == 0);
    /* The daemon's own logger takes MHD's messages from the first option on. */
    CHECK(!api_daemon_log_has(&d, "is not the first option"));

    test_health_and_routing();
    test_create();
    test_list_and_get();
    test_password_examples();
    test_protected_lifecycle();
    test_backoff();
    test_admin_project_endpoints();
    test_whitelist();
    test_recorded_and_promote();
    test_promote_dry_run();
    test_ports();
    test_delete_cleans_up();
    test_audit_and_metrics();
    test_large_body_and_audit_details();
    test_cpu_counts();

    CHECK_INT(api_daemon_stop(&d), 0);
    CHECK_INT(api_hash_leaks, 0);
    /* The log has one line per request and never a password or the token. */
    CHECK(api_daemon_log_has(&d, "POST /api/projects/create 201"));
    CHECK(!api_daemon_log_has(&d, "secret123"));
    CHECK(!api_daemon_log_has(&d, "firstpass1"));
    CHECK(!api_daemon_log_has(&d, TEST_ADMIN_TOKEN));
    curl_global_cleanup();
    return test_exit();
}

/*
 * What the review page needs from the API to stay fast: paging and the
 * text filter on GET /api/projects and on recorded-domains (with the
 * category, denied-only and coverage arguments), and cheap polls (an ETag
 * answered 304 by If-None-Match). A call without the new arguments answers
 * with the members it always had. Also the page's files as egress-api
 * serves them (--ui-dir): headers, 304, and 404 for paths that try to
 * leave the directory.
 */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy/decide.h"
#include "policy/store.h"
#include "tests/api/client.h"
#include "tests/lib/testutil.h"

#define PROJECTS 25
#define HOSTS    30

static struct api_daemon d;

/* The value of header @p name in @p r (into @p out, "" when absent). */
static const char *header(const struct api_reply *r, const char *name, char *out, size_t n)
{
    size_t len = strlen(name);

    out[0] = '\0';
    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
        if (strncasecmp(p, name, len) == 0 && p[len] == ':') {
            const char *v = p + len + 1;
            size_t m;

            v += strspn(v, " ");
            m = strcspn(v, "\r\n");
            snprintf(out, n, "%.*s", (int)(m < n ? m : n - 1), v);
            break;
        }
    }
    return out;
}

/* A request with If-None-Match @p etag (admin when @p admin). */
static long poll_once(const char *path, bool admin, const char *etag, struct api_reply *r)
{
    char h[128];

    snprintf(h, sizeof h, "If-None-Match: %s", etag);
    return api_request(&d, "GET", path, admin ? TEST_ADMIN_TOKEN : NULL, NULL, 0, NULL, h, r);
}

static size_t members(const json_t *o)
{
    return json_is_object(o) ? json_object_size(o) : 0;
}

static void test_projects(void)
{
    struct api_reply r, all, page;
    char id[EP_ID_MAX + 1], body[200], path[200], etag[64], etag2[64];
    json_t *ids = json_array();

    for (int i = 0; i < PROJECTS; i++) {
        snprintf(body, sizeof body, "{\"projectName\": \"Course %02d %s\"}", i,
                 i % 5 == 0 ? "Alpha" : "beta");
        REQUIRE(api_create(&d, true, body, id) == 201);
    }
    /* Without arguments: as before, every project and the three members. */
    CHECK_INT(api_call(&d, "GET", "/api/projects", true, NULL, &all), 200);
    CHECK_INT(members(all.json), 3);
    CHECK_INT(json_integer_value(json_object_get(all.json, "count")), PROJECTS);
    CHECK(json_object_get(all.json, "total") == NULL);

    /* Pages of 10 give the same projects in the same order. */
    for (int off = 0; off < PROJECTS; off += 10) {
        snprintf(path, sizeof path, "/api/projects?limit=10&offset=%d", off);
        CHECK_INT(api_call(&d, "GET", path, true, NULL, &page), 200);
        CHECK_INT(json_integer_value(json_object_get(page.json, "total")), PROJECTS);
        CHECK_INT(json_integer_value(json_object_get(page.json, "offset")), off);
        CHECK_INT(json_integer_value(json_object_get(page.json, "limit")), 10);
        CHECK_INT(json_integer_value(json_object_get(page.json, "count")),
                  PROJECTS - off < 10 ? PROJECTS - off : 10);
        json_t *v;
        size_t i;

        json_array_foreach(json_object_get(page.json, "projects"), i, v)
            json_array_append(ids, json_object_get(v, "projectId"));
        api_reply_free(&page);
    }
    CHECK_INT(json_array_size(ids), PROJECTS);
    for (size_t i = 0; i < json_array_size(ids); i++)
        CHECK(json_equal(json_array_get(ids, i),
                         json_object_get(json_array_get(json_object_get(all.json, "projects"), i),
                                         "projectId")));
    CHECK_INT(api_call(&d, "GET", "/api/projects?offset=100", true, NULL, &page), 200);
    CHECK(json_is_null(json_object_get(page.json, "limit"))); /* none given: no limit */
    CHECK_INT(json_integer_value(json_object_get(page.json, "count")), 0);
    CHECK_INT(json_integer_value(json_object_get(page.json, "total")), PROJECTS);
    api_reply_free(&page);

    /* The same pages by cursor: ?after= the previous page's "next". */
    char after[EP_ID_MAX + 1] = "";
    size_t walked = 0;
    for (int pages = 0; pages < 5; pages++) {
        snprintf(path, sizeof path, "/api/projects?limit=10%s%s", after[0] ? "&after=" : "", after);
        CHECK_INT(api_call(&d, "GET", path, true, NULL, &page), 200);
        json_t *v, *next = json_object_get(page.json, "next");
        size_t i;

        json_array_foreach(json_object_get(page.json, "projects"), i, v)
        {
            CHECK(json_equal(json_object_get(v, "projectId"), json_array_get(ids, walked)));
            walked++;
        }
        if (!json_is_string(next)) {
            CHECK(json_is_null(next));
            api_reply_free(&page);
            break;
        }
        /* "next" is the last id of this page. */
        json_t *list = json_object_get(page.json, "projects");
        CHECK(json_equal(
            next, json_object_get(json_array_get(list, json_array_size(list) - 1), "projectId")));
        snprintf(after, sizeof after, "%s", json_string_value(next));
        api_reply_free(&page);
    }
    CHECK_INT(walked, PROJECTS);

    /* The filter: name, case-insensitive; "next" says whether more match. */
    CHECK_INT(api_call(&d, "GET", "/api/projects?q=ALPHA&limit=4", true, NULL, &page), 200);
    CHECK_INT(json_integer_value(json_object_get(page.json, "count")), 4);
    CHECK(json_is_string(json_object_get(page.json, "next")));
    CHECK(json_object_get(page.json, "total") == NULL); /* a filter's count is not known */
    api_reply_free(&page);
    CHECK_INT(api_call(&d, "GET", "/api/projects?q=ALPHA&limit=5", true, NULL, &page), 200);
    CHECK_INT(json_integer_value(json_object_get(page.json, "count")), 5);
    CHECK(json_is_null(json_object_get(page.json, "next")));
    api_reply_free(&page);
    CHECK_INT(api_call(&d, "GET", "/api/projects?q=course%2003", false, NULL, &page), 200);
    CHECK_INT(json_integer_value(json_object_get(page.json, "count")), 1);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(page.json, "projects"), 0), "projectName")),
              "Course 03 beta");
    api_reply_free(&page);

    /* Bad arguments: 400 naming the argument. */
    static const char *const bad[] = {
        "limit=abc", "limit=10001", "offset=-1", "limit=", "limit=1e3", "recorded=yes", NULL};
    for (int i = 0; bad[i]; i++) {
        snprintf(path, sizeof path, "/api/projects?%s", bad[i]);
        CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 400);
        CHECK_STR(api_str(&r, "error"), "bad_field");
        CHECK(strstr(api_str(&r, "message"), "query argument") != NULL);
        api_reply_free(&r);
    }

    /* recordedHosts: only when asked, only for the admin. */
    CHECK_INT(api_call(&d, "GET", "/api/projects?recorded=1&limit=1", true, NULL, &r), 200);
    CHECK(json_is_integer(
        json_object_get(json_array_get(json_object_get(r.json, "projects"), 0), "recordedHosts")));
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", "/api/projects?recorded=1&limit=1", false, NULL, &r), 200);
    CHECK(json_object_get(json_array_get(json_object_get(r.json, "projects"), 0),
                          "recordedHosts") == NULL);
    api_reply_free(&r);

    /* Polls: an unchanged listing is 304 with no body, a change is 200 with a new ETag. */
    header(&all, "ETag", etag, sizeof etag);
    CHECK(etag[0] == '"');
    CHECK_INT(poll_once("/api/projects", true, etag, &r), 304);
    CHECK_INT(r.len, 0);
    api_reply_free(&r);
    CHECK_INT(poll_once("/api/projects", false, etag, &r), 200); /* summaries differ */
    api_reply_free(&r);
    REQUIRE(api_create(&d, true, "{\"projectName\": \"One more\"}", id) == 201);
    CHECK_INT(poll_once("/api/projects", true, etag, &r), 200);
    CHECK(strcmp(header(&r, "ETag", etag2, sizeof etag2), etag) != 0);
    api_reply_free(&r);
    api_reply_free(&all);
    json_decref(ids);
}

/* Give project @p id HOSTS recorded hosts h00.site0.org ... (every third denied). */
static void fill(const char *id)
{
    struct ep_store *store = NULL;
    struct ep_seen_delta delta[HOSTS];
    char hosts[HOSTS][32];
    int64_t now = (int64_t)time(NULL);

    REQUIRE(ep_store_open(d.db, NULL, &store) == 0);
    for (int i = 0; i < HOSTS; i++) {
        snprintf(hosts[i], sizeof hosts[i], "h%02d.site%d.org", i, i % 3);
        delta[i] = (struct ep_seen_delta){id,
                                          hosts[i],
                                          i % 3 ? 1 : 0,
                                          i % 3 ? 0 : 1,
                                          now,
                                          now,
                                          i % 3 ? EP_VERDICT_ALLOW : EP_VERDICT_DENY};
    }
    REQUIRE(ep_store_seen_add(store, delta, HOSTS) == 0);
    ep_store_close(store);
}

static void test_recorded(void)
{
    struct api_reply r, all;
    char id[EP_ID_MAX + 1], path[300], etag[64];
    const char *k;
    json_t *v;

    REQUIRE(api_create(&d, true, "{\"projectName\": \"Recorder\", \"profile\": \"rec\"}", id) ==
            201);
    fill(id);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &all), 200);
    /* success, projectId, ipAddress, domains, categorized, groups, totalDomains */
    CHECK_INT(members(all.json), 7);
    CHECK_INT(json_integer_value(json_object_get(all.json, "totalDomains")), HOSTS);
    CHECK_INT(members(json_object_get(all.json, "domains")), HOSTS);

    /* Pages of 7 in host order, with the counts. */
    int seen = 0;
    for (int off = 0; off < HOSTS; off += 7) {
        snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?limit=7&offset=%d", id, off);
        CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
        CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")),
                  HOSTS - off < 7 ? HOSTS - off : 7);
        CHECK_INT(json_is_string(json_object_get(r.json, "next")), off + 7 < HOSTS);
        json_object_foreach(json_object_get(r.json, "domains"), k, v)
        {
            char want[32];

            snprintf(want, sizeof want, "h%02d.site%d.org", seen, seen % 3);
            CHECK_STR(k, want);
            seen++;
        }
        /* The groupings hold only the page's hosts. */
        size_t grouped = 0;
        json_object_foreach(json_object_get(r.json, "groups"), k, v) grouped += json_array_size(v);
        CHECK_INT(grouped, members(json_object_get(r.json, "domains")));
        api_reply_free(&r);
    }
    CHECK_INT(seen, HOSTS);

    /* Filters: text, denied only, category; a bad category is 400. */
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?q=SITE1", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")), HOSTS / 3);
    CHECK(json_is_null(json_object_get(r.json, "next")));
    api_reply_free(&r);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?denied=1&limit=1", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")), 1);
    CHECK(json_object_get(json_object_get(r.json, "domains"), "h00.site0.org") != NULL);
    CHECK_STR(json_string_value(json_object_get(r.json, "next")) ?: "", "h00.site0.org");
    api_reply_free(&r);
    snprintf(path, sizeof path,
             "/api/projects/%s/recorded-domains?denied=1&limit=2&after=h00.site0.org", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    CHECK(json_object_get(json_object_get(r.json, "domains"), "h03.site0.org") != NULL);
    CHECK(json_object_get(json_object_get(r.json, "domains"), "h06.site0.org") != NULL);
    CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")), 2);
    api_reply_free(&r);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?category=Other", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "totalDomains")), HOSTS);
    CHECK(json_is_null(json_object_get(r.json, "limit")));
    api_reply_free(&r);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?category=Nope", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 400);
    CHECK(strstr(api_str(&r, "message"), "category") != NULL);
    api_reply_free(&r);

    /* Coverage: the rule of the project's profile, or of another one. */
    REQUIRE(api_call(&d, "POST", "/api/whitelist/domains", true,
                     "{\"domain\": \".site1.org\", \"profile\": \"rec\"}", &r) == 200);
    api_reply_free(&r);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?coverage=1&q=h01.", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    v = json_object_get(json_object_get(r.json, "domains"), "h01.site1.org");
    CHECK_STR(json_string_value(json_object_get(v, "rule")) ?: "", ".site1.org");
    CHECK_STR(json_string_value(json_object_get(v, "ruleFrom")) ?: "", "profile");
    api_reply_free(&r);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?coverage=1&profile=other&q=h01.",
             id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    v = json_object_get(json_object_get(r.json, "domains"), "h01.site1.org");
    CHECK(json_is_null(json_object_get(v, "rule")));
    api_reply_free(&r);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?coverage=1&q=deb", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    api_reply_free(&r);

    /* Polls: 304 while nothing changes; a write anywhere in the store is a 200. */
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?coverage=1", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    header(&r, "ETag", etag, sizeof etag);
    api_reply_free(&r);
    CHECK(etag[0] == '"');
    CHECK_INT(poll_once(path, true, etag, &r), 304);
    CHECK_INT(r.len, 0);
    api_reply_free(&r);
    /* Another query is another answer. */
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?coverage=1&limit=3", id);
    CHECK_INT(poll_once(path, true, etag, &r), 200);
    api_reply_free(&r);
    /* The recorder writes (as the ICAP service would): the next poll has news. */
    fill(id);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?coverage=1", id);
    CHECK_INT(poll_once(path, true, etag, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(json_object_get(r.json, "domains"), "h01.site1.org"), "count")),
              2);
    api_reply_free(&r);
    api_reply_free(&all);

    /* A protected workspace: no 304 without the password, only 401. */
    REQUIRE(api_create(&d, true, "{\"projectName\": \"Locked\", \"password\": \"locked-pass-1\"}",
                       id) == 201);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains", id);
    CHECK_INT(api_call(&d, "GET", path, true, NULL, &r), 200);
    header(&r, "ETag", etag, sizeof etag);
    api_reply_free(&r);
    CHECK_INT(poll_once(path, false, etag, &r), 401);
    api_reply_free(&r);
    CHECK_INT(poll_once(path, false, "*", &r), 401);
    api_reply_free(&r);
}

/* The page's files: served with the security headers; nothing outside the directory. */
static void test_page(void)
{
    static const char *const outside[] = {"/../README.md",          "/%2e%2e/%2e%2e/README.md",
                                          "/views/../../README.md", "/.hidden",
                                          "/views/%2e%2e%2fapp.js", "/no-such.js",
                                          "//etc/passwd",           NULL};
    struct api_reply r;
    char v[512], etag[64];

    CHECK_INT(api_request(&d, "GET", "/", NULL, NULL, 0, NULL, NULL, &r), 200);
    CHECK_STR(header(&r, "Content-Type", v, sizeof v), "text/html; charset=utf-8");
    CHECK_STR(header(&r, "X-Frame-Options", v, sizeof v), "DENY");
    CHECK_STR(header(&r, "X-Content-Type-Options", v, sizeof v), "nosniff");
    CHECK_STR(header(&r, "Referrer-Policy", v, sizeof v), "strict-origin-when-cross-origin");
    CHECK(strstr(header(&r, "Content-Security-Policy", v, sizeof v), "default-src 'self'") != NULL);
    CHECK(strstr(v, "frame-ancestors 'none'") != NULL && strstr(v, "unsafe") == NULL);
    CHECK(strstr(r.body, "<script type=\"module\" src=\"app.js\">") != NULL);
    api_reply_free(&r);
    CHECK_INT(api_request(&d, "GET", "/views/review.js", NULL, NULL, 0, NULL, NULL, &r), 200);
    CHECK_STR(header(&r, "Content-Type", v, sizeof v), "text/javascript; charset=utf-8");
    header(&r, "ETag", etag, sizeof etag);
    api_reply_free(&r);
    CHECK_INT(poll_once("/views/review.js", false, etag, &r), 304);
    CHECK_STR(header(&r, "X-Frame-Options", v, sizeof v), "DENY");
    api_reply_free(&r);
    CHECK_INT(api_request(&d, "HEAD", "/app.css", NULL, NULL, 0, NULL, NULL, &r), 200);
    CHECK_STR(header(&r, "Content-Type", v, sizeof v), "text/css; charset=utf-8");
    api_reply_free(&r);
    for (int i = 0; outside[i]; i++) {
        CHECK_INT(api_request(&d, "GET", outside[i], NULL, NULL, 0, NULL, NULL, &r), 404);
        CHECK_STR(header(&r, "X-Frame-Options", v, sizeof v), "DENY");
        CHECK(strstr(r.body, "egress-policy") == NULL);
        api_reply_free(&r);
    }
    /* Other methods and the API's paths are the API's, as before. */
    CHECK_INT(api_request(&d, "POST", "/index.html", NULL, "{}", (size_t)-1, NULL, NULL, &r), 404);
    CHECK_STR(api_str(&r, "error"), "not_found");
    api_reply_free(&r);
    CHECK_INT(api_request(&d, "GET", "/api/nothing", NULL, NULL, 0, NULL, NULL, &r), 404);
    CHECK_STR(header(&r, "X-Frame-Options", v, sizeof v), "");
    api_reply_free(&r);
}

int main(void)
{
    const char *base = test_tmpdir(), *src = getenv("top_srcdir");
    char ui[1024];
    const char *args[] = {"--ui-dir", ui, NULL};

    snprintf(ui, sizeof ui, "%s/api/ui", src ? src : "..");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    api_daemon_init(&d, base, "paging");
    REQUIRE(api_daemon_start(&d, args, NULL) == 0);
    test_projects();
    test_recorded();
    test_page();
    CHECK_INT(api_daemon_stop(&d), 0);
    CHECK_INT(api_hash_leaks, 0);
    curl_global_cleanup();
    return test_exit();
}

/*
 * A table of bad requests against egress-api: each must get its expected
 * status and leave the store exactly as it was (a full admin dump before
 * and after every request must be equal). Malformed and truncated JSON,
 * wrong types, missing fields, oversized bodies, control characters and
 * NULs, bad rules, path traversal in ids, unknown ids, missing rights.
 */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/api/client.h"
#include "tests/lib/testutil.h"

struct bad_request {
    const char *what;
    const char *method;
    const char *path; /* "%P" is the unprotected project's id, "%Q" the protected one's */
    bool admin;
    const char *body; /* NULL = none; "@10MB" = ten megabytes; "@NUL" = a raw NUL in a name */
    const char *type; /* NULL = application/json */
    long status;
};

static const struct bad_request table[] = {
    {"truncated JSON", "POST", "/api/projects/create", false, "{\"projectName\": \"x\"", NULL, 400},
    {"unquoted key", "POST", "/api/projects/create", false, "{projectName: \"x\"}", NULL, 400},
    {"array body", "POST", "/api/projects/create", false, "[]", NULL, 400},
    {"string body", "POST", "/api/projects/create", false, "\"projectName\"", NULL, 400},
    {"trailing garbage", "POST", "/api/projects/create", false, "{\"projectName\": \"x\"} {}", NULL,
     400},
    {"duplicate key", "POST", "/api/projects/create", false,
     "{\"projectName\": \"a\", \"projectName\": \"b\"}", NULL, 400},
    {"name is a number", "POST", "/api/projects/create", false, "{\"projectName\": 42}", NULL, 400},
    {"missing name", "POST", "/api/projects/create", false, "{}", NULL, 400},
    {"empty body", "POST", "/api/projects/create", false, NULL, NULL, 400},
    {"empty name", "POST", "/api/projects/create", false, "{\"projectName\": \"\"}", NULL, 400},
    {"blank name", "POST", "/api/projects/create", false, "{\"projectName\": \"   \"}", NULL, 400},
    {"newline in name", "POST", "/api/projects/create", false, "{\"projectName\": \"a\\nb\"}", NULL,
     400},
    {"escaped NUL in name", "POST", "/api/projects/create", false,
     "{\"projectName\": \"a\\u0000b\"}", NULL, 400},
    {"raw NUL in name", "POST", "/api/projects/create", false, "@NUL", NULL, 400},
    {"invalid UTF-8", "POST", "/api/projects/create", false, "{\"projectName\": \"a\xff\xfe\"}",
     NULL, 400},
    {"name of 101 characters", "POST", "/api/projects/create", false,
     "{\"projectName\": "
     "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxx\"}",
     NULL, 400},
    {"not JSON content type", "POST", "/api/projects/create", false, "{\"projectName\": \"x\"}",
     "text/plain", 415},
    {"form content type", "POST", "/api/projects/create", false, "projectName=x",
     "application/x-www-form-urlencoded", 415},
    {"10 MB body", "POST", "/api/projects/create", false, "@10MB", NULL, 413},
    {"unknown proxy mode", "POST", "/api/projects/create", true,
     "{\"projectName\": \"x\", \"proxyMode\": \"open\"}", NULL, 400},
    {"passwordProtected not a boolean", "POST", "/api/projects/create", false,
     "{\"projectName\": \"x\", \"passwordProtected\": \"yes\"}", NULL, 400},
    {"protected without password", "POST", "/api/projects/create", false,
     "{\"projectName\": \"x\", \"passwordProtected\": true}", NULL, 400},
    {"password too short", "POST", "/api/projects/create", false,
     "{\"projectName\": \"x\", \"password\": \"short\"}", NULL, 400},
    {"password too long", "POST", "/api/projects/create", false,
     "{\"projectName\": \"x\", \"password\": "
     "\"123456789012345678901234567890123456789012345678901\"}",
     NULL, 400},
    {"profile with a path", "POST", "/api/projects/create", true,
     "{\"projectName\": \"x\", \"profile\": \"../etc\"}", NULL, 400},
    {"project type with a space", "POST", "/api/projects/create", false,
     "{\"projectName\": \"x\", \"projectType\": \"a b\"}", NULL, 400},
    {"memory limit not a size", "POST", "/api/projects/create", false,
     "{\"projectName\": \"x\", \"memoryLimit\": \"lots\"}", NULL, 400},
    {"memory limit with an unknown unit", "POST", "/api/projects/create", false,
     "{\"projectName\": \"x\", \"memoryLimit\": \"2x\"}", NULL, 400},
    {"mode only an admin may choose", "POST", "/api/projects/create", false,
     "{\"projectName\": \"x\", \"proxyMode\": \"logging\"}", NULL, 403},
    {"deep nesting", "POST", "/api/projects/create", false, "@DEEP", NULL, 400},
    {"encoded traversal in id", "GET", "/api/projects/..%2F..%2Fetc%2Fpasswd", false, NULL, NULL,
     404},
    {"traversal in id", "GET", "/api/projects/../../etc/passwd", false, NULL, NULL, 404},
    {"dot id", "DELETE", "/api/projects/..", true, NULL, NULL, 404},
    {"uppercase id", "GET", "/api/projects/ABCDEF", false, NULL, NULL, 404},
    {"id too long", "GET", "/api/projects/0123456789012345678901234567890123456", false, NULL, NULL,
     404},
    {"unknown id: start", "POST", "/api/projects/0000deadbeef/start", false, NULL, NULL, 404},
    {"unknown id: delete", "DELETE", "/api/projects/0000deadbeef", true, NULL, NULL, 404},
    {"unknown id: promote", "POST", "/api/projects/0000deadbeef/recorded-domains/promote", true,
     "{\"domains\": [\"pypi.org\"]}", NULL, 404},
    {"rule with a space", "PUT", "/api/whitelist", true,
     "{\"domains\": [\"good.org\", \"bad rule.org\"]}", NULL, 400},
    {"rule with a newline", "PUT", "/api/whitelist", true,
     "{\"domains\": [\"evil.org\\nother.org\"]}", NULL, 400},
    {"rule with a URL", "POST", "/api/whitelist/domains", true,
     "{\"domain\": \"https://pypi.org/simple\"}", NULL, 400},
    {"rule with leading space", "POST", "/api/whitelist/domains", true,
     "{\"domain\": \" spaced.org\"}", NULL, 400},
    {"rule over a public suffix", "POST", "/api/whitelist/domains", true, "{\"domain\": \".com\"}",
     NULL, 400},
    {"domains not an array", "PUT", "/api/whitelist", true, "{\"domains\": \"pypi.org\"}", NULL,
     400},
    {"domains missing", "PUT", "/api/whitelist", true, "{}", NULL, 400},
    {"bad profile name", "PUT", "/api/whitelist", true,
     "{\"domains\": [\"x.org\"], \"profile\": \"Bad Profile\"}", NULL, 400},
    {"removing an absent rule", "DELETE", "/api/whitelist/domains/absent.example.org", true, NULL,
     NULL, 404},
    {"removing a bad rule", "DELETE", "/api/whitelist/domains/no%20such", true, NULL, NULL, 400},
    {"proxy mode a number", "PUT", "/api/projects/%P/proxy-mode", true, "{\"proxyMode\": 1}", NULL,
     400},
    {"proxy mode without admin", "PUT", "/api/projects/%P/proxy-mode", false,
     "{\"proxyMode\": \"none\"}", NULL, 401},
    {"IP not an address", "PUT", "/api/projects/%P/ip", true, "{\"ipAddress\": \"not-an-ip\"}",
     NULL, 400},
    {"IP missing", "PUT", "/api/projects/%P/ip", true, "{}", NULL, 400},
    {"new password too short", "PUT", "/api/projects/%Q/password", false,
     "{\"currentPassword\": \"secret123\", \"newPassword\": \"x\"}", NULL, 400},
    {"wrong current password", "PUT", "/api/projects/%Q/password", false,
     "{\"currentPassword\": \"wrongwrong\", \"newPassword\": \"newpassword1\"}", NULL, 401},
    {"password a number", "POST", "/api/projects/%Q/stop", false, "{\"password\": 12345678}", NULL,
     400},
    {"delete with wrong password", "DELETE", "/api/projects/%Q", false,
     "{\"password\": \"wrongwrong\"}", NULL, 401},
    {"promote numbers", "POST", "/api/projects/%P/recorded-domains/promote", true,
     "{\"domains\": [1, 2]}", NULL, 400},
    {"promote in an unknown form", "POST", "/api/projects/%P/recorded-domains/promote", true,
     "{\"domains\": [\"a.org\"], \"form\": \"wild\"}", NULL, 400},
    {"clear without admin", "DELETE", "/api/projects/%P/recorded-domains", false, NULL, NULL, 401},
    {"audit limit negative", "GET", "/api/audit?limit=-1", true, NULL, NULL, 400},
    {"wrong method", "PUT", "/api/projects", true, "{}", NULL, 405},
};

static struct api_daemon d;

/* The body of @p b: the literal, or one of the generated ones. Sets *len. */
static char *make_body(const struct bad_request *b, size_t *len)
{
    char *body;

    if (b->body == NULL) {
        *len = 0;
        return NULL;
    }
    if (strcmp(b->body, "@10MB") == 0) {
        *len = 10 * 1024 * 1024;
        body = malloc(*len);
        REQUIRE(body != NULL);
        memset(body, ' ', *len);
        memcpy(body, "{\"projectName\": \"", 17);
        memset(body + 17, 'x', *len - 19);
        memcpy(body + *len - 2, "\"}", 2);
        return body;
    }
    if (strcmp(b->body, "@NUL") == 0) {
        static const char nul[] = "{\"projectName\": \"a\0b\"}";

        *len = sizeof nul - 1;
        body = malloc(sizeof nul);
        REQUIRE(body != NULL);
        memcpy(body, nul, sizeof nul);
        return body;
    }
    if (strcmp(b->body, "@DEEP") == 0) {
        size_t depth = 100000;

        *len = 2 * depth;
        body = malloc(*len + 1);
        REQUIRE(body != NULL);
        memset(body, '[', depth);
        memset(body + depth, ']', depth);
        body[*len] = '\0';
        return body;
    }
    *len = strlen(b->body);
    return strdup(b->body);
}

static void expand_path(const char *tmpl, const char *p, const char *q, char *out, size_t outsz)
{
    size_t n = 0;

    for (const char *c = tmpl; *c && n + 40 < outsz; c++) {
        if (c[0] == '%' && (c[1] == 'P' || c[1] == 'Q')) {
            n += (size_t)snprintf(out + n, outsz - n, "%s", c[1] == 'P' ? p : q);
            c++;
        } else {
            out[n++] = *c;
        }
    }
    out[n] = '\0';
}

int main(void)
{
    const char *base = test_tmpdir();
    char p_id[40], q_id[40], path[512];
    struct api_reply r;
    size_t n = sizeof table / sizeof table[0];

    curl_global_init(CURL_GLOBAL_DEFAULT);
    api_daemon_init(&d, base, "api");
    REQUIRE(api_daemon_start(&d, NULL, NULL) == 0);
    REQUIRE(api_create(&d, true, "{\"projectName\": \"Open\", \"proxyMode\": \"logging\"}", p_id) ==
            201);
    REQUIRE(api_create(&d, false, "{\"projectName\": \"Locked\", \"password\": \"secret123\"}",
                       q_id) == 201);
    REQUIRE(api_call(&d, "PUT", "/api/whitelist", true, "{\"domains\": [\"pypi.org\"]}", &r) ==
            200);
    api_reply_free(&r);
    CHECK(n >= 30);

    for (size_t i = 0; i < n; i++) {
        const struct bad_request *b = &table[i];
        char *before = api_dump(&d), *after, *body;
        size_t len;
        long status;

        expand_path(b->path, p_id, q_id, path, sizeof path);
        body = make_body(b, &len);
        status = api_request(&d, b->method, path, b->admin ? TEST_ADMIN_TOKEN : NULL, body,
                             body ? len : 0, b->type, NULL, &r);
        if (status != b->status)
            fprintf(stderr, "%s: %s %s gave %ld, expected %ld: %.300s\n", b->what, b->method, path,
                    status, b->status, r.body);
        CHECK_INT(status, b->status);
        /*
         * Every refusal is a JSON error naming the problem, the 413 too
         * (answered from the Content-Length, before the body is read).
         */
        CHECK(r.json != NULL);
        CHECK(strlen(api_str(&r, "error")) > 0);
        CHECK(strlen(api_str(&r, "message")) > 0);
        if (status == 413)
            CHECK_STR(api_str(&r, "error"), "too_large");
        after = api_dump(&d);
        if (strcmp(before, after) != 0)
            fprintf(stderr, "%s: the store changed\n", b->what);
        CHECK(strcmp(before, after) == 0);
        api_reply_free(&r);
        free(body);
        free(before);
        free(after);
    }
    /* The daemon is still healthy after all of that. */
    CHECK_INT(api_call(&d, "GET", "/api/health", false, NULL, &r), 200);
    api_reply_free(&r);
    CHECK_INT(api_daemon_stop(&d), 0);
    CHECK_INT(api_hash_leaks, 0);
    CHECK(!api_daemon_log_has(&d, "secret123"));
    curl_global_cleanup();
    return test_exit();
}

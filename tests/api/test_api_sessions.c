/*
 * Browser sessions of egress-api (issue 19), through the daemon's own
 * request path in this process (tests/api/inproc.h):
 *
 * - the cookie: HttpOnly, SameSite=Strict, Secure only with --tls-proxy;
 * - a write with the cookie but without the session's X-CSRF-Token, or
 *   with a wrong one, is 403 and changes nothing; a cross-site form post
 *   (another Origin, Sec-Fetch-Site: cross-site, a form body) is 403 and
 *   changes nothing; the same write from the page's origin with the token
 *   is done;
 * - a session ends at its idle timeout, at its expiry, at sign-out and when
 *   its account is disabled: the clock is stepped by the test
 *   (session_test_clock_step()), nothing sleeps;
 * - failed sign-ins are throttled as workspace passwords are (429 with
 *   Retry-After after the fourth wrong password in a row);
 * - no password, hash, API token or session id in any answer or log line.
 */
#include "config.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/session.h"
#include "policy/error.h"
#include "tests/api/inproc.h"
#include "tests/lib/testutil.h"

#define ALICE_PASS "alice-pass-123"
#define HOST       "127.0.0.1:8088"
#define ORIGIN     "http://127.0.0.1:8088"

static struct inproc ip;
static char project[40];
static char secrets[16][160];
static int nsecrets;

static void secret(const char *s)
{
    REQUIRE(nsecrets < 16);
    snprintf(secrets[nsecrets++], sizeof secrets[0], "%s", s);
}

static void check_no_secret(const char *where, const char *text)
{
    for (int i = 0; i < nsecrets; i++)
        if (strstr(text, secrets[i])) {
            fprintf(stderr, "%s: holds a secret: %s\n", where, text);
            CHECK(false);
        }
    if (strstr(text, "$2b$")) {
        fprintf(stderr, "%s: holds a bcrypt hash\n", where);
        CHECK(false);
    }
}

/* One request; every answer is checked for secrets. */
static unsigned call(const char *method, const char *target, const char *const *headers,
                     const char *body, struct inproc_reply *keep)
{
    struct inproc_reply r;
    unsigned status;

    inproc_call(&ip, method, target, false, headers, body, body ? strlen(body) : 0, -1, &r);
    check_no_secret(target, r.text);
    status = r.status;
    if (keep)
        *keep = r;
    else
        inproc_reply_free(&r);
    return status;
}

static unsigned admin_call(const char *method, const char *target, const char *body)
{
    static const char *const h[] = {"Content-Type", "application/json", NULL};
    struct inproc_reply r;
    unsigned status;

    inproc_call(&ip, method, target, true, h, body, body ? strlen(body) : 0, -1, &r);
    status = r.status;
    if (status >= 300)
        fprintf(stderr, "admin %s %s: %u %s\n", method, target, status, r.text);
    inproc_reply_free(&r);
    return status;
}

struct session {
    char cookie[200]; /* "egress_session=ID" */
    char csrf[80];
};

static unsigned sign_in(const char *name, const char *password, struct session *s, char *set_cookie,
                        size_t size)
{
    static const char *const h[] = {"Content-Type", "application/json", NULL};
    char body[256];
    struct inproc_reply r;
    unsigned status;

    snprintf(body, sizeof body, "{\"name\":\"%s\",\"password\":\"%s\"}", name, password);
    status = call("POST", "/api/session", h, body, &r);
    if (status == 200) {
        json_t *j = json_loads(r.text, 0, NULL);

        REQUIRE(j != NULL && r.set_cookie != NULL);
        snprintf(s->csrf, sizeof s->csrf, "%s", json_string_value(json_object_get(j, "csrfToken")));
        snprintf(s->cookie, sizeof s->cookie, "%.*s", (int)strcspn(r.set_cookie, ";"),
                 r.set_cookie);
        secret(strchr(s->cookie, '=') + 1);
        if (set_cookie)
            snprintf(set_cookie, size, "%s", r.set_cookie);
        json_decref(j);
    }
    inproc_reply_free(&r);
    return status;
}

/* GET /api/session with the cookie: 200 while the session lives. */
static unsigned whoami(const struct session *s)
{
    const char *h[] = {"Cookie", s->cookie, "Host", HOST, NULL};

    return call("GET", "/api/session", h, NULL, NULL);
}

static const char *mode_of_project(void)
{
    static char mode[16];
    struct ep_project p;

    REQUIRE(ep_store_project_get(ip.ctx.store, project, &p) == 0);
    snprintf(mode, sizeof mode, "%s", ep_mode_name((enum ep_mode)p.mode));
    return mode;
}

static void test_cookie_and_csrf(void)
{
    struct session s;
    char set_cookie[300], path[128];

    CHECK_INT(sign_in("alice", ALICE_PASS, &s, set_cookie, sizeof set_cookie), 200);
    CHECK(strstr(set_cookie, "; HttpOnly") != NULL);
    CHECK(strstr(set_cookie, "; SameSite=Strict") != NULL);
    CHECK(strstr(set_cookie, "; Path=/") != NULL);
    CHECK(strstr(set_cookie, "Secure") == NULL);
    CHECK_INT(whoami(&s), 200);
    snprintf(path, sizeof path, "/api/projects/%s/proxy-mode", project);

    /* The cookie alone cannot write. */
    {
        const char *h[] = {"Cookie",       s.cookie,           "Host", HOST,
                           "Content-Type", "application/json", NULL};

        CHECK_INT(call("PUT", path, h, "{\"proxyMode\":\"none\"}", NULL), 403);
        CHECK_STR(mode_of_project(), "security");
    }
    /* Nor with a wrong token. */
    {
        const char *h[] = {"Cookie",
                           s.cookie,
                           "Host",
                           HOST,
                           "X-CSRF-Token",
                           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                           "Content-Type",
                           "application/json",
                           NULL};

        CHECK_INT(call("PUT", path, h, "{\"proxyMode\":\"none\"}", NULL), 403);
        CHECK_STR(mode_of_project(), "security");
    }
    /* A form another site posts: the browser sends the cookie (were it not Strict), never the
     * token. */
    {
        const char *h[] = {"Cookie",
                           s.cookie,
                           "Host",
                           HOST,
                           "Origin",
                           "http://evil.example",
                           "Sec-Fetch-Site",
                           "cross-site",
                           "Content-Type",
                           "application/x-www-form-urlencoded",
                           NULL};

        CHECK_INT(call("PUT", path, h, "proxyMode=none", NULL), 403);
        CHECK_STR(mode_of_project(), "security");
    }
    /* Another origin is refused even with the right token. */
    {
        const char *h[] = {"Cookie",
                           s.cookie,
                           "Host",
                           HOST,
                           "Origin",
                           "http://evil.example",
                           "X-CSRF-Token",
                           s.csrf,
                           "Content-Type",
                           "application/json",
                           NULL};

        CHECK_INT(call("PUT", path, h, "{\"proxyMode\":\"none\"}", NULL), 403);
        CHECK_STR(mode_of_project(), "security");
    }
    /* The page's own write: origin and token. */
    {
        const char *h[] = {"Cookie", s.cookie,       "Host", HOST,           "Origin",
                           ORIGIN,   "X-CSRF-Token", s.csrf, "Content-Type", "application/json",
                           NULL};

        CHECK_INT(call("PUT", path, h, "{\"proxyMode\":\"logging\"}", NULL), 200);
        CHECK_STR(mode_of_project(), "logging");
    }
    /* Secure once the daemon is told a TLS proxy serves it. */
    ip.cfg.secure_cookies = true;
    CHECK_INT(sign_in("alice", ALICE_PASS, &s, set_cookie, sizeof set_cookie), 200);
    CHECK(strstr(set_cookie, "; Secure") != NULL);
    ip.cfg.secure_cookies = false;
}

static void test_idle_and_expiry(void)
{
    struct session s;

    /* Idle: 29 minutes is fine (and counts as use), 31 more end it. */
    CHECK_INT(sign_in("alice", ALICE_PASS, &s, NULL, 0), 200);
    session_test_clock_step(29 * 60);
    CHECK_INT(whoami(&s), 200);
    session_test_clock_step(29 * 60);
    CHECK_INT(whoami(&s), 200);
    session_test_clock_step(31 * 60);
    CHECK_INT(whoami(&s), 401);
    /* And it stays ended when used again at once. */
    CHECK_INT(whoami(&s), 401);

    /* Expiry: used every 20 minutes, it still ends 8 hours after sign-in. */
    CHECK_INT(sign_in("alice", ALICE_PASS, &s, NULL, 0), 200);
    for (int minutes = 20; minutes < 8 * 60; minutes += 20) {
        session_test_clock_step(20 * 60);
        CHECK_INT(whoami(&s), 200);
    }
    session_test_clock_step(20 * 60);
    CHECK_INT(whoami(&s), 401);
}

static void test_signout(void)
{
    struct session s;
    struct inproc_reply r;

    CHECK_INT(sign_in("alice", ALICE_PASS, &s, NULL, 0), 200);
    {
        const char *h[] = {"Cookie", s.cookie, "Host", HOST, NULL};

        /* Signing out is a write: it needs the token too. */
        CHECK_INT(call("DELETE", "/api/session", h, NULL, NULL), 403);
        CHECK_INT(whoami(&s), 200);
    }
    {
        const char *h[] = {"Cookie", s.cookie, "Host", HOST, "X-CSRF-Token", s.csrf, NULL};

        CHECK_INT(call("DELETE", "/api/session", h, NULL, &r), 200);
        CHECK(r.set_cookie != NULL && strstr(r.set_cookie, "Max-Age=0") != NULL);
        inproc_reply_free(&r);
    }
    CHECK_INT(whoami(&s), 401);
}

static void test_disable(void)
{
    struct session s;
    char token[128], bearer[160];
    struct inproc_reply r;
    json_t *j;

    CHECK_INT(sign_in("alice", ALICE_PASS, &s, NULL, 0), 200);
    inproc_call(&ip, "POST", "/api/accounts/alice/tokens", true,
                (const char *const[]){"Content-Type", "application/json", NULL},
                "{\"name\":\"script\"}", strlen("{\"name\":\"script\"}"), -1, &r);
    REQUIRE(r.status == 201);
    j = json_loads(r.text, 0, NULL);
    snprintf(token, sizeof token, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    inproc_reply_free(&r);
    secret(token);
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    {
        const char *h[] = {"Authorization", bearer, NULL};

        CHECK_INT(call("GET", "/api/session", h, NULL, NULL), 200);
        CHECK_INT(admin_call("PUT", "/api/accounts/alice", "{\"disabled\":true}"), 200);
        /* At once: the session and the token are refused. */
        CHECK_INT(whoami(&s), 401);
        CHECK_INT(call("GET", "/api/session", h, NULL, NULL), 401);
        CHECK_INT(sign_in("alice", ALICE_PASS, &s, NULL, 0), 401);
        /* Enabled again, the old session stays ended (it was deleted); the token works again. */
        CHECK_INT(admin_call("PUT", "/api/accounts/alice", "{\"disabled\":false}"), 200);
        CHECK_INT(whoami(&s), 401);
        CHECK_INT(call("GET", "/api/session", h, NULL, NULL), 200);
    }
}

static void test_throttle(void)
{
    struct session s;
    struct inproc_reply r;
    static const char *const h[] = {"Content-Type", "application/json", NULL};

    for (int i = 0; i < 4; i++)
        CHECK_INT(sign_in("bob", "wrong-password", &s, NULL, 0), 401);
    /* Now even the right password waits. */
    CHECK_INT(
        call("POST", "/api/session", h, "{\"name\":\"bob\",\"password\":\"bob-pass-123\"}", &r),
        429);
    CHECK(strstr(r.text, "too_many_attempts") != NULL);
    inproc_reply_free(&r);
    /* Another account is not held up. */
    CHECK_INT(sign_in("alice", ALICE_PASS, &s, NULL, 0), 200);
}

int main(void)
{
    const char *dir = test_tmpdir();
    char logpath[512], line[1024];
    int saved, fd;
    FILE *log;

    secret(ALICE_PASS);
    secret("bob-pass-123");
    secret("wrong-password");
    /* The daemon's log (stderr) goes to a file, read back at the end. */
    snprintf(logpath, sizeof logpath, "%s/log", dir);
    fflush(stderr);
    saved = dup(2);
    fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);

    REQUIRE(inproc_open(&ip, dir) == 0);
    REQUIRE(admin_call("POST", "/api/accounts",
                       "{\"name\":\"alice\",\"password\":\"" ALICE_PASS "\"}") == 201);
    REQUIRE(admin_call("POST", "/api/accounts",
                       "{\"name\":\"bob\",\"password\":\"bob-pass-123\"}") == 201);
    REQUIRE(admin_call("PUT", "/api/courses/course-a", "{\"owners\":[\"alice\"]}") == 200);
    {
        struct inproc_reply r;
        json_t *j;

        inproc_call(&ip, "POST", "/api/projects/create", true,
                    (const char *const[]){"Content-Type", "application/json", NULL},
                    "{\"projectName\":\"lab\",\"profile\":\"course-a\"}",
                    strlen("{\"projectName\":\"lab\",\"profile\":\"course-a\"}"), -1, &r);
        REQUIRE(r.status == 201);
        j = json_loads(r.text, 0, NULL);
        snprintf(project, sizeof project, "%s",
                 json_string_value(json_object_get(json_object_get(j, "project"), "projectId")));
        json_decref(j);
        inproc_reply_free(&r);
    }
    test_cookie_and_csrf();
    test_signout();
    test_idle_and_expiry();
    test_disable();
    test_throttle();
    inproc_close(&ip);

    fflush(stderr);
    REQUIRE(dup2(saved, 2) == 2);
    log = fopen(logpath, "r");
    REQUIRE(log != NULL);
    while (fgets(line, sizeof line, log))
        check_no_secret("log", line);
    fclose(log);
    return test_exit();
}

/*
 * Accounts against the real daemon (issue 19): what the in-process tests
 * (test_api_roles, test_api_sessions) cannot see.
 *
 * - `--create-admin NAME --password-file FILE`: exit 0 and a usable
 *   account; the same name again exit 1; an empty file exit 2; a bad name
 *   exit 1; out-of-range session options exit 2;
 * - the Set-Cookie header as it goes over the wire, `Secure` with
 *   `--tls-proxy`; the cookie works on the next connection;
 * - sessions and API tokens live in the store: both still work after the
 *   daemon restarts;
 * - the token file keeps working beside accounts; a teacher's API token
 *   lists only their course over HTTP;
 * - the daemon's log never holds a password, a hash, a session id or a
 *   token.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/api/client.h"
#include "tests/lib/testutil.h"

#define ADMIN_PASS   "head-password-42"
#define TEACHER_PASS "teacher-password-42"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* The egress_session value of a Set-Cookie in @p headers, into @p out. */
static bool session_cookie(const char *headers, char *out, size_t size)
{
    const char *p = strstr(headers, "Set-Cookie: egress_session=");

    if (p == NULL)
        return false;
    p += strlen("Set-Cookie: egress_session=");
    snprintf(out, size, "%.*s", (int)strcspn(p, ";\r\n"), p);
    return true;
}

int main(void)
{
    const char *base = test_tmpdir();
    struct api_daemon d;
    struct api_reply r;
    char pwfile[400], header[200], id[80], token[128], alice_id[40], bob_id[40];
    int status = -1;

    api_daemon_init(&d, base, "accounts");
    snprintf(pwfile, sizeof pwfile, "%s/password", d.dir);

    /* ---- --create-admin ---- */
    write_file(pwfile, ADMIN_PASS "\n");
    {
        const char *args[] = {"--create-admin", "head", "--password-file", pwfile, NULL};

        CHECK_INT(api_daemon_start(&d, args, &status), -1);
        CHECK_INT(status, 0);
        status = -1;
        CHECK_INT(api_daemon_start(&d, args, &status), -1);
        CHECK_INT(status, 1);
        CHECK(api_daemon_log_has(&d, "exists already"));
    }
    {
        const char *args[] = {"--create-admin", "Bad Name", "--password-file", pwfile, NULL};

        status = -1;
        CHECK_INT(api_daemon_start(&d, args, &status), -1);
        CHECK_INT(status, 1);
    }
    {
        char empty[420];
        const char *args[] = {"--create-admin", "other", "--password-file", empty, NULL};

        snprintf(empty, sizeof empty, "%s/empty", d.dir);
        write_file(empty, "");
        status = -1;
        CHECK_INT(api_daemon_start(&d, args, &status), -1);
        CHECK_INT(status, 2);
    }
    {
        const char *args[] = {"--session-idle", "5", NULL};

        status = -1;
        CHECK_INT(api_daemon_start(&d, args, &status), -1);
        CHECK_INT(status, 2);
    }

    /* ---- sign-in over the wire ---- */
    {
        const char *args[] = {"--tls-proxy", NULL};

        REQUIRE(api_daemon_start(&d, args, NULL) == 0);
    }
    CHECK_INT(api_request(&d, "POST", "/api/session", NULL,
                          "{\"name\":\"head\",\"password\":\"" ADMIN_PASS "\"}", (size_t)-1, NULL,
                          NULL, &r),
              200);
    CHECK(strstr(r.headers, "; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict; Secure") != NULL);
    CHECK(session_cookie(r.headers, id, sizeof id));
    CHECK_INT((int)strlen(id), 64);
    api_reply_free(&r);
    snprintf(header, sizeof header, "Cookie: egress_session=%s", id);
    CHECK_INT(api_request(&d, "GET", "/api/session", NULL, NULL, 0, NULL, header, &r), 200);
    CHECK_STR(api_str(&r, "account"), "head");
    CHECK_STR(api_str(&r, "role"), "admin");
    api_reply_free(&r);

    /* ---- a teacher and a token, beside the token file ---- */
    CHECK_INT(api_call(&d, "POST", "/api/accounts", true,
                       "{\"name\":\"alice\",\"password\":\"" TEACHER_PASS "\"}", &r),
              201);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "PUT", "/api/courses/course-a", true, "{\"owners\":[\"alice\"]}", &r),
              200);
    api_reply_free(&r);
    CHECK_INT(api_create(&d, true, "{\"projectName\":\"A\",\"profile\":\"course-a\"}", alice_id),
              201);
    CHECK_INT(api_create(&d, true, "{\"projectName\":\"B\",\"profile\":\"course-b\"}", bob_id),
              201);
    CHECK_INT(api_call(&d, "POST", "/api/accounts/alice/tokens", true, "{\"name\":\"cli\"}", &r),
              201);
    snprintf(token, sizeof token, "%s", api_str(&r, "token"));
    CHECK(strncmp(token, "egt_", 4) == 0);
    api_reply_free(&r);

    /* ---- both survive a restart: they live in the store ---- */
    CHECK_INT(api_daemon_stop(&d), 0);
    REQUIRE(api_daemon_start(&d, NULL, NULL) == 0);
    CHECK_INT(api_request(&d, "GET", "/api/session", NULL, NULL, 0, NULL, header, &r), 200);
    api_reply_free(&r);
    CHECK_INT(api_request(&d, "GET", "/api/projects", token, NULL, 0, NULL, NULL, &r), 200);
    CHECK(strstr(r.body, alice_id) != NULL && strstr(r.body, bob_id) == NULL);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", "/api/projects", true, NULL, &r), 200);
    CHECK(strstr(r.body, alice_id) != NULL && strstr(r.body, bob_id) != NULL);
    api_reply_free(&r);
    /* Without --tls-proxy the cookie is not Secure. */
    CHECK_INT(api_request(&d, "POST", "/api/session", NULL,
                          "{\"name\":\"alice\",\"password\":\"" TEACHER_PASS "\"}", (size_t)-1,
                          NULL, NULL, &r),
              200);
    CHECK(strstr(r.headers, "HttpOnly; SameSite=Strict") != NULL);
    CHECK(strstr(r.headers, "Secure") == NULL);
    api_reply_free(&r);
    /* The audit names who did it, with the address. */
    CHECK_INT(api_call(&d, "GET", "/api/audit", true, NULL, &r), 200);
    CHECK(strstr(r.body, "\"detail\":\"token token: mode security, profile course-a\"") != NULL);
    CHECK(strstr(r.body,
                 "\"action\":\"session.signin\",\"target\":\"alice\",\"source\":\"127.0.0.1\"") !=
          NULL);
    api_reply_free(&r);
    CHECK_INT(api_daemon_stop(&d), 0);

    /* ---- nothing secret in the log ---- */
    CHECK(!api_daemon_log_has(&d, ADMIN_PASS));
    CHECK(!api_daemon_log_has(&d, TEACHER_PASS));
    CHECK(!api_daemon_log_has(&d, "$2b$"));
    CHECK(!api_daemon_log_has(&d, id));
    CHECK(!api_daemon_log_has(&d, token + 4));
    CHECK_INT(api_hash_leaks, 0);
    return test_exit();
}

/*
 * Callers and sessions (session.h). One request is authenticated once,
 * before its handler: the bearer token of the token file, a personal API
 * token ("egt_" + id + "_" + secret: the id finds the record, the
 * SHA-256 of the whole token must match), or the session cookie. The
 * account must exist and be enabled at that moment, so disabling it ends
 * its sessions and tokens at once. Sessions live in the store: each has
 * an expiry (--session-lifetime) and an idle timeout (--session-idle);
 * their last use is written at most once a minute.
 */
#include "config.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "api/audit.h"
#include "api/auth.h"
#include "api/log.h"
#include "api/session.h"

/* A session's last use is written when it is at least this old. */
#define SESSION_TOUCH_S 60

static _Atomic int64_t clock_offset;

int64_t session_now(void)
{
    return (int64_t)time(NULL) + atomic_load(&clock_offset);
}

void session_test_clock_step(int64_t seconds)
{
    atomic_fetch_add(&clock_offset, seconds);
}

int session_digest(const char *secret, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -1;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int session_random_hex(size_t bytes, char *out)
{
    unsigned char buf[64];
    size_t got = 0;

    if (bytes > sizeof buf)
        return -1;
    while (got < bytes) {
        ssize_t n = getrandom(buf + got, bytes - got, 0);

        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", buf[i]);
    explicit_bzero(buf, sizeof buf);
    return 0;
}

/* Equal texts, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b)
{
    size_t n = strlen(a);
    unsigned char diff = (unsigned char)(n != strlen(b));

    for (size_t i = 0; i < n && b[i]; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int add_course(void *ctx, const char *profile)
{
    struct http_request *r = ctx;
    void *grown;

    grown = ep_realloc(r->who.courses, (r->who.ncourses + 1) * sizeof *r->who.courses);
    if (grown == NULL)
        return EP_E_NOMEM;
    r->who.courses = grown;
    snprintf(r->who.courses[r->who.ncourses++], EP_PROFILE_MAX + 1, "%s", profile);
    return 0;
}

int session_load_courses(struct http_request *r)
{
    int err = ep_store_courses_of(r->ctx->store, r->who.account, add_course, r);

    if (err) {
        http_error_store(r, err, "courses");
        return -1;
    }
    return 0;
}

/*
 * The caller is account @p a (enabled): its role decides r->admin; a
 * teacher's courses are read now.
 */
static int become_account(struct http_request *r, const struct ep_account *a,
                          enum http_caller_kind kind, const char *token_name)
{
    r->who.kind = kind;
    snprintf(r->who.account, sizeof r->who.account, "%s", a->name);
    if (token_name)
        snprintf(r->who.label, sizeof r->who.label, "%s via token %s", a->name, token_name);
    else
        snprintf(r->who.label, sizeof r->who.label, "%s", a->name);
    if (a->role == EP_ROLE_ADMIN) {
        r->admin = true;
        return 0;
    }
    r->who.teacher = true;
    return session_load_courses(r);
}

/* Authorization: Bearer egt_...: a personal API token. -1 after answering 401. */
static int token_authenticate(struct http_request *r, const char *token)
{
    char id[EP_TOKEN_ID_LEN + 1], digest[EP_DIGEST_HEX + 1];
    struct ep_api_token t;
    struct ep_account a;
    int err;

    if (strlen(token) != SESSION_TOKEN_LEN || token[4 + EP_TOKEN_ID_LEN] != '_')
        goto refused;
    memcpy(id, token + 4, EP_TOKEN_ID_LEN);
    id[EP_TOKEN_ID_LEN] = '\0';
    err = ep_store_token_get(r->ctx->store, id, &t);
    if (err == EP_E_NOTFOUND)
        goto refused;
    if (err) {
        http_error_store(r, err, "API token");
        return -1;
    }
    if (session_digest(token, digest) < 0 || !same_secret(digest, t.digest) || t.revoked_at)
        goto refused;
    err = ep_store_account_get(r->ctx->store, t.account, &a);
    if (err && err != EP_E_NOTFOUND) {
        http_error_store(r, err, "account");
        return -1;
    }
    if (err || a.disabled)
        goto refused;
    return become_account(r, &a, HTTP_CALLER_TOKEN, t.name);
refused:
    log_line("invalid API token from %s", r->source);
    http_error(r, 401, "unauthorized", "invalid, revoked or disabled API token");
    return -1;
}

/* The value of cookie SESSION_COOKIE in @p header into @p out (at most 64 hex), or false. */
static bool cookie_value(const char *header, char *out, size_t size)
{
    const size_t nlen = strlen(SESSION_COOKIE);

    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, SESSION_COOKIE, nlen) == 0 && p[nlen] == '=') {
            size_t n = strcspn(p + nlen + 1, "; ");

            if (n == 0 || n >= size)
                return false;
            memcpy(out, p + nlen + 1, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

/*
 * The session of the cookie, when it is live: not past its expiry, not
 * idle too long, its account enabled. Anything else leaves the caller
 * anonymous (an ended session is deleted). -1 only after answering a
 * store error.
 */
static int session_resume(struct http_request *r, const char *cookie)
{
    const struct api_config *cfg = r->ctx->cfg;
    char id[EP_DIGEST_HEX + 1], digest[EP_DIGEST_HEX + 1];
    struct ep_session s;
    struct ep_account a;
    int64_t now = session_now();
    int err;

    if (!cookie_value(cookie, id, sizeof id) || session_digest(id, digest) < 0)
        return 0;
    err = ep_store_session_get(r->ctx->store, digest, &s);
    if (err == EP_E_NOTFOUND)
        return 0;
    if (err == 0 && (now >= s.expires_at || now - s.last_seen >= (int64_t)cfg->session_idle)) {
        ep_store_session_delete(r->ctx->store, digest);
        return 0;
    }
    if (err == 0)
        err = ep_store_account_get(r->ctx->store, s.account, &a);
    if (err == EP_E_NOTFOUND || (err == 0 && a.disabled))
        return 0;
    if (err) {
        http_error_store(r, err, "session");
        return -1;
    }
    if (now - s.last_seen >= SESSION_TOUCH_S) {
        s.last_seen = now;
        err = ep_store_session_put(r->ctx->store, digest, &s);
        if (err) {
            http_error_store(r, err, "session");
            return -1;
        }
    }
    snprintf(r->who.session_digest, sizeof r->who.session_digest, "%s", digest);
    snprintf(r->who.csrf, sizeof r->who.csrf, "%s", s.csrf);
    return become_account(r, &a, HTTP_CALLER_SESSION, NULL);
}

/*
 * A session's write must come from the page's own origin and carry the
 * session's CSRF token in X-CSRF-Token. Reads need neither. -1 after
 * answering 403.
 */
static int csrf_check(struct http_request *r)
{
    const char *m = r->method, *origin = http_header(r, "Origin");
    const char *host = http_header(r, "Host"), *site = http_header(r, "Sec-Fetch-Site");
    const char *sent = http_header(r, "X-CSRF-Token");

    if (r->who.kind != HTTP_CALLER_SESSION || strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
        strcmp(m, "OPTIONS") == 0)
        return 0;
    if ((site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) ||
        (origin && (host == NULL ||
                    !((strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0) ||
                      (strncmp(origin, "https://", 8) == 0 && strcmp(origin + 8, host) == 0))))) {
        log_line("cross-site write refused for %s from %s", r->who.account, r->source);
        http_error(r, 403, "forbidden", "a write with a session cookie must come from this site");
        return -1;
    }
    if (sent == NULL || !same_secret(sent, r->who.csrf)) {
        http_error(r, 403, "csrf_required",
                   "a write with a session cookie must send the session's X-CSRF-Token");
        return -1;
    }
    return 0;
}

int session_authenticate(struct http_request *r)
{
    const char *auth = http_header(r, "Authorization"), *cookie = http_header(r, "Cookie");

    r->admin = false;
    memset(&r->who, 0, sizeof r->who);
    snprintf(r->who.label, sizeof r->who.label, "caller");
    if (auth == NULL)
        return cookie ? (session_resume(r, cookie) < 0 ? -1 : csrf_check(r)) : 0;
    if (strncasecmp(auth, "Bearer ", 7) != 0) {
        http_error(r, 401, "unauthorized", "the Authorization header must be \"Bearer <token>\"");
        return -1;
    }
    if (strncmp(auth + 7, SESSION_TOKEN_PREFIX, strlen(SESSION_TOKEN_PREFIX)) == 0)
        return token_authenticate(r, auth + 7);
    if (!auth_admin_token_ok(r->ctx->cfg->admin_token, auth + 7)) {
        log_line("invalid admin token from %s", r->source);
        http_error(r, 401, "unauthorized", "invalid admin token");
        return -1;
    }
    r->admin = true;
    r->who.kind = HTTP_CALLER_MACHINE;
    snprintf(r->who.label, sizeof r->who.label, "%s",
             r->ctx->cfg->machine_label[0] ? r->ctx->cfg->machine_label : "token admin");
    return 0;
}

/* The Set-Cookie of session @p id (NULL: one that ends the cookie). */
static int set_cookie(struct http_request *r, const char *id)
{
    const struct api_config *cfg = r->ctx->cfg;
    char buf[256];

    snprintf(buf, sizeof buf, "%s=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Strict%s",
             SESSION_COOKIE, id ? id : "", id ? cfg->session_lifetime : 0,
             cfg->secure_cookies ? "; Secure" : "");
    ep_free(r->set_cookie);
    r->set_cookie = ep_strdup(buf);
    return r->set_cookie ? 0 : -1;
}

void session_handle_signin(struct http_request *r)
{
    const struct api_config *cfg = r->ctx->cfg;
    const char *name = NULL, *password = NULL;
    char key[EP_ACCOUNT_MAX + 2], id[EP_DIGEST_HEX + 1], digest[EP_DIGEST_HEX + 1], when[32];
    struct ep_session s;
    struct ep_account a;
    unsigned wait;
    bool known;
    int err;

    if (http_field_string(r, "name", true, &name) < 0 ||
        http_field_string(r, "password", true, &password) < 0)
        return;
    if (ep_account_name_validate(name) != 0) {
        http_error(r, 400, "bad_field",
                   "field \"name\" must be 1 to %d of a-z, 0-9 and -, starting with a letter",
                   EP_ACCOUNT_MAX);
        return;
    }
    /* The same backoff as workspace passwords, keyed "@name" (no project id has an "@"). */
    snprintf(key, sizeof key, "@%s", name);
    wait = auth_backoff_wait(key);
    if (wait) {
        r->retry_after = wait;
        http_error(r, 429, "too_many_attempts",
                   "too many wrong passwords for this account: try again in %u s", wait);
        return;
    }
    err = ep_store_account_get(r->ctx->store, name, &a);
    if (err && err != EP_E_NOTFOUND) {
        http_error_store(r, err, "account");
        return;
    }
    known = err == 0;
    if (!known)
        memset(&a, 0, sizeof a);
    if (!auth_verify_password(password, known ? a.password_hash : NULL) || a.disabled) {
        auth_backoff_fail(key, r->source);
        http_error(r, 401, "unauthorized", "wrong account name or password, or a disabled account");
        return;
    }
    auth_backoff_clear(key);
    memset(&s, 0, sizeof s);
    snprintf(s.account, sizeof s.account, "%s", a.name);
    s.created_at = s.last_seen = session_now();
    s.expires_at = s.created_at + cfg->session_lifetime;
    ep_store_sessions_expire(r->ctx->store, s.created_at, NULL);
    if (session_random_hex(32, id) < 0 || session_random_hex(32, s.csrf) < 0 ||
        session_digest(id, digest) < 0) {
        http_error(r, 500, "internal", "no random bytes for a session");
        return;
    }
    err = ep_store_session_put(r->ctx->store, digest, &s);
    if (err) {
        http_error_store(r, err, "session");
        return;
    }
    r->who.kind = HTTP_CALLER_SESSION;
    snprintf(r->who.label, sizeof r->who.label, "%s", a.name);
    audit_record(r, "session.signin", a.name, "role %s", ep_role_name((enum ep_role)a.role));
    http_time_iso(s.expires_at, when);
    if (set_cookie(r, id) < 0) {
        http_error_store(r, EP_E_NOMEM, "session");
        return;
    }
    http_reply_json(r, 200,
                    json_pack("{s:{s:s, s:s}, s:s, s:s, s:I}", "account", "name", a.name, "role",
                              ep_role_name((enum ep_role)a.role), "csrfToken", s.csrf, "expiresAt",
                              when, "idleTimeout", (json_int_t)cfg->session_idle));
    explicit_bzero(id, sizeof id);
}

static int add_profile_name(void *ctx, const struct ep_profile_info *p)
{
    return json_array_append_new(ctx, json_string(p->name)) ? EP_E_NOMEM : 0;
}

void session_handle_get(struct http_request *r)
{
    static const char *const via[] = {"anonymous", "machine", "token", "session"};
    json_t *courses = json_array(), *o;
    struct ep_session s;
    int err = 0;

    if (courses == NULL) {
        http_error_store(r, EP_E_NOMEM, "session");
        return;
    }
    if (r->who.teacher) {
        for (size_t i = 0; i < r->who.ncourses && err == 0; i++)
            err = json_array_append_new(courses, json_string(r->who.courses[i])) ? EP_E_NOMEM : 0;
    } else {
        err = ep_store_profiles_list(r->ctx->store, add_profile_name, courses);
    }
    o = json_pack("{s:s?, s:s, s:s, s:o}", "account", r->who.account[0] ? r->who.account : NULL,
                  "role", r->who.teacher ? "teacher" : "admin", "via", via[r->who.kind], "courses",
                  courses);
    if (o && err == 0 && r->who.kind == HTTP_CALLER_SESSION &&
        ep_store_session_get(r->ctx->store, r->who.session_digest, &s) == 0) {
        char when[32];

        http_time_iso(s.expires_at, when);
        if (json_object_set_new(o, "csrfToken", json_string(s.csrf)) != 0 ||
            json_object_set_new(o, "expiresAt", json_string(when)) != 0)
            err = EP_E_NOMEM;
    }
    if (err) {
        json_decref(o);
        http_error_store(r, err, "session");
        return;
    }
    http_reply_json(r, 200, o);
}

void session_handle_signout(struct http_request *r)
{
    int err;

    if (r->who.kind != HTTP_CALLER_SESSION) {
        http_error(r, 400, "bad_request",
                   "only a browser session signs out; revoke a token instead");
        return;
    }
    err = ep_store_session_delete(r->ctx->store, r->who.session_digest);
    if (err && err != EP_E_NOTFOUND) {
        http_error_store(r, err, "session");
        return;
    }
    audit_record(r, "session.signout", r->who.account, "%s", "");
    if (set_cookie(r, NULL) < 0) {
        http_error_store(r, EP_E_NOMEM, "session");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:b}", "success", 1));
}

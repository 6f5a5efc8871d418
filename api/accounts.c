/*
 * Accounts, personal API tokens and courses (accounts.h).
 *
 * Who may: an admin manages every account and course; an account reads
 * and manages its own tokens and changes its own password (with the
 * current one). A teacher naming another account is answered 404 for a
 * read and 403 for a write, as outside their courses. An account's
 * password hash and a token's secret never leave the server: a token is
 * shown once, in the answer that creates it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "api/accounts.h"
#include "api/audit.h"
#include "api/auth.h"
#include "api/log.h"
#include "api/scope.h"
#include "api/session.h"

#define ACCOUNT_PASSWORD_MIN 8  /* bytes */
#define ACCOUNT_PASSWORD_MAX 72 /* bcrypt reads no further */

static json_t *account_json(const struct ep_account *a)
{
    char created[32], disabled[32];

    http_time_iso(a->created_at, created);
    http_time_iso(a->disabled_at, disabled);
    return json_pack("{s:s, s:s, s:b, s:s, s:s?}", "name", a->name, "role",
                     ep_role_name((enum ep_role)a->role), "disabled", a->disabled != 0, "createdAt",
                     created, "disabledAt", a->disabled ? disabled : NULL);
}

static int password_ok(struct http_request *r, const char *field, const char *pw)
{
    size_t n = strlen(pw);

    if (n < ACCOUNT_PASSWORD_MIN || n > ACCOUNT_PASSWORD_MAX) {
        http_error(r, 400, "bad_field", "field \"%s\" must be %d to %d bytes", field,
                   ACCOUNT_PASSWORD_MIN, ACCOUNT_PASSWORD_MAX);
        return -1;
    }
    return 0;
}

static int list_account(void *ctx, const struct ep_account *a)
{
    return json_array_append_new(ctx, account_json(a)) ? EP_E_NOMEM : 0;
}

void accounts_handle_list(struct http_request *r)
{
    json_t *list = json_array();
    int err = list ? ep_store_accounts_list(r->ctx->store, list_account, list) : EP_E_NOMEM;

    if (err) {
        json_decref(list);
        http_error_store(r, err, "accounts");
        return;
    }
    http_reply_json(
        r, 200,
        json_pack("{s:o, s:I}", "accounts", list, "count", (json_int_t)json_array_size(list)));
}

void accounts_handle_create(struct http_request *r)
{
    const char *name = NULL, *role = "teacher", *password = NULL;
    struct ep_account a;
    enum ep_role rl;
    int err;

    if (http_field_string(r, "name", true, &name) < 0 ||
        http_field_string(r, "role", false, &role) < 0 ||
        http_field_string(r, "password", true, &password) < 0)
        return;
    if (ep_account_name_validate(name) != 0) {
        http_error(r, 400, "bad_field",
                   "field \"name\" must be 1 to %d of a-z, 0-9 and -, starting with a letter",
                   EP_ACCOUNT_MAX);
        return;
    }
    if (ep_role_parse(role, &rl) != 0) {
        http_error(r, 400, "bad_field", "field \"role\" must be \"admin\" or \"teacher\"");
        return;
    }
    if (password_ok(r, "password", password) < 0)
        return;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.role = rl;
    a.created_at = session_now();
    if (auth_hash_password(password, a.password_hash) < 0) {
        http_error(r, 500, "internal", "cannot hash the password");
        return;
    }
    err = ep_store_account_create(r->ctx->store, &a);
    if (err == EP_E_EXISTS) {
        http_error(r, 409, "exists", "an account named \"%s\" exists (accounts are never deleted)",
                   name);
        return;
    }
    if (err) {
        http_error_store(r, err, "account");
        return;
    }
    audit_record(r, "account.create", a.name, "role %s", role);
    http_reply_json(r, 201, json_pack("{s:b, s:o}", "success", 1, "account", account_json(&a)));
}

/*
 * The account of the path, for a caller who may act on it: an admin, or
 * the account itself. Another account: 404 for a read, 403 for a write.
 */
static int account_of_path(struct http_request *r, struct ep_account *a)
{
    int err;

    if (!r->admin && strcmp(r->who.account, r->param) != 0) {
        if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)
            http_error(r, 404, "not_found", "no such account");
        else
            http_error(r, 403, "forbidden", "only an admin may change another account");
        return -1;
    }
    err = ep_store_account_get(r->ctx->store, r->param, a);
    if (err == EP_E_NOTFOUND) {
        http_error(r, 404, "not_found", "no such account");
        return -1;
    }
    if (err) {
        http_error_store(r, err, "account");
        return -1;
    }
    return 0;
}

void accounts_handle_update(struct http_request *r)
{
    const char *role = NULL, *password = NULL, *current = NULL;
    bool disabled = false;
    int has_disabled;
    struct ep_account a;
    enum ep_role rl;
    int err;

    if (account_of_path(r, &a) < 0)
        return;
    if (http_field_string(r, "role", false, &role) < 0 ||
        (has_disabled = http_field_bool(r, "disabled", false, &disabled)) < 0 ||
        http_field_string(r, "password", false, &password) < 0 ||
        http_field_string(r, "currentPassword", false, &current) < 0)
        return;
    if (!r->admin && (role || has_disabled)) {
        http_error(r, 403, "forbidden", "only an admin may change a role or disable an account");
        return;
    }
    if (role && ep_role_parse(role, &rl) != 0) {
        http_error(r, 400, "bad_field", "field \"role\" must be \"admin\" or \"teacher\"");
        return;
    }
    if (password && password_ok(r, "password", password) < 0)
        return;
    if (!r->admin && password) {
        if (current == NULL) {
            http_error(r, 400, "Current password required",
                       "send \"currentPassword\" to change your password");
            return;
        }
        if (!auth_verify_password(current, a.password_hash)) {
            http_error(r, 401, "Invalid password", "the current password is wrong");
            return;
        }
    }
    if (role)
        a.role = rl;
    if (has_disabled) {
        a.disabled_at = disabled ? (a.disabled ? a.disabled_at : session_now()) : 0;
        a.disabled = disabled;
    }
    if (password && auth_hash_password(password, a.password_hash) < 0) {
        http_error(r, 500, "internal", "cannot hash the password");
        return;
    }
    err = ep_store_account_update(r->ctx->store, &a);
    if (err) {
        http_error_store(r, err, "account");
        return;
    }
    audit_record(r, "account.update", a.name, "%s%s%s%s", role ? "role " : "", role ? role : "",
                 has_disabled ? (disabled ? " disabled" : " enabled") : "",
                 password ? " password changed" : "");
    http_reply_json(r, 200, json_pack("{s:b, s:o}", "success", 1, "account", account_json(&a)));
}

static json_t *token_json(const struct ep_api_token *t)
{
    char created[32], revoked[32], prefix[8 + EP_TOKEN_ID_LEN];

    http_time_iso(t->created_at, created);
    http_time_iso(t->revoked_at, revoked);
    snprintf(prefix, sizeof prefix, "%s%s", SESSION_TOKEN_PREFIX, t->id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s?}", "id", t->id, "prefix", prefix, "name",
                     t->name, "account", t->account, "createdAt", created, "revoked",
                     t->revoked_at != 0, "revokedAt", t->revoked_at ? revoked : NULL);
}

static int list_token(void *ctx, const struct ep_api_token *t)
{
    return json_array_append_new(ctx, token_json(t)) ? EP_E_NOMEM : 0;
}

void accounts_handle_tokens(struct http_request *r)
{
    struct ep_account a;
    json_t *list;
    int err;

    if (account_of_path(r, &a) < 0)
        return;
    list = json_array();
    err = list ? ep_store_tokens_list(r->ctx->store, a.name, list_token, list) : EP_E_NOMEM;
    if (err) {
        json_decref(list);
        http_error_store(r, err, "tokens");
        return;
    }
    http_reply_json(
        r, 200,
        json_pack("{s:o, s:I}", "tokens", list, "count", (json_int_t)json_array_size(list)));
}

void accounts_handle_token_create(struct http_request *r)
{
    char secret[41], token[SESSION_TOKEN_LEN + 1];
    const char *name = NULL;
    struct ep_api_token t;
    struct ep_account a;
    json_t *o;
    int err;

    if (account_of_path(r, &a) < 0 || http_field_string(r, "name", true, &name) < 0)
        return;
    if (name[0] == '\0' || strlen(name) > EP_TOKEN_NAME_MAX || http_utf8_length(name) < 0 ||
        strpbrk(name, "\r\n\t") != NULL) {
        http_error(r, 400, "bad_field", "field \"name\" must be 1 to %d bytes of one line",
                   EP_TOKEN_NAME_MAX);
        return;
    }
    if (a.disabled) {
        http_error(r, 409, "conflict", "account \"%s\" is disabled", a.name);
        return;
    }
    memset(&t, 0, sizeof t);
    if (session_random_hex(EP_TOKEN_ID_LEN / 2, t.id) < 0 || session_random_hex(20, secret) < 0) {
        http_error(r, 500, "internal", "no random bytes for a token");
        return;
    }
    snprintf(token, sizeof token, "%s%s_%s", SESSION_TOKEN_PREFIX, t.id, secret);
    snprintf(t.account, sizeof t.account, "%s", a.name);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.created_at = session_now();
    err =
        session_digest(token, t.digest) < 0 ? EP_E_NOMEM : ep_store_token_create(r->ctx->store, &t);
    explicit_bzero(secret, sizeof secret);
    if (err) {
        explicit_bzero(token, sizeof token);
        http_error_store(r, err, "token");
        return;
    }
    audit_record(r, "token.create", a.name, "token %s (%s)", t.id, t.name);
    o = token_json(&t);
    /* Shown once: an answer without it would lose the token (it is revoked then). */
    if (o == NULL || json_object_set_new(o, "token", json_string(token)) != 0) {
        explicit_bzero(token, sizeof token);
        json_decref(o);
        ep_store_token_revoke(r->ctx->store, t.id, session_now());
        http_error_store(r, EP_E_NOMEM, "token");
        return;
    }
    explicit_bzero(token, sizeof token);
    http_reply_json(r, 201, o);
}

void accounts_handle_token_revoke(struct http_request *r)
{
    struct ep_api_token t;
    struct ep_account a;
    int err;

    if (account_of_path(r, &a) < 0)
        return;
    err = ep_store_token_get(r->ctx->store, r->tail ? r->tail : "", &t);
    if (err == 0 && strcmp(t.account, a.name) != 0)
        err = EP_E_NOTFOUND;
    if (err == 0)
        err = ep_store_token_revoke(r->ctx->store, t.id, session_now());
    if (err == EP_E_NOTFOUND) {
        http_error(r, 404, "not_found", "account \"%s\" has no such token", a.name);
        return;
    }
    if (err) {
        http_error_store(r, err, "token");
        return;
    }
    audit_record(r, "token.revoke", a.name, "token %s (%s)", t.id, t.name);
    http_reply_json(r, 200, json_pack("{s:b, s:s}", "success", 1, "revoked", t.id));
}

/* ---- courses ---- */

static int add_owner(void *ctx, const char *account)
{
    return json_array_append_new(ctx, json_string(account)) ? EP_E_NOMEM : 0;
}

struct course_walk {
    struct http_request *r;
    json_t *list;
};

static int course_json(struct ep_store *store, const struct ep_profile_info *p, json_t **out)
{
    json_t *owners = json_array();
    int err = owners ? ep_store_course_owners_list(store, p->name, add_owner, owners) : EP_E_NOMEM;

    *out = NULL;
    if (err) {
        json_decref(owners);
        return err;
    }
    *out = json_pack("{s:s, s:o, s:I, s:I}", "name", p->name, "owners", owners, "rules",
                     (json_int_t)p->rules, "projects", (json_int_t)p->projects);
    return *out ? 0 : EP_E_NOMEM;
}

static int list_course(void *ctx, const struct ep_profile_info *p)
{
    struct course_walk *w = ctx;
    json_t *o;
    int err;

    if (!scope_course_visible(w->r, p->name))
        return 0;
    err = course_json(w->r->ctx->store, p, &o);
    return err ? err : (json_array_append_new(w->list, o) ? EP_E_NOMEM : 0);
}

void courses_handle_list(struct http_request *r)
{
    struct course_walk w = {.r = r, .list = json_array()};
    int err = w.list ? ep_store_profiles_list(r->ctx->store, list_course, &w) : EP_E_NOMEM;

    if (err) {
        json_decref(w.list);
        http_error_store(r, err, "courses");
        return;
    }
    http_reply_json(
        r, 200,
        json_pack("{s:o, s:I}", "courses", w.list, "count", (json_int_t)json_array_size(w.list)));
}

void courses_handle_set_owners(struct http_request *r)
{
    const char *course = r->tail ? r->tail : "";
    const char *names[64];
    struct ep_profile_info info;
    json_t *owners = NULL, *v, *o = NULL;
    size_t i, n;
    int err;

    if (ep_profile_validate(course) != 0 || strcmp(course, EP_PROFILE_BASE) == 0) {
        http_error(r, 404, "not_found", "no course of that name (1-64 of a-z 0-9 _ -)");
        return;
    }
    if (http_field_array(r, "owners", true, &owners) < 0)
        return;
    n = json_array_size(owners);
    if (n > sizeof names / sizeof names[0]) {
        http_error(r, 400, "bad_field", "field \"owners\" holds at most %zu names",
                   sizeof names / sizeof names[0]);
        return;
    }
    json_array_foreach(owners, i, v)
    {
        struct ep_account a;

        names[i] = json_string_value(v);
        if (names[i] == NULL || ep_account_name_validate(names[i]) != 0) {
            http_error(r, 400, "bad_field", "owners[%zu] is not an account name", i);
            return;
        }
        err = ep_store_account_get(r->ctx->store, names[i], &a);
        if (err == EP_E_NOTFOUND) {
            http_error(r, 400, "bad_field", "owners[%zu]: no account \"%s\"", i, names[i]);
            return;
        }
        if (err) {
            http_error_store(r, err, "account");
            return;
        }
    }
    err = ep_store_course_owners_set(r->ctx->store, course, names, n);
    if (err == 0)
        err = ep_store_profile_get(r->ctx->store, course, &info);
    if (err == 0)
        err = course_json(r->ctx->store, &info, &o);
    if (err) {
        http_error_store(r, err, "course");
        return;
    }
    audit_record(r, "course.owners", course, "%zu owners", n);
    json_object_del(o, "projects"); /* counted only by a listing */
    http_reply_json(r, 200, json_pack("{s:b, s:o}", "success", 1, "course", o));
}

int accounts_create_admin(struct ep_store *store, const char *name, const char *password)
{
    struct ep_account a;
    int err;

    if (ep_account_name_validate(name) != 0) {
        fprintf(stderr,
                "egress-api: --create-admin %s: a name is 1 to %d of a-z, 0-9 and -, "
                "starting with a letter\n",
                name, EP_ACCOUNT_MAX);
        return 1;
    }
    if (strlen(password) < ACCOUNT_PASSWORD_MIN || strlen(password) > ACCOUNT_PASSWORD_MAX) {
        fprintf(stderr, "egress-api: --create-admin: the password must be %d to %d bytes\n",
                ACCOUNT_PASSWORD_MIN, ACCOUNT_PASSWORD_MAX);
        return 1;
    }
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.role = EP_ROLE_ADMIN;
    a.created_at = session_now();
    if (auth_hash_password(password, a.password_hash) < 0) {
        fprintf(stderr, "egress-api: --create-admin: cannot hash the password\n");
        return 1;
    }
    err = ep_store_account_create(store, &a);
    if (err == EP_E_EXISTS) {
        fprintf(stderr, "egress-api: --create-admin: an account named \"%s\" exists already\n",
                name);
        return 1;
    }
    if (err) {
        fprintf(stderr, "egress-api: --create-admin: %s\n", ep_strerror(err));
        return 1;
    }
    printf("admin account \"%s\" created\n", name);
    return 0;
}
